/* server.c: the LSP server on the event loop. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "chorus_build.h"
#include "server_internal.h"

#define READ_CHUNK (256u << 10)
#define READS_PER_TURN 8 /* then let timers and transfers run */
#define MAX_OUTPUT ((size_t)1 << 30)
#define OUTPUT_KEEP ((size_t)256 << 10)
#define MAX_DOCUMENT ((size_t)256 << 20)

/* ---- output -------------------------------------------------------------- */

static void on_writable(ch_loop *loop, int fd, unsigned events, void *ud);

static void flush_output(server *self) {
  while(self->out_pos < self->out.len && !self->out_broken) {
    ssize_t n = write(self->out_fd, self->out.data + self->out_pos,
                      self->out.len - self->out_pos);
    if(n > 0) {
      self->out_pos += (size_t)n;
      continue;
    }
    if(n < 0 && errno == EINTR) continue;
    if(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if(!self->out_watched) {
        ch_loop_watch(self->loop, self->out_fd, CH_LOOP_WRITE, on_writable,
                      self);
        self->out_watched = true;
      }
      return;
    }
    /* EPIPE or worse: nobody reads our replies any more. */
    self->out_broken = true;
    ch_log_stderr(CH_LOG_WARN, "output closed by the client; exiting");
    if(!self->exiting) {
      self->exiting = true;
      self->exit_code = 1;
    }
  }
  if(self->out_pos >= self->out.len) {
    if(self->out.cap > OUTPUT_KEEP)
      ch_buf_release(&self->out); /* do not keep a large reply's memory */
    else
      ch_buf_reset(&self->out);
    self->out_pos = 0;
    if(self->out_watched) {
      ch_loop_watch(self->loop, self->out_fd, 0, NULL, NULL);
      self->out_watched = false;
    }
  }
}

static void on_writable(ch_loop *loop, int fd, unsigned events, void *ud) {
  flush_output(ud);
}

static void before_sleep(ch_loop *loop, void *ud) {
  server *self = ud;
  flush_output(self);
  if(self->exiting && (self->out_pos >= self->out.len || self->out_broken))
    ch_loop_stop(loop);
}

static void check_output(server *self, ch_status result) {
  if(result)
    ch_log_stderr(CH_LOG_ERROR, "dropped a reply: output buffer is full");
}

void server_reply_result(server *self, const cJSON *id, cJSON *result) {
  check_output(self, ch_rpc_write_result(&self->out, id, result));
}

void server_reply_error(server *self, const cJSON *id, int code,
                        const char *message) {
  check_output(self, ch_rpc_write_error(&self->out, id, code, message));
}

void server_reply_error_data(server *self, const cJSON *id, int code,
                             const char *message, cJSON *data) {
  check_output(self,
               ch_rpc_write_error_data(&self->out, id, code, message, data));
}

void server_notify(server *self, const char *method, cJSON *params) {
  check_output(self, ch_rpc_write_notification(&self->out, method, params));
}

long server_request(server *self, const char *method, cJSON *params) {
  long id = ++self->next_request_id;
  check_output(self, ch_rpc_write_request(&self->out, id, method, params));
  return id;
}

/* ---- logging ------------------------------------------------------------- */

static int message_type(ch_log_level level) {
  switch(level) {
  case CH_LOG_ERROR: return 1;
  case CH_LOG_WARN: return 2;
  case CH_LOG_INFO: return 3;
  default: return 4;
  }
}

typedef struct posted_log {
  server *self;
  ch_log_level level;
  char *message;
} posted_log;

static void send_log(server *self, ch_log_level level, const char *message) {
  if(!self->log_to_client || self->out_broken) return;
  cJSON *params = cJSON_CreateObject();
  cJSON_AddNumberToObject(params, "type", message_type(level));
  cJSON_AddStringToObject(params, "message", message);
  server_notify(self, "window/logMessage", params);
}

static void run_posted_log(ch_loop *loop, void *ud) {
  posted_log *p = ud;
  send_log(p->self, p->level, p->message);
  ch_free(p->message);
  ch_free(p);
}

/* Every record goes to stderr; once the client said initialize, also to
 * window/logMessage. Records from other threads travel through the loop,
 * because the output buffer belongs to the loop thread. */
static void log_sink(ch_log_level level, const char *message, void *ud) {
  server *self = ud;
  ch_log_stderr(level, message);
  if(pthread_equal(pthread_self(), self->loop_thread)) {
    send_log(self, level, message);
  } else {
    posted_log *p = ch_malloc(sizeof(*p));
    p->self = self;
    p->level = level;
    p->message = ch_strdup(message);
    ch_loop_post(self->loop, run_posted_log, p);
  }
}

static void apply_log_level(server *self) {
  if(self->cli_log_level)
    ch_log_set_level(self->cli_level);
  else if(self->config.has_log_level)
    ch_log_set_level(self->config.log_level);
}

/* Logs each line of a problems buffer as a warning. */
static void log_problems(ch_buf *problems) {
  if(!problems->len) return;
  char *line = problems->data;
  while(*line) {
    char *nl = strchr(line, '\n');
    if(nl) *nl = 0;
    if(*line) ch_log_warn("config: %s", line);
    if(!nl) break;
    line = nl + 1;
  }
  ch_buf_reset(problems);
}

/* ---- params helpers ------------------------------------------------------ */

static bool get_position(const cJSON *obj, const char *path, const char *key,
                         ch_position *out, ch_rpc_err *err) {
  const cJSON *pos = NULL;
  if(!ch_rpc_get_object(obj, path, key, true, &pos, err)) return false;
  char sub[128];
  snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
  long long line = 0, character = 0;
  if(!ch_rpc_get_int(pos, sub, "line", true, 0, INT32_MAX, &line, err) ||
     !ch_rpc_get_int(pos, sub, "character", true, 0, INT32_MAX, &character,
                     err))
    return false;
  out->line = (uint32_t)line;
  out->character = (uint32_t)character;
  return true;
}

static bool get_text_document_uri(const cJSON *params, const char **uri,
                                  ch_rpc_err *err) {
  const cJSON *td = NULL;
  return ch_rpc_get_object(params, "", "textDocument", true, &td, err) &&
         ch_rpc_get_string(td, "textDocument", "uri", true, uri, err);
}

/* ---- handlers ------------------------------------------------------------ */

/* Reports bad params: an error reply for a request, a warning for a
 * notification (which cannot be answered). */
void server_invalid_params(request *r, ch_rpc_err *err) {
  if(r->id) {
    server_reply_error(r->self, r->id, CH_RPC_INVALID_PARAMS, err->message);
  } else {
    ch_log_warn("%s: invalid params: %s", r->method, err->message);
  }
}

static const cJSON empty_object = {.type = cJSON_Object};

static bool offers_utf8(const cJSON *params) {
  const cJSON *caps = cJSON_GetObjectItemCaseSensitive(params, "capabilities");
  const cJSON *general = cJSON_GetObjectItemCaseSensitive(caps, "general");
  const cJSON *encodings =
      cJSON_GetObjectItemCaseSensitive(general, "positionEncodings");
  const cJSON *e;
  cJSON_ArrayForEach(e, encodings) {
    if(cJSON_IsString(e) && strcmp(e->valuestring, "utf-8") == 0) return true;
  }
  return false;
}

static void handle_initialize(request *r) {
  server *self = r->self;
  if(self->state != STATE_STARTING) {
    server_reply_error(self, r->id, CH_RPC_INVALID_REQUEST,
                "initialize may only be sent once");
    return;
  }
  ch_rpc_err err;
  const cJSON *caps = NULL, *options = NULL;
  long long pid = 0;
  if(!ch_rpc_get_int(r->params, "", "processId", false, 0, INT32_MAX, &pid,
                     &err) ||
     !ch_rpc_get_object(r->params, "", "capabilities", false, &caps, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  options = cJSON_GetObjectItemCaseSensitive(r->params, "initializationOptions");
  self->log_to_client = true;
  if(options && !cJSON_IsNull(options)) {
    ch_buf problems;
    ch_buf_init(&problems, 1 << 16);
    ch_config_apply_json(&self->config, options, "initializationOptions",
                         &problems);
    apply_log_level(self);
    log_problems(&problems);
    ch_buf_release(&problems);
  }

  ch_encoding enc = offers_utf8(r->params) ? CH_ENC_UTF8 : CH_ENC_UTF16;
  self->docs.encoding = enc;
  const cJSON *window = cJSON_GetObjectItemCaseSensitive(caps, "window");
  self->client_progress = cJSON_IsTrue(
      cJSON_GetObjectItemCaseSensitive(window, "workDoneProgress"));
  const cJSON *ws = cJSON_GetObjectItemCaseSensitive(caps, "workspace");
  const cJSON *watch =
      cJSON_GetObjectItemCaseSensitive(ws, "didChangeWatchedFiles");
  self->client_watch_dynamic = cJSON_IsTrue(
      cJSON_GetObjectItemCaseSensitive(watch, "dynamicRegistration"));

  cJSON *result = cJSON_CreateObject();
  cJSON *capabilities = cJSON_AddObjectToObject(result, "capabilities");
  cJSON_AddStringToObject(capabilities, "positionEncoding",
                          enc == CH_ENC_UTF8 ? "utf-8" : "utf-16");
  cJSON *sync = cJSON_AddObjectToObject(capabilities, "textDocumentSync");
  cJSON_AddBoolToObject(sync, "openClose", true);
  cJSON_AddNumberToObject(sync, "change", 2); /* incremental */
  cJSON *save = cJSON_AddObjectToObject(sync, "save");
  cJSON_AddBoolToObject(save, "includeText", false);
  cJSON *workspace = cJSON_AddObjectToObject(capabilities, "workspace");
  cJSON *folders = cJSON_AddObjectToObject(workspace, "workspaceFolders");
  cJSON_AddBoolToObject(folders, "supported", true);
  cJSON_AddBoolToObject(folders, "changeNotifications", true);
  cJSON *info = cJSON_AddObjectToObject(result, "serverInfo");
  cJSON_AddStringToObject(info, "name", "chorus");
  cJSON_AddStringToObject(info, "version", CHORUS_VERSION);
  self->state = STATE_RUNNING;
  server_reply_result(self, r->id, result);
  index_start(self, r->params);
  complete_start(self);
  ch_log_info("initialized (positions in %s)",
              enc == CH_ENC_UTF8 ? "utf-8" : "utf-16");
}

static void handle_initialized(request *r) {
  r->self->got_initialized = true;
  index_after_initialized(r->self);
}

static void handle_shutdown(request *r) {
  r->self->state = STATE_SHUT_DOWN;
  server_reply_result(r->self, r->id, NULL);
}

static void handle_exit(request *r) {
  server *self = r->self;
  self->exit_code = self->state == STATE_SHUT_DOWN ? 0 : 1;
  self->exiting = true;
}

static void handle_did_open(request *r) {
  ch_rpc_err err;
  const cJSON *td = NULL;
  const char *uri = NULL, *language = NULL;
  const cJSON *text = NULL;
  long long version = 0;
  if(!ch_rpc_get_object(r->params, "", "textDocument", true, &td, &err) ||
     !ch_rpc_get_string(td, "textDocument", "uri", true, &uri, &err) ||
     !ch_rpc_get_string(td, "textDocument", "languageId", false, &language,
                        &err) ||
     !ch_rpc_get_int(td, "textDocument", "version", false, INT64_MIN / 2,
                     INT64_MAX / 2, &version, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  text = cJSON_GetObjectItemCaseSensitive(td, "text");
  if(!cJSON_IsString(text)) {
    ch_rpc_fail(&err, "textDocument", "text", "expected a string");
    server_invalid_params(r, &err);
    return;
  }
  size_t len = ch_rpc_string_len(text); /* the text may contain NULs */
  ch_status result = ch_documents_open(&r->self->docs, uri, language, version,
                                       text->valuestring, len);
  if(result) {
    ch_log_error("didOpen %s: %s (%zu bytes)", uri, ch_strerror(result), len);
    return;
  }
  ch_log_debug("opened %s (%s, %zu bytes)", uri, language ? language : "?",
               len);
  index_doc_opened(r->self, ch_documents_get(&r->self->docs, uri));
}

/* Most didChange notifications carry one small change: keep that case off
 * the heap. */
#define INLINE_CHANGES 8

static void handle_did_change(request *r) {
  ch_rpc_err err;
  const cJSON *td = NULL, *list = NULL;
  const char *uri = NULL;
  long long version = 0;
  if(!ch_rpc_get_object(r->params, "", "textDocument", true, &td, &err) ||
     !ch_rpc_get_string(td, "textDocument", "uri", true, &uri, &err) ||
     !ch_rpc_get_int(td, "textDocument", "version", false, INT64_MIN / 2,
                     INT64_MAX / 2, &version, &err) ||
     !ch_rpc_get_array(r->params, "", "contentChanges", true, &list, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  ch_change inline_changes[INLINE_CHANGES];
  size_t count = (size_t)cJSON_GetArraySize(list);
  ch_change *changes = count <= INLINE_CHANGES
                           ? inline_changes
                           : ch_malloc(count * sizeof(*changes));
  size_t i = 0;
  const cJSON *c;
  bool ok = true;
  cJSON_ArrayForEach(c, list) {
    char path[48];
    snprintf(path, sizeof(path), "contentChanges[%zu]", i);
    ch_change *change = &changes[i];
    const char *text = NULL;
    const cJSON *range = NULL;
    if(!cJSON_IsObject(c)) {
      ok = ch_rpc_fail(&err, "", path, "expected an object");
      break;
    }
    if(!ch_rpc_get_string(c, path, "text", true, &text, &err) ||
       !ch_rpc_get_object(c, path, "range", false, &range, &err)) {
      ok = false;
      break;
    }
    change->text = text;
    change->len = ch_rpc_string_len(cJSON_GetObjectItemCaseSensitive(c, "text"));
    change->whole = range == NULL;
    if(range) {
      char sub[64];
      snprintf(sub, sizeof(sub), "%s.range", path);
      if(!get_position(range, sub, "start", &change->start, &err) ||
         !get_position(range, sub, "end", &change->end, &err)) {
        ok = false;
        break;
      }
    }
    i++;
  }
  if(!ok) {
    server_invalid_params(r, &err);
  } else {
    ch_status result =
        ch_documents_change(&r->self->docs, uri, version, changes, count);
    if(result == CH_ERR_NOT_FOUND)
      ch_log_warn("didChange for a document that is not open: %s", uri);
    else if(result)
      ch_log_error("didChange %s: %s; the document is unchanged", uri,
                   ch_strerror(result));
  }
  if(changes != inline_changes) ch_free(changes);
}

static void handle_did_close(request *r) {
  ch_rpc_err err;
  const char *uri = NULL;
  if(!get_text_document_uri(r->params, &uri, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  if(ch_documents_close(&r->self->docs, uri))
    ch_log_warn("didClose for a document that is not open: %s", uri);
  else
    index_doc_closed(r->self, uri);
}

static void handle_did_save(request *r) {
  ch_rpc_err err;
  const char *uri = NULL;
  if(!get_text_document_uri(r->params, &uri, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  ch_log_debug("saved %s", uri);
  index_file_saved(r->self, uri);
}

static void handle_document_text(request *r) {
  ch_rpc_err err;
  const char *uri = NULL;
  if(!get_text_document_uri(r->params, &uri, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  ch_document *doc = ch_documents_get(&r->self->docs, uri);
  if(!doc) {
    char *message = ch_strdupf("document not open: %s", uri);
    server_reply_error(r->self, r->id, CH_RPC_INVALID_PARAMS, message);
    ch_free(message);
    return;
  }
  /* Serialised by hand: cJSON would stop the text at a NUL, and this way
   * the text is escaped straight from the chunks, without a flat copy. */
  ch_buf json;
  ch_buf_init(&json, MAX_OUTPUT);
  ch_buf_append_str(&json, "{\"uri\":");
  ch_rpc_append_json_string(&json, doc->uri, strlen(doc->uri));
  ch_buf_appendf(&json, ",\"version\":%lld,\"languageId\":",
                 (long long)doc->version);
  ch_rpc_append_json_string(&json, doc->language_id,
                            strlen(doc->language_id));
  ch_buf_append_str(&json, ",\"text\":\"");
  ch_status result = CH_OK;
  uint32_t at = 0, n = 0;
  const char *piece;
  while(!result && (piece = ch_text_read(doc->text, at, &n)) && n) {
    /* Escaping is per byte, so chunk by chunk gives the same string. */
    result = ch_rpc_append_json_escaped(&json, piece, n);
    at += n;
  }
  if(!result) result = ch_buf_append_str(&json, "\"}");
  if(!result)
    result = ch_rpc_write_raw_result(&r->self->out, r->id, json.data, json.len);
  if(result)
    server_reply_error(r->self, r->id, CH_RPC_REQUEST_FAILED,
                "the document is too large to send back");
  ch_buf_release(&json);
}

static void handle_set_trace(request *r) { (void)r; }

static void handle_cancel(request *r) {
  /* Requests still queued in the batch were marked before dispatch; of the
   * requests handled so far only model completions answer later, so those
   * are the ones a later cancel can stop. */
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r->params, "id");
  complete_cancel(r->self, id);
}

static void handle_did_change_configuration(request *r) {
  const cJSON *settings =
      cJSON_GetObjectItemCaseSensitive(r->params, "settings");
  const cJSON *section = cJSON_GetObjectItemCaseSensitive(settings, "chorus");
  if(!section) return;
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  ch_config_apply_json(&r->self->config, section, "settings.chorus", &problems);
  complete_config_changed(r->self);
  apply_log_level(r->self);
  log_problems(&problems);
  ch_buf_release(&problems);
}

typedef enum { REQ, NOTE } method_kind;

typedef struct method {
  const char *name;
  method_kind kind;
  void (*handle)(request *r);
} method_entry;

static const method_entry methods[] = {
    {"initialize", REQ, handle_initialize},
    {"initialized", NOTE, handle_initialized},
    {"shutdown", REQ, handle_shutdown},
    {"exit", NOTE, handle_exit},
    {"textDocument/didOpen", NOTE, handle_did_open},
    {"textDocument/didChange", NOTE, handle_did_change},
    {"textDocument/didClose", NOTE, handle_did_close},
    {"textDocument/didSave", NOTE, handle_did_save},
    {"workspace/didChangeConfiguration", NOTE,
     handle_did_change_configuration},
    {"chorus/documentText", REQ, handle_document_text},
    {"workspace/didChangeWatchedFiles", NOTE, handle_did_change_watched_files},
    {"workspace/didChangeWorkspaceFolders", NOTE,
     handle_did_change_workspace_folders},
    {"chorus/findDefinitions", REQ, handle_find_definitions},
    {"chorus/indexStatus", REQ, handle_index_status},
    {"chorus/complete", REQ, handle_complete},
    {"$/setTrace", NOTE, handle_set_trace},
    {"$/cancelRequest", NOTE, handle_cancel},
};

static const method_entry *find_method(const char *name) {
  for(size_t i = 0; i < CH_ARRAY_LEN(methods); i++)
    if(strcmp(methods[i].name, name) == 0) return &methods[i];
  return NULL;
}

/* ---- dispatch ------------------------------------------------------------ */

static void dispatch(server *self, queued *q) {
  if(!q->msg) {
    server_reply_error(self, NULL, q->error_code, q->error);
    return;
  }
  const char *why = NULL;
  ch_rpc_kind kind = ch_rpc_classify(q->msg, &why);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(q->msg, "id");
  if(kind == CH_RPC_INVALID) {
    bool id_ok = cJSON_IsNumber(id) || cJSON_IsString(id);
    server_reply_error(self, id_ok ? id : NULL, CH_RPC_INVALID_REQUEST, why);
    return;
  }
  if(kind == CH_RPC_RESPONSE) {
    if(cJSON_IsNumber(id))
      index_response(self, (long)id->valuedouble, q->msg);
    return;
  }
  const char *name =
      cJSON_GetObjectItemCaseSensitive(q->msg, "method")->valuestring;
  request r = {self, kind == CH_RPC_REQUEST ? id : NULL,
               cJSON_GetObjectItemCaseSensitive(q->msg, "params"), name};
  /* Neovim before 0.10 encodes an empty Lua table {} as [], so an empty
   * array stands for "no params" too. */
  if(!r.params || cJSON_IsNull(r.params) ||
     (cJSON_IsArray(r.params) && !r.params->child))
    r.params = &empty_object;
  ch_log_debug("%s %s", kind == CH_RPC_REQUEST ? "request" : "notification",
               name);

  if(q->cancelled && kind == CH_RPC_REQUEST) {
    server_reply_error(self, id, CH_RPC_REQUEST_CANCELLED, "request cancelled");
    return;
  }
  const method_entry *m = find_method(name);
  bool is_exit = m && m->handle == handle_exit;
  if(self->state == STATE_STARTING && !(m && m->handle == handle_initialize) &&
     !is_exit) {
    if(kind == CH_RPC_REQUEST)
      server_reply_error(self, id, CH_RPC_SERVER_NOT_INITIALIZED,
                  "the server is not initialized: send initialize first");
    return; /* notifications before initialize are dropped, as LSP says */
  }
  if(self->state == STATE_SHUT_DOWN && !is_exit) {
    if(kind == CH_RPC_REQUEST)
      server_reply_error(self, id, CH_RPC_INVALID_REQUEST,
                  "the server is shut down: only exit is accepted");
    return;
  }
  if(!m) {
    if(kind == CH_RPC_REQUEST) {
      char *message = ch_strdupf("unknown method: %s", name);
      server_reply_error(self, id, CH_RPC_METHOD_NOT_FOUND, message);
      ch_free(message);
    } else {
      ch_log_debug("ignored notification %s", name);
    }
    return;
  }
  if(m->kind == NOTE && kind == CH_RPC_REQUEST) {
    char *message = ch_strdupf("%s is a notification: send it without id", name);
    server_reply_error(self, id, CH_RPC_INVALID_REQUEST, message);
    ch_free(message);
    return;
  }
  if(m->kind == REQ && kind == CH_RPC_NOTIFICATION) {
    ch_log_warn("%s is a request but came without id; ignored", name);
    return;
  }
  if(!cJSON_IsObject(r.params)) {
    ch_rpc_err err;
    ch_rpc_fail(&err, "", "params", "expected an object");
    server_invalid_params(&r, &err);
    return;
  }
  m->handle(&r);
}

/* Marks the requests that $/cancelRequest notifications of the batch name. */
static void mark_cancelled(server *self) {
  for(size_t i = 0; i < self->nbatch; i++) {
    const cJSON *msg = self->batch[i].msg;
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    if(!cJSON_IsString(method) ||
       strcmp(method->valuestring, "$/cancelRequest") != 0)
      continue;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(params, "id");
    for(size_t j = 0; j < self->nbatch; j++) {
      const cJSON *other = self->batch[j].msg;
      if(j == i || !other || !cJSON_GetObjectItemCaseSensitive(other, "method"))
        continue;
      if(ch_rpc_same_id(cJSON_GetObjectItemCaseSensitive(other, "id"), target))
        self->batch[j].cancelled = true;
    }
  }
}

static void run_batch(server *self) {
  mark_cancelled(self);
  for(size_t i = 0; i < self->nbatch; i++) {
    queued *q = &self->batch[i];
    if(!self->exiting) dispatch(self, q);
    cJSON_Delete(q->msg);
    ch_free(q->error);
  }
  self->nbatch = 0;
}

static void enqueue(server *self, cJSON *msg, int code, char *error) {
  if(self->nbatch == self->batch_cap) {
    self->batch_cap = self->batch_cap ? self->batch_cap * 2 : 64;
    self->batch = ch_realloc(self->batch, self->batch_cap * sizeof(queued));
  }
  self->batch[self->nbatch++] = (queued){msg, code, error, false};
}

static void on_frame(const ch_frame *frame, void *ud) {
  server *self = ud;
  switch(frame->kind) {
  case CH_FRAME_MESSAGE: {
    size_t at = 0;
    cJSON *msg = ch_rpc_parse(frame->body, frame->len, &at);
    if(!msg) {
      enqueue(self, NULL, CH_RPC_PARSE_ERROR,
              ch_strdupf("parse error: invalid JSON near byte %zu of %zu", at,
                         frame->len));
      ch_log_warn("received invalid JSON (%zu bytes)", frame->len);
    } else {
      enqueue(self, msg, 0, NULL);
    }
    break;
  }
  case CH_FRAME_TOO_LARGE:
    ch_log_warn("skipping a message of %zu bytes (maximum %zu)", frame->len,
                self->max_message);
    enqueue(self, NULL, CH_RPC_INVALID_REQUEST,
            ch_strdupf("message of %zu bytes exceeds the maximum of %zu bytes; "
                       "skipped",
                       frame->len, self->max_message));
    break;
  case CH_FRAME_BAD_HEADER:
    ch_log_warn("malformed message header: %s", frame->why);
    enqueue(self, NULL, CH_RPC_PARSE_ERROR,
            ch_strdupf("malformed message header: %s; skipping to the next "
                       "Content-Length header",
                       frame->why));
    break;
  }
}

static void on_input_end(server *self) {
  if(ch_reader_partial(&self->reader))
    ch_log_warn("input ended in the middle of a message");
  if(!self->exiting) {
    self->exiting = true;
    self->exit_code = self->state == STATE_SHUT_DOWN ? 0 : 1;
    ch_log_info("input closed without exit; stopping");
  }
  ch_loop_watch(self->loop, self->in_fd, 0, NULL, NULL);
}

static void on_readable(ch_loop *loop, int fd, unsigned events, void *ud) {
  server *self = ud;
  static char chunk[READ_CHUNK];
  for(int i = 0; i < READS_PER_TURN && !self->in_eof; i++) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if(n > 0) {
      ch_reader_push(&self->reader, chunk, (size_t)n, on_frame, self);
      if((size_t)n < sizeof(chunk)) break;
      continue;
    }
    if(n < 0 && errno == EINTR) continue;
    if(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if(n < 0) ch_log_error("reading input: %s", strerror(errno));
    self->in_eof = true;
  }
  run_batch(self);
  if(self->in_eof) on_input_end(self);
}

/* ---- run ----------------------------------------------------------------- */

static int set_nonblocking(int fd, int *saved) {
  int flags = fcntl(fd, F_GETFL);
  if(flags < 0) return -1;
  *saved = flags;
  return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int ch_server_run(const ch_server_options *options) {
  server self_storage;
  server *self = &self_storage;
  memset(self, 0, sizeof(*self));
  self->in_fd = options->in_fd;
  self->out_fd = options->out_fd;
  self->max_message = options->max_message_bytes
                          ? options->max_message_bytes
                          : CH_SERVER_DEFAULT_MAX_MESSAGE;
  self->cli_log_level = options->has_log_level;
  self->cli_level = options->log_level;
  self->exit_code = 1;
  self->loop_thread = pthread_self();
  ch_config_init(&self->config);
  ch_buf_init(&self->out, MAX_OUTPUT);
  ch_reader_init(&self->reader, self->max_message);
  ch_documents_init(&self->docs, CH_ENC_UTF16, MAX_DOCUMENT);
  self->docs.on_edit = index_doc_edited;
  self->docs.on_edit_userdata = self;
  ch_map_init(&self->pending_docs);

  signal(SIGPIPE, SIG_IGN);
  ch_status error = CH_OK;
  self->loop = ch_loop_new(&error);
  if(!self->loop) {
    ch_log_stderr(CH_LOG_ERROR, "cannot create the event loop");
    return 2;
  }

  /* Config file first, so its log level applies from the start. */
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  char *path = options->config_path ? ch_strdup(options->config_path)
                                    : ch_config_default_path();
  if(path) {
    ch_status result = ch_config_load_file(&self->config, path, &problems);
    if(result == CH_ERR_NOT_FOUND && options->config_path)
      ch_buf_appendf(&problems, "%s: (file): not found\n", path);
  }
  ch_free(path);
  apply_log_level(self);
  ch_log_set_sink(log_sink, self);
  log_problems(&problems);
  ch_buf_release(&problems);

  int in_flags = 0, out_flags = 0;
  bool in_nb = set_nonblocking(self->in_fd, &in_flags) == 0;
  bool out_nb = set_nonblocking(self->out_fd, &out_flags) == 0;
  ch_loop_watch(self->loop, self->in_fd, CH_LOOP_READ, on_readable, self);
  ch_loop_set_before_sleep(self->loop, before_sleep, self);
  ch_log_debug("chorus %s serving on stdio", CHORUS_VERSION);

  ch_loop_run(self->loop);
  flush_output(self);

  /* Leave the descriptors as we found them: they may be a terminal. */
  if(in_nb) fcntl(self->in_fd, F_SETFL, in_flags);
  if(out_nb) fcntl(self->out_fd, F_SETFL, out_flags);
  ch_log_set_sink(NULL, NULL);
  int code = self->exit_code;
  for(size_t i = 0; i < self->nbatch; i++) {
    cJSON_Delete(self->batch[i].msg);
    ch_free(self->batch[i].error);
  }
  ch_free(self->batch);
  complete_stop(self);
  index_stop(self);
  ch_map_release(&self->pending_docs, NULL);
  ch_loop_free(self->loop);
  ch_documents_release(&self->docs);
  ch_config_release(&self->config);
  ch_reader_release(&self->reader);
  ch_buf_release(&self->out);
  return code;
}
