/*
 * uri.h: file URIs as LSP clients send them, and back.
 *
 * "file:///home/a%20b/x.c" <-> "/home/a b/x.c". Only the file scheme maps
 * to a path; the authority must be empty or "localhost". Percent escapes
 * are decoded; an invalid escape or one that decodes to NUL makes the URI
 * unusable (NULL) rather than ambiguous. A query or fragment is dropped.
 */
#ifndef CHORUS_LSP_URI_H
#define CHORUS_LSP_URI_H

#include "chorus/util.h"

/* The absolute path of a file URI, or NULL. Caller frees with ch_free. */
char *ch_uri_to_path(const char *uri);
/* The file URI of an absolute path. Caller frees with ch_free. */
char *ch_path_to_uri(const char *path);

#endif
