/*
 * chorus/syntax.h: the tree-sitter language registry.
 *
 * This module knows which languages chorus can parse and where their
 * queries live. It is the only place that names a grammar.
 *
 * - The registry is a static, read-only table compiled into the program:
 *   c, cpp, python, javascript, typescript, tsx, go, rust and java. Every
 *   `const ch_language *` it hands out points into that table, lives for
 *   the whole process and is never freed. Two lookups of the same language
 *   return the same pointer, so pointers may be compared with ==.
 * - Lookups (by LSP languageId, by file path and shebang, by name) never
 *   allocate and return NULL for anything they do not know.
 * - Grammars are compiled in (grammars/meson.build); their queries are
 *   read at run time from the grammars folder (ch_syntax_grammars_dir), in
 *   the layout of the source tree:
 *       <grammars>/queries/<language>/<query>.scm        our own queries
 *       <grammars>/node_modules/<package>/queries/<query>.scm   upstream
 *   Our own file, when present, replaces the upstream query entirely.
 *   Otherwise the upstream query is used, preceded by the upstream query
 *   of the language it inherits from when the table says so (typescript
 *   and tsx use javascript's tags.scm and their own, as upstream's
 *   tree-sitter.json does). The base always comes first; upstream lists
 *   typescript's own highlights before javascript's, which would matter
 *   only to a consumer where the first matching pattern wins (a
 *   highlighter), never to tags.
 * - Threads: everything here may be called from any thread. The table is
 *   immutable; ch_syntax_grammars_dir computes its answer once, under
 *   pthread_once, on the first call from any thread.
 * - Every grammar is ABI 14 and the runtime (libtree-sitter 0.20) reads
 *   ABI 13..14; ch_syntax_parser_new and ch_syntax_query_new refuse a
 *   grammar outside that range with CH_ERR_STATE instead of crashing.
 */
#ifndef CHORUS_SYNTAX_H
#define CHORUS_SYNTAX_H

#include <stddef.h>
#include <stdint.h>

#include <tree_sitter/api.h>

#include "chorus/util.h"

/* One language of the registry. All fields are read-only and static. */
typedef struct ch_language {
  /* Canonical name ("c", "cpp", "python", "javascript", "typescript",
   * "tsx", "go", "rust", "java"); also the folder of our own queries. */
  const char *name;
  /* NULL-terminated lists. LSP languageIds (what VS Code, Neovim and Emacs
   * send in textDocument/didOpen); file extensions without the dot, case
   * sensitive ("C" and "H" are C++); shebang interpreters by base name. */
  const char *const *language_ids;
  const char *const *extensions;
  const char *const *interpreters;
  /* The grammar, compiled into the program. */
  const TSLanguage *(*ts_language)(void);
  /* npm package folder under node_modules/ that holds its queries/. */
  const char *package;
  /* Canonical name of the language whose upstream queries come first, or
   * NULL; `inherited_queries` lists the query names this applies to. */
  const char *inherits;
  const char *const *inherited_queries;
} ch_language;

/* ---- the table ----------------------------------------------------------- */

/* Number of languages compiled in. */
size_t ch_syntax_count(void);
/* The language at `index` (0 <= index < ch_syntax_count()), in a fixed
 * order, or NULL past the end. Borrowed; static. */
const ch_language *ch_syntax_at(size_t index);

/* ---- lookups: all return a static entry or NULL -------------------------- */

/* By canonical name ("tsx"), ignoring ASCII case. */
const ch_language *ch_syntax_by_name(const char *name);
/* By LSP languageId ("typescriptreact", "c++", "cuda-cpp"), ignoring ASCII
 * case. */
const ch_language *ch_syntax_by_language_id(const char *language_id);
/* By the first line of a file when it is a shebang: "#!/usr/bin/python3",
 * "#!/usr/bin/env node", "#!/usr/bin/env -S deno run". `head` holds the
 * first `len` bytes of the file (need not be NUL-terminated; only the first
 * line is read). Version suffixes are ignored ("python3.12" is python). */
const ch_language *ch_syntax_by_shebang(const char *head, size_t len);
/* By file path: the extension of its last component (exact case first,
 * then ignoring ASCII case, so ".C" is C++ but ".PY" is still python);
 * when that says nothing and `head` is not NULL, by shebang as above. */
const ch_language *ch_syntax_by_path(const char *path, const char *head,
                                     size_t len);

/* ---- grammars folder and queries ----------------------------------------- */

/* The grammars folder, found on the first call and cached (pthread_once):
 *   1. $CHORUS_GRAMMARS_DIR when set and not empty (used as given; a
 *      warning is logged if it is not a directory);
 *   2. <dir of /proc/self/exe>/../share/chorus/grammars when that is a
 *      directory (an installed layout);
 *   3. the source folder grammars/ recorded at build time.
 * Never NULL. Borrowed; valid for the life of the process. Changing the
 * environment after the first call has no effect. */
const char *ch_syntax_grammars_dir(void);

/* The text of query `name` ("tags", "highlights", ...) for `self`, read
 * from the grammars folder by the rules at the top of this file; pieces
 * that are concatenated are separated by a newline. `name` must be made of
 * [a-z0-9_-]. Returns NULL and sets *error (optional) to CH_ERR_NOT_FOUND
 * when no file exists, CH_ERR_IO when one cannot be read, CH_ERR_TOO_LARGE
 * past 4 MiB, CH_ERR_INVALID for a bad name. The caller frees the result
 * with ch_free; *len (optional) receives its length without the NUL. */
char *ch_syntax_query_source(const ch_language *self, const char *name,
                             size_t *len, ch_status *error);

/* Reads query `name` as above and compiles it for the grammar of `self`.
 * The caller frees the result with ts_query_delete. On failure returns NULL
 * and sets *error (optional): the errors of ch_syntax_query_source, or
 * CH_ERR_PARSE when ts_query_new rejects the text, or CH_ERR_STATE for a
 * grammar ABI the runtime cannot read. A rejected query is logged at error
 * level with the file, line:column, byte offset, error kind and offending
 * token, e.g. "tags query for go does not compile: unknown node type
 * 'fn_decl' at /x/queries/go/tags.scm:3:2 (byte 41)". A missing query is
 * only logged at debug level: callers may probe for optional queries. */
TSQuery *ch_syntax_query_new(const ch_language *self, const char *name,
                             ch_status *error);

/* Compiles `source` (len bytes) for `self`; `origin` names it in the error
 * log (a path or "<inline>"). Same results as ch_syntax_query_new. For
 * queries that do not come from the grammars folder (tests, tools). */
TSQuery *ch_syntax_query_compile(const ch_language *self, const char *name,
                                 const char *source, size_t len,
                                 const char *origin, ch_status *error);

/* ---- parsing ------------------------------------------------------------- */

/* A new parser set to the grammar of `self`. NULL with CH_ERR_STATE (and
 * an error log) when the runtime cannot read the grammar's ABI. The caller
 * frees it with ts_parser_delete. */
TSParser *ch_syntax_parser_new(const ch_language *self, ch_status *error);

/* ---- diagnostics --------------------------------------------------------- */

/* One line for `chorus --version`, e.g. "grammars: c 14, cpp 14, ...,
 * java 14 (tree-sitter runtime reads ABI 13-14)", the number after each
 * language being its grammar's ABI version; a grammar the runtime cannot
 * read is marked "unsupported". The caller frees it with ch_free. */
char *ch_syntax_versions(void);

#endif
