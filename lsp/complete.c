/* complete.c: the `chorus/complete` request, one model completion at the
 * cursor of an open document, cancellable with $/cancelRequest (which
 * aborts the model's HTTP transfer at once).
 *
 * A model that takes text needs the context engine's snippets, which read
 * files and take milliseconds: they are built on a thread of their own (the
 * preparer, which owns the engine and its caches), never on the loop. The
 * loop hands it a job with copies of what it needs and a reference to the
 * index snapshot; the preparer puts finished jobs on a done list and wakes
 * the loop, which starts the model call. The builtin model reads the
 * document itself and starts at once. */
#include <pthread.h>
#include <string.h>

#include "chorus/context.h"
#include "chorus/guard.h"
#include "chorus/index.h"
#include "chorus/models.h"
#include "chorus/syntax.h"
#include "cli.h"
#include "result_json.h"
#include "server_internal.h"
#include "uri.h"

typedef struct prep_job prep_job;

struct pending_complete {
  server *self;
  cJSON *id; /* owned copy of the request id */
  ch_model_call *call; /* once the model call started */
  prep_job *job;       /* while the context is being built */
  pending_complete *prev, *next;
};

/* A context to build. Fields up to `done` are set by the loop before the
 * job is queued and read by the preparer; the results are read by the loop
 * once the job is on the done list. */
struct prep_job {
  pending_complete *pc; /* NULL once the request was cancelled */
  const ch_model *model;
  ch_model_prepare_input in; /* text and path owned by the job */
  char *text, *path;
  ch_snapshot *snap;
  /* Other open documents (texts and paths owned); the first nrecent were
   * edited since they were opened: their unsaved changes become edits. */
  ch_context_doc *docs;
  size_t ndocs, nrecent;
  ch_context_edit *edits; /* made by the preparer; strings owned */
  size_t nedits;
  /* results */
  ch_model_request req;
  ch_model_prepared held;
  ch_buf why;
  ch_status status;
  prep_job *next;
};

typedef struct preparer {
  pthread_t thread;
  pthread_mutex_t lock; /* guards the lists and stop */
  pthread_cond_t wake;
  prep_job *queue, *queue_tail; /* waiting, in order */
  prep_job *done;               /* finished, for the loop */
  bool stop;
  ch_context_engine *engine; /* the preparer's own */
  ch_loop *loop;
  server *self;
} preparer;

static void job_free(prep_job *job) {
  for(size_t i = 0; i < job->ndocs; i++) {
    ch_free((char *)job->docs[i].path);
    ch_free((char *)job->docs[i].text);
  }
  ch_free(job->docs);
  for(size_t i = 0; i < job->nedits; i++) {
    ch_free((char *)job->edits[i].removed);
    ch_free((char *)job->edits[i].added);
  }
  ch_free(job->edits);
  ch_model_prepared_release(&job->held);
  ch_buf_release(&job->why);
  ch_snapshot_unref(job->snap);
  ch_free(job->text);
  ch_free(job->path);
  ch_free(job);
}

static void drain_done(ch_loop *loop, void *ud);

#define DOCS_MAX 8            /* other open documents sent as similar code */
#define DOC_BYTES_MAX (512u << 10)
#define EDITS_MAX 4           /* documents whose unsaved edits are shown */
#define HUNK_LINES_MAX 20     /* lines kept on each side of a hunk */

/* Start of the line after the one at `at` (or len). */
static size_t next_line(const char *t, size_t len, size_t at) {
  const char *nl = memchr(t + at, '\n', len - at);
  return nl ? (size_t)(nl - t) + 1 : len;
}

/* Lines [from, to) of t, at most HUNK_LINES_MAX of them, as a new string. */
static char *lines_of(const char *t, size_t from, size_t to) {
  size_t end = from;
  for(int n = 0; end < to && n < HUNK_LINES_MAX; n++)
    end = next_line(t, to, end);
  return ch_strndup(t + from, end - from);
}

/* The unsaved change of an open document: the lines between the common
 * head and the common tail of its text on disk and its text now, as one
 * hunk. False when the disk copy cannot be read or nothing differs. */
static bool unsaved_hunk(const ch_context_doc *doc, ch_context_edit *out) {
  size_t alen = 0;
  char *disk = ch_cli_read_file(doc->path, DOC_BYTES_MAX, &alen, NULL);
  if(!disk) return false;
  const char *a = disk, *b = doc->text;
  size_t blen = doc->len;
  /* Common head, by whole lines. */
  size_t head = 0;
  uint32_t row = 0;
  while(head < alen && head < blen) {
    size_t ea = next_line(a, alen, head), eb = next_line(b, blen, head);
    if(ea != eb || memcmp(a + head, b + head, ea - head) != 0) break;
    head = ea;
    row++;
  }
  /* Common tail, by whole lines, not overlapping the head. */
  size_t ta = alen, tb = blen;
  while(ta > head && tb > head) {
    size_t sa = ta - 1, sb = tb - 1; /* last byte of the previous line */
    while(sa > head && a[sa - 1] != '\n') sa--;
    while(sb > head && b[sb - 1] != '\n') sb--;
    if(ta - sa != tb - sb || memcmp(a + sa, b + sb, ta - sa) != 0) break;
    ta = sa;
    tb = sb;
  }
  bool differs = ta != head || tb != head;
  if(differs) {
    out->path = doc->path;
    out->row = row;
    out->removed = lines_of(a, head, ta);
    out->added = lines_of(b, head, tb);
  }
  ch_free(disk);
  return differs;
}

static void *preparer_main(void *arg) {
  preparer *p = arg;
  pthread_mutex_lock(&p->lock);
  for(;;) {
    while(!p->queue && !p->stop) pthread_cond_wait(&p->wake, &p->lock);
    if(p->stop) break;
    prep_job *job = p->queue;
    p->queue = job->next;
    if(!p->queue) p->queue_tail = NULL;
    pthread_mutex_unlock(&p->lock);
    job->in.engine = p->engine;
    if(job->nrecent) {
      job->edits = ch_calloc(job->nrecent, sizeof(*job->edits));
      for(size_t i = 0; i < job->nrecent; i++)
        if(unsaved_hunk(&job->docs[i], &job->edits[job->nedits]))
          job->nedits++;
      job->in.edits = job->edits;
      job->in.nedits = job->nedits;
    }
    job->status = ch_model_prepare(job->model, &job->in, &job->req,
                                   &job->held, &job->why);
    pthread_mutex_lock(&p->lock);
    job->next = p->done;
    p->done = job;
    ch_loop_post(p->loop, drain_done, p->self);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static preparer *preparer_new(server *self) {
  preparer *p = ch_calloc(1, sizeof(*p));
  p->engine = ch_context_engine_new(0);
  p->loop = self->loop;
  p->self = self;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  if(pthread_create(&p->thread, NULL, preparer_main, p) != 0) {
    ch_log_error("complete: cannot start the context thread");
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    ch_context_engine_free(p->engine);
    ch_free(p);
    return NULL;
  }
  return p;
}

/* Stops the thread and frees every job it still holds. */
static void preparer_free(preparer *p) {
  if(!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_cond_signal(&p->wake);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->thread, NULL);
  for(prep_job *lists[2] = {p->queue, p->done}, **l = lists; l < lists + 2;
      l++)
    while(*l) {
      prep_job *next = (*l)->next;
      job_free(*l);
      *l = next;
    }
  ch_context_engine_free(p->engine);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  ch_free(p);
}

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
  if(self->models && self->models_stale && !self->completes &&
     !self->prep_outstanding) {
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
    if(!self->prep) self->prep = preparer_new(self);
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

/* A job's context is built (or failed): start the model call, on the loop. */
static void job_ready(server *self, prep_job *job) {
  self->prep_outstanding--;
  pending_complete *pc = job->pc;
  if(!pc) { /* cancelled meanwhile: the reply went out then */
    job_free(job);
    return;
  }
  pc->job = NULL;
  if(job->status) {
    char *message = ch_strdupf("model '%s': %s",
                               ch_model_config_of(job->model)->name,
                               job->why.data ? job->why.data : "");
    server_reply_error(self, pc->id, CH_RPC_REQUEST_FAILED, message);
    ch_free(message);
    pending_free(self, pc);
  } else if(ch_models_complete(self->models, (ch_model *)job->model,
                               &job->req, on_result, pc, &pc->call)) {
    server_reply_error(self, pc->id, CH_RPC_INTERNAL_ERROR,
                       "cannot start the completion");
    pending_free(self, pc);
  }
  job_free(job); /* ch_models_complete copied the request */
}

static void drain_done(ch_loop *loop, void *ud) {
  (void)loop;
  server *self = ud;
  preparer *p = self->prep;
  if(!p) return;
  pthread_mutex_lock(&p->lock);
  prep_job *list = p->done;
  p->done = NULL;
  pthread_mutex_unlock(&p->lock);
  /* Oldest first, as they were queued. */
  prep_job *rev = NULL;
  while(list) {
    prep_job *next = list->next;
    list->next = rev;
    rev = list;
    list = next;
  }
  while(rev) {
    prep_job *next = rev->next;
    job_ready(self, rev);
    rev = next;
  }
}

/* Picks the other open documents for the job, most recently changed
 * first, and copies them. */
static void collect_docs(server *self, const ch_document *current,
                         prep_job *job) {
  const ch_document *pick[DOCS_MAX];
  size_t npick = 0, iter = 0;
  const char *key;
  void *value;
  while(ch_map_next(&self->docs.by_uri, &iter, &key, &value)) {
    const ch_document *d = value;
    if(d == current || ch_text_length(d->text) > DOC_BYTES_MAX) continue;
    /* Keep the DOCS_MAX most recently changed, by insertion. */
    size_t at = npick;
    while(at > 0 && pick[at - 1]->changed_ns < d->changed_ns) at--;
    if(at >= DOCS_MAX) continue;
    if(npick < DOCS_MAX) npick++;
    memmove(pick + at + 1, pick + at, (npick - 1 - at) * sizeof(*pick));
    pick[at] = d;
  }
  if(!npick) return;
  job->docs = ch_calloc(npick, sizeof(*job->docs));
  for(size_t i = 0; i < npick; i++) {
    char *path = ch_uri_to_path(pick[i]->uri);
    if(!path) continue;
    ch_context_doc *cd = &job->docs[job->ndocs++];
    cd->path = path;
    cd->text = ch_text_dup(pick[i]->text, &cd->len);
    if(pick[i]->changed_ns && job->nrecent == job->ndocs - 1 &&
       job->nrecent < EDITS_MAX)
      job->nrecent++;
  }
  job->in.docs = job->docs;
  job->in.ndocs = job->ndocs;
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
  prep_job *job = ch_calloc(1, sizeof(*job));
  job->model = model;
  job->path = ch_uri_to_path(uri);
  job->text = ch_text_dup(doc->text, &job->in.len);
  const ch_language *lang = ch_syntax_by_language_id(doc->language_id);
  if(!lang && job->path) lang = ch_syntax_by_path(job->path, NULL, 0);
  job->snap = self->index ? ch_index_snapshot(self->index) : NULL;
  job->in.snapshot = job->snap;
  job->in.guard = self->guard;
  job->in.path = job->path ? job->path : uri;
  job->in.lang = lang;
  job->in.text = job->text;
  job->in.cursor = ch_text_offset(doc->text, p, self->docs.encoding);
  job->in.budget = self->config.context_budget;
  job->in.prefix_ratio = self->config.context_prefix_ratio;
  ch_buf_init(&job->why, 4096);
  if(job->in.path == uri) job->in.path = job->path = ch_strdup(uri);
  if(ch_model_provider(model)->build) collect_docs(self, doc, job);

  pending_complete *pc = ch_calloc(1, sizeof(*pc));
  pc->self = self;
  pc->id = cJSON_Duplicate(r->id, true);
  pc->next = self->completes;
  if(pc->next) pc->next->prev = pc;
  self->completes = pc;
  pc->job = job;
  job->pc = pc;
  self->prep_outstanding++;
  /* The builtin model reads the document itself: nothing to build. */
  if(!ch_model_provider(model)->build || !self->prep) {
    job->status = ch_model_prepare(model, &job->in, &job->req, &job->held,
                                   &job->why);
    job_ready(self, job);
    return;
  }
  preparer *pp = self->prep;
  pthread_mutex_lock(&pp->lock);
  if(pp->queue_tail)
    pp->queue_tail->next = job;
  else
    pp->queue = job;
  pp->queue_tail = job;
  pthread_cond_signal(&pp->wake);
  pthread_mutex_unlock(&pp->lock);
}

bool complete_cancel(server *self, const cJSON *id) {
  for(pending_complete *p = self->completes; p; p = p->next) {
    if(!ch_rpc_same_id(p->id, id)) continue;
    if(p->job) p->job->pc = NULL; /* freed when the preparer is done */
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
  /* The preparer first: its jobs point at the models and the guard. */
  preparer_free(self->prep);
  self->prep = NULL;
  self->prep_outstanding = 0;
  while(self->completes) {
    ch_model_call_cancel(self->completes->call);
    pending_free(self, self->completes);
  }
  ch_models_free(self->models);
  self->models = NULL;
  ch_guard_free(self->guard);
  self->guard = NULL;
}
