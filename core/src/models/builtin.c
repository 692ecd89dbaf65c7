/* builtin.c: the `builtin` provider: the offline n-gram model of
 * chorus/ngram.h behind the provider table of chorus/models.h.
 *
 * A completion runs on the loop thread and takes well under a millisecond,
 * so `start` answers at once (the result is still delivered later, from
 * the loop, as models.h promises). Keeping the model up to date is the
 * slow part (the first build of the suffix array takes seconds on a large
 * repository), so it happens on a thread of our own: each request hands it
 * the index's newest snapshot when that differs from the last one handed
 * over, and each time the index publishes one (index_changed), and it
 * calls ch_ngram_update. Until the first build is done the model answers
 * nothing (an empty text, not an error), except with env->blocking_init
 * (the command line), where the first build happens in model_init.
 * Without an index (env->index NULL) it always answers nothing.
 */
#include "chorus/index.h"
#include "chorus/models.h"
#include "chorus/ngram.h"
#include "chorus/syntax.h"

#include <pthread.h>
#include <string.h>

typedef struct builtin {
  ch_ngram *ngram;
  ch_index *index; /* borrowed */
  pthread_t thread;
  bool have_thread;
  pthread_mutex_t lock; /* guards the fields below */
  pthread_cond_t wake;
  ch_snapshot *handed;  /* the newest snapshot handed over (a reference) */
  ch_snapshot *pending; /* waiting for the thread (a reference), or NULL */
  bool stop;
} builtin;

/* The updating thread: applies the newest pending snapshot, one at a time;
 * snapshots that pile up meanwhile are skipped for the newest. */
static void *updater(void *arg) {
  builtin *self = arg;
  pthread_mutex_lock(&self->lock);
  for(;;) {
    while(!self->pending && !self->stop)
      pthread_cond_wait(&self->wake, &self->lock);
    if(self->stop) break;
    ch_snapshot *snap = self->pending;
    self->pending = NULL;
    pthread_mutex_unlock(&self->lock);
    ch_status st = ch_ngram_update(self->ngram, snap);
    if(st) ch_log_warn("builtin model: update failed: %s", ch_strerror(st));
    ch_snapshot_unref(snap);
    pthread_mutex_lock(&self->lock);
  }
  pthread_mutex_unlock(&self->lock);
  return NULL;
}

/* Hands snap to the thread when it is new. */
static void hand_over(builtin *self, ch_snapshot *snap) {
  pthread_mutex_lock(&self->lock);
  if(snap != self->handed) {
    ch_snapshot_unref(self->handed);
    self->handed = ch_snapshot_ref(snap);
    ch_snapshot_unref(self->pending);
    self->pending = ch_snapshot_ref(snap);
    pthread_cond_signal(&self->wake);
  }
  pthread_mutex_unlock(&self->lock);
}

static ch_status builtin_init(ch_model *model, const ch_models_env *env) {
  builtin *self = ch_calloc(1, sizeof(*self));
  self->ngram = ch_ngram_new();
  self->index = env ? env->index : NULL;
  pthread_mutex_init(&self->lock, NULL);
  pthread_cond_init(&self->wake, NULL);
  if(self->index && env->blocking_init) {
    /* Nothing else runs yet (a command line tool): build now so that the
     * first request already has the model. */
    ch_snapshot *snap = ch_index_snapshot(self->index);
    ch_status st = ch_ngram_update(self->ngram, snap);
    if(st) ch_log_warn("builtin model: build failed: %s", ch_strerror(st));
    self->handed = snap; /* keeps the reference */
  }
  if(self->index) {
    if(pthread_create(&self->thread, NULL, updater, self) != 0) {
      ch_log_error("builtin model: cannot start its update thread");
      pthread_cond_destroy(&self->wake);
      pthread_mutex_destroy(&self->lock);
      ch_ngram_free(self->ngram);
      ch_free(self);
      return CH_ERR_IO;
    }
    self->have_thread = true;
    /* Start building now rather than at the first request (a no-op when
     * the blocking build above already has this snapshot). */
    ch_snapshot *snap = ch_index_snapshot(self->index);
    hand_over(self, snap);
    ch_snapshot_unref(snap);
  }
  ch_model_set_state(model, self);
  return CH_OK;
}

static void builtin_release(ch_model *model) {
  builtin *self = ch_model_state(model);
  if(!self) return;
  if(self->have_thread) {
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
  }
  ch_snapshot_unref(self->pending);
  ch_snapshot_unref(self->handed);
  ch_ngram_free(self->ngram);
  pthread_cond_destroy(&self->wake);
  pthread_mutex_destroy(&self->lock);
  ch_free(self);
  ch_model_set_state(model, NULL);
}

/* "src/a.c:12": the path relative to its root when the snapshot has the
 * file, else as given; the line one-based. */
static char *provenance(const ch_snapshot *snap, const char *abs,
                        uint32_t row) {
  uint32_t id;
  const ch_record *r = NULL;
  if(ch_snapshot_lookup(snap, abs, &id)) r = ch_snapshot_file(snap, id);
  return ch_strdupf("%s:%u", r ? r->path : abs, row + 1);
}

static ch_status builtin_start(ch_model_call *call) {
  const ch_model *model = ch_model_call_model(call);
  builtin *self = ch_model_state(model);
  const ch_model_request *req = ch_model_call_request(call);
  if(!self || !self->index) {
    ch_model_call_finish_reason(call, "stop");
    ch_model_call_done(call);
    return CH_OK;
  }
  ch_snapshot *snap = ch_index_snapshot(self->index);
  hand_over(self, snap);
  uint32_t id = CH_NONE;
  if(!req->path || !ch_snapshot_lookup(snap, req->path, &id)) id = CH_NONE;
  /* The prefix is the text before the cursor; a cursor that disagrees
   * with it is taken from the prefix. */
  uint32_t cursor = req->cursor;
  if(req->prefix_len > cursor) cursor = (uint32_t)req->prefix_len;
  ch_ngram_options opt = {0};
  opt.language = req->language ? ch_syntax_by_name(req->language) : NULL;
  uint32_t max_tokens = ch_model_max_tokens(model, req);
  /* About four bytes per model token; at least a line's worth. */
  opt.max_bytes = max_tokens ? CH_MAX(max_tokens * 4, 80u) : 0;
  ch_ngram_result res;
  ch_status st = ch_ngram_complete(self->ngram, snap, id, req->path, cursor,
                                   req->prefix ? req->prefix : "",
                                   req->prefix_len, &opt, &res);
  if(st == CH_OK) {
    ch_model_call_emit(call, res.text, res.len);
    char *where = provenance(snap, res.path, res.line);
    ch_model_call_provenance(call, res.confidence, where);
    ch_free(where);
    ch_ngram_result_release(&res);
  } else if(st != CH_ERR_NOT_FOUND) {
    ch_log_debug("builtin model: %s", ch_strerror(st));
  }
  ch_model_call_finish_reason(call, "stop");
  ch_snapshot_unref(snap);
  ch_model_call_done(call);
  return CH_OK;
}

/* The index published a snapshot: let the thread catch up now, so that the
 * next request finds the model current instead of triggering the update. */
static void builtin_index_changed(ch_model *model) {
  builtin *self = ch_model_state(model);
  if(!self || !self->index) return;
  ch_snapshot *snap = ch_index_snapshot(self->index);
  hand_over(self, snap);
  ch_snapshot_unref(snap);
}

static void builtin_cancel(ch_model_call *call) {
  /* start leaves nothing pending but the delivery, which the call owns. */
  (void)call;
}

const ch_provider ch_provider_builtin = {
    .name = "builtin",
    .needs_endpoint = false,
    .model_init = builtin_init,
    .model_release = builtin_release,
    .start = builtin_start,
    .cancel = builtin_cancel,
    .index_changed = builtin_index_changed,
};
