/*
 * chorus/text.h: the text of one document, edited in place, fast.
 *
 * A ch_text holds bytes exactly as they were given: invalid UTF-8 is kept
 * as is, line endings are not normalised. It answers the questions an LSP
 * server asks many times a second: where does (line, character) fall as a
 * byte offset, in UTF-8, UTF-16 or UTF-32 units, and the reverse; and it
 * applies edits without copying the whole document.
 *
 * Storage is a list of chunks of a few KiB plus a directory of where each
 * chunk starts, in bytes and in line breaks (which gives each chunk's length
 * and break count). A lookup binary-searches the directory, then scans one
 * chunk; an edit rewrites only the chunks it covers and adds its deltas to
 * the later directory entries. A chunk boundary never falls between the
 * "\r" and "\n" of a CRLF; it may fall inside a UTF-8 sequence.
 *
 * Lines, as LSP defines them: a line ends at "\n", "\r\n" or a lone "\r".
 * A document of n line breaks has n + 1 lines (the last may be empty).
 *
 * Characters: the unit of `character` depends on the encoding. UTF-8 counts
 * bytes, UTF-16 counts code units (2 for a code point above U+FFFF), UTF-32
 * counts code points. An invalid UTF-8 byte counts as one code point
 * (U+FFFD, one UTF-16 unit). Combining marks are separate code points.
 *
 * Clamping, as the LSP specification asks: a character past the end of its
 * line means the end of the line (before the line break); a line past the
 * last line means the end of the document. A position that falls inside a
 * code point (between the bytes of a UTF-8 sequence, or between the two
 * halves of a surrogate pair) snaps to the start of that code point, so an
 * edit can never split a character.
 *
 * Offsets are uint32_t bytes, as tree-sitter uses; a text is at most
 * CH_TEXT_MAX bytes.
 *
 * Threads: a ch_text has no internal locking; use it from one thread.
 */
#ifndef CHORUS_TEXT_H
#define CHORUS_TEXT_H

#include "chorus/util.h"

#define CH_TEXT_MAX (UINT32_MAX - 1u)

typedef enum ch_encoding {
  CH_ENC_UTF8 = 0,
  CH_ENC_UTF16,
  CH_ENC_UTF32,
} ch_encoding;

/* A zero-based LSP position; `character` is in units of an encoding. */
typedef struct ch_position {
  uint32_t line;
  uint32_t character;
} ch_position;

typedef struct ch_text ch_text;

/* A new text holding a copy of data[0..len). Returns NULL and sets *error
 * (when not NULL) to CH_ERR_TOO_LARGE if len > CH_TEXT_MAX. */
ch_text *ch_text_new(const char *data, size_t len, ch_status *error);
/* Frees the text. ch_text_free(NULL) is a no-op. */
void ch_text_free(ch_text *self);

/* Total length in bytes. */
uint32_t ch_text_length(const ch_text *self);
/* Number of lines: line breaks + 1. */
uint32_t ch_text_line_count(const ch_text *self);

/* Byte offset of a position, clamped as described above. */
uint32_t ch_text_offset(const ch_text *self, ch_position pos,
                        ch_encoding enc);
/* Position of a byte offset (clamped to the length; an offset inside a
 * code point or inside a CRLF counts from the start of it). */
ch_position ch_text_position(const ch_text *self, uint32_t offset,
                             ch_encoding enc);
/* Byte offset where line `line` starts (clamped: a line past the end gives
 * the length). */
uint32_t ch_text_line_start(const ch_text *self, uint32_t line);

/* Replaces bytes [start, end) with data[0..len). start and end are clamped
 * to the length and swapped if reversed. CH_ERR_TOO_LARGE (and no change)
 * if the result would exceed CH_TEXT_MAX. The data is copied. */
ch_status ch_text_replace(ch_text *self, uint32_t start, uint32_t end,
                          const char *data, size_t len);
/* Replaces the range between two positions; a convenience over
 * ch_text_offset + ch_text_replace. */
ch_status ch_text_replace_range(ch_text *self, ch_position start,
                                ch_position end, ch_encoding enc,
                                const char *data, size_t len);

/* Copies bytes [start, end) (clamped) into out, which must have room for
 * end - start bytes; returns the number copied. No NUL is added. Unlike
 * ch_text_replace, a reversed range is not swapped: it copies nothing. */
uint32_t ch_text_copy(const ch_text *self, uint32_t start, uint32_t end,
                      char *out);
/* Appends bytes [start, end) (clamped; reversed copies nothing) to a
 * buffer. CH_ERR_TOO_LARGE, and nothing appended, past the buffer's max. */
ch_status ch_text_append_to(const ch_text *self, uint32_t start, uint32_t end,
                            ch_buf *out);
/* A contiguous, NUL-terminated copy of the whole text; the caller frees it
 * with ch_free. *len (when not NULL) receives the length. */
char *ch_text_dup(const ch_text *self, uint32_t *len);
/* Zero-copy read: a pointer to the bytes at `offset` and, in *len, how many
 * follow contiguously (to the end of that chunk). At or past the end, *len
 * is 0 and the result is "" (never NULL). Borrowed: valid until the next
 * edit (it may be passed back as the data of ch_text_replace, which copes
 * with data that points into the text). Shaped for TSInput.read. */
const char *ch_text_read(const ch_text *self, uint32_t offset,
                         uint32_t *len);

/* Bytes of heap the text uses, for memory accounting. */
size_t ch_text_memory(const ch_text *self);

#endif
