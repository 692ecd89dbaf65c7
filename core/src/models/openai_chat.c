/* openai_chat.c: POST /v1/chat/completions with a hole-filling prompt; the
 * code is extracted from the reply once it is complete. */
#include <string.h>

#include "chorus/models.h"

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  out->method = "POST";
  out->stream = CH_STREAM_SSE;
  ch_model_api_path(model, "/v1", "/chat/completions", &out->path);
  if(api_key) ch_buf_appendf(&out->headers, "Authorization: Bearer %s\n",
                             api_key);
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
    if(c->model) cJSON_AddStringToObject(o, "model", c->model);
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", system.data ? system.data : "");
    cJSON_AddItemToArray(msgs, sys);
    cJSON *usr = cJSON_CreateObject();
    cJSON_AddStringToObject(usr, "role", "user");
    cJSON_AddStringToObject(usr, "content", user.data ? user.data : "");
    cJSON_AddItemToArray(msgs, usr);
    /* max_tokens is deprecated on this route. */
    cJSON_AddNumberToObject(o, "max_completion_tokens",
                            ch_model_max_tokens(model, req));
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    cJSON_AddBoolToObject(o, "stream", true);
    ch_model_json_add_stops(o, "stop", ch_model_stops(model), 4);
    st = ch_model_json_print(o, &out->body);
    cJSON_Delete(o);
  }
  ch_buf_release(&system);
  ch_buf_release(&user);
  return st;
}

static ch_status parse_event(ch_model_call *call, const char *event,
                             const char *data, size_t len) {
  return ch_provider_openai_parse_chunk(call, data, len);
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
  if(api_key) ch_buf_appendf(&out->headers, "Authorization: Bearer %s\n",
                             api_key);
  return CH_OK;
}

static ch_status health_parse(const ch_model *model, const char *body,
                              size_t len, ch_buf *message) {
  const char *id = ch_model_config_of(model)->model;
  if(!id || ch_model_list_has(body, len, id)) return CH_OK;
  ch_buf_appendf(message, "the server does not list '%s'", id);
  return CH_ERR_NOT_FOUND;
}

const ch_provider ch_provider_openai_chat = {
    .name = "openai-chat",
    .needs_endpoint = true,
    .build = build,
    .parse_event = parse_event,
    .finish = finish,
    .health_build = health_build,
    .health_parse = health_parse,
};
