/* index_sync.c: keeps the repository index in step with the editor.
 *
 * - Workspace folders from initialize (workspaceFolders, else rootUri, else
 *   rootPath) and didChangeWorkspaceFolders become index roots.
 * - Open documents: every applied change is passed on as a tree-sitter edit
 *   at once (cheap), and the new text follows after a short debounce, so a
 *   burst of keystrokes costs one incremental reparse on a worker.
 * - didSave and didChangeWatchedFiles re-check files on disk; the server
 *   registers a file watcher when the client allows dynamic registration.
 * - $/progress while the first indexing runs, when the client supports it.
 * - chorus/findDefinitions and chorus/indexStatus answer from the current
 *   snapshot, during indexing too, with whatever is indexed so far.
 *
 * Index workers report changes through ch_loop_post; everything here runs
 * on the loop thread.
 */
#include <string.h>

#include "chorus/models.h"
#include "server_internal.h"
#include "uri.h"

#define DOC_DEBOUNCE_MS 25
#define PROGRESS_INTERVAL_MS 100
#define PROGRESS_TOKEN "chorus/indexing"

/* ---- roots ------------------------------------------------------------------ */

/* ---- the server's own file watcher -------------------------------------------- */

typedef struct watch_job {
  ch_watcher *watcher;
  char *root;
} watch_job;

/* Adding a tree walks every directory under it: on a thread of its own,
 * never on the loop. */
static void *watch_thread(void *arg) {
  watch_job *job = arg;
  ch_status st = ch_watcher_add_tree(job->watcher, job->root, NULL);
  if(st && st != CH_ERR_CANCELLED)
    ch_log_warn("watching %s: %s", job->root, ch_strerror(st));
  ch_free(job->root);
  ch_free(job);
  return NULL;
}

static void watch_root(server *self, const char *path) {
  if(!self->watcher) return;
  watch_job *job = ch_malloc(sizeof(*job));
  job->watcher = self->watcher;
  job->root = ch_strdup(path);
  pthread_t t;
  if(pthread_create(&t, NULL, watch_thread, job) != 0) {
    ch_free(job->root);
    ch_free(job);
    return;
  }
  self->watch_threads = ch_realloc(self->watch_threads,
                                   (self->nwatch_threads + 1) * sizeof(t));
  self->watch_threads[self->nwatch_threads++] = t;
}

static void on_watched_change(const char *path, void *ud) {
  server *self = ud;
  if(self->index) ch_index_file_changed(self->index, path);
}

static void on_watcher_readable(ch_loop *loop, int fd, unsigned events,
                                void *ud) {
  server *self = ud;
  ch_watcher_read(self->watcher, on_watched_change, self);
}

/* ---- roots ------------------------------------------------------------------ */

static void add_root_path(server *self, const char *path) {
  ch_status st = ch_index_add_root(self->index, path);
  if(st) {
    ch_log_warn("cannot index %s: %s", path, ch_strerror(st));
    return;
  }
  ch_log_info("indexing %s", path);
  self->root_paths = ch_realloc(self->root_paths,
                                (self->nroot_paths + 1) * sizeof(char *));
  self->root_paths[self->nroot_paths++] = ch_strdup(path);
  watch_root(self, path);
}

static void remove_root_path(server *self, const char *path) {
  ch_index_remove_root(self->index, path);
  if(self->watcher) ch_watcher_remove_tree(self->watcher, path);
  for(size_t i = 0; i < self->nroot_paths; i++) {
    if(strcmp(self->root_paths[i], path) != 0) continue;
    ch_free(self->root_paths[i]);
    self->root_paths[i] = self->root_paths[--self->nroot_paths];
    break;
  }
}

static void add_root_uri(server *self, const char *uri) {
  char *path = ch_uri_to_path(uri);
  if(!path) {
    ch_log_warn("workspace folder is not a file URI: %s", uri);
    return;
  }
  add_root_path(self, path);
  ch_free(path);
}

static void on_index_change_loop(ch_loop *loop, void *ud);

/* Worker thread: a snapshot was published. Wake the loop once. */
static void on_index_change(void *ud) {
  server *self = ud;
  bool was = atomic_exchange(&self->index_changed, true);
  if(!was) ch_loop_post(self->loop, on_index_change_loop, self);
}

void index_start(server *self, const cJSON *params) {
  ch_index_options options;
  memset(&options, 0, sizeof(options));
  options.on_change = on_index_change;
  options.userdata = self;
  options.ignore_globs = (const char *const *)self->config.ignore;
  options.max_file_bytes = self->config.max_file_bytes;
  ch_status error = CH_OK;
  self->index = ch_index_new(&options, &error);
  if(!self->index) {
    ch_log_error("cannot start the index: %s", ch_strerror(error));
    return;
  }
  const cJSON *folders =
      cJSON_GetObjectItemCaseSensitive(params, "workspaceFolders");
  const cJSON *folder;
  bool any = false;
  cJSON_ArrayForEach(folder, folders) {
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(folder, "uri");
    if(!cJSON_IsString(uri)) continue;
    add_root_uri(self, uri->valuestring);
    any = true;
  }
  if(any) return;
  const cJSON *root_uri = cJSON_GetObjectItemCaseSensitive(params, "rootUri");
  if(cJSON_IsString(root_uri)) {
    add_root_uri(self, root_uri->valuestring);
    return;
  }
  const cJSON *root_path = cJSON_GetObjectItemCaseSensitive(params, "rootPath");
  if(cJSON_IsString(root_path) && root_path->valuestring[0] == '/')
    add_root_path(self, root_path->valuestring);
}

void index_stop(server *self) {
  if(self->doc_timer) ch_loop_timer_stop(self->loop, self->doc_timer);
  self->doc_timer = 0;
  if(self->watcher) {
    /* Removing the roots makes walks still running end early. */
    for(size_t i = 0; i < self->nroot_paths; i++)
      ch_watcher_remove_tree(self->watcher, self->root_paths[i]);
    for(size_t i = 0; i < self->nwatch_threads; i++)
      pthread_join(self->watch_threads[i], NULL);
    ch_free(self->watch_threads);
    self->watch_threads = NULL;
    self->nwatch_threads = 0;
    ch_loop_watch(self->loop, ch_watcher_fd(self->watcher), 0, NULL, NULL);
    ch_watcher_free(self->watcher);
    self->watcher = NULL;
  }
  ch_index_free(self->index);
  self->index = NULL;
  for(size_t i = 0; i < self->nroot_paths; i++) ch_free(self->root_paths[i]);
  ch_free(self->root_paths);
  self->root_paths = NULL;
  self->nroot_paths = 0;
}

/* The glob of every extension the index knows, for the file watcher. */
static char *watch_glob(void) {
  ch_buf b;
  ch_buf_init(&b, 1 << 16);
  ch_buf_append_str(&b, "**/*.{");
  bool first = true;
  for(size_t i = 0; i < ch_syntax_count(); i++) {
    const ch_language *lang = ch_syntax_at(i);
    for(const char *const *e = lang->extensions; *e; e++) {
      ch_buf_appendf(&b, "%s%s", first ? "" : ",", *e);
      first = false;
    }
  }
  ch_buf_append_char(&b, '}');
  return ch_buf_detach(&b, NULL);
}

/* Without dynamic registration the client will not tell the server about
 * files changed on disk: watch them with inotify. Roots known so far are
 * added now, later ones as they come. */
static void start_watcher(server *self) {
  ch_status error = CH_OK;
  self->watcher = ch_watcher_new(&error);
  if(!self->watcher) {
    ch_log_warn("cannot watch files (%s); changes on disk are seen on save",
                ch_strerror(error));
    return;
  }
  ch_loop_watch(self->loop, ch_watcher_fd(self->watcher), CH_LOOP_READ,
                on_watcher_readable, self);
  for(size_t i = 0; i < self->nroot_paths; i++)
    watch_root(self, self->root_paths[i]);
}

void index_after_initialized(server *self) {
  if(!self->index) return;
  if(!self->client_watch_dynamic) {
    start_watcher(self);
    return;
  }
  cJSON *params = cJSON_CreateObject();
  cJSON *regs = cJSON_AddArrayToObject(params, "registrations");
  cJSON *reg = cJSON_CreateObject();
  cJSON_AddStringToObject(reg, "id", "chorus-watched-files");
  cJSON_AddStringToObject(reg, "method", "workspace/didChangeWatchedFiles");
  cJSON *opts = cJSON_AddObjectToObject(reg, "registerOptions");
  cJSON *watchers = cJSON_AddArrayToObject(opts, "watchers");
  cJSON *w = cJSON_CreateObject();
  char *glob = watch_glob();
  cJSON_AddStringToObject(w, "globPattern", glob);
  ch_free(glob);
  cJSON_AddItemToArray(watchers, w);
  cJSON_AddItemToArray(regs, reg);
  server_request(self, "client/registerCapability", params);
}

/* ---- progress ---------------------------------------------------------------- */

static void send_progress(server *self, const char *kind, const char *message,
                          int percentage) {
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "token", PROGRESS_TOKEN);
  cJSON *value = cJSON_AddObjectToObject(params, "value");
  cJSON_AddStringToObject(value, "kind", kind);
  if(strcmp(kind, "begin") == 0) {
    cJSON_AddStringToObject(value, "title", "Indexing");
    cJSON_AddBoolToObject(value, "cancellable", false);
  }
  if(message) cJSON_AddStringToObject(value, "message", message);
  if(percentage >= 0) cJSON_AddNumberToObject(value, "percentage", percentage);
  server_notify(self, "$/progress", params);
}

static void update_progress(server *self) {
  if(!self->index || !self->client_progress || self->progress_state == 3 ||
     self->state != STATE_RUNNING)
    return;
  ch_index_stats st;
  ch_index_stats_get(self->index, &st);
  bool busy = !st.idle;
  if(self->progress_state == 0) {
    if(!busy) return;
    self->progress_state = 1;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "token", PROGRESS_TOKEN);
    self->progress_request =
        server_request(self, "window/workDoneProgress/create", params);
    return; /* begin once the client answered */
  }
  if(self->progress_state == 1) return;
  char message[96];
  snprintf(message, sizeof(message), "%zu/%zu files", st.files_done,
           st.files_seen);
  int pct = st.roots_pending || !st.files_seen
                ? -1
                : (int)(st.files_done * 100 / st.files_seen);
  if(!busy) {
    send_progress(self, "end", message, -1);
    self->progress_state = 3;
    return;
  }
  uint64_t now = ch_now_ms();
  if(now - self->progress_last_ms < PROGRESS_INTERVAL_MS) return;
  self->progress_last_ms = now;
  send_progress(self, "report", message, pct);
}

void index_response(server *self, long id, const cJSON *msg) {
  if(id != self->progress_request || self->progress_state != 1) return;
  self->progress_request = 0;
  if(cJSON_GetObjectItemCaseSensitive(msg, "error")) {
    self->progress_state = 3; /* the client refused the token */
    return;
  }
  self->progress_state = 2;
  send_progress(self, "begin", "starting", 0);
  self->progress_last_ms = ch_now_ms();
  update_progress(self);
}

static void on_index_change_loop(ch_loop *loop, void *ud) {
  server *self = ud;
  atomic_store(&self->index_changed, false);
  update_progress(self);
  if(self->models) ch_models_index_changed(self->models);
}

/* ---- documents ---------------------------------------------------------------- */

static const ch_language *doc_language(const ch_document *doc,
                                       const char *path) {
  const ch_language *lang = ch_syntax_by_language_id(doc->language_id);
  if(lang) return lang;
  char head[256];
  uint32_t n = ch_text_copy(doc->text, 0, sizeof(head), head);
  return ch_syntax_by_path(path, head, n);
}

void index_doc_opened(server *self, const ch_document *doc) {
  if(!self->index || !doc) return;
  char *path = ch_uri_to_path(doc->uri);
  if(!path) return;
  const ch_language *lang = doc_language(doc, path);
  if(lang) {
    uint32_t len = 0;
    char *text = ch_text_dup(doc->text, &len);
    ch_index_doc_open(self->index, path, lang, text, len, doc->version);
    ch_free(text);
  }
  ch_free(path);
}

void index_doc_closed(server *self, const char *uri) {
  if(!self->index) return;
  ch_map_remove(&self->pending_docs, uri); /* values are markers, not heap */
  char *path = ch_uri_to_path(uri);
  if(!path) return;
  ch_index_doc_close(self->index, path);
  ch_index_file_changed(self->index, path); /* the disk version returns */
  ch_free(path);
}

static void flush_docs(ch_loop *loop, void *ud) {
  server *self = ud;
  self->doc_timer = 0;
  size_t it = 0;
  const char *uri;
  while(ch_map_next(&self->pending_docs, &it, &uri, NULL)) {
    ch_document *doc = ch_documents_get(&self->docs, uri);
    char *path = doc ? ch_uri_to_path(uri) : NULL;
    if(path && self->index) {
      uint32_t len = 0;
      char *text = ch_text_dup(doc->text, &len);
      ch_index_doc_update(self->index, path, text, len, doc->version);
      ch_free(text);
    }
    ch_free(path);
  }
  ch_map_release(&self->pending_docs, NULL);
}

void index_doc_edited(const ch_document *doc, const ch_edit *edit, void *ud) {
  server *self = ud;
  if(!self->index) return;
  char *path = ch_uri_to_path(doc->uri);
  if(!path) return;
  TSInputEdit e = {
      edit->start,
      edit->old_end,
      edit->new_end,
      {edit->start_point.line, edit->start_point.character},
      {edit->old_end_point.line, edit->old_end_point.character},
      {edit->new_end_point.line, edit->new_end_point.character},
  };
  if(ch_index_doc_edit(self->index, path, &e) == CH_OK) {
    ch_map_put(&self->pending_docs, doc->uri, (void *)1);
    if(!self->doc_timer)
      self->doc_timer =
          ch_loop_timer_start(self->loop, DOC_DEBOUNCE_MS, flush_docs, self);
  }
  ch_free(path);
}

void index_file_saved(server *self, const char *uri) {
  if(!self->index) return;
  char *path = ch_uri_to_path(uri);
  if(path) ch_index_file_changed(self->index, path);
  ch_free(path);
}

/* ---- notifications ------------------------------------------------------------ */

void handle_did_change_watched_files(request *r) {
  ch_rpc_err err;
  const cJSON *changes = NULL;
  if(!ch_rpc_get_array(r->params, "", "changes", true, &changes, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, changes) {
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(c, "uri");
    if(!cJSON_IsString(uri) || !r->self->index) continue;
    char *path = ch_uri_to_path(uri->valuestring);
    if(path) ch_index_file_changed(r->self->index, path);
    ch_free(path);
  }
}

void handle_did_change_workspace_folders(request *r) {
  ch_rpc_err err;
  const cJSON *event = NULL, *added = NULL, *removed = NULL;
  if(!ch_rpc_get_object(r->params, "", "event", true, &event, &err) ||
     !ch_rpc_get_array(event, "event", "added", false, &added, &err) ||
     !ch_rpc_get_array(event, "event", "removed", false, &removed, &err)) {
    server_invalid_params(r, &err);
    return;
  }
  if(!r->self->index) return;
  const cJSON *f;
  cJSON_ArrayForEach(f, removed) {
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(f, "uri");
    char *path = cJSON_IsString(uri) ? ch_uri_to_path(uri->valuestring) : NULL;
    if(path) remove_root_path(r->self, path);
    ch_free(path);
  }
  cJSON_ArrayForEach(f, added) {
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(f, "uri");
    if(cJSON_IsString(uri)) add_root_uri(r->self, uri->valuestring);
  }
}

/* ---- requests ------------------------------------------------------------------ */

void handle_find_definitions(request *r) {
  ch_rpc_err err;
  const char *name = NULL, *uri = NULL;
  const cJSON *td = NULL;
  bool prefix = false;
  if(!ch_rpc_get_string(r->params, "", "name", true, &name, &err) ||
     !ch_rpc_get_bool(r->params, "", "prefix", false, &prefix, &err) ||
     !ch_rpc_get_object(r->params, "", "textDocument", false, &td, &err) ||
     (td && !ch_rpc_get_string(td, "textDocument", "uri", true, &uri, &err))) {
    server_invalid_params(r, &err);
    return;
  }
  cJSON *result = cJSON_CreateArray();
  if(r->self->index) {
    ch_snapshot *s = ch_index_snapshot(r->self->index);
    uint32_t from = CH_NONE;
    char *path = uri ? ch_uri_to_path(uri) : NULL;
    if(path) ch_snapshot_lookup(s, path, &from);
    ch_free(path);
    ch_def_ref refs[100];
    size_t n = prefix ? ch_snapshot_find_prefix(s, name, from, refs, 100)
                      : ch_snapshot_find(s, name, from, refs, 100);
    for(size_t i = 0; i < CH_MIN(n, (size_t)100); i++) {
      const ch_record *rec = ch_snapshot_file(s, refs[i].file);
      const ch_def *d = &rec->defs[refs[i].def];
      cJSON *item = cJSON_CreateObject();
      char *file_uri = ch_path_to_uri(ch_snapshot_abs_path(s, refs[i].file));
      cJSON_AddStringToObject(item, "uri", file_uri);
      ch_free(file_uri);
      cJSON_AddStringToObject(item, "name", ch_record_str(rec, d->name));
      cJSON_AddStringToObject(item, "kind", ch_def_kind_name(d->kind));
      cJSON_AddNumberToObject(item, "line", d->name_range.start_row);
      cJSON_AddStringToObject(item, "signature",
                              ch_record_str(rec, d->signature));
      cJSON_AddNumberToObject(item, "proximity", refs[i].proximity);
      cJSON_AddItemToArray(result, item);
    }
    ch_snapshot_unref(s);
  }
  server_reply_result(r->self, r->id, result);
}

void handle_index_status(request *r) {
  cJSON *result = cJSON_CreateObject();
  if(r->self->index) {
    ch_index_stats st;
    ch_index_stats_get(r->self->index, &st);
    ch_snapshot *s = ch_index_snapshot(r->self->index);
    uint32_t files = 0;
    for(uint32_t i = 0; i < ch_snapshot_count(s); i++)
      if(ch_snapshot_file(s, i)) files++;
    ch_snapshot_unref(s);
    cJSON_AddBoolToObject(result, "ready", st.idle);
    cJSON_AddNumberToObject(result, "files", files);
    cJSON_AddNumberToObject(result, "filesSeen", (double)st.files_seen);
    cJSON_AddNumberToObject(result, "filesDone", (double)st.files_done);
    cJSON_AddNumberToObject(result, "parsed", (double)st.parsed);
    cJSON_AddNumberToObject(result, "cacheHits", (double)st.cache_hits);
  }
  server_reply_result(r->self, r->id, result);
}
