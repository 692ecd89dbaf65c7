/*
 * chorus/ngram.h: the builtin offline model, an unbounded n-gram model over
 * the repository's own token streams (in the manner of "Infini-gram", Liu
 * et al., 2024).
 *
 * For the tokens before the cursor it finds the longest run of tokens that
 * also occurs elsewhere in the repository, takes the token that most often
 * follows that run, and answers with the source text that follows one such
 * occurrence: to the end of the line, or a block of lines when the match is
 * long and every occurrence continues the same way. It says how sure it is
 * and where the text comes from (file and line).
 *
 * What it guarantees:
 * - It never reads the current document past the cursor: the text of the
 *   current file comes only from the caller's prefix, and an occurrence in
 *   the current file whose continuation starts at or past the cursor is
 *   never used (the tokens after the cursor are in the index, so without
 *   this rule the model would answer with the user's own next line).
 * - Returned text is the original formatting of the source it continues
 *   (whitespace, comments between tokens), re-indented to the cursor's
 *   line, CRLF folded to LF, and always valid UTF-8 (invalid bytes become
 *   U+FFFD).
 * - Text taken from another file is checked before use: the tokens at the
 *   recorded offsets must still have the recorded ids, else the next
 *   occurrence is tried. A file edited on disk since it was indexed can
 *   therefore not inject unrelated text.
 *
 * How: a suffix array over the reversed concatenation of every file's
 * tokens (so the longest match of the text before the cursor is a prefix
 * search), sorted to CH_NGRAM_DEPTH tokens; plus a "delta": the files that
 * changed since the array was built, scanned directly at each query. An
 * update that finds the delta too large rebuilds the array. Memory: about
 * 8 bytes per token (4 for the tokens, 4 for the array), roughly 2 bytes
 * per byte of source; the records themselves belong to the index.
 *
 * Threads: ch_ngram_complete may be called from any number of threads at
 * once, also while ch_ngram_update runs on another thread (an update
 * builds a new state and swaps it in under a short lock; queries keep the
 * state they started with). Updates are serialised with each other.
 */
#ifndef CHORUS_NGRAM_H
#define CHORUS_NGRAM_H

#include "chorus/index.h"
#include "chorus/util.h"

/* Matches are found up to this many tokens; longer ones count as this. */
#define CH_NGRAM_DEPTH 64

typedef struct ch_ngram ch_ngram;

typedef struct ch_ngram_options {
  uint32_t max_bytes;       /* of the returned text; 0: 1024 */
  uint32_t max_lines;       /* of a block; 0: 12 */
  uint32_t min_match;       /* shortest match answered, tokens; 0: 2 */
  uint32_t block_min_match; /* shortest match that may give a block; 0: 8 */
  bool single_line;         /* never answer more than the rest of a line */
  /* The document's language, for lexing text the record does not cover
   * (comment syntax); NULL: the record's. */
  const ch_language *language;
} ch_ngram_options;

typedef struct ch_ngram_result {
  char *text; /* owned: what to insert at the cursor; NUL-terminated */
  size_t len;
  double confidence;     /* 0..1: agreement times a match length factor */
  uint32_t match_tokens; /* length of the match, tokens (partial excluded) */
  uint32_t occurrences;  /* occurrences of the match examined (at most a few
                            hundred are sampled) */
  uint32_t agreeing;     /* of those, how many continue like the answer */
  char *path;            /* owned: absolute path of the source continued */
  uint32_t line;         /* zero-based row of the continuation there */
  bool block;            /* several lines */
} ch_ngram_result;

/* Statistics for benchmarks and `chorus doctor`. */
typedef struct ch_ngram_stats {
  uint64_t base_tokens; /* tokens in the suffix array */
  uint32_t base_files;
  uint32_t dead_files;   /* of those, changed or gone since */
  uint64_t delta_tokens; /* tokens scanned directly */
  uint32_t delta_files;
  uint32_t rebuilds; /* suffix arrays built so far */
  double last_build_ms;
} ch_ngram_stats;

/* An empty model (answers nothing until the first update). */
ch_ngram *ch_ngram_new(void);
/* Frees the model; results already returned stay valid. NULL: no-op. */
void ch_ngram_free(ch_ngram *self);

/* Brings the model up to `snapshot` (borrowed for the call; records it
 * keeps are referenced). Cheap when few files changed since the last
 * build: they go to the delta. Builds the suffix array in the calling
 * thread on the first call and when the delta grew past its limit (a few
 * seconds for 50 MB of source): call it off the loop thread. */
ch_status ch_ngram_update(ch_ngram *self, const ch_snapshot *snapshot);

/* Builds the suffix array now from everything in the snapshot, however
 * small the delta (tests, benchmarks). */
ch_status ch_ngram_rebuild(ch_ngram *self, const ch_snapshot *snapshot);

/* Completes at byte `cursor` of a document.
 * - snapshot, file_id: the document's record in the snapshot, used for
 *   the tokens before the cursor; file_id may be CH_NONE (a document the
 *   index does not have), and the record may be stale: tokens that do not
 *   match the prefix text are replaced by a plain lexing of that text.
 * - prefix/prefix_len: the document's bytes [cursor - prefix_len, cursor)
 *   (a window ending at the cursor; the whole prefix is best). Borrowed.
 * - path: the document's path (borrowed), so that occurrences in its
 *   indexed copy are recognised; with a file_id the snapshot's path is
 *   used instead. A relative path stands for every indexed file whose
 *   path ends with it (they are all treated as the document).
 * On CH_OK *out holds an answer; release it with ch_ngram_result_release.
 * CH_ERR_NOT_FOUND when there is nothing to say (out is zeroed);
 * CH_ERR_INVALID for NULL arguments or prefix_len > cursor, CH_ERR_RANGE
 * for a file_id past the snapshot. */
ch_status ch_ngram_complete(ch_ngram *self, const ch_snapshot *snapshot,
                            uint32_t file_id, const char *path, uint32_t cursor,
                            const char *prefix, size_t prefix_len,
                            const ch_ngram_options *options,
                            ch_ngram_result *out);

void ch_ngram_result_release(ch_ngram_result *self);

/* Heap bytes of the model's own tables (not the records it references). */
size_t ch_ngram_memory(const ch_ngram *self);
void ch_ngram_stats_get(const ch_ngram *self, ch_ngram_stats *out);

#endif
