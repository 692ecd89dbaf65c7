/* complete.c: the `chorus/complete` request, one model completion at the
 * cursor of an open document, cancellable with $/cancelRequest (which
 * aborts the model's HTTP transfer at once). */
#include <string.h>

#include "chorus/context.h"
#include "chorus/guard.h"
#include "chorus/index.h"
#include "chorus/models.h"
#include "chorus/syntax.h"
#include "result_json.h"
#include "server_internal.h"
#include "uri.h"

struct pending_complete {
  server *self;
  cJSON *id; /* owned copy of the request id */
  ch_model_call *call;
  pending_complete *prev, *next;
};

static void unlink_pending(server *self, pending_complete *p) {
  if(p->prev)
    p->prev->next = p->next;
  else
    self->completes = p->next;
  if(p->next) p->next->prev = p->prev;
}

static void pending_free(server *self, pending_complete *p) {
  unlink_pending(self, p);
  cJSON_Delete(p->id);
  ch_free(p);
}

/* The models from the current config; rebuilt after a config change once
 * no completion is in flight (calls hold pointers into the old set). */
static ch_models *current_models(server *self) {
  if(self->models && self->models_stale && !self->completes) {
    ch_models_free(self->models);
    self->models = NULL;
  }
  if(!self->models) {
    ch_guard_free(self->guard);
    ch_status gerr = CH_OK;
    self->guard = ch_guard_new(&self->config.guard.options, &gerr);
    if(!self->guard) {
      /* Never send text unguarded: fall back to the default policy. */
      ch_log_warn("guard: %s; using the default deny globs",
                  ch_strerror(gerr));
      self->guard = ch_guard_new(NULL, &gerr);
    }
    if(!self->context) self->context = ch_context_engine_new(0);
    ch_models_env env = {.loop = self->loop, .index = self->index};
    ch_buf problems;
    ch_buf_init(&problems, 1 << 16);
    self->models = ch_models_new(&env, self->config.models,
                                 self->config.nmodels, &problems);
    for(char *line = problems.data; line && *line;) {
      char *nl = strchr(line, '\n');
      if(nl) *nl = 0;
      ch_log_warn("models: %s", line);
      line = nl ? nl + 1 : NULL;
    }
    ch_buf_release(&problems);
    self->models_stale = false;
  }
  return self->models;
}

static void on_result(void *userdata, const ch_model_result *r) {
  pending_complete *p = userdata;
  server *self = p->self;
  if(r->error) {
    char *message;
    if(r->error == CH_MODEL_TIMEOUT)
      message = ch_strdupf("model '%s': timeout (%s deadline): %s", r->model,
                           ch_model_deadline_name(r->deadline), r->message);
    else
      message = ch_strdupf("model '%s': %s: %s", r->model,
                           ch_model_error_name(r->error), r->message);
    /* The classification, for clients that act on it. */
    cJSON *data = cJSON_CreateObject();
    ch_result_json_error(data, r, NULL);
    cJSON_AddStringToObject(data, "model", r->model);
    cJSON_AddStringToObject(data, "provider", r->provider);
    server_reply_error_data(self, p->id, CH_RPC_REQUEST_FAILED, message, data);
    ch_free(message);
  } else {
    cJSON *o = cJSON_CreateObject();
    char *text = ch_strndup(r->text, r->len);
    cJSON_AddStringToObject(o, "text", text);
    ch_free(text);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "provider", r->provider);
    cJSON_AddStringToObject(o, "finishReason", r->finish_reason);
    /* The reply's documented shape has no attempts. */
    ch_result_json_measures(o, r, false);
    server_reply_result(self, p->id, o);
  }
  pending_free(self, p);
}

void handle_complete(request *r) {
  server *self = r->self;
  ch_rpc_err err;
  const cJSON *td = NULL, *pos = NULL;
  const char *uri = NULL, *model_name = NULL;
  long long line = 0, character = 0;
  if(!ch_rpc_get_object(r->params, "", "textDocument", true, &td, &err) ||
     !ch_rpc_get_string(td, "textDocument", "uri", true, &uri, &err) ||
     !ch_rpc_get_object(r->params, "", "position", true, &pos, &err) ||
     !ch_rpc_get_int(pos, "position", "line", true, 0, INT32_MAX, &line,
                     &err) ||
     !ch_rpc_get_int(pos, "position", "character", true, 0, INT32_MAX,
                     &character, &err) ||
     !ch_rpc_get_string(r->params, "", "model", false, &model_name, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  ch_document *doc = ch_documents_get(&self->docs, uri);
  if(!doc) {
    char *message = ch_strdupf("document not open: %s", uri);
    server_reply_error(self, r->id, CH_RPC_INVALID_PARAMS, message);
    ch_free(message);
    return;
  }
  ch_models *models = current_models(self);
  ch_model *model = model_name ? ch_models_find(models, model_name)
                               : ch_models_default(models);
  if(!model) {
    ch_buf msg;
    ch_buf_init(&msg, 4096);
    if(model_name)
      ch_buf_appendf(&msg, "model: no model named '%s' (configured:",
                     model_name);
    else
      ch_buf_append_str(&msg, "no model is configured (and no builtin model "
                              "in this build)");
    for(size_t i = 0; model_name && i < ch_models_count(models); i++)
      ch_buf_appendf(&msg, " %s",
                     ch_model_config_of(ch_models_at(models, i))->name);
    if(model_name) ch_buf_append_char(&msg, ')');
    server_reply_error(self, r->id,
                       model_name ? CH_RPC_INVALID_PARAMS
                                  : CH_RPC_REQUEST_FAILED,
                       msg.data);
    ch_buf_release(&msg);
    return;
  }

  ch_position p = {(uint32_t)line, (uint32_t)character};
  uint32_t cursor = ch_text_offset(doc->text, p, self->docs.encoding);
  uint32_t len = 0;
  char *text = ch_text_dup(doc->text, &len);
  char *path = ch_uri_to_path(uri);
  const ch_language *lang = ch_syntax_by_language_id(doc->language_id);
  if(!lang && path) lang = ch_syntax_by_path(path, NULL, 0);
  ch_snapshot *snap = self->index ? ch_index_snapshot(self->index) : NULL;
  ch_model_prepare_input in = {
      .snapshot = snap,
      .engine = self->context,
      .guard = self->guard,
      .path = path ? path : uri,
      .lang = lang,
      .text = text,
      .len = len,
      .cursor = cursor,
      .budget = self->config.context_budget,
      .prefix_ratio = self->config.context_prefix_ratio,
  };
  ch_model_request req;
  ch_model_prepared held;
  ch_buf why;
  ch_buf_init(&why, 4096);
  ch_status prep = ch_model_prepare(model, &in, &req, &held, &why);
  if(prep) {
    char *message = ch_strdupf("model '%s': %s",
                               ch_model_config_of(model)->name, why.data);
    server_reply_error(self, r->id, CH_RPC_REQUEST_FAILED, message);
    ch_free(message);
    goto done;
  }
  pending_complete *pc = ch_calloc(1, sizeof(*pc));
  pc->self = self;
  pc->id = cJSON_Duplicate(r->id, true);
  pc->next = self->completes;
  if(pc->next) pc->next->prev = pc;
  self->completes = pc;
  ch_status st = ch_models_complete(models, model, &req, on_result, pc,
                                    &pc->call);
  if(st) {
    server_reply_error(self, r->id, CH_RPC_INTERNAL_ERROR,
                       "cannot start the completion");
    pending_free(self, pc);
  }
done:
  ch_model_prepared_release(&held);
  ch_buf_release(&why);
  ch_snapshot_unref(snap);
  ch_free(text);
  ch_free(path);
}

bool complete_cancel(server *self, const cJSON *id) {
  for(pending_complete *p = self->completes; p; p = p->next) {
    if(!ch_rpc_same_id(p->id, id)) continue;
    ch_model_call_cancel(p->call); /* the transfer is gone after this */
    server_reply_error(self, p->id, CH_RPC_REQUEST_CANCELLED,
                       "request cancelled");
    pending_free(self, p);
    return true;
  }
  return false;
}

void complete_start(server *self) { current_models(self); }

void complete_config_changed(server *self) {
  self->models_stale = true;
  current_models(self); /* now, unless completions are in flight */
}

void complete_stop(server *self) {
  while(self->completes) {
    ch_model_call_cancel(self->completes->call);
    pending_free(self, self->completes);
  }
  ch_models_free(self->models);
  self->models = NULL;
  ch_guard_free(self->guard);
  self->guard = NULL;
  ch_context_engine_free(self->context);
  self->context = NULL;
}
