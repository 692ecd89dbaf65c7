/* extract.c: text -> ch_record, the extraction layer of chorus/index.h.
 *
 * One extraction is one parse plus two passes over the text and one over
 * the tree, none of which allocates per node (growable arrays and the
 * intern set are kept in the extractor and reused by the next extraction):
 *
 *   1. line starts: one scan of the text (LF, CRLF and lone CR end lines,
 *      as LSP counts them). Every row and column of the record comes from
 *      these, not from tree-sitter's points (which count LF only), so spans
 *      and line_starts always agree.
 *   2. the text's hash (ch_hash_text).
 *   3. one walk of the tree with a TSTreeCursor: the token stream, the
 *      identifier leaves (counted in a per-extraction intern set that also
 *      dedupes the pool), the comments (and Rust attributes) with the tokens
 *      around them for doc comments, "wrappers" (`export`, `const`,
 *      decorators, `template <...>`, Go's `type`/`var`/`const`) that widen a
 *      definition's range, and the matches of the extraction patterns: our
 *      grammars/queries/<lang>/defs.scm, upstream tags.scm and our
 *      imports.scm, concatenated. The patterns are compiled as one TSQuery
 *      (which checks them and numbers patterns and captures; a pattern's
 *      index tells which file it came from) and run by "the matcher" below,
 *      at the nodes where they start, instead of by tree-sitter's query
 *      cursor, which costs more than the whole walk. A per-grammar table of
 *      symbol flags makes the per-node work one array lookup. Patterns
 *      without a definition or import capture (upstream's references) are
 *      disabled, and so is upstream's @doc capture. Definition matches are
 *      deduplicated by name range: a defs.scm pattern wins over tags.scm,
 *      and within a file the earlier pattern wins, except that a variable,
 *      constant or field never wins over a more specific kind (an arrow
 *      function bound by `const` is a function). Predicates #eq?, #not-eq?,
 *      #match?, #not-match?, #any-of? and #not-any-of? are evaluated here
 *      (tree-sitter 0.20 does not); directives (#strip!, #select-adjacent!,
 *      #set!) are ignored. Statements and expressions that hold no
 *      definition are lexed instead of walked (see walk below).
 *
 * Incremental extraction. When the caller keeps the tree (tree_out), the
 * extractor keeps what the extraction found for that document (by path;
 * a few documents per extractor, least recently used dropped), split by
 * "segments": subtrees of at most SEG_MAX bytes ("units"), under the large
 * nodes that contain them ("shells", which keep only what their own node
 * gives). The next extraction of the path walks only the segments that
 * changed: a segment is reused, moved by the byte difference, when the new
 * tree has the same subtree (the same tree-sitter subtree, which the cache
 * keeps alive with a copy of the tree; or, for a node the parser rebuilt
 * without need, the same type and text at the same place in the unchanged
 * head or tail of the text, and the same node shapes when it holds
 * errors), with the same text (compared) and the same types and fields
 * above it. A match belongs to the deepest segment that holds all its
 * captures; patterns may look above that segment only at the types and
 * fields of the ancestors (our queries keep to that; upstream's do), so a
 * reused segment's matches are still right. What depends on neighbours
 * is redone over the whole file from the segments' parts, in time linear
 * in the number of definitions and comments, without the tree: comment
 * links, doc comments, widening by wrappers, the best match per name,
 * containers, the identifier set (occurrence counts per entry), and line
 * starts and the hash from the first changed byte. Pool strings of reused
 * segments (signatures, docs) are reused when their text is the same.
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
 * character literal (with its interpolations) is one token. Each token
 * keeps its start byte (token_starts), so the builtin model can map a
 * match back to the source text.
 *
 * Limits: texts above TEXT_MAX bytes are refused with CH_ERR_TOO_LARGE.
 */
#include "chorus/index.h"
#include "chorus/lex.h"

#include <pthread.h>
#include <regex.h>
#include <stddef.h>
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
  /* Nodes the walk lexes instead of visiting (see "the walk"): only types
   * that can never hold a definition, an import, a wrapper or a doc
   * comment of one, at any depth. And the words the lexer must not count
   * as identifiers beyond the grammar's keywords, and the grammar's
   * keywords that are identifiers most of the time. */
  const char *const *lexed;
  const char *const *keywords;
  const char *const *soft_keywords;
  /* When set, a lexed node is lexed only when none of these tokens is in
   * its text (and no `) {` or `) :`): they may start a definition or an
   * import inside it (see lex_node). */
  const char *const *triggers;
} lang_rules;

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const none[] = {NULL};

/* Python statements and expressions that hold no block: no definition or
 * import can be inside them (a lambda's body is an expression). */
#define PYTHON_LEXED                                                           \
  LIST("expression_statement", "return_statement", "assert_statement",         \
       "raise_statement", "delete_statement", "global_statement",              \
       "nonlocal_statement", "print_statement", "exec_statement", "decorator", \
       "parameters", "type", "argument_list", "attribute", "await",            \
       "binary_operator", "boolean_operator", "call", "comparison_operator",   \
       "concatenated_string", "conditional_expression", "dictionary",          \
       "dictionary_comprehension", "dictionary_splat", "expression_list",      \
       "generator_expression", "keyword_argument", "lambda", "list",           \
       "list_comprehension", "list_splat", "named_expression", "not_operator", \
       "pair", "parenthesized_expression", "set", "set_comprehension",         \
       "slice", "subscript", "tuple", "unary_operator", "yield",               \
       "pattern_list", "tuple_pattern", "list_pattern", "case_pattern",        \
       "with_clause")

/* JavaScript and TypeScript expressions and statements that usually hold
 * no definition; lexed when their text says so (JS_TRIGGERS). Patterns
 * start at three of them, each needing a trigger: an import's call (its
 * `require` or `import`), and an assignment or a pair whose value is a
 * function. */
#define JS_LEXED_NAMES                                                         \
  "expression_statement", "return_statement", "throw_statement", "arguments",  \
      "array", "object", "binary_expression", "member_expression",             \
      "subscript_expression", "parenthesized_expression", "template_string",   \
      "unary_expression", "ternary_expression", "new_expression",              \
      "augmented_assignment_expression", "update_expression",                  \
      "sequence_expression", "spread_element", "await_expression",             \
      "call_expression", "assignment_expression", "pair"
#define JS_LEXED LIST(JS_LEXED_NAMES, JS_STATEMENTS)
#define TS_LEXED LIST(JS_LEXED_NAMES)
/* JavaScript statements too: with no trigger in a block, no definition is
 * in it (its declarations are local), and parameters and declarators
 * (a program's variables come from the pattern at `program`, which looks
 * below with its own cursor). Not TypeScript's, whose local types and
 * parameter types can hold members (`let v: A | { m: T }`) with no
 * trigger in sight. */
#define JS_STATEMENTS                                                          \
  "statement_block", "if_statement", "else_clause", "for_statement",           \
      "for_in_statement", "while_statement", "do_statement", "try_statement",  \
      "catch_clause", "finally_clause", "switch_statement", "switch_body",     \
      "switch_case", "switch_default", "labeled_statement",                    \
      "formal_parameters", "variable_declarator"
/* Grammar keywords that are names nearly everywhere ({ target }, set()). */
#define JS_SOFT LIST("target", "meta", "set", "get", "from")
#define JS_KEYWORDS LIST("true", "false", "null", "undefined", "this", "super")
/* What may start a definition or an import inside an expression: a
 * function, class or arrow function (bound by a pair or an assignment), a
 * require() or import(), and (with `) {`) a method; `<` for JSX and type
 * arguments. TypeScript adds what may hold a type with members. */
#define JS_TRIGGER_LIST "function", "class", "=>", "require", "import", "<"
#define JS_TRIGGERS LIST(JS_TRIGGER_LIST)
#define TS_TRIGGERS                                                            \
  LIST(JS_TRIGGER_LIST, "as", "satisfies", "namespace", "module", "interface", \
       "enum", "declare", "abstract")

#define JS_WRAPS                                                               \
  LIST("export_statement", "lexical_declaration", "variable_declaration",      \
       "ambient_declaration")

/* No lexed nodes (every node is walked). */
#define NO_LEX NULL, NULL, NULL, NULL

static const lang_rules rules_table[] = {
    {"c", none, none, none, AUTO_NONE, UPPER_NONE, false, true, NO_LEX},
    {"cpp", LIST("template_declaration"), none, none, AUTO_NONE, UPPER_NONE,
     false, true, NO_LEX},
    {"python", none, LIST("decorated_definition"), none, AUTO_DOTTED, UPPER_ANY,
     true, false, PYTHON_LEXED, LIST("None", "True", "False"),
     LIST("print", "exec", "match", "case", "type"), NULL},
    {"javascript", JS_WRAPS, none, none, AUTO_PATH, UPPER_CONST, false, false,
     JS_LEXED, JS_KEYWORDS, JS_SOFT, JS_TRIGGERS},
    {"typescript", JS_WRAPS, none, none, AUTO_PATH, UPPER_CONST, false, false,
     TS_LEXED, JS_KEYWORDS, JS_SOFT, TS_TRIGGERS},
    {"tsx", JS_WRAPS, none, none, AUTO_PATH, UPPER_CONST, false, false,
     TS_LEXED, JS_KEYWORDS, JS_SOFT, TS_TRIGGERS},
    {"go", LIST("type_declaration", "var_declaration", "const_declaration"),
     none, none, AUTO_NONE, UPPER_NONE, false, false, NO_LEX},
    {"rust", none, none, LIST("attribute_item"), AUTO_NONE, UPPER_NONE, false,
     false, NO_LEX},
    {"java", none, none, none, AUTO_NONE, UPPER_NONE, false, false, NO_LEX},
};

static const lang_rules default_rules = {
    "", none, none, none, AUTO_NONE, UPPER_NONE, false, false, NO_LEX};

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
  /* Never split into smaller segments (see "segments" above). */
  SYM_NOSPLIT = 1 << 6,
  /* Lexed by the walk, not visited (lang_rules.lexed). */
  SYM_LEXED = 1 << 7,
};

/* Nodes that the declarator climb of a tags.scm function_declarator match
 * may end at: kept whole in one segment with what they declare. */
static const char *const nosplit_types[] = {"declaration", "field_declaration",
                                            NULL};

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
  /* The matcher (see "the matcher"): steps, child step lists, the root
   * step of each pattern (CH_NONE: disabled), and the patterns by root
   * symbol (sym_pats[sym_first[s] .. sym_first[s + 1])). */
  bool matcher;
  struct mstep *steps;
  uint32_t nsteps;
  uint32_t *kids;
  uint32_t nkids;
  uint32_t *roots;
  uint32_t *sym_first, *sym_pats;
  uint32_t nsym;
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
  /* For lexed nodes: the lexer set up for the language. */
  ch_lexer lexer;
  /* Tokens the lexer treats apart, by id (ch_token_id): open addressing,
   * wt_mask + 1 slots, a slot empty when its flags are 0 (W_...). */
  uint32_t *wt_ids;
  uint8_t *wt_flags;
  uint32_t wt_mask;
  bool lex_if; /* lang_rules.triggers: lexed nodes are conditional */
  TSFieldId f_body, f_declarator, f_name, f_type, f_value, f_definition,
      f_declaration, f_scope, f_path, f_list;
} lang_state;

/* ---- per-extraction data ------------------------------------------------- */

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

/* A definition match; the best match of each name within a segment (its
 * "local winner") with what is read from its node; then, in the settled
 * list, a definition of the record. */
typedef struct raw_def {
  TSNode node;  /* as captured, then after the climb; only valid in the
                   extraction that matched it */
  uint32_t seg; /* owning segment */
  uint32_t name_start, name_end;
  uint32_t owner_start, owner_end; /* CH_NONE when absent */
  uint32_t key_start, key_end;     /* the matched node: ordering of matches */
  uint32_t start, end;             /* the definition node, then widened */
  uint32_t sig_start;
  uint32_t pattern;
  uint8_t rank; /* 0: defs.scm, 1: tags.scm */
  uint8_t kind; /* ch_def_kind or KIND_IMPL */
  bool is_const;
  bool qualified; /* C++ name with a scope */
  bool dropped;   /* a local winner that is not a definition after all (a
                     C parameter); still wins its name */
  /* Read from the node of a local winner (CH_NONE when not applicable). */
  uint32_t cut;                     /* where the signature stops */
  uint32_t body_start, body_end;    /* C typedef: the body shown as { ... } */
  uint32_t pydoc_start, pydoc_end;  /* Python: the docstring */
  uint32_t name_entry, owner_entry; /* intern entries, owner CH_NONE */
  /* Pool strings made for it, and what they were made from (relative to
   * start), so an unchanged segment reuses them. */
  uint32_t sig_off, sig_a, sig_b, sig_kind;
  uint32_t doc_off, doc_a, doc_b;
  /* Settling, per extraction. */
  uint32_t src; /* index of the local winner in the segment data */
  uint32_t container;
  uint32_t redirect; /* impl resolved to this def, or CH_NONE */
  uint32_t out;      /* index in the record, or CH_NONE when dropped */
} raw_def;

/* An import match; matches of one statement and spec are merged. */
typedef struct raw_import {
  uint32_t seg;
  uint32_t stmt_start;
  uint32_t spec_start, spec_end;
  uint32_t name_start, name_end; /* CH_NONE: no name */
  uint8_t name_lit;              /* 0: none, 1: "default", 2: "*" */
  uint8_t kind;
} raw_import;

typedef struct final_import {
  uint32_t key, seq; /* source order: statement start, then production */
  uint32_t seg;
  uint32_t spec, names; /* intern entries; names CH_NONE */
  uint8_t kind;
} final_import;

/* A distinct string of the pool. */
typedef struct intern_entry {
  uint32_t off, len, hash;
  uint32_t uses; /* occurrences as an identifier leaf */
  uint32_t defs; /* occurrences as the name of a recorded definition */
} intern_entry;

/* Strings: a pool and the set of its interned strings. */
typedef struct strtab {
  ch_buf pool;
  uint32_t *slots; /* entry index + 1, 0 when empty */
  uint32_t slot_cap;
  intern_entry *entries;
  uint32_t nentries, entries_cap;
  /* Document caches only: entries sorted by string (the first nsorted
   * entries; later ones are merged in when the idents are made), and the
   * pool length after the last compaction. */
  uint32_t *sorted;
  uint32_t nsorted, sorted_cap;
  size_t compacted_len;
} strtab;

/* A segment: a subtree whose results are kept together so that an
 * unchanged one is reused by the next extraction of the document. A unit
 * is walked and matched as a whole; a shell (a large node) holds only what
 * its own node gives (a wrapper, an attribute, matches whose captures span
 * its children) and its children are segments of their own. Segments are
 * in pre-order, so their slices of every array are in source order. */
typedef struct seg {
  uint64_t key;   /* the subtree: see node_key */
  uint64_t chain; /* node types and fields from the root down to it */
  uint32_t start, end;
  uint32_t parent; /* CH_NONE for the root */
  uint32_t last;   /* one past its last descendant */
  uint32_t tok0, tok1, com0, com1, occ0, occ1, wrap0, wrap1, def0, def1, imp0,
      imp1;                         /* slices */
  uint32_t first_tok, last_tok_end; /* CH_NONE without tokens */
  uint32_t src;   /* reused: its index in the cache; CH_NONE when fresh */
  uint32_t delta; /* reused: new start - old start (modulo 2^32) */
  bool shell;
  bool fresh_below; /* a fresh descendant (fresh shells only) */
  bool has_error;   /* ERROR or MISSING nodes in its subtree */
  uint64_t shape;   /* units with errors: see node_shape */
  uint32_t run;     /* fresh: the query run that reads its matches */
} seg;

/* What one extraction produces per segment; a document cache keeps the
 * last one. */
typedef struct segdata {
  seg *segs;
  uint32_t nsegs, segs_cap;
  uint32_t *tokens; /* ch_token_id of each token */
  uint32_t *starts; /* byte offset of each token (tokens_cap entries too) */
  uint32_t ntokens, tokens_cap;
  comment_rec *comments;
  uint32_t ncomments, comments_cap;
  uint32_t *occ; /* intern entry of each identifier leaf */
  uint32_t nocc, occ_cap;
  wrap_rec *wraps;
  uint32_t nwraps, wraps_cap;
  raw_def *defs; /* local winners */
  uint32_t ndefs, defs_cap;
  final_import *imps;
  uint32_t nimps, imps_cap;
} segdata;

/* The last extraction of a document, to make the next one incremental. */
typedef struct doc_cache {
  const lang_state *ls; /* NULL: unused */
  char *path;           /* of the document, owned */
  uint64_t used;        /* for LRU */
  TSTree *tree;         /* a copy of the tree the data was taken from */
  char *text;           /* a copy of its text */
  uint32_t len, text_cap;
  uint64_t *hstates; /* ch_hash_text state at each HASH_STEP bytes */
  uint32_t nhstates, hstates_cap;
  uint32_t *lines; /* line starts of text */
  uint32_t nlines, lines_cap;
  segdata data;
  uint64_t *map_keys; /* open addressing: segment key -> index */
  uint32_t *map_idx;
  uint32_t map_cap;
  strtab st;
} doc_cache;

#define DOC_CACHES 4
/* Nodes above this many bytes are split into segments. */
#define SEG_MAX 2048
/* The incremental text hash keeps a state every HASH_STEP bytes. */
#define HASH_STEP 4096

#define MMEMO_SLOTS 256 /* a power of two */
#define MMEMO_PROBES 8

/* A token of a lexed node (lex_collect): emitted as a token, counted as
 * an identifier, or both. */
enum { LT_TOKEN = 1, LT_IDENT = 2 };
#define LTOKS_KEEP 4096 /* entries kept between lexed nodes */
typedef struct lexed_tok {
  uint32_t start, end, id;
  uint8_t flags;
} lexed_tok;

struct ch_extractor {
  lang_state *langs; /* ch_syntax_count() entries */
  size_t nlangs;
  TSQueryCursor *cursor;

  /* Scratch reused by every extraction; emptied at the start of one. */
  const char *text;
  uint32_t len;
  const lang_state *ls;
  ch_status status; /* sticky: the first error of this extraction */
  strtab own;       /* strings when there is no document cache */
  strtab *st;       /* the strings of this extraction */
  ch_buf scratch;
  doc_cache *cache; /* of this extraction, or NULL */
  doc_cache caches[DOC_CACHES];
  uint64_t clock; /* for LRU */

  segdata cur; /* being built */
  uint32_t *lines;
  uint32_t nlines, lines_cap;
  uint32_t last_tok_end;  /* CH_NONE before the first token */
  uint32_t seg_first_tok; /* first token start in the current segment */
  uint32_t pending;       /* first comment without next_start */
  bool wraps_unsorted;
  uint32_t match_seg; /* owner of the match being read */
  raw_def *mdefs;     /* matches */
  uint32_t nmdefs, mdefs_cap;
  raw_import *rimports;
  uint32_t nrimports, rimports_cap;
  final_import *fimps; /* imports of fresh segments, before ordering */
  uint32_t nfimps, fimps_cap;
  raw_def *sdefs; /* settled */
  uint32_t nsdefs, sdefs_cap;
  uint32_t *order; /* scratch indexes */
  uint32_t norder, order_cap;
  uint32_t *bucket; /* per segment: first index of its matches */
  uint32_t bucket_cap;
  uint32_t *idents;
  uint32_t idents_cap;
  uint64_t *named; /* see index_named */
  uint32_t nnamed, named_cap;
  uint64_t *dstack; /* descent: per level, segment index and chain */
  uint32_t *wstack; /* walk: per level, siblings still to come */
  uint32_t wstack_cap;
  uint32_t dstack_cap;
  uint32_t same_head, same_tail; /* bytes equal to the cached text */
  uint64_t *hstates;             /* incremental hash states being made */
  uint32_t nhstates, hstates_cap;
  /* A cursor to iterate a node's children (ts_node_child(i) is linear in
   * i); reset to the node at each use. */
  TSTreeCursor children;
  TSTreeCursor walker;  /* for walk */
  TSTreeCursor mcursor; /* for the matcher */
  bool have_children_cursor;
  bool walk_all;    /* ch_extractor_walk_all: no node is lexed */
  lexed_tok *ltoks; /* lex_collect's tokens */
  uint32_t nltoks, ltoks_cap;
  uint32_t fail_start, fail_end; /* the token a failed lex_collect met */
  lexed_tok *seen_toks;          /* what the last failed attempt gathered */
  uint32_t nseen, seen_cap;
  /* The matcher's scratch: children of the nodes being matched, partial
   * matches, captures; matches of shells kept until the segments are
   * known (pattern, first capture, count). */
  struct mchild *mkids;
  uint32_t nmkids, mkids_cap;
  /* The children lists made for the patterns tried at one node (valid
   * while mgen is unchanged): the patterns that start at a node look at
   * its children, and often at its grandchildren, again, and it is the
   * cursor walk that costs. */
  struct mmemo {
    const void *id; /* TSNode.id: unique within a tree */
    uint32_t gen, kid0, n;
  } mmemo[MMEMO_SLOTS];
  uint32_t mgen;
  struct msol *msols;
  uint32_t nmsols, msols_cap;
  TSQueryCapture *mcaps;
  uint32_t nmcaps, mcaps_cap;
  uint32_t mfuel; /* steps left for one pattern at one node: a guard */
  TSQueryCapture *pcaps;
  uint32_t npcaps, pcaps_cap;
  uint32_t *pmatch;
  uint32_t npmatch, pmatch_cap;
};

/* Appends value to arr (n elements of cap), grown as by GROW. */
#define APPEND(arr, n, cap, value)                                             \
  do {                                                                         \
    GROW(arr, n, cap);                                                         \
    (arr)[(n)++] = (value);                                                    \
  } while(0)

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

static void strtab_init(strtab *self) {
  memset(self, 0, sizeof(*self));
  ch_buf_init(&self->pool, POOL_MAX);
}

static void strtab_release(strtab *self) {
  ch_buf_release(&self->pool);
  ch_free(self->slots);
  ch_free(self->entries);
  ch_free(self->sorted);
  strtab_init(self);
}

/* Empties it, keeping its storage. */
static void strtab_clear(strtab *self) {
  ch_buf_reset(&self->pool);
  if(self->slots) memset(self->slots, 0, self->slot_cap * sizeof(uint32_t));
  self->nentries = 0;
  self->nsorted = 0;
  self->compacted_len = 0;
}

/* Appends s[0..n) and a NUL to the pool; returns its offset, or CH_NONE
 * (and a sticky error) past the pool's limit. */
static uint32_t pool_add(ch_extractor *self, const char *s, size_t n) {
  if(self->status) return CH_NONE;
  ch_buf *pool = &self->st->pool;
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

/* ch_hash_bytes (FNV-1a) of util.c, which token_id inlines. */
#define FNV_BASIS 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

/* ch_token_id, inline: the walk takes it of every leaf, and the intern
 * set hashes with it too, so an identifier is hashed once. */
static inline uint32_t token_id(const char *s, size_t n) {
  uint64_t h = FNV_BASIS;
  for(size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= FNV_PRIME;
  }
  return (uint32_t)(h ^ (h >> 32));
}

static void intern_rehash(strtab *st, uint32_t cap) {
  ch_free(st->slots);
  st->slots = ch_calloc(cap, sizeof(uint32_t));
  st->slot_cap = cap;
  for(uint32_t i = 0; i < st->nentries; i++) {
    uint32_t at = st->entries[i].hash & (cap - 1);
    while(st->slots[at])
      at = (at + 1) & (cap - 1);
    st->slots[at] = i + 1;
  }
}

/* The entry index of s[0..n), whose token_id is h, added to the pool when
 * new; CH_NONE after an error. */
static uint32_t intern_hashed(ch_extractor *self, const char *s, size_t n,
                              uint32_t h) {
  if(self->status) return CH_NONE;
  strtab *st = self->st;
  if((st->nentries + 1) * 2 > st->slot_cap)
    intern_rehash(st, st->slot_cap ? st->slot_cap * 2 : 1024);
  uint32_t mask = st->slot_cap - 1, at = h & mask;
  for(;;) {
    uint32_t slot = st->slots[at];
    if(!slot) break;
    intern_entry *e = &st->entries[slot - 1];
    if(e->hash == h && e->len == n && !memcmp(st->pool.data + e->off, s, n))
      return slot - 1;
    at = (at + 1) & mask;
  }
  uint32_t off = pool_add(self, s, n);
  if(off == CH_NONE) return CH_NONE;
  GROW(st->entries, st->nentries, st->entries_cap);
  intern_entry *e = &st->entries[st->nentries++];
  e->off = off;
  e->len = (uint32_t)n;
  e->hash = h;
  e->uses = e->defs = 0;
  st->slots[at] = st->nentries;
  return st->nentries - 1;
}

static uint32_t intern(ch_extractor *self, const char *s, size_t n) {
  return intern_hashed(self, s, n, token_id(s, n));
}

/* The pool offset of entry i (CH_NONE for CH_NONE). */
static uint32_t entry_off(const ch_extractor *self, uint32_t i) {
  return i == CH_NONE ? CH_NONE : self->st->entries[i].off;
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
  ch_free(self->steps);
  ch_free(self->kids);
  ch_free(self->roots);
  ch_free(self->sym_first);
  ch_free(self->sym_pats);
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

/* ---- the matcher ------------------------------------------------------------
 *
 * The patterns of the extraction query, matched by the walk itself: at
 * each node, the patterns whose root is of its type. tree-sitter's query
 * cursor visits every node of the tree with a costly step each (its
 * state machine, the parent and the siblings of the node); the walk visits
 * them anyway, and only a few nodes start a pattern. The TSQuery is still
 * compiled: it checks the files, numbers the patterns and captures (the
 * matcher uses its numbers, its predicates and capture roles), and runs
 * instead of the matcher for a language whose queries use what the matcher
 * does not know.
 *
 * The matcher knows: node types, (_) and _, "anonymous" nodes, fields,
 * negated fields (!body), alternations, captures, the anchor `.` (first
 * child, last child, adjacent named children) and the quantifier `?`
 * (greedy: the match takes the node when it can). A top-level group may
 * hold patterns quantified `*` or `?` whose captures are all disabled
 * (upstream's `(comment)* @doc .` before a definition): they are left out,
 * which only removes duplicate matches. Like the query, it enumerates every
 * way a pattern matches (one match per child that fits a step), and (_) and
 * _ do not match ERROR nodes.
 */

enum { MS_NODE, MS_WILD_NAMED, MS_WILD_ANY, MS_ALT };
/* The type of ERROR nodes (tree-sitter's ts_builtin_sym_error). */
#define SYM_ERROR ((TSSymbol)-1)
enum { Q_ONE, Q_OPT, Q_STAR, Q_PLUS };

#define MS_CAPS_MAX 4
#define MS_NEG_MAX 2

typedef struct mstep {
  TSSymbol sym;       /* MS_NODE: the type */
  uint8_t kind;       /* MS_... */
  uint8_t quant;      /* Q_... */
  bool anchored;      /* `.` before it: the first named child after the
                         previous step's (or the first named child) */
  bool last_anchored; /* `.` after its last child step */
  TSFieldId field;    /* required field in its parent, 0 for none */
  TSFieldId neg[MS_NEG_MAX];
  uint8_t nneg;
  uint8_t ncaps;
  uint16_t caps[MS_CAPS_MAX];
  uint32_t kids, nkids; /* child steps, or alternatives, in query_info.kids */
} mstep;

/* A child of a node being matched. */
typedef struct mchild {
  TSNode node;
  TSFieldId field;
  bool named;
} mchild;

/* A partial match: the next child to look at and its captures. */
typedef struct msol {
  uint32_t pos;
  uint32_t cap0, ncap; /* in the capture pool */
} msol;

typedef struct sx {
  const char *s;
  size_t n, i;
  bool bad;
} sx;

static void sx_space(sx *p) {
  while(p->i < p->n) {
    char c = p->s[p->i];
    if(c == ';') {
      while(p->i < p->n && p->s[p->i] != '\n')
        p->i++;
    } else if(is_space(c)) {
      p->i++;
    } else {
      break;
    }
  }
}

static bool sx_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
         c == '?' || c == '!';
}

/* An identifier (a node type, field or capture name): its length. */
static size_t sx_ident(sx *p) {
  size_t start = p->i;
  while(p->i < p->n && sx_ident_char(p->s[p->i]) &&
        !(p->s[p->i] == '.' && p->i == start))
    p->i++;
  /* A field name ends before its ':'; '?' and '!' only in predicates. */
  return p->i - start;
}

/* A quoted string: appends the unescaped text to out. */
static bool sx_string(sx *p, ch_buf *out) {
  ch_buf_reset(out);
  if(p->i >= p->n || p->s[p->i] != '"') return false;
  p->i++;
  while(p->i < p->n && p->s[p->i] != '"') {
    char c = p->s[p->i++];
    if(c == '\\' && p->i < p->n) {
      c = p->s[p->i++];
      if(c == 'n')
        c = '\n';
      else if(c == 't')
        c = '\t';
      else if(c == 'r')
        c = '\r';
      else if(c == '0')
        c = 0;
    }
    if(ch_buf_append_char(out, c)) return false;
  }
  if(p->i >= p->n) return false;
  p->i++;
  return true;
}

static uint32_t new_step(query_info *qi, uint32_t *cap) {
  GROW(qi->steps, qi->nsteps, *cap);
  mstep *st = &qi->steps[qi->nsteps];
  memset(st, 0, sizeof(*st));
  return qi->nsteps++;
}

/* Compiler state for one query. */
typedef struct mcomp {
  query_info *qi;
  const TSLanguage *tl;
  uint32_t steps_cap, kids_cap;
  ch_buf str;
  uint32_t doc_capture; /* "doc": disabled, never reported */
  uint32_t *tmp;        /* child step lists being built */
  uint32_t ntmp, tmp_cap;
} mcomp;

static uint32_t capture_id(mcomp *c, const char *name, size_t n) {
  uint32_t count = ts_query_capture_count(c->qi->query);
  for(uint32_t i = 0; i < count; i++) {
    uint32_t len;
    const char *s = ts_query_capture_name_for_id(c->qi->query, i, &len);
    if(len == n && !memcmp(s, name, n)) return i;
  }
  return CH_NONE;
}

static uint32_t parse_item(mcomp *c, sx *p, bool top);

/* The items inside ( ) or [ ] up to `close`: child steps appended to
 * c->tmp from `base`; sets the anchors and negated fields of `parent`. */
static void parse_items(mcomp *c, sx *p, char close, uint32_t parent,
                        bool alternation) {
  bool anchor = false;
  for(;;) {
    sx_space(p);
    if(p->i >= p->n) {
      p->bad = true;
      return;
    }
    char ch = p->s[p->i];
    if(ch == close) {
      p->i++;
      if(anchor) {
        if(alternation) p->bad = true;
        c->qi->steps[parent].last_anchored = true;
      }
      return;
    }
    if(ch == '.') {
      if(alternation) p->bad = true;
      p->i++;
      anchor = true;
      continue;
    }
    if(ch == '!') {
      p->i++;
      size_t n = sx_ident(p);
      TSFieldId f =
          ts_language_field_id_for_name(c->tl, p->s + p->i - n, (uint32_t)n);
      mstep *st = &c->qi->steps[parent];
      if(!f || st->nneg == MS_NEG_MAX || alternation) {
        p->bad = true;
        return;
      }
      st->neg[st->nneg++] = f;
      continue;
    }
    if(ch == '(' && p->i + 1 < p->n && p->s[p->i + 1] == '#') {
      /* A predicate: the query evaluates them by pattern; skip it. */
      int depth = 0;
      while(p->i < p->n) {
        char d = p->s[p->i];
        if(d == '"') {
          if(!sx_string(p, &c->str)) {
            p->bad = true;
            return;
          }
          continue;
        }
        p->i++;
        if(d == '(') depth++;
        if(d == ')' && --depth == 0) break;
      }
      continue;
    }
    uint32_t k = parse_item(c, p, false);
    if(p->bad) return;
    if(k == CH_NONE) continue; /* left out */
    c->qi->steps[k].anchored = anchor;
    anchor = false;
    APPEND(c->tmp, c->ntmp, c->tmp_cap, k);
  }
}

/* Moves c->tmp[base..) to the kids of step k. */
static void take_kids(mcomp *c, uint32_t k, uint32_t base) {
  query_info *qi = c->qi;
  qi->steps[k].kids = qi->nkids;
  qi->steps[k].nkids = c->ntmp - base;
  for(uint32_t i = base; i < c->ntmp; i++)
    APPEND(qi->kids, qi->nkids, c->kids_cap, c->tmp[i]);
  c->ntmp = base;
}

/* One item: a node, an alternation, a wildcard, an anonymous node, with
 * its field, quantifier and captures. Returns its step, or CH_NONE for an
 * item left out (see above). `top`: a pattern of the query. */
static uint32_t parse_item(mcomp *c, sx *p, bool top) {
  query_info *qi = c->qi;
  TSFieldId field = 0;
  sx_space(p);
  size_t save = p->i;
  size_t n = sx_ident(p);
  if(n && p->i < p->n && p->s[p->i] == ':') {
    field = ts_language_field_id_for_name(c->tl, p->s + save, (uint32_t)n);
    if(!field) {
      p->bad = true;
      return CH_NONE;
    }
    p->i++;
    sx_space(p);
  } else {
    p->i = save;
  }
  if(p->i >= p->n) {
    p->bad = true;
    return CH_NONE;
  }
  uint32_t k = CH_NONE;
  char ch = p->s[p->i];
  bool group = false;
  if(ch == '(') {
    p->i++;
    sx_space(p);
    if(p->i < p->n && (p->s[p->i] == '(' || p->s[p->i] == '[' ||
                       p->s[p->i] == '"' || p->s[p->i] == '.')) {
      /* A group of siblings holding one pattern (at the top, with items
       * left out); inside a pattern, parentheses around one item. */
      group = top;
      uint32_t base = c->ntmp;
      k = new_step(qi, &c->steps_cap);
      qi->steps[k].kind = MS_ALT; /* a holder, dropped below */
      parse_items(c, p, ')', k, false);
      if(p->bad) return CH_NONE;
      if(c->ntmp - base != 1 || qi->steps[k].last_anchored) {
        p->bad = true;
        return CH_NONE;
      }
      uint32_t only = c->tmp[base];
      c->ntmp = base;
      qi->steps[only].anchored = false;
      k = only;
    } else {
      size_t tn = sx_ident(p);
      k = new_step(qi, &c->steps_cap);
      mstep *st = &qi->steps[k];
      if(tn == 1 && p->s[p->i - 1] == '_') {
        st->kind = MS_WILD_NAMED;
      } else {
        TSSymbol sym = ts_language_symbol_for_name(c->tl, p->s + p->i - tn,
                                                   (uint32_t)tn, true);
        if(!tn || !sym) {
          p->bad = true;
          return CH_NONE;
        }
        st->kind = MS_NODE;
        st->sym = sym;
      }
      uint32_t base = c->ntmp;
      parse_items(c, p, ')', k, false);
      if(p->bad) return CH_NONE;
      take_kids(c, k, base);
    }
  } else if(ch == '[') {
    p->i++;
    k = new_step(qi, &c->steps_cap);
    qi->steps[k].kind = MS_ALT;
    uint32_t base = c->ntmp;
    parse_items(c, p, ']', k, true);
    if(p->bad) return CH_NONE;
    for(uint32_t i = base; i < c->ntmp; i++) {
      const mstep *alt = &qi->steps[c->tmp[i]];
      if(alt->quant != Q_ONE || alt->field || alt->kind == MS_ALT) {
        p->bad = true;
        return CH_NONE;
      }
    }
    take_kids(c, k, base);
  } else if(ch == '"') {
    if(!sx_string(p, &c->str)) {
      p->bad = true;
      return CH_NONE;
    }
    TSSymbol sym = ts_language_symbol_for_name(
        c->tl, c->str.data ? c->str.data : "", (uint32_t)c->str.len, false);
    if(!sym) {
      p->bad = true;
      return CH_NONE;
    }
    k = new_step(qi, &c->steps_cap);
    qi->steps[k].kind = MS_NODE;
    qi->steps[k].sym = sym;
  } else if(ch == '_') {
    p->i++;
    k = new_step(qi, &c->steps_cap);
    qi->steps[k].kind = MS_WILD_ANY;
  } else {
    p->bad = true;
    return CH_NONE;
  }
  /* Quantifier, then captures. */
  uint8_t quant = Q_ONE;
  if(p->i < p->n &&
     (p->s[p->i] == '?' || p->s[p->i] == '*' || p->s[p->i] == '+')) {
    quant = p->s[p->i] == '?' ? Q_OPT : p->s[p->i] == '*' ? Q_STAR : Q_PLUS;
    p->i++;
  }
  bool used = false;
  for(;;) {
    sx_space(p);
    if(p->i >= p->n || p->s[p->i] != '@') break;
    p->i++;
    size_t cn = sx_ident(p);
    uint32_t id = capture_id(c, p->s + p->i - cn, cn);
    if(id == CH_NONE) {
      p->bad = true;
      return CH_NONE;
    }
    if(id == c->doc_capture) continue; /* disabled */
    mstep *st = &qi->steps[k];
    if(st->ncaps == MS_CAPS_MAX) {
      p->bad = true;
      return CH_NONE;
    }
    st->caps[st->ncaps++] = (uint16_t)id;
    used = true;
  }
  if(group) return k;
  mstep *st = &qi->steps[k];
  if(st->field && field) {
    p->bad = true;
    return CH_NONE;
  }
  if(field) st->field = field;
  st->quant = quant;
  if(quant == Q_STAR || quant == Q_PLUS) {
    /* Only as a left-out optional item: no capture used inside. */
    if(quant == Q_PLUS || used || st->nkids) {
      bool inner = false;
      for(uint32_t i = 0; i < st->nkids; i++)
        inner |= qi->steps[qi->kids[st->kids + i]].ncaps > 0;
      if(quant == Q_PLUS || used || inner) {
        p->bad = true;
        return CH_NONE;
      }
    }
    return CH_NONE;
  }
  return k;
}

/* The root symbols of step k, or false for a wildcard. */
static bool root_symbols(const query_info *qi, uint32_t k, TSSymbol *out,
                         uint32_t *n, uint32_t max) {
  const mstep *st = &qi->steps[k];
  if(st->kind == MS_NODE) {
    if(*n == max) return false;
    out[(*n)++] = st->sym;
    return true;
  }
  if(st->kind != MS_ALT) return false;
  for(uint32_t i = 0; i < st->nkids; i++)
    if(!root_symbols(qi, qi->kids[st->kids + i], out, n, max)) return false;
  return true;
}

/* Compiles the enabled patterns of the query for the matcher. Leaves the
 * matcher off (the query runs) when a pattern is beyond it. */
static void matcher_compile(query_info *qi, const ch_language *lang,
                            const char *source, size_t len,
                            const bool *enabled) {
  TSQuery *q = qi->query;
  uint32_t npatterns = ts_query_pattern_count(q);
  mcomp c;
  memset(&c, 0, sizeof(c));
  c.qi = qi;
  c.tl = lang->ts_language();
  c.doc_capture = capture_id(&c, "doc", 3);
  ch_buf_init(&c.str, (size_t)1 << 16);
  qi->roots = ch_malloc((npatterns ? npatterns : 1) * sizeof(uint32_t));
  bool ok = true;
  for(uint32_t pat = 0; pat < npatterns && ok; pat++) {
    qi->roots[pat] = CH_NONE;
    if(!enabled[pat]) continue;
    sx p = {source, len, ts_query_start_byte_for_pattern(q, pat), false};
    uint32_t k = parse_item(&c, &p, true);
    if(p.bad || k == CH_NONE || qi->steps[k].quant != Q_ONE ||
       qi->steps[k].field) {
      ok = false;
      ch_log_warn("extraction pattern %u of %s is beyond the matcher (byte "
                  "%zu): the query runs instead",
                  pat, lang->name, p.i);
    }
    qi->roots[pat] = k;
  }
  /* Patterns by root symbol. */
  uint32_t nsym = ts_language_symbol_count(c.tl);
  uint32_t *count = ch_calloc(nsym + 1, sizeof(uint32_t));
  TSSymbol syms[16];
  for(uint32_t pat = 0; pat < npatterns && ok; pat++) {
    if(qi->roots[pat] == CH_NONE) continue;
    uint32_t n = 0;
    if(!root_symbols(qi, qi->roots[pat], syms, &n, CH_ARRAY_LEN(syms))) {
      ok = false;
      break;
    }
    for(uint32_t i = 0; i < n; i++)
      if(syms[i] < nsym) count[syms[i] + 1]++;
  }
  if(ok) {
    for(uint32_t s = 0; s < nsym; s++)
      count[s + 1] += count[s];
    qi->sym_first = ch_memdup(count, (nsym + 1) * sizeof(uint32_t));
    qi->sym_pats =
        ch_malloc((count[nsym] ? count[nsym] : 1) * sizeof(uint32_t));
    qi->nsym = nsym;
    for(uint32_t pat = 0; pat < npatterns; pat++) {
      if(qi->roots[pat] == CH_NONE) continue;
      uint32_t n = 0;
      root_symbols(qi, qi->roots[pat], syms, &n, CH_ARRAY_LEN(syms));
      for(uint32_t i = 0; i < n; i++) {
        bool dup = false;
        for(uint32_t j = 0; j < i; j++)
          dup |= syms[j] == syms[i];
        if(!dup && syms[i] < nsym) qi->sym_pats[count[syms[i]]++] = pat;
      }
    }
    qi->matcher = true;
  } else {
    ch_log_debug("extraction queries of %s run as a query", lang->name);
  }
  ch_free(count);
  ch_free(c.tmp);
  ch_buf_release(&c.str);
}

/* ---- matching, at run time */

/* The children of `node` in self->mkids: *n of them from the one
 * returned; made once per node for all the patterns tried at one node. */
static uint32_t m_children(ch_extractor *self, TSNode node, uint32_t *n) {
  uintptr_t key = (uintptr_t)node.id;
  uint32_t h = (uint32_t)((key >> 4) ^ (key >> 13)), slot = UINT32_MAX;
  for(uint32_t p = 0; p < MMEMO_PROBES; p++) {
    struct mmemo *m = &self->mmemo[(h + p) & (MMEMO_SLOTS - 1)];
    if(m->gen != self->mgen) {
      slot = (h + p) & (MMEMO_SLOTS - 1);
      break;
    }
    if(m->id == node.id) {
      *n = m->n;
      return m->kid0;
    }
  }
  TSTreeCursor *cur = &self->mcursor;
  uint32_t first = self->nmkids;
  ts_tree_cursor_reset(cur, node);
  if(ts_tree_cursor_goto_first_child(cur)) {
    do {
      mchild ch;
      ch.node = ts_tree_cursor_current_node(cur);
      ch.field = ts_tree_cursor_current_field_id(cur);
      ch.named = ts_node_is_named(ch.node);
      APPEND(self->mkids, self->nmkids, self->mkids_cap, ch);
    } while(ts_tree_cursor_goto_next_sibling(cur));
  }
  *n = self->nmkids - first;
  if(slot != UINT32_MAX)
    self->mmemo[slot] = (struct mmemo){node.id, self->mgen, first, *n};
  return first;
}

static uint32_t m_caps(ch_extractor *self, uint32_t from, uint32_t n) {
  uint32_t at = self->nmcaps;
  for(uint32_t i = 0; i < n; i++)
    APPEND(self->mcaps, self->nmcaps, self->mcaps_cap, self->mcaps[from + i]);
  return at;
}

static void m_sol(ch_extractor *self, uint32_t pos, uint32_t cap0,
                  uint32_t ncap) {
  msol s = {pos, cap0, ncap};
  APPEND(self->msols, self->nmsols, self->msols_cap, s);
}

static bool m_has_named(const ch_extractor *self, uint32_t from, uint32_t to) {
  for(uint32_t i = from; i < to; i++)
    if(self->mkids[i].named) return true;
  return false;
}

/* The ways step k matches `node`: solutions appended to self->msols (their
 * captures in self->mcaps); returns the first. */
static uint32_t m_node(ch_extractor *self, uint32_t k, TSNode node) {
  const query_info *qi = &self->ls->query;
  const mstep *st = &qi->steps[k];
  uint32_t first = self->nmsols;
  if(self->mfuel == 0) return first;
  self->mfuel--;
  if(st->kind == MS_ALT) {
    for(uint32_t a = 0; a < st->nkids; a++)
      m_node(self, qi->kids[st->kids + a], node);
    if(st->ncaps) {
      for(uint32_t i = first; i < self->nmsols; i++) {
        msol *s = &self->msols[i];
        uint32_t at = m_caps(self, s->cap0, s->ncap);
        for(uint32_t c = 0; c < st->ncaps; c++) {
          TSQueryCapture cap = {node, st->caps[c]};
          APPEND(self->mcaps, self->nmcaps, self->mcaps_cap, cap);
        }
        s = &self->msols[i];
        s->cap0 = at;
        s->ncap += st->ncaps;
      }
    }
    return first;
  }
  TSSymbol sym = ts_node_symbol(node);
  switch(st->kind) {
  case MS_NODE:
    if(sym != st->sym) return first;
    break;
  case MS_WILD_NAMED:
    if(!ts_node_is_named(node) || sym == SYM_ERROR) return first;
    break;
  default:
    if(sym == SYM_ERROR) return first;
    break;
  }
  for(uint32_t i = 0; i < st->nneg; i++)
    if(!ts_node_is_null(ts_node_child_by_field_id(node, st->neg[i])))
      return first;
  uint32_t own = self->nmcaps;
  for(uint32_t c = 0; c < st->ncaps; c++) {
    TSQueryCapture cap = {node, st->caps[c]};
    APPEND(self->mcaps, self->nmcaps, self->mcaps_cap, cap);
  }
  m_sol(self, 0, own, st->ncaps);
  if(!st->nkids) return first;

  uint32_t nkids, kid0 = m_children(self, node, &nkids);
  /* Partial matches: [pa, pb) in msols; each step makes the next list. */
  uint32_t pa = first, pb = self->nmsols;
  for(uint32_t i = 0; i < st->nkids && pa < pb; i++) {
    uint32_t ck = qi->kids[st->kids + i];
    const mstep *c = &qi->steps[ck];
    uint32_t next = self->nmsols;
    for(uint32_t p = pa; p < pb; p++) {
      bool took = false;
      uint32_t pos = self->msols[p].pos;
      for(uint32_t q = pos; q < nkids; q++) {
        if(c->anchored && m_has_named(self, kid0 + pos, kid0 + q)) break;
        const mchild *kid = &self->mkids[kid0 + q];
        if(c->field && kid->field != c->field) continue;
        TSNode kn = kid->node;
        uint32_t sa = m_node(self, ck, kn), sb = self->nmsols;
        /* Combined solutions go after the child's, then move down. */
        for(uint32_t s = sa; s < sb; s++) {
          msol ps = self->msols[p], ss = self->msols[s];
          uint32_t at = m_caps(self, ps.cap0, ps.ncap);
          m_caps(self, ss.cap0, ss.ncap);
          m_sol(self, q + 1, at, ps.ncap + ss.ncap);
        }
        uint32_t made = self->nmsols - sb;
        memmove(self->msols + sa, self->msols + sb, made * sizeof(msol));
        self->nmsols = sa + made;
        took |= made > 0;
      }
      if(c->quant == Q_OPT && !took) {
        msol ps = self->msols[p];
        m_sol(self, ps.pos, ps.cap0, ps.ncap);
      }
    }
    /* The new list replaces the old one. */
    uint32_t made = self->nmsols - next;
    memmove(self->msols + first, self->msols + next, made * sizeof(msol));
    self->nmsols = first + made;
    pa = first;
    pb = self->nmsols;
  }
  if(st->last_anchored) {
    uint32_t w = first;
    for(uint32_t p = first; p < self->nmsols; p++)
      if(!m_has_named(self, kid0 + self->msols[p].pos, kid0 + nkids))
        self->msols[w++] = self->msols[p];
    self->nmsols = w;
  }
  return first;
}

static void def_match(ch_extractor *self, const query_info *qi,
                      const TSQueryMatch *mp);
static void import_match(ch_extractor *self, const query_info *qi,
                         const TSQueryMatch *m);

/* One match: read now, or kept until the segments are known (`later`). */
static void m_emit(ch_extractor *self, uint32_t pattern, uint32_t cap0,
                   uint32_t ncap, bool later) {
  const query_info *qi = &self->ls->query;
  if(later) {
    uint32_t at = self->npcaps;
    for(uint32_t i = 0; i < ncap; i++)
      APPEND(self->pcaps, self->npcaps, self->pcaps_cap, self->mcaps[cap0 + i]);
    APPEND(self->pmatch, self->npmatch, self->pmatch_cap, pattern);
    APPEND(self->pmatch, self->npmatch, self->pmatch_cap, at);
    APPEND(self->pmatch, self->npmatch, self->pmatch_cap, ncap);
    return;
  }
  TSQueryMatch m;
  m.id = 0;
  m.pattern_index = (uint16_t)pattern;
  m.capture_count = (uint16_t)ncap;
  m.captures = self->mcaps + cap0;
  if(pattern >= qi->imports_first)
    import_match(self, qi, &m);
  else
    def_match(self, qi, &m);
}

/* The patterns that start at `node` (of type sym). */
static void m_try(ch_extractor *self, TSNode node, TSSymbol sym, bool later) {
  const query_info *qi = &self->ls->query;
  /* Children lists stay in mkids until the last pattern is tried. */
  self->nmkids = 0;
  if(++self->mgen == 0) {
    memset(self->mmemo, 0, sizeof(self->mmemo));
    self->mgen = 1;
  }
  for(uint32_t i = qi->sym_first[sym]; i < qi->sym_first[sym + 1]; i++) {
    uint32_t pat = qi->sym_pats[i];
    self->nmsols = self->nmcaps = 0;
    self->mfuel = 1u << 26; /* a guard: our patterns enumerate little */
    uint32_t first = m_node(self, qi->roots[pat], node);
    for(uint32_t s = first; s < self->nmsols; s++)
      m_emit(self, pat, self->msols[s].cap0, self->msols[s].ncap, later);
  }
}

/* Matches kept by m_emit: read now that the segments are known. */
static uint32_t seg_of(const ch_extractor *self, uint32_t start, uint32_t end);

static void m_flush(ch_extractor *self) {
  const query_info *qi = &self->ls->query;
  for(uint32_t i = 0; i + 2 < self->npmatch; i += 3) {
    uint32_t pat = self->pmatch[i], cap0 = self->pmatch[i + 1],
             ncap = self->pmatch[i + 2];
    uint32_t u0 = UINT32_MAX, u1 = 0;
    for(uint32_t c = 0; c < ncap; c++) {
      uint32_t s = ts_node_start_byte(self->pcaps[cap0 + c].node);
      uint32_t e = ts_node_end_byte(self->pcaps[cap0 + c].node);
      if(s < u0) u0 = s;
      if(e > u1) u1 = e;
    }
    uint32_t owner = ncap ? seg_of(self, u0, u1) : 0;
    if(self->cur.segs[owner].src != CH_NONE) continue;
    self->match_seg = owner;
    TSQueryMatch m;
    m.id = 0;
    m.pattern_index = (uint16_t)pat;
    m.capture_count = (uint16_t)ncap;
    m.captures = self->pcaps + cap0;
    if(pat >= qi->imports_first)
      import_match(self, qi, &m);
    else
      def_match(self, qi, &m);
  }
  self->npmatch = self->npcaps = 0;
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
  if(result) {
    ch_buf_release(&source);
    return result;
  }

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
  bool *enabled = ch_calloc(npatterns + 1, sizeof(bool));
  for(uint32_t p = 0; p < npatterns; p++) {
    bool imports = p >= self->imports_first, useful = false;
    for(uint32_t c = 0; c < ncaptures && !useful; c++) {
      uint8_t r = imports ? self->imp_roles[c] : self->def_roles[c];
      if((r == R_DEF || r == R_IMPORT) &&
         ts_query_capture_quantifier_for_id(q, p, c) != TSQuantifierZero)
        useful = true;
    }
    enabled[p] = useful;
    if(!useful) ts_query_disable_pattern(q, p);
  }
  ts_query_disable_capture(q, "doc", 3); /* upstream's, unused */
  parse_predicates(self);
  matcher_compile(self, lang, source.data, source.len, enabled);
  ch_free(enabled);
  ch_buf_release(&source);
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

/* An extractor's state of a language is its own parser plus a copy of the
 * language's compiled state (queries, matcher, symbol flags, field ids),
 * which is made once per process and shared read-only by every extractor:
 * each worker would otherwise compile the same queries again (8-47 ms per
 * language). It lives until the process ends. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static lang_state *shared_langs;         /* ch_syntax_count() entries */
static pthread_mutex_t *shared_compiles; /* one per language: compiling */

static void lang_state_release(lang_state *self) {
  if(self->parser) ts_parser_delete(self->parser);
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
    if(in_list(nosplit_types, name)) f |= SYM_NOSPLIT;
    self->sym_flags[s] = f;
  }
}

static bool is_word_name(const char *s) {
  if(!*s || (*s >= '0' && *s <= '9')) return false;
  for(; *s; s++)
    if(!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
         (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

enum {
  W_KEYWORD = 1, /* not an identifier */
  W_LITERAL = 2, /* not even as an object's key (true, this) */
  W_TRIGGER = 4, /* see lang_rules.triggers */
};

static void word_add(lang_state *self, const char *w, uint8_t flags) {
  uint32_t id = token_id(w, strlen(w));
  uint32_t i = (id ^ (id >> 16)) & self->wt_mask;
  while(self->wt_flags[i] && self->wt_ids[i] != id)
    i = (i + 1) & self->wt_mask;
  self->wt_ids[i] = id;
  self->wt_flags[i] |= flags;
}

/* The W_ flags of the token whose id is `id`; 0 for most. */
static inline uint8_t word_flags(const lang_state *self, uint32_t id) {
  if(!self->wt_flags) return 0;
  uint32_t i = (id ^ (id >> 16)) & self->wt_mask;
  for(;;) {
    uint8_t f = self->wt_flags[i];
    if(!f || self->wt_ids[i] == id) return f;
    i = (i + 1) & self->wt_mask;
  }
}

/* Flags the nodes the walk lexes (lang_rules.lexed), unless a pattern
 * starts at one or it wraps, attributes or comments; and collects the
 * words that are not identifiers (the grammar's keywords, its anonymous
 * words, and the rules' own, less the soft ones) and the triggers. */
static void mark_lexed(lang_state *self) {
  const lang_rules *r = self->rules;
  const query_info *qi = &self->query;
  if(!r->lexed || !qi->matcher) return;
  const TSLanguage *tl = self->lang->ts_language();
  bool any = false;
  for(uint32_t sym = 0; sym < self->nsym; sym++) {
    const char *name = ts_language_symbol_name(tl, (TSSymbol)sym);
    if(!name ||
       ts_language_symbol_type(tl, (TSSymbol)sym) != TSSymbolTypeRegular ||
       !in_list(r->lexed, name))
      continue;
    uint8_t f = self->sym_flags[sym];
    bool rooted =
        sym < qi->nsym && qi->sym_first[sym] != qi->sym_first[sym + 1];
    /* A pattern may start at a node lexed under triggers: the rules list it
     * only when each such pattern needs a trigger in the text (an import's
     * `require`, a pair's function). */
    if((rooted && !r->triggers) ||
       (f & (SYM_COMMENT | SYM_WRAP_SIG | SYM_WRAP_RANGE | SYM_ATTR)))
      continue;
    /* Conditional ones are split like any node: the segments of an
     * incremental extraction decide by size as lex_node does. */
    self->sym_flags[sym] = f | SYM_LEXED | (r->triggers ? 0 : SYM_NOSPLIT);
    any = true;
  }
  if(!any) return;
  ch_lexer_init(&self->lexer, self->lang, NULL, 0);
  uint32_t slots = 256;
  while(slots < self->nsym * 2)
    slots *= 2;
  self->wt_ids = ch_calloc(slots, sizeof(uint32_t));
  self->wt_flags = ch_calloc(slots, 1);
  self->wt_mask = slots - 1;
  for(uint32_t sym = 0; sym < self->nsym; sym++) {
    const char *name = ts_language_symbol_name(tl, (TSSymbol)sym);
    if(name &&
       ts_language_symbol_type(tl, (TSSymbol)sym) == TSSymbolTypeAnonymous &&
       is_word_name(name) &&
       !(r->soft_keywords && in_list(r->soft_keywords, name)))
      word_add(self, name, W_KEYWORD);
  }
  for(size_t i = 0; r->keywords && r->keywords[i]; i++)
    word_add(self, r->keywords[i], W_KEYWORD | W_LITERAL);
  for(size_t i = 0; r->triggers && r->triggers[i]; i++)
    word_add(self, r->triggers[i], W_TRIGGER);
  self->lex_if = r->triggers != NULL;
}

static TSFieldId field_id(const TSLanguage *tl, const char *name) {
  return ts_language_field_id_for_name(tl, name, (uint32_t)strlen(name));
}

/* Compiles the shared state of lang into self (no parser). */
static ch_status lang_compile(lang_state *self, const ch_language *lang) {
  ch_status result;
  self->lang = lang;
  self->rules = &default_rules;
  for(size_t i = 0; i < CH_ARRAY_LEN(rules_table); i++)
    if(!strcmp(rules_table[i].name, lang->name)) self->rules = &rules_table[i];
  result = query_load(&self->query, lang);
  if(result) {
    query_info_release(&self->query);
    return result;
  }
  build_symbol_flags(self);
  mark_lexed(self);
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

/* self receives the shared state of language i (compiled on first use)
 * and a parser of its own. */
static ch_status lang_load(lang_state *self, size_t i,
                           const ch_language *lang) {
  pthread_mutex_lock(&shared_lock);
  if(!shared_langs) {
    size_t n = ch_syntax_count();
    shared_langs = ch_calloc(n, sizeof(lang_state));
    shared_compiles = ch_calloc(n, sizeof(pthread_mutex_t));
    for(size_t k = 0; k < n; k++)
      pthread_mutex_init(&shared_compiles[k], NULL);
  }
  pthread_mutex_unlock(&shared_lock);
  /* Another language may compile meanwhile; this one compiles once. */
  pthread_mutex_lock(&shared_compiles[i]);
  lang_state *sh = &shared_langs[i];
  if(!sh->loaded) {
    sh->status = lang_compile(sh, lang);
    sh->loaded = true;
  }
  pthread_mutex_unlock(&shared_compiles[i]);
  if(sh->status) return sh->status;
  ch_status result;
  TSParser *parser = ch_syntax_parser_new(lang, &result);
  if(!parser) return result ? result : CH_ERR_STATE;
  *self = *sh;
  self->parser = parser;
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
    ls->status = lang_load(ls, i, lang);
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

static void segdata_release(segdata *self) {
  ch_free(self->segs);
  ch_free(self->tokens);
  ch_free(self->starts);
  ch_free(self->comments);
  ch_free(self->occ);
  ch_free(self->wraps);
  ch_free(self->defs);
  ch_free(self->imps);
  memset(self, 0, sizeof(*self));
}

static void segdata_clear(segdata *self) {
  self->nsegs = self->ntokens = self->ncomments = self->nocc = 0;
  self->nwraps = self->ndefs = self->nimps = 0;
}

static void doc_cache_release(doc_cache *self) {
  if(self->tree) ts_tree_delete(self->tree);
  ch_free(self->path);
  ch_free(self->text);
  ch_free(self->hstates);
  ch_free(self->lines);
  segdata_release(&self->data);
  ch_free(self->map_keys);
  ch_free(self->map_idx);
  strtab_release(&self->st);
  memset(self, 0, sizeof(*self));
  strtab_init(&self->st);
}

ch_extractor *ch_extractor_new(void) {
  ch_extractor *self = ch_calloc(1, sizeof(*self));
  self->nlangs = ch_syntax_count();
  self->langs = ch_calloc(self->nlangs, sizeof(lang_state));
  self->cursor = ts_query_cursor_new();
  strtab_init(&self->own);
  for(int i = 0; i < DOC_CACHES; i++)
    strtab_init(&self->caches[i].st);
  ch_buf_init(&self->scratch, (size_t)TEXT_MAX + 16);
  return self;
}

void ch_extractor_walk_all(ch_extractor *self, bool all) {
  self->walk_all = all;
}

void ch_extractor_free(ch_extractor *self) {
  if(!self) return;
  for(size_t i = 0; i < self->nlangs; i++)
    lang_state_release(&self->langs[i]);
  ch_free(self->langs);
  ts_query_cursor_delete(self->cursor);
  strtab_release(&self->own);
  for(int i = 0; i < DOC_CACHES; i++)
    doc_cache_release(&self->caches[i]);
  ch_buf_release(&self->scratch);
  segdata_release(&self->cur);
  ch_free(self->ltoks);
  ch_free(self->seen_toks);
  ch_free(self->lines);
  ch_free(self->mdefs);
  ch_free(self->rimports);
  ch_free(self->fimps);
  ch_free(self->sdefs);
  ch_free(self->order);
  ch_free(self->bucket);
  ch_free(self->idents);
  ch_free(self->named);
  ch_free(self->dstack);
  ch_free(self->wstack);
  ch_free(self->hstates);
  ch_free(self->mkids);
  ch_free(self->msols);
  ch_free(self->mcaps);
  ch_free(self->pcaps);
  ch_free(self->pmatch);
  if(self->have_children_cursor) {
    ts_tree_cursor_delete(&self->children);
    ts_tree_cursor_delete(&self->walker);
    ts_tree_cursor_delete(&self->mcursor);
  }
  ch_free(self);
}

/* ---- line starts and rows -------------------------------------------------
 */

/* Appends the starts of the lines that end at bytes [from, to) of the
 * text: after a LF, a CRLF, or a CR alone. */
static void scan_line_ends(ch_extractor *self, uint32_t from, uint32_t to) {
  const char *t = self->text;
  uint32_t n = self->len;
  for(uint32_t i = from; i < to; i++) {
    char c = t[i];
    if(c == '\n' || (c == '\r' && !(i + 1 < n && t[i + 1] == '\n')))
      APPEND(self->lines, self->nlines, self->lines_cap, i + 1);
  }
}

/* Line starts from the cached ones: those ending in the unchanged head
 * kept, those in the unchanged tail moved, the rest scanned. */
static void shift_lines(ch_extractor *self) {
  const doc_cache *c = self->cache;
  uint32_t head = self->same_head, tail = self->same_tail, n = self->len;
  uint32_t i = 0;
  self->nlines = 0;
  /* A start p depends on bytes p - 1 and p. */
  for(; i < c->nlines && c->lines[i] < head; i++)
    APPEND(self->lines, self->nlines, self->lines_cap, c->lines[i]);
  if(!self->nlines) APPEND(self->lines, self->nlines, self->lines_cap, 0);
  scan_line_ends(self, head ? head - 1 : 0, n - tail);
  uint32_t old_tail = c->len - tail, grow = c->nlines;
  while(i < c->nlines && c->lines[i] < old_tail + 1)
    i++;
  if(self->lines_cap < self->nlines + (grow - i)) {
    self->lines_cap = self->nlines + (grow - i) + 64;
    self->lines = ch_realloc(self->lines, self->lines_cap * sizeof(uint32_t));
  }
  for(; i < c->nlines; i++)
    self->lines[self->nlines++] = c->lines[i] - c->len + n;
}

static void scan_lines(ch_extractor *self) {
  const char *t = self->text;
  uint32_t n = self->len;
  if(self->cache && self->cache->nhstates && self->cache->nlines) {
    shift_lines(self);
    return;
  }
  self->nlines = 0;
  APPEND(self->lines, self->nlines, self->lines_cap, 0);
  if(!n) return;
  if(!memchr(t, '\r', n)) { /* the common case: LF only */
    const char *p = t, *end = t + n;
    while((p = memchr(p, '\n', (size_t)(end - p)))) {
      p++;
      APPEND(self->lines, self->nlines, self->lines_cap, (uint32_t)(p - t));
    }
    return;
  }
  for(uint32_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if(c > '\r') continue; /* the common case: not a line end */
    if(c == '\n' || c == '\r') {
      if(c == '\r' && i + 1 < n && t[i + 1] == '\n') i++;
      APPEND(self->lines, self->nlines, self->lines_cap, i + 1);
    }
  }
}

/* The row of `off`, searched from row `hint` outwards: cheap when the
 * answer is near (rows of definitions in source order). */
static uint32_t row_near(const ch_extractor *self, uint32_t off,
                         uint32_t hint) {
  const uint32_t *lines = self->lines;
  uint32_t n = self->nlines, lo, hi; /* lines[lo] <= off < lines[hi] */
  if(hint >= n) hint = n - 1;
  if(lines[hint] <= off) {
    lo = hint;
    hi = n;
    for(uint32_t step = 1;; step *= 2) {
      uint64_t probe = (uint64_t)lo + step;
      if(probe >= n) break;
      if(lines[probe] > off) {
        hi = (uint32_t)probe;
        break;
      }
      lo = (uint32_t)probe;
    }
  } else {
    hi = hint;
    lo = 0;
    for(uint32_t step = 1;; step *= 2) {
      if(hi <= step) break;
      uint32_t probe = hi - step;
      if(lines[probe] <= off) {
        lo = probe;
        break;
      }
      hi = probe;
    }
  }
  while(hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(lines[mid] <= off)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static ch_span span_near(const ch_extractor *self, uint32_t start, uint32_t end,
                         uint32_t hint) {
  ch_span sp;
  sp.start = start;
  sp.end = end;
  sp.start_row = row_near(self, start, hint);
  sp.start_col = start - self->lines[sp.start_row];
  sp.end_row = row_near(self, end, sp.start_row);
  sp.end_col = end - self->lines[sp.end_row];
  return sp;
}

/* The row of the last byte of [start, end) (of start when empty). */
static uint32_t last_row(const ch_extractor *self, uint32_t start, uint32_t end,
                         uint32_t hint) {
  return row_near(self, end > start ? end - 1 : start, hint);
}

/* ---- the walk -------------------------------------------------------------
 */

/* Appends a token; returns its id. */
static uint32_t emit_token_id(ch_extractor *self, uint32_t start, uint32_t end,
                              uint32_t id) {
  segdata *d = &self->cur;
  if(d->ntokens >= d->tokens_cap) {
    d->tokens_cap = d->tokens_cap ? d->tokens_cap * 2 : 64;
    d->tokens = ch_realloc(d->tokens, (size_t)d->tokens_cap * sizeof(uint32_t));
    d->starts = ch_realloc(d->starts, (size_t)d->tokens_cap * sizeof(uint32_t));
  }
  d->tokens[d->ntokens] = id;
  d->starts[d->ntokens++] = start;
  if(self->seg_first_tok == CH_NONE) self->seg_first_tok = start;
  self->last_tok_end = end;
  while(self->pending < d->ncomments && d->comments[self->pending].end <= start)
    d->comments[self->pending++].next_start = start;
  return id;
}

static uint32_t emit_token(ch_extractor *self, uint32_t start, uint32_t end) {
  return emit_token_id(self, start, end,
                       token_id(self->text + start, end - start));
}

/* Counts a use of the identifier text[start..end), whose token_id is id
 * (and notes where, for the segments of a cached document). */
static void use_ident(ch_extractor *self, uint32_t start, uint32_t end,
                      uint32_t id) {
  uint32_t i = intern_hashed(self, self->text + start, end - start, id);
  if(i == CH_NONE) return;
  self->st->entries[i].uses++;
  if(self->cache) APPEND(self->cur.occ, self->cur.nocc, self->cur.occ_cap, i);
}

static void add_comment(ch_extractor *self, uint32_t start, uint32_t end,
                        bool attr) {
  segdata *d = &self->cur;
  GROW(d->comments, d->ncomments, d->comments_cap);
  comment_rec *c = &d->comments[d->ncomments++];
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

static void push_wrap(ch_extractor *self, const wrap_rec *w) {
  segdata *d = &self->cur;
  if(d->nwraps && d->wraps[d->nwraps - 1].inner_start > w->inner_start)
    self->wraps_unsorted = true;
  APPEND(d->wraps, d->nwraps, d->wraps_cap, *w);
}

static void add_wrap(ch_extractor *self, TSNode node, uint32_t start,
                     uint32_t end, bool sig) {
  TSNode inner = wrapped_child(self->ls, node);
  if(ts_node_is_null(inner)) return;
  wrap_rec w;
  w.inner_start = ts_node_start_byte(inner);
  w.inner_end = ts_node_end_byte(inner);
  w.start = start;
  w.end = end;
  w.sig = sig;
  w.is_const = end - start > 5 && !memcmp(self->text + start, "const", 5) &&
               (is_space(self->text[start + 5]));
  push_wrap(self, &w);
}

/* What a lexed node must be to be lexed (see "the walk"). */
enum {
  LEX_ALL,      /* anything (Python's lexed nodes) */
  LEX_TRIGGERS, /* none of the language's triggers */
  LEX_DATA,     /* literals and punctuation only: no word at all */
};

static bool lex_collect(ch_extractor *self, uint32_t s, uint32_t e, bool tokens,
                        int mode);

/* Records the token that made a lexing attempt fail; returns false. */
static bool lex_fail(ch_extractor *self, uint32_t a, uint32_t b) {
  self->fail_start = a;
  self->fail_end = b;
  return false;
}

/* The fields of a Python f-string token text[a..b): each {expression} up
 * to its conversion (!r) or format spec (:>10), and the {fields} inside
 * the spec; {{ is a brace. */
static bool fstring_fields(ch_extractor *self, uint32_t a, uint32_t b,
                           int mode) {
  const char *t = self->text;
  uint32_t i = a;
  while(i < b && t[i] != '"' && t[i] != '\'' && i - a < 3) {
    if(t[i] == 'f' || t[i] == 'F') break;
    i++;
  }
  if(i >= b || (t[i] != 'f' && t[i] != 'F')) return true;
  for(i++; i < b; i++) {
    if(t[i] != '{') continue;
    if(i + 1 < b && t[i + 1] == '{') {
      i++;
      continue;
    }
    uint32_t start = ++i;
    int depth = 0;
    for(; i < b; i++) {
      char c = t[i];
      if(c == '{' || c == '[' || c == '(')
        depth++;
      else if((c == '}' || c == ']' || c == ')') && depth > 0)
        depth--;
      else if(depth == 0 && (c == '}' || c == ':' ||
                             (c == '!' && i + 1 < b && t[i + 1] != '=')))
        break;
    }
    if(!lex_collect(self, start, i, false, mode)) return false;
    while(i < b && t[i] != '}') {
      if(t[i] == '{') {
        uint32_t inner = ++i;
        while(i < b && t[i] != '}')
          i++;
        if(!lex_collect(self, inner, i, false, mode)) return false;
      }
      if(i < b) i++;
    }
  }
  return true;
}

/* The ${fields} of a JavaScript template string token text[a..b). A field
 * holding a backquote (a nested template) is beyond the lexer: false
 * unless anything goes. */
static bool template_fields(ch_extractor *self, uint32_t a, uint32_t b,
                            int mode) {
  const char *t = self->text;
  for(uint32_t i = a + 1; i + 1 < b; i++) {
    if(t[i] == '\\') {
      i++;
      continue;
    }
    if(t[i] != '$' || t[i + 1] != '{') continue;
    uint32_t start = i + 2, depth = 1;
    for(i = start; i < b && depth; i++) {
      if(t[i] == '{')
        depth++;
      else if(t[i] == '}')
        depth--;
      else if(t[i] == '`' && mode != LEX_ALL)
        return lex_fail(self, i, i + 1);
    }
    uint32_t end = depth ? b : i - 1;
    if(!lex_collect(self, start, end, false, mode)) return false;
    i = end;
  }
  return true;
}

/* Control words whose parenthesized part a `{` may follow: `) {` after
 * them is a block, after anything else a method's body. */
static bool control_word(const char *w, uint32_t n) {
  static const char *const words[] = {"if",    "for",  "while", "switch",
                                      "catch", "with", "await"};
  for(size_t i = 0; i < CH_ARRAY_LEN(words); i++)
    if(strlen(words[i]) == n && !memcmp(words[i], w, n)) return true;
  return false;
}

#define PAREN_DEPTH 64

/* Lexes text[s..e) into self->ltoks: tokens (when `tokens`: the node is
 * not inside a string token) and identifiers (words that are not
 * keywords), the fields of f-strings and template strings included.
 * Returns false as soon as the text is not what `mode` asks for. */
static bool lex_collect(ch_extractor *self, uint32_t s, uint32_t e, bool tokens,
                        int mode) {
  const lang_state *ls = self->ls;
  const char *text = self->text;
  ch_lexer lx = ls->lexer;
  lx.text = text + s;
  lx.len = e - s;
  uint32_t a, b;
  ch_lex_kind kind;
  bool after_dot = false;
  /* The last token closed a parenthesized part not led by a control word
   * (a method's parameters, maybe). */
  bool after_params = false;
  /* Open parentheses: whether a control word led each (beyond the depth:
   * not, which keeps more nodes walked). */
  bool led[PAREN_DEPTH];
  uint32_t depth = 0;
  bool prev_control = false;
  uint32_t last_word = UINT32_MAX; /* ltoks index of a keyword just before */
  bool key_place = true;    /* after `{` or `,`, where an object's key goes */
  bool after_close = false; /* the last token was `)`: a `{` is a block */
  while(ch_lex_next(&lx, &a, &b, &kind)) {
    a += s;
    b += s;
    uint32_t n = b - a, id = token_id(text + a, n);
    uint8_t flags = tokens ? LT_TOKEN : 0, wf = word_flags(ls, id);
    const char *p = text + a;
    bool control = false;
    if(kind == CH_LEX_WORD) {
      /* A member's name starts nothing (`x.type`, `a.import`). */
      if(mode == LEX_DATA ||
         (mode == LEX_TRIGGERS && (wf & W_TRIGGER) && !after_dot))
        return lex_fail(self, a, b);
      /* A word after a dot is a member's name, whatever it spells. */
      if(!(n == 1 && *p == '_') && (after_dot || !(wf & W_KEYWORD)))
        flags |= LT_IDENT;
      control = !after_dot && (wf & W_KEYWORD) && control_word(p, n);
    } else if(kind == CH_LEX_OTHER) {
      /* JS: a keyword between `{` or `,` and `:` is an object's key (not
       * `true`, nor `default:` in a switch). */
      if(n == 1 && *p == ':' && last_word != UINT32_MAX && ls->lex_if)
        self->ltoks[last_word].flags |= LT_IDENT;
      if(mode == LEX_DATA && !(n == 1 && strchr(",[]{}:-+.", *p)))
        return lex_fail(self, a, b);
      /* `) {` and `) :` after a method's parameters start its body or
       * return type; `<` a JSX element or type arguments, unless a space
       * follows (a comparison). */
      if(mode == LEX_TRIGGERS &&
         ((after_params && n == 1 && (*p == '{' || *p == ':')) ||
          ((wf & W_TRIGGER) &&
           !(n == 1 && *p == '<' && b < self->len &&
             (text[b] == ' ' || text[b] == '\t' || text[b] == '\n')))))
        return lex_fail(self, a, b);
    }
    bool open = kind == CH_LEX_OTHER && n == 1 && *p == '(';
    bool close = kind == CH_LEX_OTHER && n == 1 && *p == ')';
    after_params = false;
    if(open) {
      if(depth < PAREN_DEPTH) led[depth] = prev_control;
      depth++;
    } else if(close) {
      bool was = depth && depth <= PAREN_DEPTH && led[depth - 1];
      if(depth) depth--;
      after_params = !was;
    }
    prev_control = control;
    after_dot =
        kind == CH_LEX_OTHER && (n == 1 ? *p == '.' : !memcmp(p, "?.", 2));
    /* A node's first word may be a switch label (`default:`), not a key. */
    last_word = kind == CH_LEX_WORD && !(flags & LT_IDENT) && key_place &&
                        !(n == 1 && *p == '_') && !(wf & W_LITERAL) &&
                        !(a == s && ((n == 7 && !memcmp(p, "default", 7)) ||
                                     (n == 4 && !memcmp(p, "case", 4))))
                    ? self->nltoks
                    : UINT32_MAX;
    key_place = kind == CH_LEX_OTHER && n == 1 &&
                ((*p == '{' && !after_close) || *p == ',');
    after_close = close;
    if(self->nltoks == self->ltoks_cap) {
      self->ltoks_cap = self->ltoks_cap ? self->ltoks_cap * 2 : 256;
      self->ltoks =
          ch_realloc(self->ltoks, self->ltoks_cap * sizeof(*self->ltoks));
    }
    self->ltoks[self->nltoks++] = (lexed_tok){a, b, id, flags};
    if(kind == CH_LEX_STRING) {
      bool ok = true;
      if(ls->rules->python)
        ok = fstring_fields(self, a, b, mode);
      else if(*p == '`')
        ok = template_fields(self, a, b, mode);
      if(!ok) return false;
    }
  }
  return true;
}

/* Forgets what lex_collect gathered; a buffer grown by a large node (a
 * data file's table) is given back rather than kept by the extractor. */
static void lex_reset(ch_extractor *self) {
  self->nltoks = 0;
  if(self->ltoks_cap > LTOKS_KEEP) {
    ch_free(self->ltoks);
    self->ltoks = NULL;
    self->ltoks_cap = 0;
  }
}

/* Emits one gathered token: as a token unless `tokens` is false, as an
 * identifier used, as its flags say. */
static void emit_lexed(ch_extractor *self, const lexed_tok *t, bool tokens) {
  if((t->flags & LT_TOKEN) && tokens)
    emit_token_id(self, t->start, t->end, t->id);
  if(t->flags & LT_IDENT) use_ident(self, t->start, t->end, t->id);
}

/* Emits the tokens a failed attempt gathered inside text[s..e) (see
 * lex_node): those that start and end in it, the fields of a string with
 * the string. */
static void lex_emit_seen(ch_extractor *self, uint32_t s, uint32_t e,
                          bool tokens) {
  const lexed_tok *t = self->seen_toks;
  uint32_t lo = 0, hi = self->nseen;
  while(lo < hi) { /* first token starting at s or later */
    uint32_t mid = lo + (hi - lo) / 2;
    if(t[mid].start < s)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(uint32_t i = lo; i < self->nseen && t[i].start < e; i++)
    if(t[i].end <= e) emit_lexed(self, &t[i], tokens);
}

/* The lexing of a node flagged SYM_LEXED, text[s..e): true when it was
 * lexed (its tokens and identifiers emitted), false when the walk must
 * visit it. Unconditional for Python. In languages with triggers, a node
 * up to SEG_MAX bytes must hold none, a larger one must be data; the
 * choice depends on the node's text and size only, so the walks of a full
 * and of an incremental extraction agree. *seen is the walk's knowledge
 * from a failed lexing before: the text from seen->from up to the trigger
 * [seen->start, seen->end) holds none; a node in that stretch takes the
 * tokens that attempt gathered, one over the trigger fails at once, so no
 * byte is lexed twice. */
typedef struct lex_seen {
  uint32_t from, start, end; /* end == 0: nothing seen */
} lex_seen;

static bool lex_node(ch_extractor *self, uint32_t s, uint32_t e, bool tokens,
                     lex_seen *seen) {
  const lang_state *ls = self->ls;
  int mode = !ls->lex_if ? LEX_ALL : e - s <= SEG_MAX ? LEX_TRIGGERS : LEX_DATA;
  if(mode == LEX_TRIGGERS && seen->end && s < seen->end) {
    if(s < seen->from || e > seen->start) return false;
    /* Inside the stretch found clean: its tokens are at hand. */
    lex_emit_seen(self, s, e, tokens);
    return true;
  }
  self->nltoks = 0;
  bool ok = lex_collect(self, s, e, tokens, mode);
  if(ok) {
    for(uint32_t i = 0; i < self->nltoks; i++)
      emit_lexed(self, &self->ltoks[i], true);
  } else if(mode == LEX_TRIGGERS) {
    seen->from = s;
    seen->start = self->fail_start;
    seen->end = self->fail_end;
    /* Keep the tokens before the trigger for the nodes inside. */
    lexed_tok *t = self->seen_toks;
    uint32_t cap = self->seen_cap;
    self->seen_toks = self->ltoks;
    self->seen_cap = self->ltoks_cap;
    self->nseen = self->nltoks;
    self->ltoks = t;
    self->ltoks_cap = cap;
  }
  lex_reset(self);
  return ok;
}

/* Walks the subtree of `root`: tokens, identifiers, comments, wrappers.
 *
 * Nodes flagged SYM_LEXED (statements and expressions that hold no
 * definition, import or doc comment: lang_rules.lexed; in JavaScript and
 * TypeScript only when their text holds no trigger, see lex_node) are not
 * visited: the plain lexer (chorus/lex.h) takes their tokens and
 * identifiers from the text, at a small part of the cost of the cursor's
 * moves. The definitions and imports are the same either way (the matcher
 * explores below a pattern's root with its own cursor); a token of such a
 * node may differ from tree-sitter's leaf where the lexer splits
 * differently (an f-string with nested quotes, a regular expression), and
 * the same text always gives the same tokens, in a full extraction as in
 * an incremental one (Python's lexed nodes are never split into segments;
 * the others are split or lexed by size, the same way in both).
 *
 * The cursor's moves are most of the cost (tree-sitter 0.20's cursor
 * iterates hidden nodes inside each move), so the walk asks for no move
 * that fails: it counts each node's children (ts_node_child_count, which
 * counts what the cursor visits) and climbs from a last child without
 * asking for its next sibling, which would search through the hidden
 * nodes above it; a leaf is known by its count, not by a failed descent.
 * Byte offsets are read only where they are used. */
static void walk(ch_extractor *self, TSNode root) {
  const uint8_t *flags = self->ls->sym_flags;
  uint32_t nsym = self->ls->nsym;
  const char *text = self->text;
  const query_info *qi = &self->ls->query;
  const uint8_t need_bytes = SYM_COMMENT | SYM_WRAP_SIG | SYM_WRAP_RANGE |
                             SYM_ATTR | SYM_STRING | SYM_LEXED;
  lex_seen seen = {0, 0, 0};
  uint32_t string_end = 0; /* leaves before this are inside a string token */
  TSTreeCursor *cur = &self->walker;
  uint32_t depth = 0; /* levels below root; self->wstack[i]: siblings left */
  /* A cursor reset to a node forgets the node's alias: take the node. */
  TSNode node = root;
  ts_tree_cursor_reset(cur, root);
  for(;;) {
    TSSymbol sym = ts_node_symbol(node);
    uint8_t f = sym < nsym ? flags[sym] : 0;
    if(self->walk_all) f &= (uint8_t)~SYM_LEXED;
    uint32_t s = 0, e = 0;
    bool lexed = false;
    if(f & SYM_LEXED) {
      s = ts_node_start_byte(node);
      e = CH_MIN(ts_node_end_byte(node), self->len);
      if(s > e) s = e;
      lexed = lex_node(self, s, e, s >= string_end, &seen);
    }
    if(!lexed && qi->matcher && sym < qi->nsym &&
       qi->sym_first[sym] != qi->sym_first[sym + 1])
      m_try(self, node, sym, false);
    uint32_t nkids = (f & SYM_COMMENT) || lexed ? 0 : ts_node_child_count(node);
    if(((f & need_bytes) || !nkids) && !lexed) {
      s = ts_node_start_byte(node);
      e = ts_node_end_byte(node);
      if(e > self->len) e = self->len;
      if(s > e) s = e;
    }
    bool kids = false;
    if(f & SYM_COMMENT) {
      if(e > s) add_comment(self, s, e, false);
    } else if(lexed) {
      /* its tokens and identifiers are in */
    } else {
      if(f & (SYM_WRAP_SIG | SYM_WRAP_RANGE))
        add_wrap(self, node, s, e, (f & SYM_WRAP_SIG) != 0);
      if(f & SYM_ATTR) add_comment(self, s, e, true);
      if((f & SYM_STRING) && s >= string_end && e > s) {
        emit_token(self, s, e);
        string_end = e;
      }
      kids = nkids && ts_tree_cursor_goto_first_child(cur);
      if(!kids && nkids) { /* not reached: the count says it has some */
        s = ts_node_start_byte(node);
        e = CH_MIN(ts_node_end_byte(node), self->len);
        if(s > e) s = e;
      }
      if(!kids && e > s) { /* a leaf with text */
        uint32_t id = s >= string_end ? emit_token(self, s, e)
                                      : token_id(text + s, e - s);
        if((f & SYM_IDENT) && !(e - s == 1 && text[s] == '_'))
          use_ident(self, s, e, id);
      }
    }
    if(kids) {
      GROW(self->wstack, depth, self->wstack_cap);
      self->wstack[depth++] = nkids - 1;
    } else {
      /* Up to the nearest level with a sibling left. */
      for(;;) {
        if(!depth) return;
        if(self->wstack[depth - 1] > 0) {
          self->wstack[depth - 1]--;
          if(ts_tree_cursor_goto_next_sibling(cur)) break;
          self->wstack[depth - 1] = 0; /* not reached: the count was off */
        }
        ts_tree_cursor_goto_parent(cur);
        depth--;
      }
    }
    node = ts_tree_cursor_current_node(cur);
  }
}

/* ---- segments -------------------------------------------------------------
 */

static uint64_t mix64(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

/* What identifies a node's subtree across trees. TSNode.id points at the
 * subtree's slot in its parent's child array, which a reparse rebuilds
 * for every ancestor of an edit; the slot holds the subtree: a pointer to
 * shared, immutable data (so equal keys are the same subtree while the
 * cache holds its tree), or a small leaf inline (equal keys are equal
 * leaves). Either way the text and the chain are checked as well. */
static uint64_t node_key(TSNode node) {
  uint64_t key = 0;
  if(node.id) memcpy(&key, node.id, sizeof(key));
  return key;
}

static uint32_t key_hash(uint64_t key) { return (uint32_t)mix64(0, key); }

/* The types and extents of the nodes of a subtree, hashed: what tells
 * two parses of the same text apart. */
static uint64_t node_shape(ch_extractor *self, TSNode node, uint32_t s) {
  TSTreeCursor *cur = &self->walker;
  uint64_t h = mix64(0, ts_node_symbol(node));
  ts_tree_cursor_reset(cur, node);
  if(!ts_tree_cursor_goto_first_child(cur)) return h;
  uint32_t depth = 1;
  for(;;) {
    TSNode n = ts_tree_cursor_current_node(cur);
    h = mix64(h, (uint64_t)ts_node_symbol(n) << 40 ^ (uint64_t)depth << 32 ^
                     (ts_node_start_byte(n) - s));
    h = mix64(h, ts_node_end_byte(n) - s);
    if(ts_tree_cursor_goto_first_child(cur)) {
      depth++;
      continue;
    }
    while(!ts_tree_cursor_goto_next_sibling(cur)) {
      if(!ts_tree_cursor_goto_parent(cur) || --depth == 0) return h;
    }
  }
}

/* True when cached segment k can stand for the node at [s, e) with
 * `chain`: same ancestors, same length, same text. */
static bool seg_fits(const ch_extractor *self, uint32_t k, uint64_t chain,
                     uint32_t s, uint32_t e) {
  const doc_cache *c = self->cache;
  const seg *os = &c->data.segs[k];
  return os->chain == chain && os->end - os->start == e - s &&
         os->end <= c->len &&
         (e == s || !memcmp(self->text + s, c->text + os->start, e - s));
}

/* The cached segment that the node [s, e) with `key` and `chain` can
 * reuse, or CH_NONE: the same subtree, else (when the parser rebuilt an
 * unchanged node, as it does for nodes with external scanner tokens) a
 * node of the same type, ancestors and text at the same place in the
 * unchanged head or tail of the text. */
static uint32_t cache_find(ch_extractor *self, TSNode node, uint64_t key,
                           uint64_t chain, uint32_t s, uint32_t e) {
  const doc_cache *c = self->cache;
  if(!c || !c->map_cap) return CH_NONE;
  uint32_t mask = c->map_cap - 1, at = key_hash(key) & mask;
  for(; key && c->map_keys[at]; at = (at + 1) & mask)
    if(c->map_keys[at] == key && seg_fits(self, c->map_idx[at], chain, s, e))
      return c->map_idx[at];
  uint32_t old_s;
  if(e <= self->same_head)
    old_s = s;
  else if(s >= self->len - self->same_tail)
    old_s = s - self->len + c->len;
  else
    return CH_NONE;
  const seg *segs = c->data.segs;
  /* Text with errors may parse otherwise elsewhere: compare the shapes of
   * small ones, never reuse large ones. */
  bool err = ts_node_has_error(node);
  uint64_t shape = 0;
  bool have_shape = false;
  uint32_t lo = 0, hi = c->data.nsegs; /* first with start >= old_s */
  while(lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(segs[mid].start < old_s)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(; lo < c->data.nsegs && segs[lo].start == old_s; lo++) {
    if(!seg_fits(self, lo, chain, s, e)) continue;
    if(!err && !segs[lo].has_error) return lo;
    if(!err || !segs[lo].has_error || segs[lo].shell ||
       ts_node_child_count(node) == 0 || e - s > SEG_MAX)
      continue;
    if(!have_shape) {
      shape = node_shape(self, node, s);
      have_shape = true;
    }
    if(shape == segs[lo].shape) return lo;
  }
  return CH_NONE;
}

static uint32_t new_seg(ch_extractor *self, uint64_t key, uint64_t chain,
                        uint32_t start, uint32_t end, uint32_t parent,
                        bool shell) {
  segdata *d = &self->cur;
  GROW(d->segs, d->nsegs, d->segs_cap);
  seg *s = &d->segs[d->nsegs];
  memset(s, 0, sizeof(*s));
  s->key = key;
  s->chain = chain;
  s->start = start;
  s->end = end;
  s->parent = parent;
  s->last = d->nsegs + 1;
  s->tok0 = d->ntokens;
  s->com0 = d->ncomments;
  s->occ0 = d->nocc;
  s->wrap0 = d->nwraps;
  s->src = CH_NONE;
  s->shell = shell;
  s->first_tok = s->last_tok_end = CH_NONE;
  self->seg_first_tok = CH_NONE;
  /* Fresh: so are the matches of the shells above it. */
  for(uint32_t p = parent; p != CH_NONE && !d->segs[p].fresh_below;
      p = d->segs[p].parent)
    d->segs[p].fresh_below = true;
  return d->nsegs++;
}

static void end_seg(ch_extractor *self, uint32_t k) {
  segdata *d = &self->cur;
  seg *s = &d->segs[k];
  s->tok1 = d->ntokens;
  s->com1 = d->ncomments;
  s->occ1 = d->nocc;
  s->wrap1 = d->nwraps;
  if(s->tok1 > s->tok0) {
    s->first_tok = self->seg_first_tok;
    s->last_tok_end = self->last_tok_end;
  }
}

/* Copies cached segment k and its descendants, moved by delta, as if their
 * subtrees had been walked: the same tokens, identifiers, wrappers and
 * comments, the comments linked to the tokens around them. */
static void reuse_segs(ch_extractor *self, uint32_t k, uint32_t parent,
                       uint32_t delta) {
  const segdata *o = &self->cache->data;
  segdata *d = &self->cur;
  intern_entry *entries = self->st->entries;
  uint32_t base = d->nsegs, last = o->segs[k].last;
  for(uint32_t j = k; j < last; j++) {
    const seg *os = &o->segs[j];
    GROW(d->segs, d->nsegs, d->segs_cap);
    seg *s = &d->segs[d->nsegs++];
    *s = *os;
    s->start += delta;
    s->end += delta;
    s->parent = j == k ? parent : os->parent - k + base;
    s->last = os->last - k + base;
    s->src = j;
    s->delta = delta;
    s->fresh_below = false;
    if(s->first_tok != CH_NONE) {
      s->first_tok += delta;
      s->last_tok_end += delta;
    }

    uint32_t n = os->tok1 - os->tok0;
    s->tok0 = d->ntokens;
    if(d->ntokens + n > d->tokens_cap) {
      d->tokens_cap = CH_MAX(d->tokens_cap * 2, d->ntokens + n + 64);
      d->tokens = ch_realloc(d->tokens, d->tokens_cap * sizeof(uint32_t));
      d->starts = ch_realloc(d->starts, d->tokens_cap * sizeof(uint32_t));
    }
    if(n)
      memcpy(d->tokens + d->ntokens, o->tokens + os->tok0,
             n * sizeof(uint32_t));
    for(uint32_t i = 0; i < n; i++)
      d->starts[d->ntokens + i] = o->starts[os->tok0 + i] + delta;
    d->ntokens += n;
    s->tok1 = d->ntokens;

    s->occ0 = d->nocc;
    for(uint32_t i = os->occ0; i < os->occ1; i++) {
      entries[o->occ[i]].uses++;
      APPEND(d->occ, d->nocc, d->occ_cap, o->occ[i]);
    }
    s->occ1 = d->nocc;

    s->wrap0 = d->nwraps;
    for(uint32_t i = os->wrap0; i < os->wrap1; i++) {
      wrap_rec w = o->wraps[i];
      w.inner_start += delta;
      w.inner_end += delta;
      w.start += delta;
      w.end += delta;
      push_wrap(self, &w);
    }
    s->wrap1 = d->nwraps;

    /* Comments: links inside the segment are kept, the others come from
     * the tokens around it. */
    uint32_t cbase = d->ncomments, before = self->last_tok_end;
    s->com0 = cbase;
    for(uint32_t i = os->com0; i < os->com1; i++) {
      comment_rec c = o->comments[i];
      c.start += delta;
      c.end += delta;
      c.prev_end = c.prev_end != CH_NONE && c.prev_end > os->start
                       ? c.prev_end + delta
                       : before;
      c.next_start = c.next_start != CH_NONE && c.next_start < os->end
                         ? c.next_start + delta
                         : CH_NONE;
      APPEND(d->comments, d->ncomments, d->comments_cap, c);
    }
    s->com1 = d->ncomments;
    if(s->first_tok != CH_NONE) {
      while(self->pending < cbase &&
            d->comments[self->pending].end <= s->first_tok)
        d->comments[self->pending++].next_start = s->first_tok;
      if(self->pending == cbase)
        while(self->pending < d->ncomments &&
              d->comments[self->pending].next_start != CH_NONE)
          self->pending++;
      self->last_tok_end = s->last_tok_end;
    }
  }
}

/* A node of a fresh shell: what its own node gives. */
static void shell_node(ch_extractor *self, TSNode node, uint32_t s, uint32_t e,
                       uint8_t f) {
  if(f & (SYM_WRAP_SIG | SYM_WRAP_RANGE))
    add_wrap(self, node, s, e, (f & SYM_WRAP_SIG) != 0);
  if(f & SYM_ATTR) add_comment(self, s, e, true);
}

/* One node of the descent: reused with its subtree, walked as a unit, or
 * made a shell whose children the descent visits next (returns true). */
static bool visit(ch_extractor *self, TSNode node, uint32_t parent,
                  uint64_t chain) {
  uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
  if(e > self->len) e = self->len;
  if(s > e) s = e;
  doc_cache *c = self->cache;
  uint64_t key = node_key(node);
  uint32_t k = cache_find(self, node, key, chain, s, e);
  if(k != CH_NONE) {
    reuse_segs(self, k, parent, s - c->data.segs[k].start);
    return false;
  }
  TSSymbol sym = ts_node_symbol(node);
  uint8_t f = sym < self->ls->nsym ? self->ls->sym_flags[sym] : 0;
  bool shell =
      ts_node_child_count(node) > 0 &&
      (parent == CH_NONE ||
       (e - s > SEG_MAX && !(f & (SYM_STRING | SYM_COMMENT | SYM_NOSPLIT))));
  /* A large lexed node that is data is lexed whole, as the walk does. */
  if(shell && parent != CH_NONE && (f & SYM_LEXED) && !self->walk_all &&
     self->ls->lex_if) {
    self->nltoks = 0;
    shell = !lex_collect(self, s, e, false, LEX_DATA);
    lex_reset(self);
  }
  k = new_seg(self, key, chain, s, e, parent, shell);
  if(ts_node_has_error(node)) {
    self->cur.segs[k].has_error = true;
    if(!shell && ts_node_child_count(node))
      self->cur.segs[k].shape = node_shape(self, node, s);
  }
  const query_info *qi = &self->ls->query;
  if(shell) {
    shell_node(self, node, s, e, f);
    if(qi->matcher && sym < qi->nsym &&
       qi->sym_first[sym] != qi->sym_first[sym + 1])
      m_try(self, node, sym, true);
  } else {
    self->match_seg = k;
    walk(self, node);
  }
  end_seg(self, k);
  return shell;
}

/* Splits the tree into segments in pre-order, reusing the cached ones whose
 * subtree, text and ancestors are unchanged. */
static void descend(ch_extractor *self, TSNode root) {
  TSTreeCursor *cur = &self->children;
  uint32_t depth = 0; /* shells above the cursor */
  ts_tree_cursor_reset(cur, root);
  for(;;) {
    TSNode node = ts_tree_cursor_current_node(cur);
    uint32_t parent = CH_NONE;
    uint64_t chain;
    if(depth) {
      parent = (uint32_t)self->dstack[2 * (depth - 1)];
      chain = mix64(self->dstack[2 * (depth - 1) + 1],
                    ts_tree_cursor_current_field_id(cur));
    } else {
      chain = 0;
    }
    chain = mix64(chain, ts_node_symbol(node));
    if(visit(self, node, parent, chain)) {
      if(2 * (depth + 1) > self->dstack_cap) {
        self->dstack_cap = CH_MAX(64, self->dstack_cap * 2);
        self->dstack =
            ch_realloc(self->dstack, self->dstack_cap * sizeof(uint64_t));
      }
      self->dstack[2 * depth] = self->cur.nsegs - 1;
      self->dstack[2 * depth + 1] = chain;
      depth++;
      if(ts_tree_cursor_goto_first_child(cur)) continue;
      depth--; /* not reached: shells have children */
      self->cur.segs[self->cur.nsegs - 1].last = self->cur.nsegs;
    }
    for(;;) {
      if(!depth) return;
      if(ts_tree_cursor_goto_next_sibling(cur)) break;
      ts_tree_cursor_goto_parent(cur);
      depth--;
      self->cur.segs[(uint32_t)self->dstack[2 * depth]].last = self->cur.nsegs;
    }
  }
}

/* The deepest segment that holds [start, end). */
static uint32_t seg_of(const ch_extractor *self, uint32_t start, uint32_t end) {
  const seg *segs = self->cur.segs;
  uint32_t lo = 0, hi = self->cur.nsegs; /* last with start <= `start` */
  while(hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(segs[mid].start <= start)
      lo = mid;
    else
      hi = mid;
  }
  while(segs[lo].parent != CH_NONE &&
        !(segs[lo].start <= start && end <= segs[lo].end))
    lo = segs[lo].parent;
  return lo;
}
/* ---- definitions ------------------------------------------------------------
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
  GROW(self->mdefs, self->nmdefs, self->mdefs_cap);
  raw_def *d = &self->mdefs[self->nmdefs++];
  memset(d, 0, sizeof(*d));
  d->node = def;
  d->seg = self->match_seg;
  d->key_start = d->start = ts_node_start_byte(def);
  d->key_end = d->end = ts_node_end_byte(def);
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

/* Matches of one name, best first: a defs.scm pattern before tags.scm,
 * the earlier pattern first, a variable, constant or field after any more
 * specific kind. */
static int cmp_by_name(const void *pa, const void *pb) {
  const raw_def *a = pa, *b = pb;
  int c;
  if((c = cmp_u32(a->name_start, b->name_start))) return c;
  if((c = cmp_u32(a->name_end, b->name_end))) return c;
  if((c = specificity(a->kind) - specificity(b->kind))) return c;
  if((c = (int)a->rank - (int)b->rank)) return c;
  if((c = cmp_u32(a->pattern, b->pattern))) return c;
  /* One pattern matching twice: the order of matches must not matter. */
  if((c = cmp_u32(a->key_start, b->key_start))) return c;
  return cmp_u32(a->key_end, b->key_end);
}

static int cmp_by_range(const raw_def *a, const raw_def *b) {
  int c;
  if((c = cmp_u32(a->start, b->start))) return c;
  if((c = cmp_u32(b->end, a->end))) return c;
  return cmp_u32(a->name_start, b->name_start);
}

static int cmp_by_range_q(const void *pa, const void *pb) {
  return cmp_by_range(pa, pb);
}

static int cmp_wrap(const void *pa, const void *pb) {
  const wrap_rec *a = pa, *b = pb;
  int c = cmp_u32(a->inner_start, b->inner_start);
  return c ? c : cmp_u32(a->inner_end, b->inner_end);
}

/* The wrapper whose inner child spans exactly [start, end), or NULL. */
static const wrap_rec *find_wrap(const wrap_rec *wraps, uint32_t nwraps,
                                 uint32_t start, uint32_t end) {
  uint32_t lo = 0, hi = nwraps; /* first with inner_start >= start */
  while(lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if(wraps[mid].inner_start < start)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(; lo < nwraps && wraps[lo].inner_start == start; lo++)
    if(wraps[lo].inner_end == end) return &wraps[lo];
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

/* ---- what a definition's node tells ----------------------------------------
 */

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

/* How a kind's signature is made: its whole text, a C typedef with its
 * body folded, or cut at the body. */
enum { SIG_WHOLE = 1, SIG_TYPE, SIG_CUT };

static uint32_t sig_class(uint8_t kind) {
  switch(kind) {
  case CH_DEF_VARIABLE:
  case CH_DEF_CONSTANT:
  case CH_DEF_FIELD: return SIG_WHOLE;
  case CH_DEF_TYPE: return SIG_TYPE;
  default: return SIG_CUT;
  }
}

/* Python: the range of the docstring of a def or class node in *start,
 * *end, or false. */
static bool python_docstring(ch_extractor *self, TSNode node, uint32_t *start,
                             uint32_t *end) {
  TSNode body = child_by_field(node, self->ls->f_body);
  if(ts_node_is_null(body)) return false;
  uint32_t n = ts_node_named_child_count(body);
  for(uint32_t i = 0; i < n; i++) {
    TSNode stmt = ts_node_named_child(body, i);
    if(strstr(ts_node_type(stmt), "comment")) continue;
    if(!type_is(stmt, "expression_statement") ||
       ts_node_named_child_count(stmt) != 1)
      return false;
    TSNode str = ts_node_named_child(stmt, 0);
    if(!type_is(str, "string")) return false;
    *start = ts_node_start_byte(str);
    *end = ts_node_end_byte(str);
    return true;
  }
  return false;
}

/* Reads from the node of a local winner what its signature and doc are
 * made from, so that a cached one needs no tree. */
static void read_node(ch_extractor *self, raw_def *d) {
  const lang_state *ls = self->ls;
  d->cut = d->body_start = d->body_end = CH_NONE;
  d->pydoc_start = d->pydoc_end = CH_NONE;
  switch(sig_class(d->kind)) {
  case SIG_WHOLE: break;
  case SIG_TYPE:
    if(ls->rules->c_family && type_is(d->node, "type_definition")) {
      TSNode type = child_by_field(d->node, ls->f_type);
      TSNode body = child_by_field(type, ls->f_body);
      if(!ts_node_is_null(body)) {
        d->body_start = ts_node_start_byte(body);
        d->body_end = ts_node_end_byte(body);
      }
    }
    break;
  default: d->cut = find_cut(self, d->node, 0); break;
  }
  if(ls->rules->python && (type_is(d->node, "function_definition") ||
                           type_is(d->node, "class_definition"))) {
    uint32_t s, e;
    if(python_docstring(self, d->node, &s, &e)) {
      d->pydoc_start = s;
      d->pydoc_end = e;
    }
  }
}

static int cmp_def_index(const void *pa, const void *pb, void *ctx) {
  const raw_def *defs = ctx;
  return cmp_by_name(&defs[*(const uint32_t *)pa],
                     &defs[*(const uint32_t *)pb]);
}

/* The best match of each name among the matches m[0..n) of one segment,
 * climbed and read, appended to the segment data. */
static void local_winners(ch_extractor *self, raw_def *m, uint32_t n) {
  const lang_state *ls = self->ls;
  segdata *sd = &self->cur;
  /* Sorted through indexes: matches are large. */
  uint32_t *idx = self->idents; /* free until the idents are made */
  if(self->idents_cap < n) {
    self->idents_cap = n;
    self->idents = idx = ch_realloc(self->idents, n * sizeof(uint32_t));
  }
  for(uint32_t i = 0; i < n; i++)
    idx[i] = i;
  if(n > 1) qsort_r(idx, n, sizeof(uint32_t), cmp_def_index, m);
  for(uint32_t i = 0; i < n; i++) {
    const raw_def *cur = &m[idx[i]];
    if(i && m[idx[i - 1]].name_start == cur->name_start &&
       m[idx[i - 1]].name_end == cur->name_end)
      continue; /* a better match of the same name came first */
    raw_def d = *cur;
    if(ls->rules->c_family && type_is(d.node, "function_declarator")) {
      TSNode outer = widen_function_declarator(d.node);
      if(ts_node_is_null(outer)) {
        d.dropped = true; /* a parameter or a type */
      } else {
        d.node = outer;
        if(type_is(outer, "field_declaration")) d.kind = CH_DEF_METHOD;
      }
    }
    d.start = ts_node_start_byte(d.node);
    d.end = ts_node_end_byte(d.node);
    if(d.end > self->len) d.end = self->len;
    if(!d.dropped) read_node(self, &d);
    d.name_entry =
        intern(self, self->text + d.name_start, d.name_end - d.name_start);
    d.owner_entry = d.owner_start == CH_NONE
                        ? CH_NONE
                        : intern(self, self->text + d.owner_start,
                                 d.owner_end - d.owner_start);
    d.sig_off = d.doc_off = CH_NONE;
    d.node = (TSNode){{0}, NULL, NULL};
    APPEND(sd->defs, sd->ndefs, sd->defs_cap, d);
  }
}

/* A cached local winner moved to where its segment is now. */
static void shift_def(raw_def *d, uint32_t delta, uint32_t seg_index) {
  d->seg = seg_index;
  d->name_start += delta;
  d->name_end += delta;
  if(d->owner_start != CH_NONE) {
    d->owner_start += delta;
    d->owner_end += delta;
  }
  d->key_start += delta;
  d->key_end += delta;
  d->start += delta;
  d->end += delta;
  if(d->cut != CH_NONE) d->cut += delta;
  if(d->body_start != CH_NONE) {
    d->body_start += delta;
    d->body_end += delta;
  }
  if(d->pydoc_start != CH_NONE) {
    d->pydoc_start += delta;
    d->pydoc_end += delta;
  }
}

/* Insertion sort by range: the settled definitions come nearly sorted.
 * Falls back to qsort when they do not. */
static void sort_by_range(raw_def *a, uint32_t n) {
  uint64_t moves = 0, budget = 8 * (uint64_t)n + 64;
  for(uint32_t i = 1; i < n; i++) {
    if(cmp_by_range(&a[i - 1], &a[i]) <= 0) continue;
    raw_def x = a[i];
    uint32_t j = i;
    while(j > 0 && cmp_by_range(&a[j - 1], &x) > 0) {
      a[j] = a[j - 1];
      j--;
      if(++moves > budget) break;
    }
    a[j] = x;
    if(moves > budget) {
      qsort(a, n, sizeof(raw_def), cmp_by_range_q);
      return;
    }
  }
}

/* Settles the local winners of every segment: the best of each name over
 * the whole file, widened by its wrappers, in source order. Drops what
 * turns out not to be a definition. */
static void settle_defs(ch_extractor *self) {
  const lang_state *ls = self->ls;
  const segdata *sd = &self->cur;
  const raw_def *defs = sd->defs;
  /* Names live in units, which are disjoint and in order: the winners of
   * units come sorted by name. Those of shells are merged in. */
  self->norder = 0;
  for(uint32_t k = 0; k < sd->nsegs; k++)
    if(!sd->segs[k].shell)
      for(uint32_t i = sd->segs[k].def0; i < sd->segs[k].def1; i++)
        APPEND(self->order, self->norder, self->order_cap, i);
  uint32_t nunit = self->norder;
  for(uint32_t k = 0; k < sd->nsegs; k++)
    if(sd->segs[k].shell)
      for(uint32_t i = sd->segs[k].def0; i < sd->segs[k].def1; i++)
        APPEND(self->order, self->norder, self->order_cap, i);
  if(self->norder - nunit > 1)
    qsort_r(self->order + nunit, self->norder - nunit, sizeof(uint32_t),
            cmp_def_index, (void *)defs);

  const wrap_rec *wraps = sd->wraps;
  if(self->wraps_unsorted) {
    /* The sorted copy goes after the segments' own. */
    uint32_t n = sd->nwraps;
    GROW(self->cur.wraps, 2 * n, self->cur.wraps_cap);
    memcpy(self->cur.wraps + n, self->cur.wraps, n * sizeof(wrap_rec));
    qsort(self->cur.wraps + n, n, sizeof(wrap_rec), cmp_wrap);
    wraps = self->cur.wraps + n;
    defs = sd->defs;
  }

  self->nsdefs = 0;
  uint32_t a = 0, b = nunit, prev = CH_NONE;
  while(a < nunit || b < self->norder) {
    uint32_t i;
    if(b == self->norder ||
       (a < nunit &&
        cmp_by_name(&defs[self->order[a]], &defs[self->order[b]]) <= 0))
      i = self->order[a++];
    else
      i = self->order[b++];
    if(prev != CH_NONE && defs[prev].name_start == defs[i].name_start &&
       defs[prev].name_end == defs[i].name_end)
      continue; /* a better match of the same name came first */
    prev = i;
    raw_def d = defs[i];
    if(d.dropped) continue;
    d.src = i;
    d.sig_start = d.start;
    const wrap_rec *w;
    int guard = 0;
    while(guard++ < 8 && (w = find_wrap(wraps, sd->nwraps, d.start, d.end))) {
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
    APPEND(self->sdefs, self->nsdefs, self->sdefs_cap, d);
  }
  sort_by_range(self->sdefs, self->nsdefs);
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
 * (name entry << 32 | index), sorted. */
static void index_named(ch_extractor *self) {
  self->nnamed = 0;
  for(uint32_t i = 0; i < self->nsdefs; i++) {
    uint8_t k = self->sdefs[i].kind;
    if(!is_typeish(k) && k != CH_DEF_MODULE) continue;
    APPEND(self->named, self->nnamed, self->named_cap,
           (uint64_t)self->sdefs[i].name_entry << 32 | i);
  }
  if(self->nnamed > 1)
    qsort(self->named, self->nnamed, sizeof(uint64_t), cmp_u64);
}

/* The first definition (in source order) named by entry `name` whose kind
 * passes `want`, or CH_NONE. */
static uint32_t find_named(const ch_extractor *self, uint32_t name,
                           bool (*want)(uint8_t)) {
  uint32_t lo = 0, hi = self->nnamed;
  while(lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if((self->named[mid] >> 32) < name)
      lo = mid + 1;
    else
      hi = mid;
  }
  for(; lo < self->nnamed && (self->named[lo] >> 32) == name; lo++) {
    uint32_t i = (uint32_t)self->named[lo];
    if(want(self->sdefs[i].kind)) return i;
  }
  return CH_NONE;
}

static bool is_impl_target(uint8_t kind) {
  return kind == CH_DEF_STRUCT || kind == CH_DEF_ENUM || kind == CH_DEF_UNION ||
         kind == CH_DEF_TYPE;
}

static bool is_module(uint8_t kind) { return kind == CH_DEF_MODULE; }

/* Containers, owners and impl blocks. */
static void link_defs(ch_extractor *self) {
  raw_def *defs = self->sdefs;
  uint32_t n = self->nsdefs;
  uint32_t stack[256], depth = 0;
  for(uint32_t i = 0; i < n; i++) {
    raw_def *d = &defs[i];
    while(depth && defs[stack[depth - 1]].end < d->end)
      depth--;
    d->container = CH_NONE;
    for(uint32_t k = depth; k > 0; k--) {
      if(may_contain(defs[stack[k - 1]].kind, d->kind)) {
        d->container = stack[k - 1];
        break;
      }
    }
    if(may_contain(d->kind, CH_DEF_FIELD) && depth < CH_ARRAY_LEN(stack))
      stack[depth++] = i;
    d->redirect = CH_NONE;
    if(d->name_entry != CH_NONE && d->kind != KIND_IMPL)
      self->st->entries[d->name_entry].defs++;
  }
  index_named(self);
  for(uint32_t i = 0; i < n && !self->status; i++) {
    raw_def *d = &defs[i];
    if(d->kind == KIND_IMPL) {
      uint32_t t = find_named(self, d->name_entry, is_impl_target);
      if(t != CH_NONE)
        d->redirect = t;
      else
        d->kind = CH_DEF_MODULE;
      continue;
    }
    if(d->owner_entry == CH_NONE) continue;
    uint32_t t = find_named(self, d->owner_entry, is_typeish);
    if(t != CH_NONE) {
      d->container = t;
      if(d->qualified) d->kind = CH_DEF_METHOD;
    } else if(d->qualified) {
      /* `ns::f` is a function of a namespace of this file; otherwise take
       * `Type::f` for a method of a type defined elsewhere. */
      t = find_named(self, d->owner_entry, is_module);
      if(t != CH_NONE) d->container = t;
      d->kind = t != CH_NONE ? CH_DEF_FUNCTION : CH_DEF_METHOD;
    }
  }
  uint32_t out = 0;
  for(uint32_t i = 0; i < n; i++)
    defs[i].out = defs[i].redirect == CH_NONE ? out++ : CH_NONE;
  for(uint32_t i = 0; i < n; i++) {
    uint32_t c = defs[i].container;
    for(int guard = 0; c != CH_NONE && defs[c].redirect != CH_NONE && guard < 4;
        guard++)
      c = defs[c].redirect;
    defs[i].container = c == CH_NONE ? CH_NONE : defs[c].out;
  }
}

/* ---- signatures and docs ----------------------------------------------------
 */

/* Appends s[0..n) to the pool with whitespace runs folded to one space,
 * trimmed, without trailing ';', at most CH_SIGNATURE_MAX bytes. */
static uint32_t pool_add_folded(ch_extractor *self, const char *s, size_t n) {
  if(self->status) return CH_NONE;
  ch_buf *pool = &self->st->pool;
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

/* The signature of settled definition d; w is its local winner, which
 * keeps the string for the next extraction. */
static uint32_t make_signature(ch_extractor *self, const raw_def *d,
                               raw_def *w) {
  const char *text = self->text;
  uint32_t start = d->sig_start, end = d->end, cls = sig_class(d->kind);
  if(w->sig_off != CH_NONE && w->sig_kind == cls &&
     w->sig_a == start - w->start && w->sig_b == end - w->start) {
    /* Cached, and its text is unchanged if it lies in its segment. */
    const seg *s = &self->cur.segs[w->seg];
    if(start >= s->start && end <= s->end) return w->sig_off;
  }
  uint32_t off = CH_NONE;
  switch(cls) {
  case SIG_WHOLE: break;
  case SIG_TYPE:
    if(d->body_start != CH_NONE) {
      uint32_t b = d->body_start, e = d->body_end;
      if(b >= start && e <= end && text[b] == '{') {
        ch_buf *sc = &self->scratch;
        ch_buf_reset(sc);
        if(!ch_buf_append(sc, text + start, b - start) &&
           !ch_buf_append_str(sc, "{ ... }") &&
           !ch_buf_append(sc, text + e, end - e))
          off = pool_add_folded(self, sc->data, sc->len);
      }
    }
    break;
  default:
    if(d->cut != CH_NONE && d->cut >= start && d->cut <= end) end = d->cut;
    break;
  }
  if(off == CH_NONE) off = pool_add_folded(self, text + start, end - start);
  w->sig_off = off;
  w->sig_kind = cls;
  w->sig_a = d->sig_start - w->start;
  w->sig_b = d->end - w->start;
  return off;
}

/* A doc comment or docstring at [start, end): trailing whitespace dropped,
 * at most DOC_MAX bytes. Reuses w's string when the text is the same. */
static uint32_t add_doc(ch_extractor *self, raw_def *w, uint32_t start,
                        uint32_t end) {
  const char *text = self->text;
  while(end > start && is_space(text[end - 1]))
    end--;
  uint32_t n = end - start;
  if(n > DOC_MAX) n = (uint32_t)utf8_floor(text + start, DOC_MAX);
  if(w->doc_off != CH_NONE && w->doc_a == start - w->start && w->doc_b == n &&
     !memcmp(self->st->pool.data + w->doc_off, text + start, n))
    return w->doc_off;
  uint32_t off = pool_add(self, text + start, n);
  w->doc_off = off;
  w->doc_a = start - w->start;
  w->doc_b = n;
  return off;
}

/* True when nothing but whitespace precedes comment `c` on its line. */
static bool own_line(const ch_extractor *self, const comment_rec *c,
                     uint32_t hint) {
  return c->prev_end == CH_NONE ||
         row_near(self, c->prev_end - 1, hint) < row_near(self, c->start, hint);
}

/* The comment block right above a definition starting at `anchor`: its
 * range in *start, *end, or false. *lo is the first comment at or after
 * the previous anchor (anchors come in order); `hint` the anchor's row. */
static bool find_doc(const ch_extractor *self, uint32_t anchor, uint32_t *lo,
                     uint32_t hint, uint32_t *start, uint32_t *end) {
  const comment_rec *cs = self->cur.comments;
  uint32_t nc = self->cur.ncomments;
  while(*lo < nc && cs[*lo].start < anchor)
    (*lo)++;
  uint32_t i = *lo, head = anchor;
  /* Attributes between the comments and the definition. */
  while(i > 0 && cs[i - 1].attr && cs[i - 1].next_start == head &&
        last_row(self, cs[i - 1].start, cs[i - 1].end, hint) + 1 >=
            row_near(self, head, hint)) {
    i--;
    head = cs[i].start;
  }
  if(i == 0) return false;
  uint32_t last = i - 1, first = last;
  const comment_rec *c = &cs[last];
  if(c->attr || c->next_start != head || !own_line(self, c, hint) ||
     last_row(self, c->start, c->end, hint) + 1 != row_near(self, head, hint))
    return false;
  while(first > 0) {
    const comment_rec *p = &cs[first - 1];
    if(p->attr || p->next_start != c->next_start || !own_line(self, p, hint) ||
       last_row(self, p->start, p->end, hint) + 1 <
           row_near(self, cs[first].start, hint))
      break;
    first--;
  }
  *start = cs[first].start;
  *end = c->end;
  return true;
}
/* ---- imports ----------------------------------------------------------------
 */

static bool starts_with_quote(char c) {
  return c == '"' || c == '\'' || c == '`';
}

/* Interns a spec or name: quotes or <> removed when present, otherwise
 * all whitespace removed. Returns its entry. */
static uint32_t add_spec(ch_extractor *self, uint32_t start, uint32_t end) {
  const char *t = self->text;
  if(end - start >= 2 &&
     ((starts_with_quote(t[start]) && t[end - 1] == t[start]) ||
      (t[start] == '<' && t[end - 1] == '>')))
    return intern(self, t + start + 1, end - start - 2);
  ch_buf *sc = &self->scratch;
  ch_buf_reset(sc);
  for(uint32_t i = start; i < end; i++)
    if(!is_space(t[i]) && ch_buf_append_char(sc, t[i])) return CH_NONE;
  return intern(self, sc->data ? sc->data : "", sc->len);
}

/* An import of the segment whose match is being read; spec and names are
 * intern entries. */
static void push_import(ch_extractor *self, uint32_t key, uint32_t spec,
                        uint32_t names, ch_import_kind kind) {
  if(spec == CH_NONE) return;
  GROW(self->fimps, self->nfimps, self->fimps_cap);
  final_import *f = &self->fimps[self->nfimps];
  f->key = key;
  f->seq = self->nfimps++;
  f->seg = self->match_seg;
  f->spec = spec;
  f->names = names;
  f->kind = (uint8_t)kind;
}

static ch_import_kind auto_kind(const ch_extractor *self, uint32_t spec) {
  const char *s = self->st->pool.data + self->st->entries[spec].off;
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
    push_import(self, key, intern(self, sc->data, sc->len), CH_NONE,
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
    push_import(self, key, intern(self, sc->data ? sc->data : "", sc->len),
                intern(self, "*", 1), CH_IMPORT_MODULE);
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
    push_import(self, key, intern(self, sc->data ? sc->data : "", base),
                intern(self, names.data, names.len), CH_IMPORT_MODULE);
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
  r.seg = self->match_seg;
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
  APPEND(self->rimports, self->nrimports, self->rimports_cap, r);
}

/* Runs the query over bytes [lo, hi) of the tree. With segments, a match
 * belongs to the deepest segment that holds all its captures (a match
 * depends on nothing else but the types and fields above it, which the
 * segment's chain covers); matches of reused segments are skipped, their
 * results are cached. */
static void run_query(ch_extractor *self, TSNode root, uint32_t lo, uint32_t hi,
                      uint32_t run) {
  const query_info *qi = &self->ls->query;
  TSQueryCursor *qc = self->cursor;
  TSQueryMatch m;
  bool segmented = self->cache != NULL;
  ts_query_cursor_set_byte_range(qc, lo, hi);
  ts_query_cursor_exec(qc, qi->query, root);
  while(ts_query_cursor_next_match(qc, &m)) {
    uint32_t owner = 0;
    if(segmented && m.capture_count) {
      uint32_t u0 = UINT32_MAX, u1 = 0;
      for(uint16_t i = 0; i < m.capture_count; i++) {
        uint32_t s = ts_node_start_byte(m.captures[i].node);
        uint32_t e = ts_node_end_byte(m.captures[i].node);
        if(s < u0) u0 = s;
        if(e > u1) u1 = e;
      }
      owner = seg_of(self, u0, u1);
      const seg *o = &self->cur.segs[owner];
      if(o->src != CH_NONE || o->run != run) continue;
    }
    self->match_seg = owner;
    if(m.pattern_index >= qi->imports_first)
      import_match(self, qi, &m);
    else
      def_match(self, qi, &m);
  }
  ts_query_cursor_set_byte_range(qc, 0, UINT32_MAX);
}

/* Merges the import matches r[0..n) of one segment: one import per
 * statement and spec. */
static void finish_imports(ch_extractor *self, raw_import *rs, uint32_t n) {
  if(n > 1) qsort(rs, n, sizeof(raw_import), cmp_raw_import);
  ch_buf names;
  ch_buf_init(&names, (size_t)TEXT_MAX);
  for(uint32_t i = 0; i < n && !self->status;) {
    const raw_import *first = &rs[i];
    uint32_t j = i, prev_name = CH_NONE;
    ch_buf_reset(&names);
    for(; j < n && rs[j].stmt_start == first->stmt_start &&
          rs[j].spec_start == first->spec_start;
        j++) {
      const raw_import *r = &rs[j];
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
    uint32_t names_entry =
        names.len ? intern(self, names.data, names.len) : CH_NONE;
    if(spec != CH_NONE) {
      ch_import_kind kind = first->kind == IMPORT_AUTO
                                ? auto_kind(self, spec)
                                : (ch_import_kind)first->kind;
      push_import(self, first->stmt_start, spec, names_entry, kind);
    }
    i = j;
  }
  ch_buf_release(&names);
}

/* ---- segments' results ------------------------------------------------------
 */

/* Stable order of items by segment: self->order gets the indexes of the n
 * items at base (stride bytes apart, their segment at `offset`) grouped by
 * segment, self->bucket[k] the first position of segment k's. */
static void bucket_by_seg(ch_extractor *self, const void *base, size_t offset,
                          size_t stride, uint32_t n) {
  uint32_t nsegs = self->cur.nsegs;
  if(self->bucket_cap < nsegs + 1) {
    self->bucket_cap = nsegs + 1;
    self->bucket =
        ch_realloc(self->bucket, self->bucket_cap * sizeof(uint32_t));
  }
  memset(self->bucket, 0, (nsegs + 1) * sizeof(uint32_t));
  if(self->order_cap < n) {
    self->order_cap = n;
    self->order = ch_realloc(self->order, n * sizeof(uint32_t));
  }
  const char *items = base;
#define SEG_AT(i) (*(const uint32_t *)(items + offset + (size_t)(i)*stride))
  for(uint32_t i = 0; i < n; i++)
    self->bucket[SEG_AT(i) + 1]++;
  for(uint32_t k = 0; k < nsegs; k++)
    self->bucket[k + 1] += self->bucket[k];
  /* bucket[k + 1] is the end of segment k's run: fill runs from the back,
   * which leaves bucket[k + 1] at its start. */
  for(uint32_t i = n; i-- > 0;)
    self->order[--self->bucket[SEG_AT(i) + 1]] = i;
#undef SEG_AT
  memmove(self->bucket, self->bucket + 1, nsegs * sizeof(uint32_t));
  self->bucket[nsegs] = n;
}

/* Fills the definitions and imports of every segment, in segment order:
 * cached ones moved, fresh ones from this extraction's matches. */
static void segment_results(ch_extractor *self) {
  segdata *sd = &self->cur;
  const segdata *old = self->cache ? &self->cache->data : NULL;
  uint32_t nsegs = sd->nsegs;

  /* Matches by segment, copied into contiguous runs (into sdefs); one
   * segment has them all. */
  raw_def *runs = self->mdefs;
  uint32_t *def_start = ch_malloc((nsegs + 1) * sizeof(uint32_t));
  def_start[0] = 0;
  def_start[nsegs] = self->nmdefs;
  if(nsegs > 1) {
    bucket_by_seg(self, self->mdefs, offsetof(raw_def, seg), sizeof(raw_def),
                  self->nmdefs);
    if(self->sdefs_cap < self->nmdefs) {
      self->sdefs_cap = self->nmdefs;
      self->sdefs = ch_realloc(self->sdefs, self->sdefs_cap * sizeof(raw_def));
    }
    for(uint32_t i = 0; i < self->nmdefs; i++)
      self->sdefs[i] = self->mdefs[self->order[i]];
    memcpy(def_start, self->bucket, (nsegs + 1) * sizeof(uint32_t));
    runs = self->sdefs;
  }

  if(self->nrimports > 1) {
    bucket_by_seg(self, self->rimports, offsetof(raw_import, seg),
                  sizeof(raw_import), self->nrimports);
    raw_import *sorted = ch_malloc(self->nrimports * sizeof(raw_import));
    for(uint32_t i = 0; i < self->nrimports; i++)
      sorted[i] = self->rimports[self->order[i]];
    memcpy(self->rimports, sorted, self->nrimports * sizeof(raw_import));
    ch_free(sorted);
  }
  /* Imports of rust use trees, made while matching: grouped too. */
  uint32_t nuse = self->nfimps;
  bucket_by_seg(self, self->fimps, offsetof(final_import, seg),
                sizeof(final_import), nuse);
  uint32_t *use_order = ch_malloc((nuse ? nuse : 1) * sizeof(uint32_t));
  if(nuse) memcpy(use_order, self->order, nuse * sizeof(uint32_t));
  uint32_t *use_start = ch_memdup(self->bucket, (nsegs + 1) * sizeof(uint32_t));

  uint32_t ri = 0;
  for(uint32_t k = 0; k < nsegs && !self->status; k++) {
    seg *s = &sd->segs[k];
    s->def0 = sd->ndefs;
    s->imp0 = sd->nimps;
    if(s->src != CH_NONE) {
      const seg *os = &old->segs[s->src];
      for(uint32_t i = os->def0; i < os->def1; i++) {
        raw_def d = old->defs[i];
        shift_def(&d, s->delta, k);
        APPEND(sd->defs, sd->ndefs, sd->defs_cap, d);
      }
      for(uint32_t i = os->imp0; i < os->imp1; i++) {
        final_import f = old->imps[i];
        f.key += s->delta;
        f.seg = k;
        APPEND(sd->imps, sd->nimps, sd->imps_cap, f);
      }
    } else {
      local_winners(self, runs + def_start[k], def_start[k + 1] - def_start[k]);
      /* Imports: rust use trees first, then the merged matches. */
      uint32_t first = self->nfimps;
      for(uint32_t i = use_start[k]; i < use_start[k + 1]; i++)
        APPEND(self->fimps, self->nfimps, self->fimps_cap,
               self->fimps[use_order[i]]);
      uint32_t rj = ri;
      while(rj < self->nrimports && self->rimports[rj].seg == k)
        rj++;
      self->match_seg = k;
      finish_imports(self, self->rimports + ri, rj - ri);
      ri = rj;
      uint32_t n = self->nfimps - first;
      if(n > 1)
        qsort(self->fimps + first, n, sizeof(final_import), cmp_final_import);
      for(uint32_t i = first; i < self->nfimps; i++)
        APPEND(sd->imps, sd->nimps, sd->imps_cap, self->fimps[i]);
      self->nfimps = first;
    }
    s->def1 = sd->ndefs;
    s->imp1 = sd->nimps;
  }
  ch_free(def_start);
  ch_free(use_order);
  ch_free(use_start);
}

/* ---- document caches --------------------------------------------------------
 */

/* ch_hash_text of the text, resumed from the cached text's states up to
 * the first block that differs (HASH_STEP is a multiple of 8). */
static uint64_t hash_text(ch_extractor *self) {
  const doc_cache *c = self->cache;
  const unsigned char *t = (const unsigned char *)self->text;
  uint32_t n = self->len, b = 0;
  if(c->nhstates) {
    uint32_t blocks = CH_MIN(n, c->len) / HASH_STEP;
    if(blocks > c->nhstates - 1) blocks = c->nhstates - 1;
    while(b < blocks && !memcmp(t + (size_t)b * HASH_STEP,
                                c->text + (size_t)b * HASH_STEP, HASH_STEP))
      b++;
  }
  /* The unchanged head and tail of the text, for cache_find. */
  const char *o = c->text;
  uint32_t m = CH_MIN(n, c->len), head = b * HASH_STEP, tail = 0;
  while(head < m && t[head] == (unsigned char)o[head])
    head++;
  while(tail < m - head && tail + 64 <= m - head &&
        !memcmp(t + n - tail - 64, o + c->len - tail - 64, 64))
    tail += 64;
  while(tail < m - head &&
        t[n - tail - 1] == (unsigned char)o[c->len - tail - 1])
    tail++;
  self->same_head = c->nhstates ? head : 0;
  self->same_tail = c->nhstates ? tail : 0;
  uint32_t want = n / HASH_STEP + 1;
  if(self->hstates_cap < want) {
    self->hstates_cap = want;
    self->hstates = ch_realloc(self->hstates, want * sizeof(uint64_t));
  }
  if(b)
    memcpy(self->hstates, c->hstates, (b + 1) * sizeof(uint64_t));
  else
    self->hstates[0] = CH_HASH_TEXT_SEED;
  uint64_t h = self->hstates[b];
  self->nhstates = b + 1;
  uint32_t i = b * HASH_STEP;
  for(; n - i >= HASH_STEP; i += HASH_STEP) {
    h = ch_hash_text_words(h, t + i, HASH_STEP / 8);
    self->hstates[self->nhstates++] = h;
  }
  uint32_t words = (n - i) / 8;
  h = ch_hash_text_words(h, t + i, words);
  i += words * 8;
  return ch_hash_text_end(h, t + i, n - i, n);
}

/* The cache of document `path` in `ls`, or a free (or the least recently
 * used) one emptied for it. */
static doc_cache *cache_pick(ch_extractor *self, const lang_state *ls,
                             const char *path) {
  doc_cache *pick = NULL;
  for(int i = 0; i < DOC_CACHES; i++) {
    doc_cache *c = &self->caches[i];
    if(c->ls == ls && c->path && !strcmp(c->path, path)) {
      pick = c;
      break;
    }
  }
  if(!pick) {
    for(int i = 0; i < DOC_CACHES; i++) {
      doc_cache *c = &self->caches[i];
      if(!pick || !c->ls || (pick->ls && c->used < pick->used)) pick = c;
    }
    if(pick->tree) ts_tree_delete(pick->tree);
    pick->tree = NULL;
    ch_free(pick->path);
    pick->path = ch_strdup(path);
    pick->ls = ls;
    pick->len = 0;
    pick->nhstates = 0;
    pick->nlines = 0;
    segdata_clear(&pick->data);
    if(pick->map_keys)
      memset(pick->map_keys, 0, pick->map_cap * sizeof(uint64_t));
    strtab_clear(&pick->st);
  }
  pick->used = ++self->clock;
  return pick;
}

/* Forgets a cache whose data no longer agrees with its strings. */
static void cache_drop(doc_cache *c) {
  if(c->tree) ts_tree_delete(c->tree);
  c->tree = NULL;
  ch_free(c->path);
  c->path = NULL;
  c->ls = NULL;
  c->len = 0;
  c->nhstates = 0;
  c->nlines = 0;
  segdata_clear(&c->data);
  if(c->map_keys) memset(c->map_keys, 0, c->map_cap * sizeof(uint64_t));
  strtab_clear(&c->st);
}

/* Rewrites the cache's strings without those nothing refers to any more
 * (strings of replaced segments pile up). `d` is the data being saved. */
static void cache_compact(ch_extractor *self, segdata *d) {
  strtab *st = self->st;
  uint32_t n = st->nentries;
  uint32_t *remap = ch_malloc((n ? n : 1) * sizeof(uint32_t));
  intern_entry *entries = ch_malloc((n ? n : 1) * sizeof(intern_entry));
  uint32_t *strs = NULL; /* signature and doc offsets, old then new */
  uint32_t nstrs = 0, strs_cap = 0;
  for(uint32_t i = 0; i < n; i++)
    remap[i] = st->entries[i].uses ? 0 : CH_NONE;
  for(uint32_t i = 0; i < d->ndefs; i++) {
    if(d->defs[i].name_entry != CH_NONE) remap[d->defs[i].name_entry] = 0;
    if(d->defs[i].owner_entry != CH_NONE) remap[d->defs[i].owner_entry] = 0;
  }
  for(uint32_t i = 0; i < d->nimps; i++) {
    remap[d->imps[i].spec] = 0;
    if(d->imps[i].names != CH_NONE) remap[d->imps[i].names] = 0;
  }
  ch_buf pool;
  ch_buf_init(&pool, POOL_MAX);
  uint32_t kept = 0;
  for(uint32_t i = 0; i < n; i++) {
    if(remap[i] == CH_NONE) continue;
    intern_entry e = st->entries[i];
    uint32_t off = (uint32_t)pool.len;
    if(ch_buf_append(&pool, st->pool.data + e.off, e.len + 1)) goto done;
    e.off = off;
    entries[kept] = e;
    remap[i] = kept++;
  }
  for(uint32_t i = 0; i < d->ndefs; i++) {
    const raw_def *x = &d->defs[i];
    uint32_t offs[2] = {x->sig_off, x->doc_off};
    for(int k = 0; k < 2; k++) {
      uint32_t off = CH_NONE;
      if(offs[k] != CH_NONE) {
        const char *s = st->pool.data + offs[k];
        off = (uint32_t)pool.len;
        if(ch_buf_append(&pool, s, strlen(s) + 1)) goto done;
      }
      APPEND(strs, nstrs, strs_cap, off);
    }
  }
  /* Past the pool's limit nothing was changed; from here nothing fails. */
  for(uint32_t i = 0; i < d->nocc; i++)
    d->occ[i] = remap[d->occ[i]];
  for(uint32_t i = 0; i < d->ndefs; i++) {
    raw_def *x = &d->defs[i];
    if(x->name_entry != CH_NONE) x->name_entry = remap[x->name_entry];
    if(x->owner_entry != CH_NONE) x->owner_entry = remap[x->owner_entry];
    x->sig_off = strs[2 * i];
    x->doc_off = strs[2 * i + 1];
  }
  for(uint32_t i = 0; i < d->nimps; i++) {
    d->imps[i].spec = remap[d->imps[i].spec];
    if(d->imps[i].names != CH_NONE) d->imps[i].names = remap[d->imps[i].names];
  }
  uint32_t ns = 0;
  for(uint32_t i = 0; i < st->nsorted; i++)
    if(remap[st->sorted[i]] != CH_NONE) st->sorted[ns++] = remap[st->sorted[i]];
  st->nsorted = ns;
  memcpy(st->entries, entries, kept * sizeof(intern_entry));
  st->nentries = kept;
  ch_buf_release(&st->pool);
  st->pool = pool;
  memset(&pool, 0, sizeof(pool));
  st->compacted_len = st->pool.len;
  if(st->slot_cap) intern_rehash(st, st->slot_cap);
done:
  if(pool.data) ch_buf_release(&pool);
  ch_free(strs);
  ch_free(entries);
  ch_free(remap);
}

/* Keeps this extraction's segments for the next one of the document. */
static void cache_save(ch_extractor *self, TSTree *tree) {
  doc_cache *c = self->cache;
  strtab *st = &c->st;
  if(st->pool.len > 2 * st->compacted_len + 4096)
    cache_compact(self, &self->cur);
  segdata tmp = c->data;
  c->data = self->cur;
  self->cur = tmp;
  segdata_clear(&self->cur);
  if(c->tree) ts_tree_delete(c->tree);
  c->tree = ts_tree_copy(tree);
  if(c->text_cap < self->len || !c->text) {
    c->text_cap = self->len + self->len / 4 + 64;
    ch_free(c->text);
    c->text = ch_malloc(c->text_cap);
  }
  if(self->len) memcpy(c->text, self->text, self->len);
  c->len = self->len;
  uint64_t *hs = c->hstates;
  uint32_t hcap = c->hstates_cap;
  c->hstates = self->hstates;
  c->nhstates = self->nhstates;
  c->hstates_cap = self->hstates_cap;
  self->hstates = hs;
  self->hstates_cap = hcap;
  self->nhstates = 0;
  uint32_t *ls = c->lines, lcap = c->lines_cap;
  c->lines = self->lines;
  c->nlines = self->nlines;
  c->lines_cap = self->lines_cap;
  self->lines = ls;
  self->lines_cap = lcap;
  self->nlines = 0;
  /* The map from subtrees to segments. */
  uint32_t want = 64;
  while(want < 2 * c->data.nsegs + 2)
    want *= 2;
  if(c->map_cap != want) {
    ch_free(c->map_keys);
    ch_free(c->map_idx);
    c->map_cap = want;
    c->map_keys = ch_malloc(want * sizeof(uint64_t));
    c->map_idx = ch_malloc(want * sizeof(uint32_t));
  }
  memset(c->map_keys, 0, want * sizeof(uint64_t));
  for(uint32_t i = 0; i < c->data.nsegs; i++) {
    uint64_t key = c->data.segs[i].key;
    if(!key) continue;
    uint32_t at = key_hash(key) & (want - 1);
    while(c->map_keys[at]) /* equal keys too: equal inline leaves */
      at = (at + 1) & (want - 1);
    c->map_keys[at] = key;
    c->map_idx[at] = i;
  }
}

/* ---- assembling the record
 * --------------------------------------------------- */

static int cmp_entry_str(const void *pa, const void *pb, void *ctx) {
  const strtab *st = ctx;
  const intern_entry *a = &st->entries[*(const uint32_t *)pa];
  const intern_entry *b = &st->entries[*(const uint32_t *)pb];
  return strcmp(st->pool.data + a->off, st->pool.data + b->off);
}

static void *dup_array(const void *data, size_t count, size_t size) {
  return count ? ch_memdup(data, count * size) : NULL;
}

/* The identifiers used, not only defined, sorted by string: pool offsets
 * in self->idents; returns their count. */
static uint32_t make_idents(ch_extractor *self) {
  strtab *st = self->st;
  uint32_t n = 0;
  if(self->idents_cap < st->nentries) {
    self->idents_cap = st->nentries;
    self->idents =
        ch_realloc(self->idents, self->idents_cap * sizeof(uint32_t));
  }
  if(!self->cache) {
    for(uint32_t i = 0; i < st->nentries; i++)
      if(st->entries[i].uses > st->entries[i].defs) self->idents[n++] = i;
    if(n > 1) qsort_r(self->idents, n, sizeof(uint32_t), cmp_entry_str, st);
    for(uint32_t i = 0; i < n; i++)
      self->idents[i] = st->entries[self->idents[i]].off;
    return n;
  }
  /* A document cache keeps its entries sorted: merge the new ones in. */
  if(st->nsorted < st->nentries) {
    uint32_t fresh = st->nentries - st->nsorted;
    if(st->sorted_cap < 2 * st->nentries) {
      st->sorted_cap = 2 * st->nentries;
      st->sorted = ch_realloc(st->sorted, st->sorted_cap * sizeof(uint32_t));
    }
    uint32_t *add = st->sorted + st->nentries; /* room after the merge */
    for(uint32_t i = 0; i < fresh; i++)
      add[i] = st->nsorted + i;
    if(fresh > 1) qsort_r(add, fresh, sizeof(uint32_t), cmp_entry_str, st);
    /* Merge from the back into sorted[0, nentries). */
    uint32_t a = st->nsorted, b = fresh, w = st->nentries;
    while(b > 0) {
      if(a > 0 && cmp_entry_str(&st->sorted[a - 1], &add[b - 1], st) > 0)
        st->sorted[--w] = st->sorted[--a];
      else
        st->sorted[--w] = add[--b];
    }
    st->nsorted = st->nentries;
  }
  for(uint32_t i = 0; i < st->nsorted; i++) {
    const intern_entry *e = &st->entries[st->sorted[i]];
    if(e->uses > e->defs) self->idents[n++] = e->off;
  }
  return n;
}

static void reset(ch_extractor *self, const lang_state *ls, const char *text,
                  uint32_t len) {
  self->text = text;
  self->len = len;
  self->ls = ls;
  self->status = CH_OK;
  self->cache = NULL;
  ch_buf_reset(&self->scratch);
  segdata_clear(&self->cur);
  self->nlines = 0;
  self->last_tok_end = CH_NONE;
  self->seg_first_tok = CH_NONE;
  self->pending = 0;
  self->wraps_unsorted = false;
  self->match_seg = 0;
  self->nmdefs = 0;
  self->nrimports = 0;
  self->nfimps = 0;
  self->nsdefs = 0;
  self->norder = 0;
  self->nnamed = 0;
  self->npmatch = self->npcaps = 0;
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
  if(self->own.pool.cap > ((size_t)16 << 20)) ch_buf_release(&self->own.pool);
  if(self->scratch.cap > ((size_t)1 << 20)) ch_buf_release(&self->scratch);
  /* The intern table is cleared at every extraction: keep it small. */
  if(self->own.slot_cap > big / 8) {
    ch_free(self->own.slots);
    self->own.slots = NULL;
    self->own.slot_cap = 0;
    ch_free(self->own.entries);
    self->own.entries = NULL;
    self->own.entries_cap = 0;
  }
  segdata *d = &self->cur;
  DROP_IF_BIG(self->lines, self->lines_cap, big);
  if(d->tokens_cap > 4 * big) {
    ch_free(d->starts);
    d->starts = NULL;
  }
  DROP_IF_BIG(d->tokens, d->tokens_cap, 4 * big);
  DROP_IF_BIG(d->occ, d->occ_cap, 4 * big);
  DROP_IF_BIG(d->comments, d->comments_cap, big / 4);
  DROP_IF_BIG(d->wraps, d->wraps_cap, big / 4);
  DROP_IF_BIG(d->defs, d->defs_cap, big / 16);
  DROP_IF_BIG(d->segs, d->segs_cap, big / 16);
  DROP_IF_BIG(self->mdefs, self->mdefs_cap, big / 16);
  DROP_IF_BIG(self->sdefs, self->sdefs_cap, big / 16);
  DROP_IF_BIG(self->idents, self->idents_cap, big);
  DROP_IF_BIG(self->mkids, self->mkids_cap, big / 4);
}

/* Query runs over fresh segments further apart than this are separate:
 * a run costs a walk down to its bytes and across their siblings. */
#define RUN_GAP 8192

/* Runs the query over the fresh segments: over each fresh unit (with a
 * byte around it for empty nodes at its edges) and each fresh shell that
 * holds nothing fresh (its own matches start at or above it), in runs of
 * nearby ones. A match is read by the run of the segment that owns it, so
 * none is read twice. */
static void query_fresh(ch_extractor *self, TSNode root) {
  seg *segs = self->cur.segs;
  uint32_t n = self->cur.nsegs, nruns = 0, lo = UINT32_MAX, hi = 0;
  self->norder = 0; /* the runs: lo, hi pairs */
  for(uint32_t k = 0; k < n; k++) {
    if(segs[k].src != CH_NONE || (segs[k].shell && segs[k].fresh_below))
      continue;
    uint32_t a = segs[k].start, b = a + 1;
    if(!segs[k].shell) {
      a = a ? a - 1 : 0;
      b = segs[k].end + 1;
    }
    if(lo != UINT32_MAX && a > hi + RUN_GAP) {
      APPEND(self->order, self->norder, self->order_cap, lo);
      APPEND(self->order, self->norder, self->order_cap, hi);
      nruns++;
      lo = UINT32_MAX;
      hi = 0;
    }
    segs[k].run = nruns;
    if(a < lo) lo = a;
    if(b > hi) hi = b;
  }
  if(lo != UINT32_MAX) {
    APPEND(self->order, self->norder, self->order_cap, lo);
    APPEND(self->order, self->norder, self->order_cap, hi);
    nruns++;
  }
  /* A shell with fresh descendants: the run of the first of them. */
  for(uint32_t k = 0; k < n; k++) {
    if(segs[k].src != CH_NONE || !segs[k].shell || !segs[k].fresh_below)
      continue;
    for(uint32_t j = k + 1; j < segs[k].last; j++) {
      if(segs[j].src == CH_NONE && !(segs[j].shell && segs[j].fresh_below)) {
        segs[k].run = segs[j].run;
        break;
      }
    }
  }
  for(uint32_t r = 0; r < nruns; r++)
    run_query(self, root, self->order[2 * r], self->order[2 * r + 1], r);
}

/* Documents above this size are extracted without a cache. */
#define CACHE_TEXT_MAX ((uint32_t)32 << 20)

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
    self->walker = ts_tree_cursor_new(root);
    self->mcursor = ts_tree_cursor_new(root);
    self->have_children_cursor = true;
  }
  /* A caller that keeps the tree will edit the text: keep the segments of
   * this extraction so that the next one redoes only what changed. */
  if(tree_out && len <= CACHE_TEXT_MAX)
    self->cache = cache_pick(self, ls, path ? path : "");
  if(self->cache) {
    self->st = &self->cache->st;
    for(uint32_t i = 0; i < self->st->nentries; i++)
      self->st->entries[i].uses = self->st->entries[i].defs = 0;
  } else {
    self->st = &self->own;
    strtab_clear(&self->own);
  }

  uint64_t hash = self->cache ? hash_text(self) : ch_hash_text(text, len);
  scan_lines(self);
  if(self->cache) {
    descend(self, root);
    if(ls->query.matcher)
      m_flush(self);
    else
      query_fresh(self, root);
  } else {
    uint32_t k = new_seg(self, 0, 0, ts_node_start_byte(root),
                         ts_node_end_byte(root), CH_NONE, false);
    self->match_seg = k;
    walk(self, root);
    end_seg(self, k);
    if(!ls->query.matcher) run_query(self, root, 0, UINT32_MAX, 0);
  }
  segment_results(self);
  settle_defs(self);
  link_defs(self);

  defs = self->nsdefs ? ch_malloc(self->nsdefs * sizeof(ch_def)) : NULL;
  uint32_t ndefs = 0, row = 0, doc_lo = 0;
  for(uint32_t i = 0; i < self->nsdefs && !self->status; i++) {
    const raw_def *d = &self->sdefs[i];
    if(d->out == CH_NONE) continue;
    raw_def *w = &self->cur.defs[d->src];
    ch_def *o = &defs[ndefs++];
    o->name = entry_off(self, d->name_entry);
    o->kind = (ch_def_kind)d->kind;
    o->container = d->container;
    o->range = span_near(self, d->start, d->end, row);
    row = o->range.start_row;
    o->name_range = span_near(self, d->name_start, d->name_end, row);
    o->signature = make_signature(self, d, w);
    uint32_t ds, de;
    if(d->pydoc_start != CH_NONE)
      o->doc = add_doc(self, w, d->pydoc_start, d->pydoc_end);
    else if(find_doc(self, d->start, &doc_lo, row, &ds, &de))
      o->doc = add_doc(self, w, ds, de);
    else
      o->doc = CH_NONE;
  }

  uint32_t nidents = make_idents(self);
  if(self->status) {
    result = self->status;
    goto cleanup;
  }

  rec = ch_calloc(1, sizeof(*rec));
  atomic_init(&rec->refs, 1);
  rec->path = ch_strdup(path ? path : "");
  rec->lang = lang;
  rec->size = len;
  rec->mtime_ns = 0;
  rec->hash = hash;
  rec->pool_len = (uint32_t)self->st->pool.len;
  rec->pool = dup_array(self->st->pool.data, self->st->pool.len, 1);
  if(ndefs) {
    rec->defs = ch_realloc(defs, ndefs * sizeof(ch_def));
    rec->ndefs = ndefs;
  } else {
    ch_free(defs);
  }
  defs = NULL;
  /* Imports: in source order within each segment; segments may interleave
   * only when a shell's own import starts before its children's. */
  const segdata *sd = &self->cur;
  rec->nimports = sd->nimps;
  if(sd->nimps) {
    bool sorted = true;
    for(uint32_t i = 1; i < sd->nimps && sorted; i++)
      sorted = sd->imps[i - 1].key <= sd->imps[i].key;
    final_import *imps = sd->imps;
    if(!sorted) {
      imps = ch_memdup(sd->imps, sd->nimps * sizeof(final_import));
      for(uint32_t i = 0; i < sd->nimps; i++)
        imps[i].seq = i;
      qsort(imps, sd->nimps, sizeof(final_import), cmp_final_import);
    }
    rec->imports = ch_malloc(sd->nimps * sizeof(ch_import));
    row = 0;
    for(uint32_t i = 0; i < sd->nimps; i++) {
      ch_import *imp = &rec->imports[i];
      imp->spec = entry_off(self, imps[i].spec);
      imp->names = entry_off(self, imps[i].names);
      imp->row = row = row_near(self, imps[i].key, row);
      imp->kind = (ch_import_kind)imps[i].kind;
    }
    if(imps != sd->imps) ch_free(imps);
  }
  rec->idents = dup_array(self->idents, nidents, sizeof(uint32_t));
  rec->nidents = nidents;
  rec->line_starts = dup_array(self->lines, self->nlines, sizeof(uint32_t));
  rec->nlines = self->nlines;
  rec->tokens = dup_array(sd->tokens, sd->ntokens, sizeof(uint32_t));
  rec->token_starts = dup_array(sd->starts, sd->ntokens, sizeof(uint32_t));
  rec->ntokens = sd->ntokens;
  rec->parse_errors = ts_node_has_error(root);
  if(self->cache) cache_save(self, tree);

cleanup:
  ch_free(defs);
  if(self) {
    if(self->cache && !rec) cache_drop(self->cache);
    self->cache = NULL;
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
