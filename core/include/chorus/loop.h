/*
 * chorus/loop.h: the event loop that one thread owns.
 *
 * One thread runs ch_loop_run. It sleeps in curl_multi_poll on the loop's
 * single curl multi handle, with the descriptors it was asked to watch
 * (stdin, stdout while output is pending, later inotify) as extra
 * descriptors, and with a timeout computed from the nearest timer. Each turn
 * has fixed phases, in this order:
 *
 *   1. before-sleep hook (flush queued output; may watch stdout for POLLOUT)
 *   2. sleep in curl_multi_poll until a descriptor, a transfer, the nearest
 *      timer or a wake-up from another thread
 *   3. descriptor callbacks for the descriptors that are ready
 *   4. curl_multi_perform, then one callback per finished transfer
 *   5. timers that are due, earliest first
 *   6. callbacks posted from other threads, in the order they were posted
 *
 * Lives in core (not lsp) because model transfers are added to it by core
 * modules; it knows nothing of JSON-RPC.
 *
 * Callbacks: a function here that takes a callback and returns an error
 * never calls it; otherwise it is called exactly once (timers: unless
 * stopped first; transfers: unless removed first; descriptors: every time
 * they are ready while watched).
 *
 * Threads: every function must be called on the loop's thread, except
 * ch_loop_post and ch_loop_stop, which any thread may call.
 */
#ifndef CHORUS_LOOP_H
#define CHORUS_LOOP_H

#include <curl/curl.h>

#include "chorus/util.h"

typedef struct ch_loop ch_loop;

/* Descriptor events, in and out. */
enum {
  CH_LOOP_READ = 1,   /* readable, or end of file */
  CH_LOOP_WRITE = 2,  /* writable */
  CH_LOOP_HANGUP = 4, /* out only: peer closed or error; read/write to learn */
};

typedef void (*ch_loop_fd_cb)(ch_loop *loop, int fd, unsigned events,
                              void *userdata);
typedef void (*ch_loop_cb)(ch_loop *loop, void *userdata);
/* A finished transfer: `result` is curl's code for it. The easy handle has
 * been removed from the multi handle and belongs to the callee again. */
typedef void (*ch_loop_transfer_cb)(ch_loop *loop, CURL *easy,
                                    CURLcode result, void *userdata);

/* A new loop with its own curl multi handle. curl_global_init must have
 * run. Returns NULL and sets *error on failure. */
ch_loop *ch_loop_new(ch_status *error);
/* Frees the loop. Transfers still in it are removed (their callbacks are
 * not called; the easy handles are not cleaned up: they are the caller's),
 * posted callbacks not yet run are dropped. ch_loop_free(NULL) is a no-op. */
void ch_loop_free(ch_loop *self);

/* Borrowed: the loop's multi handle, for options such as connection caps. */
CURLM *ch_loop_multi(ch_loop *self);

/* Watches fd for `events` (CH_LOOP_READ | CH_LOOP_WRITE), replacing any
 * earlier watch of the same fd; events == 0 stops watching. */
ch_status ch_loop_watch(ch_loop *self, int fd, unsigned events,
                        ch_loop_fd_cb cb, void *userdata);

/* A one-shot timer `delay_ms` from now. Returns its id (never 0). */
uint64_t ch_loop_timer_start(ch_loop *self, uint64_t delay_ms, ch_loop_cb cb,
                             void *userdata);
/* Stops a timer that has not fired. Returns false if it had fired or was
 * not found (then nothing happens). */
bool ch_loop_timer_stop(ch_loop *self, uint64_t id);

/* Adds a configured easy handle; cb runs when it finishes. The loop uses
 * CURLOPT_PRIVATE of the handle: do not set it. */
ch_status ch_loop_transfer_add(ch_loop *self, CURL *easy,
                               ch_loop_transfer_cb cb, void *userdata);
/* Removes a transfer at once (this aborts it: the connection is closed if
 * it was mid-transfer). Its callback is not called. */
void ch_loop_transfer_remove(ch_loop *self, CURL *easy);
/* Number of transfers in flight. */
size_t ch_loop_transfer_count(const ch_loop *self);

/* Runs cb on the loop thread at the end of the next turn and wakes the loop.
 * Safe from any thread. */
void ch_loop_post(ch_loop *self, ch_loop_cb cb, void *userdata);

/* Called at the start of each turn, before the loop sleeps. */
void ch_loop_set_before_sleep(ch_loop *self, ch_loop_cb cb, void *userdata);

/* Runs turns until ch_loop_stop. Returns CH_OK, or CH_ERR_IO if polling
 * failed in a way the loop cannot recover from. */
ch_status ch_loop_run(ch_loop *self);
/* Makes ch_loop_run return after the current turn, or at once if it is
 * called before ch_loop_run starts. Safe from any thread. */
void ch_loop_stop(ch_loop *self);

/* The loop's clock in milliseconds (monotonic), read at the start of the
 * turn's callback phases. */
uint64_t ch_loop_now(const ch_loop *self);

#endif
