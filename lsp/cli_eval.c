/* cli_eval.c: `chorus eval context PATH`, definition recall of the context
 * engine on holes sampled from a repository, next to two baselines.
 *
 * A hole is a line inside a function body that uses identifiers defined in
 * other files of the repository. The line is removed from the document
 * text and the cursor put where it was; the document's record is
 * extracted again from that text, so nothing of the hidden line reaches
 * the engine through the index. Recall is, over the hole's identifiers
 * that have no definition in the document and one in another file, the
 * share with a definition inside some snippet from another file. The same
 * holes, budget and open documents (the files the document imports and
 * files of its folder, as an editor would have open) are given to the full
 * engine, to the window alone and to Jaccard-similar windows alone. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/context.h"
#include "chorus/index.h"
#include "cli.h"

static const char eval_usage[] =
    "usage: chorus eval context PATH [--holes N] [--seed S] [--budget N]\n"
    "                           [--json] [--no-cache] [--ignore GLOB]...\n"
    "\n"
    "Indexes PATH, samples N holes (default 200: a line inside a function\n"
    "body that uses identifiers defined in other files), hides each line,\n"
    "builds the context from the rest (budget default 1536 tokens) and\n"
    "prints definition recall per language for the engine and two\n"
    "baselines (the current-file window alone, Jaccard-similar windows\n"
    "alone), with the engine's latency P50/P99. --ignore GLOB leaves out\n"
    "files as .gitignore patterns do (e.g. a C subset of /usr/include).\n";

#define MAX_TARGETS 8
#define MAX_DOCS 12
#define NCONFIGS 3

static const char *const config_names[NCONFIGS] = {"engine", "window",
                                                   "similar"};

typedef struct lang_result {
  size_t holes, targets;
  size_t found[NCONFIGS];
} lang_result;

static uint64_t rng_next(uint64_t *s) {
  /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ull;
}


static bool record_defines(const ch_record *rec, const char *name) {
  for(uint32_t d = 0; d < rec->ndefs; d++)
    if(strcmp(ch_record_str(rec, rec->defs[d].name), name) == 0) return true;
  return false;
}

static bool common_word(const char *s) {
  static const char *const words[] = {
      "if",       "else",     "for",       "while",     "do",       "return",
      "break",    "continue", "switch",    "case",      "default",  "sizeof",
      "struct",   "union",    "enum",      "typedef",   "const",    "static",
      "extern",   "inline",   "unsigned",  "signed",    "int",      "char",
      "short",    "long",     "float",     "double",    "void",     "def",
      "class",    "import",   "from",      "as",        "in",       "is",
      "not",      "and",      "or",        "None",      "True",     "False",
      "self",     "cls",      "lambda",    "pass",      "raise",    "try",
      "except",   "finally",  "with",      "yield",     "global",   "nonlocal",
      "assert",   "del",      "elif",      "async",     "await",    "NULL",
      "true",     "false",    "this",      "new",       "var",      "let",
      "function", "func",     "nil",       "goto",      "volatile", "bool",
      "template", "typename", "operator",  "std",       "virtual",  "override",
      "public",   "private",  "protected", "namespace", "using",    "auto",
      "size_t",   "uint8_t",  "uint16_t",  "uint32_t",  "uint64_t", "int8_t",
      "int16_t",  "int32_t",  "int64_t",   "restrict",
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(words); i++)
    if(strcmp(words[i], s) == 0) return true;
  return false;
}

static bool has_word(const char *text, const char *name) {
  size_t n = strlen(name);
  for(const char *p = text; (p = strstr(p, name)); p += n) {
    bool left = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
    bool right = !(isalnum((unsigned char)p[n]) || p[n] == '_');
    if(left && right) return true;
  }
  return false;
}

/* Does the context hold a definition of `name` from another file? */
static bool recalled(const ch_snapshot *snap, const ch_context *ctx,
                     const char *self_path, const char *name) {
  for(size_t i = 0; i < ctx->count; i++) {
    const ch_snippet *s = &ctx->snippets[i];
    if(s->kind == CH_SNIPPET_PREFIX || s->kind == CH_SNIPPET_SUFFIX ||
       s->kind == CH_SNIPPET_SCOPE || s->kind == CH_SNIPPET_EDIT)
      continue;
    if(strcmp(s->path, self_path) == 0) continue;
    uint32_t id;
    if(!ch_snapshot_lookup(snap, s->path, &id)) continue;
    const ch_record *rec = ch_snapshot_file(snap, id);
    if(!rec) continue;
    for(uint32_t d = 0; d < rec->ndefs; d++) {
      const ch_def *def = &rec->defs[d];
      if(def->name_range.start_row < s->start_row) continue;
      if(def->name_range.start_row > s->end_row) break;
      /* and the snippet shows it (an outline lists only some names) */
      if(strcmp(ch_record_str(rec, def->name), name) == 0 &&
         has_word(s->text, name))
        return true;
    }
  }
  return false;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* A name imported with `from m import name` (or `as name`). */
static bool imported_name(const ch_record *rec, const char *name) {
  size_t n = strlen(name);
  for(uint32_t i = 0; i < rec->nimports; i++) {
    const char *names = ch_record_str(rec, rec->imports[i].names);
    for(const char *p = names; (p = strstr(p, name)); p += n) {
      bool left = p == names || p[-1] == ',' || p[-1] == ' ';
      bool right = p[n] == 0 || p[n] == ',' || p[n] == ' ';
      if(left && right) return true;
    }
  }
  return false;
}

/* A module bound by `import a.b` (as `a`) or `from p import mod`. */
static bool imported_module(const ch_record *rec, const char *name) {
  size_t n = strlen(name);
  for(uint32_t i = 0; i < rec->nimports; i++) {
    const ch_import *im = &rec->imports[i];
    const char *spec = ch_record_str(rec, im->spec);
    if(im->names == CH_NONE) {
      const char *dot = strchr(spec, '.');
      size_t first = dot ? (size_t)(dot - spec) : strlen(spec);
      const char *last = strrchr(spec, '.');
      last = last ? last + 1 : spec;
      if((first == n && strncmp(spec, name, n) == 0) || strcmp(last, name) == 0)
        return true;
    }
  }
  return imported_name(rec, name);
}

/* Inside a triple-quoted string: an odd count of them before `at` in the
 * function. */
static bool in_docstring(const char *text, uint32_t from, uint32_t at) {
  size_t n = 0;
  for(uint32_t i = from; i + 2 < at; i++)
    if((text[i] == '"' || text[i] == '\'') && text[i + 1] == text[i] &&
       text[i + 2] == text[i]) {
      n++;
      i += 2;
    }
  return n % 2 == 1;
}

/* Identifiers of line [s, e) that count as targets. */
static size_t hole_targets(const ch_snapshot *snap, uint32_t id,
                           const ch_record *rec, const char *text, uint32_t s,
                           uint32_t e, const char *signature,
                           char targets[][64]) {
  size_t n = 0;
  uint32_t i = s;
  while(i < e && n < MAX_TARGETS) {
    unsigned char c = (unsigned char)text[i];
    if(c == '"' || c == '\'') {
      uint32_t j = i + 1;
      while(j < e && text[j] != (char)c)
        j += text[j] == '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if(c == '#' || (c == '/' && i + 1 < e && text[i + 1] == '/')) break;
    if(c == '/' && i + 1 < e && text[i + 1] == '*') {
      i += 2;
      while(i + 1 < e && !(text[i] == '*' && text[i + 1] == '/'))
        i++;
      i += 2;
      continue;
    }
    if(!(isalpha(c) || c == '_')) {
      i++;
      if(isdigit(c))
        while(i < e && (isalnum((unsigned char)text[i]) || text[i] == '_'))
          i++;
      continue;
    }
    uint32_t st = i;
    while(i < e && (isalnum((unsigned char)text[i]) || text[i] == '_'))
      i++;
    size_t len = i - st;
    if(len < 2 || len >= 64) continue;
    char name[64];
    memcpy(name, text + st, len);
    name[len] = 0;
    if(common_word(name) || record_defines(rec, name)) continue;
    /* A parameter of the enclosing function is local. */
    const char *p = signature;
    bool param = false;
    while(p && (p = strstr(p, name))) {
      bool left =
          p == signature || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
      bool right = !(isalnum((unsigned char)p[len]) || p[len] == '_');
      if(left && right) {
        param = true;
        break;
      }
      p += len;
    }
    if(param) continue;
    bool dup = false;
    for(size_t k = 0; k < n && !dup; k++)
      dup = strcmp(targets[k], name) == 0;
    if(dup) continue;
    bool member =
        st > s && (text[st - 1] == '.' ||
                   (st > s + 1 && text[st - 1] == '>' && text[st - 2] == '-'));
    bool python = strcmp(rec->lang->name, "python") == 0;
    if(python) {
      /* Only names whose definition the module says: imported by name, or
       * an attribute of an imported module. */
      bool ok = false;
      if(!member) {
        ok = imported_name(rec, name);
      } else {
        uint32_t r = st - 1, rs = r;
        while(rs > s &&
              (isalnum((unsigned char)text[rs - 1]) || text[rs - 1] == '_'))
          rs--;
        char recv[64];
        size_t rl = CH_MIN((size_t)(r - rs), sizeof(recv) - 1);
        memcpy(recv, text + rs, rl);
        recv[rl] = 0;
        bool chained = rs > s && text[rs - 1] == '.';
        ok = rl > 0 && !chained && imported_module(rec, recv);
      }
      if(!ok) continue;
    } else if(member) {
      continue; /* a field of some struct: which one is not known here */
    }
    ch_def_ref refs[8];
    size_t found = ch_snapshot_find(snap, name, id, refs, CH_ARRAY_LEN(refs));
    bool elsewhere = false;
    for(size_t k = 0; k < CH_MIN(found, CH_ARRAY_LEN(refs)) && !elsewhere;
        k++) {
      /* a bare name refers to a definition in scope: not another file's
       * nested function or field */
      const ch_record *dr = ch_snapshot_file(snap, refs[k].file);
      const ch_def *dd = dr ? &dr->defs[refs[k].def] : NULL;
      bool nested = dd && dd->container != CH_NONE &&
                    (dd->kind == CH_DEF_FUNCTION || dd->kind == CH_DEF_METHOD ||
                     dd->kind == CH_DEF_FIELD || dd->kind == CH_DEF_VARIABLE);
      elsewhere = refs[k].file != id && (member || !nested) &&
                  (python ? refs[k].proximity == 1 : refs[k].proximity <= 2);
    }
    if(!elsewhere) continue;
    memcpy(targets[n++], name, len + 1);
  }
  return n;
}

int ch_cli_eval(int argc, char **argv) {
  if(argc < 1 || strcmp(argv[0], "context") != 0) {
    if(argc >= 1 &&
       (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
      fputs(eval_usage, stdout);
      return 0;
    }
    fprintf(stderr, "chorus eval: expected 'context'\n%s", eval_usage);
    return 2;
  }
  const char *path = NULL;
  long holes = 200, budget = 1536;
  unsigned long long seed = 1;
  bool json = false, no_cache = false;
  bool verbose = getenv("CHORUS_EVAL_VERBOSE") != NULL;
  const char *ignores[33];
  size_t nignores = 0;
  for(int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char *end = NULL;
    if(strcmp(a, "--json") == 0) {
      json = true;
    } else if(strcmp(a, "--no-cache") == 0) {
      no_cache = true;
    } else if(strcmp(a, "--ignore") == 0) {
      if(i + 1 >= argc || nignores + 1 >= CH_ARRAY_LEN(ignores)) {
        fprintf(stderr, "chorus eval context: --ignore: expected a pattern "
                        "(at most 32)\n");
        return 2;
      }
      ignores[nignores++] = argv[++i];
    } else if(strcmp(a, "--holes") == 0 || strcmp(a, "--budget") == 0) {
      long v = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
      if(v <= 0 || v > 1000000 || !end || *end) {
        fprintf(stderr,
                "chorus eval context: %s: expected a number between 1 "
                "and 1000000\n",
                a);
        return 2;
      }
      if(a[2] == 'h')
        holes = v;
      else
        budget = v;
    } else if(strcmp(a, "--seed") == 0) {
      errno = 0;
      seed = i + 1 < argc ? strtoull(argv[++i], &end, 10) : 0;
      if(errno || !end || *end) {
        fprintf(stderr, "chorus eval context: --seed: expected a number\n");
        return 2;
      }
    } else if(strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(eval_usage, stdout);
      return 0;
    } else if(a[0] == '-') {
      fprintf(stderr, "chorus eval context: unknown option '%s'\n%s", a,
              eval_usage);
      return 2;
    } else {
      path = a;
    }
  }
  if(!path) {
    fputs(eval_usage, stderr);
    return 2;
  }
  char *root = realpath(path, NULL);
  if(!root) {
    fprintf(stderr, "chorus eval context: %s: cannot open\n", path);
    return 1;
  }
  ch_index_options options = {0};
  options.cache_dir = no_cache ? "" : NULL;
  ignores[nignores] = NULL;
  if(nignores) options.ignore_globs = ignores;
  ch_status error = CH_OK;
  uint64_t t0 = ch_now_ns();
  ch_index *index = ch_index_new(&options, &error);
  if(!index) {
    fprintf(stderr, "chorus eval context: index: %s\n", ch_strerror(error));
    free(root);
    return 1;
  }
  ch_index_add_root(index, root);
  ch_index_wait_idle(index);
  double index_s = (double)(ch_now_ns() - t0) / 1e9;
  ch_snapshot *snap = ch_index_snapshot(index);
  uint32_t nfiles = ch_snapshot_count(snap);
  ch_extractor *ex = ch_extractor_new();
  ch_context_engine *engine = ch_context_engine_new(0);
  size_t nlangs = ch_syntax_count();
  lang_result *per = ch_calloc(nlangs, sizeof(*per));
  uint64_t *lat = ch_calloc((size_t)holes, sizeof(uint64_t));
  size_t nlat = 0;
  uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
  long made = 0;
  size_t attempts = 0, max_attempts = (size_t)holes * 200 + 1000;
  while(made < holes && attempts++ < max_attempts && nfiles > 0) {
    uint32_t id = (uint32_t)(rng_next(&rng) % nfiles);
    const ch_record *rec = ch_snapshot_file(snap, id);
    if(!rec || rec->ndefs == 0 || !rec->lang) continue;
    /* a function with a body of at least three lines */
    uint32_t di = (uint32_t)(rng_next(&rng) % rec->ndefs);
    const ch_def *fn = &rec->defs[di];
    if(fn->kind != CH_DEF_FUNCTION && fn->kind != CH_DEF_METHOD) continue;
    if(fn->range.end_row < fn->range.start_row + 3) continue;
    const char *abs = ch_snapshot_abs_path(snap, id);
    size_t len = 0;
    char *text = ch_cli_read_file(abs, (size_t)8 << 20, &len, NULL);
    if(!text) continue;
    if(len != rec->size || ch_hash_text(text, len) != rec->hash) {
      ch_free(text);
      continue;
    }
    uint32_t span = fn->range.end_row - fn->range.start_row - 1;
    uint32_t row = fn->range.start_row + 1 + (uint32_t)(rng_next(&rng) % span);
    bool starts_def = false;
    for(uint32_t d = 0; d < rec->ndefs && !starts_def; d++)
      starts_def = rec->defs[d].range.start_row == row;
    if(starts_def || row + 1 >= rec->nlines) {
      ch_free(text);
      continue;
    }
    uint32_t s = rec->line_starts[row], e = rec->line_starts[row + 1];
    if(in_docstring(text, fn->range.start, s)) {
      ch_free(text);
      continue;
    }
    char targets[MAX_TARGETS][64];
    size_t nt = hole_targets(snap, id, rec, text, s, e,
                             ch_record_str(rec, fn->signature), targets);
    if(nt == 0) {
      ch_free(text);
      continue;
    }
    char rec_line[256];
    snprintf(rec_line, sizeof(rec_line), "%.*s", (int)CH_MIN(e - s, 250u),
             text + s);
    /* hide the line */
    memmove(text + s, text + e, len - e);
    uint32_t hidden_len = (uint32_t)(len - (e - s));
    text[hidden_len] = 0;
    ch_status xerr = CH_OK;
    ch_record *hidden = ch_extract(ex, rec->lang, rec->path, text, hidden_len,
                                   NULL, NULL, &xerr);
    if(!hidden) {
      ch_free(text);
      continue;
    }
    /* open documents: imported files, then files of the same folder */
    uint32_t ids[MAX_DOCS];
    size_t nids = ch_snapshot_imports(snap, id, ids, MAX_DOCS);
    nids = CH_MIN(nids, (size_t)MAX_DOCS);
    const char *slash = strrchr(abs, '/');
    size_t dirlen = slash ? (size_t)(slash - abs) : 0;
    for(uint32_t k = 1; k < 400 && nids < MAX_DOCS; k++) {
      uint32_t other = (id + k) % nfiles;
      if(other == id) break;
      const char *op = ch_snapshot_abs_path(snap, other);
      if(!op || strncmp(op, abs, dirlen) != 0 || op[dirlen] != '/' ||
         strchr(op + dirlen + 1, '/'))
        continue;
      bool dup = false;
      for(size_t q = 0; q < nids && !dup; q++)
        dup = ids[q] == other;
      if(!dup) ids[nids++] = other;
    }
    ch_context_doc docs[MAX_DOCS];
    char *doc_text[MAX_DOCS];
    size_t ndocs = 0;
    for(size_t q = 0; q < nids; q++) {
      size_t dl = 0;
      const char *dp = ch_snapshot_abs_path(snap, ids[q]);
      char *dt = dp ? ch_cli_read_file(dp, (size_t)8 << 20, &dl, NULL) : NULL;
      if(!dt) continue;
      doc_text[ndocs] = dt;
      docs[ndocs] = (ch_context_doc){dp, dt, (uint32_t)dl};
      ndocs++;
    }
    size_t li = 0;
    while(li < nlangs && ch_syntax_at(li) != rec->lang)
      li++;
    lang_result *lr = &per[li < nlangs ? li : 0];
    lr->holes++;
    lr->targets += nt;
    for(int cfg = 0; cfg < NCONFIGS; cfg++) {
      ch_context_request req = {0};
      req.path = abs;
      req.lang = rec->lang;
      req.text = text;
      req.len = hidden_len;
      req.cursor = s;
      req.budget = (uint32_t)budget;
      req.record = hidden;
      req.docs = docs;
      req.ndocs = ndocs;
      ch_context_options opt = {0};
      if(cfg == 1)
        opt.sources = CH_CONTEXT_SOURCE(CH_SNIPPET_PREFIX) |
                      CH_CONTEXT_SOURCE(CH_SNIPPET_SUFFIX);
      else if(cfg == 2)
        opt.sources = CH_CONTEXT_SOURCE(CH_SNIPPET_SIMILAR);
      ch_context ctx;
      if(ch_context_build(engine, snap, &req, &opt, &ctx) == CH_OK) {
        if(cfg == 0) lat[nlat++] = ctx.elapsed_ns;
        for(size_t t = 0; t < nt; t++) {
          bool hit = recalled(snap, &ctx, abs, targets[t]);
          lr->found[cfg] += hit;
          if(cfg == 0 && !hit && verbose)
            fprintf(stderr, "miss %s at %s:%u: %.*s", targets[t], abs, row + 1,
                    (int)(e - s), rec_line);
        }
      }
      ch_context_release(&ctx);
    }
    for(size_t q = 0; q < ndocs; q++)
      ch_free(doc_text[q]);
    ch_record_unref(hidden);
    ch_free(text);
    made++;
  }
  qsort(lat, nlat, sizeof(uint64_t), cmp_u64);
  double p50 = nlat ? (double)lat[nlat / 2] / 1e6 : 0;
  double p99 =
      nlat ? (double)lat[CH_MIN(nlat - 1, (nlat * 99) / 100)] / 1e6 : 0;
  cJSON *out = json ? cJSON_CreateObject() : NULL;
  if(json) {
    cJSON_AddStringToObject(out, "root", root);
    cJSON_AddNumberToObject(out, "files", nfiles);
    cJSON_AddNumberToObject(out, "indexSeconds", index_s);
    cJSON_AddNumberToObject(out, "budget", (double)budget);
    cJSON_AddNumberToObject(out, "seed", (double)seed);
    cJSON_AddNumberToObject(out, "holes", (double)made);
    cJSON_AddNumberToObject(out, "latencyP50Ms", p50);
    cJSON_AddNumberToObject(out, "latencyP99Ms", p99);
  } else {
    printf("%s: %u files indexed in %.1f s; %ld holes, budget %ld tokens\n",
           root, nfiles, index_s, made, budget);
    printf("%-11s %6s %8s %8s %8s %8s\n", "language", "holes", "idents",
           "engine", "window", "similar");
  }
  cJSON *langs = json ? cJSON_AddObjectToObject(out, "languages") : NULL;
  for(size_t li = 0; li < nlangs; li++) {
    const lang_result *lr = &per[li];
    if(!lr->holes) continue;
    double r[NCONFIGS];
    for(int c = 0; c < NCONFIGS; c++)
      r[c] = lr->targets ? (double)lr->found[c] / (double)lr->targets : 0;
    if(json) {
      cJSON *l = cJSON_AddObjectToObject(langs, ch_syntax_at(li)->name);
      cJSON_AddNumberToObject(l, "holes", (double)lr->holes);
      cJSON_AddNumberToObject(l, "identifiers", (double)lr->targets);
      for(int c = 0; c < NCONFIGS; c++)
        cJSON_AddNumberToObject(l, config_names[c], r[c]);
    } else {
      printf("%-11s %6zu %8zu %8.3f %8.3f %8.3f\n", ch_syntax_at(li)->name,
             lr->holes, lr->targets, r[0], r[1], r[2]);
    }
  }
  if(json) {
    char *printed = cJSON_Print(out);
    puts(printed);
    cJSON_free(printed);
    cJSON_Delete(out);
  } else {
    printf("definition recall: engine vs. window only vs. similar only\n");
    printf("engine latency: P50 %.3f ms, P99 %.3f ms over %zu contexts\n", p50,
           p99, nlat);
  }
  if(made < holes)
    fprintf(stderr, "chorus eval context: found %ld holes of %ld asked\n", made,
            holes);
  ch_free(lat);
  ch_free(per);
  ch_context_engine_free(engine);
  ch_extractor_free(ex);
  ch_snapshot_unref(snap);
  ch_index_free(index);
  free(root);
  return made > 0 ? 0 : 1;
}
