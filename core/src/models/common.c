/* common.c: the pieces of the HTTP providers' wire formats that several
 * APIs share: keys in headers, prompts and chat messages in request bodies,
 * stream chunks that fail, report usage or carry a server's error, the
 * model list of a health check, and the code cut out of a chat reply. Each
 * provider file keeps only what its API does differently. */
#include <string.h>

#include "chorus/models.h"

void ch_model_add_bearer(ch_provider_http *out, const char *api_key) {
  if(api_key)
    ch_buf_appendf(&out->headers, "Authorization: Bearer %s\n", api_key);
}

void ch_model_api_post(const ch_model *model, const char *route,
                       const char *api_key, ch_provider_http *out) {
  out->method = "POST";
  out->stream = CH_STREAM_SSE;
  ch_model_api_path(model, "/v1", route, &out->path);
  ch_model_add_bearer(out, api_key);
}

ch_status ch_model_prefix_prompt(const ch_model_request *request, ch_buf *out) {
  ch_prompt_input in;
  ch_model_prompt_input(request, &in);
  ch_status st = ch_prompt_files_block(&in, out);
  if(!st) st = ch_buf_append(out, in.prefix, in.prefix_len);
  return st;
}

static void add_message(cJSON *msgs, const char *role, const ch_buf *content) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "role", role);
  cJSON_AddStringToObject(m, "content", content->data ? content->data : "");
  cJSON_AddItemToArray(msgs, m);
}

ch_status ch_model_json_add_chat(cJSON *obj, const ch_model_request *request,
                                 bool system_field, size_t max, ch_buf *error) {
  ch_prompt_input in;
  ch_model_prompt_input(request, &in);
  ch_buf system, user;
  ch_buf_init(&system, max);
  ch_buf_init(&user, max);
  ch_status st = ch_prompt_chat(&in, &system, &user);
  if(st) {
    ch_buf_appendf(error, "the chat prompt does not fit");
  } else {
    if(system_field && system.len)
      cJSON_AddStringToObject(obj, "system", system.data);
    cJSON *msgs = cJSON_AddArrayToObject(obj, "messages");
    if(!system_field) add_message(msgs, "system", &system);
    add_message(msgs, "user", &user);
  }
  ch_buf_release(&system);
  ch_buf_release(&user);
  return st;
}

cJSON *ch_model_call_parse(ch_model_call *call, const char *data, size_t len) {
  cJSON *j = cJSON_ParseWithLength(data, len);
  if(!j)
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "invalid JSON in the stream: %.80s", data);
  return j;
}

ch_status ch_model_call_fail_server(ch_model_call *call, const char *body,
                                    size_t len) {
  ch_buf msg;
  ch_buf_init(&msg, 1024);
  ch_model_error_text(body, len, &msg);
  ch_model_call_fail(call, CH_MODEL_SERVER, "the server reported: %s",
                     msg.data ? msg.data : "an error");
  ch_buf_release(&msg);
  return CH_ERR_STATE;
}

ch_status ch_model_call_emit_json(ch_model_call *call, const cJSON *text) {
  if(!cJSON_IsString(text) || !text->valuestring[0]) return CH_OK;
  return ch_model_call_emit(call, text->valuestring, strlen(text->valuestring));
}

static int64_t count(const cJSON *obj, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

void ch_model_call_usage_of(ch_model_call *call, const cJSON *obj,
                            const char *in_field, const char *out_field) {
  ch_model_call_usage(call, count(obj, in_field), count(obj, out_field));
}

ch_status ch_model_chat_finish(ch_model_call *call) {
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

ch_status ch_model_health_models(const ch_model *model, const char *api_key,
                                 ch_provider_http *out) {
  out->method = "GET";
  ch_model_api_path(model, "/v1", "/models", &out->path);
  ch_model_add_bearer(out, api_key);
  return CH_OK;
}

ch_status ch_model_health_listed(const ch_model *model, const char *body,
                                 size_t len, ch_buf *message) {
  const char *id = ch_model_config_of(model)->model;
  if(!id || ch_model_list_has(body, len, id)) return CH_OK;
  ch_buf_appendf(message, "the server does not list '%s'", id);
  return CH_ERR_NOT_FOUND;
}
