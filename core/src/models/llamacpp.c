/* llamacpp.c: llama.cpp's server. POST /infill with the prefix, suffix and
 * other files as input_extra (the server lays them out with the model's own
 * FIM tokens), or /completion when there is no suffix; GET /health. */
#include <string.h>

#include "chorus/models.h"

static void add_common(cJSON *o, const ch_model *model,
                       const ch_model_request *req) {
  const ch_model_config *c = ch_model_config_of(model);
  cJSON_AddNumberToObject(o, "n_predict", ch_model_max_tokens(model, req));
  cJSON_AddNumberToObject(o, "temperature", c->temperature);
  cJSON_AddBoolToObject(o, "cache_prompt", true);
  /* The server stops once past this and at a newline: half the total
   * deadline leaves time for the answer to travel back. */
  cJSON_AddNumberToObject(o, "t_max_predict_ms", c->total_ms / 2);
  ch_model_json_add_stops(o, "stop", ch_model_stops(model), 0);
  cJSON_AddBoolToObject(o, "stream", true);
}

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  out->method = "POST";
  out->stream = CH_STREAM_SSE;
  ch_model_add_bearer(out, api_key);
  cJSON *o = cJSON_CreateObject();
  ch_status st = CH_OK;
  /* Without text after the cursor there is nothing to fill in. */
  if(req->suffix && req->suffix_len) {
    ch_buf_append_str(&out->path, "/infill");
    if(c->model) cJSON_AddStringToObject(o, "model", c->model);
    cJSON_AddStringToObject(o, "input_prefix", req->prefix);
    cJSON_AddStringToObject(o, "input_suffix", req->suffix);
    cJSON *extra = cJSON_AddArrayToObject(o, "input_extra");
    for(size_t i = 0; i < req->nfiles; i++) {
      cJSON *f = cJSON_CreateObject();
      cJSON_AddStringToObject(f, "filename", req->files[i].path);
      cJSON_AddStringToObject(f, "text", req->files[i].text);
      cJSON_AddItemToArray(extra, f);
    }
    cJSON_AddStringToObject(o, "prompt", "");
  } else {
    ch_buf_append_str(&out->path, "/completion");
    if(c->model) cJSON_AddStringToObject(o, "model", c->model);
    ch_buf prompt;
    ch_buf_init(&prompt, out->body.max);
    st = ch_model_render_fim(model, req, &prompt, error);
    if(!st)
      cJSON_AddStringToObject(o, "prompt", prompt.data ? prompt.data : "");
    ch_buf_release(&prompt);
  }
  if(!st) {
    add_common(o, model, req);
    st = ch_model_json_print(o, &out->body);
  }
  cJSON_Delete(o);
  return st;
}

static ch_status parse_event(ch_model_call *call, const char *event,
                             const char *data, size_t len) {
  if(len == 6 && memcmp(data, "[DONE]", 6) == 0) {
    ch_model_call_end(call);
    return CH_OK;
  }
  cJSON *j = ch_model_call_parse(call, data, len);
  if(!j) return CH_ERR_PARSE;
  ch_status st = CH_OK;
  if(cJSON_GetObjectItemCaseSensitive(j, "error")) {
    cJSON_Delete(j);
    return ch_model_call_fail_server(call, data, len);
  }
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "content");
  st = ch_model_call_emit_json(call, text);
  const cJSON *stop = cJSON_GetObjectItemCaseSensitive(j, "stop");
  if(cJSON_IsTrue(stop)) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "stop_type");
    if(cJSON_IsString(type))
      ch_model_call_finish_reason(call, type->valuestring);
    const cJSON *timings = cJSON_GetObjectItemCaseSensitive(j, "timings");
    ch_model_call_usage_of(call, timings, "prompt_n", "predicted_n");
    ch_model_call_end(call);
  } else if(!cJSON_IsString(text)) {
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "a stream event without content: %.80s", data);
    st = CH_ERR_PARSE;
  }
  cJSON_Delete(j);
  return st;
}

static ch_status health_build(const ch_model *model, const char *api_key,
                              ch_provider_http *out) {
  out->method = "GET";
  ch_buf_append_str(&out->path, "/health");
  ch_model_add_bearer(out, api_key);
  return CH_OK;
}

const ch_provider ch_provider_llamacpp = {
    .name = "llamacpp",
    .needs_endpoint = true,
    .build = build,
    .parse_event = parse_event,
    .health_build = health_build,
};
