/*
 * resolve.c: import specs -> workspace files, one rule set per language.
 *
 * Everything here works on relative, '/'-separated paths and asks the file
 * set through its callbacks; nothing touches the disk. A path built from a
 * spec is normalised lexically (empty and "." components dropped, ".."
 * applied) and one that would climb above the root resolves to nothing.
 * Results collect in a small deduplicated list, most relevant first, and
 * ch_resolve_import copies the head of it to the caller.
 *
 * Where the language has a single answer (JS/TS, Rust, a C include next to
 * its includer) one file is returned; where the rules can only guess (a
 * suffix match, a Python module found under several roots) every candidate
 * is returned, ranked by how many directories it shares with the importer,
 * then by depth, then by length and by path so the order never depends on
 * the file set's own order.
 */
#include "chorus/resolve.h"

#include <stdlib.h>
#include <string.h>

/* Longest spec or importer path considered; past it nothing resolves. No
 * real import is that long, and it bounds every path built here. */
#define SPEC_MAX 4096
/* Identifiers of the importer tried as class names for a Java wildcard. */
#define JAVA_IDENTS_MAX 512

/* ---- results ------------------------------------------------------------- */

typedef struct resolver {
  const ch_fileset *fs;
  const ch_record *from;
  char *path;    /* the importer's path, normalised; owned */
  char *dir;     /* its directory, "" at the root; owned */
  uint32_t *ids; /* found so far, most relevant first, no duplicates */
  size_t n, cap;
} resolver;

static void add_id(resolver *self, uint32_t id) {
  for(size_t i = 0; i < self->n; i++)
    if(self->ids[i] == id) return;
  if(self->n == self->cap) {
    self->cap = self->cap ? self->cap * 2 : 8;
    self->ids = ch_realloc(self->ids, self->cap * sizeof(*self->ids));
  }
  self->ids[self->n++] = id;
}

static bool lookup(resolver *self, const char *path, uint32_t *id) {
  return self->fs->lookup && path[0] &&
         self->fs->lookup(self->fs->self, path, id);
}

static bool exists(resolver *self, const char *path) {
  uint32_t id;
  return lookup(self, path, &id);
}

/* Adds path when it is a file of the set; true when it is. */
static bool try_file(resolver *self, const char *path) {
  uint32_t id;
  if(!lookup(self, path, &id)) return false;
  add_id(self, id);
  return true;
}

/* ---- paths --------------------------------------------------------------- */

/* Appends the components of s to out[0..*len), dropping empty and "."
 * components and applying "..". A ".." with nothing left to pop climbs
 * above the start: counted in *ups when ups is not NULL, else a failure.
 * out must have room for strlen(s) + 1 more bytes. */
static bool push_path(char *out, size_t *len, const char *s, size_t *ups) {
  const char *p = s;
  while(*p) {
    const char *e = p;
    while(*e && *e != '/')
      e++;
    size_t seg = (size_t)(e - p);
    if(seg == 0 || (seg == 1 && p[0] == '.')) {
      /* nothing */
    } else if(seg == 2 && p[0] == '.' && p[1] == '.') {
      if(*len == 0) {
        if(!ups) return false;
        (*ups)++;
      } else {
        size_t k = *len;
        while(k > 0 && out[k - 1] != '/')
          k--;
        *len = k ? k - 1 : 0;
      }
    } else {
      if(*len) out[(*len)++] = '/';
      memcpy(out + *len, p, seg);
      *len += seg;
    }
    p = *e ? e + 1 : e;
  }
  return true;
}

/* "base/rel" normalised, or NULL when it climbs above the root. The caller
 * frees it with ch_free. */
static char *path_join(const char *base, const char *rel) {
  char *out = ch_malloc(strlen(base) + strlen(rel) + 2);
  size_t len = 0;
  if(!push_path(out, &len, base, NULL) || !push_path(out, &len, rel, NULL)) {
    ch_free(out);
    return NULL;
  }
  out[len] = 0;
  return out;
}

/* rel normalised on its own; leading ".." components are counted in *ups
 * instead of failing. The caller frees it with ch_free. */
static char *path_norm_rel(const char *rel, size_t *ups) {
  char *out = ch_malloc(strlen(rel) + 1);
  size_t len = 0;
  *ups = 0;
  push_path(out, &len, rel, ups);
  out[len] = 0;
  return out;
}

/* "dir/rest" without normalising (both parts already are). */
static char *path_cat(const char *dir, const char *rest) {
  if(!dir[0]) return ch_strdup(rest);
  if(!rest[0]) return ch_strdup(dir);
  return ch_strdupf("%s/%s", dir, rest);
}

/* Cuts the last component off dir in place; false when dir is "". */
static bool path_up(char *dir) {
  if(!dir[0]) return false;
  char *slash = strrchr(dir, '/');
  if(slash)
    *slash = 0;
  else
    dir[0] = 0;
  return true;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* Directories above a file: the number of '/' in its path. */
static size_t dir_depth(const char *path) {
  size_t n = 0;
  for(; *path; path++)
    n += *path == '/';
  return n;
}

/* Leading directories the file at path shares with directory dir. */
static size_t shared_dirs(const char *path, const char *dir) {
  const char *slash = strrchr(path, '/');
  size_t plen = slash ? (size_t)(slash - path) : 0;
  size_t dlen = strlen(dir), shared = 0, i = 0;
  while(i < plen && i < dlen) {
    size_t a = i, b = i;
    while(a < plen && path[a] != '/')
      a++;
    while(b < dlen && dir[b] != '/')
      b++;
    if(a != b || memcmp(path + i, dir + i, a - i) != 0) break;
    shared++;
    i = a + 1;
  }
  return shared;
}

/* ---- string lists -------------------------------------------------------- */

typedef struct strv {
  char **v;
  size_t n, cap;
} strv;

static void strv_push(strv *self, char *s /* taken */) {
  if(self->n == self->cap) {
    self->cap = self->cap ? self->cap * 2 : 8;
    self->v = ch_realloc(self->v, self->cap * sizeof(*self->v));
  }
  self->v[self->n++] = s;
}

static void strv_release(strv *self) {
  for(size_t i = 0; i < self->n; i++)
    ch_free(self->v[i]);
  ch_free(self->v);
  memset(self, 0, sizeof(*self));
}

/* Splits s at every sep into out. False (out emptied) when a piece is
 * empty or holds a '/' or a '\\', which no module name can: that keeps a
 * spec from smuggling a path through a dotted name. */
static bool strv_split(strv *out, const char *s, const char *sep) {
  size_t lsep = strlen(sep);
  const char *p = s;
  for(;;) {
    const char *e = strstr(p, sep);
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if(len == 0 || memchr(p, '/', len) || memchr(p, '\\', len)) {
      strv_release(out);
      return false;
    }
    strv_push(out, ch_strndup(p, len));
    if(!e) return true;
    p = e + lsep;
  }
}

/* v[from..to) joined with sep. The caller frees it with ch_free. */
static char *strv_join(const strv *v, size_t from, size_t to, const char *sep) {
  ch_buf b;
  ch_buf_init(&b, SIZE_MAX / 2);
  for(size_t i = from; i < to; i++) {
    if(i > from) ch_buf_append_str(&b, sep);
    ch_buf_append_str(&b, v->v[i]);
  }
  return ch_buf_detach(&b, NULL);
}

/* The imported names, comma-separated as the record keeps them. Each is
 * trimmed and anything after its first blank (" as alias") dropped;
 * parentheses and braces around a list are ignored. */
static void split_names(strv *out, const char *names) {
  const char *p = names;
  while(*p) {
    while(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '(' ||
          *p == '{')
      p++;
    const char *e = p;
    while(*e && *e != ',' && *e != ' ' && *e != '\t' && *e != '\r' &&
          *e != '\n' && *e != ')' && *e != '}')
      e++;
    if(e > p) strv_push(out, ch_strndup(p, (size_t)(e - p)));
    while(*e && *e != ',')
      e++;
    p = *e ? e + 1 : e;
  }
}

/* The importer's directory and each one above it, nearest first, the root
 * ("") last. */
static void ancestors(strv *out, const char *dir) {
  char *d = ch_strdup(dir);
  do
    strv_push(out, ch_strdup(d));
  while(path_up(d));
  ch_free(d);
}

/* ---- candidate lists ----------------------------------------------------- */

typedef struct cand {
  uint32_t id;
  char *path;    /* owned */
  size_t shared; /* directories in common with the importer's */
  size_t depth;  /* directories above the file */
} cand;

typedef struct cands {
  cand *v;
  size_t n, cap;
  const char *near; /* the importer's directory; borrowed */
} cands;

static void cand_push(uint32_t id, const char *path, void *userdata) {
  cands *c = userdata;
  if(!path) return;
  if(c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 8;
    c->v = ch_realloc(c->v, c->cap * sizeof(*c->v));
  }
  cand *x = &c->v[c->n++];
  x->id = id;
  x->path = ch_strdup(path);
  x->shared = shared_dirs(path, c->near ? c->near : "");
  x->depth = dir_depth(path);
}

static void cands_release(cands *c) {
  for(size_t i = 0; i < c->n; i++)
    ch_free(c->v[i].path);
  ch_free(c->v);
  c->v = NULL;
  c->n = c->cap = 0;
}

/* Nearest to the importer first: most shared directories, then shallowest,
 * then shortest, then by path. */
static int cand_rank(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if(a->shared != b->shared) return a->shared > b->shared ? -1 : 1;
  if(a->depth != b->depth) return a->depth < b->depth ? -1 : 1;
  size_t la = strlen(a->path), lb = strlen(b->path);
  if(la != lb) return la < lb ? -1 : 1;
  return strcmp(a->path, b->path);
}

static int cand_by_path(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  return strcmp(a->path, b->path);
}

static void cands_sort(cands *c, int (*cmp)(const void *, const void *)) {
  if(c->n > 1) qsort(c->v, c->n, sizeof(*c->v), cmp);
}

static void by_suffix(resolver *self, const char *suffix, cands *c) {
  if(self->fs->by_suffix && suffix[0])
    self->fs->by_suffix(self->fs->self, suffix, cand_push, c);
}

static void in_dir(resolver *self, const char *dir, cands *c) {
  if(self->fs->in_dir) self->fs->in_dir(self->fs->self, dir, cand_push, c);
}

/* Keeps the candidates whose base name ends with ext and does not end with
 * skip (may be NULL) nor start with one of the characters of hidden. */
static void cands_filter(cands *c, const char *ext, const char *skip,
                         const char *hidden) {
  size_t k = 0;
  for(size_t i = 0; i < c->n; i++) {
    const char *name = base_name(c->v[i].path);
    bool keep = ends_with(name, ext) && strlen(name) > strlen(ext) &&
                !(skip && ends_with(name, skip)) &&
                !(hidden && strchr(hidden, name[0]));
    if(keep)
      c->v[k++] = c->v[i];
    else
      ch_free(c->v[i].path);
  }
  c->n = k;
}

static void cands_add(resolver *self, const cands *c) {
  for(size_t i = 0; i < c->n; i++)
    add_id(self, c->v[i].id);
}

/* ---- C and C++ ----------------------------------------------------------- */

/* "x/y.h" next to the includer wins outright, as it does for the compiler.
 * Otherwise every file whose path ends with the spec is a candidate, since
 * any directory may be on the include path. A spec that starts with ".."
 * after normalising can only be reached from an include directory at least
 * that deep, so a candidate needs that many directories above it. */
static void resolve_c(resolver *self, const char *spec, bool local) {
  if(!spec[0] || spec[0] == '/') return;
  if(local) {
    char *p = path_join(self->dir, spec);
    bool hit = p && try_file(self, p);
    ch_free(p);
    if(hit) return;
  }
  size_t ups;
  char *rest = path_norm_rel(spec, &ups);
  if(rest[0]) {
    cands c = {.near = self->dir};
    by_suffix(self, rest, &c);
    cands_sort(&c, cand_rank);
    size_t need = dir_depth(rest) + ups;
    for(size_t i = 0; i < c.n; i++)
      if(c.v[i].depth >= need) add_id(self, c.v[i].id);
    cands_release(&c);
  }
  ch_free(rest);
}

/* ---- Python -------------------------------------------------------------- */

/* What turns a module path a/b into the files that may hold it, in the
 * order they are returned. An empty module path (the package a relative
 * import starts from) has only the __init__ forms. */
static const char *const py_forms[] = {".py", "/__init__.py", ".pyi",
                                       "/__init__.pyi"};

static char *py_form(const char *base, const char *form) {
  if(form[0] == '/')
    return base[0] ? ch_strdupf("%s%s", base, form) : ch_strdup(form + 1);
  return base[0] ? ch_strdupf("%s%s", base, form) : NULL;
}

/* Adds the files of module mod under root; true when there is one. */
static bool py_under(resolver *self, const char *root, const char *mod) {
  char *base = path_cat(root, mod);
  bool found = false;
  for(size_t i = 0; i < CH_ARRAY_LEN(py_forms); i++) {
    char *p = py_form(base, py_forms[i]);
    if(p) found |= try_file(self, p);
    ch_free(p);
  }
  ch_free(base);
  return found;
}

/* Adds every file anywhere that may hold module mod, nearest first. */
static bool py_suffix(resolver *self, const char *mod) {
  if(!mod[0]) return false;
  cands c = {.near = self->dir};
  for(size_t i = 0; i < CH_ARRAY_LEN(py_forms); i++) {
    char *suffix = py_form(mod, py_forms[i]);
    by_suffix(self, suffix, &c);
    ch_free(suffix);
  }
  cands_sort(&c, cand_rank);
  cands_add(self, &c);
  bool found = c.n > 0;
  cands_release(&c);
  return found;
}

/* Module mod with the imported names, under each of roots in turn. A name
 * that is a submodule (`from a import b` with a/b.py) resolves to it; the
 * module itself is added only when some name is not a submodule (or there
 * are no names), after the submodules. When nothing resolves under the
 * roots and may_suffix, the same is tried by suffix anywhere. */
static void py_resolve(resolver *self, const strv *roots, const char *mod,
                       const strv *names, bool may_suffix) {
  bool *found = ch_calloc(names->n ? names->n : 1, sizeof(bool));
  bool any = false;
  for(int pass = 0; pass < 2 && !any; pass++) {
    if(pass == 1 && !may_suffix) break;
    for(size_t j = 0; j < names->n; j++) {
      if(strcmp(names->v[j], "*") == 0 || strchr(names->v[j], '.')) continue;
      char *sub = path_cat(mod, names->v[j]);
      if(pass == 0) {
        for(size_t i = 0; i < roots->n; i++)
          found[j] |= py_under(self, roots->v[i], sub);
      } else {
        found[j] = py_suffix(self, sub);
      }
      any |= found[j];
      ch_free(sub);
    }
    bool need_module = names->n == 0;
    for(size_t j = 0; j < names->n; j++)
      need_module |= !found[j];
    if(!need_module) break;
    if(pass == 0) {
      for(size_t i = 0; i < roots->n; i++)
        any |= py_under(self, roots->v[i], mod);
    } else {
      any |= py_suffix(self, mod);
    }
  }
  ch_free(found);
}

/* `import a.b` and `from a.b import c` (spec "a.b") look under the
 * importer's directory and each one above it, nearest first, so that a
 * src/ layout or a script's own directory works without configuration;
 * then by suffix anywhere. Relative specs ("." the importer's package,
 * ".." its parent, "..p" a module of the parent) look only there. */
static void resolve_python(resolver *self, const char *spec,
                           const char *names_str) {
  size_t dots = strspn(spec, ".");
  const char *rest = spec + dots;
  strv parts = {0}, names = {0}, roots = {0};
  char *mod = NULL;
  if(rest[0]) {
    if(!strv_split(&parts, rest, ".")) goto cleanup;
    mod = strv_join(&parts, 0, parts.n, "/");
  } else {
    if(!dots) goto cleanup;
    mod = ch_strdup("");
  }
  split_names(&names, names_str);
  for(size_t i = 0; i < names.n; i++)
    if(strchr(names.v[i], '/') || strchr(names.v[i], '\\')) goto cleanup;
  if(dots) {
    char *base = ch_strdup(self->dir);
    for(size_t i = 1; i < dots; i++) {
      if(!path_up(base)) {
        ch_free(base);
        goto cleanup;
      }
    }
    strv_push(&roots, base);
    py_resolve(self, &roots, mod, &names, false);
  } else {
    ancestors(&roots, self->dir);
    py_resolve(self, &roots, mod, &names, true);
  }
cleanup:
  ch_free(mod);
  strv_release(&parts);
  strv_release(&names);
  strv_release(&roots);
}

/* ---- JavaScript and TypeScript ------------------------------------------- */

static const char *const js_exts[] = {".ts",  ".tsx", ".d.ts", ".js", ".jsx",
                                      ".mjs", ".cjs", ".mts",  ".cts"};

/* TypeScript's ESM convention: the spec names the emitted .js file, the
 * workspace holds the source. */
static const struct {
  const char *written, *source;
} js_swaps[] = {
    {".js", ".ts"},   {".js", ".tsx"},    {".js", ".d.ts"}, {".jsx", ".tsx"},
    {".mjs", ".mts"}, {".mjs", ".d.mts"}, {".cjs", ".cts"}, {".cjs", ".d.cts"},
};

/* The first of: the exact file, a .js spec swapped to its TS source, the
 * path with each extension, the directory's index file with each. A spec
 * that names a directory ("./", ".", "..") skips the file forms. */
static bool js_first(resolver *self, const char *p, bool dir_only) {
  if(!dir_only && try_file(self, p)) return true;
  bool hit = false;
  size_t len = strlen(p);
  for(size_t i = 0; !dir_only && !hit && p[0] && i < CH_ARRAY_LEN(js_swaps);
      i++) {
    if(!ends_with(p, js_swaps[i].written)) continue;
    char *q = ch_strdupf("%.*s%s", (int)(len - strlen(js_swaps[i].written)), p,
                         js_swaps[i].source);
    hit = try_file(self, q);
    ch_free(q);
  }
  for(size_t i = 0; !dir_only && !hit && p[0] && i < CH_ARRAY_LEN(js_exts);
      i++) {
    char *q = ch_strdupf("%s%s", p, js_exts[i]);
    hit = try_file(self, q);
    ch_free(q);
  }
  for(size_t i = 0; !hit && i < CH_ARRAY_LEN(js_exts); i++) {
    char *index = ch_strdupf("index%s", js_exts[i]);
    char *q = path_cat(p, index);
    hit = try_file(self, q);
    ch_free(q);
    ch_free(index);
  }
  return hit;
}

/* Only paths resolve: "./x", "../x", "." and ".." from the importer's
 * directory, "/x" from the root. Bare names are packages in node_modules,
 * which is not indexed. */
static void resolve_js(resolver *self, const char *spec) {
  bool rooted = spec[0] == '/';
  bool relative = strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0 ||
                  strncmp(spec, "./", 2) == 0 || strncmp(spec, "../", 3) == 0;
  if(!rooted && !relative) return;
  const char *last = base_name(spec);
  bool dir_only = !last[0] || strcmp(last, ".") == 0 || strcmp(last, "..") == 0;
  char *p = path_join(rooted ? "" : self->dir, spec);
  if(p) js_first(self, p, dir_only);
  ch_free(p);
}

/* ---- Go ------------------------------------------------------------------ */

/* The module path of go.mod text: the argument of its `module` directive,
 * quoted or not, comments dropped. NULL when there is none. */
static char *go_module_path(const char *text) {
  const char *p = text;
  if(strncmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  while(*p) {
    const char *line_end = strchr(p, '\n');
    if(!line_end) line_end = p + strlen(p);
    const char *q = p;
    while(q < line_end && (*q == ' ' || *q == '\t'))
      q++;
    if(line_end - q > 6 && memcmp(q, "module", 6) == 0 &&
       (q[6] == ' ' || q[6] == '\t' || q[6] == '"' || q[6] == '`')) {
      q += 6;
      while(q < line_end && (*q == ' ' || *q == '\t'))
        q++;
      const char *start = q, *end;
      if(q < line_end && (*q == '"' || *q == '`')) {
        char quote = *q;
        start = ++q;
        while(q < line_end && *q != quote)
          q++;
        if(q == line_end) return NULL;
        end = q;
      } else {
        while(q < line_end && *q != ' ' && *q != '\t' && *q != '\r' &&
              !(q[0] == '/' && q + 1 < line_end && q[1] == '/'))
          q++;
        end = q;
      }
      return end > start ? ch_strndup(start, (size_t)(end - start)) : NULL;
    }
    p = *line_end ? line_end + 1 : line_end;
  }
  return NULL;
}

/* The .go files of dir, tests and files the go tool ignores left out, by
 * path. True when there is one. */
static bool go_package(resolver *self, const char *dir) {
  cands c = {.near = self->dir};
  in_dir(self, dir, &c);
  cands_filter(&c, ".go", "_test.go", "._");
  cands_sort(&c, cand_by_path);
  cands_add(self, &c);
  bool found = c.n > 0;
  cands_release(&c);
  return found;
}

/* The nearest go.mod above the importer names the module; an import path
 * inside it is a directory relative to that go.mod. A path outside it may
 * be vendored (vendor/<path> next to go.mod); anything else is the
 * standard library or a dependency and stays unresolved. */
static void resolve_go(resolver *self, const char *spec) {
  strv parts = {0};
  if(!strv_split(&parts, spec, "/")) return;
  bool clean = true;
  for(size_t i = 0; i < parts.n; i++)
    clean &= strcmp(parts.v[i], ".") != 0 && strcmp(parts.v[i], "..") != 0;
  strv_release(&parts);
  if(!clean) return;

  char *d = ch_strdup(self->dir), *module = NULL;
  bool found = false;
  do {
    /* go.mod is not a source file, so the index may not list it: ask
     * read(), which answers for any file of the workspace. */
    char *gomod = path_cat(d, "go.mod");
    char *text = self->fs->read ? self->fs->read(self->fs->self, gomod) : NULL;
    if(text || exists(self, gomod)) {
      found = true;
      if(text) module = go_module_path(text);
    }
    ch_free(text);
    ch_free(gomod);
  } while(!found && path_up(d));

  if(found) {
    size_t ml = module ? strlen(module) : 0;
    char *pkg;
    if(ml && strncmp(spec, module, ml) == 0 &&
       (spec[ml] == 0 || spec[ml] == '/')) {
      pkg = path_join(d, spec + ml);
    } else {
      char *vendor = path_cat(d, "vendor");
      pkg = path_join(vendor, spec);
      ch_free(vendor);
    }
    if(pkg) go_package(self, pkg);
    ch_free(pkg);
  }
  ch_free(module);
  ch_free(d);
}

/* ---- Rust ---------------------------------------------------------------- */

/* The crate an importer belongs to. */
typedef struct rs_crate {
  char *dir;  /* the crate root's directory */
  char *root; /* the crate root file (lib.rs, main.rs, or the importer) */
  char *own;  /* the importer's module path, '/'-joined, "" at the root */
  bool importer_is_root; /* no lib.rs/main.rs above: the file is a root */
} rs_crate;

/* Files Cargo compiles as crate roots of their own: src/bin/x.rs,
 * tests/x.rs, examples/x.rs, benches/x.rs and build.rs. */
static bool rs_standalone_root(const char *path, const char *dir) {
  if(strcmp(base_name(path), "build.rs") == 0) return true;
  const char *parent = base_name(dir);
  return dir[0] &&
         (strcmp(parent, "bin") == 0 || strcmp(parent, "tests") == 0 ||
          strcmp(parent, "examples") == 0 || strcmp(parent, "benches") == 0);
}

/* The crate root is the nearest lib.rs or main.rs walking up from the
 * importer; without one the importer is its own root. */
static void rs_find_crate(resolver *self, rs_crate *c) {
  memset(c, 0, sizeof(*c));
  if(!rs_standalone_root(self->path, self->dir)) {
    char *d = ch_strdup(self->dir);
    do {
      static const char *const roots[] = {"lib.rs", "main.rs"};
      for(size_t i = 0; !c->root && i < CH_ARRAY_LEN(roots); i++) {
        char *p = path_cat(d, roots[i]);
        if(exists(self, p))
          c->root = p;
        else
          ch_free(p);
      }
    } while(!c->root && path_up(d));
    if(c->root) {
      c->dir = d;
    } else {
      ch_free(d);
    }
  }
  if(!c->root || strcmp(c->root, self->path) == 0) {
    ch_free(c->root);
    ch_free(c->dir);
    c->dir = ch_strdup(self->dir);
    c->root = ch_strdup(self->path);
    c->own = ch_strdup("");
    c->importer_is_root = true;
    return;
  }
  /* a/b.rs is module a::b, a/mod.rs is module a. */
  const char *rel = self->path + (c->dir[0] ? strlen(c->dir) + 1 : 0);
  size_t len = strlen(rel);
  if(ends_with(rel, ".rs")) len -= 3;
  char *own = ch_strndup(rel, len);
  if(strcmp(base_name(own), "mod") == 0) path_up(own);
  c->own = own;
}

static void rs_crate_release(rs_crate *c) {
  ch_free(c->dir);
  ch_free(c->root);
  ch_free(c->own);
}

/* Adds the file of module mod ("" is the crate root): mod.rs or mod/mod.rs
 * under the crate directory. True when there is one. */
static bool rs_module_file(resolver *self, const rs_crate *c, const char *mod) {
  if(!mod[0]) return try_file(self, c->root);
  char *base = path_cat(c->dir, mod);
  char *p = ch_strdupf("%s.rs", base);
  bool hit = try_file(self, p);
  ch_free(p);
  if(!hit) {
    p = ch_strdupf("%s/mod.rs", base);
    hit = try_file(self, p);
    ch_free(p);
  }
  ch_free(base);
  return hit;
}

/* The file of the longest module path base::segs[from..from+k) with k at
 * least min_k: `crate::p::q::R` tries p/q/R, then p/q, then p. */
static bool rs_longest(resolver *self, const rs_crate *c, const char *base,
                       const strv *segs, size_t from, size_t min_k) {
  for(size_t k = segs->n - from + 1; k-- > min_k;) {
    char *tail = strv_join(segs, from, from + k, "/");
    char *mod = path_cat(base, tail);
    bool hit = rs_module_file(self, c, mod);
    ch_free(mod);
    ch_free(tail);
    if(hit) return true;
  }
  return false;
}

/* One `use` path, already split at "::". */
static bool rs_use_path(resolver *self, const rs_crate *c, const strv *segs) {
  if(segs->n == 0) return false;
  const char *first = segs->v[0];
  if(strcmp(first, "crate") == 0) return rs_longest(self, c, "", segs, 1, 0);
  if(strcmp(first, "self") == 0) return rs_longest(self, c, c->own, segs, 1, 0);
  if(strcmp(first, "super") == 0) {
    char *base = ch_strdup(c->own);
    size_t i = 0;
    bool ok = true;
    while(ok && i < segs->n && strcmp(segs->v[i], "super") == 0) {
      ok = path_up(base);
      i++;
    }
    bool hit = ok && rs_longest(self, c, base, segs, i, 0);
    ch_free(base);
    return hit;
  }
  static const char *const external[] = {"std", "core", "alloc", "proc_macro",
                                         "test"};
  for(size_t i = 0; i < CH_ARRAY_LEN(external); i++)
    if(strcmp(first, external[i]) == 0) return false;
  /* A bare first segment is another crate, unless it names a module in
   * scope: one of the importer's own (2018 uniform paths) or of the crate
   * root (2015 paths). Either way the first segment must be a module. */
  return rs_longest(self, c, c->own, segs, 0, 1) ||
         rs_longest(self, c, "", segs, 0, 1);
}

static bool rs_ident(const char *s) {
  if(!s[0] || (s[0] >= '0' && s[0] <= '9')) return false;
  for(; *s; s++)
    if(!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
         (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* `mod x;` in a/b.rs declares a/b/x.rs or a/b/x/mod.rs; in a/mod.rs,
 * a/lib.rs or a/main.rs (and in a file that is a crate root of its own) it
 * declares a/x.rs or a/x/mod.rs. */
static void rs_mod_decl(resolver *self, const char *name) {
  rs_crate c;
  rs_find_crate(self, &c);
  const char *file = base_name(self->path);
  bool owns_dir = strcmp(file, "mod.rs") == 0 || strcmp(file, "lib.rs") == 0 ||
                  strcmp(file, "main.rs") == 0;
  size_t len = strlen(self->path);
  if(ends_with(self->path, ".rs")) len -= 3;
  char *stem = ch_strndup(self->path, len);
  /* A root by position only (tests/x.rs) may still be a module that
   * another root declares, so both places are tried, its own first. */
  const char *dirs[2] = {owns_dir ? self->dir : stem, NULL};
  if(!owns_dir && c.importer_is_root) {
    dirs[0] = self->dir;
    dirs[1] = stem;
  }
  bool hit = false;
  for(size_t i = 0; !hit && i < 2 && dirs[i]; i++) {
    char *base = path_cat(dirs[i], name);
    char *p = ch_strdupf("%s.rs", base);
    hit = try_file(self, p);
    ch_free(p);
    if(!hit) {
      p = ch_strdupf("%s/mod.rs", base);
      hit = try_file(self, p);
      ch_free(p);
    }
    ch_free(base);
  }
  ch_free(stem);
  rs_crate_release(&c);
}

/* Deepest use-tree nesting expanded; past it the import is ignored. */
#define RS_TREE_DEPTH 16

static bool rs_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *rs_path_cat(const char *prefix, const char *s, size_t n) {
  if(!prefix[0]) return ch_strndup(s, n);
  if(!n) return ch_strdup(prefix);
  return ch_strdupf("%s::%.*s", prefix, (int)n, s);
}

/* Expands the use tree s[0..n) (items separated by top-level commas, each
 * a path optionally ending in a {group}) under prefix. Every leaf path goes
 * to leaves, in order; "self" and "*" stand for the prefix itself; an alias
 * (" as x") is dropped. Every group's own path goes to groups, inner groups
 * first. False for an unbalanced or too deeply nested tree. */
static bool rs_expand(const char *s, size_t n, const char *prefix, strv *leaves,
                      strv *groups, int depth) {
  if(depth > RS_TREE_DEPTH) return false;
  size_t i = 0;
  while(i <= n) {
    /* One item: up to the next comma outside braces. */
    size_t start = i, open = SIZE_MAX;
    int level = 0;
    while(i < n && !(s[i] == ',' && level == 0)) {
      if(s[i] == '{' && level++ == 0 && open == SIZE_MAX) open = i;
      if(s[i] == '}' && --level < 0) return false;
      i++;
    }
    if(level != 0) return false;
    size_t end = i;
    while(start < end && rs_blank(s[start]))
      start++;
    while(end > start && rs_blank(s[end - 1]))
      end--;
    if(open != SIZE_MAX) {
      if(s[end - 1] != '}') return false;
      size_t head = open;
      while(head > start && rs_blank(s[head - 1]))
        head--;
      if(head - start >= 2 && s[head - 1] == ':' && s[head - 2] == ':')
        head -= 2;
      char *group = rs_path_cat(prefix, s + start, head - start);
      bool ok = rs_expand(s + open + 1, end - 1 - (open + 1), group, leaves,
                          groups, depth + 1);
      if(ok)
        strv_push(groups, group);
      else
        ch_free(group);
      if(!ok) return false;
    } else if(end > start) {
      size_t cut = start;
      while(cut < end && !rs_blank(s[cut]))
        cut++;
      bool own = (cut - start == 4 && memcmp(s + start, "self", 4) == 0) ||
                 (cut - start == 1 && s[start] == '*');
      if(own && !prefix[0]) return false;
      strv_push(leaves, own ? ch_strdup(prefix)
                            : rs_path_cat(prefix, s + start, cut - start));
    }
    i++;
  }
  return true;
}

/* One `use` path as written ("crate::a::b", "::x", "a::*"); false when it
 * does not resolve or is malformed. */
static bool rs_use_text(resolver *self, const rs_crate *c, const char *path) {
  if(strncmp(path, "::", 2) == 0) path += 2;
  size_t len = strlen(path);
  if(ends_with(path, "::*")) len -= 3;
  char *p = ch_strndup(path, len);
  strv segs = {0};
  bool ok = p[0] && strv_split(&segs, p, "::");
  for(size_t i = 0; ok && i < segs.n; i++)
    ok = rs_ident(segs.v[i]);
  bool hit = ok && rs_use_path(self, c, &segs);
  strv_release(&segs);
  ch_free(p);
  return hit;
}

/* `use` paths. A use list (spec "crate::a" with names "b,c", or written
 * "crate::{a::{b, c}, d}") tries each full path (crate::a::b), then each
 * list's own path (crate::a, then crate), and returns every file found. */
static void resolve_rust(resolver *self, const char *spec, const char *names,
                         ch_import_kind kind) {
  if(kind == CH_IMPORT_RELATIVE && rs_ident(spec) &&
     strcmp(spec, "crate") != 0 && strcmp(spec, "self") != 0 &&
     strcmp(spec, "super") != 0) {
    rs_mod_decl(self, spec);
    return;
  }
  char *tree = names[0] && !strchr(spec, '{')
                   ? ch_strdupf("%s::{%s}", spec, names)
                   : ch_strdup(spec);
  strv leaves = {0}, groups = {0};
  if(rs_expand(tree, strlen(tree), "", &leaves, &groups, 0)) {
    rs_crate c;
    rs_find_crate(self, &c);
    for(size_t i = 0; i < leaves.n; i++)
      rs_use_text(self, &c, leaves.v[i]);
    for(size_t i = 0; i < groups.n; i++)
      rs_use_text(self, &c, groups.v[i]);
    rs_crate_release(&c);
  }
  strv_release(&leaves);
  strv_release(&groups);
  ch_free(tree);
}

/* ---- Java ---------------------------------------------------------------- */

/* a.b.C -> files ending with a/b/C.java, nearest first. When none exists
 * the last segment (a static member, then a nested class) is dropped, up to
 * twice, keeping at least a package and a class. */
static bool java_class(resolver *self, const strv *parts) {
  for(size_t keep = parts->n; keep >= 1 && keep + 2 >= parts->n; keep--) {
    if(keep < parts->n && keep < 2) break;
    char *stem = strv_join(parts, 0, keep, "/");
    char *suffix = ch_strdupf("%s.java", stem);
    cands c = {.near = self->dir};
    by_suffix(self, suffix, &c);
    cands_sort(&c, cand_rank);
    cands_add(self, &c);
    bool found = c.n > 0;
    cands_release(&c);
    ch_free(suffix);
    ch_free(stem);
    if(found) return true;
  }
  return false;
}

/* Adds the .java files of dir by path; true when there is one. */
static bool java_dir(resolver *self, const char *dir) {
  cands c = {.near = self->dir};
  in_dir(self, dir, &c);
  cands_filter(&c, ".java", NULL, NULL);
  cands_sort(&c, cand_by_path);
  cands_add(self, &c);
  bool found = c.n > 0;
  cands_release(&c);
  return found;
}

/* a.b.* -> the .java files of one directory ending with a/b. The file set
 * lists files, not directories, so the directory is found two ways: under
 * the importer's own directory or one above it (its source root is one of
 * them), nearest first; else from the class names the importer uses,
 * looking for a/b/Name.java anywhere and taking the directory with the
 * most of them (nearest on a tie). */
static bool java_package(resolver *self, const strv *parts) {
  char *pkg = strv_join(parts, 0, parts->n, "/");
  strv roots = {0};
  ancestors(&roots, self->dir);
  bool found = false;
  for(size_t i = 0; !found && i < roots.n; i++) {
    char *dir = path_cat(roots.v[i], pkg);
    found = java_dir(self, dir);
    ch_free(dir);
  }
  strv_release(&roots);

  const ch_record *from = self->from;
  cands hits = {.near = self->dir};
  for(size_t i = 0;
      !found && from->idents && i < from->nidents && i < JAVA_IDENTS_MAX; i++) {
    uint32_t at = from->idents[i];
    if(at >= from->pool_len || !memchr(from->pool + at, 0, from->pool_len - at))
      continue;
    const char *name = from->pool + at;
    if(!(name[0] >= 'A' && name[0] <= 'Z') || strchr(name, '/')) continue;
    char *suffix = ch_strdupf("%s/%s.java", pkg, name);
    by_suffix(self, suffix, &hits);
    ch_free(suffix);
  }
  if(!found && hits.n) {
    /* Directories are the hits' paths cut at the last '/'. */
    for(size_t i = 0; i < hits.n; i++) {
      char *slash = strrchr(hits.v[i].path, '/');
      if(slash) *slash = 0;
    }
    size_t best = 0, best_count = 0;
    for(size_t i = 0; i < hits.n; i++) {
      size_t count = 0;
      for(size_t j = 0; j < hits.n; j++)
        count += strcmp(hits.v[i].path, hits.v[j].path) == 0;
      if(count > best_count ||
         (count == best_count && cand_rank(&hits.v[i], &hits.v[best]) < 0)) {
        best = i;
        best_count = count;
      }
    }
    found = java_dir(self, hits.v[best].path);
  }
  cands_release(&hits);
  ch_free(pkg);
  return found;
}

static void resolve_java(resolver *self, const char *spec,
                         const char *names_str) {
  strv parts = {0}, names = {0};
  split_names(&names, names_str);
  if(!strv_split(&parts, spec, ".")) goto cleanup;
  bool wildcard = names.n == 1 && strcmp(names.v[0], "*") == 0;
  if(strcmp(parts.v[parts.n - 1], "*") == 0) {
    ch_free(parts.v[--parts.n]);
    wildcard = true;
  }
  for(size_t i = 0; i < parts.n; i++)
    if(strcmp(parts.v[i], "*") == 0) goto cleanup;
  if(parts.n == 0) goto cleanup;
  /* import static a.b.C.*; names no directory: it is C's members. */
  if(wildcard && java_package(self, &parts)) goto cleanup;
  java_class(self, &parts);
cleanup:
  strv_release(&parts);
  strv_release(&names);
}

/* ---- entry point --------------------------------------------------------- */

/* The pool string at `at` when it lies wholly inside the pool; "" for
 * CH_NONE; NULL for an offset that does not. */
static const char *pool_str(const ch_record *from, uint32_t at) {
  if(at == CH_NONE) return "";
  if(!from->pool || at >= from->pool_len ||
     !memchr(from->pool + at, 0, from->pool_len - at))
    return NULL;
  return from->pool + at;
}

size_t ch_resolve_import(const ch_fileset *files, const ch_record *from,
                         const ch_import *imp, uint32_t *out, size_t max) {
  if(!files || !from || !from->path || !imp) return 0;
  const ch_language *lang =
      from->lang ? from->lang : ch_syntax_by_path(from->path, NULL, 0);
  const char *spec = pool_str(from, imp->spec);
  const char *names = pool_str(from, imp->names);
  if(!lang || !spec || !names || !spec[0]) return 0;
  if(strlen(spec) > SPEC_MAX || strlen(names) > SPEC_MAX ||
     strlen(from->path) > SPEC_MAX)
    return 0;

  resolver r = {.fs = files, .from = from};
  r.path = path_join("", from->path);
  if(!r.path || !r.path[0]) {
    ch_free(r.path);
    return 0;
  }
  r.dir = ch_strdup(r.path);
  if(!strchr(r.dir, '/'))
    r.dir[0] = 0;
  else
    *strrchr(r.dir, '/') = 0;

  const char *name = lang->name;
  if(strcmp(name, "c") == 0 || strcmp(name, "cpp") == 0) {
    if(imp->kind == CH_IMPORT_INCLUDE_LOCAL ||
       imp->kind == CH_IMPORT_INCLUDE_SYSTEM)
      resolve_c(&r, spec, imp->kind == CH_IMPORT_INCLUDE_LOCAL);
  } else if(strcmp(name, "python") == 0) {
    resolve_python(&r, spec, names);
  } else if(strcmp(name, "javascript") == 0 ||
            strcmp(name, "typescript") == 0 || strcmp(name, "tsx") == 0) {
    resolve_js(&r, spec);
  } else if(strcmp(name, "go") == 0) {
    resolve_go(&r, spec);
  } else if(strcmp(name, "rust") == 0) {
    resolve_rust(&r, spec, names, imp->kind);
  } else if(strcmp(name, "java") == 0) {
    resolve_java(&r, spec, names);
  }

  size_t total = r.n;
  if(out)
    for(size_t i = 0; i < total && i < max; i++)
      out[i] = r.ids[i];
  ch_free(r.ids);
  ch_free(r.dir);
  ch_free(r.path);
  return total;
}
