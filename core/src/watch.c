/* watch.c: inotify watches over directory trees, drained on the loop.
 *
 * State: a table wd -> directory (its absolute path and the root it was
 * watched for) and the list of roots, both guarded by one mutex. The
 * reader holds the mutex for a whole drain, except while it calls the
 * receiver; add_tree holds it only while it watches one directory, so a
 * long walk on a worker never stalls the loop for more than a moment.
 *
 * inotify identifies events by watch descriptor, and a descriptor follows
 * its inode, not its path: after a directory is renamed, its descriptor
 * (and those below it) would still carry the old path. So a directory
 * renamed away is unwatched at once (inotify_rm_watch) and the one that
 * appears at the new path is watched afresh, which gives new descriptors
 * and new paths. Events still queued for the old descriptors find no
 * entry in the table and are dropped. Kernel descriptors are allocated
 * cyclically, so a removed one is not handed out again soon.
 */
#include "chorus/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/workspace.h"

/* What every directory is watched for. IN_EXCL_UNLINK: no events for a
 * file after it is unlinked (a deleted temp file still being written). */
#define WATCH_MASK                                                             \
  (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |      \
   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

/* One read(). Large enough for a burst (each event is 16 bytes plus the
 * name), small enough to keep on the heap once per watcher. */
#define READ_BUF_SIZE (64u * 1024u)
/* Reads per ch_watcher_read: bounds one drain when something writes
 * without pause; the descriptor stays readable and the loop comes back. */
#define MAX_READS 64

typedef struct root {
  char *path;        /* absolute, no trailing '/' (except "/" itself) */
  char **globs;      /* NULL-terminated copy, or NULL */
  ch_ignore *ignore; /* the reader's matcher; NULL: (re)build before use */
  uint64_t serial;   /* unique per watcher: survives removal and re-adding */
} root;

typedef struct dir {
  int wd;
  char *path;  /* absolute */
  root *owner; /* the root it was watched for; path is at or below it */
} dir;

struct ch_watcher {
  int fd;
  pthread_mutex_t lock; /* guards everything below except buf */
  ch_map dirs;          /* wd in decimal -> dir * (owned) */
  root **roots;
  size_t nroots, roots_cap;
  uint64_t next_serial;
  bool limit_warned; /* the watch limit was logged; remove_tree clears */

  /* Reader only. */
  char *buf;      /* READ_BUF_SIZE bytes, aligned for struct inotify_event */
  ch_map seen;    /* paths queued in this drain (values unused) */
  char **changed; /* those paths in order of first appearance (owned) */
  size_t nchanged, changed_cap;
};

/* ---- paths and tables ---------------------------------------------------- */

/* root without trailing slashes ("/" stays "/"). Caller frees. */
static char *normalize(const char *path) {
  size_t len = strlen(path);
  while(len > 1 && path[len - 1] == '/')
    len--;
  return ch_strndup(path, len);
}

static char *join(const char *parent, const char *name) {
  size_t len = strlen(parent);
  if(len && parent[len - 1] == '/') return ch_strdupf("%s%s", parent, name);
  return ch_strdupf("%s/%s", parent, name);
}

/* Whether path is base or lies below it. */
static bool at_or_below(const char *path, const char *base) {
  size_t len = strlen(base);
  if(strncmp(path, base, len) != 0) return false;
  if(path[len] == '\0') return true;
  return path[len] == '/' || (len && base[len - 1] == '/');
}

/* path relative to its root ("" for the root itself). */
static const char *relative(const root *r, const char *path) {
  size_t len = strlen(r->path);
  const char *rest = path + len;
  while(*rest == '/')
    rest++;
  return rest;
}

static void wd_key(int wd, char key[16]) { snprintf(key, 16, "%d", wd); }

static dir *dir_get(ch_watcher *self, int wd) {
  char key[16];
  wd_key(wd, key);
  return ch_map_get(&self->dirs, key);
}

static void dir_free(void *p) {
  dir *d = p;
  if(!d) return;
  ch_free(d->path);
  ch_free(d);
}

static char **globs_copy(const char *const *globs) {
  if(!globs) return NULL;
  size_t n = 0;
  while(globs[n])
    n++;
  char **copy = ch_calloc(n + 1, sizeof(*copy));
  for(size_t i = 0; i < n; i++)
    copy[i] = ch_strdup(globs[i]);
  return copy;
}

static void globs_free(char **globs) {
  if(!globs) return;
  for(char **g = globs; *g; g++)
    ch_free(*g);
  ch_free(globs);
}

static void root_free(root *r) {
  ch_free(r->path);
  globs_free(r->globs);
  ch_ignore_free(r->ignore);
  ch_free(r);
}

static root *root_by_path(ch_watcher *self, const char *path) {
  for(size_t i = 0; i < self->nroots; i++)
    if(strcmp(self->roots[i]->path, path) == 0) return self->roots[i];
  return NULL;
}

static root *root_by_serial(ch_watcher *self, uint64_t serial) {
  for(size_t i = 0; i < self->nroots; i++)
    if(self->roots[i]->serial == serial) return self->roots[i];
  return NULL;
}

/* The reader's matcher for r, built on first use after a change. May be
 * NULL if it cannot be built: then only .git is skipped. */
static ch_ignore *root_ignore(root *r) {
  if(!r->ignore)
    r->ignore = ch_ignore_new(r->path, (const char *const *)r->globs);
  return r->ignore;
}

/* Whether git would ignore path (absolute, at or below r). */
static bool ignored(ch_ignore *ignore, const root *r, const char *path,
                    bool is_dir) {
  const char *rel = relative(r, path);
  if(!*rel) return false;
  if(!ignore) return strcmp(rel, ".git") == 0 || strncmp(rel, ".git/", 5) == 0;
  return ch_ignore_match(ignore, rel, is_dir);
}

/* Unwatches every directory at or below path. Lock held. Returns how many
 * there were. */
static size_t unwatch_below(ch_watcher *self, const char *path) {
  size_t n = 0, cap = 0, iter = 0;
  dir **doomed = NULL;
  void *value;
  while(ch_map_next(&self->dirs, &iter, NULL, &value)) {
    dir *d = value;
    if(!at_or_below(d->path, path)) continue;
    if(n == cap) {
      cap = cap ? cap * 2 : 16;
      doomed = ch_realloc(doomed, cap * sizeof(*doomed));
    }
    doomed[n++] = d;
  }
  for(size_t i = 0; i < n; i++) {
    char key[16];
    wd_key(doomed[i]->wd, key);
    ch_map_remove(&self->dirs, key);
    /* Fails with EINVAL when the kernel already dropped it (deleted). */
    inotify_rm_watch(self->fd, doomed[i]->wd);
    dir_free(doomed[i]);
  }
  ch_free(doomed);
  return n;
}

/* Watches one directory for owner. Lock held. Returns 0 or an errno. */
static int watch_dir(ch_watcher *self, root *owner, const char *path) {
  uint32_t mask = WATCH_MASK;
  /* A symlinked directory below the root is never followed; the root
   * itself may be a link (a workspace opened through one). */
  if(strcmp(path, owner->path) != 0) mask |= IN_DONT_FOLLOW;
  int wd = inotify_add_watch(self->fd, path, mask);
  if(wd < 0) return errno;
  dir *d = dir_get(self, wd);
  if(d) {
    /* Already watched: the same inode, reached again. If its path changed
     * (renamed while a walk ran), the newest path is the true one. */
    if(strcmp(d->path, path) != 0) {
      ch_free(d->path);
      d->path = ch_strdup(path);
      d->owner = owner;
    }
    return 0;
  }
  d = ch_malloc(sizeof(*d));
  d->wd = wd;
  d->path = ch_strdup(path);
  d->owner = owner;
  char key[16];
  wd_key(wd, key);
  ch_map_put(&self->dirs, key, d);
  return 0;
}

static void warn_limit(ch_watcher *self, const char *path) {
  if(self->limit_warned) return;
  self->limit_warned = true;
  ch_log_warn("inotify watch limit reached at %zu directories (next: %s); "
              "files in the rest are not watched, raise "
              "fs.inotify.max_user_watches",
              self->dirs.len, path);
}

/* Queues path for the receiver unless this drain has it already. Reader,
 * lock held. */
static void queue_changed(ch_watcher *self, const char *path) {
  if(ch_map_get(&self->seen, path)) return;
  ch_map_put(&self->seen, path, self);
  if(self->nchanged == self->changed_cap) {
    self->changed_cap = self->changed_cap ? self->changed_cap * 2 : 32;
    self->changed =
        ch_realloc(self->changed, self->changed_cap * sizeof(*self->changed));
  }
  self->changed[self->nchanged++] = ch_strdup(path);
}

/* ---- walking ------------------------------------------------------------- */

typedef struct walk {
  ch_watcher *self;
  uint64_t serial;   /* the root walked for; looked up under the lock */
  bool locked;       /* the caller holds the lock for the whole walk */
  ch_ignore *ignore; /* not shared with another thread during the walk */
  bool report_files; /* queue every file met (reader's catch-up) */
} walk;

static bool is_directory(DIR *d, const struct dirent *entry) {
  if(entry->d_type != DT_UNKNOWN) return entry->d_type == DT_DIR;
  struct stat st;
  if(fstatat(dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return false;
  return S_ISDIR(st.st_mode);
}

/* Watches start and the directories below it, depth first with an
 * explicit stack (nesting may be thousands deep). A directory is watched
 * before it is listed, so a file created meanwhile shows up in the listing
 * or as an event, or both (the drain removes duplicates). */
static ch_status walk_tree(walk *w, const char *start) {
  ch_watcher *self = w->self;
  ch_status status = CH_OK;
  size_t n = 0, cap = 16;
  char **stack = ch_malloc(cap * sizeof(*stack));
  stack[n++] = ch_strdup(start);
  while(n) {
    char *path = stack[--n];
    if(!w->locked) pthread_mutex_lock(&self->lock);
    root *r = root_by_serial(self, w->serial);
    int err = r ? watch_dir(self, r, path) : 0;
    if(err == ENOSPC) warn_limit(self, path);
    /* Copy what the listing needs: r may go once the lock is dropped. */
    char *root_path = r ? ch_strdup(r->path) : NULL;
    if(!w->locked) pthread_mutex_unlock(&self->lock);
    if(!r) {
      status = CH_ERR_CANCELLED;
      ch_free(path);
      break;
    }
    if(err == ENOSPC) {
      status = CH_ERR_TOO_LARGE;
      ch_free(root_path);
      ch_free(path);
      break;
    }
    DIR *d = err ? NULL : opendir(path);
    if(err) {
      /* Vanished, unreadable, replaced by a file or a symlink: skip. */
      ch_log_debug("watch: skipping %s: %s", path, strerror(err));
    }
    struct dirent *entry;
    root view = {.path = root_path};
    while(d && (entry = readdir(d))) {
      const char *name = entry->d_name;
      if(strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
      bool is_dir = is_directory(d, entry);
      if(is_dir && strcmp(name, ".git") == 0) continue;
      if(!is_dir && !w->report_files) continue;
      char *child = join(path, name);
      bool keep = (!is_dir && strcmp(name, ".gitignore") == 0) ||
                  !ignored(w->ignore, &view, child, is_dir);
      if(keep && is_dir) {
        if(n == cap) {
          cap *= 2;
          stack = ch_realloc(stack, cap * sizeof(*stack));
        }
        stack[n++] = child;
        continue;
      }
      if(keep) queue_changed(self, child);
      ch_free(child);
    }
    if(d) closedir(d);
    ch_free(root_path);
    ch_free(path);
  }
  while(n)
    ch_free(stack[--n]);
  ch_free(stack);
  return status;
}

/* ---- public -------------------------------------------------------------- */

ch_watcher *ch_watcher_new(ch_status *error) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if(fd < 0) {
    if(error) *error = errno == EMFILE ? CH_ERR_TOO_LARGE : CH_ERR_IO;
    return NULL;
  }
  ch_watcher *self = ch_calloc(1, sizeof(*self));
  self->fd = fd;
  pthread_mutex_init(&self->lock, NULL);
  ch_map_init(&self->dirs);
  ch_map_init(&self->seen);
  self->next_serial = 1;
  /* ch_malloc's alignment suits struct inotify_event (int, uint32_t). */
  self->buf = ch_malloc(READ_BUF_SIZE);
  if(error) *error = CH_OK;
  return self;
}

void ch_watcher_free(ch_watcher *self) {
  if(!self) return;
  close(self->fd);
  ch_map_release(&self->dirs, dir_free);
  for(size_t i = 0; i < self->nroots; i++)
    root_free(self->roots[i]);
  ch_free(self->roots);
  ch_map_release(&self->seen, NULL);
  for(size_t i = 0; i < self->nchanged; i++)
    ch_free(self->changed[i]);
  ch_free(self->changed);
  ch_free(self->buf);
  pthread_mutex_destroy(&self->lock);
  ch_free(self);
}

int ch_watcher_fd(const ch_watcher *self) { return self->fd; }

static ch_status status_of(int err) {
  switch(err) {
  case 0: return CH_OK;
  case ENOENT: return CH_ERR_NOT_FOUND;
  case ENOTDIR: return CH_ERR_INVALID;
  case ENOSPC: return CH_ERR_TOO_LARGE;
  default: return CH_ERR_IO;
  }
}

ch_status ch_watcher_add_tree(ch_watcher *self, const char *root_path,
                              const char *const *ignore_globs) {
  if(!self || !root_path || root_path[0] != '/') return CH_ERR_INVALID;
  char *path = normalize(root_path);

  pthread_mutex_lock(&self->lock);
  root *r = root_by_path(self, path);
  bool created = !r;
  if(created) {
    r = ch_calloc(1, sizeof(*r));
    r->path = ch_strdup(path);
    r->serial = self->next_serial++;
    if(self->nroots == self->roots_cap) {
      self->roots_cap = self->roots_cap ? self->roots_cap * 2 : 4;
      self->roots =
          ch_realloc(self->roots, self->roots_cap * sizeof(*self->roots));
    }
    self->roots[self->nroots++] = r;
  } else {
    globs_free(r->globs);
    ch_ignore_free(r->ignore);
    r->ignore = NULL;
  }
  r->globs = globs_copy(ignore_globs);
  uint64_t serial = r->serial;
  /* The root is watched here, under the same lock, so that a root that
   * cannot be watched never appears in the table. */
  int err = watch_dir(self, r, path);
  if(err == ENOSPC) warn_limit(self, path);
  if(err && created) {
    self->roots[--self->nroots] = NULL;
    root_free(r);
  }
  pthread_mutex_unlock(&self->lock);
  ch_status status = status_of(err);
  if(status) {
    ch_free(path);
    return status;
  }

  /* The walk gets its own matcher: ch_ignore is not thread-safe, and the
   * root's one belongs to the reader. */
  walk w = {.self = self,
            .serial = serial,
            .locked = false,
            .ignore = ch_ignore_new(path, ignore_globs),
            .report_files = false};
  status = walk_tree(&w, path);
  ch_ignore_free(w.ignore);
  ch_free(path);
  return status;
}

ch_status ch_watcher_remove_tree(ch_watcher *self, const char *root_path) {
  if(!self || !root_path || root_path[0] != '/') return CH_ERR_INVALID;
  char *path = normalize(root_path);
  pthread_mutex_lock(&self->lock);
  size_t removed = unwatch_below(self, path);
  size_t kept = 0;
  for(size_t i = 0; i < self->nroots; i++) {
    root *r = self->roots[i];
    if(at_or_below(r->path, path)) {
      root_free(r);
      removed++;
    } else {
      self->roots[kept++] = r;
    }
  }
  self->nroots = kept;
  /* Room was made: warn again if the limit is hit again. */
  if(removed) self->limit_warned = false;
  pthread_mutex_unlock(&self->lock);
  ch_free(path);
  return removed ? CH_OK : CH_ERR_NOT_FOUND;
}

/* A directory appeared at path (mkdir or renamed in): watch it and below,
 * and queue the files already there. Reader, lock held. */
static void catch_up(ch_watcher *self, root *r, const char *path) {
  walk w = {.self = self,
            .serial = r->serial,
            .locked = true,
            .ignore = root_ignore(r),
            .report_files = true};
  walk_tree(&w, path);
}

/* One event. Reader, lock held. */
static void handle_event(ch_watcher *self, const struct inotify_event *ev) {
  if(ev->mask & IN_Q_OVERFLOW) {
    ch_log_info("inotify queue overflowed: rescanning %zu root(s)",
                self->nroots);
    for(size_t i = 0; i < self->nroots; i++)
      queue_changed(self, self->roots[i]->path);
    return;
  }
  dir *d = dir_get(self, ev->wd);
  if(!d) return; /* unwatched since the event was queued */
  if(ev->mask & IN_IGNORED) {
    /* The kernel dropped the watch (its directory is gone). */
    char key[16];
    wd_key(ev->wd, key);
    ch_map_remove(&self->dirs, key);
    dir_free(d);
    return;
  }
  root *r = d->owner;
  if(ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
    /* Seen for a root, or for a directory whose parent event came first
     * (then it is no longer in the table and we returned above). */
    char *path = ch_strdup(d->path);
    if(!ignored(root_ignore(r), r, path, true)) queue_changed(self, path);
    unwatch_below(self, path);
    ch_free(path);
    return;
  }
  if(!ev->len || !ev->name[0]) return;

  bool is_dir = (ev->mask & IN_ISDIR) != 0;
  char *path = join(d->path, ev->name);
  if(!is_dir && strcmp(ev->name, ".gitignore") == 0) {
    /* Rules changed: rebuild the matcher before the next event uses it. */
    ch_ignore_free(r->ignore);
    r->ignore = NULL;
    queue_changed(self, path);
  } else if(is_dir && strcmp(ev->name, ".git") == 0) {
    /* never watched, never reported */
  } else if(ignored(root_ignore(r), r, path, is_dir)) {
    /* filtered */
  } else if(!is_dir) {
    queue_changed(self, path);
  } else if(ev->mask & (IN_CREATE | IN_MOVED_TO)) {
    catch_up(self, r, path);
  } else if(ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
    queue_changed(self, path);
    unwatch_below(self, path);
  }
  ch_free(path);
}

size_t ch_watcher_read(ch_watcher *self, ch_watch_cb changed, void *userdata) {
  pthread_mutex_lock(&self->lock);
  for(int reads = 0; reads < MAX_READS;) {
    ssize_t got = read(self->fd, self->buf, READ_BUF_SIZE);
    if(got < 0 && errno == EINTR) continue;
    if(got <= 0) {
      if(got < 0 && errno != EAGAIN)
        ch_log_warn("watch: reading inotify events: %s", strerror(errno));
      break;
    }
    reads++;
    /* The kernel writes whole events only. */
    for(size_t at = 0; at + sizeof(struct inotify_event) <= (size_t)got;) {
      const struct inotify_event *ev =
          (const struct inotify_event *)(void *)(self->buf + at);
      handle_event(self, ev);
      at += sizeof(*ev) + ev->len;
    }
  }
  char **paths = self->changed;
  size_t n = self->nchanged;
  self->changed = NULL;
  self->nchanged = self->changed_cap = 0;
  ch_map_release(&self->seen, NULL);
  pthread_mutex_unlock(&self->lock);

  for(size_t i = 0; i < n; i++) {
    if(changed) changed(paths[i], userdata);
    ch_free(paths[i]);
  }
  ch_free(paths);
  return n;
}
