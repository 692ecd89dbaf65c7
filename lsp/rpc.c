/* rpc.c: JSON-RPC message shapes, replies and checked params. */
#include "rpc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "transport.h"

ch_rpc_kind ch_rpc_classify(const cJSON *msg, const char **why) {
  if(!cJSON_IsObject(msg)) {
    *why = "a message must be a JSON object";
    return CH_RPC_INVALID;
  }
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  if(id && !cJSON_IsNumber(id) && !cJSON_IsString(id) && !cJSON_IsNull(id)) {
    *why = "id must be a number or a string";
    return CH_RPC_INVALID;
  }
  if(method) {
    if(!cJSON_IsString(method)) {
      *why = "method must be a string";
      return CH_RPC_INVALID;
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    if(params && !cJSON_IsNull(params) && !cJSON_IsObject(params) &&
       !cJSON_IsArray(params)) {
      *why = "params must be an object or an array";
      return CH_RPC_INVALID;
    }
    return id ? CH_RPC_REQUEST : CH_RPC_NOTIFICATION;
  }
  if(id && (cJSON_GetObjectItemCaseSensitive(msg, "result") ||
            cJSON_GetObjectItemCaseSensitive(msg, "error")))
    return CH_RPC_RESPONSE;
  *why = "a message needs a method, or an id with a result or an error";
  return CH_RPC_INVALID;
}

/* Serialises msg (taken) and frames it. */
static ch_status write_message(ch_buf *out, cJSON *msg) {
  char *text = cJSON_PrintUnformatted(msg);
  cJSON_Delete(msg);
  if(!text) return CH_ERR_INVALID;
  ch_status result = ch_frame_write(out, text, strlen(text));
  cJSON_free(text);
  return result;
}

static cJSON *envelope(const cJSON *id) {
  cJSON *msg = cJSON_CreateObject();
  cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
  cJSON_AddItemToObject(msg, "id",
                        id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
  return msg;
}

ch_status ch_rpc_write_result(ch_buf *out, const cJSON *id, cJSON *result) {
  cJSON *msg = envelope(id);
  cJSON_AddItemToObject(msg, "result", result ? result : cJSON_CreateNull());
  return write_message(out, msg);
}

ch_status ch_rpc_write_error(ch_buf *out, const cJSON *id, int code,
                             const char *message) {
  cJSON *msg = envelope(id);
  cJSON *error = cJSON_AddObjectToObject(msg, "error");
  cJSON_AddNumberToObject(error, "code", code);
  cJSON_AddStringToObject(error, "message", message);
  return write_message(out, msg);
}

ch_status ch_rpc_write_notification(ch_buf *out, const char *method,
                                    cJSON *params) {
  cJSON *msg = cJSON_CreateObject();
  cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
  cJSON_AddStringToObject(msg, "method", method);
  if(params) cJSON_AddItemToObject(msg, "params", params);
  return write_message(out, msg);
}

ch_status ch_rpc_write_request(ch_buf *out, long id, const char *method,
                               cJSON *params) {
  cJSON *msg = cJSON_CreateObject();
  cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
  cJSON_AddNumberToObject(msg, "id", (double)id);
  cJSON_AddStringToObject(msg, "method", method);
  if(params) cJSON_AddItemToObject(msg, "params", params);
  return write_message(out, msg);
}

/* ---- checked params ------------------------------------------------------ */

bool ch_rpc_fail(ch_rpc_err *err, const char *path, const char *key,
                 const char *what) {
  snprintf(err->message, sizeof(err->message), "%s%s%s: %s", path,
           path[0] ? "." : "", key, what);
  return false;
}

/* The field, or NULL. A JSON null counts as absent. */
static const cJSON *field(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNull(v) ? NULL : v;
}

bool ch_rpc_get_object(const cJSON *obj, const char *path, const char *key,
                       bool required, const cJSON **out, ch_rpc_err *err) {
  const cJSON *v = field(obj, key);
  if(!v) return required ? ch_rpc_fail(err, path, key, "missing") : true;
  if(!cJSON_IsObject(v)) return ch_rpc_fail(err, path, key, "expected an object");
  *out = v;
  return true;
}

bool ch_rpc_get_array(const cJSON *obj, const char *path, const char *key,
                      bool required, const cJSON **out, ch_rpc_err *err) {
  const cJSON *v = field(obj, key);
  if(!v) return required ? ch_rpc_fail(err, path, key, "missing") : true;
  if(!cJSON_IsArray(v)) return ch_rpc_fail(err, path, key, "expected an array");
  *out = v;
  return true;
}

bool ch_rpc_get_string(const cJSON *obj, const char *path, const char *key,
                       bool required, const char **out, ch_rpc_err *err) {
  const cJSON *v = field(obj, key);
  if(!v) return required ? ch_rpc_fail(err, path, key, "missing") : true;
  if(!cJSON_IsString(v)) return ch_rpc_fail(err, path, key, "expected a string");
  *out = v->valuestring;
  return true;
}

bool ch_rpc_get_int(const cJSON *obj, const char *path, const char *key,
                    bool required, long long min, long long max,
                    long long *out, ch_rpc_err *err) {
  const cJSON *v = field(obj, key);
  if(!v) return required ? ch_rpc_fail(err, path, key, "missing") : true;
  if(!cJSON_IsNumber(v)) return ch_rpc_fail(err, path, key, "expected an integer");
  double d = v->valuedouble;
  if(!isfinite(d) || d != floor(d))
    return ch_rpc_fail(err, path, key, "expected an integer");
  if(d < (double)min || d > (double)max) {
    char what[96];
    snprintf(what, sizeof(what), "expected an integer from %lld to %lld", min,
             max);
    return ch_rpc_fail(err, path, key, what);
  }
  *out = (long long)d;
  return true;
}

bool ch_rpc_get_bool(const cJSON *obj, const char *path, const char *key,
                     bool required, bool *out, ch_rpc_err *err) {
  const cJSON *v = field(obj, key);
  if(!v) return required ? ch_rpc_fail(err, path, key, "missing") : true;
  if(!cJSON_IsBool(v)) return ch_rpc_fail(err, path, key, "expected a boolean");
  *out = cJSON_IsTrue(v);
  return true;
}
