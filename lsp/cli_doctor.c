/* cli_doctor.c: `chorus doctor`, the config and each model's endpoint
 * checked at once, said plainly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/config.h"
#include "chorus/models.h"
#include "cli.h"

#define DOCTOR_TIMEOUT_MS 3000u

static const char doctor_usage[] =
    "usage: chorus doctor [--config FILE] [--timeout MS]\n"
    "\n"
    "Reads the config, reports its problems, lists the models and checks\n"
    "each endpoint with a cheap request, all at once. Exit status 0 when\n"
    "every model answers, 1 otherwise, 2 on usage errors.\n";

typedef struct doctor {
  ch_loop *loop;
  size_t pending;
  size_t failed;
  char **lines; /* one verdict per model, in config order */
  ch_models *models;
} doctor;

static void on_health(void *userdata, const ch_model *model,
                      const ch_model_health *h) {
  doctor *d = userdata;
  size_t i = 0;
  while(ch_models_at(d->models, i) != model) i++;
  if(h->state != CH_HEALTH_OK) d->failed++;
  d->lines[i] = h->state == CH_HEALTH_OK ? ch_strdup(h->message)
                                         : ch_strdupf("FAILED: %s", h->message);
  if(--d->pending == 0) ch_loop_stop(d->loop);
}

int ch_cli_doctor(int argc, char **argv) {
  const char *config_path = NULL;
  unsigned timeout = DOCTOR_TIMEOUT_MS;
  for(int i = 0; i < argc; i++) {
    if(strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if(strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      char *end = NULL;
      long v = strtol(argv[++i], &end, 10);
      if(*end || v < 1 || v > 600000) {
        fprintf(stderr, "chorus: doctor: --timeout: expected milliseconds "
                        "from 1 to 600000\n");
        return 2;
      }
      timeout = (unsigned)v;
    } else if(strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(doctor_usage, stdout);
      return 0;
    } else {
      fprintf(stderr, "chorus: doctor: unexpected argument '%s'\n%s", argv[i],
              doctor_usage);
      return 2;
    }
  }

  int code = 0;
  ch_config config;
  ch_config_init(&config);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  char *path = config_path ? ch_strdup(config_path) : ch_config_default_path();
  printf("config: %s", path ? path : "(no config file: no home directory)");
  if(path) {
    ch_status r = ch_config_load_file(&config, path, &problems);
    if(r == CH_ERR_NOT_FOUND) {
      printf(" (not found%s)", config_path ? "" : ": defaults apply");
      if(config_path) code = 1;
    }
    if(r && r != CH_ERR_NOT_FOUND) code = 1;
  }
  printf("\n");
  ch_free(path);
  if(problems.len) {
    printf("config problems (these entries or fields are ignored):\n");
    for(char *line = problems.data; line && *line;) {
      char *nl = strchr(line, '\n');
      if(nl) *nl = 0;
      printf("  %s\n", line);
      line = nl ? nl + 1 : NULL;
    }
  }
  ch_buf_reset(&problems);

  ch_status err = CH_OK;
  ch_loop *loop = ch_loop_new(&err);
  if(!loop) {
    fprintf(stderr, "chorus: doctor: cannot create the event loop\n");
    ch_buf_release(&problems);
    ch_config_release(&config);
    return 2;
  }
  ch_models_env env = {.loop = loop};
  ch_models *models = ch_models_new(&env, config.models, config.nmodels,
                                    &problems);
  if(problems.len) printf("%s", problems.data);
  ch_buf_release(&problems);
  size_t n = ch_models_count(models);
  doctor d = {loop, 0, 0, ch_calloc(n + 1, sizeof(char *)), models};
  if(!config.nmodels)
    printf("no models configured: %s\n",
           n ? "the builtin model answers" : "and no builtin model in this "
                                             "build");
  for(size_t i = 0; i < n; i++) {
    if(!ch_models_check(models, ch_models_at(models, i), timeout, on_health,
                        &d))
      d.pending++;
  }
  if(d.pending) ch_loop_run(loop);
  printf("models:\n");
  for(size_t i = 0; i < n; i++) {
    const ch_model_config *c = ch_model_config_of(ch_models_at(models, i));
    printf("  %s (%s%s%s%s%s, %s)\n    %s\n", c->name, c->provider,
           c->model ? " " : "", c->model ? c->model : "",
           c->endpoint ? " at " : "", c->endpoint ? c->endpoint : "",
           c->remote ? "remote" : "local",
           d.lines[i] ? d.lines[i] : "FAILED: no answer");
    ch_free(d.lines[i]);
  }
  ch_free(d.lines);
  if(d.failed || !n) code = 1;
  if(d.failed)
    printf("%zu of %zu model%s failed\n", d.failed, n, n == 1 ? "" : "s");
  else if(code)
    printf("the models answer, but the config has problems\n");
  else
    printf("all models answer\n");
  ch_models_free(models);
  ch_loop_free(loop);
  ch_config_release(&config);
  return code;
}
