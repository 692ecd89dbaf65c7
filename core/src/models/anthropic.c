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
  ch_prompt_input in;
  ch_model_prompt_input(req, &in);
  ch_buf system, user;
  ch_buf_init(&system, out->body.max);
  ch_buf_init(&user, out->body.max);
  ch_status st = ch_prompt_chat(&in, &system, &user);
  if(st) {
    ch_buf_appendf(error, "the chat prompt does not fit");
  } else {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->model ? c->model : "");
    cJSON_AddNumberToObject(o, "max_tokens", ch_model_max_tokens(model, req));
    if(system.len) cJSON_AddStringToObject(o, "system", system.data);
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    cJSON *usr = cJSON_CreateObject();
    cJSON_AddStringToObject(usr, "role", "user");
    cJSON_AddStringToObject(usr, "content", user.data ? user.data : "");
    cJSON_AddItemToArray(msgs, usr);
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
    cJSON_Delete(o);
  }
  ch_buf_release(&system);
  ch_buf_release(&user);
  return st;
}

static int64_t number(const cJSON *obj, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static ch_status parse_event(ch_model_call *call, const char *event,
                             const char *data, size_t len) {
  if(strcmp(event, "ping") == 0) return CH_OK;
  cJSON *j = cJSON_ParseWithLength(data, len);
  if(!j) {
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "invalid JSON in the stream: %.80s", data);
    return CH_ERR_PARSE;
  }
  /* The type is in the data too; prefer it when the event name is absent. */
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  const char *t = event[0] ? event : cJSON_IsString(type) ? type->valuestring
                                                           : "";
  ch_status st = CH_OK;
  if(strcmp(t, "message_start") == 0) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(msg, "usage");
    ch_model_call_usage(call, number(usage, "input_tokens"),
                        number(usage, "output_tokens"));
  } else if(strcmp(t, "content_block_start") == 0) {
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(j, "content_block");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(block, "text");
    if(cJSON_IsString(text) && text->valuestring[0])
      st = ch_model_call_emit(call, text->valuestring,
                              strlen(text->valuestring));
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
    ch_model_call_usage(call, number(usage, "input_tokens"),
                        number(usage, "output_tokens"));
  } else if(strcmp(t, "message_stop") == 0) {
    ch_model_call_end(call);
  } else if(strcmp(t, "error") == 0) {
    ch_buf msg;
    ch_buf_init(&msg, 1024);
    ch_model_error_text(data, len, &msg);
    ch_model_call_fail(call, CH_MODEL_SERVER, "the server reported: %s",
                       msg.data ? msg.data : "an error");
    ch_buf_release(&msg);
    st = CH_ERR_STATE;
  }
  /* content_block_stop and event types added later need nothing. */
  cJSON_Delete(j);
  return st;
}

static ch_status finish(ch_model_call *call) {
  ch_prompt_input in;
  ch_model_prompt_input(ch_model_call_request(call), &in);
  size_t len = 0;
  const char *reply = ch_model_call_text(call, &len);
  ch_buf out;
  ch_buf_init(&out, len + 1);
  ch_status st = ch_prompt_chat_answer(reply, len, &in, &out);
  if(!st) ch_model_call_set_text(call, out.data ? out.data : "", out.len);
  ch_buf_release(&out);
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
  if(!id || ch_model_list_has(body, len, id) || strstr(id, "-latest"))
    return CH_OK;
  ch_buf_appendf(message, "the server does not list '%s'", id);
  return CH_ERR_NOT_FOUND;
}

const ch_provider ch_provider_anthropic = {
    .name = "anthropic",
    .needs_endpoint = true,
    .check = check,
    .build = build,
    .parse_event = parse_event,
    .finish = finish,
    .health_build = health_build,
    .health_parse = health_parse,
};
