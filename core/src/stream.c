/* stream.c: incremental SSE and NDJSON parsers (see chorus/stream.h).
 *
 * Both parsers find line ends with memchr over the chunk and handle a line
 * that lies wholly inside one chunk straight from the caller's bytes; only
 * a line cut by a chunk boundary is carried over in a buffer. That keeps
 * the common case (servers send whole lines) to one copy of the data, and
 * the one-byte-at-a-time case correct through the same line handler. */
#include "chorus/stream.h"

#include <string.h>

static const char bom[] = "\xEF\xBB\xBF";

/* a + b without wrapping: the caps are user values and may be SIZE_MAX. */
static size_t add_sat(size_t a, size_t b) {
  return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static bool starts_with(const char *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  return n >= k && memcmp(s, lit, k) == 0;
}

/* ---- SSE ---------------------------------------------------------------- */

/* The longest prefix a data or event line can carry besides its value:
 * "event" ':' ' '. A line longer than the cap plus this cannot be valid
 * data, so the line buffer never needs to hold more. */
#define SSE_FIELD_SLACK 8

void ch_sse_init(ch_sse *self, size_t max_event_bytes, ch_sse_event_cb cb,
                 void *userdata) {
  self->cb = cb;
  self->userdata = userdata;
  self->max_event_bytes = max_event_bytes;
  ch_buf_init(&self->line, add_sat(max_event_bytes, SSE_FIELD_SLACK));
  ch_buf_init(&self->data, max_event_bytes);
  ch_buf_init(&self->event, max_event_bytes);
  self->has_data = false;
  self->after_cr = false;
  self->started = false;
  self->bom_seen = 0;
  self->line_too_large = false;
  self->failed = CH_OK;
}

void ch_sse_release(ch_sse *self) {
  ch_buf_release(&self->line);
  ch_buf_release(&self->data);
  ch_buf_release(&self->event);
}

/* Forgets the event being collected (after dispatch, or a blank line). */
static void sse_reset_event(ch_sse *self) {
  ch_buf_reset(&self->data);
  ch_buf_reset(&self->event);
  self->has_data = false;
}

static ch_status sse_dispatch(ch_sse *self) {
  if(!self->has_data) {
    /* Per spec: no data, nothing to dispatch; the event type resets too. */
    sse_reset_event(self);
    return CH_OK;
  }
  const char *event = self->event.data ? self->event.data : "";
  const char *data = self->data.data ? self->data.data : "";
  int stop = self->cb(self->userdata, event, data, self->data.len);
  sse_reset_event(self);
  return stop ? CH_ERR_CANCELLED : CH_OK;
}

/* One complete line, without its end. */
static ch_status sse_line(ch_sse *self, const char *s, size_t n) {
  if(n == 0) return sse_dispatch(self);
  if(s[0] == ':') return CH_OK; /* comment, keep-alive */
  const char *colon = memchr(s, ':', n);
  size_t name_len = colon ? (size_t)(colon - s) : n;
  const char *value = colon ? colon + 1 : s + n;
  size_t value_len = (size_t)(s + n - value);
  if(value_len && value[0] == ' ') {
    value++;
    value_len--;
  }
  if(name_len == 4 && memcmp(s, "data", 4) == 0) {
    ch_status result;
    if(self->has_data) {
      result = ch_buf_append_char(&self->data, '\n');
      if(result) return result;
    }
    result = ch_buf_append(&self->data, value, value_len);
    if(result) return result;
    self->has_data = true;
    return CH_OK;
  }
  if(name_len == 5 && memcmp(s, "event", 5) == 0) {
    ch_buf_reset(&self->event);
    return ch_buf_append(&self->event, value, value_len);
  }
  /* "id", "retry" and unknown fields: nothing the model APIs need. */
  return CH_OK;
}

/* The carried-over line would pass its cap. A data or event line that long
 * cannot fit an event; anything else (a long comment, an unknown field) is
 * skipped to its end so it cannot fill memory either. */
static ch_status sse_line_overflow(ch_sse *self) {
  const char *s = self->line.data ? self->line.data : "";
  size_t n = self->line.len;
  if(starts_with(s, n, "data:") || starts_with(s, n, "event:"))
    return CH_ERR_TOO_LARGE;
  ch_buf_reset(&self->line);
  self->line_too_large = true;
  return CH_OK;
}

/* Adds bytes of a line that continues past this chunk. */
static ch_status sse_carry(ch_sse *self, const char *s, size_t n) {
  if(self->line_too_large) return CH_OK;
  size_t room = self->line.max - self->line.len;
  if(n <= room) return ch_buf_append(&self->line, s, n);
  /* Fill to the cap so the overflow check sees the line's start. */
  ch_status result = ch_buf_append(&self->line, s, room);
  if(result) return result;
  return sse_line_overflow(self);
}

/* A line ended at s[n] (its end not included). */
static ch_status sse_end_line(ch_sse *self, const char *s, size_t n) {
  if(self->line_too_large) {
    self->line_too_large = false;
    return CH_OK;
  }
  if(self->line.len == 0) return sse_line(self, s, n);
  ch_status result = sse_carry(self, s, n);
  if(result) return result;
  if(self->line_too_large) {
    self->line_too_large = false;
    return CH_OK;
  }
  result = sse_line(self, self->line.data, self->line.len);
  ch_buf_reset(&self->line);
  return result;
}

/* The byte-level scanner, past the BOM check. */
static ch_status sse_scan(ch_sse *self, const char *s, size_t n) {
  const char *end = s + n;
  if(self->after_cr && s < end) {
    self->after_cr = false;
    if(*s == '\n') s++;
  }
  /* Next CR and LF at or after s, or NULL when the chunk has none; kept
   * across lines so a chunk with many lines is scanned once for each. */
  const char *cr = NULL, *lf = NULL;
  bool cr_known = false, lf_known = false;
  while(s < end) {
    if(!cr_known || (cr && cr < s)) {
      cr = memchr(s, '\r', (size_t)(end - s));
      cr_known = true;
    }
    if(!lf_known || (lf && lf < s)) {
      lf = memchr(s, '\n', (size_t)(end - s));
      lf_known = true;
    }
    const char *eol = cr && (!lf || cr < lf) ? cr : lf;
    if(!eol) return sse_carry(self, s, (size_t)(end - s));
    ch_status result = sse_end_line(self, s, (size_t)(eol - s));
    if(result) return result;
    s = eol + 1;
    if(*eol == '\r') {
      if(s == end)
        self->after_cr = true;
      else if(*s == '\n')
        s++;
    }
  }
  return CH_OK;
}

ch_status ch_sse_feed(ch_sse *self, const char *data, size_t len) {
  if(self->failed) return self->failed;
  ch_status result = CH_OK;
  if(!self->started) {
    /* Match the BOM byte by byte: it may arrive split too. */
    while(len && self->bom_seen < 3 && *data == bom[self->bom_seen]) {
      self->bom_seen++;
      data++;
      len--;
    }
    if(self->bom_seen == 3 || len) {
      self->started = true;
      if(self->bom_seen < 3 && self->bom_seen > 0) {
        /* A false start: those bytes were text after all. */
        result = sse_scan(self, bom, self->bom_seen);
        if(result) goto done;
      }
    }
  }
  result = sse_scan(self, data, len);
done:
  self->failed = result;
  return result;
}

ch_status ch_sse_finish(ch_sse *self) {
  ch_status result = self->failed;
  ch_buf_reset(&self->line);
  sse_reset_event(self);
  self->after_cr = false;
  self->started = false;
  self->bom_seen = 0;
  self->line_too_large = false;
  self->failed = CH_OK;
  return result;
}

/* ---- NDJSON ------------------------------------------------------------- */

void ch_ndjson_init(ch_ndjson *self, size_t max_line_bytes,
                    ch_ndjson_line_cb cb, void *userdata) {
  self->cb = cb;
  self->userdata = userdata;
  self->max_line_bytes = max_line_bytes;
  /* One byte of slack for the CR that is stripped from a CRLF line. */
  ch_buf_init(&self->line, add_sat(max_line_bytes, 1));
  self->failed = CH_OK;
}

void ch_ndjson_release(ch_ndjson *self) { ch_buf_release(&self->line); }

static bool blank(const char *s, size_t n) {
  for(size_t i = 0; i < n; i++)
    if(s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

/* A complete line in self->line (end not included): strip, check, deliver.
 * The length is checked before blankness so that the outcome does not
 * depend on whether the line arrived whole or in pieces. */
static ch_status ndjson_deliver(ch_ndjson *self) {
  ch_buf *b = &self->line;
  size_t n = b->len;
  if(n && b->data[n - 1] == '\r') n--;
  if(n > self->max_line_bytes) return CH_ERR_TOO_LARGE;
  ch_status result = CH_OK;
  if(!blank(b->data ? b->data : "", n)) {
    b->data[n] = 0;
    if(self->cb(self->userdata, b->data, n)) result = CH_ERR_CANCELLED;
  }
  ch_buf_reset(b);
  return result;
}

ch_status ch_ndjson_feed(ch_ndjson *self, const char *data, size_t len) {
  if(self->failed) return self->failed;
  const char *s = data, *end = data + len;
  ch_status result = CH_OK;
  while(s < end) {
    const char *lf = memchr(s, '\n', (size_t)(end - s));
    size_t n = (size_t)((lf ? lf : end) - s);
    /* The buffer's cap (max + 1 for a CR) turns an endless line into an
     * error as soon as it passes the cap, before its end arrives. */
    result = ch_buf_append(&self->line, s, n);
    if(result) break;
    if(!lf) break;
    result = ndjson_deliver(self);
    if(result) break;
    s = lf + 1;
  }
  self->failed = result;
  return result;
}

ch_status ch_ndjson_finish(ch_ndjson *self) {
  ch_status result = self->failed;
  if(!result && self->line.len) result = ndjson_deliver(self);
  ch_buf_reset(&self->line);
  self->failed = CH_OK;
  return result;
}
