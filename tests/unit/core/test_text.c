/*
 * test_text.c: unit tests for core/src/text.c.
 *
 * Two kinds of test. Hand-written cases pin the contract of chorus/text.h
 * with values worked out by hand (line breaks, the three encodings, invalid
 * UTF-8, clamping, snapping). A differential test then drives thousands of
 * random edits through a ch_text and through a naive model, a flat byte
 * array with the same rules written in the most obvious way, and compares
 * every answer. The chunk layout is invisible through the API except
 * through ch_text_read, which returns one chunk's bytes at a time; the
 * tests use it to find chunk boundaries and to check the CRLF invariant.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "chorus/text.h"

static const ch_encoding all_encodings[] = {CH_ENC_UTF8, CH_ENC_UTF16,
                                            CH_ENC_UTF32};

/* ---- helpers ------------------------------------------------------------- */

static ch_position pos_of(uint32_t line, uint32_t character) {
  ch_position p = {line, character};
  return p;
}

static ch_text *text_of(const char *s) {
  ch_status error = CH_ERR_STATE;
  ch_text *t = ch_text_new(s, strlen(s), &error);
  assert_non_null(t);
  assert_int_equal(error, CH_OK);
  return t;
}

static void assert_pos(ch_position got, uint32_t line, uint32_t character) {
  assert_int_equal(got.line, line);
  assert_int_equal(got.character, character);
}

/* Splitmix64: small, seedable, the same on every platform. */
typedef struct rng {
  uint64_t state;
} rng;

static uint64_t rng_next(rng *r) {
  uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static uint32_t rng_below(rng *r, uint32_t n) {
  return n ? (uint32_t)(rng_next(r) % n) : 0;
}

/* Offsets where chunks start (after the first), found through
 * ch_text_read; returns how many were written (at most max). */
static size_t chunk_starts(const ch_text *t, uint32_t *out, size_t max) {
  size_t k = 0;
  uint32_t at = 0, len;
  ch_text_read(t, at, &len);
  while(len) {
    at += len;
    if(at < ch_text_length(t) && k < max) out[k++] = at;
    ch_text_read(t, at, &len);
  }
  return k;
}

/* ---- the model: a flat byte array with the rules of text.h ----------------
 *
 * Deliberately naive: every query rescans from the start of the text or of
 * the line, and decoding sees the whole flat array, so a sequence split
 * between chunks decodes here as it should there. */

typedef struct model {
  char *p;
  size_t n, cap;
  uint32_t *starts; /* line starts, rebuilt by model_index */
  size_t lines, starts_cap;
} model;

static void model_release(model *m) {
  ch_free(m->p);
  ch_free(m->starts);
  memset(m, 0, sizeof(*m));
}

static void model_replace(model *m, uint32_t start, uint32_t end, const char *d,
                          size_t len) {
  if(start > m->n) start = (uint32_t)m->n;
  if(end > m->n) end = (uint32_t)m->n;
  if(start > end) {
    uint32_t t = start;
    start = end;
    end = t;
  }
  size_t n = m->n - (end - start) + len;
  if(n + 1 > m->cap) {
    m->cap = (n + 1) * 2;
    m->p = ch_realloc(m->p, m->cap);
  }
  memmove(m->p + start + len, m->p + end, m->n - end);
  if(len) memcpy(m->p + start, d, len);
  m->n = n;
}

static void model_set(model *m, const char *d, size_t len) {
  model_replace(m, 0, (uint32_t)m->n, d, len);
}

static bool model_ends_break(const model *m, size_t i) {
  if(m->p[i] == '\n') return true;
  return m->p[i] == '\r' && !(i + 1 < m->n && m->p[i + 1] == '\n');
}

static void model_index(model *m) {
  m->lines = 0;
  for(size_t i = 0; i <= m->n; i++) {
    if(i == 0 || model_ends_break(m, i - 1)) {
      if(m->lines == m->starts_cap) {
        m->starts_cap = m->starts_cap ? m->starts_cap * 2 : 64;
        m->starts = ch_realloc(m->starts, m->starts_cap * sizeof(uint32_t));
      }
      m->starts[m->lines++] = (uint32_t)i;
    }
  }
}

static uint32_t model_units(uint32_t cp, size_t len, ch_encoding enc) {
  if(enc == CH_ENC_UTF8) return (uint32_t)len;
  if(enc == CH_ENC_UTF32) return 1;
  return cp > 0xFFFF ? 2 : 1;
}

static uint32_t model_offset(const model *m, ch_position pos, ch_encoding enc) {
  if(pos.line >= m->lines) return (uint32_t)m->n;
  size_t q = m->starts[pos.line];
  uint32_t done = 0;
  while(q < m->n && m->p[q] != '\n' && m->p[q] != '\r') {
    uint32_t cp;
    size_t len = ch_utf8_decode(m->p + q, m->n - q, &cp);
    uint32_t u = model_units(cp, len, enc);
    if(done + u > pos.character) break;
    done += u;
    q += len;
  }
  return (uint32_t)q;
}

static ch_position model_position(const model *m, uint32_t off,
                                  ch_encoding enc) {
  if(off > m->n) off = (uint32_t)m->n;
  size_t line = 0;
  while(line + 1 < m->lines && m->starts[line + 1] <= off)
    line++;
  size_t q = m->starts[line];
  uint32_t units = 0;
  while(q < off && m->p[q] != '\n' && m->p[q] != '\r') {
    uint32_t cp;
    size_t len = ch_utf8_decode(m->p + q, m->n - q, &cp);
    if(q + len > off) break;
    units += model_units(cp, len, enc);
    q += len;
  }
  return pos_of((uint32_t)line, units);
}

/* ---- comparing a text with the model ------------------------------------ */

static const char *check_context = "";

#define check_eq(got, want)                                                    \
  do {                                                                         \
    uint64_t got_ = (got), want_ = (want);                                     \
    if(got_ != want_) {                                                        \
      print_error("%s: %s is %llu, want %llu\n", check_context, #got,          \
                  (unsigned long long)got_, (unsigned long long)want_);        \
      fail();                                                                  \
    }                                                                          \
  } while(0)

/* Contents through ch_text_read, and the invariant no API can otherwise
 * see: no chunk ends with the "\r" of a CRLF whose "\n" starts the next. */
static void check_chunks(const ch_text *t, const model *m) {
  uint32_t at = 0, len;
  char prev_last = 0;
  const char *p = ch_text_read(t, at, &len);
  while(len) {
    check_eq(at + len <= m->n, 1);
    if(memcmp(p, m->p + at, len) != 0) {
      print_error("%s: chunk at %u differs\n", check_context, at);
      fail();
    }
    if(prev_last == '\r' && p[0] == '\n') {
      print_error("%s: CRLF split at chunk boundary %u\n", check_context, at);
      fail();
    }
    prev_last = p[len - 1];
    at += len;
    p = ch_text_read(t, at, &len);
  }
  check_eq(at, m->n);
}

/* A position near or past the end of a random line, to exercise clamping. */
static ch_position random_position(rng *r, const model *m) {
  uint32_t line = rng_below(r, (uint32_t)m->lines + 2);
  uint32_t width = 8;
  if(line < m->lines) {
    uint32_t end = line + 1 < m->lines ? m->starts[line + 1] : (uint32_t)m->n;
    width = end - m->starts[line] + 3;
  }
  return pos_of(line, rng_below(r, width));
}

/* Compares everything cheap, plus `probes` random queries per encoding.
 * With `full`, also every line start and the contiguous copy. */
static void check_text(const ch_text *t, model *m, rng *r, int probes,
                       bool full) {
  model_index(m);
  check_eq(ch_text_length(t), m->n);
  check_eq(ch_text_line_count(t), m->lines);
  check_chunks(t, m);
  for(int k = 0; k < probes; k++) {
    for(size_t e = 0; e < CH_ARRAY_LEN(all_encodings); e++) {
      ch_encoding enc = all_encodings[e];
      ch_position pos = random_position(r, m);
      check_eq(ch_text_offset(t, pos, enc), model_offset(m, pos, enc));
      uint32_t off = rng_below(r, (uint32_t)m->n + 3);
      ch_position got = ch_text_position(t, off, enc);
      ch_position want = model_position(m, off, enc);
      check_eq(got.line, want.line);
      check_eq(got.character, want.character);
    }
  }
  if(!full) return;
  for(uint32_t line = 0; line < m->lines + 2; line++) {
    uint32_t want = line < m->lines ? m->starts[line] : (uint32_t)m->n;
    check_eq(ch_text_line_start(t, line), want);
  }
  uint32_t len = 0;
  char *dup = ch_text_dup(t, &len);
  check_eq(len, m->n);
  check_eq(memcmp(dup, m->p, m->n) == 0, 1);
  check_eq(dup[len], 0);
  ch_free(dup);
}

/* Every offset and every position up to a little past each line end, in
 * every encoding; for small texts only. */
static void check_exhaustive(const ch_text *t, model *m) {
  model_index(m);
  for(size_t e = 0; e < CH_ARRAY_LEN(all_encodings); e++) {
    ch_encoding enc = all_encodings[e];
    for(uint32_t off = 0; off <= m->n + 1; off++) {
      ch_position got = ch_text_position(t, off, enc);
      ch_position want = model_position(m, off, enc);
      check_eq(got.line, want.line);
      check_eq(got.character, want.character);
    }
    for(uint32_t line = 0; line <= m->lines; line++) {
      for(uint32_t c = 0; c < 24; c++) {
        check_eq(ch_text_offset(t, pos_of(line, c), enc),
                 model_offset(m, pos_of(line, c), enc));
      }
    }
  }
}

static void check_against_string(const ch_text *t, const char *s, size_t len) {
  model m = {0};
  model_set(&m, s, len);
  rng r = {1};
  check_text(t, &m, &r, 50, true);
  if(len < 4096) check_exhaustive(t, &m);
  model_release(&m);
}

/* ---- lifecycle and limits ----------------------------------------------- */

static void test_empty(void **state) {
  (void)state;
  ch_text_free(NULL);
  ch_status error = CH_ERR_STATE;
  ch_text *t = ch_text_new(NULL, 0, &error);
  assert_non_null(t);
  assert_int_equal(error, CH_OK);
  assert_int_equal(ch_text_length(t), 0);
  assert_int_equal(ch_text_line_count(t), 1);
  for(size_t e = 0; e < CH_ARRAY_LEN(all_encodings); e++) {
    assert_int_equal(ch_text_offset(t, pos_of(0, 0), all_encodings[e]), 0);
    assert_int_equal(ch_text_offset(t, pos_of(0, 9), all_encodings[e]), 0);
    assert_int_equal(ch_text_offset(t, pos_of(7, 3), all_encodings[e]), 0);
    assert_pos(ch_text_position(t, 0, all_encodings[e]), 0, 0);
    assert_pos(ch_text_position(t, 5, all_encodings[e]), 0, 0);
  }
  assert_int_equal(ch_text_line_start(t, 0), 0);
  assert_int_equal(ch_text_line_start(t, 3), 0);
  uint32_t len = 99;
  char *dup = ch_text_dup(t, &len);
  assert_int_equal(len, 0);
  assert_string_equal(dup, "");
  ch_free(dup);
  const char *p = ch_text_read(t, 0, &len);
  assert_non_null(p);
  assert_int_equal(len, 0);
  char out[4];
  assert_int_equal(ch_text_copy(t, 0, 10, out), 0);
  assert_true(ch_text_memory(t) > 0);
  /* An empty edit changes nothing; then text comes and goes again. */
  assert_int_equal(ch_text_replace(t, 0, 0, NULL, 0), CH_OK);
  assert_int_equal(ch_text_replace(t, 0, 0, "ab\n", 3), CH_OK);
  assert_int_equal(ch_text_line_count(t), 2);
  assert_int_equal(ch_text_replace(t, 0, UINT32_MAX, NULL, 0), CH_OK);
  assert_int_equal(ch_text_length(t), 0);
  assert_int_equal(ch_text_line_count(t), 1);
  ch_text_free(t);
}

static void test_too_large(void **state) {
  (void)state;
  /* The length is checked before the data is read, so a tiny buffer is
   * enough to ask for an impossible size. */
  static const char tiny[1] = {'x'};
  ch_status error = CH_OK;
  assert_null(ch_text_new(tiny, (size_t)CH_TEXT_MAX + 1, &error));
  assert_int_equal(error, CH_ERR_TOO_LARGE);
  assert_null(ch_text_new(tiny, (size_t)CH_TEXT_MAX + 1, NULL));
  ch_text *t = text_of("abc");
  assert_int_equal(ch_text_replace(t, 1, 1, tiny, (size_t)CH_TEXT_MAX - 2),
                   CH_ERR_TOO_LARGE);
  assert_int_equal(ch_text_length(t), 3);
  /* The removed bytes count: 3 - 1 + (MAX - 1) is one past the limit. */
  assert_int_equal(ch_text_replace(t, 0, 1, tiny, (size_t)CH_TEXT_MAX - 1),
                   CH_ERR_TOO_LARGE);
  assert_int_equal(ch_text_length(t), 3);
  ch_text_free(t);
}

/* ---- line breaks --------------------------------------------------------- */

static void test_line_counts(void **state) {
  (void)state;
  static const struct {
    const char *s;
    uint32_t lines;
  } cases[] = {
      {"", 1},
      {"a", 1},
      {"\n", 2},
      {"a\nb", 2},
      {"a\n", 2},
      {"a\r\nb", 2},
      {"a\r\n", 2},
      {"a\rb", 2},
      {"a\r", 2},
      {"\r", 2},
      {"\r\n", 2},
      {"\n\r", 3},
      {"\r\r", 3},
      {"\r\r\n", 3},
      {"\r\n\r\n", 3},
      {"\n\n\n", 4},
      {"a\nb\r\nc\rd", 4},
      {"\r\n\n\r\r\n", 5},
  };
  for(size_t k = 0; k < CH_ARRAY_LEN(cases); k++) {
    ch_text *t = text_of(cases[k].s);
    if(ch_text_line_count(t) != cases[k].lines)
      print_error("line count of case %zu\n", k);
    assert_int_equal(ch_text_line_count(t), cases[k].lines);
    check_against_string(t, cases[k].s, strlen(cases[k].s));
    ch_text_free(t);
  }
}

static void test_line_start(void **state) {
  (void)state;
  ch_text *t = text_of("ab\ncd\r\nef\rg\n");
  assert_int_equal(ch_text_line_count(t), 5);
  assert_int_equal(ch_text_line_start(t, 0), 0);
  assert_int_equal(ch_text_line_start(t, 1), 3);
  assert_int_equal(ch_text_line_start(t, 2), 7);
  assert_int_equal(ch_text_line_start(t, 3), 10);
  assert_int_equal(ch_text_line_start(t, 4), 12);
  assert_int_equal(ch_text_line_start(t, 5), 12);
  assert_int_equal(ch_text_line_start(t, UINT32_MAX), 12);
  /* Offsets on and inside breaks belong to the line the break ends. */
  assert_pos(ch_text_position(t, 2, CH_ENC_UTF16), 0, 2); /* at "\n" */
  assert_pos(ch_text_position(t, 3, CH_ENC_UTF16), 1, 0);
  assert_pos(ch_text_position(t, 5, CH_ENC_UTF16), 1, 2); /* at "\r" */
  assert_pos(ch_text_position(t, 6, CH_ENC_UTF16), 1, 2); /* inside CRLF */
  assert_pos(ch_text_position(t, 7, CH_ENC_UTF16), 2, 0);
  assert_pos(ch_text_position(t, 9, CH_ENC_UTF16), 2, 2); /* lone "\r" */
  assert_pos(ch_text_position(t, 10, CH_ENC_UTF16), 3, 0);
  assert_pos(ch_text_position(t, 12, CH_ENC_UTF16), 4, 0); /* the end */
  assert_pos(ch_text_position(t, 99, CH_ENC_UTF16), 4, 0); /* clamped */
  ch_text_free(t);
}

/* ---- characters in the three encodings ----------------------------------- */

/* Checks that character c of line `line` is at byte `off` in `enc`, in
 * both directions. */
static void assert_char(const ch_text *t, ch_encoding enc, uint32_t line,
                        uint32_t c, uint32_t off) {
  ch_position p = ch_text_position(t, off, enc);
  if(p.line != line || p.character != c ||
     ch_text_offset(t, pos_of(line, c), enc) != off)
    print_error("encoding %d, line %u, character %u, offset %u\n", (int)enc,
                line, c, off);
  assert_int_equal(ch_text_offset(t, pos_of(line, c), enc), off);
  assert_pos(p, line, c);
}

static void test_ascii_and_multibyte(void **state) {
  (void)state;
  /* "a" 1 byte, "é" 2, "€" 3, "😀" 4 (astral), "b" 1. */
  const char *s = "x\na\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                  "b";
  ch_text *t = text_of(s);
  static const uint32_t bytes[] = {2, 3, 5, 8, 12, 13};
  static const uint32_t u8[] = {0, 1, 3, 6, 10, 11};
  static const uint32_t u16[] = {0, 1, 2, 3, 5, 6};
  static const uint32_t u32[] = {0, 1, 2, 3, 4, 5};
  for(size_t k = 0; k < CH_ARRAY_LEN(bytes); k++) {
    assert_char(t, CH_ENC_UTF8, 1, u8[k], bytes[k]);
    assert_char(t, CH_ENC_UTF16, 1, u16[k], bytes[k]);
    assert_char(t, CH_ENC_UTF32, 1, u32[k], bytes[k]);
  }
  assert_char(t, CH_ENC_UTF16, 0, 1, 1);
  check_against_string(t, s, strlen(s));
  ch_text_free(t);
}

static void test_astral_surrogates(void **state) {
  (void)state;
  /* Two astral characters in a row: U+1F600 and U+10348. */
  const char *s = "\xF0\x9F\x98\x80\xF0\x90\x8D\x88z";
  ch_text *t = text_of(s);
  assert_char(t, CH_ENC_UTF16, 0, 0, 0);
  assert_char(t, CH_ENC_UTF16, 0, 2, 4);
  assert_char(t, CH_ENC_UTF16, 0, 4, 8);
  assert_char(t, CH_ENC_UTF16, 0, 5, 9);
  assert_char(t, CH_ENC_UTF32, 0, 1, 4);
  assert_char(t, CH_ENC_UTF32, 0, 2, 8);
  /* Between the halves of a surrogate pair: the start of the pair. */
  assert_int_equal(ch_text_offset(t, pos_of(0, 1), CH_ENC_UTF16), 0);
  assert_int_equal(ch_text_offset(t, pos_of(0, 3), CH_ENC_UTF16), 4);
  check_against_string(t, s, strlen(s));
  ch_text_free(t);
}

static void test_combining_marks(void **state) {
  (void)state;
  /* "e" + U+0301 COMBINING ACUTE ACCENT + "x": the mark is its own code
   * point, so it has its own position. */
  const char *s = "e\xCC\x81x";
  ch_text *t = text_of(s);
  assert_char(t, CH_ENC_UTF16, 0, 1, 1);
  assert_char(t, CH_ENC_UTF16, 0, 2, 3);
  assert_char(t, CH_ENC_UTF16, 0, 3, 4);
  assert_char(t, CH_ENC_UTF32, 0, 2, 3);
  assert_char(t, CH_ENC_UTF8, 0, 3, 3);
  check_against_string(t, s, strlen(s));
  ch_text_free(t);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  /* 0xFF; a truncated 3-byte sequence (E2 82) before "x"; an overlong "/"
   * (C0 AF); an encoded surrogate (ED A0 80); a stray continuation byte.
   * Each invalid byte is one code point, one UTF-16 unit. */
  const char *s = "a\xFF"
                  "b\xE2\x82x\xC0\xAF\xED\xA0\x80\x80y";
  ch_text *t = text_of(s);
  /* bytes:        a=0 FF=1 b=2 E2=3 82=4 x=5 C0=6 AF=7 ED=8 A0=9 80=10
   *               80=11 y=12, length 13: every byte is one character. */
  for(uint32_t k = 0; k <= 13; k++) {
    assert_char(t, CH_ENC_UTF8, 0, k, k);
    assert_char(t, CH_ENC_UTF16, 0, k, k);
    assert_char(t, CH_ENC_UTF32, 0, k, k);
  }
  check_against_string(t, s, strlen(s));
  ch_text_free(t);
  /* A truncated sequence at the very end of the text. */
  t = text_of("ab\xF0\x9F\x98");
  assert_char(t, CH_ENC_UTF16, 0, 5, 5);
  assert_int_equal(ch_text_offset(t, pos_of(0, 9), CH_ENC_UTF16), 5);
  ch_text_free(t);
}

static void test_clamping(void **state) {
  (void)state;
  const char *s = "ab\ncd\r\nef\rgh";
  ch_text *t = text_of(s);
  for(size_t e = 0; e < CH_ARRAY_LEN(all_encodings); e++) {
    ch_encoding enc = all_encodings[e];
    /* Past the end of a line: before its break, whatever the break. */
    assert_int_equal(ch_text_offset(t, pos_of(0, 3), enc), 2);
    assert_int_equal(ch_text_offset(t, pos_of(0, 1000), enc), 2);
    assert_int_equal(ch_text_offset(t, pos_of(1, 2), enc), 5);
    assert_int_equal(ch_text_offset(t, pos_of(1, 3), enc), 5);
    assert_int_equal(ch_text_offset(t, pos_of(2, UINT32_MAX), enc), 9);
    /* The last line has no break: the end of the text. */
    assert_int_equal(ch_text_offset(t, pos_of(3, 7), enc), 12);
    /* Past the last line: the end of the text. */
    assert_int_equal(ch_text_offset(t, pos_of(4, 0), enc), 12);
    assert_int_equal(ch_text_offset(t, pos_of(UINT32_MAX, 0), enc), 12);
  }
  ch_text_free(t);
}

static void test_snap_inside_code_point(void **state) {
  (void)state;
  /* "€" is E2 82 AC at bytes 1..3; "😀" is bytes 4..7. */
  const char *s = "a\xE2\x82\xAC\xF0\x9F\x98\x80"
                  "b";
  ch_text *t = text_of(s);
  /* UTF-8 characters that land inside a sequence snap to its start. */
  assert_int_equal(ch_text_offset(t, pos_of(0, 2), CH_ENC_UTF8), 1);
  assert_int_equal(ch_text_offset(t, pos_of(0, 3), CH_ENC_UTF8), 1);
  assert_int_equal(ch_text_offset(t, pos_of(0, 4), CH_ENC_UTF8), 4);
  assert_int_equal(ch_text_offset(t, pos_of(0, 7), CH_ENC_UTF8), 4);
  assert_int_equal(ch_text_offset(t, pos_of(0, 8), CH_ENC_UTF8), 8);
  /* UTF-16: between the surrogate halves. */
  assert_int_equal(ch_text_offset(t, pos_of(0, 3), CH_ENC_UTF16), 4);
  assert_int_equal(ch_text_offset(t, pos_of(0, 4), CH_ENC_UTF16), 8);
  /* Offsets inside a code point count from its start. */
  for(size_t e = 0; e < CH_ARRAY_LEN(all_encodings); e++) {
    ch_encoding enc = all_encodings[e];
    ch_position at_euro = ch_text_position(t, 1, enc);
    ch_position at_emoji = ch_text_position(t, 4, enc);
    for(uint32_t off = 2; off <= 3; off++)
      assert_pos(ch_text_position(t, off, enc), 0, at_euro.character);
    for(uint32_t off = 5; off <= 7; off++)
      assert_pos(ch_text_position(t, off, enc), 0, at_emoji.character);
  }
  check_against_string(t, s, strlen(s));
  ch_text_free(t);
}

/* ---- edits --------------------------------------------------------------- */

static void test_replace_and_range(void **state) {
  (void)state;
  ch_text *t = text_of("hello\nworld");
  assert_int_equal(ch_text_replace(t, 5, 6, " ", 1), CH_OK);
  assert_int_equal(ch_text_line_count(t), 1);
  /* Reversed and past-the-end arguments are put in order and clamped. */
  assert_int_equal(ch_text_replace(t, 99, 5, "!", 1), CH_OK);
  char out[32];
  uint32_t n = ch_text_copy(t, 0, 99, out);
  assert_int_equal(n, 6);
  assert_memory_equal(out, "hello!", 6);
  /* Replacing a range given as positions, with an astral character. */
  assert_int_equal(
      ch_text_replace(t, 0, UINT32_MAX, "a\xF0\x9F\x98\x80z\nq", 8), CH_OK);
  assert_int_equal(ch_text_replace_range(t, pos_of(0, 3), pos_of(1, 0),
                                         CH_ENC_UTF16, "-", 1),
                   CH_OK);
  n = ch_text_copy(t, 0, 99, out);
  assert_int_equal(n, 7);
  assert_memory_equal(out, "a\xF0\x9F\x98\x80-q", 7);
  /* A range that starts inside the surrogate pair starts at the pair. */
  assert_int_equal(
      ch_text_replace_range(t, pos_of(0, 2), pos_of(0, 3), CH_ENC_UTF16, "", 0),
      CH_OK);
  n = ch_text_copy(t, 0, 99, out);
  assert_int_equal(n, 3);
  assert_memory_equal(out, "a-q", 3);
  /* Partial copies and reversed copy ranges. */
  assert_int_equal(ch_text_copy(t, 1, 2, out), 1);
  assert_int_equal(out[0], '-');
  assert_int_equal(ch_text_copy(t, 2, 1, out), 0);
  ch_text_free(t);
}

static void test_copy_and_append(void **state) {
  (void)state;
  size_t len = 50000;
  char *src = ch_malloc(len);
  for(size_t k = 0; k < len; k++)
    src[k] = (char)('a' + k % 26);
  ch_text *t = ch_text_new(src, len, NULL);
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  assert_int_equal(ch_text_append_to(t, 1000, 30000, &b), CH_OK);
  assert_int_equal(b.len, 29000);
  assert_memory_equal(b.data, src + 1000, 29000);
  assert_int_equal(b.data[b.len], 0);
  /* A buffer whose cap refuses the bytes keeps what it had. */
  ch_buf small;
  ch_buf_init(&small, 100);
  assert_int_equal(ch_buf_append_str(&small, "x"), CH_OK);
  assert_int_equal(ch_text_append_to(t, 0, 200, &small), CH_ERR_TOO_LARGE);
  assert_int_equal(small.len, 1);
  char *out = ch_malloc(len);
  assert_int_equal(ch_text_copy(t, 4000, 45000, out), 41000);
  assert_memory_equal(out, src + 4000, 41000);
  ch_free(out);
  ch_buf_release(&small);
  ch_buf_release(&b);
  ch_text_free(t);
  ch_free(src);
}

/* Filler text of n bytes in lines of 50, so the initial cuts never meet a
 * "\r" and every byte is ASCII. */
static char *filler(size_t n) {
  char *s = ch_malloc(n + 1);
  for(size_t k = 0; k < n; k++)
    s[k] = k % 50 == 49 ? '\n' : 'a' + k % 7;
  s[n] = 0;
  return s;
}

/* Loads s, then checks that the chunk starts are those of a filler text
 * of the same length: cuts depend only on the length unless they meet a
 * CRLF, which lets a test place bytes right at a boundary. */
static ch_text *text_with_cuts(const char *s, size_t n, uint32_t *cuts,
                               size_t want) {
  char *f = filler(n);
  ch_text *probe = ch_text_new(f, n, NULL);
  size_t got = chunk_starts(probe, cuts, want);
  assert_true(got >= want);
  ch_text_free(probe);
  ch_free(f);
  ch_text *t = ch_text_new(s, n, NULL);
  uint32_t again[8];
  assert_true(chunk_starts(t, again, want) >= want);
  for(size_t k = 0; k < want; k++)
    assert_int_equal(again[k], cuts[k]);
  return t;
}

static void test_crlf_at_boundary_by_replace(void **state) {
  (void)state;
  size_t n = 12000;
  char *s = filler(n);
  uint32_t cut[1] = {0};
  ch_text *probe = ch_text_new(s, n, NULL);
  assert_int_equal(chunk_starts(probe, cut, 1), 1);
  ch_text_free(probe);
  uint32_t b = cut[0];
  s[b] = '\n'; /* the next chunk starts with "\n" */
  s[b - 1] = 'Y';
  ch_text *t = text_with_cuts(s, n, cut, 1);
  model m = {0};
  model_set(&m, s, n);
  rng r = {7};
  check_text(t, &m, &r, 100, true);
  /* Turn the last byte of the first chunk into "\r": a CRLF across the
   * boundary unless the text moves the boundary. */
  assert_int_equal(ch_text_replace(t, b - 1, b, "\r", 1), CH_OK);
  model_replace(&m, b - 1, b, "\r", 1);
  check_text(t, &m, &r, 100, true);
  assert_pos(ch_text_position(t, b, CH_ENC_UTF16),
             ch_text_position(t, b - 1, CH_ENC_UTF16).line,
             ch_text_position(t, b - 1, CH_ENC_UTF16).character);
  /* Insert a "\r" right before the "\n", then a lone "\r" at a chunk end,
   * each time re-checking everything. */
  uint32_t cuts[4];
  size_t k = chunk_starts(t, cuts, 4);
  assert_true(k >= 1);
  assert_int_equal(ch_text_replace(t, cuts[0], cuts[0], "\r\r", 2), CH_OK);
  model_replace(&m, cuts[0], cuts[0], "\r\r", 2);
  check_text(t, &m, &r, 100, true);
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

static void test_crlf_at_boundary_by_delete(void **state) {
  (void)state;
  size_t n = 12000;
  char *s = filler(n);
  uint32_t cut[1] = {0};
  ch_text *probe = ch_text_new(s, n, NULL);
  assert_int_equal(chunk_starts(probe, cut, 1), 1);
  ch_text_free(probe);
  uint32_t b = cut[0];
  s[b - 1] = '\r'; /* the first chunk ends with a lone "\r" ... */
  s[b] = 'X';      /* ... the second starts with "X\n" */
  s[b + 1] = '\n';
  ch_text *t = text_with_cuts(s, n, cut, 1);
  model m = {0};
  model_set(&m, s, n);
  rng r = {8};
  check_text(t, &m, &r, 100, true);
  uint32_t lines = ch_text_line_count(t);
  /* Deleting the "X" joins "\r" and "\n" into one break. */
  assert_int_equal(ch_text_replace(t, b, b + 1, NULL, 0), CH_OK);
  model_replace(&m, b, b + 1, NULL, 0);
  assert_int_equal(ch_text_line_count(t), lines - 1);
  check_text(t, &m, &r, 100, true);
  /* And splitting it again, by inserting between the two. */
  assert_int_equal(ch_text_replace(t, b, b, "Z", 1), CH_OK);
  model_replace(&m, b, b, "Z", 1);
  assert_int_equal(ch_text_line_count(t), lines);
  check_text(t, &m, &r, 100, true);
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

static void test_crlf_at_boundary_by_emptied_chunk(void **state) {
  (void)state;
  size_t n = 14000;
  char *s = filler(n);
  uint32_t cut[2] = {0, 0};
  ch_text *probe = ch_text_new(s, n, NULL);
  assert_true(chunk_starts(probe, cut, 2) >= 2);
  ch_text_free(probe);
  s[cut[0] - 1] = '\r';
  s[cut[1]] = '\n';
  ch_text *t = text_with_cuts(s, n, cut, 2);
  model m = {0};
  model_set(&m, s, n);
  rng r = {9};
  check_text(t, &m, &r, 100, true);
  /* Deleting the whole middle chunk brings "\r" and "\n" together. */
  uint32_t lines = ch_text_line_count(t);
  uint32_t lf_in_middle = 0;
  for(uint32_t k = cut[0]; k < cut[1]; k++)
    lf_in_middle += s[k] == '\n';
  assert_int_equal(ch_text_replace(t, cut[0], cut[1], NULL, 0), CH_OK);
  model_replace(&m, cut[0], cut[1], NULL, 0);
  assert_int_equal(ch_text_line_count(t), lines - lf_in_middle - 1);
  check_text(t, &m, &r, 100, true);
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

static void test_crlf_at_initial_cut(void **state) {
  (void)state;
  size_t n = 12000;
  char *s = filler(n);
  uint32_t cut[1] = {0};
  ch_text *probe = ch_text_new(s, n, NULL);
  assert_int_equal(chunk_starts(probe, cut, 1), 1);
  ch_text_free(probe);
  s[cut[0] - 1] = '\r';
  s[cut[0]] = '\n';
  ch_text *t = ch_text_new(s, n, NULL);
  check_against_string(t, s, n); /* includes the boundary check */
  ch_text_free(t);
  ch_free(s);
}

static void test_utf8_across_boundary(void **state) {
  (void)state;
  size_t n = 12000;
  char *s = filler(n);
  uint32_t cut[1] = {0};
  ch_text *probe = ch_text_new(s, n, NULL);
  assert_int_equal(chunk_starts(probe, cut, 1), 1);
  ch_text_free(probe);
  uint32_t b = cut[0];
  /* "😀" with one byte before the boundary and three after, "€" just
   * before it; both must decode as whole code points. */
  memcpy(s + b - 4, "\xE2\x82\xAC\xF0\x9F\x98\x80", 7);
  ch_text *t = text_with_cuts(s, n, cut, 1);
  ch_position p = ch_text_position(t, b - 4, CH_ENC_UTF16);
  assert_pos(ch_text_position(t, b - 1, CH_ENC_UTF16), p.line, p.character + 1);
  assert_pos(ch_text_position(t, b + 3, CH_ENC_UTF16), p.line, p.character + 3);
  assert_pos(ch_text_position(t, b + 1, CH_ENC_UTF16), p.line, p.character + 1);
  assert_int_equal(
      ch_text_offset(t, pos_of(p.line, p.character + 2), CH_ENC_UTF16), b - 1);
  check_against_string(t, s, n);
  /* Break the sequence at the boundary with an edit, then mend it. */
  model m = {0};
  model_set(&m, s, n);
  rng r = {10};
  assert_int_equal(ch_text_replace(t, b, b, "!", 1), CH_OK);
  model_replace(&m, b, b, "!", 1);
  check_text(t, &m, &r, 200, true);
  assert_int_equal(ch_text_replace(t, b, b + 1, NULL, 0), CH_OK);
  model_replace(&m, b, b + 1, NULL, 0);
  check_text(t, &m, &r, 200, true);
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

static void test_edits_spanning_chunks(void **state) {
  (void)state;
  size_t n = 1 << 20;
  char *s = filler(n);
  ch_text *t = ch_text_new(s, n, NULL);
  model m = {0};
  model_set(&m, s, n);
  rng r = {11};
  check_text(t, &m, &r, 20, true);
  /* Delete 300 KB from the middle, across dozens of chunks. */
  assert_int_equal(ch_text_replace(t, 100001, 400003, "\r\n", 2), CH_OK);
  model_replace(&m, 100001, 400003, "\r\n", 2);
  check_text(t, &m, &r, 50, true);
  /* Insert 500 KB with CRLF and lone CR in it. */
  size_t big = 500000;
  char *ins = ch_malloc(big);
  for(size_t k = 0; k < big; k++)
    ins[k] = k % 37 == 35   ? '\r'
             : k % 37 == 36 ? '\n'
             : k % 91 == 0  ? '\r'
                            : 'q';
  assert_int_equal(ch_text_replace(t, 7777, 7777, ins, big), CH_OK);
  model_replace(&m, 7777, 7777, ins, big);
  check_text(t, &m, &r, 50, true);
  /* Replace a range that starts and ends mid-chunk with a small string. */
  assert_int_equal(ch_text_replace(t, 5000, 900000, "tiny", 4), CH_OK);
  model_replace(&m, 5000, 900000, "tiny", 4);
  check_text(t, &m, &r, 50, true);
  /* Delete everything but a few bytes at each end. */
  uint32_t len = ch_text_length(t);
  assert_int_equal(ch_text_replace(t, 3, len - 3, NULL, 0), CH_OK);
  model_replace(&m, 3, len - 3, NULL, 0);
  check_text(t, &m, &r, 50, true);
  check_exhaustive(t, &m);
  ch_free(ins);
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

static void test_replace_whole_with_10mb(void **state) {
  (void)state;
  ch_text *t = text_of("small\r\ntext");
  size_t n = 10u << 20;
  char *s = ch_malloc(n);
  size_t breaks = 0;
  for(size_t k = 0; k < n; k++) {
    s[k] = k % 64 == 63 ? '\n' : k % 64 == 62 ? '\r' : (char)('A' + k % 26);
    breaks += s[k] == '\n';
  }
  assert_int_equal(ch_text_replace(t, 0, UINT32_MAX, s, n), CH_OK);
  assert_int_equal(ch_text_length(t), n);
  assert_int_equal(ch_text_line_count(t), breaks + 1);
  uint32_t len = 0;
  char *dup = ch_text_dup(t, &len);
  assert_int_equal(len, n);
  assert_memory_equal(dup, s, n);
  ch_free(dup);
  /* Line k starts at 64 k; the last line starts at the end. */
  assert_int_equal(ch_text_line_start(t, 1000), 64000);
  assert_int_equal(ch_text_line_start(t, (uint32_t)breaks), n);
  assert_pos(ch_text_position(t, 64000 + 5, CH_ENC_UTF16), 1000, 5);
  assert_pos(ch_text_position(t, 64000 + 63, CH_ENC_UTF16), 1000, 62);
  assert_int_equal(ch_text_offset(t, pos_of(99999, 70), CH_ENC_UTF32),
                   99999u * 64 + 62);
  assert_true(ch_text_memory(t) >= n);
  assert_true(ch_text_memory(t) < n * 3 / 2);
  model m = {0};
  model_set(&m, s, n);
  model_index(&m);
  check_chunks(t, &m);
  /* And back to something small. */
  assert_int_equal(ch_text_replace(t, 0, UINT32_MAX, "x\ny", 3), CH_OK);
  check_against_string(t, "x\ny", 3);
  model_release(&m);
  ch_free(s);
  ch_text_free(t);
}

static void test_read_walk_matches_dup(void **state) {
  (void)state;
  size_t n = 300000;
  char *s = filler(n);
  ch_text *t = ch_text_new(s, n, NULL);
  /* Shuffle the layout with edits of every size first. */
  rng r = {12};
  for(int k = 0; k < 500; k++) {
    uint32_t at = rng_below(&r, ch_text_length(t) + 1);
    uint32_t del = rng_below(&r, k % 10 == 0 ? 20000 : 20);
    size_t ins = rng_below(&r, k % 10 == 5 ? 20000 : 20);
    assert_int_equal(ch_text_replace(t, at, at + del, s, ins), CH_OK);
  }
  uint32_t len = 0;
  char *dup = ch_text_dup(t, &len);
  char *walk = ch_malloc((size_t)len + 1);
  uint32_t at = 0, seg;
  size_t chunks = 0;
  const char *p = ch_text_read(t, at, &seg);
  while(seg) {
    memcpy(walk + at, p, seg);
    at += seg;
    chunks++;
    p = ch_text_read(t, at, &seg);
  }
  assert_int_equal(at, len);
  assert_memory_equal(walk, dup, len);
  assert_true(chunks > 10);
  /* Reading from the middle of a chunk gives the rest of that chunk. */
  const char *mid = ch_text_read(t, 1234, &seg);
  assert_true(seg > 0);
  assert_memory_equal(mid, dup + 1234, seg);
  ch_text_read(t, len, &seg);
  assert_int_equal(seg, 0);
  ch_text_read(t, len + 100, &seg);
  assert_int_equal(seg, 0);
  ch_free(walk);
  ch_free(dup);
  ch_text_free(t);
  ch_free(s);
}

static void test_replace_with_own_bytes(void **state) {
  (void)state;
  /* Data borrowed from ch_text_read points into the text being edited. */
  size_t n = 20000;
  char *s = filler(n);
  ch_text *t = ch_text_new(s, n, NULL);
  model m = {0};
  model_set(&m, s, n);
  rng r = {13};
  for(int k = 0; k < 200; k++) {
    uint32_t len;
    uint32_t from = rng_below(&r, ch_text_length(t));
    const char *p = ch_text_read(t, from, &len);
    uint32_t want = rng_below(&r, k % 20 ? 64 : 6000);
    uint32_t take = CH_MIN(len, want); /* CH_MIN evaluates twice */
    uint32_t at = from + rng_below(&r, 200) - 100;
    uint32_t del = rng_below(&r, 8);
    char *copy = ch_memdup(m.p + from, take); /* the model must not alias */
    model_replace(&m, at, at + del, copy, take);
    ch_free(copy);
    assert_int_equal(ch_text_replace(t, at, at + del, p, take), CH_OK);
    check_text(t, &m, &r, 2, k % 50 == 0);
  }
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

static void test_typing_grows_and_shrinks(void **state) {
  (void)state;
  size_t n = 9000;
  char *s = filler(n);
  ch_text *t = ch_text_new(s, n, NULL);
  model m = {0};
  model_set(&m, s, n);
  rng r = {14};
  /* Type 20,000 characters at one spot: the chunk there must split again
   * and again; then backspace them all: chunks must merge. */
  uint32_t at = 4500;
  for(int k = 0; k < 20000; k++) {
    char c = k % 41 == 40 ? '\n' : (char)('a' + k % 26);
    assert_int_equal(ch_text_replace(t, at, at, &c, 1), CH_OK);
    model_replace(&m, at, at, &c, 1);
    at++;
    if(k % 997 == 0) check_text(t, &m, &r, 5, true);
  }
  check_text(t, &m, &r, 50, true);
  size_t memory_big = ch_text_memory(t);
  for(int k = 0; k < 20000; k++) {
    assert_int_equal(ch_text_replace(t, at - 1, at, NULL, 0), CH_OK);
    model_replace(&m, at - 1, at, NULL, 0);
    at--;
    if(k % 997 == 0) check_text(t, &m, &r, 5, true);
  }
  check_text(t, &m, &r, 50, true);
  assert_true(ch_text_memory(t) < memory_big);
  uint32_t cuts[64];
  assert_true(chunk_starts(t, cuts, 64) < 8); /* merged back */
  ch_text_free(t);
  model_release(&m);
  ch_free(s);
}

/* ---- differential test against the model ----------------------------------
 */

/* Building blocks for random text: ASCII, 2-, 3- and 4-byte sequences, a
 * combining mark, every kind of break, and invalid bytes of several
 * kinds. ASCII comes up most, as in real files. */
static const char *const atoms[] = {
    "a",
    "b",
    "z",
    " ",
    "\t",
    "{",
    "0",
    "x",
    "y",
    "int ",
    "\xC3\xA9",         /* é */
    "\xE2\x82\xAC",     /* € */
    "\xF0\x9F\x98\x80", /* 😀, a surrogate pair in UTF-16 */
    "\xCC\x81",         /* combining acute */
    "\r",
    "\n",
    "\r\n",
    "\n",
    "\r\n",
    "\xFF",         /* never valid */
    "\xE2\x82",     /* truncated */
    "\xF0\x9F",     /* truncated 4-byte */
    "\x80",         /* stray continuation */
    "\xC0\xAF",     /* overlong */
    "\xED\xA0\x80", /* encoded surrogate */
};

static size_t random_text(rng *r, char *out, size_t max) {
  size_t n = 0;
  while(n < max) {
    uint32_t pick =
        rng_below(r, 3) ? rng_below(r, 10) : rng_below(r, CH_ARRAY_LEN(atoms));
    size_t len = strlen(atoms[pick]);
    if(n + len > max) break;
    memcpy(out + n, atoms[pick], len);
    n += len;
  }
  return n;
}

static void run_differential(uint64_t seed, int edits) {
  rng r = {seed};
  size_t scratch_cap = 64000;
  char *scratch = ch_malloc(scratch_cap);
  size_t n = random_text(&r, scratch, 30000 + rng_below(&r, 20000));
  ch_text *t = ch_text_new(scratch, n, NULL);
  model m = {0};
  model_set(&m, scratch, n);
  char context[96];
  check_context = context;
  for(int step = 0; step < edits; step++) {
    snprintf(context, sizeof(context), "seed %llu step %d",
             (unsigned long long)seed, step);
    uint32_t len = (uint32_t)m.n;
    uint32_t kind = rng_below(&r, 100);
    uint32_t start = rng_below(&r, len + 3);
    uint32_t span = kind < 70   ? rng_below(&r, 5)
                    : kind < 90 ? rng_below(&r, 300)
                                : rng_below(&r, 20000);
    /* Keep the text between about 8 KB and 120 KB. */
    if(len > 120000) span += 10000;
    uint32_t end = start + span;
    if(rng_below(&r, 10) == 0) {
      uint32_t t0 = start; /* reversed arguments are allowed */
      start = end;
      end = t0;
    }
    uint32_t size_kind = rng_below(&r, 100);
    size_t want = size_kind < 70   ? rng_below(&r, 8)
                  : size_kind < 93 ? rng_below(&r, 200)
                                   : rng_below(&r, 12000);
    if(len < 8000) want += 3000;
    size_t ins = random_text(&r, scratch, CH_MIN(want, scratch_cap));
    if(kind == 99 && step % 7 == 0) {
      start = 0; /* now and then, the whole document */
      end = UINT32_MAX;
    }
    if(rng_below(&r, 20) == 0) {
      /* Through positions, as an editor sends them. */
      model_index(&m);
      ch_encoding enc = all_encodings[rng_below(&r, 3)];
      ch_position a = random_position(&r, &m);
      ch_position b = random_position(&r, &m);
      uint32_t oa = model_offset(&m, a, enc), ob = model_offset(&m, b, enc);
      check_eq(ch_text_replace_range(t, a, b, enc, scratch, ins), CH_OK);
      model_replace(&m, oa, ob, scratch, ins);
    } else {
      check_eq(ch_text_replace(t, start, end, scratch, ins), CH_OK);
      model_replace(&m, start, end, scratch, ins);
    }
    check_text(t, &m, &r, 3, step % 500 == 0);
  }
  check_text(t, &m, &r, 200, true);
  check_context = "";
  ch_text_free(t);
  model_release(&m);
  ch_free(scratch);
}

static void test_differential(void **state) {
  (void)state;
  static const uint64_t seeds[] = {1, 42, 2024, 31337};
  for(size_t k = 0; k < CH_ARRAY_LEN(seeds); k++)
    run_differential(seeds[k], 5000);
}

/* Small texts, where every offset and position can be checked after every
 * edit, and edits keep crossing the single-chunk / several-chunk line. */
static void test_differential_small(void **state) {
  (void)state;
  rng r = {77};
  char scratch[64];
  ch_text *t = ch_text_new(NULL, 0, NULL);
  model m = {0};
  check_context = "small";
  for(int step = 0; step < 3000; step++) {
    uint32_t len = (uint32_t)m.n;
    uint32_t start = rng_below(&r, len + 2);
    uint32_t end = start + rng_below(&r, 4);
    size_t ins = random_text(&r, scratch, rng_below(&r, 6));
    if(len > 200) end += 20;
    check_eq(ch_text_replace(t, start, end, scratch, ins), CH_OK);
    model_replace(&m, start, end, scratch, ins);
    model_index(&m);
    check_eq(ch_text_line_count(t), m.lines);
    check_chunks(t, &m);
    if(step % 10 == 0) check_exhaustive(t, &m);
  }
  check_context = "";
  ch_text_free(t);
  model_release(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_too_large),
      cmocka_unit_test(test_line_counts),
      cmocka_unit_test(test_line_start),
      cmocka_unit_test(test_ascii_and_multibyte),
      cmocka_unit_test(test_astral_surrogates),
      cmocka_unit_test(test_combining_marks),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_clamping),
      cmocka_unit_test(test_snap_inside_code_point),
      cmocka_unit_test(test_replace_and_range),
      cmocka_unit_test(test_copy_and_append),
      cmocka_unit_test(test_crlf_at_boundary_by_replace),
      cmocka_unit_test(test_crlf_at_boundary_by_delete),
      cmocka_unit_test(test_crlf_at_boundary_by_emptied_chunk),
      cmocka_unit_test(test_crlf_at_initial_cut),
      cmocka_unit_test(test_utf8_across_boundary),
      cmocka_unit_test(test_edits_spanning_chunks),
      cmocka_unit_test(test_replace_whole_with_10mb),
      cmocka_unit_test(test_read_walk_matches_dup),
      cmocka_unit_test(test_replace_with_own_bytes),
      cmocka_unit_test(test_typing_grows_and_shrinks),
      cmocka_unit_test(test_differential),
      cmocka_unit_test(test_differential_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
