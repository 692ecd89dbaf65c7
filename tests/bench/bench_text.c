/*
 * bench_text.c: how many incremental edits per second ch_text sustains.
 *
 * The server's budget is 100,000 edits a second including JSON parsing, so
 * the text's share (two position-to-offset conversions and one replace, as
 * for every didChange range) must stay well under 5 microseconds on a
 * large file. This builds a 100,000-line, code-like document (about 40
 * bytes a line, 4 MB) and times two editing patterns, each over five
 * repetitions on a fresh copy of the document:
 *
 *   typing   insert or backspace one character at a cursor that moves as
 *            an editor's does (with a newline now and then, and a jump to
 *            another line every few thousand edits);
 *   random   a small insert or delete on a random line, anywhere in the
 *            file, so no lookup is helped by the previous one.
 *
 * Positions are LSP (line, UTF-16 character) pairs turned into offsets
 * with ch_text_offset, as the server does. Prints one line per pattern:
 * median, slowest and fastest repetition in edits per second.
 *
 * Usage: bench_text [edits per repetition]
 */
#include "chorus/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LINES = 100000, REPS = 5, DEFAULT_EDITS = 300000 };

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
  return (uint32_t)(rng_next(r) % n);
}

/* A C-like file: nested indentation, statements, calls, comments, some
 * blank lines and a few non-ASCII characters in comments. */
static char *make_document(size_t *len) {
  static const char *const stmts[] = {
      "int value_%u = compute_total(ctx, %u, flags);",
      "if(result != CH_OK) goto cleanup;",
      "for(size_t i = 0; i < items_%u.count; i++) {",
      "}",
      "/* r\xC3\xA9sum\xC3\xA9 of step %u: see the design note above */",
      "ch_buf_append(&out, name_%u, strlen(name_%u));",
      "return self->items[%u].weight * scale;",
      "",
      "static void helper_%u(ch_text *self, int depth) {",
      "total += weights[%u] * 3 - offsets[i];",
  };
  ch_buf b;
  ch_buf_init(&b, (size_t)1 << 30);
  rng r = {12345};
  for(uint32_t line = 0; line < LINES; line++) {
    uint32_t depth = rng_below(&r, 4) * 2;
    uint32_t pick = rng_below(&r, (uint32_t)CH_ARRAY_LEN(stmts));
    uint32_t n = rng_below(&r, 1000);
    for(uint32_t k = 0; k < depth; k++)
      ch_buf_append_char(&b, ' ');
    ch_buf_appendf(&b, stmts[pick], n, n);
    ch_buf_append_char(&b, '\n');
  }
  return ch_buf_detach(&b, len);
}

/* Edits per second of one typing session of `edits` edits. */
static double run_typing(ch_text *t, uint32_t edits, rng *r) {
  uint32_t lines = ch_text_line_count(t);
  ch_position cursor = {rng_below(r, lines), 4};
  uint32_t typed = 0;
  uint64_t t0 = ch_now_ns();
  for(uint32_t k = 0; k < edits; k++) {
    if(k % 5000 == 4999) { /* the user clicks elsewhere */
      cursor.line = rng_below(r, lines);
      cursor.character = 4;
    }
    uint32_t roll = rng_below(r, 100);
    ch_position from = cursor, to = cursor;
    const char *ins = "x";
    size_t len = 1;
    if(roll < 15 && cursor.character > 0) { /* backspace */
      from.character--;
      ins = "";
      len = 0;
      cursor.character--;
    } else if(++typed % 40 == 0) { /* enter */
      ins = "\n";
      cursor.line++;
      cursor.character = 0;
      lines++;
    } else {
      cursor.character++;
    }
    uint32_t a = ch_text_offset(t, from, CH_ENC_UTF16);
    uint32_t b = ch_text_offset(t, to, CH_ENC_UTF16);
    ch_text_replace(t, a, b, ins, len);
  }
  uint64_t dt = ch_now_ns() - t0;
  return edits / (dt / 1e9);
}

/* Edits per second of `edits` small edits at random lines. */
static double run_random(ch_text *t, uint32_t edits, rng *r) {
  uint32_t lines = ch_text_line_count(t);
  uint64_t t0 = ch_now_ns();
  for(uint32_t k = 0; k < edits; k++) {
    ch_position from = {rng_below(r, lines), rng_below(r, 40)};
    ch_position to = from;
    const char *ins = "ab";
    size_t len = 1 + (k & 1);
    if(k % 3 == 2) { /* delete up to three characters */
      to.character += 3;
      ins = "";
      len = 0;
    }
    uint32_t a = ch_text_offset(t, from, CH_ENC_UTF16);
    uint32_t b = ch_text_offset(t, to, CH_ENC_UTF16);
    ch_text_replace(t, a, b, ins, len);
  }
  uint64_t dt = ch_now_ns() - t0;
  return edits / (dt / 1e9);
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *name, double *rates) {
  qsort(rates, REPS, sizeof(*rates), compare_double);
  double median = rates[REPS / 2];
  printf("%-8s median %10.0f edits/s  min %10.0f  max %10.0f  "
         "(%.0f ns/edit)\n",
         name, median, rates[0], rates[REPS - 1], 1e9 / median);
}

int main(int argc, char **argv) {
  uint32_t edits = DEFAULT_EDITS;
  if(argc > 1) edits = (uint32_t)strtoul(argv[1], NULL, 10);
  if(edits == 0) edits = DEFAULT_EDITS;

  size_t len;
  char *doc = make_document(&len);
  ch_text *probe = ch_text_new(doc, len, NULL);
  printf("document: %u lines, %zu bytes, %zu bytes of heap; %u edits per "
         "repetition\n",
         ch_text_line_count(probe) - 1, len, ch_text_memory(probe), edits);
  ch_text_free(probe);

  double typing[REPS], random[REPS];
  rng r = {2024};
  for(int rep = 0; rep < REPS; rep++) {
    ch_text *t = ch_text_new(doc, len, NULL);
    typing[rep] = run_typing(t, edits, &r);
    ch_text_free(t);
    t = ch_text_new(doc, len, NULL);
    random[rep] = run_random(t, edits, &r);
    ch_text_free(t);
  }
  report("typing", typing);
  report("random", random);
  ch_free(doc);
  return 0;
}
