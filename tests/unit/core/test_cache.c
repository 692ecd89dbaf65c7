/* Tests for core/src/cache.c: the cache path, record serialization (byte
 * for byte against an encoder written here from the format description),
 * every validation rule of the deserializer, save/load round trips,
 * truncation at every length, byte flips, a deserializer fuzz loop,
 * atomic replacement, folder permissions, and timings for 5,000 records.
 *
 * Decision pinned here: an empty cache file is CH_ERR_PARSE, not
 * CH_ERR_NOT_FOUND. Saves are atomic, so an empty file is damage (or
 * something else's file), and reporting it as corrupt says so. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/cache.h"

/* A small deterministic generator (xorshift64*), so every run sees the same
 * records and mutations. */
static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

static uint32_t rng_below(uint64_t *s, uint32_t n) {
  return n ? (uint32_t)(rng_next(s) % n) : 0;
}

/* ---- building records by hand ------------------------------------------- */

/* Appends s and its NUL to the pool; returns its offset. */
static uint32_t add(ch_buf *pool, const char *s) {
  uint32_t at = (uint32_t)pool->len;
  assert_int_equal(ch_buf_append(pool, s, strlen(s) + 1), CH_OK);
  return at;
}

static ch_record *new_record(const char *path, const char *lang) {
  ch_record *r = ch_calloc(1, sizeof(*r));
  atomic_init(&r->refs, 1);
  r->path = ch_strdup(path);
  r->lang = ch_syntax_by_name(lang);
  assert_non_null(r->lang);
  return r;
}

/* Hands the pool to r (NULL when empty, as records want). */
static void set_pool(ch_record *r, ch_buf *pool) {
  size_t len;
  char *p = ch_buf_detach(pool, &len);
  if(len == 0) {
    ch_free(p);
    p = NULL;
  }
  r->pool = p;
  r->pool_len = (uint32_t)len;
}

static uint32_t *u32s(const uint32_t *v, uint32_t n) {
  return n ? ch_memdup(v, (size_t)n * 4) : NULL;
}

static ch_span span(uint32_t start, uint32_t end, uint32_t srow, uint32_t scol,
                    uint32_t erow, uint32_t ecol) {
  ch_span s = {start, end, srow, scol, erow, ecol};
  return s;
}

/* A C file with everything: nested definitions, CH_NONE docs and
 * signatures, both import kinds, multi-byte strings, tokens at the edges
 * of their range. */
static ch_record *rec_full(void) {
  ch_record *r = new_record("src/naïve/模块.c", "c");
  r->size = 500;
  r->mtime_ns = 1700000000123456789ll;
  r->hash = 0xfedcba9876543210ull;
  r->parse_errors = true;
  ch_buf pool;
  ch_buf_init(&pool, 1 << 20);
  uint32_t point = add(&pool, "Point");
  uint32_t point_sig = add(&pool, "struct Point { int x; int y; }");
  uint32_t point_doc = add(&pool, "/* A point on the plane. */");
  uint32_t x = add(&pool, "x");
  uint32_t y = add(&pool, "y");
  uint32_t field_sig = add(&pool, "int x;");
  uint32_t fn = add(&pool, "naïve_函数");
  uint32_t fn_sig = add(&pool, "int naïve_函数(struct Point *p)");
  uint32_t fn_doc = add(&pool, "/// 🚀 launches the ✓ thing");
  uint32_t max = add(&pool, "MAX");
  uint32_t stdio = add(&pool, "stdio.h");
  uint32_t util = add(&pool, "util/ütil.h");
  uint32_t names = add(&pool, "a,b");
  uint32_t printf_ = add(&pool, "printf");
  uint32_t size_t_ = add(&pool, "size_t");
  uint32_t e_acute = add(&pool, "é");
  uint32_t empty = add(&pool, "");
  set_pool(r, &pool);

  ch_def defs[] = {
      {point, point_sig, point_doc, CH_NONE, CH_DEF_STRUCT,
       span(40, 120, 3, 0, 6, 2), span(47, 52, 3, 7, 3, 12)},
      {x, field_sig, CH_NONE, 0, CH_DEF_FIELD, span(60, 66, 4, 2, 4, 8),
       span(64, 65, 4, 6, 4, 7)},
      {y, field_sig, CH_NONE, 0, CH_DEF_FIELD, span(70, 76, 5, 2, 5, 8),
       span(74, 75, 5, 6, 5, 7)},
      {fn, fn_sig, fn_doc, CH_NONE, CH_DEF_FUNCTION,
       span(200, 400, 10, 0, 20, 1), span(204, 217, 10, 4, 10, 17)},
      {max, CH_NONE, CH_NONE, 3, CH_DEF_MACRO, span(410, 410, 21, 0, 21, 0),
       span(410, 410, 21, 0, 21, 0)},
      {empty, empty, empty, CH_NONE, CH_DEF_KIND_COUNT - 1,
       span(500, 500, 30, 0, 30, 0), span(500, 500, 30, 0, 30, 0)},
  };
  r->ndefs = CH_ARRAY_LEN(defs);
  r->defs = ch_memdup(defs, sizeof(defs));

  ch_import imports[] = {
      {stdio, CH_NONE, 0, CH_IMPORT_INCLUDE_SYSTEM},
      {util, names, 1, CH_IMPORT_INCLUDE_LOCAL},
      {util, CH_NONE, 2, CH_IMPORT_PACKAGE},
  };
  r->nimports = CH_ARRAY_LEN(imports);
  r->imports = ch_memdup(imports, sizeof(imports));

  /* Sorted by bytes: "" < "Point" < "printf" < "size_t" < "x" < "é". */
  uint32_t idents[] = {empty, point, printf_, size_t_, x, e_acute};
  r->nidents = CH_ARRAY_LEN(idents);
  r->idents = u32s(idents, r->nidents);

  uint32_t lines[] = {0, 19, 20, 40, 60, 70, 100, 122, 499, 500};
  r->nlines = CH_ARRAY_LEN(lines);
  r->line_starts = u32s(lines, r->nlines);

  uint32_t tokens[] = {0, 1, UINT32_MAX, 0x80000000u, 12345, CH_NONE - 1};
  r->ntokens = CH_ARRAY_LEN(tokens);
  r->tokens = u32s(tokens, r->ntokens);
  uint32_t starts[] = {0, 1, 40, 47, 200, 499};
  r->token_starts = u32s(starts, r->ntokens);
  return r;
}

/* Nothing at all: every array NULL. */
static ch_record *rec_empty(void) {
  ch_record *r = new_record("empty.py", "python");
  return r;
}

/* An empty text with its single line start, a negative mtime, a huge
 * size, and only tokens and an import with names. */
static ch_record *rec_sparse(void) {
  ch_record *r = new_record("a/b/ç.rs", "rust");
  r->size = UINT64_MAX;
  r->mtime_ns = -5;
  r->hash = 1;
  ch_buf pool;
  ch_buf_init(&pool, 1 << 20);
  uint32_t spec = add(&pool, "crate::net::tcp");
  uint32_t names = add(&pool, "Stream,Listener");
  set_pool(r, &pool);
  ch_import im = {spec, names, 7, CH_IMPORT_MODULE};
  r->nimports = 1;
  r->imports = ch_memdup(&im, sizeof(im));
  uint32_t line = 0;
  r->nlines = 1;
  r->line_starts = u32s(&line, 1);
  uint32_t tokens[300];
  for(uint32_t i = 0; i < 300; i++)
    tokens[i] = i * 2654435761u;
  r->ntokens = 300;
  r->tokens = u32s(tokens, 300);
  for(uint32_t i = 0; i < 300; i++)
    tokens[i] = i * 3;
  r->token_starts = u32s(tokens, 300);
  return r;
}

/* A language whose name is longer and a record with INT64_MIN. */
static ch_record *rec_tsx(void) {
  ch_record *r = new_record("web/App.tsx", "tsx");
  r->size = 30;
  r->mtime_ns = INT64_MIN;
  r->hash = UINT64_MAX;
  ch_buf pool;
  ch_buf_init(&pool, 1 << 20);
  uint32_t react = add(&pool, "react");
  uint32_t names = add(&pool, "useState,useEffect");
  uint32_t rel = add(&pool, "./util");
  uint32_t app = add(&pool, "App");
  set_pool(r, &pool);
  ch_import imports[] = {{react, names, 0, CH_IMPORT_PACKAGE},
                         {rel, CH_NONE, 1, CH_IMPORT_RELATIVE}};
  r->nimports = 2;
  r->imports = ch_memdup(imports, sizeof(imports));
  ch_def d = {app,
              app,
              CH_NONE,
              CH_NONE,
              CH_DEF_FUNCTION,
              span(0, 30, 0, 0, 2, 0),
              span(9, 12, 0, 9, 0, 12)};
  r->ndefs = 1;
  r->defs = ch_memdup(&d, sizeof(d));
  uint32_t idents[] = {app, react};
  r->nidents = 2;
  r->idents = u32s(idents, 2);
  uint32_t lines[] = {0, 14, 30};
  r->nlines = 3;
  r->line_starts = u32s(lines, 3);
  return r;
}

typedef ch_record *(*record_maker)(void);
static const record_maker makers[] = {rec_full, rec_empty, rec_sparse, rec_tsx};

/* ---- comparing and checking records ------------------------------------- */

static void assert_span_equal(const ch_span *a, const ch_span *b) {
  assert_int_equal(a->start, b->start);
  assert_int_equal(a->end, b->end);
  assert_int_equal(a->start_row, b->start_row);
  assert_int_equal(a->start_col, b->start_col);
  assert_int_equal(a->end_row, b->end_row);
  assert_int_equal(a->end_col, b->end_col);
}

static void assert_u32s_equal(const uint32_t *a, const uint32_t *b,
                              uint32_t n) {
  if(n == 0) {
    assert_null(a);
    assert_null(b);
    return;
  }
  for(uint32_t i = 0; i < n; i++)
    assert_int_equal(a[i], b[i]);
}

/* Field by field, so a failure names the field. */
static void assert_records_equal(const ch_record *a, const ch_record *b) {
  assert_string_equal(a->path, b->path);
  assert_ptr_equal(a->lang, b->lang);
  assert_true(a->size == b->size);
  assert_true(a->mtime_ns == b->mtime_ns);
  assert_true(a->hash == b->hash);
  assert_int_equal(a->parse_errors, b->parse_errors);
  assert_int_equal(a->pool_len, b->pool_len);
  if(a->pool_len) {
    assert_memory_equal(a->pool, b->pool, a->pool_len);
  } else {
    assert_null(a->pool);
    assert_null(b->pool);
  }
  assert_int_equal(a->ndefs, b->ndefs);
  if(a->ndefs == 0) assert_null(b->defs);
  for(uint32_t i = 0; i < a->ndefs; i++) {
    const ch_def *x = &a->defs[i], *y = &b->defs[i];
    assert_int_equal(x->name, y->name);
    assert_int_equal(x->signature, y->signature);
    assert_int_equal(x->doc, y->doc);
    assert_int_equal(x->container, y->container);
    assert_int_equal(x->kind, y->kind);
    assert_span_equal(&x->range, &y->range);
    assert_span_equal(&x->name_range, &y->name_range);
  }
  assert_int_equal(a->nimports, b->nimports);
  if(a->nimports == 0) assert_null(b->imports);
  for(uint32_t i = 0; i < a->nimports; i++) {
    const ch_import *x = &a->imports[i], *y = &b->imports[i];
    assert_int_equal(x->spec, y->spec);
    assert_int_equal(x->names, y->names);
    assert_int_equal(x->row, y->row);
    assert_int_equal(x->kind, y->kind);
  }
  assert_int_equal(a->nidents, b->nidents);
  assert_u32s_equal(a->idents, b->idents, a->nidents);
  assert_int_equal(a->nlines, b->nlines);
  assert_u32s_equal(a->line_starts, b->line_starts, a->nlines);
  assert_int_equal(a->ntokens, b->ntokens);
  assert_u32s_equal(a->tokens, b->tokens, a->ntokens);
  assert_u32s_equal(a->token_starts, b->token_starts, a->ntokens);
}

static bool at_string(const ch_record *r, uint32_t at) {
  return at < r->pool_len && (at == 0 || r->pool[at - 1] == 0);
}

static bool span_sound(const ch_span *s, uint64_t size) {
  return s->start <= s->end && s->end <= size &&
         (s->start_row < s->end_row ||
          (s->start_row == s->end_row && s->start_col <= s->end_col));
}

/* Everything a consumer may rely on in a record that came back, checked
 * independently of cache.c: every offset in range and at a string start,
 * every index inside its array, every array of the size it claims. */
static void assert_record_sound(const ch_record *r) {
  assert_int_equal(atomic_load(&r->refs), 1);
  assert_non_null(r->path);
  (void)strlen(r->path);
  assert_non_null(r->lang);
  assert_ptr_equal(ch_syntax_by_name(r->lang->name), r->lang);
  assert_true((r->pool_len == 0) == (r->pool == NULL));
  assert_true((r->ndefs == 0) == (r->defs == NULL));
  assert_true((r->nimports == 0) == (r->imports == NULL));
  assert_true((r->nidents == 0) == (r->idents == NULL));
  assert_true((r->nlines == 0) == (r->line_starts == NULL));
  assert_true((r->ntokens == 0) == (r->tokens == NULL));
  assert_true((r->ntokens == 0) == (r->token_starts == NULL));
  for(uint32_t i = 0; i < r->ntokens; i++) {
    assert_true(r->token_starts[i] < r->size);
    if(i) assert_true(r->token_starts[i] > r->token_starts[i - 1]);
  }
  if(r->pool_len) assert_int_equal(r->pool[r->pool_len - 1], 0);
  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    assert_true(at_string(r, d->name));
    assert_true(d->signature == CH_NONE || at_string(r, d->signature));
    assert_true(d->doc == CH_NONE || at_string(r, d->doc));
    assert_true(d->container == CH_NONE ||
                (d->container < r->ndefs && d->container != i));
    assert_true((unsigned)d->kind < CH_DEF_KIND_COUNT);
    assert_true(span_sound(&d->range, r->size));
    assert_true(span_sound(&d->name_range, r->size));
    /* The container chain ends. */
    uint32_t j = i, steps = 0;
    while(j != CH_NONE && steps <= r->ndefs) {
      j = r->defs[j].container;
      steps++;
    }
    assert_true(j == CH_NONE);
  }
  for(uint32_t i = 0; i < r->nimports; i++) {
    const ch_import *im = &r->imports[i];
    assert_true(at_string(r, im->spec));
    assert_true(im->names == CH_NONE || at_string(r, im->names));
    assert_true((unsigned)im->kind <= CH_IMPORT_PACKAGE);
  }
  for(uint32_t i = 0; i < r->nidents; i++) {
    assert_true(at_string(r, r->idents[i]));
    if(i)
      assert_true(strcmp(r->pool + r->idents[i - 1], r->pool + r->idents[i]) <
                  0);
  }
  for(uint32_t i = 0; i < r->nlines; i++) {
    assert_true(r->line_starts[i] <= r->size);
    if(i)
      assert_true(r->line_starts[i] > r->line_starts[i - 1]);
    else
      assert_int_equal(r->line_starts[0], 0);
  }
  uint64_t sum = 0;
  for(uint32_t i = 0; i < r->ntokens; i++)
    sum += r->tokens[i];
  (void)sum;
  assert_true(ch_record_memory(r) >= sizeof(*r));
}

/* ---- an independent encoder --------------------------------------------- */

/* The record format written again from the description at the top of
 * cache.c, without any validation, so tests can build invalid records and
 * pin the layout byte for byte. */
static void raw_u8(ch_buf *b, uint8_t v) {
  assert_int_equal(ch_buf_append(b, &v, 1), CH_OK);
}

static void raw_u32(ch_buf *b, uint32_t v) {
  unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                        (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
  assert_int_equal(ch_buf_append(b, x, 4), CH_OK);
}

static void raw_u64(ch_buf *b, uint64_t v) {
  raw_u32(b, (uint32_t)v);
  raw_u32(b, (uint32_t)(v >> 32));
}

static void raw_span(ch_buf *b, const ch_span *s) {
  raw_u32(b, s->start);
  raw_u32(b, s->end);
  raw_u32(b, s->start_row);
  raw_u32(b, s->start_col);
  raw_u32(b, s->end_row);
  raw_u32(b, s->end_col);
}

static void encode_raw(const ch_record *r, ch_buf *b) {
  raw_u32(b, (uint32_t)strlen(r->path));
  ch_buf_append_str(b, r->path);
  raw_u8(b, (uint8_t)strlen(r->lang->name));
  ch_buf_append_str(b, r->lang->name);
  raw_u64(b, r->size);
  raw_u64(b, (uint64_t)r->mtime_ns);
  raw_u64(b, r->hash);
  raw_u8(b, r->parse_errors);
  raw_u32(b, r->pool_len);
  if(r->pool_len) ch_buf_append(b, r->pool, r->pool_len);
  raw_u32(b, r->ndefs);
  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    raw_u32(b, d->name);
    raw_u32(b, d->signature);
    raw_u32(b, d->doc);
    raw_u32(b, d->container);
    raw_u32(b, (uint32_t)d->kind);
    raw_span(b, &d->range);
    raw_span(b, &d->name_range);
  }
  raw_u32(b, r->nimports);
  for(uint32_t i = 0; i < r->nimports; i++) {
    raw_u32(b, r->imports[i].spec);
    raw_u32(b, r->imports[i].names);
    raw_u32(b, r->imports[i].row);
    raw_u32(b, (uint32_t)r->imports[i].kind);
  }
  raw_u32(b, r->nidents);
  for(uint32_t i = 0; i < r->nidents; i++)
    raw_u32(b, r->idents[i]);
  raw_u32(b, r->nlines);
  for(uint32_t i = 0; i < r->nlines; i++)
    raw_u32(b, r->line_starts[i]);
  raw_u32(b, r->ntokens);
  for(uint32_t i = 0; i < r->ntokens; i++)
    raw_u32(b, r->tokens[i]);
  for(uint32_t i = 0; i < r->ntokens; i++)
    raw_u32(b, r->token_starts[i]);
}

/* Offsets into the encoding of r, for patching single fields. */
static size_t off_flags(const ch_record *r) {
  return 4 + strlen(r->path) + 1 + strlen(r->lang->name) + 24;
}
static size_t off_pool_len(const ch_record *r) { return off_flags(r) + 1; }
static size_t off_ndefs(const ch_record *r) {
  return off_pool_len(r) + 4 + r->pool_len;
}
static size_t off_nimports(const ch_record *r) {
  return off_ndefs(r) + 4 + (size_t)r->ndefs * 68;
}
static size_t off_nidents(const ch_record *r) {
  return off_nimports(r) + 4 + (size_t)r->nimports * 16;
}
static size_t off_nlines(const ch_record *r) {
  return off_nidents(r) + 4 + (size_t)r->nidents * 4;
}
static size_t off_ntokens(const ch_record *r) {
  return off_nlines(r) + 4 + (size_t)r->nlines * 4;
}

static void patch_u32(ch_buf *b, size_t at, uint32_t v) {
  assert_true(at + 4 <= b->len);
  for(int i = 0; i < 4; i++)
    b->data[at + (size_t)i] = (char)(v >> (8 * i));
}

/* ---- files and folders --------------------------------------------------- */

static char *make_temp_dir(void) {
  char *dir = ch_strdup("/tmp/chorus-cache-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void remove_tree(char *dir) {
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  ch_free(dir);
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  ch_buf b;
  ch_buf_init(&b, (size_t)1 << 30);
  char chunk[65536];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&b, chunk, n), CH_OK);
  fclose(f);
  return ch_buf_detach(&b, len);
}

static void write_all(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if(len) assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Names in dir, excluding . and .., joined by '\n'. Caller frees. */
static char *list_dir(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  struct dirent *e;
  while((e = readdir(d)) != NULL) {
    if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    ch_buf_appendf(&b, "%s\n", e->d_name);
  }
  closedir(d);
  return ch_buf_detach(&b, NULL);
}

static unsigned mode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (unsigned)(st.st_mode & 07777);
}

/* Sets (value) or clears (NULL) an environment variable. */
static void set_env(const char *name, const char *value) {
  if(value)
    assert_int_equal(setenv(name, value, 1), 0);
  else
    assert_int_equal(unsetenv(name), 0);
}

/* The environment the path tests change, saved and restored. */
typedef struct saved_env {
  char *xdg, *home;
} saved_env;

static saved_env env_save(void) {
  const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
  saved_env s = {x ? ch_strdup(x) : NULL, h ? ch_strdup(h) : NULL};
  return s;
}

static void env_restore(saved_env *s) {
  set_env("XDG_CACHE_HOME", s->xdg);
  set_env("HOME", s->home);
  ch_free(s->xdg);
  ch_free(s->home);
}

static void unref_all(ch_record **list, size_t n) {
  for(size_t i = 0; i < n; i++)
    ch_record_unref(list[i]);
  ch_free(list);
}

/* Loads path and expects `want`, and then nothing returned. */
static void expect_load_fails(const char *path, const char *root,
                              ch_status want) {
  ch_record **list = (ch_record **)&list; /* not NULL: must be reset */
  size_t n = 99;
  ch_status got = ch_cache_load(path, root, &list, &n);
  if(got != want)
    fail_msg("load %s: want %s, got %s", path, ch_strerror(want),
             ch_strerror(got));
  assert_null(list);
  assert_int_equal(n, 0);
}

/* The four hand-built records saved as one cache at path. */
static void save_hand_records(const char *path, const char *root) {
  ch_record *recs[CH_ARRAY_LEN(makers)];
  for(size_t i = 0; i < CH_ARRAY_LEN(makers); i++)
    recs[i] = makers[i]();
  assert_int_equal(ch_cache_save(path, root, recs, CH_ARRAY_LEN(recs)), CH_OK);
  for(size_t i = 0; i < CH_ARRAY_LEN(makers); i++)
    ch_record_unref(recs[i]);
}

/* ---- ch_cache_path ------------------------------------------------------- */

static void test_path(void **state) {
  (void)state;
  saved_env env = env_save();
  const char *root = "/home/u/src/proj";
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx",
           (unsigned long long)ch_hash_bytes(root, strlen(root)));

  set_env("XDG_CACHE_HOME", "/x/cache");
  set_env("HOME", "/home/u");
  char *p = ch_cache_path(root);
  char *want = ch_strdupf("/x/cache/chorus/index/%s.idx", hex);
  assert_string_equal(p, want);
  ch_free(want);
  /* Another root, another file. */
  char *q = ch_cache_path("/home/u/src/other");
  assert_string_not_equal(p, q);
  ch_free(q);
  ch_free(p);

  /* A relative or empty XDG_CACHE_HOME is ignored, as the spec says. */
  want = ch_strdupf("/home/u/.cache/chorus/index/%s.idx", hex);
  const char *ignored[] = {"relative/cache", ""};
  for(size_t i = 0; i < CH_ARRAY_LEN(ignored); i++) {
    set_env("XDG_CACHE_HOME", ignored[i]);
    p = ch_cache_path(root);
    assert_string_equal(p, want);
    ch_free(p);
  }
  set_env("XDG_CACHE_HOME", NULL);
  p = ch_cache_path(root);
  assert_string_equal(p, want);
  ch_free(p);
  ch_free(want);

  set_env("HOME", NULL);
  assert_null(ch_cache_path(root));
  set_env("HOME", "");
  assert_null(ch_cache_path(root));
  assert_null(ch_cache_path(NULL));
  env_restore(&env);
}

/* ---- serialize / deserialize -------------------------------------------- */

static void test_round_trip(void **state) {
  (void)state;
  for(size_t i = 0; i < CH_ARRAY_LEN(makers); i++) {
    ch_record *r = makers[i]();
    ch_buf out;
    ch_buf_init(&out, 1 << 20);
    /* Serialize appends: what was there stays. */
    ch_buf_append_str(&out, "prefix");
    assert_int_equal(ch_record_serialize(r, &out), CH_OK);
    assert_memory_equal(out.data, "prefix", 6);
    assert_int_equal(out.data[out.len], 0);

    /* The layout is the documented one, byte for byte. */
    ch_buf raw;
    ch_buf_init(&raw, 1 << 20);
    encode_raw(r, &raw);
    assert_int_equal(out.len - 6, raw.len);
    assert_memory_equal(out.data + 6, raw.data, raw.len);

    ch_status err = CH_ERR_IO;
    ch_record *back = ch_record_deserialize(out.data + 6, out.len - 6, &err);
    assert_non_null(back);
    assert_int_equal(err, CH_OK);
    assert_records_equal(r, back);
    assert_record_sound(back);

    /* And again from the copy: the encoding is stable. */
    ch_buf again;
    ch_buf_init(&again, 1 << 20);
    assert_int_equal(ch_record_serialize(back, &again), CH_OK);
    assert_int_equal(again.len, raw.len);
    assert_memory_equal(again.data, raw.data, raw.len);

    ch_buf_release(&again);
    ch_buf_release(&raw);
    ch_buf_release(&out);
    ch_record_unref(back);
    ch_record_unref(r);
  }
}

/* One way to break a valid rec_full(); deserializing its raw encoding
 * must fail, and serializing it must refuse. */
typedef struct breakage {
  const char *what;
  void (*apply)(ch_record *r);
} breakage;

static ch_language cobol = {.name = "cobol"};

static void b_lang(ch_record *r) { r->lang = &cobol; }
static void b_pool_nul(ch_record *r) { r->pool[r->pool_len - 1] = 'x'; }
static void b_name_none(ch_record *r) { r->defs[0].name = CH_NONE; }
static void b_name_mid(ch_record *r) { r->defs[0].name += 1; }
static void b_name_end(ch_record *r) { r->defs[0].name = r->pool_len; }
static void b_sig_out(ch_record *r) { r->defs[1].signature = r->pool_len + 9; }
static void b_doc_mid(ch_record *r) { r->defs[3].doc += 2; }
static void b_cont_out(ch_record *r) { r->defs[1].container = r->ndefs; }
static void b_cont_self(ch_record *r) { r->defs[2].container = 2; }
static void b_cont_loop(ch_record *r) {
  r->defs[0].container = 1; /* 1 -> 0 already */
}
static void b_cont_loop3(ch_record *r) {
  r->defs[3].container = 5;
  r->defs[5].container = 4; /* 4 -> 3 already */
}
static void b_kind(ch_record *r) { r->defs[2].kind = CH_DEF_KIND_COUNT; }
static void b_span_order(ch_record *r) { r->defs[0].range.start = 121; }
static void b_span_size(ch_record *r) { r->defs[5].name_range.end = 501; }
static void b_span_rows(ch_record *r) { r->defs[3].range.end_row = 9; }
static void b_span_cols(ch_record *r) { r->defs[1].name_range.end_col = 5; }
static void b_spec_none(ch_record *r) { r->imports[0].spec = CH_NONE; }
static void b_names_mid(ch_record *r) { r->imports[1].names += 1; }
static void b_imp_kind(ch_record *r) {
  r->imports[2].kind = (ch_import_kind)(CH_IMPORT_PACKAGE + 1);
}
static void b_ident_order(ch_record *r) {
  uint32_t t = r->idents[1];
  r->idents[1] = r->idents[2];
  r->idents[2] = t;
}
static void b_ident_dup(ch_record *r) { r->idents[3] = r->idents[2]; }
static void b_ident_none(ch_record *r) { r->idents[5] = CH_NONE; }
static void b_line_first(ch_record *r) { r->line_starts[0] = 1; }
static void b_line_equal(ch_record *r) { r->line_starts[2] = 19; }
static void b_line_past(ch_record *r) { r->line_starts[9] = 501; }

static const breakage breakages[] = {
    {"unknown language", b_lang},
    {"pool without final NUL", b_pool_nul},
    {"definition without name", b_name_none},
    {"name inside a string", b_name_mid},
    {"name at the pool end", b_name_end},
    {"signature past the pool", b_sig_out},
    {"doc inside a string", b_doc_mid},
    {"container past defs", b_cont_out},
    {"container is itself", b_cont_self},
    {"containers loop", b_cont_loop},
    {"containers loop of three", b_cont_loop3},
    {"kind out of range", b_kind},
    {"span start after end", b_span_order},
    {"span past the text", b_span_size},
    {"span rows reversed", b_span_rows},
    {"span columns reversed", b_span_cols},
    {"import without spec", b_spec_none},
    {"import names inside a string", b_names_mid},
    {"import kind out of range", b_imp_kind},
    {"identifiers unsorted", b_ident_order},
    {"identifiers repeated", b_ident_dup},
    {"identifier CH_NONE", b_ident_none},
    {"first line start not 0", b_line_first},
    {"line starts not ascending", b_line_equal},
    {"line start past the text", b_line_past},
};

static void test_invalid_records(void **state) {
  (void)state;
  for(size_t i = 0; i < CH_ARRAY_LEN(breakages); i++) {
    ch_record *r = rec_full();
    breakages[i].apply(r);
    ch_buf raw;
    ch_buf_init(&raw, 1 << 20);
    encode_raw(r, &raw);
    ch_status err = CH_OK;
    ch_record *back = ch_record_deserialize(raw.data, raw.len, &err);
    if(back) fail_msg("accepted a record with %s", breakages[i].what);
    assert_int_equal(err, CH_ERR_PARSE);

    /* Serialize refuses it too, and appends nothing. */
    ch_buf out;
    ch_buf_init(&out, 1 << 20);
    ch_buf_append_str(&out, "x");
    if(ch_record_serialize(r, &out) != CH_ERR_INVALID)
      fail_msg("serialized a record with %s", breakages[i].what);
    assert_int_equal(out.len, 1);
    ch_buf_release(&out);
    ch_buf_release(&raw);
    ch_record_unref(r);
  }
  ch_buf out;
  ch_buf_init(&out, 1 << 20);
  assert_int_equal(ch_record_serialize(NULL, &out), CH_ERR_INVALID);
  ch_record *r = rec_empty();
  assert_int_equal(ch_record_serialize(r, NULL), CH_ERR_INVALID);
  ch_free(r->path);
  r->path = NULL;
  assert_int_equal(ch_record_serialize(r, &out), CH_ERR_INVALID);
  ch_record_unref(r);
  ch_buf_release(&out);
}

/* Expects deserialize to refuse b. */
static void expect_rejected(const ch_buf *b, const char *what) {
  ch_status err = CH_OK;
  ch_record *r = ch_record_deserialize(b->data, b->len, &err);
  if(r) fail_msg("accepted %s", what);
  assert_int_equal(err, CH_ERR_PARSE);
}

/* Malformed bytes that no ch_record can express: counts, flags, NULs,
 * lengths. Huge counts must be refused before anything is allocated
 * (ch_malloc would abort on 16 GiB). */
static void test_malformed_bytes(void **state) {
  (void)state;
  ch_record *r = rec_full();
  ch_buf good;
  ch_buf_init(&good, 1 << 20);
  encode_raw(r, &good);
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
#define FRESH()                                                                \
  do {                                                                         \
    ch_buf_reset(&b);                                                          \
    ch_buf_append(&b, good.data, good.len);                                    \
  } while(0)

  FRESH();
  b.data[off_flags(r)] = 2;
  expect_rejected(&b, "unknown flags");
  FRESH();
  b.data[4 + 3] = 0; /* inside the path */
  expect_rejected(&b, "NUL in the path");
  FRESH();
  b.data[4 + strlen(r->path)] = 0; /* language name length */
  expect_rejected(&b, "an empty language name");
  FRESH();
  patch_u32(&b, 0, UINT32_MAX);
  expect_rejected(&b, "a huge path length");

  size_t counts[] = {off_pool_len(r), off_ndefs(r),  off_nimports(r),
                     off_nidents(r),  off_nlines(r), off_ntokens(r)};
  uint32_t huge[] = {UINT32_MAX, 0x7fffffff, 0x10000000, 1000};
  for(size_t i = 0; i < CH_ARRAY_LEN(counts); i++) {
    for(size_t j = 0; j < CH_ARRAY_LEN(huge); j++) {
      FRESH();
      patch_u32(&b, counts[i], huge[j]);
      expect_rejected(&b, "a huge count");
    }
  }
  /* A count one more or less than the truth. */
  for(size_t i = 1; i < CH_ARRAY_LEN(counts); i++) {
    uint32_t now = (uint32_t)(unsigned char)good.data[counts[i]];
    FRESH();
    patch_u32(&b, counts[i], now + 1);
    expect_rejected(&b, "a count one too many");
    if(now) {
      FRESH();
      patch_u32(&b, counts[i], now - 1);
      expect_rejected(&b, "a count one too few");
    }
  }
  FRESH();
  ch_buf_append_char(&b, 0);
  expect_rejected(&b, "a trailing byte");
  for(size_t len = 0; len < good.len; len++) {
    ch_status err = CH_OK;
    assert_null(ch_record_deserialize(good.data, len, &err));
    assert_int_equal(err, CH_ERR_PARSE);
  }
  assert_null(ch_record_deserialize(NULL, 0, NULL));
#undef FRESH
  ch_buf_release(&b);
  ch_buf_release(&good);
  ch_record_unref(r);
}

/* Random bytes and mutated valid records straight into the deserializer
 * (no checksum in the way): never a crash, never an unsound record. */
static void test_deserialize_fuzz(void **state) {
  (void)state;
  uint64_t seed = 0x5eed5eed12345678ull;
  size_t accepted = 0, tries = 0;
  ch_buf b;
  ch_buf_init(&b, 1 << 20);

  for(int i = 0; i < 3000; i++, tries++) {
    ch_buf_reset(&b);
    uint32_t len = rng_below(&seed, 400);
    for(uint32_t j = 0; j < len; j++)
      ch_buf_append_char(&b, (char)rng_next(&seed));
    ch_record *r = ch_record_deserialize(b.data, b.len, NULL);
    if(r) {
      accepted++;
      assert_record_sound(r);
      ch_record_unref(r);
    }
  }

  static const uint32_t interesting[] = {
      0,          1,    2,    3,    4,          5,          8,
      16,         0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xfffffffe,
      0xffffffff, 68,   16,   500,  501};
  for(size_t m = 0; m < CH_ARRAY_LEN(makers); m++) {
    ch_record *orig = makers[m]();
    ch_buf good;
    ch_buf_init(&good, 1 << 20);
    encode_raw(orig, &good);
    for(int i = 0; i < 5000; i++, tries++) {
      ch_buf_reset(&b);
      ch_buf_append(&b, good.data, good.len);
      int ops = 1 + (int)rng_below(&seed, 3);
      for(int k = 0; k < ops && b.len; k++) {
        size_t at = rng_below(&seed, (uint32_t)b.len);
        switch(rng_below(&seed, 7)) {
        case 0: b.data[at] ^= (char)(1u << rng_below(&seed, 8)); break;
        case 1: b.data[at] = (char)rng_next(&seed); break;
        case 2:
          if(at + 4 <= b.len)
            patch_u32(&b, at,
                      interesting[rng_below(&seed, CH_ARRAY_LEN(interesting))]);
          break;
        case 3: b.len = at; break; /* truncate */
        case 4:                    /* delete one byte */
          memmove(b.data + at, b.data + at + 1, b.len - at - 1);
          b.len--;
          break;
        case 5: { /* insert one byte */
          ch_buf_append_char(&b, 0);
          memmove(b.data + at + 1, b.data + at, b.len - at - 1);
          b.data[at] = (char)rng_next(&seed);
          break;
        }
        default: /* a small value at a 4-byte boundary of a u32 array */
          at &= ~(size_t)3;
          if(at + 4 <= b.len) patch_u32(&b, at, rng_below(&seed, 600));
          break;
        }
      }
      ch_record *r = ch_record_deserialize(b.data, b.len, NULL);
      if(!r) continue;
      accepted++;
      assert_record_sound(r);
      /* Whatever is accepted serializes back to the same bytes. */
      ch_buf again;
      ch_buf_init(&again, 1 << 20);
      assert_int_equal(ch_record_serialize(r, &again), CH_OK);
      assert_int_equal(again.len, b.len);
      assert_memory_equal(again.data, b.data, b.len);
      ch_buf_release(&again);
      ch_record_unref(r);
    }
    ch_buf_release(&good);
    ch_record_unref(orig);
  }
  print_message("deserializer fuzz: %zu inputs, %zu accepted (all sound)\n",
                tries, accepted);
  ch_buf_release(&b);
}

/* ---- save and load ------------------------------------------------------- */

/* A temporary XDG_CACHE_HOME for the cache tests. */
typedef struct fixture {
  saved_env env;
  char *dir;  /* the temporary folder */
  char *path; /* ch_cache_path(root) inside it */
  const char *root;
} fixture;

static int setup(void **state) {
  fixture *f = ch_calloc(1, sizeof(*f));
  f->env = env_save();
  f->dir = make_temp_dir();
  char *xdg = ch_strdupf("%s/xdg", f->dir);
  set_env("XDG_CACHE_HOME", xdg);
  ch_free(xdg);
  f->root = "/work/some/repo";
  f->path = ch_cache_path(f->root);
  assert_non_null(f->path);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  env_restore(&f->env);
  remove_tree(f->dir);
  ch_free(f->path);
  ch_free(f);
  return 0;
}

static void test_save_load(void **state) {
  fixture *f = *state;
  ch_record *recs[CH_ARRAY_LEN(makers)];
  for(size_t i = 0; i < CH_ARRAY_LEN(makers); i++)
    recs[i] = makers[i]();
  assert_int_equal(ch_cache_save(f->path, f->root, recs, CH_ARRAY_LEN(recs)),
                   CH_OK);
  ch_record **list = NULL;
  size_t n = 0;
  assert_int_equal(ch_cache_load(f->path, f->root, &list, &n), CH_OK);
  assert_int_equal(n, CH_ARRAY_LEN(recs));
  for(size_t i = 0; i < n; i++) {
    assert_records_equal(recs[i], list[i]);
    assert_record_sound(list[i]); /* one reference each */
  }
  unref_all(list, n);
  /* The file is private, like its folder. */
  assert_int_equal(mode_of(f->path), 0600);

  /* No records is a valid cache too. */
  assert_int_equal(ch_cache_save(f->path, f->root, NULL, 0), CH_OK);
  assert_int_equal(ch_cache_load(f->path, f->root, &list, &n), CH_OK);
  assert_int_equal(n, 0);
  ch_free(list);
  for(size_t i = 0; i < CH_ARRAY_LEN(makers); i++)
    ch_record_unref(recs[i]);
}

static void capture_sink(ch_log_level level, const char *message,
                         void *userdata) {
  (void)level;
  ch_buf_appendf(userdata, "%s\n", message);
}

/* A record that would not read back is left out, with a warning; the
 * others are saved. */
static void test_save_skips_invalid(void **state) {
  fixture *f = *state;
  ch_record *bad = rec_full();
  b_cont_loop(bad);
  ch_free(bad->path);
  bad->path = ch_strdup("bad.c");
  ch_record *recs[] = {rec_sparse(), bad, rec_tsx()};
  ch_buf log;
  ch_buf_init(&log, 1 << 16);
  ch_log_set_sink(capture_sink, &log);
  assert_int_equal(ch_cache_save(f->path, f->root, recs, 3), CH_OK);
  ch_log_set_sink(NULL, NULL);
  assert_non_null(log.data);
  assert_non_null(strstr(log.data, "leaving out record bad.c"));
  ch_buf_release(&log);

  ch_record **list;
  size_t n;
  assert_int_equal(ch_cache_load(f->path, f->root, &list, &n), CH_OK);
  assert_int_equal(n, 2);
  assert_records_equal(recs[0], list[0]);
  assert_records_equal(recs[2], list[1]);
  unref_all(list, n);
  for(size_t i = 0; i < 3; i++)
    ch_record_unref(recs[i]);
}

static void test_save_errors(void **state) {
  fixture *f = *state;
  ch_record *r = rec_empty();
  ch_record *with_null[] = {r, NULL};
  assert_int_equal(ch_cache_save(NULL, f->root, &r, 1), CH_ERR_INVALID);
  assert_int_equal(ch_cache_save("", f->root, &r, 1), CH_ERR_INVALID);
  assert_int_equal(ch_cache_save(f->path, NULL, &r, 1), CH_ERR_INVALID);
  assert_int_equal(ch_cache_save(f->path, f->root, NULL, 1), CH_ERR_INVALID);
  assert_int_equal(ch_cache_save(f->path, f->root, with_null, 2),
                   CH_ERR_INVALID);

  /* A folder that cannot exist: a file is in the way. Nothing is left
   * behind. */
  char *file = ch_strdupf("%s/plain", f->dir);
  write_all(file, "x", 1);
  char *under = ch_strdupf("%s/sub/c.idx", file);
  ch_log_level level = ch_log_get_level();
  ch_log_set_level(CH_LOG_ERROR); /* the warnings are expected */
  assert_int_equal(ch_cache_save(under, f->root, &r, 1), CH_ERR_IO);
  /* A target that is a folder: the rename fails, the temp file goes. */
  char *folder = ch_strdupf("%s/folder.idx", f->dir);
  assert_int_equal(mkdir(folder, 0700), 0);
  char *inside = ch_strdupf("%s/keep", folder);
  write_all(inside, "x", 1);
  assert_int_equal(ch_cache_save(folder, f->root, &r, 1), CH_ERR_IO);
  ch_log_set_level(level);
  char *names = list_dir(f->dir);
  assert_null(strstr(names, ".tmp."));
  assert_non_null(strstr(names, "plain\n"));
  assert_non_null(strstr(names, "folder.idx\n"));
  ch_free(names);
  names = list_dir(folder);
  assert_string_equal(names, "keep\n");
  ch_free(names);

  ch_free(inside);
  ch_free(folder);
  ch_free(under);
  ch_free(file);
  ch_record_unref(r);
}

static void test_load_errors(void **state) {
  fixture *f = *state;
  ch_record **list;
  size_t n;
  assert_int_equal(ch_cache_load(NULL, f->root, &list, &n), CH_ERR_INVALID);
  assert_int_equal(ch_cache_load(f->path, NULL, &list, &n), CH_ERR_INVALID);
  assert_int_equal(ch_cache_load(f->path, f->root, NULL, &n), CH_ERR_INVALID);
  /* Nothing saved yet: the folder does not even exist. */
  expect_load_fails(f->path, f->root, CH_ERR_NOT_FOUND);
  char *missing = ch_strdupf("%s/missing.idx", f->dir);
  expect_load_fails(missing, f->root, CH_ERR_NOT_FOUND);
  /* A folder where the file should be. */
  expect_load_fails(f->dir, f->root, CH_ERR_IO);

  char *p = ch_strdupf("%s/junk.idx", f->dir);
  write_all(p, "", 0);
  expect_load_fails(p, f->root, CH_ERR_PARSE); /* decided: empty = corrupt */
  write_all(p, "CHI", 3);
  expect_load_fails(p, f->root, CH_ERR_PARSE);
  write_all(p, "hello, world\n", 13);
  expect_load_fails(p, f->root, CH_ERR_STATE); /* not ours */

  save_hand_records(p, f->root);
  size_t len;
  char *data = read_all(p, &len);

  /* Another root, including a prefix and an extension of this one. */
  expect_load_fails(p, "/work/some/other", CH_ERR_STATE);
  expect_load_fails(p, "/work/some/rep", CH_ERR_STATE);
  expect_load_fails(p, "/work/some/repo/", CH_ERR_STATE);
  expect_load_fails(p, "", CH_ERR_STATE);

  /* Another version: checked before anything else, so a later format
   * may change all that follows. */
  char *copy = ch_memdup(data, len);
  copy[4] = (char)(CH_CACHE_VERSION + 1);
  write_all(p, copy, len);
  expect_load_fails(p, f->root, CH_ERR_STATE);
  write_all(p, copy, 12); /* even with nothing after it */
  expect_load_fails(p, f->root, CH_ERR_STATE);
  write_all(p, copy, 7); /* but a cut version field is truncation */
  expect_load_fails(p, f->root, CH_ERR_PARSE);
  /* Another build. */
  memcpy(copy, data, len);
  copy[9] ^= 0x40;
  write_all(p, copy, len);
  expect_load_fails(p, f->root, CH_ERR_STATE);

  /* One byte more. */
  char *longer = ch_malloc(len + 1);
  memcpy(longer, data, len);
  longer[len] = 0;
  write_all(p, longer, len + 1);
  expect_load_fails(p, f->root, CH_ERR_PARSE);

  /* The original still loads. */
  write_all(p, data, len);
  assert_int_equal(ch_cache_load(p, f->root, &list, &n), CH_OK);
  assert_int_equal(n, CH_ARRAY_LEN(makers));
  unref_all(list, n);

  ch_free(longer);
  ch_free(copy);
  ch_free(data);
  ch_free(p);
  ch_free(missing);
}

/* Every truncation of a valid cache is CH_ERR_PARSE, with nothing
 * returned. */
static void test_truncation(void **state) {
  fixture *f = *state;
  char *p = ch_strdupf("%s/t.idx", f->dir);
  save_hand_records(p, f->root);
  size_t len;
  char *data = read_all(p, &len);
  char *cut = ch_strdupf("%s/cut.idx", f->dir);
  for(size_t n = 0; n < len; n++) {
    write_all(cut, data, n);
    expect_load_fails(cut, f->root, CH_ERR_PARSE);
  }
  print_message("truncation: %zu lengths of a %zu-byte cache\n", len, len);
  ch_free(cut);
  ch_free(data);
  ch_free(p);
}

/* Every single-byte change of a valid cache is caught: CH_ERR_STATE in
 * magic, version and build (bytes 0-11), CH_ERR_PARSE anywhere else; then
 * random multi-byte damage. Never a record from a damaged file. */
static void test_byte_flips(void **state) {
  fixture *f = *state;
  char *p = ch_strdupf("%s/f.idx", f->dir);
  save_hand_records(p, f->root);
  size_t len;
  char *data = read_all(p, &len);
  char *copy = ch_memdup(data, len);
  char *bad = ch_strdupf("%s/bad.idx", f->dir);
  static const unsigned char masks[] = {0x01, 0x80, 0xff};
  for(size_t at = 0; at < len; at++) {
    for(size_t m = 0; m < CH_ARRAY_LEN(masks); m++) {
      copy[at] = (char)(data[at] ^ masks[m]);
      write_all(bad, copy, len);
      expect_load_fails(bad, f->root, at < 12 ? CH_ERR_STATE : CH_ERR_PARSE);
    }
    copy[at] = data[at];
  }
  uint64_t seed = 42;
  for(int i = 0; i < 2000; i++) {
    memcpy(copy, data, len);
    int flips = 1 + (int)rng_below(&seed, 8);
    for(int k = 0; k < flips; k++)
      copy[rng_below(&seed, (uint32_t)len)] ^=
          (char)(1 + rng_below(&seed, 255));
    if(memcmp(copy, data, len) == 0) continue; /* flips cancelled */
    write_all(bad, copy, len);
    ch_record **list = NULL;
    size_t n = 0;
    ch_status s = ch_cache_load(bad, f->root, &list, &n);
    assert_true(s == CH_ERR_PARSE || s == CH_ERR_STATE);
    assert_null(list);
    assert_int_equal(n, 0);
  }
  ch_free(bad);
  ch_free(copy);
  ch_free(data);
  ch_free(p);
}

/* A save replaces the previous cache in one step and leaves no temporary
 * file. */
static void test_atomic_replace(void **state) {
  fixture *f = *state;
  save_hand_records(f->path, f->root);
  ch_record *one = rec_tsx();
  assert_int_equal(ch_cache_save(f->path, f->root, &one, 1), CH_OK);
  ch_record **list;
  size_t n;
  assert_int_equal(ch_cache_load(f->path, f->root, &list, &n), CH_OK);
  assert_int_equal(n, 1);
  assert_records_equal(one, list[0]);
  unref_all(list, n);

  char *dir = ch_strndup(f->path, (size_t)(strrchr(f->path, '/') - f->path));
  char *names = list_dir(dir);
  char *want = ch_strdupf("%s\n", strrchr(f->path, '/') + 1);
  assert_string_equal(names, want);
  ch_free(want);
  ch_free(names);
  ch_free(dir);
  ch_record_unref(one);
}

/* Folders the save creates are 0700; existing ones keep their mode. */
static void test_dir_permissions(void **state) {
  fixture *f = *state;
  char *pre = ch_strdupf("%s/pre", f->dir);
  assert_int_equal(mkdir(pre, 0755), 0);
  assert_int_equal(chmod(pre, 0755), 0);
  char *xdg = ch_strdupf("%s/deeper/cache", pre);
  set_env("XDG_CACHE_HOME", xdg);
  char *path = ch_cache_path(f->root);
  ch_record *r = rec_empty();
  assert_int_equal(ch_cache_save(path, f->root, &r, 1), CH_OK);
  ch_record_unref(r);

  assert_int_equal(mode_of(pre), 0755);
  const char *made[] = {"deeper", "deeper/cache", "deeper/cache/chorus",
                        "deeper/cache/chorus/index"};
  for(size_t i = 0; i < CH_ARRAY_LEN(made); i++) {
    char *d = ch_strdupf("%s/%s", pre, made[i]);
    if(mode_of(d) != 0700) fail_msg("%s has mode %o", d, mode_of(d));
    ch_free(d);
  }
  assert_int_equal(mode_of(path), 0600);
  ch_free(path);
  ch_free(xdg);
  ch_free(pre);
}

/* A record of about 10 KB serialized: 30 definitions, 10 imports, 100
 * identifiers, 250 lines, 500 tokens. */
static ch_record *rec_synthetic(uint32_t i, uint64_t *seed) {
  char path[64];
  snprintf(path, sizeof(path), "src/module_%u/file_%u.c", i / 100, i);
  ch_record *r = new_record(path, i % 3 ? "c" : "python");
  r->size = 20000;
  r->mtime_ns = 1700000000000000000ll + i;
  r->hash = rng_next(seed);
  ch_buf pool;
  ch_buf_init(&pool, 1 << 20);
  char s[160];
  r->ndefs = 30;
  r->defs = ch_malloc(30 * sizeof(ch_def));
  for(uint32_t j = 0; j < 30; j++) {
    ch_def *d = &r->defs[j];
    snprintf(s, sizeof(s), "function_%u_%u", i, j);
    d->name = add(&pool, s);
    snprintf(s, sizeof(s),
             "static int function_%u_%u(struct context *ctx, size_t n)", i, j);
    d->signature = add(&pool, s);
    if(j % 2) {
      snprintf(s, sizeof(s), "/* Does step %u of the work for %u. */", j, i);
      d->doc = add(&pool, s);
    } else {
      d->doc = CH_NONE;
    }
    d->container = j % 5 ? j - j % 5 : CH_NONE;
    d->kind = (ch_def_kind)(j % CH_DEF_KIND_COUNT);
    d->range = span(j * 600, j * 600 + 500, j * 8, 0, j * 8 + 6, 1);
    d->name_range = span(j * 600 + 11, j * 600 + 20, j * 8, 11, j * 8, 20);
  }
  r->nimports = 10;
  r->imports = ch_malloc(10 * sizeof(ch_import));
  for(uint32_t j = 0; j < 10; j++) {
    snprintf(s, sizeof(s), "include/header_%u.h", j);
    r->imports[j].spec = add(&pool, s);
    r->imports[j].names = CH_NONE;
    r->imports[j].row = j;
    r->imports[j].kind = CH_IMPORT_INCLUDE_LOCAL;
  }
  r->nidents = 100;
  r->idents = ch_malloc(100 * 4);
  for(uint32_t j = 0; j < 100; j++) {
    snprintf(s, sizeof(s), "id_%05u", j * 7 + i % 7);
    r->idents[j] = add(&pool, s);
  }
  set_pool(r, &pool);
  r->nlines = 250;
  r->line_starts = ch_malloc(250 * 4);
  for(uint32_t j = 0; j < 250; j++)
    r->line_starts[j] = j * 80;
  r->ntokens = 500;
  r->tokens = ch_malloc(500 * 4);
  for(uint32_t j = 0; j < 500; j++)
    r->tokens[j] = (uint32_t)rng_next(seed);
  r->token_starts = ch_malloc(500 * 4);
  for(uint32_t j = 0; j < 500; j++)
    r->token_starts[j] = j * 40;
  return r;
}

static void test_many_records(void **state) {
  fixture *f = *state;
  enum { COUNT = 5000 };
  uint64_t seed = 7;
  ch_record **recs = ch_malloc(COUNT * sizeof(*recs));
  for(uint32_t i = 0; i < COUNT; i++)
    recs[i] = rec_synthetic(i, &seed);

  uint64_t t0 = ch_now_ns();
  assert_int_equal(ch_cache_save(f->path, f->root, recs, COUNT), CH_OK);
  uint64_t t1 = ch_now_ns();
  ch_record **list;
  size_t n;
  assert_int_equal(ch_cache_load(f->path, f->root, &list, &n), CH_OK);
  uint64_t t2 = ch_now_ns();
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  print_message("5000 records, %.1f MB: save %.1f ms, load %.1f ms\n",
                (double)st.st_size / 1e6, (double)(t1 - t0) / 1e6,
                (double)(t2 - t1) / 1e6);

  assert_int_equal(n, COUNT);
  for(uint32_t i = 0; i < COUNT; i++)
    assert_records_equal(recs[i], list[i]);
  unref_all(list, n);
  for(uint32_t i = 0; i < COUNT; i++)
    ch_record_unref(recs[i]);
  ch_free(recs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_invalid_records),
      cmocka_unit_test(test_malformed_bytes),
      cmocka_unit_test(test_deserialize_fuzz),
      cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_skips_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_byte_flips, setup, teardown),
      cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dir_permissions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_records, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
