/* cache.c: the index on disk (chorus/cache.h).
 *
 * Every integer is little-endian and written field by field, never as a
 * struct, so a file means the same thing on every host and compiler.
 *
 * The file:
 *   header   "CHIX"            magic (4 bytes)
 *            u32 version       CH_CACHE_VERSION
 *            u32 build         build_tag(): what records mean (see there)
 *            u32 root_len, root_len bytes of the root (no NUL)
 *            u64 count         records that follow
 *            u64 header_sum    sum64 of every header byte above
 *   count times:
 *            u32 len           bytes of the record
 *            u64 sum           sum64 of those bytes
 *            len bytes         one record, as ch_record_serialize writes it
 *   trailer  "XIHC"            end marker (4 bytes)
 *            u64 count         again
 *            u64 header_sum    again
 *   and the file ends there; a byte more or less is corruption.
 *
 * Magic, version and build are checked first and give CH_ERR_STATE: a
 * file of another program or another format is not corrupt, just not
 * ours, and a later version may change everything after them. Every other
 * byte is covered by a sum or compared with something that is: the header
 * sum covers root and count, each record sum covers its bytes, and the
 * trailer must repeat the header. A changed byte there gives CH_ERR_PARSE.
 *
 * One record (ch_record_serialize):
 *   u32 path_len, path bytes (no NUL)
 *   u8 name_len, name bytes   canonical language name ("c", "tsx", ...)
 *   u64 size, u64 mtime_ns (two's complement), u64 hash
 *   u8 flags                  bit 0: parse_errors; other bits zero
 *   u32 pool_len, pool bytes
 *   u32 ndefs, then per def 17 u32: name, signature, doc, container, kind,
 *       range (start, end, start_row, start_col, end_row, end_col),
 *       name_range (same order)
 *   u32 nimports, then per import 4 u32: spec, names, row, kind
 *   u32 nidents, u32 each; u32 nlines, u32 each; u32 ntokens, u32 each
 *       (ids), then ntokens u32 (token starts)
 *
 * A record is accepted only when check_record() finds nothing wrong, on
 * the way in (deserialize) and on the way out (save skips, serialize
 * refuses), so whatever is written can be read back.
 */
#include "chorus/cache.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LITTLE_ENDIAN 1
#else
#define HOST_LITTLE_ENDIAN 0
#endif

static const char file_magic[4] = {'C', 'H', 'I', 'X'};
static const char end_magic[4] = {'X', 'I', 'H', 'C'};

#define DEF_BYTES (17 * 4)
#define IMPORT_BYTES (4 * 4)
#define FRAME_BYTES (4 + 8)
#define LANG_NAME_MAX 63
/* Bytes gathered before a write(2) while saving. */
#define FLUSH_BYTES ((size_t)1 << 20)
/* A cache file larger than this is refused rather than read into memory. */
#define FILE_MAX ((uint64_t)4 << 30)

/* ---- checksum ------------------------------------------------------------ */

/* The round and constants of xxHash64, one lane: about 8 bytes per 5
 * cycles, several times faster than the byte-wise FNV of ch_hash_bytes.
 * Each step is a bijection of the state for a fixed word and of the word
 * for a fixed state, so a file that differs from the original in one
 * 8-byte word always gets a different sum, not just almost always. */
#define P1 11400714785074694791ull
#define P2 14029467366897019727ull
#define P3 1609587929392839161ull
#define P5 2870177450012600261ull

static inline uint64_t rotl64(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const unsigned char *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
         (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
         (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint64_t avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

static uint64_t sum64(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = P5 + (uint64_t)len * P1;
  for(; len >= 8; p += 8, len -= 8)
    h = rotl64(h + load64(p) * P2, 31) * P1;
  if(len) {
    unsigned char tail[8] = {0};
    memcpy(tail, p, len);
    h = rotl64(h + load64(tail) * P2, 31) * P1;
  }
  return avalanche(h);
}

/* What the records of this build mean beyond their layout: the number of
 * definition and import kinds, the signature limit and the token ids. A
 * build that changes any of these cannot use an older cache even when
 * the layout is the same. (Host type sizes do not matter: the format is
 * explicit.) */
static uint32_t build_tag(void) {
  uint32_t parts[] = {
      DEF_BYTES,         IMPORT_BYTES,     CH_DEF_KIND_COUNT,
      CH_IMPORT_PACKAGE, CH_SIGNATURE_MAX, ch_token_id("chorus", 6),
  };
  unsigned char bytes[sizeof(parts)];
  for(size_t i = 0; i < CH_ARRAY_LEN(parts); i++)
    for(int b = 0; b < 4; b++)
      bytes[i * 4 + (size_t)b] = (unsigned char)(parts[i] >> (8 * b));
  uint64_t h = sum64(bytes, sizeof(bytes));
  return (uint32_t)(h ^ (h >> 32));
}

/* ---- writing bytes ------------------------------------------------------- */

static inline unsigned char *put_u8(unsigned char *w, uint8_t v) {
  *w = v;
  return w + 1;
}

static inline unsigned char *put_u32(unsigned char *w, uint32_t v) {
  w[0] = (unsigned char)v;
  w[1] = (unsigned char)(v >> 8);
  w[2] = (unsigned char)(v >> 16);
  w[3] = (unsigned char)(v >> 24);
  return w + 4;
}

static inline unsigned char *put_u64(unsigned char *w, uint64_t v) {
  w = put_u32(w, (uint32_t)v);
  return put_u32(w, (uint32_t)(v >> 32));
}

static inline unsigned char *put_bytes(unsigned char *w, const void *p,
                                       size_t n) {
  if(n) memcpy(w, p, n);
  return w + n;
}

static unsigned char *put_u32s(unsigned char *w, const uint32_t *v, size_t n) {
#if HOST_LITTLE_ENDIAN
  return put_bytes(w, v, n * 4);
#else
  for(size_t i = 0; i < n; i++)
    w = put_u32(w, v[i]);
  return w;
#endif
}

static unsigned char *put_span(unsigned char *w, const ch_span *s) {
  w = put_u32(w, s->start);
  w = put_u32(w, s->end);
  w = put_u32(w, s->start_row);
  w = put_u32(w, s->start_col);
  w = put_u32(w, s->end_row);
  return put_u32(w, s->end_col);
}

/* ---- reading bytes ------------------------------------------------------- */

/* A read position in untrusted bytes. Reads past the end return zeros and
 * clear `ok`, so a parser may read a group of fields and check once. */
typedef struct cursor {
  const unsigned char *p, *end;
  bool ok;
} cursor;

static void cursor_init(cursor *self, const void *data, size_t len) {
  static const unsigned char nothing[1];
  self->p = data ? data : nothing;
  self->end = self->p + (data ? len : 0);
  self->ok = true;
}

static inline size_t left(const cursor *self) {
  return (size_t)(self->end - self->p);
}

/* The next n bytes, or NULL (and ok cleared) when fewer remain. */
static const unsigned char *take(cursor *self, size_t n) {
  if(!self->ok || n > left(self)) {
    self->ok = false;
    return NULL;
  }
  const unsigned char *p = self->p;
  self->p += n;
  return p;
}

static uint8_t get_u8(cursor *self) {
  const unsigned char *p = take(self, 1);
  return p ? p[0] : 0;
}

static uint32_t get_u32(cursor *self) {
  const unsigned char *p = take(self, 4);
  if(!p) return 0;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get_u64(cursor *self) {
  const unsigned char *p = take(self, 8);
  return p ? load64(p) : 0;
}

static void get_span(cursor *self, ch_span *s) {
  s->start = get_u32(self);
  s->end = get_u32(self);
  s->start_row = get_u32(self);
  s->start_col = get_u32(self);
  s->end_row = get_u32(self);
  s->end_col = get_u32(self);
}

/* Reads n u32 (the caller has checked they are there) into a new block,
 * or returns NULL when n is 0, as records want. */
static uint32_t *get_u32s(cursor *self, uint32_t n) {
  if(n == 0) return NULL;
  const unsigned char *p = take(self, (size_t)n * 4);
  if(!p) return NULL;
  uint32_t *v = ch_malloc((size_t)n * 4);
#if HOST_LITTLE_ENDIAN
  memcpy(v, p, (size_t)n * 4);
#else
  for(uint32_t i = 0; i < n; i++, p += 4)
    v[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
#endif
  return v;
}

/* mtime_ns is stored as its two's complement bits; this converts back
 * without relying on implementation-defined narrowing. */
static int64_t to_i64(uint64_t v) {
  if(v <= (uint64_t)INT64_MAX) return (int64_t)v;
  return (int64_t)(v - (uint64_t)INT64_MAX - 1) + INT64_MIN;
}

/* ---- validation ---------------------------------------------------------- */

/* True when `at` is the offset of a string of the pool: inside it and at
 * its start or right after a NUL. The pool is known to end in a NUL. */
static inline bool pool_str(const ch_record *r, uint32_t at) {
  return at < r->pool_len && (at == 0 || r->pool[at - 1] == 0);
}

static inline bool pool_str_or_none(const ch_record *r, uint32_t at) {
  return at == CH_NONE || pool_str(r, at);
}

/* Bytes in order, inside the text, and the end point not before the
 * start point. */
static bool span_ok(const ch_span *s, uint64_t size) {
  if(s->start > s->end || s->end > size) return false;
  if(s->start_row != s->end_row) return s->start_row < s->end_row;
  return s->start_col <= s->end_col;
}

/* True when following `container` from any definition ends at CH_NONE.
 * Consumers walk that chain (qualified names, outlines); a loop would
 * hang them. Each definition is visited a bounded number of times. */
static bool containers_acyclic(const ch_record *r) {
  bool any = false;
  for(uint32_t i = 0; i < r->ndefs && !any; i++)
    any = r->defs[i].container != CH_NONE;
  if(!any) return true;
  /* 0: not seen, 1: on the chain being walked, 2: known to end. */
  unsigned char *state = ch_calloc(r->ndefs, 1);
  bool ok = true;
  for(uint32_t i = 0; i < r->ndefs && ok; i++) {
    uint32_t j = i;
    while(j != CH_NONE && state[j] == 0) {
      state[j] = 1;
      j = r->defs[j].container;
    }
    if(j != CH_NONE && state[j] == 1) ok = false;
    for(j = i; j != CH_NONE && state[j] == 1; j = r->defs[j].container)
      state[j] = 2;
  }
  ch_free(state);
  return ok;
}

/* Why `r` cannot be written or read back, or NULL when it is sound: every
 * pool offset at a string start (CH_NONE only where the field allows
 * it), containers inside defs and without loops, kinds known, spans
 * ordered and inside the text, identifiers sorted and distinct, line
 * starts ascending from 0 and not past the end of the text. Rows are not
 * checked against nlines: records do not promise that every row has a
 * line start. */
static const char *check_record(const ch_record *r) {
  if(!r->path) return "no path";
  if(strlen(r->path) > UINT32_MAX) return "path too long";
  if(!r->lang || !r->lang->name) return "no language";
  size_t name_len = strlen(r->lang->name);
  if(name_len == 0 || name_len > LANG_NAME_MAX) return "language name";
  if(ch_syntax_by_name(r->lang->name) != r->lang)
    return "language not in the registry";
  if((r->pool_len && !r->pool) || (r->ndefs && !r->defs) ||
     (r->nimports && !r->imports) || (r->nidents && !r->idents) ||
     (r->nlines && !r->line_starts) ||
     (r->ntokens && (!r->tokens || !r->token_starts)))
    return "array missing";
  if(r->pool_len && r->pool[r->pool_len - 1] != 0)
    return "pool not NUL-terminated";

  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    if(!pool_str(r, d->name)) return "definition name";
    if(!pool_str_or_none(r, d->signature)) return "definition signature";
    if(!pool_str_or_none(r, d->doc)) return "definition doc";
    if(d->container != CH_NONE &&
       (d->container >= r->ndefs || d->container == i))
      return "definition container";
    if((unsigned)d->kind >= CH_DEF_KIND_COUNT) return "definition kind";
    if(!span_ok(&d->range, r->size) || !span_ok(&d->name_range, r->size))
      return "definition span";
  }
  if(!containers_acyclic(r)) return "definition containers loop";

  for(uint32_t i = 0; i < r->nimports; i++) {
    const ch_import *im = &r->imports[i];
    if(!pool_str(r, im->spec)) return "import spec";
    if(!pool_str_or_none(r, im->names)) return "import names";
    if((unsigned)im->kind > CH_IMPORT_PACKAGE) return "import kind";
  }

  for(uint32_t i = 0; i < r->nidents; i++) {
    if(!pool_str(r, r->idents[i])) return "identifier";
    if(i > 0 && strcmp(r->pool + r->idents[i - 1], r->pool + r->idents[i]) >= 0)
      return "identifiers not sorted";
  }

  if(r->nlines && r->line_starts[0] != 0) return "first line start";
  for(uint32_t i = 1; i < r->nlines; i++)
    if(r->line_starts[i] <= r->line_starts[i - 1])
      return "line starts not ascending";
  if(r->nlines && r->line_starts[r->nlines - 1] > r->size)
    return "line start past the end";
  for(uint32_t i = 1; i < r->ntokens; i++)
    if(r->token_starts[i] <= r->token_starts[i - 1])
      return "token starts not ascending";
  if(r->ntokens && r->token_starts[r->ntokens - 1] >= r->size)
    return "token start past the end";
  return NULL;
}

/* ---- records ------------------------------------------------------------- */

static size_t record_bytes(const ch_record *r) {
  return 4 + strlen(r->path) + 1 + strlen(r->lang->name) + 8 + 8 + 8 + 1 + 4 +
         (size_t)r->pool_len + 4 + (size_t)r->ndefs * DEF_BYTES + 4 +
         (size_t)r->nimports * IMPORT_BYTES + 4 + (size_t)r->nidents * 4 + 4 +
         (size_t)r->nlines * 4 + 4 + (size_t)r->ntokens * 8;
}

/* Writes a checked record of `size` bytes (record_bytes) at w. */
static unsigned char *write_record(const ch_record *r, unsigned char *w) {
  size_t path_len = strlen(r->path), name_len = strlen(r->lang->name);
  w = put_u32(w, (uint32_t)path_len);
  w = put_bytes(w, r->path, path_len);
  w = put_u8(w, (uint8_t)name_len);
  w = put_bytes(w, r->lang->name, name_len);
  w = put_u64(w, r->size);
  w = put_u64(w, (uint64_t)r->mtime_ns);
  w = put_u64(w, r->hash);
  w = put_u8(w, r->parse_errors ? 1 : 0);
  w = put_u32(w, r->pool_len);
  w = put_bytes(w, r->pool, r->pool_len);
  w = put_u32(w, r->ndefs);
  for(uint32_t i = 0; i < r->ndefs; i++) {
    const ch_def *d = &r->defs[i];
    w = put_u32(w, d->name);
    w = put_u32(w, d->signature);
    w = put_u32(w, d->doc);
    w = put_u32(w, d->container);
    w = put_u32(w, (uint32_t)d->kind);
    w = put_span(w, &d->range);
    w = put_span(w, &d->name_range);
  }
  w = put_u32(w, r->nimports);
  for(uint32_t i = 0; i < r->nimports; i++) {
    const ch_import *im = &r->imports[i];
    w = put_u32(w, im->spec);
    w = put_u32(w, im->names);
    w = put_u32(w, im->row);
    w = put_u32(w, (uint32_t)im->kind);
  }
  w = put_u32(w, r->nidents);
  w = put_u32s(w, r->idents, r->nidents);
  w = put_u32(w, r->nlines);
  w = put_u32s(w, r->line_starts, r->nlines);
  w = put_u32(w, r->ntokens);
  w = put_u32s(w, r->tokens, r->ntokens);
  return put_u32s(w, r->token_starts, r->ntokens);
}

/* Appends a checked record to out. */
static ch_status append_record(const ch_record *r, ch_buf *out) {
  size_t size = record_bytes(r);
  ch_status result = ch_buf_reserve(out, size);
  if(result) return result;
  unsigned char *start = (unsigned char *)out->data + out->len;
  unsigned char *end = write_record(r, start);
  assert(end == start + size); /* record_bytes and write_record agree */
  (void)end;
  out->len += size;
  out->data[out->len] = 0;
  return CH_OK;
}

ch_status ch_record_serialize(const ch_record *record, ch_buf *out) {
  if(!record || !out) return CH_ERR_INVALID;
  const char *why = check_record(record);
  if(why) {
    ch_log_debug("cannot serialize record %s: %s",
                 record->path ? record->path : "(no path)", why);
    return CH_ERR_INVALID;
  }
  return append_record(record, out);
}

/* Reads the fields of one record into r (allocated, refs 1), checking
 * only that every count fits the bytes left; check_record does the rest.
 * Returns why it failed, or NULL. */
static const char *read_record(cursor *c, ch_record *r) {
  uint32_t path_len = get_u32(c);
  const unsigned char *path = take(c, path_len);
  if(!path) return "truncated path";
  if(memchr(path, 0, path_len)) return "NUL in path";
  r->path = ch_strndup((const char *)path, path_len);

  uint8_t name_len = get_u8(c);
  const unsigned char *name = take(c, name_len);
  if(!name) return "truncated language";
  if(name_len == 0 || name_len > LANG_NAME_MAX || memchr(name, 0, name_len))
    return "language name";
  char name_z[LANG_NAME_MAX + 1];
  memcpy(name_z, name, name_len);
  name_z[name_len] = 0;
  /* Only the canonical spelling, so every record has one encoding. */
  r->lang = ch_syntax_by_name(name_z);
  if(!r->lang || strcmp(r->lang->name, name_z) != 0) return "unknown language";

  r->size = get_u64(c);
  r->mtime_ns = to_i64(get_u64(c));
  r->hash = get_u64(c);
  uint8_t flags = get_u8(c);
  if(!c->ok) return "truncated fields";
  if(flags > 1) return "unknown flags";
  r->parse_errors = flags & 1;

  uint32_t pool_len = get_u32(c);
  const unsigned char *pool = take(c, pool_len);
  if(!pool) return "truncated pool";
  if(pool_len) r->pool = ch_memdup(pool, pool_len);
  r->pool_len = pool_len;

  uint32_t n = get_u32(c);
  if(!c->ok || n > left(c) / DEF_BYTES) return "definition count";
  if(n) r->defs = ch_malloc((size_t)n * sizeof(ch_def));
  r->ndefs = n;
  for(uint32_t i = 0; i < n; i++) {
    ch_def *d = &r->defs[i];
    d->name = get_u32(c);
    d->signature = get_u32(c);
    d->doc = get_u32(c);
    d->container = get_u32(c);
    uint32_t kind = get_u32(c);
    if(kind >= CH_DEF_KIND_COUNT) return "definition kind";
    d->kind = (ch_def_kind)kind;
    get_span(c, &d->range);
    get_span(c, &d->name_range);
  }

  n = get_u32(c);
  if(!c->ok || n > left(c) / IMPORT_BYTES) return "import count";
  if(n) r->imports = ch_malloc((size_t)n * sizeof(ch_import));
  r->nimports = n;
  for(uint32_t i = 0; i < n; i++) {
    ch_import *im = &r->imports[i];
    im->spec = get_u32(c);
    im->names = get_u32(c);
    im->row = get_u32(c);
    uint32_t kind = get_u32(c);
    if(kind > CH_IMPORT_PACKAGE) return "import kind";
    im->kind = (ch_import_kind)kind;
  }

  n = get_u32(c);
  if(!c->ok || n > left(c) / 4) return "identifier count";
  r->idents = get_u32s(c, n);
  r->nidents = n;
  n = get_u32(c);
  if(!c->ok || n > left(c) / 4) return "line count";
  r->line_starts = get_u32s(c, n);
  r->nlines = n;
  n = get_u32(c);
  if(!c->ok || n > left(c) / 8) return "token count";
  r->tokens = get_u32s(c, n);
  r->token_starts = get_u32s(c, n);
  r->ntokens = n;

  if(!c->ok) return "truncated";
  if(left(c)) return "trailing bytes";
  return NULL;
}

ch_record *ch_record_deserialize(const char *data, size_t len,
                                 ch_status *error) {
  cursor c;
  cursor_init(&c, data, len);
  ch_record *r = ch_calloc(1, sizeof(*r));
  atomic_init(&r->refs, 1);
  const char *why = read_record(&c, r);
  if(!why) why = check_record(r);
  if(why) {
    ch_log_debug("cache record rejected: %s", why);
    ch_record_unref(r);
    if(error) *error = CH_ERR_PARSE;
    return NULL;
  }
  if(error) *error = CH_OK;
  return r;
}

/* ---- the cache path ------------------------------------------------------ */

char *ch_cache_path(const char *root) {
  if(!root) return NULL;
  uint64_t h = ch_hash_bytes(root, strlen(root));
  const char *xdg = getenv("XDG_CACHE_HOME");
  /* The XDG spec says a relative value is invalid and must be ignored. */
  if(xdg && xdg[0] == '/')
    return ch_strdupf("%s/chorus/index/%016llx.idx", xdg,
                      (unsigned long long)h);
  const char *home = getenv("HOME");
  if(home && home[0])
    return ch_strdupf("%s/.cache/chorus/index/%016llx.idx", home,
                      (unsigned long long)h);
  return NULL;
}

/* ---- saving -------------------------------------------------------------- */

/* The folder part of path ("." when there is none). Caller frees. */
static char *parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  if(!slash) return ch_strdup(".");
  if(slash == path) return ch_strdup("/");
  return ch_strndup(path, (size_t)(slash - path));
}

/* mkdir -p with mode 0700 for what it creates; existing folders keep
 * their mode. */
static ch_status make_dirs(const char *dir) {
  struct stat st;
  if(stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return CH_OK;
  char *p = ch_strdup(dir);
  ch_status result = CH_OK;
  for(char *s = p + 1;; s++) {
    if(*s != '/' && *s != 0) continue;
    char saved = *s;
    *s = 0;
    if(mkdir(p, 0700) != 0 && errno != EEXIST) {
      ch_log_warn("cannot create cache folder %s: %s", p, strerror(errno));
      result = CH_ERR_IO;
      goto cleanup;
    }
    *s = saved;
    if(!saved) break;
  }
  if(stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    ch_log_warn("cache folder %s is not a folder", dir);
    result = CH_ERR_IO;
  }
cleanup:
  ch_free(p);
  return result;
}

/* Creates "<path>.tmp.<pid>.<random>" exclusively; *tmp receives its name
 * (caller frees). Returns the descriptor or -1. */
static int open_temp(const char *path, char **tmp) {
  uint64_t pid = (uint64_t)getpid();
  for(int attempt = 0; attempt < 16; attempt++) {
    /* Not secret, only unlikely to collide: time, pid, the stack address
     * (randomised per process) and the attempt. */
    uint64_t noise =
        avalanche(ch_now_ns() ^ (pid << 40) ^ (uint64_t)(uintptr_t)&attempt ^
                  (uint64_t)attempt * P1);
    char *name = ch_strdupf("%s.tmp.%llu.%016llx", path,
                            (unsigned long long)pid, (unsigned long long)noise);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if(fd >= 0) {
      *tmp = name;
      return fd;
    }
    int err = errno;
    ch_free(name);
    if(err != EEXIST) {
      ch_log_warn("cannot create cache file next to %s: %s", path,
                  strerror(err));
      return -1;
    }
  }
  ch_log_warn("cannot create cache file next to %s: too many collisions", path);
  return -1;
}

static ch_status write_all(int fd, const char *p, size_t n) {
  while(n) {
    ssize_t w = write(fd, p, n);
    if(w < 0) {
      if(errno == EINTR) continue;
      return CH_ERR_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return CH_OK;
}

/* Writes the buffer out and empties it. */
static ch_status flush(int fd, ch_buf *buf) {
  ch_status result = write_all(fd, buf->data, buf->len);
  ch_buf_reset(buf);
  return result;
}

/* Appends a frame for a checked record: length, sum, bytes. */
static ch_status append_frame(const ch_record *r, ch_buf *buf) {
  size_t at = buf->len;
  unsigned char frame[FRAME_BYTES] = {0};
  ch_status result = ch_buf_append(buf, frame, sizeof(frame));
  if(!result) result = append_record(r, buf);
  if(result) return result;
  unsigned char *base = (unsigned char *)buf->data + at;
  size_t len = buf->len - at - FRAME_BYTES;
  put_u64(put_u32(base, (uint32_t)len), sum64(base + FRAME_BYTES, len));
  return CH_OK;
}

/* Writes the whole file to fd: header, the records marked in keep (kept
 * of them), trailer; in chunks of about FLUSH_BYTES. */
static ch_status write_cache(int fd, const char *root,
                             ch_record *const *records, const bool *keep,
                             size_t count, size_t kept) {
  size_t root_len = strlen(root);
  ch_buf buf;
  ch_buf_init(&buf, SIZE_MAX / 2);
  unsigned char head[4 + 4 + 4 + 4], num[8];
  unsigned char *w = put_bytes(head, file_magic, 4);
  w = put_u32(w, CH_CACHE_VERSION);
  w = put_u32(w, build_tag());
  put_u32(w, (uint32_t)root_len);
  put_u64(num, kept);
  ch_status result = ch_buf_append(&buf, head, sizeof(head));
  if(!result) result = ch_buf_append(&buf, root, root_len);
  if(!result) result = ch_buf_append(&buf, num, sizeof(num));
  uint64_t header_sum = sum64(buf.data, buf.len);
  put_u64(num, header_sum);
  if(!result) result = ch_buf_append(&buf, num, sizeof(num));

  for(size_t i = 0; i < count && !result; i++) {
    if(!keep[i]) continue;
    result = append_frame(records[i], &buf);
    if(!result && buf.len >= FLUSH_BYTES) result = flush(fd, &buf);
  }

  unsigned char trailer[4 + 8 + 8];
  w = put_bytes(trailer, end_magic, 4);
  w = put_u64(w, kept);
  put_u64(w, header_sum);
  if(!result) result = ch_buf_append(&buf, trailer, sizeof(trailer));
  if(!result) result = flush(fd, &buf);
  ch_buf_release(&buf);
  return result;
}

ch_status ch_cache_save(const char *path, const char *root,
                        ch_record *const *records, size_t count) {
  if(!path || !path[0] || !root || (count && !records)) return CH_ERR_INVALID;
  for(size_t i = 0; i < count; i++)
    if(!records[i]) return CH_ERR_INVALID;
  if(strlen(root) > UINT32_MAX) return CH_ERR_TOO_LARGE;

  /* A record that would not read back is left out with a warning: its
   * file is simply parsed again, and the rest of the cache stays good. */
  bool *keep = ch_malloc((count ? count : 1) * sizeof(*keep));
  size_t kept = 0;
  for(size_t i = 0; i < count; i++) {
    const char *why = check_record(records[i]);
    if(!why && record_bytes(records[i]) > UINT32_MAX) why = "too large";
    if(why)
      ch_log_warn("cache %s: leaving out record %s: %s", path,
                  records[i]->path ? records[i]->path : "(no path)", why);
    keep[i] = why == NULL;
    kept += keep[i];
  }

  char *dir = parent_dir(path), *tmp = NULL;
  int fd = -1;
  ch_status result = make_dirs(dir);
  if(!result) {
    fd = open_temp(path, &tmp);
    if(fd < 0) result = CH_ERR_IO;
  }
  if(result) goto cleanup;

  /* The first step that fails, and its errno (kept before close). */
  const char *step = NULL;
  int err = 0;
  result = write_cache(fd, root, records, keep, count, kept);
  if(result) {
    step = "write";
    err = errno;
  } else if(fsync(fd) != 0) {
    step = "fsync";
    err = errno;
  }
  if(close(fd) != 0 && !step) {
    step = "close";
    err = errno;
  }
  fd = -1;
  if(!step && rename(tmp, path) != 0) {
    step = "rename";
    err = errno;
  }
  if(step) {
    if(!result) result = CH_ERR_IO;
    ch_log_warn("cannot save cache %s: %s failed: %s", path, step,
                result == CH_ERR_IO ? strerror(err) : ch_strerror(result));
    goto cleanup;
  }
  ch_free(tmp);
  tmp = NULL;
  /* Makes the rename itself durable. Best effort: some file systems
   * refuse fsync on a folder, and the data is already safe. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }

cleanup:
  if(fd >= 0) close(fd);
  if(tmp) {
    unlink(tmp);
    ch_free(tmp);
  }
  ch_free(keep);
  ch_free(dir);
  return result;
}

/* ---- loading ------------------------------------------------------------- */

/* The whole file in one read. */
static ch_status read_file(const char *path, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? CH_ERR_NOT_FOUND : CH_ERR_IO;
  ch_status result = CH_OK;
  char *buf = NULL;
  struct stat st;
  if(fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    result = CH_ERR_IO;
    goto cleanup;
  }
  if((uint64_t)st.st_size > FILE_MAX) {
    result = CH_ERR_TOO_LARGE;
    goto cleanup;
  }
  size_t size = (size_t)st.st_size, got = 0;
  buf = ch_malloc(size ? size : 1);
  /* Stops at end of file: a file that shrank reads as truncated, which
   * parsing then reports. Rename makes that rare. */
  while(got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if(n < 0 && errno == EINTR) continue;
    if(n < 0) {
      result = CH_ERR_IO;
      goto cleanup;
    }
    if(n == 0) break;
    got += (size_t)n;
  }
  *data = buf;
  *len = got;
  buf = NULL;
cleanup:
  ch_free(buf);
  close(fd);
  return result;
}

/* Parses a whole cache file; all or nothing. */
static ch_status parse_cache(const char *path, const char *root,
                             const char *data, size_t len, ch_record ***records,
                             size_t *count) {
  ch_status result = CH_ERR_PARSE;
  const char *why = NULL;
  ch_record **list = NULL;
  size_t built = 0;
  cursor c;
  cursor_init(&c, data, len);

  const unsigned char *magic = take(&c, 4);
  if(!magic) {
    why = "truncated header";
    goto fail;
  }
  if(memcmp(magic, file_magic, 4) != 0) {
    result = CH_ERR_STATE;
    why = "not a chorus index cache";
    goto fail;
  }
  uint32_t version = get_u32(&c);
  if(c.ok && version != CH_CACHE_VERSION) {
    result = CH_ERR_STATE;
    why = "another format version";
    goto fail;
  }
  uint32_t build = get_u32(&c);
  if(c.ok && build != build_tag()) {
    result = CH_ERR_STATE;
    why = "written by a build with other record contents";
    goto fail;
  }
  uint32_t root_len = get_u32(&c);
  const unsigned char *saved_root = take(&c, root_len);
  uint64_t n = get_u64(&c);
  size_t header_len = (size_t)(c.p - (const unsigned char *)data);
  uint64_t header_sum = get_u64(&c);
  if(!c.ok) {
    why = "truncated header";
    goto fail;
  }
  if(header_sum != sum64(data, header_len)) {
    why = "header checksum";
    goto fail;
  }
  if(root_len != strlen(root) || memcmp(saved_root, root, root_len) != 0) {
    result = CH_ERR_STATE;
    why = "saved for another root";
    goto fail;
  }
  if(n > left(&c) / FRAME_BYTES) {
    why = "record count";
    goto fail;
  }

  list = ch_malloc((size_t)n * sizeof(*list));
  for(; built < n; built++) {
    uint32_t rec_len = get_u32(&c);
    uint64_t sum = get_u64(&c);
    const unsigned char *bytes = take(&c, rec_len);
    if(!bytes) {
      why = "truncated record";
      goto fail;
    }
    if(sum != sum64(bytes, rec_len)) {
      why = "record checksum";
      goto fail;
    }
    list[built] = ch_record_deserialize((const char *)bytes, rec_len, NULL);
    if(!list[built]) {
      why = "invalid record";
      goto fail;
    }
  }

  const unsigned char *end = take(&c, 4);
  uint64_t trailer_count = get_u64(&c);
  uint64_t trailer_sum = get_u64(&c);
  if(!c.ok) {
    why = "truncated trailer";
    goto fail;
  }
  if(memcmp(end, end_magic, 4) != 0 || trailer_count != n ||
     trailer_sum != header_sum) {
    why = "trailer";
    goto fail;
  }
  if(left(&c)) {
    why = "bytes after the trailer";
    goto fail;
  }
  *records = list;
  *count = (size_t)n;
  return CH_OK;

fail:
  ch_log_debug("cache %s ignored: %s", path, why);
  for(size_t i = 0; i < built; i++)
    ch_record_unref(list[i]);
  ch_free(list);
  return result;
}

ch_status ch_cache_load(const char *path, const char *root,
                        ch_record ***records, size_t *count) {
  if(records) *records = NULL;
  if(count) *count = 0;
  if(!path || !root || !records || !count) return CH_ERR_INVALID;
  char *data;
  size_t len;
  ch_status result = read_file(path, &data, &len);
  if(result) {
    if(result != CH_ERR_NOT_FOUND)
      ch_log_debug("cannot read cache %s: %s", path, ch_strerror(result));
    return result;
  }
  result = parse_cache(path, root, data, len, records, count);
  ch_free(data);
  return result;
}
