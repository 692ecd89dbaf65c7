/* transport.c: Content-Length framing, tolerant of anything a pipe brings. */
#include "transport.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { HEAD, BODY, SKIP, RESYNC };

#define READER_KEEP (256u << 10) /* buffer capacity kept between messages */

static const char length_name[] = "content-length";

void ch_reader_init(ch_reader *self, size_t max_message) {
  memset(self, 0, sizeof(*self));
  self->state = HEAD;
  self->before_buf = '\n'; /* the stream starts at a line start */
  self->max_message = max_message;
  /* The buffer holds one partial message plus what one push brings; the
   * size checks below, not the buffer, are what bound a message. */
  ch_buf_init(&self->buf, SIZE_MAX / 2);
}

void ch_reader_release(ch_reader *self) { ch_buf_release(&self->buf); }

bool ch_reader_partial(const ch_reader *self) {
  return self->state == BODY || self->state == SKIP ||
         (self->state == HEAD && self->buf.len > 0);
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* Parses one header line [s, e) (no line ending). Returns a description of
 * what is wrong, or NULL. */
static const char *parse_header_line(ch_reader *self, const char *s,
                                     const char *e) {
  const char *colon = memchr(s, ':', (size_t)(e - s));
  if(!colon) return "header line without ':'";
  const char *ne = colon;
  while(ne > s && is_space(ne[-1])) ne--;
  if((size_t)(ne - s) != sizeof(length_name) - 1 ||
     strncasecmp(s, length_name, sizeof(length_name) - 1) != 0)
    return NULL; /* Content-Type and others: accepted, ignored */
  const char *v = colon + 1;
  while(v < e && is_space(*v)) v++;
  const char *ve = e;
  while(ve > v && is_space(ve[-1])) ve--;
  if(v == ve) return "empty Content-Length";
  if(ve - v > 18) return "Content-Length has more than 18 digits";
  size_t n = 0;
  for(const char *p = v; p < ve; p++) {
    if(*p < '0' || *p > '9') return "Content-Length is not a decimal number";
    n = n * 10 + (size_t)(*p - '0');
  }
  self->content_length = n;
  self->have_length = true;
  return NULL;
}

/* Looks for a complete header block at buf[*pos..]. Returns 1 and advances
 * *pos past it when one parsed, 0 when more bytes are needed, -1 with *why
 * set when the block is malformed. */
static int parse_head(ch_reader *self, size_t *pos, const char **why) {
  const char *base = self->buf.data;
  size_t len = self->buf.len;
  size_t at = *pos;
  /* Blank lines between messages are tolerated. */
  while(at < len && (base[at] == '\r' || base[at] == '\n')) {
    if(base[at] == '\r' && at + 1 == len) break; /* CR of a CRLF to come */
    at++;
  }
  *pos = at;
  self->have_length = false;
  const char *bad = NULL;
  size_t line = at;
  for(;;) {
    const char *nl = memchr(base + line, '\n', len - line);
    if(!nl) break;
    size_t end = (size_t)(nl - base);
    size_t content_end = end;
    if(content_end > line && base[content_end - 1] == '\r') content_end--;
    if(content_end == line) { /* the empty line: end of the block */
      if(bad) {
        *why = bad;
        return -1;
      }
      if(!self->have_length) {
        *why = "header block without Content-Length";
        return -1;
      }
      *pos = end + 1;
      return 1;
    }
    if(!bad) bad = parse_header_line(self, base + line, base + content_end);
    line = end + 1;
    if(line - at > CH_FRAME_MAX_HEADER) break;
  }
  if(len - at > CH_FRAME_MAX_HEADER) {
    *why = "header block too long";
    return -1;
  }
  return 0;
}

/* Whether a header may start after byte c: at a line start, or right after
 * a JSON body (clients write the next header directly after a body). */
static bool header_may_follow(char c) { return c == '\n' || c == '}'; }

/* Finds the next "Content-Length:" that starts a line or follows a JSON
 * body, at or after pos. */
static bool resync(ch_reader *self, size_t *pos) {
  const char *base = self->buf.data;
  size_t len = self->buf.len;
  size_t n = sizeof(length_name) - 1;
  for(size_t i = *pos; i + n < len; i++) {
    char before = i > 0 ? base[i - 1] : self->before_buf;
    if(!header_may_follow(before)) continue;
    if(strncasecmp(base + i, length_name, n) == 0 && base[i + n] == ':') {
      *pos = i;
      return true;
    }
  }
  /* Keep a tail that may be the start of the header we look for. */
  if(len > n + 1 && len - (n + 1) > *pos) *pos = len - (n + 1);
  return false;
}

void ch_reader_push(ch_reader *self, const char *data, size_t len,
                    ch_frame_cb cb, void *userdata) {
  if(self->state == SKIP) { /* discard without buffering */
    size_t n = CH_MIN(self->skip, len);
    self->skip -= n;
    data += n;
    len -= n;
    if(self->skip == 0) self->state = HEAD;
  }
  if(len == 0) return;
  if(ch_buf_append(&self->buf, data, len)) {
    /* Cannot happen with the bounds above; drop rather than lose sync
     * silently. */
    ch_frame f = {CH_FRAME_BAD_HEADER, NULL, 0, "input buffer full"};
    cb(&f, userdata);
    ch_buf_reset(&self->buf);
    self->state = RESYNC;
    return;
  }

  size_t pos = 0;
  for(;;) {
    if(self->state == HEAD) {
      const char *why = NULL;
      int r = parse_head(self, &pos, &why);
      if(r == 0) break;
      if(r < 0) {
        ch_frame f = {CH_FRAME_BAD_HEADER, NULL, 0, why};
        cb(&f, userdata);
        pos++; /* never resync onto the block that just failed */
        self->state = RESYNC;
        continue;
      }
      if(self->content_length > self->max_message) {
        ch_frame f = {CH_FRAME_TOO_LARGE, NULL, self->content_length, NULL};
        cb(&f, userdata);
        self->skip = self->content_length;
        self->state = SKIP;
      } else {
        self->state = BODY;
      }
    } else if(self->state == BODY) {
      if(self->buf.len - pos < self->content_length) break;
      char *body = self->buf.data + pos;
      size_t n = self->content_length;
      char saved = body[n];
      body[n] = 0; /* bodies are handed out NUL-terminated */
      ch_frame f = {CH_FRAME_MESSAGE, body, n, NULL};
      cb(&f, userdata);
      body[n] = saved;
      pos += n;
      self->state = HEAD;
    } else if(self->state == SKIP) {
      size_t n = CH_MIN(self->skip, self->buf.len - pos);
      pos += n;
      self->skip -= n;
      if(self->skip) break;
      self->state = HEAD;
    } else { /* RESYNC */
      if(!resync(self, &pos)) break;
      self->state = HEAD;
    }
  }
  if(pos) self->before_buf = self->buf.data[pos - 1];
  ch_buf_consume(&self->buf, pos);
  /* After a large message, give its buffer back instead of holding the
   * high-water mark for the life of the process. */
  if(self->buf.len == 0 && self->buf.cap > READER_KEEP) ch_buf_release(&self->buf);
}

ch_status ch_frame_write(ch_buf *out, const char *body, size_t len) {
  char head[64];
  int n = snprintf(head, sizeof(head), "Content-Length: %zu\r\n\r\n", len);
  /* All or nothing: a header without its body would corrupt the stream. */
  ch_status result = ch_buf_reserve(out, (size_t)n + len);
  if(result) return result;
  ch_buf_append(out, head, (size_t)n);
  return ch_buf_append(out, body, len);
}
