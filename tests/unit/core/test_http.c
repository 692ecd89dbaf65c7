/* Tests for core/src/http.c: the retry policy, Retry-After, redaction, and
 * real transfers on the loop against a scripted HTTP server on loopback
 * (a thread that answers each connection with canned bytes): streaming,
 * error bodies, refused connections, each deadline, the size limit, retries
 * after 429 and 503, and cancellation closing the connection.
 *
 * Every test that runs the loop arms a watchdog, so a hang fails in seconds. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chorus/http.h"

#define WATCHDOG_MS 8000
#define MAX_SCRIPTS 4

/* ---- a scripted server --------------------------------------------------- */

typedef struct script {
  const char *response; /* sent after the request was read; NULL: nothing */
  unsigned delay_ms;    /* before the response */
  bool hang;    /* then keep the connection open until the client goes */
  bool trickle; /* then send one byte every 20 ms until the client goes */
} script;

typedef struct server {
  int fd;
  int port;
  pthread_t thread;
  script scripts[MAX_SCRIPTS];
  int nscripts;
  atomic_int served;
  atomic_bool client_closed[MAX_SCRIPTS];
  char requests[MAX_SCRIPTS][8192];
} server;

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while(nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Reads one request (headers and a Content-Length body) into out. */
static void read_request(int c, char *out, size_t cap) {
  size_t len = 0;
  size_t want = SIZE_MAX;
  while(len + 1 < cap && len < want) {
    struct pollfd p = {c, POLLIN, 0};
    if(poll(&p, 1, 3000) <= 0) break;
    ssize_t n = recv(c, out + len, cap - 1 - len, 0);
    if(n <= 0) break;
    len += (size_t)n;
    out[len] = 0;
    char *end = strstr(out, "\r\n\r\n");
    if(end && want == SIZE_MAX) {
      const char *cl = strcasestr(out, "content-length:");
      size_t body = cl && cl < end ? (size_t)atol(cl + 15) : 0;
      want = (size_t)(end + 4 - out) + body;
    }
  }
  out[len] = 0;
}

/* Waits until the client closes (recv returns 0 or an error). */
static bool wait_client_close(int c, bool trickle) {
  for(int i = 0; i < 400; i++) {
    struct pollfd p = {c, POLLIN, 0};
    int r = poll(&p, 1, 20);
    if(r > 0) {
      char b[256];
      ssize_t n = recv(c, b, sizeof(b), 0);
      if(n <= 0) return true;
    }
    if(trickle && send(c, "x", 1, MSG_NOSIGNAL) < 0) return true;
  }
  return false;
}

static void *serve(void *arg) {
  server *s = arg;
  for(int i = 0; i < s->nscripts; i++) {
    struct pollfd p = {s->fd, POLLIN, 0};
    if(poll(&p, 1, 5000) <= 0) break;
    int c = accept(s->fd, NULL, NULL);
    if(c < 0) break;
    read_request(c, s->requests[i], sizeof(s->requests[i]));
    const script *sc = &s->scripts[i];
    if(sc->delay_ms) sleep_ms(sc->delay_ms);
    if(sc->response)
      (void)!send(c, sc->response, strlen(sc->response), MSG_NOSIGNAL);
    if(sc->hang || sc->trickle)
      atomic_store(&s->client_closed[i], wait_client_close(c, sc->trickle));
    atomic_fetch_add(&s->served, 1);
    shutdown(c, SHUT_WR);
    close(c);
  }
  return NULL;
}

static int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static void server_start(server *s, const script *scripts, int n) {
  memset(s, 0, sizeof(*s));
  s->fd = listen_loopback(&s->port);
  assert_int_equal(listen(s->fd, 8), 0);
  memcpy(s->scripts, scripts, sizeof(*scripts) * (size_t)n);
  s->nscripts = n;
  assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(server *s) {
  pthread_join(s->thread, NULL);
  close(s->fd);
}

/* ---- running requests ---------------------------------------------------- */

typedef struct outcome {
  int done_calls;
  ch_http_response r; /* strings copied below */
  char message[512];
  char error_body[1024];
  char body[8192];
  ch_buf data; /* what on_data saw */
  bool stop_after_first; /* on_data asks to stop */
} outcome;

static ch_loop *loop;
static bool watchdog_fired;

static void on_watchdog(ch_loop *l, void *userdata) {
  watchdog_fired = true;
  ch_loop_stop(l);
}

static ch_status on_data(void *userdata, const char *data, size_t len) {
  outcome *o = userdata;
  ch_buf_append(&o->data, data, len);
  return o->stop_after_first ? CH_ERR_CANCELLED : CH_OK;
}

static void on_done(void *userdata, const ch_http_response *r) {
  outcome *o = userdata;
  o->done_calls++;
  o->r = *r;
  snprintf(o->message, sizeof(o->message), "%s", r->message);
  snprintf(o->error_body, sizeof(o->error_body), "%.*s",
           (int)r->error_body_len, r->error_body);
  snprintf(o->body, sizeof(o->body), "%.*s", (int)r->body_len, r->body);
  ch_loop_stop(loop);
}

static char url_buf[128];
static const char *url(const server *s, const char *path) {
  snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", s->port, path);
  return url_buf;
}

/* Runs one request to completion (or the watchdog). */
static uint64_t run(const ch_http_request *req, bool stream, outcome *o) {
  memset(o, 0, sizeof(*o));
  ch_buf_init(&o->data, 1 << 20);
  ch_status err = CH_OK;
  uint64_t t0 = ch_now_ms();
  ch_http *h = ch_http_start(loop, req, stream ? on_data : NULL, on_done, o,
                             &err);
  assert_non_null(h);
  assert_int_equal(o->done_calls, 0); /* never from inside start */
  watchdog_fired = false;
  uint64_t wd = ch_loop_timer_start(loop, WATCHDOG_MS, on_watchdog, NULL);
  ch_loop_run(loop);
  ch_loop_timer_stop(loop, wd);
  assert_false(watchdog_fired);
  assert_int_equal(o->done_calls, 1);
  return ch_now_ms() - t0;
}

/* ---- pure parts ---------------------------------------------------------- */

static void test_retry_policy(void **state) {
  ch_http_retry_input in = {.error = CH_HTTP_REFUSED, .attempt = 1,
                            .max_attempts = 3, .retry_after_ms = -1};
  for(uint32_t j = 0; j < 1000; j += 37) {
    in.jitter = j;
    long d = ch_http_retry_delay(&in);
    assert_true(d >= 100 && d <= 150);
  }
  in.attempt = 2;
  long d2 = ch_http_retry_delay(&in);
  assert_true(d2 >= 200 && d2 <= 300); /* backs off */
  in.attempt = 3;
  assert_int_equal(ch_http_retry_delay(&in), -1); /* out of attempts */

  /* 429: only with Retry-After, and only inside the total deadline. */
  in = (ch_http_retry_input){.error = CH_HTTP_STATUS, .status = 429,
                             .attempt = 1, .max_attempts = 3,
                             .retry_after_ms = -1, .total_ms = 5000};
  assert_int_equal(ch_http_retry_delay(&in), -1);
  in.retry_after_ms = 1000;
  in.jitter = 7;
  assert_int_equal(ch_http_retry_delay(&in), 1007);
  in.elapsed_ms = 4500;
  assert_int_equal(ch_http_retry_delay(&in), -1);
  in.elapsed_ms = 0;
  in.retry_after_ms = 30000;
  assert_int_equal(ch_http_retry_delay(&in), -1);
  in.total_ms = 0; /* no total deadline: the hint is honoured */
  assert_true(ch_http_retry_delay(&in) >= 30000);

  /* 503: retried, with or without a hint. */
  in = (ch_http_retry_input){.error = CH_HTTP_STATUS, .status = 503,
                             .attempt = 1, .max_attempts = 3,
                             .retry_after_ms = -1};
  long d = ch_http_retry_delay(&in);
  assert_true(d >= 250 && d <= 375);
  in.retry_after_ms = 0;
  assert_true(ch_http_retry_delay(&in) < 50);

  /* Never: other statuses, other errors, or once the body was delivered. */
  static const long never_status[] = {400, 401, 403, 404, 500, 502, 504};
  for(size_t i = 0; i < CH_ARRAY_LEN(never_status); i++) {
    in.status = never_status[i];
    assert_int_equal(ch_http_retry_delay(&in), -1);
  }
  static const ch_http_error never_error[] = {
      CH_HTTP_OK, CH_HTTP_TIMEOUT, CH_HTTP_TOO_LARGE, CH_HTTP_TLS,
      CH_HTTP_NETWORK, CH_HTTP_ABORTED};
  for(size_t i = 0; i < CH_ARRAY_LEN(never_error); i++) {
    in.error = never_error[i];
    assert_int_equal(ch_http_retry_delay(&in), -1);
  }
  in = (ch_http_retry_input){.error = CH_HTTP_REFUSED, .attempt = 1,
                             .max_attempts = 3, .body_delivered = true};
  assert_int_equal(ch_http_retry_delay(&in), -1);
}

static void test_retry_after_parse(void **state) {
  assert_int_equal(ch_http_parse_retry_after("2", 0), 2000);
  assert_int_equal(ch_http_parse_retry_after(" 0\r\n", 0), 0);
  assert_int_equal(ch_http_parse_retry_after("1.5", 0), 1500);
  assert_int_equal(ch_http_parse_retry_after("soon", 0), -1);
  assert_int_equal(ch_http_parse_retry_after("-3", 0), -1);
  assert_int_equal(ch_http_parse_retry_after("5x", 0), -1);
  /* An HTTP date, relative to now. */
  long long now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
  assert_int_equal(
      ch_http_parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now), 10000);
  assert_int_equal(
      ch_http_parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
}

static void test_redact(void **state) {
  ch_buf b;
  ch_buf_init(&b, 1024);
  ch_buf_append_str(&b, "key sk-abc123 and again sk-abc123.");
  ch_http_redact(&b, "sk-abc123");
  assert_string_equal(b.data, "key [redacted] and again [redacted].");
  ch_http_redact(&b, NULL);
  ch_http_redact(&b, "a"); /* too short to be a key: words survive */
  assert_string_equal(b.data, "key [redacted] and again [redacted].");
  ch_buf_release(&b);
}

static void test_bad_requests_refused(void **state) {
  ch_status err = CH_OK;
  ch_http_request req = {.method = "GET", .url = "ftp://example.com/"};
  assert_null(ch_http_start(loop, &req, NULL, on_done, NULL, &err));
  assert_int_equal(err, CH_ERR_INVALID);
  req.url = "http://127.0.0.1:1/";
  req.headers = "no colon here\n";
  err = CH_OK;
  assert_null(ch_http_start(loop, &req, NULL, on_done, NULL, &err));
  assert_int_equal(err, CH_ERR_INVALID);
  req.headers = "X-A: 1\r\nX-B: 2\n"; /* CR would smuggle a header */
  assert_null(ch_http_start(loop, &req, NULL, on_done, NULL, &err));
  assert_int_equal(ch_loop_transfer_count(loop), 0);
}

/* ---- transfers ----------------------------------------------------------- */

static void test_streamed_body_and_request(void **state) {
  server s;
  script sc[] = {{.response =
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "POST",
                         .url = url(&s, "/v1/x"),
                         .headers = "X-Test: 1\nAuthorization: Bearer k\n",
                         .body = "{\"a\":1}",
                         .body_len = 7};
  outcome o;
  run(&req, true, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_OK);
  assert_int_equal(o.r.status, 200);
  assert_string_equal(o.data.data, "hello world");
  assert_int_equal(o.r.bytes, 11);
  assert_int_equal(o.r.attempts, 1);
  assert_true(o.r.first_byte_ms >= 0 && o.r.first_byte_ms <= o.r.total_ms);
  const char *rq = s.requests[0];
  assert_true(strncmp(rq, "POST /v1/x HTTP/1.1\r\n", 21) == 0);
  assert_non_null(strstr(rq, "\r\nX-Test: 1\r\n"));
  assert_non_null(strstr(rq, "\r\nContent-Type: application/json\r\n"));
  assert_non_null(strstr(rq, "\r\nUser-Agent: chorus/"));
  assert_null(strstr(rq, "Expect:"));
  assert_non_null(strstr(rq, "\r\n\r\n{\"a\":1}"));
  ch_buf_release(&o.data);
}

static void test_whole_body_collected(void **state) {
  server s;
  script sc[] = {
      {.response = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"ok\":1}\n"}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "GET", .url = url(&s, "/health")};
  outcome o;
  run(&req, false, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_OK);
  assert_string_equal(o.body, "{\"ok\":1}\n");
  assert_true(strncmp(s.requests[0], "GET /health HTTP/1.1\r\n", 22) == 0);
  ch_buf_release(&o.data);
}

static void test_error_status_keeps_body_redacted(void **state) {
  server s;
  script sc[] = {{.response =
                      "HTTP/1.1 401 Unauthorized\r\nContent-Length: 38\r\n\r\n"
                      "{\"error\":\"bad key sk-secret-77 given\"}"}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "POST", .url = url(&s, "/"),
                         .body = "{}", .body_len = 2,
                         .secret = "sk-secret-77"};
  outcome o;
  run(&req, true, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_STATUS);
  assert_int_equal(o.r.status, 401);
  assert_string_equal(o.error_body, "{\"error\":\"bad key [redacted] given\"}");
  assert_int_equal(o.data.len, 0); /* an error body never reaches on_data */
  assert_int_equal(o.r.attempts, 1);
  ch_buf_release(&o.data);
}

static void test_refused_is_retried_then_classified(void **state) {
  int port = 0;
  int fd = listen_loopback(&port);
  close(fd); /* nothing listens there now */
  char u[64];
  snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
  ch_http_request req = {.method = "POST", .url = u, .body = "{}",
                         .body_len = 2};
  outcome o;
  uint64_t ms = run(&req, true, &o);
  assert_int_equal(o.r.error, CH_HTTP_REFUSED);
  assert_int_equal(o.r.attempts, 3);
  assert_true(ms >= 300); /* 100 + 200 ms of back-off at least */
  assert_non_null(strstr(o.message, "connection refused"));
  req.max_attempts = 1;
  run(&req, true, &o);
  assert_int_equal(o.r.attempts, 1);
  ch_buf_release(&o.data);
}

static void test_first_byte_deadline_closes(void **state) {
  server s;
  /* Headers at once, then nothing: the body's first byte is what counts. */
  script sc[] = {
      {.response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
       .hang = true}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "POST", .url = url(&s, "/"), .body = "{}",
                         .body_len = 2, .first_byte_ms = 200,
                         .total_ms = 5000};
  outcome o;
  uint64_t ms = run(&req, true, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_TIMEOUT);
  assert_int_equal(o.r.deadline, CH_HTTP_DEADLINE_FIRST_BYTE);
  assert_true(ms >= 190 && ms < 2000);
  assert_true(o.r.first_byte_ms < 0);
  assert_true(atomic_load(&s.client_closed[0]));
  assert_non_null(strstr(o.message, "first-byte deadline of 200 ms"));
  ch_buf_release(&o.data);
}

static void test_total_deadline(void **state) {
  server s;
  script sc[] = {
      {.response = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
       .trickle = true}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "GET", .url = url(&s, "/"),
                         .first_byte_ms = 1000, .total_ms = 300};
  outcome o;
  uint64_t ms = run(&req, true, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_TIMEOUT);
  assert_int_equal(o.r.deadline, CH_HTTP_DEADLINE_TOTAL);
  assert_true(ms >= 290 && ms < 2000);
  assert_true(o.data.len > 0); /* bytes did arrive before */
  assert_true(atomic_load(&s.client_closed[0]));
  ch_buf_release(&o.data);
}

static void test_too_large(void **state) {
  static char resp[6000];
  int n = snprintf(resp, sizeof(resp),
                   "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
  memset(resp + n, 'z', 5000);
  resp[n + 5000] = 0;
  server s;
  script sc[] = {{.response = resp}, {.response = resp}};
  server_start(&s, sc, 2);
  ch_http_request req = {.method = "GET", .url = url(&s, "/"),
                         .max_response_bytes = 1000};
  outcome o;
  run(&req, true, &o);
  assert_int_equal(o.r.error, CH_HTTP_TOO_LARGE);
  assert_true(o.data.len <= 1000);
  assert_non_null(strstr(o.message, "1000 bytes"));
  ch_buf_release(&o.data);
  run(&req, false, &o); /* collected bodies obey the same limit */
  assert_int_equal(o.r.error, CH_HTTP_TOO_LARGE);
  server_stop(&s);
  ch_buf_release(&o.data);
}

static void test_429_with_retry_after_then_ok(void **state) {
  server s;
  script sc[] = {
      {.response = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\n"
       "Content-Length: 2\r\n\r\n{}"},
      {.response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
  };
  server_start(&s, sc, 2);
  ch_http_request req = {.method = "POST", .url = url(&s, "/"), .body = "{}",
                         .body_len = 2, .total_ms = 5000};
  outcome o;
  run(&req, true, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_OK);
  assert_int_equal(o.r.attempts, 2);
  assert_string_equal(o.data.data, "ok");
  /* The retry sent the same request again. */
  assert_non_null(strstr(s.requests[1], "\r\n\r\n{}"));
  ch_buf_release(&o.data);
}

static void test_503_retried_500_not(void **state) {
  server s;
  script sc[] = {
      {.response = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
                   "Content-Length: 0\r\n\r\n"},
      {.response = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
                   "4\r\n\r\nboom"},
  };
  server_start(&s, sc, 2);
  ch_http_request req = {.method = "GET", .url = url(&s, "/")};
  outcome o;
  run(&req, true, &o);
  server_stop(&s);
  assert_int_equal(o.r.error, CH_HTTP_STATUS);
  assert_int_equal(o.r.status, 500);
  assert_int_equal(o.r.attempts, 2);
  assert_string_equal(o.error_body, "boom");
  ch_buf_release(&o.data);
}

static void test_on_data_stop_aborts(void **state) {
  server s;
  script sc[] = {{.response =
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n",
                  .hang = true}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "GET", .url = url(&s, "/")};
  outcome o;
  memset(&o, 0, sizeof(o));
  ch_buf_init(&o.data, 1024);
  o.stop_after_first = true;
  ch_status err = CH_OK;
  ch_http_start(loop, &req, on_data, on_done, &o, &err);
  watchdog_fired = false;
  uint64_t wd = ch_loop_timer_start(loop, WATCHDOG_MS, on_watchdog, NULL);
  ch_loop_run(loop);
  ch_loop_timer_stop(loop, wd);
  server_stop(&s);
  assert_int_equal(o.done_calls, 1);
  assert_int_equal(o.r.error, CH_HTTP_ABORTED);
  assert_string_equal(o.data.data, "abc");
  assert_true(atomic_load(&s.client_closed[0]));
  ch_buf_release(&o.data);
}

static ch_http *to_cancel;
static void cancel_now(ch_loop *l, void *userdata) {
  ch_http_cancel(to_cancel);
  to_cancel = NULL;
}
static void stop_loop(ch_loop *l, void *userdata) { ch_loop_stop(l); }

static void test_cancel_closes_connection(void **state) {
  server s;
  script sc[] = {{.response = NULL, .hang = true}};
  server_start(&s, sc, 1);
  ch_http_request req = {.method = "POST", .url = url(&s, "/"), .body = "{}",
                         .body_len = 2, .first_byte_ms = 5000};
  outcome o;
  memset(&o, 0, sizeof(o));
  ch_buf_init(&o.data, 1024);
  ch_status err = CH_OK;
  to_cancel = ch_http_start(loop, &req, on_data, on_done, &o, &err);
  assert_non_null(to_cancel);
  ch_loop_timer_start(loop, 100, cancel_now, NULL);
  ch_loop_timer_start(loop, 400, stop_loop, NULL);
  ch_loop_run(loop);
  assert_int_equal(o.done_calls, 0);
  assert_int_equal(ch_loop_transfer_count(loop), 0);
  server_stop(&s); /* joins once the server saw the close */
  assert_true(atomic_load(&s.client_closed[0]));
  ch_http_cancel(NULL);
  ch_buf_release(&o.data);
}

static void test_many_in_flight(void **state) {
  /* Several requests share the loop: each gets its own answer. */
  server s[3];
  script sc[] = {{.response = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
                  .delay_ms = 150},
                 {.response = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB",
                  .delay_ms = 50},
                 {.response = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC",
                  .delay_ms = 100}};
  outcome o[3];
  for(int i = 0; i < 3; i++) {
    server_start(&s[i], &sc[i], 1);
    memset(&o[i], 0, sizeof(o[i]));
    ch_buf_init(&o[i].data, 64);
  }
  static int remaining;
  remaining = 3;
  for(int i = 0; i < 3; i++) {
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", s[i].port);
    ch_http_request req = {.method = "GET", .url = u};
    ch_status err = CH_OK;
    assert_non_null(ch_http_start(loop, &req, on_data, on_done, &o[i], &err));
  }
  uint64_t t0 = ch_now_ms();
  while(remaining) {
    watchdog_fired = false;
    uint64_t wd = ch_loop_timer_start(loop, WATCHDOG_MS, on_watchdog, NULL);
    ch_loop_run(loop); /* on_done stops the loop after each answer */
    ch_loop_timer_stop(loop, wd);
    assert_false(watchdog_fired);
    remaining = 3 - (o[0].done_calls + o[1].done_calls + o[2].done_calls);
  }
  /* Concurrent, not one after the other. */
  assert_true(ch_now_ms() - t0 < 290);
  for(int i = 0; i < 3; i++) {
    server_stop(&s[i]);
    assert_int_equal(o[i].r.error, CH_HTTP_OK);
    assert_int_equal(o[i].data.data[0], "ABC"[i]);
    ch_buf_release(&o[i].data);
  }
}

static int setup(void **state) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  loop = ch_loop_new(NULL);
  return loop ? 0 : -1;
}

static int teardown(void **state) {
  ch_loop_free(loop);
  curl_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_policy),
      cmocka_unit_test(test_retry_after_parse),
      cmocka_unit_test(test_redact),
      cmocka_unit_test(test_bad_requests_refused),
      cmocka_unit_test(test_streamed_body_and_request),
      cmocka_unit_test(test_whole_body_collected),
      cmocka_unit_test(test_error_status_keeps_body_redacted),
      cmocka_unit_test(test_refused_is_retried_then_classified),
      cmocka_unit_test(test_first_byte_deadline_closes),
      cmocka_unit_test(test_total_deadline),
      cmocka_unit_test(test_too_large),
      cmocka_unit_test(test_429_with_retry_after_then_ok),
      cmocka_unit_test(test_503_retried_500_not),
      cmocka_unit_test(test_on_data_stop_aborts),
      cmocka_unit_test(test_cancel_closes_connection),
      cmocka_unit_test(test_many_in_flight),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
