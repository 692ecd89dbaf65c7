/* Tests for lsp/documents.c: opening, changing and closing documents, the
 * size limit (all or nothing) and position encodings in changes. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "documents.h"

#define URI "file:///work/a.c"

/* ---- helpers ------------------------------------------------------------- */

static void expect_text(const ch_documents *docs, const char *uri,
                        const char *want) {
  ch_document *doc = ch_documents_get(docs, uri);
  assert_non_null(doc);
  uint32_t len = 0;
  char *got = ch_text_dup(doc->text, &len);
  if(len != strlen(want) || memcmp(got, want, len) != 0)
    fail_msg("%s: text is \"%s\", want \"%s\"", uri, got, want);
  ch_free(got);
}

static ch_change range(uint32_t l0, uint32_t c0, uint32_t l1, uint32_t c1,
                       const char *text) {
  ch_change c;
  memset(&c, 0, sizeof(c));
  c.whole = false;
  c.start = (ch_position){l0, c0};
  c.end = (ch_position){l1, c1};
  c.text = text;
  c.len = strlen(text);
  return c;
}

static ch_change whole(const char *text) {
  ch_change c;
  memset(&c, 0, sizeof(c));
  c.whole = true;
  c.text = text;
  c.len = strlen(text);
  return c;
}

static ch_status open_str(ch_documents *docs, const char *uri, int64_t version,
                          const char *text) {
  return ch_documents_open(docs, uri, "c", version, text, strlen(text));
}

/* ---- open / get / close -------------------------------------------------- */

static void test_open_get_close(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  assert_int_equal(ch_documents_count(&docs), 0);
  assert_null(ch_documents_get(&docs, URI));
  assert_int_equal(ch_documents_memory(&docs), 0);

  char text[] = "int main(void) { return 0; }\n";
  char uri[] = URI;
  char lang[] = "c";
  assert_int_equal(
      ch_documents_open(&docs, uri, lang, 3, text, sizeof(text) - 1), CH_OK);
  /* Everything was copied. */
  memset(text, '#', sizeof(text) - 1);
  uri[0] = 'X';
  lang[0] = 'X';
  ch_document *doc = ch_documents_get(&docs, URI);
  assert_non_null(doc);
  assert_string_equal(doc->uri, URI);
  assert_string_equal(doc->language_id, "c");
  assert_int_equal(doc->version, 3);
  expect_text(&docs, URI, "int main(void) { return 0; }\n");
  assert_int_equal(ch_documents_count(&docs), 1);
  assert_true(ch_documents_memory(&docs) > 0);
  /* URIs are exact: no normalisation. */
  assert_null(ch_documents_get(&docs, "file:///work/a.c/"));
  assert_null(ch_documents_get(&docs, "file:///work/A.c"));

  assert_int_equal(open_str(&docs, "file:///work/b.py", 1, ""), CH_OK);
  assert_int_equal(ch_documents_count(&docs), 2);
  expect_text(&docs, "file:///work/b.py", "");

  assert_int_equal(ch_documents_close(&docs, URI), CH_OK);
  assert_null(ch_documents_get(&docs, URI));
  assert_int_equal(ch_documents_count(&docs), 1);
  assert_int_equal(ch_documents_close(&docs, URI), CH_ERR_NOT_FOUND);
  assert_int_equal(ch_documents_close(&docs, "file:///never"),
                   CH_ERR_NOT_FOUND);
  ch_documents_release(&docs);
}

static void test_reopen_replaces(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  assert_int_equal(open_str(&docs, URI, 1, "old"), CH_OK);
  assert_int_equal(
      ch_documents_open(&docs, URI, "cpp", 7, "new text", strlen("new text")),
      CH_OK);
  assert_int_equal(ch_documents_count(&docs), 1);
  ch_document *doc = ch_documents_get(&docs, URI);
  assert_int_equal(doc->version, 7);
  assert_string_equal(doc->language_id, "cpp");
  expect_text(&docs, URI, "new text");
  /* Closing once closes it. */
  assert_int_equal(ch_documents_close(&docs, URI), CH_OK);
  assert_int_equal(ch_documents_count(&docs), 0);
  ch_documents_release(&docs);
}

/* Many documents at once, released with the set. */
static void test_many_documents(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF8, 1 << 20);
  for(int i = 0; i < 200; i++) {
    char *uri = ch_strdupf("file:///doc%d.txt", i);
    char *text = ch_strdupf("document %d\n", i);
    assert_int_equal(open_str(&docs, uri, i, text), CH_OK);
    ch_free(uri);
    ch_free(text);
  }
  assert_int_equal(ch_documents_count(&docs), 200);
  for(int i = 0; i < 200; i += 2) {
    char *uri = ch_strdupf("file:///doc%d.txt", i);
    assert_int_equal(ch_documents_close(&docs, uri), CH_OK);
    ch_free(uri);
  }
  assert_int_equal(ch_documents_count(&docs), 100);
  expect_text(&docs, "file:///doc151.txt", "document 151\n");
  ch_documents_release(&docs);
}

/* ---- changes ------------------------------------------------------------- */

static void test_change_whole(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  assert_int_equal(open_str(&docs, URI, 1, "before\n"), CH_OK);
  ch_change c = whole("after\nand more\n");
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_OK);
  expect_text(&docs, URI, "after\nand more\n");
  assert_int_equal(ch_documents_get(&docs, URI)->version, 2);
  c = whole("");
  assert_int_equal(ch_documents_change(&docs, URI, 3, &c, 1), CH_OK);
  expect_text(&docs, URI, "");
  ch_documents_release(&docs);
}

static void test_changes_apply_in_order(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  assert_int_equal(open_str(&docs, URI, 1, "hello world\n"), CH_OK);
  /* The second range is in the text the first produced: "goodbye world"
   * has "world" at 8..13, where the original has "rld\n". */
  ch_change cs[] = {range(0, 0, 0, 5, "goodbye"), range(0, 8, 0, 13, "there")};
  assert_int_equal(ch_documents_change(&docs, URI, 2, cs, 2), CH_OK);
  expect_text(&docs, URI, "goodbye there\n");
  assert_int_equal(ch_documents_get(&docs, URI)->version, 2);

  /* Whole then range: the range applies to the new whole text. */
  ch_change mixed[] = {whole("abc\ndef\n"), range(1, 0, 1, 3, "XYZ"),
                       range(0, 3, 1, 0, " ")};
  assert_int_equal(ch_documents_change(&docs, URI, 3, mixed, 3), CH_OK);
  expect_text(&docs, URI, "abc XYZ\n");

  /* Insertions and deletions across lines, as an editor sends them
   * while typing. */
  ch_change typing[] = {range(1, 0, 1, 0, "line two\n"),
                        range(0, 0, 0, 0, "// "), range(2, 0, 2, 0, "end"),
                        range(0, 3, 0, 7, "")};
  assert_int_equal(ch_documents_change(&docs, URI, 4, typing, 4), CH_OK);
  expect_text(&docs, URI, "// XYZ\nline two\nend");

  /* No changes: the version still moves. */
  assert_int_equal(ch_documents_change(&docs, URI, 5, NULL, 0), CH_OK);
  expect_text(&docs, URI, "// XYZ\nline two\nend");
  assert_int_equal(ch_documents_get(&docs, URI)->version, 5);
  ch_documents_release(&docs);
}

static void test_change_unknown_uri(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  ch_change c = whole("x");
  assert_int_equal(ch_documents_change(&docs, URI, 1, &c, 1), CH_ERR_NOT_FOUND);
  assert_int_equal(open_str(&docs, URI, 1, "a"), CH_OK);
  assert_int_equal(ch_documents_change(&docs, "file:///other", 2, &c, 1),
                   CH_ERR_NOT_FOUND);
  expect_text(&docs, URI, "a");
  assert_int_equal(ch_documents_get(&docs, URI)->version, 1);
  ch_documents_close(&docs, URI);
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_ERR_NOT_FOUND);
  ch_documents_release(&docs);
}

/* ---- the size limit ------------------------------------------------------ */

static void expect_untouched(const ch_documents *docs, const char *text,
                             int64_t version) {
  expect_text(docs, URI, text);
  assert_int_equal(ch_documents_get(docs, URI)->version, version);
}

static void test_open_over_limit(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 16);
  assert_int_equal(open_str(&docs, URI, 1, "0123456789abcdefX"),
                   CH_ERR_TOO_LARGE);
  assert_int_equal(ch_documents_count(&docs), 0);
  assert_null(ch_documents_get(&docs, URI));
  /* Exactly the limit is fine. */
  assert_int_equal(open_str(&docs, URI, 1, "0123456789abcdef"), CH_OK);
  /* A refused reopen keeps the open document. */
  assert_int_equal(open_str(&docs, URI, 2, "0123456789abcdefXY"),
                   CH_ERR_TOO_LARGE);
  expect_untouched(&docs, "0123456789abcdef", 1);
  ch_documents_release(&docs);
}

static void test_change_over_limit_refused(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 16);
  assert_int_equal(open_str(&docs, URI, 1, "0123456789"), CH_OK);

  ch_change c = whole("0123456789abcdefX");
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_ERR_TOO_LARGE);
  expect_untouched(&docs, "0123456789", 1);

  c = range(0, 10, 0, 10, "abcdefX"); /* 17 bytes */
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_ERR_TOO_LARGE);
  expect_untouched(&docs, "0123456789", 1);

  /* The first change fits, the second does not: neither applies. */
  ch_change cs[] = {range(0, 0, 0, 0, "ab"), range(0, 0, 0, 0, "cdefg")};
  assert_int_equal(ch_documents_change(&docs, URI, 2, cs, 2), CH_ERR_TOO_LARGE);
  expect_untouched(&docs, "0123456789", 1);

  /* A replacement that is net larger, over the limit. */
  c = range(0, 2, 0, 4, "ABCDEFGHI"); /* 10 - 2 + 9 = 17 */
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_ERR_TOO_LARGE);
  expect_untouched(&docs, "0123456789", 1);

  /* Growing to exactly the limit is fine. */
  c = range(0, 10, 0, 10, "abcdef");
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_OK);
  expect_untouched(&docs, "0123456789abcdef", 2);
  ch_documents_release(&docs);
}

/* The inserted bytes alone would pass the limit, but the ranges they
 * replace are large enough that the result fits: applied. */
static void test_change_net_result_fits(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 16);
  assert_int_equal(open_str(&docs, URI, 1, "0123456789abcdef"), CH_OK);

  ch_change c = range(0, 0, 0, 10, "ABCDEFGHIJ"); /* 16 + 10 > 16; net 16 */
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_OK);
  expect_untouched(&docs, "ABCDEFGHIJabcdef", 2);

  /* Several changes whose insertions add up to more than the limit, each
   * replacing most of the text. */
  ch_change cs[] = {range(0, 0, 0, 16, "twelve bytes"),   /* 12 */
                    range(0, 0, 0, 12, "fourteen bytes"), /* 14 */
                    range(0, 0, 0, 5, "16")};             /* 11 */
  assert_int_equal(ch_documents_change(&docs, URI, 3, cs, 3), CH_OK);
  expect_untouched(&docs, "16een bytes", 3);

  /* A whole replacement after a big insertion: only the end counts. */
  ch_change cw[] = {range(0, 0, 0, 11, "0123456789abcdef"), whole("small")};
  assert_int_equal(ch_documents_change(&docs, URI, 4, cw, 2), CH_OK);
  expect_untouched(&docs, "small", 4);
  ch_documents_release(&docs);
}

/* ---- encodings ----------------------------------------------------------- */

/* "a", "é" (2 bytes, 1 UTF-16 unit), "😀" (4 bytes, 2 UTF-16 units), "b". */
#define SAMPLE                                                                 \
  "a\xc3\xa9\xf0\x9f\x98\x80"                                                  \
  "b\n"                                                                        \
  "\xc3\xa9x\n"

static void test_utf16_positions(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  assert_int_equal(open_str(&docs, URI, 1, SAMPLE), CH_OK);
  /* 'b' is at UTF-16 column 4: a(1) é(1) 😀(2). */
  ch_change c = range(0, 4, 0, 5, "c");
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_OK);
  expect_text(&docs, URI,
              "a\xc3\xa9\xf0\x9f\x98\x80"
              "c\n\xc3\xa9x\n");
  /* The emoji is columns 2..4; replace it with non-ASCII text, then
   * insert after the replacement using positions in the new text. */
  ch_change cs[] = {range(0, 2, 0, 4, "\xe2\x82\xac"),     /* € : 1 unit */
                    range(0, 3, 0, 3, "\xf0\x9f\x8e\x89"), /* 🎉 after € */
                    range(1, 1, 1, 2, "y")};
  assert_int_equal(ch_documents_change(&docs, URI, 3, cs, 3), CH_OK);
  expect_text(&docs, URI,
              "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\x89"
              "c\n\xc3\xa9y\n");
  ch_documents_release(&docs);
}

static void test_utf8_positions(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF8, 1 << 20);
  assert_int_equal(open_str(&docs, URI, 1, SAMPLE), CH_OK);
  /* 'b' is at byte 7 in UTF-8: a(1) é(2) 😀(4). */
  ch_change c = range(0, 7, 0, 8, "c");
  assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_OK);
  expect_text(&docs, URI,
              "a\xc3\xa9\xf0\x9f\x98\x80"
              "c\n\xc3\xa9x\n");
  ch_change cs[] = {range(0, 3, 0, 7, "\xe2\x82\xac"),
                    range(0, 6, 0, 6, "\xf0\x9f\x8e\x89"),
                    range(1, 2, 1, 3, "y")};
  assert_int_equal(ch_documents_change(&docs, URI, 3, cs, 3), CH_OK);
  expect_text(&docs, URI,
              "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\x89"
              "c\n\xc3\xa9y\n");
  ch_documents_release(&docs);
}

/* The same edit, sent in each encoding's units, gives the same text. */
static void test_same_edit_every_encoding(void **state) {
  (void)state;
  static const struct {
    ch_encoding enc;
    uint32_t start, end; /* of the emoji on line 0 */
  } cases[] = {{CH_ENC_UTF8, 3, 7}, {CH_ENC_UTF16, 2, 4}, {CH_ENC_UTF32, 2, 3}};
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    ch_documents docs;
    ch_documents_init(&docs, cases[i].enc, 1 << 20);
    assert_int_equal(open_str(&docs, URI, 1, SAMPLE), CH_OK);
    ch_change c = range(0, cases[i].start, 0, cases[i].end, "\xc3\xbc");
    assert_int_equal(ch_documents_change(&docs, URI, 2, &c, 1), CH_OK);
    expect_text(&docs, URI,
                "a\xc3\xa9\xc3\xbc"
                "b\n\xc3\xa9x\n");
    ch_documents_release(&docs);
  }
}

/* Positions past the end clamp, as LSP asks: a character past the line
 * end is the line end, a line past the last is the end of the text. */
static void test_change_positions_clamp(void **state) {
  (void)state;
  ch_documents docs;
  ch_documents_init(&docs, CH_ENC_UTF16, 1 << 20);
  assert_int_equal(open_str(&docs, URI, 1, "ab\ncd"), CH_OK);
  ch_change cs[] = {range(0, 99, 0, 99, "!"), range(99, 0, 99, 5, "?")};
  assert_int_equal(ch_documents_change(&docs, URI, 2, cs, 2), CH_OK);
  expect_text(&docs, URI, "ab!\ncd?");
  ch_documents_release(&docs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_get_close),
      cmocka_unit_test(test_reopen_replaces),
      cmocka_unit_test(test_many_documents),
      cmocka_unit_test(test_change_whole),
      cmocka_unit_test(test_changes_apply_in_order),
      cmocka_unit_test(test_change_unknown_uri),
      cmocka_unit_test(test_open_over_limit),
      cmocka_unit_test(test_change_over_limit_refused),
      cmocka_unit_test(test_change_net_result_fits),
      cmocka_unit_test(test_utf16_positions),
      cmocka_unit_test(test_utf8_positions),
      cmocka_unit_test(test_same_edit_every_encoding),
      cmocka_unit_test(test_change_positions_clamp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
