/*
 * result_json.h: a model's result (chorus/models.h) as JSON, the same for
 * the editor's `chorus/complete` reply and `chorus complete --json`.
 *
 * Each function adds members to an object the caller owns and builds, so
 * that each caller keeps its own outer shape (a JSON-RPC result or error
 * data, a command line object) and the order of its members. Strings are
 * copied into the object; the result is only read.
 */
#ifndef CHORUS_LSP_RESULT_JSON_H
#define CHORUS_LSP_RESULT_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "chorus/models.h"

/* The classification of a failed result: "kind" (ch_model_error_name),
 * then "message" when message is not NULL, "deadline" for a timeout and
 * "httpStatus" when there was one. */
void ch_result_json_error(cJSON *obj, const ch_model_result *r,
                          const char *message);
/* How the result was made: "timings" {"firstByteMs" (null when no byte
 * came), "totalMs"}, then "attempts" when with_attempts, "usage"
 * {"inputTokens"?, "outputTokens"?} when either count is known,
 * "provenance" when known and "confidence" when reported. */
void ch_result_json_measures(cJSON *obj, const ch_model_result *r,
                             bool with_attempts);

#endif
