/* Tests for core/src/ngram.c: the builtin model over real indexes of small
 * repositories (tests/fixtures/ngram/ and repositories written here). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "chorus/models.h"
#include "chorus/ngram.h"

/* ---- helpers ---------------------------------------------------------------
 */

static char repo[256];

static void write_at(const char *root, const char *rel, const char *text,
                     size_t len) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  for(char *p = path + strlen(root) + 1; *p; p++) {
    if(*p != '/') continue;
    *p = 0;
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  fclose(f);
}

static void write_file(const char *rel, const char *text) {
  write_at(repo, rel, text, strlen(text));
}

static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if(!d) {
    unlink(path);
    return;
  }
  struct dirent *e;
  while((e = readdir(d))) {
    if(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
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

static int setup(void **state) {
  (void)state;
  snprintf(repo, sizeof(repo), "/tmp/chorus-ngram-XXXXXX");
  assert_non_null(mkdtemp(repo));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  remove_tree(repo);
  return 0;
}

static ch_index *open_index(const char *root) {
  ch_index_options o = {0};
  o.workers = 2;
  o.cache_dir = "";
  ch_status error = CH_OK;
  ch_index *index = ch_index_new(&o, &error);
  assert_non_null(index);
  if(root) assert_int_equal(ch_index_add_root(index, root), CH_OK);
  ch_index_wait_idle(index);
  return index;
}

static char *fixture_root(const char *lang) {
  char *dir = ch_strdupf("%s/tests/fixtures/ngram/%s", CHORUS_SOURCE_DIR, lang);
  char *abs = realpath(dir, NULL);
  ch_free(dir);
  assert_non_null(abs);
  char *copy = ch_strdup(abs);
  free(abs);
  return copy;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  ch_buf b;
  ch_buf_init(&b, 64u << 20);
  char chunk[4096];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&b, chunk, n), CH_OK);
  fclose(f);
  return ch_buf_detach(&b, len);
}

/* The byte just after the `nth` (0-based) occurrence of `marker`. */
static uint32_t after(const char *text, const char *marker, int nth) {
  const char *p = text;
  for(;;) {
    const char *hit = strstr(p, marker);
    if(!hit) fail_msg("marker not found: %s", marker);
    if(nth-- == 0) return (uint32_t)(hit - text + strlen(marker));
    p = hit + 1;
  }
}

/* The zero-based row of byte `at`. */
static uint32_t row_at(const char *text, uint32_t at) {
  uint32_t row = 0;
  for(uint32_t i = 0; i < at; i++)
    if(text[i] == '\n') row++;
  return row;
}

/* Completes in document `abs` (whose full text is `text`) at `cursor`,
 * passing only the text before the cursor. */
static ch_status complete_at(ch_ngram *m, ch_snapshot *snap, const char *abs,
                             const char *text, uint32_t cursor,
                             const ch_ngram_options *opt,
                             ch_ngram_result *out) {
  uint32_t id = CH_NONE;
  if(!ch_snapshot_lookup(snap, abs, &id)) id = CH_NONE;
  /* The model may keep nothing of the prefix: hand it a copy that dies. */
  char *pre = ch_memdup(text, cursor ? cursor : 1);
  ch_status st =
      ch_ngram_complete(m, snap, id, abs, cursor, pre, cursor, opt, out);
  ch_free(pre);
  if(st == CH_OK) {
    assert_non_null(out->text);
    assert_int_equal(strlen(out->text), out->len);
    assert_true(ch_utf8_valid(out->text, out->len));
    assert_non_null(out->path);
    assert_true(out->confidence > 0 && out->confidence <= 1);
    assert_true(out->agreeing >= 1 && out->agreeing <= out->occurrences);
  }
  return st;
}

/* A model built over the index's current snapshot. */
typedef struct world {
  ch_index *index;
  ch_snapshot *snap;
  ch_ngram *model;
} world;

static void world_open(world *w, const char *root) {
  w->index = open_index(root);
  w->snap = ch_index_snapshot(w->index);
  w->model = ch_ngram_new();
  assert_int_equal(ch_ngram_update(w->model, w->snap), CH_OK);
}

/* Takes the index's newest snapshot into the model. */
static void world_refresh(world *w) {
  ch_index_wait_idle(w->index);
  ch_snapshot_unref(w->snap);
  w->snap = ch_index_snapshot(w->index);
  assert_int_equal(ch_ngram_update(w->model, w->snap), CH_OK);
}

static void world_close(world *w) {
  ch_ngram_free(w->model);
  ch_snapshot_unref(w->snap);
  ch_index_free(w->index);
}

/* Completes in repo file `rel` (as on disk) after the nth `marker`. */
static ch_status complete_file(world *w, const char *root, const char *rel,
                               const char *marker, int nth,
                               const ch_ngram_options *opt,
                               ch_ngram_result *out, char **text_out,
                               uint32_t *cursor_out) {
  char *abs = ch_strdupf("%s/%s", root, rel);
  size_t len;
  char *text = read_all(abs, &len);
  uint32_t cursor = after(text, marker, nth);
  ch_status st = complete_at(w->model, w->snap, abs, text, cursor, opt, out);
  ch_free(abs);
  if(cursor_out) *cursor_out = cursor;
  if(text_out)
    *text_out = text;
  else
    ch_free(text);
  return st;
}

static void expect_text(const ch_ngram_result *r, const char *want) {
  if(strcmp(r->text, want))
    fail_msg("got \"%s\" (from %s:%u), want \"%s\"", r->text, r->path, r->line,
             want);
}

/* Completes at the end of `doc`, the text of document `abs` up to the
 * cursor. */
static ch_status complete_end(world *w, const char *abs, const char *doc,
                              const ch_ngram_options *opt,
                              ch_ngram_result *out) {
  return complete_at(w->model, w->snap, abs, doc, (uint32_t)strlen(doc), opt,
                     out);
}

/* complete_end answers, and with `want`. */
static void expect_completion(world *w, const char *abs, const char *doc,
                              const char *want) {
  ch_ngram_result r;
  assert_int_equal(complete_end(w, abs, doc, NULL, &r), CH_OK);
  expect_text(&r, want);
  ch_ngram_result_release(&r);
}

/* ---- tests -----------------------------------------------------------------
 */

/* The longest match decides, and among its occurrences the most frequent
 * continuation: a shorter match that is far more common ("compute(alpha,"
 * then beta, six times) must lose, and so must the rarer continuation of
 * the longest match (omega, once against delta, twice). */
static void test_longest_then_most_frequent(void **state) {
  (void)state;
  write_file("lib/common.py", "value = compute(alpha, beta)\n"
                              "other = compute(alpha, beta)\n"
                              "more = compute(alpha, beta)\n"
                              "again = compute(alpha, beta)\n"
                              "x = compute(alpha, beta)\n"
                              "y = compute(alpha, beta)\n");
  write_file("lib/results.py", "result = compute(alpha, delta)\n"
                               "z = 1\n"
                               "result = compute(alpha, omega)\n");
  write_file("lib/more.py", "w = 2\nresult = compute(alpha, delta)\n");
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  const char *doc = "import os\nresult = compute(alpha, ";
  ch_ngram_result r;
  assert_int_equal(complete_end(&w, abs, doc, NULL, &r), CH_OK);
  expect_text(&r, "delta)");
  assert_int_equal(r.occurrences, 3);
  assert_int_equal(r.agreeing, 2);
  assert_true(r.match_tokens >= 5);
  assert_false(r.block);
  ch_ngram_result_release(&r);

  /* Without "result =" the common continuation wins. */
  const char *doc2 = "import os\nq = compute(alpha, ";
  assert_int_equal(complete_end(&w, abs, doc2, NULL, &r), CH_OK);
  expect_text(&r, "beta)");
  assert_int_equal(r.agreeing, 6);
  ch_ngram_result_release(&r);
  ch_free(abs);
  world_close(&w);
}

/* The answer names the file and line it continues, exactly. */
static void test_provenance(void **state) {
  (void)state;
  char *root = fixture_root("c");
  world w;
  world_open(&w, root);
  /* A new file with buf_checksum's loop header: only buf.c loops over
   * b->len. */
  const char *doc = "long sum(const struct buf *b) {\n"
                    "  long total = 0;\n"
                    "  for (size_t i = 0; i < b->len; i++) {\n";
  char *abs = ch_strdupf("%s/src/new.c", root);
  ch_ngram_result r;
  assert_int_equal(complete_end(&w, abs, doc, NULL, &r), CH_OK);
  /* A long, unanimous match: a block, closed at the loop's level. */
  expect_text(&r, "    total += (unsigned char)b->data[i];\n  }");
  assert_true(r.block);
  char *buf_c = ch_strdupf("%s/src/buf.c", root);
  assert_string_equal(r.path, buf_c);
  size_t len;
  char *text = read_all(buf_c, &len);
  uint32_t at = after(text, "total += (unsigned char)", 0);
  assert_int_equal(r.line, row_at(text, at));
  ch_free(text);
  ch_free(buf_c);
  ch_ngram_result_release(&r);
  ch_free(abs);
  world_close(&w);
  ch_free(root);
}

/* No completion anywhere in secret.c returns text that occurs only after
 * the cursor: its unique names are in the index (the whole file is), but
 * never reachable. Every token boundary and every mid-word position is
 * tried, with the whole prefix. */
static void test_no_suffix_leak(void **state) {
  (void)state;
  char *root = fixture_root("c");
  world w;
  world_open(&w, root);
  char *abs = ch_strdupf("%s/src/secret.c", root);
  size_t len;
  char *text = read_all(abs, &len);
  static const char *const unique[] = {
      "launch_sequence_q7",    "countdown", "zebra_orbit_engage",
      "kumquat-lattice",       "* 37",      "-= 3",
      "quasar_fold_handshake", "0x5eed",
  };
  int answered = 0;
  for(uint32_t cursor = 1; cursor <= len; cursor++) {
    ch_ngram_result r;
    ch_status st = complete_at(w.model, w.snap, abs, text, cursor, NULL, &r);
    if(st != CH_OK) continue;
    answered++;
    for(size_t u = 0; u < CH_ARRAY_LEN(unique); u++) {
      const char *first = strstr(text, unique[u]);
      assert_non_null(first);
      /* Allowed only when it already occurs before the cursor. */
      bool seen = (uint32_t)(first - text) + strlen(unique[u]) <= cursor;
      if(!seen && strstr(r.text, unique[u]))
        fail_msg("leak at %u: \"%s\" from %s:%u", cursor, r.text, r.path,
                 r.line);
    }
    /* The answer never comes from secret.c past the cursor. */
    if(!strcmp(r.path, abs)) assert_true(r.line <= row_at(text, cursor));
    ch_ngram_result_release(&r);
  }
  /* It does answer in places (ordinary C around the unique names). */
  assert_true(answered > 5);
  /* The same through a relative path and no file id (a caller that does
   * not know the document's index entry): still no leak. */
  for(uint32_t cursor = 1; cursor <= len; cursor++) {
    ch_ngram_result r;
    if(ch_ngram_complete(w.model, w.snap, CH_NONE, "src/secret.c", cursor, text,
                         cursor, NULL, &r) != CH_OK)
      continue;
    for(size_t u = 0; u < CH_ARRAY_LEN(unique); u++) {
      const char *first = strstr(text, unique[u]);
      bool seen = (uint32_t)(first - text) + strlen(unique[u]) <= cursor;
      if(!seen && strstr(r.text, unique[u]))
        fail_msg("leak at %u (relative path): \"%s\"", cursor, r.text);
    }
    ch_ngram_result_release(&r);
  }
  ch_free(text);
  ch_free(abs);
  world_close(&w);
  ch_free(root);
}

/* A long match on which every occurrence agrees gives a block, up to the
 * end of the indented body; disagreement, a short match or single_line
 * give one line. */
static void test_block_and_line(void **state) {
  (void)state;
  char *root = fixture_root("python");
  world w;
  world_open(&w, root);
  char *abs = ch_strdupf("%s/app/new.py", root);
  const char *doc = "import json\n\n\ndef load_report(path):";
  ch_ngram_result r;
  assert_int_equal(complete_end(&w, abs, doc, NULL, &r), CH_OK);
  expect_text(&r, "\n    with open(path) as handle:\n"
                  "        data = json.load(handle)\n"
                  "    return data");
  assert_true(r.block);
  assert_true(r.match_tokens >= 8);
  assert_int_equal(r.agreeing, r.occurrences);
  ch_ngram_result_release(&r);

  /* The same with single_line: the next line only. */
  ch_ngram_options one = {0};
  one.single_line = true;
  assert_int_equal(complete_end(&w, abs, doc, &one, &r), CH_OK);
  expect_text(&r, "\n    with open(path) as handle:");
  assert_false(r.block);
  ch_ngram_result_release(&r);

  /* A short match: one line, although all agree. */
  const char *doc2 = "x = 1\nwith open(path";
  assert_int_equal(complete_end(&w, abs, doc2, NULL, &r), CH_OK);
  expect_text(&r, ") as handle:");
  assert_false(r.block);
  assert_true(r.match_tokens < 8);
  ch_ngram_result_release(&r);

  /* The user's indentation replaces the source's: a body at 8 spaces. */
  const char *doc3 = "class A:\n    log = logging.getLogger(__name__)\n\n"
                     "    def load_user(path):";
  assert_int_equal(complete_end(&w, abs, doc3, NULL, &r), CH_OK);
  expect_text(&r, "\n        with open(path) as handle:\n"
                  "            data = json.load(handle)\n"
                  "        return data");
  ch_ngram_result_release(&r);
  ch_free(abs);
  world_close(&w);
  ch_free(root);
}

/* A long match whose occurrences disagree gives one line: the most
 * frequent. */
static void test_disagreement_is_one_line(void **state) {
  (void)state;
  const char *handle = "def process(items, limit):\n    for item in items:\n"
                       "        handle(item)\n        count(item)\n";
  write_file("a.py", handle);
  write_file("b.py", "def process(items, limit):\n    for item in items:\n"
                     "        skip(item)\n        count(item)\n");
  write_file("c.py", handle);
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  const char *doc = "def process(items, limit):\n    for item in items:";
  ch_ngram_result r;
  assert_int_equal(complete_end(&w, abs, doc, NULL, &r), CH_OK);
  expect_text(&r, "\n        handle(item)");
  assert_false(r.block);
  assert_true(r.match_tokens >= 8);
  assert_int_equal(r.agreeing, 2);
  assert_int_equal(r.occurrences, 3);
  ch_ngram_result_release(&r);
  ch_free(abs);
  world_close(&w);
}

/* A word being typed must be the start of the next token; the answer is
 * the rest of it. */
static void test_mid_identifier(void **state) {
  (void)state;
  char *root = fixture_root("js");
  world w;
  world_open(&w, root);
  char *abs = ch_strdupf("%s/lib/new.js", root);
  const char *doc = "router.get('/items/:id', async (req, res) => {\n"
                    "  const item = await db.items.find(req.par";
  ch_ngram_result r;
  expect_completion(&w, abs, doc, "ams.id);");
  /* A word no continuation starts with: nothing. */
  const char *doc2 = "  const item = await db.items.find(req.zzq";
  assert_int_equal(complete_end(&w, abs, doc2, NULL, &r), CH_ERR_NOT_FOUND);
  assert_null(r.text);
  ch_free(abs);
  world_close(&w);
  ch_free(root);
}

/* Inside a string or a comment there is no answer, although the same
 * text outside would have one. */
static void test_inside_string_or_comment(void **state) {
  (void)state;
  write_file("lib/results.py", "result = compute(alpha, delta)\n"
                               "result = compute(alpha, delta)\n");
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  static const char *const docs[] = {
      "import os\nx = \"result = compute(alpha, ",
      "import os\n# result = compute(alpha, ",
      "import os\n\"\"\"Docs.\n\nresult = compute(alpha, ",
      "import os\ny = 'result = compute(alpha, ",
  };
  ch_ngram_result r;
  for(size_t i = 0; i < CH_ARRAY_LEN(docs); i++)
    assert_int_equal(complete_end(&w, abs, docs[i], NULL, &r),
                     CH_ERR_NOT_FOUND);
  /* Closed ones do not count. */
  const char *doc = "import os\n\"\"\"Docs.\"\"\"\nresult = compute(alpha, ";
  expect_completion(&w, abs, doc, "delta)");
  ch_free(abs);
  world_close(&w);
}

/* The record of the current document may be older than its text: tokens
 * typed since, or lines inserted above, must not derail the query. */
static void test_stale_record(void **state) {
  (void)state;
  write_file("lib/results.py", "result = compute(alpha, delta)\n"
                               "result = compute(alpha, delta)\n");
  write_file("main.py", "import os\nx = 1\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  ch_ngram_result r;
  /* Typed after the record was made. */
  const char *doc = "import os\nx = 1\nresult = compute(alpha, ";
  expect_completion(&w, abs, doc, "delta)");
  /* Lines inserted above: every recorded offset is off now. */
  const char *doc2 = "# a new comment\n# and another one\nimport os\nx = 1\n"
                     "result = compute(alpha, del";
  expect_completion(&w, abs, doc2, "ta)");
  /* Text deleted: the prefix is shorter than the record. */
  const char *doc3 = "resu";
  assert_int_equal(complete_end(&w, abs, doc3, NULL, &r),
                   CH_ERR_NOT_FOUND); /* one token: below min_match */
  ch_ngram_options loose = {0};
  loose.min_match = 1;
  const char *doc4 = "result = compute(";
  assert_int_equal(complete_end(&w, abs, doc4, &loose, &r), CH_OK);
  expect_text(&r, "alpha, delta)");
  ch_ngram_result_release(&r);
  /* A window: only the last bytes of the prefix are given. */
  const char *full = "import os\nx = 1\nresult = compute(alpha, ";
  uint32_t cursor = (uint32_t)strlen(full);
  uint32_t id;
  assert_true(ch_snapshot_lookup(w.snap, abs, &id));
  assert_int_equal(ch_ngram_complete(w.model, w.snap, id, abs, cursor,
                                     full + cursor - 12, 12, NULL, &r),
                   CH_OK);
  expect_text(&r, "delta)");
  ch_ngram_result_release(&r);
  ch_free(abs);
  world_close(&w);
}

/* A file added or changed in a newer snapshot changes the answer, through
 * the delta first and after a rebuild the same. */
static void test_updates(void **state) {
  (void)state;
  write_file("a.go", "package a\n\nfunc f() {\n\tcfg := loadConfig(\"main\")\n"
                     "\tuse(cfg)\n}\n");
  write_file("main.go", "package main\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.go", repo);
  const char *doc =
      "package main\n\nfunc g() {\n\tcfg := loadConfig(\"main\")\n"
      "\t";
  ch_ngram_result r;
  expect_completion(&w, abs, doc, "use(cfg)");

  /* Changed: the old text is gone, the new one answers. */
  write_file("a.go", "package a\n\nfunc f() {\n\tcfg := loadConfig(\"main\")\n"
                     "\tvalidate(cfg, true)\n}\n");
  char *a_abs = ch_strdupf("%s/a.go", repo);
  ch_index_file_changed(w.index, a_abs);
  world_refresh(&w);
  ch_ngram_stats stats;
  ch_ngram_stats_get(w.model, &stats);
  assert_int_equal(stats.rebuilds, 1);
  assert_int_equal(stats.delta_files, 1);
  assert_int_equal(stats.dead_files, 1);
  expect_completion(&w, abs, doc, "validate(cfg, true)");

  /* Added: two new files that continue otherwise outvote the one. */
  write_file("b.go", "package b\n\nfunc h() {\n\tcfg := loadConfig(\"main\")\n"
                     "\treport(cfg)\n}\n");
  write_file("c.go", "package c\n\nfunc k() {\n\tcfg := loadConfig(\"main\")\n"
                     "\treport(cfg)\n}\n");
  char *b_abs = ch_strdupf("%s/b.go", repo);
  char *c_abs = ch_strdupf("%s/c.go", repo);
  ch_index_file_changed(w.index, b_abs);
  ch_index_file_changed(w.index, c_abs);
  world_refresh(&w);
  assert_int_equal(complete_end(&w, abs, doc, NULL, &r), CH_OK);
  expect_text(&r, "report(cfg)");
  assert_int_equal(r.agreeing, 2);
  ch_ngram_result_release(&r);

  /* A rebuild answers the same from the suffix array alone. */
  assert_int_equal(ch_ngram_rebuild(w.model, w.snap), CH_OK);
  ch_ngram_stats_get(w.model, &stats);
  assert_int_equal(stats.rebuilds, 2);
  assert_int_equal(stats.delta_files, 0);
  expect_completion(&w, abs, doc, "report(cfg)");

  /* Deleted: its occurrences go with it. */
  unlink(b_abs);
  unlink(c_abs);
  ch_index_file_changed(w.index, b_abs);
  ch_index_file_changed(w.index, c_abs);
  world_refresh(&w);
  expect_completion(&w, abs, doc, "validate(cfg, true)");
  assert_true(ch_ngram_memory(w.model) > 0);
  ch_free(a_abs);
  ch_free(b_abs);
  ch_free(c_abs);
  ch_free(abs);
  world_close(&w);
}

/* Nothing indexed, nothing updated, bad arguments. */
static void test_empty_and_arguments(void **state) {
  (void)state;
  ch_ngram *m = ch_ngram_new();
  ch_ngram_result r;
  assert_int_equal(
      ch_ngram_complete(m, NULL, CH_NONE, NULL, 3, "int", 3, NULL, &r),
      CH_ERR_NOT_FOUND);
  ch_index *index = open_index(NULL);
  ch_snapshot *snap = ch_index_snapshot(index);
  assert_int_equal(ch_ngram_update(m, snap), CH_OK);
  assert_int_equal(
      ch_ngram_complete(m, snap, CH_NONE, NULL, 9, "int x = f", 9, NULL, &r),
      CH_ERR_NOT_FOUND);
  assert_int_equal(
      ch_ngram_complete(m, snap, CH_NONE, NULL, 0, "", 0, NULL, &r),
      CH_ERR_NOT_FOUND);
  /* Bad arguments get errors, not crashes. */
  assert_int_equal(
      ch_ngram_complete(m, snap, CH_NONE, NULL, 2, "abc", 3, NULL, &r),
      CH_ERR_INVALID);
  assert_int_equal(
      ch_ngram_complete(m, snap, CH_NONE, NULL, 3, NULL, 3, NULL, &r),
      CH_ERR_INVALID);
  assert_int_equal(ch_ngram_complete(m, snap, 7, NULL, 3, "abc", 3, NULL, &r),
                   CH_ERR_RANGE);
  assert_int_equal(
      ch_ngram_complete(NULL, snap, CH_NONE, NULL, 3, "abc", 3, NULL, &r),
      CH_ERR_INVALID);
  assert_int_equal(ch_ngram_update(m, NULL), CH_ERR_INVALID);
  ch_ngram_stats stats;
  ch_ngram_stats_get(m, &stats);
  assert_int_equal(stats.base_tokens, 0);
  ch_ngram_free(m);
  ch_ngram_free(NULL);
  ch_ngram_result_release(NULL);
  ch_snapshot_unref(snap);
  ch_index_free(index);
}

/* A string literal of 300 KB is one token: it never becomes an answer
 * (it cannot fit), the model answers from another occurrence instead,
 * and completing inside or after it works. */
static void test_huge_token(void **state) {
  (void)state;
  size_t big = 300000;
  char *text = ch_malloc(2 * big + 64);
  int n = snprintf(text, 64, "blob = \"");
  memset(text + n, 'x', big);
  strcpy(text + n + big, "\"\nblob = \"");
  size_t len = strlen(text);
  memset(text + len, 'y', big);
  strcpy(text + len + big, "\"\n");
  write_at(repo, "big.py", text, strlen(text));
  write_file("small.py", "blob = \"short\"\n");
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  ch_ngram_options loose = {0};
  loose.min_match = 1;
  ch_ngram_result r;
  const char *doc = "import os\nblob = ";
  assert_int_equal(complete_end(&w, abs, doc, &loose, &r), CH_OK);
  expect_text(&r, "\"short\"");
  ch_ngram_result_release(&r);
  /* Inside the huge token of big.py itself, and right after it. */
  char *big_abs = ch_strdupf("%s/big.py", repo);
  ch_status st =
      complete_at(w.model, w.snap, big_abs, text, 200000, &loose, &r);
  if(st == CH_OK) ch_ngram_result_release(&r);
  st = complete_at(w.model, w.snap, big_abs, text, (uint32_t)(n + big + 2),
                   &loose, &r);
  if(st == CH_OK) {
    assert_true(r.len <= 1024);
    ch_ngram_result_release(&r);
  }
  ch_free(big_abs);
  ch_free(abs);
  ch_free(text);
  world_close(&w);
}

/* Invalid UTF-8 in the source comes back as U+FFFD, never as is. */
static void test_invalid_utf8(void **state) {
  (void)state;
  const char src[] = "greeting = \"caf\xe9 \xff\xfe ok\"  # \xc3\n"
                     "greeting = \"caf\xe9 \xff\xfe ok\"  # \xc3\n";
  write_at(repo, "bad.py", src, sizeof(src) - 1);
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  ch_ngram_options loose = {0};
  loose.min_match = 1;
  ch_ngram_result r;
  const char *doc = "import os\ngreeting = ";
  assert_int_equal(complete_end(&w, abs, doc, &loose, &r), CH_OK);
  expect_text(&r, "\"caf\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD ok\"  # "
                  "\xEF\xBF\xBD");
  ch_ngram_result_release(&r);
  /* Invalid bytes in the prefix itself are fine too. */
  const char *doc2 = "import os\n\xff\xfe = 1\ngreeting = ";
  assert_int_equal(complete_end(&w, abs, doc2, &loose, &r), CH_OK);
  ch_ngram_result_release(&r);
  ch_free(abs);
  world_close(&w);
}

/* A file changed on disk after it was indexed: the recorded offsets no
 * longer hold its tokens, so its text is not used. */
static void test_changed_on_disk(void **state) {
  (void)state;
  write_file("src.py", "result = compute(alpha, delta)\n");
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  write_file("src.py", "# moved down\nresult = compute(alpha, delta)\n");
  char *abs = ch_strdupf("%s/main.py", repo);
  ch_ngram_result r;
  const char *doc = "import os\nresult = compute(alpha, ";
  assert_int_equal(complete_end(&w, abs, doc, NULL, &r), CH_ERR_NOT_FOUND);
  ch_free(abs);
  world_close(&w);
}

/* Each fixture language: a completion that follows from repeated code. */
static void test_fixture_languages(void **state) {
  (void)state;
  static const struct {
    const char *lang, *file, *marker, *want;
    int nth;
  } cases[] = {
      /* buf.c's first NULL check continues like vec.c's. */
      {"c", "src/buf.c", "if (b->data == NULL) {\n", "    return -1;", 0},
      /* buf_append's "b->cap =" continues like buf_init's, not like
       * vec.c's "v->cap = cap" (shorter match). */
      {"c", "src/buf.c", "b->data = data;\n    b->cap = ", "cap;", 0},
      {"python", "app/handlers.py",
       "def load_order(path):\n    with open(path) as handle:",
       "\n        data = json.load(handle)", 0},
      /* "result +=" exists only past the cursor: the earlier "result = 0"
       * is all there is to continue. */
      {"python", "app/report.py", "    for row in rows:\n        result ",
       "= 0", 0},
      {"js", "lib/routes.js", "const order = await db.orders.find(",
       "req.params.id);", 0},
      {"js", "lib/routes.js", "if (!order) {",
       "\n    return res.status(404).json({ error: 'not found' });", 0},
      /* "error {" alone occurs nowhere else: one token is too little. */
      {"go", "store/store.go", "Delete(key string) error {", NULL, 0},
      {"go", "store/store.go", "Delete(key string) error {\n\ts.mu.", "Lock()",
       0},
      {"go", "store/store.go", "Delete(key string) error {\n\ts.mu.Lock()\n",
       "\tdefer s.mu.Unlock()", 0},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    char *root = fixture_root(cases[i].lang);
    world w;
    world_open(&w, root);
    ch_ngram_result r;
    ch_status st = complete_file(&w, root, cases[i].file, cases[i].marker,
                                 cases[i].nth, NULL, &r, NULL, NULL);
    if(!cases[i].want) {
      assert_int_equal(st, CH_ERR_NOT_FOUND);
    } else {
      if(st != CH_OK) fail_msg("%s: no answer", cases[i].marker);
      expect_text(&r, cases[i].want);
      ch_ngram_result_release(&r);
    }
    world_close(&w);
    ch_free(root);
  }
}

/* A match longer than CH_NGRAM_DEPTH counts as CH_NGRAM_DEPTH tokens and
 * still answers right; 200 tokens of identical code before the cursor. */
static void test_long_match(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  for(int i = 0; i < 40; i++)
    ch_buf_appendf(&b, "total = total + weight_%d * 3\n", i);
  char *body = ch_buf_detach(&b, NULL);
  char *src = ch_strdupf("%sfinish(total)\n", body);
  write_file("a.py", src);
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  char *abs = ch_strdupf("%s/main.py", repo);
  ch_ngram_result r;
  assert_int_equal(complete_end(&w, abs, body, NULL, &r), CH_OK);
  expect_text(&r, "finish(total)");
  assert_int_equal(r.match_tokens, CH_NGRAM_DEPTH);
  ch_ngram_result_release(&r);
  ch_free(abs);
  ch_free(src);
  ch_free(body);
  world_close(&w);
}

/* A delta past its limit makes the update rebuild the suffix array. */
static void test_delta_limit(void **state) {
  (void)state;
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  ch_ngram_stats stats;
  ch_ngram_stats_get(w.model, &stats);
  assert_int_equal(stats.rebuilds, 1);
  /* About 330,000 tokens: over the 131,072 a delta may hold. */
  ch_buf b;
  ch_buf_init(&b, 8 << 20);
  for(int i = 0; i < 30000; i++)
    ch_buf_appendf(&b, "v%d = f(a, b[%d])\n", i % 97, i % 13);
  write_at(repo, "big.py", b.data, b.len);
  ch_buf_release(&b);
  char *big = ch_strdupf("%s/big.py", repo);
  ch_index_file_changed(w.index, big);
  world_refresh(&w);
  ch_ngram_stats_get(w.model, &stats);
  assert_int_equal(stats.rebuilds, 2);
  assert_int_equal(stats.delta_files, 0);
  assert_true(stats.base_tokens > 131072);
  ch_free(big);
  world_close(&w);
}

/* Queries on one thread while another updates and rebuilds: every answer
 * is one of the two versions of the file, and nothing is freed under a
 * query (the sanitizer build checks that). */
typedef struct flipper {
  world *w;
  ch_snapshot *snaps[2];
  int rounds;
} flipper;

static void *flip(void *arg) {
  flipper *f = arg;
  for(int i = 0; i < f->rounds; i++) {
    if(i % 5 == 4)
      ch_ngram_rebuild(f->w->model, f->snaps[i % 2]);
    else
      ch_ngram_update(f->w->model, f->snaps[i % 2]);
  }
  return NULL;
}

static void test_concurrent(void **state) {
  (void)state;
  write_file("a.py", "x = load(alpha)\nuse_one(x)\n");
  write_file("main.py", "import os\n");
  world w;
  world_open(&w, repo);
  ch_snapshot *first = ch_snapshot_ref(w.snap);
  write_file("a.py", "x = load(alpha)\nuse_two(x)\n");
  char *a = ch_strdupf("%s/a.py", repo);
  ch_index_file_changed(w.index, a);
  world_refresh(&w);
  flipper f = {&w, {first, w.snap}, 200};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, flip, &f), 0);
  char *abs = ch_strdupf("%s/main.py", repo);
  const char *doc = "import os\nx = load(alpha)\n";
  int answers = 0;
  for(int i = 0; i < 400; i++) {
    ch_ngram_result r;
    /* Text may not verify while the file on disk is the newer one and the
     * model holds the older record: then there is no answer. */
    if(complete_at(w.model, w.snap, abs, doc, (uint32_t)strlen(doc), NULL,
                   &r) != CH_OK)
      continue;
    answers++;
    assert_true(!strcmp(r.text, "use_two(x)"));
    ch_ngram_result_release(&r);
  }
  pthread_join(t, NULL);
  assert_true(answers > 0);
  ch_snapshot_unref(first);
  ch_free(abs);
  ch_free(a);
  world_close(&w);
}

/* ---- the builtin provider
 * ---------------------------------------------------- */

typedef struct got {
  bool called;
  ch_model_error error;
  char *text;
  char *provenance;
  double confidence;
} got;

static void on_result(void *userdata, const ch_model_result *r) {
  got *g = userdata;
  g->called = true;
  g->error = r->error;
  g->text = ch_strndup(r->text, r->len);
  g->provenance = ch_strdup(r->provenance);
  g->confidence = r->confidence;
  /* The loop is stopped by the caller's timer, not here. */
}

static void stop_loop(ch_loop *loop, void *userdata) {
  (void)userdata;
  ch_loop_stop(loop);
}

/* One request through ch_models_complete, the loop run until it answers. */
static void provider_ask(ch_models *models, ch_loop *loop,
                         const ch_model_request *req, got *g) {
  memset(g, 0, sizeof(*g));
  ch_model *m = ch_models_find(models, "builtin");
  assert_non_null(m);
  assert_int_equal(ch_models_complete(models, m, req, on_result, g, NULL),
                   CH_OK);
  /* Never from inside ch_models_complete. */
  assert_false(g->called);
  for(int i = 0; i < 100 && !g->called; i++) {
    ch_loop_timer_start(loop, 5, stop_loop, NULL);
    ch_loop_run(loop);
  }
  assert_true(g->called);
}

/* The provider answers from the index once its thread has built the
 * model, with provenance "relative/path:line" and a confidence; without
 * an index it answers nothing. */
static void test_provider(void **state) {
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char *root = fixture_root("c");
  ch_index *index = open_index(root);
  ch_status err = CH_OK;
  ch_loop *loop = ch_loop_new(&err);
  assert_non_null(loop);
  ch_models_env env = {0};
  env.loop = loop;
  env.index = index;
  ch_models *models = ch_models_new(&env, NULL, 0, NULL);
  assert_non_null(models);

  const char *doc = "long sum(const struct buf *b) {\n"
                    "  long total = 0;\n"
                    "  for (size_t i = 0; i < b->len; i++) {\n";
  char *abs = ch_strdupf("%s/src/new.c", root);
  ch_model_request req = {0};
  req.path = abs;
  req.language = "c";
  req.cursor = (uint32_t)strlen(doc);
  req.prefix = doc;
  req.prefix_len = strlen(doc);
  got g;
  /* The first build runs on the provider's thread: ask until it is in. */
  uint64_t t0 = ch_now_ms();
  for(;;) {
    provider_ask(models, loop, &req, &g);
    assert_int_equal(g.error, CH_MODEL_OK);
    if(g.text[0] || ch_now_ms() - t0 > 10000) break;
    ch_free(g.text);
    ch_free(g.provenance);
    usleep(20000);
  }
  assert_string_equal(g.text, "    total += (unsigned char)b->data[i];\n  }");
  size_t len;
  char *buf_c = ch_strdupf("%s/src/buf.c", root);
  char *text = read_all(buf_c, &len);
  char *want = ch_strdupf(
      "src/buf.c:%u", row_at(text, after(text, "total += (unsigned", 0)) + 1);
  assert_string_equal(g.provenance, want);
  assert_true(g.confidence > 0.5 && g.confidence <= 1);
  ch_free(want);
  ch_free(text);
  ch_free(buf_c);
  ch_free(g.text);
  ch_free(g.provenance);

  /* Nothing to continue: an empty answer, not an error. */
  req.prefix = "zzqx_unheard_of(";
  req.prefix_len = strlen(req.prefix);
  req.cursor = (uint32_t)req.prefix_len;
  provider_ask(models, loop, &req, &g);
  assert_int_equal(g.error, CH_MODEL_OK);
  assert_string_equal(g.text, "");
  ch_free(g.text);
  ch_free(g.provenance);
  ch_models_free(models);

  /* Without an index. */
  env.index = NULL;
  models = ch_models_new(&env, NULL, 0, NULL);
  req.prefix = doc;
  req.prefix_len = strlen(doc);
  req.cursor = (uint32_t)strlen(doc);
  provider_ask(models, loop, &req, &g);
  assert_int_equal(g.error, CH_MODEL_OK);
  assert_string_equal(g.text, "");
  ch_free(g.text);
  ch_free(g.provenance);
  ch_models_free(models);

  ch_free(abs);
  ch_loop_free(loop);
  ch_index_free(index);
  ch_free(root);
  curl_global_cleanup();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_longest_then_most_frequent, setup,
                                      teardown),
      cmocka_unit_test(test_provenance),
      cmocka_unit_test(test_no_suffix_leak),
      cmocka_unit_test(test_block_and_line),
      cmocka_unit_test_setup_teardown(test_disagreement_is_one_line, setup,
                                      teardown),
      cmocka_unit_test(test_mid_identifier),
      cmocka_unit_test_setup_teardown(test_stale_record, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inside_string_or_comment, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_updates, setup, teardown),
      cmocka_unit_test(test_empty_and_arguments),
      cmocka_unit_test_setup_teardown(test_huge_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
      cmocka_unit_test_setup_teardown(test_changed_on_disk, setup, teardown),
      cmocka_unit_test(test_fixture_languages),
      cmocka_unit_test_setup_teardown(test_long_match, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delta_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
      cmocka_unit_test(test_provider),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
