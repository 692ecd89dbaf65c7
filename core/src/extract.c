/* extract.c: text -> ch_record, the extraction layer of chorus/index.h.
 *
 * One extraction is one parse plus three passes over the text or tree,
 * none of which allocates per node (growable arrays and the intern set are
 * kept in the extractor and reused by the next extraction):
 *
 *   1. line starts: one scan of the text (LF, CRLF and lone CR end lines,
 *      as LSP counts them). Every row and column of the record comes from
 *      these, not from tree-sitter's points (which count LF only), so spans
 *      and line_starts always agree.
 *   2. one walk of the tree with a TSTreeCursor: the token stream, the
 *      identifier leaves (counted in a per-extraction intern set that also
 *      dedupes the pool), the comments (and Rust attributes) with the tokens
 *      around them for doc comments, and "wrappers" (`export`, `const`,
 *      decorators, `template <...>`, Go's `type`/`var`/`const`) that widen a
 *      definition's range. A per-grammar table of symbol flags makes the
 *      per-node work one array lookup.
 *   3. one query: our grammars/queries/<lang>/defs.scm, upstream tags.scm
 *      and our imports.scm, concatenated and compiled as one query so the
 *      tree is traversed once (that halves the cost of running them apart);
 *      a pattern's index tells which file it came from. Patterns without a
 *      definition or import capture (upstream's references) are disabled,
 *      and so is upstream's @doc capture. Definition matches are
 *      deduplicated by name range: a defs.scm pattern wins over tags.scm,
 *      and within a file the earlier pattern wins, except that a variable,
 *      constant or field never wins over a more specific kind (an arrow
 *      function bound by `const` is a function). Predicates #eq?, #not-eq?,
 *      #match?, #not-match?, #any-of? and #not-any-of? are evaluated here
 *      (tree-sitter 0.20 does not); directives (#strip!, #select-adjacent!,
 *      #set!) are ignored.
 *
 * Query conventions (our own .scm files say the same at their top):
 *   @definition.<kind>  a definition node; <kind> is a ch_def_kind name, or
 *                       "impl" (below)
 *   @name               its name
 *   @name.declarator    C/C++: a declarator whose name is found by following
 *                       `declarator` fields (and the `name` of qualified
 *                       names, whose innermost scope becomes the owner); a
 *                       variable or field whose name sits directly in a
 *                       function_declarator becomes a function or method
 *   @owner              the type a method belongs to (Go receivers, C++
 *                       `A::f`); it becomes the container when this file
 *                       defines that type
 *   @import.<kind>      an import: local, system, module, relative, package,
 *                       or auto (python: relative when the spec starts with
 *                       a dot, else module; js/ts: relative when it starts
 *                       with . or /, else package)
 *   @spec               what it imports; several @spec captures span from
 *                       the first to the last. Quoted specs lose their
 *                       quotes (and <> of system includes), others their
 *                       whitespace.
 *   @name, @name.default ("default"), @name.star ("*")  imported names
 *   @use                Rust: a use tree, walked here
 *
 * Containers: the innermost enclosing definition that is a function,
 * method, class, struct, union, enum, interface, module, or type (a C
 * typedef of an anonymous struct holds its fields; a type-like definition
 * is never contained by a typedef, so in `typedef struct node {...}
 * node_t;` struct node has no container). Methods defined outside their
 * type get the type through @owner. Rust `impl X` blocks: when this file
 * defines a struct, enum, union or type alias X, the methods of the block
 * get X as their container and the block is not recorded; otherwise the
 * block is recorded as a CH_DEF_MODULE named X (name range: X in the impl
 * header, signature "impl Trait for X") and holds its methods. That keeps
 * the type of a method visible even when the type lives in another file.
 *
 * Signatures: from the start of the definition (including signature
 * wrappers such as `export`, `const`, `template <...>`, Go's `type`; not
 * Python decorators) to the start of its body: a `{` body, the `{` of a
 * Go struct or interface type, the `:` of a Python def or class, the body
 * of a function bound to a variable. Variables, constants, fields, type
 * aliases and definitions without a body keep their whole text (a C typedef
 * of a struct shows its body as "{ ... }"). Whitespace runs fold to one
 * space; a trailing `;` goes; at most CH_SIGNATURE_MAX bytes, cut on a
 * UTF-8 boundary.
 *
 * Doc comments: the comments right above the definition (or above the Rust
 * attributes right above it): each starts its own line, nothing but other
 * such comments lies between them and the definition, no blank line
 * separates them, and the last ends on the line before the definition. Python
 * takes the docstring first. Kept raw (markers, newlines and indentation),
 * trailing whitespace removed, at most DOC_MAX bytes.
 *
 * Identifiers: named leaves whose type contains "identifier" (identifier,
 * type_identifier, field_identifier, property_identifier,
 * shorthand_property_identifier, namespace_identifier, package_identifier,
 * ...), except those whose every occurrence is the name of a recorded
 * definition (names of impl blocks always count as uses), and `_`.
 *
 * Tokens: every leaf with text, in order, except comments; a string or
 * character literal (with its interpolations) is one token.
 *
 * Limits: texts above TEXT_MAX bytes are refused with CH_ERR_TOO_LARGE.
 */
#include "chorus/index.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX ((uint32_t)256 << 20)
#define DOC_MAX 4096
#define POOL_MAX ((size_t)UINT32_MAX - 1)
/* Pseudo kind of Rust impl blocks until they are resolved. */
#define KIND_IMPL CH_DEF_KIND_COUNT
/* Declarator chains deeper than this are not followed (malformed code). */
#define DECLARATOR_DEPTH_MAX 24
/* find_cut looks through value/type fields this deep. */
#define CUT_DEPTH_MAX 2

/* Grows arr (cap elements) by doubling so that it holds at least n + 1. */
#define GROW(arr, n, cap)                                                      \
  do {                                                                         \
    if((n) >= (cap)) {                                                         \
      (cap) = (cap) ? (cap)*2 : 64;                                            \
      (arr) = ch_realloc((arr), (size_t)(cap) * sizeof(*(arr)));               \
    }                                                                          \
  } while(0)

/* ---- languages ----------------------------------------------------------- */

typedef enum auto_rule {
  AUTO_NONE = 0,
  AUTO_DOTTED, /* python: relative when the spec starts with '.' */
  AUTO_PATH,   /* js/ts: relative when it starts with '.' or '/' */
} auto_rule;

typedef enum upper_rule {
  UPPER_NONE = 0,
  UPPER_ANY,   /* python: ALL_CAPS module variables are constants */
  UPPER_CONST, /* js/ts: ALL_CAPS `const` bindings are constants */
} upper_rule;

/* What differs between languages beyond their queries. */
typedef struct lang_rules {
  const char *name;
  /* Nodes around a definition whose text belongs to its range and
   * signature, and nodes that only widen its range (and move the place its
   * doc comment must end). */
  const char *const *wrap_sig;
  const char *const *wrap_range;
  /* Siblings that may stand between a doc comment and its definition. */
  const char *const *attrs;
  auto_rule auto_kind;
  upper_rule upper;
  bool python;   /* docstrings; signatures end at the ':' */
  bool c_family; /* declarators; body-less specifiers are references */
} lang_rules;

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const none[] = {NULL};

#define JS_WRAPS                                                               \
  LIST("export_statement", "lexical_declaration", "variable_declaration",      \
       "ambient_declaration")

static const lang_rules rules_table[] = {
    {"c", none, none, none, AUTO_NONE, UPPER_NONE, false, true},
    {"cpp", LIST("template_declaration"), none, none, AUTO_NONE, UPPER_NONE,
     false, true},
    {"python", none, LIST("decorated_definition"), none, AUTO_DOTTED, UPPER_ANY,
     true, false},
    {"javascript", JS_WRAPS, none, none, AUTO_PATH, UPPER_CONST, false, false},
    {"typescript", JS_WRAPS, none, none, AUTO_PATH, UPPER_CONST, false, false},
    {"tsx", JS_WRAPS, none, none, AUTO_PATH, UPPER_CONST, false, false},
    {"go", LIST("type_declaration", "var_declaration", "const_declaration"),
     none, none, AUTO_NONE, UPPER_NONE, false, false},
    {"rust", none, none, LIST("attribute_item"), AUTO_NONE, UPPER_NONE, false,
     false},
    {"java", none, none, none, AUTO_NONE, UPPER_NONE, false, false},
};

static const lang_rules default_rules = {"",        none,       none,  none,
                                         AUTO_NONE, UPPER_NONE, false, false};

/* String and character literals: one token each. */
static const char *const string_types[] = {"string",
                                           "string_literal",
                                           "raw_string_literal",
                                           "char_literal",
                                           "character_literal",
                                           "template_string",
                                           "interpreted_string_literal",
                                           "rune_literal",
                                           "system_lib_string",
                                           NULL};

enum {
  SYM_IDENT = 1 << 0,
  SYM_STRING = 1 << 1,
  SYM_COMMENT = 1 << 2,
  SYM_WRAP_SIG = 1 << 3,
  SYM_WRAP_RANGE = 1 << 4,
  SYM_ATTR = 1 << 5,
};

/* ---- compiled queries ---------------------------------------------------- */

typedef enum cap_role {
  R_IGNORE = 0,
  R_DEF,       /* arg: kind */
  R_NAME,      /* defs: the name; imports: an imported name */
  R_NAME_DECL, /* defs: C declarator */
  R_NAME_LIT,  /* imports: literal name (arg 1: "default", 2: "*") */
  R_OWNER,
  R_IMPORT, /* arg: ch_import_kind or IMPORT_AUTO */
  R_SPEC,
  R_USE,
} cap_role;

#define IMPORT_AUTO 0xff

typedef enum pred_op {
  P_EQ,
  P_NOT_EQ,
  P_MATCH,
  P_NOT_MATCH,
  P_ANY_OF,
  P_NOT_ANY_OF,
} pred_op;

typedef struct pred {
  pred_op op;
  uint32_t capture;
  bool arg_is_capture;               /* eq?/not-eq? against another capture */
  uint32_t arg;                      /* capture id or string id */
  const TSQueryPredicateStep *steps; /* any-of: the string steps */
  uint32_t nsteps;
  regex_t *re; /* match?: NULL when the pattern does not compile */
} pred;

/* defs.scm, tags.scm and imports.scm compiled as one query, so the tree is
 * traversed once; a pattern's index tells which file it came from. */
typedef struct query_info {
  TSQuery *query;
  uint32_t tags_first;    /* first pattern of tags.scm */
  uint32_t imports_first; /* first pattern of imports.scm */
  /* Per capture id: its role in a definitions pattern and in an imports
   * pattern (only "name" differs), and the kind that goes with it. */
  uint8_t *def_roles, *def_args;
  uint8_t *imp_roles, *imp_args;
  uint32_t *pred_start; /* per pattern, pattern_count + 1 entries */
  pred *preds;
  uint32_t npreds;
} query_info;

typedef struct lang_state {
  bool loaded;
  ch_status status; /* of the first load; sticky */
  const ch_language *lang;
  const lang_rules *rules;
  TSParser *parser;
  query_info query;
  uint8_t *sym_flags;
  uint32_t nsym;
  TSFieldId f_body, f_declarator, f_name, f_type, f_value, f_definition,
      f_declaration, f_scope, f_path, f_list;
} lang_state;

/* ---- per-extraction scratch ---------------------------------------------- */

/* A comment, or a Rust attribute, with the tokens around it: what doc
 * comments are found from. */
typedef struct comment_rec {
  uint32_t start, end;
  uint32_t prev_end;   /* end of the last token before it, CH_NONE if none */
  uint32_t next_start; /* start of the first token after it, or CH_NONE */
  bool attr;           /* a Rust attribute, not a comment */
} comment_rec;

/* A node that widens the definition it wraps (see lang_rules). */
typedef struct wrap_rec {
  uint32_t inner_start, inner_end; /* the wrapped child */
  uint32_t start, end;             /* the wrapper */
  bool sig;                        /* its text belongs to the signature */
  bool is_const;                   /* a `const` declaration */
} wrap_rec;

/* A definition match, then a definition being settled. */
typedef struct raw_def {
  TSNode node; /* as captured (inner node) */
  uint32_t name_start, name_end;
  uint32_t owner_start, owner_end; /* CH_NONE when absent */
  uint32_t start, end;             /* of node, then after widening */
  uint32_t sig_start;
  uint32_t pattern;
  uint8_t rank; /* 0: defs.scm, 1: tags.scm */
  uint8_t kind; /* ch_def_kind or KIND_IMPL */
  bool is_const;
  bool qualified; /* C++ name with a scope */
  /* Filled after sorting. */
  uint32_t name_off;
  uint32_t container;
  uint32_t redirect; /* impl resolved to this def, or CH_NONE */
  uint32_t out;      /* index in the record, or CH_NONE when dropped */
} raw_def;

/* An import match; matches of one statement and spec are merged. */
typedef struct raw_import {
  uint32_t stmt_start;
  uint32_t spec_start, spec_end;
  uint32_t name_start, name_end; /* CH_NONE: no name */
  uint8_t name_lit;              /* 0: none, 1: "default", 2: "*" */
  uint8_t kind;
} raw_import;

typedef struct final_import {
  uint32_t key, seq; /* source order: statement start, then production */
  ch_import imp;
} final_import;

/* A distinct string of the pool. */
typedef struct intern_entry {
  uint32_t off, len, hash;
  uint32_t uses; /* occurrences as an identifier leaf */
  uint32_t defs; /* occurrences as the name of a recorded definition */
} intern_entry;

struct ch_extractor {
  lang_state *langs; /* ch_syntax_count() entries */
  size_t nlangs;
  TSQueryCursor *cursor;

  /* Scratch reused by every extraction; emptied at the start of one. */
  const char *text;
  uint32_t len;
  const lang_state *ls;
  ch_status status; /* sticky: the first error of this extraction */
  ch_buf pool;
  ch_buf scratch;

  uint32_t *slots; /* intern hash set: entry index + 1, 0 when empty */
  uint32_t slot_cap;
  intern_entry *entries;
  uint32_t nentries, entries_cap;

  uint32_t *lines;
  uint32_t nlines, lines_cap;
  uint32_t *tokens;
  uint32_t ntokens, tokens_cap;
  uint32_t last_tok_end; /* CH_NONE before the first token */
  comment_rec *comments;
  uint32_t ncomments, comments_cap, pending; /* first without next_start */
  wrap_rec *wraps;
  uint32_t nwraps, wraps_cap;
  bool wraps_unsorted;
  raw_def *defs;
  uint32_t ndefs, defs_cap;
  raw_import *rimports;
  uint32_t nrimports, rimports_cap;
  final_import *imports;
  uint32_t nimports, imports_cap;
  uint32_t *idents;
  uint32_t idents_cap;
  uint64_t *named; /* see index_named */
  uint32_t nnamed, named_cap;
  /* A cursor to iterate a node's children (ts_node_child(i) is linear in
   * i); reset to the node at each use. */
  TSTreeCursor children;
  bool have_children_cursor;
};

/* ---- small helpers ------------------------------------------------------- */

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

static bool type_is(TSNode node, const char *type) {
  return strcmp(ts_node_type(node), type) == 0;
}

static bool in_list(const char *const *list, const char *s) {
  for(; *list; list++)
    if(!strcmp(*list, s)) return true;
  return false;
}

static TSNode child_by_field(TSNode node, TSFieldId field) {
  TSNode null = {{0}, NULL, NULL};
  if(!field || ts_node_is_null(node)) return null;
  return ts_node_child_by_field_id(node, field);
}

/* The length of s[0..n) without a trailing partial UTF-8 sequence. */
static size_t utf8_floor(const char *s, size_t n) {
  size_t i = n, back = 0;
  while(i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
    i--;
    back++;
  }
  if(i == 0) return n;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if(lead < 0x80 || (lead & 0xC0) == 0x80) want = 1;
  return (i - 1) + want > n ? i - 1 : n;
}

/* ---- the pool and the intern set ------------------------------------------
 */

/* Appends s[0..n) and a NUL to the pool; returns its offset, or CH_NONE
 * (and a sticky error) past the pool's limit. */
static uint32_t pool_add(ch_extractor *self, const char *s, size_t n) {
  if(self->status) return CH_NONE;
  ch_buf *pool = &self->pool;
  if(ch_buf_reserve(pool, n + 1)) {
    self->status = CH_ERR_TOO_LARGE;
    return CH_NONE;
  }
  uint32_t off = (uint32_t)pool->len;
  if(n) memcpy(pool->data + pool->len, s, n);
  pool->len += n;
  pool->data[pool->len++] = 0;
  pool->data[pool->len] = 0;
  return off;
}

static uint32_t hash32(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for(size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

static void intern_grow(ch_extractor *self) {
  uint32_t cap = self->slot_cap ? self->slot_cap * 2 : 1024;
  ch_free(self->slots);
  self->slots = ch_calloc(cap, sizeof(uint32_t));
  self->slot_cap = cap;
  for(uint32_t i = 0; i < self->nentries; i++) {
    uint32_t at = self->entries[i].hash & (cap - 1);
    while(self->slots[at])
      at = (at + 1) & (cap - 1);
    self->slots[at] = i + 1;
  }
}

/* The entry of s[0..n), added to the pool when new; NULL after an error. */
static intern_entry *intern(ch_extractor *self, const char *s, size_t n) {
  if(self->status) return NULL;
  if((self->nentries + 1) * 2 > self->slot_cap) intern_grow(self);
  uint32_t h = hash32(s, n), mask = self->slot_cap - 1, at = h & mask;
  for(;;) {
    uint32_t slot = self->slots[at];
    if(!slot) break;
    intern_entry *e = &self->entries[slot - 1];
    if(e->hash == h && e->len == n && !memcmp(self->pool.data + e->off, s, n))
      return e;
    at = (at + 1) & mask;
  }
  uint32_t off = pool_add(self, s, n);
  if(off == CH_NONE) return NULL;
  GROW(self->entries, self->nentries, self->entries_cap);
  intern_entry *e = &self->entries[self->nentries++];
  e->off = off;
  e->len = (uint32_t)n;
  e->hash = h;
  e->uses = e->defs = 0;
  self->slots[at] = self->nentries;
  return e;
}

static uint32_t intern_off(ch_extractor *self, const char *s, size_t n) {
  intern_entry *e = intern(self, s, n);
  return e ? e->off : CH_NONE;
}

/* ---- queries ------------------------------------------------------------- */

static void query_info_release(query_info *self) {
  if(self->preds) {
    for(uint32_t i = 0; i < self->npreds; i++) {
      if(self->preds[i].re) {
        regfree(self->preds[i].re);
        ch_free(self->preds[i].re);
      }
    }
  }
  ch_free(self->preds);
  ch_free(self->pred_start);
  ch_free(self->def_roles);
  ch_free(self->def_args);
  ch_free(self->imp_roles);
  ch_free(self->imp_args);
  if(self->query) ts_query_delete(self->query);
  memset(self, 0, sizeof(*self));
}

static int kind_by_name(const char *s, size_t n) {
  for(int k = 0; k < CH_DEF_KIND_COUNT; k++) {
    const char *name = ch_def_kind_name((ch_def_kind)k);
    if(strlen(name) == n && !memcmp(name, s, n)) return k;
  }
  if(n == 4 && !memcmp(s, "impl", 4)) return KIND_IMPL;
  return -1;
}

static bool name_is(const char *s, uint32_t n, const char *word) {
  return strlen(word) == n && !memcmp(s, word, n);
}

static bool has_prefix(const char *s, uint32_t n, const char *prefix,
                       uint32_t *rest) {
  size_t p = strlen(prefix);
  if(n < p || memcmp(s, prefix, p)) return false;
  *rest = (uint32_t)p;
  return true;
}

/* The role of capture `s` in a definitions (imports == false) or imports
 * query. */
static void capture_role(const char *s, uint32_t n, bool imports, uint8_t *role,
                         uint8_t *arg) {
  uint32_t at;
  *role = R_IGNORE;
  *arg = 0;
  if(!imports) {
    if(has_prefix(s, n, "definition.", &at)) {
      int kind = kind_by_name(s + at, n - at);
      if(kind >= 0) {
        *role = R_DEF;
        *arg = (uint8_t)kind;
      }
    } else if(name_is(s, n, "name")) {
      *role = R_NAME;
    } else if(name_is(s, n, "name.declarator")) {
      *role = R_NAME_DECL;
    } else if(name_is(s, n, "owner")) {
      *role = R_OWNER;
    }
    return;
  }
  if(has_prefix(s, n, "import.", &at)) {
    /* In ch_import_kind order. */
    static const char *const kinds[] = {"local", "system", "module", "relative",
                                        "package"};
    *role = R_IMPORT;
    *arg = IMPORT_AUTO;
    for(uint8_t k = 0; k < CH_ARRAY_LEN(kinds); k++)
      if(name_is(s + at, n - at, kinds[k])) *arg = k;
  } else if(name_is(s, n, "spec")) {
    *role = R_SPEC;
  } else if(name_is(s, n, "name")) {
    *role = R_NAME;
  } else if(name_is(s, n, "name.default")) {
    *role = R_NAME_LIT;
    *arg = 1;
  } else if(name_is(s, n, "name.star")) {
    *role = R_NAME_LIT;
    *arg = 2;
  } else if(name_is(s, n, "use")) {
    *role = R_USE;
  }
}

/* Reads the text predicates of every pattern. */
static void parse_predicates(query_info *self) {
  TSQuery *q = self->query;
  uint32_t npatterns = ts_query_pattern_count(q), cap = 0;
  self->pred_start = ch_calloc(npatterns + 1, sizeof(uint32_t));
  for(uint32_t p = 0; p < npatterns; p++) {
    self->pred_start[p] = self->npreds;
    uint32_t nsteps;
    const TSQueryPredicateStep *steps =
        ts_query_predicates_for_pattern(q, p, &nsteps);
    uint32_t i = 0;
    while(i < nsteps) {
      uint32_t end = i;
      while(end < nsteps && steps[end].type != TSQueryPredicateStepTypeDone)
        end++;
      /* steps[i..end) is one predicate: name, arguments. */
      if(end - i >= 3 && steps[i].type == TSQueryPredicateStepTypeString &&
         steps[i + 1].type == TSQueryPredicateStepTypeCapture) {
        uint32_t n;
        const char *name =
            ts_query_string_value_for_id(q, steps[i].value_id, &n);
        pred pr;
        memset(&pr, 0, sizeof(pr));
        pr.capture = steps[i + 1].value_id;
        bool known = true;
        if(name_is(name, n, "eq?") || name_is(name, n, "not-eq?")) {
          pr.op = name[0] == 'n' ? P_NOT_EQ : P_EQ;
          pr.arg_is_capture =
              steps[i + 2].type == TSQueryPredicateStepTypeCapture;
          pr.arg = steps[i + 2].value_id;
        } else if(name_is(name, n, "match?") ||
                  name_is(name, n, "not-match?")) {
          pr.op = name[0] == 'n' ? P_NOT_MATCH : P_MATCH;
          if(steps[i + 2].type == TSQueryPredicateStepTypeString) {
            uint32_t rn;
            const char *re =
                ts_query_string_value_for_id(q, steps[i + 2].value_id, &rn);
            char *source = ch_strndup(re, rn);
            pr.re = ch_malloc(sizeof(regex_t));
            if(regcomp(pr.re, source, REG_EXTENDED | REG_NOSUB)) {
              ch_log_debug("query predicate regex does not compile: %s",
                           source);
              ch_free(pr.re);
              pr.re = NULL;
            }
            ch_free(source);
          }
        } else if(name_is(name, n, "any-of?") ||
                  name_is(name, n, "not-any-of?")) {
          pr.op = name[0] == 'n' ? P_NOT_ANY_OF : P_ANY_OF;
          pr.steps = steps + i + 2;
          pr.nsteps = end - i - 2;
        } else {
          known = false; /* a directive or an unknown predicate */
        }
        if(known) {
          GROW(self->preds, self->npreds, cap);
          self->preds[self->npreds++] = pr;
        }
      }
      i = end + 1;
    }
  }
  self->pred_start[npatterns] = self->npreds;
}

/* The query files, in the order they are concatenated. */
static const char *const query_names[] = {"defs", "tags", "imports"};

/* Compiles defs.scm, tags.scm and imports.scm of `lang` as one query.
 * Patterns without a definition or import capture (references) are
 * disabled, so they cost nothing. */
static ch_status query_load(query_info *self, const ch_language *lang) {
  ch_status result = CH_OK;
  ch_buf source;
  size_t starts[CH_ARRAY_LEN(query_names)];
  memset(self, 0, sizeof(*self));
  ch_buf_init(&source, (size_t)16 << 20);
  for(size_t i = 0; i < CH_ARRAY_LEN(query_names) && !result; i++) {
    size_t n;
    char *text = ch_syntax_query_source(lang, query_names[i], &n, &result);
    if(!text) {
      ch_log_error("no %s query for %s: %s", query_names[i], lang->name,
                   ch_strerror(result));
      break;
    }
    if(source.len) result = ch_buf_append_char(&source, '\n');
    starts[i] = source.len;
    if(!result) result = ch_buf_append(&source, text, n);
    ch_free(text);
  }
  if(!result) {
    char *origin = ch_strdupf("%s/{defs,tags,imports}.scm", lang->name);
    self->query = ch_syntax_query_compile(lang, "extraction", source.data,
                                          source.len, origin, &result);
    ch_free(origin);
    if(!self->query) {
      /* Compile the files one by one for an error that names the file. */
      for(size_t i = 0; i < CH_ARRAY_LEN(query_names); i++) {
        TSQuery *one = ch_syntax_query_new(lang, query_names[i], NULL);
        if(one) ts_query_delete(one);
      }
      if(!result) result = CH_ERR_PARSE;
    }
  }
  ch_buf_release(&source);
  if(result) return result;

  TSQuery *q = self->query;
  uint32_t ncaptures = ts_query_capture_count(q);
  self->def_roles = ch_calloc(ncaptures + 1, 1);
  self->def_args = ch_calloc(ncaptures + 1, 1);
  self->imp_roles = ch_calloc(ncaptures + 1, 1);
  self->imp_args = ch_calloc(ncaptures + 1, 1);
  for(uint32_t c = 0; c < ncaptures; c++) {
    uint32_t n;
    const char *name = ts_query_capture_name_for_id(q, c, &n);
    capture_role(name, n, false, &self->def_roles[c], &self->def_args[c]);
    capture_role(name, n, true, &self->imp_roles[c], &self->imp_args[c]);
  }
  uint32_t npatterns = ts_query_pattern_count(q);
  self->tags_first = self->imports_first = npatterns;
  for(uint32_t p = npatterns; p-- > 0;) {
    uint32_t at = ts_query_start_byte_for_pattern(q, p);
    if(at >= starts[1]) self->tags_first = p;
    if(at >= starts[2]) self->imports_first = p;
  }
  for(uint32_t p = 0; p < npatterns; p++) {
    bool imports = p >= self->imports_first, useful = false;
    for(uint32_t c = 0; c < ncaptures && !useful; c++) {
      uint8_t r = imports ? self->imp_roles[c] : self->def_roles[c];
      if((r == R_DEF || r == R_IMPORT) &&
         ts_query_capture_quantifier_for_id(q, p, c) != TSQuantifierZero)
        useful = true;
    }
    if(!useful) ts_query_disable_pattern(q, p);
  }
  ts_query_disable_capture(q, "doc", 3); /* upstream's, unused */
  parse_predicates(self);
  return CH_OK;
}

static bool capture_text(const TSQueryMatch *m, uint32_t id, const char *text,
                         const char **s, uint32_t *n) {
  for(uint16_t i = 0; i < m->capture_count; i++) {
    if(m->captures[i].index == id) {
      uint32_t a = ts_node_start_byte(m->captures[i].node);
      uint32_t b = ts_node_end_byte(m->captures[i].node);
      *s = text + a;
      *n = b > a ? b - a : 0;
      return true;
    }
  }
  return false;
}

static bool pred_holds(ch_extractor *self, const query_info *qi, const pred *pr,
                       const TSQueryMatch *m) {
  const char *s, *t;
  uint32_t n, tn;
  if(!capture_text(m, pr->capture, self->text, &s, &n)) return true;
  switch(pr->op) {
  case P_EQ:
  case P_NOT_EQ: {
    bool eq;
    if(pr->arg_is_capture) {
      if(!capture_text(m, pr->arg, self->text, &t, &tn)) return true;
    } else {
      t = ts_query_string_value_for_id(qi->query, pr->arg, &tn);
    }
    eq = n == tn && !memcmp(s, t, n);
    return pr->op == P_EQ ? eq : !eq;
  }
  case P_MATCH:
  case P_NOT_MATCH: {
    if(!pr->re) return true;
    ch_buf_reset(&self->scratch);
    if(ch_buf_append(&self->scratch, s, n)) return true;
    const char *subject = self->scratch.data ? self->scratch.data : "";
    bool hit = regexec(pr->re, subject, 0, NULL, 0) == 0;
    return pr->op == P_MATCH ? hit : !hit;
  }
  case P_ANY_OF:
  case P_NOT_ANY_OF: {
    bool any = false;
    for(uint32_t i = 0; i < pr->nsteps && !any; i++) {
      if(pr->steps[i].type != TSQueryPredicateStepTypeString) continue;
      t = ts_query_string_value_for_id(qi->query, pr->steps[i].value_id, &tn);
      any = n == tn && !memcmp(s, t, n);
    }
    return pr->op == P_ANY_OF ? any : !any;
  }
  }
  return true;
}

static bool match_ok(ch_extractor *self, const query_info *qi,
                     const TSQueryMatch *m) {
  for(uint32_t i = qi->pred_start[m->pattern_index];
      i < qi->pred_start[m->pattern_index + 1]; i++)
    if(!pred_holds(self, qi, &qi->preds[i], m)) return false;
  return true;
}

/* ---- languages, lazily ----------------------------------------------------
 */

static void lang_state_release(lang_state *self) {
  query_info_release(&self->query);
  if(self->parser) ts_parser_delete(self->parser);
  ch_free(self->sym_flags);
  memset(self, 0, sizeof(*self));
}

static void build_symbol_flags(lang_state *self) {
  const TSLanguage *tl = self->lang->ts_language();
  uint32_t n = ts_language_symbol_count(tl);
  self->nsym = n;
  self->sym_flags = ch_calloc(n ? n : 1, 1);
  for(uint32_t s = 0; s < n; s++) {
    const char *name = ts_language_symbol_name(tl, (TSSymbol)s);
    if(!name || ts_language_symbol_type(tl, (TSSymbol)s) != TSSymbolTypeRegular)
      continue;
    uint8_t f = 0;
    if(strstr(name, "comment")) f |= SYM_COMMENT;
    if(strstr(name, "identifier")) f |= SYM_IDENT;
    if(in_list(string_types, name)) f |= SYM_STRING;
    if(in_list(self->rules->wrap_sig, name)) f |= SYM_WRAP_SIG;
    if(in_list(self->rules->wrap_range, name)) f |= SYM_WRAP_RANGE;
    if(in_list(self->rules->attrs, name)) f |= SYM_ATTR;
    self->sym_flags[s] = f;
  }
}

static TSFieldId field_id(const TSLanguage *tl, const char *name) {
  return ts_language_field_id_for_name(tl, name, (uint32_t)strlen(name));
}

static ch_status lang_load(lang_state *self, const ch_language *lang) {
  ch_status result;
  self->lang = lang;
  self->rules = &default_rules;
  for(size_t i = 0; i < CH_ARRAY_LEN(rules_table); i++)
    if(!strcmp(rules_table[i].name, lang->name)) self->rules = &rules_table[i];
  self->parser = ch_syntax_parser_new(lang, &result);
  if(!self->parser) return result ? result : CH_ERR_STATE;
  result = query_load(&self->query, lang);
  if(result) return result;
  build_symbol_flags(self);
  const TSLanguage *tl = lang->ts_language();
  self->f_body = field_id(tl, "body");
  self->f_declarator = field_id(tl, "declarator");
  self->f_name = field_id(tl, "name");
  self->f_type = field_id(tl, "type");
  self->f_value = field_id(tl, "value");
  self->f_definition = field_id(tl, "definition");
  self->f_declaration = field_id(tl, "declaration");
  self->f_scope = field_id(tl, "scope");
  self->f_path = field_id(tl, "path");
  self->f_list = field_id(tl, "list");
  return CH_OK;
}

static lang_state *lang_get(ch_extractor *self, const ch_language *lang,
                            ch_status *error) {
  size_t i;
  for(i = 0; i < self->nlangs; i++)
    if(ch_syntax_at(i) == lang) break;
  if(i == self->nlangs) {
    *error = CH_ERR_INVALID;
    return NULL;
  }
  lang_state *ls = &self->langs[i];
  if(!ls->loaded) {
    ls->loaded = true;
    ls->status = lang_load(ls, lang);
    if(ls->status) {
      ch_log_error("cannot extract %s: %s", lang->name,
                   ch_strerror(ls->status));
      ch_status keep = ls->status;
      lang_state_release(ls);
      ls->loaded = true;
      ls->status = keep;
    }
  }
  *error = ls->status;
  return ls->status ? NULL : ls;
}

/* ---- lifecycle ----------------------------------------------------------- */

ch_extractor *ch_extractor_new(void) {
  ch_extractor *self = ch_calloc(1, sizeof(*self));
  self->nlangs = ch_syntax_count();
  self->langs = ch_calloc(self->nlangs, sizeof(lang_state));
  self->cursor = ts_query_cursor_new();
  ch_buf_init(&self->pool, POOL_MAX);
  ch_buf_init(&self->scratch, (size_t)TEXT_MAX + 16);
  return self;
}

void ch_extractor_free(ch_extractor *self) {
  if(!self) return;
  for(size_t i = 0; i < self->nlangs; i++)
    lang_state_release(&self->langs[i]);
  ch_free(self->langs);
  ts_query_cursor_delete(self->cursor);
  ch_buf_release(&self->pool);
  ch_buf_release(&self->scratch);
  ch_free(self->slots);
  ch_free(self->entries);
  ch_free(self->lines);
  ch_free(self->tokens);
  ch_free(self->comments);
  ch_free(self->wraps);
  ch_free(self->defs);
  ch_free(self->rimports);
  ch_free(self->imports);
  ch_free(self->idents);
  ch_free(self->named);
  if(self->have_children_cursor) ts_tree_cursor_delete(&self->children);
  ch_free(self);
}

/* ---- pass 1: line starts --------------------------------------------------
 */

static void scan_lines(ch_extractor *self) {
  const char *t = self->text;
  uint32_t n = self->len;
  self->nlines = 0;
  GROW(self->lines, self->nlines, self->lines_cap);
  self->lines[self->nlines++] = 0;
  for(uint32_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if(c > '\r') continue; /* the common case: not a line end */
    if(c == '\n' || c == '\r') {
      if(c == '\r' && i + 1 < n && t[i + 1] == '\n') i++;
      GROW(self->lines, self->nlines, self->lines_cap);
      self->lines[self->nlines++] = i + 1;
    }
  }
}

static uint32_t row_of(const ch_extractor *self, uint32_t off) {
  uint32_t lo = 0, hi = self->nlines; /* last line start <= off */
  while(hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(self->lines[mid] <= off)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static ch_span span_of(const ch_extractor *self, uint32_t start, uint32_t end) {
  ch_span sp;
  sp.start = start;
  sp.end = end;
  sp.start_row = row_of(self, start);
  sp.start_col = start - self->lines[sp.start_row];
  sp.end_row = row_of(self, end);
  sp.end_col = end - self->lines[sp.end_row];
  return sp;
}

/* The row of the last byte of [start, end) (of start when empty). */
static uint32_t last_row(const ch_extractor *self, uint32_t start,
                         uint32_t end) {
  return row_of(self, end > start ? end - 1 : start);
}

/* ---- pass 2: the walk ------------------------------------------------------
 */

static void emit_token(ch_extractor *self, uint32_t start, uint32_t end) {
  GROW(self->tokens, self->ntokens, self->tokens_cap);
  self->tokens[self->ntokens++] = ch_token_id(self->text + start, end - start);
  self->last_tok_end = end;
  while(self->pending < self->ncomments &&
        self->comments[self->pending].end <= start)
    self->comments[self->pending++].next_start = start;
}

static void add_comment(ch_extractor *self, uint32_t start, uint32_t end,
                        bool attr) {
  GROW(self->comments, self->ncomments, self->comments_cap);
  comment_rec *c = &self->comments[self->ncomments++];
  c->start = start;
  c->end = end;
  c->prev_end = self->last_tok_end;
  c->next_start = CH_NONE;
  c->attr = attr;
}

/* The child a wrapper wraps, or a null node. */
static TSNode wrapped_child(const lang_state *ls, TSNode node) {
  TSNode inner = child_by_field(node, ls->f_declaration);
  if(ts_node_is_null(inner)) inner = child_by_field(node, ls->f_definition);
  if(!ts_node_is_null(inner)) return inner;
  uint32_t n = ts_node_named_child_count(node);
  if(type_is(node, "template_declaration"))
    return n ? ts_node_named_child(node, n - 1) : inner;
  if(n == 1) return ts_node_named_child(node, 0);
  return inner;
}

static void add_wrap(ch_extractor *self, TSNode node, uint32_t start,
                     uint32_t end, bool sig) {
  TSNode inner = wrapped_child(self->ls, node);
  if(ts_node_is_null(inner)) return;
  GROW(self->wraps, self->nwraps, self->wraps_cap);
  wrap_rec *w = &self->wraps[self->nwraps++];
  w->inner_start = ts_node_start_byte(inner);
  w->inner_end = ts_node_end_byte(inner);
  w->start = start;
  w->end = end;
  w->sig = sig;
  w->is_const = end - start > 5 && !memcmp(self->text + start, "const", 5) &&
                (is_space(self->text[start + 5]));
  if(self->nwraps > 1 &&
     self->wraps[self->nwraps - 2].inner_start > w->inner_start)
    self->wraps_unsorted = true;
}

static void walk(ch_extractor *self, TSNode root) {
  const uint8_t *flags = self->ls->sym_flags;
  uint32_t nsym = self->ls->nsym;
  const char *text = self->text;
  uint32_t string_end = 0; /* leaves before this are inside a string token */
  TSTreeCursor cur = ts_tree_cursor_new(root);
  for(;;) {
    TSNode node = ts_tree_cursor_current_node(&cur);
    TSSymbol sym = ts_node_symbol(node);
    uint8_t f = sym < nsym ? flags[sym] : 0;
    uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
    if(e > self->len) e = self->len;
    if(s > e) s = e;
    if(f & SYM_COMMENT) {
      if(e > s) add_comment(self, s, e, false);
    } else {
      if(f & (SYM_WRAP_SIG | SYM_WRAP_RANGE))
        add_wrap(self, node, s, e, (f & SYM_WRAP_SIG) != 0);
      if(f & SYM_ATTR) add_comment(self, s, e, true);
      if((f & SYM_STRING) && s >= string_end && e > s) {
        emit_token(self, s, e);
        string_end = e;
      }
      if(ts_tree_cursor_goto_first_child(&cur)) continue;
      if(e > s) { /* a leaf with text */
        if(s >= string_end) emit_token(self, s, e);
        if((f & SYM_IDENT) && !(e - s == 1 && text[s] == '_')) {
          intern_entry *ie = intern(self, text + s, e - s);
          if(ie) ie->uses++;
        }
      }
    }
    while(!ts_tree_cursor_goto_next_sibling(&cur))
      if(!ts_tree_cursor_goto_parent(&cur)) goto done;
  }
done:
  ts_tree_cursor_delete(&cur);
}

/* ---- pass 3: definitions ---------------------------------------------------
 */

/* C/C++: follows a declarator to its name. *is_function tells whether the
 * name sits directly in a function_declarator; *owner receives the
 * innermost scope of a qualified name. Returns a null node when none. */
static TSNode resolve_declarator(const lang_state *ls, TSNode node,
                                 bool *is_function, TSNode *owner) {
  TSNode null = {{0}, NULL, NULL}, parent = null;
  *is_function = false;
  for(int depth = 0; depth < DECLARATOR_DEPTH_MAX && !ts_node_is_null(node);
      depth++) {
    const char *type = ts_node_type(node);
    if(!strcmp(type, "identifier") || !strcmp(type, "field_identifier") ||
       !strcmp(type, "type_identifier") || !strcmp(type, "destructor_name") ||
       !strcmp(type, "operator_name") || !strcmp(type, "primitive_type")) {
      *is_function =
          !ts_node_is_null(parent) && type_is(parent, "function_declarator");
      return node;
    }
    if(!strcmp(type, "qualified_identifier")) {
      TSNode scope = child_by_field(node, ls->f_scope);
      if(!ts_node_is_null(scope)) {
        if(type_is(scope, "template_type"))
          scope = child_by_field(scope, ls->f_name);
        *owner = scope;
      }
      node = child_by_field(node, ls->f_name);
      continue;
    }
    TSNode next = child_by_field(node, ls->f_declarator);
    if(ts_node_is_null(next)) {
      if(ts_node_named_child_count(node) == 0) return null;
      next = ts_node_named_child(node, 0);
    }
    parent = node;
    node = next;
  }
  return null;
}

static bool is_declarator_type(const char *type) {
  return strstr(type, "declarator") != NULL;
}

/* C/C++: a tags.scm match on a bare function_declarator: the declaration
 * or definition around it, or a null node for parameters and types. */
static TSNode widen_function_declarator(TSNode node) {
  TSNode null = {{0}, NULL, NULL};
  for(int depth = 0; depth < DECLARATOR_DEPTH_MAX; depth++) {
    TSNode parent = ts_node_parent(node);
    if(ts_node_is_null(parent)) return null;
    const char *type = ts_node_type(parent);
    if(is_declarator_type(type)) {
      node = parent;
      continue;
    }
    if(!strcmp(type, "function_definition") || !strcmp(type, "declaration") ||
       !strcmp(type, "field_declaration"))
      return parent;
    return null;
  }
  return null;
}

/* One match of a definitions pattern. */
static void def_match(ch_extractor *self, const query_info *qi,
                      const TSQueryMatch *mp) {
  const lang_state *ls = self->ls;
  const TSQueryMatch m = *mp;
  uint8_t rank = m.pattern_index >= qi->tags_first;
  TSNode def = {{0}, NULL, NULL}, name = def, decl = def, owner = def;
  int kind = -1;
  for(uint16_t i = 0; i < m.capture_count; i++) {
    uint32_t id = m.captures[i].index;
    switch(qi->def_roles[id]) {
    case R_DEF:
      def = m.captures[i].node;
      kind = qi->def_args[id];
      break;
    case R_NAME: name = m.captures[i].node; break;
    case R_NAME_DECL: decl = m.captures[i].node; break;
    case R_OWNER: owner = m.captures[i].node; break;
    default: break;
    }
  }
  if(kind < 0 || ts_node_is_null(def)) return;
  if(!match_ok(self, qi, &m)) return;
  bool qualified = false;
  if(!ts_node_is_null(decl)) {
    bool is_function;
    TSNode scope = {{0}, NULL, NULL};
    name = resolve_declarator(ls, decl, &is_function, &scope);
    if(!ts_node_is_null(scope)) {
      owner = scope;
      qualified = true;
    }
    if(is_function && kind == CH_DEF_VARIABLE) kind = CH_DEF_FUNCTION;
    if(is_function && kind == CH_DEF_FIELD) kind = CH_DEF_METHOD;
    if(!is_function && kind == CH_DEF_METHOD) kind = CH_DEF_FIELD;
    if(!is_function && kind == CH_DEF_FUNCTION &&
       !type_is(def, "function_definition"))
      kind = CH_DEF_VARIABLE;
  }
  if(ts_node_is_null(name)) return;
  uint32_t ns = ts_node_start_byte(name), ne = ts_node_end_byte(name);
  if(ne <= ns || ne > self->len) return;
  if(ls->rules->c_family) {
    /* A specifier without a body is a reference (`struct s *p`). */
    TSNode spec = def;
    if(!strstr(ts_node_type(spec), "_specifier"))
      spec = child_by_field(def, ls->f_type);
    if(!ts_node_is_null(spec) && strstr(ts_node_type(spec), "_specifier") &&
       (kind == CH_DEF_CLASS || kind == CH_DEF_STRUCT || kind == CH_DEF_UNION ||
        kind == CH_DEF_ENUM || kind == CH_DEF_TYPE) &&
       !type_is(def, "type_definition") &&
       ts_node_is_null(child_by_field(spec, ls->f_body)))
      return;
  }
  GROW(self->defs, self->ndefs, self->defs_cap);
  raw_def *d = &self->defs[self->ndefs++];
  memset(d, 0, sizeof(*d));
  d->node = def;
  d->start = ts_node_start_byte(def);
  d->end = ts_node_end_byte(def);
  d->name_start = ns;
  d->name_end = ne;
  d->owner_start = d->owner_end = CH_NONE;
  if(!ts_node_is_null(owner)) {
    d->owner_start = ts_node_start_byte(owner);
    d->owner_end = ts_node_end_byte(owner);
  }
  d->qualified = qualified;
  d->pattern = m.pattern_index;
  d->rank = rank;
  d->kind = (uint8_t)kind;
}

static int specificity(uint8_t kind) {
  return kind == CH_DEF_VARIABLE || kind == CH_DEF_CONSTANT ||
         kind == CH_DEF_FIELD;
}

static int cmp_u32(uint32_t a, uint32_t b) { return a < b ? -1 : a > b; }

static int cmp_by_name(const void *pa, const void *pb) {
  const raw_def *a = pa, *b = pb;
  int c;
  if((c = cmp_u32(a->name_start, b->name_start))) return c;
  if((c = cmp_u32(a->name_end, b->name_end))) return c;
  if((c = specificity(a->kind) - specificity(b->kind))) return c;
  if((c = (int)a->rank - (int)b->rank)) return c;
  if((c = cmp_u32(a->pattern, b->pattern))) return c;
  /* One pattern matching twice: the order of matches must not matter. */
  if((c = cmp_u32(a->start, b->start))) return c;
  return cmp_u32(a->end, b->end);
}

static int cmp_by_range(const void *pa, const void *pb) {
  const raw_def *a = pa, *b = pb;
  int c;
  if((c = cmp_u32(a->start, b->start))) return c;
  if((c = cmp_u32(b->end, a->end))) return c;
  return cmp_u32(a->name_start, b->name_start);
}

static int cmp_wrap(const void *pa, const void *pb) {
  const wrap_rec *a = pa, *b = pb;
  int c = cmp_u32(a->inner_start, b->inner_start);
  return c ? c : cmp_u32(a->inner_end, b->inner_end);
}

/* The wrapper whose inner child spans exactly [start, end), or NULL. */
static const wrap_rec *find_wrap(const ch_extractor *self, uint32_t start,
                                 uint32_t end) {
  uint32_t lo = 0, hi = self->nwraps; /* first with inner_start >= start */
  while(lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(self->wraps[mid].inner_start < start)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(; lo < self->nwraps && self->wraps[lo].inner_start == start; lo++)
    if(self->wraps[lo].inner_end == end) return &self->wraps[lo];
  return NULL;
}

static bool all_caps(const char *s, uint32_t n) {
  bool letter = false;
  for(uint32_t i = 0; i < n; i++) {
    char c = s[i];
    if(c >= 'A' && c <= 'Z')
      letter = true;
    else if(!(c == '_' || (c >= '0' && c <= '9')))
      return false;
  }
  return letter;
}

/* Deduplicates by name range, widens ranges, sorts by range. Drops what
 * turns out not to be a definition. */
static void settle_defs(ch_extractor *self) {
  const lang_state *ls = self->ls;
  if(self->ndefs > 1)
    qsort(self->defs, self->ndefs, sizeof(raw_def), cmp_by_name);
  if(self->wraps_unsorted)
    qsort(self->wraps, self->nwraps, sizeof(wrap_rec), cmp_wrap);
  uint32_t kept = 0;
  for(uint32_t i = 0; i < self->ndefs; i++) {
    raw_def d = self->defs[i];
    if(kept && self->defs[kept - 1].name_start == d.name_start &&
       self->defs[kept - 1].name_end == d.name_end)
      continue; /* a better match of the same name came first */
    if(ls->rules->c_family && type_is(d.node, "function_declarator")) {
      TSNode outer = widen_function_declarator(d.node);
      if(ts_node_is_null(outer)) continue; /* a parameter or a type */
      d.node = outer;
      if(type_is(outer, "field_declaration")) d.kind = CH_DEF_METHOD;
    }
    d.start = ts_node_start_byte(d.node);
    d.end = ts_node_end_byte(d.node);
    if(d.end > self->len) d.end = self->len;
    d.sig_start = d.start;
    const wrap_rec *w;
    int guard = 0;
    while(guard++ < 8 && (w = find_wrap(self, d.start, d.end))) {
      d.start = w->start;
      d.end = w->end;
      if(w->sig) d.sig_start = w->start;
      if(w->is_const) d.is_const = true;
    }
    if(d.name_start < d.start || d.name_end > d.end)
      continue; /* a pattern whose name is outside its definition */
    const char *name = self->text + d.name_start;
    uint32_t nlen = d.name_end - d.name_start;
    if(d.kind == CH_DEF_VARIABLE &&
       ((ls->rules->upper == UPPER_ANY) ||
        (ls->rules->upper == UPPER_CONST && d.is_const)) &&
       all_caps(name, nlen))
      d.kind = CH_DEF_CONSTANT;
    self->defs[kept++] = d;
  }
  self->ndefs = kept;
  if(kept > 1) qsort(self->defs, kept, sizeof(raw_def), cmp_by_range);
}

static bool may_contain(uint8_t outer, uint8_t inner) {
  switch(outer) {
  case CH_DEF_FUNCTION:
  case CH_DEF_METHOD:
  case CH_DEF_CLASS:
  case CH_DEF_STRUCT:
  case CH_DEF_UNION:
  case CH_DEF_ENUM:
  case CH_DEF_INTERFACE:
  case CH_DEF_MODULE:
  case KIND_IMPL: return true;
  case CH_DEF_TYPE:
    return !(inner == CH_DEF_CLASS || inner == CH_DEF_STRUCT ||
             inner == CH_DEF_UNION || inner == CH_DEF_ENUM ||
             inner == CH_DEF_INTERFACE || inner == CH_DEF_TYPE);
  default: return false;
  }
}

static bool is_typeish(uint8_t kind) {
  return kind == CH_DEF_CLASS || kind == CH_DEF_STRUCT ||
         kind == CH_DEF_UNION || kind == CH_DEF_ENUM ||
         kind == CH_DEF_INTERFACE || kind == CH_DEF_TYPE;
}

static int cmp_u64(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

/* Indexes the type and module definitions by name for find_named:
 * (name offset << 32 | index), sorted. */
static void index_named(ch_extractor *self) {
  self->nnamed = 0;
  for(uint32_t i = 0; i < self->ndefs; i++) {
    uint8_t k = self->defs[i].kind;
    if(!is_typeish(k) && k != CH_DEF_MODULE) continue;
    GROW(self->named, self->nnamed, self->named_cap);
    self->named[self->nnamed++] = (uint64_t)self->defs[i].name_off << 32 | i;
  }
  if(self->nnamed > 1)
    qsort(self->named, self->nnamed, sizeof(uint64_t), cmp_u64);
}

/* The first definition (in source order) named `off` whose kind passes
 * `want`, or CH_NONE. */
static uint32_t find_named(const ch_extractor *self, uint32_t off,
                           bool (*want)(uint8_t)) {
  uint32_t lo = 0, hi = self->nnamed;
  while(lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if((self->named[mid] >> 32) < off)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(; lo < self->nnamed && (self->named[lo] >> 32) == off; lo++) {
    uint32_t i = (uint32_t)self->named[lo];
    if(want(self->defs[i].kind)) return i;
  }
  return CH_NONE;
}

static bool is_impl_target(uint8_t kind) {
  return kind == CH_DEF_STRUCT || kind == CH_DEF_ENUM || kind == CH_DEF_UNION ||
         kind == CH_DEF_TYPE;
}

static bool is_module(uint8_t kind) { return kind == CH_DEF_MODULE; }

/* Containers, names, owners and impl blocks. */
static void link_defs(ch_extractor *self) {
  uint32_t stack[256], depth = 0;
  for(uint32_t i = 0; i < self->ndefs; i++) {
    raw_def *d = &self->defs[i];
    while(depth && self->defs[stack[depth - 1]].end < d->end)
      depth--;
    d->container = CH_NONE;
    for(uint32_t k = depth; k > 0; k--) {
      if(may_contain(self->defs[stack[k - 1]].kind, d->kind)) {
        d->container = stack[k - 1];
        break;
      }
    }
    if(may_contain(d->kind, CH_DEF_FIELD) && depth < CH_ARRAY_LEN(stack))
      stack[depth++] = i;
    d->redirect = CH_NONE;
    intern_entry *e =
        intern(self, self->text + d->name_start, d->name_end - d->name_start);
    d->name_off = e ? e->off : CH_NONE;
    if(e && d->kind != KIND_IMPL) e->defs++;
  }
  index_named(self);
  for(uint32_t i = 0; i < self->ndefs && !self->status; i++) {
    raw_def *d = &self->defs[i];
    if(d->kind == KIND_IMPL) {
      uint32_t t = find_named(self, d->name_off, is_impl_target);
      if(t != CH_NONE)
        d->redirect = t;
      else
        d->kind = CH_DEF_MODULE;
      continue;
    }
    if(d->owner_start == CH_NONE) continue;
    uint32_t owner = intern_off(self, self->text + d->owner_start,
                                d->owner_end - d->owner_start);
    uint32_t t = find_named(self, owner, is_typeish);
    if(t != CH_NONE) {
      d->container = t;
      if(d->qualified) d->kind = CH_DEF_METHOD;
    } else if(d->qualified) {
      /* `ns::f` is a function of a namespace of this file; otherwise take
       * `Type::f` for a method of a type defined elsewhere. */
      t = find_named(self, owner, is_module);
      if(t != CH_NONE) d->container = t;
      d->kind = t != CH_NONE ? CH_DEF_FUNCTION : CH_DEF_METHOD;
    }
  }
  uint32_t out = 0;
  for(uint32_t i = 0; i < self->ndefs; i++)
    self->defs[i].out = self->defs[i].redirect == CH_NONE ? out++ : CH_NONE;
  for(uint32_t i = 0; i < self->ndefs; i++) {
    uint32_t c = self->defs[i].container;
    for(int guard = 0;
        c != CH_NONE && self->defs[c].redirect != CH_NONE && guard < 4; guard++)
      c = self->defs[c].redirect;
    self->defs[i].container = c == CH_NONE ? CH_NONE : self->defs[c].out;
  }
}

/* Where the signature of `node` stops: the start of its body, or CH_NONE
 * when the whole text is the signature. */
static uint32_t find_cut(ch_extractor *self, TSNode node, int depth) {
  const lang_state *ls = self->ls;
  const char *text = self->text;
  TSTreeCursor *cur = &self->children;
  if(ls->rules->python && (type_is(node, "function_definition") ||
                           type_is(node, "class_definition"))) {
    uint32_t cut = CH_NONE;
    ts_tree_cursor_reset(cur, node);
    if(ts_tree_cursor_goto_first_child(cur)) {
      do {
        TSNode c = ts_tree_cursor_current_node(cur);
        if(!ts_node_is_named(c) && type_is(c, ":")) cut = ts_node_start_byte(c);
      } while(ts_tree_cursor_goto_next_sibling(cur));
    }
    return cut;
  }
  TSNode body = child_by_field(node, ls->f_body);
  if(!ts_node_is_null(body)) {
    uint32_t b = ts_node_start_byte(body);
    return b < self->len && text[b] == '{' ? b : CH_NONE;
  }
  if(depth < CUT_DEPTH_MAX) {
    TSNode value = child_by_field(node, ls->f_value);
    if(!ts_node_is_null(value)) {
      uint32_t cut = find_cut(self, value, depth + 1);
      if(cut != CH_NONE) return cut;
    }
    TSNode type = child_by_field(node, ls->f_type);
    if(!ts_node_is_null(type)) {
      uint32_t cut = find_cut(self, type, depth + 1);
      if(cut != CH_NONE) return cut;
    }
  }
  /* A `{` token or a `{ ... }` list: Go struct and interface types, Rust
   * macro_rules. */
  ts_tree_cursor_reset(cur, node);
  if(!ts_tree_cursor_goto_first_child(cur)) return CH_NONE;
  do {
    TSNode c = ts_tree_cursor_current_node(cur);
    uint32_t b = ts_node_start_byte(c);
    if(b >= self->len || text[b] != '{') continue;
    const char *type = ts_node_type(c);
    size_t tl = strlen(type);
    if(!ts_node_is_named(c) ? !strcmp(type, "{")
                            : tl > 5 && !strcmp(type + tl - 5, "_list"))
      return b;
  } while(ts_tree_cursor_goto_next_sibling(cur));
  return CH_NONE;
}

/* Appends s[0..n) to the pool with whitespace runs folded to one space,
 * trimmed, without trailing ';', at most CH_SIGNATURE_MAX bytes. */
static uint32_t pool_add_folded(ch_extractor *self, const char *s, size_t n) {
  if(self->status) return CH_NONE;
  ch_buf *pool = &self->pool;
  size_t room = CH_MIN(n, (size_t)CH_SIGNATURE_MAX);
  if(ch_buf_reserve(pool, room + 1)) {
    self->status = CH_ERR_TOO_LARGE;
    return CH_NONE;
  }
  uint32_t off = (uint32_t)pool->len;
  char *out = pool->data + pool->len;
  size_t w = 0;
  bool space = false;
  size_t i = 0;
  for(; i < n && w < room; i++) {
    char c = s[i];
    if(is_space(c)) {
      space = w > 0;
      continue;
    }
    if(space) {
      out[w++] = ' ';
      space = false;
      if(w == room) break;
    }
    out[w++] = c;
  }
  if(w == room && i < n) w = utf8_floor(out, w); /* cut: no partial char */
  while(w && (out[w - 1] == ' ' || out[w - 1] == ';'))
    w--;
  pool->len += w;
  pool->data[pool->len++] = 0;
  pool->data[pool->len] = 0;
  return off;
}

static uint32_t make_signature(ch_extractor *self, const raw_def *d) {
  const lang_state *ls = self->ls;
  const char *text = self->text;
  uint32_t start = d->sig_start, end = d->end;
  switch(d->kind) {
  case CH_DEF_VARIABLE:
  case CH_DEF_CONSTANT:
  case CH_DEF_FIELD: break;
  case CH_DEF_TYPE:
    if(ls->rules->c_family && type_is(d->node, "type_definition")) {
      TSNode type = child_by_field(d->node, ls->f_type);
      TSNode body = child_by_field(type, ls->f_body);
      if(!ts_node_is_null(body)) {
        uint32_t b = ts_node_start_byte(body), e = ts_node_end_byte(body);
        if(b >= start && e <= end && text[b] == '{') {
          ch_buf *sc = &self->scratch;
          ch_buf_reset(sc);
          if(!ch_buf_append(sc, text + start, b - start) &&
             !ch_buf_append_str(sc, "{ ... }") &&
             !ch_buf_append(sc, text + e, end - e))
            return pool_add_folded(self, sc->data, sc->len);
        }
      }
    }
    break;
  default: {
    uint32_t cut = find_cut(self, d->node, 0);
    if(cut != CH_NONE && cut >= start && cut <= end) end = cut;
    break;
  }
  }
  return pool_add_folded(self, text + start, end - start);
}

/* Appends a doc comment: trailing whitespace dropped, at most DOC_MAX
 * bytes. */
static uint32_t pool_add_doc(ch_extractor *self, uint32_t start, uint32_t end) {
  const char *text = self->text;
  while(end > start && is_space(text[end - 1]))
    end--;
  size_t n = end - start;
  if(n > DOC_MAX) n = utf8_floor(text + start, DOC_MAX);
  return pool_add(self, text + start, n);
}

/* Python: the docstring of a def or class node, or CH_NONE. */
static uint32_t python_docstring(ch_extractor *self, TSNode node) {
  TSNode body = child_by_field(node, self->ls->f_body);
  if(ts_node_is_null(body)) return CH_NONE;
  uint32_t n = ts_node_named_child_count(body);
  for(uint32_t i = 0; i < n; i++) {
    TSNode stmt = ts_node_named_child(body, i);
    if(strstr(ts_node_type(stmt), "comment")) continue;
    if(!type_is(stmt, "expression_statement") ||
       ts_node_named_child_count(stmt) != 1)
      return CH_NONE;
    TSNode str = ts_node_named_child(stmt, 0);
    if(!type_is(str, "string")) return CH_NONE;
    return pool_add_doc(self, ts_node_start_byte(str), ts_node_end_byte(str));
  }
  return CH_NONE;
}

/* True when nothing but whitespace precedes comment `c` on its line. */
static bool own_line(const ch_extractor *self, const comment_rec *c) {
  return c->prev_end == CH_NONE ||
         row_of(self, c->prev_end - 1) < row_of(self, c->start);
}

/* The comment block right above a definition starting at `anchor`, or
 * CH_NONE. */
static uint32_t find_doc(ch_extractor *self, uint32_t anchor) {
  const comment_rec *cs = self->comments;
  uint32_t lo = 0, hi = self->ncomments; /* first with start >= anchor */
  while(lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(cs[mid].start < anchor)
      lo = mid + 1;
    else
      hi = mid;
  }
  uint32_t i = lo, head = anchor;
  /* Attributes between the comments and the definition. */
  while(i > 0 && cs[i - 1].attr && cs[i - 1].next_start == head &&
        last_row(self, cs[i - 1].start, cs[i - 1].end) + 1 >=
            row_of(self, head)) {
    i--;
    head = cs[i].start;
  }
  if(i == 0) return CH_NONE;
  uint32_t last = i - 1, first = last;
  const comment_rec *c = &cs[last];
  if(c->attr || c->next_start != head || !own_line(self, c) ||
     last_row(self, c->start, c->end) + 1 != row_of(self, head))
    return CH_NONE;
  while(first > 0) {
    const comment_rec *p = &cs[first - 1];
    if(p->attr || p->next_start != c->next_start || !own_line(self, p) ||
       last_row(self, p->start, p->end) + 1 < row_of(self, cs[first].start))
      break;
    first--;
  }
  return pool_add_doc(self, cs[first].start, c->end);
}

/* ---- pass 4: imports --------------------------------------------------------
 */

static bool starts_with_quote(char c) {
  return c == '"' || c == '\'' || c == '`';
}

/* Appends a spec or name: quotes or <> removed when present, otherwise
 * all whitespace removed. Interned. */
static uint32_t add_spec(ch_extractor *self, uint32_t start, uint32_t end) {
  const char *t = self->text;
  if(end - start >= 2 &&
     ((starts_with_quote(t[start]) && t[end - 1] == t[start]) ||
      (t[start] == '<' && t[end - 1] == '>')))
    return intern_off(self, t + start + 1, end - start - 2);
  ch_buf *sc = &self->scratch;
  ch_buf_reset(sc);
  for(uint32_t i = start; i < end; i++)
    if(!is_space(t[i]) && ch_buf_append_char(sc, t[i])) return CH_NONE;
  return intern_off(self, sc->data ? sc->data : "", sc->len);
}

static void push_import(ch_extractor *self, uint32_t key, uint32_t spec,
                        uint32_t names, ch_import_kind kind) {
  if(spec == CH_NONE) return;
  GROW(self->imports, self->nimports, self->imports_cap);
  final_import *f = &self->imports[self->nimports];
  f->key = key;
  f->seq = self->nimports++;
  f->imp.spec = spec;
  f->imp.names = names;
  f->imp.row = row_of(self, key);
  f->imp.kind = kind;
}

static ch_import_kind auto_kind(const ch_extractor *self, uint32_t spec) {
  const char *s = self->pool.data + spec;
  switch(self->ls->rules->auto_kind) {
  case AUTO_DOTTED: return s[0] == '.' ? CH_IMPORT_RELATIVE : CH_IMPORT_MODULE;
  case AUTO_PATH:
    return s[0] == '.' || s[0] == '/' ? CH_IMPORT_RELATIVE : CH_IMPORT_PACKAGE;
  default: return CH_IMPORT_MODULE;
  }
}

/* Text of `node` without whitespace, appended to the scratch buffer. */
static ch_status append_compact(ch_extractor *self, TSNode node) {
  uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
  for(uint32_t i = s; i < e && i < self->len; i++)
    if(!is_space(self->text[i]) &&
       ch_buf_append_char(&self->scratch, self->text[i]))
      return CH_ERR_TOO_LARGE;
  return CH_OK;
}

/* Rust: one import per path of a use tree. `prefix` is the path so far
 * (scratch[0..prefix_len)). */
static void rust_use(ch_extractor *self, TSNode node, uint32_t key, int depth) {
  const lang_state *ls = self->ls;
  ch_buf *sc = &self->scratch;
  size_t prefix_len = sc->len;
  if(depth > 16 || self->status) return;
  const char *type = ts_node_type(node);
  TSNode path = {{0}, NULL, NULL};
  if(!strcmp(type, "use_as_clause")) {
    path = child_by_field(node, ls->f_path);
    node = path;
    if(ts_node_is_null(node)) return;
    type = ts_node_type(node);
  }
  bool list = !strcmp(type, "scoped_use_list") || !strcmp(type, "use_list");
  bool wildcard = !strcmp(type, "use_wildcard");
  if(!list && !wildcard) { /* a plain path */
    if(prefix_len && ch_buf_append_str(sc, "::")) goto fail;
    if(append_compact(self, node)) goto fail;
    push_import(self, key, intern_off(self, sc->data, sc->len), CH_NONE,
                CH_IMPORT_MODULE);
    goto done;
  }
  if(wildcard) {
    TSNode inner =
        ts_node_named_child_count(node) ? ts_node_named_child(node, 0) : path;
    if(!ts_node_is_null(inner)) {
      if(prefix_len && ch_buf_append_str(sc, "::")) goto fail;
      if(append_compact(self, inner)) goto fail;
    }
    push_import(self, key, intern_off(self, sc->data ? sc->data : "", sc->len),
                intern_off(self, "*", 1), CH_IMPORT_MODULE);
    goto done;
  }
  /* scoped_use_list: path::{items}; use_list: {items}. */
  TSNode items = node;
  if(!strcmp(type, "scoped_use_list")) {
    TSNode p = child_by_field(node, ls->f_path);
    if(!ts_node_is_null(p)) {
      if(prefix_len && ch_buf_append_str(sc, "::")) goto fail;
      if(append_compact(self, p)) goto fail;
    }
    items = child_by_field(node, ls->f_list);
    if(ts_node_is_null(items)) goto done;
  }
  size_t base = sc->len;
  /* Names first: simple items of this list become one import. */
  ch_buf names;
  ch_buf_init(&names, (size_t)TEXT_MAX);
  uint32_t n = ts_node_named_child_count(items);
  for(uint32_t i = 0; i < n; i++) {
    TSNode item = ts_node_named_child(items, i);
    const char *it = ts_node_type(item);
    if(strstr(it, "comment") || !strcmp(it, "scoped_use_list") ||
       !strcmp(it, "use_list") || !strcmp(it, "use_wildcard"))
      continue;
    TSNode named = item;
    if(!strcmp(it, "use_as_clause")) named = child_by_field(item, ls->f_path);
    if(ts_node_is_null(named)) continue;
    if(names.len && ch_buf_append_char(&names, ',')) break;
    uint32_t s = ts_node_start_byte(named), e = ts_node_end_byte(named);
    for(uint32_t k = s; k < e && k < self->len; k++)
      if(!is_space(self->text[k]) && ch_buf_append_char(&names, self->text[k]))
        break;
  }
  if(names.len)
    push_import(self, key, intern_off(self, sc->data ? sc->data : "", base),
                intern_off(self, names.data, names.len), CH_IMPORT_MODULE);
  ch_buf_release(&names);
  for(uint32_t i = 0; i < n && !self->status; i++) {
    TSNode item = ts_node_named_child(items, i);
    const char *it = ts_node_type(item);
    if(!strcmp(it, "scoped_use_list") || !strcmp(it, "use_list") ||
       !strcmp(it, "use_wildcard")) {
      sc->len = base;
      if(sc->data) sc->data[base] = 0;
      rust_use(self, item, key, depth + 1);
    }
  }
  goto done;
fail:
  self->status = CH_ERR_TOO_LARGE;
done:
  sc->len = prefix_len;
  if(sc->data) sc->data[prefix_len] = 0;
}

static int cmp_raw_import(const void *pa, const void *pb) {
  const raw_import *a = pa, *b = pb;
  int c;
  if((c = cmp_u32(a->stmt_start, b->stmt_start))) return c;
  if((c = cmp_u32(a->spec_start, b->spec_start))) return c;
  if((c = cmp_u32(a->name_start, b->name_start))) return c;
  return (int)a->name_lit - (int)b->name_lit;
}

static int cmp_final_import(const void *pa, const void *pb) {
  const final_import *a = pa, *b = pb;
  int c = cmp_u32(a->key, b->key);
  return c ? c : cmp_u32(a->seq, b->seq);
}

/* One match of an imports pattern. */
static void import_match(ch_extractor *self, const query_info *qi,
                         const TSQueryMatch *m) {
  raw_import r;
  memset(&r, 0, sizeof(r));
  r.spec_start = r.name_start = r.name_end = CH_NONE;
  bool have_import = false;
  TSNode use = {{0}, NULL, NULL};
  for(uint16_t i = 0; i < m->capture_count; i++) {
    uint32_t id = m->captures[i].index;
    TSNode node = m->captures[i].node;
    uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
    switch(qi->imp_roles[id]) {
    case R_IMPORT:
      have_import = true;
      r.stmt_start = s;
      r.kind = qi->imp_args[id];
      break;
    case R_SPEC: /* several: from the first to the last */
      if(r.spec_start == CH_NONE || s < r.spec_start) r.spec_start = s;
      if(e > r.spec_end) r.spec_end = e;
      break;
    case R_NAME:
      r.name_start = s;
      r.name_end = e;
      break;
    case R_NAME_LIT:
      r.name_start = s;
      r.name_end = e;
      r.name_lit = qi->imp_args[id];
      break;
    case R_USE: use = node; break;
    default: break;
    }
  }
  if(!have_import || !match_ok(self, qi, m)) return;
  if(!ts_node_is_null(use)) {
    ch_buf_reset(&self->scratch);
    rust_use(self, use, r.stmt_start, 0);
    return;
  }
  if(r.spec_start == CH_NONE || r.spec_end > self->len) return;
  GROW(self->rimports, self->nrimports, self->rimports_cap);
  self->rimports[self->nrimports++] = r;
}

/* Runs the query once over the tree. */
static void run_query(ch_extractor *self, TSNode root) {
  const query_info *qi = &self->ls->query;
  TSQueryCursor *qc = self->cursor;
  TSQueryMatch m;
  ts_query_cursor_exec(qc, qi->query, root);
  while(ts_query_cursor_next_match(qc, &m)) {
    if(m.pattern_index >= qi->imports_first)
      import_match(self, qi, &m);
    else
      def_match(self, qi, &m);
  }
}

/* Merges the import matches: one import per statement and spec. */
static void finish_imports(ch_extractor *self) {
  if(self->nrimports > 1)
    qsort(self->rimports, self->nrimports, sizeof(raw_import), cmp_raw_import);
  /* One import per statement and spec, with the names of all its matches. */
  ch_buf names;
  ch_buf_init(&names, (size_t)TEXT_MAX);
  for(uint32_t i = 0; i < self->nrimports && !self->status;) {
    const raw_import *first = &self->rimports[i];
    uint32_t j = i, prev_name = CH_NONE;
    ch_buf_reset(&names);
    for(; j < self->nrimports &&
          self->rimports[j].stmt_start == first->stmt_start &&
          self->rimports[j].spec_start == first->spec_start;
        j++) {
      const raw_import *r = &self->rimports[j];
      if(r->name_start == CH_NONE || r->name_start == prev_name) continue;
      prev_name = r->name_start;
      if(names.len && ch_buf_append_char(&names, ',')) break;
      if(r->name_lit == 1) {
        ch_buf_append_str(&names, "default");
      } else if(r->name_lit == 2) {
        ch_buf_append_char(&names, '*');
      } else {
        for(uint32_t k = r->name_start; k < r->name_end && k < self->len; k++)
          if(!is_space(self->text[k]))
            ch_buf_append_char(&names, self->text[k]);
      }
    }
    uint32_t spec = add_spec(self, first->spec_start, first->spec_end);
    uint32_t names_off =
        names.len ? intern_off(self, names.data, names.len) : CH_NONE;
    if(spec != CH_NONE) {
      ch_import_kind kind = first->kind == IMPORT_AUTO
                                ? auto_kind(self, spec)
                                : (ch_import_kind)first->kind;
      push_import(self, first->stmt_start, spec, names_off, kind);
    }
    i = j;
  }
  ch_buf_release(&names);
  if(self->nimports > 1)
    qsort(self->imports, self->nimports, sizeof(final_import),
          cmp_final_import);
}

/* ---- assembling the record
 * --------------------------------------------------- */

static int cmp_pool_str(const void *pa, const void *pb, void *pool) {
  const char *p = pool;
  return strcmp(p + *(const uint32_t *)pa, p + *(const uint32_t *)pb);
}

static void *dup_array(const void *data, size_t count, size_t size) {
  return count ? ch_memdup(data, count * size) : NULL;
}

static void reset(ch_extractor *self, const lang_state *ls, const char *text,
                  uint32_t len) {
  self->text = text;
  self->len = len;
  self->ls = ls;
  self->status = CH_OK;
  ch_buf_reset(&self->pool);
  ch_buf_reset(&self->scratch);
  if(self->slots) memset(self->slots, 0, self->slot_cap * sizeof(uint32_t));
  self->nentries = 0;
  self->nlines = 0;
  self->ntokens = 0;
  self->last_tok_end = CH_NONE;
  self->ncomments = self->pending = 0;
  self->nwraps = 0;
  self->wraps_unsorted = false;
  self->ndefs = 0;
  self->nrimports = 0;
  self->nimports = 0;
  self->nnamed = 0;
}

/* Frees *arr when it holds more than `limit` elements' worth. */
#define DROP_IF_BIG(arr, cap, limit)                                           \
  do {                                                                         \
    if((cap) > (limit)) {                                                      \
      ch_free(arr);                                                            \
      (arr) = NULL;                                                            \
      (cap) = 0;                                                               \
    }                                                                          \
  } while(0)

/* Gives big scratch blocks back after an unusually large file, so one huge
 * file does not pin its memory in every worker for good. Typical source
 * files stay far below these limits and keep their blocks. */
static void trim_scratch(ch_extractor *self) {
  const uint32_t big = 1u << 20; /* elements */
  if(self->pool.cap > ((size_t)16 << 20)) ch_buf_release(&self->pool);
  if(self->scratch.cap > ((size_t)1 << 20)) ch_buf_release(&self->scratch);
  /* The intern table is cleared at every extraction: keep it small. */
  if(self->slot_cap > big / 8) {
    ch_free(self->slots);
    self->slots = NULL;
    self->slot_cap = 0;
    ch_free(self->entries);
    self->entries = NULL;
    self->entries_cap = 0;
  }
  DROP_IF_BIG(self->lines, self->lines_cap, big);
  DROP_IF_BIG(self->tokens, self->tokens_cap, 4 * big);
  DROP_IF_BIG(self->comments, self->comments_cap, big / 4);
  DROP_IF_BIG(self->wraps, self->wraps_cap, big / 4);
  DROP_IF_BIG(self->defs, self->defs_cap, big / 16);
  DROP_IF_BIG(self->idents, self->idents_cap, big);
}

ch_record *ch_extract(ch_extractor *self, const ch_language *lang,
                      const char *path, const char *text, uint32_t len,
                      TSTree *old_tree, TSTree **tree_out, ch_status *error) {
  ch_status result = CH_OK;
  ch_record *rec = NULL;
  TSTree *tree = NULL;
  ch_def *defs = NULL;
  if(tree_out) *tree_out = NULL;
  if(!self || !lang || (!text && len)) {
    result = CH_ERR_INVALID;
    goto cleanup;
  }
  if(len > TEXT_MAX) {
    result = CH_ERR_TOO_LARGE;
    goto cleanup;
  }
  if(!text) text = "";
  lang_state *ls = lang_get(self, lang, &result);
  if(!ls) goto cleanup;
  tree = ts_parser_parse_string(ls->parser, old_tree, text, len);
  if(!tree) {
    ts_parser_reset(ls->parser);
    result = CH_ERR_STATE;
    goto cleanup;
  }
  TSNode root = ts_tree_root_node(tree);
  reset(self, ls, text, len);
  if(!self->have_children_cursor) {
    self->children = ts_tree_cursor_new(root);
    self->have_children_cursor = true;
  }

  scan_lines(self);
  walk(self, root);

  run_query(self, root);
  settle_defs(self);
  link_defs(self);

  defs = self->ndefs ? ch_malloc(self->ndefs * sizeof(ch_def)) : NULL;
  uint32_t ndefs = 0;
  for(uint32_t i = 0; i < self->ndefs && !self->status; i++) {
    const raw_def *d = &self->defs[i];
    if(d->out == CH_NONE) continue;
    ch_def *o = &defs[ndefs++];
    o->name = d->name_off;
    o->kind = (ch_def_kind)d->kind;
    o->container = d->container;
    o->range = span_of(self, d->start, d->end);
    o->name_range = span_of(self, d->name_start, d->name_end);
    o->signature = make_signature(self, d);
    o->doc = CH_NONE;
    if(ls->rules->python && (type_is(d->node, "function_definition") ||
                             type_is(d->node, "class_definition")))
      o->doc = python_docstring(self, d->node);
    if(o->doc == CH_NONE) o->doc = find_doc(self, d->start);
  }

  finish_imports(self);

  /* Identifiers used, not only defined. */
  if(self->idents_cap < self->nentries) {
    self->idents_cap = self->nentries;
    self->idents =
        ch_realloc(self->idents, self->idents_cap * sizeof(uint32_t));
  }
  uint32_t nidents = 0;
  for(uint32_t i = 0; i < self->nentries; i++)
    if(self->entries[i].uses > self->entries[i].defs)
      self->idents[nidents++] = self->entries[i].off;

  if(self->status) {
    result = self->status;
    goto cleanup;
  }
  if(nidents > 1)
    qsort_r(self->idents, nidents, sizeof(uint32_t), cmp_pool_str,
            self->pool.data);

  rec = ch_calloc(1, sizeof(*rec));
  atomic_init(&rec->refs, 1);
  rec->path = ch_strdup(path ? path : "");
  rec->lang = lang;
  rec->size = len;
  rec->mtime_ns = 0;
  rec->hash = ch_hash_bytes(text, len);
  rec->pool_len = (uint32_t)self->pool.len;
  rec->pool = dup_array(self->pool.data, self->pool.len, 1);
  if(ndefs) {
    rec->defs = ch_realloc(defs, ndefs * sizeof(ch_def));
    rec->ndefs = ndefs;
  } else {
    ch_free(defs);
  }
  defs = NULL;
  rec->nimports = self->nimports;
  if(self->nimports) {
    rec->imports = ch_malloc(self->nimports * sizeof(ch_import));
    for(uint32_t i = 0; i < self->nimports; i++)
      rec->imports[i] = self->imports[i].imp;
  }
  rec->idents = dup_array(self->idents, nidents, sizeof(uint32_t));
  rec->nidents = nidents;
  rec->line_starts = dup_array(self->lines, self->nlines, sizeof(uint32_t));
  rec->nlines = self->nlines;
  rec->tokens = dup_array(self->tokens, self->ntokens, sizeof(uint32_t));
  rec->ntokens = self->ntokens;
  rec->parse_errors = ts_node_has_error(root);

cleanup:
  ch_free(defs);
  if(self) {
    self->text = NULL;
    trim_scratch(self);
  }
  if(tree) {
    if(rec && tree_out)
      *tree_out = tree;
    else
      ts_tree_delete(tree);
  }
  if(error) *error = rec ? CH_OK : result;
  return rec;
}
