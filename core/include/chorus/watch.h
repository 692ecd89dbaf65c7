/*
 * chorus/watch.h: file changes under a repository, seen by the server
 * itself (Linux inotify), for clients that cannot watch files for it (no
 * dynamic registration of workspace/didChangeWatchedFiles: Neovim 0.7 and
 * others).
 *
 * The server owns one ch_watcher, puts ch_watcher_fd in its loop
 * (ch_loop_watch(fd, CH_LOOP_READ)) and, when it is readable, calls
 * ch_watcher_read, which hands over the absolute paths that changed.
 *
 * What a watcher guarantees:
 * - It watches every directory under a root that git would not ignore
 *   (chorus/workspace.h, ch_ignore), never .git, never through a symlinked
 *   directory (the root itself may be a symlink: it is followed).
 * - A file that is created, closed after writing, deleted, renamed from or
 *   renamed to in a watched directory is reported, unless the ignore rules
 *   of its root exclude it. A .gitignore is always reported, and the rules
 *   are re-read after it changes. Writes through a descriptor that stays
 *   open (or through mmap) show up when it is closed: IN_MODIFY is not
 *   watched, since it fires once per write().
 * - A directory that appears (mkdir, rename into the tree) is watched at
 *   once with everything below it, and every file already inside it is
 *   reported: files created between the mkdir and the new watch are not
 *   lost.
 * - A directory that is deleted or renamed away is reported as one path,
 *   the directory's, and is no longer watched. The receiver should drop or
 *   re-check every indexed file under that path. So the callback may get a
 *   directory path, or a path that no longer exists.
 * - When the kernel's queue overflows, events were lost: each root is
 *   reported (meaning "rescan all of it"). Directories created during the
 *   loss may be unwatched; call ch_watcher_add_tree again (on a worker) to
 *   pick them up.
 * - Directories that a .gitignore change stops ignoring are not watched
 *   until ch_watcher_add_tree runs again for the root. It is idempotent:
 *   already watched directories are kept, missing ones added.
 * - When the per-user watch limit (fs.inotify.max_user_watches) is hit,
 *   what is watched stays watched, one warning is logged, and the call
 *   returns CH_ERR_TOO_LARGE.
 *
 * Threads: ch_watcher_read must be called from one thread at a time (the
 * loop's). ch_watcher_add_tree and ch_watcher_remove_tree may be called
 * from any thread, also while ch_watcher_read runs on another; the watched
 * set is guarded by a mutex inside the watcher, and a long walk holds it
 * only one directory at a time. ch_watcher_fd is safe from any thread.
 * ch_watcher_new and ch_watcher_free must not race with anything.
 */
#ifndef CHORUS_WATCH_H
#define CHORUS_WATCH_H

#include "chorus/util.h"

typedef struct ch_watcher ch_watcher;

/* A receiver of changed paths. abs_path is borrowed for the call. */
typedef void (*ch_watch_cb)(const char *abs_path, void *userdata);

/* A watcher with nothing watched yet. Returns NULL and sets *error
 * (CH_ERR_TOO_LARGE: the per-user limit of inotify instances is reached;
 * CH_ERR_IO otherwise). Free with ch_watcher_free. */
ch_watcher *ch_watcher_new(ch_status *error);
/* Closes the descriptor (which drops every watch) and frees the watcher.
 * ch_watcher_free(NULL) is a no-op. */
void ch_watcher_free(ch_watcher *self);

/* The inotify descriptor to poll for reading. It is non-blocking and
 * close-on-exec, owned by the watcher and valid until ch_watcher_free. */
int ch_watcher_fd(const ch_watcher *self);

/* Watches root (an absolute path to a directory; trailing slashes are
 * dropped) and every directory below it that git would not ignore.
 * ignore_globs (NULL-terminated, may be NULL; copied) are extra gitignore
 * patterns at the root, as for ch_ignore_new; they also filter what
 * ch_watcher_read reports, and replace earlier globs when the root is
 * added again. Directories that cannot be read or vanish during the walk
 * are skipped. Returns CH_OK; CH_ERR_INVALID (root relative, or not a
 * directory); CH_ERR_NOT_FOUND (root missing); CH_ERR_IO (root unreadable);
 * CH_ERR_TOO_LARGE (watch limit hit: the rest stays watched);
 * CH_ERR_CANCELLED (ch_watcher_remove_tree removed root during the walk).
 * May take a while on a big tree: call it from a worker thread. */
ch_status ch_watcher_add_tree(ch_watcher *self, const char *root,
                              const char *const *ignore_globs);

/* Stops watching root (absolute; trailing slashes dropped) and every
 * directory below it, and forgets the roots at or below it. root need not
 * be one given to ch_watcher_add_tree: a directory inside one works too.
 * Events already queued for those directories are dropped. Returns CH_OK,
 * or CH_ERR_NOT_FOUND when nothing at or below root was watched. */
ch_status ch_watcher_remove_tree(ch_watcher *self, const char *root);

/* Drains the pending events (non-blocking; returns 0 at once when there
 * are none) and calls changed once per distinct path, in the order the
 * paths first appeared (see the top of this file for what a path may
 * name). New directories are watched and scanned before it returns.
 * changed runs after the watcher's lock is released, so it may call
 * ch_watcher_add_tree or ch_watcher_remove_tree, but not ch_watcher_read.
 * changed may be NULL (drain and discard). One call reads a bounded
 * amount (a few MiB of events); if more is pending the descriptor stays
 * readable. Returns the number of paths reported. */
size_t ch_watcher_read(ch_watcher *self, ch_watch_cb changed, void *userdata);

#endif
