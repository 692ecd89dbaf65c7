/* util.c: status strings, allocation, bounded buffers, logging, UTF-8. */
#include "chorus/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *ch_strerror(ch_status status) {
  switch(status) {
  case CH_OK: return "no error";
  case CH_ERR_INVALID: return "invalid argument or input";
  case CH_ERR_RANGE: return "out of range";
  case CH_ERR_TOO_LARGE: return "size limit exceeded";
  case CH_ERR_IO: return "input/output error";
  case CH_ERR_PARSE: return "parse error";
  case CH_ERR_NOT_FOUND: return "not found";
  case CH_ERR_CANCELLED: return "cancelled";
  case CH_ERR_TIMEOUT: return "timed out";
  case CH_ERR_STATE: return "not allowed in this state";
  }
  return "unknown error";
}

/* ---- allocation ---------------------------------------------------------- */

static void out_of_memory(size_t size) {
  fprintf(stderr, "chorus: out of memory allocating %zu bytes\n", size);
  abort();
}

void *ch_malloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if(!p) out_of_memory(size);
  return p;
}

void *ch_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if(!p) out_of_memory(count * size);
  return p;
}

void *ch_realloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if(!p) out_of_memory(size);
  return p;
}

void ch_free(void *ptr) { free(ptr); }

char *ch_strdup(const char *s) { return ch_memdup(s, strlen(s) + 1); }

char *ch_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *p = ch_malloc(len + 1);
  memcpy(p, s, len);
  p[len] = 0;
  return p;
}

void *ch_memdup(const void *p, size_t n) {
  void *q = ch_malloc(n);
  if(n) memcpy(q, p, n);
  return q;
}

char *ch_strdupf(const char *fmt, ...) {
  ch_buf b;
  ch_buf_init(&b, SIZE_MAX / 2);
  va_list ap;
  va_start(ap, fmt);
  ch_buf_vappendf(&b, fmt, ap);
  va_end(ap);
  return ch_buf_detach(&b, NULL);
}

/* ---- ch_buf -------------------------------------------------------------- */

void ch_buf_init(ch_buf *self, size_t max) {
  self->data = NULL;
  self->len = 0;
  self->cap = 0;
  self->max = max;
}

void ch_buf_release(ch_buf *self) {
  ch_free(self->data);
  self->data = NULL;
  self->len = 0;
  self->cap = 0;
}

void ch_buf_reset(ch_buf *self) {
  self->len = 0;
  if(self->data) self->data[0] = 0;
}

ch_status ch_buf_reserve(ch_buf *self, size_t n) {
  if(n > self->max || self->len > self->max - n) return CH_ERR_TOO_LARGE;
  size_t need = self->len + n;
  if(need <= self->cap && self->data) return CH_OK;
  size_t cap = self->cap ? self->cap : 64;
  while(cap < need) cap = cap > SIZE_MAX / 4 ? need : cap * 2;
  if(cap > self->max) cap = self->max;
  self->data = ch_realloc(self->data, cap + 1);
  self->cap = cap;
  self->data[self->len] = 0;
  return CH_OK;
}

ch_status ch_buf_append(ch_buf *self, const void *data, size_t n) {
  ch_status result = ch_buf_reserve(self, n);
  if(result) return result;
  if(n) memcpy(self->data + self->len, data, n);
  self->len += n;
  self->data[self->len] = 0;
  return CH_OK;
}

ch_status ch_buf_append_str(ch_buf *self, const char *s) {
  return ch_buf_append(self, s, strlen(s));
}

ch_status ch_buf_append_char(ch_buf *self, char c) {
  return ch_buf_append(self, &c, 1);
}

ch_status ch_buf_vappendf(ch_buf *self, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  char small[256];
  int n = vsnprintf(small, sizeof(small), fmt, copy);
  va_end(copy);
  if(n < 0) return CH_ERR_INVALID;
  if((size_t)n < sizeof(small)) return ch_buf_append(self, small, (size_t)n);
  ch_status result = ch_buf_reserve(self, (size_t)n);
  if(result) return result;
  vsnprintf(self->data + self->len, (size_t)n + 1, fmt, ap);
  self->len += (size_t)n;
  return CH_OK;
}

ch_status ch_buf_appendf(ch_buf *self, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ch_status result = ch_buf_vappendf(self, fmt, ap);
  va_end(ap);
  return result;
}

void ch_buf_consume(ch_buf *self, size_t n) {
  if(n >= self->len) {
    ch_buf_reset(self);
    return;
  }
  memmove(self->data, self->data + n, self->len - n);
  self->len -= n;
  self->data[self->len] = 0;
}

char *ch_buf_detach(ch_buf *self, size_t *len) {
  char *p = self->data ? self->data : ch_calloc(1, 1);
  if(len) *len = self->len;
  self->data = NULL;
  self->len = 0;
  self->cap = 0;
  return p;
}

/* ---- ch_map -------------------------------------------------------------- */

uint64_t ch_hash_bytes(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ull;
  for(size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* Each word goes through a multiply that spreads it over all 64 bits
 * before it joins the state, and the state is rotated and multiplied
 * again, so equal words at different places give different states. */
#define TEXT_K1 0x9e3779b97f4a7c15ull
#define TEXT_K2 0xc2b2ae3d27d4eb4full

static inline uint64_t rotl64(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

uint64_t ch_hash_text_words(uint64_t state, const void *data, size_t nwords) {
  const unsigned char *p = data;
  for(size_t i = 0; i < nwords; i++, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    w *= TEXT_K2;
    state = rotl64(state ^ rotl64(w, 31), 27) * TEXT_K1;
  }
  return state;
}

uint64_t ch_hash_text_end(uint64_t state, const void *tail, size_t ntail,
                          size_t total_len) {
  uint64_t w = 0;
  if(ntail) memcpy(&w, tail, ntail < 8 ? ntail : 8);
  state = ch_hash_text_words(state, &w, 1);
  state ^= (uint64_t)total_len * TEXT_K2;
  state ^= state >> 33;
  state *= 0xff51afd7ed558ccdull;
  state ^= state >> 33;
  return state;
}

uint64_t ch_hash_text(const void *data, size_t len) {
  const unsigned char *p = data;
  size_t words = len / 8;
  return ch_hash_text_end(ch_hash_text_words(CH_HASH_TEXT_SEED, p, words),
                          p + words * 8, len % 8, len);
}

void ch_map_init(ch_map *self) {
  self->slots = NULL;
  self->cap = 0;
  self->len = 0;
}

void ch_map_release(ch_map *self, void (*free_value)(void *)) {
  for(size_t i = 0; i < self->cap; i++) {
    if(!self->slots[i].key) continue;
    ch_free(self->slots[i].key);
    if(free_value) free_value(self->slots[i].value);
  }
  ch_free(self->slots);
  ch_map_init(self);
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t map_find(const ch_map *self, const char *key, uint64_t hash) {
  size_t mask = self->cap - 1;
  size_t i = (size_t)hash & mask;
  while(self->slots[i].key) {
    if(self->slots[i].hash == hash && strcmp(self->slots[i].key, key) == 0)
      return i;
    i = (i + 1) & mask;
  }
  return i;
}

void *ch_map_get(const ch_map *self, const char *key) {
  if(!self->len) return NULL;
  size_t i = map_find(self, key, ch_hash_bytes(key, strlen(key)));
  return self->slots[i].key ? self->slots[i].value : NULL;
}

static void map_grow(ch_map *self) {
  ch_map_slot *old = self->slots;
  size_t old_cap = self->cap;
  self->cap = old_cap ? old_cap * 2 : 16;
  self->slots = ch_calloc(self->cap, sizeof(*self->slots));
  for(size_t i = 0; i < old_cap; i++) {
    if(!old[i].key) continue;
    self->slots[map_find(self, old[i].key, old[i].hash)] = old[i];
  }
  ch_free(old);
}

void *ch_map_put(ch_map *self, const char *key, void *value) {
  if((self->len + 1) * 4 > self->cap * 3) map_grow(self);
  uint64_t hash = ch_hash_bytes(key, strlen(key));
  size_t i = map_find(self, key, hash);
  if(self->slots[i].key) {
    void *previous = self->slots[i].value;
    self->slots[i].value = value;
    return previous;
  }
  self->slots[i] = (ch_map_slot){ch_strdup(key), hash, value};
  self->len++;
  return NULL;
}

void *ch_map_remove(ch_map *self, const char *key) {
  if(!self->len) return NULL;
  size_t i = map_find(self, key, ch_hash_bytes(key, strlen(key)));
  if(!self->slots[i].key) return NULL;
  void *value = self->slots[i].value;
  ch_free(self->slots[i].key);
  self->slots[i].key = NULL;
  self->len--;
  /* Backward-shift: pull later members of the probe run into the hole so
   * lookups never stop early at it. */
  size_t mask = self->cap - 1;
  size_t hole = i;
  for(size_t j = (i + 1) & mask; self->slots[j].key; j = (j + 1) & mask) {
    size_t home = (size_t)self->slots[j].hash & mask;
    /* Move j into the hole unless its home lies cyclically in (hole, j]. */
    bool stays = hole <= j ? (home > hole && home <= j)
                           : (home > hole || home <= j);
    if(stays) continue;
    self->slots[hole] = self->slots[j];
    self->slots[j].key = NULL;
    hole = j;
  }
  return value;
}

bool ch_map_next(const ch_map *self, size_t *iter, const char **key,
                 void **value) {
  for(size_t i = *iter; i < self->cap; i++) {
    if(!self->slots[i].key) continue;
    if(key) *key = self->slots[i].key;
    if(value) *value = self->slots[i].value;
    *iter = i + 1;
    return true;
  }
  *iter = self->cap;
  return false;
}

/* ---- logging ------------------------------------------------------------- */

static ch_log_sink log_sink;
static void *log_userdata;
static ch_log_level log_level = CH_LOG_INFO;

void ch_log_set_sink(ch_log_sink sink, void *userdata) {
  log_sink = sink;
  log_userdata = userdata;
}

void ch_log_set_level(ch_log_level level) { log_level = level; }
ch_log_level ch_log_get_level(void) { return log_level; }
bool ch_log_enabled(ch_log_level level) { return level <= log_level; }

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

const char *ch_log_level_name(ch_log_level level) {
  return (unsigned)level < CH_ARRAY_LEN(level_names) ? level_names[level]
                                                     : "?";
}

ch_status ch_log_level_parse(const char *name, ch_log_level *out) {
  if(!name) return CH_ERR_INVALID;
  for(size_t i = 0; i < CH_ARRAY_LEN(level_names); i++) {
    if(strcmp(name, level_names[i]) == 0) {
      *out = (ch_log_level)i;
      return CH_OK;
    }
  }
  if(strcmp(name, "warning") == 0) {
    *out = CH_LOG_WARN;
    return CH_OK;
  }
  return CH_ERR_INVALID;
}

void ch_log_stderr(ch_log_level level, const char *message) {
  /* One fprintf per record so lines from threads do not interleave. */
  fprintf(stderr, "chorus: %s: %s\n", ch_log_level_name(level), message);
}

void ch_log(ch_log_level level, const char *fmt, ...) {
  if(!ch_log_enabled(level)) return;
  char small[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if(n < 0) return;
  char *message = small;
  if((size_t)n >= sizeof(small)) {
    message = ch_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(message, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  if(log_sink)
    log_sink(level, message, log_userdata);
  else
    ch_log_stderr(level, message);
  if(message != small) ch_free(message);
}

/* ---- UTF-8 --------------------------------------------------------------- */

size_t ch_utf8_decode(const char *s, size_t n, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  unsigned char b = u[0];
  if(b < 0x80) {
    *cp = b;
    return 1;
  }
  size_t len;
  uint32_t c, min;
  if(b >= 0xC2 && b <= 0xDF) {
    len = 2;
    c = b & 0x1F;
    min = 0x80;
  } else if(b >= 0xE0 && b <= 0xEF) {
    len = 3;
    c = b & 0x0F;
    min = 0x800;
  } else if(b >= 0xF0 && b <= 0xF4) {
    len = 4;
    c = b & 0x07;
    min = 0x10000;
  } else {
    goto invalid;
  }
  if(n < len) goto invalid;
  for(size_t i = 1; i < len; i++) {
    if((u[i] & 0xC0) != 0x80) goto invalid;
    c = (c << 6) | (u[i] & 0x3F);
  }
  if(c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) goto invalid;
  *cp = c;
  return len;
invalid:
  *cp = 0xFFFD;
  return 1;
}

bool ch_utf8_valid(const char *s, size_t n) {
  size_t i = 0;
  while(i < n) {
    if((unsigned char)s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t len = ch_utf8_decode(s + i, n - i, &cp);
    if(cp == 0xFFFD && len == 1) return false; /* a real U+FFFD is 3 bytes */
    i += len;
  }
  return true;
}

/* ---- time ---------------------------------------------------------------- */

uint64_t ch_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
