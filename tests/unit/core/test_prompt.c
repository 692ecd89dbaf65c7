/* Tests for core/src/prompt.c: FIM templates of every family (expected
 * strings written by hand from the reference table, byte for byte), the
 * repository-level layouts, the comment-block fallback, custom templates,
 * stop strings, chat prompts and the extraction of code from chat replies. */
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

#include "chorus/prompt.h"

/* An input with prefix and suffix from C strings. */
static ch_prompt_input input(const char *prefix, const char *suffix) {
  ch_prompt_input in = {0};
  in.prefix = prefix;
  in.prefix_len = strlen(prefix);
  in.suffix = suffix;
  in.suffix_len = strlen(suffix);
  return in;
}

/* Renders with the named family and compares byte for byte. */
static void expect_fim(const char *family, const ch_prompt_input *in,
                       const char *want) {
  ch_fim_template t;
  ch_buf err, out;
  ch_buf_init(&err, 4096);
  ch_buf_init(&out, 1 << 20);
  assert_int_equal(ch_fim_template_init(&t, family, &err), CH_OK);
  assert_int_equal(err.len, 0);
  assert_int_equal(ch_prompt_fim(&t, in, &out), CH_OK);
  if(strlen(want) != out.len || memcmp(out.data, want, out.len)) {
    print_error("family %s:\n got: [%s]\nwant: [%s]\n", family,
                out.data ? out.data : "", want);
    fail();
  }
  ch_fim_template_release(&t);
  ch_buf_release(&err);
  ch_buf_release(&out);
}

/* ---- families ------------------------------------------------------------ */

static void test_fim_every_family(void **state) {
  (void)state;
  ch_prompt_input in = input("int a = ", ";\n");
  expect_fim("starcoder", &in,
             "<fim_prefix>int a = <fim_suffix>;\n<fim_middle>");
  expect_fim("starcoder2", &in,
             "<fim_prefix>int a = <fim_suffix>;\n<fim_middle>");
  /* CodeLlama: a space after <PRE> and before <SUF> and <MID>. */
  expect_fim("codellama", &in, "<PRE> int a =  <SUF>;\n <MID>");
  expect_fim("codellama-spm", &in, "<PRE> <SUF>;\n <MID> int a = ");
  /* DeepSeek: full-width vertical bars and U+2581, as UTF-8 here. */
  expect_fim("deepseek", &in,
             "<｜fim▁begin｜>int a = <｜fim▁hole｜>;\n<｜fim▁end｜>");
  expect_fim("qwen", &in,
             "<|fim_prefix|>int a = <|fim_suffix|>;\n<|fim_middle|>");
  expect_fim("codestral", &in, "[SUFFIX];\n[PREFIX]int a = ");
  expect_fim("codegemma", &in,
             "<|fim_prefix|>int a = <|fim_suffix|>;\n<|fim_middle|>");
  expect_fim("granite", &in, "<fim_prefix>int a = <fim_suffix>;\n<fim_middle>");
  expect_fim("none", &in, "int a = ");
  /* Empty prefix and suffix, and text that looks like a template. */
  ch_prompt_input empty = input("", "");
  expect_fim("codellama", &empty, "<PRE>  <SUF> <MID>");
  ch_prompt_input braces = input("f = {prefix}", "{{x}}");
  expect_fim("qwen", &braces,
             "<|fim_prefix|>f = {prefix}<|fim_suffix|>{{x}}<|fim_middle|>");
  /* Bytes are bytes: a NUL in the prefix goes through. */
  ch_prompt_input nul = {
      .prefix = "a\0b", .prefix_len = 3, .suffix = "", .suffix_len = 0};
  ch_fim_template t;
  ch_buf out;
  ch_buf_init(&out, 1024);
  assert_int_equal(ch_fim_template_init(&t, "granite", NULL), CH_OK);
  assert_int_equal(ch_prompt_fim(&t, &nul, &out), CH_OK);
  assert_int_equal(out.len, strlen("<fim_prefix>") + 3 +
                                strlen("<fim_suffix><fim_middle>"));
  assert_memory_equal(out.data + strlen("<fim_prefix>"), "a\0b", 3);
  ch_fim_template_release(&t);
  ch_buf_release(&out);
}

static void expect_stops(const char *family, const char *const *want) {
  ch_fim_template t;
  assert_int_equal(ch_fim_template_init(&t, family, NULL), CH_OK);
  assert_non_null(t.stops);
  size_t i = 0;
  for(; want[i]; i++) {
    assert_non_null(t.stops[i]);
    assert_string_equal(t.stops[i], want[i]);
  }
  assert_null(t.stops[i]);
  ch_fim_template_release(&t);
  assert_null(t.stops);
}

#define STOPS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_fim_stops(void **state) {
  (void)state;
  expect_stops("starcoder", STOPS("<file_sep>", "<|endoftext|>"));
  expect_stops("starcoder2", STOPS("<file_sep>", "<|endoftext|>"));
  expect_stops("codellama", STOPS("<EOT>"));
  expect_stops("codellama-spm", STOPS("<EOT>"));
  expect_stops("deepseek", STOPS("<｜end▁of▁sentence｜>"));
  expect_stops("qwen", STOPS("<|endoftext|>", "<|fim_pad|>", "<|repo_name|>",
                             "<|file_sep|>", "<|im_start|>", "<|im_end|>"));
  expect_stops("codestral", STOPS("[PREFIX]", "[SUFFIX]"));
  expect_stops("codegemma",
               STOPS("<|file_separator|>", "<end_of_turn>", "<eos>"));
  expect_stops("granite", STOPS("<fim_pad>"));
  ch_fim_template t;
  assert_int_equal(ch_fim_template_init(&t, "none", NULL), CH_OK);
  assert_null(t.stops[0]);
  /* Stops from config come after the family's; duplicates and empty strings
   * are dropped. */
  ch_fim_template_add_stops(&t, STOPS("\n\n", "", "\n\n", "```"));
  assert_string_equal(t.stops[0], "\n\n");
  assert_string_equal(t.stops[1], "```");
  assert_null(t.stops[2]);
  ch_fim_template_release(&t);
  assert_int_equal(ch_fim_template_init(&t, "codellama", NULL), CH_OK);
  ch_fim_template_add_stops(&t, STOPS("<EOT>", "\n}"));
  assert_string_equal(t.stops[0], "<EOT>");
  assert_string_equal(t.stops[1], "\n}");
  assert_null(t.stops[2]);
  ch_fim_template_release(&t);
}

static void test_fim_names(void **state) {
  (void)state;
  assert_string_equal(ch_fim_family_name(CH_FIM_NONE), "none");
  assert_string_equal(ch_fim_family_name(CH_FIM_STARCODER), "starcoder");
  assert_string_equal(ch_fim_family_name(CH_FIM_CODELLAMA), "codellama");
  assert_string_equal(ch_fim_family_name(CH_FIM_CODELLAMA_SPM),
                      "codellama-spm");
  assert_string_equal(ch_fim_family_name(CH_FIM_DEEPSEEK), "deepseek");
  assert_string_equal(ch_fim_family_name(CH_FIM_QWEN), "qwen");
  assert_string_equal(ch_fim_family_name(CH_FIM_CODESTRAL), "codestral");
  assert_string_equal(ch_fim_family_name(CH_FIM_CODEGEMMA), "codegemma");
  assert_string_equal(ch_fim_family_name(CH_FIM_GRANITE), "granite");
  assert_string_equal(ch_fim_family_name(CH_FIM_CUSTOM), "custom");
  assert_string_equal(ch_fim_family_name((ch_fim_family)99), "unknown");

  ch_fim_template t;
  assert_int_equal(ch_fim_template_init(&t, "starcoder2", NULL), CH_OK);
  assert_int_equal(t.family, CH_FIM_STARCODER);
  ch_fim_template_release(&t);
  assert_int_equal(ch_fim_template_init(&t, "codellama-spm", NULL), CH_OK);
  assert_int_equal(t.family, CH_FIM_CODELLAMA_SPM);
  ch_fim_template_release(&t);

  ch_buf err;
  ch_buf_init(&err, 4096);
  ch_buf_append_str(&err, "config: ");
  assert_int_equal(ch_fim_template_init(&t, "gpt-fim", &err), CH_ERR_NOT_FOUND);
  assert_string_equal(err.data,
                      "config: unknown fim template \"gpt-fim\" (known: "
                      "starcoder, starcoder2, codellama, codellama-spm, "
                      "deepseek, qwen, codestral, codegemma, granite, none)");
  assert_null(t.stops);
  ch_fim_template_release(&t); /* safe on a failed init */
  /* Names are exact. */
  assert_int_equal(ch_fim_template_init(&t, "Qwen", NULL), CH_ERR_NOT_FOUND);
  assert_int_equal(ch_fim_template_init(&t, "", NULL), CH_ERR_NOT_FOUND);
  ch_buf_reset(&err);
  assert_int_equal(ch_fim_template_init(&t, NULL, &err), CH_ERR_INVALID);
  assert_string_equal(err.data, "fim template name is missing");
  ch_buf_release(&err);
}

/* ---- repository-level layouts and the comment block ---------------------- */

static const ch_prompt_file two_files[] = {
    {"lib/book.py", "class Book:\n    pass\n", 21},
    {"lib/shelf.py", "from lib.book import Book\n\nSHELF = []", 37},
};

static ch_prompt_input with_files(void) {
  ch_prompt_input in = input("def add(b):\n    ", "\n");
  in.path = "lib/main.py";
  in.language = "python";
  in.repo = "library";
  in.files = two_files;
  in.nfiles = 2;
  return in;
}

static void test_fim_qwen_repo_level(void **state) {
  (void)state;
  ch_prompt_input in = with_files();
  expect_fim("qwen", &in,
             "<|repo_name|>library\n"
             "<|file_sep|>lib/book.py \n"
             "class Book:\n    pass\n\n"
             "<|file_sep|>lib/shelf.py \n"
             "from lib.book import Book\n\nSHELF = []\n"
             "<|file_sep|>lib/main.py \n"
             "<|fim_prefix|>def add(b):\n    <|fim_suffix|>\n<|fim_middle|>");
  /* Without a repository name or a path those headers are left out. */
  in.repo = NULL;
  in.path = NULL;
  in.nfiles = 1;
  expect_fim("qwen", &in,
             "<|file_sep|>lib/book.py \n"
             "class Book:\n    pass\n\n"
             "<|fim_prefix|>def add(b):\n    <|fim_suffix|>\n<|fim_middle|>");
}

static void test_fim_starcoder_repo_level(void **state) {
  (void)state;
  ch_prompt_input in = with_files();
  const char *want = "<repo_name>library"
                     "<file_sep>lib/book.py\n"
                     "class Book:\n    pass\n"
                     "<file_sep>lib/shelf.py\n"
                     "from lib.book import Book\n\nSHELF = []"
                     "<file_sep>lib/main.py\n"
                     "<fim_prefix>def add(b):\n    <fim_suffix>\n<fim_middle>";
  expect_fim("starcoder2", &in, want);
  expect_fim("starcoder", &in, want);
}

static void test_fim_comment_block_fallback(void **state) {
  (void)state;
  ch_prompt_input in = with_files();
  const char *block = "# path: lib/book.py\n"
                      "# class Book:\n"
                      "#     pass\n"
                      "# path: lib/shelf.py\n"
                      "# from lib.book import Book\n"
                      "#\n"
                      "# SHELF = []\n";
  char want[1024];
  snprintf(want, sizeof(want), "<PRE> %sdef add(b):\n     <SUF>\n <MID>",
           block);
  expect_fim("codellama", &in, want);
  snprintf(want, sizeof(want), "<PRE> <SUF>\n <MID> %sdef add(b):\n    ",
           block);
  expect_fim("codellama-spm", &in, want);
  snprintf(want, sizeof(want), "[SUFFIX]\n[PREFIX]%sdef add(b):\n    ", block);
  expect_fim("codestral", &in, want);
  snprintf(want, sizeof(want),
           "<｜fim▁begin｜>%sdef add(b):\n    <｜fim▁hole｜>\n<｜fim▁end｜>",
           block);
  expect_fim("deepseek", &in, want);
  snprintf(want, sizeof(want),
           "<|fim_prefix|>%sdef add(b):\n    <|fim_suffix|>\n<|fim_middle|>",
           block);
  expect_fim("codegemma", &in, want);
  snprintf(want, sizeof(want),
           "<fim_prefix>%sdef add(b):\n    <fim_suffix>\n<fim_middle>", block);
  expect_fim("granite", &in, want);
  /* "none": the block and the prefix only (the API takes the suffix). */
  snprintf(want, sizeof(want), "%sdef add(b):\n    ", block);
  expect_fim("none", &in, want);

  /* The block alone, in another language's syntax. */
  ch_buf out;
  ch_buf_init(&out, 4096);
  in.language = "lua";
  assert_int_equal(ch_prompt_files_block(&in, &out), CH_OK);
  assert_string_equal(out.data, "-- path: lib/book.py\n"
                                "-- class Book:\n"
                                "--     pass\n"
                                "-- path: lib/shelf.py\n"
                                "-- from lib.book import Book\n"
                                "--\n"
                                "-- SHELF = []\n");
  /* No files: nothing. */
  ch_buf_reset(&out);
  in.nfiles = 0;
  assert_int_equal(ch_prompt_files_block(&in, &out), CH_OK);
  assert_int_equal(out.len, 0);
  ch_buf_release(&out);
}

static void test_comment_markers(void **state) {
  (void)state;
  assert_string_equal(ch_prompt_comment_marker("c"), "//");
  assert_string_equal(ch_prompt_comment_marker("cpp"), "//");
  assert_string_equal(ch_prompt_comment_marker("typescript"), "//");
  assert_string_equal(ch_prompt_comment_marker("go"), "//");
  assert_string_equal(ch_prompt_comment_marker("rust"), "//");
  assert_string_equal(ch_prompt_comment_marker("python"), "#");
  assert_string_equal(ch_prompt_comment_marker("ruby"), "#");
  assert_string_equal(ch_prompt_comment_marker("bash"), "#");
  assert_string_equal(ch_prompt_comment_marker("lua"), "--");
  assert_string_equal(ch_prompt_comment_marker("sql"), "--");
  assert_string_equal(ch_prompt_comment_marker("haskell"), "--");
  assert_string_equal(ch_prompt_comment_marker("clojure"), ";;");
  assert_string_equal(ch_prompt_comment_marker("erlang"), "%");
  assert_string_equal(ch_prompt_comment_marker("no-such-language"), "//");
  assert_string_equal(ch_prompt_comment_marker(NULL), "//");
}

static void test_fim_too_large(void **state) {
  (void)state;
  ch_prompt_input in = with_files();
  ch_fim_template t;
  ch_buf out;
  assert_int_equal(ch_fim_template_init(&t, "qwen", NULL), CH_OK);
  ch_buf_init(&out, 40);
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_ERR_TOO_LARGE);
  assert_true(out.len <= 40);
  ch_fim_template_release(&t);
  assert_int_equal(ch_fim_template_init(&t, "codellama", NULL), CH_OK);
  ch_buf_release(&out);
  ch_buf_init(&out, 60);
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_ERR_TOO_LARGE);
  /* Without files it fits. */
  ch_buf_reset(&out);
  in.nfiles = 0;
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_OK);
  ch_fim_template_release(&t);
  ch_buf_release(&out);
}

/* ---- custom templates -----------------------------------------------------
 */

static void test_custom_template(void **state) {
  (void)state;
  ch_fim_template t;
  ch_buf err, out;
  ch_buf_init(&err, 4096);
  ch_buf_init(&out, 4096);
  assert_int_equal(
      ch_fim_template_init_custom(&t,
                                  "{{repo: {repo}}} {files}<file "
                                  "{path}>\n<pre>{prefix}<suf>{suffix}<mid>",
                                  STOPS("<end>", "", "<end>"), &err),
      CH_OK);
  assert_int_equal(t.family, CH_FIM_CUSTOM);
  assert_string_equal(t.stops[0], "<end>");
  assert_null(t.stops[1]);
  ch_prompt_input in = with_files();
  in.nfiles = 1;
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_OK);
  assert_string_equal(out.data, "{repo: library} # path: lib/book.py\n"
                                "# class Book:\n"
                                "#     pass\n"
                                "<file lib/main.py>\n"
                                "<pre>def add(b):\n    <suf>\n<mid>");
  ch_fim_template_release(&t);
  assert_null(t.custom);

  /* No {files}: the block goes just before the prefix; no stops given. */
  assert_int_equal(
      ch_fim_template_init_custom(&t, "<s>[{suffix}]{prefix}", NULL, &err),
      CH_OK);
  assert_null(t.stops[0]);
  ch_buf_reset(&out);
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_OK);
  assert_string_equal(out.data, "<s>[\n]# path: lib/book.py\n"
                                "# class Book:\n"
                                "#     pass\n"
                                "def add(b):\n    ");
  /* NULL path and repo render as nothing. */
  ch_fim_template_release(&t);
  assert_int_equal(ch_fim_template_init_custom(
                       &t, "{path}|{repo}|{prefix}|{suffix}", NULL, &err),
                   CH_OK);
  in.path = NULL;
  in.repo = NULL;
  in.nfiles = 0;
  ch_buf_reset(&out);
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_OK);
  assert_string_equal(out.data, "||def add(b):\n    |\n");
  ch_fim_template_release(&t);
  assert_int_equal(err.len, 0);
  ch_buf_release(&err);
  ch_buf_release(&out);
}

static void expect_bad_template(const char *text, const char *want_error) {
  ch_fim_template t;
  ch_buf err;
  ch_buf_init(&err, 4096);
  assert_int_equal(ch_fim_template_init_custom(&t, text, NULL, &err),
                   CH_ERR_INVALID);
  assert_non_null(err.data);
  assert_string_equal(err.data, want_error);
  assert_null(t.custom);
  ch_fim_template_release(&t);
  ch_buf_release(&err);
}

static void test_custom_template_errors(void **state) {
  (void)state;
  expect_bad_template("<pre>{prefix}<mid>",
                      "fim template: no {suffix} (a template needs both "
                      "{prefix} and {suffix})");
  expect_bad_template("{suffix}",
                      "fim template: no {prefix} (a template needs both "
                      "{prefix} and {suffix})");
  expect_bad_template("{prefix}{suffix}{cursor}",
                      "fim template: unknown placeholder \"{cursor}\" (known: "
                      "{prefix}, {suffix}, {files}, {path}, {repo})");
  expect_bad_template("{Prefix}{suffix}",
                      "fim template: unknown placeholder \"{Prefix}\" (known: "
                      "{prefix}, {suffix}, {files}, {path}, {repo})");
  expect_bad_template("{prefix}{suffix}{",
                      "fim template: \"{\" at byte 16 is not closed (write "
                      "\"{{\" for a literal brace)");
  expect_bad_template("{pre{prefix}{suffix}",
                      "fim template: \"{\" at byte 0 is not closed (write "
                      "\"{{\" for a literal brace)");
  expect_bad_template("{prefix}}{suffix}",
                      "fim template: \"}\" at byte 8 has no \"{\" (write "
                      "\"}}\" for a literal brace)");
  /* Escaped braces are not placeholders: {{prefix}} is literal text. */
  expect_bad_template("{{prefix}}{suffix}",
                      "fim template: no {prefix} (a template needs both "
                      "{prefix} and {suffix})");
  ch_fim_template t;
  ch_buf err;
  ch_buf_init(&err, 64);
  assert_int_equal(ch_fim_template_init_custom(&t, NULL, NULL, &err),
                   CH_ERR_INVALID);
  assert_string_equal(err.data, "fim template text is missing");
  ch_buf_release(&err);
  /* error may be NULL. */
  assert_int_equal(ch_fim_template_init_custom(&t, "{x}", NULL, NULL),
                   CH_ERR_INVALID);
}

static void test_custom_template_escapes(void **state) {
  (void)state;
  ch_fim_template t;
  ch_buf out;
  ch_buf_init(&out, 4096);
  assert_int_equal(ch_fim_template_init_custom(
                       &t, "{{{{{prefix}}}}}{{}}{suffix}{{", NULL, NULL),
                   CH_OK);
  ch_prompt_input in = input("P", "S");
  assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_OK);
  assert_string_equal(out.data, "{{P}}{}S{");
  ch_fim_template_release(&t);
  ch_buf_release(&out);
}

/* ---- stop strings ---------------------------------------------------------
 */

static void test_stop_at(void **state) {
  (void)state;
  const char *const *stops = STOPS("<|endoftext|>", "<|file_sep|>", "\n\n");
  size_t partial = 99;
  const char *t = "x = 1<|file_sep|>y<|endoftext|>";
  assert_int_equal(ch_prompt_stop_at(t, strlen(t), stops, &partial), 5);
  assert_int_equal(partial, 0);
  /* The earliest stop wins whatever its place in the list. */
  t = "a\n\nb<|endoftext|>";
  assert_int_equal(ch_prompt_stop_at(t, strlen(t), stops, &partial), 1);
  /* None: len, and the held-back tail. */
  t = "return x<|endof";
  assert_int_equal(ch_prompt_stop_at(t, strlen(t), stops, &partial), strlen(t));
  assert_int_equal(partial, strlen("<|endof"));
  t = "return x\n";
  assert_int_equal(ch_prompt_stop_at(t, strlen(t), stops, &partial), strlen(t));
  assert_int_equal(partial, 1);
  t = "return x<";
  ch_prompt_stop_at(t, strlen(t), stops, &partial);
  assert_int_equal(partial, 1);
  t = "return x";
  ch_prompt_stop_at(t, strlen(t), stops, &partial);
  assert_int_equal(partial, 0);
  /* A whole stop at the very end is a match, not a partial. */
  t = "x<|file_sep|>";
  assert_int_equal(ch_prompt_stop_at(t, strlen(t), stops, &partial), 1);
  assert_int_equal(partial, 0);
  /* The longest partial among stops; the partial may be the whole text. */
  const char *const *two = STOPS("<EOT>", "<E");
  t = "ab<";
  ch_prompt_stop_at(t, strlen(t), two, &partial);
  assert_int_equal(partial, 1);
  t = "<EO";
  assert_int_equal(ch_prompt_stop_at(t, 3, two, &partial), 0); /* "<E" */
  assert_int_equal(partial, 0);
  t = "<";
  assert_int_equal(ch_prompt_stop_at(t, 1, STOPS("<EOT>"), &partial), 1);
  assert_int_equal(partial, 1);
  /* Empty text, empty list, NULL list, empty stop, NULL partial. */
  assert_int_equal(ch_prompt_stop_at("", 0, stops, &partial), 0);
  assert_int_equal(partial, 0);
  assert_int_equal(ch_prompt_stop_at("abc", 3, STOPS(NULL), &partial), 3);
  assert_int_equal(ch_prompt_stop_at("abc", 3, NULL, &partial), 3);
  assert_int_equal(partial, 0);
  assert_int_equal(ch_prompt_stop_at("abc", 3, STOPS("", "c"), NULL), 2);
  /* Text with NULs is searched by length. */
  assert_int_equal(ch_prompt_stop_at("a\0b<EOT>", 8, STOPS("<EOT>"), NULL), 3);
}

/* ---- chat prompts ---------------------------------------------------------
 */

static void test_chat_prompt(void **state) {
  (void)state;
  ch_prompt_input in = with_files();
  in.nfiles = 1;
  ch_buf sys, user;
  ch_buf_init(&sys, 1 << 16);
  ch_buf_init(&user, 1 << 16);
  assert_int_equal(ch_prompt_chat(&in, &sys, &user), CH_OK);
  assert_non_null(strstr(sys.data, CH_PROMPT_HOLE));
  assert_non_null(strstr(sys.data, "only the code"));
  assert_string_equal(user.data,
                      "Other files of the repository, for context:\n\n"
                      "lib/book.py:\n"
                      "```python\n"
                      "class Book:\n    pass\n"
                      "```\n\n"
                      "Fill in the hole <CURSOR> in lib/main.py:\n"
                      "```python\n"
                      "def add(b):\n    <CURSOR>\n"
                      "```\n");
  /* Code holding a fence gets a longer one; no path, no language. */
  ch_buf_reset(&user);
  ch_buf_reset(&sys);
  ch_prompt_input md = input("s = \"\"\"\n```\n", "\"\"\"");
  assert_int_equal(ch_prompt_chat(&md, &sys, &user), CH_OK);
  assert_string_equal(user.data, "Fill in the hole <CURSOR>:\n"
                                 "````\n"
                                 "s = \"\"\"\n```\n<CURSOR>\"\"\"\n"
                                 "````\n");
  /* Out of room. */
  ch_buf small;
  ch_buf_init(&small, 10);
  ch_buf_reset(&user);
  assert_int_equal(ch_prompt_chat(&in, &small, &user), CH_ERR_TOO_LARGE);
  ch_buf_release(&small);
  ch_buf_release(&sys);
  ch_buf_release(&user);
}

/* ---- chat answers ---------------------------------------------------------
 */

static void expect_answer(const char *reply, const ch_prompt_input *in,
                          const char *want) {
  ch_buf out;
  ch_buf_init(&out, 1 << 16);
  assert_int_equal(ch_prompt_chat_answer(reply, strlen(reply), in, &out),
                   CH_OK);
  const char *got = out.data ? out.data : "";
  if(strcmp(got, want) != 0) {
    print_error("reply:\n%s\n got: [%s]\nwant: [%s]\n", reply, got, want);
    fail();
  }
  ch_buf_release(&out);
}

static void test_chat_answer_shapes(void **state) {
  (void)state;
  ch_prompt_input in =
      input("import math\n\ndef add(a, b):\n    ", "\n\nprint(add(1, 2))\n");
  in.language = "python";

  /* 1. Fenced with a language, prose before. */
  expect_answer("Here is the missing code:\n\n```python\nreturn a + b\n```\n",
                &in, "return a + b");
  /* 2. Fenced without a language. */
  expect_answer("```\nreturn a + b\n```", &in, "return a + b");
  /* 3. Prose before and after. */
  expect_answer("Sure! The function should return the sum:\n```py\n"
                "return a + b\n```\nThis adds both numbers and returns the "
                "result.",
                &in, "return a + b");
  /* 4. The whole prefix repeated. */
  expect_answer("```python\nimport math\n\ndef add(a, b):\n    return a + b\n"
                "```",
                &in, "return a + b");
  /* 5. Only the last lines of the prefix repeated. */
  expect_answer("```python\ndef add(a, b):\n    return a + b\n```", &in,
                "return a + b");
  /* 6. The suffix repeated at the end. */
  expect_answer("```python\nreturn a + b\n\nprint(add(1, 2))\n```", &in,
                "return a + b");
  /* 7. Prefix and suffix both repeated: the whole file echoed back. */
  expect_answer("```python\nimport math\n\ndef add(a, b):\n    return a + b\n"
                "\nprint(add(1, 2))\n```\nDone.",
                &in, "return a + b");
  /* 8. The hole marker echoed. */
  expect_answer("```python\n<CURSOR>return a + b\n```", &in, "return a + b");
  expect_answer("```python\ndef add(a, b):\n    <CURSOR>return a + b<CURSOR>"
                "\n```",
                &in, "return a + b");
  /* 9. Empty reply, and an empty block. */
  expect_answer("", &in, "");
  expect_answer("```python\n```", &in, "");
  expect_answer("Nothing is needed here:\n```\n```\n", &in, "");
  /* 10. No fence at all: the reply is the code. */
  expect_answer("return a + b", &in, "return a + b");
  expect_answer("return a + b\n", &in, "return a + b\n");
  /* 11. No fence, prose before and a paragraph of prose after. */
  expect_answer("Here's the completion:\nreturn a + b\n\nThis returns the "
                "sum of a and b.",
                &in, "return a + b");
  /* 12. Several blocks: the first one. */
  expect_answer("```python\nreturn a + b\n```\nOr, with math:\n```python\n"
                "return math.fsum([a, b])\n```",
                &in, "return a + b");
  /* 13. A reply cut off by max_tokens: the block runs to the end. */
  expect_answer("```python\nreturn sum([a,", &in, "return sum([a,");
  /* 14. Inline forms. */
  expect_answer("`return a + b`", &in, "return a + b");
  expect_answer("```return a + b```", &in, "return a + b");
  expect_answer("The answer is ```python\nreturn a + b```", &in,
                "return a + b");
  /* 15. Multi-line completions keep their lines and indentation. */
  expect_answer("```python\nif a is None:\n        a = 0\n    return a + b\n"
                "```",
                &in, "if a is None:\n        a = 0\n    return a + b");
  /* 16. Tilde fences. */
  expect_answer("~~~python\nreturn a + b\n~~~\n", &in, "return a + b");
}

static void test_chat_answer_edges(void **state) {
  (void)state;
  /* The current line typed so far, repeated with or without indentation. */
  ch_prompt_input in = input("def f(x):\n    ret", "\n");
  expect_answer("```python\n    return x * 2\n```", &in, "urn x * 2");
  expect_answer("```python\nreturn x * 2\n```", &in, "urn x * 2");
  /* A leading line break in an unfenced reply is part of the completion. */
  ch_prompt_input eol = input("if (ok) {", "\n}");
  expect_answer("\n    run();", &eol, "\n    run();");
  /* The suffix repeated at the end, closing brace included. */
  expect_answer("```c\n\n    run();\n}\n```", &eol, "\n    run();");
  /* A block the completion opens keeps its closing brace even when the
   * suffix starts with one (that one closes an outer block). */
  ch_prompt_input block = input("void f(int x) {\n  if (x) ", "\n}\n");
  expect_answer("```c\n{\n  y();\n}\n```", &block, "{\n  y();\n}");
  expect_answer("```c\n{\n  y();\n}\n}\n```", &block, "{\n  y();\n}");
  /* A one-line suffix is only cut when that keeps the brackets balanced. */
  ch_prompt_input call = input("print(", ")\n");
  expect_answer("bar()", &call, "bar()");
  expect_answer("bar())", &call, "bar()");
  expect_answer("a, b)", &call, "a, b");
  expect_answer("```python\nprint(a, b)\n```", &call, "a, b");
  /* Prose detection does not eat a docstring line or a comment. */
  ch_prompt_input doc = input("def f():\n    \"\"\"", "\n");
  expect_answer("Return the answer.\n    \"\"\"\n    return 42", &doc,
                "Return the answer.\n    \"\"\"\n    return 42");
  expect_answer("# The value:\nx = 1", &doc, "# The value:\nx = 1");
  /* A CRLF document: matched as LF, answered in CRLF. */
  ch_prompt_input dos =
      input("def add(a, b):\r\n    ", "\r\n\r\nprint(add(1, 2))\r\n");
  expect_answer("```python\ndef add(a, b):\n    if a:\n        return a + b\n"
                "\nprint(add(1, 2))\n```",
                &dos, "if a:\r\n        return a + b");
  expect_answer("```python\r\nreturn a\r\n```\r\n", &dos, "return a");
  /* NULL prefix and suffix. */
  ch_prompt_input none = {0};
  expect_answer("```\nx\n```", &none, "x");
  /* The result is appended, and capped. */
  ch_buf out;
  ch_buf_init(&out, 5);
  ch_buf_append_str(&out, "ab");
  assert_int_equal(ch_prompt_chat_answer("cd", 2, &none, &out), CH_OK);
  assert_string_equal(out.data, "abcd");
  assert_int_equal(ch_prompt_chat_answer("efgh", 4, &none, &out),
                   CH_ERR_TOO_LARGE);
  ch_buf_release(&out);
}

/* ---- randomised: outside input never crashes ----------------------------- */

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* Replies assembled from the pieces chat models produce. Under the
 * sanitizers this is the fuzz test of the extractor; everywhere it checks
 * that extraction succeeds and never makes the answer longer than the
 * reply. */
static void test_chat_answer_random(void **state) {
  (void)state;
  static const char *const pieces[] = {
      "```",
      "```python\n",
      "~~~\n",
      "`",
      "\n",
      "\n\n",
      " ",
      "    ",
      "<CURSOR>",
      "<CURS",
      "Here is the code:\n",
      "Sure!\n",
      "return",
      " a + b",
      "(",
      ")",
      "{",
      "}",
      "def add",
      "This is the sum of both values.",
      "print(add(1, 2))",
      "\r\n",
      "\0",
  };
  ch_prompt_input in =
      input("import math\n\ndef add(a, b):\n    ", "\n\nprint(add(1, 2))\n");
  uint64_t seed = 4242;
  ch_buf reply, out;
  ch_buf_init(&reply, 1 << 16);
  ch_buf_init(&out, 1 << 16);
  for(int round = 0; round < 5000; round++) {
    ch_buf_reset(&reply);
    ch_buf_reset(&out);
    size_t count = rng_next(&seed) % 24;
    for(size_t i = 0; i < count; i++) {
      const char *p = pieces[rng_next(&seed) % CH_ARRAY_LEN(pieces)];
      ch_buf_append(&reply, p, p[0] ? strlen(p) : 1);
    }
    /* Sometimes the prefix or suffix cut at a random point. */
    if(rng_next(&seed) % 4 == 0)
      ch_buf_append(&reply, in.prefix, rng_next(&seed) % (in.prefix_len + 1));
    if(rng_next(&seed) % 4 == 0)
      ch_buf_append(&reply, in.suffix, rng_next(&seed) % (in.suffix_len + 1));
    assert_int_equal(ch_prompt_chat_answer(reply.data ? reply.data : "",
                                           reply.len, &in, &out),
                     CH_OK);
    assert_true(out.len <= reply.len);
  }
  ch_buf_release(&reply);
  ch_buf_release(&out);
}

/* Random templates: either refused with a message, or rendered; a template
 * that is accepted renders every placeholder it holds. */
static void test_custom_template_random(void **state) {
  (void)state;
  static const char *const pieces[] = {
      "{prefix}", "{suffix}", "{files}", "{path}", "{repo}", "{",
      "}",        "{{",       "}}",      "<x>",    "{nope}", "\n"};
  ch_prompt_input in = with_files();
  uint64_t seed = 99;
  ch_buf text, err, out;
  ch_buf_init(&text, 4096);
  ch_buf_init(&err, 4096);
  ch_buf_init(&out, 1 << 16);
  int accepted = 0;
  for(int round = 0; round < 3000; round++) {
    ch_buf_reset(&text);
    ch_buf_reset(&err);
    ch_buf_reset(&out);
    size_t count = rng_next(&seed) % 8;
    for(size_t i = 0; i < count; i++)
      ch_buf_append_str(&text, pieces[rng_next(&seed) % CH_ARRAY_LEN(pieces)]);
    ch_fim_template t;
    ch_status s =
        ch_fim_template_init_custom(&t, text.data ? text.data : "", NULL, &err);
    if(s) {
      assert_int_equal(s, CH_ERR_INVALID);
      assert_true(err.len > 0);
      assert_true(strncmp(err.data, "fim template", 12) == 0);
    } else {
      accepted++;
      assert_int_equal(ch_prompt_fim(&t, &in, &out), CH_OK);
      assert_non_null(strstr(out.data, "def add(b):"));
    }
    ch_fim_template_release(&t);
  }
  assert_true(accepted > 0);
  ch_buf_release(&text);
  ch_buf_release(&err);
  ch_buf_release(&out);
}

/* stop_at against a plain search, on random text over a small alphabet. */
static void test_stop_at_random(void **state) {
  (void)state;
  const char *const *stops = STOPS("<E>", "<EOT>", "ab", "\n\n", "b<");
  uint64_t seed = 7;
  char text[64];
  for(int round = 0; round < 20000; round++) {
    size_t len = rng_next(&seed) % sizeof(text);
    for(size_t i = 0; i < len; i++)
      text[i] = "<EOTab\n>"[rng_next(&seed) % 8];
    size_t partial;
    size_t at = ch_prompt_stop_at(text, len, stops, &partial);
    size_t want = len;
    for(size_t i = 0; i < len && want == len; i++)
      for(size_t k = 0; stops[k]; k++) {
        size_t n = strlen(stops[k]);
        if(i + n <= len && memcmp(text + i, stops[k], n) == 0) want = i;
      }
    assert_int_equal(at, want);
    size_t want_partial = 0;
    if(want == len)
      for(size_t k = 0; stops[k]; k++)
        for(size_t p = 1; p < strlen(stops[k]) && p <= len; p++)
          if(memcmp(text + len - p, stops[k], p) == 0 && p > want_partial)
            want_partial = p;
    assert_int_equal(partial, want_partial);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fim_every_family),
      cmocka_unit_test(test_fim_stops),
      cmocka_unit_test(test_fim_names),
      cmocka_unit_test(test_fim_qwen_repo_level),
      cmocka_unit_test(test_fim_starcoder_repo_level),
      cmocka_unit_test(test_fim_comment_block_fallback),
      cmocka_unit_test(test_comment_markers),
      cmocka_unit_test(test_fim_too_large),
      cmocka_unit_test(test_custom_template),
      cmocka_unit_test(test_custom_template_errors),
      cmocka_unit_test(test_custom_template_escapes),
      cmocka_unit_test(test_stop_at),
      cmocka_unit_test(test_chat_prompt),
      cmocka_unit_test(test_chat_answer_shapes),
      cmocka_unit_test(test_chat_answer_edges),
      cmocka_unit_test(test_chat_answer_random),
      cmocka_unit_test(test_custom_template_random),
      cmocka_unit_test(test_stop_at_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
