/*
 * chorus/stream.h: incremental parsers for streamed model responses.
 *
 * Model servers stream their replies as server-sent events (OpenAI, Mistral,
 * Anthropic, llama.cpp) or as newline-delimited JSON (Ollama). The bytes
 * come from the network in whatever chunks the transport hands over, so both
 * parsers here accept input in any chunking, down to one byte at a time, and
 * call back exactly as they would for the same bytes fed whole.
 *
 * Guarantees:
 * - Same callbacks for the same bytes, however they are split.
 * - Memory is bounded: an event (SSE) or a line (NDJSON) larger than the
 *   maximum given at init is refused with CH_ERR_TOO_LARGE instead of being
 *   buffered. After an error from feed the parser is in an error state: later
 *   feed and finish calls return the same error without calling back.
 * - The parsers interpret nothing above the framing: `data: [DONE]` is plain
 *   data, and JSON is not parsed here.
 * - Data passed to a callback is borrowed: valid only during the call.
 *
 * Threads: a parser is used by one thread at a time; distinct parsers are
 * independent.
 */
#ifndef CHORUS_STREAM_H
#define CHORUS_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "chorus/util.h"

/* Server-sent events (the WHATWG event-stream format). Bytes arrive in any
 * chunking, down to one byte at a time; lines end in CRLF, LF or CR (a CR at
 * the end of a chunk may be followed by LF in the next); a leading BOM is
 * skipped; ':' comment lines and unknown fields are ignored; "data" lines of
 * one event are joined with '\n'; an event is dispatched at a blank line; a
 * field without ':' has an empty value; one space after ':' is dropped.
 * An event whose data would exceed max_event_bytes -> CH_ERR_TOO_LARGE.
 *
 * An event is dispatched only when at least one "data" line was seen (per
 * the spec, a blank line after only an "event" line dispatches nothing and
 * resets the event type). "id" and "retry" are ignored like unknown fields:
 * the model APIs do not resume streams. An "event" value over the cap is
 * CH_ERR_TOO_LARGE too; an over-long comment or unknown-field line is
 * skipped without being buffered. Memory held: at most about three times
 * max_event_bytes (the line, the data and the event type). */

/* One event. `event` is the "event" field ("" when none), `data` the joined
 * data lines, NUL-terminated at data[len]. Both are borrowed for the call.
 * Return nonzero to stop: feed then returns CH_ERR_CANCELLED. */
typedef int (*ch_sse_event_cb)(void *userdata,
                               const char *event /* "" when none */,
                               const char *data,
                               size_t len); /* NUL-terminated too */

/* Public so it can be embedded; the fields are the parser's own. */
typedef struct ch_sse {
  ch_sse_event_cb cb;
  void *userdata;
  size_t max_event_bytes; /* cap on the data of one event */
  ch_buf line;            /* the line being read (without its end) */
  ch_buf data;            /* data lines of the current event, joined */
  ch_buf event;           /* the "event" field of the current event */
  bool has_data;          /* a data line was seen in the current event */
  bool after_cr;          /* the last byte was a CR: skip one LF next */
  bool started;           /* past the position of a possible BOM */
  unsigned bom_seen;      /* BOM bytes matched so far at the start */
  bool line_too_large;    /* the current line is being discarded (too long) */
  ch_status failed;       /* sticky error: CH_OK while usable */
} ch_sse;

/* Prepares an SSE parser; nothing is allocated until bytes arrive.
 * max_event_bytes caps the data of one event (0: only empty data fits).
 * `cb` (not NULL) is called once per dispatched event. */
void ch_sse_init(ch_sse *self, size_t max_event_bytes, ch_sse_event_cb cb,
                 void *userdata);
/* Parses len bytes, calling back for each event completed by them.
 * CH_ERR_TOO_LARGE when an event's data would exceed the cap,
 * CH_ERR_CANCELLED when the callback returned nonzero; both are sticky. */
ch_status ch_sse_feed(ch_sse *self, const char *data, size_t len);
/* End of stream: an unterminated event is discarded (per spec). Returns the
 * sticky error, if any, else CH_OK. The parser may be fed again afterwards
 * as a fresh stream. */
ch_status ch_sse_finish(ch_sse *self);
/* Frees the buffers. The parser may be initialised again. */
void ch_sse_release(ch_sse *self);

/* Newline-delimited JSON (Ollama): one callback per non-blank line, CR
 * stripped, any chunking; the last line without '\n' is delivered by finish.
 * A line over max_line_bytes -> CH_ERR_TOO_LARGE.
 *
 * "CR stripped" means one CR just before the '\n' (or at the very end, for
 * the last line) is removed; a line is blank when it holds only spaces,
 * tabs and CRs. Lines are passed as they are otherwise (not trimmed). */

/* One line: line[len] == 0; borrowed for the call. Return nonzero to stop:
 * feed or finish then returns CH_ERR_CANCELLED. */
typedef int (*ch_ndjson_line_cb)(void *userdata, const char *line, size_t len);

typedef struct ch_ndjson {
  ch_ndjson_line_cb cb;
  void *userdata;
  size_t max_line_bytes;
  ch_buf line;      /* the partial line carried between feeds */
  ch_status failed; /* sticky error: CH_OK while usable */
} ch_ndjson;

/* Prepares an NDJSON parser; nothing is allocated until bytes arrive.
 * `cb` (not NULL) is called once per line. Memory held: one line, at most
 * max_line_bytes + 1. */
void ch_ndjson_init(ch_ndjson *self, size_t max_line_bytes,
                    ch_ndjson_line_cb cb, void *userdata);
/* Parses len bytes, calling back for each complete non-blank line.
 * CH_ERR_TOO_LARGE, CH_ERR_CANCELLED as for SSE; both are sticky. */
ch_status ch_ndjson_feed(ch_ndjson *self, const char *data, size_t len);
/* Delivers a last line that had no '\n'. Returns the sticky error, if any.
 * The parser may be fed again afterwards as a fresh stream. */
ch_status ch_ndjson_finish(ch_ndjson *self);
/* Frees the buffer. The parser may be initialised again. */
void ch_ndjson_release(ch_ndjson *self);

#endif
