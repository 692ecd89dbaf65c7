/* Tests for core/src/index.c: the index over a real temporary repository,
 * with real workers, snapshots, incremental updates and the cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "chorus/index.h"

static char repo[256];
static char cache[256];

static void write_file(const char *rel, const char *text) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", repo, rel);
  /* create parent directories */
  for(char *p = path + strlen(repo) + 1; *p; p++) {
    if(*p != '/') continue;
    *p = 0;
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static char *abs_of(const char *rel) { return ch_strdupf("%s/%s", repo, rel); }

static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if(!d) {
    unlink(path);
    return;
  }
  struct dirent *e;
  while((e = readdir(d))) {
    if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char *child = ch_strdupf("%s/%s", path, e->d_name);
    struct stat st;
    if(lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
      remove_tree(child);
    else
      unlink(child);
    ch_free(child);
  }
  closedir(d);
  rmdir(path);
}

static const char header_a[] = "#ifndef A_H\n#define A_H\n"
                               "/* A point on the plane. */\n"
                               "struct point { int x; int y; };\n"
                               "typedef int length_t;\n"
                               "#endif\n";
static const char source_a[] = "#include \"a.h\"\n"
                               "int area(struct point p) { return p.x * p.y; }\n";
static const char source_b[] = "#include \"a.h\"\n"
                               "#include <stdio.h>\n"
                               "static int area(int side) { return side * side; }\n"
                               "int twice(struct point p) { return 2 * p.x; }\n";
static const char source_c[] = "int area(int w, int h) { return w * h; }\n";

static int setup(void **state) {
  (void)state;
  snprintf(repo, sizeof(repo), "/tmp/chorus-index-XXXXXX");
  assert_non_null(mkdtemp(repo));
  snprintf(cache, sizeof(cache), "/tmp/chorus-cache-XXXXXX");
  assert_non_null(mkdtemp(cache));
  write_file("a.h", header_a);
  write_file("a.c", source_a);
  write_file("b.c", source_b);
  write_file("sub/c.c", source_c);
  write_file(".gitignore", "build/\n");
  write_file("build/gen.c", "int generated(void) { return 0; }\n");
  write_file("notes.txt", "not code\n");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  remove_tree(repo);
  remove_tree(cache);
  return 0;
}

static ch_index *open_index(void) {
  ch_index_options o = {0};
  o.workers = 2;
  o.cache_dir = cache;
  ch_status error = CH_OK;
  ch_index *index = ch_index_new(&o, &error);
  assert_non_null(index);
  assert_int_equal(ch_index_add_root(index, repo), CH_OK);
  ch_index_wait_idle(index);
  return index;
}

static uint32_t id_of(ch_snapshot *s, const char *rel) {
  char *abs = abs_of(rel);
  uint32_t id = CH_NONE;
  bool found = ch_snapshot_lookup(s, abs, &id);
  ch_free(abs);
  return found ? id : CH_NONE;
}

static size_t live_files(ch_snapshot *s) {
  size_t n = 0;
  for(uint32_t i = 0; i < ch_snapshot_count(s); i++)
    if(ch_snapshot_file(s, i)) n++;
  return n;
}

/* Relative paths of the definitions of name, as seen from `from`. */
static char *where(ch_snapshot *s, const char *name, const char *from) {
  ch_def_ref refs[16];
  uint32_t from_id = from ? id_of(s, from) : CH_NONE;
  size_t n = ch_snapshot_find(s, name, from_id, refs, 16);
  ch_buf b;
  ch_buf_init(&b, 1 << 16);
  for(size_t i = 0; i < CH_MIN(n, (size_t)16); i++) {
    const char *abs = ch_snapshot_abs_path(s, refs[i].file);
    ch_buf_appendf(&b, "%s%s:%u", i ? " " : "", abs + strlen(repo) + 1,
                   refs[i].proximity);
  }
  return ch_buf_detach(&b, NULL);
}

static void expect_where(ch_snapshot *s, const char *name, const char *from,
                         const char *want) {
  char *got = where(s, name, from);
  if(strcmp(got, want) != 0)
    fail_msg("definitions of %s from %s: want \"%s\", got \"%s\"", name,
             from ? from : "-", want, got);
  ch_free(got);
}

static void test_initial_index(void **state) {
  (void)state;
  ch_index *index = open_index();
  ch_snapshot *s = ch_index_snapshot(index);
  assert_int_equal(live_files(s), 4); /* build/ ignored, notes.txt unknown */
  assert_true(id_of(s, "build/gen.c") == CH_NONE);
  assert_true(id_of(s, "a.h") != CH_NONE);
  /* Nearest first: same file, imported, same directory, elsewhere. */
  expect_where(s, "area", "b.c", "b.c:0 a.c:2 sub/c.c:3");
  expect_where(s, "point", "b.c", "a.h:1");
  expect_where(s, "area", "sub/c.c", "sub/c.c:0 a.c:3 b.c:3");
  /* Imports and importers. */
  uint32_t ids[8];
  uint32_t b = id_of(s, "b.c"), a_h = id_of(s, "a.h");
  assert_int_equal(ch_snapshot_imports(s, b, ids, 8), 1);
  assert_int_equal(ids[0], a_h);
  assert_int_equal(ch_snapshot_unresolved(s, b), 1); /* <stdio.h> */
  assert_int_equal(ch_snapshot_importers(s, a_h, ids, 8), 2);
  /* Prefix search. */
  ch_def_ref refs[8];
  assert_true(ch_snapshot_find_prefix(s, "ar", CH_NONE, refs, 8) >= 3);
  /* Outline: signatures without bodies. */
  ch_buf out;
  ch_buf_init(&out, 1 << 16);
  assert_int_equal(ch_snapshot_outline(s, id_of(s, "a.c"), &out), CH_OK);
  assert_non_null(strstr(out.data, "int area(struct point p)"));
  assert_null(strstr(out.data, "return"));
  ch_buf_release(&out);
  ch_index_stats st;
  ch_index_stats_get(index, &st);
  assert_true(st.idle);
  assert_int_equal(st.files_seen, 4);
  assert_int_equal(st.files_done, 4);
  ch_snapshot_unref(s);
  ch_index_free(index);
}

static void touch_later(const char *rel) {
  /* A different mtime even on file systems with coarse timestamps. */
  char *abs = abs_of(rel);
  struct timeval tv[2];
  gettimeofday(&tv[0], NULL);
  tv[0].tv_sec += 5;
  tv[1] = tv[0];
  utimes(abs, tv);
  ch_free(abs);
}

static void test_file_changes(void **state) {
  (void)state;
  ch_index *index = open_index();
  ch_snapshot *before = ch_index_snapshot(index);
  write_file("sub/c.c", "int volume(int w, int h, int d) { return w * h * d; }\n");
  touch_later("sub/c.c");
  char *abs = abs_of("sub/c.c");
  ch_index_file_changed(index, abs);
  ch_index_wait_idle(index);
  ch_snapshot *after = ch_index_snapshot(index);
  expect_where(after, "area", "b.c", "b.c:0 a.c:2");
  expect_where(after, "volume", NULL, "sub/c.c:3");
  /* The old snapshot still shows the old world. */
  expect_where(before, "area", "b.c", "b.c:0 a.c:2 sub/c.c:3");
  expect_where(before, "volume", NULL, "");
  ch_snapshot_unref(after);
  /* Deleted on disk: gone from the index. */
  unlink(abs);
  ch_index_file_changed(index, abs);
  ch_index_wait_idle(index);
  after = ch_index_snapshot(index);
  expect_where(after, "volume", NULL, "");
  assert_int_equal(live_files(after), 3);
  ch_snapshot_unref(after);
  /* A new file appears. */
  write_file("sub/c.c", source_c);
  ch_index_file_changed(index, abs);
  ch_index_wait_idle(index);
  after = ch_index_snapshot(index);
  expect_where(after, "area", "sub/c.c", "sub/c.c:0 a.c:3 b.c:3");
  ch_snapshot_unref(after);
  ch_free(abs);
  ch_snapshot_unref(before);
  ch_index_free(index);
}

static void test_open_documents(void **state) {
  (void)state;
  ch_index *index = open_index();
  char *abs = abs_of("b.c");
  const ch_language *c = ch_syntax_by_name("c");
  const char *text = "#include \"a.h\"\nint unsaved_fn(void) { return 1; }\n";
  assert_int_equal(ch_index_doc_open(index, abs, c, text, (uint32_t)strlen(text), 1),
                   CH_OK);
  ch_index_wait_idle(index);
  ch_snapshot *s = ch_index_snapshot(index);
  /* The unsaved text wins over the disk. */
  expect_where(s, "unsaved_fn", NULL, "b.c:3");
  expect_where(s, "twice", NULL, "");
  ch_snapshot_unref(s);

  /* An edit: rename unsaved_fn to edited_fn, told as a tree edit. */
  const char *text2 = "#include \"a.h\"\nint edited_fn(void) { return 1; }\n";
  uint32_t start = 19; /* "unsaved_fn" starts at byte 19 */
  TSInputEdit e = {start, start + 10, start + 9, {1, 4}, {1, 14}, {1, 13}};
  assert_int_equal(ch_index_doc_edit(index, abs, &e), CH_OK);
  assert_int_equal(ch_index_doc_update(index, abs, text2, (uint32_t)strlen(text2), 2),
                   CH_OK);
  ch_index_wait_idle(index);
  s = ch_index_snapshot(index);
  expect_where(s, "edited_fn", NULL, "b.c:3");
  expect_where(s, "unsaved_fn", NULL, "");
  ch_snapshot_unref(s);

  /* Open documents live in the snapshot's overlay, searched by name there
   * too: exact names, prefixes, the same name twice in source order. */
  char *many = abs_of("many_open.c");
  const char *mt = "int zq_b(void) { return 1; }\n"
                   "int zq_a(void) { return 2; }\n"
                   "int zq_b(void) { return 3; }\n"
                   "int zq_c(void) { return 4; }\n";
  assert_int_equal(ch_index_doc_open(index, many, c, mt, (uint32_t)strlen(mt), 1),
                   CH_OK);
  ch_index_wait_idle(index);
  s = ch_index_snapshot(index);
  ch_def_ref refs[8];
  assert_int_equal(ch_snapshot_find(s, "zq_b", CH_NONE, refs, 8), 2);
  const ch_record *mr = ch_snapshot_file(s, refs[0].file);
  assert_int_equal(mr->defs[refs[0].def].name_range.start_row, 0);
  assert_int_equal(mr->defs[refs[1].def].name_range.start_row, 2);
  assert_int_equal(ch_snapshot_find(s, "zq_a", CH_NONE, refs, 8), 1);
  assert_int_equal(ch_snapshot_find_prefix(s, "zq_", CH_NONE, refs, 8), 4);
  assert_int_equal(ch_snapshot_find(s, "zq", CH_NONE, refs, 8), 0);
  assert_int_equal(ch_snapshot_find(s, "zq_d", CH_NONE, refs, 8), 0);
  ch_snapshot_unref(s);
  ch_index_doc_close(index, many);
  ch_free(many);

  /* Closed: the file on disk is what counts again. */
  ch_index_doc_close(index, abs);
  ch_index_file_changed(index, abs);
  ch_index_wait_idle(index);
  s = ch_index_snapshot(index);
  expect_where(s, "twice", NULL, "b.c:3");
  expect_where(s, "edited_fn", NULL, "");
  ch_snapshot_unref(s);

  /* A document outside every root is indexed too. */
  const char *py = "def helper_outside():\n    return 1\n";
  ch_index_doc_open(index, "/elsewhere/x.py", ch_syntax_by_name("python"), py,
                    (uint32_t)strlen(py), 1);
  ch_index_wait_idle(index);
  s = ch_index_snapshot(index);
  assert_int_equal(ch_snapshot_find(s, "helper_outside", CH_NONE, refs, 2), 1);
  assert_string_equal(ch_snapshot_abs_path(s, refs[0].file), "/elsewhere/x.py");
  ch_snapshot_unref(s);
  ch_free(abs);
  ch_index_free(index);
}

/* Inode of the one cache file in the cache folder (a rewrite is a rename,
 * so a new inode). */
static ino_t cache_inode(void) {
  DIR *d = opendir(cache);
  assert_non_null(d);
  struct dirent *e;
  ino_t ino = 0;
  while((e = readdir(d))) {
    if(e->d_name[0] == '.') continue;
    char *p = ch_strdupf("%s/%s", cache, e->d_name);
    struct stat st;
    if(stat(p, &st) == 0) ino = st.st_ino;
    ch_free(p);
  }
  closedir(d);
  return ino;
}

static void test_cache(void **state) {
  (void)state;
  ch_index *index = open_index(); /* writes the cache when done */
  ch_index_free(index);
  ino_t written = cache_inode();
  assert_true(written != 0);
  index = open_index();
  ch_index_stats st;
  ch_index_stats_get(index, &st);
  assert_int_equal(st.cache_hits, 4);
  assert_int_equal(st.parsed, 0);
  ch_index_free(index);
  /* Nothing changed: the cache file was not rewritten. */
  assert_true(cache_inode() == written);
  index = open_index();
  ch_snapshot *s = ch_index_snapshot(index);
  expect_where(s, "area", "b.c", "b.c:0 a.c:2 sub/c.c:3");
  ch_snapshot_unref(s);
  ch_index_free(index);

  /* One file changed while chorus was not running: only it is parsed. */
  write_file("a.c", "#include \"a.h\"\nint perimeter(struct point p) { return 2 * (p.x + p.y); }\n");
  touch_later("a.c");
  index = open_index();
  ch_index_stats_get(index, &st);
  assert_int_equal(st.cache_hits, 3);
  assert_int_equal(st.parsed, 1);
  s = ch_index_snapshot(index);
  expect_where(s, "perimeter", NULL, "a.c:3");
  ch_snapshot_unref(s);
  ch_index_free(index);
  write_file("a.c", source_a);
  touch_later("a.c");

  /* A corrupt cache is ignored and rebuilt. */
  DIR *d = opendir(cache);
  assert_non_null(d);
  struct dirent *e;
  int corrupted = 0;
  while((e = readdir(d))) {
    if(e->d_name[0] == '.') continue;
    char *p = ch_strdupf("%s/%s", cache, e->d_name);
    int fd = open(p, O_WRONLY);
    if(fd >= 0) {
      assert_int_equal(pwrite(fd, "garbage!", 8, 40), 8);
      close(fd);
      corrupted++;
    }
    ch_free(p);
  }
  closedir(d);
  assert_true(corrupted >= 1);
  index = open_index();
  ch_index_stats_get(index, &st);
  assert_int_equal(st.parsed, 4);
  ch_index_free(index);
}

static void test_many_files(void **state) {
  (void)state;
  /* Enough files that bases are rebuilt, not only overlaid. */
  for(int i = 0; i < 300; i++) {
    char rel[64], text[128];
    snprintf(rel, sizeof(rel), "many/m%03d.py", i);
    snprintf(text, sizeof(text), "def fn_%03d(x):\n    return x + %d\n", i, i);
    write_file(rel, text);
  }
  ch_index *index = open_index();
  ch_snapshot *s = ch_index_snapshot(index);
  assert_int_equal(live_files(s), 304);
  expect_where(s, "fn_123", NULL, "many/m123.py:3");
  ch_snapshot_unref(s);
  /* Change 100 of them at once. */
  for(int i = 0; i < 100; i++) {
    char rel[64], text[128];
    snprintf(rel, sizeof(rel), "many/m%03d.py", i);
    snprintf(text, sizeof(text), "def changed_%03d(x):\n    return x\n", i);
    write_file(rel, text);
    touch_later(rel);
    char *abs = abs_of(rel);
    ch_index_file_changed(index, abs);
    ch_free(abs);
  }
  ch_index_wait_idle(index);
  s = ch_index_snapshot(index);
  assert_int_equal(live_files(s), 304);
  expect_where(s, "fn_050", NULL, "");
  expect_where(s, "changed_050", NULL, "many/m050.py:3");
  expect_where(s, "fn_150", NULL, "many/m150.py:3");
  ch_snapshot_unref(s);
  ch_index_free(index);
  char *many = abs_of("many");
  remove_tree(many);
  ch_free(many);
}

/* Every definition is found after rebuilds that reuse the previous base's
 * sorted names: files changed, added and removed in waves of more than an
 * overlay holds, with one name that every file defines. */
static void test_names_after_rebuilds(void **state) {
  (void)state;
  enum { FILES = 240 };
  int gen[FILES]; /* 0: absent; else the generation of its text */
  for(int i = 0; i < FILES; i++) {
    gen[i] = i < 160 ? 1 : 0;
    if(!gen[i]) continue;
    char rel[64], text[160];
    snprintf(rel, sizeof(rel), "names/n%03d.py", i);
    snprintf(text, sizeof(text), "def f%d_%03d(x):\n    return x\n\n"
             "def shared(y):\n    return y\n", gen[i], i);
    write_file(rel, text);
  }
  ch_index *index = open_index();
  for(int wave = 0; wave < 4; wave++) {
    if(wave) {
      for(int i = 0; i < FILES; i++) {
        /* Each wave changes, adds and removes a different mix. */
        int pick = (i * 7 + wave * 13) % 5;
        char rel[64], text[160];
        snprintf(rel, sizeof(rel), "names/n%03d.py", i);
        char *abs = abs_of(rel);
        if(pick == 0 && gen[i]) {
          unlink(abs);
          gen[i] = 0;
        } else if(pick <= 2) {
          gen[i] = wave + 1;
          snprintf(text, sizeof(text), "def f%d_%03d(x):\n    return x\n\n"
                   "def shared(y):\n    return y\n", gen[i], i);
          write_file(rel, text);
          touch_later(rel);
        } else {
          ch_free(abs);
          continue;
        }
        ch_index_file_changed(index, abs);
        ch_free(abs);
      }
      ch_index_wait_idle(index);
    }
    ch_snapshot *s = ch_index_snapshot(index);
    int live = 0;
    for(int i = 0; i < FILES; i++) {
      for(int g = 1; g <= 4; g++) {
        char name[32], rel[64], want[80];
        snprintf(name, sizeof(name), "f%d_%03d", g, i);
        snprintf(rel, sizeof(rel), "names/n%03d.py", i);
        snprintf(want, sizeof(want), "%s:3", rel);
        expect_where(s, name, NULL, gen[i] == g ? want : "");
      }
      live += gen[i] != 0;
    }
    ch_def_ref refs[1];
    assert_int_equal(ch_snapshot_find(s, "shared", CH_NONE, refs, 1), live);
    assert_int_equal(ch_snapshot_find_prefix(s, "f", CH_NONE, refs, 1), live);
    assert_int_equal(ch_snapshot_find_prefix(s, "sh", CH_NONE, refs, 1), live);
    ch_snapshot_unref(s);
  }
  ch_index_free(index);
  char *names = abs_of("names");
  remove_tree(names);
  ch_free(names);
}

static void test_remove_root(void **state) {
  (void)state;
  ch_index *index = open_index();
  assert_int_equal(ch_index_remove_root(index, repo), CH_OK);
  ch_index_wait_idle(index);
  ch_snapshot *s = ch_index_snapshot(index);
  assert_int_equal(live_files(s), 0);
  ch_snapshot_unref(s);
  assert_int_equal(ch_index_remove_root(index, repo), CH_ERR_NOT_FOUND);
  ch_index_free(index);
}

/* ---- imports resolved end to end, one fixture repository per language -- */

/* The fixtures folder: $CHORUS_FIXTURES, else in the source tree. */
static char *fixture_repo(const char *lang) {
  const char *env = getenv("CHORUS_FIXTURES");
  char *dir = env && *env
                  ? ch_strdupf("%s/repos/%s", env, lang)
                  : ch_strdupf("%s/tests/fixtures/repos/%s", CHORUS_SOURCE_DIR,
                               lang);
  char *abs = realpath(dir, NULL);
  ch_free(dir);
  assert_non_null(abs);
  char *copy = ch_strdup(abs);
  free(abs);
  return copy;
}

typedef struct import_case {
  const char *importer;
  const char *resolved; /* space-separated relative paths, sorted */
  size_t unresolved;
} import_case;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_imports(const char *lang, const import_case *cases,
                          size_t n) {
  char *root = fixture_repo(lang);
  ch_index_options o = {0};
  o.workers = 2;
  o.cache_dir = "";
  ch_index *index = ch_index_new(&o, NULL);
  ch_index_add_root(index, root);
  ch_index_wait_idle(index);
  ch_snapshot *s = ch_index_snapshot(index);
  for(size_t i = 0; i < n; i++) {
    char *abs = ch_strdupf("%s/%s", root, cases[i].importer);
    uint32_t id;
    if(!ch_snapshot_lookup(s, abs, &id))
      fail_msg("%s: %s is not indexed", lang, cases[i].importer);
    uint32_t ids[32];
    size_t k = ch_snapshot_imports(s, id, ids, 32);
    const char *names[32];
    for(size_t j = 0; j < k; j++)
      names[j] = ch_snapshot_abs_path(s, ids[j]) + strlen(root) + 1;
    qsort(names, k, sizeof(names[0]), cmp_str);
    ch_buf got;
    ch_buf_init(&got, 1 << 12);
    for(size_t j = 0; j < k; j++) ch_buf_appendf(&got, "%s%s", j ? " " : "", names[j]);
    if(strcmp(got.data ? got.data : "", cases[i].resolved) != 0)
      fail_msg("%s: %s imports \"%s\", want \"%s\"", lang, cases[i].importer,
               got.data ? got.data : "", cases[i].resolved);
    size_t unresolved = ch_snapshot_unresolved(s, id);
    if(unresolved != cases[i].unresolved)
      fail_msg("%s: %s has %zu unresolved imports, want %zu", lang,
               cases[i].importer, unresolved, cases[i].unresolved);
    ch_buf_release(&got);
    ch_free(abs);
  }
  ch_snapshot_unref(s);
  ch_index_free(index);
  ch_free(root);
}

static void test_imports_python(void **state) {
  (void)state;
  static const import_case cases[] = {
      {"main.py", "pkg/a.py pkg/b.py", 0},
      {"pkg/a.py", "pkg/b.py pkg/c.py", 0},
  };
  check_imports("python", cases, CH_ARRAY_LEN(cases));
}

static void test_imports_js_ts(void **state) {
  (void)state;
  static const import_case cases[] = {
      {"src/index.js", "src/lib/index.js src/re.mjs src/util.js", 1},
      {"src/app.ts", "src/side.ts src/types.ts", 0},
  };
  check_imports("js", cases, CH_ARRAY_LEN(cases));
}

static void test_imports_go(void **state) {
  (void)state;
  static const import_case cases[] = {{"main.go", "util/u.go", 1}};
  check_imports("go", cases, CH_ARRAY_LEN(cases));
}

static void test_imports_rust(void **state) {
  (void)state;
  static const import_case cases[] = {
      {"src/lib.rs", "src/net.rs src/util.rs", 0},
      {"src/net.rs", "src/net/tcp.rs", 0},
  };
  check_imports("rust", cases, CH_ARRAY_LEN(cases));
}

static void test_imports_java(void **state) {
  (void)state;
  static const import_case cases[] = {
      {"src/main/java/com/acme/App.java",
       "src/main/java/com/acme/model/User.java "
       "src/main/java/com/acme/util/Strings.java",
       0},
  };
  check_imports("java", cases, CH_ARRAY_LEN(cases));
}

static void test_imports_c(void **state) {
  (void)state;
  static const import_case cases[] = {
      {"src/lib.c", "include/lib.h", 1},
      {"src/main.cpp", "include/lib.h", 0},
  };
  check_imports("c", cases, CH_ARRAY_LEN(cases));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_initial_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_changes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_documents, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_after_rebuilds, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_remove_root, setup, teardown),
      cmocka_unit_test(test_imports_python),
      cmocka_unit_test(test_imports_js_ts),
      cmocka_unit_test(test_imports_go),
      cmocka_unit_test(test_imports_rust),
      cmocka_unit_test(test_imports_java),
      cmocka_unit_test(test_imports_c),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
