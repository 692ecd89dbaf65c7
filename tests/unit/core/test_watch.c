/* Tests for core/src/watch.c: a real inotify watcher over a temporary
 * repository.
 *
 * inotify queues an event inside the system call that causes it, so once a
 * write has returned its event is pending. Tests still never assume a
 * delay: they poll the descriptor (at most TIMEOUT_MS) and drain until the
 * paths they expect have arrived. To show that something is NOT reported,
 * a test makes the change, then a sentinel change that is reported, and
 * waits for the sentinel: by then the first event would have been read. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/watch.h"

#define TIMEOUT_MS 2000

/* ---- fixture ------------------------------------------------------------- */

typedef struct fixture {
  char base[64]; /* the temporary directory */
  char *root;    /* base/repo: the watched repository */
  char *outside; /* base/outside: never watched */
  ch_watcher *w;
  char **strings; /* paths made by P(), freed at teardown */
  size_t nstrings, strings_cap;
} fixture;

/* A path below the repository, freed at teardown. */
static const char *P(fixture *fx, const char *rel) {
  if(fx->nstrings == fx->strings_cap) {
    fx->strings_cap = fx->strings_cap ? fx->strings_cap * 2 : 16;
    fx->strings =
        ch_realloc(fx->strings, fx->strings_cap * sizeof(*fx->strings));
  }
  char *s = rel[0] == '/' ? ch_strdupf("%s%s", fx->base, rel)
                          : ch_strdupf("%s/%s", fx->root, rel);
  fx->strings[fx->nstrings++] = s;
  return s;
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if(fd < 0) fail_msg("open %s: %s", path, strerror(errno));
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(close(fd), 0);
}

static void make_dir(const char *path) {
  if(mkdir(path, 0755) != 0) fail_msg("mkdir %s: %s", path, strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *path) {
  nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* repo/
 *   .gitignore      "build/\n*.log\n"
 *   .git/HEAD
 *   a.c
 *   src/b.c
 *   src/sub/c.c
 *   build/out.o
 * outside/ */
static int setup(void **state) {
  fixture *fx = ch_calloc(1, sizeof(*fx));
  snprintf(fx->base, sizeof(fx->base), "/tmp/chorus-watch-XXXXXX");
  if(!mkdtemp(fx->base)) return -1;
  fx->root = ch_strdupf("%s/repo", fx->base);
  fx->outside = ch_strdupf("%s/outside", fx->base);
  make_dir(fx->root);
  make_dir(fx->outside);
  write_file(P(fx, ".gitignore"), "build/\n*.log\n");
  make_dir(P(fx, ".git"));
  write_file(P(fx, ".git/HEAD"), "ref: refs/heads/main\n");
  write_file(P(fx, "a.c"), "int a;\n");
  make_dir(P(fx, "src"));
  write_file(P(fx, "src/b.c"), "int b;\n");
  make_dir(P(fx, "src/sub"));
  write_file(P(fx, "src/sub/c.c"), "int c;\n");
  make_dir(P(fx, "build"));
  write_file(P(fx, "build/out.o"), "obj");
  ch_status status = CH_ERR_STATE;
  fx->w = ch_watcher_new(&status);
  if(!fx->w || status != CH_OK) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  ch_watcher_free(fx->w);
  rm_rf(fx->base);
  for(size_t i = 0; i < fx->nstrings; i++)
    ch_free(fx->strings[i]);
  ch_free(fx->strings);
  ch_free(fx->root);
  ch_free(fx->outside);
  ch_free(fx);
  return 0;
}

/* ---- collecting callbacks ------------------------------------------------ */

typedef struct got {
  char **paths; /* every callback, in order, across drains */
  size_t n, cap;
} got;

static void on_changed(const char *path, void *userdata) {
  got *g = userdata;
  assert_non_null(path);
  assert_true(path[0] == '/');
  if(g->n == g->cap) {
    g->cap = g->cap ? g->cap * 2 : 64;
    g->paths = ch_realloc(g->paths, g->cap * sizeof(*g->paths));
  }
  g->paths[g->n++] = ch_strdup(path);
}

static size_t count_of(const got *g, const char *path) {
  size_t n = 0;
  for(size_t i = 0; i < g->n; i++)
    n += strcmp(g->paths[i], path) == 0;
  return n;
}

static bool has(const got *g, const char *path) {
  return count_of(g, path) > 0;
}

static void got_clear(got *g) {
  for(size_t i = 0; i < g->n; i++)
    ch_free(g->paths[i]);
  ch_free(g->paths);
  *g = (got){0};
}

/* Drains until every path of want (NULL-terminated) has been reported, or
 * fails after TIMEOUT_MS naming the first one missing. */
static void wait_for(ch_watcher *w, got *g, const char *const *want) {
  uint64_t deadline = ch_now_ms() + TIMEOUT_MS;
  for(;;) {
    const char *missing = NULL;
    for(size_t i = 0; want[i] && !missing; i++)
      if(!has(g, want[i])) missing = want[i];
    if(!missing) return;
    uint64_t now = ch_now_ms();
    if(now >= deadline) {
      for(size_t i = 0; i < g->n; i++)
        print_message("got %s\n", g->paths[i]);
      fail_msg("not reported within %d ms: %s", TIMEOUT_MS, missing);
    }
    struct pollfd pfd = {.fd = ch_watcher_fd(w), .events = POLLIN};
    int ready = poll(&pfd, 1, (int)(deadline - now));
    assert_true(ready >= 0 || errno == EINTR);
    ch_watcher_read(w, on_changed, g);
  }
}

#define WAIT_FOR(w, g, ...)                                                    \
  wait_for((w), (g), (const char *[]){__VA_ARGS__, NULL})

static void add_repo(fixture *fx) {
  assert_int_equal(ch_watcher_add_tree(fx->w, fx->root, NULL), CH_OK);
}

/* ---- tests --------------------------------------------------------------- */

static void descriptor_and_empty_read(void **state) {
  fixture *fx = *state;
  int fd = ch_watcher_fd(fx->w);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  add_repo(fx);
  got g = {0};
  /* Nothing pending: returns at once, no callback. */
  assert_int_equal(ch_watcher_read(fx->w, on_changed, &g), 0);
  assert_int_equal(g.n, 0);
  ch_watcher_free(NULL);
}

static void bad_arguments(void **state) {
  fixture *fx = *state;
  ch_watcher *w = fx->w;
  assert_int_equal(ch_watcher_add_tree(w, "relative/path", NULL),
                   CH_ERR_INVALID);
  assert_int_equal(ch_watcher_add_tree(w, P(fx, "missing"), NULL),
                   CH_ERR_NOT_FOUND);
  assert_int_equal(ch_watcher_add_tree(w, P(fx, "a.c"), NULL), CH_ERR_INVALID);
  assert_int_equal(ch_watcher_remove_tree(w, fx->root), CH_ERR_NOT_FOUND);
  /* A failed add leaves no root behind. */
  assert_int_equal(ch_watcher_remove_tree(w, P(fx, "missing")),
                   CH_ERR_NOT_FOUND);
  /* Adding twice is fine; trailing slashes name the same root. */
  add_repo(fx);
  char *slashed = ch_strdupf("%s//", fx->root);
  assert_int_equal(ch_watcher_add_tree(w, slashed, NULL), CH_OK);
  assert_int_equal(ch_watcher_remove_tree(w, slashed), CH_OK);
  assert_int_equal(ch_watcher_remove_tree(w, fx->root), CH_ERR_NOT_FOUND);
  ch_free(slashed);
}

static void file_changes(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  got g = {0};

  write_file(P(fx, "src/new.c"), "int n;\n");
  WAIT_FOR(fx->w, &g, P(fx, "src/new.c"));

  write_file(P(fx, "a.c"), "int a2;\n");
  WAIT_FOR(fx->w, &g, P(fx, "a.c"));

  got_clear(&g);
  assert_int_equal(unlink(P(fx, "src/sub/c.c")), 0);
  WAIT_FOR(fx->w, &g, P(fx, "src/sub/c.c"));

  /* A rename reports both names (an editor's atomic save is one). */
  got_clear(&g);
  assert_int_equal(rename(P(fx, "src/b.c"), P(fx, "src/d.c")), 0);
  WAIT_FOR(fx->w, &g, P(fx, "src/b.c"), P(fx, "src/d.c"));
  got_clear(&g);
}

static void one_report_per_drain(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  write_file(P(fx, "a.c"), "one\n");
  write_file(P(fx, "src/b.c"), "b\n");
  write_file(P(fx, "a.c"), "two\n"); /* CLOSE_WRITE twice, CREATE never */
  assert_int_equal(unlink(P(fx, "src/sub/c.c")), 0);
  write_file(P(fx, "src/sub/c.c"), "back\n"); /* DELETE, CREATE, CLOSE */
  got g = {0};
  /* The events are queued already (see the top): one drain has them all. */
  size_t n = ch_watcher_read(fx->w, on_changed, &g);
  assert_int_equal(n, 3);
  assert_int_equal(g.n, 3);
  /* In order of first appearance. */
  assert_string_equal(g.paths[0], P(fx, "a.c"));
  assert_string_equal(g.paths[1], P(fx, "src/b.c"));
  assert_string_equal(g.paths[2], P(fx, "src/sub/c.c"));
  /* A later drain reports the same path again. */
  write_file(P(fx, "a.c"), "three\n");
  assert_int_equal(ch_watcher_read(fx->w, on_changed, &g), 1);
  assert_int_equal(count_of(&g, P(fx, "a.c")), 2);
  got_clear(&g);
}

static void ignored_files(void **state) {
  fixture *fx = *state;
  const char *const globs[] = {"*.tmp", NULL};
  assert_int_equal(ch_watcher_add_tree(fx->w, fx->root, globs), CH_OK);
  got g = {0};

  write_file(P(fx, "build/x.o"), "x");     /* ignored directory */
  write_file(P(fx, "src/trace.log"), "x"); /* ignored file pattern */
  write_file(P(fx, "scratch.tmp"), "x");   /* extra glob */
  write_file(P(fx, ".git/index"), "x");    /* .git is never watched */
  make_dir(P(fx, "build/deep"));
  write_file(P(fx, "build/deep/y.o"), "y");
  make_dir(P(fx, "src/sub/build")); /* "build/" matches anywhere */
  write_file(P(fx, "src/sub/build/z.o"), "z");
  write_file(P(fx, "keep.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "keep.c"));
  write_file(P(fx, "src/sub/build/later.o"), "z");
  write_file(P(fx, "keep2.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "keep2.c"));
  assert_int_equal(g.n, 2);

  /* A .gitignore change is reported, and its rules apply from then on. */
  got_clear(&g);
  write_file(P(fx, ".gitignore"), "build/\n*.log\n*.gen.c\n");
  WAIT_FOR(fx->w, &g, P(fx, ".gitignore"));
  write_file(P(fx, "src/made.gen.c"), "x");
  write_file(P(fx, "src/trace.log"), "x");
  write_file(P(fx, "keep3.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "keep3.c"));
  assert_false(has(&g, P(fx, "src/made.gen.c")));
  /* A nested .gitignore counts too. */
  write_file(P(fx, "src/.gitignore"), "*.c\n");
  WAIT_FOR(fx->w, &g, P(fx, "src/.gitignore"));
  write_file(P(fx, "src/e.c"), "x");
  write_file(P(fx, "keep4.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "keep4.c"));
  assert_false(has(&g, P(fx, "src/e.c")));
  assert_false(has(&g, P(fx, "src/trace.log")));
  got_clear(&g);
}

static void new_directories(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  got g = {0};

  /* A file made right after mkdir, before the watcher has seen the mkdir:
   * found by the catch-up scan if not by the new watch. */
  make_dir(P(fx, "src/fresh"));
  write_file(P(fx, "src/fresh/f.c"), "f");
  /* Nested directories made in one go, files at each level. */
  make_dir(P(fx, "n1"));
  make_dir(P(fx, "n1/n2"));
  make_dir(P(fx, "n1/n2/n3"));
  write_file(P(fx, "n1/top.c"), "t");
  write_file(P(fx, "n1/n2/n3/bottom.c"), "b");
  make_dir(P(fx, "n1/n2/build")); /* ignored, and so what is inside */
  write_file(P(fx, "n1/n2/build/o.o"), "o");
  WAIT_FOR(fx->w, &g, P(fx, "src/fresh/f.c"), P(fx, "n1/top.c"),
           P(fx, "n1/n2/n3/bottom.c"));
  assert_false(has(&g, P(fx, "n1/n2/build/o.o")));

  /* The new directories are watched from now on. */
  got_clear(&g);
  write_file(P(fx, "src/fresh/g.c"), "g");
  write_file(P(fx, "n1/n2/n3/later.c"), "l");
  make_dir(P(fx, "n1/n2/n3/n4"));
  write_file(P(fx, "n1/n2/n3/n4/deepest.c"), "d");
  WAIT_FOR(fx->w, &g, P(fx, "src/fresh/g.c"), P(fx, "n1/n2/n3/later.c"),
           P(fx, "n1/n2/n3/n4/deepest.c"));
  got_clear(&g);
}

static void deleted_directories_and_root(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  got g = {0};

  rm_rf(P(fx, "src/sub"));
  WAIT_FOR(fx->w, &g, P(fx, "src/sub"));

  /* Recreated under the same name: watched again. */
  got_clear(&g);
  make_dir(P(fx, "src/sub"));
  write_file(P(fx, "src/sub/again.c"), "x");
  WAIT_FOR(fx->w, &g, P(fx, "src/sub/again.c"));
  write_file(P(fx, "src/sub/again2.c"), "x");
  WAIT_FOR(fx->w, &g, P(fx, "src/sub/again2.c"));

  /* The whole repository goes: the root is reported. */
  got_clear(&g);
  rm_rf(fx->root);
  WAIT_FOR(fx->w, &g, fx->root);
  got_clear(&g);
}

static void moved_directories(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  got g = {0};

  /* Renamed inside the tree: old name reported as a directory, files
   * under the new name reported, and watched under the new name. */
  assert_int_equal(rename(P(fx, "src/sub"), P(fx, "src/moved")), 0);
  WAIT_FOR(fx->w, &g, P(fx, "src/sub"), P(fx, "src/moved/c.c"));
  got_clear(&g);
  write_file(P(fx, "src/moved/later.c"), "x");
  WAIT_FOR(fx->w, &g, P(fx, "src/moved/later.c"));
  assert_false(has(&g, P(fx, "src/sub/later.c")));

  /* Moved in from outside: its files are reported and it is watched. */
  got_clear(&g);
  make_dir(P(fx, "/outside/pkg"));
  make_dir(P(fx, "/outside/pkg/inner"));
  write_file(P(fx, "/outside/pkg/inner/i.c"), "i");
  assert_int_equal(rename(P(fx, "/outside/pkg"), P(fx, "pkg")), 0);
  WAIT_FOR(fx->w, &g, P(fx, "pkg/inner/i.c"));
  write_file(P(fx, "pkg/inner/j.c"), "j");
  WAIT_FOR(fx->w, &g, P(fx, "pkg/inner/j.c"));

  /* Moved out: reported, and no longer watched. */
  got_clear(&g);
  assert_int_equal(rename(P(fx, "pkg"), P(fx, "/outside/gone")), 0);
  WAIT_FOR(fx->w, &g, P(fx, "pkg"));
  write_file(P(fx, "/outside/gone/inner/k.c"), "k");
  write_file(P(fx, "keep.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "keep.c"));
  assert_int_equal(g.n, 2);
  got_clear(&g);
}

static void symlinked_directory_not_followed(void **state) {
  fixture *fx = *state;
  assert_int_equal(symlink(fx->outside, P(fx, "link")), 0);
  add_repo(fx);
  got g = {0};
  write_file(P(fx, "/outside/o.c"), "o");
  write_file(P(fx, "keep.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "keep.c"));
  assert_int_equal(g.n, 1);
  got_clear(&g);

  /* A root given through a symlink is followed. */
  ch_watcher_free(fx->w);
  fx->w = ch_watcher_new(NULL);
  assert_non_null(fx->w);
  const char *alias = P(fx, "/alias");
  assert_int_equal(symlink(fx->root, alias), 0);
  assert_int_equal(ch_watcher_add_tree(fx->w, alias, NULL), CH_OK);
  write_file(P(fx, "src/sub/c.c"), "c");
  char *via_alias = ch_strdupf("%s/src/sub/c.c", alias);
  WAIT_FOR(fx->w, &g, via_alias);
  ch_free(via_alias);
  got_clear(&g);
}

static void remove_tree_stops_events(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  got g = {0};

  /* A directory inside the root. */
  assert_int_equal(ch_watcher_remove_tree(fx->w, P(fx, "src")), CH_OK);
  write_file(P(fx, "src/b.c"), "b");
  write_file(P(fx, "src/sub/c.c"), "c");
  write_file(P(fx, "a.c"), "sentinel");
  WAIT_FOR(fx->w, &g, P(fx, "a.c"));
  assert_int_equal(g.n, 1);

  /* The whole root: nothing at all, even with events already queued. */
  got_clear(&g);
  write_file(P(fx, "queued.c"), "q");
  assert_int_equal(ch_watcher_remove_tree(fx->w, fx->root), CH_OK);
  write_file(P(fx, "a.c"), "after");
  assert_int_equal(ch_watcher_read(fx->w, on_changed, &g), 0);
  assert_int_equal(ch_watcher_remove_tree(fx->w, fx->root), CH_ERR_NOT_FOUND);

  /* And it can be added again. */
  add_repo(fx);
  write_file(P(fx, "src/sub/c.c"), "c2");
  WAIT_FOR(fx->w, &g, P(fx, "src/sub/c.c"));
  got_clear(&g);
}

typedef struct adder {
  ch_watcher *w;
  const char *root;
  ch_status status;
  atomic_bool done;
} adder;

static void *add_on_thread(void *arg) {
  adder *a = arg;
  a->status = ch_watcher_add_tree(a->w, a->root, NULL);
  atomic_store(&a->done, true);
  return NULL;
}

static void add_tree_from_thread(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  /* A second root with a few hundred directories. */
  const char *big = P(fx, "/big");
  make_dir(big);
  for(int i = 0; i < 20; i++) {
    char *d = ch_strdupf("%s/d%d", big, i);
    make_dir(d);
    for(int j = 0; j < 10; j++) {
      char *s = ch_strdupf("%s/s%d", d, j);
      make_dir(s);
      ch_free(s);
    }
    ch_free(d);
  }

  adder a = {.w = fx->w, .root = big};
  atomic_init(&a.done, false);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, add_on_thread, &a), 0);
  /* Meanwhile this thread keeps the watcher busy reading. */
  got g = {0};
  uint64_t deadline = ch_now_ms() + 5 * TIMEOUT_MS;
  const char *tick = P(fx, "tick.c");
  /* Directories made in the new root while it is walked: each is watched
   * either by the walk or by the reader's catch-up, whichever sees it. */
  int live = 0;
  /* At least one turn, even if the thread is done before the first. */
  do {
    write_file(tick, "t");
    if(live < 50) {
      char *d = ch_strdupf("%s/live%d", big, live++);
      make_dir(d);
      ch_free(d);
    }
    struct pollfd pfd = {.fd = ch_watcher_fd(fx->w), .events = POLLIN};
    poll(&pfd, 1, 10);
    ch_watcher_read(fx->w, on_changed, &g);
  } while(!atomic_load(&a.done) && ch_now_ms() < deadline);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_int_equal(a.status, CH_OK);
  WAIT_FOR(fx->w, &g, tick);

  /* Every directory of the new root is watched. */
  got_clear(&g);
  for(int i = 0; i < live; i++) {
    char *f = ch_strdupf("%s/live%d/f.c", big, i);
    write_file(f, "f");
    WAIT_FOR(fx->w, &g, f);
    ch_free(f);
  }
  char *first = ch_strdupf("%s/d0/s0/x.c", big);
  char *last = ch_strdupf("%s/d19/s9/x.c", big);
  char *top = ch_strdupf("%s/top.c", big);
  write_file(first, "x");
  write_file(last, "x");
  write_file(top, "x");
  WAIT_FOR(fx->w, &g, first, last, top);
  ch_free(first);
  ch_free(last);
  ch_free(top);

  /* Removing the first root leaves the second alone. */
  assert_int_equal(ch_watcher_remove_tree(fx->w, fx->root), CH_OK);
  got_clear(&g);
  char *still = ch_strdupf("%s/d5/s5/y.c", big);
  write_file(still, "y");
  WAIT_FOR(fx->w, &g, still);
  ch_free(still);
  got_clear(&g);
}

static void overflow_reports_roots(void **state) {
  fixture *fx = *state;
  long max_events = 0;
  FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
  if(f) {
    if(fscanf(f, "%ld", &max_events) != 1) max_events = 0;
    fclose(f);
  }
  if(max_events <= 0 || max_events > 100000) skip();
  add_repo(fx);
  /* Alternate two files so the kernel cannot merge consecutive identical
   * events: every open-for-write and close queues one. */
  const char *names[2] = {P(fx, "a.c"), P(fx, "src/b.c")};
  for(long i = 0; i < max_events + 16; i++) {
    int fd = open(names[i & 1], O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
  }
  got g = {0};
  WAIT_FOR(fx->w, &g, fx->root);
  assert_int_equal(count_of(&g, fx->root), 1);
  /* The watcher keeps working. */
  got_clear(&g);
  write_file(P(fx, "src/sub/c.c"), "c");
  WAIT_FOR(fx->w, &g, P(fx, "src/sub/c.c"));
  got_clear(&g);
}

/* Callbacks run without the lock: they may change the watch set. */
typedef struct reentrant {
  ch_watcher *w;
  const char *remove;
  ch_status status;
  got g;
} reentrant;

static void remove_from_callback(const char *path, void *userdata) {
  reentrant *r = userdata;
  on_changed(path, &r->g);
  r->status = ch_watcher_remove_tree(r->w, r->remove);
}

static void callback_may_remove(void **state) {
  fixture *fx = *state;
  add_repo(fx);
  reentrant r = {.w = fx->w, .remove = fx->root, .status = CH_ERR_STATE};
  write_file(P(fx, "a.c"), "x");
  WAIT_FOR(fx->w, &r.g, P(fx, "a.c")); /* plain collector first */
  got_clear(&r.g);
  write_file(P(fx, "a.c"), "y");
  struct pollfd pfd = {.fd = ch_watcher_fd(fx->w), .events = POLLIN};
  assert_int_equal(poll(&pfd, 1, TIMEOUT_MS), 1);
  assert_int_equal(ch_watcher_read(fx->w, remove_from_callback, &r), 1);
  assert_int_equal(r.status, CH_OK);
  got_clear(&r.g);
}

int main(void) {
  /* No user-wide excludes file may change what is ignored here. */
  setenv("XDG_CONFIG_HOME", "/nonexistent/chorus-test-watch", 1);
  setenv("HOME", "/nonexistent/chorus-test-watch", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(descriptor_and_empty_read, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(file_changes, setup, teardown),
      cmocka_unit_test_setup_teardown(one_report_per_drain, setup, teardown),
      cmocka_unit_test_setup_teardown(ignored_files, setup, teardown),
      cmocka_unit_test_setup_teardown(new_directories, setup, teardown),
      cmocka_unit_test_setup_teardown(deleted_directories_and_root, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(moved_directories, setup, teardown),
      cmocka_unit_test_setup_teardown(symlinked_directory_not_followed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(remove_tree_stops_events, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(add_tree_from_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(overflow_reports_roots, setup, teardown),
      cmocka_unit_test_setup_teardown(callback_may_remove, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
