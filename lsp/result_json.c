/* result_json.c: the members a model's result is reported with, shared by
 * the server's chorus/complete and the `chorus complete` command. */
#include "result_json.h"

void ch_result_json_error(cJSON *obj, const ch_model_result *r,
                          const char *message) {
  cJSON_AddStringToObject(obj, "kind", ch_model_error_name(r->error));
  if(message) cJSON_AddStringToObject(obj, "message", message);
  if(r->error == CH_MODEL_TIMEOUT)
    cJSON_AddStringToObject(obj, "deadline",
                            ch_model_deadline_name(r->deadline));
  if(r->http_status)
    cJSON_AddNumberToObject(obj, "httpStatus", (double)r->http_status);
}

void ch_result_json_measures(cJSON *obj, const ch_model_result *r,
                             bool with_attempts) {
  cJSON *t = cJSON_AddObjectToObject(obj, "timings");
  if(r->first_byte_ms >= 0)
    cJSON_AddNumberToObject(t, "firstByteMs", r->first_byte_ms);
  else
    cJSON_AddNullToObject(t, "firstByteMs");
  cJSON_AddNumberToObject(t, "totalMs", r->total_ms);
  if(with_attempts) cJSON_AddNumberToObject(obj, "attempts", r->attempts);
  if(r->tokens_in >= 0 || r->tokens_out >= 0) {
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    if(r->tokens_in >= 0)
      cJSON_AddNumberToObject(u, "inputTokens", (double)r->tokens_in);
    if(r->tokens_out >= 0)
      cJSON_AddNumberToObject(u, "outputTokens", (double)r->tokens_out);
  }
  if(r->provenance[0])
    cJSON_AddStringToObject(obj, "provenance", r->provenance);
  if(r->confidence >= 0)
    cJSON_AddNumberToObject(obj, "confidence", r->confidence);
}
