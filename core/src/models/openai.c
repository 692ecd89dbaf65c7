/* openai.c: POST /v1/completions (vLLM, TGI, LM Studio, llama.cpp's OpenAI
 * route, DeepSeek FIM at .../beta), streamed as server-sent events. */
#include <string.h>

#include "chorus/models.h"

/* Whether the prompt goes with a separate `suffix` field (OpenAI, DeepSeek)
 * or with the FIM template rendered into `prompt` (vLLM rejects suffix). */
static bool uses_suffix_field(const ch_model_config *c) {
  if(c->has_suffix_field) return c->suffix_field;
  return !c->fim_template && (!c->fim || strcmp(c->fim, "none") == 0);
}

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  ch_model_api_post(model, "/completions", api_key, out);
  ch_buf prompt;
  ch_buf_init(&prompt, out->body.max);
  ch_status st = CH_OK;
  bool suffix_field = uses_suffix_field(c);
  if(suffix_field) {
    st = ch_model_prefix_prompt(req, &prompt);
  } else {
    st = ch_model_render_fim(model, req, &prompt, error);
  }
  if(!st) {
    cJSON *o = cJSON_CreateObject();
    if(c->model) cJSON_AddStringToObject(o, "model", c->model);
    cJSON_AddStringToObject(o, "prompt", prompt.data ? prompt.data : "");
    if(suffix_field)
      cJSON_AddStringToObject(o, "suffix", req->suffix ? req->suffix : "");
    cJSON_AddNumberToObject(o, "max_tokens", ch_model_max_tokens(model, req));
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    cJSON_AddBoolToObject(o, "stream", true);
    /* The API takes at most four; the rest are cut on our side. */
    ch_model_json_add_stops(o, "stop", ch_model_stops(model), 4);
    st = ch_model_json_print(o, &out->body);
    cJSON_Delete(o);
  }
  ch_buf_release(&prompt);
  return st;
}

ch_status ch_provider_openai_parse_chunk(ch_model_call *call, const char *data,
                                         size_t len) {
  if(len == 6 && memcmp(data, "[DONE]", 6) == 0) {
    ch_model_call_end(call);
    return CH_OK;
  }
  cJSON *j = ch_model_call_parse(call, data, len);
  if(!j) return CH_ERR_PARSE;
  ch_status st = CH_OK;
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
  if(err && !cJSON_IsNull(err)) {
    cJSON_Delete(j);
    return ch_model_call_fail_server(call, data, len);
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
  const cJSON *choice = cJSON_GetArrayItem(choices, 0);
  if(choice) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(choice, "text");
    if(!cJSON_IsString(text)) {
      const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
      if(!delta) delta = cJSON_GetObjectItemCaseSensitive(choice, "message");
      text = cJSON_GetObjectItemCaseSensitive(delta, "content");
    }
    /* An empty piece adds nothing: skipping it is the same answer. */
    st = ch_model_call_emit_json(call, text);
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice,
                                                       "finish_reason");
    if(cJSON_IsString(fr)) ch_model_call_finish_reason(call, fr->valuestring);
  } else if(!cJSON_IsArray(choices) &&
            !cJSON_GetObjectItemCaseSensitive(j, "usage")) {
    ch_model_call_fail(call, CH_MODEL_BAD_RESPONSE,
                       "a stream chunk without choices: %.80s", data);
    st = CH_ERR_PARSE;
  }
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
  if(cJSON_IsObject(usage))
    ch_model_call_usage_of(call, usage, "prompt_tokens", "completion_tokens");
  cJSON_Delete(j);
  return st == CH_ERR_STATE ? CH_OK : st;
}

ch_status ch_provider_openai_parse_event(ch_model_call *call, const char *event,
                                         const char *data, size_t len) {
  return ch_provider_openai_parse_chunk(call, data, len);
}

const ch_provider ch_provider_openai = {
    .name = "openai",
    .needs_endpoint = true,
    .build = build,
    .parse_event = ch_provider_openai_parse_event,
    .health_build = ch_model_health_models,
    .health_parse = ch_model_health_listed,
};
