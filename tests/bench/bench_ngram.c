/*
 * bench_ngram.c: the builtin model (chorus/ngram.h) on real code.
 *
 *   bench_ngram [--cursors=N] [--seed=S] [--show=N] DIR...
 *
 * Indexes the folders together (2 workers, no cache), then:
 *   - builds the suffix array (ch_ngram_rebuild) and reports its time, the
 *     model's own memory (ch_ngram_memory) per source byte, and the growth
 *     of the process's peak RSS during the build (the sort's scratch);
 *   - completes at N cursors (default 3000) sampled from the indexed files:
 *     a random line of a random file (files weighted by their lines),
 *     alternately at the end of the line and at a random byte inside it,
 *     with the whole text before the cursor as the prefix. Only
 *     ch_ngram_complete is timed, in wall time (the target) and in the
 *     thread's CPU time (which a busy shared machine does not inflate). Reports
 * P50, P90, P99 and the maximum, the share of cursors answered, the share of
 * answers that are exactly what the file has after the cursor, the mean match
 * length and the share of blocks; --show=N prints the first N answers;
 *   - opens the largest file as a document with one line added (so it goes
 *     to the delta), times ch_ngram_update, and completes again at N/3 of
 *     the cursors with that delta in place;
 *   - opens more files as documents (records of their own, so they go to
 *     the delta) until the delta is near the size that makes an update
 *     rebuild, and completes again: the slowest the delta path gets.
 * Prints "ok" or "MISSED" against the targets (P99 under 2 ms, memory
 * under 6 bytes per source byte). The exit status is 1 only when the bench
 * cannot run.
 */
#include "chorus/index.h"
#include "chorus/ngram.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define P99_TARGET_MS 2.0
#define MEMORY_TARGET 6.0

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static uint32_t rng(uint32_t bound) {
  return bound ? (uint32_t)(rng_next() % bound) : 0;
}

static long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) return NULL;
  struct stat st;
  if(fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  char *text = ch_malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while(got < (size_t)st.st_size) {
    ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
    if(n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  text[got] = 0;
  *len = got;
  return text;
}

static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p) {
  if(!n) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return sorted[i < n ? i : n - 1];
}

typedef struct cursor_case {
  uint32_t file;
  uint32_t row;
  bool middle;
} cursor_case;

typedef struct run_stats {
  size_t tried, answered, blocks, correct;
  size_t sure, sure_correct; /* answers with confidence >= 0.5 */
  uint64_t match_sum;
  double *ms;  /* wall time */
  double *cpu; /* this thread's CPU time: without time lost to other
                  processes on a shared machine */
} run_stats;

/* Picks the cursors: files weighted by their lines. */
static cursor_case *pick_cursors(const ch_snapshot *snap, size_t n) {
  uint32_t count = ch_snapshot_count(snap);
  uint64_t *cum = ch_malloc(((size_t)count + 1) * sizeof(uint64_t));
  cum[0] = 0;
  for(uint32_t i = 0; i < count; i++) {
    const ch_record *r = ch_snapshot_file(snap, i);
    cum[i + 1] = cum[i] + (r && r->ntokens ? r->nlines : 0);
  }
  cursor_case *cases = ch_malloc(n * sizeof(cursor_case));
  for(size_t k = 0; k < n; k++) {
    uint64_t at = cum[count] ? rng_next() % cum[count] : 0;
    uint32_t lo = 0, hi = count;
    while(lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if(cum[mid + 1] <= at)
        lo = mid + 1;
      else
        hi = mid;
    }
    cases[k].file = lo;
    cases[k].row = (uint32_t)(at - cum[lo]);
    cases[k].middle = k % 2;
  }
  ch_free(cum);
  return cases;
}

/* Completes at each case; files are read outside the timing. */
static void run_cursors(ch_ngram *m, const ch_snapshot *snap,
                        const cursor_case *cases, size_t n, int *show,
                        run_stats *out) {
  memset(out, 0, sizeof(*out));
  out->ms = ch_malloc((n ? n : 1) * sizeof(double));
  out->cpu = ch_malloc((n ? n : 1) * sizeof(double));
  uint32_t cached_file = CH_NONE;
  char *text = NULL;
  size_t len = 0;
  for(size_t k = 0; k < n; k++) {
    const cursor_case *c = &cases[k];
    const ch_record *r = ch_snapshot_file(snap, c->file);
    if(!r || c->row >= r->nlines) continue;
    if(c->file != cached_file) {
      ch_free(text);
      text = read_file(ch_snapshot_abs_path(snap, c->file), &len);
      cached_file = c->file;
      if(!text) {
        cached_file = CH_NONE;
        continue;
      }
    }
    uint32_t ls = r->line_starts[c->row];
    if(ls > len) continue;
    uint32_t le = ls;
    while(le < len && text[le] != '\n')
      le++;
    if(le > ls && text[le - 1] == '\r') le--;
    uint32_t first = ls;
    while(first < le && (text[first] == ' ' || text[first] == '\t'))
      first++;
    if(first == le) continue; /* blank line */
    uint32_t cursor = le;
    if(c->middle) {
      cursor = first + 1 + rng(le - first);
      while(cursor < le && ((unsigned char)text[cursor] & 0xC0) == 0x80)
        cursor++;
    }
    ch_ngram_result res;
    double c0 = thread_cpu_ms();
    uint64_t t0 = ch_now_ns();
    ch_status st = ch_ngram_complete(m, snap, c->file, NULL, cursor, text,
                                     cursor, NULL, &res);
    double ms = (double)(ch_now_ns() - t0) / 1e6;
    out->cpu[out->tried] = thread_cpu_ms() - c0;
    out->ms[out->tried++] = ms;
    if(st == CH_OK) {
      out->answered++;
      /* Right when the file goes on with exactly that text (CRLF aside). */
      bool right =
          res.len <= len - cursor && !memcmp(text + cursor, res.text, res.len);
      out->correct += right;
      if(res.confidence >= 0.5) {
        out->sure++;
        out->sure_correct += right;
      }
      if(show && *show > 0) {
        (*show)--;
        uint32_t from = cursor > 60 ? cursor - 60 : 0;
        printf("  --- %s:%u\n  before: \"%.*s\"\n  answer: \"%s\" (%s:%u, "
               "match %u, conf %.2f)\n",
               r->path, c->row + 1, (int)(cursor - from), text + from, res.text,
               res.path, res.line + 1, res.match_tokens, res.confidence);
      }
      out->blocks += res.block;
      out->match_sum += res.match_tokens;
      ch_ngram_result_release(&res);
    }
  }
  ch_free(text);
  qsort(out->ms, out->tried, sizeof(double), cmp_double);
  qsort(out->cpu, out->tried, sizeof(double), cmp_double);
}

static void print_run(const char *title, const run_stats *s) {
  printf("%s: %zu cursors, answered %.1f%%, of which %.1f%% exactly what "
         "the file has next; mean match %.1f tokens, blocks %.1f%% of "
         "answers\n",
         title, s->tried,
         s->tried ? 100.0 * (double)s->answered / (double)s->tried : 0.0,
         s->answered ? 100.0 * (double)s->correct / (double)s->answered : 0.0,
         s->answered ? (double)s->match_sum / (double)s->answered : 0.0,
         s->answered ? 100.0 * (double)s->blocks / (double)s->answered : 0.0);
  printf("  confidence >= 0.5: %.1f%% of cursors, of which %.1f%% exactly "
         "right\n",
         s->tried ? 100.0 * (double)s->sure / (double)s->tried : 0.0,
         s->sure ? 100.0 * (double)s->sure_correct / (double)s->sure : 0.0);
  double p99 = pct(s->ms, s->tried, 0.99);
  printf("  latency ms: P50 %.3f  P90 %.3f  P99 %.3f  max %.3f   "
         "(target P99 < %.0f ms: %s)\n",
         pct(s->ms, s->tried, 0.50), pct(s->ms, s->tried, 0.90), p99,
         s->tried ? s->ms[s->tried - 1] : 0.0, P99_TARGET_MS,
         p99 < P99_TARGET_MS ? "ok" : "MISSED");
  printf("  CPU ms:     P50 %.3f  P90 %.3f  P99 %.3f  max %.3f\n",
         pct(s->cpu, s->tried, 0.50), pct(s->cpu, s->tried, 0.90),
         pct(s->cpu, s->tried, 0.99), s->tried ? s->cpu[s->tried - 1] : 0.0);
}

int main(int argc, char **argv) {
  size_t ncursors = 3000;
  int show = 0;
  const char *dirs[64];
  int ndirs = 0;
  for(int i = 1; i < argc; i++) {
    if(!strncmp(argv[i], "--cursors=", 10))
      ncursors = strtoul(argv[i] + 10, NULL, 10);
    else if(!strncmp(argv[i], "--show=", 7))
      show = atoi(argv[i] + 7);
    else if(!strncmp(argv[i], "--seed=", 7))
      rng_state = strtoull(argv[i] + 7, NULL, 10) | 1;
    else if(ndirs < 64)
      dirs[ndirs++] = argv[i];
  }
  if(!ndirs) {
    fprintf(stderr,
            "usage: bench_ngram [--cursors=N] [--seed=S] [--show=N] DIR...\n");
    return 1;
  }
  ch_log_set_level(CH_LOG_WARN);
  ch_index_options o = {0};
  o.workers = 2;
  o.cache_dir = "";
  ch_status err = CH_OK;
  ch_index *index = ch_index_new(&o, &err);
  if(!index) {
    fprintf(stderr, "bench_ngram: index: %s\n", ch_strerror(err));
    return 1;
  }
  uint64_t t0 = ch_now_ns();
  for(int i = 0; i < ndirs; i++) {
    char *abs = realpath(dirs[i], NULL);
    if(!abs || ch_index_add_root(index, abs) != CH_OK) {
      fprintf(stderr, "bench_ngram: cannot index %s\n", dirs[i]);
      free(abs);
      ch_index_free(index);
      return 1;
    }
    free(abs);
  }
  ch_index_wait_idle(index);
  double index_s = (double)(ch_now_ns() - t0) / 1e9;
  ch_snapshot *snap = ch_index_snapshot(index);
  uint64_t src = 0, tokens = 0, token_bytes = 0;
  uint32_t files = 0, largest = CH_NONE;
  for(uint32_t i = 0; i < ch_snapshot_count(snap); i++) {
    const ch_record *r = ch_snapshot_file(snap, i);
    if(!r || !r->ntokens) continue;
    files++;
    src += r->size;
    tokens += r->ntokens;
    token_bytes += (uint64_t)r->ntokens * 8;
    if(largest == CH_NONE || r->size > ch_snapshot_file(snap, largest)->size)
      largest = i;
  }
  printf("corpus: %u files, %.1f MB of source, %.1f M tokens (indexed in "
         "%.1f s)\n",
         files, (double)src / 1e6, (double)tokens / 1e6, index_s);
  if(!files) {
    printf("nothing to complete from\n");
    ch_snapshot_unref(snap);
    ch_index_free(index);
    return 0;
  }

  ch_ngram *m = ch_ngram_new();
  long rss0 = peak_rss_kb();
  t0 = ch_now_ns();
  ch_ngram_rebuild(m, snap);
  double build_s = (double)(ch_now_ns() - t0) / 1e9;
  long rss1 = peak_rss_kb();
  size_t mem = ch_ngram_memory(m);
  double per = (double)mem / (double)src;
  printf("build: %.2f s (%.1f MB of source/s); peak RSS grew %.0f MB during "
         "the build\n",
         build_s, (double)src / 1e6 / build_s, (double)(rss1 - rss0) / 1024);
  printf("memory: model %.1f MB = %.2f bytes per source byte (target < %.0f: "
         "%s); the records' token ids and offsets add %.2f\n",
         (double)mem / 1e6, per, MEMORY_TARGET,
         per < MEMORY_TARGET ? "ok" : "MISSED",
         (double)token_bytes / (double)src);

  cursor_case *cases = pick_cursors(snap, ncursors);
  run_stats base_run;
  run_cursors(m, snap, cases, ncursors, &show, &base_run);
  print_run("complete", &base_run);

  /* One document changed: the delta path. */
  const ch_record *big = ch_snapshot_file(snap, largest);
  const char *big_abs = ch_snapshot_abs_path(snap, largest);
  size_t len = 0;
  char *text = read_file(big_abs, &len);
  if(text) {
    char *edited = ch_malloc(len + 64);
    memcpy(edited, text, len);
    int extra = snprintf(edited + len, 64, "\nadded_line = 1\n");
    ch_index_doc_open(index, big_abs, big->lang, edited,
                      (uint32_t)(len + (size_t)extra), 1);
    ch_index_wait_idle(index);
    ch_snapshot *snap2 = ch_index_snapshot(index);
    t0 = ch_now_ns();
    ch_ngram_update(m, snap2);
    double update_ms = (double)(ch_now_ns() - t0) / 1e6;
    ch_ngram_stats stats;
    ch_ngram_stats_get(m, &stats);
    printf("update with one changed document (%s, %.0f KB): %.1f ms; delta "
           "%u files, %.0f K tokens; rebuilds %u\n",
           big->path, (double)big->size / 1e3, update_ms, stats.delta_files,
           (double)stats.delta_tokens / 1e3, stats.rebuilds);
    run_stats delta_run;
    run_cursors(m, snap2, cases, ncursors / 3, NULL, &delta_run);
    print_run("complete with that delta", &delta_run);
    ch_free(delta_run.ms);
    ch_free(delta_run.cpu);
    ch_snapshot_unref(snap2);
    ch_free(edited);
    ch_free(text);
  }

  /* Many documents changed, the delta just under the size that makes an
   * update rebuild: the slowest the delta path gets. */
  uint64_t limit = 131072; /* DELTA_TOKENS_MAX of ngram.c */
  uint32_t *ids = ch_malloc((size_t)ch_snapshot_count(snap) * sizeof(uint32_t));
  uint32_t nids = 0;
  for(uint32_t i = 0; i < ch_snapshot_count(snap); i++) {
    const ch_record *r = ch_snapshot_file(snap, i);
    if(r && r->ntokens && i != largest) ids[nids++] = i;
  }
  uint64_t in_delta = ch_snapshot_file(snap, largest)->ntokens;
  uint32_t opened = 0;
  for(uint32_t k = 0; k < nids; k++) {
    const ch_record *r = ch_snapshot_file(snap, ids[k]);
    if(in_delta + r->ntokens > limit * 95 / 100) continue;
    const char *abs = ch_snapshot_abs_path(snap, ids[k]);
    size_t n = 0;
    char *t = read_file(abs, &n);
    if(!t) continue;
    ch_index_doc_open(index, abs, r->lang, t, (uint32_t)n, 1);
    ch_free(t);
    in_delta += r->ntokens;
    opened++;
    if(in_delta > limit * 9 / 10) break;
  }
  ch_free(ids);
  ch_index_wait_idle(index);
  ch_snapshot *snap3 = ch_index_snapshot(index);
  t0 = ch_now_ns();
  ch_ngram_update(m, snap3);
  double update_ms = (double)(ch_now_ns() - t0) / 1e6;
  ch_ngram_stats stats;
  ch_ngram_stats_get(m, &stats);
  printf("update with %u more open documents: %.1f ms; delta %u files, %.0f K "
         "tokens (rebuild past %.0f K); rebuilds %u\n",
         opened, update_ms, stats.delta_files, (double)stats.delta_tokens / 1e3,
         (double)limit / 1e3, stats.rebuilds);
  run_stats full_run;
  run_cursors(m, snap3, cases, ncursors / 3, NULL, &full_run);
  print_run("complete with the delta near its limit", &full_run);
  ch_free(full_run.ms);
  ch_free(full_run.cpu);
  ch_snapshot_unref(snap3);
  ch_free(base_run.ms);
  ch_free(base_run.cpu);
  ch_free(cases);
  ch_ngram_free(m);
  ch_snapshot_unref(snap);
  ch_index_free(index);
  return 0;
}
