/* mistral.c: POST /v1/fim/completions (Codestral), prompt + suffix, streamed
 * as server-sent events with chat-shaped chunks. */
#include "chorus/models.h"

static ch_status check(const ch_model_config *config, ch_buf *problem) {
  if(config->model) return CH_OK;
  ch_buf_append_str(problem, "model: required by the mistral-fim provider "
                             "(e.g. codestral-latest)");
  return CH_ERR_INVALID;
}

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  ch_model_api_post(model, "/fim/completions", api_key, out);
  ch_buf prompt;
  ch_buf_init(&prompt, out->body.max);
  ch_status st = ch_model_prefix_prompt(req, &prompt);
  if(!st) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->model ? c->model : "");
    cJSON_AddStringToObject(o, "prompt", prompt.data ? prompt.data : "");
    cJSON_AddStringToObject(o, "suffix", req->suffix ? req->suffix : "");
    cJSON_AddNumberToObject(o, "max_tokens", ch_model_max_tokens(model, req));
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    ch_model_json_add_stops(o, "stop", ch_model_stops(model), 0);
    cJSON_AddBoolToObject(o, "stream", true);
    st = ch_model_json_print(o, &out->body);
    cJSON_Delete(o);
  } else {
    ch_buf_appendf(error, "the prompt does not fit");
  }
  ch_buf_release(&prompt);
  return st;
}

const ch_provider ch_provider_mistral = {
    .name = "mistral-fim",
    .needs_endpoint = true,
    .check = check,
    .build = build,
    .parse_event = ch_provider_openai_parse_event,
    .health_build = ch_model_health_models,
    .health_parse = ch_model_health_listed,
};
