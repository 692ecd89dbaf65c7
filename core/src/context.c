/* context.c: the context engine (see chorus/context.h).
 *
 * One build goes: size the document window to its share of the budget;
 * gather the identifiers used near the cursor and the types of member
 * receivers; turn them, the imports, the open documents and the recent
 * edits into scored candidates; take candidates by score while they fit;
 * grow the window into what is left; sort for prompt caching. Every
 * snippet's text is made by make_text, the one place the guard applies, and
 * counted after that, so redaction can never push the total past the
 * budget. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/context.h"
#include "chorus/guard.h"

/* ---- arena --------------------------------------------------------------- */

typedef struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  char data[];
} arena_block;

struct ch_context_arena {
  arena_block *head;
};

static void *arena_alloc(struct ch_context_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if(!a->head || a->head->cap - a->head->used < n) {
    size_t cap = CH_MAX(n, (size_t)64 * 1024);
    arena_block *b = ch_malloc(sizeof(*b) + cap);
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
  }
  void *p = a->head->data + a->head->used;
  a->head->used += n;
  return p;
}

static char *arena_strndup(struct ch_context_arena *a, const char *s,
                           size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static char *arena_printf(struct ch_context_arena *a, const char *fmt, ...)
    CH_PRINTF(2, 3);
static char *arena_printf(struct ch_context_arena *a, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if(n < 0) n = 0;
  if((size_t)n >= sizeof(tmp)) n = (int)sizeof(tmp) - 1;
  return arena_strndup(a, tmp, (size_t)n);
}

static void arena_free(struct ch_context_arena *a) {
  if(!a) return;
  arena_block *b = a->head;
  while(b) {
    arena_block *next = b->next;
    ch_free(b);
    b = next;
  }
  ch_free(a);
}

/* ---- the engine and its file cache --------------------------------------- */

typedef struct file_entry {
  char *text; /* owned: the whole file when small, else NULL */
  size_t len;
  uint64_t hash; /* hash of the record this entry was checked against */
  bool matches;  /* the file on disk is the record's (size and mtime) */
} file_entry;

struct ch_context_engine {
  ch_map files; /* abs path -> file_entry */
  size_t cached_bytes, max_bytes;
  uint64_t bytes_read, hits, misses;
  /* Scratch kept between builds, so a build does not fault in fresh
   * pages: identifier tokens of documents and two identifier sets. */
  struct id_tok *toks;
  size_t toks_cap;
  struct id_set *sets;
  /* Token lists of the regions around the cursor, reused. */
  struct tok *region_toks, *more_toks;
  size_t region_cap, more_cap;
  /* How many definitions each name had when last looked up: names defined
   * in very many places are looked up again only when used a lot. Counts
   * barely move between snapshots; the map is emptied when it grows. */
  ch_map name_counts;
  /* Identifier tokens of the documents last searched for similar code,
   * by path, with a fingerprint of the text they came from. */
  ch_map doc_tokens;
  /* Outline orders of imported files (outline_of), by path. */
  ch_map outlines;
};

/* Files up to this size are cached whole; spans of larger ones are read
 * when needed. */
#define SMALL_FILE_BYTES (64u * 1024)

static void free_entry(void *p) {
  file_entry *e = p;
  if(!e) return;
  ch_free(e->text);
  ch_free(e);
}

ch_context_engine *ch_context_engine_new(size_t max_cache_bytes) {
  ch_context_engine *self = ch_calloc(1, sizeof(*self));
  ch_map_init(&self->files);
  ch_map_init(&self->name_counts);
  ch_map_init(&self->doc_tokens);
  ch_map_init(&self->outlines);
  self->max_bytes = max_cache_bytes ? max_cache_bytes : 32u * 1024 * 1024;
  return self;
}

void ch_context_engine_free(ch_context_engine *self) {
  if(!self) return;
  ch_free(self->toks);
  ch_free(self->sets);
  ch_free(self->region_toks);
  ch_free(self->more_toks);
  ch_map_release(&self->name_counts, NULL);
  ch_map_release(&self->doc_tokens, ch_free);
  ch_map_release(&self->outlines, ch_free);
  ch_map_release(&self->files, free_entry);
  ch_free(self);
}

void ch_context_engine_io(const ch_context_engine *self, uint64_t *bytes_read,
                          uint64_t *hits, uint64_t *misses) {
  if(bytes_read) *bytes_read = self->bytes_read;
  if(hits) *hits = self->hits;
  if(misses) *misses = self->misses;
}

/* Reads bytes [start, end) of an open file into out. */
static bool pread_span(int fd, uint32_t start, uint32_t end, ch_buf *out) {
  if(ch_buf_reserve(out, end - start)) return false;
  size_t got = 0, want = end - start;
  while(got < want) {
    ssize_t n = pread(fd, out->data + out->len + got, want - got,
                      (off_t)start + (off_t)got);
    if(n < 0 && errno == EINTR) continue;
    if(n <= 0) return false;
    got += (size_t)n;
  }
  out->len += got;
  out->data[out->len] = 0;
  return true;
}

/* Appends bytes [start, end) of a record's file to out, as the record saw
 * them. The file must still be the one the record was built from: same
 * size and modification time (the index's own test for re-parsing).
 * Small files are kept whole in the cache; spans of larger ones are read
 * with pread each time, so one huge header costs its span, not its size.
 * False (nothing appended) when the file changed, is unsaved text, or
 * cannot be read. */
static bool file_span(ch_context_engine *self, const char *abs,
                      const ch_record *rec, uint32_t start, uint32_t end,
                      ch_buf *out) {
  if(end < start || end > rec->size || rec->mtime_ns == 0) return false;
  file_entry *e = ch_map_get(&self->files, abs);
  if(e && e->hash == rec->hash) {
    if(!e->matches) return false;
    if(e->text) {
      self->hits++;
      return ch_buf_append(out, e->text + start, end - start) == CH_OK;
    }
  } else {
    if(e) {
      self->cached_bytes -= e->len;
      free_entry(ch_map_remove(&self->files, abs));
    }
    if(self->cached_bytes > self->max_bytes) {
      /* Simple and bounded: start over rather than track recency. */
      ch_map_release(&self->files, free_entry);
      self->cached_bytes = 0;
    }
    e = ch_calloc(1, sizeof(*e));
    e->hash = rec->hash;
    ch_map_put(&self->files, abs, e);
  }
  self->misses++;
  int fd = open(abs, O_RDONLY | O_CLOEXEC);
  if(fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size == rec->size &&
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec ==
                rec->mtime_ns;
  e->matches = ok;
  if(ok && rec->size <= SMALL_FILE_BYTES && !e->text) {
    ch_buf whole;
    ch_buf_init(&whole, SMALL_FILE_BYTES);
    if(pread_span(fd, 0, (uint32_t)rec->size, &whole)) {
      e->len = whole.len;
      e->text = ch_buf_detach(&whole, NULL);
      self->cached_bytes += e->len;
      self->bytes_read += e->len;
    } else {
      ch_buf_release(&whole);
      e->matches = ok = false;
    }
  }
  if(ok) {
    if(e->text) {
      ok = ch_buf_append(out, e->text + start, end - start) == CH_OK;
    } else {
      size_t before = out->len;
      ok = pread_span(fd, start, end, out);
      if(!ok) out->len = before;
      self->bytes_read += end - start;
    }
  }
  close(fd);
  return ok;
}

/* ---- small text helpers -------------------------------------------------- */

static uint32_t past_open_key_block(const char *text, uint32_t len,
                                    uint32_t start, uint32_t end);
static uint32_t before_open_key_block(const char *text, uint32_t start,
                                      uint32_t end);

const char *ch_snippet_kind_name(ch_snippet_kind kind) {
  static const char *const names[] = {
      "outline", "definition", "similar", "edit", "scope", "prefix", "suffix"};
  return kind < CH_SNIPPET_KIND_COUNT ? names[kind] : "unknown";
}

/* Character classes of identifiers, by byte: bit 1 may continue one, bit 2
 * may start one. A table, not <ctype.h>: no locale, and inlined in the
 * scanners that read every byte of the open documents. */
static const unsigned char ident_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline bool is_ident_start(unsigned char c) {
  return (ident_class[c] & 2) != 0;
}
static inline bool is_ident_char(unsigned char c) {
  return (ident_class[c] & 1) != 0;
}

/* Line starts of a text: starts[0] = 0, one more per '\n'. */
typedef struct line_index {
  uint32_t *starts;
  uint32_t n;
  uint32_t len;
} line_index;

static void line_index_build(line_index *li, struct ch_context_arena *a,
                             const char *text, uint32_t len) {
  uint32_t n = 1;
  for(const char *p = text, *end = text + len;
      (p = memchr(p, '\n', (size_t)(end - p))); p++)
    n++;
  li->starts = arena_alloc(a, sizeof(uint32_t) * (n + 1));
  li->n = 0;
  li->starts[li->n++] = 0;
  for(const char *p = text, *end = text + len;
      (p = memchr(p, '\n', (size_t)(end - p))); p++)
    li->starts[li->n++] = (uint32_t)(p - text) + 1;
  li->starts[li->n] = len; /* sentinel */
  li->len = len;
}

static uint32_t row_of(const line_index *li, uint32_t off) {
  uint32_t lo = 0, hi = li->n;
  while(hi - lo > 1) {
    uint32_t mid = (lo + hi) / 2;
    if(li->starts[mid] <= off)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static uint32_t row_end(const line_index *li, uint32_t row) {
  return row + 1 < li->n ? li->starts[row + 1] : li->len;
}

static const char *const noise_words[] = {
    "False",      "NULL",     "None",       "Self",      "True",
    "and",        "as",       "assert",     "async",     "auto",
    "await",      "bool",     "break",      "byte",      "case",
    "catch",      "chan",     "char",       "class",     "cls",
    "const",      "continue", "def",        "default",   "defer",
    "define",     "del",      "dict",       "do",        "double",
    "elif",       "else",     "endif",      "enum",      "error",
    "except",     "export",   "extends",    "extern",    "fallthrough",
    "false",      "final",    "finally",    "float",     "fn",
    "for",        "from",     "func",       "function",  "global",
    "go",         "goto",     "i",          "if",        "ifdef",
    "ifndef",     "impl",     "implements", "import",    "in",
    "include",    "inline",   "instanceof", "int",       "int16_t",
    "int32_t",    "int64_t",  "int8_t",     "interface", "is",
    "isinstance", "j",        "k",          "lambda",    "len",
    "let",        "list",     "long",       "loop",      "map",
    "match",      "mod",      "mut",        "n",         "new",
    "nil",        "nonlocal", "not",        "null",      "nullptr",
    "object",     "of",       "or",         "p",         "package",
    "pass",       "print",    "private",    "protected", "pub",
    "public",     "raise",    "range",      "register",  "restrict",
    "return",     "rune",     "s",          "select",    "self",
    "set",        "short",    "signed",     "size_t",    "sizeof",
    "static",     "str",      "string",     "struct",    "super",
    "switch",     "this",     "throw",      "true",      "try",
    "tuple",      "type",     "typedef",    "typeof",    "uint",
    "uint16_t",   "uint32_t", "uint64_t",   "uint8_t",   "undef",
    "undefined",  "union",    "unsigned",   "use",       "var",
    "void",       "volatile", "where",      "while",     "with",
    "x",          "y",        "yield",
};

/* Language keywords and very common names that say nothing about which
 * definitions matter. The table is sorted (strcmp order) for bsearch. */
static bool is_noise_word(const char *s, size_t n) {
  if(n < 1) return true;
  if(n > 16) return false;
  size_t lo = 0, hi = CH_ARRAY_LEN(noise_words);
  while(lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *w = noise_words[mid];
    int c = strncmp(s, w, n);
    if(c == 0) c = w[n] == 0 ? 0 : -1;
    if(c == 0) return true;
    if(c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return false;
}

/* ---- tokens of a region -------------------------------------------------- */

struct tok {
  uint32_t start, len;
  bool ident;
};
typedef struct tok tok;

typedef struct tok_list {
  tok *v;
  size_t n, cap;
} tok_list;

/* Identifiers and single punctuation characters ("->" and ":=" as one),
 * skipping strings and comments roughly (quotes and #, //, /​* *​/). */
static void tokenize(tok_list *out, const char *text, uint32_t start,
                     uint32_t end, const ch_language *lang) {
  bool hash_comment = lang && strcmp(lang->name, "python") == 0;
  uint32_t i = start;
  while(i < end) {
    unsigned char c = (unsigned char)text[i];
    if(is_ident_start(c)) {
      uint32_t s = i;
      while(i < end && is_ident_char((unsigned char)text[i]))
        i++;
      if(out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 256;
        out->v = ch_realloc(out->v, out->cap * sizeof(tok));
      }
      out->v[out->n++] = (tok){s, i - s, true};
      continue;
    }
    if(isdigit(c)) {
      while(i < end && is_ident_char((unsigned char)text[i]))
        i++;
      continue;
    }
    if(isspace(c)) {
      i++;
      continue;
    }
    if(c == '"' || c == '\'' || c == '`') {
      /* A string: skip to its closing quote on the same line. */
      uint32_t j = i + 1;
      while(j < end && text[j] != (char)c && text[j] != '\n') {
        if(text[j] == '\\') j++;
        j++;
      }
      i = j < end ? j + 1 : end;
      continue;
    }
    if((hash_comment && c == '#') ||
       (c == '/' && i + 1 < end && text[i + 1] == '/')) {
      while(i < end && text[i] != '\n')
        i++;
      continue;
    }
    if(c == '/' && i + 1 < end && text[i + 1] == '*') {
      i += 2;
      while(i + 1 < end && !(text[i] == '*' && text[i + 1] == '/'))
        i++;
      i += 2;
      continue;
    }
    uint32_t len = 1;
    if(i + 1 < end &&
       ((c == '-' && text[i + 1] == '>') || (c == ':' && text[i + 1] == '=') ||
        (c == ':' && text[i + 1] == ':')))
      len = 2;
    if(out->n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 256;
      out->v = ch_realloc(out->v, out->cap * sizeof(tok));
    }
    out->v[out->n++] = (tok){i, len, false};
    i += len;
  }
}

static bool tok_is(const char *text, const tok *t, const char *s) {
  size_t n = strlen(s);
  return t->len == n && memcmp(text + t->start, s, n) == 0;
}

/* ---- the build ----------------------------------------------------------- */

/* What one identifier near the cursor amounts to. */
typedef struct ident_use {
  char *name;          /* arena */
  double weight;       /* uses, nearer ones weigh more */
  char *receiver_type; /* for members: the type of the receiver, or NULL */
  bool member;
  bool bare;     /* also used without a receiver */
  bool imported; /* named in an import of the document */
} ident_use;

typedef struct candidate {
  ch_snippet_kind kind;
  double score;
  const char *path;     /* abs, borrowed from snapshot or request */
  const ch_record *rec; /* for definitions/outlines */
  uint32_t file;        /* snapshot id or CH_NONE */
  uint32_t def;         /* def index or CH_NONE */
  uint32_t start_row, end_row, start, end;
  const char *reason;
  /* for similar windows and edits, the raw text (arena) */
  const char *raw;
  size_t raw_len;
  uint32_t order; /* for edits: caller order */
} candidate;

typedef struct build {
  ch_context_engine *engine;
  const ch_snapshot *snap;
  const ch_context_request *req;
  ch_context_options opt;
  const ch_language *lang;
  struct ch_context_arena *arena;
  ch_context_redactions *redactions;
  uint32_t self_id;
  const ch_record *rec; /* of the document's text, or NULL */
  line_index li;
  uint32_t cursor_row;

  candidate *cands;
  size_t ncands, cap_cands;
  ch_snippet *out;
  size_t nout, cap_out;
  uint32_t used;    /* tokens of snippets taken */
  ch_map seen_defs; /* "file:def" of definitions taken or queued */
  ch_map receivers; /* name -> uses as a receiver (`name.x`), as uintptr */
  ch_map own_defs;  /* name -> index + 1 of its first definition in rec */
  ch_map paths;     /* path -> its copy in the arena */
} build;

static bool source_on(const build *b, ch_snippet_kind kind) {
  return (b->opt.sources & CH_CONTEXT_SOURCE(kind)) != 0;
}

/* The one place the guard applies: may this path's text be used at all. */
static bool path_denied(build *b, const char *abs) {
  if(!b->opt.guard) return false;
  const char *root = NULL;
  const char *rel = abs;
  /* The guard matches paths relative to the repository root. */
  if(b->self_id != CH_NONE) root = ch_snapshot_root(b->snap, b->self_id);
  if(root) {
    size_t n = strlen(root);
    if(strncmp(abs, root, n) == 0 && abs[n] == '/') rel = abs + n + 1;
  }
  return ch_guard_path_denied(b->opt.guard, rel);
}

/* The one place text is made ready to send: redacted for a remote target,
 * copied into the arena, then counted. */
static const char *make_text(build *b, const char *text, size_t len,
                             size_t *out_len, uint32_t *tokens) {
  const char *final = text;
  size_t final_len = len;
  ch_buf red;
  ch_buf_init(&red, (size_t)64 * 1024 * 1024);
  if(b->opt.guard && ch_guard_redacts(b->opt.guard, b->opt.remote)) {
    ch_guard_stats st;
    memset(&st, 0, sizeof(st));
    if(ch_guard_redact(b->opt.guard, b->opt.remote, text, len, &red, &st) ==
       CH_OK) {
      final = red.data ? red.data : "";
      final_len = red.len;
      b->redactions->total += st.redactions;
      for(size_t k = 0; k < CH_SECRET_KIND_COUNT; k++) {
        if(!st.by_kind[k]) continue;
        const char *name = ch_secret_kind_name((ch_secret_kind)k);
        size_t slot = 0;
        while(slot < b->redactions->nkinds &&
              strcmp(b->redactions->kind_names[slot], name) != 0)
          slot++;
        if(slot == b->redactions->nkinds) {
          if(slot >= CH_ARRAY_LEN(b->redactions->kind_names)) continue;
          b->redactions->kind_names[slot] = name;
          b->redactions->kind_counts[slot] = 0;
          b->redactions->nkinds++;
        }
        b->redactions->kind_counts[slot] += st.by_kind[k];
      }
    } else {
      /* Never send what could not be checked. */
      final = "";
      final_len = 0;
    }
  }
  if(b->opt.guard && ch_guard_redacts(b->opt.guard, b->opt.remote)) {
    /* A key block the guard did not see whole (a signature cut at its
     * maximum, a hunk) keeps its BEGIN line and loses its body only when
     * its END is there too: cut the text before an unclosed one. */
    final_len = before_open_key_block(final, 0, (uint32_t)final_len);
  }
  char *copy = arena_strndup(b->arena, final, final_len);
  ch_buf_release(&red);
  *out_len = final_len;
  *tokens = ch_context_tokens(b->lang, copy, final_len);
  return copy;
}

/* A copy of path in the result's arena, one per distinct path: snippets
 * must not point into the snapshot or the request, which the caller may
 * free before the result. */
static const char *intern_path(build *b, const char *path) {
  const char *copy = ch_map_get(&b->paths, path);
  if(!copy) {
    copy = arena_strndup(b->arena, path, strlen(path));
    ch_map_put(&b->paths, path, (void *)copy);
  }
  return copy;
}

static ch_snippet *push_snippet(build *b) {
  if(b->nout == b->cap_out) {
    b->cap_out = b->cap_out ? b->cap_out * 2 : 32;
    b->out = ch_realloc(b->out, b->cap_out * sizeof(ch_snippet));
  }
  ch_snippet *s = &b->out[b->nout++];
  memset(s, 0, sizeof(*s));
  return s;
}

static candidate *push_cand(build *b) {
  if(b->ncands == b->cap_cands) {
    b->cap_cands = b->cap_cands ? b->cap_cands * 2 : 64;
    b->cands = ch_realloc(b->cands, b->cap_cands * sizeof(candidate));
  }
  candidate *c = &b->cands[b->ncands++];
  memset(c, 0, sizeof(*c));
  c->file = CH_NONE;
  c->def = CH_NONE;
  return c;
}

/* ---- windows ------------------------------------------------------------- */

typedef struct window {
  uint32_t pre_start; /* byte where the prefix starts (a line start) */
  uint32_t suf_end;   /* byte where the suffix ends (a line end) */
} window;

/* Grows the prefix back by whole lines and the suffix forward while each
 * stays within its token target. */
static window size_window(const build *b, uint32_t pre_tokens,
                          uint32_t suf_tokens) {
  const char *text = b->req->text;
  uint32_t cursor = b->req->cursor;
  window w = {cursor, cursor};
  /* prefix: the cursor line's head first, then whole lines above */
  uint32_t row = b->cursor_row;
  uint32_t head_start = b->li.starts[row];
  uint64_t milli =
      ch_context_tokens_milli(b->lang, text + head_start, cursor - head_start);
  if(ch_context_tokens_of_milli(b->lang, milli) <= pre_tokens) {
    w.pre_start = head_start;
    while(row > 0) {
      uint32_t s = b->li.starts[row - 1];
      uint64_t m =
          ch_context_tokens_milli(b->lang, text + s, b->li.starts[row] - s);
      if(ch_context_tokens_of_milli(b->lang, milli + m) > pre_tokens) break;
      milli += m;
      row--;
      w.pre_start = s;
    }
  }
  /* suffix: the rest of the cursor line, then whole lines below */
  row = b->cursor_row;
  uint32_t tail_end = row_end(&b->li, row);
  milli = ch_context_tokens_milli(b->lang, text + cursor, tail_end - cursor);
  if(ch_context_tokens_of_milli(b->lang, milli) <= suf_tokens) {
    w.suf_end = tail_end;
    while(row + 1 < b->li.n && b->li.starts[row + 1] < b->li.len) {
      row++;
      uint32_t s = b->li.starts[row], e = row_end(&b->li, row);
      uint64_t m = ch_context_tokens_milli(b->lang, text + s, e - s);
      if(ch_context_tokens_of_milli(b->lang, milli + m) > suf_tokens) break;
      milli += m;
      w.suf_end = e;
    }
  }
  return w;
}

/* ---- identifiers near the cursor ----------------------------------------- */

static ident_use *use_of(build *b, ch_map *uses, const char *text, tok *t) {
  char name[128];
  size_t n = CH_MIN((size_t)t->len, sizeof(name) - 1);
  memcpy(name, text + t->start, n);
  name[n] = 0;
  ident_use *u = ch_map_get(uses, name);
  if(!u) {
    u = arena_alloc(b->arena, sizeof(*u));
    memset(u, 0, sizeof(*u));
    u->name = arena_strndup(b->arena, name, n);
    ch_map_put(uses, name, u);
  }
  return u;
}

/* The innermost definition of the record that contains the cursor and is
 * one of the given kinds, or CH_NONE. */
static uint32_t enclosing_def(const ch_record *rec, uint32_t cursor,
                              bool classes) {
  uint32_t best = CH_NONE;
  if(!rec) return best;
  for(uint32_t d = 0; d < rec->ndefs; d++) {
    const ch_def *def = &rec->defs[d];
    if(def->range.start > cursor) break;
    if(def->range.end < cursor) continue;
    bool fn = def->kind == CH_DEF_FUNCTION || def->kind == CH_DEF_METHOD;
    bool cls = def->kind == CH_DEF_CLASS || def->kind == CH_DEF_STRUCT ||
               def->kind == CH_DEF_INTERFACE;
    if(classes ? cls : fn) best = d; /* later starts are nested deeper */
  }
  return best;
}

/* The declared type of `name` from the tokens before the cursor: `x: T`,
 * `x = T(`, `x = new T(`, `x := T{`, `T x`, `T *x`, `var x T`, `x T` in
 * Go parameters. The last declaration wins. Returns an arena string or
 * NULL. */
static char *receiver_type(build *b, const tok_list *toks, size_t before,
                           const char *name) {
  const char *text = b->req->text;
  size_t nlen = strlen(name);
  bool go = b->lang && strcmp(b->lang->name, "go") == 0;
  bool python = b->lang && strcmp(b->lang->name, "python") == 0;
  for(size_t k = before; k-- > 0;) {
    const tok *t = &toks->v[k];
    if(!t->ident || t->len != nlen || memcmp(text + t->start, name, nlen))
      continue;
    if(k > 0 && !toks->v[k - 1].ident &&
       (tok_is(text, &toks->v[k - 1], ".") ||
        tok_is(text, &toks->v[k - 1], "->")))
      continue; /* a member of something else */
    const tok *next = k + 1 < toks->n ? &toks->v[k + 1] : NULL;
    const tok *found = NULL;
    if(next && !next->ident && tok_is(text, next, ":") && k + 2 < toks->n &&
       toks->v[k + 2].ident) {
      found = &toks->v[k + 2];
    } else if(next && !next->ident &&
              (tok_is(text, next, "=") || tok_is(text, next, ":=")) &&
              !(k + 2 < toks->n && tok_is(text, &toks->v[k + 2], "="))) {
      size_t j = k + 2;
      if(j < toks->n && tok_is(text, &toks->v[j], "new")) j++;
      /* a dotted constructor: take its last name */
      while(j + 2 < toks->n && toks->v[j].ident &&
            tok_is(text, &toks->v[j + 1], ".") && toks->v[j + 2].ident)
        j += 2;
      if(j + 1 < toks->n && toks->v[j].ident &&
         (tok_is(text, &toks->v[j + 1], "(") ||
          tok_is(text, &toks->v[j + 1], "{")))
        found = &toks->v[j];
      if(found && python && islower((unsigned char)text[found->start]))
        found = NULL; /* a call of a function, not a class */
    }
    if(found) {
      /* found above */
    } else if(go && next && next->ident) {
      found = next; /* var x T, func f(x T) */
      if(k + 3 < toks->n && tok_is(text, &toks->v[k + 2], ".") &&
         toks->v[k + 3].ident)
        found = &toks->v[k + 3]; /* x pkg.T */
    } else if(!python && !go && k > 0) {
      size_t j = k - 1;
      while(j > 0 && !toks->v[j].ident &&
            (tok_is(text, &toks->v[j], "*") || tok_is(text, &toks->v[j], "&")))
        j--;
      if(toks->v[j].ident &&
         !is_noise_word(text + toks->v[j].start, toks->v[j].len) &&
         !tok_is(text, &toks->v[j], "return"))
        found = &toks->v[j];
      else if(toks->v[j].ident && j != k - 1 &&
              (tok_is(text, &toks->v[j], "int") ||
               tok_is(text, &toks->v[j], "char")))
        found = NULL;
    }
    if(found) return arena_strndup(b->arena, text + found->start, found->len);
  }
  return NULL;
}

/* ---- definitions --------------------------------------------------------- */

#define SHORT_BODY_LINES 6
#define SHORT_TYPE_LINES 16
#define DOC_MAX_LINES 1
#define DOC_MAX_BYTES 320
#define MAX_MEMBERS_LISTED 16

static bool is_type_kind(ch_def_kind k) {
  return k == CH_DEF_CLASS || k == CH_DEF_STRUCT || k == CH_DEF_UNION ||
         k == CH_DEF_ENUM || k == CH_DEF_TYPE || k == CH_DEF_INTERFACE;
}

static const char *container_name(const ch_record *rec, const ch_def *d) {
  if(d->container == CH_NONE) return NULL;
  return ch_record_str(rec, rec->defs[d->container].name);
}

/* Text of a definition: the body when short and readable, else doc,
 * signature and (for types) the signatures of its members. `compact` asks
 * for the short form only. */
/* A doc comment cut to its first lines: enough to say what a thing is. */
static void append_doc(ch_buf *out, const char *doc, const char *indent) {
  size_t lines = 0;
  const char *p = doc;
  while(*p && lines < DOC_MAX_LINES && (size_t)(p - doc) < DOC_MAX_BYTES) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    ch_buf_append_str(out, indent);
    ch_buf_append(out, p, n);
    ch_buf_append_char(out, '\n');
    lines++;
    if(!nl) return;
    p = nl + 1;
  }
  if(*p) {
    ch_buf_append_str(out, indent);
    ch_buf_append_str(out, "...\n");
  }
}

static void def_text(build *b, const char *abs, const ch_record *rec,
                     uint32_t di, bool compact, ch_buf *out) {
  const ch_def *d = &rec->defs[di];
  uint32_t lines = d->range.end_row - d->range.start_row + 1;
  bool python = rec->lang && strcmp(rec->lang->name, "python") == 0;
  const char *doc = d->doc == CH_NONE ? NULL : ch_record_str(rec, d->doc);
  uint32_t short_lines =
      is_type_kind(d->kind) ? SHORT_TYPE_LINES : SHORT_BODY_LINES;
  if(!compact && lines <= short_lines) {
    /* whole lines: from the start of the first to the end of the last */
    uint32_t s0 = d->range.start_row < rec->nlines
                      ? rec->line_starts[d->range.start_row]
                      : d->range.start;
    uint32_t e0 = d->range.end_row + 1 < rec->nlines
                      ? rec->line_starts[d->range.end_row + 1]
                      : (uint32_t)rec->size;
    size_t mark = out->len;
    if(doc && !python) append_doc(out, doc, "");
    bool got = false;
    if(rec == b->rec) {
      /* the document's own text, as the caller gave it */
      got = e0 <= b->req->len &&
            ch_buf_append(out, b->req->text + s0, e0 - s0) == CH_OK;
    } else {
      got = file_span(b->engine, abs, rec, s0, e0, out);
    }
    if(got) {
      if(out->len == 0 || out->data[out->len - 1] != '\n')
        ch_buf_append_char(out, '\n');
      return;
    }
    out->len = mark;
    if(out->data) out->data[mark] = 0;
  }
  if(doc && !python) append_doc(out, doc, "");
  ch_buf_append_str(out, ch_record_str(rec, d->signature));
  ch_buf_append_char(out, '\n');
  if(doc && python) append_doc(out, doc, "    ");
  if(is_type_kind(d->kind) && !compact) {
    size_t listed = 0;
    for(uint32_t k = di + 1; k < rec->ndefs && listed < MAX_MEMBERS_LISTED;
        k++) {
      const ch_def *m = &rec->defs[k];
      if(m->range.start >= d->range.end) break;
      if(m->container != di) continue;
      ch_buf_appendf(out, "    %s\n", ch_record_str(rec, m->signature));
      listed++;
    }
  }
}

static void add_def_candidate(build *b, uint32_t file, uint32_t di,
                              double score, const char *reason) {
  char key[32];
  snprintf(key, sizeof(key), "%u:%u", file, di);
  candidate *prev = ch_map_get(&b->seen_defs, key);
  if(prev) {
    /* Seen through another identifier: keep the best score. The pointer
     * is an index + 1, since the array moves. */
    size_t at = (size_t)(uintptr_t)prev - 1;
    if(b->cands[at].score < score) {
      b->cands[at].score = score;
      b->cands[at].reason = reason;
    }
    return;
  }
  /* The document's own definitions come from the record of its text. */
  bool own = file == b->self_id && b->rec;
  const ch_record *rec = own ? b->rec : ch_snapshot_file(b->snap, file);
  if(!rec || di >= rec->ndefs) return;
  const char *abs = own ? b->req->path : ch_snapshot_abs_path(b->snap, file);
  const ch_def *d = &rec->defs[di];
  candidate *c = push_cand(b);
  c->kind = CH_SNIPPET_DEFINITION;
  c->score = score;
  c->path = abs;
  c->rec = rec;
  c->file = file;
  c->def = di;
  c->start_row = d->range.start_row;
  c->end_row = d->range.end_row;
  c->start = d->range.start;
  c->end = d->range.end;
  c->reason = reason;
  ch_map_put(&b->seen_defs, key, (void *)(uintptr_t)b->ncands);
}

/* A name with more definitions than this says little about which one is
 * meant. */
#define AMBIGUOUS_DEFS 24

static const double proximity_weight[4] = {0.25, 1.0, 0.4, 0.2};
static const char *const proximity_name[4] = {"this file", "imported file",
                                              "same directory", "elsewhere"};

/* Candidates for the definitions of one identifier. */
/* The definition of a name in the document itself, outside the window
 * (what the window shows needs no repeating). */
static void own_definition(build *b, const ident_use *u, window w) {
  if(!b->rec || b->self_id == CH_NONE) return;
  uintptr_t at = (uintptr_t)ch_map_get(&b->own_defs, u->name);
  if(!at) return;
  uint32_t di = (uint32_t)(at - 1);
  const ch_def *d = &b->rec->defs[di];
  if(d->range.end > w.pre_start && d->range.start < w.suf_end) return;
  if(d->kind == CH_DEF_FIELD && d->container != CH_NONE) di = d->container;
  double use = 1.0 + log2(1.0 + u->weight);
  add_def_candidate(b, b->self_id, di, proximity_weight[0] * use,
                    arena_printf(b->arena,
                                 "definition of %s, used near the "
                                 "cursor (this file)",
                                 u->name));
}

static void definitions_of(build *b, const ident_use *u, window w) {
  own_definition(b, u, w);
  ch_map *counts = &b->engine->name_counts;
  uintptr_t known = (uintptr_t)ch_map_get(counts, u->name);
  if(known > AMBIGUOUS_DEFS + 1 && u->weight < 3.0) return;
  ch_def_ref refs[24];
  size_t total =
      ch_snapshot_find(b->snap, u->name, b->self_id, refs, CH_ARRAY_LEN(refs));
  if(counts->len > 65536) ch_map_release(counts, NULL);
  ch_map_put(counts, u->name, (void *)(uintptr_t)(total + 1));
  /* The same rule whether or not the count was known: the result must not
   * depend on what the engine saw before. */
  if(total > AMBIGUOUS_DEFS && u->weight < 3.0) return;
  size_t n = CH_MIN(total, CH_ARRAY_LEN(refs));
  if(n == 0) return;
  /* Many definitions of one name elsewhere make each one less likely the
   * right one. */
  size_t at_best = 0;
  for(size_t i = 0; i < n; i++)
    if(refs[i].proximity == refs[0].proximity) at_best++;
  double ambiguity = 1.0 / sqrt((double)(at_best + (total > n ? 4 : 0)));
  double use = 1.0 + log2(1.0 + u->weight);
  size_t taken = 0;
  size_t limit = u->member && !u->receiver_type ? 2 : 1;
  for(size_t i = 0; i < n && taken < limit; i++) {
    const ch_def_ref *r = &refs[i];
    const ch_record *rec = ch_snapshot_file(b->snap, r->file);
    if(!rec) continue;
    const ch_def *d = &rec->defs[r->def];
    if(r->file == b->self_id) {
      /* The document's own definitions come from the record of its current
       * text (own_definition), not from the snapshot's. */
      continue;
    }
    /* A bare name cannot refer to another file's nested function or to a
     * field: those are not in scope. */
    bool top = d->container == CH_NONE;
    bool nested_code =
        !top && (d->kind == CH_DEF_FUNCTION || d->kind == CH_DEF_METHOD ||
                 d->kind == CH_DEF_FIELD || d->kind == CH_DEF_VARIABLE);
    if(!u->member && nested_code) continue; /* enumerators are in scope */
    const char *abs = ch_snapshot_abs_path(b->snap, r->file);
    if(path_denied(b, abs)) {
      b->redactions->snippets_dropped++;
      continue;
    }
    uint32_t prox = r->proximity < 4 ? r->proximity : 3;
    double score = proximity_weight[prox] * use * ambiguity;
    const char *cname = container_name(rec, d);
    uint32_t target = r->def;
    const char *why = NULL;
    if(u->member) {
      if(u->receiver_type) {
        if(cname && strcmp(cname, u->receiver_type) == 0) {
          score *= 3.0;
          why = arena_printf(b->arena,
                             "%s of %s, the type of its receiver "
                             "(%s)",
                             u->name, cname, proximity_name[prox]);
        } else if(!u->bare) {
          score *= 0.25;
        }
      }
      if(d->kind == CH_DEF_FIELD && d->container != CH_NONE) {
        /* A field is best shown with its siblings: the whole type. */
        target = d->container;
      }
    } else if(d->kind == CH_DEF_FIELD || d->kind == CH_DEF_METHOD) {
      score *= 0.5; /* a bare name that only matches a member */
    }
    if(!why)
      why = arena_printf(b->arena,
                         "definition of %s, used near the cursor "
                         "(%s)",
                         u->name, proximity_name[prox]);
    add_def_candidate(b, r->file, target, score, why);
    taken++;
  }
}

/* The definition of a receiver's type: its fields and methods. */
static void type_of_receiver(build *b, const char *type) {
  ch_def_ref refs[8];
  size_t n =
      ch_snapshot_find(b->snap, type, b->self_id, refs, CH_ARRAY_LEN(refs));
  n = CH_MIN(n, CH_ARRAY_LEN(refs));
  for(size_t i = 0; i < n; i++) {
    const ch_record *rec = ch_snapshot_file(b->snap, refs[i].file);
    if(!rec) continue;
    if(refs[i].file == b->self_id && rec != b->rec) continue;
    const ch_def *d = &rec->defs[refs[i].def];
    if(!is_type_kind(d->kind)) continue;
    const char *abs = ch_snapshot_abs_path(b->snap, refs[i].file);
    if(path_denied(b, abs)) {
      b->redactions->snippets_dropped++;
      continue;
    }
    uint32_t prox = refs[i].proximity < 4 ? refs[i].proximity : 3;
    add_def_candidate(b, refs[i].file, refs[i].def,
                      4.0 * proximity_weight[prox],
                      arena_printf(b->arena,
                                   "type %s of a receiver near the "
                                   "cursor: its members (%s)",
                                   type, proximity_name[prox]));
    return;
  }
}

/* Counts `name` in `name.x` (a module or object used as a receiver). */
static void count_receiver(build *b, const char *text, const tok *t) {
  char name[64];
  if(t->len >= sizeof(name)) return;
  memcpy(name, text + t->start, t->len);
  name[t->len] = 0;
  uintptr_t n = (uintptr_t)ch_map_get(&b->receivers, name);
  ch_map_put(&b->receivers, name, (void *)(n + 1));
}

#define MAX_LOOKUPS 128

static int by_weight(const void *pa, const void *pb) {
  const ident_use *a = *(ident_use *const *)pa, *b2 = *(ident_use *const *)pb;
  if(a->weight != b2->weight) return a->weight > b2->weight ? -1 : 1;
  return strcmp(a->name, b2->name);
}

/* Counts the identifiers of toks (over text) into uses, each use weighing
 * `weight`; new names are appended to order. */
static void add_region_uses(build *b, ch_map *uses, ident_use **order,
                            size_t *norder, size_t max, const char *text,
                            tok_list *toks, double weight) {
  for(size_t k = 0; k < toks->n; k++) {
    tok *t = &toks->v[k];
    if(!t->ident || is_noise_word(text + t->start, t->len)) continue;
    bool member = k > 0 && !toks->v[k - 1].ident &&
                  (tok_is(text, &toks->v[k - 1], ".") ||
                   tok_is(text, &toks->v[k - 1], "->"));
    if(member && k >= 2 && toks->v[k - 2].ident)
      count_receiver(b, text, &toks->v[k - 2]);
    ident_use *u = use_of(b, uses, text, t);
    if(u->weight == 0) {
      if(*norder >= max) continue;
      order[(*norder)++] = u;
    }
    u->weight += weight;
    if(member)
      u->member = true;
    else
      u->bare = true;
  }
}

static void gather_definitions(build *b, window w) {
  const char *text = b->req->text;
  uint32_t cursor = b->req->cursor;
  /* The region: the prefix window and the whole current function. */
  uint32_t start = w.pre_start, end = cursor;
  uint32_t fn = enclosing_def(b->rec, cursor, false);
  if(fn != CH_NONE) {
    const ch_def *d = &b->rec->defs[fn];
    start = CH_MIN(start, d->range.start);
    end = CH_MAX(end, CH_MIN(d->range.end, b->req->len));
  }
  if(end - start > 64 * 1024 && cursor - start > 48 * 1024)
    start = cursor - 48 * 1024;
  if(end > start + 64 * 1024) end = start + 64 * 1024;
  /* The engine's scratch lists: no fresh pages per request. */
  tok_list toks = {b->engine->region_toks, 0, b->engine->region_cap};
  tokenize(&toks, text, start, end, b->lang);
  size_t before = 0;
  while(before < toks.n && toks.v[before].start < cursor)
    before++;
  tok_list more_scratch = {b->engine->more_toks, 0, b->engine->more_cap};

  ch_map uses;
  ch_map_init(&uses);
  ident_use *order[256];
  size_t norder = 0;
  for(size_t k = 0; k < toks.n; k++) {
    tok *t = &toks.v[k];
    if(!t->ident || is_noise_word(text + t->start, t->len)) continue;
    bool member = k > 0 && !toks.v[k - 1].ident &&
                  (tok_is(text, &toks.v[k - 1], ".") ||
                   tok_is(text, &toks.v[k - 1], "->"));
    /* The receiver's type only says which `foo` when the receiver is a
     * plain name. */
    bool simple_receiver = member && k >= 2 && toks.v[k - 2].ident &&
                           !(k >= 3 && !toks.v[k - 3].ident &&
                             (tok_is(text, &toks.v[k - 3], ".") ||
                              tok_is(text, &toks.v[k - 3], "->")));
    if(simple_receiver) count_receiver(b, text, &toks.v[k - 2]);
    ident_use *u = use_of(b, &uses, text, t);
    if(u->weight == 0 && norder < CH_ARRAY_LEN(order)) order[norder++] = u;
    /* Nearer uses count more: the lines right before the cursor most. */
    double near = 1.0;
    if(t->start < cursor) {
      uint32_t dist = b->cursor_row - row_of(&b->li, t->start);
      near = dist <= 3 ? 2.0 : dist <= 12 ? 1.4 : 1.0;
    }
    u->weight += near;
    if(member) {
      u->member = true;
      if(simple_receiver && !u->receiver_type) {
        const tok *rt = &toks.v[k - 2];
        char rname[128];
        size_t rn = CH_MIN((size_t)rt->len, sizeof(rname) - 1);
        memcpy(rname, text + rt->start, rn);
        rname[rn] = 0;
        if(strcmp(rname, "self") == 0 || strcmp(rname, "this") == 0 ||
           strcmp(rname, "cls") == 0) {
          uint32_t cls = enclosing_def(b->rec, cursor, true);
          if(cls != CH_NONE)
            u->receiver_type = arena_strndup(
                b->arena, ch_record_str(b->rec, b->rec->defs[cls].name),
                strlen(ch_record_str(b->rec, b->rec->defs[cls].name)));
        } else {
          u->receiver_type = receiver_type(b, &toks, before, rname);
        }
        if(u->receiver_type && strcmp(u->receiver_type, rname) == 0)
          u->receiver_type = NULL;
      }
    } else {
      u->bare = true;
    }
  }
  /* Code after the current function in the window, and the code of the
   * similar windows found, hint at names the next lines may use: what code
   * like this calls. They count less than the code at the cursor. */
  if(end < w.suf_end) {
    tok_list more = more_scratch;
    more.n = 0;
    tokenize(&more, text, end, w.suf_end, b->lang);
    add_region_uses(b, &uses, order, &norder, CH_ARRAY_LEN(order), text, &more,
                    0.5);
    more_scratch = more;
  }
  /* The rest of the document: a name used anywhere in it is likely to be
   * used again. Bounded, so a huge file costs no more than 64 KiB. */
  {
    uint32_t lo = start > 32 * 1024 ? start - 32 * 1024 : 0;
    uint32_t hi = CH_MIN(b->req->len, CH_MAX(end, w.suf_end) + 32 * 1024);
    tok_list more = more_scratch;
    more.n = 0;
    if(lo < start) tokenize(&more, text, lo, start, b->lang);
    if(CH_MAX(end, w.suf_end) < hi)
      tokenize(&more, text, CH_MAX(end, w.suf_end), hi, b->lang);
    add_region_uses(b, &uses, order, &norder, CH_ARRAY_LEN(order), text, &more,
                    0.25);
    more_scratch = more;
  }
  for(size_t i = 0; i < b->ncands; i++) {
    const candidate *c = &b->cands[i];
    if(c->kind != CH_SNIPPET_SIMILAR || !c->raw) continue;
    tok_list more = more_scratch;
    more.n = 0;
    tokenize(&more, c->raw, 0, (uint32_t)c->raw_len, b->lang);
    add_region_uses(b, &uses, order, &norder, CH_ARRAY_LEN(order), c->raw,
                    &more, c->score);
    more_scratch = more;
  }
  /* Names the file imports one by one are likely next: they count as one
   * use each. */
  if(b->rec && norder < CH_ARRAY_LEN(order)) {
    for(uint32_t i = 0; i < b->rec->nimports; i++) {
      const char *names = ch_record_str(b->rec, b->rec->imports[i].names);
      while(*names && norder < CH_ARRAY_LEN(order)) {
        const char *comma = strchr(names, ',');
        size_t n = comma ? (size_t)(comma - names) : strlen(names);
        while(n && names[0] == ' ')
          names++, n--;
        if(n && n < 64 && is_ident_start((unsigned char)names[0]) &&
           !is_noise_word(names, n)) {
          tok t = {(uint32_t)(names - b->rec->pool), (uint32_t)n, true};
          ident_use *u = use_of(b, &uses, b->rec->pool, &t);
          if(u->weight == 0) order[norder++] = u;
          u->weight += 0.5;
          u->bare = true;
          u->imported = true;
        }
        if(!comma) break;
        names = comma + 1;
      }
    }
  }
  /* Receiver types first: they carry the fields a member access needs. */
  for(size_t i = 0; i < norder; i++) {
    const char *type = order[i]->receiver_type;
    if(!type) continue;
    bool dup = false;
    for(size_t j = 0; j < i && !dup; j++)
      dup =
          order[j]->receiver_type && strcmp(order[j]->receiver_type, type) == 0;
    if(!dup) type_of_receiver(b, type);
  }
  /* Only the names that weigh most are looked up: each lookup ranks every
   * definition of the name, and the tail rarely fits the budget anyway. */
  qsort(order, norder, sizeof(order[0]), by_weight);
  /* Past those, names the document imports one by one still are: their
   * definitions are in the files it imports, the likeliest place. */
  size_t extra = 0;
  for(size_t i = 0; i < norder; i++)
    if(i < MAX_LOOKUPS || (order[i]->imported && extra++ < MAX_LOOKUPS))
      definitions_of(b, order[i], w);
  ch_map_release(&uses, NULL);
  b->engine->region_toks = toks.v;
  b->engine->region_cap = toks.cap;
  b->engine->more_toks = more_scratch.v;
  b->engine->more_cap = more_scratch.cap;
}

/* ---- outlines of imported files ------------------------------------------ */

static void gather_outlines(build *b) {
  if(b->self_id == CH_NONE) return;
  uint32_t ids[16];
  size_t n = ch_snapshot_imports(b->snap, b->self_id, ids, CH_ARRAY_LEN(ids));
  n = CH_MIN(n, CH_ARRAY_LEN(ids));
  for(size_t i = 0; i < n; i++) {
    const ch_record *rec = ch_snapshot_file(b->snap, ids[i]);
    if(!rec || rec->ndefs == 0) continue;
    const char *abs = ch_snapshot_abs_path(b->snap, ids[i]);
    if(path_denied(b, abs)) {
      b->redactions->snippets_dropped++;
      continue;
    }
    /* A module the document uses as `mod.x` is worth its outline: which
     * x comes next is anyone's guess, and the outline names them all. */
    char base[64];
    const char *slash = strrchr(rec->path, '/');
    const char *fname = slash ? slash + 1 : rec->path;
    const char *dot = strchr(fname, '.');
    size_t bl = dot ? (size_t)(dot - fname) : strlen(fname);
    if(bl == 8 && strncmp(fname, "__init__", 8) == 0 && slash) {
      /* a package: its folder's name */
      const char *p = slash;
      while(p > rec->path && p[-1] != '/')
        p--;
      fname = p;
      bl = (size_t)(slash - p);
    }
    uintptr_t used = 0;
    if(bl < sizeof(base)) {
      memcpy(base, fname, bl);
      base[bl] = 0;
      used = (uintptr_t)ch_map_get(&b->receivers, base);
    }
    candidate *c = push_cand(b);
    c->kind = CH_SNIPPET_OUTLINE;
    c->score = 0.3 / (1.0 + (double)i * 0.2) + 0.3 * (double)CH_MIN(used, 6u);
    c->path = abs;
    c->rec = rec;
    c->file = ids[i];
    c->start_row = rec->defs[0].range.start_row;
    c->end_row = rec->defs[rec->ndefs - 1].range.end_row;
    c->start = rec->defs[0].range.start;
    c->end = rec->defs[rec->ndefs - 1].range.end;
    c->reason = arena_printf(b->arena,
                             "outline of an imported file (%u "
                             "definitions)",
                             rec->ndefs);
  }
}

/* The outline order of a file: its nameable definitions (top-level; in
 * Python not private), most used by the files that import it first, then
 * in source order. Kept in the engine per file and record. */
#define OUTLINE_CACHE_MAX 512
#define POPULARITY_IMPORTERS 24
#define POPULARITY_DEFS 256

typedef struct ranked_def {
  uint32_t def, uses;
} ranked_def;

typedef struct outline_order {
  uint64_t hash; /* of the record it was computed for */
  uint32_t nimp;
  uint64_t imp_hash[POPULARITY_IMPORTERS]; /* paths of the importers counted */
  uint32_t n;
  ranked_def ranked[]; /* most used first */
} outline_order;

static int by_uses(const void *pa, const void *pb) {
  const ranked_def *a = pa, *b2 = pb;
  if(a->uses != b2->uses) return a->uses > b2->uses ? -1 : 1;
  return a->def < b2->def ? -1 : a->def > b2->def;
}

/* Whether a record's sorted identifiers include name. */
static bool record_uses(const ch_record *rec, const char *name) {
  uint32_t lo = 0, hi = rec->nidents;
  while(lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    int c = strcmp(ch_record_str(rec, rec->idents[mid]), name);
    if(c == 0) return true;
    if(c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

static const outline_order *outline_of(build *b, uint32_t file,
                                       const ch_record *rec) {
  const char *abs = ch_snapshot_abs_path(b->snap, file);
  ch_map *cache = &b->engine->outlines;
  outline_order *o = ch_map_get(cache, abs);
  if(o && o->hash == rec->hash) return o;
  bool python = rec->lang && strcmp(rec->lang->name, "python") == 0;
  ranked_def *r = ch_malloc(sizeof(ranked_def) * (rec->ndefs + 1));
  uint32_t n = 0;
  for(uint32_t d = 0; d < rec->ndefs; d++) {
    const ch_def *def = &rec->defs[d];
    if(def->container != CH_NONE) continue;
    if(python && ch_record_str(rec, def->name)[0] == '_') continue;
    r[n++] = (ranked_def){d, 0};
  }
  uint32_t importers[POPULARITY_IMPORTERS];
  size_t ni =
      ch_snapshot_importers(b->snap, file, importers, POPULARITY_IMPORTERS);
  ni = CH_MIN(ni, (size_t)POPULARITY_IMPORTERS);
  if(cache->len >= OUTLINE_CACHE_MAX) ch_map_release(cache, ch_free);
  outline_order *fresh =
      ch_malloc(sizeof(*fresh) + sizeof(ranked_def) * (n + 1));
  fresh->hash = rec->hash;
  fresh->nimp = 0;
  for(size_t i = 0; i < ni; i++) {
    const ch_record *imp = ch_snapshot_file(b->snap, importers[i]);
    if(!imp) continue;
    const char *ip = ch_snapshot_abs_path(b->snap, importers[i]);
    fresh->imp_hash[fresh->nimp++] = ch_hash_bytes(ip, strlen(ip));
    for(uint32_t k = 0; k < n && k < POPULARITY_DEFS; k++)
      r[k].uses +=
          record_uses(imp, ch_record_str(rec, rec->defs[r[k].def].name));
  }
  qsort(r, n, sizeof(ranked_def), by_uses);
  fresh->n = n;
  memcpy(fresh->ranked, r, sizeof(ranked_def) * n);
  ch_free(r);
  ch_free(ch_map_put(cache, abs, fresh));
  return fresh;
}

static int by_u32(const void *pa, const void *pb) {
  uint32_t a = *(const uint32_t *)pa, b2 = *(const uint32_t *)pb;
  return a < b2 ? -1 : a > b2;
}

/* An outline that fits in `tokens`: the signatures other files use most
 * (see outline_of) that fit, shown in source order; the candidate's rows
 * become those of the first and last shown. */
static void outline_text(build *b, candidate *c, uint32_t tokens, ch_buf *out) {
  const ch_record *rec = c->rec;
  const outline_order *o = outline_of(b, c->file, rec);
  /* The document's own uses are not evidence for itself (and the index may
   * still hold uses it no longer has): when it was one of the importers
   * counted, its part comes off, the same whoever computed the order. */
  ranked_def *ranked = ch_malloc(sizeof(ranked_def) * (o->n + 1));
  memcpy(ranked, o->ranked, sizeof(ranked_def) * o->n);
  const ch_record *self_rec =
      b->self_id != CH_NONE ? ch_snapshot_file(b->snap, b->self_id) : NULL;
  uint64_t self_hash = ch_hash_bytes(b->req->path, strlen(b->req->path));
  bool counted = false;
  for(uint32_t i = 0; i < o->nimp && !counted; i++)
    counted = o->imp_hash[i] == self_hash;
  if(counted && self_rec) {
    for(uint32_t k = 0; k < o->n && k < POPULARITY_DEFS; k++)
      if(ranked[k].uses &&
         record_uses(self_rec,
                     ch_record_str(rec, rec->defs[ranked[k].def].name)))
        ranked[k].uses--;
    qsort(ranked, o->n, sizeof(ranked_def), by_uses);
  }
  uint32_t *shown = ch_malloc(sizeof(uint32_t) * (o->n + 1));
  uint32_t nshown = 0;
  uint64_t milli = 0;
  for(uint32_t k = 0; k < o->n; k++) {
    const char *sig = ch_record_str(rec, rec->defs[ranked[k].def].signature);
    uint64_t m = ch_context_tokens_milli(b->lang, sig, strlen(sig)) +
                 ch_context_tokens_milli(b->lang, "\n", 1);
    if(ch_context_tokens_of_milli(b->lang, milli + m) > tokens) continue;
    milli += m;
    shown[nshown++] = ranked[k].def;
  }
  ch_free(ranked);
  if(nshown) qsort(shown, nshown, sizeof(uint32_t), by_u32);
  for(uint32_t k = 0; k < nshown; k++) {
    ch_buf_append_str(out, ch_record_str(rec, rec->defs[shown[k]].signature));
    ch_buf_append_char(out, '\n');
  }
  if(nshown) {
    c->start_row = rec->defs[shown[0]].name_range.start_row;
    c->start = rec->defs[shown[0]].name_range.start;
    c->end_row = rec->defs[shown[nshown - 1]].name_range.start_row;
    c->end = rec->defs[shown[nshown - 1]].name_range.end;
  }
  ch_free(shown);
}

/* ---- similar windows ----------------------------------------------------- */

#define SIM_WINDOW_LINES 12
#define SIM_STRIDE 6
#define SIM_MAX_BYTES (128u * 1024)

/* Identifier sets as small open-addressing tables of hashes. A table is
 * emptied by bumping its generation, so each window costs only its own
 * tokens. Hash 0 is stored as 1. */
#define SET_SLOTS 1024 /* a power of two, > 2 * the ids of a window */

struct id_set {
  uint32_t hash[SET_SLOTS];
  uint32_t gen[SET_SLOTS];
  uint32_t generation;
  uint32_t count;
};
typedef struct id_set id_set;

static bool set_add(id_set *set, uint32_t h) {
  if(set->count >= SET_SLOTS / 2) return false;
  h = h ? h : 1;
  for(uint32_t i = h & (SET_SLOTS - 1);; i = (i + 1) & (SET_SLOTS - 1)) {
    if(set->gen[i] != set->generation) {
      set->gen[i] = set->generation;
      set->hash[i] = h;
      set->count++;
      return true;
    }
    if(set->hash[i] == h) return false;
  }
}

static bool set_has(const id_set *set, uint32_t h) {
  h = h ? h : 1;
  for(uint32_t i = h & (SET_SLOTS - 1);; i = (i + 1) & (SET_SLOTS - 1)) {
    if(set->gen[i] != set->generation) return false;
    if(set->hash[i] == h) return true;
  }
}

static void set_clear(id_set *set) {
  set->generation++;
  set->count = 0;
  if(set->generation == 0) { /* wrapped: really clear */
    memset(set->gen, 0, sizeof(set->gen));
    set->generation = 1;
  }
}

/* Hashes of the identifiers of text[start, end) with their rows. */
struct id_tok {
  uint32_t hash, row;
};
typedef struct id_tok id_tok;

typedef struct doc_tok_cache {
  uint64_t fp;
  uint32_t len;
  size_t n;
  id_tok toks[];
} doc_tok_cache;

#define DOC_CACHE_MAX 64

/* A 64-bit fingerprint of text, eight bytes at a time. */
static uint64_t fingerprint(const char *text, size_t len) {
  uint64_t h = 0x243F6A8885A308D3ull ^ len;
  size_t i = 0;
  for(; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, text + i, 8);
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  memcpy(&tail, text + i, len - i);
  h = (h ^ tail) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 32);
}

static size_t ident_tokens(const char *text, uint32_t start, uint32_t end,
                           id_tok *out, size_t max) {
  size_t n = 0;
  uint32_t row = 0;
  uint32_t i = start;
  while(i < end && n < max) {
    unsigned char c = (unsigned char)text[i];
    if(is_ident_start(c)) {
      /* FNV-1a, computed while scanning */
      uint32_t h = 2166136261u;
      while(i < end && is_ident_char((unsigned char)text[i])) {
        h = (h ^ (unsigned char)text[i]) * 16777619u;
        i++;
      }
      out[n++] = (id_tok){h, row};
    } else if(isdigit(c)) {
      while(i < end && is_ident_char((unsigned char)text[i]))
        i++;
    } else {
      row += c == '\n';
      i++;
    }
  }
  return n;
}

static void gather_similar(build *b) {
  const char *text = b->req->text;
  /* The query: identifiers of the lines right before the cursor. */
  uint32_t qrow =
      b->cursor_row > SIM_WINDOW_LINES ? b->cursor_row - SIM_WINDOW_LINES : 0;
  if(!b->engine->sets) {
    b->engine->sets = ch_calloc(2, sizeof(id_set));
    b->engine->sets[0].generation = b->engine->sets[1].generation = 1;
  }
  id_set *query = &b->engine->sets[0];
  id_set *win = &b->engine->sets[1];
  set_clear(query);
  set_clear(win);
  id_tok qt[512];
  size_t nqt = ident_tokens(text, b->li.starts[qrow], b->req->cursor, qt,
                            CH_ARRAY_LEN(qt));
  for(size_t i = 0; i < nqt; i++)
    set_add(query, qt[i].hash);
  size_t nq = query->count;
  size_t scanned = 0;
  size_t cap = SIM_MAX_BYTES / 2;
  if(b->engine->toks_cap < cap) {
    ch_free(b->engine->toks);
    b->engine->toks = ch_malloc(cap * sizeof(id_tok));
    b->engine->toks_cap = cap;
  }
  id_tok *toks = b->engine->toks;
  for(size_t d = 0; d < b->req->ndocs && scanned < SIM_MAX_BYTES && nq; d++) {
    const ch_context_doc *doc = &b->req->docs[d];
    if(!doc->text || !doc->path || strcmp(doc->path, b->req->path) == 0)
      continue;
    if(path_denied(b, doc->path)) {
      b->redactions->snippets_dropped++;
      continue;
    }
    uint32_t len = (uint32_t)CH_MIN((size_t)doc->len, SIM_MAX_BYTES - scanned);
    scanned += len;
    /* Open documents change rarely between two requests: their tokens
     * are kept, keyed by a fingerprint of the text (several GB/s) rather
     * than scanned again (a few hundred MB/s). */
    uint64_t fp = fingerprint(doc->text, len);
    doc_tok_cache *dc = ch_map_get(&b->engine->doc_tokens, doc->path);
    if(!dc || dc->fp != fp || dc->len != len) {
      size_t nt0 = ident_tokens(doc->text, 0, len, toks, cap);
      if(b->engine->doc_tokens.len >= DOC_CACHE_MAX) {
        ch_map_release(&b->engine->doc_tokens, ch_free);
        dc = NULL;
      }
      doc_tok_cache *fresh = ch_malloc(sizeof(*fresh) + nt0 * sizeof(id_tok));
      fresh->fp = fp;
      fresh->len = len;
      fresh->n = nt0;
      memcpy(fresh->toks, toks, nt0 * sizeof(id_tok));
      ch_free(ch_map_put(&b->engine->doc_tokens, doc->path, fresh));
      dc = fresh;
    }
    size_t nt = dc->n;
    const id_tok *dtoks = dc->toks;
    /* the best two windows of this document that do not overlap */
    double best_score[2] = {0, 0};
    uint32_t best_row[2] = {0, 0};
    size_t first = 0; /* first token of the window's start row */
    uint32_t last_row = nt ? dtoks[nt - 1].row : 0;
    for(uint32_t row = 0; row <= last_row; row += SIM_STRIDE) {
      while(first < nt && dtoks[first].row < row)
        first++;
      set_clear(win);
      size_t both = 0;
      for(size_t k = first; k < nt && dtoks[k].row < row + SIM_WINDOW_LINES;
          k++)
        if(set_add(win, dtoks[k].hash) && set_has(query, dtoks[k].hash)) both++;
      double j =
          win->count ? (double)both / (double)(nq + win->count - both) : 0;
      if(j > best_score[0]) {
        if(row >= best_row[0] + SIM_WINDOW_LINES) {
          best_score[1] = best_score[0];
          best_row[1] = best_row[0];
        }
        best_score[0] = j;
        best_row[0] = row;
      } else if(j > best_score[1] && row >= best_row[0] + SIM_WINDOW_LINES) {
        best_score[1] = j;
        best_row[1] = row;
      }
    }
    if(best_score[0] < 0.1) continue;
    line_index li;
    line_index_build(&li, b->arena, doc->text, len);
    for(int k = 0; k < 2; k++) {
      if(best_score[k] < 0.1) continue;
      uint32_t row = CH_MIN(best_row[k], li.n - 1);
      uint32_t erow = CH_MIN(row + SIM_WINDOW_LINES, li.n);
      uint32_t s = li.starts[row];
      uint32_t e = erow == li.n ? len : li.starts[erow];
      if(b->opt.guard && ch_guard_redacts(b->opt.guard, b->opt.remote)) {
        s = past_open_key_block(doc->text, len, s, e);
        e = CH_MAX(before_open_key_block(doc->text, s, e), s);
        if(s >= e) continue;
        row = row_of(&li, s);
        erow = row_of(&li, e - 1) + 1;
      }
      candidate *c = push_cand(b);
      c->kind = CH_SNIPPET_SIMILAR;
      c->score = 0.6 * best_score[k];
      c->path = doc->path;
      c->start_row = row;
      c->end_row = erow > row ? erow - 1 : row;
      c->start = s;
      c->end = e;
      c->raw = doc->text + s;
      c->raw_len = e - s;
      c->reason = arena_printf(b->arena,
                               "similar to the lines before the "
                               "cursor (jaccard %.2f)",
                               best_score[k]);
    }
  }
}

/* ---- recent edits -------------------------------------------------------- */

static void append_prefixed(ch_buf *out, const char *lines, char mark) {
  if(!lines || !*lines) return;
  const char *p = lines;
  while(*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    ch_buf_append_char(out, mark);
    ch_buf_append(out, p, n);
    ch_buf_append_char(out, '\n');
    if(!nl) break;
    p = nl + 1;
  }
}

static void gather_edits(build *b) {
  size_t n = CH_MIN(b->req->nedits, (size_t)16);
  for(size_t i = 0; i < n; i++) {
    const ch_context_edit *e = &b->req->edits[i];
    if(!e->path || strcmp(e->path, b->req->path) == 0) continue;
    if(path_denied(b, e->path)) {
      b->redactions->snippets_dropped++;
      continue;
    }
    ch_buf hunk;
    ch_buf_init(&hunk, 64 * 1024);
    uint32_t removed = 0, added = 0;
    for(const char *p = e->removed; p && *p; p++)
      removed += *p == '\n';
    for(const char *p = e->added; p && *p; p++)
      added += *p == '\n';
    if(e->removed && *e->removed && e->removed[strlen(e->removed) - 1] != '\n')
      removed++;
    if(e->added && *e->added && e->added[strlen(e->added) - 1] != '\n') added++;
    ch_buf_appendf(&hunk, "@@ -%u,%u +%u,%u @@\n", e->row + 1, removed,
                   e->row + 1, added);
    append_prefixed(&hunk, e->removed, '-');
    append_prefixed(&hunk, e->added, '+');
    candidate *c = push_cand(b);
    c->kind = CH_SNIPPET_EDIT;
    c->score = 0.5 / (1.0 + (double)i);
    c->path = e->path;
    c->start_row = e->row;
    c->end_row = e->row + (added ? added - 1 : 0);
    c->raw = arena_strndup(b->arena, hunk.data ? hunk.data : "", hunk.len);
    c->raw_len = hunk.len;
    c->order = (uint32_t)i;
    c->reason = arena_printf(b->arena, "recent edit (%zu%s most recent)", i + 1,
                             i == 0   ? "st"
                             : i == 1 ? "nd"
                             : i == 2 ? "rd"
                                      : "th");
    ch_buf_release(&hunk);
  }
}

/* ---- enclosing scopes ---------------------------------------------------- */

static void gather_scopes(build *b, window w) {
  if(!b->rec) return;
  uint32_t cursor = b->req->cursor;
  uint32_t depth = 0;
  for(uint32_t d = 0; d < b->rec->ndefs; d++) {
    const ch_def *def = &b->rec->defs[d];
    if(def->range.start > cursor) break;
    if(def->range.end < cursor || def->range.start >= w.pre_start) continue;
    if(def->kind == CH_DEF_VARIABLE || def->kind == CH_DEF_FIELD ||
       def->kind == CH_DEF_CONSTANT || def->kind == CH_DEF_MACRO)
      continue;
    candidate *c = push_cand(b);
    c->kind = CH_SNIPPET_SCOPE;
    c->score = 10.0 - depth * 0.1;
    c->path = b->req->path;
    c->start_row = def->range.start_row;
    c->end_row = def->range.start_row;
    c->start = def->range.start;
    c->end = def->range.end;
    c->rec = b->rec;
    c->def = d;
    c->order = depth++;
    c->reason = arena_printf(b->arena, "enclosing %s, above the window",
                             ch_def_kind_name(def->kind));
  }
}

/* ---- selection ----------------------------------------------------------- */

static int by_score(const void *pa, const void *pb) {
  const candidate *a = pa, *b2 = pb;
  if(a->score != b2->score) return a->score > b2->score ? -1 : 1;
  if(a->kind != b2->kind) return (int)a->kind - (int)b2->kind;
  int c = strcmp(a->path, b2->path);
  if(c) return c;
  return a->start < b2->start ? -1 : a->start > b2->start;
}

/* True when rows [s, e] of path overlap a snippet already taken. */
static bool overlaps_taken(const build *b, const char *path, uint32_t s,
                           uint32_t e) {
  for(size_t i = 0; i < b->nout; i++) {
    const ch_snippet *t = &b->out[i];
    if(t->kind == CH_SNIPPET_OUTLINE || t->kind == CH_SNIPPET_EDIT) continue;
    if(strcmp(t->path, path) != 0) continue;
    if(s <= t->end_row && t->start_row <= e) return true;
  }
  return false;
}

static void take(build *b, candidate *c, uint32_t limit) {
  ch_buf raw;
  ch_buf_init(&raw, 4u * 1024 * 1024);
  bool contained = false;
  if(c->kind == CH_SNIPPET_DEFINITION) {
    /* A definition inside one already taken adds nothing. */
    for(size_t i = 0; i < b->nout && !contained; i++) {
      const ch_snippet *t = &b->out[i];
      contained = t->kind == CH_SNIPPET_DEFINITION &&
                  strcmp(t->path, c->path) == 0 && t->start <= c->start &&
                  c->end <= t->end;
    }
    if(contained) goto done;
    def_text(b, c->path, c->rec, c->def, false, &raw);
  } else if(c->kind == CH_SNIPPET_OUTLINE) {
    outline_text(b, c, limit - b->used, &raw);
    if(raw.len == 0) goto done;
  } else if(c->kind == CH_SNIPPET_SCOPE) {
    ch_buf_append_str(&raw,
                      ch_record_str(c->rec, c->rec->defs[c->def].signature));
    ch_buf_append_char(&raw, '\n');
  } else {
    if(c->kind == CH_SNIPPET_SIMILAR &&
       overlaps_taken(b, c->path, c->start_row, c->end_row))
      goto done;
    ch_buf_append(&raw, c->raw, c->raw_len);
  }
  size_t len = 0;
  uint32_t tokens = 0;
  const char *text =
      make_text(b, raw.data ? raw.data : "", raw.len, &len, &tokens);
  if(b->used + tokens > limit && c->kind == CH_SNIPPET_DEFINITION) {
    /* Too long with its body: try the signature and doc alone. */
    ch_buf_reset(&raw);
    def_text(b, c->path, c->rec, c->def, true, &raw);
    text = make_text(b, raw.data ? raw.data : "", raw.len, &len, &tokens);
  }
  if(b->used + tokens > limit || len == 0) goto done;
  if(c->kind == CH_SNIPPET_DEFINITION) {
    /* The definitions it contains (a method of this class) go: the new
     * snippet shows them, and their tokens return to the budget. */
    size_t keep = 0;
    for(size_t i = 0; i < b->nout; i++) {
      ch_snippet *t = &b->out[i];
      if(t->kind == CH_SNIPPET_DEFINITION && strcmp(t->path, c->path) == 0 &&
         c->start <= t->start && t->end <= c->end) {
        b->used -= t->tokens;
        continue;
      }
      b->out[keep++] = *t;
    }
    b->nout = keep;
  }
  ch_snippet *s = push_snippet(b);
  s->kind = c->kind;
  s->path = intern_path(b, c->path);
  s->start_row = c->start_row;
  s->end_row = c->end_row;
  s->start = c->start;
  s->end = c->end;
  s->text = text;
  s->len = len;
  s->score = c->score;
  s->tokens = tokens;
  s->reason = c->reason;
  b->used += tokens;
done:
  ch_buf_release(&raw);
}

/* Makes the prefix and suffix snippets for a window. Redaction can change
 * the count: shrink the window until both fit. */
/* The cursor line as it may be sent, cut in two at the cursor. The guard
 * recognises a secret only whole, so the line is redacted whole first and
 * cut after: where the cursor falls inside a secret, the cut moves past its
 * placeholder. Without redaction (or without a secret on the line) the two
 * halves are the text's own. */
typedef struct cursor_line {
  const char *head, *tail; /* before and after the cut */
  size_t head_len, tail_len;
} cursor_line;

static cursor_line split_cursor_line(build *b) {
  const char *text = b->req->text;
  uint32_t cursor = b->req->cursor;
  uint32_t ls = b->li.starts[b->cursor_row];
  uint32_t le = row_end(&b->li, b->cursor_row);
  cursor_line cl = {text + ls, text + cursor, cursor - ls, le - cursor};
  if(!b->opt.guard || !ch_guard_redacts(b->opt.guard, b->opt.remote)) return cl;
  ch_buf full;
  ch_buf_init(&full, (size_t)16 * 1024 * 1024);
  ch_guard_stats st;
  memset(&st, 0, sizeof(st));
  size_t L = le - ls;
  if(ch_guard_redact(b->opt.guard, b->opt.remote, text + ls, L, &full, &st) !=
     CH_OK) {
    cl.head_len = cl.tail_len = 0; /* never send what could not be checked */
    ch_buf_release(&full);
    return cl;
  }
  if(st.redactions == 0) {
    ch_buf_release(&full);
    return cl;
  }
  /* One span [a, L - z) of the line became [a, F - z) of full: the common
   * prefix and suffix are untouched text (several secrets make one span). */
  const char *f = full.data;
  size_t F = full.len, a = 0, z = 0;
  while(a < L && a < F && f[a] == text[ls + a])
    a++;
  while(z < L - a && z < F - a && f[F - 1 - z] == text[ls + L - 1 - z])
    z++;
  size_t cp = cursor - ls, cut;
  if(cp <= a)
    cut = cp;
  else if(cp >= L - z)
    cut = F - (L - cp);
  else
    cut = F - z; /* inside a secret: after its placeholder */
  cl.head = arena_strndup(b->arena, f, cut);
  cl.head_len = cut;
  cl.tail = arena_strndup(b->arena, f + cut, F - cut);
  cl.tail_len = F - cut;
  ch_buf_release(&full);
  return cl;
}

/* A window's start must not fall inside a private key block, which the
 * guard recognises only from its BEGIN line: such a start moves past the
 * block's END line. Returns the new start (at most `end`). */
static uint32_t past_open_key_block(const char *text, uint32_t len,
                                    uint32_t start, uint32_t end) {
  if(start >= len) return start;
  uint32_t from = start > 64 * 1024 ? start - 64 * 1024 : 0;
  const char *begin = NULL;
  for(const char *p = text + from;
      (p = memmem(p, (size_t)(text + start - p), "-----BEGIN ", 11)); p++)
    begin = p;
  if(!begin) return start;
  const char *closed =
      memmem(begin, (size_t)(text + start - begin), "-----END ", 9);
  if(closed) return start;
  const char *close = memmem(text + start, len - start, "-----END ", 9);
  if(!close) return end;
  const char *nl = memchr(close, '\n', (size_t)(text + len - close));
  uint32_t after = nl ? (uint32_t)(nl - text) + 1 : len;
  return CH_MIN(after, end);
}

/* A window's end must not fall inside one either: it moves back to the
 * start of the block's BEGIN line. */
static uint32_t before_open_key_block(const char *text, uint32_t start,
                                      uint32_t end) {
  if(end <= start) return end;
  const char *begin = NULL;
  for(const char *p = text + start;
      (p = memmem(p, (size_t)(text + end - p), "-----BEGIN ", 11)); p++)
    begin = p;
  if(!begin) return end;
  if(memmem(begin, (size_t)(text + end - begin), "-----END ", 9)) return end;
  while(begin > text + start && begin[-1] != '\n')
    begin--;
  return (uint32_t)(begin - text);
}

static void emit_window(build *b, window w, uint32_t pre_tokens,
                        uint32_t suf_tokens) {
  const char *text = b->req->text;
  uint32_t cursor = b->req->cursor;
  uint32_t ls = b->li.starts[b->cursor_row];
  uint32_t le = row_end(&b->li, b->cursor_row);
  cursor_line cl = split_cursor_line(b);
  bool guarded = b->opt.guard && ch_guard_redacts(b->opt.guard, b->opt.remote);
  uint32_t suf_from = le;
  if(guarded) {
    w.pre_start = past_open_key_block(text, b->req->len, w.pre_start, ls);
    w.suf_end = CH_MAX(before_open_key_block(text, le, w.suf_end), le);
    if(past_open_key_block(text, b->req->len, ls, b->req->len) != ls) {
      /* the cursor is inside a key block: none of it goes */
      cl.head_len = cl.tail_len = 0;
      suf_from = past_open_key_block(text, b->req->len, le, w.suf_end);
    }
  }
  ch_buf raw;
  ch_buf_init(&raw, (size_t)64 * 1024 * 1024);
  for(int kind = 0; kind < 2; kind++) {
    bool pre = kind == 0;
    if(!source_on(b, pre ? CH_SNIPPET_PREFIX : CH_SNIPPET_SUFFIX)) continue;
    /* whole lines on one side of the cursor line, and its half */
    uint32_t s = pre ? CH_MIN(w.pre_start, ls) : suf_from;
    uint32_t e = pre ? ls : CH_MAX(w.suf_end, le);
    uint32_t target = pre ? pre_tokens : suf_tokens;
    bool half = w.pre_start <= ls || !pre;
    for(;;) {
      ch_buf_reset(&raw);
      if(pre) {
        ch_buf_append(&raw, text + s, e - s);
        if(half) ch_buf_append(&raw, cl.head, cl.head_len);
      } else {
        ch_buf_append(&raw, cl.tail, cl.tail_len);
        ch_buf_append(&raw, text + s, e - s);
      }
      if(raw.len == 0) break;
      size_t len = 0;
      uint32_t tokens = 0;
      const char *t = make_text(b, raw.data, raw.len, &len, &tokens);
      if(tokens <= target && b->used + tokens <= b->req->budget) {
        ch_snippet *sn = push_snippet(b);
        sn->kind = pre ? CH_SNIPPET_PREFIX : CH_SNIPPET_SUFFIX;
        sn->path = intern_path(b, b->req->path);
        sn->start = pre ? s : cl.tail_len ? cursor : s;
        sn->end = pre ? (half ? cursor : e) : e;
        sn->start_row = row_of(&b->li, sn->start);
        sn->end_row =
            row_of(&b->li, sn->end > sn->start ? sn->end - 1 : sn->end);
        sn->text = t;
        sn->len = len;
        sn->score = 1.0;
        sn->tokens = tokens;
        sn->reason = pre ? "the document before the cursor"
                         : "the document after the cursor";
        b->used += tokens;
        break;
      }
      /* drop the line farthest from the cursor, the cursor line's half
       * last */
      if(pre) {
        if(s < e) {
          uint32_t r = row_of(&b->li, s);
          s = CH_MIN(row_end(&b->li, r), e);
        } else if(half) {
          half = false;
        } else {
          break;
        }
      } else {
        if(e > s) {
          uint32_t r = row_of(&b->li, e - 1);
          e = CH_MAX(b->li.starts[r], s);
        } else if(cl.tail_len) {
          cl.tail_len = 0;
        } else {
          break;
        }
      }
    }
  }
  ch_buf_release(&raw);
}

static int group_of(ch_snippet_kind k) { return (int)k; }

static int by_order(const void *pa, const void *pb) {
  const ch_snippet *a = pa, *b2 = pb;
  int ga = group_of(a->kind), gb = group_of(b2->kind);
  if(ga != gb) return ga - gb;
  int c = strcmp(a->path, b2->path);
  if(c) return c;
  /* edits, scopes and the window have row spans; the others byte spans */
  if(a->start_row != b2->start_row)
    return a->start_row < b2->start_row ? -1 : 1;
  if(a->start != b2->start) return a->start < b2->start ? -1 : 1;
  return strcmp(a->text, b2->text); /* two edits at one place */
}

ch_status ch_context_build(ch_context_engine *self, const ch_snapshot *snap,
                           const ch_context_request *req,
                           const ch_context_options *options, ch_context *out) {
  uint64_t t0 = ch_now_ns();
  memset(out, 0, sizeof(*out));
  out->arena = ch_calloc(1, sizeof(*out->arena));
  if(!self || !snap || !req || !req->text || !req->path ||
     req->cursor > req->len || req->budget == 0)
    return CH_ERR_INVALID;
  build b;
  memset(&b, 0, sizeof(b));
  b.engine = self;
  b.snap = snap;
  b.req = req;
  if(options) b.opt = *options;
  if(b.opt.prefix_ratio <= 0 || b.opt.prefix_ratio > 1)
    b.opt.prefix_ratio = 0.75;
  if(b.opt.window_share <= 0 || b.opt.window_share > 1)
    b.opt.window_share = 0.3;
  if(!b.opt.sources) b.opt.sources = CH_CONTEXT_ALL_SOURCES;
  b.lang = req->lang ? req->lang
                     : ch_syntax_by_path(req->path, req->text,
                                         CH_MIN(req->len, 256u));
  b.arena = out->arena;
  b.redactions = &out->redactions;
  b.self_id = CH_NONE;
  ch_snapshot_lookup(snap, req->path, &b.self_id);
  b.rec = req->record;
  if(!b.rec && b.self_id != CH_NONE) {
    const ch_record *r = ch_snapshot_file(snap, b.self_id);
    if(r && r->size == req->len) {
      if(r->hash == ch_hash_text(req->text, req->len)) b.rec = r;
    }
  }
  ch_map_init(&b.seen_defs);
  ch_map_init(&b.receivers);
  ch_map_init(&b.own_defs);
  ch_map_init(&b.paths);
  if(b.rec && b.self_id != CH_NONE) {
    for(uint32_t d = b.rec->ndefs; d-- > 0;)
      ch_map_put(&b.own_defs, ch_record_str(b.rec, b.rec->defs[d].name),
                 (void *)(uintptr_t)(d + 1));
  }
  line_index_build(&b.li, b.arena, req->text, req->len);
  b.cursor_row = row_of(&b.li, req->cursor);

  /* The document itself may be denied: then nothing of it goes out. */
  bool self_denied = path_denied(&b, req->path);
  bool want_window = !self_denied && (source_on(&b, CH_SNIPPET_PREFIX) ||
                                      source_on(&b, CH_SNIPPET_SUFFIX));
  uint32_t budget = req->budget;
  uint32_t win_budget =
      want_window ? (uint32_t)(budget * b.opt.window_share) : 0;
  if(want_window && !(b.opt.sources & ~(CH_CONTEXT_SOURCE(CH_SNIPPET_PREFIX) |
                                        CH_CONTEXT_SOURCE(CH_SNIPPET_SUFFIX))))
    win_budget = budget;
  uint32_t pre_t = (uint32_t)(win_budget * b.opt.prefix_ratio);
  uint32_t suf_t = win_budget - pre_t;
  window w = want_window ? size_window(&b, pre_t, suf_t)
                         : (window){req->cursor, req->cursor};

  if(!self_denied) {
    if(source_on(&b, CH_SNIPPET_SCOPE)) gather_scopes(&b, w);
    /* Similar windows first: their code hints at definitions. */
    if(source_on(&b, CH_SNIPPET_SIMILAR)) gather_similar(&b);
    if(source_on(&b, CH_SNIPPET_DEFINITION)) gather_definitions(&b, w);
    if(source_on(&b, CH_SNIPPET_OUTLINE)) gather_outlines(&b);
    if(source_on(&b, CH_SNIPPET_EDIT)) gather_edits(&b);
  } else {
    out->redactions.snippets_dropped++;
  }
  /* Window-sized share first, then the rest by score. */
  uint32_t window_used = 0;
  if(want_window) {
    window_used = ch_context_tokens(b.lang, req->text + w.pre_start,
                                    req->cursor - w.pre_start) +
                  ch_context_tokens(b.lang, req->text + req->cursor,
                                    w.suf_end - req->cursor);
  }
  if(b.ncands) qsort(b.cands, b.ncands, sizeof(candidate), by_score);
  uint32_t limit = budget > window_used ? budget - window_used : 0;
  for(size_t i = 0; i < b.ncands; i++)
    take(&b, &b.cands[i], limit);

  if(want_window) {
    /* The window grows into what the other sources left. */
    uint32_t left = budget - b.used;
    uint32_t pre2 = (uint32_t)(left * b.opt.prefix_ratio);
    if(!source_on(&b, CH_SNIPPET_SUFFIX)) pre2 = left;
    uint32_t suf2 = left - pre2;
    if(!source_on(&b, CH_SNIPPET_PREFIX)) suf2 = left, pre2 = 0;
    window w2 = size_window(&b, pre2, suf2);
    /* Give what one side cannot use to the other. */
    uint32_t pre_used = ch_context_tokens(b.lang, req->text + w2.pre_start,
                                          req->cursor - w2.pre_start);
    uint32_t suf_used = ch_context_tokens(b.lang, req->text + req->cursor,
                                          w2.suf_end - req->cursor);
    if(pre_used < pre2 && source_on(&b, CH_SNIPPET_SUFFIX)) {
      suf2 = left - pre_used;
      pre2 = pre_used;
    } else if(suf_used < suf2 && source_on(&b, CH_SNIPPET_PREFIX)) {
      pre2 = left - suf_used;
      suf2 = suf_used;
    }
    w2 = size_window(&b, pre2, suf2);
    emit_window(&b, w2, pre2, suf2);
    /* Definitions of this document that the grown window now shows are
     * dropped (their tokens simply stay unused). */
    size_t keep = 0;
    for(size_t i = 0; i < b.nout; i++) {
      ch_snippet *t = &b.out[i];
      if(t->kind == CH_SNIPPET_DEFINITION && strcmp(t->path, req->path) == 0 &&
         t->start < w2.suf_end && t->end > w2.pre_start) {
        b.used -= t->tokens;
        continue;
      }
      b.out[keep++] = *t;
    }
    b.nout = keep;
  }
  if(b.nout) qsort(b.out, b.nout, sizeof(ch_snippet), by_order);
  out->snippets = b.out;
  out->count = b.nout;
  out->budget = budget;
  out->tokens = b.used;
  out->document_denied = self_denied;
  ch_free(b.cands);
  ch_map_release(&b.seen_defs, NULL);
  ch_map_release(&b.receivers, NULL);
  ch_map_release(&b.own_defs, NULL);
  ch_map_release(&b.paths, NULL);
  out->elapsed_ns = ch_now_ns() - t0;
  return CH_OK;
}

void ch_context_release(ch_context *self) {
  if(!self) return;
  ch_free(self->snippets);
  arena_free(self->arena);
  memset(self, 0, sizeof(*self));
}
