/* Tests for core/src/workspace.c. ch_ignore is compared with git itself
 * (`git check-ignore --no-index --stdin` for every file and directory,
 * `git ls-files --others --exclude-standard` for what the walk lists) on
 * hand-written repositories and on many generated ones; then the walk's
 * own rules: binary, size, language, symlinks, loops, huge and deep trees,
 * order, extra globs, cancellation, and ch_workspace_check_file.
 *
 * The whole process runs with HOME and XDG_CONFIG_HOME in a temporary
 * folder and GIT_CONFIG_NOSYSTEM=1, so the user's own git configuration
 * plays no part, for git and for chorus alike. */
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chorus/syntax.h"
#include "chorus/util.h"
#include "chorus/workspace.h"

static char *g_home; /* the temporary HOME of this process */
/* Every temporary folder made, removed again at exit even when a failed
 * assertion left a test half-way. */
static char *g_tmps[64];
static size_t g_ntmps;

/* ---- file system helpers ------------------------------------------------- */

static char *make_tmp(void) {
  char tmpl[] = "/tmp/chorus-ws-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  if(g_ntmps < CH_ARRAY_LEN(g_tmps)) g_tmps[g_ntmps++] = ch_strdup(tmpl);
  return ch_strdup(tmpl);
}

/* Runs a shell command built like printf; returns its exit status. */
static int sh(const char *fmt, ...) CH_PRINTF(1, 2);
static int sh(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ch_buf cmd;
  ch_buf_init(&cmd, 1 << 20);
  assert_int_equal(ch_buf_vappendf(&cmd, fmt, ap), CH_OK);
  va_end(ap);
  int status = system(cmd.data);
  ch_buf_release(&cmd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void rm_rf(const char *path) {
  /* GNU rm walks with openat, so trees deeper than PATH_MAX go too. */
  assert_int_equal(sh("rm -rf -- '%s'", path), 0);
}

/* mkdir -p of path; only the missing folders cost a system call. */
static void mkdir_p(char *path) {
  if(mkdir(path, 0755) == 0 || errno == EEXIST) return;
  assert_int_equal(errno, ENOENT);
  char *slash = strrchr(path, '/');
  assert_true(slash && slash != path);
  *slash = '\0';
  mkdir_p(path);
  *slash = '/';
  assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* mkdir -p of root/rel (rel relative, may be ""). */
static void mkdirs(const char *root, const char *rel) {
  char *path = ch_strdupf("%s/%s", root, rel);
  size_t n = strlen(path);
  while(n > 1 && path[n - 1] == '/')
    path[--n] = '\0';
  mkdir_p(path);
  ch_free(path);
}

/* Writes root/rel, making its folders first. */
static void put_file(const char *root, const char *rel, const void *data,
                     size_t len) {
  char *dir = ch_strdup(rel);
  char *slash = strrchr(dir, '/');
  if(slash) *slash = '\0';
  mkdirs(root, slash ? dir : "");
  ch_free(dir);
  char *path = ch_strdupf("%s/%s", root, rel);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
  ch_free(path);
}

static void put_text(const char *root, const char *rel, const char *text) {
  put_file(root, rel, text, strlen(text));
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  ch_buf b;
  ch_buf_init(&b, 256u << 20);
  char chunk[65536];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&b, chunk, n), CH_OK);
  fclose(f);
  return ch_buf_detach(&b, len);
}

/* Splits a NUL-separated list into a set (keys only). */
static void nul_list_to_set(const char *data, size_t len, ch_map *set) {
  for(size_t i = 0; i < len;) {
    size_t n = strlen(data + i);
    if(n) ch_map_put(set, data + i, (void *)1);
    i += n + 1;
  }
}

/* ---- walk results -------------------------------------------------------- */

typedef struct collected {
  char **paths;
  const ch_language **langs;
  uint64_t *sizes;
  size_t n, cap;
  size_t stop_after; /* cancel once this many directories were checked */
  size_t checks;
} collected;

static void collect(const ch_walk_entry *e, void *userdata) {
  collected *c = userdata;
  /* abs_path is the root, '/', then path. */
  size_t pl = strlen(e->path), al = strlen(e->abs_path);
  assert_true(al > pl && strcmp(e->abs_path + al - pl, e->path) == 0);
  assert_int_equal(e->abs_path[al - pl - 1], '/');
  assert_non_null(e->lang);
  if(c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->paths = ch_realloc(c->paths, sizeof(char *) * c->cap);
    c->langs = ch_realloc(c->langs, sizeof(void *) * c->cap);
    c->sizes = ch_realloc(c->sizes, sizeof(uint64_t) * c->cap);
  }
  c->paths[c->n] = ch_strdup(e->path);
  c->langs[c->n] = e->lang;
  c->sizes[c->n] = e->size;
  c->n++;
}

static void collected_release(collected *c) {
  for(size_t i = 0; i < c->n; i++)
    ch_free(c->paths[i]);
  ch_free(c->paths);
  ch_free(c->langs);
  ch_free(c->sizes);
  memset(c, 0, sizeof(*c));
}

static ssize_t collected_find(const collected *c, const char *path) {
  for(size_t i = 0; i < c->n; i++)
    if(strcmp(c->paths[i], path) == 0) return (ssize_t)i;
  return -1;
}

static ch_status walk(const char *root, const ch_walk_options *options,
                      collected *c, ch_walk_stats *stats) {
  return ch_workspace_walk(root, options, collect, c, stats);
}

/* ---- repositories compared with git -------------------------------------- */

typedef struct repo {
  char *dir; /* absolute */
  char **paths;
  bool *is_dir;
  size_t n, cap;
  ch_map seen;
  ch_buf desc; /* every ignore file, printed when a comparison fails */
} repo;

static void repo_init(repo *r) {
  memset(r, 0, sizeof(*r));
  r->dir = make_tmp();
  ch_map_init(&r->seen);
  ch_buf_init(&r->desc, 1 << 20);
  /* No template: no sample hooks to write, this file system is slow at
   * creating files. */
  assert_int_equal(sh("git init -q --template= '%s' >/dev/null 2>&1", r->dir),
                   0);
}

static void repo_release(repo *r) {
  rm_rf(r->dir);
  ch_free(r->dir);
  for(size_t i = 0; i < r->n; i++)
    ch_free(r->paths[i]);
  ch_free(r->paths);
  ch_free(r->is_dir);
  ch_map_release(&r->seen, NULL);
  ch_buf_release(&r->desc);
}

/* Records rel and the folders above it, once each. */
static void repo_record(repo *r, const char *rel, bool is_dir) {
  char *p = ch_strdup(rel);
  for(char *s = p; (s = strchr(s, '/')); s++) {
    *s = '\0';
    repo_record(r, p, true);
    *s = '/';
  }
  if(!ch_map_get(&r->seen, p)) {
    ch_map_put(&r->seen, p, (void *)1);
    if(r->n == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 64;
      r->paths = ch_realloc(r->paths, sizeof(char *) * r->cap);
      r->is_dir = ch_realloc(r->is_dir, sizeof(bool) * r->cap);
    }
    r->paths[r->n] = ch_strdup(p);
    r->is_dir[r->n] = is_dir;
    r->n++;
  }
  ch_free(p);
}

/* A file of the repository: "int x;" when its name says it is code, "x"
 * otherwise. It is a hard link to one of two files in the temporary HOME
 * when it can be: a link costs a fraction of a new file on slow disks. */
static void repo_file(repo *r, const char *rel) {
  bool code = ch_syntax_by_path(rel, NULL, 0) != NULL;
  const char *text = code ? "int x;\n" : "x\n";
  char *tmpl = ch_strdupf("%s/%s", g_home, code ? "code.tmpl" : "text.tmpl");
  if(access(tmpl, F_OK))
    put_text(g_home, code ? "code.tmpl" : "text.tmpl", text);
  char *dir = ch_strdup(rel);
  char *slash = strrchr(dir, '/');
  if(slash) *slash = '\0';
  mkdirs(r->dir, slash ? dir : "");
  char *path = ch_strdupf("%s/%s", r->dir, rel);
  if(link(tmpl, path)) put_text(r->dir, rel, text);
  ch_free(path);
  ch_free(dir);
  ch_free(tmpl);
  repo_record(r, rel, false);
}

static void repo_dir(repo *r, const char *rel) {
  mkdirs(r->dir, rel);
  repo_record(r, rel, true);
}

/* An ignore file: a .gitignore in the tree (recorded as a path) or a file
 * outside it (.git/info/exclude, a global excludes file: where is
 * absolute then). */
static void repo_ignore(repo *r, const char *where, const char *text) {
  if(where[0] == '/') {
    put_text("", where + 1, text);
  } else {
    put_text(r->dir, where, text);
    repo_record(r, where, false);
  }
  ch_buf_appendf(&r->desc, "---- %s\n%s", where, text);
  if(text[0] && text[strlen(text) - 1] != '\n')
    ch_buf_append_str(&r->desc, "\n");
}

static void repo_info_exclude(repo *r, const char *text) {
  char *path = ch_strdupf("%s/.git/info/exclude", r->dir);
  repo_ignore(r, path, text);
  ch_free(path);
}

/* git's answer for every recorded path: true when ignored. */
static bool *git_ignored(repo *r) {
  char *in = ch_strdupf("%s/check.in", g_home);
  char *out = ch_strdupf("%s/check.out", g_home);
  FILE *f = fopen(in, "wb");
  assert_non_null(f);
  for(size_t i = 0; i < r->n; i++)
    fwrite(r->paths[i], 1, strlen(r->paths[i]) + 1, f);
  fclose(f);
  int status = sh("git -C '%s' check-ignore --no-index --stdin -z <'%s' >'%s'",
                  r->dir, in, out);
  assert_true(status == 0 || status == 1); /* 1: nothing ignored */
  size_t len;
  char *data = read_all(out, &len);
  ch_map set;
  ch_map_init(&set);
  nul_list_to_set(data, len, &set);
  bool *ignored = ch_calloc(r->n ? r->n : 1, sizeof(bool));
  for(size_t i = 0; i < r->n; i++)
    ignored[i] = ch_map_get(&set, r->paths[i]) != NULL;
  ch_map_release(&set, NULL);
  ch_free(data);
  unlink(in);
  unlink(out);
  ch_free(in);
  ch_free(out);
  return ignored;
}

/* The untracked files git lists (all files are untracked): the ones it
 * does not ignore. */
static void git_others(repo *r, ch_map *set) {
  char *out = ch_strdupf("%s/others.out", g_home);
  assert_int_equal(sh("git -C '%s' ls-files --others --exclude-standard -z "
                      ">'%s'",
                      r->dir, out),
                   0);
  size_t len;
  char *data = read_all(out, &len);
  nul_list_to_set(data, len, set);
  ch_free(data);
  unlink(out);
  ch_free(out);
}

/* Compares ch_ignore_match for every path with check-ignore, twice (in
 * order, then in reverse order with a fresh matcher, so the directory
 * cache is built in another order), and the walk with ls-files. Returns
 * the number of paths compared. */
static size_t compare_with_git(repo *r, const char *label) {
  bool *want = git_ignored(r);
  size_t bad = 0;
  for(int pass = 0; pass < 2; pass++) {
    ch_ignore *ig = ch_ignore_new(r->dir, NULL);
    assert_non_null(ig);
    for(size_t k = 0; k < r->n; k++) {
      size_t i = pass ? r->n - 1 - k : k;
      bool got = ch_ignore_match(ig, r->paths[i], r->is_dir[i]);
      if(got == want[i]) continue;
      if(bad++ < 12)
        print_message("%s: '%s'%s: git %s, chorus %s\n", label, r->paths[i],
                      r->is_dir[i] ? " (dir)" : "",
                      want[i] ? "ignores it" : "keeps it",
                      got ? "ignores it" : "keeps it");
    }
    ch_ignore_free(ig);
  }

  ch_map others;
  ch_map_init(&others);
  git_others(r, &others);
  collected c = {0};
  ch_walk_stats stats;
  assert_int_equal(walk(r->dir, NULL, &c, &stats), CH_OK);
  size_t expected = 0;
  for(size_t i = 0; i < r->n; i++) {
    if(r->is_dir[i]) continue;
    bool listed = ch_map_get(&others, r->paths[i]) != NULL;
    /* The two oracles agree with each other. */
    assert_int_equal(listed, !want[i]);
    bool code = ch_syntax_by_path(r->paths[i], NULL, 0) != NULL;
    bool walked = collected_find(&c, r->paths[i]) >= 0;
    if(listed && code) expected++;
    if(walked != (listed && code) && bad++ < 12)
      print_message("%s: walk %s '%s', git %s it\n", label,
                    walked ? "lists" : "skips", r->paths[i],
                    listed ? "lists" : "ignores");
  }
  if(c.n != expected && bad++ < 12)
    print_message("%s: walk listed %zu files, expected %zu\n", label, c.n,
                  expected);
  if(bad) print_message("%s: the ignore files:\n%s", label, r->desc.data);
  assert_int_equal(bad, 0);
  collected_release(&c);
  ch_map_release(&others, NULL);
  ch_free(want);
  return r->n;
}

/* Looks a path up after compare_with_git, for the explicit expectations of
 * the hand-written cases. */
static bool ignored(const char *root, const char *path, bool is_dir) {
  ch_ignore *ig = ch_ignore_new(root, NULL);
  bool result = ch_ignore_match(ig, path, is_dir);
  ch_ignore_free(ig);
  return result;
}

/* Removes every global excludes setting from the temporary HOME. */
static void reset_global_excludes(void) {
  const char *const files[] = {"xdg/git/ignore", ".gitconfig",
                               ".config/git/ignore", "global-ignore",
                               "global-ignore-2"};
  for(size_t i = 0; i < CH_ARRAY_LEN(files); i++) {
    char *p = ch_strdupf("%s/%s", g_home, files[i]);
    unlink(p);
    ch_free(p);
  }
}

/* ---- hand-written repositories ------------------------------------------- */

static void test_ignore_reinclude_and_syntax(void **state) {
  (void)state;
  repo r;
  repo_init(&r);
  repo_ignore(&r, ".gitignore",
              "# a comment\n"
              "excluded/\n"
              "!excluded/keep.c\n"
              "dir/*\n"
              "!dir/keep.c\n"
              "!dir/sub/\n"
              "*.log\n"
              "!important.log\n"
              "\\#hash.c\n"
              "\\!bang.c\n"
              "trailing.c   \n"
              "escaped\\ \n"
              "/anchored.c\n"
              "sub/nested.c\n"
              "**/deep.c\n"
              "lead/**\n"
              "a/**/b.c\n"
              "[a-c]x.c\n"
              "[!q]y.c\n"
              "doc/*.txt\n"
              "x/a**/y.c\n"
              "m[[:digit:]]n.c\n"
              "\n"
              "   \n"
              "!\n");
  const char *const files[] = {"excluded/keep.c",
                               "excluded/other.c",
                               "dir/keep.c",
                               "dir/other.c",
                               "dir/sub/f.c",
                               "dir/subx/f.c",
                               "x.log",
                               "important.log",
                               "sub2/important.log",
                               "#hash.c",
                               "!bang.c",
                               "trailing.c",
                               "trailing.c ",
                               "escaped ",
                               "escaped",
                               "anchored.c",
                               "z/anchored.c",
                               "sub/nested.c",
                               "z/sub/nested.c",
                               "q/r/deep.c",
                               "deep.c",
                               "lead/x.c",
                               "lead/y/z.c",
                               "lead.c",
                               "a/b.c",
                               "a/x/y/b.c",
                               "a/xb.c",
                               "ax.c",
                               "dx.c",
                               "qy.c",
                               "ry.c",
                               "doc/a.txt",
                               "doc/sub/b.txt",
                               "x/ab/c/y.c",
                               "x/y.c",
                               "m1n.c",
                               "mxn.c",
                               "plain.c"};
  for(size_t i = 0; i < CH_ARRAY_LEN(files); i++)
    repo_file(&r, files[i]);
  repo_dir(&r, "dir/empty");
  compare_with_git(&r, "reinclude");

  /* What the header promises, spelled out. */
  const char *const yes[] = {"excluded/keep.c",
                             "excluded/other.c",
                             "dir/other.c",
                             "x.log",
                             "#hash.c",
                             "!bang.c",
                             "trailing.c",
                             "escaped ",
                             "anchored.c",
                             "sub/nested.c",
                             "q/r/deep.c",
                             "deep.c",
                             "lead/x.c",
                             "lead/y/z.c",
                             "a/b.c",
                             "a/x/y/b.c",
                             "ax.c",
                             "ry.c",
                             "doc/a.txt",
                             "x/ab/c/y.c",
                             "m1n.c",
                             "dir/subx/f.c"};
  const char *const no[] = {
      "dir/keep.c",    "dir/sub/f.c", "important.log", "sub2/important.log",
      "trailing.c ",   "escaped",     "z/anchored.c",  "z/sub/nested.c",
      "lead.c",        "a/xb.c",      "dx.c",          "qy.c",
      "doc/sub/b.txt", "x/y.c",       "mxn.c",         "plain.c"};
  for(size_t i = 0; i < CH_ARRAY_LEN(yes); i++)
    if(!ignored(r.dir, yes[i], false))
      fail_msg("'%s' should be ignored", yes[i]);
  for(size_t i = 0; i < CH_ARRAY_LEN(no); i++)
    if(ignored(r.dir, no[i], false)) fail_msg("'%s' should be kept", no[i]);
  assert_true(ignored(r.dir, "excluded", true));
  assert_false(ignored(r.dir, "excluded", false)); /* "excluded/": dirs only */
  assert_false(ignored(r.dir, "dir", true));
  assert_true(ignored(r.dir, "dir/empty", true));
  assert_false(ignored(r.dir, "lead", true)); /* lead/<star><star>: inside */
  repo_release(&r);
}

static void test_ignore_nested_and_sources(void **state) {
  (void)state;
  reset_global_excludes();
  repo r;
  repo_init(&r);
  char *global = ch_strdupf("%s/xdg/git/ignore", g_home);
  mkdirs(g_home, "xdg/git");
  repo_ignore(&r, global, "*.md\n*.g\n!keep.g\nglobal-dir/\n");
  /* info/exclude beats the global file, any .gitignore beats both. */
  repo_info_exclude(&r, "*.py\n!keep.md\n*.g\n!also.g\n");
  /* A BOM, CRLF lines, a tab (kept: only spaces are trimmed). */
  repo_ignore(&r, ".gitignore",
              "\xEF\xBB\xBF*.c\r\n!x.py\r\n/only.txt\r\ntab.txt\t\n");
  repo_ignore(&r, "sub/.gitignore", "!*.c\n/only.txt\n!also.md\n");
  repo_ignore(&r, "sub/deeper/.gitignore", "*.c\n!keep.c\n");
  /* A re-include of a directory git never enters: no effect. */
  repo_ignore(&r, "global-dir/.gitignore", "!*\n");
  /* A .gitignore that is a symlink: git does not read it (2.32+). */
  put_text(r.dir, "patterns.txt", "*.h\n");
  repo_record(&r, "patterns.txt", false);
  mkdirs(r.dir, "linked");
  char *link = ch_strdupf("%s/linked/.gitignore", r.dir);
  assert_int_equal(symlink("../patterns.txt", link), 0);
  ch_free(link);
  const char *const files[] = {"a.c",
                               "x.py",
                               "y.py",
                               "only.txt",
                               "readme.md",
                               "keep.md",
                               "also.md",
                               "q.g",
                               "keep.g",
                               "also.g",
                               "tab.txt",
                               "tab.txt\t",
                               "sub/a.c",
                               "sub/only.txt",
                               "sub/x.py",
                               "sub/also.md",
                               "sub/deeper/a.c",
                               "sub/deeper/keep.c",
                               "sub/deeper/z.py",
                               "global-dir/f.c",
                               "linked/a.h",
                               "linked/b.c",
                               "a/global-dir/f.txt"};
  for(size_t i = 0; i < CH_ARRAY_LEN(files); i++)
    repo_file(&r, files[i]);
  compare_with_git(&r, "nested");

  assert_true(ignored(r.dir, "a.c", false));
  assert_false(ignored(r.dir, "sub/a.c", false));
  assert_true(ignored(r.dir, "sub/deeper/a.c", false));
  assert_false(ignored(r.dir, "sub/deeper/keep.c", false));
  assert_false(ignored(r.dir, "x.py", false)); /* .gitignore over info */
  assert_true(ignored(r.dir, "y.py", false));
  assert_false(ignored(r.dir, "keep.md", false)); /* info over global */
  assert_false(ignored(r.dir, "also.g", false));
  assert_true(ignored(r.dir, "global-dir/f.c", false));
  assert_false(ignored(r.dir, "linked/a.h", false));
  assert_true(ignored(r.dir, "only.txt", false));
  assert_false(ignored(r.dir, "tab.txt", false));
  assert_true(ignored(r.dir, "tab.txt\t", false));
  repo_release(&r);
  reset_global_excludes();
  ch_free(global);
}

static void test_ignore_global_excludes_settings(void **state) {
  (void)state;
  reset_global_excludes();
  repo r;
  repo_init(&r);
  repo_file(&r, "a.one");
  repo_file(&r, "b.two");
  repo_file(&r, "c.three");
  repo_file(&r, "d.c");

  /* 1. The default without XDG_CONFIG_HOME: ~/.config/git/ignore. */
  char *xdg = ch_strdup(getenv("XDG_CONFIG_HOME"));
  unsetenv("XDG_CONFIG_HOME");
  mkdirs(g_home, ".config/git");
  char *dot_config = ch_strdupf("%s/.config/git/ignore", g_home);
  repo_ignore(&r, dot_config, "*.one\n");
  compare_with_git(&r, "home-config");
  assert_true(ignored(r.dir, "a.one", false));
  setenv("XDG_CONFIG_HOME", xdg, 1);
  /* With XDG_CONFIG_HOME set, that file is not the default any more. */
  compare_with_git(&r, "xdg-set");
  assert_false(ignored(r.dir, "a.one", false));

  /* 2. core.excludesFile written by git config itself. */
  char *g1 = ch_strdupf("%s/global-ignore", g_home);
  repo_ignore(&r, g1, "*.two\n");
  assert_int_equal(sh("git config --global core.excludesFile '%s'", g1), 0);
  compare_with_git(&r, "git-config");
  assert_true(ignored(r.dir, "b.two", false));

  /* 3. A hand-written config: later sections win, "~/" expands, key and
   * section names ignore case, subsections are other sections, quotes and
   * comments are read as git reads them. */
  char *g2 = ch_strdupf("%s/global-ignore-2", g_home);
  repo_ignore(&r, g2, "*.three\n");
  char *cfg = ch_strdupf("%s/.gitconfig", g_home);
  FILE *f = fopen(cfg, "w");
  assert_non_null(f);
  fprintf(f,
          "[user]\n\tname = someone\n"
          "[core]\n\texcludesFile = %s\n"
          "[core \"sub\"]\n\texcludesfile = /nowhere\n"
          "[CORE]\n  # a comment\n"
          "  ExcludesFile = \"~/global-ignore-2\" ; trailing comment\n",
          g1);
  fclose(f);
  compare_with_git(&r, "hand-config");
  assert_true(ignored(r.dir, "c.three", false));
  assert_false(ignored(r.dir, "b.two", false));

  /* 4. The repository's own config has the last word. */
  assert_int_equal(sh("git -C '%s' config core.excludesFile '%s'", r.dir, g1),
                   0);
  compare_with_git(&r, "local-config");
  assert_true(ignored(r.dir, "b.two", false));
  assert_false(ignored(r.dir, "c.three", false));

  repo_release(&r);
  reset_global_excludes();
  ch_free(xdg);
  ch_free(dot_config);
  ch_free(g1);
  ch_free(g2);
  ch_free(cfg);
}

/* ---- generated repositories ---------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Du) >> 33) % n;
}

/* Names that patterns and paths share, with the characters gitignore
 * treats specially (but none of "*?[" or a leading ':', which
 * check-ignore would read as pathspec syntax). Some end like others
 * ("xb", "cab", "odeep") so "**" + "/" gets a chance to over-match. */
/* clang-format off */
static const char *const words[] = {
    "a",   "b",   "ab",  "abc", "foo", "bar", "build", "keep", "log", "tmp",
    "src", "doc", "x1",  "out", "#h",  "!b",  "tr ",   "sp ace", "Foo", "a.b",
    "b-c", "deep", "z",  "c",   "xb",  "cab", "odeep"};
static const char *const exts[] = {"", "", ".c", ".c", ".o", ".log",
                                   ".py", ".txt", ".c~"};
/* Patterns people write, mixed in with the random ones. */
static const char *const stock[] = {
    "*.c",       "*.o",       "build/",    "!keep",     "**/deep",
    "doc/**",    "a/**/b",    "/abc",      "**",        "*",
    "!*.c",      "[a-c]*",    "x1/",       "\\#h",     "\\!b",
    "tr\\ ",    "sp ace",    "foo*/",     "*/a",       "a/*",
    "!a/*/keep", "[[:alpha:]]*.c", "[[:digit:]]*", "ab[!c]", "*.log",
    "!*.log/",   "src/*/",    "**/a/**",   "/*.py",     "a**/b",
    "a/**",      "b/**/",     "*/",        "!*/",       "foo/*.c",
    "**/*.c",    "[!a-b]*",   "?",         "??",        "*.[co]",
    "[]]x",      "a\\*",     "#comment",  "a/b/c",     "/a/",
    /* Malformed or odd: git never matches these, or reads them its way. */
    "foo\\",    "[ab",       "[[:nope:]]*", "x[[:]",   "**/",
    "***",       "a/***/b",   "\\",       "!\\!b",    "[z-a]*",
    "[a-]*",     "[!]]*",     "*[[:upper:]]*", "[[:punct:]]*", "b/**/*",
};
/* clang-format on */

static void gen_word(ch_buf *b, bool mutate) {
  const char *w = words[rnd(CH_ARRAY_LEN(words))];
  for(const char *p = w; *p; p++) {
    char c = *p;
    uint32_t r = mutate ? rnd(16) : 99;
    if(r == 0) {
      ch_buf_append_char(b, '?');
    } else if(r == 1) {
      ch_buf_appendf(b, "[%cx]", c == ']' ? 'y' : c);
    } else if(r == 2) {
      ch_buf_append_str(b, rnd(2) ? "[!q]" : "[^a-c]");
    } else if(r == 3) {
      ch_buf_append_str(b, rnd(3) ? "*" : "**");
      ch_buf_append_char(b, c);
    } else if(c == '#' || c == '!' || c == ' ' || c == '\\' ||
              (r == 4 && c >= 'a' && c <= 'z')) {
      /* Escapes: needed for '#', '!' and ' ' at some places, harmless
       * elsewhere. */
      if(c != '!' || p != w || rnd(2)) ch_buf_append_char(b, '\\');
      ch_buf_append_char(b, c);
    } else {
      ch_buf_append_char(b, c);
    }
  }
  uint32_t tail = mutate ? rnd(8) : 99;
  if(tail == 0) ch_buf_append_char(b, '*');
  if(tail == 1) ch_buf_append_str(b, exts[rnd(CH_ARRAY_LEN(exts))]);
  if(tail == 2) ch_buf_append_str(b, "**");
}

static void gen_pattern(ch_buf *b) {
  if(rnd(4) == 0) {
    ch_buf_append_str(b, stock[rnd(CH_ARRAY_LEN(stock))]);
  } else {
    if(rnd(6) == 0) ch_buf_append_char(b, '!');
    if(rnd(5) == 0) ch_buf_append_char(b, '/');
    uint32_t segs = 1 + (rnd(2) ? 0 : rnd(3));
    for(uint32_t s = 0; s < segs; s++) {
      if(s) ch_buf_append_char(b, '/');
      uint32_t r = rnd(10);
      if(r <= 1)
        ch_buf_append_str(b, "**");
      else if(r == 2)
        ch_buf_append_str(b, "*");
      else
        gen_word(b, rnd(2) == 0);
    }
    if(rnd(5) == 0) ch_buf_append_char(b, '/');
  }
  uint32_t r = rnd(20);
  if(r == 0) ch_buf_append_str(b, "  ");
  if(r == 1) ch_buf_append_str(b, "\\ ");
  if(r == 2) ch_buf_append_str(b, "\r");
  ch_buf_append_char(b, '\n');
}

static void gen_ignore_text(ch_buf *b, uint32_t lines) {
  ch_buf_reset(b);
  for(uint32_t i = 0; i < lines; i++)
    gen_pattern(b);
  if(!b->data) ch_buf_append_str(b, "");
}

static void gen_tree(repo *r, const char *dir, int depth, ch_buf *text) {
  uint32_t n = depth ? 2 + rnd(5) : 8 + rnd(6);
  for(uint32_t i = 0; i < n; i++) {
    const char *w = words[rnd(CH_ARRAY_LEN(words))];
    bool sub = depth < 4 && rnd(depth < 2 ? 2 : 4) == 0;
    char *rel = sub || rnd(3) == 0
                    ? ch_strdupf("%s%s%s", dir, *dir ? "/" : "", w)
                    : ch_strdupf("%s%s%s%s", dir, *dir ? "/" : "", w,
                                 exts[rnd(CH_ARRAY_LEN(exts))]);
    if(!ch_map_get(&r->seen, rel)) {
      if(sub) {
        repo_dir(r, rel);
        if(rnd(3) == 0) {
          char *gi = ch_strdupf("%s/.gitignore", rel);
          gen_ignore_text(text, 1 + rnd(5));
          repo_ignore(r, gi, text->data);
          ch_free(gi);
        }
        gen_tree(r, rel, depth + 1, text);
      } else {
        repo_file(r, rel);
      }
    }
    ch_free(rel);
  }
}

static void test_ignore_generated(void **state) {
  (void)state;
  enum { REPOS = 24 };
  size_t compared = 0, repos = 0;
  ch_buf text;
  ch_buf_init(&text, 1 << 20);
  for(uint64_t seed = 1; seed <= REPOS; seed++) {
    rng_state = seed * 0x9E3779B97F4A7C15u;
    reset_global_excludes();
    repo r;
    repo_init(&r);
    gen_ignore_text(&text, 4 + rnd(10));
    repo_ignore(&r, ".gitignore", text.data);
    if(rnd(2)) {
      gen_ignore_text(&text, 1 + rnd(4));
      repo_info_exclude(&r, text.data);
    }
    gen_ignore_text(&text, 1 + rnd(4));
    char *global = NULL;
    switch(seed % 4) {
    case 0: break;
    case 1:
      mkdirs(g_home, "xdg/git");
      global = ch_strdupf("%s/xdg/git/ignore", g_home);
      break;
    case 2:
      global = ch_strdupf("%s/global-ignore", g_home);
      assert_int_equal(sh("git config --global core.excludesFile '%s'", global),
                       0);
      break;
    default: {
      global = ch_strdupf("%s/global-ignore-2", g_home);
      char *cfg = ch_strdupf("%s/.gitconfig", g_home);
      FILE *f = fopen(cfg, "w");
      assert_non_null(f);
      fputs("[core]\n\texcludesfile = ~/global-ignore-2\n", f);
      fclose(f);
      ch_free(cfg);
      break;
    }
    }
    if(global) repo_ignore(&r, global, text.data);
    ch_free(global);
    gen_tree(&r, "", 0, &text);
    char label[32];
    snprintf(label, sizeof(label), "seed %u", (unsigned)seed);
    compared += compare_with_git(&r, label);
    repos++;
    repo_release(&r);
  }
  reset_global_excludes();
  ch_buf_release(&text);
  print_message("generated: %zu paths in %zu repositories agree with git\n",
                compared, repos);
  assert_true(compared > 2000);
}

/* Every stock pattern alone in its own folder's .gitignore, so none hides
 * behind a later line. */
static void test_ignore_each_stock_pattern(void **state) {
  (void)state;
  static const char *const names[] = {
      "ab",        "abc.c",     "foo.c",       "#h",      "!b",        "tr ",
      "sp ace",    "Foo.c",     "x.log",       "]x",      "a\\b",      "c",
      "deep",      "q/a",       "q/b",         "q/ab",    "a/b",       "a/x/b",
      "a/y/b/c",   "doc/z/q.c", "build/out.o", "x1/y",    "src/s/t.c", "b/c/d",
      "keep/keep", "z/a/keep",  "foo/x.c",     "z/deep/f"};
  repo r;
  repo_init(&r);
  for(size_t i = 0; i < CH_ARRAY_LEN(stock); i++) {
    char dir[16];
    snprintf(dir, sizeof(dir), "p%02zu", i);
    char *gi = ch_strdupf("%s/.gitignore", dir);
    char *text = ch_strdupf("%s\n", stock[i]);
    repo_ignore(&r, gi, text);
    ch_free(gi);
    ch_free(text);
    for(size_t k = 0; k < CH_ARRAY_LEN(names); k++) {
      char *rel = ch_strdupf("%s/%s", dir, names[k]);
      repo_file(&r, rel);
      ch_free(rel);
    }
  }
  size_t n = compare_with_git(&r, "stock");
  print_message("stock: %zu paths under %zu single patterns agree with git\n",
                n, CH_ARRAY_LEN(stock));
  repo_release(&r);
}

/* ---- ch_ignore API ------------------------------------------------------- */

static void test_ignore_api(void **state) {
  (void)state;
  char *root = make_tmp();
  put_text(root, ".gitignore", "gen/\n*.tmp\n");
  mkdirs(root, ".git");
  const char *const extra[] = {"*.py", "!keep.py", "# a comment", "", NULL};
  ch_ignore *ig = ch_ignore_new(root, extra);
  assert_non_null(ig);
  /* .git at any depth, as a file or a directory. */
  assert_true(ch_ignore_match(ig, ".git", true));
  assert_true(ch_ignore_match(ig, ".git/config", false));
  assert_true(ch_ignore_match(ig, "sub/.git", false));
  assert_true(ch_ignore_match(ig, "sub/.git/HEAD", false));
  assert_false(ch_ignore_match(ig, "sub/.gitx", false));
  /* Under an ignored directory, whatever the name. */
  assert_true(ch_ignore_match(ig, "gen", true));
  assert_false(ch_ignore_match(ig, "gen", false));
  assert_true(ch_ignore_match(ig, "gen/x/y/z.c", false));
  assert_true(ch_ignore_match(ig, "a/gen/x.c", false));
  /* Extra globs, after the root's own. */
  assert_true(ch_ignore_match(ig, "x.py", false));
  assert_true(ch_ignore_match(ig, "d/x.py", false));
  assert_false(ch_ignore_match(ig, "keep.py", false));
  assert_true(ch_ignore_match(ig, "a.tmp", false));
  assert_false(ch_ignore_match(ig, "a.c", false));
  /* "./" in front and a trailing '/' (a directory) are understood. */
  assert_true(ch_ignore_match(ig, "./x.py", false));
  char *abs = ch_strdupf("%s/gen/a.c", root);
  assert_true(ch_ignore_match(ig, abs, false));
  ch_free(abs);
  assert_true(ch_ignore_match(ig, "gen/", false));
  assert_false(ch_ignore_match(ig, "", true));
  ch_ignore_free(ig);
  /* A root with a trailing slash is the same root. */
  char *slashed = ch_strdupf("%s/", root);
  ig = ch_ignore_new(slashed, NULL);
  assert_true(ch_ignore_match(ig, "gen/a.c", false));
  assert_false(ch_ignore_match(ig, "x.py", false));
  ch_ignore_free(ig);
  ch_free(slashed);
  /* A root that does not exist ignores nothing but .git. */
  ig = ch_ignore_new("/nonexistent/chorus/root", NULL);
  assert_non_null(ig);
  assert_false(ch_ignore_match(ig, "a/b.c", false));
  assert_true(ch_ignore_match(ig, ".git", true));
  ch_ignore_free(ig);
  assert_null(ch_ignore_new(NULL, NULL));
  assert_false(ch_ignore_match(NULL, "x", false));
  ch_ignore_free(NULL);
  rm_rf(root);
  ch_free(root);
}

/* A worktree's .git is a file that points at the real git dir; its
 * info/exclude lives in the common dir. */
static void test_ignore_worktree_git_file(void **state) {
  (void)state;
  char *base = make_tmp();
  char *main_repo = ch_strdupf("%s/main", base);
  char *wt = ch_strdupf("%s/wt", base);
  assert_int_equal(sh("git init -q '%s' >/dev/null 2>&1 && "
                      "git -C '%s' -c user.name=t -c user.email=t@t "
                      "commit -q --allow-empty -m x >/dev/null 2>&1 && "
                      "git -C '%s' worktree add -q '%s' >/dev/null 2>&1",
                      main_repo, main_repo, main_repo, wt),
                   0);
  put_text(main_repo, ".git/info/exclude", "*.secret\n");
  put_text(wt, "a.secret", "x\n");
  ch_ignore *ig = ch_ignore_new(wt, NULL);
  assert_true(ch_ignore_match(ig, "a.secret", false));
  assert_false(ch_ignore_match(ig, "a.c", false));
  ch_ignore_free(ig);
  assert_int_equal(sh("git -C '%s' check-ignore -q a.secret", wt), 0);
  rm_rf(base);
  ch_free(base);
  ch_free(main_repo);
  ch_free(wt);
}

/* ---- the walk ------------------------------------------------------------ */

static void test_walk_filters(void **state) {
  (void)state;
  char *root = make_tmp();
  put_text(root, "main.c", "int main(void) { return 0; }\n");
  put_file(root, "bin.c", "int x;\0\1\2", 10);
  /* A NUL past the first 8 KiB does not make a file binary. */
  char *late = ch_malloc(9001);
  memset(late, 'a', 9000);
  late[9000] = '\0';
  put_file(root, "late_nul.c", late, 9001);
  ch_free(late);
  /* The default limit: at it is kept, one byte over is not. */
  size_t mib = CH_WALK_DEFAULT_MAX_BYTES;
  char *big = ch_malloc(mib + 1);
  memset(big, 'a', mib + 1);
  put_file(root, "at_limit.c", big, mib);
  put_file(root, "over_limit.c", big, mib + 1);
  /* Too large and no known extension: the language decides first. */
  put_file(root, "over_limit.bin", big, mib + 1);
  ch_free(big);
  put_text(root, "README.md", "# hi\n");
  put_text(root, "data.json", "{}\n");
  put_text(root, "Makefile", "all:\n");
  put_text(root, "tool", "#!/usr/bin/env python3\nprint(1)\n");
  put_text(root, "run", "#!/bin/sh\necho\n");
  put_text(root, "lib/B.c", "int b;\n");
  put_text(root, "lib/a.py", "a = 1\n");
  put_text(root, "lib/a/z.go", "package a\n");
  put_text(root, "lib/a.c", "int a;\n");
  put_text(root, ".git/objects/x.c", "int x;\n");
  put_text(root, ".git/HEAD", "ref: refs/heads/main\n");
  put_text(root, "vendor/.git", "gitdir: /nowhere\n");
  put_text(root, "vendor/v.c", "int v;\n");
  put_text(root, "empty.c", "");

  collected c = {0};
  ch_walk_stats st;
  assert_int_equal(walk(root, NULL, &c, &st), CH_OK);
  const char *const want[] = {
      "at_limit.c", "empty.c",  "late_nul.c", "lib/B.c", "lib/a/z.go",
      "lib/a.c",    "lib/a.py", "main.c",     "tool",    "vendor/v.c"};
  for(size_t i = 0; i < c.n; i++)
    print_message("  walked %s\n", c.paths[i]);
  assert_int_equal(c.n, CH_ARRAY_LEN(want));
  for(size_t i = 0; i < c.n; i++)
    assert_string_equal(c.paths[i], want[i]); /* sorted within folders */
  assert_ptr_equal(c.langs[collected_find(&c, "tool")],
                   ch_syntax_by_name("python"));
  assert_ptr_equal(c.langs[collected_find(&c, "lib/B.c")],
                   ch_syntax_by_name("c"));
  assert_int_equal(c.sizes[collected_find(&c, "at_limit.c")], mib);
  assert_int_equal(st.files, c.n);
  assert_int_equal(st.binary, 1);
  assert_int_equal(st.too_large, 1);
  /* README.md, data.json, Makefile, run, over_limit.bin */
  assert_int_equal(st.unknown_lang, 5);
  assert_int_equal(st.ignored, 2); /* the two .git */
  assert_int_equal(st.dirs, 4);    /* root, lib, lib/a, vendor */
  assert_int_equal(st.unreadable, 0);
  assert_int_equal(st.loops, 0);
  collected_release(&c);

  /* A smaller limit from the options. */
  ch_walk_options opt = {.max_file_bytes = 10};
  assert_int_equal(walk(root, &opt, &c, &st), CH_OK);
  assert_true(collected_find(&c, "lib/a.c") >= 0); /* 7 bytes */
  assert_true(collected_find(&c, "main.c") < 0);
  assert_int_equal(st.too_large, 5);
  collected_release(&c);

  /* The same run twice gives the same list. */
  collected c2 = {0};
  assert_int_equal(walk(root, NULL, &c, NULL), CH_OK);
  assert_int_equal(walk(root, NULL, &c2, NULL), CH_OK);
  assert_int_equal(c.n, c2.n);
  for(size_t i = 0; i < c.n; i++)
    assert_string_equal(c.paths[i], c2.paths[i]);
  collected_release(&c);
  collected_release(&c2);
  rm_rf(root);
  ch_free(root);
}

static void test_walk_symlinks(void **state) {
  (void)state;
  char *base = make_tmp();
  char *root = ch_strdupf("%s/repo", base);
  char *outside = ch_strdupf("%s/outside", base);
  put_text(outside, "o.py", "o = 1\n");
  put_text(outside, "tree/t.c", "int t;\n");
  put_text(root, "dir/d.c", "int d;\n");
  put_text(root, "real/r.c", "int r;\n");
  put_text(root, "secret.c", "int s;\n");
  char *p;
#define LINK(target, rel)                                                      \
  p = ch_strdupf("%s/%s", root, rel);                                          \
  assert_int_equal(symlink(target, p), 0);                                     \
  ch_free(p)
  LINK("..", "dir/up");               /* a loop back to the root */
  LINK("../outside/o.py", "link.py"); /* a file outside */
  LINK("../outside/tree", "ext");     /* a folder outside */
  LINK("real", "alias");              /* sorts before its target */
  LINK("nowhere.c", "dangling.c");
  LINK("self", "self"); /* a link to itself */
#undef LINK
  p = ch_strdupf("%s/secret.c", root);
  assert_int_equal(chmod(p, 0), 0);
  ch_free(p);

  collected c = {0};
  ch_walk_stats st;
  assert_int_equal(walk(root, NULL, &c, &st), CH_OK);
  for(size_t i = 0; i < c.n; i++)
    print_message("  walked %s\n", c.paths[i]);
  assert_true(collected_find(&c, "dir/d.c") >= 0);
  assert_true(collected_find(&c, "link.py") >= 0);
  assert_ptr_equal(c.langs[collected_find(&c, "link.py")],
                   ch_syntax_by_name("python"));
  assert_true(collected_find(&c, "ext/t.c") >= 0);
  /* The real path wins over the link that sorts first. */
  assert_true(collected_find(&c, "real/r.c") >= 0);
  assert_true(collected_find(&c, "alias/r.c") < 0);
  assert_true(collected_find(&c, "dir/up/dir/d.c") < 0);
  assert_int_equal(st.loops, 2); /* dir/up and alias */
  if(geteuid() != 0) {
    assert_true(collected_find(&c, "secret.c") < 0);
    assert_int_equal(st.unreadable, 3); /* dangling, self, secret */
  } else {
    /* root reads a file of mode 000 anyway. */
    assert_int_equal(st.unreadable, 2);
  }
  collected_release(&c);

  /* A dangling link that is ignored is only ignored. */
  const char *const globs[] = {"dangling.c", NULL};
  ch_walk_options opt = {.ignore_globs = globs};
  assert_int_equal(walk(root, &opt, &c, &st), CH_OK);
  assert_int_equal(st.unreadable, geteuid() != 0 ? 2 : 1);
  collected_release(&c);

  p = ch_strdupf("%s/secret.c", root);
  assert_int_equal(chmod(p, 0644), 0);
  ch_free(p);
  rm_rf(base);
  ch_free(base);
  ch_free(root);
  ch_free(outside);
}

static void test_walk_many_files(void **state) {
  (void)state;
  enum { N = 20000 };
  char *root = make_tmp();
  /* One file and hard links to it: a link costs a fraction of a new file
   * on the slow file systems tests sometimes run on, and the walk sees
   * 20,000 names either way. */
  int dfd = open(root, O_RDONLY | O_DIRECTORY);
  assert_true(dfd >= 0);
  int fd = openat(dfd, "f00000.c", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "int x;\n", 7), 7);
  close(fd);
  for(int i = 1; i < N; i++) {
    char name[32];
    snprintf(name, sizeof(name), "f%05d.c", (i * 7919) % N);
    assert_int_equal(linkat(dfd, "f00000.c", dfd, name, 0), 0);
  }
  close(dfd);
  collected c = {0};
  ch_walk_stats st;
  uint64_t t0 = ch_now_ns();
  assert_int_equal(walk(root, NULL, &c, &st), CH_OK);
  uint64_t ms = (ch_now_ns() - t0) / 1000000;
  print_message("walked %zu files in one folder in %llu ms\n", c.n,
                (unsigned long long)ms);
  assert_int_equal(c.n, N);
  assert_int_equal(st.files, N);
  for(size_t i = 1; i < c.n; i++)
    assert_true(strcmp(c.paths[i - 1], c.paths[i]) < 0);
  assert_true(ms < 3000);
  collected_release(&c);
  rm_rf(root);
  ch_free(root);
}

typedef struct log_count {
  size_t path_max_lines;
  size_t lines;
} log_count;

static void count_sink(ch_log_level level, const char *message,
                       void *userdata) {
  (void)level;
  log_count *lc = userdata;
  lc->lines++;
  if(strstr(message, "PATH_MAX")) lc->path_max_lines++;
}

static void test_walk_deep_tree(void **state) {
  (void)state;
  enum { DEPTH = 3000 };
  char *root = make_tmp();
  int top = open(root, O_RDONLY | O_DIRECTORY);
  assert_true(top >= 0);
  int f = openat(top, "z.c", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(f >= 0);
  assert_int_equal(write(f, "int z;\n", 7), 7);
  close(f);
  int fd = dup(top);
  for(int i = 0; i <= DEPTH; i++) {
    /* z.c sorts after d: every folder still has work after its child, so
     * parked descriptors must come back. */
    if(i) assert_int_equal(linkat(top, "z.c", fd, "z.c", 0), 0);
    if(i == DEPTH) break;
    assert_int_equal(mkdirat(fd, "d", 0755), 0);
    int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
    assert_true(next >= 0);
    close(fd);
    fd = next;
  }
  close(fd);
  close(top);
  /* Files whose absolute path fits in PATH_MAX are listed, deepest
   * first; the rest are skipped with one log line. */
  size_t root_len = strlen(root), expected = 0;
  for(size_t i = 0; i <= DEPTH; i++)
    if(root_len + 1 + 2 * i + 3 < PATH_MAX) expected++;

  log_count lc = {0};
  ch_log_level old = ch_log_get_level();
  ch_log_set_sink(count_sink, &lc);
  ch_log_set_level(CH_LOG_DEBUG);
  collected c = {0};
  ch_walk_stats st;
  assert_int_equal(walk(root, NULL, &c, &st), CH_OK);
  ch_log_set_sink(NULL, NULL);
  ch_log_set_level(old);
  print_message("deep tree: %zu files, %zu dirs, %zu unreadable, %zu log "
                "lines\n",
                c.n, st.dirs, st.unreadable, lc.lines);
  assert_int_equal(c.n, expected);
  assert_int_equal(lc.path_max_lines, 1);
  assert_true(st.unreadable >= 1);
  assert_int_equal(st.loops, 0);
  for(size_t i = 1; i < c.n; i++)
    assert_true(strlen(c.paths[i - 1]) > strlen(c.paths[i]));
  assert_string_equal(c.paths[c.n - 1], "z.c");
  collected_release(&c);

  /* ch_ignore_match on a path thousands of folders deep. */
  ch_buf deep;
  ch_buf_init(&deep, 1 << 20);
  for(int i = 0; i < DEPTH; i++)
    ch_buf_append_str(&deep, "d/");
  ch_buf_append_str(&deep, "z.c");
  ch_ignore *ig = ch_ignore_new(root, NULL);
  assert_false(ch_ignore_match(ig, deep.data, false));
  ch_ignore_free(ig);
  const char *const globs[] = {"d/d/d/", NULL};
  ig = ch_ignore_new(root, globs);
  assert_true(ch_ignore_match(ig, deep.data, false));
  ch_ignore_free(ig);
  ch_buf_release(&deep);
  rm_rf(root);
  ch_free(root);
}

/* The walk keeps KEEP_OPEN (32) descriptors along its path and gets a
 * parked one back through its child's "..". When the child was moved away
 * meanwhile, ".." is somewhere else: the walk must notice (device, inode)
 * differ and reopen the folder by name from the nearest open ancestor. */
typedef struct mover {
  collected c;
  const char *trigger; /* the file whose callback moves its folder */
  char *from, *to;
  bool moved;
} mover;

static void collect_and_move(const ch_walk_entry *e, void *userdata) {
  mover *m = userdata;
  collect(e, &m->c);
  if(!m->moved && strcmp(e->path, m->trigger) == 0) {
    assert_int_equal(rename(m->from, m->to), 0);
    m->moved = true;
  }
}

static void test_walk_reopen_after_move(void **state) {
  (void)state;
  enum { DEPTH = 40 };
  char *base = make_tmp();
  char *root = ch_strdupf("%s/repo", base);
  ch_buf dir;
  ch_buf_init(&dir, 1 << 16);
  for(int i = 0; i <= DEPTH; i++) {
    char *rel = ch_strdupf("%sz.c", dir.data ? dir.data : "");
    put_text(root, rel, "int z;\n");
    ch_free(rel);
    if(i < DEPTH) ch_buf_append_str(&dir, "d/");
  }
  char *deepest = ch_strdupf("%sa.c", dir.data);
  put_text(root, deepest, "int a;\n");

  mover m = {.trigger = deepest};
  m.from = ch_strdupf("%s/%.*s", root, (int)dir.len - 1, dir.data);
  m.to = ch_strdupf("%s/moved", base);
  ch_walk_stats st;
  assert_int_equal(ch_workspace_walk(root, NULL, collect_and_move, &m, &st),
                   CH_OK);
  assert_true(m.moved);
  /* Every z.c, the moved folder's own included (its descriptor was open). */
  assert_int_equal(m.c.n, DEPTH + 2);
  assert_int_equal(st.unreadable, 0);
  assert_string_equal(m.c.paths[m.c.n - 1], "z.c");
  collected_release(&m.c);
  ch_buf_release(&dir);
  rm_rf(base);
  ch_free(base);
  ch_free(root);
  ch_free(deepest);
  ch_free(m.from);
  ch_free(m.to);
}

static bool cancel_after(void *userdata) {
  collected *c = userdata;
  return ++c->checks > c->stop_after;
}

static void test_walk_globs_and_cancel(void **state) {
  (void)state;
  char *root = make_tmp();
  put_text(root, ".gitignore", "*.log\nout/\n");
  for(int i = 0; i < 10; i++) {
    char rel[32];
    snprintf(rel, sizeof(rel), "d%d/f.c", i);
    put_text(root, rel, "int f;\n");
    snprintf(rel, sizeof(rel), "d%d/g.py", i);
    put_text(root, rel, "g = 1\n");
  }
  put_text(root, "keep.py", "k = 1\n");
  put_text(root, "gen/x.c", "int x;\n");
  put_text(root, "out/o.c", "int o;\n");

  const char *const globs[] = {"*.py", "!keep.py", "gen/", NULL};
  ch_walk_options opt = {.ignore_globs = globs};
  collected c = {0};
  ch_walk_stats st;
  assert_int_equal(walk(root, &opt, &c, &st), CH_OK);
  assert_int_equal(c.n, 11); /* ten f.c and keep.py */
  assert_true(collected_find(&c, "keep.py") >= 0);
  assert_true(collected_find(&c, "gen/x.c") < 0);
  assert_true(collected_find(&c, "out/o.c") < 0);
  assert_int_equal(st.ignored, 12); /* ten g.py, gen, out */
  collected_release(&c);

  /* Cancelled from the callback: stops early, says so. */
  opt = (ch_walk_options){.cancelled = cancel_after};
  c.stop_after = 3;
  assert_int_equal(walk(root, &opt, &c, &st), CH_ERR_CANCELLED);
  assert_true(c.n > 0 && c.n < 20);
  assert_int_equal(st.dirs, 3);
  collected_release(&c);
  c.stop_after = 0;
  assert_int_equal(walk(root, &opt, &c, &st), CH_ERR_CANCELLED);
  assert_int_equal(c.n, 0);
  collected_release(&c);

  /* Roots that cannot be walked. */
  assert_int_equal(walk("/nonexistent/chorus", NULL, &c, &st),
                   CH_ERR_NOT_FOUND);
  char *file = ch_strdupf("%s/keep.py", root);
  assert_int_equal(walk(file, NULL, &c, &st), CH_ERR_NOT_FOUND);
  assert_int_equal(ch_workspace_walk(root, NULL, NULL, NULL, NULL),
                   CH_ERR_INVALID);
  ch_free(file);
  rm_rf(root);
  ch_free(root);
}

static void test_check_file(void **state) {
  (void)state;
  char *root = make_tmp();
  put_text(root, "a.rs", "fn main() {}\n");
  put_file(root, "bin.c", "\0", 1);
  put_text(root, "notes.txt", "hello\n");
  put_text(root, "script", "#!/usr/bin/node\nconsole.log(1)\n");
  char *big = ch_malloc(2000);
  memset(big, 'x', 2000);
  put_file(root, "big.go", big, 2000);
  ch_free(big);

  ch_walk_entry e;
  char *p = ch_strdupf("%s/a.rs", root);
  memset(&e, 0xff, sizeof(e));
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_OK);
  assert_null(e.path);
  assert_null(e.abs_path);
  assert_int_equal(e.size, 13);
  assert_true(e.mtime_ns > 0);
  assert_ptr_equal(e.lang, ch_syntax_by_name("rust"));
  ch_free(p);

  p = ch_strdupf("%s/script", root);
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_OK);
  assert_ptr_equal(e.lang, ch_syntax_by_name("javascript"));
  ch_free(p);

  ch_walk_options opt = {.max_file_bytes = 1000};
  p = ch_strdupf("%s/big.go", root);
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_OK);
  assert_int_equal(ch_workspace_check_file(p, &opt, &e), CH_ERR_TOO_LARGE);
  ch_free(p);

  p = ch_strdupf("%s/bin.c", root);
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_ERR_INVALID);
  ch_free(p);
  p = ch_strdupf("%s/notes.txt", root);
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_ERR_NOT_FOUND);
  ch_free(p);
  p = ch_strdupf("%s/missing.c", root);
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_ERR_NOT_FOUND);
  ch_free(p);
  /* A folder is no file: not found, like a vanished one. */
  p = ch_strdupf("%s/", root);
  assert_int_equal(ch_workspace_check_file(p, NULL, &e), CH_ERR_NOT_FOUND);
  ch_free(p);
  assert_int_equal(ch_workspace_check_file(NULL, NULL, &e), CH_ERR_INVALID);
  rm_rf(root);
  ch_free(root);
}

int main(void) {
  g_home = make_tmp();
  char *xdg = ch_strdupf("%s/xdg", g_home);
  mkdirs(g_home, "xdg");
  setenv("HOME", g_home, 1);
  setenv("XDG_CONFIG_HOME", xdg, 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  const char *const unset[] = {"GIT_DIR",           "GIT_WORK_TREE",
                               "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
                               "GIT_INDEX_FILE",    "GIT_CEILING_DIRECTORIES"};
  for(size_t i = 0; i < CH_ARRAY_LEN(unset); i++)
    unsetenv(unset[i]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ignore_reinclude_and_syntax),
      cmocka_unit_test(test_ignore_nested_and_sources),
      cmocka_unit_test(test_ignore_global_excludes_settings),
      cmocka_unit_test(test_ignore_generated),
      cmocka_unit_test(test_ignore_each_stock_pattern),
      cmocka_unit_test(test_ignore_api),
      cmocka_unit_test(test_ignore_worktree_git_file),
      cmocka_unit_test(test_walk_filters),
      cmocka_unit_test(test_walk_symlinks),
      cmocka_unit_test(test_walk_many_files),
      cmocka_unit_test(test_walk_deep_tree),
      cmocka_unit_test(test_walk_reopen_after_move),
      cmocka_unit_test(test_walk_globs_and_cancel),
      cmocka_unit_test(test_check_file),
  };
  /* CHORUS_TEST_FILTER=test_walk_* runs a subset. */
  const char *filter = getenv("CHORUS_TEST_FILTER");
  if(filter && *filter) cmocka_set_test_filter(filter);
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  for(size_t i = 0; i < g_ntmps; i++) {
    /* g_home is one of them; gone already after a passing test is fine. */
    if(sh("rm -rf -- '%s'", g_tmps[i])) failed++;
    ch_free(g_tmps[i]);
  }
  ch_free(g_home);
  ch_free(xdg);
  return failed;
}
