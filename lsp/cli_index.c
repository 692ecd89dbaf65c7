/* cli_index.c: `chorus index`, the index as the server builds it, on the
 * command line. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "chorus/index.h"
#include "cli.h"

typedef struct lang_stats {
  size_t files, defs, imports, unresolved, errors;
  uint64_t bytes;
} lang_stats;

static const char index_usage[] =
    "usage: chorus index [PATH] [--json] [--find NAME] [--no-cache]\n"
    "                    [--workers N]\n"
    "\n"
    "Indexes PATH (default: the current directory) as the language server\n"
    "does and prints, per language, files, bytes, definitions and imports\n"
    "resolved/unresolved, with wall time, throughput, peak memory and cache\n"
    "hits. --find NAME prints the definitions of NAME, nearest first.\n";

static void print_find(ch_snapshot *s, const char *name, bool json,
                       cJSON *out) {
  ch_def_ref refs[50];
  size_t n = ch_snapshot_find(s, name, CH_NONE, refs, CH_ARRAY_LEN(refs));
  cJSON *list = json ? cJSON_AddArrayToObject(out, "definitions") : NULL;
  if(!json) printf("%zu definition%s of %s\n", n, n == 1 ? "" : "s", name);
  for(size_t i = 0; i < CH_MIN(n, CH_ARRAY_LEN(refs)); i++) {
    const ch_record *rec = ch_snapshot_file(s, refs[i].file);
    const ch_def *d = &rec->defs[refs[i].def];
    const char *path = ch_snapshot_abs_path(s, refs[i].file);
    if(json) {
      cJSON *item = cJSON_CreateObject();
      cJSON_AddStringToObject(item, "path", path);
      cJSON_AddNumberToObject(item, "line", d->name_range.start_row + 1);
      cJSON_AddStringToObject(item, "kind", ch_def_kind_name(d->kind));
      cJSON_AddStringToObject(item, "signature", ch_record_str(rec, d->signature));
      cJSON_AddItemToArray(list, item);
    } else {
      printf("  %s:%u  %s  %s\n", path, d->name_range.start_row + 1,
             ch_def_kind_name(d->kind), ch_record_str(rec, d->signature));
    }
  }
}

int ch_cli_index(int argc, char **argv) {
  const char *path = ".", *find = NULL;
  bool json = false, no_cache = false;
  int workers = 0;
  for(int i = 0; i < argc; i++) {
    if(strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if(strcmp(argv[i], "--no-cache") == 0) {
      no_cache = true;
    } else if(strcmp(argv[i], "--find") == 0 && i + 1 < argc) {
      find = argv[++i];
    } else if(strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      workers = atoi(argv[++i]);
      if(workers <= 0) {
        fprintf(stderr, "chorus index: --workers: expected a positive number\n");
        return 2;
      }
    } else if(strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(index_usage, stdout);
      return 0;
    } else if(argv[i][0] == '-') {
      fprintf(stderr, "chorus index: unknown option '%s'\n%s", argv[i],
              index_usage);
      return 2;
    } else {
      path = argv[i];
    }
  }
  char *root = realpath(path, NULL);
  if(!root) {
    fprintf(stderr, "chorus index: %s: cannot open\n", path);
    return 1;
  }
  ch_index_options options = {0};
  options.workers = workers;
  options.cache_dir = no_cache ? "" : NULL;
  ch_status error = CH_OK;
  uint64_t t0 = ch_now_ns();
  ch_index *index = ch_index_new(&options, &error);
  if(!index) {
    fprintf(stderr, "chorus index: %s\n", ch_strerror(error));
    free(root);
    return 1;
  }
  ch_index_add_root(index, root);
  ch_index_wait_idle(index);
  double seconds = (double)(ch_now_ns() - t0) / 1e9;
  ch_index_stats st;
  ch_index_stats_get(index, &st);
  ch_snapshot *s = ch_index_snapshot(index);

  size_t nlangs = ch_syntax_count();
  lang_stats *per = ch_calloc(nlangs, sizeof(*per));
  lang_stats total = {0};
  for(uint32_t id = 0; id < ch_snapshot_count(s); id++) {
    const ch_record *rec = ch_snapshot_file(s, id);
    if(!rec) continue;
    size_t li = 0;
    while(li < nlangs && ch_syntax_at(li) != rec->lang) li++;
    if(li == nlangs) continue;
    lang_stats *l = &per[li];
    size_t unresolved = ch_snapshot_unresolved(s, id);
    l->files++;
    l->bytes += rec->size;
    l->defs += rec->ndefs;
    l->imports += rec->nimports;
    l->unresolved += unresolved;
    l->errors += rec->parse_errors;
  }
  for(size_t li = 0; li < nlangs; li++) {
    total.files += per[li].files;
    total.bytes += per[li].bytes;
    total.defs += per[li].defs;
    total.imports += per[li].imports;
    total.unresolved += per[li].unresolved;
    total.errors += per[li].errors;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double peak_mb = (double)ru.ru_maxrss / 1024.0;
  double mbps = seconds > 0 ? (double)total.bytes / 1e6 / seconds : 0;

  cJSON *out = json ? cJSON_CreateObject() : NULL;
  if(json) {
    cJSON_AddStringToObject(out, "root", root);
    cJSON *langs = cJSON_AddObjectToObject(out, "languages");
    for(size_t li = 0; li < nlangs; li++) {
      if(!per[li].files) continue;
      cJSON *l = cJSON_AddObjectToObject(langs, ch_syntax_at(li)->name);
      cJSON_AddNumberToObject(l, "files", (double)per[li].files);
      cJSON_AddNumberToObject(l, "bytes", (double)per[li].bytes);
      cJSON_AddNumberToObject(l, "definitions", (double)per[li].defs);
      cJSON_AddNumberToObject(l, "importsResolved",
                              (double)(per[li].imports - per[li].unresolved));
      cJSON_AddNumberToObject(l, "importsUnresolved", (double)per[li].unresolved);
      cJSON_AddNumberToObject(l, "parseErrors", (double)per[li].errors);
    }
    cJSON_AddNumberToObject(out, "files", (double)total.files);
    cJSON_AddNumberToObject(out, "bytes", (double)total.bytes);
    cJSON_AddNumberToObject(out, "seconds", seconds);
    cJSON_AddNumberToObject(out, "megabytesPerSecond", mbps);
    cJSON_AddNumberToObject(out, "peakMemoryMB", peak_mb);
    cJSON_AddNumberToObject(out, "parsed", (double)st.parsed);
    cJSON_AddNumberToObject(out, "cacheHits", (double)st.cache_hits);
    cJSON_AddNumberToObject(out, "failed", (double)st.failed);
  } else {
    printf("%-11s %8s %12s %10s %10s %11s\n", "language", "files", "bytes",
           "defs", "imports", "unresolved");
    for(size_t li = 0; li < nlangs; li++) {
      if(!per[li].files) continue;
      printf("%-11s %8zu %12llu %10zu %10zu %11zu\n", ch_syntax_at(li)->name,
             per[li].files, (unsigned long long)per[li].bytes, per[li].defs,
             per[li].imports - per[li].unresolved, per[li].unresolved);
    }
    printf("%-11s %8zu %12llu %10zu %10zu %11zu\n", "total", total.files,
           (unsigned long long)total.bytes, total.defs,
           total.imports - total.unresolved, total.unresolved);
    printf("%.3f s, %.1f MB/s, peak memory %.1f MB, parsed %zu, from cache "
           "%zu, failed %zu\n",
           seconds, mbps, peak_mb, st.parsed, st.cache_hits, st.failed);
  }
  if(find) print_find(s, find, json, out);
  if(json) {
    char *text = cJSON_Print(out);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(out);
  }
  ch_snapshot_unref(s);
  ch_index_free(index);
  ch_free(per);
  free(root);
  return 0;
}
