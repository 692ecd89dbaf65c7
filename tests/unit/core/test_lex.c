/* Tests of core/lex: the plain lexer shared by the builtin model and the
 * extraction. Each case lists the tokens exactly, as text and kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chorus/lex.h"
#include "chorus/util.h"

/* Lexes text as lang and compares with want: "kind:text" entries, kind one
 * of W N S O; returns the lexer's final `inside`. */
static bool expect_tokens(const char *lang_name, const char *text,
                          const char *const *want) {
  const ch_language *lang = lang_name ? ch_syntax_by_name(lang_name) : NULL;
  if(lang_name) assert_non_null(lang);
  ch_lexer lx;
  ch_lexer_init(&lx, lang, text, (uint32_t)strlen(text));
  uint32_t s, e, prev_end = 0;
  ch_lex_kind kind;
  size_t n = 0;
  while(ch_lex_next(&lx, &s, &e, &kind)) {
    assert_true(s >= prev_end && e > s && e <= strlen(text));
    prev_end = e;
    static const char kinds[] = "WNSO";
    char got[256];
    snprintf(got, sizeof(got), "%c:%.*s", kinds[kind], (int)(e - s), text + s);
    if(!want[n]) fail_msg("extra token %s in %s", got, text);
    if(strcmp(got, want[n]))
      fail_msg("token %zu of %s: got %s, want %s", n, text, got, want[n]);
    n++;
  }
  if(want[n]) fail_msg("missing token %s in %s", want[n], text);
  return lx.inside;
}

#define TOKENS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_words_numbers_operators(void **state) {
  (void)state;
  assert_false(
      expect_tokens("c", "int x_1 = a->b >>= 0x1Fu + 1.5e-3f;",
                    TOKENS("W:int", "W:x_1", "O:=", "W:a", "O:->", "W:b",
                           "O:>>=", "N:0x1Fu", "O:+", "N:1.5e-3f", "O:;")));
  /* Longest operator first; single bytes otherwise. */
  assert_false(expect_tokens(
      "javascript", "a === b !== c ?? d?.e => f >>>= 1 @ #",
      TOKENS("W:a", "O:===", "W:b", "O:!==", "W:c", "O:??", "W:d", "O:?.",
             "W:e", "O:=>", "W:f", "O:>>>=", "N:1", "O:@", "O:#")));
  /* Python: // is floor division, ... one token, $ and UTF-8 in words. */
  assert_false(expect_tokens(
      "python", "q = n // 2 ... x$ é1",
      TOKENS("W:q", "O:=", "W:n", "O://", "N:2", "O:...", "W:x$", "W:é1")));
}

static void test_strings(void **state) {
  (void)state;
  /* Prefixes, escapes, an escaped line break inside a string. */
  assert_false(expect_tokens("python",
                             "f\"a{b}\" r'\\d' b\"\\\"\" 'x\\\ny' u8\"z\"",
                             TOKENS("S:f\"a{b}\"", "S:r'\\d'", "S:b\"\\\"\"",
                                    "S:'x\\\ny'", "S:u8\"z\"")));
  /* Triple quotes, with a prefix too, spanning lines. */
  assert_false(expect_tokens(
      "python", "\"\"\"one\n\"two\"\n\"\"\" rb'''x''' s",
      TOKENS("S:\"\"\"one\n\"two\"\n\"\"\"", "S:rb'''x'''", "W:s")));
  /* A quote left open at a line break ends the token there. */
  assert_false(
      expect_tokens("c", "\"open\nnext", TOKENS("S:\"open", "W:next")));
  /* Template strings cross lines; a word too long to be a prefix is not. */
  assert_false(expect_tokens("javascript", "`a\n${b}` abc'd'",
                             TOKENS("S:`a\n${b}`", "W:abc", "S:'d'")));
}

/* JavaScript: `/` starts a regular expression where an operand may
 * start, and divides elsewhere. */
static void test_regex(void **state) {
  (void)state;
  assert_false(
      expect_tokens("javascript", "x = /a\\/b[/\"]c/gi.test(s) / 2",
                    TOKENS("W:x", "O:=", "S:/a\\/b[/\"]c/gi", "O:.", "W:test",
                           "O:(", "W:s", "O:)", "O:/", "N:2")));
  assert_false(
      expect_tokens("typescript", "a / b / (c) / d[0] / 2",
                    TOKENS("W:a", "O:/", "W:b", "O:/", "O:(", "W:c", "O:)",
                           "O:/", "W:d", "O:[", "N:0", "O:]", "O:/", "N:2")));
  assert_false(expect_tokens("tsx", "return /'/.source; f(/x/)",
                             TOKENS("W:return", "S:/'/", "O:.", "W:source",
                                    "O:;", "W:f", "O:(", "S:/x/", "O:)")));
  /* A `/` whose line ends first divides; Python has no regex literals. */
  assert_false(expect_tokens("javascript", "= /a\nb/",
                             TOKENS("O:=", "O:/", "W:a", "W:b", "O:/")));
  assert_false(expect_tokens("python", "x = /a/",
                             TOKENS("W:x", "O:=", "O:/", "W:a", "O:/")));
}

static void test_comments(void **state) {
  (void)state;
  /* C-like: line and block comments skipped; # starts a directive word. */
  assert_false(expect_tokens("c", "#include <a.h> // line\n/* block\n */ x # y",
                             TOKENS("W:#include", "O:<", "W:a", "O:.", "W:h",
                                    "O:>", "W:x", "O:#", "W:y")));
  /* Python: # comments, no block comments. */
  assert_false(expect_tokens("python", "x # c\n/* y */",
                             TOKENS("W:x", "O:/", "O:*", "W:y", "O:*", "O:/")));
  /* No language: C-like comments, # a byte. */
  assert_false(
      expect_tokens(NULL, "a /* b */ #c", TOKENS("W:a", "O:#", "W:c")));
}

static void test_inside(void **state) {
  (void)state;
  /* The text ends inside a string or a comment: the last token runs to the
   * end and `inside` says so. */
  assert_true(
      expect_tokens("python", "x = \"abc", TOKENS("W:x", "O:=", "S:\"abc")));
  assert_true(expect_tokens("python", "'''doc", TOKENS("S:'''doc")));
  assert_true(expect_tokens("c", "y /* open", TOKENS("W:y")));
  assert_true(expect_tokens("c", "y // open", TOKENS("W:y")));
  assert_false(expect_tokens("c", "y // closed\n", TOKENS("W:y")));
  assert_false(expect_tokens("c", "", TOKENS(NULL)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_words_numbers_operators),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_regex),
      cmocka_unit_test(test_comments),
      cmocka_unit_test(test_inside),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
