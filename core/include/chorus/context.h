/*
 * chorus/context.h: the code a model sees for one cursor, within a budget.
 *
 * For a document (its path, current text and language), a cursor and a
 * budget in tokens, the engine returns an ordered list of snippets, each
 * with its source kind, file, range, text, score, token count and the
 * reason it was chosen. Sources, by the evidence on repository-level
 * completion (the definitions of the symbols the code at the cursor uses
 * help most; similar-looking code helps less):
 *   1. prefix and suffix windows of the document, cut at line boundaries,
 *      split by a ratio;
 *   2. signatures of the enclosing scopes that lie outside the window;
 *   3. definitions of identifiers used near the cursor (prefix window and
 *      the current function) that are defined elsewhere: signature, doc
 *      comment and the body when short, ranked by how the file relates
 *      (imported, same directory, elsewhere) and by use; for `x.foo` the
 *      definitions in the type of `x` when it is known (declared type,
 *      `self.`/`this.` -> the enclosing class), and that type itself;
 *   4. outlines of imported files, when budget remains;
 *   5. windows of open or recently edited documents most similar (Jaccard
 *      over identifier sets) to the lines before the cursor, not already
 *      included;
 *   6. recent edits in other files, as small diff hunks.
 *
 * Guarantees:
 * - The sum of the snippets' `tokens` never exceeds the budget. Tokens are
 *   counted with ch_context_tokens, a per-language estimate calibrated
 *   against real tokenizers (tests/bench/calibrate_tokens.mjs) and raised
 *   by a safety margin, on the final text of each snippet (after
 *   redaction).
 * - Order for prompt caching: material from other files first (outlines,
 *   definitions and similar windows sorted by path then position, then
 *   edits), then the enclosing scopes, then the prefix and suffix windows
 *   last. The same inputs give the same list.
 * - With a guard (chorus/guard.h): files it denies never become snippets;
 *   for a remote target every snippet's text is redacted and the counts of
 *   redactions are reported. The guard is applied in one place, as each
 *   snippet's text is made.
 * - All strings of a result live in the result and are freed with it.
 * - What the engine caches (file spans, open documents' identifiers, name
 *   counts, outline orders) saves time, never changes a result; one
 *   exception by design: the order of an imported file's outline (most
 *   used names first) is computed once per version of that file, so it
 *   stays put while other files change, as prompt caching wants.
 *
 * Threads: a ch_context engine caches file contents and is used from one
 * thread at a time; snapshots it reads are immutable and may be shared.
 */
#ifndef CHORUS_CONTEXT_H
#define CHORUS_CONTEXT_H

#include "chorus/index.h"
#include "chorus/syntax.h"
#include "chorus/util.h"

typedef struct ch_guard ch_guard;

typedef enum ch_snippet_kind {
  CH_SNIPPET_OUTLINE = 0, /* signatures of an imported file */
  CH_SNIPPET_DEFINITION,  /* a definition of an identifier used near the
                             cursor */
  CH_SNIPPET_SIMILAR,     /* a window of another document like the code
                             before the cursor */
  CH_SNIPPET_EDIT,        /* a recent edit in another file */
  CH_SNIPPET_SCOPE,       /* the signature of an enclosing scope */
  CH_SNIPPET_PREFIX,      /* the document before the cursor */
  CH_SNIPPET_SUFFIX,      /* the document after the cursor */
  CH_SNIPPET_KIND_COUNT
} ch_snippet_kind;

/* "outline", "definition", ... */
const char *ch_snippet_kind_name(ch_snippet_kind kind);

/* Bits of ch_context_options.sources. */
#define CH_CONTEXT_SOURCE(kind) (1u << (kind))
#define CH_CONTEXT_ALL_SOURCES ((1u << CH_SNIPPET_KIND_COUNT) - 1u)

typedef struct ch_snippet {
  ch_snippet_kind kind;
  const char *path; /* the file, absolute (borrowed from the result) */
  uint32_t start_row, end_row; /* zero-based rows, end inclusive */
  uint32_t start, end;         /* bytes [start, end) of that file's text the
                                  snippet comes from (for outlines and edits:
                                  the span they describe) */
  const char *text; /* the text as it would be sent; NUL-terminated */
  size_t len;
  double score;       /* higher is more useful; comparable within a kind */
  uint32_t tokens;    /* ch_context_tokens of text */
  const char *reason; /* one short line: why it was chosen */
} ch_snippet;

/* Redactions the guard made while the result was built. */
typedef struct ch_context_redactions {
  size_t total;
  size_t snippets_dropped; /* snippets of denied files not included */
  /* Per kind of secret: names borrowed from the guard, counts. */
  size_t nkinds;
  const char *kind_names[24];
  size_t kind_counts[24];
} ch_context_redactions;

typedef struct ch_context {
  ch_snippet *snippets; /* in the order to send */
  size_t count;
  uint32_t budget;
  uint32_t tokens; /* sum of snippets' tokens, <= budget */
  ch_context_redactions redactions;
  /* The guard denies the document itself: nothing of it is included. */
  bool document_denied;
  uint64_t elapsed_ns;
  struct ch_context_arena *arena; /* private: owns every string */
} ch_context;

/* A document the editor has open or the user edited recently: a source of
 * similar code. Borrowed for the call. */
typedef struct ch_context_doc {
  const char *path; /* absolute */
  const char *text;
  uint32_t len;
} ch_context_doc;

/* A recent edit in another file: at zero-based `row` of `path`, the lines
 * `removed` were replaced by `added` (either may be empty; both are whole
 * lines, '\n'-separated). Most recent first. Borrowed for the call. */
typedef struct ch_context_edit {
  const char *path;
  uint32_t row;
  const char *removed;
  const char *added;
} ch_context_edit;

typedef struct ch_context_request {
  const char *path;        /* absolute path of the document */
  const ch_language *lang; /* NULL: from the path */
  const char *text;        /* its current text (need not match the disk) */
  uint32_t len;
  uint32_t cursor; /* byte offset into text */
  uint32_t budget; /* tokens, > 0 */
  /* The record of exactly this text, when the caller has it (an open
   * document re-indexed, or an extraction); NULL: the snapshot's record of
   * the path is used only when its hash matches the text. */
  const ch_record *record;
  const ch_context_doc *docs;
  size_t ndocs;
  const ch_context_edit *edits;
  size_t nedits;
} ch_context_request;

typedef struct ch_context_options {
  /* Share of the window tokens before the cursor; 0: 0.75. */
  double prefix_ratio;
  /* Share of the budget kept for the window before other sources are
   * chosen; the window then grows into what they leave; 0: 0.3. */
  double window_share;
  /* Sources to use (CH_CONTEXT_SOURCE bits); 0: all. */
  unsigned sources;
  /* The target model is remote: the guard redacts every snippet. */
  bool remote;
  /* NULL: no path policy and no redaction. Borrowed. */
  const ch_guard *guard;
} ch_context_options;

typedef struct ch_context_engine ch_context_engine;

/* A new engine. max_cache_bytes bounds the file contents it keeps (0:
 * 32 MiB). */
ch_context_engine *ch_context_engine_new(size_t max_cache_bytes);
void ch_context_engine_free(ch_context_engine *self);
/* Bytes read from disk and cache hits, for the benchmark. */
void ch_context_engine_io(const ch_context_engine *self, uint64_t *bytes_read,
                          uint64_t *hits, uint64_t *misses);

/* Builds the context for `req` on `snap` (borrowed; the engine keeps no
 * reference past the call) into *out, which the caller releases with
 * ch_context_release. options may be NULL. CH_ERR_INVALID (and an empty
 * result) for a NULL text, a cursor past the text or a zero budget. */
ch_status ch_context_build(ch_context_engine *self, const ch_snapshot *snap,
                           const ch_context_request *req,
                           const ch_context_options *options, ch_context *out);
void ch_context_release(ch_context *self);

/* ---- token estimate ------------------------------------------------------ */

/* The safety margin of ch_context_tokens over the central estimate for a
 * language (e.g. 0.20), chosen from the 99th percentile of real/estimate on
 * ~1,500-token spans of real code. */
double ch_context_token_margin(const ch_language *lang);
/* The central estimate in thousandths of a token (additive: the cost of a
 * text that starts at a line start is the sum of the costs of its lines). */
uint64_t ch_context_tokens_milli(const ch_language *lang, const char *text,
                                 size_t len);
/* Tokens of text as the budget counts them: the central estimate raised by
 * the margin, rounded up. lang may be NULL (a generic table). Tested
 * against real counts of the fixtures (tests/fixtures/context/tokens.tsv):
 * the central estimate within 30% per file and 15% per language overall,
 * and this count never below the real one. */
uint32_t ch_context_tokens(const ch_language *lang, const char *text,
                           size_t len);
/* The same from a central estimate in thousandths. */
uint32_t ch_context_tokens_of_milli(const ch_language *lang, uint64_t milli);

#endif
