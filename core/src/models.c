/* models.c: the provider table, model config, and one completion's life. */
#include "chorus/models.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chorus/context.h"
#include "chorus/guard.h"
#include "chorus/http.h"
#include "chorus/index.h"
#include "chorus/stream.h"

#define DEFAULT_MAX_TOKENS 128u
#define DEFAULT_TEMPERATURE 0.2
#define DEFAULT_CONNECT_MS 2000u
#define DEFAULT_FIRST_BYTE_MS 10000u
#define DEFAULT_TOTAL_MS 30000u
#define DEFAULT_MAX_RESPONSE ((size_t)4 * 1024 * 1024)
#define END_GRACE_MS 250u /* after the end marker, for the response's end */

/* ---- the provider table -------------------------------------------------- */

/* builtin (models/builtin.c) is referenced strongly: a weak reference
 * would not pull its object out of the static library, leaving the entry
 * NULL. */

const ch_provider *const ch_providers[] = {
    &ch_provider_openai,  &ch_provider_openai_chat, &ch_provider_anthropic,
    &ch_provider_ollama,  &ch_provider_llamacpp,    &ch_provider_mistral,
    &ch_provider_builtin, NULL,
};

const ch_provider *ch_provider_find(const char *name) {
  if(!name) return NULL;
  for(size_t i = 0; ch_providers[i]; i++)
    if(strcmp(ch_providers[i]->name, name) == 0) return ch_providers[i];
  return NULL;
}

const char *ch_provider_names(void) {
  return "openai, openai-chat, anthropic, ollama, llamacpp, mistral-fim, "
         "builtin";
}

const char *ch_model_error_name(ch_model_error error) {
  switch(error) {
  case CH_MODEL_OK: return "ok";
  case CH_MODEL_TIMEOUT: return "timeout";
  case CH_MODEL_REFUSED: return "refused";
  case CH_MODEL_HTTP: return "http";
  case CH_MODEL_BAD_RESPONSE: return "bad response";
  case CH_MODEL_CANCELLED: return "cancelled";
  case CH_MODEL_TOO_LARGE: return "too large";
  case CH_MODEL_SERVER: return "server error";
  case CH_MODEL_NETWORK: return "network";
  case CH_MODEL_CONFIG: return "config";
  }
  return "unknown";
}

const char *ch_model_deadline_name(ch_model_deadline deadline) {
  switch(deadline) {
  case CH_DEADLINE_NONE: return "none";
  case CH_DEADLINE_CONNECT: return "connect";
  case CH_DEADLINE_FIRST_BYTE: return "first byte";
  case CH_DEADLINE_TOTAL: return "total";
  }
  return "unknown";
}

/* ---- config -------------------------------------------------------------- */

static char **strv_dup(char *const *src) {
  if(!src) return NULL;
  size_t n = 0;
  while(src[n]) n++;
  char **out = ch_calloc(n + 1, sizeof(*out));
  for(size_t i = 0; i < n; i++) out[i] = ch_strdup(src[i]);
  return out;
}

static void strv_free(char **v) {
  if(!v) return;
  for(size_t i = 0; v[i]; i++) ch_free(v[i]);
  ch_free(v);
}

void ch_model_config_init(ch_model_config *self) {
  memset(self, 0, sizeof(*self));
  self->remote = true;
  self->max_tokens = DEFAULT_MAX_TOKENS;
  self->temperature = DEFAULT_TEMPERATURE;
  self->connect_ms = DEFAULT_CONNECT_MS;
  self->first_byte_ms = DEFAULT_FIRST_BYTE_MS;
  self->total_ms = DEFAULT_TOTAL_MS;
  self->max_response_bytes = DEFAULT_MAX_RESPONSE;
}

void ch_model_config_release(ch_model_config *self) {
  ch_free(self->name);
  ch_free(self->provider);
  ch_free(self->endpoint);
  ch_free(self->model);
  ch_free(self->fim);
  ch_free(self->fim_template);
  strv_free(self->fim_stops);
  ch_free(self->api_key_env);
  strv_free(self->stop);
  ch_model_config_init(self);
}

static char *dup_or_null(const char *s) { return s ? ch_strdup(s) : NULL; }

void ch_model_config_copy(ch_model_config *self, const ch_model_config *src) {
  *self = *src;
  self->name = dup_or_null(src->name);
  self->provider = dup_or_null(src->provider);
  self->endpoint = dup_or_null(src->endpoint);
  self->model = dup_or_null(src->model);
  self->fim = dup_or_null(src->fim);
  self->fim_template = dup_or_null(src->fim_template);
  self->fim_stops = strv_dup(src->fim_stops);
  self->api_key_env = dup_or_null(src->api_key_env);
  self->stop = strv_dup(src->stop);
}

void ch_model_configs_free(ch_model_config *configs, size_t n) {
  if(!configs) return;
  for(size_t i = 0; i < n; i++) ch_model_config_release(&configs[i]);
  ch_free(configs);
}

/* True when the URL's host is loopback ("localhost", 127.x, ::1). */
static bool url_is_loopback(const char *url) {
  const char *h = strstr(url, "://");
  if(!h) return false;
  h += 3;
  const char *at = strpbrk(h, "@/");
  if(at && *at == '@') h = at + 1;
  if(strncmp(h, "[::1]", 5) == 0) return true;
  size_t n = strcspn(h, ":/?#");
  if(n == 9 && strncasecmp(h, "localhost", 9) == 0) return true;
  if(n >= 4 && strncmp(h, "127.", 4) == 0) return true;
  return false;
}

typedef struct parse_ctx {
  const char *origin;
  size_t index;
  ch_buf *problems;
  bool bad;
} parse_ctx;

static void problem(parse_ctx *c, const char *field, const char *fmt, ...)
    CH_PRINTF(3, 4);
static void problem(parse_ctx *c, const char *field, const char *fmt, ...) {
  c->bad = true;
  if(!c->problems) return;
  ch_buf_appendf(c->problems, "%s: models[%zu]%s%s: ", c->origin, c->index,
                 field ? "." : "", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  ch_buf_vappendf(c->problems, fmt, ap);
  va_end(ap);
  ch_buf_append_char(c->problems, '\n');
}

/* A NULL-terminated copy of an array of non-empty strings; NULL + problem
 * when it is not one. */
static char **parse_strings(parse_ctx *c, const char *field,
                            const cJSON *arr) {
  if(!cJSON_IsArray(arr)) {
    problem(c, field, "expected an array of strings");
    return NULL;
  }
  size_t n = (size_t)cJSON_GetArraySize(arr);
  char **out = ch_calloc(n + 1, sizeof(*out));
  size_t i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, arr) {
    if(!cJSON_IsString(item) || !item->valuestring[0]) {
      problem(c, field, "element %zu: expected a non-empty string", i);
      strv_free(out);
      return NULL;
    }
    out[i++] = ch_strdup(item->valuestring);
  }
  return out;
}

static bool parse_uint(parse_ctx *c, const char *field, const cJSON *v,
                       double min, double max, double *out) {
  if(!cJSON_IsNumber(v) ||
     v->valuedouble != (double)(long long)v->valuedouble ||
     v->valuedouble < min || v->valuedouble > max) {
    problem(c, field, "expected a whole number from %.0f to %.0f", min, max);
    return false;
  }
  *out = v->valuedouble;
  return true;
}

static bool valid_env_name(const char *s) {
  if(!s[0] || isdigit((unsigned char)s[0])) return false;
  for(; *s; s++)
    if(!isalnum((unsigned char)*s) && *s != '_') return false;
  return true;
}

static void parse_timeouts(parse_ctx *c, const cJSON *obj,
                           ch_model_config *m) {
  if(!cJSON_IsObject(obj)) {
    problem(c, "timeouts", "expected an object with connectMs, firstByteMs, "
                           "totalMs");
    return;
  }
  const cJSON *v;
  cJSON_ArrayForEach(v, obj) {
    char field[64];
    snprintf(field, sizeof(field), "timeouts.%s", v->string);
    double d = 0;
    uint32_t *dst = NULL;
    if(strcmp(v->string, "connectMs") == 0)
      dst = &m->connect_ms;
    else if(strcmp(v->string, "firstByteMs") == 0)
      dst = &m->first_byte_ms;
    else if(strcmp(v->string, "totalMs") == 0)
      dst = &m->total_ms;
    if(!dst) {
      problem(c, field, "unknown field (known: connectMs, firstByteMs, "
                        "totalMs)");
      continue;
    }
    if(parse_uint(c, field, v, 1, 3600000, &d)) *dst = (uint32_t)d;
  }
}

static void parse_fim(parse_ctx *c, const cJSON *v, ch_model_config *m) {
  ch_buf err;
  ch_buf_init(&err, 1024);
  ch_fim_template t;
  memset(&t, 0, sizeof(t));
  if(cJSON_IsString(v)) {
    if(ch_fim_template_init(&t, v->valuestring, &err))
      problem(c, "fim", "%s", err.data ? err.data : "unknown template");
    else
      m->fim = ch_strdup(v->valuestring);
  } else if(cJSON_IsObject(v)) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(v, "template");
    const cJSON *stops = cJSON_GetObjectItemCaseSensitive(v, "stops");
    const cJSON *f;
    cJSON_ArrayForEach(f, v) {
      if(strcmp(f->string, "template") && strcmp(f->string, "stops")) {
        char field[80];
        snprintf(field, sizeof(field), "fim.%.60s", f->string);
        problem(c, field, "unknown field (known: template, stops)");
      }
    }
    char **sv = NULL;
    if(stops) sv = parse_strings(c, "fim.stops", stops);
    if(!cJSON_IsString(text)) {
      problem(c, "fim.template", "expected a string with {prefix} and "
                                 "{suffix}");
    } else if(ch_fim_template_init_custom(&t, text->valuestring,
                                          (const char *const *)sv, &err)) {
      problem(c, "fim.template", "%s", err.data ? err.data : "malformed");
    } else {
      m->fim_template = ch_strdup(text->valuestring);
      m->fim_stops = sv;
      sv = NULL;
    }
    strv_free(sv);
  } else {
    problem(c, "fim", "expected a template name or {\"template\", "
                      "\"stops\"}");
  }
  ch_fim_template_release(&t);
  ch_buf_release(&err);
}

/* Parses one entry into m; problems are recorded in c. */
static void parse_entry(parse_ctx *c, const cJSON *obj, ch_model_config *m,
                        const ch_model_config *done, size_t ndone) {
  if(!cJSON_IsObject(obj)) {
    problem(c, NULL, "expected an object");
    return;
  }
  bool has_remote = false;
  const cJSON *v;
  cJSON_ArrayForEach(v, obj) {
    const char *k = v->string;
    double d = 0;
    if(strcmp(k, "name") == 0) {
      if(!cJSON_IsString(v) || !v->valuestring[0]) {
        problem(c, k, "expected a non-empty string");
        continue;
      }
      for(size_t i = 0; i < ndone; i++)
        if(strcmp(done[i].name, v->valuestring) == 0)
          problem(c, k, "'%s' is already the name of another model",
                  v->valuestring);
      m->name = ch_strdup(v->valuestring);
    } else if(strcmp(k, "provider") == 0) {
      if(!cJSON_IsString(v)) {
        problem(c, k, "expected a string (known: %s)", ch_provider_names());
      } else if(!ch_provider_find(v->valuestring)) {
        problem(c, k, "unknown provider '%s' (known: %s)", v->valuestring,
                ch_provider_names());
      } else {
        m->provider = ch_strdup(v->valuestring);
      }
    } else if(strcmp(k, "endpoint") == 0) {
      if(!cJSON_IsString(v) || (strncmp(v->valuestring, "http://", 7) != 0 &&
                                strncmp(v->valuestring, "https://", 8) != 0)) {
        problem(c, k, "expected an http:// or https:// URL");
        continue;
      }
      size_t n = strlen(v->valuestring);
      while(n > 8 && v->valuestring[n - 1] == '/') n--;
      m->endpoint = ch_strndup(v->valuestring, n);
    } else if(strcmp(k, "model") == 0) {
      if(!cJSON_IsString(v) || !v->valuestring[0])
        problem(c, k, "expected a non-empty string");
      else
        m->model = ch_strdup(v->valuestring);
    } else if(strcmp(k, "fim") == 0) {
      parse_fim(c, v, m);
    } else if(strcmp(k, "apiKeyEnv") == 0) {
      if(!cJSON_IsString(v) || !valid_env_name(v->valuestring))
        problem(c, k, "expected the name of an environment variable");
      else
        m->api_key_env = ch_strdup(v->valuestring);
    } else if(strcmp(k, "remote") == 0) {
      if(!cJSON_IsBool(v))
        problem(c, k, "expected true or false");
      else
        m->remote = cJSON_IsTrue(v), has_remote = true;
    } else if(strcmp(k, "maxTokens") == 0) {
      if(parse_uint(c, k, v, 1, 1000000, &d)) m->max_tokens = (uint32_t)d;
    } else if(strcmp(k, "temperature") == 0) {
      if(!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2)
        problem(c, k, "expected a number from 0 to 2");
      else
        m->temperature = v->valuedouble;
    } else if(strcmp(k, "stop") == 0) {
      m->stop = parse_strings(c, k, v);
    } else if(strcmp(k, "suffixField") == 0) {
      if(!cJSON_IsBool(v))
        problem(c, k, "expected true or false");
      else
        m->suffix_field = cJSON_IsTrue(v), m->has_suffix_field = true;
    } else if(strcmp(k, "chat") == 0) {
      if(!cJSON_IsBool(v))
        problem(c, k, "expected true or false");
      else
        m->chat = cJSON_IsTrue(v);
    } else if(strcmp(k, "timeouts") == 0) {
      parse_timeouts(c, v, m);
    } else if(strcmp(k, "maxResponseBytes") == 0) {
      if(parse_uint(c, k, v, 1024, 1073741824.0, &d))
        m->max_response_bytes = (size_t)d;
    } else {
      problem(c, k, "unknown field");
    }
  }
  if(!cJSON_GetObjectItemCaseSensitive(obj, "name"))
    problem(c, "name", "missing");
  const cJSON *pv = cJSON_GetObjectItemCaseSensitive(obj, "provider");
  if(!pv) problem(c, "provider", "missing (known: %s)", ch_provider_names());
  const ch_provider *p = ch_provider_find(m->provider);
  if(p && p->needs_endpoint && !m->endpoint &&
     !cJSON_GetObjectItemCaseSensitive(obj, "endpoint"))
    problem(c, "endpoint", "missing (the %s provider talks to a server)",
            p->name);
  if(m->endpoint && !has_remote) m->remote = !url_is_loopback(m->endpoint);
  if(!m->endpoint && !has_remote) m->remote = false;
  /* A default that exceeds an explicit total deadline follows it; two
   * explicit values that contradict each other are a mistake. */
  const cJSON *to = cJSON_GetObjectItemCaseSensitive(obj, "timeouts");
  bool set_connect = cJSON_GetObjectItemCaseSensitive(to, "connectMs") != NULL;
  bool set_first = cJSON_GetObjectItemCaseSensitive(to, "firstByteMs") != NULL;
  if(m->connect_ms > m->total_ms) {
    if(set_connect)
      problem(c, "timeouts.connectMs", "must not exceed totalMs (%u)",
              m->total_ms);
    m->connect_ms = m->total_ms;
  }
  if(m->first_byte_ms > m->total_ms) {
    if(set_first)
      problem(c, "timeouts.firstByteMs", "must not exceed totalMs (%u)",
              m->total_ms);
    m->first_byte_ms = m->total_ms;
  }
  if(p && p->check && !c->bad) {
    ch_buf msg;
    ch_buf_init(&msg, 1024);
    if(p->check(m, &msg))
      problem(c, NULL, "%s", msg.data ? msg.data : "invalid for provider");
    ch_buf_release(&msg);
  }
}

ch_status ch_model_config_parse(const cJSON *arr, const char *origin,
                                ch_model_config **out, size_t *nout,
                                ch_buf *problems) {
  if(!origin) origin = "config";
  if(!cJSON_IsArray(arr)) {
    if(problems)
      ch_buf_appendf(problems, "%s: models: expected an array of models\n",
                     origin);
    return CH_ERR_INVALID;
  }
  bool any_bad = false;
  size_t i = 0;
  const cJSON *entry;
  cJSON_ArrayForEach(entry, arr) {
    parse_ctx c = {origin, i++, problems, false};
    ch_model_config m;
    ch_model_config_init(&m);
    parse_entry(&c, entry, &m, *out, *nout);
    if(c.bad) {
      any_bad = true;
      ch_model_config_release(&m);
      continue;
    }
    *out = ch_realloc(*out, (*nout + 1) * sizeof(**out));
    (*out)[(*nout)++] = m;
  }
  return any_bad ? CH_ERR_INVALID : CH_OK;
}

/* ---- models -------------------------------------------------------------- */

struct ch_model {
  ch_models *set;
  ch_model_config config;
  const ch_provider *provider;
  ch_fim_template fim; /* family CH_FIM_NONE when none is configured */
  char **stops;        /* template's + config's, NULL-terminated */
  void *state;
};

typedef struct health_check health_check;

struct ch_models {
  ch_models_env env;
  ch_model **models;
  size_t nmodels;
  ch_model_call *calls; /* pending, for ch_models_free */
  health_check *checks;
};

struct ch_model_call {
  ch_models *set;
  ch_model *model;
  ch_model_cb cb;
  void *userdata;
  struct ch_model_call *prev, *next;

  /* The request, copied. */
  ch_model_request request;
  char *strings; /* prefix, suffix, path, language, repo, file texts */
  ch_model_file *files;

  char *api_key;
  ch_http *http;
  ch_provider_stream stream;
  ch_sse sse;
  ch_ndjson ndjson;
  uint64_t deliver_timer; /* deferred delivery */
  uint64_t end_timer;     /* grace after the end marker */
  uint64_t start_ns;

  ch_buf text;
  size_t scanned; /* text[0..scanned) was searched for stops */
  size_t max_stop;
  bool stopped;   /* a stop string was found: the answer is complete */
  bool ended;     /* the provider saw the stream's end marker */
  bool delivered;
  bool linked; /* in set->calls */
  ch_buf finish_reason;
  int64_t tokens_in, tokens_out;
  ch_model_error error;
  ch_model_deadline deadline;
  long http_status;
  ch_buf message;
  double first_byte_ms;
  unsigned attempts;
  double confidence;
  char *provenance;
  void *state;
};

static bool ensure_builtin(ch_models *self, ch_buf *problems);

static ch_model *model_new(ch_models *set, const ch_model_config *config,
                           ch_buf *problems) {
  const ch_provider *p = ch_provider_find(config->provider);
  if(!p) {
    if(problems)
      ch_buf_appendf(problems, "model '%s': unknown provider '%s'\n",
                     config->name, config->provider ? config->provider : "");
    return NULL;
  }
  ch_model *m = ch_calloc(1, sizeof(*m));
  m->set = set;
  m->provider = p;
  ch_model_config_copy(&m->config, config);
  ch_buf err;
  ch_buf_init(&err, 1024);
  ch_status st = CH_OK;
  if(config->fim_template)
    st = ch_fim_template_init_custom(&m->fim, config->fim_template,
                                     (const char *const *)config->fim_stops,
                                     &err);
  else if(config->fim)
    st = ch_fim_template_init(&m->fim, config->fim, &err);
  if(st) {
    if(problems)
      ch_buf_appendf(problems, "model '%s': fim: %s\n", config->name,
                     err.data ? err.data : "invalid template");
    ch_buf_release(&err);
    ch_model_config_release(&m->config);
    ch_free(m);
    return NULL;
  }
  ch_buf_release(&err);
  /* Stops: the template's, then the config's, without duplicates. */
  size_t n = 0, cap = 8;
  m->stops = ch_calloc(cap, sizeof(char *));
  char **lists[2] = {m->fim.stops, config->stop};
  for(int l = 0; l < 2; l++) {
    for(size_t i = 0; lists[l] && lists[l][i]; i++) {
      bool dup = false;
      for(size_t j = 0; j < n; j++) dup |= !strcmp(m->stops[j], lists[l][i]);
      if(dup || !lists[l][i][0]) continue;
      if(n + 2 > cap) {
        cap *= 2;
        m->stops = ch_realloc(m->stops, cap * sizeof(char *));
      }
      m->stops[n++] = ch_strdup(lists[l][i]);
      m->stops[n] = NULL;
    }
  }
  if(p->model_init && p->model_init(m, &set->env)) {
    if(problems)
      ch_buf_appendf(problems, "model '%s': the %s provider could not start\n",
                     config->name, p->name);
    strv_free(m->stops);
    ch_fim_template_release(&m->fim);
    ch_model_config_release(&m->config);
    ch_free(m);
    return NULL;
  }
  return m;
}

static void model_free(ch_model *m) {
  if(m->provider->model_release) m->provider->model_release(m);
  strv_free(m->stops);
  ch_fim_template_release(&m->fim);
  ch_model_config_release(&m->config);
  ch_free(m);
}

static bool ensure_builtin(ch_models *self, ch_buf *problems) {
  const ch_provider *p = ch_provider_find("builtin");
  if(!p) return false;
  ch_model_config c;
  ch_model_config_init(&c);
  c.name = ch_strdup("builtin");
  c.provider = ch_strdup("builtin");
  c.remote = false;
  ch_model *m = model_new(self, &c, problems);
  ch_model_config_release(&c);
  if(!m) return false;
  self->models = ch_realloc(self->models,
                            (self->nmodels + 1) * sizeof(*self->models));
  self->models[self->nmodels++] = m;
  return true;
}

ch_models *ch_models_new(const ch_models_env *env,
                         const ch_model_config *configs, size_t n,
                         ch_buf *problems) {
  if(!env || !env->loop) return NULL;
  ch_models *self = ch_calloc(1, sizeof(*self));
  self->env = *env;
  for(size_t i = 0; i < n; i++) {
    ch_model *m = model_new(self, &configs[i], problems);
    if(!m) continue;
    self->models = ch_realloc(self->models,
                              (self->nmodels + 1) * sizeof(*self->models));
    self->models[self->nmodels++] = m;
  }
  if(!self->nmodels) ensure_builtin(self, problems);
  return self;
}

static void call_free(ch_model_call *call);
static void check_free(health_check *check);

void ch_models_free(ch_models *self) {
  if(!self) return;
  while(self->calls) ch_model_call_cancel(self->calls);
  while(self->checks) check_free(self->checks);
  for(size_t i = 0; i < self->nmodels; i++) model_free(self->models[i]);
  ch_free(self->models);
  ch_free(self);
}

size_t ch_models_count(const ch_models *self) { return self->nmodels; }

ch_model *ch_models_at(ch_models *self, size_t i) {
  return i < self->nmodels ? self->models[i] : NULL;
}

ch_model *ch_models_find(ch_models *self, const char *name) {
  for(size_t i = 0; name && i < self->nmodels; i++)
    if(strcmp(self->models[i]->config.name, name) == 0) return self->models[i];
  return NULL;
}

void ch_models_index_changed(ch_models *self) {
  for(size_t i = 0; self && i < self->nmodels; i++)
    if(self->models[i]->provider->index_changed)
      self->models[i]->provider->index_changed(self->models[i]);
}

ch_model *ch_models_default(ch_models *self) {
  return self->nmodels ? self->models[0] : NULL;
}

const ch_model_config *ch_model_config_of(const ch_model *self) {
  return &self->config;
}
const ch_provider *ch_model_provider(const ch_model *self) {
  return self->provider;
}
const ch_models_env *ch_model_env(const ch_model *self) {
  return &self->set->env;
}
const char *const *ch_model_stops(const ch_model *self) {
  return (const char *const *)self->stops;
}
void *ch_model_state(const ch_model *self) { return self->state; }
void ch_model_set_state(ch_model *self, void *state) { self->state = state; }

void ch_model_prompt_input(const ch_model_request *request,
                           ch_prompt_input *out) {
  memset(out, 0, sizeof(*out));
  out->prefix = request->prefix ? request->prefix : "";
  out->prefix_len = request->prefix ? request->prefix_len : 0;
  out->suffix = request->suffix ? request->suffix : "";
  out->suffix_len = request->suffix ? request->suffix_len : 0;
  out->path = request->path;
  out->language = request->language;
  out->repo = request->repo;
  out->files = request->files;
  out->nfiles = request->nfiles;
}

ch_status ch_model_render_fim(const ch_model *self,
                              const ch_model_request *request, ch_buf *out,
                              ch_buf *error) {
  ch_prompt_input in;
  ch_model_prompt_input(request, &in);
  ch_status st = ch_prompt_fim(&self->fim, &in, out);
  if(st && error)
    ch_buf_appendf(error, "the prompt does not fit in %zu bytes", out->max);
  return st;
}

uint32_t ch_model_max_tokens(const ch_model *model,
                             const ch_model_request *request) {
  return request->max_tokens ? request->max_tokens : model->config.max_tokens;
}

/* ---- helpers for providers ----------------------------------------------- */

void ch_model_json_add_stops(cJSON *obj, const char *field,
                             const char *const *stops, size_t max) {
  if(!stops || !stops[0]) return;
  cJSON *arr = cJSON_AddArrayToObject(obj, field);
  for(size_t i = 0; stops[i] && (!max || i < max); i++)
    cJSON_AddItemToArray(arr, cJSON_CreateString(stops[i]));
}

ch_status ch_model_json_print(const cJSON *obj, ch_buf *out) {
  char *s = cJSON_PrintUnformatted(obj);
  if(!s) return CH_ERR_INVALID;
  ch_status st = ch_buf_append_str(out, s);
  cJSON_free(s);
  return st;
}

void ch_model_api_path(const ch_model *model, const char *version,
                       const char *route, ch_buf *out) {
  const char *ep = model->config.endpoint ? model->config.endpoint : "";
  const char *host = strstr(ep, "://");
  host = host ? host + 3 : ep;
  const char *path = strchr(host, '/');
  if(!path || !path[1]) ch_buf_append_str(out, version);
  ch_buf_append_str(out, route);
}

static void trim_append(ch_buf *out, const char *s, size_t n) {
  while(n && isspace((unsigned char)*s)) s++, n--;
  while(n && isspace((unsigned char)s[n - 1])) n--;
  if(n > 300) {
    ch_buf_append(out, s, 300);
    ch_buf_append_str(out, "...");
  } else {
    ch_buf_append(out, s, n);
  }
}

void ch_model_error_text(const char *body, size_t len, ch_buf *out) {
  if(!body || !len) return;
  cJSON *j = cJSON_ParseWithLength(body, len);
  const char *msg = NULL;
  if(j) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = NULL;
    if(cJSON_IsString(e)) m = e;
    else if(cJSON_IsObject(e))
      m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if(!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if(!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "detail");
    if(cJSON_IsString(m)) msg = m->valuestring;
  }
  if(msg)
    trim_append(out, msg, strlen(msg));
  else
    trim_append(out, body, len);
  cJSON_Delete(j);
}

const char *ch_model_normal_finish(const char *reason) {
  if(!reason) return "";
  if(!strcmp(reason, "end_turn") || !strcmp(reason, "stop_sequence") ||
     !strcmp(reason, "eos") || !strcmp(reason, "word") ||
     !strcmp(reason, "stop"))
    return "stop";
  if(!strcmp(reason, "max_tokens") || !strcmp(reason, "limit") ||
     !strcmp(reason, "length"))
    return "length";
  return reason;
}

bool ch_model_list_has(const char *body, size_t len, const char *model) {
  cJSON *j = cJSON_ParseWithLength(body, len);
  if(!j) return false;
  bool found = false;
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "data");
  const char *key = "id";
  if(!cJSON_IsArray(arr)) {
    arr = cJSON_GetObjectItemCaseSensitive(j, "models");
    key = "name";
  }
  const cJSON *item;
  size_t mlen = strlen(model);
  cJSON_ArrayForEach(item, arr) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, key);
    if(!cJSON_IsString(id))
      id = cJSON_GetObjectItemCaseSensitive(item, "model");
    if(!cJSON_IsString(id)) continue;
    const char *s = id->valuestring;
    /* Ollama lists "name:latest" for a model asked for as "name". */
    if(!strcmp(s, model) ||
       (!strncmp(s, model, mlen) && !strcmp(s + mlen, ":latest"))) {
      found = true;
      break;
    }
  }
  cJSON_Delete(j);
  return found;
}

/* ---- one completion ------------------------------------------------------ */

const ch_model_request *ch_model_call_request(const ch_model_call *self) {
  return &self->request;
}
const ch_model *ch_model_call_model(const ch_model_call *self) {
  return self->model;
}
void *ch_model_call_state(const ch_model_call *self) { return self->state; }
void ch_model_call_set_state(ch_model_call *self, void *state) {
  self->state = state;
}

const char *ch_model_call_text(const ch_model_call *self, size_t *len) {
  if(len) *len = self->text.len;
  return self->text.data ? self->text.data : "";
}

void ch_model_call_set_text(ch_model_call *self, const char *text, size_t len) {
  ch_buf_reset(&self->text);
  ch_buf_append(&self->text, text, len);
  self->scanned = self->text.len;
}

ch_status ch_model_call_emit(ch_model_call *self, const char *text,
                             size_t len) {
  if(self->stopped || self->ended) return CH_ERR_STATE;
  if(ch_buf_append(&self->text, text, len)) {
    ch_model_call_fail(self, CH_MODEL_TOO_LARGE,
                       "the answer passed the limit of %zu bytes",
                       self->text.max);
    return CH_ERR_TOO_LARGE;
  }
  if(!self->model->stops || !self->model->stops[0]) return CH_OK;
  /* A stop wholly inside text[0..scanned) was already found; one that
   * straddles the old end starts at most max_stop - 1 bytes before it. */
  size_t from = self->scanned > self->max_stop - 1
                    ? self->scanned - (self->max_stop - 1)
                    : 0;
  size_t at = from + ch_prompt_stop_at(self->text.data + from,
                                       self->text.len - from,
                                       (const char *const *)self->model->stops,
                                       NULL);
  self->scanned = self->text.len;
  if(at < self->text.len) {
    self->text.len = at;
    self->text.data[at] = 0;
    self->scanned = at;
    self->stopped = true;
    ch_buf_reset(&self->finish_reason);
    ch_buf_append_str(&self->finish_reason, "stop");
    return CH_ERR_STATE;
  }
  return CH_OK;
}

void ch_model_call_finish_reason(ch_model_call *self, const char *reason) {
  if(self->stopped || !reason) return;
  ch_buf_reset(&self->finish_reason);
  ch_buf_append_str(&self->finish_reason, ch_model_normal_finish(reason));
}

void ch_model_call_usage(ch_model_call *self, int64_t in, int64_t out) {
  if(in >= 0) self->tokens_in = in;
  if(out >= 0) self->tokens_out = out;
}

void ch_model_call_fail(ch_model_call *self, ch_model_error error,
                        const char *fmt, ...) {
  if(self->error) return;
  self->error = error;
  ch_buf_reset(&self->message);
  va_list ap;
  va_start(ap, fmt);
  ch_buf_vappendf(&self->message, fmt, ap);
  va_end(ap);
  ch_http_redact(&self->message, self->api_key);
}

void ch_model_call_end(ch_model_call *self) { self->ended = true; }

void ch_model_call_provenance(ch_model_call *self, double confidence,
                              const char *where) {
  self->confidence = confidence;
  ch_free(self->provenance);
  self->provenance = where ? ch_strdup(where) : NULL;
}

static void unlink_call(ch_model_call *call) {
  if(!call->linked) return;
  call->linked = false;
  if(call->prev)
    call->prev->next = call->next;
  else
    call->set->calls = call->next;
  if(call->next) call->next->prev = call->prev;
  call->prev = call->next = NULL;
}

static void call_free(ch_model_call *call) {
  unlink_call(call);
  if(call->deliver_timer)
    ch_loop_timer_stop(call->set->env.loop, call->deliver_timer);
  if(call->end_timer) ch_loop_timer_stop(call->set->env.loop, call->end_timer);
  ch_http_cancel(call->http);
  if(call->stream == CH_STREAM_SSE) ch_sse_release(&call->sse);
  if(call->stream == CH_STREAM_NDJSON) ch_ndjson_release(&call->ndjson);
  if(call->api_key) {
    memset(call->api_key, 0, strlen(call->api_key));
    ch_free(call->api_key);
  }
  ch_free(call->strings);
  ch_free(call->files);
  ch_buf_release(&call->text);
  ch_buf_release(&call->finish_reason);
  ch_buf_release(&call->message);
  ch_free(call->provenance);
  ch_free(call);
}

/* Calls the callback with the call's result, then frees the call. */
static void deliver(ch_model_call *call) {
  call->delivered = true;
  if(call->deliver_timer) {
    ch_loop_timer_stop(call->set->env.loop, call->deliver_timer);
    call->deliver_timer = 0;
  }
  if(call->end_timer) {
    ch_loop_timer_stop(call->set->env.loop, call->end_timer);
    call->end_timer = 0;
  }
  if(!call->error && call->model->provider->finish)
    call->model->provider->finish(call);
  ch_model_result r;
  memset(&r, 0, sizeof(r));
  r.error = call->error;
  r.deadline = call->deadline;
  r.http_status = call->http_status;
  ch_http_redact(&call->message, call->api_key);
  r.message = call->error && call->message.data ? call->message.data : "";
  r.text = !call->error && call->text.data ? call->text.data : "";
  r.len = call->error ? 0 : call->text.len;
  r.finish_reason = call->finish_reason.data ? call->finish_reason.data : "";
  r.tokens_in = call->tokens_in;
  r.tokens_out = call->tokens_out;
  r.first_byte_ms = call->first_byte_ms;
  r.total_ms = (double)(ch_now_ns() - call->start_ns) / 1e6;
  r.attempts = call->attempts;
  r.model = call->model->config.name;
  r.provider = call->model->provider->name;
  r.confidence = call->confidence;
  r.provenance = call->provenance ? call->provenance : "";
  ch_model_cb cb = call->cb;
  void *userdata = call->userdata;
  call->http = NULL; /* ended by now; ch_http frees itself */
  unlink_call(call);
  cb(userdata, &r);
  call_free(call);
}

static void on_deliver_timer(ch_loop *loop, void *userdata) {
  ch_model_call *call = userdata;
  call->deliver_timer = 0;
  deliver(call);
}

void ch_model_call_done(ch_model_call *self) {
  if(self->delivered || self->deliver_timer) return;
  /* Never call back from inside ch_models_complete: defer to the loop. */
  self->deliver_timer =
      ch_loop_timer_start(self->set->env.loop, 0, on_deliver_timer, self);
}

void ch_model_call_cancel(ch_model_call *call) {
  if(!call || call->delivered) return;
  if(call->model->provider->cancel && !call->http)
    call->model->provider->cancel(call);
  call_free(call);
}

static int on_sse_event(void *userdata, const char *event, const char *data,
                        size_t len) {
  ch_model_call *call = userdata;
  if(!call->model->provider->parse_event) return 0;
  return call->model->provider->parse_event(call, event, data, len) ? 1 : 0;
}

static int on_ndjson_line(void *userdata, const char *line, size_t len) {
  ch_model_call *call = userdata;
  if(!call->model->provider->parse_event) return 0;
  return call->model->provider->parse_event(call, "", line, len) ? 1 : 0;
}

static void on_end_grace(ch_loop *loop, void *userdata) {
  ch_model_call *call = userdata;
  call->end_timer = 0;
  call->attempts = ch_http_attempts(call->http);
  call->http_status = ch_http_status(call->http);
  ch_http_cancel(call->http); /* on a timer: not inside curl's callbacks */
  call->http = NULL;
  deliver(call);
}

static ch_status on_http_data(void *userdata, const char *data, size_t len) {
  ch_model_call *call = userdata;
  ch_status st = CH_OK;
  if(call->ended) return CH_OK; /* what follows the end marker is ignored */
  if(call->first_byte_ms < 0)
    call->first_byte_ms = (double)(ch_now_ns() - call->start_ns) / 1e6;
  if(call->stream == CH_STREAM_SSE)
    st = ch_sse_feed(&call->sse, data, len);
  else if(call->stream == CH_STREAM_NDJSON)
    st = ch_ndjson_feed(&call->ndjson, data, len);
  if(st == CH_ERR_TOO_LARGE && !call->error)
    ch_model_call_fail(call, CH_MODEL_TOO_LARGE,
                       "a stream event passed the limit of %zu bytes",
                       call->model->config.max_response_bytes);
  if(call->error == CH_MODEL_TOO_LARGE) return CH_ERR_TOO_LARGE;
  if(st && !call->error && !call->stopped && !call->ended)
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "a stream event could not be read");
  if(st) return st;
  /* Once a stop string was seen the rest is not needed: aborting saves the
   * server the work. */
  if(call->stopped || call->error) return CH_ERR_CANCELLED;
  /* After the end marker the response itself ends a moment later; letting
   * it end keeps the connection for the next request. A server that holds
   * the response open anyway gets a short grace. */
  if(call->ended && !call->end_timer)
    call->end_timer = ch_loop_timer_start(call->set->env.loop, END_GRACE_MS,
                                          on_end_grace, call);
  return CH_OK;
}

ch_model_error ch_model_classify(const ch_http_response *r,
                                 const char *endpoint,
                                 ch_model_deadline *deadline, ch_buf *message) {
  *deadline = CH_DEADLINE_NONE;
  switch(r->error) {
  case CH_HTTP_OK:
  case CH_HTTP_ABORTED:
    return CH_MODEL_OK;
  case CH_HTTP_TIMEOUT:
    *deadline = r->deadline == CH_HTTP_DEADLINE_CONNECT ? CH_DEADLINE_CONNECT
                : r->deadline == CH_HTTP_DEADLINE_FIRST_BYTE
                    ? CH_DEADLINE_FIRST_BYTE
                    : CH_DEADLINE_TOTAL;
    ch_buf_append_str(message, r->message);
    return CH_MODEL_TIMEOUT;
  case CH_HTTP_REFUSED:
    ch_buf_appendf(message, "%s (%s)", r->message, endpoint ? endpoint : "");
    return CH_MODEL_REFUSED;
  case CH_HTTP_STATUS: {
    ch_buf text;
    ch_buf_init(&text, 1024);
    ch_model_error_text(r->error_body, r->error_body_len, &text);
    ch_buf_appendf(message, "HTTP %ld%s%s", r->status, text.len ? ": " : "",
                   text.data ? text.data : "");
    ch_buf_release(&text);
    return CH_MODEL_HTTP;
  }
  case CH_HTTP_TOO_LARGE:
    ch_buf_append_str(message, r->message);
    return CH_MODEL_TOO_LARGE;
  case CH_HTTP_TLS:
    ch_buf_append_str(message, r->message);
    return CH_MODEL_NETWORK;
  case CH_HTTP_NETWORK:
    /* Bytes of a 2xx body came, then the connection broke: the answer is
     * incomplete, which is the server's answer being bad, not the network
     * being down. */
    if(r->bytes) {
      ch_buf_appendf(message, "the stream was cut after %zu bytes: %s",
                     r->bytes, r->message);
      return CH_MODEL_BAD_RESPONSE;
    }
    ch_buf_append_str(message, r->message);
    return CH_MODEL_NETWORK;
  }
  return CH_MODEL_NETWORK;
}

static void on_http_done(void *userdata, const ch_http_response *r) {
  ch_model_call *call = userdata;
  call->http = NULL;
  call->http_status = r->status;
  if(r->first_byte_ms >= 0) call->first_byte_ms = r->first_byte_ms;
  call->attempts = r->attempts;
  /* An answer already complete stands whatever broke afterwards. */
  bool complete = (call->ended || call->stopped) && !call->error;
  switch(complete ? CH_HTTP_ABORTED : r->error) {
  case CH_HTTP_OK:
  case CH_HTTP_ABORTED:
    if(r->error == CH_HTTP_OK && !complete) {
      ch_status st = CH_OK;
      if(call->stream == CH_STREAM_SSE) st = ch_sse_finish(&call->sse);
      if(call->stream == CH_STREAM_NDJSON) st = ch_ndjson_finish(&call->ndjson);
      if(call->stream == CH_STREAM_NONE && call->model->provider->parse_body)
        st = call->model->provider->parse_body(call, r->body, r->body_len);
      if(st && !call->error && !call->stopped && !call->ended)
        ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                           "the response could not be read");
    }
    if(!call->error && !call->stopped && !call->ended)
      ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                         "the stream ended before the model finished (%zu "
                         "bytes received)", r->bytes);
    break;
  default: {
    ch_buf msg;
    ch_buf_init(&msg, 4096);
    ch_model_error e = ch_model_classify(r, call->model->config.endpoint,
                                         &call->deadline, &msg);
    ch_model_call_fail(call, e, "%s", msg.data ? msg.data : "");
    ch_buf_release(&msg);
    break;
  }
  }
  deliver(call);
}

/* Copies the request's strings into one allocation owned by the call. */
static void copy_request(ch_model_call *call, const ch_model_request *req) {
  size_t total = req->prefix_len + req->suffix_len + 5;
  const char *strs[3] = {req->path, req->language, req->repo};
  for(int i = 0; i < 3; i++) total += strs[i] ? strlen(strs[i]) : 0;
  for(size_t i = 0; i < req->nfiles; i++)
    total += req->files[i].len + 2 +
             (req->files[i].path ? strlen(req->files[i].path) : 0);
  char *p = call->strings = ch_malloc(total);
  call->request = *req;
#define COPY(src, n, dst)                                                      \
  do {                                                                         \
    if(n) memcpy(p, src, n);                                                   \
    p[n] = 0;                                                                  \
    dst = p;                                                                   \
    p += (n) + 1;                                                              \
  } while(0)
  COPY(req->prefix, req->prefix ? req->prefix_len : 0, call->request.prefix);
  if(!req->prefix) call->request.prefix_len = 0;
  if(req->suffix)
    COPY(req->suffix, req->suffix_len, call->request.suffix);
  else
    call->request.suffix = NULL, call->request.suffix_len = 0, *p++ = 0;
  const char **dsts[3] = {&call->request.path, &call->request.language,
                          &call->request.repo};
  for(int i = 0; i < 3; i++) {
    if(strs[i]) {
      size_t n = strlen(strs[i]);
      COPY(strs[i], n, *dsts[i]);
    } else {
      *dsts[i] = NULL;
    }
  }
  call->files = req->nfiles ? ch_calloc(req->nfiles, sizeof(*call->files))
                            : NULL;
  for(size_t i = 0; i < req->nfiles; i++) {
    const char *path = req->files[i].path ? req->files[i].path : "";
    size_t n = strlen(path);
    COPY(path, n, call->files[i].path);
    COPY(req->files[i].text, req->files[i].len, call->files[i].text);
    call->files[i].len = req->files[i].len;
  }
#undef COPY
  call->request.files = call->files;
}

/* A call of model with the request copied, not yet linked into the set. */
static ch_model_call *call_new(ch_models *set, ch_model *model,
                               const ch_model_request *request, ch_model_cb cb,
                               void *userdata) {
  ch_model_call *call = ch_calloc(1, sizeof(*call));
  call->set = set;
  call->model = model;
  call->cb = cb;
  call->userdata = userdata;
  call->start_ns = ch_now_ns();
  call->tokens_in = call->tokens_out = -1;
  call->first_byte_ms = -1;
  call->confidence = -1;
  ch_buf_init(&call->text, model->config.max_response_bytes);
  ch_buf_init(&call->finish_reason, 64);
  ch_buf_init(&call->message, 4096);
  call->max_stop = 1;
  for(size_t i = 0; model->stops && model->stops[i]; i++)
    call->max_stop = CH_MAX(call->max_stop, strlen(model->stops[i]));
  copy_request(call, request);
  return call;
}

/* Sets up the reader of the response's framing. */
static void call_stream(ch_model_call *call, ch_provider_stream kind) {
  size_t max = call->model->config.max_response_bytes;
  call->stream = kind;
  if(kind == CH_STREAM_SSE)
    ch_sse_init(&call->sse, max, on_sse_event, call);
  else if(kind == CH_STREAM_NDJSON)
    ch_ndjson_init(&call->ndjson, max, on_ndjson_line, call);
}

/* The buffers of a provider's request; body_max bounds the body. */
static void http_init(ch_provider_http *h, size_t body_max) {
  memset(h, 0, sizeof(*h));
  ch_buf_init(&h->path, 4096);
  ch_buf_init(&h->body, body_max);
  ch_buf_init(&h->headers, 64 * 1024);
}

static void http_release(ch_provider_http *h) {
  ch_buf_release(&h->path);
  ch_buf_release(&h->body);
  ch_buf_release(&h->headers);
}

static const char *lookup_env(const ch_models_env *env, const char *name) {
  if(env->getenv) return env->getenv(name, env->getenv_userdata);
  return getenv(name);
}

ch_status ch_models_complete(ch_models *self, ch_model *model,
                             const ch_model_request *request, ch_model_cb cb,
                             void *userdata, ch_model_call **out) {
  if(!self || !model || !request || !cb) return CH_ERR_INVALID;
  if(request->prefix_len && !request->prefix) return CH_ERR_INVALID;
  if(request->suffix_len && !request->suffix) return CH_ERR_INVALID;
  if(request->nfiles && !request->files) return CH_ERR_INVALID;
  ch_model_call *call = call_new(self, model, request, cb, userdata);
  call->next = self->calls;
  if(call->next) call->next->prev = call;
  self->calls = call;
  call->linked = true;
  if(out) *out = call;

  const ch_provider *p = model->provider;
  if(p->start) {
    ch_status st = p->start(call);
    if(st) {
      unlink_call(call);
      call_free(call);
      if(out) *out = NULL;
      return st;
    }
    return CH_OK;
  }

  const ch_model_config *c = &model->config;
  if(c->api_key_env) {
    const char *key = lookup_env(&self->env, c->api_key_env);
    if(!key || !key[0]) {
      ch_model_call_fail(call, CH_MODEL_CONFIG,
                         "the environment variable %s is not set (the API key "
                         "of model '%s')", c->api_key_env, c->name);
      ch_model_call_done(call);
      return CH_OK;
    }
    call->api_key = ch_strdup(key);
  }
  /* JSON escaping makes a byte at most six ("\u001f"). */
  size_t input = request->prefix_len + request->suffix_len;
  for(size_t i = 0; i < request->nfiles; i++)
    input += request->files[i].len + 256;
  ch_provider_http h;
  http_init(&h, input * 6 + 1024 * 1024);
  ch_buf err;
  ch_buf_init(&err, 4096);
  ch_status st = p->build ? p->build(model, &call->request, call->api_key, &h,
                                     &err)
                          : CH_ERR_STATE;
  if(st) {
    ch_model_call_fail(call, CH_MODEL_CONFIG, "cannot build the request: %s",
                       err.data ? err.data : ch_strerror(st));
    ch_model_call_done(call);
  } else {
    call_stream(call, h.stream);
    char *url = ch_strdupf("%s%s", c->endpoint, h.path.data ? h.path.data : "");
    ch_http_request hr = {
        .method = h.method ? h.method : "POST",
        .url = url,
        .headers = h.headers.data,
        .body = h.body.data,
        .body_len = h.body.len,
        .connect_ms = c->connect_ms,
        .first_byte_ms = c->first_byte_ms,
        .total_ms = c->total_ms,
        .max_response_bytes = c->max_response_bytes,
        .secret = call->api_key,
    };
    ch_status hst = CH_OK;
    call->http = ch_http_start(self->env.loop, &hr, on_http_data, on_http_done,
                               call, &hst);
    ch_free(url);
    if(!call->http) {
      ch_model_call_fail(call, CH_MODEL_CONFIG, "cannot start the request: %s",
                         ch_strerror(hst));
      ch_model_call_done(call);
    }
  }
  http_release(&h);
  ch_buf_release(&err);
  return CH_OK;
}

ch_status ch_models_replay(ch_models *self, ch_model *model,
                           const ch_model_request *request, const char *body,
                           size_t len, size_t chunk, ch_model_cb cb,
                           void *userdata) {
  if(!self || !model || !request || !cb || (len && !body))
    return CH_ERR_INVALID;
  const ch_provider *p = model->provider;
  if(!p->build) return CH_ERR_STATE;
  /* The stream kind comes from the request the provider would build. */
  ch_provider_http h;
  http_init(&h, (size_t)64 << 20);
  ch_buf err;
  ch_buf_init(&err, 1024);
  ch_status st = p->build(model, request, NULL, &h, &err);
  ch_provider_stream kind = h.stream;
  http_release(&h);
  ch_buf_release(&err);
  if(st) return st;

  ch_model_call *call = call_new(self, model, request, cb, userdata);
  call_stream(call, kind);
  /* A replayed answer is all there from the start. */
  call->first_byte_ms = 0;
  call->attempts = 1;
  ch_http_response r;
  memset(&r, 0, sizeof(r));
  r.status = 200;
  r.message = r.error_body = r.body = "";
  r.attempts = 1;
  if(!chunk) chunk = len ? len : 1;
  for(size_t at = 0; at < len; at += chunk) {
    size_t n = CH_MIN(chunk, len - at);
    r.bytes += n;
    if(on_http_data(call, body + at, n)) {
      r.error = call->error == CH_MODEL_TOO_LARGE ? CH_HTTP_TOO_LARGE
                                                  : CH_HTTP_ABORTED;
      break;
    }
  }
  if(kind == CH_STREAM_NONE) {
    r.body = body;
    r.body_len = len;
  }
  on_http_done(call, &r);
  return CH_OK;
}

ch_status ch_models_build(ch_model *model, const ch_model_request *request,
                          const char *api_key, ch_provider_http *out,
                          ch_buf *error) {
  if(!model || !request || !out) return CH_ERR_INVALID;
  if(!model->provider->build) return CH_ERR_STATE;
  return model->provider->build(model, request, api_key, out, error);
}

/* ---- health checks ------------------------------------------------------- */

struct health_check {
  ch_models *set;
  ch_model *model;
  ch_model_health_cb cb;
  void *userdata;
  ch_http *http;
  uint64_t timer;
  char *api_key;
  health_check *prev, *next;
  bool linked; /* in set->checks */
  ch_buf message;
  ch_model_health result;
};

static void check_unlink(health_check *check) {
  if(!check->linked) return;
  check->linked = false;
  if(check->prev)
    check->prev->next = check->next;
  else
    check->set->checks = check->next;
  if(check->next) check->next->prev = check->prev;
}

static void check_free(health_check *check) {
  check_unlink(check);
  if(check->timer) ch_loop_timer_stop(check->set->env.loop, check->timer);
  ch_http_cancel(check->http);
  ch_free(check->api_key);
  ch_buf_release(&check->message);
  ch_free(check);
}

static void check_deliver(health_check *check) {
  check->result.message = check->message.data ? check->message.data : "";
  if(check->timer) ch_loop_timer_stop(check->set->env.loop, check->timer);
  check->timer = 0;
  check->http = NULL;
  /* Unlinked first: the callback may free the whole set. */
  check_unlink(check);
  check->cb(check->userdata, check->model, &check->result);
  check_free(check);
}

static void on_check_timer(ch_loop *loop, void *userdata) {
  health_check *check = userdata;
  check->timer = 0;
  check_deliver(check);
}

static void msgf(health_check *check, const char *fmt, ...) CH_PRINTF(2, 3);
static void msgf(health_check *check, const char *fmt, ...) {
  ch_buf_reset(&check->message);
  va_list ap;
  va_start(ap, fmt);
  ch_buf_vappendf(&check->message, fmt, ap);
  va_end(ap);
}

static void on_check_done(void *userdata, const ch_http_response *r) {
  health_check *check = userdata;
  check->http = NULL;
  const ch_model_config *c = &check->model->config;
  ch_model_health *h = &check->result;
  h->http_status = r->status;
  h->latency_ms = r->total_ms;
  h->state = CH_HEALTH_FAILED;
  switch(r->error) {
  case CH_HTTP_OK:
  case CH_HTTP_ABORTED:
    h->state = CH_HEALTH_OK;
    msgf(check, "ok (%.0f ms)", r->total_ms);
    if(check->model->provider->health_parse) {
      ch_buf m;
      ch_buf_init(&m, 1024);
      ch_status st = check->model->provider->health_parse(
          check->model, r->body, r->body_len, &m);
      if(st == CH_ERR_NOT_FOUND) {
        h->state = CH_HEALTH_UNKNOWN_MODEL;
        msgf(check, "unknown model: %s", m.data ? m.data : "not served");
      } else if(st) {
        h->error = CH_MODEL_BAD_RESPONSE;
        msgf(check, "bad response: %s", m.data ? m.data : "unreadable");
      }
      ch_buf_release(&m);
    }
    break;
  case CH_HTTP_TIMEOUT:
    h->error = CH_MODEL_TIMEOUT;
    msgf(check, "timeout: %s", r->message);
    break;
  case CH_HTTP_REFUSED:
    h->error = CH_MODEL_REFUSED;
    msgf(check, "connection refused (%s)", c->endpoint);
    break;
  case CH_HTTP_STATUS: {
    h->error = CH_MODEL_HTTP;
    ch_buf m;
    ch_buf_init(&m, 1024);
    ch_model_error_text(r->error_body, r->error_body_len, &m);
    ch_http_redact(&m, check->api_key);
    if(r->status == 401 || r->status == 403) {
      if(c->api_key_env)
        msgf(check, "HTTP %ld: the API key is missing or wrong (check %s)%s%s",
             r->status, c->api_key_env, m.len ? ": " : "",
             m.data ? m.data : "");
      else
        msgf(check, "HTTP %ld: the server wants an API key (set apiKeyEnv "
                    "in the config)%s%s", r->status, m.len ? ": " : "",
             m.data ? m.data : "");
    } else if(r->status == 503 && !strcmp(check->model->provider->name,
                                         "llamacpp")) {
      h->state = CH_HEALTH_LOADING;
      msgf(check, "the server is still loading the model (HTTP 503)");
    } else if(r->status == 404 && c->model) {
      msgf(check, "HTTP 404: %s (wrong endpoint or unknown model '%s')",
           m.data ? m.data : "not found", c->model);
    } else {
      msgf(check, "HTTP %ld%s%s", r->status, m.len ? ": " : "",
           m.data ? m.data : "");
    }
    ch_buf_release(&m);
    break;
  }
  case CH_HTTP_TLS:
    h->error = CH_MODEL_NETWORK;
    msgf(check, "%s", r->message);
    break;
  case CH_HTTP_TOO_LARGE:
    h->error = CH_MODEL_TOO_LARGE;
    msgf(check, "%s", r->message);
    break;
  case CH_HTTP_NETWORK:
    h->error = CH_MODEL_NETWORK;
    msgf(check, "%s", r->message);
    break;
  }
  ch_http_redact(&check->message, check->api_key);
  check_deliver(check);
}

ch_status ch_models_check(ch_models *self, ch_model *model,
                          uint32_t timeout_ms, ch_model_health_cb cb,
                          void *userdata) {
  if(!self || !model || !cb) return CH_ERR_INVALID;
  health_check *check = ch_calloc(1, sizeof(*check));
  check->set = self;
  check->model = model;
  check->cb = cb;
  check->userdata = userdata;
  ch_buf_init(&check->message, 4096);
  check->next = self->checks;
  if(check->next) check->next->prev = check;
  self->checks = check;
  check->linked = true;

  const ch_model_config *c = &model->config;
  const ch_provider *p = model->provider;
  if(!p->health_build || !c->endpoint) {
    check->result.state = CH_HEALTH_OK;
    msgf(check, "ok (runs in-process)");
    check->timer = ch_loop_timer_start(self->env.loop, 0, on_check_timer,
                                       check);
    return CH_OK;
  }
  if(c->api_key_env) {
    const char *key = lookup_env(&self->env, c->api_key_env);
    if(!key || !key[0]) {
      check->result.state = CH_HEALTH_FAILED;
      check->result.error = CH_MODEL_CONFIG;
      msgf(check, "the environment variable %s is not set (it should hold "
                  "the API key)", c->api_key_env);
      check->timer = ch_loop_timer_start(self->env.loop, 0, on_check_timer,
                                         check);
      return CH_OK;
    }
    check->api_key = ch_strdup(key);
  }
  ch_provider_http h;
  http_init(&h, 64 * 1024);
  ch_status st = p->health_build(model, check->api_key, &h);
  char *url = ch_strdupf("%s%s", c->endpoint, h.path.data ? h.path.data : "");
  ch_http_request hr = {
      .method = h.method ? h.method : "GET",
      .url = url,
      .headers = h.headers.data,
      .body = h.body.len ? h.body.data : NULL,
      .body_len = h.body.len,
      .connect_ms = CH_MIN(timeout_ms, c->connect_ms),
      .first_byte_ms = timeout_ms,
      .total_ms = timeout_ms,
      .max_response_bytes = 8 * 1024 * 1024,
      .max_attempts = 1,
      .secret = check->api_key,
  };
  ch_status hst = CH_OK;
  if(!st)
    check->http = ch_http_start(self->env.loop, &hr, NULL, on_check_done,
                                check, &hst);
  ch_free(url);
  http_release(&h);
  if(!check->http) {
    check->result.state = CH_HEALTH_FAILED;
    check->result.error = CH_MODEL_CONFIG;
    msgf(check, "cannot build the health request");
    check->timer = ch_loop_timer_start(self->env.loop, 0, on_check_timer,
                                       check);
  }
  return CH_OK;
}

/* ---- what a model is sent ------------------------------------------------ */

#define PREPARE_DEFAULT_BUDGET 2048

/* The part of abs below root ("src/a.c"), or abs itself. */
static const char *below_root(const char *abs, const char *root) {
  size_t n = root ? strlen(root) : 0;
  if(n && strncmp(abs, root, n) == 0 && abs[n] == '/') return abs + n + 1;
  return abs;
}

ch_status ch_model_prepare(const ch_model *model,
                           const ch_model_prepare_input *in,
                           ch_model_request *request, ch_model_prepared *held,
                           ch_buf *error) {
  memset(held, 0, sizeof(*held));
  memset(request, 0, sizeof(*request));
  if(!in->text || in->cursor > in->len) {
    ch_buf_append_str(error, "cursor past the end of the document");
    return CH_ERR_INVALID;
  }
  request->path = in->path;
  request->language = in->lang ? in->lang->name : NULL;
  request->cursor = in->cursor;
  /* Nothing leaves the process: the model reads the document itself. */
  if(!model->provider->build) {
    request->prefix = in->text;
    request->prefix_len = in->cursor;
    request->suffix = in->text + in->cursor;
    request->suffix_len = in->len - in->cursor;
    return CH_OK;
  }
  if(!in->snapshot || !in->engine) {
    ch_buf_append_str(error, "no index to build the context from");
    return CH_ERR_INVALID;
  }
  ch_context_request creq = {
      .path = in->path,
      .lang = in->lang,
      .text = in->text,
      .len = in->len,
      .cursor = in->cursor,
      .budget = in->budget ? in->budget : PREPARE_DEFAULT_BUDGET,
      .docs = in->docs,
      .ndocs = in->ndocs,
      .edits = in->edits,
      .nedits = in->nedits,
  };
  ch_context_options opt = {
      .prefix_ratio = in->prefix_ratio,
      .remote = model->config.remote,
      .guard = in->guard,
  };
  held->context = ch_calloc(1, sizeof(*held->context));
  ch_status st = ch_context_build(in->engine, in->snapshot, &creq, &opt,
                                  held->context);
  if(st) {
    ch_buf_appendf(error, "context: %s", ch_strerror(st));
    return st;
  }
  const ch_context *ctx = held->context;
  if(ctx->document_denied) {
    ch_buf_appendf(error, "the guard keeps %s from every model (deny globs)",
                   in->path);
    return CH_ERR_STATE;
  }
  uint32_t id;
  const char *root = NULL;
  if(ch_snapshot_lookup(in->snapshot, in->path, &id))
    root = ch_snapshot_root(in->snapshot, id);
  /* Models see paths inside the repository, not where it lives. */
  request->path = below_root(in->path, root);
  if(ctx->redactions.total)
    ch_log_info("guard: redacted %zu secret(s) in the context for model "
                "'%s'", ctx->redactions.total, model->config.name);

  /* Windows become prefix and suffix; the rest becomes files, the snippets
   * of one file (consecutive: the context is ordered by path) merged. */
  ch_buf texts;
  ch_buf_init(&texts, SIZE_MAX);
  size_t *starts = ch_malloc((ctx->count + 1) * sizeof(size_t));
  held->files = ch_calloc(ctx->count + 1, sizeof(ch_prompt_file));
  for(size_t i = 0; i < ctx->count; i++) {
    const ch_snippet *sn = &ctx->snippets[i];
    if(sn->kind == CH_SNIPPET_PREFIX) {
      request->prefix = sn->text;
      request->prefix_len = sn->len;
      continue;
    }
    if(sn->kind == CH_SNIPPET_SUFFIX) {
      request->suffix = sn->text;
      request->suffix_len = sn->len;
      continue;
    }
    const char *rel = below_root(sn->path, root);
    ch_prompt_file *last =
        held->nfiles ? &held->files[held->nfiles - 1] : NULL;
    if(!last || strcmp(last->path, rel) != 0) {
      last = &held->files[held->nfiles];
      last->path = rel;
      starts[held->nfiles++] = texts.len;
    } else {
      ch_buf_append_str(&texts, "\n");
    }
    ch_buf_append(&texts, sn->text, sn->len);
  }
  starts[held->nfiles] = texts.len;
  held->texts = ch_buf_detach(&texts, NULL);
  if(!held->texts) held->texts = ch_strdup("");
  for(size_t i = 0; i < held->nfiles; i++) {
    held->files[i].text = held->texts + starts[i];
    held->files[i].len = starts[i + 1] - starts[i];
  }
  ch_free(starts);
  if(!request->prefix) request->prefix = "";
  request->files = held->files;
  request->nfiles = held->nfiles;
  return CH_OK;
}

void ch_model_prepared_release(ch_model_prepared *self) {
  if(self->context) {
    ch_context_release(self->context);
    ch_free(self->context);
  }
  ch_free(self->files);
  ch_free(self->texts);
  memset(self, 0, sizeof(*self));
}
