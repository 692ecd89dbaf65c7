/* anthropic.c: POST /v1/messages with x-api-key and anthropic-version,
 * streamed as named server-sent events. */
#include <string.h>

#include "chorus/models.h"

#define ANTHROPIC_VERSION "2023-06-01"

static ch_status check(const ch_model_config *config, ch_buf *problem) {
  if(config->model) return CH_OK;
  ch_buf_append_str(problem, "model: required by the anthropic provider");
  return CH_ERR_INVALID;
}

static void add_headers(ch_provider_http *out, const char *api_key) {
  if(api_key) ch_buf_appendf(&out->headers, "x-api-key: %s\n", api_key);
  ch_buf_append_str(&out->headers, "anthropic-version: " ANTHROPIC_VERSION
                                   "\n");
}

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  out->method = "POST";
  out->stream = CH_STREAM_SSE;
  ch_model_api_path(model, "/v1", "/messages", &out->path);
  add_headers(out, api_key);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", c->model ? c->model : "");
  cJSON_AddNumberToObject(o, "max_tokens", ch_model_max_tokens(model, req));
  /* The system prompt has a field of its own here. */
  ch_status st = ch_model_json_add_chat(o, req, true, out->body.max, error);
  if(!st) {
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    /* Anthropic refuses whitespace-only stop sequences. */
    const char *const *stops = ch_model_stops(model);
    cJSON *arr = NULL;
    for(size_t i = 0; stops && stops[i]; i++) {
      if(strspn(stops[i], " \t\r\n") == strlen(stops[i])) continue;
      if(!arr) arr = cJSON_AddArrayToObject(o, "stop_sequences");
      cJSON_AddItemToArray(arr, cJSON_CreateString(stops[i]));
    }
    cJSON_AddBoolToObject(o, "stream", true);
    st = ch_model_json_print(o, &out->body);
  }
  cJSON_Delete(o);
  return st;
}

static ch_status parse_event(ch_model_call *call, const char *event,
                             const char *data, size_t len) {
  if(strcmp(event, "ping") == 0) return CH_OK;
  cJSON *j = ch_model_call_parse(call, data, len);
  if(!j) return CH_ERR_PARSE;
  /* The type is in the data too; prefer it when the event name is absent. */
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  const char *t = event[0] ? event : cJSON_IsString(type) ? type->valuestring
                                                           : "";
  ch_status st = CH_OK;
  if(strcmp(t, "message_start") == 0) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(msg, "usage");
    ch_model_call_usage_of(call, usage, "input_tokens", "output_tokens");
  } else if(strcmp(t, "content_block_start") == 0) {
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(j, "content_block");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(block, "text");
    st = ch_model_call_emit_json(call, text);
  } else if(strcmp(t, "content_block_delta") == 0) {
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(j, "delta");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(delta, "type");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(delta, "text");
    if(cJSON_IsString(dt) && strcmp(dt->valuestring, "text_delta") == 0 &&
       cJSON_IsString(text))
      st = ch_model_call_emit(call, text->valuestring,
                              strlen(text->valuestring));
  } else if(strcmp(t, "message_delta") == 0) {
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(j, "delta");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(delta,
                                                           "stop_reason");
    if(cJSON_IsString(reason))
      ch_model_call_finish_reason(call, reason->valuestring);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    ch_model_call_usage_of(call, usage, "input_tokens", "output_tokens");
  } else if(strcmp(t, "message_stop") == 0) {
    ch_model_call_end(call);
  } else if(strcmp(t, "error") == 0) {
    st = ch_model_call_fail_server(call, data, len);
  }
  /* content_block_stop and event types added later need nothing. */
  cJSON_Delete(j);
  return st;
}

static ch_status health_build(const ch_model *model, const char *api_key,
                              ch_provider_http *out) {
  out->method = "GET";
  ch_model_api_path(model, "/v1", "/models", &out->path);
  add_headers(out, api_key);
  return CH_OK;
}

static ch_status health_parse(const ch_model *model, const char *body,
                              size_t len, ch_buf *message) {
  const char *id = ch_model_config_of(model)->model;
  /* Aliases ("...-latest") are accepted by the API but not listed. */
  if(id && strstr(id, "-latest")) return CH_OK;
  return ch_model_health_listed(model, body, len, message);
}

const ch_provider ch_provider_anthropic = {
    .name = "anthropic",
    .needs_endpoint = true,
    .check = check,
    .build = build,
    .parse_event = parse_event,
    .finish = ch_model_chat_finish,
    .health_build = health_build,
    .health_parse = health_parse,
};
