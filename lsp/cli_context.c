/* cli_context.c: `chorus context FILE:LINE:COL`, the context the engine
 * builds for a cursor, as it would be sent, with the reason for each
 * snippet and the redactions made. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chorus/context.h"
#include "chorus/guard.h"
#include "chorus/index.h"
#include "cli.h"

static const char context_usage[] =
    "usage: chorus context FILE:LINE:COL [--budget N] [--json] [--local]\n"
    "                      [--root DIR] [--no-cache] [--config FILE]\n"
    "\n"
    "Indexes the repository of FILE (the enclosing git root, else FILE's\n"
    "folder, or --root DIR) as the language server does and prints the\n"
    "context built for the cursor at LINE:COL (1-based; COL counts\n"
    "characters), with the settings of the config file (ignore, guard,\n"
    "context), as it would be sent to a remote model (--local: to a local\n"
    "one): each snippet with its kind, place, tokens and reason, then the\n"
    "redactions made. --budget N sets the budget in tokens (default: the config's\n"
    "context.budget, else 1536).\n";




static void print_text(const char *text, size_t len) {
  fwrite(text, 1, len, stdout);
  if(len == 0 || text[len - 1] != '\n') putchar('\n');
}

int ch_cli_context(int argc, char **argv) {
  const char *location = NULL, *root_arg = NULL, *config_path = NULL;
  long budget = 0; /* 0: the config's, else 1536 */
  bool json = false, local = false, no_cache = false;
  for(int i = 0; i < argc; i++) {
    if(strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if(strcmp(argv[i], "--local") == 0) {
      local = true;
    } else if(strcmp(argv[i], "--no-cache") == 0) {
      no_cache = true;
    } else if(strcmp(argv[i], "--budget") == 0) {
      char *end = NULL;
      budget = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
      if(budget <= 0 || budget > 1000000 || !end || *end) {
        fprintf(stderr, "chorus context: --budget: expected a number of "
                        "tokens between 1 and 1000000\n");
        return 2;
      }
    } else if(strcmp(argv[i], "--config") == 0) {
      if(i + 1 >= argc) {
        fprintf(stderr, "chorus context: --config: expected a file\n");
        return 2;
      }
      config_path = argv[++i];
    } else if(strcmp(argv[i], "--root") == 0) {
      if(i + 1 >= argc) {
        fprintf(stderr, "chorus context: --root: expected a folder\n");
        return 2;
      }
      root_arg = argv[++i];
    } else if(strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(context_usage, stdout);
      return 0;
    } else if(argv[i][0] == '-') {
      fprintf(stderr, "chorus context: unknown option '%s'\n%s", argv[i],
              context_usage);
      return 2;
    } else if(!location) {
      location = argv[i];
    } else {
      fprintf(stderr, "chorus context: one location only\n%s", context_usage);
      return 2;
    }
  }
  if(!location) {
    fputs(context_usage, stderr);
    return 2;
  }
  char *file = NULL;
  long line = 0, col = 0;
  if(!ch_cli_parse_location(location, &file, &line, &col)) {
    fprintf(stderr,
            "chorus context: %s: expected FILE:LINE:COL with LINE "
            "and COL from 1\n",
            location);
    return 2;
  }
  int code = 1;
  char *abs = realpath(file, NULL);
  ch_config config;
  ch_config_init(&config);
  char *root = NULL, *text = NULL;
  ch_index *index = NULL;
  ch_snapshot *snap = NULL;
  ch_guard *guard = NULL;
  ch_context_engine *engine = NULL;
  ch_context ctx = {0};
  cJSON *out = NULL;
  size_t len = 0;
  if(!abs || !(text = ch_cli_read_file(abs, (size_t)64 << 20, &len, NULL))) {
    fprintf(stderr, "chorus context: %s: cannot read\n", file);
    goto done;
  }
  const ch_language *lang = ch_syntax_by_path(abs, text, CH_MIN(len, 256u));
  if(!lang) {
    fprintf(stderr, "chorus context: %s: not a language chorus knows\n", file);
    goto done;
  }
  /* LINE:COL (COL in characters) to a byte offset, clamped to the line as
   * LSP does. */
  uint32_t cursor = 0;
  if(!ch_cli_cursor(text, len, line, col, &cursor)) {
    fprintf(stderr, "chorus context: %s: line %ld is past the end\n", file,
            line);
    code = 2;
    goto done;
  }
  if(root_arg) {
    root = realpath(root_arg, NULL);
    if(!root) {
      fprintf(stderr, "chorus context: --root %s: cannot open\n", root_arg);
      goto done;
    }
    char *tmp = ch_strdup(root);
    free(root);
    root = tmp;
  } else {
    root = ch_cli_repo_root(abs);
  }
  /* The settings completions use: ignores, guard, budget, ratio. */
  ch_cli_load_config(&config, config_path);
  if(!budget) budget = config.context_budget ? config.context_budget : 1536;
  ch_index_options options = {0};
  options.cache_dir = no_cache ? "" : NULL;
  options.ignore_globs = (const char *const *)config.ignore;
  options.max_file_bytes = config.max_file_bytes;
  ch_status error = CH_OK;
  uint64_t t0 = ch_now_ns();
  index = ch_index_new(&options, &error);
  if(!index) {
    fprintf(stderr, "chorus context: index: %s\n", ch_strerror(error));
    goto done;
  }
  ch_index_add_root(index, root);
  ch_index_wait_idle(index);
  double index_s = (double)(ch_now_ns() - t0) / 1e9;
  snap = ch_index_snapshot(index);
  guard = ch_guard_new(&config.guard.options, &error);
  if(!guard) {
    fprintf(stderr, "chorus context: guard: %s\n", ch_strerror(error));
    goto done;
  }
  engine = ch_context_engine_new(0);
  ch_context_request req = {0};
  req.path = abs;
  req.lang = lang;
  req.text = text;
  req.len = (uint32_t)len;
  req.cursor = cursor;
  req.budget = (uint32_t)budget;
  ch_context_options copt = {0};
  copt.remote = !local;
  copt.guard = guard;
  copt.prefix_ratio = config.context_prefix_ratio;
  ch_status st = ch_context_build(engine, snap, &req, &copt, &ctx);
  if(st) {
    fprintf(stderr, "chorus context: %s\n", ch_strerror(st));
    goto done;
  }
  if(json) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "root", root);
    cJSON_AddStringToObject(out, "file", abs);
    cJSON_AddNumberToObject(out, "line", (double)line);
    cJSON_AddNumberToObject(out, "column", (double)col);
    cJSON_AddNumberToObject(out, "cursor", cursor);
    cJSON_AddStringToObject(out, "language", lang->name);
    cJSON_AddStringToObject(out, "target", local ? "local" : "remote");
    cJSON_AddNumberToObject(out, "budget", ctx.budget);
    cJSON_AddNumberToObject(out, "tokens", ctx.tokens);
    cJSON_AddNumberToObject(out, "milliseconds", (double)ctx.elapsed_ns / 1e6);
    cJSON_AddNumberToObject(out, "indexSeconds", index_s);
    cJSON *list = cJSON_AddArrayToObject(out, "snippets");
    for(size_t i = 0; i < ctx.count; i++) {
      const ch_snippet *s = &ctx.snippets[i];
      cJSON *item = cJSON_CreateObject();
      cJSON_AddStringToObject(item, "kind", ch_snippet_kind_name(s->kind));
      cJSON_AddStringToObject(item, "path", s->path);
      cJSON_AddNumberToObject(item, "startLine", s->start_row + 1);
      cJSON_AddNumberToObject(item, "endLine", s->end_row + 1);
      cJSON_AddNumberToObject(item, "tokens", s->tokens);
      cJSON_AddNumberToObject(item, "score", s->score);
      cJSON_AddStringToObject(item, "reason", s->reason);
      cJSON_AddStringToObject(item, "text", s->text);
      cJSON_AddItemToArray(list, item);
    }
    cJSON *red = cJSON_AddObjectToObject(out, "redactions");
    cJSON_AddNumberToObject(red, "total", (double)ctx.redactions.total);
    cJSON_AddNumberToObject(red, "deniedSnippets",
                            (double)ctx.redactions.snippets_dropped);
    cJSON *kinds = cJSON_AddObjectToObject(red, "byKind");
    for(size_t k = 0; k < ctx.redactions.nkinds; k++)
      cJSON_AddNumberToObject(kinds, ctx.redactions.kind_names[k],
                              (double)ctx.redactions.kind_counts[k]);
    char *printed = cJSON_Print(out);
    puts(printed);
    cJSON_free(printed);
  } else {
    for(size_t i = 0; i < ctx.count; i++) {
      const ch_snippet *s = &ctx.snippets[i];
      const char *shown = s->path;
      size_t rn = strlen(root);
      if(strncmp(shown, root, rn) == 0 && shown[rn] == '/') shown += rn + 1;
      printf("--- %s %s:%u-%u  %u tokens  score %.2f\n    %s\n",
             ch_snippet_kind_name(s->kind), shown, s->start_row + 1,
             s->end_row + 1, s->tokens, s->score, s->reason);
      print_text(s->text, s->len);
    }
    printf("--- %zu snippets, %u of %u tokens, built in %.2f ms for a %s "
           "model (index %.2f s)\n",
           ctx.count, ctx.tokens, ctx.budget, (double)ctx.elapsed_ns / 1e6,
           local ? "local" : "remote", index_s);
    printf("redactions: %zu", ctx.redactions.total);
    for(size_t k = 0; k < ctx.redactions.nkinds; k++)
      printf("%s%s %zu", k ? ", " : " (", ctx.redactions.kind_names[k],
             ctx.redactions.kind_counts[k]);
    printf("%s; snippets of denied files left out: %zu\n",
           ctx.redactions.nkinds ? ")" : "", ctx.redactions.snippets_dropped);
  }
  code = 0;
done:
  ch_config_release(&config);
  cJSON_Delete(out);
  ch_context_release(&ctx);
  ch_context_engine_free(engine);
  ch_guard_free(guard);
  if(snap) ch_snapshot_unref(snap);
  ch_index_free(index);
  ch_free(root);
  ch_free(text);
  ch_free(file);
  free(abs);
  return code;
}
