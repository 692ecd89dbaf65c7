/*
 * chorus/resolve.h: which workspace files an import refers to.
 *
 * The rules of each language, applied to the files the index knows:
 * - C/C++ `#include "x/y.h"`: relative to the including file's directory,
 *   then to the include directories found in the repository (directories
 *   named include/, and any directory D such that D/x/y.h exists: suffix
 *   match on the path, preferring the candidate nearest to the includer);
 *   `<x/y.h>` the same without the relative step.
 * - Python `import a.b`, `from a.b import c`, `from . import x`,
 *   `from ..p import q`: a/b.py or a/b/__init__.py from the root or any
 *   source root (a directory such that the dotted path resolves under it,
 *   nearest first); relative imports from the file's package; `from a
 *   import c` also tries the submodule a/c.py.
 * - JS/TS `import ... from './x'`, `require('./x')`, `export ... from`:
 *   relative paths with the extensions .ts .tsx .d.ts .js .jsx .mjs .cjs
 *   and index files; bare package names do not resolve (node_modules is
 *   not indexed).
 * - Go: an import path under the module path of the nearest go.mod resolves
 *   to the .go files (not _test.go) of that package directory.
 * - Rust: `mod x;` -> x.rs or x/mod.rs next to the declaring file (or in
 *   its directory named after the file for non-mod.rs files); `use
 *   crate::a::b::C` -> the longest prefix that is a module file under the
 *   crate root (the directory of lib.rs or main.rs); `super::` and `self::`
 *   relative to the declaring module.
 * - Java `import a.b.C;` -> a/b/C.java under any source root (suffix
 *   match); `import a.b.*;` -> the .java files of that package directory;
 *   `import static a.b.C.m;` -> C.java.
 *
 * The file set is reached through a small table of callbacks, so the index
 * can answer from its snapshot without copying it.
 *
 * Threads: resolution is pure; it may run on any thread as long as the
 * callbacks may.
 */
#ifndef CHORUS_RESOLVE_H
#define CHORUS_RESOLVE_H

#include "chorus/index.h"

typedef void (*ch_fileset_each)(uint32_t id, const char *path, void *userdata);

typedef struct ch_fileset {
  /* Exact lookup of a relative path. */
  bool (*lookup)(void *self, const char *path, uint32_t *id);
  /* Every file whose path equals suffix or ends with "/" suffix. */
  void (*by_suffix)(void *self, const char *suffix, ch_fileset_each each,
                    void *userdata);
  /* Every file directly inside dir ("" is the root). */
  void (*in_dir)(void *self, const char *dir, ch_fileset_each each,
                 void *userdata);
  /* Contents of a small workspace file (go.mod, Cargo.toml): a new string
   * the caller frees with ch_free, or NULL when absent. */
  char *(*read)(void *self, const char *path);
  void *self;
} ch_fileset;

/* Resolves one import of `from` (a record whose path is relative to the
 * same root as the file set). Writes up to max file ids into out and
 * returns how many it found in total (which may exceed max: a Go package
 * or a Java wildcard resolves to several files). 0 means unresolved. */
size_t ch_resolve_import(const ch_fileset *files, const ch_record *from,
                         const ch_import *imp, uint32_t *out, size_t max);

#endif
