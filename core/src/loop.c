/* loop.c: one thread, one curl multi handle, descriptors, timers, posts. */
#include "chorus/loop.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

typedef struct watch {
  int fd;
  unsigned events;
  ch_loop_fd_cb cb;
  void *userdata;
} watch;

typedef struct timer {
  uint64_t id;
  uint64_t due_ms;
  ch_loop_cb cb;
  void *userdata;
} timer;

typedef struct transfer {
  CURL *easy;
  ch_loop_transfer_cb cb;
  void *userdata;
  struct transfer *prev, *next; /* the loop's list of transfers in flight */
} transfer;

typedef struct post {
  ch_loop_cb cb;
  void *userdata;
} post;

struct ch_loop {
  CURLM *multi;
  uint64_t now_ms;
  atomic_bool stopping;

  watch *watches; /* a handful: stdin, stdout, inotify */
  size_t nwatches, watches_cap;

  /* Timers are few (debounces, deadlines): an unsorted array scanned for
   * the earliest is simpler than a heap and as fast at this size. */
  timer *timers;
  size_t ntimers, timers_cap;
  uint64_t next_timer_id;

  transfer *transfers; /* head of the list */
  size_t ntransfers;

  pthread_mutex_t post_lock; /* guards posts, nposts, posts_cap */
  post *posts;
  size_t nposts, posts_cap;

  ch_loop_cb before_sleep;
  void *before_sleep_userdata;
};

ch_loop *ch_loop_new(ch_status *error) {
  CURLM *multi = curl_multi_init();
  if(!multi) {
    if(error) *error = CH_ERR_IO;
    return NULL;
  }
  ch_loop *self = ch_calloc(1, sizeof(*self));
  self->multi = multi;
  self->next_timer_id = 1;
  self->now_ms = ch_now_ms();
  pthread_mutex_init(&self->post_lock, NULL);
  return self;
}

void ch_loop_free(ch_loop *self) {
  if(!self) return;
  /* Detach whatever transfers remain; their handles are the owners'. */
  while(self->transfers) ch_loop_transfer_remove(self, self->transfers->easy);
  curl_multi_cleanup(self->multi);
  pthread_mutex_destroy(&self->post_lock);
  ch_free(self->watches);
  ch_free(self->timers);
  ch_free(self->posts);
  ch_free(self);
}

CURLM *ch_loop_multi(ch_loop *self) { return self->multi; }

uint64_t ch_loop_now(const ch_loop *self) { return self->now_ms; }

/* ---- descriptors --------------------------------------------------------- */

ch_status ch_loop_watch(ch_loop *self, int fd, unsigned events,
                        ch_loop_fd_cb cb, void *userdata) {
  if(fd < 0) return CH_ERR_INVALID;
  for(size_t i = 0; i < self->nwatches; i++) {
    if(self->watches[i].fd != fd) continue;
    if(!events) {
      self->watches[i] = self->watches[--self->nwatches];
      return CH_OK;
    }
    self->watches[i] = (watch){fd, events, cb, userdata};
    return CH_OK;
  }
  if(!events) return CH_OK;
  if(!cb) return CH_ERR_INVALID;
  if(self->nwatches == self->watches_cap) {
    self->watches_cap = self->watches_cap ? self->watches_cap * 2 : 4;
    self->watches = ch_realloc(self->watches,
                               self->watches_cap * sizeof(*self->watches));
  }
  self->watches[self->nwatches++] = (watch){fd, events, cb, userdata};
  return CH_OK;
}

/* ---- timers -------------------------------------------------------------- */

uint64_t ch_loop_timer_start(ch_loop *self, uint64_t delay_ms, ch_loop_cb cb,
                             void *userdata) {
  if(self->ntimers == self->timers_cap) {
    self->timers_cap = self->timers_cap ? self->timers_cap * 2 : 8;
    self->timers =
        ch_realloc(self->timers, self->timers_cap * sizeof(*self->timers));
  }
  uint64_t id = self->next_timer_id++;
  self->timers[self->ntimers++] =
      (timer){id, ch_now_ms() + delay_ms, cb, userdata};
  return id;
}

bool ch_loop_timer_stop(ch_loop *self, uint64_t id) {
  for(size_t i = 0; i < self->ntimers; i++) {
    if(self->timers[i].id == id) {
      self->timers[i] = self->timers[--self->ntimers];
      return true;
    }
  }
  return false;
}

/* Milliseconds until the nearest timer, or -1 when there is none. */
static long next_timeout(const ch_loop *self, uint64_t now) {
  long best = -1;
  for(size_t i = 0; i < self->ntimers; i++) {
    uint64_t due = self->timers[i].due_ms;
    long wait = due <= now ? 0 : (long)CH_MIN(due - now, (uint64_t)86400000);
    if(best < 0 || wait < best) best = wait;
  }
  return best;
}

static void run_due_timers(ch_loop *self) {
  /* Fire in due order; a callback may start or stop timers, so look the
   * earliest up again each time; timers started by these callbacks wait
   * for the next turn even with delay 0, so a re-arming timer cannot
   * starve the rest of the loop. */
  uint64_t now = self->now_ms;
  uint64_t first_new_id = self->next_timer_id; /* started during this phase */
  for(;;) {
    size_t best = SIZE_MAX;
    for(size_t i = 0; i < self->ntimers; i++) {
      if(self->timers[i].due_ms > now || self->timers[i].id >= first_new_id)
        continue;
      if(best == SIZE_MAX || self->timers[i].due_ms < self->timers[best].due_ms)
        best = i;
    }
    if(best == SIZE_MAX) return;
    timer t = self->timers[best];
    self->timers[best] = self->timers[--self->ntimers];
    t.cb(self, t.userdata);
  }
}

/* ---- transfers ----------------------------------------------------------- */

ch_status ch_loop_transfer_add(ch_loop *self, CURL *easy,
                               ch_loop_transfer_cb cb, void *userdata) {
  if(!easy || !cb) return CH_ERR_INVALID;
  transfer *existing = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&existing);
  if(existing) return CH_ERR_STATE; /* already in this loop */
  transfer *t = ch_calloc(1, sizeof(*t));
  t->easy = easy;
  t->cb = cb;
  t->userdata = userdata;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)t);
  if(curl_multi_add_handle(self->multi, easy) != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    ch_free(t);
    return CH_ERR_INVALID;
  }
  t->next = self->transfers;
  if(t->next) t->next->prev = t;
  self->transfers = t;
  self->ntransfers++;
  return CH_OK;
}

/* Unlinks and frees the record of a transfer; the handle leaves the multi. */
static void forget_transfer(ch_loop *self, transfer *t) {
  curl_multi_remove_handle(self->multi, t->easy);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
  if(t->prev)
    t->prev->next = t->next;
  else
    self->transfers = t->next;
  if(t->next) t->next->prev = t->prev;
  self->ntransfers--;
  ch_free(t);
}

void ch_loop_transfer_remove(ch_loop *self, CURL *easy) {
  transfer *t = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
  if(t) forget_transfer(self, t);
}

size_t ch_loop_transfer_count(const ch_loop *self) { return self->ntransfers; }

static void drain_transfers(ch_loop *self) {
  int running = 0;
  curl_multi_perform(self->multi, &running);
  CURLMsg *msg;
  int left = 0;
  while((msg = curl_multi_info_read(self->multi, &left))) {
    if(msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    transfer *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    if(!t) continue;
    ch_loop_transfer_cb cb = t->cb;
    void *userdata = t->userdata;
    forget_transfer(self, t);
    cb(self, easy, result, userdata);
  }
}

/* ---- posts from other threads -------------------------------------------- */

void ch_loop_post(ch_loop *self, ch_loop_cb cb, void *userdata) {
  pthread_mutex_lock(&self->post_lock);
  if(self->nposts == self->posts_cap) {
    self->posts_cap = self->posts_cap ? self->posts_cap * 2 : 16;
    self->posts =
        ch_realloc(self->posts, self->posts_cap * sizeof(*self->posts));
  }
  self->posts[self->nposts++] = (post){cb, userdata};
  pthread_mutex_unlock(&self->post_lock);
  curl_multi_wakeup(self->multi);
}

static bool has_posts(ch_loop *self) {
  pthread_mutex_lock(&self->post_lock);
  bool any = self->nposts > 0;
  pthread_mutex_unlock(&self->post_lock);
  return any;
}

static void run_posts(ch_loop *self) {
  /* Swap the queue out under the lock so callbacks may post again. */
  pthread_mutex_lock(&self->post_lock);
  post *list = self->posts;
  size_t n = self->nposts;
  self->posts = NULL;
  self->nposts = 0;
  self->posts_cap = 0;
  pthread_mutex_unlock(&self->post_lock);
  for(size_t i = 0; i < n; i++) list[i].cb(self, list[i].userdata);
  ch_free(list);
}

/* ---- the turn ------------------------------------------------------------ */

void ch_loop_set_before_sleep(ch_loop *self, ch_loop_cb cb, void *userdata) {
  self->before_sleep = cb;
  self->before_sleep_userdata = userdata;
}

void ch_loop_stop(ch_loop *self) {
  atomic_store(&self->stopping, true);
  curl_multi_wakeup(self->multi);
}

static unsigned to_curl_events(unsigned events) {
  unsigned out = 0;
  if(events & CH_LOOP_READ) out |= CURL_WAIT_POLLIN;
  if(events & CH_LOOP_WRITE) out |= CURL_WAIT_POLLOUT;
  return out;
}

ch_status ch_loop_run(ch_loop *self) {
  struct curl_waitfd *fds = NULL;
  struct pollfd *pfds = NULL;
  size_t fds_cap = 0;
  ch_status result = CH_OK;

  /* A stop requested before the run (from another thread) is honoured;
   * the flag is cleared on the way out so the loop can run again. */
  while(!atomic_load(&self->stopping)) {
    if(self->before_sleep) self->before_sleep(self, self->before_sleep_userdata);
    if(atomic_load(&self->stopping)) break;

    size_t n = self->nwatches;
    if(n > fds_cap) {
      fds_cap = n * 2;
      fds = ch_realloc(fds, fds_cap * sizeof(*fds));
      pfds = ch_realloc(pfds, fds_cap * sizeof(*pfds));
    }
    for(size_t i = 0; i < n; i++) {
      fds[i].fd = self->watches[i].fd;
      fds[i].events = (short)to_curl_events(self->watches[i].events);
      fds[i].revents = 0;
    }

    long timeout = next_timeout(self, ch_now_ms());
    if(has_posts(self)) timeout = 0;
    if(timeout < 0 || timeout > 60000) timeout = 60000;

    int numfds = 0;
    CURLMcode mc =
        curl_multi_poll(self->multi, fds, (unsigned)n, (int)timeout, &numfds);
    if(mc != CURLM_OK) {
      ch_log_error("event loop: curl_multi_poll failed: %s",
                   curl_multi_strerror(mc));
      result = CH_ERR_IO;
      break;
    }
    self->now_ms = ch_now_ms();

    /* curl reports only POLLIN/POLLOUT/POLLPRI for extra descriptors and
     * drops POLLHUP and POLLERR: a closed pipe would then look idle while
     * poll keeps returning at once. When anything woke us, ask the kernel
     * directly about the descriptors curl said nothing about. */
    if(numfds > 0) {
      size_t np = 0;
      for(size_t i = 0; i < n; i++) {
        if(fds[i].revents) continue;
        pfds[np].fd = fds[i].fd;
        pfds[np].events = 0;
        pfds[np].revents = 0;
        np++;
      }
      if(np && poll(pfds, np, 0) > 0) {
        for(size_t j = 0, i = 0; j < np; j++) {
          if(!(pfds[j].revents & (POLLHUP | POLLERR | POLLNVAL))) continue;
          while(i < n && fds[i].fd != pfds[j].fd) i++;
          if(i < n) fds[i].revents = 0x8000; /* marks a hang-up */
        }
      }
    }

    /* Callbacks may change the watch list: dispatch from our copy and look
     * each watch up again by descriptor. */
    for(size_t i = 0; i < n; i++) {
      if(!fds[i].revents) continue;
      unsigned ev = 0;
      if(fds[i].revents & CURL_WAIT_POLLIN) ev |= CH_LOOP_READ;
      if(fds[i].revents & CURL_WAIT_POLLOUT) ev |= CH_LOOP_WRITE;
      if(fds[i].revents & 0x8000) ev |= CH_LOOP_HANGUP | CH_LOOP_READ;
      for(size_t w = 0; w < self->nwatches; w++) {
        if(self->watches[w].fd != fds[i].fd) continue;
        watch copy = self->watches[w];
        copy.cb(self, copy.fd, ev, copy.userdata);
        break;
      }
    }

    drain_transfers(self);
    run_due_timers(self);
    run_posts(self);
  }
  atomic_store(&self->stopping, false);
  ch_free(fds);
  ch_free(pfds);
  return result;
}
