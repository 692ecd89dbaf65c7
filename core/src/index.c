/* index.c: workers, snapshots and queries over the repository's records.
 *
 * State lives in the ch_index under one mutex (`lock`): the records of the
 * files on disk (`disk`), the open documents (`docs`), the job queue, and
 * the set of paths changed since the current base was built (`dirty`).
 * Workers take jobs, do the slow part (walk, read, parse, extract, build a
 * base) without the lock, and take it again to store results and publish.
 *
 * Publishing makes a new snapshot: the current base plus an overlay holding
 * the effective record of every dirty path. When the overlay grows past
 * OVERLAY_MAX, one worker rebuilds the base from all records (outside the
 * lock) and publishes it with the paths dirtied meanwhile as the overlay.
 */
#include "chorus/index.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/cache.h"
#include "chorus/resolve.h"
#include "chorus/workspace.h"

#define OVERLAY_MAX 64
#define PUBLISH_INTERVAL_MS 100
#define REBUILD_INTERVAL_MS 1000
/* While files are still queued, a rebuild waits at least this many times
 * as long as the last one took, so that rebuilds during a first indexing
 * cost a bounded share of it (a base is rebuilt from all its files: with
 * a fixed interval their total cost would grow with the square of the
 * repository). */
#define REBUILD_COST_FACTOR 40
#define MAX_RESOLVED 64 /* files one import may resolve to, kept */

/* ---- small vectors ------------------------------------------------------- */

typedef struct idvec {
  uint32_t *v;
  uint32_t n, cap;
} idvec;

static void idvec_push(idvec *self, uint32_t id) {
  if(self->n == self->cap) {
    self->cap = self->cap ? self->cap * 2 : 4;
    self->v = ch_realloc(self->v, self->cap * sizeof(*self->v));
  }
  self->v[self->n++] = id;
}

static void idvec_free(void *p) {
  idvec *self = p;
  if(!self) return;
  ch_free(self->v);
  ch_free(self);
}

/* ---- bases and snapshots -------------------------------------------------- */

typedef struct file_entry {
  ch_record *rec; /* one reference */
  char *abs;      /* owned */
  uint32_t root;  /* index into roots */
} file_entry;

typedef struct name_entry {
  const char *name; /* borrowed from the record's pool */
  uint32_t file, def;
} name_entry;

/* Everything about a set of files that is costly to build. Immutable. */
typedef struct base {
  atomic_uint refs;
  char **roots; /* copies, indexed by file_entry.root */
  uint32_t nroots;
  file_entry *files; /* sorted by abs path */
  uint32_t n;
  ch_map by_path;  /* abs -> (id + 1) */
  ch_map by_base;  /* basename -> idvec* of ids */
  ch_map by_dir;   /* abs dir -> idvec* of ids */
  /* Small non-source files resolution reads (go.mod), read once per base:
   * abs path -> owned text, or NULL_TEXT when absent. Touched only by the
   * thread building the base, then under the index lock. */
  ch_map small_files;
  name_entry *names; /* sorted by name */
  size_t nnames;
  /* Resolved imports and their reverse, as compressed rows: the ids of
   * file i are imp_ids[imp_off[i] .. imp_off[i + 1]). */
  uint32_t *imp_off, *imp_ids, *rev_off, *rev_ids;
  uint32_t *unresolved;
} base;

typedef struct overlay_entry {
  char *abs;      /* owned */
  ch_record *rec; /* NULL: the file is gone */
  uint32_t root;
  uint32_t base_id; /* the id this path had in the base, or CH_NONE */
  uint32_t *imports; /* resolved, snapshot ids */
  uint32_t nimports, unresolved;
  uint32_t *by_name; /* rec's def indices sorted by name (rec->ndefs) */
} overlay_entry;

struct ch_snapshot {
  atomic_uint refs;
  base *b;
  /* The roots when this snapshot was published (the base may be older):
   * borrowed from the base when equal, else owned copies. */
  char **roots;
  uint32_t nroots;
  bool own_roots;
  overlay_entry *ov; /* sorted by abs; ids b->n + i */
  uint32_t nov;
  /* Base ids shadowed by the overlay, sorted, with the overlay id that
   * replaces each (CH_NONE when the file is gone). */
  uint32_t *masked, *masked_to;
  uint32_t nmasked;
};

static char null_text; /* marks a small file known to be absent */
#define NULL_TEXT (&null_text)

static void free_small(void *p) {
  if(p != NULL_TEXT) ch_free(p);
}

static base *base_ref(base *self) {
  atomic_fetch_add(&self->refs, 1);
  return self;
}

static void base_unref(base *self) {
  if(!self || atomic_fetch_sub(&self->refs, 1) != 1) return;
  for(uint32_t i = 0; i < self->n; i++) {
    ch_record_unref(self->files[i].rec);
    ch_free(self->files[i].abs);
  }
  for(uint32_t i = 0; i < self->nroots; i++) ch_free(self->roots[i]);
  ch_free(self->roots);
  ch_free(self->files);
  ch_map_release(&self->by_path, NULL);
  ch_map_release(&self->by_base, idvec_free);
  ch_map_release(&self->by_dir, idvec_free);
  ch_map_release(&self->small_files, free_small);
  ch_free(self->names);
  ch_free(self->imp_off);
  ch_free(self->imp_ids);
  ch_free(self->rev_off);
  ch_free(self->rev_ids);
  ch_free(self->unresolved);
  ch_free(self);
}

ch_snapshot *ch_snapshot_ref(ch_snapshot *self) {
  if(self) atomic_fetch_add(&self->refs, 1);
  return self;
}

void ch_snapshot_unref(ch_snapshot *self) {
  if(!self || atomic_fetch_sub(&self->refs, 1) != 1) return;
  for(uint32_t i = 0; i < self->nov; i++) {
    ch_free(self->ov[i].abs);
    ch_record_unref(self->ov[i].rec);
    ch_free(self->ov[i].imports);
    ch_free(self->ov[i].by_name);
  }
  ch_free(self->ov);
  ch_free(self->masked);
  ch_free(self->masked_to);
  if(self->own_roots) {
    for(uint32_t i = 0; i < self->nroots; i++) ch_free(self->roots[i]);
    ch_free(self->roots);
  }
  base_unref(self->b);
  ch_free(self);
}

/* Index of a masked base id in self->masked, or -1. */
static long masked_at(const ch_snapshot *self, uint32_t id) {
  size_t lo = 0, hi = self->nmasked;
  while(lo < hi) {
    size_t mid = (lo + hi) / 2;
    if(self->masked[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < self->nmasked && self->masked[lo] == id ? (long)lo : -1;
}

/* The live id for a base id: itself, its overlay replacement, or CH_NONE. */
static uint32_t live_id(const ch_snapshot *self, uint32_t base_id) {
  long at = masked_at(self, base_id);
  return at < 0 ? base_id : self->masked_to[at];
}

uint32_t ch_snapshot_count(const ch_snapshot *self) {
  return self->b->n + self->nov;
}

const ch_record *ch_snapshot_file(const ch_snapshot *self, uint32_t id) {
  if(id < self->b->n) return masked_at(self, id) >= 0 ? NULL : self->b->files[id].rec;
  id -= self->b->n;
  return id < self->nov ? self->ov[id].rec : NULL;
}

const char *ch_snapshot_abs_path(const ch_snapshot *self, uint32_t id) {
  if(id < self->b->n) return self->b->files[id].abs;
  id -= self->b->n;
  return id < self->nov ? self->ov[id].abs : NULL;
}

static uint32_t root_of(const ch_snapshot *self, uint32_t id) {
  if(id < self->b->n) return self->b->files[id].root;
  return self->ov[id - self->b->n].root;
}

const char *ch_snapshot_root(const ch_snapshot *self, uint32_t id) {
  if(id >= ch_snapshot_count(self)) return NULL;
  uint32_t r = root_of(self, id);
  return r < self->nroots ? self->roots[r] : "/";
}

static long overlay_find(const ch_snapshot *self, const char *abs) {
  size_t lo = 0, hi = self->nov;
  while(lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(self->ov[mid].abs, abs);
    if(c == 0) return (long)mid;
    if(c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

bool ch_snapshot_lookup(const ch_snapshot *self, const char *path,
                        uint32_t *id) {
  long o = overlay_find(self, path);
  if(o >= 0) {
    if(!self->ov[o].rec) return false;
    *id = self->b->n + (uint32_t)o;
    return true;
  }
  uintptr_t v = (uintptr_t)ch_map_get(&self->b->by_path, path);
  if(!v) return false;
  *id = (uint32_t)(v - 1);
  return true;
}

/* ---- the file set seen by import resolution -------------------------------- */

typedef struct fileset_view {
  const ch_snapshot *snap;
  uint32_t root;
  const char *root_path;
  size_t root_len;
  ch_buf scratch;
} fileset_view;

/* Root-relative path of an absolute one in the view's root, or NULL. */
static const char *relative(const fileset_view *v, const char *abs) {
  if(strncmp(abs, v->root_path, v->root_len) != 0) return NULL;
  if(v->root_len == 1) return abs + 1; /* root "/" */
  return abs[v->root_len] == '/' ? abs + v->root_len + 1 : NULL;
}

/* Called for every candidate path of every import: no printf. */
static const char *to_abs(fileset_view *v, const char *rel) {
  ch_buf_reset(&v->scratch);
  if(v->root_len > 1) ch_buf_append(&v->scratch, v->root_path, v->root_len);
  ch_buf_append_char(&v->scratch, '/');
  ch_buf_append_str(&v->scratch, rel);
  return v->scratch.data ? v->scratch.data : "";
}

static bool fs_lookup(void *p, const char *path, uint32_t *id) {
  fileset_view *v = p;
  return ch_snapshot_lookup(v->snap, to_abs(v, path), id);
}

static bool suffix_matches(const char *rel, const char *suffix) {
  size_t a = strlen(rel), b = strlen(suffix);
  if(a < b || strcmp(rel + a - b, suffix) != 0) return false;
  return a == b || rel[a - b - 1] == '/';
}

static const char *basename_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static void fs_by_suffix(void *p, const char *suffix, ch_fileset_each each,
                         void *ud) {
  fileset_view *v = p;
  const ch_snapshot *s = v->snap;
  const idvec *ids = ch_map_get(&s->b->by_base, basename_of(suffix));
  for(uint32_t i = 0; ids && i < ids->n; i++) {
    uint32_t id = ids->v[i];
    if(masked_at(s, id) >= 0 || s->b->files[id].root != v->root) continue;
    const char *rel = relative(v, s->b->files[id].abs);
    if(rel && suffix_matches(rel, suffix)) each(id, rel, ud);
  }
  for(uint32_t i = 0; i < s->nov; i++) {
    if(!s->ov[i].rec || s->ov[i].root != v->root) continue;
    const char *rel = relative(v, s->ov[i].abs);
    if(rel && suffix_matches(rel, suffix)) each(s->b->n + i, rel, ud);
  }
}

static void fs_in_dir(void *p, const char *dir, ch_fileset_each each,
                      void *ud) {
  fileset_view *v = p;
  const ch_snapshot *s = v->snap;
  const char *abs_dir = dir[0] ? to_abs(v, dir) : v->root_path;
  const idvec *ids = ch_map_get(&s->b->by_dir, abs_dir);
  for(uint32_t i = 0; ids && i < ids->n; i++) {
    uint32_t id = ids->v[i];
    if(masked_at(s, id) >= 0) continue;
    const char *rel = relative(v, s->b->files[id].abs);
    if(rel) each(id, rel, ud);
  }
  size_t dlen = strlen(abs_dir);
  for(uint32_t i = 0; i < s->nov; i++) {
    const char *abs = s->ov[i].abs;
    if(!s->ov[i].rec || strncmp(abs, abs_dir, dlen) != 0) continue;
    if(abs[dlen] != '/' || strchr(abs + dlen + 1, '/')) continue;
    const char *rel = relative(v, abs);
    if(rel) each(s->b->n + i, rel, ud);
  }
}

static char *fs_read(void *p, const char *path) {
  fileset_view *v = p;
  const char *abs = to_abs(v, path);
  ch_map *cache = &((base *)v->snap->b)->small_files;
  char *known = ch_map_get(cache, abs);
  if(known) return known == NULL_TEXT ? NULL : ch_strdup(known);
  int fd = open(abs, O_RDONLY | O_CLOEXEC);
  char *text = NULL;
  if(fd >= 0) {
    ch_buf b;
    ch_buf_init(&b, 1 << 20);
    char chunk[4096];
    ssize_t n;
    while((n = read(fd, chunk, sizeof(chunk))) > 0)
      if(ch_buf_append(&b, chunk, (size_t)n)) break;
    close(fd);
    text = ch_buf_detach(&b, NULL);
  }
  ch_map_put(cache, abs, text ? ch_strdup(text) : NULL_TEXT);
  return text;
}

static void view_init(fileset_view *v, const ch_snapshot *s, uint32_t root) {
  v->snap = s;
  v->root = root;
  v->root_path = root < s->nroots ? s->roots[root] : "/";
  v->root_len = strlen(v->root_path);
  ch_buf_init(&v->scratch, 1 << 16);
}

/* Resolves every import of rec into ids (deduplicated, in order). */
static void resolve_all(const ch_snapshot *s, uint32_t root,
                        const ch_record *rec, idvec *out,
                        uint32_t *unresolved) {
  fileset_view v;
  view_init(&v, s, root);
  ch_fileset fs = {fs_lookup, fs_by_suffix, fs_in_dir, fs_read, &v};
  uint32_t found[MAX_RESOLVED];
  *unresolved = 0;
  for(uint32_t i = 0; i < rec->nimports; i++) {
    size_t n = ch_resolve_import(&fs, rec, &rec->imports[i], found,
                                 MAX_RESOLVED);
    if(!n) (*unresolved)++;
    for(size_t k = 0; k < CH_MIN(n, (size_t)MAX_RESOLVED); k++) {
      bool dup = false;
      for(uint32_t j = 0; j < out->n && !dup; j++) dup = out->v[j] == found[k];
      if(!dup) idvec_push(out, found[k]);
    }
  }
  ch_buf_release(&v.scratch);
}

/* ---- building a base ------------------------------------------------------ */

static int cmp_file(const void *a, const void *b) {
  return strcmp(((const file_entry *)a)->abs, ((const file_entry *)b)->abs);
}

static int cmp_name(const void *a, const void *b) {
  const name_entry *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if(c) return c;
  if(x->file != y->file) return x->file < y->file ? -1 : 1;
  return x->def < y->def ? -1 : (x->def > y->def);
}

static void map_push(ch_map *m, const char *key, uint32_t id) {
  idvec *v = ch_map_get(m, key);
  if(!v) {
    v = ch_calloc(1, sizeof(*v));
    ch_map_put(m, key, v);
  }
  idvec_push(v, id);
}

/* Fills b->names, sorted by cmp_name. Files whose record is the one they
 * had in prev take their names from prev's sorted array, renumbered (both
 * bases order files by path, so that order holds); only the others' names
 * are sorted, and the two runs merged. So a rebuild during a first
 * indexing sorts the names of the files parsed since the last one, not
 * all of them again (which for C headers, full of macros, cost more than
 * the rest of a rebuild). */
static void build_names(base *b, const base *prev) {
  uint32_t n = b->n;
  const file_entry *files = b->files;
  bool *kept = ch_calloc(CH_MAX(n, 1u), sizeof(bool));
  uint32_t *remap = NULL; /* prev id -> id here; CH_NONE: changed, gone */
  if(prev && prev->n) {
    remap = ch_malloc(prev->n * sizeof(uint32_t));
    uint32_t i = 0;
    for(uint32_t j = 0; j < prev->n; j++) {
      int c = 1;
      while(i < n && (c = strcmp(files[i].abs, prev->files[j].abs)) < 0) i++;
      if(i == n) c = 1;
      remap[j] = CH_NONE;
      if(c == 0 && files[i].rec == prev->files[j].rec) {
        remap[j] = i;
        kept[i] = true;
      }
    }
  }
  size_t nnames = 0, nfresh = 0;
  for(uint32_t i = 0; i < n; i++) {
    nnames += files[i].rec->ndefs;
    if(!kept[i]) nfresh += files[i].rec->ndefs;
  }
  name_entry *fresh = ch_malloc(CH_MAX(nfresh, (size_t)1) * sizeof(*fresh));
  size_t f = 0;
  for(uint32_t i = 0; i < n; i++) {
    const ch_record *rec = files[i].rec;
    for(uint32_t d = 0; !kept[i] && d < rec->ndefs; d++)
      fresh[f++] = (name_entry){ch_record_str(rec, rec->defs[d].name), i, d};
  }
  if(nfresh > 1) qsort(fresh, nfresh, sizeof(*fresh), cmp_name);
  b->names = ch_malloc(CH_MAX(nnames, (size_t)1) * sizeof(*b->names));
  size_t o = 0, w = 0;
  f = 0;
  for(;;) {
    /* The next name of prev that is kept, renumbered. */
    name_entry old = {NULL, 0, 0};
    while(remap && o < prev->nnames && !old.name) {
      const name_entry *e = &prev->names[o];
      if(remap[e->file] != CH_NONE)
        old = (name_entry){e->name, remap[e->file], e->def};
      else o++;
    }
    if(!old.name && f == nfresh) break;
    if(old.name && (f == nfresh || cmp_name(&old, &fresh[f]) <= 0)) {
      b->names[w++] = old;
      o++;
    } else {
      b->names[w++] = fresh[f++];
    }
  }
  b->nnames = w;
  ch_free(fresh);
  ch_free(remap);
  ch_free(kept);
}

/* Builds a base over files (taken: the array and its references). prev,
 * when not NULL, is an older base whose work may be reused. */
static base *base_build(file_entry *files, uint32_t n, char **roots,
                        uint32_t nroots, const base *prev) {
  base *b = ch_calloc(1, sizeof(*b));
  b->refs = 1;
  b->roots = roots;
  b->nroots = nroots;
  qsort(files, n, sizeof(*files), cmp_file);
  b->files = files;
  b->n = n;
  ch_map_init(&b->by_path);
  ch_map_init(&b->by_base);
  ch_map_init(&b->by_dir);
  ch_map_init(&b->small_files);
  ch_buf dir;
  ch_buf_init(&dir, 1 << 16);
  for(uint32_t i = 0; i < n; i++) {
    const file_entry *f = &files[i];
    ch_map_put(&b->by_path, f->abs, (void *)(uintptr_t)(i + 1));
    map_push(&b->by_base, basename_of(f->abs), i);
    const char *slash = strrchr(f->abs, '/');
    ch_buf_reset(&dir);
    ch_buf_append(&dir, f->abs, slash && slash > f->abs ? (size_t)(slash - f->abs) : 1);
    map_push(&b->by_dir, dir.data, i);
  }
  ch_buf_release(&dir);
  build_names(b, prev);

  /* Imports, resolved against this base alone. */
  ch_snapshot view = {.refs = 1, .b = b, .roots = roots, .nroots = nroots};
  b->imp_off = ch_malloc((n + 1) * sizeof(uint32_t));
  b->unresolved = ch_calloc(CH_MAX(n, 1u), sizeof(uint32_t));
  idvec all = {0};
  uint32_t *counts = ch_calloc(n + 1, sizeof(uint32_t));
  for(uint32_t i = 0; i < n; i++) {
    b->imp_off[i] = all.n;
    idvec one = {0};
    resolve_all(&view, files[i].root, files[i].rec, &one, &b->unresolved[i]);
    for(uint32_t k = 0; k < one.n; k++) {
      idvec_push(&all, one.v[k]);
      counts[one.v[k]]++;
    }
    ch_free(one.v);
  }
  b->imp_off[n] = all.n;
  b->imp_ids = all.v ? all.v : ch_malloc(sizeof(uint32_t));
  /* Reverse rows by counting sort. */
  b->rev_off = ch_malloc((n + 1) * sizeof(uint32_t));
  uint32_t sum = 0;
  for(uint32_t i = 0; i < n; i++) {
    b->rev_off[i] = sum;
    sum += counts[i];
  }
  b->rev_off[n] = sum;
  b->rev_ids = ch_malloc(CH_MAX(sum, 1u) * sizeof(uint32_t));
  memset(counts, 0, (n + 1) * sizeof(uint32_t));
  for(uint32_t i = 0; i < n; i++)
    for(uint32_t k = b->imp_off[i]; k < b->imp_off[i + 1]; k++) {
      uint32_t t = b->imp_ids[k];
      b->rev_ids[b->rev_off[t] + counts[t]++] = i;
    }
  ch_free(counts);
  return b;
}

static base *base_empty(void) {
  return base_build(ch_malloc(sizeof(file_entry)), 0,
                    ch_malloc(sizeof(char *)), 0, NULL);
}

/* ---- the index ------------------------------------------------------------ */

typedef enum job_kind { JOB_WALK, JOB_FILE, JOB_DOC, JOB_REBUILD } job_kind;

typedef struct job {
  job_kind kind;
  char *path; /* root (walk) or absolute file path */
  /* A file job from a walk: what the walk's check of the file found, so
   * the worker need not check it again before reading it. */
  const ch_language *lang; /* NULL: check the file first */
  uint64_t size;
  int64_t mtime_ns;
  struct job *next;
} job;

typedef struct root {
  char *path;
  size_t len;
  bool walking;   /* first walk not finished */
  size_t pending; /* file jobs of this root queued or running */
  bool save_due;  /* save the cache when pending reaches 0 */
  bool cache_dirty; /* records differ from what the cache file holds */
  ch_map cached;  /* abs -> ch_record* loaded from the cache, until used */
  ch_ignore *ignore; /* for ch_index_file_changed; under the lock */
} root;

typedef struct disk_entry {
  ch_record *rec;
  uint32_t root;
} disk_entry;

/* An open document. One parse at a time per document, so results land in
 * order. `edits` holds every edit since the text `tree` was parsed from;
 * the newest text not yet parsed includes the first `text_edits` of them,
 * so a job edits a copy of the tree with exactly those before reparsing. */
typedef struct doc {
  const ch_language *lang;
  TSTree *tree;       /* of the last parsed text; NULL before the first */
  TSInputEdit *edits; /* since `tree`'s text */
  size_t nedits, edits_cap;
  char *text; /* newest text not yet taken by a job; owned */
  uint32_t len;
  size_t text_edits; /* edits included in `text` */
  int64_t version;
  uint64_t generation; /* bumped by ch_index_doc_open */
  bool queued, running;
  ch_record *rec; /* newest record */
} doc;

struct ch_index {
  ch_index_options opts;
  char **globs; /* copies of opts.ignore_globs */
  char *cache_dir;
  bool no_cache;

  pthread_mutex_t lock;
  pthread_cond_t work_cv; /* jobs queued, or stopping */
  pthread_cond_t idle_cv; /* work finished */
  job *head, *tail;
  size_t njobs;
  int running;
  int saving; /* workers writing a cache file (lock let go meanwhile) */
  bool stopping;
  pthread_t *threads;
  int nthreads;

  root *roots;
  uint32_t nroots;
  ch_map disk;   /* abs -> disk_entry* */
  ch_map docs;   /* abs -> doc* */
  /* abs -> its file job while queued, FILE_RUNNING while a worker runs
   * it: a change reported meanwhile is coalesced into that job. */
  ch_map queued;

  ch_snapshot *current;
  ch_map dirty; /* abs -> generation of the last change */
  uint64_t gen;
  bool rebuild_queued;
  bool publish_due;
  uint64_t last_publish_ms;
  uint64_t next_rebuild_ms; /* earliest rebuild while jobs are queued */
  /* The current run of work: when it started (0: none) and files_done
   * then, to tell when the queue will be empty. */
  uint64_t batch_ms;
  size_t batch_done;

  ch_index_stats stats;
};

static void notify_change(ch_index *self) {
  if(self->opts.on_change) self->opts.on_change(self->opts.userdata);
}

/* The value of a path in ch_index.queued while its job runs. */
static char file_running;
#define FILE_RUNNING ((void *)&file_running)

/* Queues a job; returns it for the caller to fill in (lock held). */
static job *push_job(ch_index *self, job_kind kind, const char *path) {
  job *j = ch_calloc(1, sizeof(*j));
  j->kind = kind;
  j->path = path ? ch_strdup(path) : NULL;
  if(kind == JOB_REBUILD || kind == JOB_DOC) {
    /* Ahead of the bulk: the user waits for these. */
    j->next = self->head;
    self->head = j;
    if(!self->tail) self->tail = j;
  } else if(self->tail) {
    self->tail->next = j;
    self->tail = j;
  } else {
    self->head = self->tail = j;
  }
  self->njobs++;
  pthread_cond_signal(&self->work_cv);
  return j;
}

/* Root index of an absolute path: the longest root containing it. */
static uint32_t find_root(const ch_index *self, const char *abs) {
  uint32_t best = CH_NONE;
  size_t best_len = 0;
  for(uint32_t i = 0; i < self->nroots; i++) {
    const root *r = &self->roots[i];
    if(!r->path) continue;
    if(strncmp(abs, r->path, r->len) != 0) continue;
    if(r->len > 1 && abs[r->len] != '/') continue;
    if(r->len > best_len) {
      best = i;
      best_len = r->len;
    }
  }
  return best;
}

static void mark_dirty(ch_index *self, const char *abs) {
  self->gen++;
  ch_map_put(&self->dirty, abs, (void *)(uintptr_t)self->gen);
  self->publish_due = true;
}

/* The record a path has now: the open document's, else the disk's. */
static ch_record *effective(ch_index *self, const char *abs, uint32_t *root_out) {
  doc *d = ch_map_get(&self->docs, abs);
  disk_entry *e = ch_map_get(&self->disk, abs);
  *root_out = e ? e->root : find_root(self, abs);
  if(d && d->rec) return d->rec;
  return e ? e->rec : NULL;
}

static int cmp_def_name(const void *a, const void *b, void *arg) {
  const ch_record *rec = arg;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  int c = strcmp(ch_record_str(rec, rec->defs[x].name),
                 ch_record_str(rec, rec->defs[y].name));
  /* Same name: source order, as a scan would find them. */
  return c ? c : (x > y) - (x < y);
}

/* The overlay entry's definitions sorted by name, so that finding a name
 * in it is a binary search, not a scan (a large generated header has tens
 * of thousands, and a file changed during the last base rebuild stays in
 * the overlay). Taken from the previous snapshot when the record is the
 * same one, as it is for every file but the edited one. */
static void overlay_sort_names(const ch_snapshot *prev, overlay_entry *o) {
  const ch_record *rec = o->rec;
  if(!rec || !rec->ndefs) return;
  o->by_name = ch_malloc(rec->ndefs * sizeof(uint32_t));
  for(uint32_t k = 0; prev && k < prev->nov; k++)
    if(prev->ov[k].rec == rec && prev->ov[k].by_name) {
      memcpy(o->by_name, prev->ov[k].by_name,
             rec->ndefs * sizeof(uint32_t));
      return;
    }
  for(uint32_t d = 0; d < rec->ndefs; d++) o->by_name[d] = d;
  qsort_r(o->by_name, rec->ndefs, sizeof(uint32_t), cmp_def_name,
          (void *)rec);
}

static int cmp_overlay(const void *a, const void *b) {
  return strcmp(((const overlay_entry *)a)->abs,
                ((const overlay_entry *)b)->abs);
}

/* Whether the queued jobs will be done within REBUILD_INTERVAL_MS at the
 * pace of the current run of work, the walks being over. Lock held. */
static bool ending_soon(const ch_index *self, uint64_t now) {
  for(uint32_t r = 0; r < self->nroots; r++)
    if(self->roots[r].path && self->roots[r].walking) return false;
  size_t done = self->stats.files_done - self->batch_done;
  if(!self->batch_ms || !done) return false;
  return (uint64_t)self->njobs * (now - self->batch_ms) / done <
         REBUILD_INTERVAL_MS;
}

/* Publishes current base + dirty paths as a new snapshot. Lock held.
 * When too many paths are dirty for an overlay, a base rebuild is queued
 * instead, which publishes. While files are still queued a rebuild waits
 * for next_rebuild_ms, so a first indexing spends its time parsing, and
 * is left out when the queue will be empty soon: the rebuild then comes
 * with all the files. */
static void publish(ch_index *self, base *b) {
  if(self->dirty.len > OVERLAY_MAX) {
    self->publish_due = false;
    uint64_t now = ch_now_ms();
    if(!self->rebuild_queued &&
       (!self->head ||
        (now >= self->next_rebuild_ms && !ending_soon(self, now)))) {
      self->rebuild_queued = true;
      push_job(self, JOB_REBUILD, NULL);
    }
    return;
  }
  ch_snapshot *s = ch_calloc(1, sizeof(*s));
  s->refs = 1;
  s->b = base_ref(b);
  bool same = b->nroots == self->nroots;
  for(uint32_t i = 0; same && i < self->nroots; i++)
    same = strcmp(b->roots[i], self->roots[i].path ? self->roots[i].path : "") == 0;
  if(same) {
    s->roots = b->roots;
  } else {
    s->own_roots = true;
    s->roots = ch_malloc(CH_MAX(self->nroots, 1u) * sizeof(char *));
    for(uint32_t i = 0; i < self->nroots; i++)
      s->roots[i] = ch_strdup(self->roots[i].path ? self->roots[i].path : "");
  }
  s->nroots = self->nroots;
  s->nov = (uint32_t)self->dirty.len;
  s->ov = ch_calloc(CH_MAX(s->nov, 1u), sizeof(*s->ov));
  size_t it = 0, i = 0;
  const char *key;
  while(ch_map_next(&self->dirty, &it, &key, NULL)) {
    overlay_entry *o = &s->ov[i++];
    o->abs = ch_strdup(key);
    o->rec = ch_record_ref(effective(self, key, &o->root));
    uintptr_t v = (uintptr_t)ch_map_get(&b->by_path, key);
    o->base_id = v ? (uint32_t)(v - 1) : CH_NONE;
    overlay_sort_names(self->current, o);
  }
  qsort(s->ov, s->nov, sizeof(*s->ov), cmp_overlay);
  s->masked = ch_malloc(CH_MAX(s->nov, 1u) * sizeof(uint32_t));
  s->masked_to = ch_malloc(CH_MAX(s->nov, 1u) * sizeof(uint32_t));
  for(uint32_t k = 0; k < s->nov; k++) {
    if(s->ov[k].base_id == CH_NONE) continue;
    /* insertion keeps masked sorted; nov is small */
    uint32_t at = s->nmasked++;
    while(at > 0 && s->masked[at - 1] > s->ov[k].base_id) {
      s->masked[at] = s->masked[at - 1];
      s->masked_to[at] = s->masked_to[at - 1];
      at--;
    }
    s->masked[at] = s->ov[k].base_id;
    s->masked_to[at] = s->ov[k].rec ? b->n + k : CH_NONE;
  }
  for(uint32_t k = 0; k < s->nov; k++) {
    overlay_entry *o = &s->ov[k];
    if(!o->rec) continue;
    idvec ids = {0};
    resolve_all(s, o->root, o->rec, &ids, &o->unresolved);
    o->imports = ids.v;
    o->nimports = ids.n;
  }
  ch_snapshot *old = self->current;
  self->current = s;
  self->publish_due = false;
  self->last_publish_ms = ch_now_ms();
  ch_snapshot_unref(old);
}

/* Rebuilds the base from every record; runs on a worker, mostly unlocked. */
static void rebuild(ch_index *self) {
  uint64_t t0 = ch_now_ms();
  pthread_mutex_lock(&self->lock);
  uint64_t gen0 = self->gen;
  uint32_t n = 0, cap = (uint32_t)(self->disk.len + self->docs.len) + 1;
  file_entry *files = ch_malloc(cap * sizeof(*files));
  size_t it = 0;
  const char *key;
  void *value;
  while(ch_map_next(&self->disk, &it, &key, &value)) {
    uint32_t r;
    ch_record *rec = effective(self, key, &r);
    files[n++] = (file_entry){ch_record_ref(rec), ch_strdup(key), r};
  }
  it = 0;
  while(ch_map_next(&self->docs, &it, &key, &value)) {
    doc *d = value;
    if(!d->rec || ch_map_get(&self->disk, key)) continue;
    files[n++] = (file_entry){ch_record_ref(d->rec), ch_strdup(key),
                              find_root(self, key)};
  }
  uint32_t nroots = self->nroots;
  char **roots = ch_malloc(CH_MAX(nroots, 1u) * sizeof(char *));
  for(uint32_t i = 0; i < nroots; i++)
    roots[i] = ch_strdup(self->roots[i].path ? self->roots[i].path : "");
  base *prev = base_ref(self->current->b);
  pthread_mutex_unlock(&self->lock);

  /* Files whose root is unknown (open documents outside every root) get
   * the pseudo-root "/" through an index past the real roots. */
  for(uint32_t i = 0; i < n; i++)
    if(files[i].root == CH_NONE) files[i].root = nroots;
  base *b = base_build(files, n, roots, nroots, prev);
  base_unref(prev);

  pthread_mutex_lock(&self->lock);
  /* Paths changed while building stay dirty; the rest is in the base. */
  size_t pos = 0;
  const char **done = ch_malloc(CH_MAX(self->dirty.len, (size_t)1) * sizeof(char *));
  size_t ndone = 0;
  it = 0;
  while(ch_map_next(&self->dirty, &it, &key, &value))
    if((uint64_t)(uintptr_t)value <= gen0) done[ndone++] = key;
  for(pos = 0; pos < ndone; pos++) {
    char *k = ch_strdup(done[pos]);
    ch_map_remove(&self->dirty, k);
    ch_free(k);
  }
  ch_free(done);
  self->rebuild_queued = false;
  uint64_t t1 = ch_now_ms();
  ch_log_debug("index: base of %u files rebuilt in %llu ms", b->n,
               (unsigned long long)(t1 - t0));
  self->next_rebuild_ms = t1 + CH_MAX((uint64_t)REBUILD_INTERVAL_MS,
                                      REBUILD_COST_FACTOR * (t1 - t0));
  if(self->dirty.len > OVERLAY_MAX) {
    /* Many changes arrived while building: publish the new base alone and
     * let the next publish decide about another rebuild. */
    ch_map saved = self->dirty;
    ch_map_init(&self->dirty);
    publish(self, b);
    ch_map_release(&self->dirty, NULL);
    self->dirty = saved;
    self->publish_due = true;
  } else {
    publish(self, b);
  }
  base_unref(b);
  pthread_mutex_unlock(&self->lock);
}

/* ---- reading and extracting ----------------------------------------------- */

/* A worker's buffer for file text, reused from file to file so that
 * reading costs no allocation (nor the heap consolidation that a large
 * malloc and free per file set off). */
typedef struct readbuf {
  char *data;
  size_t cap;
} readbuf;

/* Past this, the buffer is given back after the file, so one large file
 * does not pin its size in every worker. */
#define READBUF_KEEP ((size_t)2 << 20)

static void readbuf_reserve(readbuf *self, size_t want) {
  if(self->cap >= want) return;
  size_t cap = CH_MAX(self->cap, (size_t)64 << 10);
  while(cap < want) cap *= 2;
  ch_free(self->data); /* nothing to keep: no realloc copy */
  self->data = ch_malloc(cap);
  self->cap = cap;
}

static void readbuf_release(readbuf *self) {
  ch_free(self->data);
  self->data = NULL;
  self->cap = 0;
}

/* Reads a regular file of at most max bytes into rb, NUL-terminated; the
 * size and mtime come from the descriptor it was read through. false when
 * it is missing, not a regular file, too large or unreadable. */
static bool read_file(readbuf *rb, const char *path, uint64_t max,
                      uint32_t *len, int64_t *mtime_ns) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) return false;
  struct stat st;
  if(fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
    close(fd);
    return false;
  }
  /* One byte past the size: a read that fills it means the file grew. */
  readbuf_reserve(rb, (size_t)st.st_size + 2);
  size_t n = 0;
  for(;;) {
    if(n + 1 >= rb->cap) { /* grew while we read */
      if(rb->cap > max + 1) break;
      char *bigger = ch_malloc(rb->cap * 2);
      memcpy(bigger, rb->data, n);
      ch_free(rb->data);
      rb->data = bigger;
      rb->cap *= 2;
    }
    ssize_t got = read(fd, rb->data + n, rb->cap - 1 - n);
    if(got < 0 && errno == EINTR) continue;
    if(got <= 0) break;
    n += (size_t)got;
  }
  close(fd);
  if(n > max) return false;
  rb->data[n] = 0;
  *len = (uint32_t)n;
  *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}

/* Relative path of abs within root r ("/" roots keep all but the slash). */
static const char *rel_in(const root *r, const char *abs) {
  if(r && r->len > 1 && strncmp(abs, r->path, r->len) == 0 && abs[r->len] == '/')
    return abs + r->len + 1;
  return abs[0] == '/' ? abs + 1 : abs;
}

/* Sets (or with rec NULL removes) the disk record of a path. from_cache:
 * the record came from the cache file, which therefore stays current. */
static void set_disk(ch_index *self, const char *abs, uint32_t r,
                     ch_record *rec, bool from_cache) {
  disk_entry *e = ch_map_get(&self->disk, abs);
  if(!rec) {
    if(e) {
      if(e->root < self->nroots) self->roots[e->root].cache_dirty = true;
      ch_map_remove(&self->disk, abs);
      ch_record_unref(e->rec);
      ch_free(e);
      mark_dirty(self, abs);
    }
    return;
  }
  if(!from_cache && r < self->nroots) self->roots[r].cache_dirty = true;
  if(e) {
    ch_record_unref(e->rec);
  } else {
    e = ch_calloc(1, sizeof(*e));
    ch_map_put(&self->disk, abs, e);
  }
  e->rec = rec;
  e->root = r;
  mark_dirty(self, abs);
}

static void root_file_done(ch_index *self, uint32_t r) {
  if(r == CH_NONE || r >= self->nroots) return;
  root *rt = &self->roots[r];
  if(rt->pending) rt->pending--;
}

/* Indexes one file. A job from a walk carries the walk's check of the
 * file (language, size, mtime), which is not redone; other jobs (a change
 * on disk) check the file first. */
static void do_file(ch_index *self, ch_extractor *ex, readbuf *rb,
                    const job *j) {
  const char *abs = j->path;
  ch_walk_entry entry;
  ch_status st = CH_OK;
  if(j->lang) {
    memset(&entry, 0, sizeof(entry));
    entry.lang = j->lang;
    entry.size = j->size;
    entry.mtime_ns = j->mtime_ns;
  } else {
    ch_walk_options wo = {self->opts.max_file_bytes,
                          (const char *const *)self->globs, NULL};
    st = ch_workspace_check_file(abs, &wo, &entry);
  }
  ch_record *rec = NULL;
  pthread_mutex_lock(&self->lock);
  uint32_t r = find_root(self, abs);
  const char *rel = rel_in(r == CH_NONE ? NULL : &self->roots[r], abs);
  char *rel_copy = ch_strdup(rel);
  /* A cached record for the same size and mtime is as good as a parse. */
  ch_record *cached = NULL;
  if(!st && r != CH_NONE) {
    cached = ch_map_remove(&self->roots[r].cached, abs);
    if(cached && (cached->size != entry.size || cached->mtime_ns != entry.mtime_ns)) {
      ch_record_unref(cached);
      cached = NULL;
    }
  }
  pthread_mutex_unlock(&self->lock);

  if(cached) {
    rec = cached;
  } else if(!st) {
    uint64_t max = self->opts.max_file_bytes ? self->opts.max_file_bytes
                                             : CH_WALK_DEFAULT_MAX_BYTES;
    uint32_t len = 0;
    int64_t mtime_ns = 0;
    if(read_file(rb, abs, max, &len, &mtime_ns)) {
      ch_status error = CH_OK;
      rec = ch_extract(ex, entry.lang, rel_copy, rb->data, len, NULL, NULL,
                       &error);
      /* The time of the text read, which may be newer than the check's. */
      if(rec) rec->mtime_ns = mtime_ns;
      else ch_log_debug("index: %s: %s", abs, ch_strerror(error));
    }
    if(rb->cap > READBUF_KEEP) readbuf_release(rb);
  }
  ch_free(rel_copy);

  pthread_mutex_lock(&self->lock);
  ch_map_remove(&self->queued, abs);
  if(r != CH_NONE) {
    self->stats.files_done++;
    if(cached)
      self->stats.cache_hits++;
    else if(rec)
      self->stats.parsed++;
    else if(!st)
      self->stats.failed++;
    if(rec) self->stats.bytes += rec->size;
    set_disk(self, abs, r, rec, cached != NULL);
  }
  root_file_done(self, r);
  pthread_mutex_unlock(&self->lock);
}

static void do_doc(ch_index *self, ch_extractor *ex, const char *abs) {
  pthread_mutex_lock(&self->lock);
  doc *d = ch_map_get(&self->docs, abs);
  if(d) d->queued = false;
  if(!d || !d->text || d->running) {
    /* Nothing new, or a parse is running: it requeues when it ends. */
    pthread_mutex_unlock(&self->lock);
    return;
  }
  char *text = d->text;
  uint32_t len = d->len;
  size_t used = d->text_edits;
  uint64_t generation = d->generation;
  d->text = NULL;
  d->text_edits = 0;
  d->running = true;
  TSTree *old = d->tree ? ts_tree_copy(d->tree) : NULL;
  for(size_t i = 0; old && i < used; i++) ts_tree_edit(old, &d->edits[i]);
  const ch_language *lang = d->lang;
  uint32_t r = find_root(self, abs);
  char *rel = ch_strdup(rel_in(r == CH_NONE ? NULL : &self->roots[r], abs));
  pthread_mutex_unlock(&self->lock);

  TSTree *tree = NULL;
  ch_status error = CH_OK;
  ch_record *rec = ch_extract(ex, lang, rel, text, len, old, &tree, &error);
  if(old) ts_tree_delete(old);
  ch_free(text);
  ch_free(rel);

  pthread_mutex_lock(&self->lock);
  d = ch_map_get(&self->docs, abs);
  if(d && d->generation == generation) {
    d->running = false;
    /* The edits this parse consumed are history now. */
    if(used) {
      memmove(d->edits, d->edits + used,
              (d->nedits - used) * sizeof(*d->edits));
      d->nedits -= used;
    }
    if(rec) {
      if(d->tree) ts_tree_delete(d->tree);
      d->tree = tree;
      tree = NULL;
      ch_record_unref(d->rec);
      d->rec = rec;
      rec = NULL;
      mark_dirty(self, abs);
    } else {
      ch_log_debug("index: %s: %s", abs, ch_strerror(error));
    }
  } else if(d) {
    d->running = false; /* reopened meanwhile: this result is stale */
  }
  if(d && d->text && !d->queued) {
    d->queued = true;
    push_job(self, JOB_DOC, abs);
  }
  if(tree) ts_tree_delete(tree);
  ch_record_unref(rec);
  pthread_mutex_unlock(&self->lock);
}

typedef struct walk_ctx {
  ch_index *self;
  uint32_t r;
} walk_ctx;

static void on_walk_file(const ch_walk_entry *e, void *ud) {
  walk_ctx *w = ud;
  ch_index *self = w->self;
  pthread_mutex_lock(&self->lock);
  self->stats.files_seen++;
  root *rt = &self->roots[w->r];
  ch_record *cached = ch_map_get(&rt->cached, e->abs_path);
  disk_entry *have = ch_map_get(&self->disk, e->abs_path);
  if(have && have->rec->size == e->size && have->rec->mtime_ns == e->mtime_ns) {
    self->stats.files_done++; /* already current (a re-walk) */
  } else if(cached && cached->size == e->size && cached->mtime_ns == e->mtime_ns) {
    ch_map_remove(&rt->cached, e->abs_path);
    self->stats.files_done++;
    self->stats.cache_hits++;
    self->stats.bytes += cached->size;
    set_disk(self, e->abs_path, w->r, cached, true);
  } else if(!ch_map_get(&self->queued, e->abs_path)) {
    rt->pending++;
    job *j = push_job(self, JOB_FILE, e->abs_path);
    j->lang = e->lang;
    j->size = e->size;
    j->mtime_ns = e->mtime_ns;
    ch_map_put(&self->queued, e->abs_path, j);
  }
  if(self->publish_due && ch_now_ms() - self->last_publish_ms > PUBLISH_INTERVAL_MS) {
    publish(self, self->current->b);
    pthread_mutex_unlock(&self->lock);
    notify_change(self);
    return;
  }
  pthread_mutex_unlock(&self->lock);
}

static bool walk_cancelled(void *ud) {
  walk_ctx *w = ud;
  return w->self->stopping;
}

/* The cache file of a root: the default path (chorus/cache.h), or the same
 * file name inside options.cache_dir. NULL when no path can be made. */
static char *cache_file(const ch_index *self, const char *root_path) {
  char *def = ch_cache_path(root_path);
  if(!self->cache_dir) return def;
  char *path = ch_strdupf("%s/%s", self->cache_dir,
                          def ? strrchr(def, '/') + 1 : "index.idx");
  ch_free(def);
  return path;
}

static void do_walk(ch_index *self, const char *root_path) {
  pthread_mutex_lock(&self->lock);
  uint32_t r = CH_NONE;
  for(uint32_t i = 0; i < self->nroots; i++)
    if(self->roots[i].path && strcmp(self->roots[i].path, root_path) == 0) r = i;
  if(r == CH_NONE) {
    pthread_mutex_unlock(&self->lock);
    return;
  }
  bool load_cache = self->roots[r].walking && !self->no_cache;
  pthread_mutex_unlock(&self->lock);

  if(load_cache) {
    char *path = cache_file(self, root_path);
    ch_record **recs = NULL;
    size_t n = 0;
    ch_status st = path ? ch_cache_load(path, root_path, &recs, &n) : CH_ERR_NOT_FOUND;
    if(st && st != CH_ERR_NOT_FOUND)
      ch_log_info("index cache for %s ignored: %s", root_path, ch_strerror(st));
    pthread_mutex_lock(&self->lock);
    for(size_t i = 0; i < n; i++) {
      char *abs = ch_strdupf("%s/%s", root_path, recs[i]->path);
      ch_record_unref(ch_map_put(&self->roots[r].cached, abs, recs[i]));
      ch_free(abs);
    }
    pthread_mutex_unlock(&self->lock);
    ch_free(recs);
    ch_free(path);
  }

  walk_ctx w = {self, r};
  ch_walk_options wo = {self->opts.max_file_bytes,
                        (const char *const *)self->globs, walk_cancelled};
  ch_walk_stats ws;
  memset(&ws, 0, sizeof(ws));
  uint64_t t0 = ch_now_ms();
  ch_status st = ch_workspace_walk(root_path, &wo, on_walk_file, &w, &ws);
  if(st && st != CH_ERR_CANCELLED)
    ch_log_warn("cannot index %s: %s", root_path, ch_strerror(st));
  ch_log_info("walked %s: %zu files to index (%zu ignored, %zu binary, %zu "
              "too large, %zu unreadable) in %llu ms",
              root_path, ws.files, ws.ignored, ws.binary, ws.too_large,
              ws.unreadable, (unsigned long long)(ch_now_ms() - t0));

  pthread_mutex_lock(&self->lock);
  root *rt = &self->roots[r];
  /* Cached files the walk did not meet are gone: drop them; files indexed
   * before under this root that the walk did not meet too (a re-walk). */
  if(rt->cached.len) rt->cache_dirty = true; /* files deleted meanwhile */
  ch_map_release(&rt->cached, (void (*)(void *))ch_record_unref);
  rt->walking = false;
  rt->save_due = true; /* when its files are done, and only if dirty */
  pthread_mutex_unlock(&self->lock);
}

static void save_root_cache(ch_index *self, uint32_t r) {
  /* Lock held on entry and exit; released while writing. */
  root *rt = &self->roots[r];
  if(self->no_cache || !rt->path) return;
  rt->cache_dirty = false;
  size_t n = 0, cap = self->disk.len + 1;
  ch_record **recs = ch_malloc(cap * sizeof(*recs));
  size_t it = 0;
  void *value;
  while(ch_map_next(&self->disk, &it, NULL, &value)) {
    disk_entry *e = value;
    if(e->root == r) recs[n++] = ch_record_ref(e->rec);
  }
  char *root_path = ch_strdup(rt->path);
  pthread_mutex_unlock(&self->lock);
  char *path = cache_file(self, root_path);
  if(path) {
    ch_status st = ch_cache_save(path, root_path, recs, n);
    if(st) ch_log_warn("cannot save the index cache %s: %s", path, ch_strerror(st));
  }
  for(size_t i = 0; i < n; i++) ch_record_unref(recs[i]);
  ch_free(recs);
  ch_free(path);
  ch_free(root_path);
  pthread_mutex_lock(&self->lock);
}

static void *worker_main(void *arg) {
  ch_index *self = arg;
  ch_extractor *ex = ch_extractor_new();
  readbuf rb = {NULL, 0};
  pthread_mutex_lock(&self->lock);
  for(;;) {
    while(!self->head && !self->stopping) {
      /* Idle: the read buffer goes back first (so that the trim after a
       * first indexing returns it too); publish what is pending, save
       * caches of finished roots. */
      readbuf_release(&rb);
      if(self->publish_due) {
        publish(self, self->current->b);
        pthread_mutex_unlock(&self->lock);
        notify_change(self);
        pthread_mutex_lock(&self->lock);
        continue;
      }
      /* A root whose files are all done is saved even while another
       * worker runs a job (the final rebuild of a first indexing): its
       * records cannot change until a new job for it is queued. */
      bool saved = false;
      for(uint32_t r = 0; r < self->nroots; r++) {
        root *rt = &self->roots[r];
        if(rt->save_due && !rt->walking && rt->pending == 0) {
          rt->save_due = false;
          /* The lock is let go while writing: ch_index_wait_idle must
           * still wait for the file (the stats' idle does not: readers
           * have all there is). */
          self->saving++;
          if(rt->cache_dirty) save_root_cache(self, r);
          /* The first indexing left garbage in the workers' malloc
           * arenas; give it back to the system. */
          pthread_mutex_unlock(&self->lock);
          malloc_trim(0);
          pthread_mutex_lock(&self->lock);
          self->saving--;
          saved = true;
        }
      }
      if(saved) continue;
      if(self->running == 0) self->batch_ms = 0;
      if(self->running == 0 && self->saving == 0)
        pthread_cond_broadcast(&self->idle_cv);
      pthread_cond_wait(&self->work_cv, &self->lock);
    }
    if(self->stopping) break;
    job *j = self->head;
    self->head = j->next;
    if(!self->head) self->tail = NULL;
    self->njobs--;
    self->running++;
    if(!self->batch_ms) {
      self->batch_ms = ch_now_ms();
      self->batch_done = self->stats.files_done;
    }
    /* From now on the job is the worker's alone. */
    if(j->kind == JOB_FILE && ch_map_get(&self->queued, j->path) == j)
      ch_map_put(&self->queued, j->path, FILE_RUNNING);
    pthread_mutex_unlock(&self->lock);

    switch(j->kind) {
    case JOB_WALK: do_walk(self, j->path); break;
    case JOB_FILE: do_file(self, ex, &rb, j); break;
    case JOB_DOC: do_doc(self, ex, j->path); break;
    case JOB_REBUILD: rebuild(self); break;
    }
    ch_free(j->path);
    ch_free(j);

    pthread_mutex_lock(&self->lock);
    self->running--;
    bool notify = false;
    if(self->publish_due &&
       (!self->head || ch_now_ms() - self->last_publish_ms > PUBLISH_INTERVAL_MS)) {
      publish(self, self->current->b);
      notify = true;
    }
    if(notify) {
      pthread_mutex_unlock(&self->lock);
      notify_change(self);
      pthread_mutex_lock(&self->lock);
    }
  }
  pthread_mutex_unlock(&self->lock);
  readbuf_release(&rb);
  ch_extractor_free(ex);
  return NULL;
}

/* ---- public API ------------------------------------------------------------ */

ch_index *ch_index_new(const ch_index_options *options, ch_status *error) {
  ch_index *self = ch_calloc(1, sizeof(*self));
  if(options) self->opts = *options;
  size_t nglobs = 0;
  while(options && options->ignore_globs && options->ignore_globs[nglobs]) nglobs++;
  self->globs = ch_calloc(nglobs + 1, sizeof(char *));
  for(size_t i = 0; i < nglobs; i++) self->globs[i] = ch_strdup(options->ignore_globs[i]);
  self->opts.ignore_globs = NULL;
  if(options && options->cache_dir) {
    if(options->cache_dir[0])
      self->cache_dir = ch_strdup(options->cache_dir);
    else
      self->no_cache = true;
  }
  pthread_mutex_init(&self->lock, NULL);
  pthread_cond_init(&self->work_cv, NULL);
  pthread_cond_init(&self->idle_cv, NULL);
  ch_map_init(&self->disk);
  ch_map_init(&self->docs);
  ch_map_init(&self->queued);
  ch_map_init(&self->dirty);
  base *b = base_empty();
  self->current = ch_calloc(1, sizeof(ch_snapshot));
  self->current->refs = 1;
  self->current->b = b;
  int n = self->opts.workers;
  if(n <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? (int)cpus : 1;
  }
  self->threads = ch_calloc((size_t)n, sizeof(pthread_t));
  for(int i = 0; i < n; i++) {
    if(pthread_create(&self->threads[i], NULL, worker_main, self) != 0) break;
    self->nthreads++;
  }
  if(!self->nthreads) {
    if(error) *error = CH_ERR_IO;
    ch_index_free(self);
    return NULL;
  }
  return self;
}

static void doc_free(void *p) {
  doc *d = p;
  if(!d) return;
  if(d->tree) ts_tree_delete(d->tree);
  ch_free(d->edits);
  ch_free(d->text);
  ch_record_unref(d->rec);
  ch_free(d);
}

static void disk_free(void *p) {
  disk_entry *e = p;
  ch_record_unref(e->rec);
  ch_free(e);
}

void ch_index_free(ch_index *self) {
  if(!self) return;
  pthread_mutex_lock(&self->lock);
  self->stopping = true;
  pthread_cond_broadcast(&self->work_cv);
  pthread_mutex_unlock(&self->lock);
  for(int i = 0; i < self->nthreads; i++) pthread_join(self->threads[i], NULL);
  ch_free(self->threads);
  ch_index_save_cache(self); /* roots whose records changed; workers gone */
  while(self->head) {
    job *j = self->head;
    self->head = j->next;
    ch_free(j->path);
    ch_free(j);
  }
  for(uint32_t r = 0; r < self->nroots; r++) {
    ch_free(self->roots[r].path);
    ch_map_release(&self->roots[r].cached, (void (*)(void *))ch_record_unref);
    ch_ignore_free(self->roots[r].ignore);
  }
  ch_free(self->roots);
  ch_map_release(&self->disk, disk_free);
  ch_map_release(&self->docs, doc_free);
  ch_map_release(&self->queued, NULL);
  ch_map_release(&self->dirty, NULL);
  ch_snapshot_unref(self->current);
  for(size_t i = 0; self->globs[i]; i++) ch_free(self->globs[i]);
  ch_free(self->globs);
  ch_free(self->cache_dir);
  pthread_mutex_destroy(&self->lock);
  pthread_cond_destroy(&self->work_cv);
  pthread_cond_destroy(&self->idle_cv);
  ch_free(self);
}

/* A root path without trailing slashes ("/" stays). */
static char *clean_root(const char *path) {
  char *p = ch_strdup(path);
  size_t n = strlen(p);
  while(n > 1 && p[n - 1] == '/') p[--n] = 0;
  return p;
}

ch_status ch_index_add_root(ch_index *self, const char *path) {
  if(!path || path[0] != '/') return CH_ERR_INVALID;
  char *clean = clean_root(path);
  pthread_mutex_lock(&self->lock);
  for(uint32_t i = 0; i < self->nroots; i++) {
    if(self->roots[i].path && strcmp(self->roots[i].path, clean) == 0) {
      pthread_mutex_unlock(&self->lock);
      ch_free(clean);
      return CH_OK;
    }
  }
  self->roots = ch_realloc(self->roots, (self->nroots + 1) * sizeof(root));
  root *r = &self->roots[self->nroots++];
  memset(r, 0, sizeof(*r));
  r->path = clean;
  r->len = strlen(clean);
  r->walking = true;
  ch_map_init(&r->cached);
  self->stats.roots_pending++;
  push_job(self, JOB_WALK, clean);
  pthread_mutex_unlock(&self->lock);
  return CH_OK;
}

ch_status ch_index_remove_root(ch_index *self, const char *path) {
  char *clean = clean_root(path);
  pthread_mutex_lock(&self->lock);
  ch_status result = CH_ERR_NOT_FOUND;
  for(uint32_t i = 0; i < self->nroots; i++) {
    root *r = &self->roots[i];
    if(!r->path || strcmp(r->path, clean) != 0) continue;
    /* Keep the slot (ids of roots stay stable); forget its files. */
    size_t it = 0, n = 0;
    const char *key;
    void *value;
    char **gone = ch_malloc((self->disk.len + 1) * sizeof(char *));
    while(ch_map_next(&self->disk, &it, &key, &value))
      if(((disk_entry *)value)->root == i) gone[n++] = ch_strdup(key);
    for(size_t k = 0; k < n; k++) {
      set_disk(self, gone[k], i, NULL, false);
      ch_free(gone[k]);
    }
    ch_free(gone);
    ch_free(r->path);
    r->path = NULL;
    r->len = 0;
    ch_map_release(&r->cached, (void (*)(void *))ch_record_unref);
    ch_ignore_free(r->ignore);
    r->ignore = NULL;
    result = CH_OK;
    pthread_cond_signal(&self->work_cv);
  }
  pthread_mutex_unlock(&self->lock);
  ch_free(clean);
  return result;
}

/* Queues a re-check of one path. Lock held. */
static void queue_check(ch_index *self, const char *path, uint32_t r) {
  job *queued = ch_map_get(&self->queued, path);
  if(queued) {
    /* The walk's check of the file in that job may be out of date now. */
    if(queued != FILE_RUNNING) queued->lang = NULL;
    return;
  }
  self->roots[r].pending++;
  ch_map_put(&self->queued, path, push_job(self, JOB_FILE, path));
}

void ch_index_file_changed(ch_index *self, const char *path) {
  if(!path || path[0] != '/') return;
  /* A directory, or a path that is gone (maybe a directory): re-check every
   * indexed file under it; watchers report a removed directory once. */
  struct stat st;
  bool exists = stat(path, &st) == 0;
  if(!exists || S_ISDIR(st.st_mode)) {
    size_t plen = strlen(path);
    pthread_mutex_lock(&self->lock);
    size_t it = 0;
    const char *key;
    void *value;
    size_t n = 0;
    char **under = ch_malloc((self->disk.len + 1) * sizeof(char *));
    while(ch_map_next(&self->disk, &it, &key, &value))
      if(strncmp(key, path, plen) == 0 && key[plen] == '/')
        under[n++] = ch_strdup(key);
    for(size_t i = 0; i < n; i++) {
      uint32_t r = ((disk_entry *)ch_map_get(&self->disk, under[i]))->root;
      queue_check(self, under[i], r);
      ch_free(under[i]);
    }
    ch_free(under);
    pthread_mutex_unlock(&self->lock);
    if(exists) return;
  }
  pthread_mutex_lock(&self->lock);
  uint32_t r = find_root(self, path);
  if(r != CH_NONE) {
    root *rt = &self->roots[r];
    if(!rt->ignore)
      rt->ignore = ch_ignore_new(rt->path, (const char *const *)self->globs);
    const char *rel = rel_in(rt, path);
    bool ignored = rt->ignore && ch_ignore_match(rt->ignore, rel, false);
    if(ignored)
      set_disk(self, path, r, NULL, false);
    else
      queue_check(self, path, r);
  }
  pthread_mutex_unlock(&self->lock);
}

ch_status ch_index_doc_open(ch_index *self, const char *path,
                            const ch_language *lang, const char *text,
                            uint32_t len, int64_t version) {
  if(!path || !lang) return CH_ERR_INVALID;
  pthread_mutex_lock(&self->lock);
  doc *d = ch_map_get(&self->docs, path);
  if(!d) {
    d = ch_calloc(1, sizeof(*d));
    ch_map_put(&self->docs, path, d);
  }
  if(d->tree) ts_tree_delete(d->tree);
  d->tree = NULL;
  d->nedits = 0;
  d->generation++;
  d->lang = lang;
  ch_free(d->text);
  d->text = ch_memdup(text, len);
  d->len = len;
  d->text_edits = 0;
  d->version = version;
  if(!d->queued) {
    d->queued = true;
    push_job(self, JOB_DOC, path);
  }
  pthread_mutex_unlock(&self->lock);
  return CH_OK;
}

ch_status ch_index_doc_edit(ch_index *self, const char *path,
                            const TSInputEdit *edit) {
  pthread_mutex_lock(&self->lock);
  doc *d = ch_map_get(&self->docs, path);
  if(d) {
    if(d->nedits == d->edits_cap) {
      d->edits_cap = d->edits_cap ? d->edits_cap * 2 : 8;
      d->edits = ch_realloc(d->edits, d->edits_cap * sizeof(*d->edits));
    }
    d->edits[d->nedits++] = *edit;
  }
  pthread_mutex_unlock(&self->lock);
  return d ? CH_OK : CH_ERR_NOT_FOUND;
}

ch_status ch_index_doc_update(ch_index *self, const char *path,
                              const char *text, uint32_t len,
                              int64_t version) {
  pthread_mutex_lock(&self->lock);
  doc *d = ch_map_get(&self->docs, path);
  if(d) {
    ch_free(d->text);
    d->text = ch_memdup(text, len);
    d->len = len;
    d->text_edits = d->nedits;
    d->version = version;
    if(!d->queued) {
      d->queued = true;
      push_job(self, JOB_DOC, path);
    }
  }
  pthread_mutex_unlock(&self->lock);
  return d ? CH_OK : CH_ERR_NOT_FOUND;
}

void ch_index_doc_close(ch_index *self, const char *path) {
  pthread_mutex_lock(&self->lock);
  doc *d = ch_map_remove(&self->docs, path);
  if(d) {
    doc_free(d);
    mark_dirty(self, path);
    pthread_cond_signal(&self->work_cv);
  }
  pthread_mutex_unlock(&self->lock);
}

ch_snapshot *ch_index_snapshot(ch_index *self) {
  pthread_mutex_lock(&self->lock);
  ch_snapshot *s = ch_snapshot_ref(self->current);
  pthread_mutex_unlock(&self->lock);
  return s;
}

void ch_index_stats_get(ch_index *self, ch_index_stats *out) {
  pthread_mutex_lock(&self->lock);
  *out = self->stats;
  out->queued = self->njobs;
  size_t walking = 0;
  for(uint32_t r = 0; r < self->nroots; r++)
    if(self->roots[r].path && self->roots[r].walking) walking++;
  out->roots_pending = walking;
  out->idle = !walking && !self->head && self->running == 0 &&
              !self->publish_due && !self->rebuild_queued;
  pthread_mutex_unlock(&self->lock);
}

void ch_index_wait_idle(ch_index *self) {
  pthread_mutex_lock(&self->lock);
  for(;;) {
    bool saving = false;
    for(uint32_t r = 0; r < self->nroots; r++)
      if(self->roots[r].save_due || self->roots[r].walking) saving = true;
    if(!self->head && self->running == 0 && !self->publish_due && !saving &&
       self->saving == 0 && !self->rebuild_queued)
      break;
    pthread_cond_signal(&self->work_cv);
    pthread_cond_wait(&self->idle_cv, &self->lock);
  }
  pthread_mutex_unlock(&self->lock);
}

void ch_index_save_cache(ch_index *self) {
  pthread_mutex_lock(&self->lock);
  for(uint32_t r = 0; r < self->nroots; r++)
    if(self->roots[r].path && !self->roots[r].walking &&
       self->roots[r].cache_dirty)
      save_root_cache(self, r);
  pthread_mutex_unlock(&self->lock);
}

/* ---- queries ---------------------------------------------------------------- */

static size_t common_dir_prefix(const char *a, const char *b) {
  size_t i = 0, last = 0;
  while(a[i] && a[i] == b[i]) {
    if(a[i] == '/') last = i;
    i++;
  }
  return last;
}

typedef struct ranked {
  ch_def_ref ref;
  size_t common;
  const char *path;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if(x->ref.proximity != y->ref.proximity)
    return x->ref.proximity < y->ref.proximity ? -1 : 1;
  if(x->common != y->common) return x->common > y->common ? -1 : 1;
  int c = strcmp(x->path, y->path);
  if(c) return c;
  return x->ref.def < y->ref.def ? -1 : (x->ref.def > y->ref.def);
}

static bool imports_contain(const ch_snapshot *s, uint32_t from, uint32_t id) {
  uint32_t buf[256];
  size_t n = ch_snapshot_imports(s, from, buf, CH_ARRAY_LEN(buf));
  for(size_t i = 0; i < CH_MIN(n, CH_ARRAY_LEN(buf)); i++)
    if(buf[i] == id) return true;
  return false;
}

static uint32_t proximity(const ch_snapshot *s, uint32_t from, uint32_t id) {
  if(from == CH_NONE) return 3;
  if(from == id) return 0;
  if(imports_contain(s, from, id)) return 1;
  const char *a = ch_snapshot_abs_path(s, from), *b = ch_snapshot_abs_path(s, id);
  const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
  if(sa && sb && sa - a == sb - b && strncmp(a, b, (size_t)(sa - a)) == 0) return 2;
  return 3;
}

typedef struct collect {
  ranked *items;
  size_t n, cap;
} collect;

static void collect_add(collect *c, const ch_snapshot *s, uint32_t file,
                        uint32_t def, uint32_t from) {
  if(c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 16;
    c->items = ch_realloc(c->items, c->cap * sizeof(*c->items));
  }
  const char *path = ch_snapshot_abs_path(s, file);
  ranked *r = &c->items[c->n++];
  r->ref = (ch_def_ref){file, def, proximity(s, from, file)};
  r->path = path;
  r->common = from == CH_NONE ? 0 : common_dir_prefix(path, ch_snapshot_abs_path(s, from));
}

static size_t lower_bound(const base *b, const char *name) {
  size_t lo = 0, hi = b->nnames;
  while(lo < hi) {
    size_t mid = (lo + hi) / 2;
    if(strcmp(b->names[mid].name, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static size_t finish(collect *c, ch_def_ref *out, size_t max) {
  if(c->n) qsort(c->items, c->n, sizeof(*c->items), cmp_ranked);
  for(size_t i = 0; i < CH_MIN(c->n, max); i++) out[i] = c->items[i].ref;
  ch_free(c->items);
  return c->n;
}

static size_t find(const ch_snapshot *s, const char *name, bool prefix,
                   uint32_t from, ch_def_ref *out, size_t max) {
  collect c = {0};
  size_t plen = strlen(name);
  for(size_t i = lower_bound(s->b, name); i < s->b->nnames; i++) {
    const name_entry *e = &s->b->names[i];
    if(prefix ? strncmp(e->name, name, plen) != 0 : strcmp(e->name, name) != 0)
      break;
    if(masked_at(s, e->file) >= 0) continue;
    collect_add(&c, s, e->file, e->def, from);
  }
  for(uint32_t k = 0; k < s->nov; k++) {
    const ch_record *rec = s->ov[k].rec;
    const uint32_t *by = s->ov[k].by_name;
    if(!rec || !by) continue;
    /* The first definition whose name is not below `name`. */
    uint32_t lo = 0, hi = rec->ndefs;
    while(lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if(strcmp(ch_record_str(rec, rec->defs[by[mid]].name), name) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    for(uint32_t i = lo; i < rec->ndefs; i++) {
      const char *n = ch_record_str(rec, rec->defs[by[i]].name);
      if(prefix ? strncmp(n, name, plen) != 0 : strcmp(n, name) != 0) break;
      collect_add(&c, s, s->b->n + k, by[i], from);
    }
  }
  return finish(&c, out, max);
}

size_t ch_snapshot_find(const ch_snapshot *self, const char *name,
                        uint32_t from, ch_def_ref *out, size_t max) {
  return find(self, name, false, from, out, max);
}

size_t ch_snapshot_find_prefix(const ch_snapshot *self, const char *prefix,
                               uint32_t from, ch_def_ref *out, size_t max) {
  return find(self, prefix, true, from, out, max);
}

size_t ch_snapshot_imports(const ch_snapshot *self, uint32_t id,
                           uint32_t *out, size_t max) {
  size_t n = 0;
  if(id < self->b->n) {
    if(masked_at(self, id) >= 0) return 0;
    for(uint32_t k = self->b->imp_off[id]; k < self->b->imp_off[id + 1]; k++) {
      uint32_t t = live_id(self, self->b->imp_ids[k]);
      if(t == CH_NONE) continue;
      if(n < max) out[n] = t;
      n++;
    }
    return n;
  }
  id -= self->b->n;
  if(id >= self->nov) return 0;
  for(uint32_t k = 0; k < self->ov[id].nimports; k++) {
    if(n < max) out[n] = self->ov[id].imports[k];
    n++;
  }
  return n;
}

size_t ch_snapshot_importers(const ch_snapshot *self, uint32_t id,
                             uint32_t *out, size_t max) {
  size_t n = 0;
  uint32_t base_id = id < self->b->n ? id : CH_NONE;
  if(id >= self->b->n && id - self->b->n < self->nov)
    base_id = self->ov[id - self->b->n].base_id;
  if(id < self->b->n && masked_at(self, id) >= 0) return 0;
  if(base_id != CH_NONE) {
    for(uint32_t k = self->b->rev_off[base_id]; k < self->b->rev_off[base_id + 1]; k++) {
      uint32_t from = self->b->rev_ids[k];
      if(masked_at(self, from) >= 0) continue; /* its overlay entry decides */
      if(n < max) out[n] = from;
      n++;
    }
  }
  for(uint32_t k = 0; k < self->nov; k++) {
    const overlay_entry *o = &self->ov[k];
    for(uint32_t j = 0; j < o->nimports; j++) {
      if(o->imports[j] != id) continue;
      if(n < max) out[n] = self->b->n + k;
      n++;
      break;
    }
  }
  return n;
}

size_t ch_snapshot_unresolved(const ch_snapshot *self, uint32_t id) {
  if(id < self->b->n) return masked_at(self, id) >= 0 ? 0 : self->b->unresolved[id];
  id -= self->b->n;
  return id < self->nov ? self->ov[id].unresolved : 0;
}

ch_status ch_snapshot_outline(const ch_snapshot *self, uint32_t id,
                              ch_buf *out) {
  const ch_record *rec = ch_snapshot_file(self, id);
  if(!rec) return CH_ERR_NOT_FOUND;
  for(uint32_t d = 0; d < rec->ndefs; d++) {
    const ch_def *def = &rec->defs[d];
    int depth = 0;
    for(uint32_t c = def->container; c != CH_NONE && depth < 16;
        c = rec->defs[c].container)
      depth++;
    ch_status st = ch_buf_appendf(out, "%u: %*s%s\n", def->range.start_row + 1,
                                  depth * 2, "", ch_record_str(rec, def->signature));
    if(st) return st;
  }
  return CH_OK;
}
