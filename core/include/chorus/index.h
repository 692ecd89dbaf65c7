/*
 * chorus/index.h: what chorus knows about every file of the repository.
 *
 * Three layers, each usable alone:
 *
 * 1. ch_record: what one file contains, extracted from its tree-sitter
 *    tree: definitions (tags queries), the identifiers it uses, its imports
 *    as written, line starts, and a token stream for the builtin model. A
 *    record is immutable once built and reference-counted, so snapshots of
 *    the index share records of unchanged files. All strings of a record
 *    live in one pool; fields hold offsets into it (CH_NONE when absent).
 *
 * 2. Extraction (ch_extract_*): text -> record, on any thread. A parse can
 *    reuse the previous tree of the same document after ts_tree_edit, which
 *    is how an open document is re-indexed as the user types.
 *
 * 3. The index (ch_index, see below): workspace files -> records, built by a
 *    pool of worker threads, published as immutable snapshots that readers
 *    hold without locks; plus import resolution and the queries the context
 *    engine asks (definitions by name ranked by proximity, by prefix, a
 *    file's outline, imports and importers).
 *
 * Positions: byte offsets and zero-based rows; columns are byte columns
 * (tree-sitter's TSPoint). Convert to LSP positions with chorus/text.h.
 */
#ifndef CHORUS_INDEX_H
#define CHORUS_INDEX_H

#include <stdatomic.h>
#include <tree_sitter/api.h>

#include "chorus/syntax.h"
#include "chorus/util.h"

#define CH_NONE UINT32_MAX

typedef enum ch_def_kind {
  CH_DEF_FUNCTION = 0,
  CH_DEF_METHOD,
  CH_DEF_CLASS,
  CH_DEF_STRUCT,
  CH_DEF_UNION,
  CH_DEF_ENUM,
  CH_DEF_TYPE, /* typedef, type alias */
  CH_DEF_INTERFACE, /* also traits, protocols */
  CH_DEF_MACRO,
  CH_DEF_CONSTANT,
  CH_DEF_VARIABLE,
  CH_DEF_MODULE, /* also namespaces, packages */
  CH_DEF_FIELD,  /* struct/class members that tags queries report */
  CH_DEF_KIND_COUNT
} ch_def_kind;

/* "function", "method", ... */
const char *ch_def_kind_name(ch_def_kind kind);

/* A span of source: bytes [start, end), rows and byte columns. */
typedef struct ch_span {
  uint32_t start, end;
  uint32_t start_row, start_col;
  uint32_t end_row, end_col;
} ch_span;

typedef struct ch_def {
  uint32_t name;      /* pool offset */
  uint32_t signature; /* pool offset: the declaration without its body,
                         whitespace folded, at most CH_SIGNATURE_MAX bytes */
  uint32_t doc;       /* pool offset of the doc comment right above (or the
                         Python docstring), comment markers kept; CH_NONE */
  uint32_t container; /* index into defs of the enclosing definition
                         (class of a method, impl/struct of a fn), CH_NONE */
  ch_def_kind kind;
  ch_span range;      /* the whole definition, body included */
  ch_span name_range;
} ch_def;

#define CH_SIGNATURE_MAX 400

typedef enum ch_import_kind {
  CH_IMPORT_INCLUDE_LOCAL = 0, /* #include "x.h" */
  CH_IMPORT_INCLUDE_SYSTEM,    /* #include <x.h> */
  CH_IMPORT_MODULE,            /* python import x.y, java import a.b.C,
                                  go "mod/pkg", rust use crate::a::b */
  CH_IMPORT_RELATIVE,          /* python from . import x, JS './x', rust
                                  mod x; (relative to the file) */
  CH_IMPORT_PACKAGE,           /* JS 'react', bare package names */
} ch_import_kind;

typedef struct ch_import {
  uint32_t spec;   /* pool offset: as written, quotes removed ("./util",
                      "os.path", "stdio.h", "crate::net::tcp", "..pkg.mod") */
  uint32_t names;  /* pool offset of the imported names, comma-separated
                      ("join,split" for from os.path import join, split);
                      CH_NONE for a whole-module import */
  uint32_t row;
  ch_import_kind kind;
} ch_import;

typedef struct ch_record {
  atomic_uint refs;
  char *path; /* owned: relative to its workspace root, '/'-separated */
  const ch_language *lang;
  uint64_t size;     /* bytes of text */
  int64_t mtime_ns;  /* of the file on disk; 0 for unsaved text */
  uint64_t hash;     /* of the text (ch_hash_text) */

  char *pool; /* NUL-separated strings */
  uint32_t pool_len;

  ch_def *defs; /* in source order (by range.start) */
  uint32_t ndefs;
  ch_import *imports; /* in source order */
  uint32_t nimports;
  uint32_t *idents; /* pool offsets of the distinct identifiers the file
                       uses (not the ones it defines only), sorted by
                       string */
  uint32_t nidents;
  uint32_t *line_starts; /* byte offset of each row */
  uint32_t nlines;
  uint32_t *tokens; /* token stream: ch_token_id of every leaf token, in
                       order (comments excluded), for the builtin model */
  uint32_t *token_starts; /* byte offset of each token, strictly ascending;
                             ntokens entries, like tokens. A token's text is
                             the shortest run of bytes from its start whose
                             ch_token_id is its id, ending at or before the
                             next token's start (or the end of the text). */
  uint32_t ntokens;
  bool parse_errors; /* the tree had ERROR or MISSING nodes */
} ch_record;

/* Building a record (extraction, the cache): allocate it with ch_calloc,
 * set refs to 1, and give every array its own ch_malloc'd block (or NULL
 * when its count is 0); ch_record_unref frees exactly those. */

/* Borrowed pool string at offset `at` ("" for CH_NONE). */
static inline const char *ch_record_str(const ch_record *self, uint32_t at) {
  return at == CH_NONE ? "" : self->pool + at;
}
/* Reference counting; safe from any thread. _unref frees at zero;
 * ch_record_unref(NULL) is a no-op. */
ch_record *ch_record_ref(ch_record *self);
void ch_record_unref(ch_record *self);
/* Heap bytes the record holds. */
size_t ch_record_memory(const ch_record *self);

/* The id of a token's text: a 32-bit hash (FNV-1a folded). Equal texts have
 * equal ids; the builtin model treats ids as opaque symbols. */
uint32_t ch_token_id(const char *text, size_t len);

/* ---- extraction ---------------------------------------------------------- */

/* Per-thread extraction state: a parser and the compiled queries of each
 * language, created on first use. Not thread-safe: one per worker. */
typedef struct ch_extractor ch_extractor;

ch_extractor *ch_extractor_new(void);
void ch_extractor_free(ch_extractor *self);

/* With all = true, the extractor visits every node of the tree instead of
 * lexing the statements and expressions that hold no definition (Python's;
 * see extract.c): the definitions and imports are the same, tokens and
 * identifiers may differ where the lexer splits text differently from the
 * grammar. For tests and measurements. */
void ch_extractor_walk_all(ch_extractor *self, bool all);

/* Parses text[0..len) as `lang` and builds its record. path is copied.
 * When old_tree is not NULL it must be the tree of the previous version of
 * this text with ts_tree_edit applied for every change since; the parse
 * then reuses it. When tree_out is not NULL it receives the new tree
 * (caller deletes it with ts_tree_delete); otherwise the tree is freed.
 * With tree_out, the extractor also keeps this extraction's results for
 * `path` (with its own copy of the tree and of the text; the last few
 * paths): the next extraction of that path redoes only the subtrees that
 * changed. The record is the same either way.
 * Returns NULL and sets *error when the language's queries cannot be
 * loaded (CH_ERR_NOT_FOUND/CH_ERR_PARSE) or the text is too large. */
ch_record *ch_extract(ch_extractor *self, const ch_language *lang,
                      const char *path, const char *text, uint32_t len,
                      TSTree *old_tree, TSTree **tree_out, ch_status *error);

/* ---- the index ------------------------------------------------------------
 *
 * A ch_index owns the records of the files under its workspace roots and a
 * pool of worker threads that walk, read, parse and extract them. Every
 * change (a walk, a file changed on disk, an open document edited) ends in
 * a new snapshot: an immutable, reference-counted view that readers take
 * with ch_index_snapshot and query without locks for as long as they hold
 * it. Records of unchanged files are shared between snapshots.
 *
 * A snapshot is a base (maps over all files, rebuilt on a worker when many
 * files changed) plus an overlay of the few files changed since, so a
 * keystroke in an open document republishes in time proportional to that
 * file, not to the repository.
 *
 * Open documents: their unsaved text wins over the disk. The owner reports
 * edits (ch_index_doc_edit, with tree-sitter's TSInputEdit in bytes and
 * byte columns) and the new text (ch_index_doc_update); a worker reparses
 * incrementally from the previous tree. Updates that pile up while a parse
 * waits are coalesced into one.
 *
 * Threads: all functions may be called from any thread. Callbacks in
 * ch_index_options run on worker threads: hand them to your own loop.
 */

typedef struct ch_index ch_index;
typedef struct ch_snapshot ch_snapshot;

typedef struct ch_index_options {
  int workers;             /* 0: the number of online CPUs */
  uint64_t max_file_bytes; /* 0: the walk's default (1 MiB) */
  const char *const *ignore_globs; /* extra ignore patterns; copied */
  /* NULL: the default cache file per root (chorus/cache.h); "": none. */
  const char *cache_dir;
  /* Called on a worker after each published snapshot and during the first
   * indexing of a root; may be NULL. */
  void (*on_change)(void *userdata);
  void *userdata;
} ch_index_options;

/* Counters for progress and `chorus index`. */
typedef struct ch_index_stats {
  size_t roots_pending; /* roots whose first walk is not finished */
  size_t queued;        /* files waiting to be parsed */
  size_t files_seen;    /* files the walks found so far */
  size_t files_done;    /* of those, indexed (parsed or from cache) */
  size_t parsed;        /* parsed in this process */
  size_t cache_hits;    /* reused from the cache without parsing */
  size_t failed;        /* unreadable or unparsable */
  uint64_t bytes;       /* source bytes indexed */
  bool idle; /* nothing queued or running and the newest snapshot is out */
} ch_index_stats;

ch_index *ch_index_new(const ch_index_options *options, ch_status *error);
/* Stops the workers (waiting for the running jobs), saves the caches when
 * records changed since they were last saved, and frees everything.
 * Snapshots still held stay valid. NULL is a no-op. */
void ch_index_free(ch_index *self);

/* Adds a workspace root (absolute path; copied) and starts indexing it in
 * the background. Adding a root twice does nothing. */
ch_status ch_index_add_root(ch_index *self, const char *root);
/* Removes a root and its files. */
ch_status ch_index_remove_root(ch_index *self, const char *root);

/* A file changed, appeared or vanished on disk (absolute path): re-check
 * it on a worker. Paths outside every root, ignored or not indexable are
 * dropped. For a directory, or a path that no longer exists, every indexed
 * file under it is re-checked too (a deleted or renamed directory). */
void ch_index_file_changed(ch_index *self, const char *path);

/* Open documents (absolute paths). _doc_open and _doc_update copy text. */
ch_status ch_index_doc_open(ch_index *self, const char *path,
                            const ch_language *lang, const char *text,
                            uint32_t len, int64_t version);
ch_status ch_index_doc_edit(ch_index *self, const char *path,
                            const TSInputEdit *edit);
ch_status ch_index_doc_update(ch_index *self, const char *path,
                              const char *text, uint32_t len,
                              int64_t version);
void ch_index_doc_close(ch_index *self, const char *path);

/* The current snapshot, with a reference the caller drops with
 * ch_snapshot_unref. Never NULL (an empty index has an empty snapshot). */
ch_snapshot *ch_index_snapshot(ch_index *self);
void ch_index_stats_get(ch_index *self, ch_index_stats *out);
/* Blocks until no work is queued or running and the latest snapshot is
 * published (for the CLI and tests; never call it on the loop thread). */
void ch_index_wait_idle(ch_index *self);
/* Saves now the cache of every root whose records differ from its cache
 * file (also done when the first indexing of a root ends and by
 * ch_index_free); an unchanged cache is not rewritten. */
void ch_index_save_cache(ch_index *self);

/* ---- snapshots ----------------------------------------------------------- */

ch_snapshot *ch_snapshot_ref(ch_snapshot *self);
void ch_snapshot_unref(ch_snapshot *self);

/* Files are numbered 0..count-1 within one snapshot. */
uint32_t ch_snapshot_count(const ch_snapshot *self);
/* Borrowed for the life of the snapshot; NULL past the end. */
const ch_record *ch_snapshot_file(const ch_snapshot *self, uint32_t id);
/* The absolute path of a file (borrowed), and its root. */
const char *ch_snapshot_abs_path(const ch_snapshot *self, uint32_t id);
const char *ch_snapshot_root(const ch_snapshot *self, uint32_t id);
/* The id of an absolute path. */
bool ch_snapshot_lookup(const ch_snapshot *self, const char *path,
                        uint32_t *id);

/* A definition found by a query. */
typedef struct ch_def_ref {
  uint32_t file;     /* snapshot file id */
  uint32_t def;      /* index into that record's defs */
  uint32_t proximity; /* 0 same file, 1 imported by the asking file, 2 same
                         directory, 3 elsewhere */
} ch_def_ref;

/* Definitions named exactly `name`, nearest first (proximity, then the
 * length of the common directory prefix, then path). `from` is the asking
 * file's id or CH_NONE. Writes up to max, returns the total count. */
size_t ch_snapshot_find(const ch_snapshot *self, const char *name,
                        uint32_t from, ch_def_ref *out, size_t max);
/* Definitions whose name starts with prefix, ordered by proximity then
 * name. */
size_t ch_snapshot_find_prefix(const ch_snapshot *self, const char *prefix,
                               uint32_t from, ch_def_ref *out, size_t max);
/* Files a file imports (resolved), in import order, deduplicated. */
size_t ch_snapshot_imports(const ch_snapshot *self, uint32_t id,
                           uint32_t *out, size_t max);
/* Files that import a file. */
size_t ch_snapshot_importers(const ch_snapshot *self, uint32_t id,
                             uint32_t *out, size_t max);
/* Imports of a file that resolved to nothing. */
size_t ch_snapshot_unresolved(const ch_snapshot *self, uint32_t id);
/* A file's outline: one line per definition, "row: signature", indented
 * by container depth, no bodies. Appends to out. */
ch_status ch_snapshot_outline(const ch_snapshot *self, uint32_t id,
                              ch_buf *out);

#endif
