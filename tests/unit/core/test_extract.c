/* test_extract.c: core/src/extract.c, text -> ch_record.
 *
 * Fixtures live in tests/fixtures/extract/ (one or more per language); the
 * test finds them from this file's path (see fixtures_dir) or from
 * $CHORUS_FIXTURES. Expectations are exact: names, kinds, name positions,
 * containers, signatures and docs of representative definitions; every
 * import form; identifiers used or not; line starts; tokens; and
 * differential tests of incremental extraction (an edited tree and the
 * extractor's cache of the document) against fresh extraction: random
 * edits of every fixture, of large texts whose nodes nest into several
 * segments, targeted edits (a def split and merged, comments above a def,
 * imports added and removed, multi-edit sequences before one extraction),
 * and more documents than the extractor caches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/index.h"

/* ---- fixtures -------------------------------------------------------------
 */

static char *fixtures;

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* tests/fixtures/extract/ next to this source file. __FILE__ is what the
 * compiler was given: absolute, or relative to the build root (ninja runs
 * there), which is the parent of the folder holding this executable. */
static char *find_fixtures(void) {
  const char *env = getenv("CHORUS_FIXTURES");
  if(env && *env) return ch_strdup(env);
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  size_t dir_len = slash ? (size_t)(slash - file) : 0;
  char *rel = ch_strdupf("%.*s%s../../fixtures/extract", (int)dir_len, file,
                         slash ? "/" : "");
  if(file[0] == '/' || is_dir(rel)) return rel;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n > 0) {
    exe[n] = 0;
    char *last = strrchr(exe, '/');
    if(last) {
      *last = 0;
      char *cand = ch_strdupf("%s/../%s", exe, rel);
      if(is_dir(cand)) {
        ch_free(rel);
        return cand;
      }
      ch_free(cand);
    }
  }
  return rel;
}

static char *read_fixture(const char *name, uint32_t *len) {
  char *path = ch_strdupf("%s/%s", fixtures, name);
  FILE *f = fopen(path, "rb");
  if(!f) fprintf(stderr, "cannot open fixture %s\n", path);
  assert_non_null(f);
  ch_buf buf;
  ch_buf_init(&buf, (size_t)1 << 24);
  char chunk[4096];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&buf, chunk, n), CH_OK);
  fclose(f);
  ch_free(path);
  size_t got;
  char *text = ch_buf_detach(&buf, &got);
  *len = (uint32_t)got;
  return text;
}

static ch_record *extract_text(ch_extractor *ex, const char *lang_name,
                               const char *path, const char *text,
                               uint32_t len) {
  const ch_language *lang = ch_syntax_by_name(lang_name);
  assert_non_null(lang);
  ch_status st = CH_ERR_STATE;
  ch_record *r = ch_extract(ex, lang, path, text, len, NULL, NULL, &st);
  if(!r) fprintf(stderr, "extract %s: %s\n", path, ch_strerror(st));
  assert_non_null(r);
  assert_int_equal(st, CH_OK);
  return r;
}

static ch_record *extract_str(ch_extractor *ex, const char *lang_name,
                              const char *text) {
  return extract_text(ex, lang_name, "inline", text, (uint32_t)strlen(text));
}

static ch_record *extract_fixture(ch_extractor *ex, const char *name) {
  uint32_t len;
  char *text = read_fixture(name, &len);
  const ch_language *lang = ch_syntax_by_path(name, text, len);
  assert_non_null(lang);
  ch_record *r = extract_text(ex, lang->name, name, text, len);
  assert_int_equal(r->size, len);
  assert_true(r->hash == ch_hash_text(text, len));
  assert_string_equal(r->path, name);
  assert_false(r->parse_errors);
  ch_free(text);
  return r;
}

/* ---- lookups and expectations ----------------------------------------------
 */

/* The nth (from 0) definition named `name` of `kind` (-1: any kind). */
static const ch_def *find_def_nth(const ch_record *r, const char *name,
                                  int kind, int nth) {
  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    if(strcmp(ch_record_str(r, d->name), name)) continue;
    if(kind >= 0 && (int)d->kind != kind) continue;
    if(nth-- == 0) return d;
  }
  return NULL;
}

static const ch_def *find_def(const ch_record *r, const char *name, int kind) {
  return find_def_nth(r, name, kind, 0);
}

static void print_defs(const ch_record *r) {
  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    fprintf(stderr, "  %u %s %s %u:%u container %d sig [%s]\n", i,
            ch_def_kind_name(d->kind), ch_record_str(r, d->name),
            d->name_range.start_row, d->name_range.start_col,
            d->container == CH_NONE ? -1 : (int)d->container,
            ch_record_str(r, d->signature));
  }
}

/* Checks one definition: kind, name position, container (name or NULL),
 * signature, and doc (NULL: none). Returns it. */
static const ch_def *expect_def_nth(const ch_record *r, const char *name,
                                    ch_def_kind kind, int nth, uint32_t row,
                                    uint32_t col, const char *container,
                                    const char *signature, const char *doc) {
  const ch_def *d = find_def_nth(r, name, (int)kind, nth);
  if(!d) {
    fprintf(stderr, "no %s %s in %s; defs:\n", ch_def_kind_name(kind), name,
            r->path);
    print_defs(r);
  }
  assert_non_null(d);
  assert_int_equal(d->name_range.start_row, row);
  assert_int_equal(d->name_range.start_col, col);
  assert_int_equal(d->name_range.end - d->name_range.start, strlen(name));
  assert_true(d->range.start <= d->name_range.start);
  assert_true(d->range.end >= d->name_range.end);
  if(container) {
    assert_true(d->container != CH_NONE);
    assert_true(d->container < r->ndefs);
    assert_string_equal(ch_record_str(r, r->defs[d->container].name),
                        container);
  } else {
    assert_int_equal(d->container, CH_NONE);
  }
  assert_string_equal(ch_record_str(r, d->signature), signature);
  if(doc) {
    assert_true(d->doc != CH_NONE);
    assert_string_equal(ch_record_str(r, d->doc), doc);
  } else {
    assert_int_equal(d->doc, CH_NONE);
  }
  return d;
}

static const ch_def *expect_def(const ch_record *r, const char *name,
                                ch_def_kind kind, uint32_t row, uint32_t col,
                                const char *container, const char *signature,
                                const char *doc) {
  return expect_def_nth(r, name, kind, 0, row, col, container, signature, doc);
}

static void expect_no_def(const ch_record *r, const char *name) {
  const ch_def *d = find_def(r, name, -1);
  if(d) fprintf(stderr, "unexpected definition %s\n", name);
  assert_null(d);
}

static void expect_range(const ch_def *d, uint32_t start_row,
                         uint32_t start_col, uint32_t end_row,
                         uint32_t end_col) {
  assert_int_equal(d->range.start_row, start_row);
  assert_int_equal(d->range.start_col, start_col);
  assert_int_equal(d->range.end_row, end_row);
  assert_int_equal(d->range.end_col, end_col);
}

/* Imports must match exactly, in order: spec, kind, names (NULL: none). */
typedef struct want_import {
  const char *spec;
  ch_import_kind kind;
  const char *names;
  uint32_t row;
} want_import;

static void expect_imports(const ch_record *r, const want_import *want,
                           size_t n) {
  if(r->nimports != n) {
    for(uint32_t i = 0; i < r->nimports; i++)
      fprintf(stderr, "  import %s kind %d names %s\n",
              ch_record_str(r, r->imports[i].spec), r->imports[i].kind,
              ch_record_str(r, r->imports[i].names));
  }
  assert_int_equal(r->nimports, n);
  for(size_t i = 0; i < n; i++) {
    const ch_import *imp = &r->imports[i];
    assert_string_equal(ch_record_str(r, imp->spec), want[i].spec);
    assert_int_equal(imp->kind, want[i].kind);
    if(want[i].names) {
      assert_true(imp->names != CH_NONE);
      assert_string_equal(ch_record_str(r, imp->names), want[i].names);
    } else {
      assert_int_equal(imp->names, CH_NONE);
    }
    assert_int_equal(imp->row, want[i].row);
  }
}

static bool has_ident(const ch_record *r, const char *name) {
  for(uint32_t i = 0; i < r->nidents; i++)
    if(!strcmp(ch_record_str(r, r->idents[i]), name)) return true;
  return false;
}

/* Identifiers: in `used`, not in `unused`; always sorted and distinct. */
static void expect_idents(const ch_record *r, const char *const *used,
                          const char *const *unused) {
  for(uint32_t i = 1; i < r->nidents; i++)
    assert_true(strcmp(ch_record_str(r, r->idents[i - 1]),
                       ch_record_str(r, r->idents[i])) < 0);
  for(; *used; used++) {
    if(!has_ident(r, *used)) fprintf(stderr, "identifier %s missing\n", *used);
    assert_true(has_ident(r, *used));
  }
  for(; *unused; unused++) {
    if(has_ident(r, *unused))
      fprintf(stderr, "identifier %s unexpected\n", *unused);
    assert_false(has_ident(r, *unused));
  }
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Checks invariants every record must hold. */
static void check_record(const ch_record *r) {
  assert_int_equal(atomic_load(&r->refs), 1);
  assert_true(r->nlines >= 1);
  assert_int_equal(r->line_starts[0], 0);
  for(uint32_t i = 1; i < r->nlines; i++)
    assert_true(r->line_starts[i] > r->line_starts[i - 1]);
  if(r->pool_len) assert_int_equal(r->pool[r->pool_len - 1], 0);
  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    assert_true(d->name < r->pool_len);
    assert_true(d->signature < r->pool_len);
    assert_true(d->doc == CH_NONE || d->doc < r->pool_len);
    assert_true(d->container == CH_NONE || d->container < r->ndefs);
    assert_true(d->kind < CH_DEF_KIND_COUNT);
    assert_true(strlen(ch_record_str(r, d->signature)) <= CH_SIGNATURE_MAX);
    assert_true(d->range.start <= d->range.end);
    assert_true(d->range.end <= r->size);
    if(i) assert_true(r->defs[i - 1].range.start <= d->range.start);
    assert_int_equal(d->range.start - r->line_starts[d->range.start_row],
                     d->range.start_col);
  }
  for(uint32_t i = 0; i < r->nimports; i++) {
    assert_true(r->imports[i].spec < r->pool_len);
    assert_true(r->imports[i].row < r->nlines);
    if(i) assert_true(r->imports[i - 1].row <= r->imports[i].row);
  }
  for(uint32_t i = 0; i < r->nidents; i++)
    assert_true(r->idents[i] < r->pool_len);
  assert_true((r->ntokens == 0) == (r->token_starts == NULL));
  for(uint32_t i = 0; i < r->ntokens; i++) {
    assert_true(r->token_starts[i] < r->size);
    if(i) assert_true(r->token_starts[i] > r->token_starts[i - 1]);
  }
  assert_true(ch_record_memory(r) >= sizeof(*r));
}

/* Every token's text is where token_starts says: some run of bytes from
 * its start, ending by the next token's start, has its id (index.h). */
static void expect_token_texts(const ch_record *r, const char *text) {
  for(uint32_t i = 0; i < r->ntokens; i++) {
    uint32_t s = r->token_starts[i];
    uint32_t limit =
        i + 1 < r->ntokens ? r->token_starts[i + 1] : (uint32_t)r->size;
    bool found = false;
    for(uint32_t e = s + 1; e <= limit && !found; e++)
      found = ch_token_id(text + s, e - s) == r->tokens[i];
    if(!found)
      fprintf(stderr, "token %u at %u has no text with its id\n", i, s);
    assert_true(found);
  }
}

/* ---- per language
 * ------------------------------------------------------------ */

static void test_c(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.c");
  check_record(r);
  expect_def(r, "MAX_SIZE", CH_DEF_MACRO, 6, 8, NULL, "#define MAX_SIZE 1024",
             "/** The largest size. */");
  expect_def(r, "SQUARE", CH_DEF_MACRO, 7, 8, NULL,
             "#define SQUARE(x) ((x) * (x))", NULL);
  const ch_def *point =
      expect_def(r, "point", CH_DEF_STRUCT, 11, 7, NULL, "struct point",
                 "// A point in the plane.\n// Two coordinates.");
  expect_range(point, 11, 0, 14, 1);
  expect_def(r, "x", CH_DEF_FIELD, 12, 6, "point", "int x", NULL);
  expect_def(r, "value", CH_DEF_UNION, 17, 6, NULL, "union value",
             "/* A number or a pointer. */");
  expect_def(r, "pointer", CH_DEF_FIELD, 19, 8, "value", "void *pointer", NULL);
  expect_def(r, "color", CH_DEF_ENUM, 22, 5, NULL, "enum color", NULL);
  expect_def(r, "GREEN", CH_DEF_CONSTANT, 22, 18, "color", "GREEN = 2", NULL);
  expect_def(r, "size_type", CH_DEF_TYPE, 24, 22, NULL,
             "typedef unsigned long size_type", NULL);
  expect_def(r, "node_t", CH_DEF_TYPE, 28, 2, NULL,
             "typedef struct node { ... } node_t", NULL);
  /* A struct is never contained by the typedef around it. */
  expect_def(r, "node", CH_DEF_STRUCT, 26, 15, NULL, "struct node", NULL);
  expect_def(r, "next", CH_DEF_FIELD, 27, 15, "node", "struct node *next",
             NULL);
  expect_def(r, "counter", CH_DEF_VARIABLE, 31, 11, NULL,
             "static int counter = 0", "/* A counter shared by everything. */");
  expect_def(r, "names", CH_DEF_VARIABLE, 32, 12, NULL,
             "const char *names[] = {\"a\", \"b\"}", NULL);
  expect_def(r, "add", CH_DEF_FUNCTION, 34, 4, NULL, "int add(int a, int b)",
             NULL);
  const ch_def *pa =
      expect_def(r, "point_add", CH_DEF_FUNCTION, 38, 13, NULL,
                 "struct point point_add(struct point a, struct point b)",
                 "/* Adds two points\n * and returns the sum. */");
  expect_range(pa, 38, 0, 46, 1);
  expect_def(r, "twice", CH_DEF_FUNCTION, 49, 0, NULL,
             "static inline int twice(int v)", NULL);
  /* Locals and parameters are not definitions. */
  expect_no_def(r, "local");
  expect_no_def(r, "r");
  expect_no_def(r, "v");
  assert_int_equal(r->ndefs, 21);

  static const want_import imports[] = {
      {"local/util.h", CH_IMPORT_INCLUDE_LOCAL, NULL, 1},
      {"stdio.h", CH_IMPORT_INCLUDE_SYSTEM, NULL, 2},
      {"sys/types.h", CH_IMPORT_INCLUDE_SYSTEM, NULL, 3},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(r, NAMES("printf", "SQUARE", "counter", "point", "x", "add"),
                NAMES("names", "point_add", "twice", "MAX_SIZE", "size_type",
                      "node_t", "RED", "include", "stdio"));
  ch_record_unref(r);
}

static void test_cpp(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.cpp");
  check_record(r);
  const ch_def *geo =
      expect_def(r, "geo", CH_DEF_MODULE, 4, 10, NULL, "namespace geo", NULL);
  expect_range(geo, 4, 0, 43, 1);
  expect_def(r, "Shape", CH_DEF_CLASS, 7, 6, "geo", "class Shape",
             "/// A shape with an area.");
  expect_def(r, "Shape", CH_DEF_METHOD, 10, 2, "Shape", "Shape(int sides)",
             "/// Creates a shape.");
  expect_def(r, "~Shape", CH_DEF_METHOD, 11, 10, "Shape", "virtual ~Shape()",
             NULL);
  expect_def(r, "area", CH_DEF_METHOD, 13, 17, "Shape",
             "virtual double area() const = 0", "/// The area.");
  expect_def(r, "sides", CH_DEF_FIELD, 14, 6, "Shape", "int sides", NULL);
  expect_def(r, "Box", CH_DEF_STRUCT, 20, 7, "geo", "struct Box", NULL);
  expect_def(r, "h", CH_DEF_FIELD, 21, 12, "Box", "double w, h", NULL);
  expect_def_nth(r, "area", CH_DEF_METHOD, 1, 22, 9, "Box",
                 "double area() const", NULL);
  const ch_def *holder =
      expect_def(r, "Holder", CH_DEF_CLASS, 27, 6, "geo",
                 "template <typename T> class Holder", "// A generic holder.");
  expect_range(holder, 26, 0, 29, 2);
  expect_def(r, "value", CH_DEF_FIELD, 28, 4, "Holder", "T value", NULL);
  expect_def(r, "Length", CH_DEF_TYPE, 31, 6, "geo", "using Length = double",
             NULL);
  expect_def(r, "Unit", CH_DEF_ENUM, 33, 11, "geo", "enum class Unit", NULL);
  expect_def(r, "Foot", CH_DEF_CONSTANT, 33, 25, "Unit", "Foot", NULL);
  expect_def(r, "Raw", CH_DEF_UNION, 35, 6, "geo", "union Raw", NULL);
  expect_def(r, "make_box", CH_DEF_FUNCTION, 41, 4, "geo",
             "Box make_box(double w, double h)", "/* Builds a box. */");
  expect_def(r, "shape_count", CH_DEF_VARIABLE, 46, 4, NULL,
             "int shape_count = 0", "// The number of shapes.");
  /* Out of line: the class of this file, or the namespace. */
  expect_def_nth(r, "Shape", CH_DEF_METHOD, 1, 48, 12, "Shape",
                 "geo::Shape::Shape(int sides) : sides(sides)", NULL);
  expect_def(r, "total", CH_DEF_FUNCTION, 51, 12, "geo",
             "double geo::total(const std::vector<geo::Box> &boxes)",
             "/* Computes a total. */");
  expect_def(r, "max_of", CH_DEF_FUNCTION, 58, 2, NULL,
             "template <typename T> T max_of(T a, T b)", NULL);
  expect_no_def(r, "sum");
  expect_no_def(r, "b");

  static const want_import imports[] = {
      {"shapes/shape.hpp", CH_IMPORT_INCLUDE_LOCAL, NULL, 1},
      {"vector", CH_IMPORT_INCLUDE_SYSTEM, NULL, 2},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(r, NAMES("Box", "Shape", "std", "vector", "geo", "sides"),
                NAMES("Holder", "Length", "Unit", "make_box", "shape_count",
                      "max_of", "total"));
  ch_record_unref(r);
}

static void test_python(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.py");
  check_record(r);
  expect_def(r, "MAX_SIZE", CH_DEF_CONSTANT, 10, 0, NULL, "MAX_SIZE = 100",
             "# The maximum.");
  expect_def(r, "counter", CH_DEF_VARIABLE, 11, 0, NULL, "counter = 0", NULL);
  expect_def(r, "a", CH_DEF_VARIABLE, 12, 0, NULL, "a, b = 1, 2", NULL);
  expect_def(r, "b", CH_DEF_VARIABLE, 12, 3, NULL, "a, b = 1, 2", NULL);
  expect_def(r, "helper", CH_DEF_FUNCTION, 16, 4, NULL,
             "def helper(x: int, y: int = 2) -> int", "# Helper for things.");
  expect_def(r, "Base", CH_DEF_CLASS, 22, 6, NULL, "class Base", NULL);
  /* The decorator belongs to the range, not to the signature. */
  const ch_def *point =
      expect_def(r, "Point", CH_DEF_CLASS, 27, 6, NULL, "class Point(Base)",
                 "\"\"\"A point in the plane.\"\"\"");
  expect_range(point, 26, 0, 42, 55);
  expect_def(r, "dims", CH_DEF_FIELD, 30, 4, "Point", "dims = 2", NULL);
  expect_def(r, "__init__", CH_DEF_METHOD, 32, 8, "Point",
             "def __init__(self, x, y)", NULL);
  /* The docstring wins over the comment above. */
  expect_def(r, "norm", CH_DEF_METHOD, 38, 8, "Point", "def norm(self)",
             "\"\"\"The Euclidean norm.\"\"\"");
  expect_def(r, "square", CH_DEF_FUNCTION, 40, 12, "norm", "def square(v)",
             NULL);
  expect_def(r, "fetch", CH_DEF_FUNCTION, 45, 10, NULL, "async def fetch(url)",
             NULL);
  expect_no_def(r, "total");
  expect_no_def(r, "x");
  assert_int_equal(r->ndefs, 12);

  static const want_import imports[] = {
      {"os", CH_IMPORT_MODULE, NULL, 1},
      {"os.path", CH_IMPORT_MODULE, NULL, 2},
      {"sys", CH_IMPORT_MODULE, NULL, 2},
      {"collections", CH_IMPORT_MODULE, "OrderedDict,defaultdict", 3},
      {".", CH_IMPORT_RELATIVE, "sibling", 4},
      {"..pkg.mod", CH_IMPORT_RELATIVE, "thing", 5},
      {"..", CH_IMPORT_RELATIVE, "parent", 6},
      {"json", CH_IMPORT_MODULE, "*", 7},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(
      r, NAMES("os", "self", "square", "Base", "decorator", "fetch"),
      NAMES("helper", "MAX_SIZE", "counter", "norm", "dims", "Point"));
  ch_record_unref(r);
}

static void test_javascript(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.js");
  check_record(r);
  expect_def(r, "fs", CH_DEF_VARIABLE, 6, 6, NULL, "const fs = require('fs')",
             NULL);
  const ch_def *max =
      expect_def(r, "MAX_SIZE", CH_DEF_CONSTANT, 10, 13, NULL,
                 "export const MAX_SIZE = 100", "/** The largest size. */");
  expect_range(max, 10, 0, 10, 28);
  expect_def(r, "counter", CH_DEF_VARIABLE, 11, 4, NULL, "let counter = 0",
             NULL);
  expect_def(r, "legacy", CH_DEF_VARIABLE, 12, 4, NULL, "var legacy = 'old'",
             NULL);
  expect_def(r, "add", CH_DEF_FUNCTION, 17, 9, NULL, "function add(a, b)",
             "/**\n * Adds two numbers.\n */");
  expect_def(r, "double", CH_DEF_FUNCTION, 22, 13, NULL,
             "export const double = (x) => x * 2", "// Doubles a value.");
  expect_def(r, "Widget", CH_DEF_CLASS, 24, 21, NULL,
             "export default class Widget extends React.Component", NULL);
  /* Upstream leaves constructors out; they are methods here. */
  expect_def(r, "constructor", CH_DEF_METHOD, 26, 2, "Widget",
             "constructor(props)", "// Builds a widget.");
  expect_def(r, "render", CH_DEF_METHOD, 32, 2, "Widget", "render()",
             "/** Renders it. */");
  expect_def(r, "ids", CH_DEF_FUNCTION, 38, 10, NULL, "function* ids()", NULL);
  expect_def(r, "load", CH_DEF_FUNCTION, 42, 15, NULL,
             "async function load(name)", NULL);
  expect_no_def(r, "mod");
  expect_no_def(r, "value");

  static const want_import imports[] = {
      {"react", CH_IMPORT_PACKAGE, "default,useState,useEffect", 1},
      {"path", CH_IMPORT_PACKAGE, "*", 2},
      {"./side-effect.css", CH_IMPORT_RELATIVE, NULL, 3},
      {"./helpers.js", CH_IMPORT_RELATIVE, "helper,other", 4},
      {"../shared/index.js", CH_IMPORT_RELATIVE, "*", 5},
      {"fs", CH_IMPORT_PACKAGE, NULL, 6},
      {"./paths", CH_IMPORT_RELATIVE, NULL, 7},
      {"./lazy.js", CH_IMPORT_RELATIVE, NULL, 44},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(r,
                NAMES("React", "useState", "fs", "join", "counter", "Component",
                      "state", "require"),
                NAMES("add", "double", "ids", "load", "legacy", "MAX_SIZE",
                      "Widget", "render"));
  ch_record_unref(r);
}

static void test_typescript(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.ts");
  check_record(r);
  expect_def(r, "Shape", CH_DEF_INTERFACE, 6, 17, NULL,
             "export interface Shape", "/** A shape. */");
  expect_def(r, "area", CH_DEF_METHOD, 8, 2, "Shape", "area(): number",
             "/** The area. */");
  expect_def(r, "name", CH_DEF_FIELD, 9, 2, "Shape", "name: string", NULL);
  expect_def(r, "Id", CH_DEF_TYPE, 13, 5, NULL, "type Id = string | number",
             "// Identifiers.");
  expect_def(r, "Color", CH_DEF_ENUM, 15, 12, NULL, "export enum Color", NULL);
  expect_def(r, "Green", CH_DEF_CONSTANT, 17, 2, "Color", "Green", NULL);
  expect_def(r, "Geometry", CH_DEF_MODULE, 21, 10, NULL, "namespace Geometry",
             "/** Geometry helpers. */");
  expect_def(r, "ORIGIN", CH_DEF_CONSTANT, 22, 15, "Geometry",
             "export const ORIGIN = 0", NULL);
  expect_def(r, "shim", CH_DEF_FUNCTION, 26, 18, NULL,
             "export function shim(): void", NULL);
  expect_def(r, "Base", CH_DEF_CLASS, 29, 22, NULL,
             "export abstract class Base implements Shape", NULL);
  expect_def(r, "count", CH_DEF_FIELD, 30, 12, "Base",
             "protected count: number = 0", NULL);
  expect_def_nth(r, "area", CH_DEF_METHOD, 1, 31, 11, "Base",
                 "abstract area(): number", NULL);
  expect_def(r, "name", CH_DEF_METHOD, 32, 6, "Base", "get name(): string",
             NULL);
  expect_def(r, "overload", CH_DEF_FUNCTION, 37, 16, NULL,
             "export function overload(x: string): string", NULL);
  expect_def_nth(r, "overload", CH_DEF_FUNCTION, 1, 38, 16, NULL,
                 "export function overload(x: any)", NULL);
  expect_def(r, "handler", CH_DEF_FUNCTION, 42, 6, NULL,
             "const handler = async (req: Config): Promise<void> =>", NULL);

  static const want_import imports[] = {
      {"./config", CH_IMPORT_RELATIVE, "Config", 1},
      {"express", CH_IMPORT_PACKAGE, "default", 2},
      {"fs", CH_IMPORT_PACKAGE, NULL, 3},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(
      r, NAMES("Config", "Shape", "Promise", "fs", "readFile"),
      NAMES("Base", "Id", "Geometry", "handler", "overload", "Color"));
  ch_record_unref(r);
}

static void test_tsx(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.tsx");
  check_record(r);
  expect_def(r, "CardProps", CH_DEF_INTERFACE, 5, 10, NULL,
             "interface CardProps", "/** Props of a card. */");
  expect_def(r, "title", CH_DEF_FIELD, 6, 2, "CardProps", "title: string",
             NULL);
  expect_def(r, "Card", CH_DEF_FUNCTION, 10, 16, NULL,
             "export function Card(props: CardProps)",
             "/** Renders a card. */");
  expect_def(r, "Small", CH_DEF_FUNCTION, 14, 13, NULL,
             "export const Small = () => <Card title=\"small\" />", NULL);
  static const want_import imports[] = {
      {"preact", CH_IMPORT_PACKAGE, "h", 1},
      {"./Button", CH_IMPORT_RELATIVE, "default", 2},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  /* JSX tag names and attributes are identifiers too. */
  expect_idents(r, NAMES("Button", "Card", "div", "className", "title"),
                NAMES("Small"));
  ch_record_unref(r);
}

static void test_go(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.go");
  check_record(r);
  expect_def(r, "MaxSize", CH_DEF_CONSTANT, 12, 6, NULL, "const MaxSize = 100",
             "// MaxSize is the largest size.");
  expect_def(r, "Red", CH_DEF_CONSTANT, 16, 1, NULL, "Red = iota",
             "// Red is a color.");
  expect_def(r, "Green", CH_DEF_CONSTANT, 17, 1, NULL, "Green", NULL);
  expect_def(r, "counter", CH_DEF_VARIABLE, 21, 4, NULL, "var counter int",
             "// counter counts.");
  expect_def(r, "lookup", CH_DEF_VARIABLE, 25, 1, NULL,
             "lookup = map[string]int{}", NULL);
  const ch_def *point = expect_def(r, "Point", CH_DEF_STRUCT, 29, 5, NULL,
                                   "type Point struct", "// Point is a point.");
  expect_range(point, 29, 0, 31, 1);
  expect_def(r, "Y", CH_DEF_FIELD, 30, 4, "Point", "X, Y int", NULL);
  expect_def(r, "Shape", CH_DEF_INTERFACE, 34, 5, NULL, "type Shape interface",
             "// Shape has an area.");
  expect_def(r, "Area", CH_DEF_METHOD, 35, 1, "Shape", "Area() float64", NULL);
  expect_def(r, "ID", CH_DEF_TYPE, 38, 5, NULL, "type ID string", NULL);
  expect_def(r, "Alias", CH_DEF_TYPE, 40, 5, NULL, "type Alias = Point", NULL);
  /* A method's container is its receiver's type when this file has it. */
  expect_def_nth(r, "Area", CH_DEF_METHOD, 1, 43, 16, "Point",
                 "func (p *Point) Area() float64",
                 "// Area computes the area.");
  expect_def(r, "Side", CH_DEF_METHOD, 47, 16, NULL,
             "func (s Square) Side() int", NULL);
  expect_def(r, "NewPoint", CH_DEF_FUNCTION, 50, 5, NULL,
             "func NewPoint(x, y int) *Point", "// NewPoint makes a point.");
  expect_no_def(r, "sample");

  static const want_import imports[] = {
      {"fmt", CH_IMPORT_MODULE, NULL, 3},
      {"net/http", CH_IMPORT_MODULE, NULL, 6},
      {"strings", CH_IMPORT_MODULE, NULL, 7},
      {"embed", CH_IMPORT_MODULE, NULL, 8},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(r, NAMES("fmt", "Println", "Point", "counter", "str", "X"),
                NAMES("_", "NewPoint", "MaxSize", "lookup", "names", "ID",
                      "Alias", "Side"));
  ch_record_unref(r);
}

static void test_rust(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "sample.rs");
  check_record(r);
  expect_def(r, "inner", CH_DEF_MODULE, 8, 4, NULL, "mod inner", NULL);
  expect_def(r, "MAX_SIZE", CH_DEF_CONSTANT, 11, 10, NULL,
             "pub const MAX_SIZE: usize = 100", "/// The largest size.");
  expect_def(r, "COUNTER", CH_DEF_VARIABLE, 12, 11, NULL,
             "static mut COUNTER: u32 = 0", NULL);
  /* The doc comment sits above the attribute. */
  expect_def(r, "Point", CH_DEF_STRUCT, 17, 11, NULL, "pub struct Point",
             "/// A point.\n/// In two dimensions.");
  expect_def(r, "x", CH_DEF_FIELD, 18, 8, "Point", "pub x: i32", NULL);
  expect_def(r, "Pair", CH_DEF_STRUCT, 22, 11, NULL,
             "pub struct Pair(i32, i32)", NULL);
  expect_def(r, "Color", CH_DEF_ENUM, 25, 5, NULL, "enum Color", "/// Colors.");
  expect_def(r, "Bits", CH_DEF_UNION, 30, 6, NULL, "union Bits", NULL);
  expect_def(r, "Map", CH_DEF_TYPE, 35, 5, NULL,
             "type Map = HashMap<String, Point>", NULL);
  expect_def(r, "Shape", CH_DEF_INTERFACE, 38, 10, NULL, "pub trait Shape",
             "/// Things with an area.");
  expect_def(r, "area", CH_DEF_METHOD, 40, 7, "Shape", "fn area(&self) -> f64",
             "/// The area.");
  expect_def(r, "name", CH_DEF_METHOD, 41, 7, "Shape",
             "fn name(&self) -> String", NULL);
  /* impl blocks of a type of this file: their methods go to the type. */
  expect_def(r, "new", CH_DEF_METHOD, 48, 11, "Point",
             "pub fn new(x: i32, y: i32) -> Self", "/// Makes a point.");
  expect_def_nth(r, "area", CH_DEF_METHOD, 1, 54, 7, "Point",
                 "fn area(&self) -> f64", NULL);
  /* ...of a type defined elsewhere: the block is a module. */
  const ch_def *w = expect_def(r, "Wrapper", CH_DEF_MODULE, 59, 22, NULL,
                               "impl fmt::Display for Wrapper", NULL);
  expect_range(w, 59, 0, 63, 1);
  expect_def(r, "fmt", CH_DEF_METHOD, 60, 7, "Wrapper",
             "fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result", NULL);
  expect_def(r, "square", CH_DEF_MACRO, 66, 13, NULL, "macro_rules! square",
             "/// Squares a number.");
  expect_def(r, "util", CH_DEF_MODULE, 72, 4, NULL, "mod util", NULL);
  expect_def(r, "helper", CH_DEF_FUNCTION, 73, 11, "util",
             "pub fn helper() -> u32", NULL);
  expect_def(r, "main", CH_DEF_FUNCTION, 78, 3, NULL, "fn main()", NULL);
  expect_no_def(r, "p");
  assert_null(find_def(r, "Point", CH_DEF_MODULE));
  assert_int_equal(r->ndefs, 23);

  static const want_import imports[] = {
      {"std::io", CH_IMPORT_MODULE, NULL, 1},
      {"std::collections", CH_IMPORT_MODULE, "HashMap,HashSet", 2},
      {"crate::net::tcp", CH_IMPORT_MODULE, NULL, 3},
      {"super::parent_fn", CH_IMPORT_MODULE, NULL, 4},
      {"self::inner", CH_IMPORT_MODULE, "*", 5},
      {"a", CH_IMPORT_MODULE, "e", 6},
      {"a::b", CH_IMPORT_MODULE, "c,d", 6},
      {"inner", CH_IMPORT_RELATIVE, NULL, 8},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  /* The type of an impl block is a use, even when the block is recorded. */
  expect_idents(
      r, NAMES("Point", "Wrapper", "HashMap", "io", "square", "Shape", "area"),
      NAMES("main", "helper", "util", "MAX_SIZE", "COUNTER", "Bits", "Map",
            "Pair", "Color"));
  ch_record_unref(r);
}

static void test_java(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_fixture(ex, "Sample.java");
  check_record(r);
  expect_def(r, "Sample", CH_DEF_CLASS, 11, 13, NULL,
             "public class Sample implements Shape",
             "/**\n * A shape with an area.\n */");
  expect_def(r, "MAX_SIZE", CH_DEF_CONSTANT, 13, 26, "Sample",
             "public static final int MAX_SIZE = 100",
             "/** The largest size. */");
  expect_def(r, "names", CH_DEF_FIELD, 14, 29, "Sample",
             "private final List<String> names", NULL);
  expect_def(r, "counter", CH_DEF_FIELD, 15, 13, "Sample", "static int counter",
             NULL);
  expect_def(r, "Sample", CH_DEF_METHOD, 18, 9, "Sample",
             "public Sample(List<String> names)", "/** Makes a sample. */");
  expect_def(r, "area", CH_DEF_METHOD, 24, 16, "Sample",
             "@Override public double area()", "// The area.");
  expect_def(r, "Kind", CH_DEF_ENUM, 28, 7, "Sample", "enum Kind", NULL);
  expect_def(r, "LARGE", CH_DEF_CONSTANT, 28, 21, "Kind", "LARGE", NULL);
  expect_def(r, "Pair", CH_DEF_CLASS, 30, 9, "Sample",
             "record Pair(int a, int b)", NULL);
  expect_def(r, "Shape", CH_DEF_INTERFACE, 34, 10, NULL, "interface Shape",
             "/** Things with an area. */");
  expect_def_nth(r, "area", CH_DEF_METHOD, 1, 35, 9, "Shape", "double area()",
                 NULL);
  expect_def(r, "Marker", CH_DEF_INTERFACE, 38, 11, NULL, "@interface Marker",
             NULL);
  expect_def(r, "value", CH_DEF_METHOD, 39, 9, "Marker",
             "String value() default \"\"", NULL);

  static const want_import imports[] = {
      {"java.util.List", CH_IMPORT_MODULE, NULL, 3},
      {"java.util.*", CH_IMPORT_MODULE, NULL, 4},
      {"java.lang.Math.max", CH_IMPORT_MODULE, NULL, 5},
      {"org.junit.Assert.*", CH_IMPORT_MODULE, NULL, 6},
  };
  expect_imports(r, imports, CH_ARRAY_LEN(imports));
  expect_idents(r, NAMES("List", "String", "Override", "max", "names", "Shape"),
                NAMES("Kind", "Pair", "Marker", "MAX_SIZE", "LARGE"));
  ch_record_unref(r);
}

/* Forms that are not imports, or are, in less common spellings. */
static void test_import_edges(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_str(ex, "javascript",
                             "foo('./x');\n"
                             "require('a', 'b');\n"
                             "require(name);\n"
                             "import(`./t${x}`);\n"
                             "const m = require('./m');\n");
  static const want_import js[] = {{"./m", CH_IMPORT_RELATIVE, NULL, 4}};
  expect_imports(r, js, CH_ARRAY_LEN(js));
  ch_record_unref(r);

  r = extract_str(ex, "c", "#include MACRO_HEADER\n#include \"a.h\"\n");
  static const want_import c[] = {{"a.h", CH_IMPORT_INCLUDE_LOCAL, NULL, 1}};
  expect_imports(r, c, CH_ARRAY_LEN(c));
  ch_record_unref(r);

  r = extract_str(ex, "python",
                  "from x import (a,\n    b as c)\n"
                  "import a . b\n");
  static const want_import py[] = {{"x", CH_IMPORT_MODULE, "a,b", 0},
                                   {"a.b", CH_IMPORT_MODULE, NULL, 2}};
  expect_imports(r, py, CH_ARRAY_LEN(py));
  ch_record_unref(r);

  r = extract_str(ex, "rust",
                  "use a::b::{self, c as d, e::f};\n"
                  "use {g, h};\n"
                  "extern crate serde;\n"
                  "mod m { }\n");
  static const want_import rs[] = {
      {"a::b", CH_IMPORT_MODULE, "self,c,e::f", 0},
      {"", CH_IMPORT_MODULE, "g,h", 1},
      {"serde", CH_IMPORT_MODULE, NULL, 2},
  };
  expect_imports(r, rs, CH_ARRAY_LEN(rs));
  ch_record_unref(r);

  r = extract_str(ex, "go", "package p\nimport m `raw/path`\n");
  static const want_import go[] = {{"raw/path", CH_IMPORT_MODULE, NULL, 1}};
  expect_imports(r, go, CH_ARRAY_LEN(go));
  ch_record_unref(r);

  r = extract_str(ex, "java", "import static a.B.*;\nimport x;\n");
  static const want_import java[] = {{"a.B.*", CH_IMPORT_MODULE, NULL, 0},
                                     {"x", CH_IMPORT_MODULE, NULL, 1}};
  expect_imports(r, java, CH_ARRAY_LEN(java));
  ch_record_unref(r);
}

/* ---- lines, tokens, docs
 * ------------------------------------------------------- */

static void test_line_starts(void **state) {
  ch_extractor *ex = *state;
  /* LF, CRLF and lone CR each end a line. */
  ch_record *r = extract_str(ex, "c", "int a;\r\nint b;\rint c;\nint d;");
  check_record(r);
  assert_int_equal(r->nlines, 4);
  assert_int_equal(r->line_starts[1], 8);
  assert_int_equal(r->line_starts[2], 15);
  assert_int_equal(r->line_starts[3], 22);
  /* Rows of definitions follow the same lines, even after a lone CR. */
  expect_def(r, "b", CH_DEF_VARIABLE, 1, 4, NULL, "int b", NULL);
  expect_def(r, "c", CH_DEF_VARIABLE, 2, 4, NULL, "int c", NULL);
  expect_def(r, "d", CH_DEF_VARIABLE, 3, 4, NULL, "int d", NULL);
  ch_record_unref(r);

  r = extract_str(ex, "python", "x = 1\n");
  assert_int_equal(r->nlines, 2);
  assert_int_equal(r->line_starts[1], 6);
  ch_record_unref(r);

  r = extract_str(ex, "python", "\r\r\n\n");
  assert_int_equal(r->nlines, 4);
  assert_int_equal(r->line_starts[1], 1);
  assert_int_equal(r->line_starts[2], 3);
  assert_int_equal(r->line_starts[3], 4);
  ch_record_unref(r);

  /* Docs and signatures in a CRLF file. */
  r = extract_str(ex, "c", "// one\r\n// two\r\nint\r\nf(void)\r\n{\r\n}\r\n");
  expect_def(r, "f", CH_DEF_FUNCTION, 3, 0, NULL, "int f(void)",
             "// one\r\n// two");
  ch_record_unref(r);
}

static void test_tokens(void **state) {
  ch_extractor *ex = *state;
  const char *src = "int x = f(\"a b\", 'c'); /* gone */ // gone too\nx = x;\n";
  ch_record *r = extract_str(ex, "c", src);
  static const char *const want[] = {"int", "x", "=", "f", "(", "\"a b\"", ",",
                                     "'c'", ")", ";", "x", "=", "x",       ";"};
  assert_int_equal(r->ntokens, CH_ARRAY_LEN(want));
  for(size_t i = 0; i < CH_ARRAY_LEN(want); i++)
    assert_int_equal(r->tokens[i], ch_token_id(want[i], strlen(want[i])));
  /* Equal texts, equal ids. */
  assert_int_equal(r->tokens[1], r->tokens[10]);
  assert_int_equal(r->tokens[2], r->tokens[11]);
  assert_true(r->tokens[1] != r->tokens[0]);
  /* Each token starts where its text does, comments skipped. */
  for(size_t i = 0; i < CH_ARRAY_LEN(want); i++) {
    uint32_t at = r->token_starts[i];
    assert_memory_equal(src + at, want[i], strlen(want[i]));
  }
  assert_int_equal(r->token_starts[10], strchr(src, '\n') + 1 - src);
  expect_token_texts(r, src);
  ch_record_unref(r);

  /* A Python f-string with an interpolation is one token; the name inside
   * is still an identifier used. */
  r = extract_str(ex, "python", "# c\nprint(f\"v={value}\")\n");
  static const char *const want_py[] = {"print", "(", "f\"v={value}\"", ")"};
  assert_int_equal(r->ntokens, CH_ARRAY_LEN(want_py));
  for(size_t i = 0; i < CH_ARRAY_LEN(want_py); i++)
    assert_int_equal(r->tokens[i], ch_token_id(want_py[i], strlen(want_py[i])));
  assert_true(has_ident(r, "value"));
  assert_true(has_ident(r, "print"));
  ch_record_unref(r);

  /* Rust doc comments are comments too; JS template strings one token. */
  r = extract_str(ex, "rust", "/// doc\nfn f() {}\n");
  assert_int_equal(r->ntokens, 6);
  assert_int_equal(r->tokens[0], ch_token_id("fn", 2));
  ch_record_unref(r);
  r = extract_str(ex, "javascript", "let s = `a ${b} c`;");
  assert_int_equal(r->ntokens, 5);
  assert_int_equal(r->tokens[3], ch_token_id("`a ${b} c`", 10));
  assert_int_equal(r->token_starts[3], 8);
  assert_int_equal(r->token_starts[4], 18);
  assert_true(has_ident(r, "b"));
  ch_record_unref(r);
}

static void expect_same_record(const ch_record *a, const ch_record *b);
static void expect_same_structure(const ch_record *a, const ch_record *b);

/* Python statements and expressions are lexed, not walked: the records
 * are the same as when every node is visited, on the fixtures. So are the
 * definitions, imports and identifiers of JavaScript and TypeScript, whose
 * expressions are lexed when their text allows (the lexer reads a regular
 * expression as one token where the tree has its parts). */
static void test_lexed_same_as_walked(void **state) {
  ch_extractor *lexed = *state;
  ch_extractor *walked = ch_extractor_new();
  ch_extractor_walk_all(walked, true);
  static const char *const files[] = {"sample.py",
                                      "../repos/python/main.py",
                                      "../repos/python/pkg/__init__.py",
                                      "../repos/python/pkg/a.py",
                                      "../repos/python/pkg/b.py",
                                      "../repos/python/pkg/c.py",
                                      "sample.js",
                                      "sample.ts",
                                      "sample.tsx",
                                      "../repos/js/src/index.js",
                                      "../repos/js/src/app.ts",
                                      "../repos/js/src/re.mjs",
                                      "../repos/js/src/types.ts"};
  uint32_t found = 0;
  for(size_t i = 0; i < CH_ARRAY_LEN(files); i++) {
    ch_record *a = extract_fixture(lexed, files[i]);
    ch_record *b = extract_fixture(walked, files[i]);
    found += a->ndefs + a->nimports + a->nidents;
    if(strstr(files[i], ".py"))
      expect_same_record(a, b);
    else
      expect_same_structure(a, b);
    ch_record_unref(a);
    ch_record_unref(b);
  }
  assert_true(found > 50); /* definitions, imports, identifiers compared */
  ch_extractor_free(walked);
}

/* What the lexer finds in lexed nodes: identifiers, not keywords; soft
 * keywords used as names; the fields of f-strings; one token per string. */
static void test_lexed_identifiers(void **state) {
  ch_extractor *ex = *state;
  const char *src =
      "x = foo(bar.baz, lambda q: q + 1, not None, *rest)\n"
      "print(match, type)\n"
      "y = f\"{a.b!r:>{width}} {{braces}} {c['k']}\" 'not_an_ident'\n"
      "assert z is True, \"msg with word\"\n"
      "if cond:\n"
      "    raise Err(\"\"\"doc \\\"\"\" inner\"\"\")\n";
  ch_record *r = extract_str(ex, "python", src);
  static const char *const used[] = {
      "foo", "bar", "baz",   "q", "rest", "print", "match", "type",
      "a",   "b",   "width", "c", "z",    "cond",  "Err",   NULL};
  static const char *const unused[] = {
      "lambda", "not", "None", "r",    "braces", "k",     "not_an_ident",
      "True",   "is",  "msg",  "word", "doc",    "inner", NULL};
  expect_idents(r, used, unused);
  expect_token_texts(r, src);
  /* Tokens: the call's, strings whole. */
  bool saw_fstring = false, saw_triple = false;
  for(uint32_t i = 0; i < r->ntokens; i++) {
    const char *t = src + r->token_starts[i];
    saw_fstring |= !strncmp(t, "f\"{a.b!r", 8) &&
                   r->tokens[i] == ch_token_id(t, strchr(t + 2, '"') + 1 - t);
    saw_triple |=
        !strncmp(t, "\"\"\"doc", 6) &&
        r->tokens[i] == ch_token_id(t, strstr(t + 3, "inner\"\"\"") + 8 - t);
  }
  assert_true(saw_fstring);
  assert_true(saw_triple);
  ch_record_unref(r);
}

/* JavaScript and TypeScript: expressions are lexed only when nothing in
 * them may start a definition or an import; every one below is inside an
 * expression of a lexed type, and is found. */
static void test_lexed_javascript(void **state) {
  ch_extractor *lexed = *state;
  ch_extractor *walked = ch_extractor_new();
  ch_extractor_walk_all(walked, true);
  const char *js =
      "register([{ handler: function named() {} }, { area() { return 1 } }]);\n"
      "use({ onClick: () => go(), label: \"function class =>\" });\n"
      "x.y = [require(\"./dep\"), import(\"./lazy\")];\n"
      "wrap(class Inner { method() {} });\n"
      "const re = [/\"/, /'/g]; obj.get(a, b).delete({ default: 1 });\n"
      "class K { #secret = 1; peek() { return this.#secret + super.x; } }\n"
      "function outer(a) {\n"
      "  if (a) { for (const k of a) { total += k; } }\n"
      "  else { switch (a) { case 1: x(); break; default: y({ default: 2 }); } "
      "}\n"
      "  while (a) { const local = { build() {} }; }\n"
      "  try { z(); } catch (e) { const handle = () => 0; }\n"
      "}\n";
  ch_record *a = extract_str(lexed, "javascript", js);
  ch_record *b = extract_str(walked, "javascript", js);
  expect_same_structure(a, b);
  for(const char *const *n =
          (const char *const[]){"handler", "area", "onClick", "Inner", "method",
                                "outer", "build", "handle", NULL};
      *n; n++)
    assert_non_null(find_def(a, *n, -1));
  assert_int_equal(a->nimports, 2);
  static const char *const used[] = {
      "register", "go",      "x",     "y", "wrap", "obj", "get", "delete",
      "default",  "#secret", "total", "k", "z",    "e",   NULL};
  static const char *const unused[] = {"function", "class",  "this",  "super",
                                       "return",   "switch", "case",  "break",
                                       "of",       "while",  "catch", NULL};
  expect_idents(a, used, unused);
  expect_token_texts(a, js);
  ch_record_unref(a);
  ch_record_unref(b);

  /* TypeScript: a type with members inside an expression. */
  const char *ts = "save(input as { field: string; run(): void });\n"
                   "call<{ other: number }>(x);\n";
  a = extract_str(lexed, "typescript", ts);
  b = extract_str(walked, "typescript", ts);
  expect_same_structure(a, b);
  assert_non_null(find_def(a, "field", -1));
  assert_non_null(find_def(a, "run", -1));
  assert_non_null(find_def(a, "other", -1));
  ch_record_unref(a);
  ch_record_unref(b);

  /* A large array of literals is lexed whole, tokens as the tree has
   * them; an incremental extraction agrees (the differential tests). */
  ch_buf big;
  ch_buf_init(&big, (size_t)1 << 20);
  assert_int_equal(ch_buf_append_str(&big, "export const table = [\n"), CH_OK);
  for(int i = 0; i < 2000; i++)
    assert_int_equal(
        ch_buf_appendf(&big, "  \"w%d function\", %d, -%d.5,\n", i, i, i),
        CH_OK);
  assert_int_equal(ch_buf_append_str(&big, "];\n"), CH_OK);
  a = extract_text(lexed, "javascript", "big.js", big.data, (uint32_t)big.len);
  b = extract_text(walked, "javascript", "big.js", big.data, (uint32_t)big.len);
  expect_same_record(a, b);
  assert_non_null(find_def(a, "table", -1));
  assert_true(a->ntokens > 10000);
  ch_record_unref(a);
  ch_record_unref(b);
  ch_buf_release(&big);
  ch_extractor_free(walked);
}

static void test_docs(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_str(ex, "c",
                             "int a; // trailing, not a doc\n"
                             "int b;\n"
                             "// separated by a blank line\n"
                             "\n"
                             "int c;\n"
                             "/* block */ // and line\n"
                             "int d;\n"
                             "// first\n"
                             "  // indented\n"
                             "int e;\n");
  expect_def(r, "a", CH_DEF_VARIABLE, 0, 4, NULL, "int a", NULL);
  expect_def(r, "b", CH_DEF_VARIABLE, 1, 4, NULL, "int b", NULL);
  expect_def(r, "c", CH_DEF_VARIABLE, 4, 4, NULL, "int c", NULL);
  expect_def(r, "d", CH_DEF_VARIABLE, 6, 4, NULL, "int d",
             "/* block */ // and line");
  expect_def(r, "e", CH_DEF_VARIABLE, 9, 4, NULL, "int e",
             "// first\n  // indented");
  ch_record_unref(r);

  /* A long doc is cut; a long signature too, on a UTF-8 boundary, with
   * whitespace folded. */
  ch_buf src;
  ch_buf_init(&src, 1 << 20);
  for(int i = 0; i < 400; i++)
    ch_buf_append_str(&src, "// 0123456789 0123456789\n");
  ch_buf_append_str(&src, "int f(int   a,\n\t");
  for(int i = 0; i < 200; i++)
    ch_buf_append_str(&src, "int \xc3\xa9x, ");
  ch_buf_append_str(&src, "int z) { return a; }\n");
  r = extract_text(ex, "c", "long.c", src.data, (uint32_t)src.len);
  const ch_def *f = find_def(r, "f", CH_DEF_FUNCTION);
  assert_non_null(f);
  const char *sig = ch_record_str(r, f->signature);
  assert_true(strlen(sig) <= CH_SIGNATURE_MAX);
  assert_true(strlen(sig) > CH_SIGNATURE_MAX - 8);
  assert_true(ch_utf8_valid(sig, strlen(sig)));
  assert_int_equal(strncmp(sig, "int f(int a, int \xc3\xa9x, ", 20), 0);
  const char *doc = ch_record_str(r, f->doc);
  assert_true(strlen(doc) <= 4096 && strlen(doc) > 4000);
  assert_int_equal(strncmp(doc, "// 0123456789", 13), 0);
  ch_record_unref(r);
  ch_buf_release(&src);
}

/* ---- robustness
 * ------------------------------------------------------------------ */

static void test_empty_and_invalid(void **state) {
  ch_extractor *ex = *state;
  static const char invalid[] =
      "def \xff\xfe(x):\n  return '\xc3\x28' + \x80x\n"
      "int \xed\xa0\x80 = 1;\0\0 fn(\xf4\x90\x80\x80)";
  for(size_t i = 0; i < ch_syntax_count(); i++) {
    const ch_language *lang = ch_syntax_at(i);
    ch_status st = CH_ERR_STATE;
    ch_record *r = ch_extract(ex, lang, "empty", "", 0, NULL, NULL, &st);
    assert_non_null(r);
    assert_int_equal(st, CH_OK);
    check_record(r);
    assert_int_equal(r->nlines, 1);
    assert_int_equal(r->ntokens, 0);
    assert_int_equal(r->ndefs, 0);
    assert_int_equal(r->nidents, 0);
    assert_int_equal(r->size, 0);
    ch_record_unref(r);
    r = ch_extract(ex, lang, "null", NULL, 0, NULL, NULL, &st);
    assert_non_null(r);
    ch_record_unref(r);
    r = ch_extract(ex, lang, "invalid", invalid, sizeof(invalid) - 1, NULL,
                   NULL, &st);
    assert_non_null(r);
    check_record(r);
    assert_true(r->parse_errors);
    ch_record_unref(r);
  }
}

static void test_parse_errors(void **state) {
  ch_extractor *ex = *state;
  ch_record *r = extract_str(ex, "c", "int f( {\n");
  assert_true(r->parse_errors);
  ch_record_unref(r);
  r = extract_str(ex, "python", "def f(:\n  pass\n");
  assert_true(r->parse_errors);
  ch_record_unref(r);
  r = extract_str(ex, "rust", "fn f() {\n");
  assert_true(r->parse_errors);
  ch_record_unref(r);
  r = extract_str(ex, "go", "package p\nfunc f() {}\n");
  assert_false(r->parse_errors);
  ch_record_unref(r);
}

static void test_arguments(void **state) {
  ch_extractor *ex = *state;
  ch_status st = CH_OK;
  assert_null(ch_extract(ex, NULL, "x", "", 0, NULL, NULL, &st));
  assert_int_equal(st, CH_ERR_INVALID);
  st = CH_OK;
  assert_null(
      ch_extract(ex, ch_syntax_by_name("c"), "x", NULL, 3, NULL, NULL, &st));
  assert_int_equal(st, CH_ERR_INVALID);
  /* The size is refused before the text is read. */
  st = CH_OK;
  TSTree *tree = (TSTree *)1;
  assert_null(ch_extract(ex, ch_syntax_by_name("c"), "x", "", UINT32_MAX, NULL,
                         &tree, &st));
  assert_int_equal(st, CH_ERR_TOO_LARGE);
  assert_null(tree);
  ch_extractor_free(NULL);
}

static void test_tree_out(void **state) {
  ch_extractor *ex = *state;
  const ch_language *c = ch_syntax_by_name("c");
  TSTree *tree = NULL;
  const char *v1 = "int f(void);\n";
  ch_record *r =
      ch_extract(ex, c, "t.c", v1, (uint32_t)strlen(v1), NULL, &tree, NULL);
  assert_non_null(r);
  assert_non_null(tree);
  assert_string_equal(ts_node_type(ts_tree_root_node(tree)),
                      "translation_unit");
  ch_record_unref(r);
  /* Rename f to g2: an edit of one byte into two. */
  const char *v2 = "int g2(void);\n";
  TSInputEdit edit = {4, 5, 6, {0, 4}, {0, 5}, {0, 6}};
  ts_tree_edit(tree, &edit);
  TSTree *next = NULL;
  r = ch_extract(ex, c, "t.c", v2, (uint32_t)strlen(v2), tree, &next, NULL);
  assert_non_null(r);
  assert_non_null(next);
  expect_def(r, "g2", CH_DEF_FUNCTION, 0, 4, NULL, "int g2(void)", NULL);
  ch_record_unref(r);
  ts_tree_delete(tree);
  ts_tree_delete(next);
}

/* Two extractors, several languages in turn: state does not leak between
 * extractions or languages. */
static void test_extractor_reuse(void **state) {
  ch_extractor *ex = *state;
  ch_extractor *other = ch_extractor_new();
  static const char *const names[] = {"sample.c", "sample.py", "sample.rs",
                                      "sample.ts", "Sample.java"};
  for(int round = 0; round < 2; round++) {
    for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
      ch_record *a = extract_fixture(ex, names[i]);
      ch_record *b = extract_fixture(other, names[i]);
      assert_int_equal(a->pool_len, b->pool_len);
      assert_memory_equal(a->pool, b->pool, a->pool_len);
      assert_int_equal(a->ndefs, b->ndefs);
      assert_memory_equal(a->defs, b->defs, a->ndefs * sizeof(ch_def));
      ch_record_unref(a);
      ch_record_unref(b);
    }
  }
  ch_extractor_free(other);
}

/* ---- incremental reparsing
 * ----------------------------------------------------------- */

/* Records compared by content (pool offsets may differ). */
/* Everything but the token stream. */
static void expect_same_structure(const ch_record *a, const ch_record *b) {
  assert_int_equal(a->size, b->size);
  assert_true(a->hash == b->hash);
  assert_int_equal(a->parse_errors, b->parse_errors);
  assert_int_equal(a->nlines, b->nlines);
  assert_memory_equal(a->line_starts, b->line_starts,
                      a->nlines * sizeof(uint32_t));
  assert_int_equal(a->nidents, b->nidents);
  for(uint32_t i = 0; i < a->nidents; i++)
    assert_string_equal(ch_record_str(a, a->idents[i]),
                        ch_record_str(b, b->idents[i]));
  if(a->ndefs != b->ndefs) {
    fprintf(stderr, "incremental:\n");
    print_defs(a);
    fprintf(stderr, "fresh:\n");
    print_defs(b);
  }
  assert_int_equal(a->ndefs, b->ndefs);
  for(uint32_t i = 0; i < a->ndefs; i++) {
    const ch_def *x = &a->defs[i], *y = &b->defs[i];
    assert_string_equal(ch_record_str(a, x->name), ch_record_str(b, y->name));
    assert_string_equal(ch_record_str(a, x->signature),
                        ch_record_str(b, y->signature));
    assert_string_equal(ch_record_str(a, x->doc), ch_record_str(b, y->doc));
    assert_int_equal(x->doc == CH_NONE, y->doc == CH_NONE);
    assert_int_equal(x->container, y->container);
    assert_int_equal(x->kind, y->kind);
    assert_memory_equal(&x->range, &y->range, sizeof(ch_span));
    assert_memory_equal(&x->name_range, &y->name_range, sizeof(ch_span));
  }
  assert_int_equal(a->nimports, b->nimports);
  for(uint32_t i = 0; i < a->nimports; i++) {
    const ch_import *x = &a->imports[i], *y = &b->imports[i];
    assert_string_equal(ch_record_str(a, x->spec), ch_record_str(b, y->spec));
    assert_string_equal(ch_record_str(a, x->names), ch_record_str(b, y->names));
    assert_int_equal(x->names == CH_NONE, y->names == CH_NONE);
    assert_int_equal(x->row, y->row);
    assert_int_equal(x->kind, y->kind);
  }
}

static void expect_same_record(const ch_record *a, const ch_record *b) {
  expect_same_structure(a, b);
  assert_int_equal(a->ntokens, b->ntokens);
  if(a->ntokens) {
    assert_memory_equal(a->tokens, b->tokens, a->ntokens * sizeof(uint32_t));
    assert_memory_equal(a->token_starts, b->token_starts,
                        a->ntokens * sizeof(uint32_t));
  }
}

static uint64_t rng_state;

static uint32_t rng(uint32_t bound) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return bound ? (uint32_t)(rng_state % bound) : 0;
}

/* tree-sitter's point of a byte offset: rows count '\n' only. */
static TSPoint point_at(const char *text, uint32_t off) {
  TSPoint p = {0, 0};
  for(uint32_t i = 0; i < off; i++) {
    if(text[i] == '\n') {
      p.row++;
      p.column = 0;
    } else {
      p.column++;
    }
  }
  return p;
}

static const char *const snippets[] = {
    "x",
    "foo",
    " ",
    "\n",
    "(",
    ")",
    "{",
    "}",
    ";",
    "\"",
    "//",
    "/*",
    "*/",
    "#",
    "\r\n",
    "\r",
    "::",
    ".",
    ",",
    "'",
    "\t",
    "def ",
    "fn ",
    "int ",
    "= 1",
    "import os\n",
    "// doc\n",
    "\xc3\xa9",
    "class A:\n",
    "struct S { int a; };\n",
    "\"\"\"",
    "}\n\n",
    "\n\n",
    "#include <x.h>\n",
    "use a::b;\n",
    "import { a } from './a';\n",
    "/** doc */\n",
    "# doc\n",
    "int f(void) { return 0; }\n",
    "def g():\n    pass\n",
};

/* A document being edited: its text and the tree of its last extraction. */
typedef struct doc {
  const ch_language *lang;
  const char *name;
  char *text;
  uint32_t len;
  TSTree *tree;
} doc;

/* The first occurrence of `what` at or after `from`, or the text's end. */
static uint32_t find_from(const doc *d, uint32_t from, const char *what) {
  size_t n = strlen(what);
  for(uint32_t i = from; i + n <= d->len; i++)
    if(!memcmp(d->text + i, what, n)) return i;
  return d->len;
}

/* Replaces bytes [at, at + del) with ins and edits the tree to match. */
static void doc_edit(doc *d, uint32_t at, uint32_t del, const char *ins) {
  if(at > d->len) at = d->len;
  if(del > d->len - at) del = d->len - at;
  uint32_t ins_len = (uint32_t)strlen(ins);
  uint32_t new_len = d->len - del + ins_len;
  char *next = ch_malloc(new_len + 1);
  memcpy(next, d->text, at);
  memcpy(next + at, ins, ins_len);
  memcpy(next + at + ins_len, d->text + at + del, d->len - at - del);
  next[new_len] = 0;
  TSInputEdit edit;
  edit.start_byte = at;
  edit.old_end_byte = at + del;
  edit.new_end_byte = at + ins_len;
  edit.start_point = point_at(d->text, at);
  edit.old_end_point = point_at(d->text, at + del);
  edit.new_end_point = point_at(next, at + ins_len);
  if(d->tree) ts_tree_edit(d->tree, &edit);
  ch_free(d->text);
  d->text = next;
  d->len = new_len;
}

/* Where a random edit goes: anywhere, into a comment, at a line start, or
 * over a whole line (which removes imports, splits and merges nodes). */
static void random_edit(doc *d) {
  uint32_t at = rng(d->len + 1), del = rng(9);
  const char *ins = rng(4) ? snippets[rng(CH_ARRAY_LEN(snippets))] : "";
  switch(rng(6)) {
  case 0: { /* inside or just before a comment */
    static const char *const marks[] = {"//", "/*", "#", "*/"};
    uint32_t c = find_from(d, at, marks[rng(CH_ARRAY_LEN(marks))]);
    at = c + rng(4);
    break;
  }
  case 1: /* at a line start */
    while(at > 0 && d->text[at - 1] != '\n')
      at--;
    break;
  case 2: { /* a whole line, or an import line */
    if(rng(2)) {
      static const char *const imports[] = {"import", "#include", "use ",
                                            "from "};
      at = find_from(d, at, imports[rng(CH_ARRAY_LEN(imports))]);
    }
    while(at > 0 && d->text[at - 1] != '\n')
      at--;
    del = find_from(d, at, "\n") + 1 - at;
    if(rng(2)) ins = "";
    break;
  }
  default: break;
  }
  doc_edit(d, at, del, ins);
}

/* Extracts the document with its edited tree and checks the result against
 * a fresh extraction. tree-sitter's incremental parse can differ from a
 * fresh parse (error recovery depends on the old tree); the check applies
 * when the trees agree, which is the extractor's part. */
static void doc_check(doc *d, ch_extractor *ex, ch_extractor *fresh_ex,
                      TSParser *parser) {
  TSTree *new_tree = NULL;
  ch_status st = CH_ERR_STATE;
  ch_record *inc = ch_extract(ex, d->lang, d->name, d->text, d->len, d->tree,
                              &new_tree, &st);
  assert_non_null(inc);
  assert_int_equal(st, CH_OK);
  check_record(inc);
  expect_token_texts(inc, d->text);
  TSTree *ref = ts_parser_parse_string(parser, NULL, d->text, d->len);
  char *a = ts_node_string(ts_tree_root_node(ref));
  char *b = ts_node_string(ts_tree_root_node(new_tree));
  if(!strcmp(a, b)) {
    ch_record *fresh = ch_extract(fresh_ex, d->lang, d->name, d->text, d->len,
                                  NULL, NULL, &st);
    assert_non_null(fresh);
    expect_same_record(inc, fresh);
    ch_record_unref(fresh);
  }
  free(a);
  free(b);
  ts_tree_delete(ref);
  ch_record_unref(inc);
  if(d->tree) ts_tree_delete(d->tree);
  d->tree = new_tree;
}

static void doc_init(doc *d, const ch_language *lang, const char *name,
                     char *text, uint32_t len) {
  d->lang = lang;
  d->name = name;
  d->text = text;
  d->len = len;
  d->tree = NULL;
}

static void doc_release(doc *d) {
  if(d->tree) ts_tree_delete(d->tree);
  ch_free(d->text);
}

/* `edits` rounds on one document; every `multi`-th round makes several
 * edits before one extraction. */
static void incremental_doc(ch_extractor *ex, ch_extractor *fresh_ex, doc *d,
                            int edits) {
  TSParser *parser = ts_parser_new();
  assert_true(ts_parser_set_language(parser, d->lang->ts_language()));
  doc_check(d, ex, fresh_ex, parser);
  for(int step = 0; step < edits; step++) {
    int n = step % 5 == 4 ? 2 + (int)rng(3) : 1;
    for(int i = 0; i < n; i++)
      random_edit(d);
    doc_check(d, ex, fresh_ex, parser);
  }
  ts_parser_delete(parser);
}

static void incremental_run(ch_extractor *ex, ch_extractor *fresh_ex,
                            const char *fixture, int edits) {
  uint32_t len;
  char *text = read_fixture(fixture, &len);
  doc d;
  doc_init(&d, ch_syntax_by_path(fixture, text, len), fixture, text, len);
  incremental_doc(ex, fresh_ex, &d, edits);
  doc_release(&d);
}

/* A fixture made large: repeated inside a container, so that nodes are
 * split into nested segments (shells) and edits land inside them. */
static char *big_text(const char *fixture, uint32_t *len) {
  static const struct {
    const char *name, *open, *close;
    bool indent;
  } wraps[] = {
      {"sample.c", "#ifndef BIG_H\n#define BIG_H\n", "#endif\n", false},
      {"sample.py", "class Big:\n", "", true},
      {"sample.cpp", "namespace big {\n", "}\n", false},
      {"sample.rs", "mod big {\n", "}\n", false},
      {"sample.js", "function big() {\n", "}\n", false},
      {"sample.ts", "namespace Big {\n", "}\n", false},
      {"sample.tsx", "namespace Big {\n", "}\n", false},
      {"sample.go", "", "", false},
      {"Sample.java", "class Big {\n", "}\n", false},
  };
  uint32_t n;
  char *src = read_fixture(fixture, &n);
  size_t w = 0;
  while(strcmp(wraps[w].name, fixture))
    w++;
  ch_buf out;
  ch_buf_init(&out, (size_t)1 << 24);
  ch_buf_append_str(&out, wraps[w].open);
  for(uint32_t copy = 0; copy < 4400 / n + 1; copy++) {
    for(uint32_t i = 0; i < n; i++) {
      if(wraps[w].indent && (i == 0 || src[i - 1] == '\n') && src[i] != '\n')
        ch_buf_append_str(&out, "    ");
      ch_buf_append_char(&out, src[i]);
    }
  }
  ch_buf_append_str(&out, wraps[w].close);
  ch_free(src);
  size_t got;
  char *text = ch_buf_detach(&out, &got);
  *len = (uint32_t)got;
  return text;
}

/* Random edits of a fixture (fixed seed), each extracted with the edited
 * previous tree and compared with a fresh extraction; fewer edits for the
 * languages whose grammars the first ones share code paths with, to keep
 * the sanitizer build quick. */
static void test_incremental(void **state) {
  ch_extractor *ex = *state;
  static const struct {
    const char *name;
    int edits;
  } runs[] = {
      {"sample.c", 200},  {"sample.py", 200}, {"sample.js", 200},
      {"sample.rs", 200}, {"sample.cpp", 60}, {"sample.ts", 60},
      {"sample.tsx", 60}, {"sample.go", 60},  {"Sample.java", 60},
  };
  ch_extractor *fresh = ch_extractor_new();
  rng_state = 0x9E3779B97F4A7C15u;
  for(size_t i = 0; i < CH_ARRAY_LEN(runs); i++)
    incremental_run(ex, fresh, runs[i].name, runs[i].edits);
  ch_extractor_free(fresh);
}

/* The same on large texts whose nodes nest deeper than one segment. */
static void test_incremental_nested(void **state) {
  ch_extractor *ex = *state;
  static const struct {
    const char *name;
    int edits;
  } runs[] = {
      {"sample.c", 120},  {"sample.py", 120}, {"sample.js", 60},
      {"sample.rs", 80},  {"sample.cpp", 80}, {"sample.ts", 50},
      {"sample.tsx", 30}, {"sample.go", 40},  {"Sample.java", 40},
  };
  ch_extractor *fresh = ch_extractor_new();
  rng_state = 0x2545F4914F6CDD1Du;
  for(size_t i = 0; i < CH_ARRAY_LEN(runs); i++) {
    uint32_t len;
    char *text = big_text(runs[i].name, &len);
    assert_true(len > 4096);
    doc d;
    doc_init(&d, ch_syntax_by_path(runs[i].name, text, len), runs[i].name, text,
             len);
    incremental_doc(ex, fresh, &d, runs[i].edits);
    doc_release(&d);
  }
  ch_extractor_free(fresh);
}

/* A large array of literals is lexed whole (not split into segments) as
 * long as it stays data; random edits turn it into code and back. */
static void test_incremental_data(void **state) {
  ch_extractor *ex = *state;
  ch_extractor *fresh = ch_extractor_new();
  rng_state = 0x9E3779B97F4A7C15u;
  ch_buf big;
  ch_buf_init(&big, (size_t)1 << 20);
  assert_int_equal(ch_buf_append_str(&big, "f(1);\nconst data = [\n"), CH_OK);
  for(int i = 0; i < 300; i++)
    assert_int_equal(
        ch_buf_appendf(&big, "  [\"k%d\", %d, {\"n\": -%d}],\n", i, i, i),
        CH_OK);
  assert_int_equal(ch_buf_append_str(&big, "];\nfunction g() {}\n"), CH_OK);
  size_t len;
  char *text = ch_buf_detach(&big, &len);
  assert_true(len > 4096);
  doc d;
  doc_init(&d, ch_syntax_by_name("javascript"), "data.js", text, (uint32_t)len);
  incremental_doc(ex, fresh, &d, 80);
  doc_release(&d);
  ch_extractor_free(fresh);
}

/* Edits chosen to move text between segments: a def split in two by a
 * blank line and a new header, merged back, a comment above a def changed,
 * an import added and removed; every step checked. */
static void test_incremental_targeted(void **state) {
  ch_extractor *ex = *state, *fresh = ch_extractor_new();
  TSParser *parser = ts_parser_new();
  const ch_language *py = ch_syntax_by_name("python");
  assert_true(ts_parser_set_language(parser, py->ts_language()));
  const char *src = "import os\n"
                    "\n"
                    "# The first.\n"
                    "def first(a):\n"
                    "    return a\n"
                    "\n"
                    "class Box:\n"
                    "    \"\"\"A box.\"\"\"\n"
                    "    size = 1\n"
                    "\n"
                    "    # Opens it.\n"
                    "    def open(self):\n"
                    "        return self.size\n";
  doc d;
  doc_init(&d, py, "t.py", ch_strdup(src), (uint32_t)strlen(src));
  doc_check(&d, ex, fresh, parser);
  /* Split `first` by a new def in its body, then merge back. */
  uint32_t at = find_from(&d, 0, "    return a");
  doc_edit(&d, at, 0, "def mid():\n");
  doc_check(&d, ex, fresh, parser);
  doc_edit(&d, at, strlen("def mid():\n"), "");
  doc_check(&d, ex, fresh, parser);
  /* Comments above a def: changed, removed, restored. */
  at = find_from(&d, 0, "# The first.");
  doc_edit(&d, at + 2, 3, "A");
  doc_check(&d, ex, fresh, parser);
  doc_edit(&d, at, find_from(&d, at, "\n") + 1 - at, "");
  doc_check(&d, ex, fresh, parser);
  doc_edit(&d, at, 0, "# Back.\n");
  doc_check(&d, ex, fresh, parser);
  /* Imports: one added, the first removed. */
  doc_edit(&d, 0, 0, "from . import sibling\n");
  doc_check(&d, ex, fresh, parser);
  at = find_from(&d, 0, "import os\n");
  doc_edit(&d, at, strlen("import os\n"), "");
  doc_check(&d, ex, fresh, parser);
  /* The class body dedented into the module, then indented back. */
  at = find_from(&d, 0, "    size = 1");
  doc_edit(&d, at, 4, "");
  doc_check(&d, ex, fresh, parser);
  doc_edit(&d, at, 0, "    ");
  doc_check(&d, ex, fresh, parser);
  /* A docstring opened and closed again far above the class. */
  doc_edit(&d, 0, 0, "\"\"\"");
  doc_check(&d, ex, fresh, parser);
  doc_edit(&d, 0, 3, "");
  doc_check(&d, ex, fresh, parser);
  doc_release(&d);
  ts_parser_delete(parser);
  ch_extractor_free(fresh);
}

/* More documents than the extractor keeps caches for, edited in turn:
 * each extraction is right whatever the extractor remembers. */
static void test_incremental_many_docs(void **state) {
  ch_extractor *ex = *state, *fresh = ch_extractor_new();
  static const char *const names[] = {"sample.c",  "sample.py", "sample.rs",
                                      "sample.ts", "sample.go", "sample.js",
                                      "sample.cpp"};
  doc docs[CH_ARRAY_LEN(names)];
  TSParser *parsers[CH_ARRAY_LEN(names)];
  rng_state = 0xD1B54A32D192ED03u;
  for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
    uint32_t len;
    char *text = read_fixture(names[i], &len);
    doc_init(&docs[i], ch_syntax_by_path(names[i], text, len), names[i], text,
             len);
    parsers[i] = ts_parser_new();
    assert_true(
        ts_parser_set_language(parsers[i], docs[i].lang->ts_language()));
  }
  for(int round = 0; round < 12; round++) {
    for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
      if(round % 4 == 3 && i % 2) {
        /* Reopened: no old tree, the same name. */
        ts_tree_delete(docs[i].tree);
        docs[i].tree = NULL;
      }
      random_edit(&docs[i]);
      doc_check(&docs[i], ex, fresh, parsers[i]);
    }
  }
  for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
    doc_release(&docs[i]);
    ts_parser_delete(parsers[i]);
  }
  ch_extractor_free(fresh);
}

/* ---- main
 * ----------------------------------------------------------------------------
 */

/* One extractor for the whole group: compiling a language's queries is
 * the slow part, and sharing it also checks that extractions do not leak
 * state into each other. */
static int setup(void **state) {
  *state = ch_extractor_new();
  return 0;
}

static int teardown(void **state) {
  ch_extractor_free(*state);
  return 0;
}

int main(void) {
  fixtures = find_fixtures();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c),
      cmocka_unit_test(test_cpp),
      cmocka_unit_test(test_python),
      cmocka_unit_test(test_javascript),
      cmocka_unit_test(test_typescript),
      cmocka_unit_test(test_tsx),
      cmocka_unit_test(test_go),
      cmocka_unit_test(test_rust),
      cmocka_unit_test(test_java),
      cmocka_unit_test(test_import_edges),
      cmocka_unit_test(test_line_starts),
      cmocka_unit_test(test_tokens),
      cmocka_unit_test(test_docs),
      cmocka_unit_test(test_empty_and_invalid),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_arguments),
      cmocka_unit_test(test_tree_out),
      cmocka_unit_test(test_extractor_reuse),
      cmocka_unit_test(test_lexed_same_as_walked),
      cmocka_unit_test(test_lexed_identifiers),
      cmocka_unit_test(test_lexed_javascript),
      cmocka_unit_test(test_incremental),
      cmocka_unit_test(test_incremental_nested),
      cmocka_unit_test(test_incremental_data),
      cmocka_unit_test(test_incremental_targeted),
      cmocka_unit_test(test_incremental_many_docs),
  };
  int failed = cmocka_run_group_tests(tests, setup, teardown);
  ch_free(fixtures);
  return failed;
}
