/* syntax.c: the language registry, the grammars folder and query loading.
 * The public contract is in chorus/syntax.h. */
#include "chorus/syntax.h"

#include "chorus_build.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The grammars compiled into grammars_lib (grammars/meson.build). */
const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_cpp(void);
const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_javascript(void);
const TSLanguage *tree_sitter_typescript(void);
const TSLanguage *tree_sitter_tsx(void);
const TSLanguage *tree_sitter_go(void);
const TSLanguage *tree_sitter_rust(void);
const TSLanguage *tree_sitter_java(void);

/* A NULL-terminated list with static storage (a file-scope compound
 * literal). */
#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const empty_list[] = {NULL};

/* Queries typescript and tsx take from javascript first, as upstream's
 * tree-sitter-typescript/tree-sitter.json lists them. */
#define JS_INHERITED LIST("tags", "highlights", "locals", "injections")

/* The registry. The order is the one ch_syntax_at and --version show.
 * ".h" goes to c: a C++ header named .h still parses mostly fine with the
 * C grammar, while C code parsed as C++ trips over `new`, `class`, ... used
 * as identifiers. Languages whose tags.scm upstream already contains the
 * base patterns (cpp repeats c's) inherit only the queries that do not. */
static const ch_language languages[] = {
    {"c", LIST("c"), LIST("c", "h"), LIST("tcc"), tree_sitter_c,
     "tree-sitter-c", NULL, empty_list},
    {"cpp", LIST("cpp", "c++", "cuda-cpp", "cuda"),
     LIST("cc", "cpp", "cxx", "c++", "hpp", "hh", "hxx", "h++", "ipp", "tpp",
          "inl", "C", "H", "ino", "cu", "cuh"),
     empty_list, tree_sitter_cpp, "tree-sitter-cpp", "c", LIST("highlights")},
    {"python", LIST("python"), LIST("py", "pyi", "pyw"),
     LIST("python", "python2", "python3", "pypy", "pypy3"), tree_sitter_python,
     "tree-sitter-python", NULL, empty_list},
    /* The javascript grammar parses JSX too. "js" and "js-jsx" are what
     * Emacs' eglot derives from js-mode and js-jsx-mode. */
    {"javascript", LIST("javascript", "javascriptreact", "js", "jsx", "js-jsx"),
     LIST("js", "mjs", "cjs", "jsx"), LIST("node", "nodejs"),
     tree_sitter_javascript, "tree-sitter-javascript", NULL, empty_list},
    {"typescript", LIST("typescript", "ts"), LIST("ts", "mts", "cts"),
     LIST("deno", "ts-node", "tsx"), tree_sitter_typescript,
     "tree-sitter-typescript", "javascript", JS_INHERITED},
    {"tsx", LIST("typescriptreact", "tsx"), LIST("tsx"), empty_list,
     tree_sitter_tsx, "tree-sitter-typescript", "javascript", JS_INHERITED},
    {"go", LIST("go"), LIST("go"), empty_list, tree_sitter_go, "tree-sitter-go",
     NULL, empty_list},
    {"rust", LIST("rust"), LIST("rs"), LIST("rust-script"), tree_sitter_rust,
     "tree-sitter-rust", NULL, empty_list},
    /* Java runs single-file programs with a shebang (JEP 330). */
    {"java", LIST("java"), LIST("java"), LIST("java"), tree_sitter_java,
     "tree-sitter-java", NULL, empty_list},
};

/* Query files and their concatenation may not exceed this. */
#define QUERY_MAX ((size_t)4 << 20)
/* Inheritance chains are one step today; this bounds a mistake in the
 * table instead of recursing forever. */
#define INHERIT_DEPTH_MAX 3
/* Only this much of a shebang line is looked at. */
#define SHEBANG_MAX 256

/* ---- small string helpers ------------------------------------------------ */

static char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the NUL-terminated `word`, exactly or ignoring ASCII case. */
static bool word_eq(const char *s, size_t n, const char *word, bool nocase) {
  size_t i;
  for(i = 0; i < n; i++) {
    if(!word[i]) return false;
    if(nocase ? ascii_lower(s[i]) != ascii_lower(word[i]) : s[i] != word[i])
      return false;
  }
  return word[i] == 0;
}

static bool list_has(const char *const *list, const char *s, size_t n,
                     bool nocase) {
  for(; *list; list++)
    if(word_eq(s, n, *list, nocase)) return true;
  return false;
}

/* ---- the table ----------------------------------------------------------- */

size_t ch_syntax_count(void) { return CH_ARRAY_LEN(languages); }

const ch_language *ch_syntax_at(size_t index) {
  return index < CH_ARRAY_LEN(languages) ? &languages[index] : NULL;
}

const ch_language *ch_syntax_by_name(const char *name) {
  if(!name) return NULL;
  for(size_t i = 0; i < CH_ARRAY_LEN(languages); i++)
    if(word_eq(name, strlen(name), languages[i].name, true))
      return &languages[i];
  return NULL;
}

const ch_language *ch_syntax_by_language_id(const char *language_id) {
  if(!language_id) return NULL;
  size_t n = strlen(language_id);
  for(size_t i = 0; i < CH_ARRAY_LEN(languages); i++)
    if(list_has(languages[i].language_ids, language_id, n, true))
      return &languages[i];
  return NULL;
}

static const ch_language *by_extension(const char *ext, size_t n, bool nocase) {
  for(size_t i = 0; i < CH_ARRAY_LEN(languages); i++)
    if(list_has(languages[i].extensions, ext, n, nocase)) return &languages[i];
  return NULL;
}

const ch_language *ch_syntax_by_path(const char *path, const char *head,
                                     size_t len) {
  if(path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    /* ".bashrc" has no extension, "x." an empty one. */
    if(dot && dot != base && dot[1]) {
      const char *ext = dot + 1;
      size_t n = strlen(ext);
      const ch_language *lang = by_extension(ext, n, false);
      if(!lang) lang = by_extension(ext, n, true);
      if(lang) return lang;
    }
  }
  return head ? ch_syntax_by_shebang(head, len) : NULL;
}

/* ---- shebangs ------------------------------------------------------------ */

/* The next blank-separated word of [*p, end), or false at the end. */
static bool next_word(const char **p, const char *end, const char **word,
                      size_t *n) {
  const char *s = *p;
  while(s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
    s++;
  if(s == end) return false;
  const char *e = s;
  while(e < end && *e != ' ' && *e != '\t' && *e != '\r')
    e++;
  *word = s;
  *n = (size_t)(e - s);
  *p = e;
  return true;
}

/* Narrows s[0..n) to what follows its last '/'. */
static void basename_of(const char **s, size_t *n) {
  for(size_t i = *n; i > 0; i--) {
    if((*s)[i - 1] == '/') {
      *s += i;
      *n -= i;
      return;
    }
  }
}

static const ch_language *by_interpreter(const char *name, size_t n) {
  /* Quotes left over from `env -S "python3 -u"`. */
  while(n && (*name == '"' || *name == '\'')) {
    name++;
    n--;
  }
  basename_of(&name, &n);
  for(int pass = 0; pass < 2; pass++) {
    for(size_t i = 0; i < CH_ARRAY_LEN(languages); i++)
      if(list_has(languages[i].interpreters, name, n, false))
        return &languages[i];
    /* Second pass without a version suffix: python3.12, node18. */
    size_t stem = n;
    while(stem && ((name[stem - 1] >= '0' && name[stem - 1] <= '9') ||
                   name[stem - 1] == '.'))
      stem--;
    if(stem == 0 || stem == n) break;
    n = stem;
  }
  return NULL;
}

const ch_language *ch_syntax_by_shebang(const char *head, size_t len) {
  if(!head || len < 2 || head[0] != '#' || head[1] != '!') return NULL;
  const char *end = head + 2;
  const char *limit = head + CH_MIN(len, (size_t)SHEBANG_MAX);
  while(end < limit && *end != '\n' && *end != 0)
    end++;

  const char *p = head + 2, *word;
  size_t n;
  if(!next_word(&p, end, &word, &n)) return NULL;
  basename_of(&word, &n);
  if(!word_eq(word, n, "env", false)) return by_interpreter(word, n);

  /* /usr/bin/env [-i] [-u NAME] [-C DIR] [-S] [NAME=VALUE]... command */
  while(next_word(&p, end, &word, &n)) {
    if(word_eq(word, n, "-u", false) || word_eq(word, n, "--unset", false) ||
       word_eq(word, n, "-C", false) || word_eq(word, n, "--chdir", false) ||
       word_eq(word, n, "-P", false)) {
      const char *arg;
      size_t arg_n;
      if(!next_word(&p, end, &arg, &arg_n)) return NULL;
      continue;
    }
    if(n > 2 && word[0] == '-' && word[1] == 'S') /* -Spython3 */
      return by_interpreter(word + 2, n - 2);
    if(n > 15 && !memcmp(word, "--split-string=", 15))
      return by_interpreter(word + 15, n - 15);
    if(word[0] == '-') continue; /* -S, -i, --ignore-environment, -- ... */
    if(memchr(word, '=', n)) continue; /* NAME=VALUE */
    return by_interpreter(word, n);
  }
  return NULL;
}

/* ---- the grammars folder ------------------------------------------------- */

static pthread_once_t grammars_once = PTHREAD_ONCE_INIT;
/* Written once under grammars_once and never freed: it lives as long as
 * the process, like the table. */
static char *grammars_dir;

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A copy without trailing slashes (but "/" stays "/"). */
static char *dir_copy(const char *path) {
  size_t n = strlen(path);
  while(n > 1 && path[n - 1] == '/')
    n--;
  return ch_strndup(path, n);
}

/* <dir of the running binary>/../share/chorus/grammars, or NULL. */
static char *installed_grammars_dir(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n <= 0 || (size_t)n >= sizeof(exe) - 1) return NULL; /* or truncated */
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if(!slash) return NULL;
  *slash = 0;
  char *candidate = ch_strdupf("%s/../share/chorus/grammars", exe);
  char *real = realpath(candidate, NULL); /* malloc'ed by libc */
  char *result = NULL;
  if(real && is_dir(real)) result = ch_strdup(real);
  free(real);
  ch_free(candidate);
  return result;
}

static void find_grammars_dir(void) {
  const char *env = getenv("CHORUS_GRAMMARS_DIR");
  if(env && *env) {
    /* An explicit setting wins even when wrong: falling back silently
     * would load other queries than the user asked for. */
    if(!is_dir(env))
      ch_log_warn("CHORUS_GRAMMARS_DIR %s is not a directory", env);
    grammars_dir = dir_copy(env);
    ch_log_debug("grammars folder %s (from CHORUS_GRAMMARS_DIR)", grammars_dir);
    return;
  }
  grammars_dir = installed_grammars_dir();
  if(grammars_dir) {
    ch_log_debug("grammars folder %s (installed)", grammars_dir);
    return;
  }
  grammars_dir = dir_copy(CHORUS_GRAMMARS_DIR);
  ch_log_debug("grammars folder %s (build-time source tree)", grammars_dir);
}

const char *ch_syntax_grammars_dir(void) {
  pthread_once(&grammars_once, find_grammars_dir);
  return grammars_dir;
}

/* ---- reading queries ----------------------------------------------------- */

/* One file of a (possibly concatenated) query text, to map an error offset
 * back to the file it came from. */
typedef struct piece {
  char *path;   /* owned */
  size_t start; /* offset of its first byte in the text */
  size_t len;
} piece;

#define PIECES_MAX (INHERIT_DEPTH_MAX + 1)

typedef struct query_text {
  ch_buf buf;
  piece pieces[PIECES_MAX];
  size_t count;
} query_text;

static void query_text_init(query_text *self) {
  ch_buf_init(&self->buf, QUERY_MAX);
  self->count = 0;
}

static void query_text_release(query_text *self) {
  ch_buf_release(&self->buf);
  for(size_t i = 0; i < self->count; i++)
    ch_free(self->pieces[i].path);
  self->count = 0;
}

static bool valid_query_name(const char *name) {
  size_t n = 0;
  for(; name[n]; n++) {
    char c = name[n];
    if(!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-'))
      return false;
  }
  return n > 0 && n <= 64;
}

/* Appends the file at `path` (taking ownership of the string) as a new
 * piece. CH_ERR_NOT_FOUND when it does not exist; nothing is appended on
 * any error. */
static ch_status append_file(query_text *self, char *path) {
  ch_status result = CH_OK;
  size_t mark = self->buf.len, start, n;
  char chunk[8192];
  FILE *f = NULL;
  if(self->count == PIECES_MAX) { /* the depth bound makes this unreachable */
    result = CH_ERR_STATE;
    goto cleanup;
  }
  f = fopen(path, "rb");
  if(!f) {
    if(errno == ENOENT || errno == ENOTDIR) {
      result = CH_ERR_NOT_FOUND;
    } else {
      ch_log_error("cannot open query %s: %s", path, strerror(errno));
      result = CH_ERR_IO;
    }
    goto cleanup;
  }
  /* A newline between pieces, so a final comment without one does not
   * swallow the next file. */
  if(self->buf.len) result = ch_buf_append_char(&self->buf, '\n');
  start = self->buf.len;
  while(!result && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    result = ch_buf_append(&self->buf, chunk, n);
  if(result) {
    ch_log_error("query %s: more than %zu bytes with what precedes it", path,
                 QUERY_MAX);
    goto cleanup;
  }
  if(ferror(f)) {
    ch_log_error("cannot read query %s", path);
    result = CH_ERR_IO;
    goto cleanup;
  }
  self->pieces[self->count].path = path;
  self->pieces[self->count].start = start;
  self->pieces[self->count].len = self->buf.len - start;
  self->count++;
  path = NULL; /* the piece owns it now */
cleanup:
  if(f) fclose(f);
  if(result && self->buf.data) { /* drop a partial append */
    self->buf.len = mark;
    self->buf.data[mark] = 0;
  }
  ch_free(path);
  return result;
}

/* Upstream query `name` of `lang`, after the one it inherits. */
static ch_status append_upstream(query_text *self, const ch_language *lang,
                                 const char *name, const char *dir, int depth) {
  bool found = false;
  ch_status result;
  if(lang->inherits &&
     list_has(lang->inherited_queries, name, strlen(name), false)) {
    const ch_language *base = ch_syntax_by_name(lang->inherits);
    if(base && depth < INHERIT_DEPTH_MAX) {
      result = append_upstream(self, base, name, dir, depth + 1);
      if(result == CH_OK)
        found = true;
      else if(result != CH_ERR_NOT_FOUND)
        return result;
    }
  }
  result = append_file(self, ch_strdupf("%s/node_modules/%s/queries/%s.scm",
                                        dir, lang->package, name));
  if(result == CH_ERR_NOT_FOUND && found) result = CH_OK;
  return result;
}

/* The languages named by a first line "; inherits: a, b" of our own query
 * file, as a comma-separated list in out (empty when none). */
static void own_inherits(const char *path, char *out, size_t cap) {
  out[0] = 0;
  FILE *f = fopen(path, "rb");
  if(!f) return;
  char line[256];
  if(fgets(line, sizeof(line), f) &&
     strncmp(line, "; inherits:", 11) == 0) {
    size_t n = 0;
    for(const char *p = line + 11; *p && *p != '\n' && n + 1 < cap; p++)
      if(*p != ' ' && *p != '\t' && *p != '\r') out[n++] = *p;
    out[n] = 0;
  }
  fclose(f);
}

static ch_status load_query_depth(query_text *self, const ch_language *lang,
                                  const char *name, int depth);

/* Our own query of lang: the queries it inherits (our own files of other
 * languages, by "; inherits:"), then its own text. */
static ch_status append_own(query_text *self, const ch_language *lang,
                            const char *name, const char *dir, int depth) {
  char *path = ch_strdupf("%s/queries/%s/%s.scm", dir, lang->name, name);
  char list[128];
  own_inherits(path, list, sizeof(list));
  for(char *item = list; *item && depth < 4;) {
    char *comma = strchr(item, ',');
    if(comma) *comma = 0;
    const ch_language *base = ch_syntax_by_name(item);
    if(!base) {
      ch_log_warn("%s: inherits unknown language %s", path, item);
    } else {
      ch_status result = load_query_depth(self, base, name, depth + 1);
      if(result && result != CH_ERR_NOT_FOUND) {
        ch_free(path);
        return result;
      }
    }
    if(!comma) break;
    item = comma + 1;
  }
  return append_file(self, path); /* takes path */
}

static ch_status load_query(query_text *self, const ch_language *lang,
                            const char *name) {
  return load_query_depth(self, lang, name, 0);
}

static ch_status load_query_depth(query_text *self, const ch_language *lang,
                                  const char *name, int depth) {
  if(!lang || !name || !valid_query_name(name)) return CH_ERR_INVALID;
  const char *dir = ch_syntax_grammars_dir();
  ch_status result = append_own(self, lang, name, dir, depth);
  if(result != CH_ERR_NOT_FOUND) return result;
  result = append_upstream(self, lang, name, dir, 0);
  if(result == CH_ERR_NOT_FOUND)
    ch_log_debug("no %s query for %s in %s", name, lang->name, dir);
  return result;
}

char *ch_syntax_query_source(const ch_language *self, const char *name,
                             size_t *len, ch_status *error) {
  query_text text;
  query_text_init(&text);
  char *source = NULL;
  ch_status result = load_query(&text, self, name);
  if(!result) source = ch_buf_detach(&text.buf, len);
  query_text_release(&text);
  if(error) *error = result;
  return source;
}

/* ---- compiling queries --------------------------------------------------- */

static bool abi_supported(const ch_language *lang) {
  uint32_t abi = ts_language_version(lang->ts_language());
  return abi >= TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION &&
         abi <= TREE_SITTER_LANGUAGE_VERSION;
}

static ch_status check_abi(const ch_language *lang) {
  if(abi_supported(lang)) return CH_OK;
  ch_log_error("grammar %s has ABI %u; this tree-sitter runtime reads %d-%d",
               lang->name, ts_language_version(lang->ts_language()),
               TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
               TREE_SITTER_LANGUAGE_VERSION);
  return CH_ERR_STATE;
}

static const char *query_error_kind(TSQueryError type) {
  switch(type) {
  case TSQueryErrorNone: return "no error";
  case TSQueryErrorSyntax: return "syntax error";
  case TSQueryErrorNodeType: return "unknown node type";
  case TSQueryErrorField: return "unknown field";
  case TSQueryErrorCapture: return "unknown capture";
  case TSQueryErrorStructure: return "impossible pattern structure";
  case TSQueryErrorLanguage: return "incompatible grammar version";
  }
  return "unknown error";
}

/* Logs a ts_query_new failure at `offset` of `source`, naming the file,
 * line and column it falls in. */
static void log_query_error(const ch_language *lang, const char *name,
                            const char *source, size_t len, const piece *pieces,
                            size_t count, uint32_t offset, TSQueryError type) {
  size_t at = CH_MIN((size_t)offset, len);
  /* The last piece that starts at or before the offset; an offset on the
   * separator between two pieces belongs to the end of the first. */
  const piece *in = &pieces[0];
  for(size_t i = 1; i < count; i++)
    if(pieces[i].start <= at) in = &pieces[i];
  size_t rel = at >= in->start ? CH_MIN(at - in->start, in->len) : 0;
  const char *text = source + in->start;
  unsigned line = 1, column = 1;
  for(size_t i = 0; i < rel; i++) {
    if(text[i] == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  /* The token at the offset: enough to recognise a misspelled name. */
  size_t tok = 0;
  while(at + tok < len && tok < 48 &&
        !strchr(" \t\r\n()[]{}\":", source[at + tok]))
    tok++;
  if(tok == 0 && at < len) tok = 1;
  ch_log_error("%s query for %s does not compile: %s %s%.*s%s at %s:%u:%u "
               "(byte %zu)",
               name, lang->name, query_error_kind(type),
               tok ? "'" : "(at the end)", (int)tok, source + at,
               tok ? "'" : "", in->path, line, column, rel);
}

static TSQuery *compile(const ch_language *lang, const char *name,
                        const char *source, size_t len, const piece *pieces,
                        size_t count, ch_status *error) {
  TSQuery *query = NULL;
  ch_status result = check_abi(lang);
  if(result) goto cleanup;
  if(len > QUERY_MAX) {
    result = CH_ERR_TOO_LARGE;
    goto cleanup;
  }
  uint32_t offset = 0;
  TSQueryError type = TSQueryErrorNone;
  query =
      ts_query_new(lang->ts_language(), source, (uint32_t)len, &offset, &type);
  if(!query) {
    log_query_error(lang, name, source, len, pieces, count, offset, type);
    result = type == TSQueryErrorLanguage ? CH_ERR_STATE : CH_ERR_PARSE;
  }
cleanup:
  if(error) *error = result;
  return query;
}

TSQuery *ch_syntax_query_new(const ch_language *self, const char *name,
                             ch_status *error) {
  query_text text;
  query_text_init(&text);
  TSQuery *query = NULL;
  ch_status result = load_query(&text, self, name);
  if(result) {
    if(error) *error = result;
    goto cleanup;
  }
  query = compile(self, name, text.buf.data, text.buf.len, text.pieces,
                  text.count, error);
cleanup:
  query_text_release(&text);
  return query;
}

TSQuery *ch_syntax_query_compile(const ch_language *self, const char *name,
                                 const char *source, size_t len,
                                 const char *origin, ch_status *error) {
  if(!self || !source) {
    if(error) *error = CH_ERR_INVALID;
    return NULL;
  }
  /* compile() only reads the piece, so borrowing `origin` is safe. */
  piece whole = {(char *)(origin ? origin : "<inline>"), 0, len};
  return compile(self, name ? name : "inline", source, len, &whole, 1, error);
}

/* ---- parsing ------------------------------------------------------------- */

TSParser *ch_syntax_parser_new(const ch_language *self, ch_status *error) {
  TSParser *parser = NULL;
  ch_status result = self ? check_abi(self) : CH_ERR_INVALID;
  if(result) goto cleanup;
  parser = ts_parser_new();
  if(!ts_parser_set_language(parser, self->ts_language())) {
    /* check_abi agrees with the runtime, so this is not expected. */
    ch_log_error("tree-sitter refused the %s grammar", self->name);
    ts_parser_delete(parser);
    parser = NULL;
    result = CH_ERR_STATE;
  }
cleanup:
  if(error) *error = result;
  return parser;
}

/* ---- diagnostics --------------------------------------------------------- */

char *ch_syntax_versions(void) {
  ch_buf b;
  ch_buf_init(&b, 4096);
  ch_buf_append_str(&b, "grammars:");
  for(size_t i = 0; i < CH_ARRAY_LEN(languages); i++) {
    const ch_language *lang = &languages[i];
    ch_buf_appendf(&b, "%s %s %u%s", i ? "," : "", lang->name,
                   ts_language_version(lang->ts_language()),
                   abi_supported(lang) ? "" : " unsupported");
  }
  ch_buf_appendf(&b, " (tree-sitter runtime reads ABI %d-%d)",
                 TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
                 TREE_SITTER_LANGUAGE_VERSION);
  return ch_buf_detach(&b, NULL);
}
