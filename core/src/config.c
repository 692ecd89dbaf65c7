/* config.c: JSON settings with precise complaints. */
#include "chorus/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chorus/models.h"

#define CONFIG_MAX_BYTES (16u << 20)

void ch_config_init(ch_config *self) {
  self->log_level = CH_LOG_INFO;
  self->has_log_level = false;
  self->ignore = NULL;
  self->max_file_bytes = 0;
  self->models = NULL;
  self->nmodels = 0;
  self->has_models = false;
  ch_guard_options_owned_init(&self->guard);
  self->context_budget = 0;
  self->context_prefix_ratio = 0;
}

static void free_list(char **list) {
  for(size_t i = 0; list && list[i]; i++) ch_free(list[i]);
  ch_free(list);
}

void ch_config_release(ch_config *self) {
  free_list(self->ignore);
  ch_model_configs_free(self->models, self->nmodels);
  ch_guard_options_owned_release(&self->guard);
  ch_config_init(self);
}

/* A JSON array of strings as a new NULL-terminated list, or NULL. */
static char **string_list(const cJSON *item) {
  if(!cJSON_IsArray(item)) return NULL;
  size_t n = (size_t)cJSON_GetArraySize(item), i = 0;
  char **list = ch_calloc(n + 1, sizeof(char *));
  const cJSON *e;
  cJSON_ArrayForEach(e, item) {
    if(!cJSON_IsString(e)) {
      free_list(list);
      return NULL;
    }
    list[i++] = ch_strdup(e->valuestring);
  }
  return list;
}

static void problem(ch_buf *problems, const char *origin, const char *field,
                    const char *what) {
  if(!problems) return;
  ch_buf_appendf(problems, "%s: %s: %s\n", origin, field, what);
}

/* "context": {"budget": tokens, "prefixRatio": 0..1}. */
static ch_status apply_context(ch_config *self, const cJSON *obj,
                               const char *origin, ch_buf *problems) {
  if(!cJSON_IsObject(obj)) {
    problem(problems, origin, "context", "expected an object");
    return CH_ERR_INVALID;
  }
  ch_status result = CH_OK;
  const cJSON *item;
  cJSON_ArrayForEach(item, obj) {
    const char *key = item->string ? item->string : "";
    char field[64];
    snprintf(field, sizeof(field), "context.%.40s", key);
    if(strcmp(key, "budget") == 0) {
      if(!cJSON_IsNumber(item) || item->valuedouble < 64 ||
         item->valuedouble > 1e6 ||
         item->valuedouble != (double)(uint32_t)item->valuedouble) {
        problem(problems, origin, field,
                "expected a whole number of tokens from 64 to 1000000");
        result = CH_ERR_INVALID;
        continue;
      }
      self->context_budget = (uint32_t)item->valuedouble;
    } else if(strcmp(key, "prefixRatio") == 0) {
      if(!cJSON_IsNumber(item) || !(item->valuedouble > 0) ||
         !(item->valuedouble < 1)) {
        problem(problems, origin, field,
                "expected a number between 0 and 1 (exclusive)");
        result = CH_ERR_INVALID;
        continue;
      }
      self->context_prefix_ratio = item->valuedouble;
    } else {
      problem(problems, origin, field, "unknown field (ignored)");
      result = CH_ERR_INVALID;
    }
  }
  return result;
}

ch_status ch_config_apply_json(ch_config *self, const cJSON *obj,
                               const char *origin, ch_buf *problems) {
  if(!cJSON_IsObject(obj)) {
    problem(problems, origin, "(top level)", "expected a JSON object");
    return CH_ERR_INVALID;
  }
  ch_status result = CH_OK;
  const cJSON *item;
  cJSON_ArrayForEach(item, obj) {
    const char *key = item->string ? item->string : "";
    if(strcmp(key, "logLevel") == 0) {
      ch_log_level level;
      if(!cJSON_IsString(item) ||
         ch_log_level_parse(item->valuestring, &level)) {
        problem(problems, origin, key,
                "expected one of error, warn, info, debug, trace");
        result = CH_ERR_INVALID;
        continue;
      }
      self->log_level = level;
      self->has_log_level = true;
    } else if(strcmp(key, "ignore") == 0) {
      char **list = string_list(item);
      if(!list) {
        problem(problems, origin, key, "expected an array of strings");
        result = CH_ERR_INVALID;
        continue;
      }
      free_list(self->ignore);
      self->ignore = list;
    } else if(strcmp(key, "maxFileBytes") == 0) {
      if(!cJSON_IsNumber(item) || item->valuedouble < 1 ||
         item->valuedouble > 1e12 ||
         item->valuedouble != (double)(uint64_t)item->valuedouble) {
        problem(problems, origin, key, "expected a positive whole number");
        result = CH_ERR_INVALID;
        continue;
      }
      self->max_file_bytes = (uint64_t)item->valuedouble;
    } else if(strcmp(key, "models") == 0) {
      /* Valid entries load even when others are reported. */
      ch_model_config *models = NULL;
      size_t n = 0;
      if(ch_model_config_parse(item, origin, &models, &n, problems))
        result = CH_ERR_INVALID;
      if(!cJSON_IsArray(item)) continue;
      ch_model_configs_free(self->models, self->nmodels);
      self->models = models;
      self->nmodels = n;
      self->has_models = true;
    } else if(strcmp(key, "guard") == 0) {
      if(ch_guard_options_from_json(&self->guard, item, origin, problems))
        result = CH_ERR_INVALID;
    } else if(strcmp(key, "context") == 0) {
      if(apply_context(self, item, origin, problems)) result = CH_ERR_INVALID;
    } else {
      problem(problems, origin, key, "unknown field (ignored)");
      result = CH_ERR_INVALID;
    }
  }
  return result;
}

/* 1-based line of byte offset `at` in text. */
static size_t line_of(const char *text, size_t at) {
  size_t line = 1;
  for(size_t i = 0; i < at; i++)
    if(text[i] == '\n') line++;
  return line;
}

ch_status ch_config_load_file(ch_config *self, const char *path,
                              ch_buf *problems) {
  FILE *f = fopen(path, "rb");
  if(!f) {
    if(errno == ENOENT) return CH_ERR_NOT_FOUND;
    problem(problems, path, "(file)", strerror(errno));
    return CH_ERR_IO;
  }
  ch_buf text;
  ch_buf_init(&text, CONFIG_MAX_BYTES);
  ch_status result = CH_OK;
  char chunk[8192];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    if(ch_buf_append(&text, chunk, n)) {
      problem(problems, path, "(file)", "larger than 16 MiB");
      result = CH_ERR_TOO_LARGE;
      goto cleanup;
    }
  }
  if(ferror(f)) {
    problem(problems, path, "(file)", "read error");
    result = CH_ERR_IO;
    goto cleanup;
  }
  const char *end = NULL;
  cJSON *json = cJSON_ParseWithLengthOpts(text.data ? text.data : "",
                                          text.len, &end, false);
  if(json && end) { /* only white space may follow the value */
    for(const char *p = end; p < text.data + text.len; p++) {
      if(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') continue;
      cJSON_Delete(json);
      json = NULL;
      end = p;
      break;
    }
  }
  if(!json) {
    char what[64];
    size_t at = end && text.data ? (size_t)(end - text.data) : 0;
    snprintf(what, sizeof(what), "invalid JSON near line %zu",
             line_of(text.data ? text.data : "", CH_MIN(at, text.len)));
    problem(problems, path, "(file)", what);
    result = CH_ERR_PARSE;
    goto cleanup;
  }
  result = ch_config_apply_json(self, json, path, problems);
  cJSON_Delete(json);
cleanup:
  fclose(f);
  ch_buf_release(&text);
  return result;
}

char *ch_config_default_path(void) {
  const char *explicit_path = getenv("CHORUS_CONFIG");
  if(explicit_path && *explicit_path) return ch_strdup(explicit_path);
  const char *xdg = getenv("XDG_CONFIG_HOME");
  if(xdg && *xdg == '/') return ch_strdupf("%s/chorus/config.json", xdg);
  const char *home = getenv("HOME");
  if(home && *home) return ch_strdupf("%s/.config/chorus/config.json", home);
  return NULL;
}
