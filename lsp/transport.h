/*
 * transport.h: JSON-RPC framing over a byte stream (LSP base protocol).
 *
 * A message is a header block of "Name: value" lines ended by an empty line,
 * then exactly Content-Length bytes of JSON. The reader is a pure state
 * machine over bytes pushed into it, so it can be fed from any source, one
 * byte or one megabyte at a time, and tested without a process.
 *
 * What it guarantees:
 * - A body is delivered only when complete; its bytes are passed as is.
 * - A message longer than the maximum is reported once (CH_FRAME_TOO_LARGE)
 *   and its body is skipped as it streams in, never buffered.
 * - A broken header block (no Content-Length, a value that is not a decimal
 *   number of at most 18 digits, a line without ':', or a block longer than
 *   CH_FRAME_MAX_HEADER) is reported once (CH_FRAME_BAD_HEADER), and the
 *   reader resynchronises at the next "Content-Length:" that starts a line
 *   or directly follows a closing brace (the end of a JSON body: clients
 *   write the next header right after a body). The length a broken block
 *   announces is not trusted, since the block itself is suspect.
 * - Header names are case-insensitive; unknown headers are ignored; lines
 *   may end in CRLF or a bare LF.
 * - Memory is bounded by the maximum message size plus the header limit.
 */
#ifndef CHORUS_LSP_TRANSPORT_H
#define CHORUS_LSP_TRANSPORT_H

#include "chorus/util.h"

#define CH_FRAME_MAX_HEADER 8192

typedef enum ch_frame_kind {
  CH_FRAME_MESSAGE = 0, /* a complete body */
  CH_FRAME_TOO_LARGE,   /* Content-Length above the maximum; skipped */
  CH_FRAME_BAD_HEADER,  /* malformed header block; resynchronising */
} ch_frame_kind;

typedef struct ch_frame {
  ch_frame_kind kind;
  const char *body; /* MESSAGE: borrowed for the callback; NUL-terminated */
  size_t len;       /* MESSAGE: body length; TOO_LARGE: the announced size */
  const char *why;  /* BAD_HEADER: a static description */
} ch_frame;

/* Called once per frame event, in stream order. */
typedef void (*ch_frame_cb)(const ch_frame *frame, void *userdata);

typedef struct ch_reader {
  int state;
  size_t max_message;
  size_t content_length; /* of the message being read */
  size_t skip;           /* body bytes still to discard */
  bool have_length;
  char before_buf; /* the byte consumed just before buf's first byte */
  ch_buf buf; /* unparsed bytes: a header block or a partial body */
} ch_reader;

void ch_reader_init(ch_reader *self, size_t max_message);
void ch_reader_release(ch_reader *self);
/* Feeds bytes (all are consumed) and calls cb for every frame they
 * complete. */
void ch_reader_push(ch_reader *self, const char *data, size_t len,
                    ch_frame_cb cb, void *userdata);
/* True when a message has started but not finished (for EOF diagnostics). */
bool ch_reader_partial(const ch_reader *self);

/* Appends a framed message (header + body) to out. */
ch_status ch_frame_write(ch_buf *out, const char *body, size_t len);

#endif
