/* http.c: one logical HTTP request on the loop, with deadlines and retries. */
#include "chorus/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chorus_build.h"

#define ERROR_BODY_MAX (64 * 1024)
#define DEFAULT_MAX_BYTES ((size_t)4 * 1024 * 1024)
#define DEFAULT_ATTEMPTS 3u

struct ch_http {
  ch_loop *loop;
  CURL *easy;
  struct curl_slist *headers;
  char *url;
  char *body; /* the request body; curl reads it in place */
  size_t body_len;
  char *secret;
  uint32_t first_byte_limit, total_limit; /* ms; 0: none */
  size_t max_bytes;
  unsigned max_attempts;

  ch_http_data_cb on_data;
  ch_http_done_cb on_done;
  void *userdata;

  uint64_t start_ns, attempt_start_ns;
  uint64_t first_byte_timer, total_timer, retry_timer; /* 0: not running */
  bool in_loop;   /* the easy handle is in the loop's multi */
  bool in_done;   /* inside on_done: a cancel must not free */
  bool got_byte;  /* this attempt saw a byte of the response */
  bool body_delivered;
  double first_byte_ms;
  unsigned attempts;
  uint64_t rng;

  /* The attempt that is running or just ended. */
  long status;
  long retry_after_ms;
  size_t bytes;
  ch_buf data;  /* error body, or the whole body when on_data is NULL */
  ch_http_error stop_error; /* set when we abort the transfer ourselves */
  ch_http_deadline stop_deadline;
  char errbuf[CURL_ERROR_SIZE];
  ch_buf message;
};

const char *ch_http_error_name(ch_http_error error) {
  switch(error) {
  case CH_HTTP_OK: return "ok";
  case CH_HTTP_TIMEOUT: return "timeout";
  case CH_HTTP_REFUSED: return "refused";
  case CH_HTTP_STATUS: return "http status";
  case CH_HTTP_TOO_LARGE: return "too large";
  case CH_HTTP_ABORTED: return "aborted";
  case CH_HTTP_TLS: return "tls";
  case CH_HTTP_NETWORK: return "network";
  }
  return "unknown";
}

/* ---- pure helpers -------------------------------------------------------- */

void ch_http_redact(ch_buf *buf, const char *secret) {
  /* Short secrets would redact ordinary words; keys are long. */
  if(!secret || strlen(secret) < 4 || !buf->data) return;
  size_t slen = strlen(secret);
  static const char mark[] = "[redacted]";
  char *hit;
  size_t from = 0;
  while(from < buf->len &&
        (hit = memmem(buf->data + from, buf->len - from, secret, slen))) {
    size_t at = (size_t)(hit - buf->data);
    size_t mlen = sizeof(mark) - 1;
    /* The mark is never longer than what it replaces plus a little; build
     * the result in a fresh buffer to keep the cap semantics simple. */
    ch_buf out;
    ch_buf_init(&out, buf->max + mlen);
    ch_buf_append(&out, buf->data, at);
    ch_buf_append(&out, mark, mlen);
    ch_buf_append(&out, buf->data + at + slen, buf->len - at - slen);
    size_t n = 0;
    char *s = ch_buf_detach(&out, &n);
    ch_free(buf->data);
    buf->data = s;
    buf->len = n;
    buf->cap = n;
    if(buf->max < n) buf->max = n; /* the mark may be longer than the key */
    from = at + mlen;
  }
}

long ch_http_parse_retry_after(const char *value, long long now_epoch) {
  if(!value) return -1;
  while(*value == ' ' || *value == '\t') value++;
  if(isdigit((unsigned char)*value)) {
    char *end = NULL;
    errno = 0;
    double secs = strtod(value, &end);
    while(end && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
      end++;
    if(errno || !end || *end || secs < 0 || secs > 86400) return -1;
    return (long)(secs * 1000.0);
  }
  time_t when = curl_getdate(value, NULL);
  if(when < 0) return -1;
  long long delta = (long long)when - now_epoch;
  if(delta < 0) delta = 0;
  if(delta > 86400) return -1;
  return (long)(delta * 1000);
}

long ch_http_retry_delay(const ch_http_retry_input *in) {
  if(in->body_delivered) return -1;
  unsigned max = in->max_attempts ? in->max_attempts : DEFAULT_ATTEMPTS;
  if(in->attempt >= max) return -1;
  unsigned shift = in->attempt > 6 ? 6 : in->attempt - 1;
  long delay;
  if(in->error == CH_HTTP_REFUSED) {
    /* Nothing was sent: safe to repeat even a POST. */
    long base = 100L << shift;
    delay = base + (long)(in->jitter % (uint32_t)(base / 2 + 1));
  } else if(in->error == CH_HTTP_STATUS && in->status == 429) {
    /* Only when the server says when; guessing would hammer a quota. */
    if(in->retry_after_ms < 0) return -1;
    delay = in->retry_after_ms + (long)(in->jitter % 50u);
  } else if(in->error == CH_HTTP_STATUS && in->status == 503) {
    if(in->retry_after_ms >= 0) {
      delay = in->retry_after_ms + (long)(in->jitter % 50u);
    } else {
      long base = 250L << shift;
      delay = base + (long)(in->jitter % (uint32_t)(base / 2 + 1));
    }
  } else {
    return -1;
  }
  if(in->total_ms && in->elapsed_ms + (uint64_t)delay >= in->total_ms)
    return -1;
  return delay;
}

/* ---- the request -------------------------------------------------------- */

static double ms_since(uint64_t start_ns) {
  return (double)(ch_now_ns() - start_ns) / 1e6;
}

static uint32_t next_random(ch_http *self) {
  /* xorshift64: jitter only needs to differ between clients. */
  uint64_t x = self->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  self->rng = x;
  return (uint32_t)(x >> 32);
}

static void stop_timer(ch_http *self, uint64_t *id) {
  if(*id) ch_loop_timer_stop(self->loop, *id);
  *id = 0;
}

static void free_request(ch_http *self) {
  stop_timer(self, &self->first_byte_timer);
  stop_timer(self, &self->total_timer);
  stop_timer(self, &self->retry_timer);
  if(self->in_loop) ch_loop_transfer_remove(self->loop, self->easy);
  self->in_loop = false;
  if(self->easy) curl_easy_cleanup(self->easy);
  curl_slist_free_all(self->headers);
  ch_free(self->url);
  ch_free(self->body);
  if(self->secret) {
    memset(self->secret, 0, strlen(self->secret));
    ch_free(self->secret);
  }
  ch_buf_release(&self->data);
  ch_buf_release(&self->message);
  ch_free(self);
}

/* Delivers the end: fills the response from the last attempt and calls
 * on_done, then frees. */
static void finish(ch_http *self, ch_http_error error,
                   ch_http_deadline deadline) {
  stop_timer(self, &self->first_byte_timer);
  stop_timer(self, &self->total_timer);
  stop_timer(self, &self->retry_timer);
  if(self->in_loop) ch_loop_transfer_remove(self->loop, self->easy);
  self->in_loop = false;

  ch_http_redact(&self->message, self->secret);
  bool error_status = self->status < 200 || self->status >= 300;
  if(error_status || error != CH_HTTP_OK)
    ch_http_redact(&self->data, self->secret);
  ch_http_response r = {0};
  r.error = error;
  r.deadline = deadline;
  r.status = self->status;
  r.message = self->message.data ? self->message.data : "";
  r.error_body = "";
  r.body = "";
  if(self->status >= 300 && self->data.data) {
    r.error_body = self->data.data;
    r.error_body_len = self->data.len;
  } else if(!self->on_data && self->data.data && error == CH_HTTP_OK) {
    r.body = self->data.data;
    r.body_len = self->data.len;
  }
  r.bytes = self->bytes;
  r.first_byte_ms = self->first_byte_ms;
  r.total_ms = ms_since(self->start_ns);
  r.attempts = self->attempts;
  self->in_done = true;
  self->on_done(self->userdata, &r);
  self->in_done = false;
  free_request(self);
}

static void set_message(ch_http *self, const char *fmt, ...) CH_PRINTF(2, 3);
static void set_message(ch_http *self, const char *fmt, ...) {
  ch_buf_reset(&self->message);
  va_list ap;
  va_start(ap, fmt);
  ch_buf_vappendf(&self->message, fmt, ap);
  va_end(ap);
}

static void on_first_byte_timeout(ch_loop *loop, void *userdata) {
  ch_http *self = userdata;
  self->first_byte_timer = 0;
  if(self->got_byte) return;
  set_message(self, "no response within the first-byte deadline of %u ms",
              self->first_byte_limit);
  finish(self, CH_HTTP_TIMEOUT, CH_HTTP_DEADLINE_FIRST_BYTE);
}

static void on_total_timeout(ch_loop *loop, void *userdata) {
  ch_http *self = userdata;
  self->total_timer = 0;
  set_message(self, "the total deadline of %u ms passed", self->total_limit);
  finish(self, CH_HTTP_TIMEOUT, CH_HTTP_DEADLINE_TOTAL);
}

static void mark_first_byte(ch_http *self) {
  if(self->got_byte) return;
  self->got_byte = true;
  if(self->first_byte_ms < 0) self->first_byte_ms = ms_since(self->start_ns);
  stop_timer(self, &self->first_byte_timer);
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
  ch_http *self = userdata;
  size_t len = size * n;
  /* Servers often send headers at once and think afterwards: the first
   * byte that counts is the body's, in on_write. */
  if(len > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
    char value[128];
    size_t vlen = CH_MIN(len - 12, sizeof(value) - 1);
    memcpy(value, data + 12, vlen);
    value[vlen] = 0;
    self->retry_after_ms =
        ch_http_parse_retry_after(value, (long long)time(NULL));
  } else if(len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    /* A new status line (redirects, 100 Continue): forget the old hint. */
    self->retry_after_ms = -1;
  }
  return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *userdata) {
  ch_http *self = userdata;
  size_t len = size * n;
  mark_first_byte(self);
  if(!self->status) curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE,
                                      &self->status);
  if(self->status < 200 || self->status >= 300) {
    /* Keep the start of an error body for its message; drop the rest. */
    size_t room = self->data.len < ERROR_BODY_MAX
                      ? ERROR_BODY_MAX - self->data.len
                      : 0;
    if(room) ch_buf_append(&self->data, data, CH_MIN(room, len));
    return len;
  }
  if(self->bytes + len > self->max_bytes) {
    self->stop_error = CH_HTTP_TOO_LARGE;
    set_message(self, "the response passed the limit of %zu bytes",
                self->max_bytes);
    return 0;
  }
  self->bytes += len;
  if(!self->on_data) {
    if(ch_buf_append(&self->data, data, len)) {
      self->stop_error = CH_HTTP_TOO_LARGE;
      set_message(self, "the response passed the limit of %zu bytes",
                  self->max_bytes);
      return 0;
    }
    return len;
  }
  self->body_delivered = true;
  ch_status st = self->on_data(self->userdata, data, len);
  if(st) {
    self->stop_error = st == CH_ERR_TOO_LARGE ? CH_HTTP_TOO_LARGE
                                              : CH_HTTP_ABORTED;
    if(st == CH_ERR_TOO_LARGE)
      set_message(self, "the response passed its size limit");
    return 0;
  }
  return len;
}

static void on_transfer_done(ch_loop *loop, CURL *easy, CURLcode result,
                             void *userdata);

static ch_status start_attempt(ch_http *self) {
  self->attempts++;
  self->attempt_start_ns = ch_now_ns();
  self->got_byte = false;
  self->status = 0;
  self->retry_after_ms = -1;
  self->bytes = 0;
  self->stop_error = CH_HTTP_OK;
  self->stop_deadline = CH_HTTP_DEADLINE_NONE;
  self->errbuf[0] = 0;
  ch_buf_reset(&self->data);
  ch_buf_reset(&self->message);
  ch_status st = ch_loop_transfer_add(self->loop, self->easy,
                                      on_transfer_done, self);
  if(st) return st;
  self->in_loop = true;
  if(self->first_byte_limit)
    self->first_byte_timer = ch_loop_timer_start(
        self->loop, self->first_byte_limit, on_first_byte_timeout, self);
  return CH_OK;
}

static void on_retry_timer(ch_loop *loop, void *userdata) {
  ch_http *self = userdata;
  self->retry_timer = 0;
  if(start_attempt(self)) {
    set_message(self, "cannot start a new attempt");
    finish(self, CH_HTTP_NETWORK, CH_HTTP_DEADLINE_NONE);
  }
}

static bool is_tls_error(CURLcode c) {
  switch(c) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
    return true;
  default:
    return false;
  }
}

static const char *curl_text(ch_http *self, CURLcode result) {
  return self->errbuf[0] ? self->errbuf : curl_easy_strerror(result);
}

static void on_transfer_done(ch_loop *loop, CURL *easy, CURLcode result,
                             void *userdata) {
  ch_http *self = userdata;
  self->in_loop = false;
  stop_timer(self, &self->first_byte_timer);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &self->status);

  ch_http_error error = CH_HTTP_OK;
  ch_http_deadline deadline = CH_HTTP_DEADLINE_NONE;
  if(self->stop_error) {
    error = self->stop_error;
  } else if(result == CURLE_OK) {
    /* Redirects are not followed: a model API that moved is a mistake in
     * the endpoint, and following it could send the key elsewhere. */
    if(self->status < 200 || self->status >= 300) {
      error = CH_HTTP_STATUS;
      set_message(self, "HTTP %ld", self->status);
    }
  } else if(result == CURLE_COULDNT_CONNECT) {
    long oserr = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
    error = oserr == ECONNREFUSED || oserr == 0 ? CH_HTTP_REFUSED
                                                : CH_HTTP_NETWORK;
    set_message(self, "%s: %s",
                error == CH_HTTP_REFUSED ? "connection refused"
                                         : "cannot connect",
                curl_text(self, result));
  } else if(result == CURLE_OPERATION_TIMEDOUT) {
    curl_off_t connected = 0;
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected);
    error = CH_HTTP_TIMEOUT;
    deadline = connected ? CH_HTTP_DEADLINE_TOTAL : CH_HTTP_DEADLINE_CONNECT;
    set_message(self, "%s: %s",
                connected ? "timed out" : "the connect deadline passed",
                curl_text(self, result));
  } else if(is_tls_error(result)) {
    error = CH_HTTP_TLS;
    set_message(self, "TLS failure: %s", curl_text(self, result));
  } else {
    error = CH_HTTP_NETWORK;
    set_message(self, "%s", curl_text(self, result));
  }

  if(error == CH_HTTP_REFUSED || error == CH_HTTP_STATUS) {
    ch_http_retry_input in = {
        .error = error,
        .status = self->status,
        .retry_after_ms = self->retry_after_ms,
        .body_delivered = self->body_delivered,
        .attempt = self->attempts,
        .max_attempts = self->max_attempts,
        .elapsed_ms = (uint64_t)ms_since(self->start_ns),
        .total_ms = self->total_limit,
        .jitter = next_random(self),
    };
    long delay = ch_http_retry_delay(&in);
    if(delay >= 0) {
      ch_log_debug("http: attempt %u ended (%s, status %ld); retrying in "
                   "%ld ms", self->attempts, ch_http_error_name(error),
                   self->status, delay);
      self->retry_timer = ch_loop_timer_start(self->loop, (uint64_t)delay,
                                              on_retry_timer, self);
      return;
    }
  }
  finish(self, error, deadline);
}

/* Appends "Name: value\n" lines to list; false on a malformed line. */
static bool add_headers(struct curl_slist **list, const char *text) {
  while(text && *text) {
    const char *end = strchr(text, '\n');
    size_t len = end ? (size_t)(end - text) : strlen(text);
    if(len) {
      char *line = ch_strndup(text, len);
      const char *colon = strchr(line, ':');
      bool ok = colon && colon != line && !strchr(line, '\r');
      if(ok) *list = curl_slist_append(*list, line);
      ch_free(line);
      if(!ok) return false;
    }
    text = end ? end + 1 : text + len;
  }
  return true;
}

ch_http *ch_http_start(ch_loop *loop, const ch_http_request *request,
                       ch_http_data_cb on_data, ch_http_done_cb on_done,
                       void *userdata, ch_status *error) {
  ch_status st = CH_ERR_INVALID;
  if(!loop || !request || !request->url || !request->method || !on_done)
    goto fail;
  if(strncmp(request->url, "http://", 7) != 0 &&
     strncmp(request->url, "https://", 8) != 0)
    goto fail;
  ch_http *self = ch_calloc(1, sizeof(*self));
  self->loop = loop;
  self->url = ch_strdup(request->url);
  self->secret = request->secret ? ch_strdup(request->secret) : NULL;
  self->first_byte_limit = request->first_byte_ms;
  self->total_limit = request->total_ms;
  self->max_bytes = request->max_response_bytes ? request->max_response_bytes
                                                : DEFAULT_MAX_BYTES;
  self->max_attempts =
      request->max_attempts ? request->max_attempts : DEFAULT_ATTEMPTS;
  self->on_data = on_data;
  self->on_done = on_done;
  self->userdata = userdata;
  self->first_byte_ms = -1;
  self->rng = ch_now_ns() ^ (uint64_t)(uintptr_t)self ^ 0x9e3779b97f4a7c15ull;
  if(!self->rng) self->rng = 1;
  ch_buf_init(&self->data, on_data ? ERROR_BODY_MAX : self->max_bytes);
  ch_buf_init(&self->message, 4096);

  self->easy = curl_easy_init();
  if(!self->easy) {
    st = CH_ERR_IO;
    free_request(self);
    goto fail;
  }
  if(!add_headers(&self->headers, request->headers)) {
    free_request(self);
    goto fail;
  }
  if(request->body) {
    self->body = ch_memdup(request->body, request->body_len);
    self->body_len = request->body_len;
    self->headers = curl_slist_append(self->headers,
                                      "Content-Type: application/json");
  }
  /* No "Expect: 100-continue" round trip before a body. */
  self->headers = curl_slist_append(self->headers, "Expect:");

  CURL *e = self->easy;
  curl_easy_setopt(e, CURLOPT_URL, self->url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "chorus/" CHORUS_VERSION);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, self->headers);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, self->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, self);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, self);
  /* Verification stays on (curl's default) with the system CA store. */
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if(request->connect_ms)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)request->connect_ms);
  if(request->total_ms)
    /* Our own timer ends the request first; this is a backstop. */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)request->total_ms + 2000L);
  if(strcmp(request->method, "GET") == 0) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    if(strcmp(request->method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request->method);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, self->body ? self->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)self->body_len);
  }

  self->start_ns = ch_now_ns();
  st = start_attempt(self);
  if(st) {
    free_request(self);
    goto fail;
  }
  if(self->total_limit)
    self->total_timer =
        ch_loop_timer_start(loop, self->total_limit, on_total_timeout, self);
  return self;

fail:
  if(error) *error = st;
  return NULL;
}

void ch_http_cancel(ch_http *self) {
  if(!self || self->in_done) return;
  free_request(self);
}

unsigned ch_http_attempts(const ch_http *self) { return self->attempts; }

long ch_http_status(const ch_http *self) {
  long status = self->status;
  if(!status && self->in_loop)
    curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &status);
  return status;
}
