/*
 * text.c: the text of one document as a list of chunks (the contract is in
 * chorus/text.h).
 *
 * Layout. The bytes live in separately allocated chunks of CHUNK_MIN to
 * CHUNK_MAX bytes; only a text made of a single chunk may hold less (down to
 * nothing). Beside the chunks, the directory keeps for every chunk i the byte
 * offset where it starts (off[i]) and the number of line breaks before it
 * (line[i]); entry `count` of both arrays holds the totals. A chunk's length
 * and break count are the differences between neighbouring entries.
 *
 * Why starts rather than per-chunk sizes: a lookup binary-searches the
 * directory (about ten probes for a 4 MB file) instead of summing up to a
 * thousand sizes with a data-dependent exit, and it happens two or three
 * times per edit; the price, adding an edit's two deltas to every later
 * entry, is a pair of branch-free loops over uint32_t arrays that compilers
 * vectorise. On the 100,000-line file of tests/bench/bench_text.c a whole
 * edit (two position lookups and the replace) takes about 0.4 us on x86-64.
 *
 * Breaks are counted at their last byte: a break "ends" at a "\n", or at a
 * "\r" that is not followed by "\n". A chunk boundary never falls between
 * the "\r" and "\n" of a CRLF, so whether a byte ends a break is decided
 * inside its chunk and chunk counts never depend on a neighbour. Edits keep
 * that true: the in-place path refuses an edit that would put a "\r" and a
 * "\n" on either side of a boundary, and the rebuild path widens its range
 * to swallow such a pair and never cuts one when it splits.
 *
 * UTF-8 sequences, unlike CRLF, may straddle chunks. Keeping them whole
 * would need a second boundary fix-up on every edit (an edit can complete or
 * break a sequence a boundary away) for the sake of two walks, advance and
 * count_units, that rarely meet a boundary; they decode through decode_at,
 * which gathers up to four bytes across the boundary when one is in reach.
 *
 * Editing. An edit inside one chunk that keeps it within its size bounds is
 * done in place with one memmove (typing is this case). Its break delta is
 * counted over the edited window only, widened by one byte on the left: a
 * "\r" just before the edit may gain or lose the "\n" that follows it. Every
 * other edit rebuilds the chunk range it covers: the kept head of the first
 * chunk, the new bytes and the kept tail of the last chunk are cut into
 * fresh chunks of about CHUNK_TARGET bytes, which also merges a chunk that
 * fell under CHUNK_MIN into a neighbour.
 */
#include "chorus/text.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

/* Sizes. A fresh chunk holds at most CHUNK_TARGET bytes (one more when a
 * cut moves past a CRLF) and, when the text needs several, at least half of
 * it; in-place edits let a chunk drift between CHUNK_MIN and CHUNK_MAX.
 * Four KiB keeps the memmove of an edit and the scan of a lookup short
 * (they touch half a chunk on average) while a 4 MB file needs only about
 * a thousand directory entries. */
enum {
  CHUNK_TARGET = 4096,
  CHUNK_MAX = 8192,
  CHUNK_MIN = 1024,
  CHUNK_ALIGN = 64, /* chunk capacities are multiples of this */
  CHUNK_SLACK = 128 /* room a fresh chunk leaves for typing */
};

typedef struct chunk {
  char *data;   /* owned; `cap` bytes allocated */
  uint32_t cap; /* at most CHUNK_MAX, and at least the chunk's length */
} chunk;

struct ch_text {
  chunk *chunks;  /* `count` entries, at least one */
  uint32_t *off;  /* count + 1 entries: where chunk i starts; off[count] is
                     the length of the text */
  uint32_t *line; /* count + 1 entries: line breaks before chunk i;
                     line[count] is the total */
  size_t count;   /* chunks in use */
  size_t cap;     /* entries allocated in chunks (off and line: cap + 1) */
};

static inline uint32_t chunk_len(const ch_text *self, size_t i) {
  return self->off[i + 1] - self->off[i];
}

static inline uint32_t text_len(const ch_text *self) {
  return self->off[self->count];
}

static inline uint32_t text_breaks(const ch_text *self) {
  return self->line[self->count];
}

/* First and last byte of chunk i, or -1 when it is empty. */
static int chunk_first(const ch_text *self, size_t i) {
  return chunk_len(self, i) ? (unsigned char)self->chunks[i].data[0] : -1;
}

static int chunk_last(const ch_text *self, size_t i) {
  uint32_t n = chunk_len(self, i);
  return n ? (unsigned char)self->chunks[i].data[n - 1] : -1;
}

/* A capacity for a chunk of n bytes: some slack so typing does not realloc
 * at once, rounded so the allocator's size classes are used well. */
static uint32_t chunk_cap_for(size_t n) {
  size_t cap = (n + CHUNK_SLACK + CHUNK_ALIGN - 1) & ~(size_t)(CHUNK_ALIGN - 1);
  return (uint32_t)CH_MIN(cap, (size_t)CHUNK_MAX);
}

/* ---- counting line breaks ------------------------------------------------
 *
 * The hot loops of the module: every lookup scans half a chunk on average,
 * so they look at a block of bytes per step and turn it into a mask with a
 * bit per byte that ends a break. Three ways to build the mask, best first:
 *
 *   SSE2 (every x86-64): 64 bytes per step, bit j for byte j;
 *   SWAR (other little-endian machines): 8 bytes per step in a uint64_t,
 *     the high bit of byte j for byte j, with no intrinsics at all;
 *   none: the byte loop alone, which also handles every tail.
 *
 * Per edit in bench_text (two lookups and a replace), on x86-64: about
 * 0.4 us with SSE2, 0.75-0.95 us with SWAR, 1.6-2.3 us with bytes only. */

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define TEXT_BLOCK 64
#elif defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&           \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TEXT_BLOCK 8
#else
#define TEXT_BLOCK 0
#endif

/* Whether p[i] (i < n) ends a line break; next_lf tells whether the byte
 * after p[n - 1] is a "\n". */
static inline bool ends_break(const char *p, size_t i, size_t n, bool next_lf) {
  if(p[i] == '\n') return true;
  if(p[i] != '\r') return false;
  return i + 1 < n ? p[i + 1] != '\n' : !next_lf;
}

#if TEXT_BLOCK == 64
/* Bit j set when p[j] ends a break, for j < 64; next_lf: p[64] is "\n". */
static inline uint64_t block_bits(const char *p, bool next_lf) {
  const __m128i nl = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
  uint64_t lf = 0, crs = 0;
  for(int q = 0; q < 4; q++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * q));
    lf |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl))
          << (16 * q);
    crs |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr))
           << (16 * q);
  }
  /* A "\r" ends a break unless the next byte (one bit up) is "\n". */
  uint64_t lf_after = (lf >> 1) | ((uint64_t)next_lf << 63);
  return lf | (crs & ~lf_after);
}

static inline uint32_t mask_count(uint64_t m) {
#if defined(__POPCNT__)
  return (uint32_t)__builtin_popcountll(m);
#else
  /* Without the instruction the builtin is a libgcc call; this is faster. */
  m = m - ((m >> 1) & UINT64_C(0x5555555555555555));
  m = (m & UINT64_C(0x3333333333333333)) +
      ((m >> 2) & UINT64_C(0x3333333333333333));
  m = (m + (m >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
  return (uint32_t)((m * UINT64_C(0x0101010101010101)) >> 56);
#endif
}

/* Byte index of the k-th (1-based) break in a block's mask. */
static inline size_t mask_nth(uint64_t m, uint32_t k) {
  while(--k)
    m &= m - 1;
  return (size_t)__builtin_ctzll(m);
}
#elif TEXT_BLOCK == 8
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The high bit of each byte of w that equals b, and no other bit. Exact,
 * unlike the shorter has-zero-byte trick whose borrows give false hits:
 * (x & 0x7f) + 0x7f carries into bit 7 exactly when the low bits are not
 * all zero, and cannot carry into the next byte. */
static inline uint64_t byte_eq(uint64_t w, unsigned char b) {
  uint64_t x = w ^ (ONES * b);
  uint64_t t = ((x & ~HIGHS) + ~HIGHS) | x;
  return ~t & HIGHS;
}

/* High bit of byte j set when p[j] ends a break, for j < 8; next_lf: p[8]
 * is "\n". Byte j+1 sits 8 bits above byte j. */
static inline uint64_t block_bits(const char *p, bool next_lf) {
  uint64_t w;
  memcpy(&w, p, sizeof(w)); /* one unaligned load, no aliasing concerns */
  uint64_t lf = byte_eq(w, '\n');
  uint64_t cr = byte_eq(w, '\r');
  uint64_t lf_after = (lf >> 8) | ((uint64_t)next_lf << 63);
  return lf | (cr & ~lf_after);
}

/* Bits set in a mask of high bits: one multiply gathers the 0/1 bytes
 * into the top byte, no popcount instruction needed. */
static inline uint32_t mask_count(uint64_t m) {
  return (uint32_t)(((m >> 7) * ONES) >> 56);
}

static inline size_t mask_nth(uint64_t m, uint32_t k) {
  while(--k)
    m &= m - 1;
  uint64_t low = m & (~m + 1);
  return mask_count((low - 1) & HIGHS); /* high bits below it = index */
}
#endif

/* Breaks that end in p[0..n); next_lf: the byte after p[n - 1] is "\n". */
static uint32_t count_breaks(const char *p, size_t n, bool next_lf) {
  uint32_t count = 0;
  size_t i = 0;
#if TEXT_BLOCK
  /* Strictly less: p[i + TEXT_BLOCK], the look-ahead, must be in range. */
  for(; i + TEXT_BLOCK < n; i += TEXT_BLOCK)
    count += mask_count(block_bits(p + i, p[i + TEXT_BLOCK] == '\n'));
#endif
  for(; i < n; i++)
    count += ends_break(p, i, n, next_lf);
  return count;
}

/* Index just past the k-th (1 <= k <= total) break ending in p[0..n), a
 * whole chunk holding `total` breaks. The scan starts from the nearer end,
 * which halves the bytes an average lookup reads. The byte after a chunk
 * never turns its last "\r" into half a CRLF, hence no look-ahead there. */
static size_t find_break(const char *p, size_t n, uint32_t k, uint32_t total) {
  if(k <= total / 2 + 1) {
    size_t i = 0;
#if TEXT_BLOCK
    for(; i + TEXT_BLOCK < n; i += TEXT_BLOCK) {
      uint64_t m = block_bits(p + i, p[i + TEXT_BLOCK] == '\n');
      uint32_t c = mask_count(m);
      if(c >= k) return i + mask_nth(m, k) + 1;
      k -= c;
    }
#endif
    for(; i < n; i++)
      if(ends_break(p, i, n, false) && --k == 0) return i + 1;
  } else {
    uint32_t r = total - k + 1; /* the same break, counted from the end */
    size_t i = n;
#if TEXT_BLOCK
    for(; i >= TEXT_BLOCK; i -= TEXT_BLOCK) {
      size_t at = i - TEXT_BLOCK;
      uint64_t m = block_bits(p + at, i < n && p[i] == '\n');
      uint32_t c = mask_count(m);
      if(c >= r) return at + mask_nth(m, c - r + 1) + 1;
      r -= c;
    }
#endif
    while(i-- > 0)
      if(ends_break(p, i, n, false) && --r == 0) return i + 1;
  }
  assert(!"find_break: fewer breaks than the directory says");
  return n;
}

/* ---- the directory ------------------------------------------------------- */

/* The chunk holding byte x: the last chunk starting at or before x. At a
 * boundary that is the chunk starting there; at the end, the last chunk. */
static size_t chunk_of_offset(const ch_text *self, uint32_t x) {
  size_t lo = 0, hi = self->count; /* off[lo] <= x; the answer is < hi */
  while(hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if(self->off[mid] <= x)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* The chunk where the k-th break ends (1 <= k <= total breaks). */
static size_t chunk_of_break(const ch_text *self, uint32_t k) {
  size_t lo = 0, hi = self->count - 1;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(self->line[mid + 1] >= k)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Adds an edit's deltas to directory entries from..count. The deltas are
 * two's-complement: unsigned wrap-around subtracts. Two plain loops so the
 * compiler can vectorise each. */
static void shift_after(ch_text *self, size_t from, uint32_t dlen,
                        uint32_t dbreaks) {
  uint32_t *off = self->off, *line = self->line;
  size_t end = self->count + 1;
  for(size_t j = from; j < end; j++)
    off[j] += dlen;
  for(size_t j = from; j < end; j++)
    line[j] += dbreaks;
}

static void reserve_chunks(ch_text *self, size_t n) {
  if(n <= self->cap) return;
  size_t cap = self->cap ? self->cap : 8;
  while(cap < n)
    cap *= 2;
  self->chunks = ch_realloc(self->chunks, cap * sizeof(*self->chunks));
  self->off = ch_realloc(self->off, (cap + 1) * sizeof(*self->off));
  self->line = ch_realloc(self->line, (cap + 1) * sizeof(*self->line));
  self->cap = cap;
}

/* Copies up to n bytes starting at index i of chunk c, crossing into later
 * chunks as needed; returns how many were copied (fewer at the end). */
static uint32_t copy_from(const ch_text *self, size_t c, uint32_t i, uint32_t n,
                          char *out) {
  uint32_t done = 0;
  while(done < n && c < self->count) {
    uint32_t avail = chunk_len(self, c) - i;
    uint32_t take = CH_MIN(avail, n - done);
    if(take) memcpy(out + done, self->chunks[c].data + i, take);
    done += take;
    c++;
    i = 0;
  }
  return done;
}

/* ---- positions ----------------------------------------------------------- */

/* Units a code point of `len` bytes counts for in `enc`. An encoding the
 * header does not name counts as UTF-16, the LSP default. */
static inline uint32_t units_of(uint32_t cp, size_t len, ch_encoding enc) {
  switch(enc) {
  case CH_ENC_UTF8: return (uint32_t)len;
  case CH_ENC_UTF32: return 1;
  case CH_ENC_UTF16: break;
  }
  return ch_utf16_units(cp);
}

/* Decodes the code point starting at index i of chunk c (which must be
 * before the end of the text) and returns its length. A sequence may run
 * into the next chunk; then up to four bytes are gathered first so it
 * decodes exactly as it would in a flat copy of the text. */
static size_t decode_at(const ch_text *self, size_t c, uint32_t i,
                        uint32_t *cp) {
  const char *p = self->chunks[c].data + i;
  uint32_t avail = chunk_len(self, c) - i;
  if(avail >= 4 || c + 1 == self->count) return ch_utf8_decode(p, avail, cp);
  char tmp[4];
  uint32_t n = copy_from(self, c, i, sizeof(tmp), tmp);
  return ch_utf8_decode(tmp, n, cp);
}

/* Byte offset where line `ln` starts (clamped to the length). */
static uint32_t line_start(const ch_text *self, uint32_t ln) {
  if(ln == 0) return 0;
  if(ln > text_breaks(self)) return text_len(self);
  size_t c = chunk_of_break(self, ln);
  size_t i = find_break(self->chunks[c].data, chunk_len(self, c),
                        ln - self->line[c], self->line[c + 1] - self->line[c]);
  return self->off[c] + (uint32_t)i;
}

/* From `from` (a character start), walks `chars` units of `enc` and returns
 * the offset reached. Stops early at a line break or the end of the text,
 * and before a code point that would overshoot (the snap to its start). */
static uint32_t advance(const ch_text *self, uint32_t from, uint32_t chars,
                        ch_encoding enc) {
  size_t c = chunk_of_offset(self, from);
  uint32_t i = from - self->off[c];
  uint32_t done = 0;
  for(;;) {
    uint32_t n = chunk_len(self, c);
    if(i >= n) {
      /* A code point may have run past this chunk; carry the excess. */
      if(c + 1 == self->count) return text_len(self);
      i -= n;
      c++;
      continue;
    }
    const char *p = self->chunks[c].data;
    /* ASCII runs are the common case and count one unit in every
     * encoding; stay in this tight loop while they last. */
    while(i < n && done < chars) {
      unsigned char b = (unsigned char)p[i];
      if(b >= 0x80 || b == '\n' || b == '\r') break;
      i++;
      done++;
    }
    if(done == chars) return self->off[c] + i;
    if(i == n) continue;
    unsigned char b = (unsigned char)p[i];
    if(b == '\n' || b == '\r') return self->off[c] + i;
    uint32_t cp;
    size_t len = decode_at(self, c, i, &cp);
    uint32_t u = units_of(cp, len, enc);
    if(u > chars - done) return self->off[c] + i; /* inside: snap back */
    done += u;
    i += (uint32_t)len;
  }
}

/* Units of `enc` from `from` (a line start) up to `to` on the same line.
 * `to` may sit inside a code point or between the "\r" and "\n" of the
 * line's CRLF; the count then stops at the start of that code point or of
 * the CRLF. */
static uint32_t count_units(const ch_text *self, uint32_t from, uint32_t to,
                            ch_encoding enc) {
  size_t c = chunk_of_offset(self, from);
  uint32_t i = from - self->off[c];
  uint32_t pos = from, units = 0;
  while(pos < to) {
    uint32_t n = chunk_len(self, c);
    if(i >= n) { /* pos < to <= length, so a next chunk exists */
      i -= n;
      c++;
      continue;
    }
    unsigned char b = (unsigned char)self->chunks[c].data[i];
    size_t len = 1;
    uint32_t u = 1;
    if(b == '\n' || b == '\r') break;
    if(b >= 0x80) {
      uint32_t cp;
      len = decode_at(self, c, i, &cp);
      if(pos + len > to) break;
      u = units_of(cp, len, enc);
    }
    units += u;
    pos += (uint32_t)len;
    i += (uint32_t)len;
  }
  return units;
}

/* ---- rebuilding a range of chunks ---------------------------------------- */

/* The bytes that replace a chunk range, as a few borrowed pieces: whole
 * chunks pulled in on the left, the kept head of the first edited chunk,
 * the inserted data, the kept tail of the last, whole chunks on the right.
 * Reading through this rather than into one scratch buffer saves copying
 * the data twice (a whole-document replace is megabytes). */
typedef struct piece {
  const char *p; /* borrowed: a chunk's storage or the caller's data */
  size_t n;
} piece;

typedef struct source {
  piece *pieces; /* owned */
  size_t count;
  size_t total; /* bytes in all pieces */
} source;

/* Byte at pos of the source, or -1 past its end. */
static int source_byte(const source *src, size_t pos) {
  for(size_t k = 0; k < src->count; k++) {
    if(pos < src->pieces[k].n) return (unsigned char)src->pieces[k].p[pos];
    pos -= src->pieces[k].n;
  }
  return -1;
}

/* Copies source bytes [pos, pos + n) to out. */
static void source_copy(const source *src, size_t pos, size_t n, char *out) {
  for(size_t k = 0; k < src->count && n; k++) {
    const piece *pc = &src->pieces[k];
    if(pos >= pc->n) {
      pos -= pc->n;
      continue;
    }
    size_t take = CH_MIN(pc->n - pos, n);
    memcpy(out, pc->p + pos, take);
    out += take;
    n -= take;
    pos = 0;
  }
}

static void source_add(source *src, const char *p, size_t n) {
  if(!n) return;
  src->pieces[src->count].p = p;
  src->pieces[src->count].n = n;
  src->count++;
  src->total += n;
}

/* Describes what chunks a..b become when [start, end) is replaced by data:
 * chunks a..ci-1 whole, head of ci, data, tail of cj, chunks cj+1..b whole
 * (chunks strictly between ci and cj are dropped). */
static void source_fill(source *src, const ch_text *self, size_t a, size_t ci,
                        size_t cj, size_t b, uint32_t start, uint32_t end,
                        const char *data, size_t len) {
  src->pieces =
      ch_realloc(src->pieces, (ci - a + b - cj + 3) * sizeof(*src->pieces));
  src->count = 0;
  src->total = 0;
  for(size_t k = a; k < ci; k++)
    source_add(src, self->chunks[k].data, chunk_len(self, k));
  source_add(src, self->chunks[ci].data, start - self->off[ci]);
  source_add(src, data, len);
  uint32_t e = end - self->off[cj];
  source_add(src, self->chunks[cj].data + e, chunk_len(self, cj) - e);
  for(size_t k = cj + 1; k <= b; k++)
    source_add(src, self->chunks[k].data, chunk_len(self, k));
}

/* Replaces [start, end) by data[0..len) by rebuilding chunks ci..cj (start
 * lies in chunk ci, end in chunk cj, ci <= cj), widened as needed. The
 * caller has checked that the result fits in CH_TEXT_MAX. */
static void rebuild(ch_text *self, size_t ci, size_t cj, uint32_t start,
                    uint32_t end, const char *data, size_t len) {
  size_t a = ci, b = cj;
  source src = {NULL, 0, 0};

  /* Widen until the new bytes can sit between the untouched neighbours:
   * no CRLF may straddle either outer boundary, and the result must be
   * big enough to stand as a chunk unless it is the whole text. Each round
   * swallows one neighbour, so this ends. */
  for(;;) {
    source_fill(&src, self, a, ci, cj, b, start, end, data, len);
    bool has_right = b + 1 < self->count;
    int first = source_byte(&src, 0);
    int last = src.total ? source_byte(&src, src.total - 1) : -1;
    /* An emptied range (first == -1) needs no case of its own: it is
     * below CHUNK_MIN, so it takes in a neighbour and is checked again. */
    if(first == '\n' && a > 0 && chunk_last(self, a - 1) == '\r') {
      a--;
      continue;
    }
    if(last == '\r' && has_right && chunk_first(self, b + 1) == '\n') {
      b++;
      continue;
    }
    if(src.total < CHUNK_MIN && (a > 0 || has_right)) {
      if(has_right)
        b++;
      else
        a--;
      continue;
    }
    break;
  }

  /* Cut into pieces of nearly equal size, at most CHUNK_TARGET bytes. A
   * cut that would separate "\r" from "\n" moves one byte right; pieces are
   * at least CHUNK_TARGET / 2 long when there are several, so cuts stay in
   * order. An emptied range leaves no chunk, unless it was all of them. */
  size_t old_n = b - a + 1;
  size_t total = src.total;
  size_t parts = total ? (total + CHUNK_TARGET - 1) / CHUNK_TARGET
                       : (old_n == self->count ? 1 : 0);
  size_t *cut = ch_malloc((parts + 1) * sizeof(*cut));
  cut[0] = 0;
  for(size_t k = 1; k < parts; k++) {
    size_t x = (size_t)((uint64_t)total * k / parts);
    if(source_byte(&src, x - 1) == '\r' && source_byte(&src, x) == '\n') x++;
    cut[k] = x;
  }
  cut[parts] = total;

  chunk *fresh = ch_malloc(CH_MAX(parts, (size_t)1) * sizeof(*fresh));
  uint32_t *fresh_breaks =
      ch_malloc(CH_MAX(parts, (size_t)1) * sizeof(uint32_t));
  uint32_t new_breaks = 0;
  for(size_t k = 0; k < parts; k++) {
    size_t n = cut[k + 1] - cut[k];
    fresh[k].cap = chunk_cap_for(n);
    fresh[k].data = ch_malloc(fresh[k].cap);
    source_copy(&src, cut[k], n, fresh[k].data);
    /* No cut and no outer boundary splits a CRLF (ensured above), so the
     * byte after each piece never completes its last "\r". */
    fresh_breaks[k] = count_breaks(fresh[k].data, n, false);
    new_breaks += fresh_breaks[k];
  }

  /* Splice: drop chunks a..b, slide the rest, then fix the directory. */
  uint32_t base_off = self->off[a], base_line = self->line[a];
  uint32_t old_len = self->off[b + 1] - base_off;
  uint32_t old_breaks = self->line[b + 1] - base_line;
  for(size_t k = a; k <= b; k++)
    ch_free(self->chunks[k].data);
  size_t new_count = self->count - old_n + parts;
  reserve_chunks(self, new_count);
  size_t tail = self->count - (b + 1); /* chunks after the range */
  memmove(self->chunks + a + parts, self->chunks + b + 1,
          tail * sizeof(*self->chunks));
  memmove(self->off + a + parts, self->off + b + 1,
          (tail + 1) * sizeof(*self->off));
  memmove(self->line + a + parts, self->line + b + 1,
          (tail + 1) * sizeof(*self->line));
  uint32_t run = base_line;
  for(size_t k = 0; k < parts; k++) {
    self->chunks[a + k] = fresh[k];
    self->off[a + k] = base_off + (uint32_t)cut[k];
    self->line[a + k] = run;
    run += fresh_breaks[k];
  }
  self->count = new_count;
  shift_after(self, a + parts, (uint32_t)total - old_len,
              new_breaks - old_breaks);

  ch_free(fresh_breaks);
  ch_free(fresh);
  ch_free(cut);
  ch_free(src.pieces);
}

/* Does the edit in place when [start, end) lies in chunk c, the chunk stays
 * within its size bounds and no CRLF would straddle its edges; returns
 * false, having changed nothing, otherwise. */
static bool edit_in_place(ch_text *self, size_t c, uint32_t start, uint32_t end,
                          const char *data, size_t len) {
  if(end > self->off[c + 1]) return false;
  uint32_t n = chunk_len(self, c);
  uint32_t s = start - self->off[c], e = end - self->off[c];
  size_t new_n = (size_t)n - (e - s) + len;
  if(new_n > CHUNK_MAX) return false;
  if(new_n < CHUNK_MIN && self->count > 1) return false; /* merge instead */
  char *p = self->chunks[c].data;

  /* Only an edit reaching an edge can change that edge's byte. new_n > 0
   * here whenever a neighbour exists, so the byte it reads exists. */
  if(s == 0 && c > 0 && chunk_last(self, c - 1) == '\r') {
    char first = len ? data[0] : p[e];
    if(first == '\n') return false;
  }
  if(e == n && c + 1 < self->count && chunk_first(self, c + 1) == '\n') {
    char last = len ? data[len - 1] : p[s - 1];
    if(last == '\r') return false;
  }

  /* The data may point into this very chunk (a caller copying text it got
   * from ch_text_read); the memmove or realloc below would pull it out from
   * under us. */
  char *copy = NULL;
  uintptr_t d = (uintptr_t)data, lo = (uintptr_t)p;
  if(len && d < lo + self->chunks[c].cap && d + len > lo) {
    copy = ch_memdup(data, len);
    data = copy;
  }

  /* Breaks can change only at the replaced bytes and at the byte before
   * them (a "\r" whose follower changes). The byte after the window is the
   * same before and after, so both counts use the same look-ahead; past
   * the chunk it cannot be "\n" after a "\r" (checked above). */
  uint32_t ws = s ? s - 1 : 0;
  bool next_lf = e < n && p[e] == '\n';
  uint32_t before = count_breaks(p + ws, e - ws, next_lf);

  if(new_n > self->chunks[c].cap) {
    size_t cap = CH_MAX(new_n, (size_t)self->chunks[c].cap * 3 / 2);
    cap = (cap + CHUNK_ALIGN - 1) & ~(size_t)(CHUNK_ALIGN - 1);
    cap = CH_MIN(cap, (size_t)CHUNK_MAX);
    p = self->chunks[c].data = ch_realloc(p, cap);
    self->chunks[c].cap = (uint32_t)cap;
  }
  memmove(p + s + len, p + e, n - e);
  if(len) memcpy(p + s, data, len);
  uint32_t after = count_breaks(p + ws, s + len - ws, next_lf);

  shift_after(self, c + 1, (uint32_t)new_n - n, after - before);
  ch_free(copy);
  return true;
}

/* ---- public API ---------------------------------------------------------- */

ch_text *ch_text_new(const char *data, size_t len, ch_status *error) {
  if(len > CH_TEXT_MAX) {
    if(error) *error = CH_ERR_TOO_LARGE;
    return NULL;
  }
  ch_text *self = ch_calloc(1, sizeof(*self));
  reserve_chunks(self, 1);
  self->count = 1;
  self->chunks[0].cap = chunk_cap_for(0);
  self->chunks[0].data = ch_malloc(self->chunks[0].cap);
  self->off[0] = self->off[1] = 0;
  self->line[0] = self->line[1] = 0;
  /* Loading is an insertion into the empty text; one cutting rule. */
  if(len) rebuild(self, 0, 0, 0, 0, data, len);
  if(error) *error = CH_OK;
  return self;
}

void ch_text_free(ch_text *self) {
  if(!self) return;
  for(size_t k = 0; k < self->count; k++)
    ch_free(self->chunks[k].data);
  ch_free(self->chunks);
  ch_free(self->off);
  ch_free(self->line);
  ch_free(self);
}

uint32_t ch_text_length(const ch_text *self) { return text_len(self); }

uint32_t ch_text_line_count(const ch_text *self) {
  return text_breaks(self) + 1;
}

uint32_t ch_text_offset(const ch_text *self, ch_position pos, ch_encoding enc) {
  if(pos.line > text_breaks(self)) return text_len(self);
  return advance(self, line_start(self, pos.line), pos.character, enc);
}

ch_position ch_text_position(const ch_text *self, uint32_t offset,
                             ch_encoding enc) {
  if(offset > text_len(self)) offset = text_len(self);
  size_t c = chunk_of_offset(self, offset);
  const char *p = self->chunks[c].data;
  uint32_t n = chunk_len(self, c);
  uint32_t i = offset - self->off[c];
  /* The line is the number of breaks ending before i. Count the shorter
   * side: before i, or from i on (subtracted from the total after the
   * chunk). A "\r" at i - 1 followed by "\n" at i is no break of its own,
   * which is the look-ahead on the left; on the right, a byte's status
   * depends only on bytes at or after it. */
  ch_position pos;
  if(i <= n / 2)
    pos.line = self->line[c] + count_breaks(p, i, i < n && p[i] == '\n');
  else
    pos.line = self->line[c + 1] - count_breaks(p + i, n - i, false);
  /* The line usually starts a few bytes back in this chunk; look there
   * before asking the directory (which rescans a chunk from its start). */
  uint32_t j = i;
  while(j > 0 && !ends_break(p, j - 1, n, false))
    j--;
  uint32_t start = j > 0 ? self->off[c] + j : line_start(self, pos.line);
  pos.character = count_units(self, start, offset, enc);
  return pos;
}

uint32_t ch_text_line_start(const ch_text *self, uint32_t line) {
  return line_start(self, line);
}

ch_status ch_text_replace(ch_text *self, uint32_t start, uint32_t end,
                          const char *data, size_t len) {
  uint32_t length = text_len(self);
  start = CH_MIN(start, length);
  end = CH_MIN(end, length);
  if(start > end) {
    uint32_t t = start;
    start = end;
    end = t;
  }
  uint32_t kept = length - (end - start);
  if(len > (size_t)(CH_TEXT_MAX - kept)) return CH_ERR_TOO_LARGE;
  if(start == end && len == 0) return CH_OK;
  size_t ci = chunk_of_offset(self, start);
  if(edit_in_place(self, ci, start, end, data, len)) return CH_OK;
  /* end - 1 is the last removed byte, so cj is the chunk that holds it;
   * a pure insertion stays in ci. */
  size_t cj = end > start ? chunk_of_offset(self, end - 1) : ci;
  rebuild(self, ci, cj, start, end, data, len);
  return CH_OK;
}

ch_status ch_text_replace_range(ch_text *self, ch_position start,
                                ch_position end, ch_encoding enc,
                                const char *data, size_t len) {
  uint32_t a = ch_text_offset(self, start, enc);
  uint32_t b = ch_text_offset(self, end, enc);
  return ch_text_replace(self, a, b, data, len);
}

uint32_t ch_text_copy(const ch_text *self, uint32_t start, uint32_t end,
                      char *out) {
  end = CH_MIN(end, text_len(self));
  if(start >= end) return 0;
  size_t c = chunk_of_offset(self, start);
  return copy_from(self, c, start - self->off[c], end - start, out);
}

ch_status ch_text_append_to(const ch_text *self, uint32_t start, uint32_t end,
                            ch_buf *out) {
  end = CH_MIN(end, text_len(self));
  if(start >= end) return CH_OK;
  /* Reserve first so a refusal appends nothing, as ch_buf promises. */
  ch_status result = ch_buf_reserve(out, end - start);
  if(result) return result;
  while(start < end) {
    uint32_t n;
    const char *p = ch_text_read(self, start, &n);
    n = CH_MIN(n, end - start);
    result = ch_buf_append(out, p, n);
    if(result) return result;
    start += n;
  }
  return CH_OK;
}

char *ch_text_dup(const ch_text *self, uint32_t *len) {
  uint32_t n = text_len(self);
  char *out = ch_malloc((size_t)n + 1);
  copy_from(self, 0, 0, n, out);
  out[n] = 0;
  if(len) *len = n;
  return out;
}

const char *ch_text_read(const ch_text *self, uint32_t offset, uint32_t *len) {
  if(offset >= text_len(self)) {
    *len = 0;
    return "";
  }
  size_t c = chunk_of_offset(self, offset);
  uint32_t i = offset - self->off[c];
  *len = chunk_len(self, c) - i;
  return self->chunks[c].data + i;
}

size_t ch_text_memory(const ch_text *self) {
  size_t total = sizeof(*self) + self->cap * sizeof(*self->chunks) +
                 2 * (self->cap + 1) * sizeof(uint32_t);
  for(size_t k = 0; k < self->count; k++)
    total += self->chunks[k].cap;
  return total;
}
