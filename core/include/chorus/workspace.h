/*
 * chorus/workspace.h: which files of a repository chorus looks at.
 *
 * - ch_ignore answers "would git ignore this path?" for one repository root
 *   with git's own rules: .gitignore files in every directory (read lazily,
 *   deeper files win), .git/info/exclude, the user's global excludes file
 *   (core.excludesFile, default $XDG_CONFIG_HOME/git/ignore), negation
 *   with "!", directory-only patterns ("build/"), "**", anchored patterns
 *   ("/x", "a/b"), character classes, escapes, trailing spaces; and "a
 *   file inside an excluded directory cannot be re-included". Extra globs
 *   from the config use the same syntax and apply at the root.
 * - ch_workspace_walk lists the files worth indexing under a root: not
 *   ignored, not inside .git, a known language (by extension, then by a
 *   shebang line), not binary (a NUL byte in the first 8 KiB), not over the
 *   size limit, following symlinks without looping (a directory reached
 *   twice by its device and inode is skipped). Unreadable entries, files
 *   that vanish during the walk and absurd trees (100,000 files in one
 *   folder, nesting thousands deep) are skipped or handled with one log
 *   line each, never a crash.
 *
 * Paths handed out are relative to the root, '/'-separated, without "./".
 *
 * Threads: a ch_ignore is not thread-safe (it caches .gitignore files as
 * it meets them); walks on different roots may run in parallel.
 */
#ifndef CHORUS_WORKSPACE_H
#define CHORUS_WORKSPACE_H

#include "chorus/syntax.h"
#include "chorus/util.h"

#define CH_WALK_DEFAULT_MAX_BYTES (1u << 20)

typedef struct ch_ignore ch_ignore;

/* A matcher for the repository at root (an absolute path; copied).
 * extra_globs (NULL-terminated, may be NULL) are gitignore patterns applied
 * as if in a .gitignore at the root, after the repository's own. */
ch_ignore *ch_ignore_new(const char *root, const char *const *extra_globs);
void ch_ignore_free(ch_ignore *self);
/* Whether path (relative to the root) is ignored. is_dir says whether it
 * names a directory (directory-only patterns match only those). A path
 * under an ignored directory is ignored. ".git" and everything in it is
 * always ignored. */
bool ch_ignore_match(ch_ignore *self, const char *path, bool is_dir);

/* A list of gitignore patterns with no repository behind it: the same
 * syntax and rules as one .gitignore at a root (the last matching pattern
 * wins, "!" re-includes, a path under a matching directory matches), but
 * no files are read. Immutable once built, so it may be shared between
 * threads. patterns is NULL-terminated (may be NULL) and copied. */
typedef struct ch_ignore_list ch_ignore_list;
ch_ignore_list *ch_ignore_list_new(const char *const *patterns);
void ch_ignore_list_free(ch_ignore_list *self);
/* Whether path (relative, '/'-separated; a leading "./" or "/" and a
 * trailing '/', which makes it a directory, are forgiven) matches. */
bool ch_ignore_list_match(const ch_ignore_list *self, const char *path,
                          bool is_dir);

typedef struct ch_walk_options {
  uint64_t max_file_bytes; /* 0: CH_WALK_DEFAULT_MAX_BYTES */
  const char *const *ignore_globs; /* extra patterns (NULL-terminated) */
  /* Checked between directories; returning true stops the walk early
   * (CH_ERR_CANCELLED). May be NULL. */
  bool (*cancelled)(void *userdata);
} ch_walk_options;

typedef struct ch_walk_entry {
  const char *path;     /* relative to the root; borrowed for the call */
  const char *abs_path; /* borrowed for the call */
  uint64_t size;
  int64_t mtime_ns;
  const ch_language *lang;
} ch_walk_entry;

typedef struct ch_walk_stats {
  size_t files;        /* handed to on_file */
  size_t dirs;         /* directories entered */
  size_t ignored;      /* files and dirs skipped by ignore rules */
  size_t unknown_lang; /* files of no known language */
  size_t binary;
  size_t too_large;
  size_t unreadable;   /* errors from the file system, vanished files */
  size_t loops;        /* symlinked directories seen before */
} ch_walk_stats;

typedef void (*ch_walk_cb)(const ch_walk_entry *entry, void *userdata);

/* Walks root (absolute) and calls on_file for each file worth indexing, in
 * a deterministic order (sorted by name within each directory). stats may
 * be NULL. Returns CH_OK, CH_ERR_NOT_FOUND/CH_ERR_IO when root cannot be
 * opened, or CH_ERR_CANCELLED. */
ch_status ch_workspace_walk(const char *root, const ch_walk_options *options,
                            ch_walk_cb on_file, void *userdata,
                            ch_walk_stats *stats);

/* Decides whether one file is worth indexing, with the same rules as the
 * walk (except ignore rules): fills *entry (path fields are left NULL) and
 * returns CH_OK, or returns why not (CH_ERR_NOT_FOUND: vanished or unknown
 * language; CH_ERR_TOO_LARGE; CH_ERR_INVALID: binary; CH_ERR_IO). */
ch_status ch_workspace_check_file(const char *abs_path,
                                  const ch_walk_options *options,
                                  ch_walk_entry *entry);

#endif
