/*
 * bench_index.c: the repository index on real code, against plain
 * tree-sitter on the same files.
 *
 *   bench_index [--ext=LIST] [--max-files=N] [NAME=]DIR[:DIR...] ...
 *
 * Each argument is one corpus: one or more workspace roots indexed
 * together. --ext (extensions without the dot, comma-separated) keeps only
 * files with those endings, through ignore globs that the walk and the
 * index both get; --max-files keeps whole top-level entries of each root,
 * in walk order, while the corpus stays within N files (a deterministic
 * subset, said in the output). Both apply to the next corpus only.
 *
 * For every corpus, in one run:
 *   - the file list from ch_workspace_walk (the rules the index uses);
 *   - parse-only: one thread reads every file, ts_parser_parse_string with
 *     its grammar (one parser per language, reused), ts_tree_delete;
 *   - the index cold with 1 worker and with 2, each on an empty cache
 *     folder: ch_index_new, ch_index_add_root for every root,
 *     ch_index_wait_idle (which includes writing the cache);
 *   - warm: a new index on the cache the cold run wrote;
 *   - 10 files touched (mtime moved a few seconds ahead, content unchanged,
 *     the old times put back afterwards), then a new index on that cache;
 *   - memory after the cold 2-worker run: the records' heap bytes
 *     (ch_record_memory) and the growth of VmRSS, per source byte.
 * Each timing is the median of RUNS runs. Parse-only and the cold runs
 * also report the CPU seconds of the process over the same spans (all
 * threads, getrusage), as MB per CPU-second beside parse-only's: other
 * processes on a shared machine lengthen wall times, hardly CPU times, so
 * that ratio is the per-core cost of the index even when the wall times
 * are noisy (the 2-worker one includes whatever the workers duplicate).
 * Then the edit latency in a 5,000-line file (the smallest file of at
 * least 5,000 lines of the first corpus that has one, cut to 5,000 lines):
 * 200 one-character edits at random lines, alternately inserting an 'x'
 * after a line's indentation and deleting it again, (a) through ch_extract
 * with the previous tree, and (b) through an index holding the corpus,
 * from ch_index_doc_update to ch_index_wait_idle.
 *
 * Prints one table per corpus, a total and the edit latency lines, with
 * "ok" or "MISSED" against each target of the issue. A missed target is
 * shown, not a failure; the exit status is 1 only when the bench cannot
 * run (a root that cannot be walked, an index that cannot start).
 */
#include "chorus/index.h"
#include "chorus/syntax.h"
#include "chorus/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
  RUNS = 3,
  TOUCHED = 10,
  EDITS = 200,
  EDIT_LINES = 5000,
  WARM_FILES = 5000, /* the warm target is for this many files */
  MAX_CORPORA = 8,
  MAX_DIRS = 8,
  MAX_EXTS = 16,
};

#define PER_CORE_TARGET 0.8 /* cold, 1 worker, over parse-only */
#define TWO_CORE_TARGET 1.6 /* cold, 2 workers, over parse-only */
#define WARM_TARGET_S 0.5   /* for WARM_FILES files */
#define EDIT_TARGET_MS 2.0
#define MEMORY_TARGET 3.0 /* bytes of index per source byte */

/* ---- small utilities */

static void die(const char *fmt, ...) CH_PRINTF(1, 2);
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench_index: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static double now_s(void) { return (double)ch_now_ns() / 1e9; }

/* xorshift64*: the same edits on every run and machine. */
static uint64_t rnd(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct stats {
  double median, min, max;
} stats;

/* Sorts v in place. */
static stats summarize(double *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_double);
  double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return (stats){median, v[0], v[n - 1]};
}

/* The value at fraction q (0..1) of sorted v, nearest rank. */
static double quantile(const double *v, size_t n, double q) {
  size_t i = (size_t)(q * (double)n + 0.999999);
  if(i > 0) i--;
  return v[i < n ? i : n - 1];
}

/* Reads the whole file into *buf (grown as needed); false when it cannot. */
static bool read_all(const char *path, char **buf, size_t *cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) return false;
  struct stat st;
  if(fstat(fd, &st) != 0) {
    close(fd);
    return false;
  }
  size_t want = (size_t)st.st_size + 1;
  if(*cap < want) {
    *buf = ch_realloc(*buf, want);
    *cap = want;
  }
  size_t n = 0;
  for(;;) {
    if(n + 1 >= *cap) {
      *cap *= 2;
      *buf = ch_realloc(*buf, *cap);
    }
    ssize_t got = read(fd, *buf + n, *cap - 1 - n);
    if(got < 0 && errno == EINTR) continue;
    if(got <= 0) break;
    n += (size_t)got;
  }
  close(fd);
  (*buf)[n] = 0;
  *len = n;
  return true;
}

/* Resident memory of this process in bytes (VmRSS). */
static double rss_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if(!f) die("/proc/self/status: %s", strerror(errno));
  char line[256];
  double kb = -1;
  while(fgets(line, sizeof(line), f))
    if(strncmp(line, "VmRSS:", 6) == 0) kb = strtod(line + 6, NULL);
  fclose(f);
  if(kb < 0) die("/proc/self/status: no VmRSS line");
  return kb * 1024;
}

/* CPU seconds all CPUs spent busy since boot (/proc/stat), steal included:
 * time this process could not have had. */
static double busy_cpu_s(void) {
  FILE *f = fopen("/proc/stat", "r");
  if(!f) return 0;
  unsigned long long v[8] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                 &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if(n < 8) return 0;
  /* user nice system idle iowait irq softirq steal */
  double busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
  return busy / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds this process used. */
static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

static void rm_tree(const char *path) {
  nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- corpora */

typedef struct file_item {
  char *abs;
  const ch_language *lang;
  uint64_t size;
  uint32_t lines; /* counted by the first parse-only pass */
  uint32_t root;  /* index into the corpus's dirs */
} file_item;

typedef struct corpus {
  const char *name;
  char *dirs[MAX_DIRS];
  size_t ndirs;
  char *exts[MAX_EXTS]; /* owned */
  size_t nexts;
  size_t max_files; /* 0: all */
  char **globs;     /* NULL-terminated, owned; NULL: none */
  size_t nglobs, globs_cap;
  char *subset_note; /* owned; NULL when the whole corpus is used */

  file_item *files;
  size_t nfiles, files_cap;
  uint64_t bytes;
  double walk_s;

  /* Seconds per run, and memory per run (bytes). */
  double parse_s[RUNS], cold1_s[RUNS], cold2_s[RUNS], warm_s[RUNS],
      touch_s[RUNS];
  /* CPU seconds of the process (all threads) over the same spans: other
   * processes on the machine lengthen wall times, hardly these. */
  double parse_cpu[RUNS], cold1_cpu[RUNS], cold2_cpu[RUNS];
  double rec_mem[RUNS], rss_grow[RUNS], rss_trim[RUNS];
  bool touch_skipped;
} corpus;

static void add_glob(corpus *c, const char *glob) {
  if(c->nglobs + 2 > c->globs_cap) {
    c->globs_cap = c->globs_cap ? c->globs_cap * 2 : 16;
    c->globs = ch_realloc(c->globs, c->globs_cap * sizeof(char *));
  }
  c->globs[c->nglobs++] = ch_strdup(glob);
  c->globs[c->nglobs] = NULL;
}

/* Only files with one of the extensions: ignore everything, then bring
 * back every folder and the wanted files. */
static void add_ext_globs(corpus *c) {
  if(!c->nexts) return;
  add_glob(c, "*");
  add_glob(c, "!*/");
  for(size_t i = 0; i < c->nexts; i++) {
    char *g = ch_strdupf("!*.%s", c->exts[i]);
    add_glob(c, g);
    ch_free(g);
  }
}

typedef struct walk_ctx {
  corpus *c;
  uint32_t root;
} walk_ctx;

static void on_file(const ch_walk_entry *e, void *userdata) {
  walk_ctx *w = userdata;
  corpus *c = w->c;
  if(c->nfiles == c->files_cap) {
    c->files_cap = c->files_cap ? c->files_cap * 2 : 1024;
    c->files = ch_realloc(c->files, c->files_cap * sizeof(*c->files));
  }
  c->files[c->nfiles++] = (file_item){ch_strdup(e->abs_path), e->lang,
                                      e->size, 0, w->root};
  c->bytes += e->size;
}

static void clear_files(corpus *c) {
  for(size_t i = 0; i < c->nfiles; i++)
    ch_free(c->files[i].abs);
  c->nfiles = 0;
  c->bytes = 0;
}

static void walk_corpus(corpus *c) {
  ch_walk_options wo = {0, (const char *const *)c->globs, NULL};
  double t0 = now_s();
  for(size_t d = 0; d < c->ndirs; d++) {
    walk_ctx w = {c, (uint32_t)d};
    ch_status st = ch_workspace_walk(c->dirs[d], &wo, on_file, &w, NULL);
    if(st) die("cannot walk %s: %s", c->dirs[d], ch_strerror(st));
  }
  c->walk_s = now_s() - t0;
}

/* The first component of f's path under its root, as a fresh string. */
static char *top_entry(const corpus *c, const file_item *f) {
  const char *rel = f->abs + strlen(c->dirs[f->root]) + 1;
  const char *slash = strchr(rel, '/');
  return ch_strndup(rel, slash ? (size_t)(slash - rel) : strlen(rel));
}

/* Cuts the corpus to whole top-level entries of its roots: in walk order,
 * each entry is kept when the corpus stays within max_files with it (the
 * first always is), else ignored with an anchored glob; then walks again
 * with those globs, which the index gets too. Globs apply at every root,
 * so with several roots a skipped name is skipped in all of them. */
static void apply_subset(corpus *c) {
  if(!c->max_files || c->nfiles <= c->max_files) return;
  size_t all_files = c->nfiles;
  uint64_t all_bytes = c->bytes;
  size_t keep = 0, i = 0, kept_entries = 0, dropped = 0;
  ch_buf names; /* the first few skipped entries, for the note */
  ch_buf_init(&names, 4096);
  while(i < c->nfiles) {
    size_t j = i;
    char *top = top_entry(c, &c->files[i]);
    while(j < c->nfiles && c->files[j].root == c->files[i].root) {
      char *t = top_entry(c, &c->files[j]);
      bool same = strcmp(t, top) == 0;
      ch_free(t);
      if(!same) break;
      j++;
    }
    if(keep + (j - i) <= c->max_files || kept_entries == 0) {
      keep += j - i;
      kept_entries++;
    } else {
      ch_buf g;
      ch_buf_init(&g, 4096);
      ch_buf_append_char(&g, '/');
      for(const char *p = top; *p; p++) {
        if(strchr("*?[]\\!# ", *p)) ch_buf_append_char(&g, '\\');
        ch_buf_append_char(&g, *p);
      }
      add_glob(c, g.data);
      ch_buf_release(&g);
      if(dropped < 6)
        ch_buf_appendf(&names, "%s%s (%zu)", dropped ? ", " : "", top, j - i);
      else if(dropped == 6)
        ch_buf_append_str(&names, ", ...");
      dropped++;
    }
    ch_free(top);
    i = j;
  }
  clear_files(c);
  walk_corpus(c);
  c->subset_note = ch_strdupf(
      "subset of at most %zu files: %zu top-level entries kept in walk "
      "order, %zu skipped that would pass the limit (%s): %zu of %zu "
      "files, %.1f of %.1f MB",
      c->max_files, kept_entries, dropped, names.data ? names.data : "",
      c->nfiles, all_files, (double)c->bytes / 1e6,
      (double)all_bytes / 1e6);
  ch_buf_release(&names);
}

/* ---- parse-only */

/* Returns wall seconds; *cpu_s receives the CPU seconds. */
static double parse_only(corpus *c, bool count_lines, double *cpu_s) {
  size_t nlangs = ch_syntax_count();
  TSParser **parsers = ch_calloc(nlangs, sizeof(*parsers));
  char *buf = NULL;
  size_t cap = 0, len = 0;
  malloc_trim(0); /* as before every index run */
  double t0 = now_s(), cpu0 = self_cpu_s();
  for(size_t i = 0; i < c->nfiles; i++) {
    file_item *f = &c->files[i];
    size_t li = 0;
    while(li < nlangs && ch_syntax_at(li) != f->lang)
      li++;
    if(li == nlangs) die("%s: language not in the table", f->abs);
    if(!parsers[li]) {
      ch_status st = CH_OK;
      parsers[li] = ch_syntax_parser_new(f->lang, &st);
      if(!parsers[li])
        die("no parser for %s: %s", f->lang->name, ch_strerror(st));
    }
    if(!read_all(f->abs, &buf, &cap, &len)) {
      printf("warning: cannot read %s\n", f->abs);
      continue;
    }
    TSTree *tree =
        ts_parser_parse_string(parsers[li], NULL, buf, (uint32_t)len);
    ts_tree_delete(tree);
    if(count_lines) {
      uint32_t n = 0;
      for(const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf)));
          p++)
        n++;
      f->lines = n;
    }
  }
  double dt = now_s() - t0;
  *cpu_s = self_cpu_s() - cpu0;
  for(size_t i = 0; i < nlangs; i++)
    if(parsers[i]) ts_parser_delete(parsers[i]);
  ch_free(parsers);
  ch_free(buf);
  return dt;
}

/* ---- the index */

static char *tmp_base;

/* A fresh, empty folder under tmp_base; caller frees the name. */
static char *fresh_dir(void) {
  static unsigned counter;
  char *dir = ch_strdupf("%s/cache-%u", tmp_base, ++counter);
  if(mkdir(dir, 0700) != 0) die("mkdir %s: %s", dir, strerror(errno));
  return dir;
}

typedef struct index_run {
  double seconds;
  double cpu_s; /* CPU seconds over the same span, all threads */
  ch_index_stats stats;
  double rec_mem;   /* sum of ch_record_memory over the snapshot */
  double rss_grow;  /* VmRSS after idle minus before ch_index_new */
  double rss_trim;  /* the same after malloc_trim */
} index_run;

static ch_index *open_index(corpus *c, int workers, const char *cache_dir) {
  ch_index_options o = {0};
  o.workers = workers;
  o.ignore_globs = (const char *const *)c->globs;
  o.cache_dir = cache_dir;
  ch_status st = CH_OK;
  ch_index *ix = ch_index_new(&o, &st);
  if(!ix) die("ch_index_new: %s", ch_strerror(st));
  for(size_t d = 0; d < c->ndirs; d++) {
    st = ch_index_add_root(ix, c->dirs[d]);
    if(st) die("ch_index_add_root %s: %s", c->dirs[d], ch_strerror(st));
  }
  return ix;
}

/* One index from ch_index_new to idle; memory measured when asked. */
static index_run run_index(corpus *c, int workers, const char *cache_dir,
                           bool memory) {
  index_run r = {0};
  /* Every timed run starts from a trimmed heap, parse-only's too: the
   * memory runs need one, and the others must not start warmer. */
  malloc_trim(0);
  double rss0 = memory ? rss_bytes() : 0;
  double t0 = now_s(), cpu0 = self_cpu_s();
  ch_index *ix = open_index(c, workers, cache_dir);
  ch_index_wait_idle(ix);
  r.seconds = now_s() - t0;
  r.cpu_s = self_cpu_s() - cpu0;
  ch_index_stats_get(ix, &r.stats);
  if(memory) {
    r.rss_grow = rss_bytes() - rss0;
    ch_snapshot *s = ch_index_snapshot(ix);
    uint32_t n = ch_snapshot_count(s);
    for(uint32_t i = 0; i < n; i++) {
      const ch_record *rec = ch_snapshot_file(s, i);
      if(rec) r.rec_mem += (double)ch_record_memory(rec);
    }
    ch_snapshot_unref(s);
    malloc_trim(0);
    r.rss_trim = rss_bytes() - rss0;
  }
  ch_index_free(ix);
  return r;
}

static void check_cold(const corpus *c, const char *what,
                       const ch_index_stats *s) {
  if(s->files_done != c->nfiles || s->parsed + s->failed != c->nfiles ||
     s->cache_hits != 0 || s->bytes != c->bytes)
    printf("warning: %s %s: %zu files done, %zu parsed, %zu failed, %zu "
           "from cache, %llu bytes; the walk found %zu files, %llu bytes\n",
           c->name, what, s->files_done, s->parsed, s->failed, s->cache_hits,
           (unsigned long long)s->bytes, c->nfiles,
           (unsigned long long)c->bytes);
}

/* ---- touching files, and putting their times back */

typedef struct touched {
  char *path;
  struct timespec times[2]; /* atime, mtime before the bench */
} touched;

static touched touch_list[TOUCHED];
static size_t ntouch;

static void untouch_all(void) {
  for(size_t i = 0; i < ntouch; i++)
    utimensat(AT_FDCWD, touch_list[i].path, touch_list[i].times, 0);
}

static void on_signal(int sig) {
  /* utimensat is async-signal-safe: the corpus keeps its real mtimes. */
  untouch_all();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Picks TOUCHED files spread over the corpus and saves their times. */
static bool touch_prepare(const corpus *c) {
  ntouch = 0;
  if(c->nfiles < TOUCHED) return false;
  for(size_t k = 0; k < TOUCHED; k++) {
    const file_item *f = &c->files[k * c->nfiles / TOUCHED];
    struct stat st;
    if(stat(f->abs, &st) != 0) return false;
    touch_list[ntouch].path = f->abs;
    touch_list[ntouch].times[0] = st.st_atim;
    touch_list[ntouch].times[1] = st.st_mtim;
    ntouch++;
  }
  return true;
}

/* Moves the mtime of the chosen files `ahead` seconds past now. */
static bool touch_now(int ahead) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct timespec times[2] = {{0, UTIME_OMIT}, {now.tv_sec + ahead, 0}};
  for(size_t i = 0; i < ntouch; i++) {
    if(utimensat(AT_FDCWD, touch_list[i].path, times, 0) != 0) {
      printf("warning: cannot touch %s: %s; touch runs skipped\n",
             touch_list[i].path, strerror(errno));
      untouch_all();
      return false;
    }
  }
  return true;
}

/* ---- edit latency */

typedef struct edit_file {
  const corpus *c;
  const file_item *f;
  char *text; /* the first EDIT_LINES lines, room for one more byte */
  uint32_t len;
  uint32_t *line_starts;
  uint32_t nlines;
} edit_file;

/* The smallest file of at least EDIT_LINES lines, or NULL. */
static const file_item *pick_edit_file(const corpus *c) {
  const file_item *best = NULL;
  for(size_t i = 0; i < c->nfiles; i++) {
    const file_item *f = &c->files[i];
    if(f->lines >= EDIT_LINES && (!best || f->lines < best->lines)) best = f;
  }
  return best;
}

static void edit_file_load(edit_file *e, const corpus *c,
                           const file_item *f) {
  char *buf = NULL;
  size_t cap = 0, len = 0;
  if(!read_all(f->abs, &buf, &cap, &len)) die("cannot read %s", f->abs);
  e->c = c;
  e->f = f;
  e->line_starts = ch_malloc((EDIT_LINES + 1) * sizeof(uint32_t));
  e->nlines = 0;
  size_t at = 0;
  while(e->nlines < EDIT_LINES && at < len) {
    e->line_starts[e->nlines++] = (uint32_t)at;
    const char *nl = memchr(buf + at, '\n', len - at);
    at = nl ? (size_t)(nl - buf) + 1 : len;
  }
  e->len = (uint32_t)at;
  e->text = ch_malloc((size_t)e->len + 2);
  memcpy(e->text, buf, e->len);
  e->text[e->len] = 0;
  ch_free(buf);
}

/* Edit k of the sequence: even k insert an 'x' after the indentation of a
 * random line, odd k delete it again. Applies it to e->text. */
static TSInputEdit edit_apply(edit_file *e, int k, uint64_t *rng,
                              uint32_t *line, uint32_t *col) {
  if(k % 2 == 0) {
    *line = (uint32_t)(rnd(rng) % e->nlines);
    uint32_t off = e->line_starts[*line];
    uint32_t end = *line + 1 < e->nlines ? e->line_starts[*line + 1] : e->len;
    while(off < end && (e->text[off] == ' ' || e->text[off] == '\t'))
      off++;
    *col = off - e->line_starts[*line];
  }
  uint32_t off = e->line_starts[*line] + *col;
  TSPoint at = {*line, *col}, after = {*line, *col + 1};
  TSInputEdit ed;
  if(k % 2 == 0) {
    memmove(e->text + off + 1, e->text + off, e->len - off + 1);
    e->text[off] = 'x';
    e->len++;
    ed = (TSInputEdit){off, off, off + 1, at, at, after};
  } else {
    memmove(e->text + off, e->text + off + 1, e->len - off);
    e->len--;
    ed = (TSInputEdit){off, off + 1, off, at, after, at};
  }
  return ed;
}

typedef struct latency {
  double ms[EDITS];
  double median, p99, max;
  double first_ms; /* the full parse before the edits */
} latency;

static void latency_finish(latency *l) {
  qsort(l->ms, EDITS, sizeof(double), cmp_double);
  l->median = quantile(l->ms, EDITS, 0.5);
  l->p99 = quantile(l->ms, EDITS, 0.99);
  l->max = l->ms[EDITS - 1];
}

/* (a) ch_extract reusing the edited previous tree. */
static latency edit_extract(edit_file *e) {
  latency l = {0};
  ch_extractor *ex = ch_extractor_new();
  const char *rel = e->f->abs + strlen(e->c->dirs[e->f->root]) + 1;
  ch_status st = CH_OK;
  TSTree *tree = NULL;
  double t0 = now_s();
  ch_record *rec =
      ch_extract(ex, e->f->lang, rel, e->text, e->len, NULL, &tree, &st);
  l.first_ms = (now_s() - t0) * 1e3;
  if(!rec) die("ch_extract %s: %s", e->f->abs, ch_strerror(st));
  ch_record_unref(rec);
  uint64_t rng = 0x9E3779B97F4A7C15ULL;
  uint32_t line = 0, col = 0;
  for(int k = 0; k < EDITS; k++) {
    TSInputEdit ed = edit_apply(e, k, &rng, &line, &col);
    TSTree *next = NULL;
    t0 = now_s();
    ts_tree_edit(tree, &ed);
    rec = ch_extract(ex, e->f->lang, rel, e->text, e->len, tree, &next, &st);
    l.ms[k] = (now_s() - t0) * 1e3;
    if(!rec) die("ch_extract %s (edit %d): %s", e->f->abs, k, ch_strerror(st));
    ch_record_unref(rec);
    ts_tree_delete(tree);
    tree = next;
  }
  ts_tree_delete(tree);
  ch_extractor_free(ex);
  latency_finish(&l);
  return l;
}

/* (b) the whole path: an index holding the corpus (from cache_dir), the
 * file open as a document, ch_index_doc_edit + ch_index_doc_update, then
 * ch_index_wait_idle. */
static latency edit_index(edit_file *e, const char *cache_dir, int workers) {
  latency l = {0};
  ch_index *ix = open_index((corpus *)e->c, workers, cache_dir);
  ch_index_wait_idle(ix);
  const char *path = e->f->abs;
  double t0 = now_s();
  ch_status st = ch_index_doc_open(ix, path, e->f->lang, e->text, e->len, 1);
  if(st) die("ch_index_doc_open %s: %s", path, ch_strerror(st));
  ch_index_wait_idle(ix);
  l.first_ms = (now_s() - t0) * 1e3;
  uint64_t rng = 0x9E3779B97F4A7C15ULL;
  uint32_t line = 0, col = 0;
  for(int k = 0; k < EDITS; k++) {
    TSInputEdit ed = edit_apply(e, k, &rng, &line, &col);
    st = ch_index_doc_edit(ix, path, &ed);
    if(st) die("ch_index_doc_edit %s: %s", path, ch_strerror(st));
    t0 = now_s();
    st = ch_index_doc_update(ix, path, e->text, e->len, k + 2);
    if(st) die("ch_index_doc_update %s: %s", path, ch_strerror(st));
    ch_index_wait_idle(ix);
    l.ms[k] = (now_s() - t0) * 1e3;
  }
  /* The snapshot must hold the document's last text. */
  ch_snapshot *s = ch_index_snapshot(ix);
  uint32_t id;
  const ch_record *rec =
      ch_snapshot_lookup(s, path, &id) ? ch_snapshot_file(s, id) : NULL;
  if(!rec || rec->size != e->len)
    printf("warning: after the edits the snapshot holds %s with %llu bytes, "
           "the document has %u\n",
           path, rec ? (unsigned long long)rec->size : 0ULL, e->len);
  ch_snapshot_unref(s);
  ch_index_free(ix);
  latency_finish(&l);
  return l;
}

/* ---- the report */

static const char *verdict(bool ok) { return ok ? "ok" : "MISSED"; }

static void print_head(void) {
  printf("%-36s %10s %10s %10s  %-8s %8s  %-9s %s\n", "metric", "median",
         "min", "max", "unit", "vs parse", "target", "result");
}

static void print_row(const char *name, stats s, int decimals,
                      const char *unit, const char *ratio, const char *target,
                      const char *result) {
  printf("%-36s %10.*f %10.*f %10.*f  %-8s %8s  %-9s %s\n", name, decimals,
         s.median, decimals, s.min, decimals, s.max, unit, ratio, target,
         result);
}

/* Throughput in MB/s from seconds (the min is the slowest run). */
static stats mb_per_s(stats seconds, double bytes) {
  return (stats){bytes / 1e6 / seconds.median, bytes / 1e6 / seconds.max,
                 bytes / 1e6 / seconds.min};
}

static stats scaled(stats s, double k) {
  return (stats){s.median * k, s.min * k, s.max * k};
}

/* Medians summed over corpora, for the total table. */
typedef struct totals {
  size_t files;
  double bytes;
  stats parse, cold1, cold2, warm, touch, rec_mem, rss_grow, rss_trim;
  stats parse_cpu, cold1_cpu, cold2_cpu;
  bool touch_skipped;
} totals;

static void add_stats(stats *sum, stats s) {
  sum->median += s.median;
  sum->min += s.min;
  sum->max += s.max;
}

/* One table: times in seconds, memories in bytes. cpu: the CPU seconds
 * of parse-only, cold with 1 and with 2 workers. */
static void print_table(size_t files, double bytes, stats parse, stats cold1,
                        stats cold2, const stats cpu[3], stats warm,
                        stats touch, bool touch_skipped, stats rec_mem,
                        stats rss_grow, stats rss_trim) {
  char ratio[32], row[64];
  print_head();
  stats p = mb_per_s(parse, bytes);
  print_row("parse-only (tree-sitter, 1 thread)", p, 2, "MB/s", "1.00", "-",
            "-");
  stats c1 = mb_per_s(cold1, bytes);
  double r1 = c1.median / p.median;
  snprintf(ratio, sizeof(ratio), "%.2f", r1);
  print_row("index cold, 1 worker", c1, 2, "MB/s", ratio, ">= 0.8",
            verdict(r1 >= PER_CORE_TARGET));
  stats c2 = mb_per_s(cold2, bytes);
  double r2 = c2.median / p.median;
  snprintf(ratio, sizeof(ratio), "%.2f", r2);
  print_row("index cold, 2 workers", c2, 2, "MB/s", ratio, ">= 1.6",
            verdict(r2 >= TWO_CORE_TARGET));
  /* How the index itself scales: the second worker's gain over the first,
   * apart from the per-core cost above. */
  stats sc = {c2.median / c1.median, c2.min / c1.max, c2.max / c1.min};
  print_row("  scaling, 2 workers / 1 worker", sc, 2, "x", "", "", "");
  /* The same work per CPU-second (all threads): the per-core cost of the
   * index beside plain parsing, which other load hardly changes. */
  stats pc = mb_per_s(cpu[0], bytes);
  print_row("  parse-only, per CPU-second", pc, 2, "MB/cpu-s", "1.00", "", "");
  for(int w = 1; w <= 2; w++) {
    stats ic = mb_per_s(cpu[w], bytes);
    snprintf(ratio, sizeof(ratio), "%.2f", ic.median / pc.median);
    snprintf(row, sizeof(row), "  cold, %d worker%s, per CPU-second", w,
             w > 1 ? "s" : "");
    print_row(row, ic, 2, "MB/cpu-s", ratio, "", "");
  }
  print_row("index warm (from cache), 2 workers", warm, 3, "s", "", "", "");
  stats w5 = scaled(warm, (double)WARM_FILES / (double)files);
  print_row("  per 5,000 files", w5, 3, "s", "", "< 0.5",
            verdict(w5.median < WARM_TARGET_S));
  stats wf = {files / warm.median, files / warm.max, files / warm.min};
  print_row("  files/s", wf, 0, "files/s", "", "", "");
  if(touch_skipped) {
    printf("%-36s %10s\n", "index after touching 10 files", "skipped");
  } else {
    snprintf(row, sizeof(row), "index after touching %d files", TOUCHED);
    print_row(row, touch, 3, "s", "", "", "");
  }
  print_row("memory: records (ch_record_memory)", scaled(rec_mem, 1 / bytes),
            2, "x source", "", "< 3",
            verdict(rec_mem.median / bytes < MEMORY_TARGET));
  print_row("memory: VmRSS growth", scaled(rss_grow, 1 / bytes), 2,
            "x source", "", "< 3",
            verdict(rss_grow.median / bytes < MEMORY_TARGET));
  print_row("  after malloc_trim", scaled(rss_trim, 1 / bytes), 2,
            "x source", "", "", "");
  fflush(stdout);
}

/* ---- one corpus */

/* The walk of a corpus and its parse-only runs. Every corpus is prepared
 * before any index runs: plain parsing is measured in the same conditions
 * for all (one thread, before the process has started any other: glibc's
 * malloc takes no locks until then, and the heap is fresh), so a corpus's
 * baseline does not depend on its place in the list. */
static void prepare_corpus(corpus *c) {
  walk_corpus(c);
  apply_subset(c);
  if(!c->nfiles) return;
  for(int i = 0; i < RUNS; i++)
    c->parse_s[i] = parse_only(c, i == 0, &c->parse_cpu[i]);
}

static void bench_corpus(corpus *c, totals *tot, char **keep_cache) {
  printf("\ncorpus %s:", c->name);
  for(size_t d = 0; d < c->ndirs; d++)
    printf(" %s", c->dirs[d]);
  if(c->nexts) {
    printf(" (only");
    for(size_t i = 0; i < c->nexts; i++)
      printf(" .%s", c->exts[i]);
    printf(")");
  }
  printf("\n");
  fflush(stdout);
  if(c->subset_note) printf("%s\n", c->subset_note);
  printf("%zu files, %.1f MB, walk %.2f s\n", c->nfiles, (double)c->bytes / 1e6,
         c->walk_s);
  fflush(stdout);
  if(!c->nfiles) {
    printf("warning: no files, corpus skipped\n");
    return;
  }
  /* Other processes on the machine take CPUs from the 2-worker runs
   * first: measure how much, so a noisy table says so. */
  double wall0 = now_s(), busy0 = busy_cpu_s(), self0 = self_cpu_s();

  for(int i = 0; i < RUNS; i++) {
    char *dir = fresh_dir();
    index_run r = run_index(c, 1, dir, false);
    check_cold(c, "cold, 1 worker", &r.stats);
    c->cold1_s[i] = r.seconds;
    c->cold1_cpu[i] = r.cpu_s;
    rm_tree(dir);
    ch_free(dir);
  }

  char *cache = NULL;
  for(int i = 0; i < RUNS; i++) {
    char *dir = fresh_dir();
    index_run r = run_index(c, 2, dir, true);
    check_cold(c, "cold, 2 workers", &r.stats);
    c->cold2_s[i] = r.seconds;
    c->cold2_cpu[i] = r.cpu_s;
    c->rec_mem[i] = r.rec_mem;
    c->rss_grow[i] = r.rss_grow;
    c->rss_trim[i] = r.rss_trim;
    if(cache) {
      rm_tree(cache);
      ch_free(cache);
    }
    cache = dir; /* the last one's cache feeds the warm runs */
  }

  for(int i = 0; i < RUNS; i++) {
    index_run r = run_index(c, 2, cache, false);
    c->warm_s[i] = r.seconds;
    if(r.stats.cache_hits != c->nfiles || r.stats.parsed != 0)
      printf("warning: %s warm: %zu from cache, %zu parsed, of %zu files\n",
             c->name, r.stats.cache_hits, r.stats.parsed, c->nfiles);
  }

  c->touch_skipped = !touch_prepare(c);
  for(int i = 0; i < RUNS && !c->touch_skipped; i++) {
    if(!touch_now(5 + i)) {
      c->touch_skipped = true;
      break;
    }
    index_run r = run_index(c, 2, cache, false);
    c->touch_s[i] = r.seconds;
    if(r.stats.parsed != TOUCHED || r.stats.cache_hits != c->nfiles - TOUCHED)
      printf("warning: %s after touching %d files: %zu parsed, %zu from "
             "cache, of %zu files\n",
             c->name, TOUCHED, r.stats.parsed, r.stats.cache_hits, c->nfiles);
  }
  untouch_all();
  ntouch = 0;

  double wall = now_s() - wall0;
  double other = (busy_cpu_s() - busy0) - (self_cpu_s() - self0);
  if(other < 0) other = 0;
  printf("other processes used %.0f%% of one CPU meanwhile (%.1f CPU-s in "
         "%.1f s)%s\n",
         100 * other / wall, other, wall,
         other / wall > 0.1 ? "; warning: timings, those with 2 workers "
                              "first, are lower than on an idle machine"
                            : "");
  double bytes = (double)c->bytes;
  stats cpu[3] = {summarize(c->parse_cpu, RUNS), summarize(c->cold1_cpu, RUNS),
                  summarize(c->cold2_cpu, RUNS)};
  stats parse = summarize(c->parse_s, RUNS), cold1 = summarize(c->cold1_s, RUNS),
        cold2 = summarize(c->cold2_s, RUNS), warm = summarize(c->warm_s, RUNS),
        touch = c->touch_skipped ? (stats){0} : summarize(c->touch_s, RUNS),
        rec = summarize(c->rec_mem, RUNS), grow = summarize(c->rss_grow, RUNS),
        trim = summarize(c->rss_trim, RUNS);
  print_table(c->nfiles, bytes, parse, cold1, cold2, cpu, warm, touch,
              c->touch_skipped, rec, grow, trim);

  tot->files += c->nfiles;
  tot->bytes += bytes;
  add_stats(&tot->parse, parse);
  add_stats(&tot->cold1, cold1);
  add_stats(&tot->cold2, cold2);
  add_stats(&tot->parse_cpu, cpu[0]);
  add_stats(&tot->cold1_cpu, cpu[1]);
  add_stats(&tot->cold2_cpu, cpu[2]);
  add_stats(&tot->warm, warm);
  add_stats(&tot->touch, touch);
  add_stats(&tot->rec_mem, rec);
  add_stats(&tot->rss_grow, grow);
  add_stats(&tot->rss_trim, trim);
  tot->touch_skipped |= c->touch_skipped;

  if(!*keep_cache && pick_edit_file(c)) {
    *keep_cache = cache;
  } else {
    rm_tree(cache);
    ch_free(cache);
  }
}

/* ---- arguments */

/* Calls fn on each piece of s[0..) separated by sep (empty pieces
 * skipped); the pieces are fresh strings the callee owns. */
static void split(const char *s, char sep, void (*fn)(corpus *, char *),
                  corpus *c) {
  while(*s) {
    const char *end = strchr(s, sep);
    size_t n = end ? (size_t)(end - s) : strlen(s);
    if(n) fn(c, ch_strndup(s, n));
    s += n;
    if(*s) s++;
  }
}

static void add_dir(corpus *c, char *d) {
  if(c->ndirs == MAX_DIRS) die("too many folders in one corpus");
  char *real = realpath(d, NULL);
  if(!real) die("%s: %s", d, strerror(errno));
  c->dirs[c->ndirs++] = real;
  ch_free(d);
}

static void add_ext(corpus *c, char *ext) {
  if(c->nexts == MAX_EXTS) die("too many extensions");
  c->exts[c->nexts++] = ext;
}

/* "[NAME=]DIR[:DIR...]": a name is what comes before an '=' that no '/'
 * precedes. */
static void parse_corpus(corpus *c, char *arg) {
  char *eq = strchr(arg, '=');
  char *slash = strchr(arg, '/');
  const char *dirs = arg;
  if(eq && (!slash || eq < slash)) {
    *eq = 0;
    c->name = arg;
    dirs = eq + 1;
  }
  split(dirs, ':', add_dir, c);
  if(!c->ndirs) die("a corpus without folders: %s", arg);
  if(!c->name) {
    const char *last = strrchr(c->dirs[0], '/');
    c->name = last && last[1] ? last + 1 : c->dirs[0];
  }
}

static void usage(void) {
  fprintf(stderr, "usage: bench_index [--ext=LIST] [--max-files=N] "
                  "[NAME=]DIR[:DIR...] ...\n");
  exit(2);
}

int main(int argc, char **argv) {
  static corpus corpora[MAX_CORPORA];
  size_t ncorpora = 0;
  char *exts = NULL;
  size_t max_files = 0;
  for(int i = 1; i < argc; i++) {
    if(strncmp(argv[i], "--ext=", 6) == 0) {
      exts = argv[i] + 6;
    } else if(strncmp(argv[i], "--max-files=", 12) == 0) {
      max_files = strtoul(argv[i] + 12, NULL, 10);
    } else if(argv[i][0] == '-') {
      usage();
    } else {
      if(ncorpora == MAX_CORPORA) die("too many corpora");
      corpus *c = &corpora[ncorpora++];
      parse_corpus(c, argv[i]);
      if(exts) split(exts, ',', add_ext, c);
      add_ext_globs(c);
      c->max_files = max_files;
      exts = NULL;
      max_files = 0;
    }
  }
  if(!ncorpora) usage();

  ch_log_set_level(CH_LOG_WARN);
  char tmpl[] = "/tmp/chorus-bench-index.XXXXXX";
  if(!mkdtemp(tmpl)) die("mkdtemp: %s", strerror(errno));
  tmp_base = tmpl;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  printf("medians of %d runs; %ld CPUs online; parse-only is one thread, "
         "every corpus's before any index runs; "
         "cold runs start from an empty cache and include writing it; "
         "MB/s counts source bytes\n",
         RUNS, cpus);

  totals tot = {0};
  char *edit_cache = NULL;
  for(size_t i = 0; i < ncorpora; i++)
    prepare_corpus(&corpora[i]);
  for(size_t i = 0; i < ncorpora; i++)
    bench_corpus(&corpora[i], &tot, &edit_cache);

  if(ncorpora > 1 && tot.files) {
    printf("\ntotal: %zu files, %.1f MB (times summed over the corpora)\n",
           tot.files, tot.bytes / 1e6);
    stats cpu[3] = {tot.parse_cpu, tot.cold1_cpu, tot.cold2_cpu};
    print_table(tot.files, tot.bytes, tot.parse, tot.cold1, tot.cold2, cpu,
                tot.warm, tot.touch, tot.touch_skipped, tot.rec_mem,
                tot.rss_grow, tot.rss_trim);
  }

  const corpus *ec = NULL;
  const file_item *ef = NULL;
  for(size_t i = 0; i < ncorpora && !ef; i++)
    if((ef = pick_edit_file(&corpora[i]))) ec = &corpora[i];
  if(ef) {
    edit_file e;
    edit_file_load(&e, ec, ef);
    printf("\nedit latency: %s (%u lines of %u, %u bytes, %s), %d edits: "
           "'x' inserted after the indentation of a random line, then "
           "deleted\n",
           ef->abs, e.nlines, ef->lines, e.len, ef->lang->name, EDITS);
    latency a = edit_extract(&e);
    latency b = edit_index(&e, edit_cache, 2);
    printf("%-44s %8s %8s %8s  %-9s %s\n", "", "median", "p99", "max",
           "target", "result");
    printf("%-44s %8.2f %8s %8s  %-9s %s\n",
           "full parse + extract (first, no old tree)", a.first_ms, "", "",
           "", "");
    printf("%-44s %8.2f %8.2f %8.2f  %-9s %s\n",
           "ch_extract with the edited old tree, ms", a.median, a.p99, a.max,
           "< 2", verdict(a.median < EDIT_TARGET_MS));
    printf("%-44s %8.2f %8s %8s  %-9s %s\n",
           "index: doc_open to idle (full parse), ms", b.first_ms, "", "", "",
           "");
    printf("%-44s %8.2f %8.2f %8.2f  %-9s %s\n",
           "index: doc_update to idle, ms", b.median, b.p99, b.max, "< 2",
           verdict(b.median < EDIT_TARGET_MS));
    ch_free(e.text);
    ch_free(e.line_starts);
  } else {
    printf("\nedit latency: no file of %d lines or more in the corpora\n",
           EDIT_LINES);
  }
  if(edit_cache) {
    rm_tree(edit_cache);
    ch_free(edit_cache);
  }
  rm_tree(tmp_base);
  return 0;
}
