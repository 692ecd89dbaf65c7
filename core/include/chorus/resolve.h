/*
 * chorus/resolve.h: which workspace files an import refers to.
 *
 * The language is the importing record's (from its path when lang is
 * NULL). All paths are relative to the root of the file set and
 * '/'-separated; a path built from a spec is normalised lexically
 * ("a/./b/../c" is "a/c") and one that climbs above the root resolves to
 * nothing. Files are returned most relevant first; where the rules can only
 * guess (suffix matches, several source roots) every candidate is
 * returned, nearest first: most leading directories shared with the
 * importer, then fewest directories, then shortest path, then by path.
 *
 * - C/C++ `#include "x/y.h"`: the file relative to the including file's
 *   directory, alone, when it exists; otherwise every file whose path ends
 *   with x/y.h (any directory may be on the include path: include/, or any
 *   D with D/x/y.h), nearest first. `<x/y.h>` the same without the relative
 *   step, so system headers stay unresolved. A spec that still starts with
 *   ".." after normalising needs as many directories above the match.
 * - Python `import a.b` / `from a.b import c` (spec "a.b", names "c"):
 *   a/b.py, a/b/__init__.py, a/b.pyi, a/b/__init__.pyi (in that order)
 *   under each source root, nearest first: the importer's directory and
 *   each one above it, down to the root (so src/pkg/mod.py finds "pkg.x"
 *   under src/). When nothing is found there, the same files anywhere by
 *   suffix, nearest first. A name that is a submodule (from a import b
 *   with a/b.py) resolves to it; module a itself is added after the
 *   submodules only when some name is not one (or for "*").
 *   Relative specs: "." is the importer's package directory, ".." its
 *   parent, "..p" the module p there; `from . import x` is ./x.py or
 *   ./x/__init__.py, else ./__init__.py. No suffix fallback for them.
 * - JS/TS (javascript, typescript, tsx) "./x", "../x", ".", "..", and "/x"
 *   (from the root): the first of the exact file; a spec ending in .js,
 *   .jsx, .mjs, .cjs swapped to its TypeScript source (.ts, .tsx, .d.ts;
 *   .tsx; .mts, .d.mts; .cts, .d.cts); the path plus .ts .tsx .d.ts .js
 *   .jsx .mjs .cjs .mts .cts; index.<same> inside it. A spec naming a
 *   directory ("./", ".", "..") tries only index files. One file at most.
 *   Bare specs ("react", "lodash/fp") do not resolve: node_modules is not
 *   indexed, and tsconfig paths/baseUrl are not read.
 * - Go: the nearest go.mod walking up from the importer (found with
 *   lookup, read with read) gives the module path; an import path equal to
 *   it or under it ("mod/pkg") is that directory relative to the go.mod; a
 *   path outside it is tried as vendor/<path> next to the go.mod. Resolves
 *   to the .go files directly in the directory, without _test.go files and
 *   files starting with "_" or ".", sorted by path. Everything else (the
 *   standard library, dependencies, paths with "." or ".." or empty
 *   components) is unresolved.
 * - Rust: `mod x;` (kind CH_IMPORT_RELATIVE, spec "x") in a/b.rs is
 *   a/b/x.rs or a/b/x/mod.rs; in a/mod.rs, a/lib.rs, a/main.rs, and in
 *   files Cargo compiles as crate roots (build.rs, bin/, tests/,
 *   examples/, benches/) it is a/x.rs or a/x/mod.rs. `use` paths: the crate
 *   root is the directory of the nearest lib.rs or main.rs walking up (the
 *   importer itself when there is none); `crate::p::q::R` is the longest
 *   prefix that is a module file (p/q/R.rs, p/q/R/mod.rs, p/q.rs, ...,
 *   then the root file itself); `self::` and `super::` start from the
 *   importer's module (a/b.rs is a::b, a/mod.rs is a). Another first
 *   segment resolves only when it is a module of the importer or of the
 *   crate root (2018 and 2015 paths); std, core, alloc and other crates do
 *   not. Use lists ("crate::a" with names "b,c", or "crate::a::{b, c}",
 *   nested) resolve every path (a::b, a::c, then a itself) and return
 *   every file found.
 * - Java `import a.b.C;` -> every file ending with a/b/C.java, nearest
 *   first; when there is none the last segment is dropped, up to twice
 *   (static members, nested classes: a.b.C.m -> C.java). `import a.b.*;`
 *   (or spec "a.b" with names "*") -> the .java files of one directory
 *   ending with a/b, sorted by path: D/a/b for D the importer's directory
 *   or one above it (its source root is one of them), nearest first; else
 *   the directory holding the most a/b/Name.java for the capitalised
 *   identifiers the importer uses (its idents). A static wildcard
 *   (a.b.C.*) with no such directory resolves to C.java.
 *
 * The file set is reached through a small table of callbacks, so the index
 * can answer from its snapshot without copying it. Resolution never calls
 * back into the file set from inside an each() callback, and read() is only
 * asked for go.mod files.
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
 * same root as the file set; imp's strings live in its pool). Writes up to
 * max file ids into out (which may be NULL when max is 0), distinct and
 * most relevant first, and returns how many it found in total (which may
 * exceed max: a Go package or a Java wildcard resolves to several files).
 * 0 means unresolved, also for malformed input (a spec past 4096 bytes, a
 * pool offset outside the pool, a NULL argument). */
size_t ch_resolve_import(const ch_fileset *files, const ch_record *from,
                         const ch_import *imp, uint32_t *out, size_t max);

#endif
