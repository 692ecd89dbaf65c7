/* Tests for core/src/stream.c: the SSE and NDJSON parsers.
 *
 * Every input is fed whole, one byte at a time, cut at every single split
 * point and cut at random points, and each way must give the same callbacks
 * and the same final status. A randomised test also checks the SSE parser
 * against a plain reference written from the WHATWG steps (split the whole
 * text into lines first, then interpret them). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "chorus/stream.h"

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* ---- recording callbacks --------------------------------------------------
 */

/* Callbacks are logged as "[event|data]\n" (SSE) or "<line>\n" (NDJSON),
 * byte for byte, so two runs compare with one memcmp. */
typedef struct recorder {
  ch_buf log;
  int calls;
  int stop_after; /* return nonzero on this call (1-based); 0: never */
} recorder;

static int sse_record(void *userdata, const char *event, const char *data,
                      size_t len) {
  recorder *r = userdata;
  assert_non_null(event);
  assert_non_null(data);
  assert_int_equal(data[len], 0); /* NUL-terminated as promised */
  assert_int_equal(ch_buf_append_char(&r->log, '['), CH_OK);
  assert_int_equal(ch_buf_append_str(&r->log, event), CH_OK);
  assert_int_equal(ch_buf_append_char(&r->log, '|'), CH_OK);
  assert_int_equal(ch_buf_append(&r->log, data, len), CH_OK);
  assert_int_equal(ch_buf_append_str(&r->log, "]\n"), CH_OK);
  r->calls++;
  return r->calls == r->stop_after;
}

static int ndjson_record(void *userdata, const char *line, size_t len) {
  recorder *r = userdata;
  assert_non_null(line);
  assert_int_equal(line[len], 0);
  assert_true(len > 0);
  assert_int_equal(ch_buf_append(&r->log, line, len), CH_OK);
  assert_int_equal(ch_buf_append_char(&r->log, '\n'), CH_OK);
  r->calls++;
  return r->calls == r->stop_after;
}

/* ---- the split driver -----------------------------------------------------
 */

typedef enum kind { SSE, NDJSON } kind;

typedef struct parser {
  kind kind;
  ch_sse sse;
  ch_ndjson nd;
} parser;

static void parser_init(parser *p, kind k, size_t max, recorder *r) {
  p->kind = k;
  if(k == SSE)
    ch_sse_init(&p->sse, max, sse_record, r);
  else
    ch_ndjson_init(&p->nd, max, ndjson_record, r);
}

static ch_status parser_feed(parser *p, const char *s, size_t n) {
  return p->kind == SSE ? ch_sse_feed(&p->sse, s, n)
                        : ch_ndjson_feed(&p->nd, s, n);
}

static ch_status parser_finish(parser *p) {
  return p->kind == SSE ? ch_sse_finish(&p->sse) : ch_ndjson_finish(&p->nd);
}

static void parser_release(parser *p) {
  if(p->kind == SSE)
    ch_sse_release(&p->sse);
  else
    ch_ndjson_release(&p->nd);
}

/* Feeds in[0..n) in pieces ending at cuts[0..ncuts) (increasing, inside
 * (0, n)), then finishes. Returns the first error seen, or finish's status.
 * After an error, later feeds must repeat it without calling back. */
static ch_status run(kind k, const char *in, size_t n, size_t max,
                     int stop_after, const size_t *cuts, size_t ncuts,
                     ch_buf *log) {
  recorder r;
  ch_buf_init(&r.log, 1 << 24);
  r.calls = 0;
  r.stop_after = stop_after;
  parser p;
  parser_init(&p, k, max, &r);
  ch_status first = CH_OK;
  size_t at = 0;
  for(size_t i = 0; i <= ncuts; i++) {
    size_t to = i < ncuts ? cuts[i] : n;
    ch_status s = parser_feed(&p, in + at, to - at);
    if(first) {
      assert_int_equal(s, first);
    } else {
      first = s;
    }
    at = to;
  }
  int calls = r.calls;
  if(first) {
    /* Sticky: another feed repeats the error and calls nothing. */
    assert_int_equal(parser_feed(&p, "data: x\n\n{}\n", 12), first);
    assert_int_equal(r.calls, calls);
  }
  ch_status fin = parser_finish(&p);
  if(first) assert_int_equal(fin, first);
  parser_release(&p);
  ch_buf_reset(log);
  if(r.log.len) assert_int_equal(ch_buf_append(log, r.log.data, r.log.len), 0);
  ch_buf_release(&r.log);
  return first ? first : fin;
}

static void expect_same(const ch_buf *got, ch_status got_status,
                        const char *want, size_t want_len,
                        ch_status want_status, const char *how) {
  if(got->len != want_len || (want_len && memcmp(got->data, want, want_len)) ||
     got_status != want_status) {
    print_error("fed %s: got status %d log (%zu bytes):\n%.*s\n"
                "want status %d log (%zu bytes):\n%.*s\n",
                how, got_status, got->len, (int)got->len,
                got->data ? got->data : "", want_status, want_len,
                (int)want_len, want);
    fail();
  }
}

/* Runs every chunking and checks each against the expected log. */
static void check_all(kind k, const char *in, size_t n, size_t max,
                      int stop_after, const char *want, size_t want_len,
                      ch_status want_status) {
  ch_buf log;
  ch_buf_init(&log, 1 << 24);
  ch_status s = run(k, in, n, max, stop_after, NULL, 0, &log);
  expect_same(&log, s, want, want_len, want_status, "whole");

  size_t *cuts = ch_malloc((n + 1) * sizeof(size_t));
  for(size_t i = 1; i < n; i++)
    cuts[i - 1] = i;
  s = run(k, in, n, max, stop_after, cuts, n ? n - 1 : 0, &log);
  expect_same(&log, s, want, want_len, want_status, "one byte at a time");

  if(n <= 3000) {
    for(size_t at = 1; at < n; at++) {
      s = run(k, in, n, max, stop_after, &at, 1, &log);
      char how[64];
      snprintf(how, sizeof(how), "split at %zu", at);
      expect_same(&log, s, want, want_len, want_status, how);
    }
  }

  uint64_t seed = 0x9E3779B97F4A7C15ull ^ n;
  for(int round = 0; round < 40; round++) {
    size_t ncuts = 0;
    for(size_t i = 1; i < n; i++)
      if(rng_next(&seed) % 5 == 0) cuts[ncuts++] = i;
    s = run(k, in, n, max, stop_after, cuts, ncuts, &log);
    char how[64];
    snprintf(how, sizeof(how), "random split round %d", round);
    expect_same(&log, s, want, want_len, want_status, how);
  }
  ch_free(cuts);
  ch_buf_release(&log);
}

#define CHECK_SSE(in, max, stop, want, status)                                 \
  check_all(SSE, in, sizeof(in) - 1, max, stop, want, sizeof(want) - 1, status)
#define CHECK_ND(in, max, stop, want, status)                                  \
  check_all(NDJSON, in, sizeof(in) - 1, max, stop, want, sizeof(want) - 1,     \
            status)

/* ---- SSE ------------------------------------------------------------------
 */

static void test_sse_basic(void **state) {
  (void)state;
  CHECK_SSE("data: hello\n\n", 1024, 0, "[|hello]\n", CH_OK);
  CHECK_SSE("data: a\n\ndata: b\n\n", 1024, 0, "[|a]\n[|b]\n", CH_OK);
  /* No events at all. */
  CHECK_SSE("", 1024, 0, "", CH_OK);
  CHECK_SSE("\n\n\n", 1024, 0, "", CH_OK);
}

static void test_sse_data_lines_joined(void **state) {
  (void)state;
  CHECK_SSE("data: a\ndata: b\ndata:c\n\n", 1024, 0, "[|a\nb\nc]\n", CH_OK);
  /* Empty data lines count: they add line breaks. */
  CHECK_SSE("data\n\n", 1024, 0, "[|]\n", CH_OK);
  CHECK_SSE("data:\ndata\n\n", 1024, 0, "[|\n]\n", CH_OK);
  CHECK_SSE("data: x\ndata:\n\n", 1024, 0, "[|x\n]\n", CH_OK);
}

static void test_sse_one_space_dropped(void **state) {
  (void)state;
  CHECK_SSE("data:  two\n\n", 1024, 0, "[| two]\n", CH_OK);
  CHECK_SSE("data:nospace\n\n", 1024, 0, "[|nospace]\n", CH_OK);
  CHECK_SSE("data: a: b\n\n", 1024, 0, "[|a: b]\n", CH_OK);
  CHECK_SSE("data:\tt\n\n", 1024, 0, "[|\tt]\n", CH_OK);
  CHECK_SSE("event:  e\ndata: x\n\n", 1024, 0, "[ e|x]\n", CH_OK);
}

static void test_sse_event_field(void **state) {
  (void)state;
  CHECK_SSE("event: message_start\ndata: {}\n\ndata: next\n\n", 1024, 0,
            "[message_start|{}]\n[|next]\n", CH_OK);
  /* The last event line wins. */
  CHECK_SSE("event: a\nevent: b\ndata: x\n\n", 1024, 0, "[b|x]\n", CH_OK);
  /* A blank line with no data dispatches nothing and forgets the type. */
  CHECK_SSE("event: lost\n\ndata: y\n\n", 1024, 0, "[|y]\n", CH_OK);
  /* A field without a colon has an empty value. */
  CHECK_SSE("event\ndata: z\n\n", 1024, 0, "[|z]\n", CH_OK);
}

static void test_sse_line_endings(void **state) {
  (void)state;
  const char *want = "[e|a\nb]\n[|c]\n";
  size_t want_len = strlen(want);
  static const char lf[] = "event: e\ndata: a\ndata: b\n\ndata: c\n\n";
  static const char crlf[] =
      "event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n";
  static const char cr[] = "event: e\rdata: a\rdata: b\r\rdata: c\r\r";
  static const char mixed[] = "event: e\r\ndata: a\rdata: b\n\r\ndata: c\r\n\n";
  check_all(SSE, lf, sizeof(lf) - 1, 1024, 0, want, want_len, CH_OK);
  check_all(SSE, crlf, sizeof(crlf) - 1, 1024, 0, want, want_len, CH_OK);
  check_all(SSE, cr, sizeof(cr) - 1, 1024, 0, want, want_len, CH_OK);
  check_all(SSE, mixed, sizeof(mixed) - 1, 1024, 0, want, want_len, CH_OK);
  /* CR then LF is one line end, not a line and a blank line, even when the
   * LF comes in the next chunk. */
  recorder r = {.calls = 0, .stop_after = 0};
  ch_buf_init(&r.log, 4096);
  ch_sse p;
  ch_sse_init(&p, 1024, sse_record, &r);
  assert_int_equal(ch_sse_feed(&p, "data: a\r", 8), CH_OK);
  assert_int_equal(ch_sse_feed(&p, "\ndata: b\r", 9), CH_OK);
  assert_int_equal(r.calls, 0);
  assert_int_equal(ch_sse_feed(&p, "\n", 1), CH_OK);
  assert_int_equal(r.calls, 0);
  assert_int_equal(ch_sse_feed(&p, "\r", 1), CH_OK);
  assert_int_equal(r.calls, 1);
  assert_string_equal(r.log.data, "[|a\nb]\n");
  /* An LF after a CR that ended a blank line is its own blank line. */
  assert_int_equal(ch_sse_feed(&p, "\n", 1), CH_OK);
  assert_int_equal(ch_sse_finish(&p), CH_OK);
  assert_int_equal(r.calls, 1);
  ch_sse_release(&p);
  ch_buf_release(&r.log);
  /* CR CR is two line ends. */
  CHECK_SSE("data: q\r\r", 1024, 0, "[|q]\n", CH_OK);
}

static void test_sse_bom(void **state) {
  (void)state;
  CHECK_SSE("\xEF\xBB\xBF"
            "data: x\n\n",
            1024, 0, "[|x]\n", CH_OK);
  /* Only one, only at the start: a second BOM is part of the field name,
   * which is then unknown. */
  CHECK_SSE("\xEF\xBB\xBF\xEF\xBB\xBF"
            "data: no\n\ndata: yes\n\n",
            1024, 0, "[|yes]\n", CH_OK);
  /* A false start keeps its bytes: "\xEF\xBB" + "data" is an unknown field. */
  CHECK_SSE("\xEF\xBB"
            "data: no\n\ndata: yes\n\n",
            1024, 0, "[|yes]\n", CH_OK);
  CHECK_SSE("\xEF"
            "data: no\n\ndata: yes\n\n",
            1024, 0, "[|yes]\n", CH_OK);
  /* Inside data a BOM is just bytes. */
  CHECK_SSE("data: \xEF\xBB\xBF\n\n", 1024, 0, "[|\xEF\xBB\xBF]\n", CH_OK);
  /* A stream that is only a BOM. */
  CHECK_SSE("\xEF\xBB\xBF", 1024, 0, "", CH_OK);
}

static void test_sse_comments_and_unknown_fields(void **state) {
  (void)state;
  CHECK_SSE(": ping\n\n", 1024, 0, "", CH_OK);
  CHECK_SSE(":\n:keep-alive\n\ndata: a\n: inside\ndata: b\n\n", 1024, 0,
            "[|a\nb]\n", CH_OK);
  CHECK_SSE("id: 7\nretry: 1000\nfoo: bar\ndata: v\n\n", 1024, 0, "[|v]\n",
            CH_OK);
  /* Field names are case-sensitive and exact. */
  CHECK_SSE("Data: no\ndatas: no\n data: no\ndata: yes\n\n", 1024, 0,
            "[|yes]\n", CH_OK);
}

static void test_sse_done_is_data(void **state) {
  (void)state;
  CHECK_SSE("data: {\"choices\":[{\"text\":\"x\"}]}\n\ndata: [DONE]\n\n", 1024,
            0, "[|{\"choices\":[{\"text\":\"x\"}]}]\n[|[DONE]]\n", CH_OK);
}

static void test_sse_unterminated_event_discarded(void **state) {
  (void)state;
  CHECK_SSE("data: a\n\ndata: b\n", 1024, 0, "[|a]\n", CH_OK);
  CHECK_SSE("data: a\n\ndata: b", 1024, 0, "[|a]\n", CH_OK);
  CHECK_SSE("data: a\n\ndata: b\r", 1024, 0, "[|a]\n", CH_OK);
}

static void test_sse_binary_data(void **state) {
  (void)state;
  /* NUL bytes pass through; len says where the data ends. */
  static const char in[] = "data: a\0b\n\n";
  check_all(SSE, in, sizeof(in) - 1, 1024, 0, "[|a\0b]\n", 7, CH_OK);
}

static void test_sse_size_cap(void **state) {
  (void)state;
  CHECK_SSE("data: 0123456789\n\n", 10, 0, "[|0123456789]\n", CH_OK);
  CHECK_SSE("data: a\n\ndata: 0123456789A\n\ndata: b\n\n", 10, 0, "[|a]\n",
            CH_ERR_TOO_LARGE);
  /* The joined data counts, line breaks included: 5 + 1 + 5 = 11. */
  CHECK_SSE("data: 01234\ndata: 56789\n\n", 10, 0, "", CH_ERR_TOO_LARGE);
  CHECK_SSE("data: 0123\ndata: 56789\n\n", 10, 0, "[|0123\n56789]\n", CH_OK);
  /* An event name over the cap. */
  CHECK_SSE("event: 0123456789A\ndata: x\n\n", 10, 0, "", CH_ERR_TOO_LARGE);
  /* Long comments and unknown fields are skipped, not errors. */
  CHECK_SSE(": 0123456789012345678901234567890123456789\ndata: ok\n\n", 10, 0,
            "[|ok]\n", CH_OK);
  CHECK_SSE("x-long-unknown-field: 012345678901234567890123456789\n"
            "data: ok\n\n",
            10, 0, "[|ok]\n", CH_OK);
  CHECK_SSE("datadatadatadatadatadata: 0123456789\ndata: ok\n\n", 10, 0,
            "[|ok]\n", CH_OK);
  /* A cap of zero still allows empty data. */
  CHECK_SSE("data:\n\n", 0, 0, "[|]\n", CH_OK);
  CHECK_SSE("data: x\n\n", 0, 0, "", CH_ERR_TOO_LARGE);

  /* A line far longer than the cap, fed in small pieces, is refused before
   * its end arrives: memory stays bounded. */
  ch_sse p;
  recorder r = {.calls = 0, .stop_after = 0};
  ch_buf_init(&r.log, 4096);
  ch_sse_init(&p, 100, sse_record, &r);
  assert_int_equal(ch_sse_feed(&p, "data: ", 6), CH_OK);
  ch_status s = CH_OK;
  char chunk[64];
  memset(chunk, 'z', sizeof(chunk));
  for(int i = 0; i < 1000 && !s; i++)
    s = ch_sse_feed(&p, chunk, sizeof(chunk));
  assert_int_equal(s, CH_ERR_TOO_LARGE);
  assert_true(p.line.cap <= 100 + 8);
  ch_sse_release(&p);
  /* The same with a comment: skipped, and the buffer stays small. */
  ch_sse_init(&p, 100, sse_record, &r);
  assert_int_equal(ch_sse_feed(&p, ":", 1), CH_OK);
  for(int i = 0; i < 1000; i++)
    assert_int_equal(ch_sse_feed(&p, chunk, sizeof(chunk)), CH_OK);
  assert_true(p.line.cap <= 100 + 8);
  assert_int_equal(ch_sse_feed(&p, "\ndata: fine\n\n", 13), CH_OK);
  assert_int_equal(ch_sse_finish(&p), CH_OK);
  assert_string_equal(r.log.data, "[|fine]\n");
  ch_sse_release(&p);
  ch_buf_release(&r.log);
  /* No overflow in the cap arithmetic. */
  CHECK_SSE("data: big\n\n", SIZE_MAX, 0, "[|big]\n", CH_OK);
}

static void test_sse_callback_stop(void **state) {
  (void)state;
  CHECK_SSE("data: 1\n\ndata: 2\n\ndata: 3\n\n", 1024, 1, "[|1]\n",
            CH_ERR_CANCELLED);
  CHECK_SSE("data: 1\n\ndata: 2\n\ndata: 3\n\n", 1024, 3, "[|1]\n[|2]\n[|3]\n",
            CH_ERR_CANCELLED);
}

static void test_sse_finish_starts_a_new_stream(void **state) {
  (void)state;
  recorder r = {.calls = 0, .stop_after = 1};
  ch_buf_init(&r.log, 4096);
  ch_sse p;
  ch_sse_init(&p, 1024, sse_record, &r);
  assert_int_equal(ch_sse_feed(&p, "data: a\n\ndata: b\n\n", 18),
                   CH_ERR_CANCELLED);
  assert_int_equal(ch_sse_finish(&p), CH_ERR_CANCELLED);
  r.stop_after = 0;
  /* Fresh: the error is gone, a BOM is skipped again, the half event of
   * the last stream is forgotten. */
  assert_int_equal(ch_sse_feed(&p, "data: half\n", 11), CH_OK);
  assert_int_equal(ch_sse_finish(&p), CH_OK);
  assert_int_equal(ch_sse_feed(&p,
                               "\xEF\xBB\xBF"
                               "data: c\n\n",
                               12),
                   CH_OK);
  assert_int_equal(ch_sse_finish(&p), CH_OK);
  assert_string_equal(r.log.data, "[|a]\n[|c]\n");
  ch_sse_release(&p);
  ch_buf_release(&r.log);
}

static void test_sse_realistic_streams(void **state) {
  (void)state;
  /* Anthropic: named events, pings, JSON data. */
  CHECK_SSE("event: message_start\r\n"
            "data: {\"type\":\"message_start\"}\r\n\r\n"
            "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
            "event: content_block_delta\r\n"
            "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
            "\"text_delta\",\"text\":\"x = 1\\n\"}}\r\n\r\n"
            "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n",
            4096, 0,
            "[message_start|{\"type\":\"message_start\"}]\n"
            "[ping|{\"type\": \"ping\"}]\n"
            "[content_block_delta|{\"type\":\"content_block_delta\",\"delta\":{"
            "\"type\":\"text_delta\",\"text\":\"x = 1\\n\"}}]\n"
            "[message_stop|{\"type\":\"message_stop\"}]\n",
            CH_OK);
  /* OpenAI with a keep-alive comment between chunks. */
  CHECK_SSE(": OPENROUTER PROCESSING\n\n"
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
            ": keep-alive\n\n"
            "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n"
            "data: [DONE]\n\n",
            4096, 0,
            "[|{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}]\n"
            "[|{\"choices\":[{\"delta\":{\"content\":\"b\"}}]}]\n"
            "[|[DONE]]\n",
            CH_OK);
}

/* The reference: the whole text split into lines first, then the WHATWG
 * interpretation line by line. Deliberately naive. */
static void sse_reference(const char *in, size_t n, ch_buf *log) {
  size_t i = 0;
  if(n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) i = 3;
  ch_buf data, event;
  ch_buf_init(&data, 1 << 20);
  ch_buf_init(&event, 1 << 20);
  bool has_data = false;
  while(i < n) {
    size_t start = i;
    while(i < n && in[i] != '\r' && in[i] != '\n')
      i++;
    if(i == n) break; /* unterminated line: discarded */
    size_t end = i;
    if(in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
      i += 2;
    else
      i += 1;
    const char *s = in + start;
    size_t len = end - start;
    if(len == 0) {
      if(has_data) {
        ch_buf_append_char(log, '[');
        ch_buf_append(log, event.data ? event.data : "", event.len);
        ch_buf_append_char(log, '|');
        ch_buf_append(log, data.data ? data.data : "", data.len);
        ch_buf_append_str(log, "]\n");
      }
      ch_buf_reset(&data);
      ch_buf_reset(&event);
      has_data = false;
      continue;
    }
    if(s[0] == ':') continue;
    size_t c = 0;
    while(c < len && s[c] != ':')
      c++;
    const char *v = c < len ? s + c + 1 : s + len;
    size_t vl = c < len ? len - c - 1 : 0;
    if(vl && v[0] == ' ') v++, vl--;
    if(c == 4 && memcmp(s, "data", 4) == 0) {
      if(has_data) ch_buf_append_char(&data, '\n');
      ch_buf_append(&data, v, vl);
      has_data = true;
    } else if(c == 5 && memcmp(s, "event", 5) == 0) {
      ch_buf_reset(&event);
      ch_buf_append(&event, v, vl);
    }
  }
  ch_buf_release(&data);
  ch_buf_release(&event);
}

static void test_sse_random_against_reference(void **state) {
  (void)state;
  static const char *const pieces[] = {
      "data", "event",  ":",  ": ",   " ",       "\n",   "\r",   "\r\n",
      "x",    "yz",     "id", "\xEF", "\xBB",    "\xBF", "\n\n", "data: ",
      "ev:",  "[DONE]", "{}", "\t",   "event: ", "dat",
  };
  uint64_t seed = 12345;
  ch_buf in, want;
  ch_buf_init(&in, 1 << 20);
  ch_buf_init(&want, 1 << 24);
  for(int round = 0; round < 300; round++) {
    ch_buf_reset(&in);
    ch_buf_reset(&want);
    if(rng_next(&seed) % 4 == 0) ch_buf_append_str(&in, "\xEF\xBB\xBF");
    size_t count = 1 + rng_next(&seed) % 60;
    for(size_t i = 0; i < count; i++)
      ch_buf_append_str(&in, pieces[rng_next(&seed) % CH_ARRAY_LEN(pieces)]);
    sse_reference(in.data, in.len, &want);
    check_all(SSE, in.data, in.len, 1 << 20, 0, want.data ? want.data : "",
              want.len, CH_OK);
  }
  ch_buf_release(&in);
  ch_buf_release(&want);
}

/* ---- NDJSON ---------------------------------------------------------------
 */

static void test_ndjson_lines(void **state) {
  (void)state;
  CHECK_ND("{\"response\":\"a\",\"done\":false}\n"
           "{\"response\":\"b\",\"done\":true}\n",
           1024, 0,
           "{\"response\":\"a\",\"done\":false}\n"
           "{\"response\":\"b\",\"done\":true}\n",
           CH_OK);
  CHECK_ND("", 1024, 0, "", CH_OK);
  /* An error line mid-stream is just a line: the provider reads it. */
  CHECK_ND("{\"response\":\"a\"}\n{\"error\":\"model not found\"}\n", 1024, 0,
           "{\"response\":\"a\"}\n{\"error\":\"model not found\"}\n", CH_OK);
}

static void test_ndjson_cr_stripped(void **state) {
  (void)state;
  CHECK_ND("{\"a\":1}\r\n{\"b\":2}\r\n", 1024, 0, "{\"a\":1}\n{\"b\":2}\n",
           CH_OK);
  /* Only the CR before the LF goes; one inside a line stays. */
  CHECK_ND("a\rb\r\n", 1024, 0, "a\rb\n", CH_OK);
  CHECK_ND("last\r", 1024, 0, "last\n", CH_OK);
}

static void test_ndjson_blank_lines_skipped(void **state) {
  (void)state;
  CHECK_ND("\n\n{}\n \t\r\n\r\n{}\n\n", 1024, 0, "{}\n{}\n", CH_OK);
  /* Leading spaces on a real line are kept. */
  CHECK_ND("  {}\n", 1024, 0, "  {}\n", CH_OK);
}

static void test_ndjson_last_line_on_finish(void **state) {
  (void)state;
  CHECK_ND("{\"a\":1}\n{\"done\":true}", 1024, 0,
           "{\"a\":1}\n{\"done\":true}\n", CH_OK);
  /* Not before finish. */
  recorder r = {.calls = 0, .stop_after = 0};
  ch_buf_init(&r.log, 4096);
  ch_ndjson p;
  ch_ndjson_init(&p, 1024, ndjson_record, &r);
  assert_int_equal(ch_ndjson_feed(&p, "{\"x\":1}", 7), CH_OK);
  assert_int_equal(r.calls, 0);
  assert_int_equal(ch_ndjson_finish(&p), CH_OK);
  assert_int_equal(r.calls, 1);
  /* And the parser is fresh again. */
  assert_int_equal(ch_ndjson_feed(&p, "{}\n", 3), CH_OK);
  assert_int_equal(r.calls, 2);
  assert_int_equal(ch_ndjson_finish(&p), CH_OK);
  assert_string_equal(r.log.data, "{\"x\":1}\n{}\n");
  ch_ndjson_release(&p);
  ch_buf_release(&r.log);
}

static void test_ndjson_size_cap(void **state) {
  (void)state;
  CHECK_ND("0123456789\n", 10, 0, "0123456789\n", CH_OK);
  CHECK_ND("0123456789\r\n", 10, 0, "0123456789\n", CH_OK);
  CHECK_ND("ok\n0123456789A\nnext\n", 10, 0, "ok\n", CH_ERR_TOO_LARGE);
  CHECK_ND("ok\n0123456789AB", 10, 0, "ok\n", CH_ERR_TOO_LARGE);
  CHECK_ND("ok\n0123456789A", 10, 0, "ok\n", CH_ERR_TOO_LARGE);
  /* The cap is checked before blankness, so chunking cannot change it. */
  CHECK_ND("           \nx\n", 10, 0, "", CH_ERR_TOO_LARGE);
  CHECK_ND("{}\n", SIZE_MAX, 0, "{}\n", CH_OK);
  /* Bounded memory on an endless line. */
  recorder r = {.calls = 0, .stop_after = 0};
  ch_buf_init(&r.log, 4096);
  ch_ndjson p;
  ch_ndjson_init(&p, 100, ndjson_record, &r);
  char chunk[7];
  memset(chunk, 'q', sizeof(chunk));
  ch_status s = CH_OK;
  for(int i = 0; i < 1000 && !s; i++)
    s = ch_ndjson_feed(&p, chunk, sizeof(chunk));
  assert_int_equal(s, CH_ERR_TOO_LARGE);
  assert_true(p.line.cap <= 101);
  ch_ndjson_release(&p);
  ch_buf_release(&r.log);
}

static void test_ndjson_callback_stop(void **state) {
  (void)state;
  CHECK_ND("a\nb\nc\n", 1024, 2, "a\nb\n", CH_ERR_CANCELLED);
  /* Stopping on the line finish delivers. */
  CHECK_ND("a\nb", 1024, 2, "a\nb\n", CH_ERR_CANCELLED);
}

static void test_ndjson_random_splits(void **state) {
  (void)state;
  static const char *const pieces[] = {
      "{", "}", "\n", "\r", "\r\n", " ", "\"response\":\"x\"", "\t", "a"};
  uint64_t seed = 777;
  ch_buf in, want;
  ch_buf_init(&in, 1 << 20);
  ch_buf_init(&want, 1 << 20);
  for(int round = 0; round < 200; round++) {
    ch_buf_reset(&in);
    ch_buf_reset(&want);
    size_t count = 1 + rng_next(&seed) % 50;
    for(size_t i = 0; i < count; i++)
      ch_buf_append_str(&in, pieces[rng_next(&seed) % CH_ARRAY_LEN(pieces)]);
    /* Reference: split on LF, drop one trailing CR, skip blank lines. */
    size_t start = 0;
    for(size_t i = 0; i <= in.len; i++) {
      if(i < in.len && in.data[i] != '\n') continue;
      size_t end = i;
      if(end > start && in.data[end - 1] == '\r') end--;
      bool is_blank = true;
      for(size_t j = start; j < end; j++)
        if(!strchr(" \t\r", in.data[j])) is_blank = false;
      if(!is_blank) {
        ch_buf_append(&want, in.data + start, end - start);
        ch_buf_append_char(&want, '\n');
      }
      start = i + 1;
    }
    check_all(NDJSON, in.data, in.len, 1 << 20, 0, want.data ? want.data : "",
              want.len, CH_OK);
  }
  ch_buf_release(&in);
  ch_buf_release(&want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sse_basic),
      cmocka_unit_test(test_sse_data_lines_joined),
      cmocka_unit_test(test_sse_one_space_dropped),
      cmocka_unit_test(test_sse_event_field),
      cmocka_unit_test(test_sse_line_endings),
      cmocka_unit_test(test_sse_bom),
      cmocka_unit_test(test_sse_comments_and_unknown_fields),
      cmocka_unit_test(test_sse_done_is_data),
      cmocka_unit_test(test_sse_unterminated_event_discarded),
      cmocka_unit_test(test_sse_binary_data),
      cmocka_unit_test(test_sse_size_cap),
      cmocka_unit_test(test_sse_callback_stop),
      cmocka_unit_test(test_sse_finish_starts_a_new_stream),
      cmocka_unit_test(test_sse_realistic_streams),
      cmocka_unit_test(test_sse_random_against_reference),
      cmocka_unit_test(test_ndjson_lines),
      cmocka_unit_test(test_ndjson_cr_stripped),
      cmocka_unit_test(test_ndjson_blank_lines_skipped),
      cmocka_unit_test(test_ndjson_last_line_on_finish),
      cmocka_unit_test(test_ndjson_size_cap),
      cmocka_unit_test(test_ndjson_callback_stop),
      cmocka_unit_test(test_ndjson_random_splits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
