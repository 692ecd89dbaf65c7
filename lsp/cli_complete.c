/* cli_complete.c: `chorus complete FILE:LINE:COL`, one completion from one
 * model on the command line, on its own event loop. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chorus/config.h"
#include "chorus/context.h"
#include "chorus/guard.h"
#include "chorus/index.h"
#include "chorus/models.h"
#include "chorus/syntax.h"
#include "chorus/text.h"
#include "cli.h"
#include "result_json.h"

static const char complete_usage[] =
    "usage: chorus complete FILE:LINE:COL [--model NAME] [--json]\n"
    "                       [--config FILE] [--root DIR]\n"
    "\n"
    "Sends one completion for the cursor at LINE:COL (1-based; COL counts\n"
    "characters) of FILE to a model from the config (default: the first\n"
    "configured, else the builtin model) and prints the text, then the\n"
    "timings and which model answered. Exit status: 0 on success, 1 when the\n"
    "model failed, 2 on usage errors. The context sent with it, and the\n"
    "builtin model, come from the repository of FILE (the nearest directory\n"
    "up with .git) or --root DIR.\n";

typedef struct cli_state {
  ch_loop *loop;
  bool json;
  int code;
} cli_state;

static void print_result(cli_state *st, const ch_model_result *r) {
  if(st->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "provider", r->provider);
    if(r->error) {
      cJSON *e = cJSON_AddObjectToObject(o, "error");
      ch_result_json_error(e, r, r->message);
    } else {
      char *text = ch_strndup(r->text, r->len);
      cJSON_AddStringToObject(o, "text", text);
      ch_free(text);
      cJSON_AddStringToObject(o, "finishReason", r->finish_reason);
    }
    ch_result_json_measures(o, r, true);
    char *s = cJSON_Print(o);
    puts(s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else if(!r->error) {
    fwrite(r->text, 1, r->len, stdout);
    if(!r->len || r->text[r->len - 1] != '\n') putchar('\n');
    fprintf(stdout, "-- %s (%s): first byte %.0f ms, total %.0f ms%s%s",
            r->model, r->provider, r->first_byte_ms < 0 ? 0 : r->first_byte_ms,
            r->total_ms, r->finish_reason[0] ? ", finish " : "",
            r->finish_reason);
    if(r->tokens_in >= 0 || r->tokens_out >= 0)
      fprintf(stdout, ", tokens %lld in / %lld out", (long long)r->tokens_in,
              (long long)r->tokens_out);
    if(r->provenance[0]) fprintf(stdout, ", from %s", r->provenance);
    fputc('\n', stdout);
  }
  if(r->error) {
    if(r->error == CH_MODEL_TIMEOUT)
      fprintf(stderr, "chorus: complete: model '%s': timeout (%s deadline): "
                      "%s\n", r->model, ch_model_deadline_name(r->deadline),
              r->message);
    else
      fprintf(stderr, "chorus: complete: model '%s': %s: %s\n", r->model,
              ch_model_error_name(r->error), r->message);
  }
}

static void on_result(void *userdata, const ch_model_result *r) {
  cli_state *st = userdata;
  print_result(st, r);
  st->code = r->error ? 1 : 0;
  ch_loop_stop(st->loop);
}





int ch_cli_complete(int argc, char **argv) {
  const char *where = NULL, *model_name = NULL, *config_path = NULL;
  const char *root_dir = NULL;
  bool json = false;
  for(int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if(strcmp(a, "--json") == 0) {
      json = true;
    } else if(strcmp(a, "--model") == 0 || strcmp(a, "--config") == 0 ||
              strcmp(a, "--root") == 0) {
      if(i + 1 >= argc) {
        fprintf(stderr, "chorus: complete: %s: expected a value\n", a);
        return 2;
      }
      if(a[2] == 'm')
        model_name = argv[++i];
      else if(a[2] == 'c')
        config_path = argv[++i];
      else
        root_dir = argv[++i];
    } else if(strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(complete_usage, stdout);
      return 0;
    } else if(a[0] == '-' && a[1]) {
      fprintf(stderr, "chorus: complete: unknown option '%s'\n%s", a,
              complete_usage);
      return 2;
    } else if(!where) {
      where = a;
    } else {
      fprintf(stderr, "chorus: complete: one FILE:LINE:COL only\n");
      return 2;
    }
  }
  if(!where) {
    fputs(complete_usage, stderr);
    return 2;
  }
  char *file = NULL;
  long line = 0, col = 0;
  if(!ch_cli_parse_location(where, &file, &line, &col)) {
    fprintf(stderr, "chorus: complete: '%s': expected FILE:LINE:COL with "
                    "LINE and COL from 1\n", where);
    return 2;
  }

  int code = 2;
  ch_config config;
  ch_config_init(&config);
  ch_models *models = NULL;
  ch_index *index = NULL;
  ch_snapshot *snap = NULL;
  ch_guard *guard = NULL;
  ch_context_engine *engine = NULL;
  ch_loop *loop = NULL;
  char *abs = NULL, *root = NULL;
  ch_model_prepared held = {0};
  ch_buf why_prep;
  ch_buf_init(&why_prep, 4096);
  size_t len = 0;
  const char *why = NULL;
  char *data = ch_cli_read_file(file, (size_t)256 << 20, &len, &why);
  uint32_t cursor = 0;
  if(!data) {
    fprintf(stderr, "chorus: complete: %s: %s\n", file, why);
    goto cleanup;
  }
  if(!ch_cli_cursor(data, len, line, col, &cursor)) {
    fprintf(stderr, "chorus: complete: %s: line %ld is past the end\n",
            file, line);
    goto cleanup;
  }
  /* Absolute, as the index names files. */
  abs = realpath(file, NULL);
  if(!abs) {
    fprintf(stderr, "chorus: complete: %s: %s\n", file, strerror(errno));
    goto cleanup;
  }

  ch_cli_load_config(&config, config_path);
  ch_buf problems; /* of the models */
  ch_buf_init(&problems, 1 << 16);
  /* Only what goes wrong: the answer is what this command prints. */
  ch_log_set_level(config.has_log_level ? config.log_level : CH_LOG_WARN);

  ch_status err = CH_OK;
  loop = ch_loop_new(&err);
  if(!loop) {
    fprintf(stderr, "chorus: complete: cannot create the event loop\n");
    ch_buf_release(&problems);
    goto cleanup;
  }
  /* The context and the builtin model come from the repository: index it
   * first (from the cache when there is one), before the loop runs. */
  if(root_dir) {
    char *real = realpath(root_dir, NULL);
    if(!real) {
      fprintf(stderr, "chorus: complete: --root %s: cannot open\n",
              root_dir);
      ch_buf_release(&problems);
      goto cleanup;
    }
    root = ch_strdup(real);
    free(real);
  } else {
    root = ch_cli_repo_root(abs);
  }
  ch_index_options options = {0};
  options.ignore_globs = (const char *const *)config.ignore;
  options.max_file_bytes = config.max_file_bytes;
  index = ch_index_new(&options, &err);
  if(index) {
    ch_index_add_root(index, root);
    ch_index_wait_idle(index);
    snap = ch_index_snapshot(index);
  }
  ch_models_env env = {.loop = loop, .index = index, .blocking_init = true};
  models = ch_models_new(&env, config.models, config.nmodels, &problems);
  ch_cli_print_problems(&problems);
  ch_buf_release(&problems);
  ch_model *model = model_name ? ch_models_find(models, model_name)
                               : ch_models_default(models);
  if(!model) {
    if(model_name) {
      fprintf(stderr, "chorus: complete: --model: no model named '%s' "
                      "(configured:", model_name);
      for(size_t i = 0; i < ch_models_count(models); i++)
        fprintf(stderr, " %s",
                ch_model_config_of(ch_models_at(models, i))->name);
      fprintf(stderr, ")\n");
    } else {
      fprintf(stderr, "chorus: complete: no model is configured and the "
                      "builtin model is not part of this build\n");
    }
    goto cleanup;
  }

  guard = ch_guard_new(&config.guard.options, &err);
  if(!guard) {
    fprintf(stderr, "chorus: complete: guard: %s\n", ch_strerror(err));
    goto cleanup;
  }
  engine = ch_context_engine_new(0);
  ch_model_prepare_input in = {
      .snapshot = snap,
      .engine = engine,
      .guard = guard,
      .path = abs,
      .lang = ch_syntax_by_path(abs, data, CH_MIN(len, 256)),
      .text = data,
      .len = (uint32_t)len,
      .cursor = cursor,
      .budget = config.context_budget,
      .prefix_ratio = config.context_prefix_ratio,
  };
  ch_model_request req;
  if(ch_model_prepare(model, &in, &req, &held, &why_prep)) {
    fprintf(stderr, "chorus: complete: %s\n", why_prep.data);
    code = 1;
    goto cleanup;
  }
  cli_state st = {loop, json, 1};
  ch_status s = ch_models_complete(models, model, &req, on_result, &st, NULL);
  if(s) {
    fprintf(stderr, "chorus: complete: cannot start: %s\n", ch_strerror(s));
    goto cleanup;
  }
  ch_loop_run(loop);
  code = st.code;

cleanup:
  ch_model_prepared_release(&held);
  ch_buf_release(&why_prep);
  ch_models_free(models);
  ch_context_engine_free(engine);
  ch_guard_free(guard);
  ch_snapshot_unref(snap);
  ch_index_free(index);
  ch_loop_free(loop);
  free(abs);
  ch_free(root);
  ch_free(data);
  ch_free(file);
  ch_config_release(&config);
  return code;
}
