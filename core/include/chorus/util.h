/*
 * chorus/util.h: the small things every module stands on.
 *
 * - One status enum (ch_status) with ch_strerror(); functions that can fail
 *   return it, constructors return NULL and fill an optional ch_status.
 * - One allocator wrapper. ch_malloc and friends never return NULL: on
 *   out-of-memory they print one line and abort, so callers do not check.
 * - ch_buf: a growable byte buffer with a hard maximum fixed at init. It is
 *   always NUL-terminated (data[len] == 0) once it holds anything, and it
 *   refuses to grow past its maximum instead of eating the machine.
 * - Logging with a level and a replaceable sink (the LSP layer forwards
 *   records to window/logMessage). The sink and level are the only global
 *   mutable state, set at start-up; ch_log itself may be called from any
 *   thread.
 * - UTF-8 decoding that never fails: an invalid byte decodes as U+FFFD of
 *   length one, so text from outside is kept as is and mapping never stops.
 * - A monotonic clock.
 */
#ifndef CHORUS_UTIL_H
#define CHORUS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CH_PRINTF(fmt, args)
#endif

#define CH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CH_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CH_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Status codes. CH_OK is zero so `if(result) return result;` works. */
typedef enum ch_status {
  CH_OK = 0,
  CH_ERR_INVALID,   /* an argument or input is malformed */
  CH_ERR_RANGE,     /* a position or index is outside what exists */
  CH_ERR_TOO_LARGE, /* a size limit would be exceeded */
  CH_ERR_IO,        /* a read, write or system call failed (see errno) */
  CH_ERR_PARSE,     /* text could not be parsed (JSON, headers, ...) */
  CH_ERR_NOT_FOUND, /* the named thing does not exist */
  CH_ERR_CANCELLED, /* the operation was cancelled */
  CH_ERR_TIMEOUT,   /* a deadline passed */
  CH_ERR_STATE,     /* the call is not allowed in the current state */
} ch_status;

/* A static, lowercase description of `status`. Never NULL. */
const char *ch_strerror(ch_status status);

/* Allocation. These abort the process on out-of-memory; they never return
 * NULL (ch_malloc(0) returns a unique pointer). ch_free(NULL) is a no-op. */
void *ch_malloc(size_t size);
void *ch_calloc(size_t count, size_t size);
void *ch_realloc(void *ptr, size_t size);
void ch_free(void *ptr);
/* Copies: the caller frees the result with ch_free. */
char *ch_strdup(const char *s);
char *ch_strndup(const char *s, size_t n); /* always NUL-terminates */
void *ch_memdup(const void *p, size_t n);
/* A printf into a new string; the caller frees it with ch_free. */
char *ch_strdupf(const char *fmt, ...) CH_PRINTF(1, 2);

/* Growable buffer with a hard cap. Embed it and use ch_buf_init/_release. */
typedef struct ch_buf {
  char *data; /* owned; NULL until the first append */
  size_t len; /* bytes in use; data[len] == 0 when data != NULL */
  size_t cap; /* bytes allocated, excluding the terminating NUL */
  size_t max; /* the most `len` may ever be */
} ch_buf;

void ch_buf_init(ch_buf *self, size_t max);
/* Frees the storage; the buffer is empty and may be reused (same max). */
void ch_buf_release(ch_buf *self);
/* Empties the buffer but keeps its storage. */
void ch_buf_reset(ch_buf *self);
/* Appends n bytes. CH_ERR_TOO_LARGE (and nothing appended) past max. */
ch_status ch_buf_append(ch_buf *self, const void *data, size_t n);
ch_status ch_buf_append_str(ch_buf *self, const char *s);
ch_status ch_buf_append_char(ch_buf *self, char c);
ch_status ch_buf_appendf(ch_buf *self, const char *fmt, ...) CH_PRINTF(2, 3);
ch_status ch_buf_vappendf(ch_buf *self, const char *fmt, va_list ap);
/* Makes room for at least n more bytes without changing len. */
ch_status ch_buf_reserve(ch_buf *self, size_t n);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void ch_buf_consume(ch_buf *self, size_t n);
/* Hands the storage to the caller (free with ch_free) and empties the
 * buffer. Returns an empty allocated string when nothing was appended. */
char *ch_buf_detach(ch_buf *self, size_t *len);

/* A hash map from strings to pointers (open addressing, linear probing,
 * backward-shift deletion). Keys are copied and owned by the map; values
 * are borrowed. Embed it: ch_map_init / ch_map_release. */
typedef struct ch_map_slot {
  char *key; /* NULL: empty */
  uint64_t hash;
  void *value;
} ch_map_slot;

typedef struct ch_map {
  ch_map_slot *slots;
  size_t cap; /* a power of two, or 0 */
  size_t len;
} ch_map;

void ch_map_init(ch_map *self);
/* Frees the keys and the table; calls free_value (if not NULL) on every
 * value. The map is empty and reusable afterwards. */
void ch_map_release(ch_map *self, void (*free_value)(void *));
/* The value for key, or NULL. */
void *ch_map_get(const ch_map *self, const char *key);
/* Sets key to value; returns the value it replaced, or NULL. */
void *ch_map_put(ch_map *self, const char *key, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *ch_map_remove(ch_map *self, const char *key);
/* Iteration: start with *iter = 0; returns false at the end. The map must
 * not change during iteration. */
bool ch_map_next(const ch_map *self, size_t *iter, const char **key,
                 void **value);
/* FNV-1a over bytes: for short keys (map keys, paths). */
uint64_t ch_hash_bytes(const void *data, size_t len);

/* The hash of a whole text (a file's content): eight bytes per step, so
 * hashing a large file costs a small fraction of reading it. Not
 * cryptographic. ch_hash_text(p, n) equals
 *   ch_hash_text_end(ch_hash_text_words(CH_HASH_TEXT_SEED, p, n / 8),
 *                    p + n / 8 * 8, n % 8, n)
 * so a caller can keep the state at any multiple of 8 bytes and resume. */
#define CH_HASH_TEXT_SEED 0x243f6a8885a308d3ull
uint64_t ch_hash_text_words(uint64_t state, const void *data, size_t nwords);
uint64_t ch_hash_text_end(uint64_t state, const void *tail, size_t ntail,
                          size_t total_len);
uint64_t ch_hash_text(const void *data, size_t len);

/* Logging. Levels from most to least severe. */
typedef enum ch_log_level {
  CH_LOG_ERROR = 0,
  CH_LOG_WARN,
  CH_LOG_INFO,
  CH_LOG_DEBUG,
  CH_LOG_TRACE,
} ch_log_level;

/* A sink receives records at or above the current level. `message` is
 * borrowed for the call. Sinks may be called from any thread. */
typedef void (*ch_log_sink)(ch_log_level level, const char *message,
                            void *userdata);

/* Set at start-up, before threads exist. The default sink writes
 * "chorus: level: message" to stderr. Passing NULL restores it. */
void ch_log_set_sink(ch_log_sink sink, void *userdata);
void ch_log_set_level(ch_log_level level);
ch_log_level ch_log_get_level(void);
bool ch_log_enabled(ch_log_level level);
/* Parses "error", "warn"/"warning", "info", "debug", "trace". */
ch_status ch_log_level_parse(const char *name, ch_log_level *out);
const char *ch_log_level_name(ch_log_level level);
void ch_log(ch_log_level level, const char *fmt, ...) CH_PRINTF(2, 3);
/* The stderr writer the default sink uses; other sinks may chain to it. */
void ch_log_stderr(ch_log_level level, const char *message);

#define ch_log_error(...) ch_log(CH_LOG_ERROR, __VA_ARGS__)
#define ch_log_warn(...) ch_log(CH_LOG_WARN, __VA_ARGS__)
#define ch_log_info(...) ch_log(CH_LOG_INFO, __VA_ARGS__)
#define ch_log_debug(...)                                                     \
  do {                                                                        \
    if(ch_log_enabled(CH_LOG_DEBUG))                                          \
      ch_log(CH_LOG_DEBUG, __VA_ARGS__);                                      \
  } while(0)

/* UTF-8. Decodes one code point from s[0..n) (n >= 1) into *cp and returns
 * its length in bytes (1..4). Overlong forms, surrogates, values past
 * U+10FFFF and truncated sequences decode as U+FFFD with length 1. */
size_t ch_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* True when s[0..n) is entirely valid UTF-8. */
bool ch_utf8_valid(const char *s, size_t n);
/* UTF-16 code units for a code point: 2 above U+FFFF, else 1. */
static inline uint32_t ch_utf16_units(uint32_t cp) {
  return cp > 0xFFFF ? 2 : 1;
}

/* Monotonic time. */
uint64_t ch_now_ns(void);
static inline uint64_t ch_now_ms(void) { return ch_now_ns() / 1000000u; }

#endif
