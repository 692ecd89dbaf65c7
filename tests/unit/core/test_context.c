/* Tests for core/src/context.c and core/src/tokcount.c: the context engine
 * on the fixture repositories of tests/fixtures/context, whose answers are
 * known, and the token estimate against real tokenizer counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/context.h"
#include "chorus/guard.h"
#include "chorus/index.h"

#define FIXTURES CHORUS_SOURCE_DIR "/tests/fixtures/context"

typedef struct repo {
  ch_index *index;
  ch_snapshot *snap;
  ch_context_engine *engine;
} repo;

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  ch_buf buf;
  ch_buf_init(&buf, 16u * 1024 * 1024);
  char chunk[4096];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&buf, chunk, n), CH_OK);
  fclose(f);
  return ch_buf_detach(&buf, len);
}

static void repo_open(repo *r, const char *lang) {
  ch_index_options opt = {0};
  opt.workers = 1;
  opt.cache_dir = "";
  ch_status err = CH_OK;
  r->index = ch_index_new(&opt, &err);
  assert_non_null(r->index);
  char *root = ch_strdupf("%s/%s", FIXTURES, lang);
  assert_int_equal(ch_index_add_root(r->index, root), CH_OK);
  ch_free(root);
  ch_index_wait_idle(r->index);
  r->snap = ch_index_snapshot(r->index);
  assert_true(ch_snapshot_count(r->snap) >= 2);
  r->engine = ch_context_engine_new(0);
}

static void repo_close(repo *r) {
  ch_context_engine_free(r->engine);
  ch_snapshot_unref(r->snap);
  ch_index_free(r->index);
}

/* A request for `rel` of the fixture `lang`, cursor right after the first
 * occurrence of `after` (plus `skip` bytes). Frees nothing: the caller
 * frees req->text and req->path with ch_free. */
static void request_at(ch_context_request *req, const char *lang,
                       const char *rel, const char *after, uint32_t budget) {
  memset(req, 0, sizeof(*req));
  char *path = ch_strdupf("%s/%s/%s", FIXTURES, lang, rel);
  size_t len = 0;
  char *text = read_all(path, &len);
  const char *at = strstr(text, after);
  assert_non_null(at);
  req->path = path;
  req->text = text;
  req->len = (uint32_t)len;
  req->cursor = (uint32_t)(at - text + strlen(after));
  req->budget = budget;
}

static void request_free(ch_context_request *req) {
  ch_free((char *)req->path);
  ch_free((char *)req->text);
}

static const ch_snippet *find_snippet(const ch_context *ctx,
                                      ch_snippet_kind kind,
                                      const char *path_end, const char *text) {
  for(size_t i = 0; i < ctx->count; i++) {
    const ch_snippet *s = &ctx->snippets[i];
    size_t pl = strlen(s->path), el = strlen(path_end);
    if(s->kind != kind || pl < el || strcmp(s->path + pl - el, path_end))
      continue;
    if(!text || strstr(s->text, text)) return s;
  }
  return NULL;
}

static void check_budget(const ch_context *ctx, const ch_language *lang,
                         uint32_t budget) {
  uint32_t sum = 0;
  for(size_t i = 0; i < ctx->count; i++) {
    const ch_snippet *s = &ctx->snippets[i];
    /* every count is the estimator's on the final text */
    assert_int_equal(s->tokens, ch_context_tokens(lang, s->text, s->len));
    assert_int_equal(s->text[s->len], 0); /* NUL-terminated; may hold NULs */
    sum += s->tokens;
  }
  assert_int_equal(sum, ctx->tokens);
  if(sum > budget) fail_msg("%u tokens for a budget of %u", sum, budget);
}

/* ---- definitions --------------------------------------------------------- */

static void test_python_call_defined_elsewhere(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "span = distance(", 1024);
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  const ch_snippet *s = find_snippet(
      &ctx, CH_SNIPPET_DEFINITION, "geometry/shapes.py", "def distance(a, b)");
  assert_non_null(s);
  assert_non_null(strstr(s->text, "Euclidean distance"));
  assert_non_null(strstr(s->reason, "distance"));
  /* the window ends at the cursor and the suffix starts there */
  const ch_snippet *pre =
      find_snippet(&ctx, CH_SNIPPET_PREFIX, "app/main.py", NULL);
  assert_non_null(pre);
  assert_int_equal(pre->end, req.cursor);
  /* the result owns its strings: not the request's */
  assert_ptr_not_equal(pre->path, req.path);
  assert_string_equal(pre->path, req.path);
  size_t plen = strlen(pre->text);
  assert_true(plen >= 16);
  assert_string_equal(pre->text + plen - 16, "span = distance(");
  check_budget(&ctx, ch_syntax_by_name("python"), req.budget);
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);
}

static void test_python_self_member_prefers_class(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  /* `poly.` with poly = Polygon(...): Polygon's members */
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "span, poly.", 1024);
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  const ch_snippet *s = find_snippet(&ctx, CH_SNIPPET_DEFINITION,
                                     "geometry/shapes.py", "class Polygon");
  assert_non_null(s);
  assert_non_null(strstr(s->text, "def area(self)"));
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);
}

static void test_c_member_access_shows_fields(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "c");
  ch_context_request req;
  request_at(&req, "c", "src/main.c", "d, q->", 400);
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  const ch_snippet *s = find_snippet(&ctx, CH_SNIPPET_DEFINITION,
                                     "include/point.h", "struct point {");
  assert_non_null(s);
  assert_non_null(strstr(s->text, "const char *label;"));
  assert_non_null(strstr(s->reason, "point"));
  /* a called function declared in an included header */
  assert_non_null(find_snippet(&ctx, CH_SNIPPET_DEFINITION, "include/point.h",
                               "int point_dist("));
  check_budget(&ctx, ch_syntax_by_name("c"), req.budget);
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);
}

static void test_go_and_javascript(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "go");
  ch_context_request req;
  request_at(&req, "go", "main.go", "fmt.Println(geom.Area(big), big.", 600);
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  const ch_snippet *s = find_snippet(&ctx, CH_SNIPPET_DEFINITION,
                                     "geom/geom.go", "type Rect struct");
  assert_non_null(s);
  assert_non_null(strstr(s->text, "Name string"));
  assert_non_null(find_snippet(&ctx, CH_SNIPPET_DEFINITION, "geom/geom.go",
                               "func Area(r Rect) int"));
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);

  repo_open(&r, "javascript");
  request_at(&req, "javascript", "src/app.js", "const s = clamp(", 600);
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  s = find_snippet(&ctx, CH_SNIPPET_DEFINITION, "src/math.js",
                   "export function clamp(v, lo, hi)");
  if(!s)
    s = find_snippet(&ctx, CH_SNIPPET_DEFINITION, "src/math.js",
                     "function clamp(v, lo, hi)");
  assert_non_null(s);
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);
}

static void test_own_definitions_from_the_callers_record(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "report = Report(", 600);
  /* an unsaved edit: a line on top and a long comment before build(), so
   * the class is far above the window; the record is the one the caller
   * extracted from its own text */
  const char *at = strstr(req.text, "def build(");
  assert_non_null(at);
  ch_buf edited;
  ch_buf_init(&edited, 1u << 20);
  ch_buf_append_str(&edited, "# edited\n");
  ch_buf_append(&edited, req.text, (size_t)(at - req.text));
  for(int i = 0; i < 150; i++)
    ch_buf_appendf(&edited, "# note %d on how reports are built and kept\n", i);
  ch_buf_append_str(&edited, at);
  uint32_t shift = (uint32_t)(edited.len - req.len);
  ch_free((char *)req.text);
  req.len = (uint32_t)edited.len;
  req.text = ch_buf_detach(&edited, NULL);
  req.cursor += shift;
  ch_extractor *ex = ch_extractor_new();
  ch_status err = CH_OK;
  ch_record *rec = ch_extract(ex, ch_syntax_by_name("python"), "app/main.py",
                              req.text, req.len, NULL, NULL, &err);
  assert_non_null(rec);
  req.record = rec;
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  const ch_snippet *s =
      find_snippet(&ctx, CH_SNIPPET_DEFINITION, "app/main.py", "class Report");
  assert_non_null(s);
  /* rows of the edited text, one more than on disk */
  assert_int_equal(s->start_row, 8);
  check_budget(&ctx, ch_syntax_by_name("python"), req.budget);
  ch_context_release(&ctx);
  ch_record_unref(rec);
  ch_extractor_free(ex);
  request_free(&req);
  repo_close(&r);
}

/* ---- budget and order ---------------------------------------------------- */

static void test_budget_never_exceeded(void **state) {
  (void)state;
  static const char *const langs[] = {"python", "c"};
  static const char *const files[] = {"app/main.py", "src/main.c"};
  static const char *const anchors[] = {"title = report_title(",
                                        "report(&out, "};
  for(size_t l = 0; l < 2; l++) {
    repo r;
    repo_open(&r, langs[l]);
    ch_context_doc doc = {0};
    char *other = ch_strdupf("%s/%s/%s", FIXTURES, langs[l],
                             l == 0 ? "geometry/shapes.py" : "src/buffer.c");
    size_t olen = 0;
    char *otext = read_all(other, &olen);
    doc.path = other;
    doc.text = otext;
    doc.len = (uint32_t)olen;
    ch_context_edit edit = {other, 3, "old line\n", "new line\n"};
    const ch_language *lang = ch_syntax_by_name(langs[l]);
    for(uint32_t budget = 1; budget <= 3000; budget += budget < 40    ? 1
                                                       : budget < 400 ? 7
                                                                      : 97) {
      ch_context_request req;
      request_at(&req, langs[l], files[l], anchors[l], budget);
      req.docs = &doc;
      req.ndocs = 1;
      req.edits = &edit;
      req.nedits = 1;
      ch_context ctx;
      assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx),
                       CH_OK);
      check_budget(&ctx, lang, budget);
      /* a generous budget is used, not wasted */
      if(budget >= 600)
        assert_true(ctx.tokens * 10 >= budget * 5 || ctx.count > 6);
      ch_context_release(&ctx);
      request_free(&req);
    }
    ch_free(otext);
    ch_free(other);
    repo_close(&r);
  }
}

static void test_order_is_stable_and_window_last(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "last = self.points[-1]\n", 1400);
  ch_context a, b;
  /* a fresh engine, then one that has seen the request: what the engine
   * caches never changes the result */
  ch_context_engine *fresh = ch_context_engine_new(0);
  assert_int_equal(ch_context_build(fresh, r.snap, &req, NULL, &a), CH_OK);
  ch_context_engine_free(fresh);
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &b), CH_OK);
  ch_context_release(&b);
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &b), CH_OK);
  assert_int_equal(a.count, b.count);
  assert_true(a.count >= 4);
  for(size_t i = 0; i < a.count; i++) {
    assert_int_equal(a.snippets[i].kind, b.snippets[i].kind);
    assert_string_equal(a.snippets[i].path, b.snippets[i].path);
    assert_string_equal(a.snippets[i].text, b.snippets[i].text);
    assert_int_equal(a.snippets[i].tokens, b.snippets[i].tokens);
    assert_string_equal(a.snippets[i].reason, b.snippets[i].reason);
    if(i) assert_true(a.snippets[i - 1].kind <= a.snippets[i].kind);
  }
  /* other files first, the current window last */
  assert_int_equal(a.snippets[a.count - 1].kind, CH_SNIPPET_SUFFIX);
  assert_int_equal(a.snippets[a.count - 2].kind, CH_SNIPPET_PREFIX);
  assert_int_not_equal(strcmp(a.snippets[0].path, req.path), 0);
  /* inside Report.summary, the class is above the window when it is
   * small: then its signature is a scope snippet */
  ch_context_release(&a);
  ch_context_release(&b);
  req.budget = 120;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &a), CH_OK);
  assert_non_null(
      find_snippet(&a, CH_SNIPPET_SCOPE, "app/main.py", "class Report"));
  ch_context_release(&a);
  request_free(&req);
  repo_close(&r);
}

static void test_similar_and_edits(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "span = distance(first, last)\n",
             3000);
  /* an open document with code much like the lines before the cursor */
  static const char other_text[] =
      "import os\n\n\ndef unrelated():\n    return os.getcwd()\n\n\n"
      "def summary_of(self):\n    poly = Polygon(self.points)\n"
      "    title = report_title(self.name)\n    first = self.points[0]\n"
      "    last = self.points[-1]\n    span = distance(first, last)\n";
  ch_context_doc doc = {"/elsewhere/notes.py", other_text,
                        (uint32_t)strlen(other_text)};
  ch_context_edit edit = {"/elsewhere/notes.py", 7, "def summary(self):\n",
                          "def summary_of(self):\n"};
  req.docs = &doc;
  req.ndocs = 1;
  req.edits = &edit;
  req.nedits = 1;
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  const ch_snippet *s = find_snippet(&ctx, CH_SNIPPET_SIMILAR, "notes.py",
                                     "poly = Polygon(self.points)");
  assert_non_null(s);
  assert_null(find_snippet(&ctx, CH_SNIPPET_SIMILAR, "notes.py", "os.getcwd"));
  s = find_snippet(&ctx, CH_SNIPPET_EDIT, "notes.py", NULL);
  assert_non_null(s);
  assert_string_equal(s->text, "@@ -8,1 +8,1 @@\n-def summary(self):\n"
                               "+def summary_of(self):\n");
  /* only similar windows, as the baseline of chorus eval uses */
  ch_context only;
  ch_context_options opt = {0};
  opt.sources = CH_CONTEXT_SOURCE(CH_SNIPPET_SIMILAR);
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, &opt, &only),
                   CH_OK);
  for(size_t i = 0; i < only.count; i++)
    assert_int_equal(only.snippets[i].kind, CH_SNIPPET_SIMILAR);
  assert_true(only.count >= 1);
  ch_context_release(&only);
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);
}

static void test_bad_input(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "def build", 100);
  ch_context ctx;
  uint32_t len = req.len;
  req.cursor = len + 1;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx),
                   CH_ERR_INVALID);
  assert_int_equal(ctx.count, 0);
  ch_context_release(&ctx);
  req.cursor = 0;
  req.budget = 0;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx),
                   CH_ERR_INVALID);
  ch_context_release(&ctx);
  /* a cursor at either end and a file the index does not know */
  req.budget = 50;
  req.cursor = len;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  check_budget(&ctx, ch_syntax_by_name("python"), 50);
  ch_context_release(&ctx);
  req.cursor = 0;
  ch_free((char *)req.path);
  req.path = ch_strdup("/nowhere/else.py");
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  check_budget(&ctx, ch_syntax_by_name("python"), 50);
  ch_context_release(&ctx);
  request_free(&req);
  repo_close(&r);
}

/* ---- the guard ----------------------------------------------------------- */

static bool any_snippet_has(const ch_context *ctx, const char *needle) {
  for(size_t i = 0; i < ctx->count; i++)
    if(strstr(ctx->snippets[i].text, needle) ||
       strstr(ctx->snippets[i].path, needle))
      return true;
  return false;
}

static void test_denied_files_never_appear(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_guard *guard = ch_guard_new(NULL, NULL);
  assert_non_null(guard);
  ch_context_request req;
  request_at(&req, "python", "app/main.py", "token = load_token(", 3000);
  /* util/credentials.py defines load_token: without a guard it is there */
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx), CH_OK);
  assert_non_null(find_snippet(&ctx, CH_SNIPPET_DEFINITION,
                               "util/credentials.py", "def load_token"));
  ch_context_release(&ctx);
  /* also as an open document and as a recent edit */
  char *cred = ch_strdupf("%s/python/util/credentials.py", FIXTURES);
  size_t clen = 0;
  char *ctext = read_all(cred, &clen);
  ch_context_doc doc = {cred, ctext, (uint32_t)clen};
  ch_context_edit edit = {cred, 4, "", "    return 'x'\n"};
  req.docs = &doc;
  req.ndocs = 1;
  req.edits = &edit;
  req.nedits = 1;
  for(int remote = 0; remote < 2; remote++) {
    ch_context_options opt = {0};
    opt.guard = guard;
    opt.remote = remote;
    for(uint32_t budget = 50; budget <= 3000; budget += 350) {
      req.budget = budget;
      assert_int_equal(ch_context_build(r.engine, r.snap, &req, &opt, &ctx),
                       CH_OK);
      for(size_t i = 0; i < ctx.count; i++)
        assert_null(strstr(ctx.snippets[i].path, "credentials"));
      assert_false(any_snippet_has(&ctx, "token-for-"));
      assert_true(ctx.redactions.snippets_dropped >= 1);
      check_budget(&ctx, ch_syntax_by_name("python"), budget);
      ch_context_release(&ctx);
    }
  }
  ch_free(ctext);
  ch_free(cred);
  ch_guard_free(guard);
  request_free(&req);
  repo_close(&r);
}

static void test_secrets_redacted_for_remote(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_guard *guard = ch_guard_new(NULL, NULL);
  ch_context_request req;
  /* in settings.py itself: the secrets are in the window */
  request_at(&req, "python", "app/settings.py", "def report_title(name):\n",
             400);
  ch_context_options opt = {0};
  opt.guard = guard;
  opt.remote = true;
  ch_context ctx;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, &opt, &ctx), CH_OK);
  assert_false(any_snippet_has(&ctx, "AKIAQX4ZT7WJ2MRN5B6E"));
  assert_false(
      any_snippet_has(&ctx, "ghp_4kQ9zX2mB7nR5tW8yC1vL6pD3sF0hJ9aE2uG"));
  assert_true(any_snippet_has(
      &ctx, "SERVICE_URL = \"https://reports.example.com/api\""));
  assert_int_equal(ctx.redactions.total, 2);
  assert_int_equal(ctx.redactions.nkinds, 2);
  check_budget(&ctx, ch_syntax_by_name("python"), 400);
  ch_context_release(&ctx);
  /* a local model gets the text as it is */
  opt.remote = false;
  assert_int_equal(ch_context_build(r.engine, r.snap, &req, &opt, &ctx), CH_OK);
  assert_true(any_snippet_has(&ctx, "AKIAQX4ZT7WJ2MRN5B6E"));
  assert_int_equal(ctx.redactions.total, 0);
  ch_context_release(&ctx);
  request_free(&req);
  /* from main.py, the outline or definitions of settings.py are redacted */
  request_at(&req, "python", "app/main.py", "title = report_title(", 2000);
  opt.remote = true;
  for(uint32_t budget = 100; budget <= 2000; budget += 100) {
    req.budget = budget;
    assert_int_equal(ch_context_build(r.engine, r.snap, &req, &opt, &ctx),
                     CH_OK);
    assert_false(any_snippet_has(&ctx, "AKIAQX4ZT7WJ2MRN5B6E"));
    assert_false(any_snippet_has(&ctx, "ghp_4kQ9"));
    check_budget(&ctx, ch_syntax_by_name("python"), budget);
    ch_context_release(&ctx);
  }
  request_free(&req);
  ch_guard_free(guard);
  repo_close(&r);
}

/* Random bytes, code-like junk, huge lines, cursors anywhere: never a crash,
 * never over budget. */
static void test_junk_input(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  uint64_t seed = 12345;
  char *path = ch_strdupf("%s/python/app/main.py", FIXTURES);
  static const char alphabet[] = "abc_XYZ019 .,:;()[]{}->=*&\"'#/\n\t\r\\";
  for(int round = 0; round < 300; round++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t len = (uint32_t)((seed >> 33) % 6000);
    char *text = ch_malloc(len + 1);
    for(uint32_t i = 0; i < len; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      uint32_t v = (uint32_t)(seed >> 40);
      text[i] = round % 3 == 0 ? (char)(v & 0xff)
                               : alphabet[v % (sizeof(alphabet) - 1)];
    }
    text[len] = 0;
    ch_context_doc doc = {"/tmp/other.py", text, len / 2};
    ch_context_edit edit = {"/tmp/other.py", (uint32_t)round,
                            round % 2 ? text : "", "x\n"};
    ch_context_request req = {0};
    req.path = round % 4 == 0 ? "/nowhere/x.c" : path;
    req.text = text;
    req.len = len;
    req.cursor = len ? (uint32_t)((seed >> 20) % (len + 1)) : 0;
    req.budget = 1 + (uint32_t)((seed >> 12) % 2500);
    req.docs = &doc;
    req.ndocs = 1;
    req.edits = round % 5 ? &edit : NULL;
    req.nedits = round % 5 ? 1 : 0;
    ch_context ctx;
    assert_int_equal(ch_context_build(r.engine, r.snap, &req, NULL, &ctx),
                     CH_OK);
    check_budget(&ctx, ch_syntax_by_path(req.path, NULL, 0), req.budget);
    ch_context_release(&ctx);
    ch_free(text);
  }
  ch_free(path);
  repo_close(&r);
}

/* Secrets cut by a snippet's edge: a token on the cursor line, a key block
 * the window starts or ends inside. No piece of either may go out. */
static void test_secrets_cut_by_the_window(void **state) {
  (void)state;
  repo r;
  repo_open(&r, "python");
  ch_guard *guard = ch_guard_new(NULL, NULL);
  static const char *const body[] = {
      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
      "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
      "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ",
      "qgtzJ6GR3eqoYSW9b9UMvkBpZODSctWSNGj3P7jRFDO5VoTwCQAWbFnOjDfH5Ulg",
  };
  ch_buf text;
  ch_buf_init(&text, 1u << 20);
  ch_buf_append_str(&text, "import os\n\n\ndef setup():\n    x = 1\n");
  ch_buf_append_str(&text, "KEY = '''-----BEGIN PRIVATE KEY-----\n");
  for(int i = 0; i < 4; i++)
    ch_buf_appendf(&text, "%s\n", body[i]);
  ch_buf_append_str(&text, "-----END PRIVATE KEY-----'''\n\n");
  for(int i = 0; i < 30; i++)
    ch_buf_appendf(&text, "def helper_%d(value):\n    return value + %d\n\n", i,
                   i);
  ch_buf_append_str(
      &text, "GITHUB_TOKEN = \"ghp_4kQ9zX2mB7nR5tW8yC1vL6pD3sF0hJ9aE2uG\"\n");
  for(int i = 0; i < 30; i++)
    ch_buf_appendf(&text, "def tail_%d(value):\n    return value * %d\n\n", i,
                   i);
  const char *tok = strstr(text.data, "ghp_");
  uint32_t token_at = (uint32_t)(tok - text.data);
  char *path = ch_strdupf("%s/python/app/generated.py", FIXTURES);
  ch_context_options opt = {0};
  opt.guard = guard;
  opt.remote = true;
  for(uint32_t budget = 20; budget <= 1200; budget += 37) {
    for(uint32_t k = 0; k < 44; k += 3) {
      ch_context_request req = {0};
      req.path = path;
      req.text = text.data;
      req.len = (uint32_t)text.len;
      /* cursors inside the token, and all over the key block */
      req.cursor =
          k < 40 ? token_at + k
                 : (uint32_t)(strstr(text.data, body[k - 40]) - text.data);
      req.budget = budget;
      ch_context ctx;
      assert_int_equal(ch_context_build(r.engine, r.snap, &req, &opt, &ctx),
                       CH_OK);
      for(size_t i = 0; i < ctx.count; i++) {
        const char *t = ctx.snippets[i].text;
        if(strstr(t, "ghp_4kQ9") || strstr(t, "4kQ9zX2m") ||
           strstr(t, "hJ9aE2uG"))
          fail_msg("token piece at budget %u cursor +%u: %s", budget, k, t);
        for(int j = 0; j < 4; j++) {
          char piece[17];
          memcpy(piece, body[j] + 24, 16);
          piece[16] = 0;
          if(strstr(t, piece))
            fail_msg("key line %d at budget %u cursor %u: %s", j, budget, k, t);
        }
      }
      check_budget(&ctx, ch_syntax_by_name("python"), budget);
      ch_context_release(&ctx);
    }
  }
  ch_free(path);
  ch_buf_release(&text);
  ch_guard_free(guard);
  repo_close(&r);
}

/* ---- token estimate ------------------------------------------------------ */

/* The estimate against cl100k/o200k counts written by
 * tests/bench/calibrate_tokens.mjs into tokens.tsv: the central estimate
 * within 30% of the real count per file and 15% over all files of a
 * language, and the budgeted count (estimate + margin) never below the
 * real count. */
static void test_token_estimate_calibrated(void **state) {
  (void)state;
  size_t len = 0;
  char *tsv = read_all(FIXTURES "/tokens.tsv", &len);
  size_t files = 0;
  double real_sum[3] = {0}, est_sum[3] = {0};
  char *save = NULL;
  for(char *line = strtok_r(tsv, "\n", &save); line;
      line = strtok_r(NULL, "\n", &save)) {
    if(line[0] == '#') continue;
    char rel[256];
    unsigned cl = 0, o2 = 0, mx = 0;
    assert_int_equal(sscanf(line, "%255s %u %u %u", rel, &cl, &o2, &mx), 4);
    char *path = ch_strdupf("%s/%s", FIXTURES, rel);
    size_t flen = 0;
    char *text = read_all(path, &flen);
    const ch_language *lang = ch_syntax_by_path(rel, NULL, 0);
    assert_non_null(lang);
    double est = (double)ch_context_tokens_milli(lang, text, flen) / 1000.0;
    uint32_t budgeted = ch_context_tokens(lang, text, flen);
    if(mx >= 40 && fabs(est - mx) / mx > 0.30)
      fail_msg("%s: estimate %.1f, real %u", rel, est, mx);
    if(budgeted < mx)
      fail_msg("%s: budgeted %u under the real %u (margin %.2f)", rel, budgeted,
               mx, ch_context_token_margin(lang));
    int g = strcmp(lang->name, "python") == 0 ? 0
            : strcmp(lang->name, "c") == 0    ? 1
                                              : 2;
    real_sum[g] += mx;
    est_sum[g] += est;
    files++;
    ch_free(text);
    ch_free(path);
  }
  assert_true(files >= 15);
  for(int g = 0; g < 3; g++) {
    if(real_sum[g] == 0) continue;
    double err = fabs(est_sum[g] - real_sum[g]) / real_sum[g];
    if(err > 0.15)
      fail_msg("group %d: estimate %.0f, real %.0f", g, est_sum[g],
               real_sum[g]);
  }
  ch_free(tsv);
  /* additive over lines, as the window sizing relies on */
  const char *text = "def f(x):\n    return x + 1\n\n# done\n";
  const ch_language *py = ch_syntax_by_name("python");
  uint64_t whole = ch_context_tokens_milli(py, text, strlen(text));
  uint64_t parts = ch_context_tokens_milli(py, text, 10) +
                   ch_context_tokens_milli(py, text + 10, 17) +
                   ch_context_tokens_milli(py, text + 27, strlen(text) - 27);
  assert_int_equal(whole, parts);
  assert_int_equal(ch_context_tokens(py, "", 0), 0);
  assert_true(ch_context_tokens(NULL, "x", 1) >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_python_call_defined_elsewhere),
      cmocka_unit_test(test_python_self_member_prefers_class),
      cmocka_unit_test(test_c_member_access_shows_fields),
      cmocka_unit_test(test_go_and_javascript),
      cmocka_unit_test(test_own_definitions_from_the_callers_record),
      cmocka_unit_test(test_budget_never_exceeded),
      cmocka_unit_test(test_order_is_stable_and_window_last),
      cmocka_unit_test(test_similar_and_edits),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_junk_input),
      cmocka_unit_test(test_denied_files_never_appear),
      cmocka_unit_test(test_secrets_redacted_for_remote),
      cmocka_unit_test(test_secrets_cut_by_the_window),
      cmocka_unit_test(test_token_estimate_calibrated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
