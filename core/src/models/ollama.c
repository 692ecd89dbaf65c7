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

static ch_status build_chat(const ch_model *model, const ch_model_request *req,
                            cJSON *o, ch_buf *error, size_t max) {
  ch_prompt_input in;
  ch_model_prompt_input(req, &in);
  ch_buf system, user;
  ch_buf_init(&system, max);
  ch_buf_init(&user, max);
  ch_status st = ch_prompt_chat(&in, &system, &user);
  if(st) {
    ch_buf_appendf(error, "the chat prompt does not fit");
  } else {
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", system.data ? system.data : "");
    cJSON_AddItemToArray(msgs, sys);
    cJSON *usr = cJSON_CreateObject();
    cJSON_AddStringToObject(usr, "role", "user");
    cJSON_AddStringToObject(usr, "content", user.data ? user.data : "");
    cJSON_AddItemToArray(msgs, usr);
  }
  ch_buf_release(&system);
  ch_buf_release(&user);
  return st;
}

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  out->method = "POST";
  out->stream = CH_STREAM_NDJSON;
  ch_buf_append_str(&out->path, c->chat ? "/api/chat" : "/api/generate");
  /* Ollama itself takes no key; a proxy in front of it may. */
  if(api_key) ch_buf_appendf(&out->headers, "Authorization: Bearer %s\n",
                             api_key);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", c->model ? c->model : "");
  ch_status st = CH_OK;
  if(c->chat) {
    st = build_chat(model, req, o, error, out->body.max);
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
      ch_prompt_input in;
      ch_model_prompt_input(req, &in);
      st = ch_prompt_files_block(&in, &prompt);
      if(!st) st = ch_buf_append(&prompt, in.prefix, in.prefix_len);
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
  cJSON *j = cJSON_ParseWithLength(data, len);
  if(!j) {
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "invalid JSON in the stream: %.80s", data);
    return CH_ERR_PARSE;
  }
  ch_status st = CH_OK;
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
  if(err) {
    ch_buf msg;
    ch_buf_init(&msg, 1024);
    ch_model_error_text(data, len, &msg);
    ch_model_call_fail(call, CH_MODEL_SERVER, "the server reported: %s",
                       msg.data ? msg.data : "an error");
    ch_buf_release(&msg);
    cJSON_Delete(j);
    return CH_ERR_STATE;
  }
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "response");
  if(!cJSON_IsString(text)) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    text = cJSON_GetObjectItemCaseSensitive(msg, "content");
  }
  if(cJSON_IsString(text) && text->valuestring[0])
    st = ch_model_call_emit(call, text->valuestring, strlen(text->valuestring));
  const cJSON *done = cJSON_GetObjectItemCaseSensitive(j, "done");
  if(cJSON_IsTrue(done)) {
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "done_reason");
    if(cJSON_IsString(reason))
      ch_model_call_finish_reason(call, reason->valuestring);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "prompt_eval_count");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "eval_count");
    ch_model_call_usage(call,
                        cJSON_IsNumber(in) ? (int64_t)in->valuedouble : -1,
                        cJSON_IsNumber(out) ? (int64_t)out->valuedouble : -1);
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
  if(!ch_model_config_of(ch_model_call_model(call))->chat) return CH_OK;
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
  ch_buf_append_str(&out->path, "/api/tags");
  if(api_key) ch_buf_appendf(&out->headers, "Authorization: Bearer %s\n",
                             api_key);
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
