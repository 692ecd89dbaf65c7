/*
 * server_internal.h: the server's state and helpers, shared by the files of
 * the server (server.c: transport, lifecycle and documents; index_sync.c:
 * the repository index). Loop thread only.
 */
#ifndef CHORUS_LSP_SERVER_INTERNAL_H
#define CHORUS_LSP_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "chorus/config.h"
#include "chorus/index.h"
#include "chorus/loop.h"
#include "chorus/watch.h"
#include "documents.h"
#include "rpc.h"
#include "server.h"
#include "transport.h"

typedef enum server_state {
  STATE_STARTING = 0, /* no initialize yet */
  STATE_RUNNING,      /* initialize answered */
  STATE_SHUT_DOWN,    /* shutdown answered; only exit is meaningful */
} server_state;

/* One message of a batch, parsed but not yet dispatched. */
typedef struct queued {
  cJSON *msg;        /* NULL for a framing or parse error */
  int error_code;    /* when msg is NULL */
  char *error;       /* when msg is NULL; owned */
  bool cancelled;    /* a $/cancelRequest in the batch named it */
} queued;

struct ch_models;
typedef struct pending_complete pending_complete;

typedef struct server {
  ch_loop *loop;
  ch_reader reader;
  int in_fd, out_fd;
  bool in_eof;

  ch_buf out; /* framed output not yet written */
  size_t out_pos; /* bytes of `out` already written */
  bool out_watched;
  bool out_broken; /* the client stopped reading */

  queued *batch;
  size_t nbatch, batch_cap;

  server_state state;
  bool got_initialized;
  int exit_code;
  bool exiting;

  ch_config config;
  bool cli_log_level; /* --log-level given: it wins */
  ch_log_level cli_level;

  ch_documents docs;
  size_t max_message;
  pthread_t loop_thread;
  bool log_to_client; /* initialize received: logMessage is allowed */
  long next_request_id; /* ids of requests the server sends */

  /* What the client said it can do, from initialize. */
  bool client_progress;      /* window.workDoneProgress */
  bool client_watch_dynamic; /* didChangeWatchedFiles.dynamicRegistration */

  /* The repository index (index_sync.c). */
  ch_index *index;
  ch_map pending_docs;      /* uri -> 1: text changed, index not told yet */
  uint64_t doc_timer;       /* debounce timer for pending_docs, 0 if none */
  long progress_request;    /* id of window/workDoneProgress/create, or 0 */
  int progress_state;       /* 0 none, 1 requested, 2 begun, 3 ended */
  uint64_t progress_last_ms;
  atomic_bool index_changed; /* an index change is queued for the loop */
  /* inotify, for clients that cannot watch files for the server. */
  struct ch_watcher *watcher;
  pthread_t *watch_threads; /* adding trees to the watcher */
  size_t nwatch_threads;
  char **root_paths; /* the workspace roots, owned */
  size_t nroot_paths;

  /* Model completions (complete.c). */
  struct ch_models *models; /* built from the config on first use */
  bool models_stale;        /* the config changed since they were built */
  pending_complete *completes; /* chorus/complete requests in flight */
  struct ch_guard *guard;      /* from the config, rebuilt with the models */
  struct preparer *prep;       /* the thread that builds contexts */
  size_t prep_outstanding;     /* contexts being built (cancelled ones too) */
} server;

typedef struct request {
  server *self;
  const cJSON *id;     /* NULL for notifications */
  const cJSON *params; /* may be NULL */
  const char *method;
} request;

/* Replies and notifications, queued for the next flush. */
void server_reply_result(server *self, const cJSON *id, cJSON *result);
void server_reply_error(server *self, const cJSON *id, int code,
                        const char *message);
/* An error with a `data` member (taken). */
void server_reply_error_data(server *self, const cJSON *id, int code,
                             const char *message, cJSON *data);
void server_notify(server *self, const char *method, cJSON *params);
/* Sends a request to the client; returns its id. */
long server_request(server *self, const char *method, cJSON *params);
/* An error reply for a request, a warning for a notification. */
void server_invalid_params(request *r, ch_rpc_err *err);

/* index_sync.c */
void index_start(server *self, const cJSON *params);
void index_stop(server *self);
void index_after_initialized(server *self);
void index_response(server *self, long id, const cJSON *msg);
void index_doc_opened(server *self, const ch_document *doc);
void index_doc_closed(server *self, const char *uri);
void index_doc_edited(const ch_document *doc, const ch_edit *edit, void *ud);
void handle_did_change_watched_files(request *r);
void handle_did_change_workspace_folders(request *r);
void handle_find_definitions(request *r);
void handle_index_status(request *r);
void index_file_saved(server *self, const char *uri);

/* complete.c */
/* Builds the models from the config, so the builtin model starts learning
 * from the index at once; after index_start. */
void complete_start(server *self);
void handle_complete(request *r);
/* Cancels the chorus/complete request with this id (its transfer is
 * aborted and it is answered RequestCancelled); false when none is. */
bool complete_cancel(server *self, const cJSON *id);
void complete_config_changed(server *self);
/* Cancels what is in flight and frees the models; before the loop goes. */
void complete_stop(server *self);

#endif
