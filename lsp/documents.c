/* documents.c: open documents and their edits. */
#include "documents.h"

#include <string.h>

static void document_free(void *p) {
  ch_document *doc = p;
  if(!doc) return;
  ch_free(doc->uri);
  ch_free(doc->language_id);
  ch_text_free(doc->text);
  ch_free(doc);
}

void ch_documents_init(ch_documents *self, ch_encoding encoding,
                       size_t max_bytes) {
  ch_map_init(&self->by_uri);
  self->on_edit = NULL;
  self->on_edit_userdata = NULL;
  self->encoding = encoding;
  self->max_bytes = max_bytes;
}

void ch_documents_release(ch_documents *self) {
  ch_map_release(&self->by_uri, document_free);
}

ch_status ch_documents_open(ch_documents *self, const char *uri,
                            const char *language_id, int64_t version,
                            const char *text, size_t len) {
  if(len > self->max_bytes) return CH_ERR_TOO_LARGE;
  ch_status error = CH_OK;
  ch_text *t = ch_text_new(text, len, &error);
  if(!t) return error;
  ch_document *doc = ch_calloc(1, sizeof(*doc));
  doc->uri = ch_strdup(uri);
  doc->language_id = ch_strdup(language_id ? language_id : "");
  doc->version = version;
  doc->text = t;
  document_free(ch_map_put(&self->by_uri, uri, doc));
  return CH_OK;
}

ch_document *ch_documents_get(const ch_documents *self, const char *uri) {
  return ch_map_get(&self->by_uri, uri);
}

/* Whether the changes surely fit: an upper bound on the resulting length
 * (the current length plus every inserted byte, restarting at whole-text
 * changes). When it does not settle the question, the changes are applied
 * to a copy first, so a refusal leaves the document untouched. */
static bool fits(const ch_documents *self, const ch_document *doc,
                 const ch_change *changes, size_t count) {
  size_t total = ch_text_length(doc->text);
  for(size_t i = 0; i < count; i++) {
    if(changes[i].whole) total = 0;
    total += changes[i].len;
  }
  return total <= self->max_bytes;
}

ch_status ch_documents_change(ch_documents *self, const char *uri,
                              int64_t version, const ch_change *changes,
                              size_t count) {
  ch_document *doc = ch_documents_get(self, uri);
  if(!doc) return CH_ERR_NOT_FOUND;
  if(!fits(self, doc, changes, count)) {
    uint32_t len = 0;
    char *copy = ch_text_dup(doc->text, &len);
    ch_text *scratch = ch_text_new(copy, len, NULL);
    ch_free(copy);
    for(size_t i = 0; i < count; i++) {
      const ch_change *c = &changes[i];
      ch_status result =
          c->whole ? ch_text_replace(scratch, 0, UINT32_MAX, c->text, c->len)
                   : ch_text_replace_range(scratch, c->start, c->end,
                                           self->encoding, c->text, c->len);
      if(result || ch_text_length(scratch) > self->max_bytes) {
        ch_text_free(scratch);
        return CH_ERR_TOO_LARGE;
      }
    }
    uint32_t old_len = ch_text_length(doc->text);
    ch_edit edit = {0, old_len, ch_text_length(scratch), {0, 0}, {0, 0},
                    {0, 0}};
    if(self->on_edit)
      edit.old_end_point = ch_text_position(doc->text, old_len, CH_ENC_UTF8);
    ch_text_free(doc->text);
    doc->text = scratch;
    doc->version = version;
    doc->changed_ns = ch_now_ns();
    if(self->on_edit) {
      edit.new_end_point =
          ch_text_position(doc->text, edit.new_end, CH_ENC_UTF8);
      self->on_edit(doc, &edit, self->on_edit_userdata);
    }
    return CH_OK;
  }
  for(size_t i = 0; i < count; i++) {
    const ch_change *c = &changes[i];
    uint32_t start = 0, end = ch_text_length(doc->text);
    if(!c->whole) {
      start = ch_text_offset(doc->text, c->start, self->encoding);
      end = ch_text_offset(doc->text, c->end, self->encoding);
      if(end < start) {
        uint32_t t = start;
        start = end;
        end = t;
      }
    }
    ch_edit edit = {start, end, start + (uint32_t)c->len, {0, 0}, {0, 0},
                    {0, 0}};
    if(self->on_edit) {
      edit.start_point = ch_text_position(doc->text, start, CH_ENC_UTF8);
      edit.old_end_point = ch_text_position(doc->text, end, CH_ENC_UTF8);
    }
    ch_text_replace(doc->text, start, end, c->text, c->len);
    if(self->on_edit) {
      edit.new_end_point =
          ch_text_position(doc->text, edit.new_end, CH_ENC_UTF8);
      self->on_edit(doc, &edit, self->on_edit_userdata);
    }
  }
  doc->version = version;
  doc->changed_ns = ch_now_ns();
  return CH_OK;
}

ch_status ch_documents_close(ch_documents *self, const char *uri) {
  ch_document *doc = ch_map_remove(&self->by_uri, uri);
  if(!doc) return CH_ERR_NOT_FOUND;
  document_free(doc);
  return CH_OK;
}

size_t ch_documents_count(const ch_documents *self) {
  return self->by_uri.len;
}

size_t ch_documents_memory(const ch_documents *self) {
  size_t total = 0, iter = 0;
  void *value;
  while(ch_map_next(&self->by_uri, &iter, NULL, &value))
    total += ch_text_memory(((ch_document *)value)->text);
  return total;
}
