/* openai_chat.c: POST /v1/chat/completions with a hole-filling prompt; the
 * code is extracted from the reply once it is complete. */
#include "chorus/models.h"

static ch_status build(const ch_model *model, const ch_model_request *req,
                       const char *api_key, ch_provider_http *out,
                       ch_buf *error) {
  const ch_model_config *c = ch_model_config_of(model);
  ch_model_api_post(model, "/chat/completions", api_key, out);
  cJSON *o = cJSON_CreateObject();
  if(c->model) cJSON_AddStringToObject(o, "model", c->model);
  ch_status st = ch_model_json_add_chat(o, req, false, out->body.max, error);
  if(!st) {
    /* max_tokens is deprecated on this route. */
    cJSON_AddNumberToObject(o, "max_completion_tokens",
                            ch_model_max_tokens(model, req));
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    cJSON_AddBoolToObject(o, "stream", true);
    ch_model_json_add_stops(o, "stop", ch_model_stops(model), 4);
    st = ch_model_json_print(o, &out->body);
  }
  cJSON_Delete(o);
  return st;
}

const ch_provider ch_provider_openai_chat = {
    .name = "openai-chat",
    .needs_endpoint = true,
    .build = build,
    .parse_event = ch_provider_openai_parse_event,
    .finish = ch_model_chat_finish,
    .health_build = ch_model_health_models,
    .health_parse = ch_model_health_listed,
};
