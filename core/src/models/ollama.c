/* ollama.c: POST /api/generate (with `suffix`, or `raw` with the FIM
 * template rendered), or /api/chat; newline-delimited JSON that may carry
 * an error mid-stream with HTTP 200. */
#include <string.h>

#include "chorus/models.h"

static ch_status check(const ch_model_config *config, ch_buf *problem) {
  if(config->model) return CH_OK;
  ch_buf_append_str(problem, "model: required by the ollama provider");
  return CH_ERR_INVALID;
}

static bool uses_template(const ch_model_config *c) {
  return c->fim_template || (c->fim && strcmp(c->fim, "none") != 0);
}

static void add_options(cJSON *o, const ch_model *model,
                        const ch_model_request *req) {
  cJSON *opt = cJSON_AddObjectToObject(o, "options");
  cJSON_AddNumberToObject(opt, "num_predict", ch_model_max_tokens(model, req));
  cJSON_AddNumberToObject(opt, "temperature",
                          ch_model_config_of(model)->temperature);
  ch_model_json_add_stops(opt, "stop", ch_model_stops(model), 0);
}

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  out->method = "POST";
  out->stream = CH_STREAM_NDJSON;
  ch_buf_append_str(&out->path, c->chat ? "/api/chat" : "/api/generate");
  /* Ollama itself takes no key; a proxy in front of it may. */
  ch_model_add_bearer(out, api_key);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", c->model ? c->model : "");
  ch_status st = CH_OK;
  if(c->chat) {
    st = ch_model_json_add_chat(o, req, false, out->body.max, error);
  } else {
    ch_buf prompt;
    ch_buf_init(&prompt, out->body.max);
    if(uses_template(c)) {
      st = ch_model_render_fim(model, req, &prompt, error);
      if(!st) {
        cJSON_AddStringToObject(o, "prompt", prompt.data ? prompt.data : "");
        cJSON_AddBoolToObject(o, "raw", true);
      }
    } else {
      st = ch_model_prefix_prompt(req, &prompt);
      if(!st) {
        cJSON_AddStringToObject(o, "prompt", prompt.data ? prompt.data : "");
        cJSON_AddStringToObject(o, "suffix", req->suffix ? req->suffix : "");
      }
    }
    ch_buf_release(&prompt);
  }
  if(!st) {
    cJSON_AddBoolToObject(o, "stream", true);
    add_options(o, model, req);
    st = ch_model_json_print(o, &out->body);
  }
  cJSON_Delete(o);
  return st;
}

static ch_status parse_event(ch_model_call *call, const char *event,
                             const char *data, size_t len) {
  cJSON *j = ch_model_call_parse(call, data, len);
  if(!j) return CH_ERR_PARSE;
  ch_status st = CH_OK;
  if(cJSON_GetObjectItemCaseSensitive(j, "error")) {
    cJSON_Delete(j);
    return ch_model_call_fail_server(call, data, len);
  }
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "response");
  if(!cJSON_IsString(text)) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    text = cJSON_GetObjectItemCaseSensitive(msg, "content");
  }
  st = ch_model_call_emit_json(call, text);
  const cJSON *done = cJSON_GetObjectItemCaseSensitive(j, "done");
  if(cJSON_IsTrue(done)) {
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "done_reason");
    if(cJSON_IsString(reason))
      ch_model_call_finish_reason(call, reason->valuestring);
    ch_model_call_usage_of(call, j, "prompt_eval_count", "eval_count");
    ch_model_call_end(call);
  } else if(!cJSON_IsBool(done)) {
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "a stream line without \"done\": %.80s", data);
    st = CH_ERR_PARSE;
  }
  cJSON_Delete(j);
  return st;
}

static ch_status finish(ch_model_call *call) {
  /* Only /api/chat answers in prose around the code. */
  if(!ch_model_config_of(ch_model_call_model(call))->chat) return CH_OK;
  return ch_model_chat_finish(call);
}

static ch_status health_build(const ch_model *model, const char *api_key,
                              ch_provider_http *out) {
  out->method = "GET";
  ch_buf_append_str(&out->path, "/api/tags");
  ch_model_add_bearer(out, api_key);
  return CH_OK;
}

static ch_status health_parse(const ch_model *model, const char *body,
                              size_t len, ch_buf *message) {
  const char *id = ch_model_config_of(model)->model;
  if(!id || ch_model_list_has(body, len, id)) return CH_OK;
  ch_buf_appendf(message, "'%s' is not pulled (ollama pull %s)", id, id);
  return CH_ERR_NOT_FOUND;
}

const ch_provider ch_provider_ollama = {
    .name = "ollama",
    .needs_endpoint = true,
    .check = check,
    .build = build,
    .parse_event = parse_event,
    .finish = finish,
    .health_build = health_build,
    .health_parse = health_parse,
};
