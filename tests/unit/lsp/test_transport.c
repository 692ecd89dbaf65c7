/* Tests for lsp/transport.c: the Content-Length framing state machine. Each
 * stream is fed whole, one byte at a time and in random chunk sizes, and the
 * frames must come out the same every way. */
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

#include "transport.h"

#define MAX_MESSAGE 4096

/* ---- collecting frames --------------------------------------------------- */

typedef struct frame_copy {
  ch_frame_kind kind;
  char *body; /* MESSAGE: a copy */
  size_t len;
  bool has_why;
} frame_copy;

typedef struct frames {
  frame_copy items[512];
  size_t count;
  bool unterminated; /* a body arrived without its NUL */
  size_t max_cap;    /* the largest reader buffer seen (see push_all) */
} frames;

static void on_frame(const ch_frame *f, void *userdata) {
  frames *fs = userdata;
  assert_true(fs->count < CH_ARRAY_LEN(fs->items));
  frame_copy *c = &fs->items[fs->count++];
  c->kind = f->kind;
  c->len = f->len;
  c->has_why = f->why != NULL;
  c->body = NULL;
  if(f->kind == CH_FRAME_MESSAGE) {
    assert_non_null(f->body);
    if(f->body[f->len] != 0) fs->unterminated = true;
    c->body = ch_malloc(f->len + 1); /* a NUL-terminated copy */
    memcpy(c->body, f->body, f->len);
    c->body[f->len] = 0;
  }
}

static void frames_init(frames *fs) { memset(fs, 0, sizeof(*fs)); }

static void frames_release(frames *fs) {
  for(size_t i = 0; i < fs->count; i++)
    ch_free(fs->items[i].body);
  frames_init(fs);
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* Feeds a stream in chunks: chunk == 0 means random sizes 1..max_random
 * drawn from *seed, otherwise fixed-size pieces. */
static void push_all(ch_reader *r, const char *s, size_t len, size_t chunk,
                     uint64_t *seed, size_t max_random, frames *fs) {
  size_t at = 0;
  while(at < len) {
    size_t n = chunk ? chunk : 1 + (size_t)(rng_next(seed) % max_random);
    n = CH_MIN(n, len - at);
    ch_reader_push(r, s + at, n, on_frame, fs);
    if(r->buf.cap > fs->max_cap) fs->max_cap = r->buf.cap;
    at += n;
  }
}

/* The frames of a whole stream pushed at once. */
static void read_whole(const char *s, size_t len, size_t max, frames *fs) {
  ch_reader r;
  ch_reader_init(&r, max);
  frames_init(fs);
  push_all(&r, s, len, len ? len : 1, NULL, 0, fs);
  assert_false(fs->unterminated);
  ch_reader_release(&r);
}

static void describe(const frames *fs, char *out, size_t size) {
  size_t at = 0;
  out[0] = 0;
  for(size_t i = 0; i < fs->count && at < size; i++) {
    const frame_copy *c = &fs->items[i];
    int n;
    if(c->kind == CH_FRAME_MESSAGE)
      n = snprintf(out + at, size - at, "[MESSAGE %.*s] ", (int)c->len,
                   c->body);
    else if(c->kind == CH_FRAME_TOO_LARGE)
      n = snprintf(out + at, size - at, "[TOO_LARGE %zu] ", c->len);
    else
      n = snprintf(out + at, size - at, "[BAD_HEADER] ");
    if(n < 0) break;
    at += (size_t)n;
  }
}

static bool frames_equal(const frames *a, const frames *b) {
  if(a->count != b->count) return false;
  for(size_t i = 0; i < a->count; i++) {
    const frame_copy *x = &a->items[i], *y = &b->items[i];
    if(x->kind != y->kind) return false;
    if(x->kind == CH_FRAME_BAD_HEADER) continue;
    if(x->len != y->len) return false;
    if(x->kind == CH_FRAME_MESSAGE && memcmp(x->body, y->body, x->len))
      return false;
  }
  return true;
}

/* Compares frames; on a difference, describes both into why, so that the
 * caller can free what it holds before failing. */
static bool same_frames(const frames *want, const frames *got, const char *how,
                        char *why, size_t why_size) {
  if(frames_equal(want, got)) return true;
  char a[1024], b[1024];
  describe(want, a, sizeof(a));
  describe(got, b, sizeof(b));
  snprintf(why, why_size, "the frames differ:\n  one push: %s\n  %s: %s", a,
           how, b);
  return false;
}

/* Feeds a stream whole, byte by byte and in 100 random chunkings; checks
 * they agree and leaves the one-push frames in *fs. */
static void read_every_way(const char *s, size_t len, size_t max, frames *fs) {
  static char why[2200];
  read_whole(s, len, max, fs);
  frames other;
  ch_reader r;

  ch_reader_init(&r, max);
  frames_init(&other);
  push_all(&r, s, len, 1, NULL, 0, &other);
  bool terminated = !other.unterminated;
  bool ok = same_frames(fs, &other, "fed one byte at a time", why, sizeof(why));
  frames_release(&other);
  ch_reader_release(&r);

  uint64_t seed = 0x2545F4914F6CDD1Dull ^ len;
  for(int trial = 0; ok && terminated && trial < 100; trial++) {
    ch_reader_init(&r, max);
    frames_init(&other);
    push_all(&r, s, len, 0, &seed, trial < 50 ? 7 : 64, &other);
    terminated = !other.unterminated;
    ok = same_frames(fs, &other, "fed in random chunks", why, sizeof(why));
    frames_release(&other);
    ch_reader_release(&r);
  }
  if(ok && terminated) return;
  frames_release(fs);
  if(!terminated) fail_msg("a body was not NUL-terminated in the callback");
  fail_msg("%s", why);
}

static void expect_message(const frames *fs, size_t i, const char *body) {
  assert_true(i < fs->count);
  const frame_copy *c = &fs->items[i];
  if(c->kind != CH_FRAME_MESSAGE)
    fail_msg("frame %zu: kind %d, want a message \"%s\"", i, (int)c->kind,
             body);
  assert_int_equal(c->len, strlen(body));
  assert_memory_equal(c->body, body, c->len);
}

static void expect_bad_header(const frames *fs, size_t i) {
  assert_true(i < fs->count);
  if(fs->items[i].kind != CH_FRAME_BAD_HEADER)
    fail_msg("frame %zu: kind %d, want BAD_HEADER", i, (int)fs->items[i].kind);
  assert_true(fs->items[i].has_why);
}

#define S(lit) lit, sizeof(lit) - 1

/* ---- well-formed streams ------------------------------------------------- */

static void test_single_message(void **state) {
  (void)state;
  frames fs;
  read_every_way(S("Content-Length: 17\r\n\r\n{\"jsonrpc\":\"2.0\"}"),
                 MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, 1);
  expect_message(&fs, 0, "{\"jsonrpc\":\"2.0\"}");
  frames_release(&fs);
}

static const char stream[] =
    "Content-Length: 2\r\n\r\n{}"
    "Content-Length: 14\r\nContent-Type: application/vscode-jsonrpc; "
    "charset=utf-8\r\n\r\n{\"id\":1,\"x\":2}"
    "content-length: 3\n\n[1]"                       /* bare LF, lowercase */
    "\r\n\r\n"                                       /* blank lines between */
    "X-Custom: yes\r\nCONTENT-LENGTH:5\r\n\r\nhello" /* no space */
    "\n"
    "Content-Length:   4  \r\n\n\"\xc3\xa9\"" /* padded value, mixed */
    "Content-Length: 0\r\n\r\n";              /* an empty body */

static void test_stream_every_way(void **state) {
  (void)state;
  frames fs;
  read_every_way(S(stream), MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, 6);
  expect_message(&fs, 0, "{}");
  expect_message(&fs, 1, "{\"id\":1,\"x\":2}");
  expect_message(&fs, 2, "[1]");
  expect_message(&fs, 3, "hello");
  expect_message(&fs, 4, "\"\xc3\xa9\"");
  expect_message(&fs, 5, "");
  frames_release(&fs);
}

static void test_two_messages_one_push(void **state) {
  (void)state;
  /* The NUL written after the first body overwrites the 'C' of the next
   * header; the second message must still parse. */
  static const char two[] = "Content-Length: 2\r\n\r\n{}"
                            "Content-Length: 2\r\n\r\n[]";
  ch_reader r;
  ch_reader_init(&r, MAX_MESSAGE);
  frames fs;
  frames_init(&fs);
  ch_reader_push(&r, S(two), on_frame, &fs);
  assert_false(fs.unterminated);
  assert_int_equal(fs.count, 2);
  expect_message(&fs, 0, "{}");
  expect_message(&fs, 1, "[]");
  assert_false(ch_reader_partial(&r));
  frames_release(&fs);
  ch_reader_release(&r);
}

static void test_headers_case_and_extras(void **state) {
  (void)state;
  static const char *const heads[] = {
      "Content-Length: 5\r\n\r\n",
      "content-length: 5\r\n\r\n",
      "CONTENT-LENGTH: 5\r\n\r\n",
      "CoNtEnT-LeNgTh: 5\r\n\r\n",
      ("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
       "Content-Length: 5\r\n\r\n"),
      "Content-Length: 5\r\nContent-Type: x\r\nX-Other: a: b\r\n\r\n",
      "Content-Length: 5\n\n",
      "Content-Length: 5\r\n\n",
      "Content-Length: 5\n\r\n",
      "Content-Length:\t5\t\r\n\r\n",
      "Content-Length: 000000000000000005\r\n\r\n", /* 18 digits */
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(heads); i++) {
    char *s = ch_strdupf("%shello", heads[i]);
    frames fs;
    read_every_way(s, strlen(s), MAX_MESSAGE, &fs);
    if(fs.count != 1 || fs.items[0].kind != CH_FRAME_MESSAGE)
      fail_msg("header %zu not accepted: %s", i, heads[i]);
    expect_message(&fs, 0, "hello");
    frames_release(&fs);
    ch_free(s);
  }
}

static void test_blank_lines_tolerated(void **state) {
  (void)state;
  static const char s[] = "\r\n\n\r\n"
                          "Content-Length: 1\r\n\r\n1"
                          "\r\n"
                          "Content-Length: 1\r\n\r\n2"
                          "\n\n\n"
                          "Content-Length: 1\r\n\r\n3"
                          "\r\n\r\n";
  frames fs;
  read_every_way(S(s), MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, 3);
  expect_message(&fs, 0, "1");
  expect_message(&fs, 1, "2");
  expect_message(&fs, 2, "3");
  frames_release(&fs);
}

/* A body with bytes that look like headers, and a NUL, is passed through
 * as is. */
static void test_body_is_opaque(void **state) {
  (void)state;
  static const char body[] = "Content-Length: 9\r\n\r\n\0\r\n";
  ch_buf s;
  ch_buf_init(&s, 1024);
  ch_buf_appendf(&s, "Content-Length: %zu\r\n\r\n", sizeof(body) - 1);
  ch_buf_append(&s, body, sizeof(body) - 1);
  frames fs;
  read_every_way(s.data, s.len, MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, 1);
  assert_int_equal(fs.items[0].len, sizeof(body) - 1);
  assert_memory_equal(fs.items[0].body, body, sizeof(body) - 1);
  frames_release(&fs);
  ch_buf_release(&s);
}

/* ---- broken headers ------------------------------------------------------ */

static const char valid[] = "Content-Length: 5\r\n\r\nhello";

/* A bad block, then a valid message starting on a line of its own. */
static void check_bad_then_valid(const char *bad) {
  char *s = ch_strdupf("%s%s", bad, valid);
  frames fs;
  read_every_way(s, strlen(s), MAX_MESSAGE, &fs);
  if(fs.count != 2) {
    char d[512];
    describe(&fs, d, sizeof(d));
    fail_msg("after \"%s\": %zu frames: %s", bad, fs.count, d);
  }
  expect_bad_header(&fs, 0);
  expect_message(&fs, 1, "hello");
  frames_release(&fs);
  ch_free(s);
}

static void test_missing_content_length(void **state) {
  (void)state;
  check_bad_then_valid("Content-Type: application/json\r\n\r\n");
  check_bad_then_valid("X-A: 1\nX-B: 2\n\n");
}

static void test_bad_content_length_values(void **state) {
  (void)state;
  check_bad_then_valid("Content-Length: abc\r\n\r\n");
  check_bad_then_valid("Content-Length: 12a\r\n\r\n");
  check_bad_then_valid("Content-Length: -5\r\n\r\n");
  check_bad_then_valid("Content-Length: +5\r\n\r\n");
  check_bad_then_valid("Content-Length: 5 5\r\n\r\n");
  check_bad_then_valid("Content-Length: 0x10\r\n\r\n");
  check_bad_then_valid("Content-Length:\r\n\r\n");
  check_bad_then_valid("Content-Length: \r\n\r\n");
  /* 19 digits: more than 18, refused even though it would fit 64 bits. */
  check_bad_then_valid("Content-Length: 1234567890123456789\r\n\r\n");
  check_bad_then_valid("Content-Length: 0000000000000000005\r\n\r\n");
  check_bad_then_valid("Content-Length: 99999999999999999999999999\r\n\r\n");
}

static void test_line_without_colon(void **state) {
  (void)state;
  /* A garbage line in front of a valid header block, or in a block of its
   * own: resynchronised at the Content-Length line that follows. */
  check_bad_then_valid("garbage line\r\n");
  check_bad_then_valid("garbage line\r\n\r\n");
  check_bad_then_valid("Content-Type: x\nbroken\n\n");
  /* The length a broken block announces is not trusted; its JSON body is
   * passed over up to the next header after the closing brace. */
  check_bad_then_valid("Content-Length: 2\r\nno colon here\r\n\r\n{}");
}

/* The realistic shape of a broken message: a header block with a mistake,
 * then its body, then the next message directly after the body, as every
 * LSP client writes it (no line break between a body and the next
 * header). One BAD_HEADER, then the next valid message. */
static void test_resync_after_broken_message_with_body(void **state) {
  (void)state;
  static const char *const broken[] = {
      "Content-Type: application/json\r\n\r\n{\"jsonrpc\":\"2.0\"}",
      "Content-Length: 1x\r\n\r\n{\"id\":1}",
      "Content-Length: 8\r\nbroken line\r\n\r\n{\"id\":1}",
  };
  char report[2048];
  size_t at = 0;
  report[0] = 0;
  for(size_t i = 0; i < CH_ARRAY_LEN(broken); i++) {
    char *s = ch_strdupf("%s%s", broken[i], valid);
    frames fs;
    read_whole(s, strlen(s), MAX_MESSAGE, &fs);
    if(fs.count != 2 || fs.items[0].kind != CH_FRAME_BAD_HEADER ||
       fs.items[1].kind != CH_FRAME_MESSAGE || fs.items[1].len != 5 ||
       strcmp(fs.items[1].body, "hello") != 0) {
      char d[256];
      describe(&fs, d, sizeof(d));
      int n = snprintf(report + at, sizeof(report) - at, "\n  case %zu: got %s",
                       i, d);
      if(n > 0) at = CH_MIN(at + (size_t)n, sizeof(report) - 1);
    }
    frames_release(&fs);
    ch_free(s);
  }
  if(at) fail_msg("want [BAD_HEADER] [MESSAGE hello]:%s", report);
  /* And the same however the stream is split. */
  for(size_t i = 0; i < CH_ARRAY_LEN(broken); i++) {
    char *s = ch_strdupf("%s%s", broken[i], valid);
    frames fs;
    read_every_way(s, strlen(s), MAX_MESSAGE, &fs);
    frames_release(&fs);
    ch_free(s);
  }
}

/* While resynchronising, a "Content-Length:" in the middle of a line is
 * not a line start, however the bytes are split into pushes. */
static void test_resync_is_chunking_independent(void **state) {
  (void)state;
  static const char s[] = "Bogus\r\n\r\n"
                          "junk Content-Length: 3\r\n\r\nabc"
                          "Content-Length: 0\r\n\r\n"
                          "\r\nContent-Length: 5\r\n\r\nhello";
  frames fs;
  read_every_way(S(s), MAX_MESSAGE, &fs);
  frames_release(&fs);
}

static void test_header_block_too_long(void **state) {
  (void)state;
  /* One endless header line, then more of it, then a valid message on a
   * new line: one BAD_HEADER only. */
  ch_buf s;
  ch_buf_init(&s, 1 << 20);
  ch_buf_append_str(&s, "X-Long: ");
  for(int i = 0; i < CH_FRAME_MAX_HEADER * 3; i++)
    ch_buf_append_char(&s, (char)('a' + i % 26));
  ch_buf_append_str(&s, "\r\n");
  ch_buf_append_str(&s, valid);
  frames fs;
  read_every_way(s.data, s.len, MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, 2);
  expect_bad_header(&fs, 0);
  expect_message(&fs, 1, "hello");
  frames_release(&fs);

  /* Many short lines that never end the block. */
  ch_buf_reset(&s);
  while(s.len <= CH_FRAME_MAX_HEADER + 100)
    ch_buf_append_str(&s, "X-Filler: 0123456789\r\n");
  ch_reader r;
  ch_reader_init(&r, MAX_MESSAGE);
  frames_init(&fs);
  push_all(&r, s.data, s.len, 100, NULL, 0, &fs);
  assert_int_equal(fs.count, 1);
  expect_bad_header(&fs, 0);
  /* What follows on its own line after the junk is read again. */
  ch_reader_push(&r, S(valid), on_frame, &fs);
  assert_int_equal(fs.count, 2);
  expect_message(&fs, 1, "hello");
  frames_release(&fs);
  ch_reader_release(&r);

  /* A block just under the limit with its terminator is fine. */
  ch_buf_reset(&s);
  ch_buf_append_str(&s, "Content-Length: 5\r\nX-Pad: ");
  while(s.len < CH_FRAME_MAX_HEADER - 8)
    ch_buf_append_char(&s, 'p');
  ch_buf_append_str(&s, "\r\n\r\nhello");
  read_every_way(s.data, s.len, MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, 1);
  expect_message(&fs, 0, "hello");
  frames_release(&fs);
  ch_buf_release(&s);
}

/* A long generated stream of valid and oversized messages with every
 * header variation, against the frames it must produce, fed in many
 * chunkings. */
static void test_generated_stream(void **state) {
  (void)state;
  enum { COUNT = 300, MAX = 200 };
  static const char *const extra[] = {
      "", "Content-Type: application/vscode-jsonrpc; charset=utf-8",
      "X-Trace: 1"};
  static const char *const names[] = {"Content-Length", "content-length",
                                      "CONTENT-LENGTH", "Content-length"};
  uint64_t seed = 42;
  ch_buf s;
  ch_buf_init(&s, 1 << 24);
  frames want;
  frames_init(&want);
  for(int m = 0; m < COUNT; m++) {
    /* A JSON-looking body of 2..300 bytes, so some exceed MAX. */
    size_t len = 2 + (size_t)(rng_next(&seed) % 299);
    char *body = ch_malloc(len + 1);
    body[0] = '{';
    for(size_t i = 1; i + 1 < len; i++)
      body[i] = (char)(' ' + rng_next(&seed) % 95);
    body[len - 1] = '}';
    body[len] = 0;
    const char *eol = rng_next(&seed) % 2 ? "\r\n" : "\n";
    const char *x = extra[rng_next(&seed) % CH_ARRAY_LEN(extra)];
    if(*x && rng_next(&seed) % 2) ch_buf_appendf(&s, "%s%s", x, eol);
    ch_buf_appendf(&s, "%s: %zu%s",
                   names[rng_next(&seed) % CH_ARRAY_LEN(names)], len, eol);
    if(*x && rng_next(&seed) % 2) ch_buf_appendf(&s, "%s%s", x, eol);
    ch_buf_appendf(&s, "%s", eol);
    ch_buf_append(&s, body, len);
    for(uint64_t b = rng_next(&seed) % 8; b < 2; b++) /* a few blank lines */
      ch_buf_append_str(&s, eol);
    frame_copy *f = &want.items[want.count++];
    f->len = len;
    if(len > MAX) {
      f->kind = CH_FRAME_TOO_LARGE;
      ch_free(body);
    } else {
      f->kind = CH_FRAME_MESSAGE;
      f->body = body;
    }
  }
  frames got;
  read_every_way(s.data, s.len, MAX, &got);
  char why[2200];
  bool ok = same_frames(&got, &want, "expected", why, sizeof(why));
  frames_release(&got);
  frames_release(&want);
  ch_buf_release(&s);
  if(!ok) fail_msg("%s", why);
}

/* ---- size limit ---------------------------------------------------------- */

static void test_too_large_skipped_in_pieces(void **state) {
  (void)state;
  enum { BIG = 1000000, PIECE = 1000 };
  char piece[PIECE];
  memset(piece, 'x', sizeof(piece));
  static const size_t splits[] = {0, 1, 7, 500};
  for(size_t k = 0; k < CH_ARRAY_LEN(splits); k++) {
    ch_reader r;
    ch_reader_init(&r, MAX_MESSAGE);
    frames fs;
    frames_init(&fs);
    /* The header, with the first `split` body bytes in the same push. */
    char head[64];
    int hn = snprintf(head, sizeof(head), "Content-Length: %d\r\n\r\n", BIG);
    char first[64 + 500];
    memcpy(first, head, (size_t)hn);
    memset(first + hn, 'x', splits[k]);
    ch_reader_push(&r, first, (size_t)hn + splits[k], on_frame, &fs);
    assert_int_equal(fs.count, 1);
    assert_int_equal(fs.items[0].kind, CH_FRAME_TOO_LARGE);
    assert_int_equal(fs.items[0].len, BIG);
    assert_true(ch_reader_partial(&r));
    size_t left = BIG - splits[k], max_cap = r.buf.cap;
    while(left > PIECE) {
      ch_reader_push(&r, piece, PIECE, on_frame, &fs);
      left -= PIECE;
      max_cap = CH_MAX(max_cap, r.buf.cap);
      assert_true(ch_reader_partial(&r));
    }
    /* The end of the body and the next message in one push. */
    char *tail = ch_malloc(left + sizeof(valid));
    memset(tail, 'x', left);
    memcpy(tail + left, valid, sizeof(valid) - 1);
    ch_reader_push(&r, tail, left + sizeof(valid) - 1, on_frame, &fs);
    ch_free(tail);
    max_cap = CH_MAX(max_cap, r.buf.cap);
    assert_int_equal(fs.count, 2);
    expect_message(&fs, 1, "hello");
    assert_false(ch_reader_partial(&r));
    /* The skipped body was never buffered. */
    if(max_cap > 4 * PIECE)
      fail_msg("split %zu: reader buffer grew to %zu bytes", splits[k],
               max_cap);
    frames_release(&fs);
    ch_reader_release(&r);
  }
}

static void test_size_boundary(void **state) {
  (void)state;
  enum { MAX = 64 };
  char body[MAX + 1];
  memset(body, 'b', sizeof(body));
  /* Exactly the maximum: delivered. */
  char *s = ch_strdupf("Content-Length: %d\r\n\r\n%.*s", MAX, MAX, body);
  frames fs;
  read_every_way(s, strlen(s), MAX, &fs);
  assert_int_equal(fs.count, 1);
  assert_int_equal(fs.items[0].kind, CH_FRAME_MESSAGE);
  assert_int_equal(fs.items[0].len, MAX);
  frames_release(&fs);
  ch_free(s);
  /* One more: reported once with the announced size, then the next. */
  s = ch_strdupf("Content-Length: %d\r\n\r\n%.*s%s", MAX + 1, MAX + 1, body,
                 valid);
  read_every_way(s, strlen(s), MAX, &fs);
  assert_int_equal(fs.count, 2);
  assert_int_equal(fs.items[0].kind, CH_FRAME_TOO_LARGE);
  assert_int_equal(fs.items[0].len, MAX + 1);
  expect_message(&fs, 1, "hello");
  frames_release(&fs);
  ch_free(s);
  /* The largest value that parses, announced and never sent. */
  ch_reader r;
  ch_reader_init(&r, MAX);
  frames_init(&fs);
  ch_reader_push(&r, S("Content-Length: 999999999999999999\r\n\r\n{}"),
                 on_frame, &fs);
  assert_int_equal(fs.count, 1);
  assert_int_equal(fs.items[0].kind, CH_FRAME_TOO_LARGE);
  assert_int_equal(fs.items[0].len, 999999999999999999ull);
  assert_true(r.buf.cap < 4096);
  frames_release(&fs);
  ch_reader_release(&r);
}

/* ---- partial ------------------------------------------------------------- */

static void test_partial(void **state) {
  (void)state;
  ch_reader r;
  ch_reader_init(&r, MAX_MESSAGE);
  frames fs;
  frames_init(&fs);
  assert_false(ch_reader_partial(&r));
  ch_reader_push(&r, S("Content-Len"), on_frame, &fs);
  assert_true(ch_reader_partial(&r));
  ch_reader_push(&r, S("gth: 9\r\n\r\n{\"a\""), on_frame, &fs);
  assert_true(ch_reader_partial(&r));
  assert_int_equal(fs.count, 0);
  ch_reader_push(&r, S(":12"), on_frame, &fs);
  assert_true(ch_reader_partial(&r));
  ch_reader_push(&r, S("3}"), on_frame, &fs);
  assert_false(ch_reader_partial(&r));
  assert_int_equal(fs.count, 1);
  expect_message(&fs, 0, "{\"a\":123}");
  /* Pushing nothing changes nothing. */
  ch_reader_push(&r, "", 0, on_frame, &fs);
  assert_false(ch_reader_partial(&r));
  assert_int_equal(fs.count, 1);
  frames_release(&fs);
  ch_reader_release(&r);
}

/* ---- ch_frame_write ------------------------------------------------------ */

static void test_frame_write_round_trip(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}", "",
      "{\"text\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\\r\\n\"}", "[1,2,3]"};
  ch_buf out;
  ch_buf_init(&out, 1 << 16);
  for(size_t i = 0; i < CH_ARRAY_LEN(bodies); i++)
    assert_int_equal(ch_frame_write(&out, bodies[i], strlen(bodies[i])), CH_OK);
  assert_int_equal(strncmp(out.data, "Content-Length: 38\r\n\r\n{", 23), 0);
  frames fs;
  read_every_way(out.data, out.len, MAX_MESSAGE, &fs);
  assert_int_equal(fs.count, CH_ARRAY_LEN(bodies));
  for(size_t i = 0; i < CH_ARRAY_LEN(bodies); i++)
    expect_message(&fs, i, bodies[i]);
  frames_release(&fs);
  ch_buf_release(&out);

  /* A bounded output buffer refuses a frame that does not fit. */
  ch_buf_init(&out, 30);
  assert_int_equal(ch_frame_write(&out, S("{\"a\":\"0123456789\"}")),
                   CH_ERR_TOO_LARGE);
  ch_buf_release(&out);
}

/* A refused frame leaves the output as it was: a header without its body
 * would make the peer read the next message as this body. */
static void test_frame_write_refusal_appends_nothing(void **state) {
  (void)state;
  ch_buf out;
  /* Room for "[]" framed (23 bytes) and the next header (22), not for the
   * next body (18). */
  ch_buf_init(&out, 50);
  assert_int_equal(ch_frame_write(&out, S("[]")), CH_OK);
  size_t before = out.len;
  assert_int_equal(ch_frame_write(&out, S("{\"a\":\"0123456789\"}")),
                   CH_ERR_TOO_LARGE);
  size_t left = out.len - before;
  ch_buf_release(&out);
  if(left)
    fail_msg("a refused frame left %zu bytes (its header) in the output", left);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_message),
      cmocka_unit_test(test_stream_every_way),
      cmocka_unit_test(test_two_messages_one_push),
      cmocka_unit_test(test_headers_case_and_extras),
      cmocka_unit_test(test_blank_lines_tolerated),
      cmocka_unit_test(test_body_is_opaque),
      cmocka_unit_test(test_missing_content_length),
      cmocka_unit_test(test_bad_content_length_values),
      cmocka_unit_test(test_line_without_colon),
      cmocka_unit_test(test_resync_after_broken_message_with_body),
      cmocka_unit_test(test_resync_is_chunking_independent),
      cmocka_unit_test(test_header_block_too_long),
      cmocka_unit_test(test_generated_stream),
      cmocka_unit_test(test_too_large_skipped_in_pieces),
      cmocka_unit_test(test_size_boundary),
      cmocka_unit_test(test_partial),
      cmocka_unit_test(test_frame_write_round_trip),
      cmocka_unit_test(test_frame_write_refusal_appends_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
