/* Tests for core/src/loop.c: timers, descriptors, posts from other threads
 * and real curl transfers against tiny HTTP servers on loopback.
 *
 * Every test that runs the loop arms a watchdog timer, so a loop that never
 * stops fails the test in seconds instead of hanging until the harness
 * timeout. Timing is checked as order and lower bounds, never exact. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chorus/loop.h"

#define WATCHDOG_MS 5000

/* ---- helpers ------------------------------------------------------------- */

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while(nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static bool watchdog_fired;

static void on_watchdog(ch_loop *loop, void *userdata) {
  (void)userdata;
  watchdog_fired = true;
  ch_loop_stop(loop);
}

/* A loop with the watchdog armed. */
static ch_loop *loop_new(void) {
  ch_status status = CH_ERR_STATE;
  ch_loop *loop = ch_loop_new(&status);
  assert_non_null(loop);
  watchdog_fired = false;
  ch_loop_timer_start(loop, WATCHDOG_MS, on_watchdog, NULL);
  return loop;
}

static void run(ch_loop *loop) {
  assert_int_equal(ch_loop_run(loop), CH_OK);
  if(watchdog_fired) fail_msg("the loop did not stop by itself");
}

static void stop_cb(ch_loop *loop, void *userdata) {
  (void)userdata;
  ch_loop_stop(loop);
}

/* Counts turns: the before-sleep hook runs once at the start of each. */
static unsigned turns;
static void count_turn(ch_loop *loop, void *userdata) {
  (void)loop;
  (void)userdata;
  turns++;
}

/* ---- timers -------------------------------------------------------------- */

typedef struct fired {
  uint64_t started_lo, started_hi; /* ch_now_ms() around timer_start */
  uint64_t delay;
  uint64_t at; /* ch_now_ms() in the callback */
  int order;   /* 1-based firing order; 0: not fired */
} fired;

static fired timers[8];
static int nfired;
static int nexpected;

static void on_timer(ch_loop *loop, void *userdata) {
  fired *f = userdata;
  assert_int_equal(f->order, 0); /* one-shot */
  f->at = ch_now_ms();
  f->order = ++nfired;
  if(nfired == nexpected) ch_loop_stop(loop);
}

static void start_timer(ch_loop *loop, fired *f, uint64_t delay) {
  memset(f, 0, sizeof(*f));
  f->delay = delay;
  f->started_lo = ch_now_ms();
  uint64_t id = ch_loop_timer_start(loop, delay, on_timer, f);
  f->started_hi = ch_now_ms();
  assert_true(id != 0);
}

/* Every timer fired, not before its delay, and in due order: a timer that
 * fired after another was not certainly due earlier. */
static void check_fired(size_t n) {
  for(size_t i = 0; i < n; i++) {
    const fired *f = &timers[i];
    assert_true(f->order > 0);
    if(f->at < f->started_lo + f->delay)
      fail_msg("timer %zu (%u ms) fired after %u ms", i, (unsigned)f->delay,
               (unsigned)(f->at - f->started_lo));
    for(size_t j = 0; j < n; j++) {
      const fired *g = &timers[j];
      if(g->order <= f->order) continue;
      /* g fired later, so g's due time must not be surely before f's. */
      if(g->started_hi + g->delay < f->started_lo + f->delay)
        fail_msg("timer %zu (%u ms) fired after timer %zu (%u ms)", j,
                 (unsigned)g->delay, i, (unsigned)f->delay);
    }
  }
}

static void test_timers_fire_in_due_order(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  static const uint64_t delays[] = {30, 6, 18, 1, 24, 12};
  nfired = 0;
  nexpected = CH_ARRAY_LEN(delays);
  for(size_t i = 0; i < CH_ARRAY_LEN(delays); i++)
    start_timer(loop, &timers[i], delays[i]);
  run(loop);
  assert_int_equal(nfired, nexpected);
  check_fired(CH_ARRAY_LEN(delays));
  ch_loop_free(loop);
}

/* Timers that are all due by the time the loop first looks still fire
 * earliest first within the one turn. */
static void test_timers_due_together_fire_in_order(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  static const uint64_t delays[] = {4, 1, 3, 0, 2};
  nfired = 0;
  nexpected = CH_ARRAY_LEN(delays);
  for(size_t i = 0; i < CH_ARRAY_LEN(delays); i++)
    start_timer(loop, &timers[i], delays[i]);
  sleep_ms(10);
  run(loop);
  check_fired(CH_ARRAY_LEN(delays));
  ch_loop_free(loop);
}

static bool stopped_fired;
static void must_not_fire(ch_loop *loop, void *userdata) {
  (void)loop;
  (void)userdata;
  stopped_fired = true;
}

static void test_stopped_timer_never_fires(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  stopped_fired = false;
  uint64_t a = ch_loop_timer_start(loop, 5, must_not_fire, NULL);
  uint64_t b = ch_loop_timer_start(loop, 1, must_not_fire, NULL);
  uint64_t c = ch_loop_timer_start(loop, 25, stop_cb, NULL);
  assert_true(a != 0 && b != 0 && c != 0);
  assert_true(a != b && b != c && a != c);
  assert_true(ch_loop_timer_stop(loop, a));
  assert_false(ch_loop_timer_stop(loop, a)); /* already stopped */
  assert_true(ch_loop_timer_stop(loop, b));
  assert_false(ch_loop_timer_stop(loop, 0));
  assert_false(ch_loop_timer_stop(loop, 123456));
  run(loop);
  assert_false(stopped_fired);
  /* A timer that fired cannot be stopped. */
  assert_false(ch_loop_timer_stop(loop, c));
  ch_loop_free(loop);
}

/* A callback that stops a timer due in the same turn. */
static uint64_t victim_id;
static void stop_victim(ch_loop *loop, void *userdata) {
  (void)userdata;
  assert_true(ch_loop_timer_stop(loop, victim_id));
  ch_loop_timer_start(loop, 5, stop_cb, NULL);
}

static void test_timer_stopped_by_earlier_timer_in_same_turn(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  stopped_fired = false;
  ch_loop_timer_start(loop, 1, stop_victim, NULL);
  victim_id = ch_loop_timer_start(loop, 3, must_not_fire, NULL);
  sleep_ms(10); /* both are due when the loop first looks */
  run(loop);
  assert_false(stopped_fired);
  ch_loop_free(loop);
}

typedef struct chain {
  uint64_t first_at;
  uint64_t second_at;
  int calls;
} chain;

static void chain_second(ch_loop *loop, void *userdata) {
  chain *c = userdata;
  c->second_at = ch_now_ms();
  c->calls++;
  ch_loop_stop(loop);
}

static void chain_first(ch_loop *loop, void *userdata) {
  chain *c = userdata;
  c->first_at = ch_now_ms();
  c->calls++;
  assert_true(ch_loop_timer_start(loop, 10, chain_second, c) != 0);
}

static void test_timer_starts_timer(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  chain c = {0, 0, 0};
  ch_loop_timer_start(loop, 2, chain_first, &c);
  run(loop);
  assert_int_equal(c.calls, 2);
  assert_true(c.second_at >= c.first_at + 10);
  ch_loop_free(loop);
}

/* A timer re-armed with delay 0 from its own callback must wait for the
 * next turn (loop.c says so in run_due_timers), or a chain of them would
 * starve descriptors and posts. */
#define REARMS 20
static unsigned rearm_turn[REARMS];
static int rearms;

static void rearm(ch_loop *loop, void *userdata) {
  (void)userdata;
  rearm_turn[rearms++] = turns;
  if(rearms == REARMS) {
    ch_loop_stop(loop);
    return;
  }
  ch_loop_timer_start(loop, 0, rearm, NULL);
}

static void test_timer_rearmed_with_zero_delay_waits_a_turn(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  turns = 0;
  rearms = 0;
  ch_loop_set_before_sleep(loop, count_turn, NULL);
  ch_loop_timer_start(loop, 0, rearm, NULL);
  run(loop);
  ch_loop_free(loop);
  assert_int_equal(rearms, REARMS);
  int same_turn = 0;
  for(int i = 1; i < REARMS; i++)
    if(rearm_turn[i] <= rearm_turn[i - 1]) same_turn++;
  if(same_turn)
    fail_msg("%d of %d timers re-armed with delay 0 ran in the same turn as "
             "the callback that armed them (all %d ran in %u turns)",
             same_turn, REARMS - 1, REARMS,
             rearm_turn[REARMS - 1] - rearm_turn[0] + 1);
}

/* ---- ch_loop_stop -------------------------------------------------------- */

static int after_stop_posts;
static void count_post(ch_loop *loop, void *userdata) {
  (void)loop;
  (void)userdata;
  after_stop_posts++;
}

static void stop_then_post(ch_loop *loop, void *userdata) {
  (void)userdata;
  ch_loop_stop(loop);
  /* Stopping ends the loop after this turn; the loop does not wait for
   * this timer. */
  ch_loop_timer_start(loop, 10000, must_not_fire, NULL);
}

static void test_stop_from_callback(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  stopped_fired = false;
  ch_loop_timer_start(loop, 1, stop_then_post, NULL);
  uint64_t t0 = ch_now_ms();
  run(loop);
  assert_true(ch_now_ms() - t0 < 2000);
  assert_false(stopped_fired);

  /* The loop runs again after a stop. */
  after_stop_posts = 0;
  ch_loop_post(loop, count_post, NULL);
  ch_loop_timer_start(loop, 5, stop_cb, NULL);
  run(loop);
  assert_int_equal(after_stop_posts, 1);
  ch_loop_free(loop);
}

/* ---- posts from other threads -------------------------------------------- */

typedef struct wake {
  ch_loop *loop;
  pthread_t loop_thread;
  atomic_bool ran;
  bool on_loop_thread;
  uint64_t posted_at, ran_at;
} wake;

static void posted_stop(ch_loop *loop, void *userdata) {
  wake *w = userdata;
  w->on_loop_thread = pthread_equal(pthread_self(), w->loop_thread) != 0;
  w->ran_at = ch_now_ms();
  atomic_store(&w->ran, true);
  ch_loop_stop(loop);
}

static void *post_later(void *arg) {
  wake *w = arg;
  sleep_ms(50); /* the loop is asleep by now, with nothing to wake it */
  w->posted_at = ch_now_ms();
  ch_loop_post(w->loop, posted_stop, w);
  return NULL;
}

static void test_post_wakes_sleeping_loop(void **state) {
  (void)state;
  ch_status status = CH_ERR_STATE;
  /* No watchdog timer: the loop must sleep with no timeout of its own. A
   * missed wake-up shows as the loop sleeping its full poll interval. */
  ch_loop *loop = ch_loop_new(&status);
  assert_non_null(loop);
  wake w;
  memset(&w, 0, sizeof(w));
  w.loop = loop;
  w.loop_thread = pthread_self();
  atomic_init(&w.ran, false);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, post_later, &w), 0);
  uint64_t t0 = ch_now_ms();
  assert_int_equal(ch_loop_run(loop), CH_OK);
  uint64_t t1 = ch_now_ms();
  pthread_join(thread, NULL);
  assert_true(atomic_load(&w.ran));
  assert_true(w.on_loop_thread);
  if(w.ran_at - w.posted_at > 1000 || t1 - t0 > 3000)
    fail_msg("the posted callback ran %u ms after the post",
             (unsigned)(w.ran_at - w.posted_at));
  ch_loop_free(loop);
}

#define POSTERS 4
#define POSTS_EACH 2500

typedef struct poster {
  ch_loop *loop;
  int index;
} poster;

static atomic_int post_runs[POSTERS * POSTS_EACH];
static int last_seen[POSTERS];
static int total_runs;
static bool out_of_order;

static void posted_count(ch_loop *loop, void *userdata) {
  intptr_t k = (intptr_t)userdata;
  int t = (int)(k / POSTS_EACH), i = (int)(k % POSTS_EACH);
  atomic_fetch_add(&post_runs[k], 1);
  /* Posts from one thread run in the order they were posted. */
  if(i <= last_seen[t]) out_of_order = true;
  last_seen[t] = i;
  if(++total_runs == POSTERS * POSTS_EACH) ch_loop_stop(loop);
}

static void *post_many(void *arg) {
  poster *p = arg;
  for(int i = 0; i < POSTS_EACH; i++) {
    ch_loop_post(p->loop, posted_count,
                 (void *)(intptr_t)(p->index * POSTS_EACH + i));
    if(i % 500 == 0) sleep_ms(1); /* let some land while the loop sleeps */
  }
  return NULL;
}

static void test_posts_from_threads_run_once(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  for(size_t k = 0; k < CH_ARRAY_LEN(post_runs); k++)
    atomic_init(&post_runs[k], 0);
  for(int t = 0; t < POSTERS; t++)
    last_seen[t] = -1;
  total_runs = 0;
  out_of_order = false;
  poster posters[POSTERS];
  pthread_t threads[POSTERS];
  for(int t = 0; t < POSTERS; t++) {
    posters[t] = (poster){loop, t};
    assert_int_equal(pthread_create(&threads[t], NULL, post_many, &posters[t]),
                     0);
  }
  run(loop);
  for(int t = 0; t < POSTERS; t++)
    pthread_join(threads[t], NULL);
  assert_int_equal(total_runs, POSTERS * POSTS_EACH);
  for(size_t k = 0; k < CH_ARRAY_LEN(post_runs); k++) {
    if(atomic_load(&post_runs[k]) != 1)
      fail_msg("post %zu ran %d times", k, atomic_load(&post_runs[k]));
  }
  assert_false(out_of_order);
  ch_loop_free(loop);
}

/* A callback posted from a posted callback runs in a later turn. */
static unsigned post_turns[5];
static int nposts_chain;

static void post_again(ch_loop *loop, void *userdata) {
  (void)userdata;
  post_turns[nposts_chain++] = turns;
  if(nposts_chain == (int)CH_ARRAY_LEN(post_turns)) {
    ch_loop_stop(loop);
    return;
  }
  ch_loop_post(loop, post_again, NULL);
}

static void test_post_from_loop_thread_runs_next_turn(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  turns = 0;
  nposts_chain = 0;
  ch_loop_set_before_sleep(loop, count_turn, NULL);
  ch_loop_post(loop, post_again, NULL);
  run(loop);
  assert_int_equal(nposts_chain, CH_ARRAY_LEN(post_turns));
  for(size_t i = 1; i < CH_ARRAY_LEN(post_turns); i++)
    assert_true(post_turns[i] > post_turns[i - 1]);
  ch_loop_free(loop);
}

/* Posts not yet run when the loop is freed are dropped, not leaked. */
static void test_free_drops_pending_posts(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  after_stop_posts = 0;
  for(int i = 0; i < 100; i++)
    ch_loop_post(loop, count_post, NULL);
  ch_loop_free(loop);
  assert_int_equal(after_stop_posts, 0);
  ch_loop_free(NULL);
}

/* ---- descriptors --------------------------------------------------------- */

typedef struct pipe_watch {
  int fds[2];
  int calls;
  int calls_before_write;
  unsigned events;
  char got[16];
  ssize_t got_len;
  bool eof;
} pipe_watch;

static void on_readable(ch_loop *loop, int fd, unsigned events,
                        void *userdata) {
  pipe_watch *p = userdata;
  p->calls++;
  p->events |= events;
  assert_int_equal(fd, p->fds[0]);
  p->got_len = read(fd, p->got, sizeof(p->got));
  assert_int_equal(ch_loop_watch(loop, fd, 0, NULL, NULL), CH_OK);
  ch_loop_stop(loop);
}

static void write_pipe(ch_loop *loop, void *userdata) {
  (void)loop;
  pipe_watch *p = userdata;
  p->calls_before_write = p->calls;
  assert_int_equal(write(p->fds[1], "x", 1), 1);
}

static void test_watched_pipe_reads(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  pipe_watch p;
  memset(&p, 0, sizeof(p));
  assert_int_equal(pipe(p.fds), 0);
  assert_int_equal(ch_loop_watch(loop, p.fds[0], CH_LOOP_READ, on_readable, &p),
                   CH_OK);
  ch_loop_timer_start(loop, 20, write_pipe, &p);
  run(loop);
  assert_int_equal(p.calls_before_write, 0);
  assert_int_equal(p.calls, 1);
  assert_true(p.events & CH_LOOP_READ);
  assert_int_equal(p.got_len, 1);
  assert_int_equal(p.got[0], 'x');
  close(p.fds[0]);
  close(p.fds[1]);
  ch_loop_free(loop);
}

static int writable_calls;
static void on_writable(ch_loop *loop, int fd, unsigned events,
                        void *userdata) {
  (void)userdata;
  writable_calls++;
  assert_true(events & CH_LOOP_WRITE);
  ch_loop_watch(loop, fd, 0, NULL, NULL);
  ch_loop_stop(loop);
}

static void test_watch_write_and_invalid(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(ch_loop_watch(loop, -1, CH_LOOP_READ, on_writable, NULL),
                   CH_ERR_INVALID);
  /* Unwatching what is not watched is harmless. */
  assert_int_equal(ch_loop_watch(loop, fds[0], 0, NULL, NULL), CH_OK);
  writable_calls = 0;
  assert_int_equal(
      ch_loop_watch(loop, fds[1], CH_LOOP_WRITE, on_writable, NULL), CH_OK);
  run(loop);
  assert_int_equal(writable_calls, 1);
  close(fds[0]);
  close(fds[1]);
  ch_loop_free(loop);
}

/* The write end closes: the reader sees EOF (READ) and/or HANGUP. The
 * callback drains, and once read() says EOF it unwatches; from then on the
 * loop must sleep, not spin. */
static void on_closed(ch_loop *loop, int fd, unsigned events, void *userdata) {
  pipe_watch *p = userdata;
  p->calls++;
  p->events |= events;
  assert_true(events & (CH_LOOP_READ | CH_LOOP_HANGUP));
  char buf[8];
  ssize_t n = read(fd, buf, sizeof(buf));
  assert_true(n >= 0);
  if(n > 0) {
    assert_true(p->got_len + n <= (ssize_t)sizeof(p->got));
    memcpy(p->got + p->got_len, buf, (size_t)n);
    p->got_len += n;
    return;
  }
  p->eof = true;
  ch_loop_watch(loop, fd, 0, NULL, NULL);
  /* Stop a little later: turns counted meanwhile show whether it spins. */
  ch_loop_timer_start(loop, 30, stop_cb, NULL);
}

static void close_writer(ch_loop *loop, void *userdata) {
  (void)loop;
  pipe_watch *p = userdata;
  p->calls_before_write = p->calls;
  close(p->fds[1]);
  p->fds[1] = -1;
}

static void check_closed_pipe(const char *pending) {
  ch_loop *loop = loop_new();
  pipe_watch p;
  memset(&p, 0, sizeof(p));
  assert_int_equal(pipe(p.fds), 0);
  size_t pending_len = strlen(pending);
  if(pending_len)
    assert_int_equal(write(p.fds[1], pending, pending_len),
                     (ssize_t)pending_len);
  turns = 0;
  ch_loop_set_before_sleep(loop, count_turn, NULL);
  assert_int_equal(ch_loop_watch(loop, p.fds[0], CH_LOOP_READ, on_closed, &p),
                   CH_OK);
  ch_loop_timer_start(loop, 10, close_writer, &p);
  run(loop);
  assert_true(p.eof);
  assert_int_equal(p.got_len, (ssize_t)pending_len);
  assert_memory_equal(p.got, pending, pending_len);
  /* One call per read of the pending bytes, one for EOF. */
  assert_true(p.calls <= (int)(pending_len + 7) / 8 + 2);
  if(turns > 20) fail_msg("the loop spun: %u turns", turns);
  close(p.fds[0]);
  ch_loop_free(loop);
}

static void test_closed_pipe_reported_without_spinning(void **state) {
  (void)state;
  check_closed_pipe("");
}

static void test_closed_pipe_with_pending_data(void **state) {
  (void)state;
  check_closed_pipe("twelve bytes");
}

/* ---- transfers ----------------------------------------------------------- */

/* A one-connection HTTP server on 127.0.0.1 in a thread. With a reply, it
 * reads the request head, writes the reply and closes. Without one, it
 * holds the connection open and says when the client closed it. */
typedef struct server {
  int listener;
  int port;
  const char *reply; /* NULL: never answer */
  pthread_t thread;
  atomic_bool accepted;
  atomic_bool client_closed;
  atomic_bool quit;
} server;

static void *server_main(void *arg) {
  server *s = arg;
  int conn = -1;
  while(!atomic_load(&s->quit)) {
    struct pollfd pfd = {s->listener, POLLIN, 0};
    if(poll(&pfd, 1, 20) > 0) {
      conn = accept(s->listener, NULL, NULL);
      break;
    }
  }
  if(conn < 0) return NULL;
  atomic_store(&s->accepted, true);
  char req[4096];
  size_t have = 0;
  while(!atomic_load(&s->quit)) {
    struct pollfd pfd = {conn, POLLIN, 0};
    if(poll(&pfd, 1, 20) <= 0) continue;
    ssize_t n = recv(conn, req + have, sizeof(req) - 1 - have, 0);
    if(n <= 0) {
      atomic_store(&s->client_closed, true);
      break;
    }
    have += (size_t)n;
    req[have] = 0;
    if(s->reply && strstr(req, "\r\n\r\n")) {
      /* No cmocka asserts off the main thread: the test checks the
       * body that arrives instead. */
      (void)send(conn, s->reply, strlen(s->reply), MSG_NOSIGNAL);
      break;
    }
    if(have == sizeof(req) - 1) have = 0;
  }
  close(conn);
  return NULL;
}

static void server_start(server *s, const char *reply) {
  memset(s, 0, sizeof(*s));
  s->reply = reply;
  atomic_init(&s->accepted, false);
  atomic_init(&s->client_closed, false);
  atomic_init(&s->quit, false);
  s->listener = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->listener >= 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0; /* ephemeral */
  assert_int_equal(bind(s->listener, (struct sockaddr *)&addr, sizeof(addr)),
                   0);
  assert_int_equal(listen(s->listener, 4), 0);
  socklen_t alen = sizeof(addr);
  assert_int_equal(getsockname(s->listener, (struct sockaddr *)&addr, &alen),
                   0);
  s->port = ntohs(addr.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(server *s) {
  atomic_store(&s->quit, true);
  pthread_join(s->thread, NULL);
  close(s->listener);
}

static size_t collect_body(char *data, size_t size, size_t nmemb,
                           void *userdata) {
  ch_buf *body = userdata;
  if(ch_buf_append(body, data, size * nmemb)) return 0;
  return size * nmemb;
}

static CURL *easy_for(int port, ch_buf *body) {
  CURL *easy = curl_easy_init();
  assert_non_null(easy);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ping", port);
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_PROXY, ""); /* ignore *_proxy variables */
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
  return easy;
}

typedef struct done {
  int calls;
  CURLcode result;
  CURL *easy;
  size_t count_in_cb;
} done;

static void on_done(ch_loop *loop, CURL *easy, CURLcode result,
                    void *userdata) {
  done *d = userdata;
  d->calls++;
  d->result = result;
  d->easy = easy;
  d->count_in_cb = ch_loop_transfer_count(loop);
  ch_loop_stop(loop);
}

static void test_transfer_completes(void **state) {
  (void)state;
  server s;
  server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                   "Connection: close\r\n\r\nhello");
  ch_loop *loop = loop_new();
  ch_buf body;
  ch_buf_init(&body, 1024);
  CURL *easy = easy_for(s.port, &body);
  done d = {0, CURLE_OK, NULL, 99};
  assert_int_equal(ch_loop_transfer_add(loop, easy, on_done, &d), CH_OK);
  assert_int_equal(ch_loop_transfer_count(loop), 1);
  run(loop);
  assert_int_equal(d.calls, 1);
  assert_int_equal(d.result, CURLE_OK);
  assert_ptr_equal(d.easy, easy);
  assert_int_equal(d.count_in_cb, 0);
  assert_int_equal(ch_loop_transfer_count(loop), 0);
  assert_int_equal(body.len, 5);
  assert_string_equal(body.data, "hello");
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  assert_int_equal(code, 200);

  /* Run a little longer: the callback is not called a second time. */
  ch_loop_timer_start(loop, 20, stop_cb, NULL);
  run(loop);
  assert_int_equal(d.calls, 1);
  ch_loop_free(loop);
  curl_easy_cleanup(easy);
  ch_buf_release(&body);
  server_stop(&s);
}

static void test_transfer_refused(void **state) {
  (void)state;
  /* A port nobody listens on: bind one, note it, close it. */
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
  socklen_t alen = sizeof(addr);
  getsockname(sock, (struct sockaddr *)&addr, &alen);
  close(sock);

  ch_loop *loop = loop_new();
  ch_buf body;
  ch_buf_init(&body, 1024);
  CURL *easy = easy_for(ntohs(addr.sin_port), &body);
  done d = {0, CURLE_OK, NULL, 99};
  assert_int_equal(ch_loop_transfer_add(loop, easy, on_done, &d), CH_OK);
  run(loop);
  assert_int_equal(d.calls, 1);
  assert_int_equal(d.result, CURLE_COULDNT_CONNECT);
  assert_int_equal(ch_loop_transfer_count(loop), 0);
  ch_loop_free(loop);
  curl_easy_cleanup(easy);
  ch_buf_release(&body);
}

static void test_transfer_add_invalid(void **state) {
  (void)state;
  ch_loop *loop = loop_new();
  done d = {0, CURLE_OK, NULL, 99};
  assert_int_equal(ch_loop_transfer_add(loop, NULL, on_done, &d),
                   CH_ERR_INVALID);
  CURL *easy = curl_easy_init();
  assert_int_equal(ch_loop_transfer_add(loop, easy, NULL, &d), CH_ERR_INVALID);
  assert_int_equal(ch_loop_transfer_count(loop), 0);
  /* Removing a handle the loop never had is harmless. */
  ch_loop_transfer_remove(loop, easy);
  assert_int_equal(ch_loop_transfer_count(loop), 0);
  assert_non_null(ch_loop_multi(loop));
  ch_loop_timer_start(loop, 5, stop_cb, NULL);
  run(loop);
  assert_int_equal(d.calls, 0);
  curl_easy_cleanup(easy);
  ch_loop_free(loop);
}

/* Adding a handle that is already in the loop is refused, and the refusal
 * must not disturb the transfer already there: its callback still runs
 * exactly once, the count drops to 0 and the loop still frees. Runs in a
 * child process because a broken loop can hang in ch_loop_free; the child
 * writes what it saw to a pipe before freeing (cmocka's asserts belong to
 * the parent). */
static char double_add_run(ch_loop *loop, CURL *easy, done *d) {
  ch_loop_timer_start(loop, 1000, stop_cb, NULL);
  if(ch_loop_transfer_add(loop, easy, on_done, d) != CH_OK) return 'a';
  if(ch_loop_transfer_add(loop, easy, on_done, d) == CH_OK) return 'b';
  if(ch_loop_transfer_count(loop) != 1) return 'c';
  ch_loop_run(loop);
  if(d->calls != 1) return 'd';
  if(ch_loop_transfer_count(loop) != 0) return 'e';
  return 'k';
}

static void double_add_child(int port, int report) {
  ch_loop *loop = ch_loop_new(NULL);
  ch_buf body;
  ch_buf_init(&body, 1024);
  CURL *easy = easy_for(port, &body);
  done d = {0, CURLE_OK, NULL, 99};
  char seen = double_add_run(loop, easy, &d);
  (void)!write(report, &seen, 1);
  ch_loop_free(loop); /* must return even when the above went wrong */
  curl_easy_cleanup(easy);
  ch_buf_release(&body);
}

static void test_transfer_added_twice(void **state) {
  (void)state;
  /* A refused connection finishes the transfer quickly, no server needed:
   * bind a port, note it, close it. */
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
  socklen_t alen = sizeof(addr);
  getsockname(sock, (struct sockaddr *)&addr, &alen);
  close(sock);

  int report[2];
  assert_int_equal(pipe(report), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if(pid == 0) {
    close(report[0]);
    alarm(3); /* a hang in ch_loop_free ends here */
    double_add_child(ntohs(addr.sin_port), report[1]);
    _exit(0);
  }
  close(report[1]);
  char seen = '?';
  ssize_t got = read(report[0], &seen, 1);
  close(report[0]);
  int wstatus = 0;
  assert_int_equal(waitpid(pid, &wstatus, 0), pid);
  const char *what = "the child reported nothing";
  switch(got == 1 ? seen : '?') {
  case 'a': what = "the first add failed"; break;
  case 'b': what = "adding the same handle twice was accepted"; break;
  case 'c': what = "the refused second add changed the transfer count"; break;
  case 'd':
    what = "after a refused second add, the first add's callback did not "
           "run exactly once";
    break;
  case 'e': what = "the transfer finished but the count stayed above 0"; break;
  case 'k': what = NULL; break;
  }
  bool hung = WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM;
  if(what || hung)
    fail_msg("%s%s", what ? what : "",
             hung ? (what ? "; then ch_loop_free hung" : "ch_loop_free hung")
                  : "");
}

typedef struct removal {
  CURL *easy;
  server *srv;
  size_t count_before;
  size_t count_after;
  bool removed;
} removal;

static void remove_transfer(ch_loop *loop, void *userdata) {
  removal *r = userdata;
  if(!atomic_load(&r->srv->accepted)) { /* not connected yet: look again */
    ch_loop_timer_start(loop, 5, remove_transfer, r);
    return;
  }
  r->count_before = ch_loop_transfer_count(loop);
  ch_loop_transfer_remove(loop, r->easy);
  r->count_after = ch_loop_transfer_count(loop);
  r->removed = true;
  /* Give a wrongly surviving transfer time to call back. */
  ch_loop_timer_start(loop, 50, stop_cb, NULL);
}

static void test_transfer_removed_never_calls_back(void **state) {
  (void)state;
  server s;
  server_start(&s, NULL);
  ch_loop *loop = loop_new();
  ch_buf body;
  ch_buf_init(&body, 1024);
  CURL *easy = easy_for(s.port, &body);
  done d = {0, CURLE_OK, NULL, 99};
  assert_int_equal(ch_loop_transfer_add(loop, easy, on_done, &d), CH_OK);
  removal r = {easy, &s, 0, 0, false};
  ch_loop_timer_start(loop, 30, remove_transfer, &r);
  run(loop);
  assert_true(r.removed);
  assert_int_equal(r.count_before, 1);
  assert_int_equal(r.count_after, 0);
  assert_int_equal(ch_loop_transfer_count(loop), 0);
  assert_int_equal(d.calls, 0);
  /* Removal aborted the transfer: the server saw the connection close. */
  for(int i = 0; i < 200 && !atomic_load(&s.client_closed); i++)
    sleep_ms(10);
  assert_true(atomic_load(&s.client_closed));
  ch_loop_free(loop);
  curl_easy_cleanup(easy);
  ch_buf_release(&body);
  server_stop(&s);
}

static void stop_when_accepted(ch_loop *loop, void *userdata) {
  server *s = userdata;
  if(atomic_load(&s->accepted))
    ch_loop_stop(loop);
  else
    ch_loop_timer_start(loop, 5, stop_when_accepted, s);
}

static void test_free_with_transfer_in_flight(void **state) {
  (void)state;
  server s;
  server_start(&s, NULL);
  ch_loop *loop = loop_new();
  ch_buf body;
  ch_buf_init(&body, 1024);
  CURL *easy = easy_for(s.port, &body);
  done d = {0, CURLE_OK, NULL, 99};
  assert_int_equal(ch_loop_transfer_add(loop, easy, on_done, &d), CH_OK);
  ch_loop_timer_start(loop, 5, stop_when_accepted, &s);
  run(loop);
  assert_int_equal(ch_loop_transfer_count(loop), 1);
  ch_loop_free(loop);
  assert_int_equal(d.calls, 0);
  /* The handle is ours again: cleaning it up is all that is left. */
  curl_easy_cleanup(easy);
  ch_buf_release(&body);
  server_stop(&s);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timers_fire_in_due_order),
      cmocka_unit_test(test_timers_due_together_fire_in_order),
      cmocka_unit_test(test_stopped_timer_never_fires),
      cmocka_unit_test(test_timer_stopped_by_earlier_timer_in_same_turn),
      cmocka_unit_test(test_timer_starts_timer),
      cmocka_unit_test(test_timer_rearmed_with_zero_delay_waits_a_turn),
      cmocka_unit_test(test_stop_from_callback),
      cmocka_unit_test(test_post_wakes_sleeping_loop),
      cmocka_unit_test(test_posts_from_threads_run_once),
      cmocka_unit_test(test_post_from_loop_thread_runs_next_turn),
      cmocka_unit_test(test_free_drops_pending_posts),
      cmocka_unit_test(test_watched_pipe_reads),
      cmocka_unit_test(test_watch_write_and_invalid),
      cmocka_unit_test(test_closed_pipe_reported_without_spinning),
      cmocka_unit_test(test_closed_pipe_with_pending_data),
      cmocka_unit_test(test_transfer_completes),
      cmocka_unit_test(test_transfer_refused),
      cmocka_unit_test(test_transfer_add_invalid),
      cmocka_unit_test(test_transfer_added_twice),
      cmocka_unit_test(test_transfer_removed_never_calls_back),
      cmocka_unit_test(test_free_with_transfer_in_flight),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}
