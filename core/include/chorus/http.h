/*
 * chorus/http.h: HTTP requests on the loop's curl multi handle.
 *
 * One ch_http is one logical request: it may make several attempts when a
 * retry is safe. Guarantees:
 * - Nothing blocks: the transfer lives on the loop (ch_loop_transfer_add),
 *   and deadlines are loop timers.
 * - Deadlines: connect (curl's CURLOPT_CONNECTTIMEOUT_MS), first byte (from
 *   the start of each attempt until the first byte of the response), total
 *   (from ch_http_start, across retries). Each is reported as its own
 *   timeout.
 * - The response is bounded: past max_response_bytes the transfer is
 *   aborted with CH_HTTP_TOO_LARGE, so an endless stream costs bounded
 *   memory.
 * - Retries only when safe, with jitter: connection refused (nothing was
 *   sent), 429 with a Retry-After that still fits in the total deadline, and
 *   503. Never once a byte of a 2xx body was handed to on_data.
 * - on_data sees only the body of a 2xx response, as it arrives. The body of
 *   an error status is kept (up to 64 KiB) for its message.
 * - on_done is called exactly once, from the loop and never from inside
 *   ch_http_start, unless ch_http_cancel came first. ch_http_cancel removes
 *   the transfer at once: the connection is closed before it returns.
 * - TLS verification is on with the system's CA store, and libcurl's use of
 *   the standard proxy variables (http_proxy, https_proxy, no_proxy) is kept.
 * - `secret` (an API key) is removed from every message this module makes.
 *
 * Threads: the loop's thread only.
 */
#ifndef CHORUS_HTTP_H
#define CHORUS_HTTP_H

#include "chorus/loop.h"
#include "chorus/util.h"

typedef enum ch_http_error {
  CH_HTTP_OK = 0,
  CH_HTTP_TIMEOUT,   /* see ch_http_response.deadline */
  CH_HTTP_REFUSED,   /* connection refused */
  CH_HTTP_STATUS,    /* status outside 2xx (after retries); no redirects */
  CH_HTTP_TOO_LARGE, /* past max_response_bytes */
  CH_HTTP_ABORTED,   /* on_data asked to stop (not an error by itself) */
  CH_HTTP_TLS,       /* certificate or handshake failure */
  CH_HTTP_NETWORK,   /* any other transport failure (DNS, reset, cut) */
} ch_http_error;

typedef enum ch_http_deadline {
  CH_HTTP_DEADLINE_NONE = 0,
  CH_HTTP_DEADLINE_CONNECT,
  CH_HTTP_DEADLINE_FIRST_BYTE,
  CH_HTTP_DEADLINE_TOTAL,
} ch_http_deadline;

const char *ch_http_error_name(ch_http_error error);

typedef struct ch_http_request {
  const char *method;  /* "GET", "POST" */
  const char *url;     /* copied */
  const char *headers; /* "Name: value\n" lines, copied; may be NULL */
  const char *body;    /* copied; may be NULL */
  size_t body_len;
  uint32_t connect_ms;    /* 0: no limit beyond the total */
  uint32_t first_byte_ms; /* 0: none */
  uint32_t total_ms;      /* 0: none */
  size_t max_response_bytes; /* 0: 4 MiB */
  unsigned max_attempts;     /* 0: 3 */
  const char *secret;        /* redacted from messages; copied; may be NULL */
} ch_http_request;

typedef struct ch_http_response {
  ch_http_error error;
  ch_http_deadline deadline; /* for CH_HTTP_TIMEOUT */
  long status;               /* 0 when no response came */
  const char *message;       /* human message, secret removed; "" when ok */
  const char *error_body;    /* body of a status >= 400 (redacted), or "" */
  size_t error_body_len;
  const char *body;          /* whole body when on_data is NULL, else "" */
  size_t body_len;
  size_t bytes;              /* bytes of the last attempt's body */
  double first_byte_ms;      /* from ch_http_start; -1 when none came */
  double total_ms;
  unsigned attempts;
} ch_http_response;

/* Body bytes of a 2xx response as they arrive. Return CH_OK to go on,
 * anything else to stop (the request ends with CH_HTTP_ABORTED, or
 * CH_HTTP_TOO_LARGE for CH_ERR_TOO_LARGE). */
typedef ch_status (*ch_http_data_cb)(void *userdata, const char *data,
                                     size_t len);
/* The end; `response` and its strings are borrowed for the call. */
typedef void (*ch_http_done_cb)(void *userdata,
                                const ch_http_response *response);

typedef struct ch_http ch_http;

/* Starts a request. With on_data NULL the whole 2xx body is collected into
 * response->body. Returns NULL (and *error) when the request is malformed;
 * then on_done is never called. */
ch_http *ch_http_start(ch_loop *loop, const ch_http_request *request,
                       ch_http_data_cb on_data, ch_http_done_cb on_done,
                       void *userdata, ch_status *error);
/* Aborts at once and frees; on_done is not called. NULL is a no-op. Must not
 * be called from inside on_done (the request is freed after it returns). */
void ch_http_cancel(ch_http *self);

/* Attempts started so far and the status of the current one (0 before its
 * headers), for a caller that abandons a request it no longer needs. */
unsigned ch_http_attempts(const ch_http *self);
long ch_http_status(const ch_http *self);

/* ---- retry policy (pure, exposed for tests) ------------------------------ */
typedef struct ch_http_retry_input {
  ch_http_error error;  /* of the attempt that just ended */
  long status;
  long retry_after_ms;  /* from Retry-After, -1 when absent */
  bool body_delivered;  /* a byte of a 2xx body reached on_data */
  unsigned attempt;     /* 1 for the first */
  unsigned max_attempts;
  uint64_t elapsed_ms;  /* since ch_http_start */
  uint32_t total_ms;    /* 0: no total deadline */
  uint32_t jitter;      /* a random number; the policy scales it */
} ch_http_retry_input;

/* The delay before the next attempt in milliseconds, or -1: no retry. */
long ch_http_retry_delay(const ch_http_retry_input *in);

/* Parses a Retry-After value (delta seconds or an HTTP date relative to
 * now_epoch) into milliseconds; -1 when it cannot be read. */
long ch_http_parse_retry_after(const char *value, long long now_epoch);

/* Replaces every occurrence of secret in buf with "[redacted]". */
void ch_http_redact(ch_buf *buf, const char *secret);

#endif
