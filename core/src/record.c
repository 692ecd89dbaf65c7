/* record.c: the lifetime of an index record. */
#include "chorus/index.h"

#include <string.h>

static const char *const kind_names[CH_DEF_KIND_COUNT] = {
    "function", "method",    "class", "struct",   "union",
    "enum",     "type",      "interface", "macro", "constant",
    "variable", "module",    "field",
};

const char *ch_def_kind_name(ch_def_kind kind) {
  return (unsigned)kind < CH_DEF_KIND_COUNT ? kind_names[kind] : "unknown";
}

ch_record *ch_record_ref(ch_record *self) {
  if(self) atomic_fetch_add_explicit(&self->refs, 1, memory_order_relaxed);
  return self;
}

void ch_record_unref(ch_record *self) {
  if(!self) return;
  if(atomic_fetch_sub_explicit(&self->refs, 1, memory_order_acq_rel) != 1)
    return;
  ch_free(self->path);
  ch_free(self->pool);
  ch_free(self->defs);
  ch_free(self->imports);
  ch_free(self->idents);
  ch_free(self->line_starts);
  ch_free(self->tokens);
  ch_free(self->token_starts);
  ch_free(self);
}

size_t ch_record_memory(const ch_record *self) {
  return sizeof(*self) + (self->path ? strlen(self->path) + 1 : 0) +
         self->pool_len + self->ndefs * sizeof(ch_def) +
         self->nimports * sizeof(ch_import) +
         self->nidents * sizeof(uint32_t) + self->nlines * sizeof(uint32_t) +
         self->ntokens * 2 * sizeof(uint32_t);
}

uint32_t ch_token_id(const char *text, size_t len) {
  uint64_t h = ch_hash_bytes(text, len);
  return (uint32_t)(h ^ (h >> 32));
}
