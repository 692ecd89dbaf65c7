/* ngram.c: the builtin model (chorus/ngram.h).
 *
 * Layout. The "base" holds every file's tokens reversed and concatenated,
 * each file followed by a 0 sentinel (token id 0 is stored as 1, which
 * merges two ids out of 2^32):
 *
 *     file f, tokens t0..tm-1  ->  rv[off_f .. off_f+m) = tm-1 .. t0, then 0
 *
 * and a suffix array over rv, sorted to CH_NGRAM_DEPTH tokens by prefix
 * doubling (Manber and Myers: each round sorts by rank pairs with two
 * counting sorts, linear per round). A suffix of rv read from position p
 * is the text before a forward position read backwards, so the longest
 * match of the tokens before the cursor is the longest prefix of the
 * reversed query that some suffix starts with: narrowed token by token
 * with two binary searches inside the current interval. The token that
 * follows an occurrence at p is rv[p - 1] (none when p == off_f).
 *
 * The "delta" is the files added or changed since the base was built; a
 * query scans their tokens directly. Base files changed or gone since are
 * "dead" and their occurrences skipped.
 *
 * A state (base + delta + dead flags) is immutable and reference-counted;
 * an update makes a new one and swaps it in under `lock`.
 */
#include "chorus/ngram.h"
#include "chorus/lex.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FNV_BASIS 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

/* Occurrences examined per match length. */
#define SAMPLE_MAX 256
/* An update rebuilds the suffix array when the delta holds more tokens. */
#define DELTA_TOKENS_MAX 131072
/* Delta occurrences kept per query. */
#define DELTA_OCC_MAX 4096
/* Texts fetched (pread or prefix) per query. */
#define FETCH_MAX 48
/* Groups of continuations tried per match length. */
#define GROUPS_MAX 6
/* Record tokens checked against the prefix text, from the cursor back. */
#define VERIFY_BACK 64
/* Bytes lexed plainly when the record does not match the prefix. */
#define LEX_BACK 4096
/* Indentation is looked for this far back on a line. */
#define LINE_BACK 1024

typedef struct nfile {
  ch_record *rec; /* one reference */
  char *abs;      /* owned */
  uint32_t off;   /* base: rv offset of its last token */
} nfile;

typedef struct base {
  atomic_uint refs;
  uint32_t *rv, n; /* reversed tokens and sentinels */
  uint32_t *sa, nsa;
  nfile *files; /* by off, ascending */
  uint32_t nfiles;
  ch_map by_path; /* abs -> index + 1 */
} base;

typedef struct state {
  atomic_uint refs;
  base *base;    /* a reference, or NULL */
  uint8_t *dead; /* per base file */
  uint32_t ndead;
  nfile *delta;
  uint32_t ndelta;
  uint64_t delta_tokens;
} state;

struct ch_ngram {
  pthread_mutex_t lock;        /* guards cur and stats */
  pthread_mutex_t update_lock; /* one update at a time */
  state *cur;
  uint32_t rebuilds;
  double last_build_ms;
};

/* ---- small helpers --------------------------------------------------------
 */

static inline uint32_t remap(uint32_t id) { return id ? id : 1; }

/* The length of the token whose ch_token_id is `id` at s[0..avail): the
 * shortest such prefix (index.h), or 0 when there is none. */
static uint32_t token_len(const char *s, uint32_t avail, uint32_t id) {
  uint64_t h = FNV_BASIS;
  for(uint32_t i = 0; i < avail; i++) {
    h ^= (unsigned char)s[i];
    h *= FNV_PRIME;
    if((uint32_t)(h ^ (h >> 32)) == id) return i + 1;
  }
  return 0;
}

static bool is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

static bool is_hspace(char c) { return c == ' ' || c == '\t'; }

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

/* The row of byte `at` in a record. */
static uint32_t row_of(const ch_record *r, uint32_t at) {
  uint32_t lo = 0, hi = r->nlines;
  while(lo < hi) { /* first line start > at */
    uint32_t mid = lo + (hi - lo) / 2;
    if(r->line_starts[mid] <= at)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? lo - 1 : 0;
}

static void nfile_release(nfile *f) {
  ch_record_unref(f->rec);
  ch_free(f->abs);
}

/* ---- states ----------------------------------------------------------------
 */

static void base_unref(base *b) {
  if(!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
  for(uint32_t i = 0; i < b->nfiles; i++)
    nfile_release(&b->files[i]);
  ch_free(b->files);
  ch_free(b->rv);
  ch_free(b->sa);
  ch_map_release(&b->by_path, NULL);
  ch_free(b);
}

static void state_unref(state *s) {
  if(!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  base_unref(s->base);
  ch_free(s->dead);
  for(uint32_t i = 0; i < s->ndelta; i++)
    nfile_release(&s->delta[i]);
  ch_free(s->delta);
  ch_free(s);
}

static state *state_get(ch_ngram *self) {
  pthread_mutex_lock(&self->lock);
  state *s = self->cur;
  if(s) atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&self->lock);
  return s;
}

static void state_swap(ch_ngram *self, state *s) {
  pthread_mutex_lock(&self->lock);
  state *old = self->cur;
  self->cur = s;
  pthread_mutex_unlock(&self->lock);
  state_unref(old);
}

ch_ngram *ch_ngram_new(void) {
  ch_ngram *self = ch_calloc(1, sizeof(*self));
  pthread_mutex_init(&self->lock, NULL);
  pthread_mutex_init(&self->update_lock, NULL);
  return self;
}

void ch_ngram_free(ch_ngram *self) {
  if(!self) return;
  state_unref(self->cur);
  pthread_mutex_destroy(&self->lock);
  pthread_mutex_destroy(&self->update_lock);
  ch_free(self);
}

/* ---- building the suffix array ------------------------------------------- */

/* Sorts every position of rv[0..n) by its first CH_NGRAM_DEPTH tokens
 * (positions past the end read as 0, below every token and sentinel).
 * Returns the positions in order (n entries). */
static uint32_t *suffix_sort(const uint32_t *rv, uint32_t n) {
  uint32_t *sa = ch_malloc((size_t)n * sizeof(uint32_t));
  uint32_t *tmp = ch_malloc((size_t)n * sizeof(uint32_t));
  uint32_t *rank = ch_malloc((size_t)n * sizeof(uint32_t));
  /* Round 0: by the first token, a two-pass radix sort on 16-bit digits. */
  uint32_t *cnt = ch_malloc(((size_t)CH_MAX(n, 65536u) + 2) * sizeof(uint32_t));
  memset(cnt, 0, 65536 * sizeof(uint32_t));
  for(uint32_t i = 0; i < n; i++)
    cnt[rv[i] & 0xffff]++;
  for(uint32_t d = 0, sum = 0; d < 65536; d++) {
    uint32_t c = cnt[d];
    cnt[d] = sum;
    sum += c;
  }
  for(uint32_t i = 0; i < n; i++)
    tmp[cnt[rv[i] & 0xffff]++] = i;
  memset(cnt, 0, 65536 * sizeof(uint32_t));
  for(uint32_t i = 0; i < n; i++)
    cnt[rv[i] >> 16]++;
  for(uint32_t d = 0, sum = 0; d < 65536; d++) {
    uint32_t c = cnt[d];
    cnt[d] = sum;
    sum += c;
  }
  for(uint32_t j = 0; j < n; j++)
    sa[cnt[rv[tmp[j]] >> 16]++] = tmp[j];
  /* Ranks from 1: 0 is "past the end". */
  uint32_t maxrank = 0;
  for(uint32_t j = 0; j < n; j++) {
    if(j == 0 || rv[sa[j]] != rv[sa[j - 1]]) maxrank++;
    rank[sa[j]] = maxrank;
  }
  for(uint32_t h = 1; h < CH_NGRAM_DEPTH && maxrank < n; h *= 2) {
    /* By the second half: positions whose second half is past the end
     * first, then in the order of their second half. */
    uint32_t t = 0;
    for(uint32_t i = n > h ? n - h : 0; i < n; i++)
      tmp[t++] = i;
    for(uint32_t j = 0; j < n; j++)
      if(sa[j] >= h) tmp[t++] = sa[j] - h;
    /* Stable by the first half. */
    memset(cnt, 0, ((size_t)maxrank + 2) * sizeof(uint32_t));
    for(uint32_t i = 0; i < n; i++)
      cnt[rank[i]]++;
    for(uint32_t r = 0, sum = 0; r <= maxrank; r++) {
      uint32_t c = cnt[r];
      cnt[r] = sum;
      sum += c;
    }
    for(uint32_t j = 0; j < n; j++)
      sa[cnt[rank[tmp[j]]]++] = tmp[j];
    /* New ranks into tmp. */
    uint32_t r = 0, prev1 = 0, prev2 = 0;
    for(uint32_t j = 0; j < n; j++) {
      uint32_t p = sa[j];
      uint32_t k1 = rank[p], k2 = p + h < n ? rank[p + h] : 0;
      if(j == 0 || k1 != prev1 || k2 != prev2) r++;
      prev1 = k1;
      prev2 = k2;
      tmp[p] = r;
    }
    uint32_t *swap = rank;
    rank = tmp;
    tmp = swap;
    maxrank = r;
  }
  ch_free(cnt);
  ch_free(tmp);
  ch_free(rank);
  return sa;
}

static int cmp_abs(const void *a, const void *b) {
  return strcmp(((const nfile *)a)->abs, ((const nfile *)b)->abs);
}

/* A base over every file of the snapshot that has tokens. */
static base *base_build(const ch_snapshot *snap) {
  base *b = ch_calloc(1, sizeof(*b));
  atomic_init(&b->refs, 1);
  ch_map_init(&b->by_path);
  uint32_t count = ch_snapshot_count(snap);
  b->files = ch_malloc((size_t)(count ? count : 1) * sizeof(nfile));
  uint64_t n = 0;
  for(uint32_t id = 0; id < count; id++) {
    const ch_record *r = ch_snapshot_file(snap, id);
    const char *abs = ch_snapshot_abs_path(snap, id);
    if(!r || !abs || !r->ntokens || !r->token_starts) continue;
    if(n + r->ntokens + 1 >= UINT32_MAX) {
      ch_log_warn("builtin model: token limit reached, %s and later files "
                  "left out",
                  abs);
      break;
    }
    nfile *f = &b->files[b->nfiles++];
    f->rec = ch_record_ref((ch_record *)r);
    f->abs = ch_strdup(abs);
    n += r->ntokens + 1;
  }
  /* By path, so that equal repositories give equal arrays. */
  qsort(b->files, b->nfiles, sizeof(nfile), cmp_abs);
  b->n = (uint32_t)n;
  b->rv = ch_malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
  uint32_t at = 0;
  for(uint32_t i = 0; i < b->nfiles; i++) {
    nfile *f = &b->files[i];
    f->off = at;
    const uint32_t *t = f->rec->tokens;
    for(uint32_t k = f->rec->ntokens; k-- > 0;)
      b->rv[at++] = remap(t[k]);
    b->rv[at++] = 0;
    ch_map_put(&b->by_path, f->abs, (void *)(uintptr_t)(i + 1));
  }
  if(n) {
    uint32_t *all = suffix_sort(b->rv, b->n);
    /* Suffixes that start with a sentinel never match: leave them out. */
    uint32_t k = 0;
    for(uint32_t j = 0; j < b->n; j++)
      if(b->rv[all[j]]) all[k++] = all[j];
    b->nsa = k;
    b->sa = ch_realloc(all, (size_t)(k ? k : 1) * sizeof(uint32_t));
  }
  return b;
}

/* ---- updates ---------------------------------------------------------------
 */

static state *state_from_base(base *b) {
  state *s = ch_calloc(1, sizeof(*s));
  atomic_init(&s->refs, 1);
  s->base = b;
  s->dead = ch_calloc(b->nfiles ? b->nfiles : 1, 1);
  return s;
}

static void note_build(ch_ngram *self, uint64_t t0) {
  pthread_mutex_lock(&self->lock);
  self->rebuilds++;
  self->last_build_ms = (double)(ch_now_ns() - t0) / 1e6;
  pthread_mutex_unlock(&self->lock);
}

/* Builds a new base from the snapshot and swaps it in; update_lock held. */
static void rebuild_locked(ch_ngram *self, const ch_snapshot *snapshot) {
  uint64_t t0 = ch_now_ns();
  state *s = state_from_base(base_build(snapshot));
  note_build(self, t0);
  state_swap(self, s);
}

ch_status ch_ngram_rebuild(ch_ngram *self, const ch_snapshot *snapshot) {
  if(!self || !snapshot) return CH_ERR_INVALID;
  pthread_mutex_lock(&self->update_lock);
  rebuild_locked(self, snapshot);
  pthread_mutex_unlock(&self->update_lock);
  return CH_OK;
}

ch_status ch_ngram_update(ch_ngram *self, const ch_snapshot *snapshot) {
  if(!self || !snapshot) return CH_ERR_INVALID;
  pthread_mutex_lock(&self->update_lock);
  state *cur = state_get(self);
  if(!cur || !cur->base) {
    state_unref(cur);
    rebuild_locked(self, snapshot);
    pthread_mutex_unlock(&self->update_lock);
    return CH_OK;
  }
  base *b = cur->base;
  state *s = ch_calloc(1, sizeof(*s));
  atomic_init(&s->refs, 1);
  atomic_fetch_add(&b->refs, 1);
  s->base = b;
  s->dead = ch_malloc(b->nfiles ? b->nfiles : 1);
  memset(s->dead, 1, b->nfiles ? b->nfiles : 1);
  uint32_t count = ch_snapshot_count(snapshot), cap = 0;
  for(uint32_t id = 0; id < count; id++) {
    const ch_record *r = ch_snapshot_file(snapshot, id);
    const char *abs = ch_snapshot_abs_path(snapshot, id);
    if(!r || !abs) continue;
    uintptr_t i = (uintptr_t)ch_map_get(&b->by_path, abs);
    if(i && b->files[i - 1].rec == r) {
      s->dead[i - 1] = 0;
      continue;
    }
    if(!r->ntokens || !r->token_starts) continue;
    if(s->ndelta == cap) {
      cap = cap ? cap * 2 : 16;
      s->delta = ch_realloc(s->delta, (size_t)cap * sizeof(nfile));
    }
    nfile *f = &s->delta[s->ndelta++];
    f->rec = ch_record_ref((ch_record *)r);
    f->abs = ch_strdup(abs);
    f->off = 0;
    s->delta_tokens += r->ntokens;
  }
  for(uint32_t i = 0; i < b->nfiles; i++)
    s->ndead += s->dead[i];
  /* The delta is scanned at every query: past DELTA_TOKENS_MAX tokens
   * (about a tenth of a millisecond per query) a rebuild is worth it, and
   * sooner when the delta outgrows a small base. */
  bool rebuild = s->delta_tokens > DELTA_TOKENS_MAX ||
                 (s->delta_tokens > 16384 && s->delta_tokens > b->n / 2) ||
                 s->ndead > 64 + b->nfiles / 4;
  state_unref(cur);
  if(rebuild) {
    state_unref(s);
    rebuild_locked(self, snapshot);
  } else {
    state_swap(self, s);
  }
  pthread_mutex_unlock(&self->update_lock);
  return CH_OK;
}

size_t ch_ngram_memory(const ch_ngram *self) {
  if(!self) return 0;
  state *s = state_get((ch_ngram *)self);
  if(!s) return sizeof(*self);
  size_t m = sizeof(*self) + sizeof(*s) + s->ndelta * sizeof(nfile);
  for(uint32_t i = 0; i < s->ndelta; i++)
    m += strlen(s->delta[i].abs) + 1;
  if(s->base) {
    const base *b = s->base;
    m += sizeof(*b) + (size_t)b->n * 4 + (size_t)b->nsa * 4 +
         b->nfiles * (sizeof(nfile) + 1) + b->by_path.cap * sizeof(ch_map_slot);
    for(uint32_t i = 0; i < b->nfiles; i++)
      m += 2 * (strlen(b->files[i].abs) + 1);
  }
  state_unref(s);
  return m;
}

void ch_ngram_stats_get(const ch_ngram *self, ch_ngram_stats *out) {
  memset(out, 0, sizeof(*out));
  if(!self) return;
  ch_ngram *mut = (ch_ngram *)self;
  state *s = state_get(mut);
  if(s) {
    if(s->base) {
      out->base_tokens = s->base->n - s->base->nfiles;
      out->base_files = s->base->nfiles;
    }
    out->dead_files = s->ndead;
    out->delta_tokens = s->delta_tokens;
    out->delta_files = s->ndelta;
    state_unref(s);
  }
  pthread_mutex_lock(&mut->lock);
  out->rebuilds = mut->rebuilds;
  out->last_build_ms = mut->last_build_ms;
  pthread_mutex_unlock(&mut->lock);
}

/* ---- the query: tokens before the cursor -----------------------------------
 */

typedef struct query {
  uint32_t ids[CH_NGRAM_DEPTH]; /* remapped, oldest first */
  uint32_t n;
  uint32_t end; /* document byte where the last token ends */
  bool inside;  /* the text ends inside a string or a comment */
} query;

static void query_push(query *q, uint32_t id, uint32_t end) {
  if(q->n == CH_NGRAM_DEPTH) {
    memmove(q->ids, q->ids + 1, (CH_NGRAM_DEPTH - 1) * sizeof(uint32_t));
    q->n--;
  }
  q->ids[q->n++] = remap(id);
  q->end = end;
}

/* Lexes text the record does not cover (typed since it was built) with
 * the plain lexer (chorus/lex.h). text[0..len) is at document byte `at`. */
static void lex(const char *text, uint32_t len, uint32_t at,
                const ch_language *lang, query *q) {
  ch_lexer lx;
  ch_lexer_init(&lx, lang, text, len);
  uint32_t s, e;
  ch_lex_kind kind;
  while(ch_lex_next(&lx, &s, &e, &kind))
    query_push(q, ch_token_id(text + s, e - s), at + e);
  if(lx.inside) q->inside = true;
}

/* The tokens before `tail_end` (a document byte inside the prefix window
 * [win, win + wlen)): the record's tokens up to the last one that still
 * matches the window's text, then the rest of the window lexed. */
static void build_query(const ch_record *rec, const ch_language *lang,
                        const char *pre, uint32_t win, uint32_t tail_end,
                        query *q) {
  memset(q, 0, sizeof(*q));
  q->end = win;
  int64_t anchor = -1;
  uint32_t anchor_end = 0;
  if(rec && rec->ntokens && rec->token_starts) {
    uint32_t lo = 0, hi = rec->ntokens; /* tokens starting before tail_end */
    while(lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if(rec->token_starts[mid] < tail_end)
        lo = mid + 1;
      else
        hi = mid;
    }
    uint32_t good = 0, steps = 0;
    for(int64_t t = (int64_t)lo - 1; t >= 0 && steps < VERIFY_BACK;
        t--, steps++) {
      uint32_t s = rec->token_starts[t];
      if(s < win) break;
      uint32_t limit = (uint32_t)t + 1 < rec->ntokens
                           ? rec->token_starts[t + 1]
                           : (uint32_t)CH_MIN(rec->size, UINT32_MAX);
      if(limit > tail_end || limit < s) limit = tail_end;
      uint32_t n = token_len(pre + (s - win), limit - s, rec->tokens[t]);
      if(!n) {
        good = 0;
        continue;
      }
      if(good == 0) anchor_end = s + n;
      good++;
      if(good == 3 || t == 0) {
        anchor = t + (int64_t)good - 1;
        break;
      }
    }
  }
  if(anchor >= 0) {
    uint32_t first =
        anchor + 1 > CH_NGRAM_DEPTH ? (uint32_t)anchor + 1 - CH_NGRAM_DEPTH : 0;
    for(uint32_t t = first; t <= (uint32_t)anchor; t++)
      query_push(q, rec->tokens[t], rec->token_starts[t]);
    q->end = anchor_end;
    lex(pre + (anchor_end - win), tail_end - anchor_end, anchor_end, lang, q);
    return;
  }
  uint32_t from = win;
  if(tail_end - win > LEX_BACK) {
    from = tail_end - LEX_BACK;
    /* Start at a line start, not inside a token. */
    while(from < tail_end && pre[from - win] != '\n')
      from++;
  }
  lex(pre + (from - win), tail_end - from, from, lang, q);
}

/* ---- the query: occurrences ------------------------------------------------
 */

typedef struct occ {
  const nfile *file;
  uint32_t next; /* forward index of the continuation token */
  uint32_t id;   /* its id (raw) */
  uint32_t len;  /* delta: match length */
} occ;

typedef struct range {
  uint32_t lo, hi;
} range;

static inline uint32_t rv_at(const base *b, uint32_t p) {
  return p < b->n ? b->rv[p] : 0;
}

/* iv[k] for k = 0..: the suffixes that start with the first k tokens of the
 * reversed query. Returns the longest k with a non-empty interval. */
static uint32_t base_match(const base *b, const query *q, range *iv) {
  iv[0].lo = 0;
  iv[0].hi = b->nsa;
  uint32_t k = 0;
  for(; k < q->n; k++) {
    uint32_t c = q->ids[q->n - 1 - k];
    uint32_t lo = iv[k].lo, hi = iv[k].hi;
    while(lo < hi) { /* first >= c */
      uint32_t mid = lo + (hi - lo) / 2;
      if(rv_at(b, b->sa[mid] + k) < c)
        lo = mid + 1;
      else
        hi = mid;
    }
    uint32_t first = lo;
    hi = iv[k].hi;
    while(lo < hi) { /* first > c */
      uint32_t mid = lo + (hi - lo) / 2;
      if(rv_at(b, b->sa[mid] + k) <= c)
        lo = mid + 1;
      else
        hi = mid;
    }
    if(first == lo) break;
    iv[k + 1].lo = first;
    iv[k + 1].hi = lo;
  }
  return k;
}

/* The base file holding rv position p. */
static uint32_t base_file_of(const base *b, uint32_t p) {
  uint32_t lo = 0, hi = b->nfiles;
  while(lo < hi) { /* first with off > p */
    uint32_t mid = lo + (hi - lo) / 2;
    if(b->files[mid].off <= p)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

typedef struct ctx {
  const state *st;
  const char *cur_path; /* the document's absolute path, or NULL */
  uint32_t cursor;
  const char *pre; /* the window [win, cursor) */
  uint32_t win;
  const char *partial; /* the word being typed, in pre */
  uint32_t partial_len;
  uint32_t user_ws; /* document byte where the whitespace before the cursor
                       starts (the end of the last query token) */
  const ch_ngram_options *opt;
  /* Delta occurrences, longest first. */
  occ *docc;
  uint32_t ndocc;
  /* Scratch. */
  occ cand[SAMPLE_MAX + SAMPLE_MAX];
  uint32_t ncand;
  char *chunk;
  uint32_t chunk_cap;
  uint32_t fetches;
} ctx;

/* Whether an indexed file is the document being completed. A relative
 * path matches any indexed file whose path ends with it: better to forgo
 * a few occurrences than to read the document past the cursor. */
static bool is_current(const ctx *c, const nfile *f) {
  if(!c->cur_path) return false;
  if(c->cur_path[0] == '/') return !strcmp(f->abs, c->cur_path);
  size_t n = strlen(c->cur_path), m = strlen(f->abs);
  return n < m && f->abs[m - n - 1] == '/' &&
         !strcmp(f->abs + m - n, c->cur_path);
}

/* An occurrence may be used: its file is alive, and in the current file
 * its continuation starts before the cursor. */
static bool occ_ok(const ctx *c, const occ *o) {
  if(is_current(c, o->file))
    return o->file->rec->token_starts[o->next] < c->cursor;
  return true;
}

/* Appends the base occurrences of interval iv (sampled evenly). */
static void collect_base(ctx *c, const range *iv) {
  const base *b = c->st->base;
  uint32_t size = iv->hi - iv->lo;
  uint32_t step = size > SAMPLE_MAX ? size / SAMPLE_MAX : 1;
  for(uint32_t j = iv->lo; j < iv->hi && c->ncand < SAMPLE_MAX; j += step) {
    uint32_t p = b->sa[j];
    uint32_t fi = base_file_of(b, p);
    const nfile *f = &b->files[fi];
    if(p == f->off || c->st->dead[fi]) continue; /* no continuation */
    occ o;
    o.file = f;
    o.next = f->rec->ntokens - (p - f->off);
    o.id = f->rec->tokens[o.next];
    o.len = 0;
    if(occ_ok(c, &o)) c->cand[c->ncand++] = o;
  }
}

/* Finds the delta occurrences of the query's tail: the longest ones, at
 * most DELTA_OCC_MAX, longest first. One scan of the delta's tokens
 * collects every usable occurrence with its match length; a counting sort
 * by length keeps the longest. */
static uint32_t delta_match(ctx *c, const query *q) {
  c->ndocc = 0;
  if(!q->n || !c->st->ndelta) return 0;
  uint32_t hist[CH_NGRAM_DEPTH + 1] = {0};
  uint32_t last = q->ids[q->n - 1], nall = 0, cap = 0;
  occ *all = NULL;
  for(uint32_t d = 0; d < c->st->ndelta; d++) {
    const nfile *f = &c->st->delta[d];
    const uint32_t *t = f->rec->tokens;
    const uint32_t *starts = f->rec->token_starts;
    uint32_t m = f->rec->ntokens;
    bool cur = is_current(c, f);
    for(uint32_t j = 0; j + 1 < m; j++) {
      if(remap(t[j]) != last) continue;
      if(cur && starts[j + 1] >= c->cursor) break; /* past the cursor */
      uint32_t len = 1;
      while(len < q->n && len <= j &&
            remap(t[j - len]) == q->ids[q->n - 1 - len])
        len++;
      if(nall == cap) {
        cap = cap ? cap * 2 : 256;
        all = ch_realloc(all, (size_t)cap * sizeof(occ));
      }
      occ o = {f, j + 1, t[j + 1], len};
      all[nall++] = o;
      hist[len]++;
    }
  }
  uint32_t best = 0, total = 0, floor = 1;
  for(uint32_t L = CH_NGRAM_DEPTH; L >= 1; L--) {
    if(hist[L] && !best) best = L;
    if(total + hist[L] > DELTA_OCC_MAX) break;
    total += hist[L];
    floor = L;
  }
  if(best && !total) { /* the longest alone are too many: keep some */
    floor = best;
    total = DELTA_OCC_MAX;
  }
  if(total) {
    uint32_t at[CH_NGRAM_DEPTH + 1] = {0}; /* first slot per length */
    for(uint32_t L = CH_NGRAM_DEPTH, sum = 0; L >= floor; L--) {
      at[L] = sum;
      sum += hist[L];
    }
    c->docc = ch_malloc((size_t)total * sizeof(occ));
    for(uint32_t i = 0; i < nall; i++)
      if(all[i].len >= floor && at[all[i].len] < total)
        c->docc[at[all[i].len]++] = all[i];
    c->ndocc = total;
  }
  ch_free(all);
  return best;
}

/* ---- the query: text of an occurrence --------------------------------------
 */

typedef struct view {
  const char *p;
  uint32_t base, len; /* p[0..len) is document bytes [base, base + len) */
} view;

/* Text around an occurrence: from the start of the line of its last
 * matched token (at most LINE_BACK bytes back) to max_bytes past the
 * continuation. In the current file, only the prefix window. */
static bool fetch(ctx *c, const occ *o, view *v, uint32_t *line_start) {
  const ch_record *r = o->file->rec;
  uint32_t s1 = r->token_starts[o->next - 1];
  uint32_t ls = r->line_starts && r->nlines ? r->line_starts[row_of(r, s1)] : 0;
  if(ls > s1) ls = s1;
  bool line_known = s1 - ls <= LINE_BACK;
  uint32_t from = line_known ? ls : s1 - LINE_BACK;
  if(is_current(c, o->file)) {
    if(from < c->win) {
      from = c->win;
      line_known = false;
    }
    if(s1 < c->win) return false;
    v->p = c->pre + (from - c->win);
    v->base = from;
    v->len = c->cursor - from;
  } else {
    if(c->fetches >= FETCH_MAX) return false;
    c->fetches++;
    uint32_t want = (s1 - from) + c->opt->max_bytes + 4096;
    if(want > c->chunk_cap) {
      c->chunk = ch_realloc(c->chunk, want);
      c->chunk_cap = want;
    }
    int fd = open(o->file->abs, O_RDONLY | O_CLOEXEC);
    if(fd < 0) return false;
    ssize_t got = pread(fd, c->chunk, want, from);
    close(fd);
    if(got <= 0) return false;
    v->p = c->chunk;
    v->base = from;
    v->len = (uint32_t)got;
  }
  *line_start = line_known ? from : CH_NONE;
  return true;
}

/* The length of the token `t` of r in view v, or 0 when it is not there. */
static uint32_t view_token(const view *v, const ch_record *r, uint32_t t) {
  uint32_t s = r->token_starts[t];
  if(s < v->base || s >= v->base + v->len) return 0;
  uint64_t limit = t + 1 < r->ntokens ? r->token_starts[t + 1] : r->size;
  if(limit > v->base + v->len) limit = v->base + v->len;
  if(limit <= s) return 0;
  return token_len(v->p + (s - v->base), (uint32_t)limit - s, r->tokens[t]);
}

static uint32_t indent_len(const char *s, uint32_t n) {
  uint32_t i = 0;
  while(i < n && is_hspace(s[i]))
    i++;
  return i;
}

/* Appends s[0..n) as valid UTF-8 (invalid bytes as U+FFFD), '\r' before
 * '\n' dropped. */
static void put_text(ch_buf *out, const char *s, uint32_t n) {
  uint32_t i = 0;
  while(i < n) {
    unsigned char ch = (unsigned char)s[i];
    if(ch == '\r' && i + 1 < n && s[i + 1] == '\n') {
      i++;
      continue;
    }
    if(ch < 0x80) {
      ch_buf_append_char(out, (char)ch);
      i++;
      continue;
    }
    uint32_t cp;
    size_t k = ch_utf8_decode(s + i, n - i, &cp);
    if(cp == 0xFFFD && k == 1)
      ch_buf_append(out, "\xEF\xBF\xBD", 3);
    else
      ch_buf_append(out, s + i, k);
    i += (uint32_t)k;
  }
}

/* Whether a line has nothing but whitespace. */
static bool blank(const char *s, uint32_t n) {
  for(uint32_t i = 0; i < n; i++)
    if(!is_space(s[i])) return false;
  return true;
}

static uint32_t line_end(const char *t, uint32_t i, uint32_t end) {
  const char *nl = memchr(t + i, '\n', end - i);
  return nl ? (uint32_t)(nl - t) : end;
}

/* The answer's text from an occurrence whose view holds it; false when
 * the tokens are not where the record says or the text does not fit the
 * word being typed. *is_block tells whether it spans several lines. */
static bool build_text(ctx *c, const occ *o, const view *v, uint32_t line_start,
                       bool block, ch_buf *out, bool *is_block) {
  const ch_record *r = o->file->rec;
  uint32_t n1 = view_token(v, r, o->next - 1);
  uint32_t n2 = view_token(v, r, o->next);
  *is_block = false;
  if(!n1 || !n2) return false;
  uint32_t e1 = r->token_starts[o->next - 1] + n1 - v->base; /* in view */
  uint32_t s2 = r->token_starts[o->next] - v->base;
  if(e1 > s2) return false;
  const char *t = v->p;
  uint32_t end = v->len;
  /* Where the answer starts in the view: after the typed part of the word,
   * or after as much of the separator as the user typed already; when the
   * user started a new line, at the start of the source's line of the next
   * token, whose indentation is then adjusted and the typed part of it
   * dropped. */
  uint32_t pos, typed_ind = 0;
  bool fresh_start = false;
  const char *ws = c->pre + (c->user_ws - c->win);
  uint32_t wn = c->cursor - c->user_ws;
  if(c->partial_len) {
    if(n2 < c->partial_len || memcmp(t + s2, c->partial, c->partial_len))
      return false;
    pos = s2 + c->partial_len;
  } else {
    const char *wnl = wn ? memrchr(ws, '\n', wn) : NULL;
    const char *snl = s2 > e1 ? memrchr(t + e1, '\n', s2 - e1) : NULL;
    if(wnl && snl) {
      pos = (uint32_t)(snl - t) + 1;
      fresh_start = true;
      typed_ind = (uint32_t)(ws + wn - wnl - 1);
    } else if(wnl) {
      pos = s2;
    } else if(wn <= s2 - e1 && !memcmp(t + e1, ws, wn)) {
      pos = e1 + wn;
    } else if(s2 > e1 && memchr(t + e1, '\n', s2 - e1)) {
      pos = (uint32_t)((const char *)memchr(t + e1, '\n', s2 - e1) - t);
    } else {
      pos = s2;
    }
  }
  /* Indentation: the source's line of the last matched token corresponds
   * to the user's line of the last token before the cursor. */
  uint32_t ref = e1 ? e1 - 1 : 0;
  while(ref > 0 && t[ref - 1] != '\n')
    ref--;
  bool ref_known = ref > 0 || line_start != CH_NONE;
  uint32_t base_ind = ref_known ? indent_len(t + ref, end - ref) : 0;
  const char *user_line = NULL;
  uint32_t user_ind = 0;
  uint32_t u = (c->user_ws > c->win ? c->user_ws - 1 : c->cursor) - c->win;
  while(u > 0 && c->pre[u - 1] != '\n')
    u--;
  if(u > 0 || c->win == 0) {
    user_line = c->pre + u;
    user_ind = indent_len(user_line, c->cursor - c->win - u);
  }
  bool reindent = ref_known && user_line;
  block = block && ref_known && !c->opt->single_line;

  uint32_t max = c->opt->max_bytes, lines = 0;
  bool content = false;
  for(uint32_t i = pos; i < end && out->len <= max;) {
    uint32_t le = line_end(t, i, end), from = i;
    if((i > pos || fresh_start) && reindent) {
      /* A new line: the user's indentation for the source's. */
      uint32_t ind = indent_len(t + i, le - i);
      if(ind >= base_ind) {
        ch_buf_append(out, user_line, user_ind);
        from = i + base_ind;
      }
    }
    put_text(out, t + from, le - from);
    if(!blank(t + i, le - i)) content = true;
    if(le == end) break; /* the view ends inside the line */
    uint32_t next = le + 1;
    if(content) {
      if(!block || ++lines >= c->opt->max_lines || next >= end) break;
      /* A block goes on while lines are indented deeper than the
       * reference line; a closing bracket back at its level ends it. */
      uint32_t ne = line_end(t, next, end);
      if(blank(t + next, ne - next)) break;
      uint32_t ind = indent_len(t + next, ne - next);
      if(ind <= base_ind) {
        char first = t[next + ind];
        if(ind < base_ind || (first != '}' && first != ')' && first != ']'))
          break;
        ch_buf_append_char(out, '\n');
        if(reindent) ch_buf_append(out, user_line, user_ind);
        put_text(out, t + next + (reindent ? base_ind : 0),
                 ne - next - (reindent ? base_ind : 0));
        *is_block = true;
        break;
      }
      *is_block = true;
    }
    ch_buf_append_char(out, '\n');
    i = next;
  }
  /* Trailing whitespace says nothing; indentation the user typed already
   * is not repeated. */
  while(out->len && is_space(out->data[out->len - 1]))
    out->data[--out->len] = 0;
  if(fresh_start && typed_ind) {
    uint32_t k = 0;
    while(k < typed_ind && k < out->len && is_hspace(out->data[k]))
      k++;
    ch_buf_consume(out, k);
  }
  if(out->len > max) { /* cut on a character boundary */
    size_t cut = max;
    while(cut > 0 && ((unsigned char)out->data[cut] & 0xC0) == 0x80)
      cut--;
    out->len = cut;
    out->data[cut] = 0;
  }
  if(!memchr(out->data ? out->data : "", '\n', out->len)) *is_block = false;
  return out->len && !blank(out->data, (uint32_t)out->len);
}

/* ---- the query: choosing --------------------------------------------------
 */

typedef struct group {
  uint32_t id, count;
  uint32_t first; /* its first candidate in discovery order */
  uint32_t at;    /* where its candidates start in the sorted array */
} group;

static int cmp_group(const void *a, const void *b) {
  const group *x = a, *y = b;
  if(x->count != y->count) return x->count > y->count ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* By id, then discovery order (kept in len). */
static int cmp_cand(const void *a, const void *b) {
  const occ *x = a, *y = b;
  if(x->id != y->id) return x->id < y->id ? -1 : 1;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* Tries the candidates of one match length: groups them by continuation
 * token, most frequent first (ties: the one found first), and answers
 * from the first occurrence whose text checks out. */
static bool choose(ctx *c, uint32_t L, ch_ngram_result *out) {
  uint32_t n = c->ncand;
  if(!n) return false;
  occ *cand = c->cand;
  for(uint32_t i = 0; i < n; i++)
    cand[i].len = i;
  qsort(cand, n, sizeof(occ), cmp_cand);
  group groups[SAMPLE_MAX + SAMPLE_MAX];
  uint32_t ng = 0;
  for(uint32_t i = 0; i < n; i++) {
    if(ng && groups[ng - 1].id == cand[i].id) {
      groups[ng - 1].count++;
      continue;
    }
    groups[ng].id = cand[i].id;
    groups[ng].count = 1;
    groups[ng].first = cand[i].len;
    groups[ng].at = i;
    ng++;
  }
  qsort(groups, ng, sizeof(group), cmp_group);
  ch_buf text;
  ch_buf_init(&text, (size_t)c->opt->max_bytes * 4 + 64);
  bool done = false;
  for(uint32_t g = 0; g < ng && g < GROUPS_MAX && !done; g++) {
    bool block = groups[g].count == n && L >= c->opt->block_min_match;
    for(uint32_t i = groups[g].at, tries = 0;
        i < n && cand[i].id == groups[g].id && tries < 4 && !done;
        i++, tries++) {
      view v;
      uint32_t line_start;
      bool is_block;
      if(!fetch(c, &cand[i], &v, &line_start)) continue;
      ch_buf_reset(&text);
      if(!build_text(c, &cand[i], &v, line_start, block, &text, &is_block))
        continue;
      const ch_record *r = cand[i].file->rec;
      out->text = ch_buf_detach(&text, &out->len);
      out->match_tokens = L;
      out->occurrences = n;
      out->agreeing = groups[g].count;
      out->confidence =
          (double)groups[g].count / n * ((double)L / (double)(L + 4));
      out->path = ch_strdup(cand[i].file->abs);
      out->line = row_of(r, r->token_starts[cand[i].next]);
      out->block = is_block;
      done = true;
    }
  }
  ch_buf_release(&text);
  return done;
}

void ch_ngram_result_release(ch_ngram_result *self) {
  if(!self) return;
  ch_free(self->text);
  ch_free(self->path);
  memset(self, 0, sizeof(*self));
}

ch_status ch_ngram_complete(ch_ngram *self, const ch_snapshot *snapshot,
                            uint32_t file_id, const char *path, uint32_t cursor,
                            const char *prefix, size_t prefix_len,
                            const ch_ngram_options *options,
                            ch_ngram_result *out) {
  if(out) memset(out, 0, sizeof(*out));
  if(!self || !out || (!prefix && prefix_len) || prefix_len > cursor)
    return CH_ERR_INVALID;
  const ch_record *rec = NULL;
  if(file_id != CH_NONE) {
    if(!snapshot) return CH_ERR_INVALID;
    rec = ch_snapshot_file(snapshot, file_id);
    if(!rec) return CH_ERR_RANGE;
    /* The index's own name for it is what the occurrences carry. */
    const char *abs = ch_snapshot_abs_path(snapshot, file_id);
    if(abs) path = abs;
  }
  ch_ngram_options opt = options ? *options : (ch_ngram_options){0};
  if(!opt.max_bytes) opt.max_bytes = 1024;
  if(!opt.max_lines) opt.max_lines = 12;
  if(!opt.min_match) opt.min_match = 2;
  if(!opt.block_min_match) opt.block_min_match = 8;

  state *st = state_get(self);
  if(!st) return CH_ERR_NOT_FOUND;
  ctx *c = ch_calloc(1, sizeof(*c));
  c->st = st;
  c->cur_path = path;
  c->cursor = cursor;
  c->pre = prefix ? prefix : "";
  c->win = cursor - (uint32_t)prefix_len;
  c->opt = &opt;
  /* The word being typed, if any, is matched as a prefix of the next
   * token rather than as a token. */
  uint32_t ps = cursor;
  while(ps > c->win && is_word((unsigned char)c->pre[ps - 1 - c->win]))
    ps--;
  c->partial = c->pre + (ps - c->win);
  c->partial_len = cursor - ps;
  query q;
  build_query(rec,
              opt.language ? opt.language
              : rec        ? rec->lang
                           : NULL,
              c->pre, c->win, ps, &q);
  c->user_ws = q.end < ps ? q.end : ps;
  if(c->user_ws < c->win) c->user_ws = c->win;

  ch_status result = CH_ERR_NOT_FOUND;
  /* Inside a string or a comment the tokens say little: no answer. */
  if(q.inside) q.n = 0;
  range iv[CH_NGRAM_DEPTH + 1];
  uint32_t lb = 0;
  if(q.n && st->base && st->base->nsa) lb = base_match(st->base, &q, iv);
  uint32_t ld = delta_match(c, &q);
  uint32_t L = CH_MAX(lb, ld);
  range prev = {0, 0};
  uint32_t prev_delta = 0;
  for(; L >= opt.min_match && L > 0; L--) {
    /* Nested intervals: the same interval and the same delta occurrences
     * as the length above give the same (failed) answer. */
    uint32_t nd = 0;
    while(nd < c->ndocc && c->docc[nd].len >= L)
      nd++;
    range cur = L <= lb ? iv[L] : (range){0, 0};
    if(cur.lo == prev.lo && cur.hi == prev.hi && nd == prev_delta &&
       L != CH_MAX(lb, ld))
      continue;
    prev = cur;
    prev_delta = nd;
    c->ncand = 0;
    if(L <= lb) collect_base(c, &cur);
    for(uint32_t i = 0; i < nd && c->ncand < SAMPLE_MAX + SAMPLE_MAX; i++)
      c->cand[c->ncand++] = c->docc[i];
    if(choose(c, L, out)) {
      result = CH_OK;
      break;
    }
    if(c->fetches >= FETCH_MAX) break;
  }
  ch_free(c->docc);
  ch_free(c->chunk);
  ch_free(c);
  state_unref(st);
  return result;
}
