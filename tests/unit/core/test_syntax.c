/* Tests for core/src/syntax.c: the language registry, lookups, the grammars
 * folder and the queries read from it. The parse and tags tests run once
 * per language, so a failure names the grammar. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chorus/syntax.h"
#include "chorus/util.h"
#include "chorus_build.h"

/* ---- a snippet per language ---------------------------------------------- */

typedef struct sample {
  const char *name;        /* canonical language name */
  const char *root;        /* expected type of the root node */
  const char *code;        /* parses without errors */
  const char *const *defs; /* names its tags query must define */
} sample;

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const sample samples[] = {
    {"c", "translation_unit",
     "#include <stdio.h>\n"
     "struct point { int x, y; };\n"
     "typedef struct point point;\n"
     "static int add(int a, int b) { return a + b; }\n",
     NAMES("add", "point")},
    {"cpp", "translation_unit",
     "namespace demo {\n"
     "class Greeter {\n"
     " public:\n"
     "  int greet(int n) const { return n * 2; }\n"
     "};\n"
     "template <typename T> T twice(T x) { return x + x; }\n"
     "}  // namespace demo\n",
     NAMES("Greeter", "twice")},
    {"python", "module",
     "import os\n"
     "\n"
     "class Greeter:\n"
     "    def greet(self, name: str) -> str:\n"
     "        return f\"hello {name}\"\n"
     "\n"
     "def main():\n"
     "    print(Greeter().greet(os.getcwd()))\n",
     NAMES("Greeter", "greet", "main")},
    /* JSX: the javascript grammar is also the javascriptreact one. */
    {"javascript", "program",
     "import React from 'react';\n"
     "export function Hello({ name }) {\n"
     "  return <b className=\"x\">{name}</b>;\n"
     "}\n"
     "const twice = (x) => x * 2;\n",
     NAMES("Hello", "twice")},
    /* Shape comes from typescript's own tags.scm, area from javascript's:
     * both halves of the inherited query are there. */
    {"typescript", "program",
     "interface Shape {\n"
     "  area(): number;\n"
     "}\n"
     "export function area(s: Shape): number {\n"
     "  return s.area();\n"
     "}\n",
     NAMES("Shape", "area")},
    {"tsx", "program",
     "interface Props { name: string }\n"
     "export function Hello(props: Props) {\n"
     "  return <div className=\"hi\">{props.name}</div>;\n"
     "}\n",
     NAMES("Props", "Hello")},
    {"go", "source_file",
     "package main\n"
     "\n"
     "import \"fmt\"\n"
     "\n"
     "type Point struct{ X, Y int }\n"
     "\n"
     "func (p Point) Sum() int { return p.X + p.Y }\n"
     "\n"
     "func main() { fmt.Println(Point{1, 2}.Sum()) }\n",
     NAMES("Point", "Sum", "main")},
    {"rust", "source_file",
     "struct Point { x: i32, y: i32 }\n"
     "\n"
     "impl Point {\n"
     "    fn sum(&self) -> i32 { self.x + self.y }\n"
     "}\n"
     "\n"
     "fn main() { println!(\"{}\", Point { x: 1, y: 2 }.sum()); }\n",
     NAMES("Point", "sum", "main")},
    {"java", "program",
     "package demo;\n"
     "\n"
     "public class Greeter {\n"
     "  public String greet(String name) { return \"hello \" + name; }\n"
     "}\n",
     NAMES("Greeter", "greet")},
};

static const ch_language *lang(const char *name) {
  const ch_language *l = ch_syntax_by_name(name);
  assert_non_null(l);
  return l;
}

static void test_samples_cover_the_table(void **state) {
  (void)state;
  assert_int_equal(ch_syntax_count(), CH_ARRAY_LEN(samples));
  for(size_t i = 0; i < CH_ARRAY_LEN(samples); i++)
    assert_string_equal(ch_syntax_at(i)->name, samples[i].name);
}

static void test_parse(void **state) {
  const sample *s = *state;
  ch_status status = CH_ERR_STATE;
  TSParser *parser = ch_syntax_parser_new(lang(s->name), &status);
  assert_int_equal(status, CH_OK);
  assert_non_null(parser);
  TSTree *tree =
      ts_parser_parse_string(parser, NULL, s->code, (uint32_t)strlen(s->code));
  assert_non_null(tree);
  TSNode root = ts_tree_root_node(tree);
  if(ts_node_has_error(root)) {
    char *sexp = ts_node_string(root);
    print_error("%s: %s\n", s->name, sexp);
    free(sexp); /* malloc'ed by tree-sitter */
  }
  assert_false(ts_node_has_error(root));
  assert_string_equal(ts_node_type(root), s->root);
  assert_true(ts_node_named_child_count(root) > 0);
  ts_tree_delete(tree);
  ts_parser_delete(parser);
}

/* Every `@name` captured by a match that also has a `@definition.*`
 * capture, joined as " a b c " so that strstr(" a ") finds a whole name.
 * Predicates (#not-eq? ...) are not applied: the test only needs some
 * definitions to appear. */
static char *definitions(TSQuery *query, TSNode root, const char *code) {
  ch_buf out;
  ch_buf_init(&out, 1 << 16);
  ch_buf_append_char(&out, ' ');
  TSQueryCursor *cursor = ts_query_cursor_new();
  ts_query_cursor_exec(cursor, query, root);
  TSQueryMatch match;
  while(ts_query_cursor_next_match(cursor, &match)) {
    bool is_def = false;
    for(uint16_t i = 0; i < match.capture_count; i++) {
      uint32_t n;
      const char *cap =
          ts_query_capture_name_for_id(query, match.captures[i].index, &n);
      if(n > 11 && !strncmp(cap, "definition.", 11)) is_def = true;
    }
    if(!is_def) continue;
    for(uint16_t i = 0; i < match.capture_count; i++) {
      uint32_t n;
      const char *cap =
          ts_query_capture_name_for_id(query, match.captures[i].index, &n);
      if(n != 4 || strncmp(cap, "name", 4)) continue;
      TSNode node = match.captures[i].node;
      uint32_t start = ts_node_start_byte(node), end = ts_node_end_byte(node);
      ch_buf_appendf(&out, "%.*s ", (int)(end - start), code + start);
    }
  }
  ts_query_cursor_delete(cursor);
  return ch_buf_detach(&out, NULL);
}

static void test_tags(void **state) {
  const sample *s = *state;
  const ch_language *l = lang(s->name);
  ch_status status = CH_ERR_STATE;
  TSQuery *query = ch_syntax_query_new(l, "tags", &status);
  assert_int_equal(status, CH_OK);
  assert_non_null(query);
  assert_true(ts_query_pattern_count(query) > 0);

  TSParser *parser = ch_syntax_parser_new(l, NULL);
  TSTree *tree =
      ts_parser_parse_string(parser, NULL, s->code, (uint32_t)strlen(s->code));
  char *defs = definitions(query, ts_tree_root_node(tree), s->code);
  for(const char *const *d = s->defs; *d; d++) {
    char *word = ch_strdupf(" %s ", *d);
    if(!strstr(defs, word))
      print_error("%s: no definition of %s in [%s]\n", s->name, *d, defs);
    assert_non_null(strstr(defs, word));
    ch_free(word);
  }
  ch_free(defs);
  ts_tree_delete(tree);
  ts_parser_delete(parser);
  ts_query_delete(query);
}

/* ---- the table and lookups ----------------------------------------------- */

static void test_table(void **state) {
  (void)state;
  size_t count = ch_syntax_count();
  assert_int_equal(count, 9);
  for(size_t i = 0; i < count; i++) {
    const ch_language *l = ch_syntax_at(i);
    assert_non_null(l);
    assert_ptr_equal(ch_syntax_by_name(l->name), l);
    assert_non_null(l->ts_language);
    assert_non_null(l->package);
    assert_non_null(l->language_ids[0]);
    assert_non_null(l->extensions[0]);
    /* The languageId named like the language maps to it. */
    assert_ptr_equal(ch_syntax_by_language_id(l->name), l);
    if(l->inherits) assert_non_null(ch_syntax_by_name(l->inherits));
  }
  assert_null(ch_syntax_at(count));
  assert_null(ch_syntax_at((size_t)-1));
  assert_ptr_equal(ch_syntax_by_name("TSX"), lang("tsx"));
  assert_null(ch_syntax_by_name("typescriptreact")); /* a languageId */
  assert_null(ch_syntax_by_name("cobol"));
  assert_null(ch_syntax_by_name(""));
  assert_null(ch_syntax_by_name(NULL));
}

static void test_language_ids(void **state) {
  (void)state;
  static const struct {
    const char *id, *want; /* want NULL: unknown */
  } cases[] = {
      {"c", "c"},
      {"cpp", "cpp"},
      {"c++", "cpp"},
      {"cuda-cpp", "cpp"},
      {"python", "python"},
      {"javascript", "javascript"},
      {"javascriptreact", "javascript"},
      {"js", "javascript"},
      {"typescript", "typescript"},
      {"typescriptreact", "tsx"},
      {"tsx", "tsx"},
      {"go", "go"},
      {"rust", "rust"},
      {"java", "java"},
      {"TypeScript", "typescript"},
      {"cobol", NULL},
      {"plaintext", NULL},
      {"", NULL},
      {"pythonx", NULL},
      {"pytho", NULL},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    const ch_language *got = ch_syntax_by_language_id(cases[i].id);
    const char *name = got ? got->name : "(null)";
    const char *want = cases[i].want ? cases[i].want : "(null)";
    if(strcmp(name, want)) print_error("languageId '%s'\n", cases[i].id);
    assert_string_equal(name, want);
  }
  assert_null(ch_syntax_by_language_id(NULL));
}

static void test_extensions(void **state) {
  (void)state;
  static const struct {
    const char *path, *want;
  } cases[] = {
      {"a.c", "c"},
      {"include/a.h", "c"},
      {"/src/x.cc", "cpp"},
      {"x.cpp", "cpp"},
      {"x.cxx", "cpp"},
      {"x.hpp", "cpp"},
      {"x.hh", "cpp"},
      {"x.hxx", "cpp"},
      {"x.C", "cpp"}, /* case decides: .C is C++ */
      {"x.H", "cpp"},
      {"sketch.ino", "cpp"},
      {"s.py", "python"},
      {"s.pyi", "python"},
      {"s.pyw", "python"},
      {"LEGACY.PY", "python"}, /* no exact match: case ignored */
      {"a.js", "javascript"},
      {"a.mjs", "javascript"},
      {"a.cjs", "javascript"},
      {"a.jsx", "javascript"},
      {"a.ts", "typescript"},
      {"a.mts", "typescript"},
      {"a.cts", "typescript"},
      {"lib/types.d.ts", "typescript"},
      {"a.tsx", "tsx"},
      {"main.go", "go"},
      {"lib.rs", "rust"},
      {"Main.java", "java"},
      {"Makefile", NULL},
      {"notes.txt", NULL},
      {".bashrc", NULL},
      {"dir.py/README", NULL}, /* the extension of the last component */
      {"trailing.", NULL},
      {"", NULL},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    const ch_language *got = ch_syntax_by_path(cases[i].path, NULL, 0);
    const char *name = got ? got->name : "(null)";
    const char *want = cases[i].want ? cases[i].want : "(null)";
    if(strcmp(name, want)) print_error("path '%s'\n", cases[i].path);
    assert_string_equal(name, want);
  }
  assert_null(ch_syntax_by_path(NULL, NULL, 0));
}

static void test_shebangs(void **state) {
  (void)state;
  static const struct {
    const char *head, *want;
  } cases[] = {
      {"#!/usr/bin/python3\nimport os\n", "python"},
      {"#!/usr/bin/python\n", "python"},
      {"#!/usr/bin/python3.12\n", "python"},
      {"#! /usr/bin/env python3\n", "python"},
      {"#!/usr/bin/env python\r\n", "python"},
      {"#!/usr/bin/env -S python3 -u\n", "python"},
      {"#!/usr/bin/env -Spython3\n", "python"},
      {"#!/usr/bin/env -i PATH=/usr/bin python3\n", "python"},
      {"#!/usr/bin/env -u PYTHONPATH pypy3\n", "python"},
      {"#!/usr/bin/env node\n", "javascript"},
      {"#!/usr/local/bin/nodejs --harmony\n", "javascript"},
      {"#!/usr/bin/env\tnode18\n", "javascript"},
      {"#!/usr/bin/env -S deno run --allow-net\n", "typescript"},
      {"#!/usr/bin/env ts-node\n", "typescript"},
      {"#!/usr/bin/java --source 17\n", "java"},
      {"#!/usr/bin/env rust-script\n", "rust"},
      {"#!/bin/sh\n", NULL},
      {"#!/usr/bin/env bash\n", NULL},
      {"#!/usr/bin/env\n", NULL},
      {"#!/usr/bin/env -S\n", NULL},
      {"#!/usr/bin/env -u\n", NULL},
      {"#!\n", NULL},
      {"#!", NULL},
      {"", NULL},
      {"print('no shebang')\n", NULL},
      {"\n#!/usr/bin/python3\n", NULL}, /* only the first line counts */
      {"#!/usr/bin/env\nnode\n", NULL},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    const ch_language *got =
        ch_syntax_by_shebang(cases[i].head, strlen(cases[i].head));
    const char *name = got ? got->name : "(null)";
    const char *want = cases[i].want ? cases[i].want : "(null)";
    if(strcmp(name, want)) print_error("shebang '%s'\n", cases[i].head);
    assert_string_equal(name, want);
  }
  /* Only `len` bytes are read: the head need not be NUL-terminated. */
  const char head[] = "#!/usr/bin/python3";
  assert_null(ch_syntax_by_shebang(head, 6)); /* "#!/usr" */
  assert_ptr_equal(ch_syntax_by_shebang(head, sizeof(head) - 1),
                   lang("python"));
  assert_null(ch_syntax_by_shebang(NULL, 10));
}

static void test_path_then_shebang(void **state) {
  (void)state;
  const char *node = "#!/usr/bin/env node\nconsole.log(1)\n";
  const char *py = "#!/usr/bin/env python3\n";
  /* No extension: the shebang decides. */
  assert_ptr_equal(ch_syntax_by_path("bin/tool", node, strlen(node)),
                   lang("javascript"));
  /* An unknown extension falls through to the shebang too. */
  assert_ptr_equal(ch_syntax_by_path("scripts/run.cgi", py, strlen(py)),
                   lang("python"));
  /* A known extension wins over the shebang. */
  assert_ptr_equal(ch_syntax_by_path("tool.py", node, strlen(node)),
                   lang("python"));
  assert_null(ch_syntax_by_path("bin/tool", NULL, 0));
  assert_null(ch_syntax_by_path("bin/tool", "#!/bin/sh\n", 10));
  assert_ptr_equal(ch_syntax_by_path(NULL, py, strlen(py)), lang("python"));
}

/* ---- queries ------------------------------------------------------------- */

static char *read_whole(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  char chunk[4096];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&b, chunk, n), CH_OK);
  fclose(f);
  return ch_buf_detach(&b, NULL);
}

static void test_query_source_inherits(void **state) {
  (void)state;
  char *js_path =
      ch_strdupf("%s/node_modules/tree-sitter-javascript/queries/tags.scm",
                 ch_syntax_grammars_dir());
  char *ts_path =
      ch_strdupf("%s/node_modules/tree-sitter-typescript/queries/tags.scm",
                 ch_syntax_grammars_dir());
  char *js = read_whole(js_path), *ts = read_whole(ts_path);
  char *want = ch_strdupf("%s\n%s", js, ts);

  /* typescript and tsx: javascript's tags, a newline, their own. */
  const char *names[] = {"typescript", "tsx"};
  for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
    size_t len = 0;
    ch_status status = CH_ERR_STATE;
    char *src = ch_syntax_query_source(lang(names[i]), "tags", &len, &status);
    assert_int_equal(status, CH_OK);
    assert_non_null(src);
    assert_int_equal(len, strlen(want));
    assert_string_equal(src, want);
    ch_free(src);
  }
  /* javascript alone: just its own file. */
  char *src = ch_syntax_query_source(lang("javascript"), "tags", NULL, NULL);
  assert_string_equal(src, js);
  ch_free(src);
  /* cpp inherits c's highlights (upstream does) but not its tags, which
   * already repeat c's patterns. */
  src = ch_syntax_query_source(lang("cpp"), "tags", NULL, NULL);
  assert_non_null(strstr(src, "class_specifier"));
  assert_null(strstr(src + 1, "(struct_specifier name: (type_identifier) "
                              "@name body:(_)) @definition.class"));
  ch_free(src);

  ch_free(want);
  ch_free(js);
  ch_free(ts);
  ch_free(js_path);
  ch_free(ts_path);
}

typedef struct captured_log {
  ch_buf text;
  int errors;
} captured_log;

static void capture_sink(ch_log_level level, const char *message,
                         void *userdata) {
  captured_log *log = userdata;
  if(level == CH_LOG_ERROR) log->errors++;
  ch_buf_append_str(&log->text, message);
  ch_buf_append_char(&log->text, '\n');
}

static void test_query_errors(void **state) {
  (void)state;
  const ch_language *py = lang("python");
  ch_status status = CH_OK;
  size_t len = 99;

  /* Names that could escape the folder are refused. */
  assert_null(ch_syntax_query_source(py, "../tags", &len, &status));
  assert_int_equal(status, CH_ERR_INVALID);
  assert_null(ch_syntax_query_source(py, "", NULL, &status));
  assert_int_equal(status, CH_ERR_INVALID);
  assert_null(ch_syntax_query_new(NULL, "tags", &status));
  assert_int_equal(status, CH_ERR_INVALID);

  captured_log log = {.errors = 0};
  ch_buf_init(&log.text, 1 << 16);
  ch_log_set_sink(capture_sink, &log);

  /* A query no package ships: not found, and not logged as an error. */
  assert_null(ch_syntax_query_new(py, "no-such-query", &status));
  assert_int_equal(status, CH_ERR_NOT_FOUND);
  assert_int_equal(log.errors, 0);

  /* A compile error names the origin, line:column, kind and token. */
  const char *bad = "(function_definition name: (identifier) @name)\n"
                    "  (no_such_node) @x\n";
  assert_null(ch_syntax_query_compile(py, "tags", bad, strlen(bad),
                                      "inline.scm", &status));
  assert_int_equal(status, CH_ERR_PARSE);
  assert_int_equal(log.errors, 1);
  assert_non_null(strstr(log.text.data, "tags query for python"));
  assert_non_null(strstr(log.text.data, "unknown node type 'no_such_node' at "
                                        "inline.scm:2:4 (byte 50)"));

  const char *bad_field = "(function_definition nope: (identifier))";
  assert_null(ch_syntax_query_compile(py, NULL, bad_field, strlen(bad_field),
                                      NULL, &status));
  assert_int_equal(status, CH_ERR_PARSE);
  assert_non_null(strstr(log.text.data, "unknown field 'nope' at <inline>:1:"));

  const char *unbalanced = "(function_definition";
  assert_null(ch_syntax_query_compile(py, "x", unbalanced, strlen(unbalanced),
                                      "u.scm", &status));
  assert_int_equal(status, CH_ERR_PARSE);
  assert_non_null(strstr(log.text.data, "syntax error"));

  const char *good = "(function_definition name: (identifier) @name)";
  TSQuery *q =
      ch_syntax_query_compile(py, "x", good, strlen(good), NULL, &status);
  assert_non_null(q);
  assert_int_equal(status, CH_OK);
  ts_query_delete(q);

  ch_log_set_sink(NULL, NULL);
  ch_buf_release(&log.text);
}

/* ---- the grammars folder ------------------------------------------------- */

static void test_grammars_dir_default(void **state) {
  (void)state;
  /* main() cleared CHORUS_GRAMMARS_DIR and the test binary has no
   * ../share/chorus/grammars next to it: the build-time folder. */
  const char *dir = ch_syntax_grammars_dir();
  assert_string_equal(dir, CHORUS_GRAMMARS_DIR);
  assert_ptr_equal(ch_syntax_grammars_dir(), dir); /* cached */
}

/* The folder is cached on first use, so the override is tested in a child
 * process that has not looked yet. cmocka's asserts would unwind into the
 * child's copy of the runner, so the child counts failures itself. */
static int child_failures;
#define CHILD_CHECK(cond)                                                      \
  do {                                                                         \
    if(!(cond)) {                                                              \
      fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
      child_failures++;                                                        \
    }                                                                          \
  } while(0)

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  CHILD_CHECK(f != NULL);
  if(!f) return;
  fputs(text, f);
  fclose(f);
}

static void grammars_dir_child(const char *tmp) {
  char *queries = ch_strdupf("%s/queries", tmp);
  char *py_dir = ch_strdupf("%s/python", queries);
  char *go_dir = ch_strdupf("%s/go", queries);
  char *py_tags = ch_strdupf("%s/tags.scm", py_dir);
  char *go_tags = ch_strdupf("%s/tags.scm", go_dir);
  CHILD_CHECK(mkdir(queries, 0700) == 0);
  CHILD_CHECK(mkdir(py_dir, 0700) == 0);
  CHILD_CHECK(mkdir(go_dir, 0700) == 0);
  write_file(py_tags, "(function_definition name: (identifier) @name)\n"
                      "(no_such_node) @x\n");
  const char *go_text =
      "(function_declaration name: (identifier) @name) @definition.function\n";
  write_file(go_tags, go_text);

  char *with_slash = ch_strdupf("%s//", tmp);
  CHILD_CHECK(setenv("CHORUS_GRAMMARS_DIR", with_slash, 1) == 0);
  const char *dir = ch_syntax_grammars_dir();
  CHILD_CHECK(strcmp(dir, tmp) == 0); /* trailing slashes dropped */
  /* Cached: a later change of the environment is not seen. */
  CHILD_CHECK(setenv("CHORUS_GRAMMARS_DIR", "/elsewhere", 1) == 0);
  CHILD_CHECK(ch_syntax_grammars_dir() == dir);

  captured_log log = {.errors = 0};
  ch_buf_init(&log.text, 1 << 16);
  ch_log_set_sink(capture_sink, &log);
  ch_status status = CH_OK;

  /* Our own file replaces upstream's entirely. */
  char *src =
      ch_syntax_query_source(ch_syntax_by_name("go"), "tags", NULL, &status);
  CHILD_CHECK(status == CH_OK && src && strcmp(src, go_text) == 0);
  ch_free(src);
  TSQuery *q = ch_syntax_query_new(ch_syntax_by_name("go"), "tags", &status);
  CHILD_CHECK(q != NULL && status == CH_OK);
  if(q) ts_query_delete(q);

  /* A broken file of ours: NULL, and the log names the file and place. */
  q = ch_syntax_query_new(ch_syntax_by_name("python"), "tags", &status);
  CHILD_CHECK(q == NULL && status == CH_ERR_PARSE);
  char *where = ch_strdupf("unknown node type 'no_such_node' at %s:2:2 "
                           "(byte 48)",
                           py_tags);
  CHILD_CHECK(log.text.data && strstr(log.text.data, where));
  if(child_failures && log.text.data)
    fprintf(stderr, "child log:\n%s", log.text.data);

  /* No node_modules in this folder: upstream queries are not found. */
  CHILD_CHECK(!ch_syntax_query_new(ch_syntax_by_name("java"), "tags", &status));
  CHILD_CHECK(status == CH_ERR_NOT_FOUND);

  ch_log_set_sink(NULL, NULL);
  ch_buf_release(&log.text);
  unlink(py_tags);
  unlink(go_tags);
  rmdir(py_dir);
  rmdir(go_dir);
  rmdir(queries);
  ch_free(where);
  ch_free(with_slash);
  ch_free(queries);
  ch_free(py_dir);
  ch_free(go_dir);
  ch_free(py_tags);
  ch_free(go_tags);
}

static void test_grammars_dir_env(void **state) {
  (void)state;
  char tmp[] = "/tmp/chorus-test-syntax-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if(pid == 0) {
    grammars_dir_child(tmp);
    fflush(NULL);
    _exit(child_failures ? 1 : 0);
  }
  int wstatus = 0;
  assert_int_equal(waitpid(pid, &wstatus, 0), pid);
  rmdir(tmp);
  assert_true(WIFEXITED(wstatus));
  assert_int_equal(WEXITSTATUS(wstatus), 0);
}

/* ---- versions ------------------------------------------------------------ */

static void test_versions(void **state) {
  (void)state;
  char *v = ch_syntax_versions();
  assert_non_null(strstr(v, "grammars: c 14, cpp 14, python 14, "
                            "javascript 14, typescript 14, tsx 14, go 14, "
                            "rust 14, java 14"));
  assert_non_null(strstr(v, "ABI 13-14"));
  assert_null(strstr(v, "unsupported"));
  ch_free(v);
}

/* One test per language, named like "test_parse(tsx)"; the order of
 * `samples` is checked against the table by test_samples_cover_the_table. */
#define PER_LANGUAGE(fn, i, name)                                              \
  { #fn "(" name ")", fn, NULL, NULL, (void *)&samples[i] }
#define ALL_LANGUAGES(fn)                                                      \
  PER_LANGUAGE(fn, 0, "c"), PER_LANGUAGE(fn, 1, "cpp"),                        \
      PER_LANGUAGE(fn, 2, "python"), PER_LANGUAGE(fn, 3, "javascript"),        \
      PER_LANGUAGE(fn, 4, "typescript"), PER_LANGUAGE(fn, 5, "tsx"),           \
      PER_LANGUAGE(fn, 6, "go"), PER_LANGUAGE(fn, 7, "rust"),                  \
      PER_LANGUAGE(fn, 8, "java")

/* Our own query files may inherit: tsx's defs.scm is "; inherits:
 * typescript", so its source is TypeScript's file, then its own. */
static void test_own_query_inherits(void **state) {
  (void)state;
  size_t tsx_len = 0, ts_len = 0;
  ch_status error = CH_OK;
  char *tsx = ch_syntax_query_source(ch_syntax_by_name("tsx"), "defs",
                                     &tsx_len, &error);
  assert_int_equal(error, CH_OK);
  char *ts = ch_syntax_query_source(ch_syntax_by_name("typescript"), "defs",
                                    &ts_len, &error);
  assert_int_equal(error, CH_OK);
  assert_true(tsx_len > ts_len);
  assert_memory_equal(tsx, ts, ts_len);
  assert_non_null(strstr(tsx + ts_len, "; inherits: typescript"));
  ch_free(tsx);
  ch_free(ts);
}

int main(void) {
  /* The default lookup is under test; an override from the caller's
   * environment would change what it finds. */
  unsetenv("CHORUS_GRAMMARS_DIR");
  const struct CMUnitTest tests[] = {
      /* First: it forks, and the child must not inherit a cached folder. */
      cmocka_unit_test(test_grammars_dir_env),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_samples_cover_the_table),
      cmocka_unit_test(test_language_ids),
      cmocka_unit_test(test_extensions),
      cmocka_unit_test(test_shebangs),
      cmocka_unit_test(test_path_then_shebang),
      ALL_LANGUAGES(test_parse),
      ALL_LANGUAGES(test_tags),
      cmocka_unit_test(test_grammars_dir_default),
      cmocka_unit_test(test_query_source_inherits),
      cmocka_unit_test(test_own_query_inherits),
      cmocka_unit_test(test_query_errors),
      cmocka_unit_test(test_versions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
