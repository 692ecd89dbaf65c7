/*
 * test_resolve.c: unit tests for core/src/resolve.c.
 *
 * Every test builds a file set in memory: an array of paths whose ids are
 * their positions, the four callbacks of ch_fileset over it, and a few file
 * contents for read(). The callbacks also check what resolution asks of
 * them: every path and suffix must be normalised (no "", ".", ".." or empty
 * component, no leading or trailing '/'), and read() may only be asked for
 * go.mod files. Records are built by hand, with the import's spec and names
 * in their pool, so the tests do not depend on the extractor.
 *
 * Expectations are whole lists, in order: the count ch_resolve_import
 * returns and every path it gives, most relevant first.
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

#include "chorus/resolve.h"

/* ---- an in-memory file set ----------------------------------------------- */

typedef struct fake_fs {
  const char *const *paths; /* NULL-terminated; the id is the index */
  const char *const *texts; /* pairs path, contents; NULL-terminated */
  size_t npaths;
  size_t reads;   /* read() calls */
  size_t lookups; /* lookup() calls */
} fake_fs;

/* A path or suffix as resolution must hand it to the file set. */
static void assert_normalised(const char *path, bool may_be_empty) {
  if(!path[0]) {
    assert_true(may_be_empty);
    return;
  }
  assert_true(path[0] != '/');
  assert_true(path[strlen(path) - 1] != '/');
  assert_null(strstr(path, "//"));
  const char *p = path;
  while(*p) {
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
      fail_msg("path not normalised: \"%s\"", path);
    p += len;
    if(*p) p++;
  }
}

static bool fake_lookup(void *self, const char *path, uint32_t *id) {
  fake_fs *fs = self;
  assert_normalised(path, false);
  fs->lookups++;
  for(size_t i = 0; i < fs->npaths; i++) {
    if(strcmp(fs->paths[i], path) == 0) {
      *id = (uint32_t)i;
      return true;
    }
  }
  return false;
}

static void fake_by_suffix(void *self, const char *suffix, ch_fileset_each each,
                           void *userdata) {
  fake_fs *fs = self;
  assert_normalised(suffix, false);
  size_t ls = strlen(suffix);
  for(size_t i = 0; i < fs->npaths; i++) {
    const char *p = fs->paths[i];
    size_t lp = strlen(p);
    if(strcmp(p, suffix) == 0 ||
       (lp > ls && p[lp - ls - 1] == '/' && strcmp(p + lp - ls, suffix) == 0))
      each((uint32_t)i, p, userdata);
  }
}

static void fake_in_dir(void *self, const char *dir, ch_fileset_each each,
                        void *userdata) {
  fake_fs *fs = self;
  assert_normalised(dir, true);
  size_t ld = strlen(dir);
  /* Reverse order, so a result sorted by path proves resolve sorted it. */
  for(size_t i = fs->npaths; i-- > 0;) {
    const char *p = fs->paths[i];
    const char *slash = strrchr(p, '/');
    size_t lp = slash ? (size_t)(slash - p) : 0;
    if(lp == ld && memcmp(p, dir, ld) == 0) each((uint32_t)i, p, userdata);
  }
}

static char *fake_read(void *self, const char *path) {
  fake_fs *fs = self;
  assert_normalised(path, false);
  const char *name = strrchr(path, '/');
  assert_string_equal(name ? name + 1 : path, "go.mod");
  fs->reads++;
  for(size_t i = 0; fs->texts && fs->texts[i]; i += 2)
    if(strcmp(fs->texts[i], path) == 0) return ch_strdup(fs->texts[i + 1]);
  return NULL;
}

static fake_fs fake_of(const char *const *paths, const char *const *texts) {
  fake_fs fs = {.paths = paths, .texts = texts};
  while(paths[fs.npaths])
    fs.npaths++;
  return fs;
}

static ch_fileset fileset_of(fake_fs *fs) {
  ch_fileset set = {fake_lookup, fake_by_suffix, fake_in_dir, fake_read, fs};
  return set;
}

/* ---- records by hand ----------------------------------------------------- */

/* A record at path in language lang with one import in its pool; idents
 * (NULL-terminated, may be NULL) become its identifiers, in the order
 * given (callers pass them sorted, as the extractor would). */
static ch_record *record_of(const char *lang, const char *path,
                            ch_import_kind kind, const char *spec,
                            const char *names, const char *const *idents) {
  ch_record *r = ch_calloc(1, sizeof(*r));
  atomic_init(&r->refs, 1);
  r->path = ch_strdup(path);
  r->lang = lang ? ch_syntax_by_name(lang) : NULL;
  if(lang) assert_non_null(r->lang);

  ch_buf pool;
  ch_buf_init(&pool, 1 << 24);
  ch_buf_append(&pool, spec, strlen(spec) + 1);
  uint32_t names_at = CH_NONE;
  if(names) {
    names_at = (uint32_t)pool.len;
    ch_buf_append(&pool, names, strlen(names) + 1);
  }
  size_t nidents = 0;
  while(idents && idents[nidents])
    nidents++;
  if(nidents) {
    r->idents = ch_malloc(nidents * sizeof(uint32_t));
    for(size_t i = 0; i < nidents; i++) {
      r->idents[i] = (uint32_t)pool.len;
      ch_buf_append(&pool, idents[i], strlen(idents[i]) + 1);
    }
    r->nidents = (uint32_t)nidents;
  }
  size_t len;
  r->pool = ch_buf_detach(&pool, &len);
  r->pool_len = (uint32_t)len;

  r->imports = ch_malloc(sizeof(ch_import));
  r->imports[0].spec = 0;
  r->imports[0].names = names_at;
  r->imports[0].row = 0;
  r->imports[0].kind = kind;
  r->nimports = 1;
  return r;
}

/* Resolves and returns the total; up to max ids land in out. */
static size_t resolve_with(fake_fs *fs, const char *lang, const char *from,
                           ch_import_kind kind, const char *spec,
                           const char *names, const char *const *idents,
                           uint32_t *out, size_t max) {
  ch_fileset set = fileset_of(fs);
  ch_record *r = record_of(lang, from, kind, spec, names, idents);
  size_t n = ch_resolve_import(&set, r, &r->imports[0], out, max);
  ch_record_unref(r);
  return n;
}

#define MAX_OUT 64

/* Checks the whole answer against want (NULL-terminated), printing both
 * lists and the calling line on a mismatch. */
static void expect_paths(int line, fake_fs *fs, const char *lang,
                         const char *from, ch_import_kind kind,
                         const char *spec, const char *names,
                         const char *const *idents, const char *const *want) {
  uint32_t out[MAX_OUT];
  size_t n =
      resolve_with(fs, lang, from, kind, spec, names, idents, out, MAX_OUT);
  size_t nwant = 0;
  while(want[nwant])
    nwant++;
  bool ok = n == nwant;
  for(size_t i = 0; ok && i < n; i++) {
    assert_true(out[i] < fs->npaths);
    ok = strcmp(fs->paths[out[i]], want[i]) == 0;
  }
  if(ok) return;
  print_error("line %d: %s import \"%s\" (names \"%s\") from %s\n", line, lang,
              spec, names ? names : "", from);
  print_error("  want %zu:", nwant);
  for(size_t i = 0; i < nwant; i++)
    print_error(" %s", want[i]);
  print_error("\n  got %zu:", n);
  for(size_t i = 0; i < n && i < MAX_OUT; i++)
    print_error(" %s", out[i] < fs->npaths ? fs->paths[out[i]] : "?");
  print_error("\n");
  fail();
}

/* EXPECT(fs, lang, from, kind, spec, names, "path", ...) and NONE(...). */
#define EXPECT(fs, lang, from, kind, spec, names, ...)                         \
  expect_paths(__LINE__, fs, lang, from, kind, spec, names, NULL,              \
               (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_IDENTS(fs, lang, from, kind, spec, names, idents, ...)          \
  expect_paths(__LINE__, fs, lang, from, kind, spec, names, idents,            \
               (const char *const[]){__VA_ARGS__, NULL})
#define NONE(fs, lang, from, kind, spec, names)                                \
  expect_paths(__LINE__, fs, lang, from, kind, spec, names, NULL,              \
               (const char *const[]){NULL})

/* ---- C and C++ ----------------------------------------------------------- */

static const char *const c_files[] = {
    "src/net/conn.c",
    "src/net/conn.h",
    "src/net/a/c.h",
    "src/util/log.h",
    "src/util/log.c",
    "lib/conn.h",
    "lib/log.h",
    "vendor/zlib/log.h",
    "include/proj/api.h",
    "outside.h",
    "tools/gen.c",
    "src/net/conn.cpp",
    NULL,
};

static void test_c_local_include(void **state) {
  (void)state;
  fake_fs fs = fake_of(c_files, NULL);
  const ch_import_kind L = CH_IMPORT_INCLUDE_LOCAL;
  /* Next to the includer wins outright, even though lib/conn.h exists. */
  EXPECT(&fs, "c", "src/net/conn.c", L, "conn.h", NULL, "src/net/conn.h");
  EXPECT(&fs, "cpp", "src/net/conn.cpp", L, "conn.h", NULL, "src/net/conn.h");
  EXPECT(&fs, "c", "src/net/conn.c", L, "../util/log.h", NULL,
         "src/util/log.h");
  EXPECT(&fs, "c", "src/net/conn.c", L, "../../include/proj/api.h", NULL,
         "include/proj/api.h");
  /* Normalised: a/./b/../c.h is a/c.h. */
  EXPECT(&fs, "c", "src/net/conn.c", L, "a/./b/../c.h", NULL, "src/net/a/c.h");
  EXPECT(&fs, "c", "src/net/conn.c", L, "./a//c.h", NULL, "src/net/a/c.h");
}

static void test_c_suffix_order(void **state) {
  (void)state;
  fake_fs fs = fake_of(c_files, NULL);
  const ch_import_kind L = CH_IMPORT_INCLUDE_LOCAL;
  const ch_import_kind S = CH_IMPORT_INCLUDE_SYSTEM;
  /* Not next to the includer: every log.h, the one sharing src/ first,
   * then the shallower, then the deeper. */
  EXPECT(&fs, "c", "src/net/conn.c", L, "log.h", NULL, "src/util/log.h",
         "lib/log.h", "vendor/zlib/log.h");
  /* From the root, nothing is shared: shallowest first. */
  EXPECT(&fs, "c", "main.c", L, "log.h", NULL, "lib/log.h", "src/util/log.h",
         "vendor/zlib/log.h");
  /* An include directory: include/ holds proj/api.h. */
  EXPECT(&fs, "c", "src/net/conn.c", L, "proj/api.h", NULL,
         "include/proj/api.h");
  EXPECT(&fs, "c", "src/net/conn.c", S, "proj/api.h", NULL,
         "include/proj/api.h");
  /* <conn.h> skips the directory of the includer but still ranks it
   * nearest. */
  EXPECT(&fs, "c", "src/net/conn.c", S, "conn.h", NULL, "src/net/conn.h",
         "lib/conn.h");
  /* "../proj/api.h" from tools/: not relative, but an include directory
   * one level down (include/x) could reach it. */
  EXPECT(&fs, "c", "tools/gen.c", L, "../proj/api.h", NULL,
         "include/proj/api.h");
  /* Whole components only: "og.h" is not a suffix of log.h. */
  NONE(&fs, "c", "src/net/conn.c", L, "og.h", NULL);
}

static void test_c_unresolved(void **state) {
  (void)state;
  fake_fs fs = fake_of(c_files, NULL);
  const ch_import_kind L = CH_IMPORT_INCLUDE_LOCAL;
  const ch_import_kind S = CH_IMPORT_INCLUDE_SYSTEM;
  /* System headers are not in the repository. */
  NONE(&fs, "c", "src/net/conn.c", S, "stdio.h", NULL);
  NONE(&fs, "cpp", "src/net/conn.cpp", S, "vector", NULL);
  NONE(&fs, "c", "src/net/conn.c", L, "missing.h", NULL);
  /* Escaping the root: outside.h at the root cannot be it, and no include
   * directory is deep enough to reach it that way. */
  NONE(&fs, "c", "src/net/conn.c", L, "../../../../outside.h", NULL);
  NONE(&fs, "c", "src/net/conn.c", L, "/usr/include/stdio.h", NULL);
  NONE(&fs, "c", "src/net/conn.c", L, "..", NULL);
  NONE(&fs, "c", "src/net/conn.c", L, ".", NULL);
  NONE(&fs, "c", "src/net/conn.c", L, "/", NULL);
  /* C++20 modules are not includes. */
  NONE(&fs, "cpp", "src/net/conn.cpp", CH_IMPORT_MODULE, "conn.h", NULL);
}

/* ---- Python -------------------------------------------------------------- */

static const char *const py_files[] = {
    "pkg/__init__.py",
    "pkg/mod.py",
    "pkg/util.py",
    "pkg/dual.py",
    "pkg/dual/__init__.py",
    "pkg/sub/__init__.py",
    "pkg/sub/leaf.py",
    "pkg/sub/leaf.pyi",
    "pkg/sub/deep/__init__.py",
    "pkg/ns/part.py", /* ns is a namespace package: no __init__.py */
    "src/app/__init__.py",
    "src/app/core.py",
    "src/app/models/__init__.py",
    "src/app/models/user.py",
    "scripts/tool.py",
    "scripts/helper.py",
    "tests/test_core.py",
    "tools/check.py",
    "tools/vendor/app/core.py",
    "x/y/app/core.py",
    "other/missing.py",
    "stubs/typed.pyi",
    NULL,
};

static void test_python_absolute(void **state) {
  (void)state;
  fake_fs fs = fake_of(py_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *py = "python";
  EXPECT(&fs, py, "tests/test_core.py", M, "pkg.mod", NULL, "pkg/mod.py");
  EXPECT(&fs, py, "tests/test_core.py", M, "pkg", NULL, "pkg/__init__.py");
  EXPECT(&fs, py, "tests/test_core.py", M, "pkg.sub", NULL,
         "pkg/sub/__init__.py");
  /* A module and its stub, the source first. */
  EXPECT(&fs, py, "tests/test_core.py", M, "pkg.sub.leaf", NULL,
         "pkg/sub/leaf.py", "pkg/sub/leaf.pyi");
  /* Module file and package both present: a/b.py, then a/b/__init__.py. */
  EXPECT(&fs, py, "tests/test_core.py", M, "pkg.dual", NULL, "pkg/dual.py",
         "pkg/dual/__init__.py");
  EXPECT(&fs, py, "main.py", M, "pkg.ns.part", NULL, "pkg/ns/part.py");
  EXPECT(&fs, py, "main.py", M, "stubs.typed", NULL, "stubs/typed.pyi");
  NONE(&fs, py, "tests/test_core.py", M, "os", NULL);
  NONE(&fs, py, "tests/test_core.py", M, "os.path", NULL);
  NONE(&fs, py, "tests/test_core.py", M, "pkg.nope", NULL);
  /* A namespace package has no file of its own. */
  NONE(&fs, py, "main.py", M, "pkg.ns", NULL);
}

static void test_python_from_import(void **state) {
  (void)state;
  fake_fs fs = fake_of(py_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *py = "python";
  /* A submodule is preferred to the package that holds it. */
  EXPECT(&fs, py, "main.py", M, "pkg", "mod", "pkg/mod.py");
  EXPECT(&fs, py, "main.py", M, "pkg", "mod,util", "pkg/mod.py", "pkg/util.py");
  EXPECT(&fs, py, "main.py", M, "pkg", " mod as m , util ", "pkg/mod.py",
         "pkg/util.py");
  /* A name that is not a submodule comes from the package: both. */
  EXPECT(&fs, py, "main.py", M, "pkg", "mod,VERSION", "pkg/mod.py",
         "pkg/__init__.py");
  EXPECT(&fs, py, "main.py", M, "pkg", "VERSION", "pkg/__init__.py");
  EXPECT(&fs, py, "main.py", M, "pkg", "*", "pkg/__init__.py");
  /* from a.b import func: the module a/b.py. */
  EXPECT(&fs, py, "main.py", M, "pkg.mod", "func", "pkg/mod.py");
  EXPECT(&fs, py, "main.py", M, "pkg.sub", "leaf", "pkg/sub/leaf.py",
         "pkg/sub/leaf.pyi");
  EXPECT(&fs, py, "main.py", M, "pkg.sub", "deep", "pkg/sub/deep/__init__.py");
  /* A namespace package: only submodules can resolve. */
  EXPECT(&fs, py, "main.py", M, "pkg.ns", "part", "pkg/ns/part.py");
  NONE(&fs, py, "main.py", M, "pkg.ns", "thing");
  NONE(&fs, py, "main.py", M, "collections", "OrderedDict");
}

static void test_python_source_roots(void **state) {
  (void)state;
  fake_fs fs = fake_of(py_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *py = "python";
  /* src/ layout: the importer's own top directory is a source root. */
  EXPECT(&fs, py, "src/app/core.py", M, "app.models.user", NULL,
         "src/app/models/user.py");
  EXPECT(&fs, py, "src/app/models/user.py", M, "app.models", "user",
         "src/app/models/user.py");
  EXPECT(&fs, py, "src/app/models/user.py", M, "app", "core",
         "src/app/core.py");
  /* A script's own directory. */
  EXPECT(&fs, py, "scripts/tool.py", M, "helper", NULL, "scripts/helper.py");
  /* Nothing under the importer's roots: by suffix anywhere, the one that
   * shares the most directories with the importer first, then the
   * shallowest. */
  EXPECT(&fs, py, "tools/check.py", M, "app.core", NULL,
         "tools/vendor/app/core.py", "src/app/core.py", "x/y/app/core.py");
  EXPECT(&fs, py, "tests/test_core.py", M, "app.core", NULL, "src/app/core.py",
         "x/y/app/core.py", "tools/vendor/app/core.py");
  EXPECT(&fs, py, "tests/test_core.py", M, "app.models", "user",
         "src/app/models/user.py");
  /* Found under a root: the suffix fallback is not used. */
  EXPECT(&fs, py, "tools/vendor/x.py", M, "app.core", NULL,
         "tools/vendor/app/core.py");
  /* A helper elsewhere is found too, by suffix. */
  EXPECT(&fs, py, "tests/test_core.py", M, "helper", NULL, "scripts/helper.py");
}

static void test_python_relative(void **state) {
  (void)state;
  fake_fs fs = fake_of(py_files, NULL);
  const ch_import_kind R = CH_IMPORT_RELATIVE;
  const char *py = "python";
  const char *leaf = "pkg/sub/leaf.py";
  /* "." is the importer's package. */
  EXPECT(&fs, py, leaf, R, ".", "leaf", "pkg/sub/leaf.py", "pkg/sub/leaf.pyi");
  EXPECT(&fs, py, leaf, R, ".", "deep", "pkg/sub/deep/__init__.py");
  EXPECT(&fs, py, leaf, R, ".", "helper_fn", "pkg/sub/__init__.py");
  EXPECT(&fs, py, leaf, R, ".", "leaf,other", "pkg/sub/leaf.py",
         "pkg/sub/leaf.pyi", "pkg/sub/__init__.py");
  EXPECT(&fs, py, leaf, R, ".deep", "x", "pkg/sub/deep/__init__.py");
  /* ".." its parent, "..p" a module of the parent. */
  EXPECT(&fs, py, leaf, R, "..", "util", "pkg/util.py");
  EXPECT(&fs, py, leaf, R, "..", "mod,util", "pkg/mod.py", "pkg/util.py");
  EXPECT(&fs, py, leaf, R, "..mod", "func", "pkg/mod.py");
  EXPECT(&fs, py, leaf, R, "..sub.leaf", "f", "pkg/sub/leaf.py",
         "pkg/sub/leaf.pyi");
  EXPECT(&fs, py, leaf, R, "..", "VERSION", "pkg/__init__.py");
  EXPECT(&fs, py, "pkg/__init__.py", R, ".sub", "leaf", "pkg/sub/leaf.py",
         "pkg/sub/leaf.pyi");
  EXPECT(&fs, py, "pkg/mod.py", R, ".", NULL, "pkg/__init__.py");
  /* "..." from pkg/sub is the root, which has no such module. */
  NONE(&fs, py, leaf, R, "...", "x");
  EXPECT(&fs, py, leaf, R, "...pkg", "mod", "pkg/mod.py");
  /* Escaping the root. */
  NONE(&fs, py, leaf, R, "....", "x");
  NONE(&fs, py, leaf, R, "....pkg", "mod");
  NONE(&fs, py, "main.py", R, "..", "x");
  /* Relative imports never fall back to a suffix match. */
  NONE(&fs, py, leaf, R, ".missing", "x");
  /* A name that is not a submodule may be defined by the package. */
  EXPECT(&fs, py, "pkg/mod.py", R, ".", "missing", "pkg/__init__.py");
  NONE(&fs, py, "tests/test_core.py", R, ".", "x");
}

static void test_python_malformed(void **state) {
  (void)state;
  fake_fs fs = fake_of(py_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *py = "python";
  NONE(&fs, py, "main.py", M, "pkg..mod", NULL);
  NONE(&fs, py, "main.py", M, "pkg.", NULL);
  NONE(&fs, py, "main.py", M, "pkg/mod", NULL);
  NONE(&fs, py, "main.py", M, "pkg.sub/../mod", NULL);
  NONE(&fs, py, "main.py", M, "pkg", "../mod");
  NONE(&fs, py, "main.py", M, ".", "..");
}

/* ---- JavaScript and TypeScript ------------------------------------------- */

static const char *const js_files[] = {
    "web/src/app.ts",
    "web/src/index.ts",
    "web/src/util.ts",
    "web/src/util.js",
    "web/src/esm.ts",
    "web/src/view.tsx",
    "web/src/comp/Button.tsx",
    "web/src/comp/index.ts",
    "web/src/lib/index.js",
    "web/src/types.d.ts",
    "web/src/data.json",
    "web/src/mod.mts",
    "web/src/old.cts",
    "web/src/lodash/fp.js",
    "web/src/plain",
    "web/src/plain.ts",
    "web/main.js",
    "outside.ts",
    NULL,
};

static void test_js_relative(void **state) {
  (void)state;
  fake_fs fs = fake_of(js_files, NULL);
  const ch_import_kind R = CH_IMPORT_RELATIVE;
  const char *ts = "typescript";
  const char *app = "web/src/app.ts";
  /* .ts before .js; one answer. */
  EXPECT(&fs, ts, app, R, "./util", NULL, "web/src/util.ts");
  EXPECT(&fs, ts, app, R, "./util.js", NULL, "web/src/util.js");
  EXPECT(&fs, ts, app, R, "./util.ts", NULL, "web/src/util.ts");
  EXPECT(&fs, ts, app, R, "./comp/Button", NULL, "web/src/comp/Button.tsx");
  EXPECT(&fs, ts, app, R, "./types", NULL, "web/src/types.d.ts");
  EXPECT(&fs, ts, app, R, "./data.json", NULL, "web/src/data.json");
  /* The exact file first, even without an extension. */
  EXPECT(&fs, ts, app, R, "./plain", NULL, "web/src/plain");
  /* Normalisation. */
  EXPECT(&fs, ts, app, R, "../src/util", NULL, "web/src/util.ts");
  EXPECT(&fs, ts, app, R, "./comp/../util", NULL, "web/src/util.ts");
  EXPECT(&fs, ts, app, R, ".//comp/./Button", NULL, "web/src/comp/Button.tsx");
  EXPECT(&fs, ts, app, R, "../main", NULL, "web/main.js");
  /* Root-relative. */
  EXPECT(&fs, ts, app, R, "/web/src/util", NULL, "web/src/util.ts");
  EXPECT(&fs, ts, app, R, "/outside", NULL, "outside.ts");
  /* The other languages of the family. */
  EXPECT(&fs, "javascript", "web/main.js", R, "./src/lib", NULL,
         "web/src/lib/index.js");
  EXPECT(&fs, "tsx", "web/src/view.tsx", R, "./comp/Button", NULL,
         "web/src/comp/Button.tsx");
  NONE(&fs, ts, app, R, "./missing", NULL);
  NONE(&fs, ts, app, R, "./comp/Missing", NULL);
}

static void test_js_esm_swap(void **state) {
  (void)state;
  fake_fs fs = fake_of(js_files, NULL);
  const ch_import_kind R = CH_IMPORT_RELATIVE;
  const char *app = "web/src/app.ts";
  /* TS's ESM convention: the spec names the emitted .js. */
  EXPECT(&fs, "typescript", app, R, "./esm.js", NULL, "web/src/esm.ts");
  EXPECT(&fs, "typescript", app, R, "./view.js", NULL, "web/src/view.tsx");
  EXPECT(&fs, "typescript", app, R, "./view.jsx", NULL, "web/src/view.tsx");
  EXPECT(&fs, "typescript", app, R, "./mod.mjs", NULL, "web/src/mod.mts");
  EXPECT(&fs, "typescript", app, R, "./old.cjs", NULL, "web/src/old.cts");
  EXPECT(&fs, "typescript", app, R, "./types.js", NULL, "web/src/types.d.ts");
  NONE(&fs, "typescript", app, R, "./nothing.js", NULL);
}

static void test_js_index_files(void **state) {
  (void)state;
  fake_fs fs = fake_of(js_files, NULL);
  const ch_import_kind R = CH_IMPORT_RELATIVE;
  const char *ts = "typescript";
  EXPECT(&fs, ts, "web/src/app.ts", R, "./comp", NULL, "web/src/comp/index.ts");
  EXPECT(&fs, ts, "web/src/app.ts", R, "./comp/", NULL,
         "web/src/comp/index.ts");
  EXPECT(&fs, ts, "web/src/app.ts", R, "./lib", NULL, "web/src/lib/index.js");
  EXPECT(&fs, ts, "web/src/comp/Button.tsx", R, ".", NULL,
         "web/src/comp/index.ts");
  EXPECT(&fs, ts, "web/src/comp/Button.tsx", R, "./", NULL,
         "web/src/comp/index.ts");
  EXPECT(&fs, ts, "web/src/comp/Button.tsx", R, "..", NULL, "web/src/index.ts");
  /* "." names the directory: web/src.ts would not be it. */
  EXPECT(&fs, ts, "web/src/app.ts", R, ".", NULL, "web/src/index.ts");
  /* The root has no index file. */
  NONE(&fs, ts, "web/src/app.ts", R, "/", NULL);
  NONE(&fs, ts, "index.ts", R, ".", NULL);
}

/* Every extension in its place: with ext[0..i) removed, ext[i] wins, both
 * as a file and as an index file. */
static void test_js_extension_order(void **state) {
  (void)state;
  static const char *const exts[] = {".ts",  ".tsx", ".d.ts", ".js", ".jsx",
                                     ".mjs", ".cjs", ".mts",  ".cts"};
  const size_t n = CH_ARRAY_LEN(exts);
  for(int as_index = 0; as_index < 2; as_index++) {
    for(size_t i = 0; i < n; i++) {
      char *names[CH_ARRAY_LEN(exts) + 2];
      const char *paths[CH_ARRAY_LEN(exts) + 2];
      size_t k = 0;
      names[k] = ch_strdup("a/main.ts");
      paths[k] = names[k];
      k++;
      for(size_t j = n; j-- > i;) {
        names[k] = ch_strdupf("%s%s", as_index ? "a/x/index" : "a/x", exts[j]);
        paths[k] = names[k];
        k++;
      }
      paths[k] = NULL;
      fake_fs fs = fake_of(paths, NULL);
      char *want = ch_strdupf("%s%s", as_index ? "a/x/index" : "a/x", exts[i]);
      EXPECT(&fs, "typescript", "a/main.ts", CH_IMPORT_RELATIVE, "./x", NULL,
             want);
      ch_free(want);
      for(size_t j = 0; j < k; j++)
        ch_free(names[j]);
    }
  }
}

static void test_js_unresolved(void **state) {
  (void)state;
  fake_fs fs = fake_of(js_files, NULL);
  const ch_import_kind P = CH_IMPORT_PACKAGE;
  const char *app = "web/src/app.ts";
  NONE(&fs, "typescript", app, P, "react", NULL);
  NONE(&fs, "typescript", app, P, "@scope/pkg", NULL);
  /* Bare even though web/src/lodash/fp.js exists: node_modules. */
  NONE(&fs, "typescript", app, P, "lodash/fp", NULL);
  NONE(&fs, "typescript", app, CH_IMPORT_RELATIVE, "lodash/fp", NULL);
  NONE(&fs, "typescript", app, P, "util", NULL);
  /* Escaping the root. */
  NONE(&fs, "typescript", app, CH_IMPORT_RELATIVE, "../../../outside", NULL);
  NONE(&fs, "typescript", app, CH_IMPORT_RELATIVE,
       "../../../../../../../../outside", NULL);
  NONE(&fs, "typescript", "outside.ts", CH_IMPORT_RELATIVE, "..", NULL);
  NONE(&fs, "typescript", app, CH_IMPORT_RELATIVE, "/../outside", NULL);
}

/* ---- Go ------------------------------------------------------------------ */

static const char *const go_files[] = {
    "go.mod",
    "root.go",
    "cmd/app/main.go",
    "internal/db/query.go",
    "internal/db/db.go",
    "internal/db/db_test.go",
    "internal/db/_skip.go",
    "internal/db/.hidden.go",
    "internal/db/README.md",
    "internal/db/sub/x.go",
    "internal/empty/notes.txt",
    "tools/go.mod",
    "tools/main.go",
    "tools/gen/gen.go",
    "tools/gen/gen_test.go",
    "vendor/github.com/pkg/errors/errors.go",
    NULL,
};

static const char *const go_texts[] = {
    "go.mod",
    "// the root module\nmodule example.com/root\n\ngo 1.21\n\nrequire (\n"
    "\tgithub.com/pkg/errors v0.9.1\n)\n",
    "tools/go.mod",
    "\xEF\xBB\xBFmodule \"example.com/root/tools\" // tools have their own\r\n"
    "go 1.22\r\n",
    NULL,
};

static void test_go_module(void **state) {
  (void)state;
  fake_fs fs = fake_of(go_files, go_texts);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *main = "cmd/app/main.go";
  /* The package's files, by path, without tests or ignored files. */
  EXPECT(&fs, "go", main, M, "example.com/root/internal/db", NULL,
         "internal/db/db.go", "internal/db/query.go");
  EXPECT(&fs, "go", main, M, "example.com/root/internal/db/sub", NULL,
         "internal/db/sub/x.go");
  /* The module path itself is the go.mod directory. */
  EXPECT(&fs, "go", main, M, "example.com/root", NULL, "root.go");
  /* A directory without Go files. */
  NONE(&fs, "go", main, M, "example.com/root/internal/empty", NULL);
  NONE(&fs, "go", main, M, "example.com/root/internal/nope", NULL);
  /* The module path must end at a '/'. */
  NONE(&fs, "go", main, M, "example.com/rootx/internal/db", NULL);
  NONE(&fs, "go", main, M, "example.com/ro", NULL);
  /* The standard library and dependencies. */
  NONE(&fs, "go", main, M, "fmt", NULL);
  NONE(&fs, "go", main, M, "net/http", NULL);
  NONE(&fs, "go", main, M, "github.com/other/x", NULL);
  /* Unless vendored. */
  EXPECT(&fs, "go", main, M, "github.com/pkg/errors", NULL,
         "vendor/github.com/pkg/errors/errors.go");
  /* Only go.mod files were read. */
  assert_true(fs.reads > 0);
}

static void test_go_nested_modules(void **state) {
  (void)state;
  fake_fs fs = fake_of(go_files, go_texts);
  const ch_import_kind M = CH_IMPORT_MODULE;
  /* tools/ has its own go.mod (quoted module path, BOM, CRLF, comment). */
  EXPECT(&fs, "go", "tools/main.go", M, "example.com/root/tools/gen", NULL,
         "tools/gen/gen.go");
  EXPECT(&fs, "go", "tools/gen/gen.go", M, "example.com/root/tools", NULL,
         "tools/main.go");
  /* Inside tools/, the root module is another module: not resolved by the
   * nearest go.mod. */
  NONE(&fs, "go", "tools/gen/gen.go", M, "example.com/root/internal/db", NULL);
  /* From the root module, tools/gen is simply a directory. */
  EXPECT(&fs, "go", "cmd/app/main.go", M, "example.com/root/tools/gen", NULL,
         "tools/gen/gen.go");
}

static void test_go_malformed(void **state) {
  (void)state;
  const ch_import_kind M = CH_IMPORT_MODULE;
  fake_fs fs = fake_of(go_files, go_texts);
  const char *main = "cmd/app/main.go";
  NONE(&fs, "go", main, M, "example.com/root/../root/internal/db", NULL);
  NONE(&fs, "go", main, M, "example.com/root/internal/../internal/db", NULL);
  NONE(&fs, "go", main, M, "example.com/root//internal/db", NULL);
  NONE(&fs, "go", main, M, "example.com/root/./internal/db", NULL);
  NONE(&fs, "go", main, M, "example.com/root/", NULL);
  NONE(&fs, "go", main, M, "/internal/db", NULL);
  NONE(&fs, "go", main, M, "./internal/db", NULL);
  NONE(&fs, "go", main, M, "../../internal/db", NULL);

  /* No go.mod at all, or one without a module line, or one the file set
   * cannot read: nothing resolves. */
  static const char *const bare[] = {"a/a.go", "b/b.go", NULL};
  fake_fs no_mod = fake_of(bare, NULL);
  NONE(&no_mod, "go", "a/a.go", M, "example.com/root/b", NULL);
  /* go.mod need not be indexed, so read() is asked at each level up:
   * a/go.mod, then go.mod. */
  assert_int_equal(no_mod.reads, 2);
  static const char *const broken[] = {"go.mod", "a/a.go", "b/b.go", NULL};
  static const char *const broken_text[] = {"go.mod", "go 1.21\n", NULL};
  fake_fs no_line = fake_of(broken, broken_text);
  NONE(&no_line, "go", "a/a.go", M, "example.com/root/b", NULL);
  fake_fs unreadable = fake_of(broken, NULL);
  NONE(&unreadable, "go", "a/a.go", M, "example.com/root/b", NULL);
  static const char *const word_text[] = {"go.mod", "modules x\nmodule\n",
                                          NULL};
  fake_fs odd = fake_of(broken, word_text);
  NONE(&odd, "go", "a/a.go", M, "x/b", NULL);
}

/* ---- Rust ---------------------------------------------------------------- */

static const char *const rs_files[] = {
    "Cargo.toml",
    "src/lib.rs",
    "src/net.rs",
    "src/net/tcp.rs",
    "src/net/udp/mod.rs",
    "src/net/udp/packet.rs",
    "src/util/mod.rs",
    "src/util/fmt.rs",
    "src/bin/tool.rs",
    "src/bin/helper.rs",
    "tests/it.rs",
    "tests/common/mod.rs",
    "tools/cli/src/main.rs",
    "tools/cli/src/args.rs",
    "tools/cli/src/cmd.rs",
    "build.rs",
    "gen.rs",
    NULL,
};

static void test_rust_mod_decl(void **state) {
  (void)state;
  fake_fs fs = fake_of(rs_files, NULL);
  const ch_import_kind R = CH_IMPORT_RELATIVE;
  /* lib.rs, main.rs and mod.rs own their directory. */
  EXPECT(&fs, "rust", "src/lib.rs", R, "net", NULL, "src/net.rs");
  EXPECT(&fs, "rust", "src/lib.rs", R, "util", NULL, "src/util/mod.rs");
  EXPECT(&fs, "rust", "src/net/udp/mod.rs", R, "packet", NULL,
         "src/net/udp/packet.rs");
  EXPECT(&fs, "rust", "src/util/mod.rs", R, "fmt", NULL, "src/util/fmt.rs");
  EXPECT(&fs, "rust", "tools/cli/src/main.rs", R, "args", NULL,
         "tools/cli/src/args.rs");
  /* Other files declare modules in the directory named after them. */
  EXPECT(&fs, "rust", "src/net.rs", R, "tcp", NULL, "src/net/tcp.rs");
  EXPECT(&fs, "rust", "src/net.rs", R, "udp", NULL, "src/net/udp/mod.rs");
  NONE(&fs, "rust", "src/net.rs", R, "fmt", NULL);
  /* ... so src/net.rs's "util" is not src/util. */
  NONE(&fs, "rust", "src/net.rs", R, "util", NULL);
  /* Cargo's own crate roots declare next to themselves. */
  EXPECT(&fs, "rust", "src/bin/tool.rs", R, "helper", NULL,
         "src/bin/helper.rs");
  EXPECT(&fs, "rust", "tests/it.rs", R, "common", NULL, "tests/common/mod.rs");
  EXPECT(&fs, "rust", "build.rs", R, "gen", NULL, "gen.rs");
  NONE(&fs, "rust", "src/lib.rs", R, "missing", NULL);
  NONE(&fs, "rust", "src/lib.rs", R, "../net", NULL);
  NONE(&fs, "rust", "src/lib.rs", R, "net/tcp", NULL);
}

static void test_rust_use_crate(void **state) {
  (void)state;
  fake_fs fs = fake_of(rs_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *fmt = "src/util/fmt.rs";
  /* The longest prefix that is a module file. */
  EXPECT(&fs, "rust", fmt, M, "crate::net::tcp::Conn", NULL, "src/net/tcp.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::net::tcp", NULL, "src/net/tcp.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::net::Socket", NULL, "src/net.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::net", NULL, "src/net.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::net::udp::packet::Packet", NULL,
         "src/net/udp/packet.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::net::udp::Socket", NULL,
         "src/net/udp/mod.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::util::Thing", NULL, "src/util/mod.rs");
  /* Items of the crate root, or of an inline module, are in lib.rs. */
  EXPECT(&fs, "rust", fmt, M, "crate::Error", NULL, "src/lib.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::inline::Thing", NULL, "src/lib.rs");
  EXPECT(&fs, "rust", fmt, M, "crate::net::*", NULL, "src/net.rs");
  EXPECT(&fs, "rust", fmt, M, "::crate::net", NULL, "src/net.rs");
  /* A crate rooted at main.rs. */
  EXPECT(&fs, "rust", "tools/cli/src/args.rs", M, "crate::cmd::Run", NULL,
         "tools/cli/src/cmd.rs");
  EXPECT(&fs, "rust", "tools/cli/src/args.rs", M, "crate::Cli", NULL,
         "tools/cli/src/main.rs");
  /* Uniform paths: a module in scope, from the importer or the root. */
  EXPECT(&fs, "rust", "src/lib.rs", M, "net::tcp", NULL, "src/net/tcp.rs");
  EXPECT(&fs, "rust", "src/net.rs", M, "tcp::Conn", NULL, "src/net/tcp.rs");
  EXPECT(&fs, "rust", "src/util/fmt.rs", M, "net::Socket", NULL, "src/net.rs");
}

static void test_rust_super_self(void **state) {
  (void)state;
  fake_fs fs = fake_of(rs_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *tcp = "src/net/tcp.rs";
  EXPECT(&fs, "rust", tcp, M, "super::Socket", NULL, "src/net.rs");
  EXPECT(&fs, "rust", tcp, M, "super::udp::Socket", NULL, "src/net/udp/mod.rs");
  EXPECT(&fs, "rust", tcp, M, "super::super::util::fmt", NULL,
         "src/util/fmt.rs");
  EXPECT(&fs, "rust", tcp, M, "super::super::Error", NULL, "src/lib.rs");
  NONE(&fs, "rust", tcp, M, "super::super::super::x", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "super::x", NULL);
  /* mod.rs is its directory's module: super is the directory above. */
  EXPECT(&fs, "rust", "src/net/udp/mod.rs", M, "super::tcp", NULL,
         "src/net/tcp.rs");
  EXPECT(&fs, "rust", "src/net/udp/mod.rs", M, "self::packet::Packet", NULL,
         "src/net/udp/packet.rs");
  EXPECT(&fs, "rust", "src/util/mod.rs", M, "super::net", NULL, "src/net.rs");
  EXPECT(&fs, "rust", "src/net.rs", M, "self::tcp::Conn", NULL,
         "src/net/tcp.rs");
  EXPECT(&fs, "rust", "src/net.rs", M, "self::Thing", NULL, "src/net.rs");
  EXPECT(&fs, "rust", "src/lib.rs", M, "self::net::udp", NULL,
         "src/net/udp/mod.rs");
}

static void test_rust_use_lists(void **state) {
  (void)state;
  fake_fs fs = fake_of(rs_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *lib = "src/lib.rs";
  /* Every file found, the names' first, then the list's own module. */
  EXPECT(&fs, "rust", lib, M, "crate::net", "tcp,udp,Socket", "src/net/tcp.rs",
         "src/net/udp/mod.rs", "src/net.rs");
  EXPECT(&fs, "rust", lib, M, "crate::net", "tcp, udp as u", "src/net/tcp.rs",
         "src/net/udp/mod.rs", "src/net.rs");
  EXPECT(&fs, "rust", lib, M, "crate::net", "Socket", "src/net.rs");
  EXPECT(&fs, "rust", lib, M, "crate::net", "self,tcp", "src/net.rs",
         "src/net/tcp.rs");
  EXPECT(&fs, "rust", lib, M, "crate::net", "*", "src/net.rs");
  EXPECT(&fs, "rust", lib, M, "crate::net", "udp::packet::Packet",
         "src/net/udp/packet.rs", "src/net.rs");
  EXPECT(&fs, "rust", lib, M, "crate", "net,util", "src/net.rs",
         "src/util/mod.rs", "src/lib.rs");
  /* Written with the braces in the spec. */
  EXPECT(&fs, "rust", lib, M, "crate::net::{tcp, Socket}", NULL,
         "src/net/tcp.rs", "src/net.rs");
  EXPECT(&fs, "rust", "src/net/tcp.rs", M, "super::{udp, Socket}", NULL,
         "src/net/udp/mod.rs", "src/net.rs");
  /* Nested lists: every leaf, then the inner list's module, then the
   * outer's. */
  EXPECT(&fs, "rust", lib, M, "crate::{net::{tcp, udp as u}, util}", NULL,
         "src/net/tcp.rs", "src/net/udp/mod.rs", "src/util/mod.rs",
         "src/net.rs", "src/lib.rs");
  EXPECT(&fs, "rust", lib, M, "crate", "net::{self, tcp}, util::fmt",
         "src/net.rs", "src/net/tcp.rs", "src/util/fmt.rs", "src/lib.rs");
  /* Unbalanced or empty lists resolve nothing. */
  NONE(&fs, "rust", lib, M, "crate::net::{tcp", NULL);
  NONE(&fs, "rust", lib, M, "crate::net::tcp}", NULL);
  NONE(&fs, "rust", lib, M, "self", NULL);
}

static void test_rust_external(void **state) {
  (void)state;
  fake_fs fs = fake_of(rs_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  NONE(&fs, "rust", "src/lib.rs", M, "std::collections::HashMap", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "core::fmt", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "serde::Serialize", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "std", "io,fmt");
  NONE(&fs, "rust", "src/lib.rs", M, "tokio", "net");
  /* A std module that shadows nothing: "fmt" is a module of util only. */
  NONE(&fs, "rust", "src/net.rs", M, "fmt::Display", NULL);
  /* Malformed. */
  NONE(&fs, "rust", "src/lib.rs", M, "crate::", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "::", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "crate::::net", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "crate::net/tcp", NULL);
  NONE(&fs, "rust", "src/lib.rs", M, "crate::..::net", NULL);
}

/* ---- Java ---------------------------------------------------------------- */

static const char *const java_files[] = {
    "app/src/main/java/com/acme/app/Main.java",
    "app/src/main/java/com/acme/app/Config.java",
    "app/src/main/java/com/acme/util/Strings.java",
    "app/src/main/java/com/acme/util/Lists.java",
    "app/src/main/java/com/acme/util/notes.md",
    "app/src/main/java/com/acme/util/inner/Deep.java",
    "lib/src/main/java/com/acme/model/User.java",
    "lib/src/main/java/com/acme/model/Role.java",
    "lib/src/main/java/com/acme/util/Strings.java",
    "old/com/acme/model/User.java",
    NULL,
};

static void test_java_class(void **state) {
  (void)state;
  fake_fs fs = fake_of(java_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *main = "app/src/main/java/com/acme/app/Main.java";
  const char *user = "lib/src/main/java/com/acme/model/User.java";
  /* Nearest to the importer first. */
  EXPECT(&fs, "java", main, M, "com.acme.util.Strings", NULL,
         "app/src/main/java/com/acme/util/Strings.java",
         "lib/src/main/java/com/acme/util/Strings.java");
  EXPECT(&fs, "java", user, M, "com.acme.util.Strings", NULL,
         "lib/src/main/java/com/acme/util/Strings.java",
         "app/src/main/java/com/acme/util/Strings.java");
  EXPECT(&fs, "java", main, M, "com.acme.model.User", NULL,
         "old/com/acme/model/User.java", user);
  EXPECT(&fs, "java", "lib/src/main/java/com/acme/model/Role.java", M,
         "com.acme.model.User", NULL, user, "old/com/acme/model/User.java");
  EXPECT(&fs, "java", main, M, "com.acme.app.Config", NULL,
         "app/src/main/java/com/acme/app/Config.java");
  /* A nested class: C.java. */
  EXPECT(&fs, "java", main, M, "com.acme.app.Config.Builder", NULL,
         "app/src/main/java/com/acme/app/Config.java");
  NONE(&fs, "java", main, M, "java.util.List", NULL);
  NONE(&fs, "java", main, M, "com.acme.app.Missing", NULL);
  /* Stripping keeps a package: acme.Strings is not com/acme/util's. */
  NONE(&fs, "java", main, M, "com.acme.nope.Strings.x.y.z", NULL);
}

static void test_java_static(void **state) {
  (void)state;
  fake_fs fs = fake_of(java_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *main = "app/src/main/java/com/acme/app/Main.java";
  EXPECT(&fs, "java", main, M, "com.acme.util.Strings.join", NULL,
         "app/src/main/java/com/acme/util/Strings.java",
         "lib/src/main/java/com/acme/util/Strings.java");
  EXPECT(&fs, "java", main, M, "com.acme.app.Config.Builder.DEFAULT", NULL,
         "app/src/main/java/com/acme/app/Config.java");
  /* import static a.b.C.*: C's members, not a directory. */
  EXPECT(&fs, "java", main, M, "com.acme.app.Config.*", NULL,
         "app/src/main/java/com/acme/app/Config.java");
  NONE(&fs, "java", main, M, "java.lang.Math.max", NULL);
}

static void test_java_wildcard(void **state) {
  (void)state;
  fake_fs fs = fake_of(java_files, NULL);
  const ch_import_kind M = CH_IMPORT_MODULE;
  const char *main = "app/src/main/java/com/acme/app/Main.java";
  /* The package directory under the importer's source root: its .java
   * files by path, not subpackages, not other files. */
  EXPECT(&fs, "java", main, M, "com.acme.util.*", NULL,
         "app/src/main/java/com/acme/util/Lists.java",
         "app/src/main/java/com/acme/util/Strings.java");
  EXPECT(&fs, "java", main, M, "com.acme.util", "*",
         "app/src/main/java/com/acme/util/Lists.java",
         "app/src/main/java/com/acme/util/Strings.java");
  EXPECT(&fs, "java", main, M, "com.acme.util.inner.*", NULL,
         "app/src/main/java/com/acme/util/inner/Deep.java");
  /* Another module's package: found through the classes the importer
   * uses; the directory with most of them wins over old/. */
  static const char *const idents[] = {"List", "Role", "User", "main", NULL};
  EXPECT_IDENTS(&fs, "java", main, M, "com.acme.model.*", NULL, idents,
                "lib/src/main/java/com/acme/model/Role.java",
                "lib/src/main/java/com/acme/model/User.java");
  /* Without identifiers to go by, another module's package is not found. */
  NONE(&fs, "java", main, M, "com.acme.model.*", NULL);
  NONE(&fs, "java", main, M, "java.util.*", NULL);
  NONE(&fs, "java", main, M, "*", NULL);
  NONE(&fs, "java", main, M, "com.*.util", NULL);
  NONE(&fs, "java", main, M, "com..acme", NULL);
  NONE(&fs, "java", main, M, ".", NULL);
  NONE(&fs, "java", main, M, "com/acme/util.*", NULL);
}

/* ---- common behaviour ---------------------------------------------------- */

static void test_max_and_total(void **state) {
  (void)state;
  fake_fs fs = fake_of(go_files, go_texts);
  uint32_t out[2] = {UINT32_MAX, UINT32_MAX};
  size_t n = resolve_with(&fs, "go", "cmd/app/main.go", CH_IMPORT_MODULE,
                          "example.com/root/internal/db", NULL, NULL, out, 1);
  assert_int_equal(n, 2);
  assert_string_equal(fs.paths[out[0]], "internal/db/db.go");
  assert_int_equal(out[1], UINT32_MAX);
  /* max 0 with no array still counts. */
  n = resolve_with(&fs, "go", "cmd/app/main.go", CH_IMPORT_MODULE,
                   "example.com/root/internal/db", NULL, NULL, NULL, 0);
  assert_int_equal(n, 2);
}

static void test_bad_arguments(void **state) {
  (void)state;
  fake_fs fs = fake_of(py_files, NULL);
  ch_fileset set = fileset_of(&fs);
  ch_record *r =
      record_of("python", "main.py", CH_IMPORT_MODULE, "pkg.mod", NULL, NULL);
  uint32_t out[4];
  assert_int_equal(ch_resolve_import(&set, r, &r->imports[0], out, 4), 1);
  assert_int_equal(ch_resolve_import(NULL, r, &r->imports[0], out, 4), 0);
  assert_int_equal(ch_resolve_import(&set, NULL, &r->imports[0], out, 4), 0);
  assert_int_equal(ch_resolve_import(&set, r, NULL, out, 4), 0);

  /* Offsets outside the pool, or a string running off its end. */
  ch_import bad = r->imports[0];
  bad.spec = r->pool_len;
  assert_int_equal(ch_resolve_import(&set, r, &bad, out, 4), 0);
  bad.spec = CH_NONE;
  assert_int_equal(ch_resolve_import(&set, r, &bad, out, 4), 0);
  bad = r->imports[0];
  bad.names = r->pool_len + 10;
  assert_int_equal(ch_resolve_import(&set, r, &bad, out, 4), 0);
  r->pool[r->pool_len - 1] = 'x';
  assert_int_equal(ch_resolve_import(&set, r, &r->imports[0], out, 4), 0);
  r->pool[r->pool_len - 1] = 0;

  /* No language: taken from the path; unknown: nothing. */
  r->lang = NULL;
  assert_int_equal(ch_resolve_import(&set, r, &r->imports[0], out, 4), 1);
  ch_free(r->path);
  r->path = ch_strdup("main.txt");
  assert_int_equal(ch_resolve_import(&set, r, &r->imports[0], out, 4), 0);
  /* An importer path that itself escapes the root. */
  r->lang = ch_syntax_by_name("python");
  ch_free(r->path);
  r->path = ch_strdup("../elsewhere/main.py");
  assert_int_equal(ch_resolve_import(&set, r, &r->imports[0], out, 4), 0);
  /* A file set with no callbacks at all. */
  ch_fileset empty = {0};
  ch_free(r->path);
  r->path = ch_strdup("main.py");
  assert_int_equal(ch_resolve_import(&empty, r, &r->imports[0], out, 4), 0);
  ch_record_unref(r);
}

/* Odd specs in every language and kind: never a crash (ASan watches),
 * never a path that is not normalised (the fake checks), nothing for the
 * ones that escape or are empty. */
static void test_weird_specs(void **state) {
  (void)state;
  static const char *const langs[] = {"c",          "cpp",        "python",
                                      "javascript", "typescript", "tsx",
                                      "go",         "rust",       "java"};
  static const char *const froms[] = {"main.c", "a/b/c/file.x", "f"};
  static const char *const specs[] = {
      "",
      ".",
      "..",
      "...",
      "....",
      "/",
      "//",
      "./",
      "../",
      "::",
      ":::",
      "*",
      ".*",
      "{",
      "}",
      "::{",
      "a::{",
      "a.{b}",
      "\\",
      "a\\b",
      " ",
      "a b",
      "..a",
      "a..",
      "../../../../outside",
      "./../../../../../outside",
      "/../../outside",
      "a/./b/../c",
      "super::super",
      "crate::{",
      "crate::{a::{b,",
      "self",
  };
  static const char *const names[] = {NULL, "",    ",", "*",   " , ,",
                                      "..", "a::", "{", "self"};
  static const char *const all[] = {
      "a/c",          "a/c.h",     "a/c.py",      "a/c.ts",     "a/c.rs",
      "outside",      "outside.h", "outside.ts",  "outside.py", "go.mod",
      "a/b/c/lib.rs", "index.ts",  "__init__.py", NULL,
  };
  static const char *const texts[] = {"go.mod", "module\n", NULL};
  fake_fs fs = fake_of(all, texts);
  for(size_t l = 0; l < CH_ARRAY_LEN(langs); l++)
    for(size_t f = 0; f < CH_ARRAY_LEN(froms); f++)
      for(size_t s = 0; s < CH_ARRAY_LEN(specs); s++)
        for(size_t n = 0; n < CH_ARRAY_LEN(names); n++)
          for(int kind = CH_IMPORT_INCLUDE_LOCAL; kind <= CH_IMPORT_PACKAGE;
              kind++) {
            uint32_t out[MAX_OUT];
            size_t got =
                resolve_with(&fs, langs[l], froms[f], (ch_import_kind)kind,
                             specs[s], names[n], NULL, out, MAX_OUT);
            assert_true(got <= fs.npaths);
            if(specs[s][0] == 0) assert_int_equal(got, 0);
            /* "outside" at the root is reachable only from the root. */
            for(size_t i = 0; i < got; i++)
              if(strstr(specs[s], "outside") && froms[f][0] == 'a')
                assert_null(strstr(fs.paths[out[i]], "outside"));
          }
}

static void test_long_specs(void **state) {
  (void)state;
  fake_fs fs = fake_of(js_files, NULL);
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  /* 20,000 characters of each shape. */
  static const char *const units[] = {"a",  "../", "./", "a/",
                                      "a.", "a::", "/",  "."};
  static const char *const langs[] = {"c",  "python", "typescript",
                                      "go", "rust",   "java"};
  for(size_t u = 0; u < CH_ARRAY_LEN(units); u++) {
    ch_buf_reset(&b);
    while(b.len < 20000)
      ch_buf_append_str(&b, units[u]);
    for(size_t l = 0; l < CH_ARRAY_LEN(langs); l++)
      for(int kind = CH_IMPORT_INCLUDE_LOCAL; kind <= CH_IMPORT_PACKAGE; kind++)
        assert_int_equal(resolve_with(&fs, langs[l], "web/src/app.ts",
                                      (ch_import_kind)kind, b.data, b.data,
                                      NULL, NULL, 0),
                         0);
  }
  /* Long but still a path: 500 "./" then util resolves. */
  ch_buf_reset(&b);
  for(int i = 0; i < 500; i++)
    ch_buf_append_str(&b, "./");
  ch_buf_append_str(&b, "util");
  EXPECT(&fs, "typescript", "web/src/app.ts", CH_IMPORT_RELATIVE, b.data, NULL,
         "web/src/util.ts");
  /* 100 "a/../" then util. */
  ch_buf_reset(&b);
  ch_buf_append_str(&b, "./");
  for(int i = 0; i < 100; i++)
    ch_buf_append_str(&b, "a/../");
  ch_buf_append_str(&b, "util");
  EXPECT(&fs, "typescript", "web/src/app.ts", CH_IMPORT_RELATIVE, b.data, NULL,
         "web/src/util.ts");
  ch_buf_release(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c_local_include),
      cmocka_unit_test(test_c_suffix_order),
      cmocka_unit_test(test_c_unresolved),
      cmocka_unit_test(test_python_absolute),
      cmocka_unit_test(test_python_from_import),
      cmocka_unit_test(test_python_source_roots),
      cmocka_unit_test(test_python_relative),
      cmocka_unit_test(test_python_malformed),
      cmocka_unit_test(test_js_relative),
      cmocka_unit_test(test_js_esm_swap),
      cmocka_unit_test(test_js_index_files),
      cmocka_unit_test(test_js_extension_order),
      cmocka_unit_test(test_js_unresolved),
      cmocka_unit_test(test_go_module),
      cmocka_unit_test(test_go_nested_modules),
      cmocka_unit_test(test_go_malformed),
      cmocka_unit_test(test_rust_mod_decl),
      cmocka_unit_test(test_rust_use_crate),
      cmocka_unit_test(test_rust_super_self),
      cmocka_unit_test(test_rust_use_lists),
      cmocka_unit_test(test_rust_external),
      cmocka_unit_test(test_java_class),
      cmocka_unit_test(test_java_static),
      cmocka_unit_test(test_java_wildcard),
      cmocka_unit_test(test_max_and_total),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_weird_specs),
      cmocka_unit_test(test_long_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
