/*
 * documents.h: the open documents, as the editor sees them.
 *
 * Each document is keyed by its URI exactly as the client sent it, holds the
 * languageId, the version and the live text (chorus/text.h). Changes are
 * applied in order, each on the result of the previous one, as LSP says;
 * a change is either a range replacement in the negotiated position
 * encoding or a whole-document replacement. A change that cannot be applied
 * leaves the document as it was before the whole notification, so the
 * text is never half-edited.
 *
 * Threads: used only on the loop thread.
 */
#ifndef CHORUS_LSP_DOCUMENTS_H
#define CHORUS_LSP_DOCUMENTS_H

#include "chorus/text.h"

typedef struct ch_document {
  char *uri;         /* owned */
  char *language_id; /* owned */
  int64_t version;
  ch_text *text; /* owned */
  uint64_t changed_ns; /* ch_now_ns() of the last change; 0: none since open */
} ch_document;

/* One content change of a didChange, already validated. */
typedef struct ch_change {
  bool whole;        /* replace the whole text; start/end unused */
  ch_position start; /* in the negotiated encoding */
  ch_position end;
  const char *text; /* borrowed */
  size_t len;
} ch_change;

/* One applied change in bytes and (row, byte column) points, the shape of
 * tree-sitter's TSInputEdit, for incremental reparsing. */
typedef struct ch_edit {
  uint32_t start, old_end, new_end;
  ch_position start_point, old_end_point, new_end_point; /* UTF-8 columns */
} ch_edit;

typedef void (*ch_edit_cb)(const ch_document *doc, const ch_edit *edit,
                           void *userdata);

typedef struct ch_documents {
  ch_map by_uri; /* uri -> ch_document* */
  ch_encoding encoding;
  size_t max_bytes; /* refuse documents larger than this */
  /* Called after each change is applied, when set. */
  ch_edit_cb on_edit;
  void *on_edit_userdata;
} ch_documents;

void ch_documents_init(ch_documents *self, ch_encoding encoding,
                       size_t max_bytes);
void ch_documents_release(ch_documents *self);

/* Opens (or reopens, replacing) a document. Copies everything.
 * CH_ERR_TOO_LARGE when the text is over the limit (nothing opened). */
ch_status ch_documents_open(ch_documents *self, const char *uri,
                            const char *language_id, int64_t version,
                            const char *text, size_t len);
/* Borrowed: valid until the document is closed or reopened. */
ch_document *ch_documents_get(const ch_documents *self, const char *uri);
/* Applies changes in order and sets the version. CH_ERR_NOT_FOUND when the
 * document is not open; CH_ERR_TOO_LARGE when a change would grow it past
 * the limit (then none of the changes is applied). */
ch_status ch_documents_change(ch_documents *self, const char *uri,
                              int64_t version, const ch_change *changes,
                              size_t count);
/* Closes a document; CH_ERR_NOT_FOUND when it was not open. */
ch_status ch_documents_close(ch_documents *self, const char *uri);
size_t ch_documents_count(const ch_documents *self);
/* Heap bytes held by the documents' text. */
size_t ch_documents_memory(const ch_documents *self);

#endif
