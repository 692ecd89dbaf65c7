/* workspace.c: git's ignore rules and the walk that lists the files worth
 * indexing. The public contract is in chorus/workspace.h.
 *
 * The file reads top to bottom:
 *   globs      one gitignore glob, compiled to tokens and matched as a set
 *              of token positions (no backtracking, no recursion)
 *   patterns   a .gitignore file parsed line by line as git's dir.c does
 *   config     the one key of git's config files we need (excludesFile)
 *   ch_ignore  directory nodes, each with its patterns, and the decision
 *   the walk   an explicit stack of directories, sorted listings, symlinks
 *              deferred to the end so a real path wins over a linked one
 *
 * Where git's behaviour is odd we copy it and say so; the unit tests compare
 * this file against `git check-ignore` on generated repositories. */
#include "chorus/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes read from the start of a file for the binary test and the shebang. */
#define HEAD_BYTES 8192
/* git ignores an ignore file larger than this (dir.c); so do we. */
#define IGNORE_FILE_MAX ((size_t)100 << 20)
#define CONFIG_FILE_MAX ((size_t)16 << 20)
/* Directory descriptors kept open from the top of the walk down. Below that
 * depth a directory closes its descriptor while a child is walked and gets
 * it back through the child's "..", so a tree thousands deep needs a few
 * dozen descriptors, not thousands. */
#define KEEP_OPEN 32

#define NONE SIZE_MAX

/* ---- globs --------------------------------------------------------------- */

/* git's wildmatch() backtracks over "*"; the same language is matched here
 * by advancing the set of reachable token positions one byte at a time:
 * O(text x tokens) in the worst case, no recursion, no allocation for
 * patterns of fewer than 127 tokens. */
typedef enum gkind {
  G_LIT,   /* one given byte */
  G_ANY,   /* "?": one byte, not '/' in pathname mode */
  G_CLASS, /* "[...]": one byte of a set, not '/' in pathname mode */
  G_STAR,  /* "*": any run of bytes without '/' */
  G_DSTAR, /* "**" between slashes, and every star in basename mode */
  /* "**" + "/" is nothing, or any run that ends with '/': two positions,
   * an entry that may skip the whole thing and an inside that may not
   * (once "**" has eaten a byte, only a '/' gets past it). */
  G_SKIP2,       /* the entry: consumes nothing, leads on and past next */
  G_DSTAR_SLASH, /* the inside: any byte stays, a '/' also leaves */
} gkind;

typedef struct gtok {
  uint8_t kind;
  uint8_t ch;   /* G_LIT */
  uint32_t set; /* G_CLASS: index into glob.sets */
} gtok;

typedef struct cset {
  uint64_t bits[4];
} cset;

typedef struct glob {
  gtok *toks; /* owned */
  size_t len;
  cset *sets; /* owned */
  size_t nsets;
  bool pathname; /* '/' is only crossed by "**" (git's WM_PATHNAME) */
  bool never;    /* malformed: wildmatch aborts on it, nothing matches */
} glob;

static void cset_add(cset *s, unsigned c) {
  s->bits[c >> 6] |= (uint64_t)1 << (c & 63);
}

static bool cset_has(const cset *s, unsigned c) {
  return (s->bits[c >> 6] >> (c & 63)) & 1;
}

/* The POSIX classes as git's own ctype defines them: ASCII only, and
 * "space" without \v and \f. */
static const char *const class_names[] = {
    "alnum", "alpha", "blank", "cntrl", "digit", "graph",
    "lower", "print", "punct", "space", "upper", "xdigit",
};

static bool in_named_class(size_t which, unsigned c) {
  bool digit = c >= '0' && c <= '9';
  bool upper = c >= 'A' && c <= 'Z';
  bool lower = c >= 'a' && c <= 'z';
  bool graph = c > 0x20 && c < 0x7f;
  switch(which) {
  case 0: return digit || upper || lower;
  case 1: return upper || lower;
  case 2: return c == ' ' || c == '\t';
  case 3: return c < 0x20 || c == 0x7f;
  case 4: return digit;
  case 5: return graph;
  case 6: return lower;
  case 7: return graph || c == ' ';
  case 8: return graph && !(digit || upper || lower);
  case 9: return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  case 10: return upper;
  default: return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
}

static bool add_named_class(cset *set, const char *name, size_t n) {
  for(size_t k = 0; k < CH_ARRAY_LEN(class_names); k++) {
    if(strlen(class_names[k]) != n || memcmp(class_names[k], name, n)) continue;
    for(unsigned c = 0; c < 256; c++)
      if(in_named_class(k, c)) cset_add(set, c);
    return true;
  }
  return false;
}

/* Parses the bracket expression whose '[' is just before pat[i] exactly as
 * wildmatch reads it: "!" or "^" negates, a ']' first is a member, ranges
 * need a start and an end that is not ']', "\\" escapes, "[:name:]" adds a
 * class and an unknown name or a missing ']' makes the glob malformed.
 * On success *end is the index of the closing ']'. */
/* pat[k] as wildmatch sees it: a NUL past the end. */
static unsigned byte_at(const char *pat, size_t n, size_t k) {
  return k < n ? (unsigned char)pat[k] : 0u;
}

static bool parse_class(const char *pat, size_t n, size_t i, cset *set,
                        size_t *end) {
#define AT(k) byte_at(pat, n, k)
  memset(set, 0, sizeof(*set));
  unsigned c = AT(i);
  bool negated = false;
  if(c == '^' || c == '!') {
    negated = true;
    c = AT(++i);
  }
  unsigned prev = 0;
  do {
    if(!c) return false;
    if(c == '\\') {
      c = AT(++i);
      if(!c) return false;
      cset_add(set, c);
    } else if(c == '-' && prev && AT(i + 1) && AT(i + 1) != ']') {
      c = AT(++i);
      if(c == '\\') {
        c = AT(++i);
        if(!c) return false;
      }
      for(unsigned x = prev; x <= c; x++)
        cset_add(set, x);
      c = 0; /* a range cannot start another one */
    } else if(c == '[' && AT(i + 1) == ':') {
      size_t s = i + 2, k = s;
      while(AT(k) && AT(k) != ']')
        k++;
      if(!AT(k)) return false;
      if(k == s || AT(k - 1) != ':') {
        /* Not "[:name:]": the '[' is a plain member, go on after it. */
        cset_add(set, '[');
        c = '[';
        continue;
      }
      if(!add_named_class(set, pat + s, k - s - 1)) return false;
      i = k;
      c = 0;
    } else {
      cset_add(set, c);
    }
  } while(prev = c, (c = AT(++i)) != ']');
#undef AT
  if(negated)
    for(size_t w = 0; w < 4; w++)
      set->bits[w] = ~set->bits[w];
  *end = i;
  return true;
}

/* Compiles pat[0..n). In pathname mode a run of stars is "**" only when it
 * starts the glob or follows a '/', and ends it or precedes "/" or "\/";
 * otherwise it is a single "*". The start is the start of what is compiled:
 * git matches a pattern's literal prefix separately and starts wildmatch
 * after it, so "x/a**" + "/y" lets the "**" cross directories. */
static void glob_compile(glob *self, const char *pat, size_t n, bool pathname) {
  memset(self, 0, sizeof(*self));
  self->pathname = pathname;
  self->toks = ch_malloc(sizeof(gtok) * (n ? n : 1));
  size_t i = 0;
  while(i < n) {
    unsigned char c = (unsigned char)pat[i];
    gtok t = {G_LIT, c, 0};
    if(c == '\\') {
      /* A trailing backslash compares with the end of the text: never. */
      if(i + 1 >= n) goto malformed;
      t.ch = (unsigned char)pat[i + 1];
      i += 2;
    } else if(c == '?') {
      t.kind = G_ANY;
      i++;
    } else if(c == '[') {
      cset set;
      size_t end;
      if(!parse_class(pat, n, i + 1, &set, &end)) goto malformed;
      self->sets = ch_realloc(self->sets, sizeof(cset) * (self->nsets + 1));
      self->sets[self->nsets] = set;
      t.kind = G_CLASS;
      t.set = (uint32_t)self->nsets++;
      i = end + 1;
    } else if(c == '*') {
      size_t j = i;
      while(j < n && pat[j] == '*')
        j++;
      bool boundary = j - i >= 2 && (i == 0 || pat[i - 1] == '/') &&
                      (j == n || pat[j] == '/' ||
                       (pat[j] == '\\' && j + 1 < n && pat[j + 1] == '/'));
      if(!pathname) {
        t.kind = G_DSTAR;
      } else if(boundary && j < n && pat[j] == '/') {
        self->toks[self->len++] = (gtok){G_SKIP2, 0, 0};
        t.kind = G_DSTAR_SLASH;
        j++;
      } else {
        t.kind = boundary ? G_DSTAR : G_STAR;
      }
      i = j;
    } else {
      i++;
    }
    self->toks[self->len++] = t;
  }
  return;
malformed:
  self->never = true;
}

static void glob_release(glob *self) {
  ch_free(self->toks);
  ch_free(self->sets);
  memset(self, 0, sizeof(*self));
}

/* Adds the positions reachable without consuming text. Those edges only go
 * forward, so one pass in order is the whole closure. */
static void glob_close(const glob *self, unsigned char *state) {
  for(size_t i = 0; i < self->len; i++) {
    if(!state[i]) continue;
    switch((gkind)self->toks[i].kind) {
    case G_STAR:
    case G_DSTAR: state[i + 1] = 1; break;
    case G_SKIP2: state[i + 1] = state[i + 2] = 1; break;
    default: break;
    }
  }
}

static bool glob_match(const glob *self, const char *text, size_t n) {
  if(self->never) return false;
  size_t m = self->len;
  unsigned char local[256];
  unsigned char *cur = local, *heap = NULL;
  if(2 * (m + 1) > sizeof(local)) cur = heap = ch_malloc(2 * (m + 1));
  unsigned char *next = cur + m + 1;
  memset(cur, 0, m + 1);
  cur[0] = 1;
  glob_close(self, cur);
  for(size_t j = 0; j < n; j++) {
    unsigned c = (unsigned char)text[j];
    bool is_slash = self->pathname && c == '/';
    bool alive = false;
    memset(next, 0, m + 1);
    for(size_t i = 0; i < m; i++) {
      if(!cur[i]) continue;
      const gtok *t = &self->toks[i];
      size_t to = NONE;
      switch((gkind)t->kind) {
      case G_LIT:
        if(c == t->ch) to = i + 1;
        break;
      case G_ANY:
        if(!is_slash) to = i + 1;
        break;
      case G_CLASS:
        if(!is_slash && cset_has(&self->sets[t->set], c)) to = i + 1;
        break;
      case G_STAR:
        if(!is_slash) to = i;
        break;
      case G_DSTAR: to = i; break;
      case G_SKIP2: break;
      case G_DSTAR_SLASH:
        next[i] = 1;
        alive = true;
        if(c == '/') to = i + 1;
        break;
      }
      if(to != NONE) {
        next[to] = 1;
        alive = true;
      }
    }
    unsigned char *swap = cur;
    cur = next;
    next = swap;
    if(!alive) break;
    glob_close(self, cur);
  }
  bool matched = cur[m] != 0;
  ch_free(heap);
  return matched;
}

/* ---- patterns: one ignore file ------------------------------------------- */

enum {
  PAT_NEGATIVE = 1,  /* "!pattern" */
  PAT_MUSTBEDIR = 2, /* "pattern/" */
  PAT_NODIR = 4,     /* no '/' inside: matched against the basename */
  PAT_ENDSWITH = 8,  /* "*literal" (basename patterns only) */
};

typedef struct pattern {
  /* Owned: the pattern without its '!', its trailing '/' and, for the
   * patterns matched against the whole path, its leading '/'. */
  char *text;
  size_t len;
  size_t prefix; /* leading bytes without glob characters */
  unsigned flags;
  size_t prev_same; /* literal basename patterns: the previous one with the
                       same text, or NONE */
  glob glob;        /* what follows `prefix` (basename patterns: all) */
} pattern;

/* The patterns of one file in file order; the last one that matches wins.
 * Literal basename patterns ("node_modules", "build/"), the bulk of real
 * files, are found through a hash map instead of a scan, so a file of
 * thousands of names costs one lookup per path. */
typedef struct pat_list {
  pattern *items;
  size_t len, cap;
  ch_map literals; /* text -> 1 + index of the last such pattern */
  size_t *others;  /* indexes of all the other patterns, ascending */
  size_t nothers, cap_others;
} pat_list;

static pat_list *pat_list_new(void) {
  pat_list *self = ch_calloc(1, sizeof(*self));
  ch_map_init(&self->literals);
  return self;
}

static void pat_list_free(pat_list *self) {
  if(!self) return;
  for(size_t i = 0; i < self->len; i++) {
    ch_free(self->items[i].text);
    glob_release(&self->items[i].glob);
  }
  ch_free(self->items);
  ch_free(self->others);
  ch_map_release(&self->literals, NULL);
  ch_free(self);
}

static bool is_glob_char(char c) {
  return c == '*' || c == '?' || c == '[' || c == '\\';
}

static size_t literal_prefix(const char *s, size_t n) {
  size_t i = 0;
  while(i < n && !is_glob_char(s[i]))
    i++;
  return i;
}

/* git's trim_trailing_spaces: unescaped trailing spaces (not tabs) go. */
static void trim_trailing_spaces(char *s) {
  char *last_space = NULL;
  for(char *p = s; *p; p++) {
    if(*p == ' ') {
      if(!last_space) last_space = p;
      continue;
    }
    if(*p == '\\' && !*++p) return;
    last_space = NULL;
  }
  if(last_space) *last_space = '\0';
}

/* Adds one line (already trimmed, not a comment) as git's add_pattern and
 * parse_path_pattern read it. */
static void pat_list_add(pat_list *self, const char *line) {
  const char *p = line;
  unsigned flags = 0;
  if(*p == '!') {
    flags |= PAT_NEGATIVE;
    p++;
  }
  size_t len = strlen(p);
  if(len && p[len - 1] == '/') {
    len--;
    flags |= PAT_MUSTBEDIR;
  }
  if(!memchr(p, '/', len)) flags |= PAT_NODIR;
  size_t prefix = literal_prefix(p, len);
  if(len && p[0] == '*' && literal_prefix(p + 1, len - 1) == len - 1)
    flags |= PAT_ENDSWITH;
  if(!(flags & PAT_NODIR) && p[0] == '/') {
    /* Anchored: the '/' only says so. It is not a glob character, so the
     * literal prefix counted it. */
    p++;
    len--;
    prefix--;
  }
  if(!len) return; /* "", "!", "/", "//": git keeps them, nothing matches */

  if(self->len == self->cap) {
    self->cap = self->cap ? 2 * self->cap : 8;
    self->items = ch_realloc(self->items, sizeof(pattern) * self->cap);
  }
  size_t index = self->len++;
  pattern *pat = &self->items[index];
  memset(pat, 0, sizeof(*pat));
  pat->text = ch_strndup(p, len);
  pat->len = len;
  pat->prefix = prefix;
  pat->flags = flags;
  pat->prev_same = NONE;
  if((flags & PAT_NODIR) && prefix == len) {
    void *old =
        ch_map_put(&self->literals, pat->text, (void *)(uintptr_t)(index + 1));
    if(old) pat->prev_same = (size_t)(uintptr_t)old - 1;
    return;
  }
  if(flags & PAT_NODIR) {
    if(!(flags & PAT_ENDSWITH)) glob_compile(&pat->glob, p, len, false);
  } else if(prefix < len) {
    glob_compile(&pat->glob, p + prefix, len - prefix, true);
  }
  if(self->nothers == self->cap_others) {
    self->cap_others = self->cap_others ? 2 * self->cap_others : 8;
    self->others = ch_realloc(self->others, sizeof(size_t) * self->cap_others);
  }
  self->others[self->nothers++] = index;
}

/* Adds the lines of a whole file. buf[len] must exist (it becomes a NUL);
 * the buffer is cut up in place. A UTF-8 BOM is skipped, "\r\n" ends a line
 * like "\n", and lines that are empty or start with '#' are comments. */
static void pat_list_add_buffer(pat_list *self, char *buf, size_t len) {
  size_t i = 0;
  if(len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) i = 3;
  while(i < len) {
    size_t start = i;
    while(i < len && buf[i] != '\n')
      i++;
    size_t end = i;
    if(i < len) i++;
    if(end == start || buf[start] == '#') continue;
    if(buf[end - 1] == '\r') end--;
    buf[end] = '\0';
    trim_trailing_spaces(buf + start);
    pat_list_add(self, buf + start);
  }
}

/* Does the pattern match the path `name` (relative to the directory of its
 * file) whose last component is `base`? git's match_basename and
 * match_pathname. */
static bool pattern_matches(const pattern *self, const char *name,
                            size_t name_len, const char *base, size_t base_len,
                            bool is_dir) {
  if((self->flags & PAT_MUSTBEDIR) && !is_dir) return false;
  if(self->flags & PAT_NODIR) {
    if(self->flags & PAT_ENDSWITH) {
      size_t k = self->len - 1;
      return k <= base_len &&
             memcmp(self->text + 1, base + base_len - k, k) == 0;
    }
    return glob_match(&self->glob, base, base_len);
  }
  if(self->prefix) {
    if(self->prefix > name_len || memcmp(self->text, name, self->prefix))
      return false;
    if(self->prefix == self->len) return name_len == self->prefix;
  }
  return glob_match(&self->glob, name + self->prefix, name_len - self->prefix);
}

/* What the last matching pattern of the file says: 1 ignored, 0 included
 * again ("!"), -1 nothing matched. base must be NUL-terminated. */
static int pat_list_decide(const pat_list *self, const char *name,
                           size_t name_len, const char *base, size_t base_len,
                           bool is_dir) {
  size_t best = NONE;
  if(self->literals.len) {
    void *v = ch_map_get(&self->literals, base);
    size_t i = v ? (size_t)(uintptr_t)v - 1 : NONE;
    while(i != NONE && (self->items[i].flags & PAT_MUSTBEDIR) && !is_dir)
      i = self->items[i].prev_same;
    best = i;
  }
  for(size_t k = self->nothers; k-- > 0;) {
    size_t i = self->others[k];
    if(best != NONE && i < best) break;
    if(pattern_matches(&self->items[i], name, name_len, base, base_len,
                       is_dir)) {
      best = i;
      break;
    }
  }
  if(best == NONE) return -1;
  return (self->items[best].flags & PAT_NEGATIVE) ? 0 : 1;
}

/* Reads a whole regular file of at most max bytes into a new buffer with a
 * NUL after the data. NULL with *err set on failure (EFBIG past max). */
static char *read_small_file(int dirfd, const char *name, bool nofollow,
                             size_t max, size_t *len, int *err) {
  int fd = openat(dirfd, name,
                  O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                      (nofollow ? O_NOFOLLOW : 0));
  if(fd < 0) {
    *err = errno;
    return NULL;
  }
  struct stat st;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  if(fstat(fd, &st)) {
    *err = errno;
    goto fail;
  }
  if(!S_ISREG(st.st_mode)) {
    *err = EINVAL;
    goto fail;
  }
  if((uint64_t)st.st_size > max) {
    *err = EFBIG;
    goto fail;
  }
  cap = (size_t)st.st_size + 1;
  buf = ch_malloc(cap + 1);
  for(;;) {
    if(n == cap) {
      if(cap > max) {
        *err = EFBIG;
        goto fail;
      }
      cap *= 2;
      buf = ch_realloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if(r < 0) {
      if(errno == EINTR) continue;
      *err = errno;
      goto fail;
    }
    if(r == 0) break;
    n += (size_t)r;
  }
  if(n > max) {
    *err = EFBIG;
    goto fail;
  }
  close(fd);
  buf[n] = '\0';
  *len = n;
  return buf;
fail:
  ch_free(buf);
  close(fd);
  return NULL;
}

/* The patterns of the ignore file dirfd/name, or NULL when it is missing or
 * empty. `where` names it in the one log line an unreadable file gets.
 * Files inside the work tree are opened without following a symlink, as
 * git does since 2.32. */
static pat_list *load_patterns(int dirfd, const char *name, bool nofollow,
                               const char *where) {
  size_t len;
  int err = 0;
  char *buf =
      read_small_file(dirfd, name, nofollow, IGNORE_FILE_MAX, &len, &err);
  if(!buf) {
    if(err != ENOENT && err != ENOTDIR)
      ch_log_debug("workspace: ignoring %s: %s", where, strerror(err));
    return NULL;
  }
  pat_list *list = pat_list_new();
  pat_list_add_buffer(list, buf, len);
  ch_free(buf);
  if(!list->len) {
    pat_list_free(list);
    return NULL;
  }
  return list;
}

static pat_list *load_patterns_path(const char *path, bool nofollow) {
  return load_patterns(AT_FDCWD, path, nofollow, path);
}

/* ---- git config: core.excludesFile --------------------------------------- */

/* A reader for the subset of git's config syntax that can set one key:
 * sections ("[core]", "[x \"sub\"]", "[x.sub]"), comments, "key = value"
 * with quotes, escapes and line continuations. Includes are not followed.
 * A line git would reject stops the reading of that file. */
typedef struct cfg_reader {
  const char *s, *end;
} cfg_reader;

static int cfg_peek(const cfg_reader *r) {
  if(r->s == r->end) return -1;
  /* git reads "\r\n" as "\n". */
  if(*r->s == '\r' && r->s + 1 < r->end && r->s[1] == '\n') return '\n';
  return (unsigned char)*r->s;
}

static int cfg_next(cfg_reader *r) {
  int c = cfg_peek(r);
  if(c < 0) return c;
  r->s += (c == '\n' && *r->s == '\r') ? 2 : 1;
  return c;
}

static bool cfg_isspace(int c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool cfg_iskey(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-';
}

static void cfg_skip_line(cfg_reader *r) {
  int c;
  while((c = cfg_next(r)) >= 0 && c != '\n') {
  }
}

/* Reads a value after '=' into *out (a growing ch_buf). False on a syntax
 * error. */
static bool cfg_value(cfg_reader *r, ch_buf *out) {
  bool quote = false;
  size_t spaces = 0;
  while(cfg_isspace(cfg_peek(r)))
    cfg_next(r);
  for(;;) {
    int c = cfg_next(r);
    if(c < 0 || c == '\n') return !quote;
    if(!quote && (c == ';' || c == '#')) {
      cfg_skip_line(r);
      return true;
    }
    if(!quote && cfg_isspace(c)) {
      if(out->len) spaces++;
      continue;
    }
    for(; spaces; spaces--)
      ch_buf_append_char(out, ' ');
    if(c == '\\') {
      c = cfg_next(r);
      switch(c) {
      case '\n': continue;
      case 't': c = '\t'; break;
      case 'b': c = '\b'; break;
      case 'n': c = '\n'; break;
      case '\\':
      case '"': break;
      default: return false;
      }
    } else if(c == '"') {
      quote = !quote;
      continue;
    }
    ch_buf_append_char(out, (char)c);
  }
}

/* Sets *value (replacing it) to every core.excludesFile of the config file
 * at path, so the last one wins. */
static void config_read_excludes(const char *path, char **value) {
  size_t len;
  int err = 0;
  char *text =
      read_small_file(AT_FDCWD, path, false, CONFIG_FILE_MAX, &len, &err);
  if(!text) return;
  cfg_reader r = {text, text + len};
  bool in_core = false;
  for(;;) {
    int c = cfg_peek(&r);
    if(c < 0) break;
    if(c == '\n' || cfg_isspace(c)) {
      cfg_next(&r);
    } else if(c == '#' || c == ';') {
      cfg_skip_line(&r);
    } else if(c == '[') {
      cfg_next(&r);
      char name[32];
      size_t n = 0;
      bool sub = false;
      while(cfg_iskey(cfg_peek(&r)) || cfg_peek(&r) == '.') {
        c = cfg_next(&r);
        if(c == '.') sub = true;
        if(n + 1 < sizeof(name)) name[n++] = (char)c;
      }
      name[n] = '\0';
      if(cfg_isspace(cfg_peek(&r))) {
        while(cfg_isspace(cfg_peek(&r)))
          cfg_next(&r);
        if(cfg_next(&r) != '"') break;
        while((c = cfg_next(&r)) >= 0 && c != '"' && c != '\n')
          if(c == '\\') cfg_next(&r);
        if(c != '"') break;
        sub = true;
      }
      if(cfg_next(&r) != ']') break;
      in_core = !sub && strcasecmp(name, "core") == 0;
    } else if(cfg_iskey(c)) {
      char key[32];
      size_t n = 0;
      while(cfg_iskey(cfg_peek(&r))) {
        c = cfg_next(&r);
        if(n + 1 < sizeof(key)) key[n++] = (char)c;
      }
      key[n] = '\0';
      while(cfg_isspace(cfg_peek(&r)))
        cfg_next(&r);
      c = cfg_peek(&r);
      if(c == '=') {
        cfg_next(&r);
        ch_buf v;
        ch_buf_init(&v, CONFIG_FILE_MAX);
        bool ok = cfg_value(&r, &v);
        if(ok && in_core && strcasecmp(key, "excludesfile") == 0) {
          ch_free(*value);
          *value = ch_buf_detach(&v, NULL);
        }
        ch_buf_release(&v);
        if(!ok) break;
      } else if(c < 0 || c == '\n' || c == '#' || c == ';') {
        cfg_skip_line(&r); /* a boolean; not a path */
      } else {
        break;
      }
    } else {
      break;
    }
  }
  ch_free(text);
}

static bool env_true(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") && strcasecmp(v, "false") &&
         strcasecmp(v, "no") && strcasecmp(v, "off");
}

/* git's xdg_config_home(name): $XDG_CONFIG_HOME/git/name, else
 * $HOME/.config/git/name. NULL when neither is set. */
static char *xdg_git_path(const char *name) {
  const char *xdg = getenv("XDG_CONFIG_HOME");
  if(xdg && *xdg) return ch_strdupf("%s/git/%s", xdg, name);
  const char *home = getenv("HOME");
  if(home) return ch_strdupf("%s/.config/git/%s", home, name);
  return NULL;
}

/* Expands "~/" and "~user/" as git's interpolate_path does; a relative
 * path is taken from the root, where git runs. NULL when it cannot be. */
static char *expand_path(const char *path, const char *root) {
  if(path[0] == '/') return ch_strdup(path);
  if(path[0] != '~') return ch_strdupf("%s/%s", root, path);
  const char *rest = strchr(path, '/');
  size_t ulen = rest ? (size_t)(rest - path - 1) : strlen(path + 1);
  if(!rest) rest = "";
  if(!ulen) {
    const char *home = getenv("HOME");
    return home ? ch_strdupf("%s%s", home, rest) : NULL;
  }
  char *user = ch_strndup(path + 1, ulen);
  char buf[4096];
  struct passwd pw, *found = NULL;
  char *result = NULL;
  if(getpwnam_r(user, &pw, buf, sizeof(buf), &found) == 0 && found)
    result = ch_strdupf("%s%s", found->pw_dir, rest);
  ch_free(user);
  return result;
}

/* The excludes file git would read for this repository: core.excludesFile
 * from the system, global and repository config, else the XDG default. */
static char *excludes_file_path(const char *root, const char *common_dir) {
  char *value = NULL;
  if(!env_true("GIT_CONFIG_NOSYSTEM")) {
    const char *sys = getenv("GIT_CONFIG_SYSTEM");
    config_read_excludes(sys && *sys ? sys : "/etc/gitconfig", &value);
  }
  const char *global = getenv("GIT_CONFIG_GLOBAL");
  if(global) {
    if(*global) config_read_excludes(global, &value);
  } else {
    char *xdg = xdg_git_path("config");
    if(xdg) config_read_excludes(xdg, &value);
    ch_free(xdg);
    const char *home = getenv("HOME");
    if(home) {
      char *user = ch_strdupf("%s/.gitconfig", home);
      config_read_excludes(user, &value);
      ch_free(user);
    }
  }
  if(common_dir) {
    char *local = ch_strdupf("%s/config", common_dir);
    config_read_excludes(local, &value);
    ch_free(local);
  }
  if(!value) return xdg_git_path("ignore");
  char *path = *value ? expand_path(value, root) : NULL;
  ch_free(value);
  return path;
}

/* Reads a one-line file ("gitdir: x", a commondir file) without its
 * trailing white space; NULL when absent. */
static char *read_line_file(const char *path) {
  size_t len;
  int err;
  char *text = read_small_file(AT_FDCWD, path, false, 1 << 16, &len, &err);
  if(!text) return NULL;
  while(len && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
                text[len - 1] == ' ' || text[len - 1] == '\t'))
    text[--len] = '\0';
  return text;
}

/* The directory that holds info/exclude and config for the work tree at
 * root: root/.git, or what a ".git" file points to (worktrees, submodules)
 * and then its "commondir". NULL when root has no .git. */
static char *git_common_dir(const char *root) {
  char *dotgit = ch_strdupf("%s/.git", root);
  char *git_dir = NULL;
  struct stat st;
  if(stat(dotgit, &st) == 0) {
    if(S_ISDIR(st.st_mode)) {
      git_dir = dotgit;
      dotgit = NULL;
    } else if(S_ISREG(st.st_mode)) {
      char *line = read_line_file(dotgit);
      if(line && strncmp(line, "gitdir:", 7) == 0) {
        const char *p = line + 7;
        while(*p == ' ' || *p == '\t')
          p++;
        git_dir = p[0] == '/' ? ch_strdup(p) : ch_strdupf("%s/%s", root, p);
      }
      ch_free(line);
    }
  }
  ch_free(dotgit);
  if(!git_dir) return NULL;
  char *file = ch_strdupf("%s/commondir", git_dir);
  char *common = read_line_file(file);
  ch_free(file);
  if(!common || !*common) {
    ch_free(common);
    return git_dir;
  }
  char *result = common[0] == '/' ? ch_strdup(common)
                                  : ch_strdupf("%s/%s", git_dir, common);
  ch_free(common);
  ch_free(git_dir);
  return result;
}

/* ---- ch_ignore ----------------------------------------------------------- */

/* A directory of the work tree as the rules see it. Nodes are shared: a
 * child holds a reference to its parent, so the walk and the cache of
 * ch_ignore_match can both keep chains alive without copying them. */
typedef struct ign_dir {
  struct ign_dir *parent; /* a reference is held; NULL at the root */
  /* Self or the nearest ancestor with patterns, or NULL: the lookup skips
   * the (many) directories without a .gitignore. */
  const struct ign_dir *lists;
  size_t refs;
  size_t base_len; /* length of its path relative to the root */
  pat_list *pats;  /* owned: its .gitignore, or NULL */
  bool excluded;   /* ignored itself or under an ignored directory */
} ign_dir;

struct ch_ignore {
  char *root;       /* without a trailing '/' (unless it is "/") */
  pat_list *global; /* the core.excludesFile file, or NULL */
  pat_list *info;   /* $GIT_DIR/info/exclude, or NULL */
  ign_dir *top;     /* the root: its .gitignore, then the extra globs */
  ch_map dirs;      /* ch_ignore_match's cache: relative path -> ign_dir */
};

static ign_dir *dir_new(ign_dir *parent, size_t base_len, pat_list *pats,
                        bool excluded) {
  ign_dir *self = ch_calloc(1, sizeof(*self));
  self->parent = parent;
  if(parent) parent->refs++;
  self->refs = 1;
  self->base_len = base_len;
  self->pats = pats;
  self->excluded = excluded;
  self->lists = pats ? self : parent ? parent->lists : NULL;
  return self;
}

/* Iterative, so releasing the last node of a chain thousands deep does not
 * recurse. */
static void dir_unref(ign_dir *self) {
  while(self && --self->refs == 0) {
    ign_dir *parent = self->parent;
    pat_list_free(self->pats);
    ch_free(self);
    self = parent;
  }
}

static void dir_unref_value(void *value) { dir_unref(value); }

/* Is path (relative to the root, path_len bytes, NUL-terminated, its last
 * component at base_off) ignored, given the node of its parent directory,
 * which is not itself excluded? git's order: the deepest .gitignore first
 * (each file's last matching line wins), then info/exclude, then the
 * global excludes file. */
static bool decide(const ch_ignore *self, const ign_dir *dir, const char *path,
                   size_t path_len, size_t base_off, bool is_dir) {
  const char *base = path + base_off;
  size_t base_len = path_len - base_off;
  for(const ign_dir *d = dir->lists; d;
      d = d->parent ? d->parent->lists : NULL) {
    size_t off = d->base_len ? d->base_len + 1 : 0;
    int r = pat_list_decide(d->pats, path + off, path_len - off, base, base_len,
                            is_dir);
    if(r >= 0) return r;
  }
  const pat_list *files[] = {self->info, self->global};
  for(size_t i = 0; i < CH_ARRAY_LEN(files); i++) {
    if(!files[i]) continue;
    int r = pat_list_decide(files[i], path, path_len, base, base_len, is_dir);
    if(r >= 0) return r;
  }
  return false;
}

ch_ignore *ch_ignore_new(const char *root, const char *const *extra_globs) {
  if(!root || !*root) return NULL;
  ch_ignore *self = ch_calloc(1, sizeof(*self));
  size_t n = strlen(root);
  while(n > 1 && root[n - 1] == '/')
    n--;
  self->root = ch_strndup(root, n);
  ch_map_init(&self->dirs);

  char *common = git_common_dir(self->root);
  char *excludes = excludes_file_path(self->root, common);
  if(excludes) self->global = load_patterns_path(excludes, false);
  ch_free(excludes);
  if(common) {
    char *info = ch_strdupf("%s/info/exclude", common);
    self->info = load_patterns_path(info, false);
    ch_free(info);
  }
  ch_free(common);

  char *top_file = ch_strdupf("%s/.gitignore", self->root);
  pat_list *top = load_patterns_path(top_file, true);
  ch_free(top_file);
  for(const char *const *g = extra_globs; g && *g; g++) {
    if(!top) top = pat_list_new();
    char *copy = ch_strdup(*g);
    pat_list_add_buffer(top, copy, strlen(copy));
    ch_free(copy);
  }
  if(top && !top->len) {
    pat_list_free(top);
    top = NULL;
  }
  self->top = dir_new(NULL, 0, top, false);
  return self;
}

void ch_ignore_free(ch_ignore *self) {
  if(!self) return;
  ch_map_release(&self->dirs, dir_unref_value);
  dir_unref(self->top);
  pat_list_free(self->global);
  pat_list_free(self->info);
  ch_free(self->root);
  ch_free(self);
}

/* The cached node of directory p[0..len) (p is a private copy the function
 * may cut temporarily), made on first use from its nearest cached ancestor
 * down, each level deciding whether it is excluded and, if not, reading its
 * .gitignore once. */
static ign_dir *dir_lookup(ch_ignore *self, char *p, size_t len) {
  if(!len) return self->top;
  char saved = p[len];
  p[len] = '\0';
  ign_dir *found = ch_map_get(&self->dirs, p);
  p[len] = saved;
  if(found) return found;

  ign_dir *node = self->top;
  size_t start = 0;
  for(size_t k = len; k > 0;) {
    size_t j = k;
    while(j > 0 && p[j - 1] != '/')
      j--;
    if(j == 0) break;
    p[j - 1] = '\0';
    ign_dir *anc = ch_map_get(&self->dirs, p);
    p[j - 1] = '/';
    if(anc) {
      node = anc;
      start = j;
      break;
    }
    k = j - 1;
  }
  while(start < len) {
    size_t end = start;
    while(end < len && p[end] != '/')
      end++;
    saved = p[end];
    p[end] = '\0';
    bool excluded = node->excluded || strcmp(p + start, ".git") == 0 ||
                    decide(self, node, p, end, start, true);
    pat_list *pats = NULL;
    if(!excluded) {
      char *file = ch_strdupf("%s/%s/.gitignore", self->root, p);
      pats = load_patterns_path(file, true);
      ch_free(file);
    }
    node = dir_new(node, end, pats, excluded);
    ch_map_put(&self->dirs, p, node);
    p[end] = saved;
    start = end + 1;
  }
  return node;
}

bool ch_ignore_match(ch_ignore *self, const char *path, bool is_dir) {
  if(!self || !path) return false;
  /* Forgiving about the spelling: "./x", "/root/x" and "x/" (a directory)
   * all name what "x" does. */
  size_t root_len = strlen(self->root);
  if(strncmp(path, self->root, root_len) == 0 &&
     (path[root_len] == '/' || self->root[root_len - 1] == '/'))
    path += root_len;
  while(path[0] == '/' || (path[0] == '.' && path[1] == '/'))
    path += path[0] == '/' ? 1 : 2;
  size_t n = strlen(path);
  while(n && path[n - 1] == '/') {
    n--;
    is_dir = true;
  }
  if(!n) return false;
  char *p = ch_strndup(path, n);
  bool result = false;
  for(size_t i = 0; i < n;) {
    size_t j = i;
    while(j < n && p[j] != '/')
      j++;
    if(j - i == 4 && memcmp(p + i, ".git", 4) == 0) result = true;
    i = j + 1;
  }
  if(!result) {
    char *slash = strrchr(p, '/');
    size_t parent_len = slash ? (size_t)(slash - p) : 0;
    ign_dir *dir = dir_lookup(self, p, parent_len);
    result = dir->excluded ||
             decide(self, dir, p, n, slash ? parent_len + 1 : 0, is_dir);
  }
  ch_free(p);
  return result;
}

/* ---- ch_ignore_list: patterns without a repository ---------------------- */

struct ch_ignore_list {
  pat_list *pats; /* NULL when there are none */
};

ch_ignore_list *ch_ignore_list_new(const char *const *patterns) {
  ch_ignore_list *self = ch_calloc(1, sizeof(*self));
  for(const char *const *g = patterns; g && *g; g++) {
    if(!self->pats) self->pats = pat_list_new();
    char *copy = ch_strdup(*g);
    pat_list_add_buffer(self->pats, copy, strlen(copy));
    ch_free(copy);
  }
  return self;
}

void ch_ignore_list_free(ch_ignore_list *self) {
  if(!self) return;
  pat_list_free(self->pats);
  ch_free(self);
}

bool ch_ignore_list_match(const ch_ignore_list *self, const char *path,
                          bool is_dir) {
  if(!self || !self->pats || !path) return false;
  while(path[0] == '/' || (path[0] == '.' && path[1] == '/'))
    path += path[0] == '/' ? 1 : 2;
  size_t n = strlen(path);
  while(n && path[n - 1] == '/') {
    n--;
    is_dir = true;
  }
  if(!n) return false;
  /* Each directory on the way down first, as git does: once one matches,
   * nothing below it can be re-included. pat_list_decide wants the base
   * NUL-terminated, so the copy is cut at each '/' in turn. */
  char *p = ch_strndup(path, n);
  bool result = false;
  size_t start = 0;
  for(;;) {
    size_t end = start;
    while(end < n && p[end] != '/')
      end++;
    bool last = end == n;
    p[end] = '\0';
    int r = pat_list_decide(self->pats, p, end, p + start, end - start,
                            last ? is_dir : true);
    if(!last) p[end] = '/';
    if(r == 1) {
      result = true;
      break;
    }
    if(last) break;
    start = end + 1;
  }
  ch_free(p);
  return result;
}

/* ---- file checks --------------------------------------------------------- */

typedef enum verdict {
  V_OK,
  V_UNKNOWN, /* no language by extension or shebang */
  V_TOO_LARGE,
  V_BINARY,
  V_SPECIAL,   /* not a regular file */
  V_UNREADABLE /* *err says why */
} verdict;

/* Reads the first `want` (<= HEAD_BYTES) bytes of fd, or fewer at EOF.
 * Asking for no more than the size fstat gave saves the read that would
 * only find the end. */
static bool read_head(int fd, char *head, size_t want, size_t *n) {
  size_t got = 0;
  while(got < want) {
    ssize_t r = read(fd, head + got, want - got);
    if(r < 0) {
      if(errno == EINTR) continue;
      return false;
    }
    if(r == 0) break;
    got += (size_t)r;
  }
  *n = got;
  return true;
}

/* The walk's rules for one file, opened as dirfd/name (following
 * symlinks). The language comes first, from the extension; the file is
 * opened anyway (its size and time come from the descriptor) but only read
 * when the extension says nothing or the size is within the limit. */
static verdict check_file(int dirfd, const char *name, uint64_t max, char *head,
                          ch_walk_entry *entry, int *err) {
  const ch_language *lang = ch_syntax_by_path(name, NULL, 0);
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if(fd < 0) {
    *err = errno;
    return V_UNREADABLE;
  }
  struct stat st;
  verdict v = V_OK;
  size_t n = 0;
  if(fstat(fd, &st)) {
    *err = errno;
    v = V_UNREADABLE;
  } else if(!S_ISREG(st.st_mode)) {
    v = V_SPECIAL;
  } else if((!lang || (uint64_t)st.st_size <= max) &&
            !read_head(
                fd, head,
                (size_t)CH_MIN((uint64_t)st.st_size, (uint64_t)HEAD_BYTES),
                &n)) {
    *err = errno;
    v = V_UNREADABLE;
  } else {
    if(!lang) lang = ch_syntax_by_path(name, head, n);
    if(!lang)
      v = V_UNKNOWN;
    else if((uint64_t)st.st_size > max)
      v = V_TOO_LARGE;
    else if(memchr(head, 0, n))
      v = V_BINARY;
  }
  close(fd);
  if(v == V_OK) {
    entry->size = (uint64_t)st.st_size;
    entry->mtime_ns =
        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    entry->lang = lang;
  }
  return v;
}

static uint64_t max_bytes_of(const ch_walk_options *options) {
  return options && options->max_file_bytes ? options->max_file_bytes
                                            : CH_WALK_DEFAULT_MAX_BYTES;
}

ch_status ch_workspace_check_file(const char *abs_path,
                                  const ch_walk_options *options,
                                  ch_walk_entry *entry) {
  if(!abs_path || !entry) return CH_ERR_INVALID;
  char *head = ch_malloc(HEAD_BYTES);
  ch_walk_entry e = {0};
  int err = 0;
  verdict v =
      check_file(AT_FDCWD, abs_path, max_bytes_of(options), head, &e, &err);
  ch_free(head);
  switch(v) {
  case V_OK: *entry = e; return CH_OK;
  /* A folder, FIFO or device is no file to index: "not found", as the
   * header words it for a file that is not there. */
  case V_UNKNOWN:
  case V_SPECIAL: return CH_ERR_NOT_FOUND;
  case V_TOO_LARGE: return CH_ERR_TOO_LARGE;
  case V_BINARY: return CH_ERR_INVALID;
  case V_UNREADABLE: break;
  }
  return err == ENOENT || err == ENOTDIR ? CH_ERR_NOT_FOUND : CH_ERR_IO;
}

/* ---- the walk ------------------------------------------------------------ */

/* (device, inode) of every directory entered, so a directory reached twice
 * (a symlink back up the tree, two links to one place, a bind mount) is
 * walked once. Open addressing, linear probing. */
typedef struct dir_id {
  uint64_t dev, ino;
  bool used;
} dir_id;

typedef struct dir_set {
  dir_id *slots;
  size_t cap, len; /* cap: a power of two or 0 */
} dir_set;

static size_t dir_id_hash(uint64_t dev, uint64_t ino) {
  uint64_t h = ino * 0x9E3779B97F4A7C15u ^ dev * 0xC2B2AE3D27D4EB4Fu;
  return (size_t)(h ^ (h >> 29));
}

/* Adds (dev, ino); false when it was already there. */
static bool dir_set_add(dir_set *self, uint64_t dev, uint64_t ino) {
  if(2 * (self->len + 1) > self->cap) {
    size_t cap = self->cap ? 2 * self->cap : 64;
    dir_id *slots = ch_calloc(cap, sizeof(dir_id));
    for(size_t i = 0; i < self->cap; i++) {
      if(!self->slots[i].used) continue;
      size_t k = dir_id_hash(self->slots[i].dev, self->slots[i].ino);
      while(slots[k & (cap - 1)].used)
        k++;
      slots[k & (cap - 1)] = self->slots[i];
    }
    ch_free(self->slots);
    self->slots = slots;
    self->cap = cap;
  }
  for(size_t k = dir_id_hash(dev, ino);; k++) {
    dir_id *s = &self->slots[k & (self->cap - 1)];
    if(!s->used) {
      *s = (dir_id){dev, ino, true};
      self->len++;
      return true;
    }
    if(s->dev == dev && s->ino == ino) return false;
  }
}

/* One directory on the current path. */
typedef struct frame {
  int fd;       /* -1 while parked (see KEEP_OPEN) */
  char *names;  /* owned: per entry a d_type byte, then the name and NUL */
  char **order; /* owned: pointers to the entries, sorted by name */
  size_t count, next;
  size_t path_len; /* length of its path relative to the root */
  uint64_t dev, ino;
  ign_dir *ign; /* a reference is held */
} frame;

/* A directory reached through a symlink, walked after everything else. */
typedef struct deferred {
  char *path;      /* owned: relative to the root */
  ign_dir *parent; /* a reference is held */
} deferred;

typedef struct walker {
  ch_ignore *ignore;
  uint64_t max_bytes;
  const ch_walk_options *options;
  ch_walk_cb on_file;
  void *userdata;
  ch_walk_stats stats;
  int root_fd;
  /* The absolute path of the current entry: the root, '/', then the
   * relative path at rel_off. */
  char *abs;
  size_t abs_cap, rel_off;
  frame *frames;
  size_t depth, frames_cap;
  deferred *queue;
  size_t queue_head, queue_len, queue_cap;
  dir_set seen;
  bool warned_long;
  char head[HEAD_BYTES];
} walker;

static char *walk_rel(walker *w) { return w->abs + w->rel_off; }

/* Makes the relative path `dir` (dir_len bytes of the current path) + "/"
 * + name; returns its length. */
static size_t walk_set_name(walker *w, size_t dir_len, const char *name,
                            size_t name_len) {
  size_t len = dir_len + (dir_len ? 1 : 0) + name_len;
  if(w->rel_off + len + 1 > w->abs_cap) {
    while(w->rel_off + len + 1 > w->abs_cap)
      w->abs_cap *= 2;
    w->abs = ch_realloc(w->abs, w->abs_cap);
  }
  char *rel = walk_rel(w);
  if(dir_len) rel[dir_len] = '/';
  memcpy(rel + len - name_len, name, name_len);
  rel[len] = '\0';
  return len;
}

static void walk_unreadable(walker *w, const char *what, int err) {
  w->stats.unreadable++;
  ch_log_debug("workspace: %s %s: %s", what, w->abs, strerror(err));
}

static void walk_too_long(walker *w) {
  w->stats.unreadable++;
  if(w->warned_long) return;
  w->warned_long = true;
  ch_log_info("workspace: skipping paths longer than PATH_MAX (%d bytes), "
              "the first is %.120s...",
              PATH_MAX, w->abs);
}

static bool same_dir(int fd, const frame *f) {
  struct stat st;
  return fstat(fd, &st) == 0 && (uint64_t)st.st_dev == f->dev &&
         (uint64_t)st.st_ino == f->ino;
}

/* Reopens parked frame fi from the nearest open ancestor by names; the
 * fallback when ".." of its child is not it (a race, a bind mount). */
static int reopen_by_names(walker *w, size_t fi) {
  size_t j = fi;
  while(j > 0 && w->frames[j].fd < 0)
    j--;
  int cur = w->frames[j].fd;
  const char *rel = walk_rel(w);
  for(size_t k = j + 1; k <= fi; k++) {
    size_t start = w->frames[k - 1].path_len;
    if(start) start++;
    size_t n = w->frames[k].path_len - start;
    char name[NAME_MAX + 1];
    int next = -1;
    if(n < sizeof(name)) {
      memcpy(name, rel + start, n);
      name[n] = '\0';
      next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if(cur != w->frames[j].fd) close(cur);
    if(next < 0) return -1;
    cur = next;
  }
  if(!same_dir(cur, &w->frames[fi])) {
    close(cur);
    return -1;
  }
  return cur;
}

/* Leaves the top directory. When the walk goes on (`resume`), the parent
 * gets its descriptor back if it was parked. */
static void walk_pop(walker *w, bool resume) {
  frame *f = &w->frames[w->depth - 1];
  if(resume && w->depth >= 2 && f[-1].fd < 0) {
    frame *parent = &f[-1];
    int fd = f->fd >= 0
                 ? openat(f->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                 : -1;
    if(fd >= 0 && !same_dir(fd, parent)) {
      close(fd);
      fd = -1;
    }
    if(fd < 0) fd = reopen_by_names(w, w->depth - 2);
    if(fd < 0) {
      /* Gone or replaced while we were below it: drop what is left. */
      w->stats.unreadable++;
      ch_log_debug("workspace: lost directory %.*s",
                   (int)(w->rel_off + parent->path_len), w->abs);
      parent->next = parent->count;
    }
    parent->fd = fd;
  }
  if(f->fd >= 0) close(f->fd);
  ch_free(f->names);
  ch_free(f->order);
  dir_unref(f->ign);
  w->depth--;
}

static int cmp_entries(const void *a, const void *b) {
  return strcmp(*(char *const *)a + 1, *(char *const *)b + 1);
}

/* Reads the whole listing of fd into f, sorted. Sets *has_ignore when a
 * ".gitignore" is among the names. */
static bool read_listing(int fd, frame *f, bool *has_ignore, int *err) {
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
  if(!dir) {
    *err = errno;
    if(dup_fd >= 0) close(dup_fd);
    return false;
  }
  size_t len = 0, cap = 4096, count = 0, offs_cap = 64;
  char *names = ch_malloc(cap);
  size_t *offs = ch_malloc(sizeof(size_t) * offs_cap);
  struct dirent *de;
  errno = 0;
  while((de = readdir(dir))) {
    const char *name = de->d_name;
    if(name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) continue;
    if(strcmp(name, ".gitignore") == 0) *has_ignore = true;
    size_t n = strlen(name);
    if(len + n + 2 > cap) {
      while(len + n + 2 > cap)
        cap *= 2;
      names = ch_realloc(names, cap);
    }
    if(count == offs_cap) {
      offs_cap *= 2;
      offs = ch_realloc(offs, sizeof(size_t) * offs_cap);
    }
    offs[count++] = len;
    names[len] = (char)de->d_type;
    memcpy(names + len + 1, name, n + 1);
    len += n + 2;
    errno = 0;
  }
  /* A listing that failed half-way is used as far as it got. */
  *err = errno;
  closedir(dir);
  f->names = names;
  f->order = ch_malloc(sizeof(char *) * (count ? count : 1));
  for(size_t i = 0; i < count; i++)
    f->order[i] = names + offs[i];
  ch_free(offs);
  f->count = count;
  f->next = 0;
  qsort(f->order, count, sizeof(char *), cmp_entries);
  return true;
}

static bool walk_cancelled(walker *w) {
  return w->options && w->options->cancelled &&
         w->options->cancelled(w->userdata);
}

/* Enters the directory open at fd whose relative path (path_len bytes) is
 * the current path. parent is the node of the directory it is in (NULL for
 * the root). Takes fd. */
static ch_status walk_push(walker *w, int fd, size_t path_len,
                           ign_dir *parent) {
  struct stat st;
  if(walk_cancelled(w)) {
    close(fd);
    return CH_ERR_CANCELLED;
  }
  if(fstat(fd, &st)) {
    walk_unreadable(w, "cannot stat", errno);
    close(fd);
    return CH_OK;
  }
  if(!dir_set_add(&w->seen, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
    w->stats.loops++;
    ch_log_debug("workspace: %s: directory already walked", w->abs);
    close(fd);
    return CH_OK;
  }
  frame f = {0};
  bool has_ignore = false;
  int err = 0;
  if(!read_listing(fd, &f, &has_ignore, &err)) {
    walk_unreadable(w, "cannot list", err);
    close(fd);
    return CH_OK;
  }
  if(err) walk_unreadable(w, "cannot list all of", err);
  w->stats.dirs++;
  f.fd = fd;
  f.path_len = path_len;
  f.dev = (uint64_t)st.st_dev;
  f.ino = (uint64_t)st.st_ino;
  if(!parent) {
    f.ign = w->ignore->top;
    f.ign->refs++;
  } else {
    pat_list *pats = NULL;
    if(has_ignore) {
      char *where = ch_strdupf("%s/.gitignore", w->abs);
      pats = load_patterns(fd, ".gitignore", true, where);
      ch_free(where);
    }
    f.ign = dir_new(parent, path_len, pats, false);
  }
  if(w->depth == w->frames_cap) {
    w->frames_cap = w->frames_cap ? 2 * w->frames_cap : 64;
    w->frames = ch_realloc(w->frames, sizeof(frame) * w->frames_cap);
  }
  w->frames[w->depth++] = f;
  if(w->depth > KEEP_OPEN) {
    frame *below = &w->frames[w->depth - 2];
    close(below->fd);
    below->fd = -1;
  }
  return CH_OK;
}

static void walk_defer(walker *w, ign_dir *parent) {
  if(w->queue_len == w->queue_cap) {
    w->queue_cap = w->queue_cap ? 2 * w->queue_cap : 16;
    w->queue = ch_realloc(w->queue, sizeof(deferred) * w->queue_cap);
  }
  parent->refs++;
  w->queue[w->queue_len++] = (deferred){ch_strdup(walk_rel(w)), parent};
}

static void walk_file(walker *w, int dirfd, const char *name) {
  ch_walk_entry e = {0};
  int err = 0;
  switch(check_file(dirfd, name, w->max_bytes, w->head, &e, &err)) {
  case V_OK:
    e.path = walk_rel(w);
    e.abs_path = w->abs;
    w->stats.files++;
    w->on_file(&e, w->userdata);
    break;
  case V_UNKNOWN: w->stats.unknown_lang++; break;
  case V_TOO_LARGE: w->stats.too_large++; break;
  case V_BINARY: w->stats.binary++; break;
  case V_SPECIAL: break;
  case V_UNREADABLE: walk_unreadable(w, "cannot read", err); break;
  }
}

/* One entry of the top frame; the current path is already its path. */
static ch_status walk_entry(walker *w, unsigned char type, const char *name,
                            size_t rel_len, size_t base_off) {
  frame *f = &w->frames[w->depth - 1];
  int fd = f->fd;
  ign_dir *ign = f->ign;
  const char *rel = walk_rel(w);
  if(strcmp(name, ".git") == 0) {
    w->stats.ignored++;
    return CH_OK;
  }
  bool is_dir = false, via_link = false;
  struct stat st;
  switch(type) {
  case DT_DIR: is_dir = true; break;
  case DT_REG: break;
  case DT_LNK:
  case DT_UNKNOWN:
    if(type == DT_UNKNOWN) {
      if(fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW)) {
        walk_unreadable(w, "cannot stat", errno);
        return CH_OK;
      }
      via_link = S_ISLNK(st.st_mode);
      if(!via_link && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return CH_OK;
      is_dir = S_ISDIR(st.st_mode);
    } else {
      via_link = true;
    }
    if(via_link && fstatat(fd, name, &st, 0)) {
      /* Dangling or a loop of links: a finding only if not ignored. */
      int err = errno;
      if(decide(w->ignore, ign, rel, rel_len, base_off, false))
        w->stats.ignored++;
      else
        walk_unreadable(w, "cannot follow", err);
      return CH_OK;
    }
    if(via_link) {
      if(!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return CH_OK;
      is_dir = S_ISDIR(st.st_mode);
    }
    break;
  default: return CH_OK; /* FIFOs, sockets, devices */
  }
  if(decide(w->ignore, ign, rel, rel_len, base_off, is_dir)) {
    w->stats.ignored++;
    return CH_OK;
  }
  if(w->rel_off + rel_len >= PATH_MAX) {
    walk_too_long(w);
    return CH_OK;
  }
  if(!is_dir) {
    walk_file(w, fd, name);
    return CH_OK;
  }
  if(via_link) {
    walk_defer(w, ign);
    return CH_OK;
  }
  int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if(sub < 0) {
    walk_unreadable(w, "cannot open", errno);
    return CH_OK;
  }
  return walk_push(w, sub, rel_len, ign);
}

/* Runs the depth-first walk until the stack is empty. */
static ch_status walk_run(walker *w) {
  while(w->depth) {
    frame *f = &w->frames[w->depth - 1];
    if(f->next == f->count) {
      walk_pop(w, true);
      continue;
    }
    const char *entry = f->order[f->next++];
    size_t name_len = strlen(entry + 1);
    size_t rel_len = walk_set_name(w, f->path_len, entry + 1, name_len);
    ch_status result = walk_entry(w, (unsigned char)entry[0], entry + 1,
                                  rel_len, rel_len - name_len);
    if(result) return result;
  }
  return CH_OK;
}

/* The directories reached through symlinks, in the order they were met;
 * each may queue more. A target already walked counts as a loop. */
static ch_status walk_deferred(walker *w) {
  while(w->queue_head < w->queue_len) {
    deferred d = w->queue[w->queue_head++];
    size_t len = strlen(d.path);
    walk_set_name(w, 0, d.path, len);
    ch_status result = CH_OK;
    int fd = openat(w->root_fd, d.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if(fd < 0)
      walk_unreadable(w, "cannot open", errno);
    else
      result = walk_push(w, fd, len, d.parent);
    if(!result) result = walk_run(w);
    ch_free(d.path);
    dir_unref(d.parent);
    if(result) return result;
  }
  return CH_OK;
}

ch_status ch_workspace_walk(const char *root, const ch_walk_options *options,
                            ch_walk_cb on_file, void *userdata,
                            ch_walk_stats *stats) {
  if(stats) memset(stats, 0, sizeof(*stats));
  if(!root || !*root || !on_file) return CH_ERR_INVALID;
  int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(root_fd < 0) {
    int err = errno;
    ch_log_debug("workspace: cannot open %s: %s", root, strerror(err));
    return err == ENOENT || err == ENOTDIR ? CH_ERR_NOT_FOUND : CH_ERR_IO;
  }
  walker *w = ch_calloc(1, sizeof(*w));
  w->ignore = ch_ignore_new(root, options ? options->ignore_globs : NULL);
  w->max_bytes = max_bytes_of(options);
  w->options = options;
  w->on_file = on_file;
  w->userdata = userdata;
  w->root_fd = root_fd;
  const char *r = w->ignore->root;
  size_t root_len = strlen(r);
  w->rel_off = root_len + (r[root_len - 1] == '/' ? 0 : 1);
  w->abs_cap = CH_MAX(w->rel_off + 256, (size_t)1024);
  w->abs = ch_malloc(w->abs_cap);
  memcpy(w->abs, r, root_len);
  w->abs[w->rel_off - 1] = '/';
  w->abs[w->rel_off] = '\0';

  ch_status result = CH_OK;
  int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  if(fd < 0) {
    result = CH_ERR_IO;
  } else {
    w->abs[root_len] = '\0'; /* log lines about the root name it plainly */
    result = walk_push(w, fd, 0, NULL);
    w->abs[w->rel_off - 1] = '/';
    if(!result) result = walk_run(w);
    if(!result) result = walk_deferred(w);
  }

  /* Cancelled or done: release whatever is left. */
  while(w->depth)
    walk_pop(w, false);
  for(size_t i = w->queue_head; i < w->queue_len; i++) {
    ch_free(w->queue[i].path);
    dir_unref(w->queue[i].parent);
  }
  if(stats) *stats = w->stats;
  ch_free(w->queue);
  ch_free(w->frames);
  ch_free(w->seen.slots);
  ch_free(w->abs);
  ch_ignore_free(w->ignore);
  close(root_fd);
  ch_free(w);
  return result;
}
