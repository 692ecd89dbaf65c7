/* rpc.c: JSON-RPC message shapes, replies and checked params. */
#include "rpc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transport.h"

/* ---- parsing with NULs --------------------------------------------------- */

/* cJSON ends strings at the first NUL. When a body has "\u0000" escapes,
 * they are rewritten as the pair M X and every M already in the body, raw
 * or escaped, as M M (M = U+FDD0, X = U+FDD1, noncharacters), as in byte
 * stuffing. After parsing, every M in a string starts a pair: M M means M
 * and M X means NUL, whatever the body contained. */
#define MARKER_RAW "\xEF\xB7\x90"
#define MARKER_ESC "\\uFDD0"
#define NUL_PAIR_RAW "\xEF\xB7\x90\xEF\xB7\x91"
#define NUL_PAIR_ESC "\\uFDD0\\uFDD1"

static bool has_nul_escape(const char *body, size_t len) {
  for(size_t i = 0; i + 6 <= len; i++) {
    if(body[i] != '\\') continue;
    if(memcmp(body + i + 1, "u0000", 5) == 0) return true;
    i++; /* skip the escaped character, so "\\\\u0000" is not taken */
  }
  return false;
}

/* The body with NUL escapes replaced and markers doubled. */
static char *stuff(const char *body, size_t len, size_t *out_len) {
  ch_buf b;
  ch_buf_init(&b, SIZE_MAX / 2);
  ch_buf_reserve(&b, len + len / 8 + 16);
  for(size_t i = 0; i < len; i++) {
    if(body[i] == '\\' && i + 1 < len) {
      if(i + 6 <= len && memcmp(body + i + 1, "u0000", 5) == 0) {
        ch_buf_append_str(&b, NUL_PAIR_ESC);
      } else if(i + 6 <= len && strncasecmp(body + i + 1, "ufdd0", 5) == 0) {
        ch_buf_append_str(&b, MARKER_ESC MARKER_ESC);
      } else {
        ch_buf_append(&b, body + i, 2);
        i++;
        continue;
      }
      i += 5;
    } else if(i + 3 <= len && memcmp(body + i, MARKER_RAW, 3) == 0) {
      ch_buf_append_str(&b, MARKER_RAW MARKER_RAW);
      i += 2;
    } else {
      ch_buf_append_char(&b, body[i]);
    }
  }
  return ch_buf_detach(&b, out_len);
}

/* Undoes the stuffing in one string; returns its true length. */
static size_t unstuff(char *str) {
  size_t n = strlen(str), w = 0;
  for(size_t r = 0; r < n;) {
    if(r + 6 <= n && memcmp(str + r, NUL_PAIR_RAW, 6) == 0) {
      str[w++] = 0;
      r += 6;
    } else if(r + 6 <= n && memcmp(str + r, MARKER_RAW MARKER_RAW, 6) == 0) {
      memcpy(str + w, MARKER_RAW, 3);
      w += 3;
      r += 6;
    } else {
      str[w++] = str[r++];
    }
  }
  str[w] = 0;
  return w;
}

/* Restores every string of the tree and records true lengths in valueint,
 * which cJSON leaves unused for strings. */
static void restore_nuls(cJSON *item) {
  for(; item; item = item->next) {
    if(item->string && strstr(item->string, MARKER_RAW)) unstuff(item->string);
    if(cJSON_IsString(item) && item->valuestring &&
       strstr(item->valuestring, MARKER_RAW))
      item->valueint = (int)unstuff(item->valuestring);
    if(item->child) restore_nuls(item->child);
  }
}

static const char *skip_space(const char *p, const char *end) {
  while(p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  return p;
}

cJSON *ch_rpc_parse(const char *body, size_t len, size_t *error_at) {
  const char *text = body;
  char *copy = NULL;
  bool stuffed = has_nul_escape(body, len);
  if(stuffed) {
    copy = stuff(body, len, &len);
    text = copy;
  }
  const char *end = NULL;
  cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, false);
  if(json && skip_space(end, text + len) != text + len) {
    cJSON_Delete(json); /* bytes after the value */
    json = NULL;
    end = skip_space(end, text + len);
  }
  if(!json)
    *error_at = end && end >= text ? (size_t)(end - text) : 0;
  else if(stuffed)
    restore_nuls(json);
  ch_free(copy);
  return json;
}

size_t ch_rpc_string_len(const cJSON *item) {
  if(!cJSON_IsString(item) || !item->valuestring) return 0;
  return item->valueint > 0 ? (size_t)item->valueint
                            : strlen(item->valuestring);
}

ch_status ch_rpc_append_json_escaped(ch_buf *out, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  ch_status result = ch_buf_reserve(out, len);
  if(result) return result;
  size_t run = 0; /* start of the pending run of plain bytes */
  for(size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if(c >= 0x20 && c != '"' && c != '\\') continue;
    result = ch_buf_append(out, s + run, i - run);
    if(result) return result;
    char esc[6] = {'\\', 0};
    size_t n = 2;
    switch(c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      n = 6;
    }
    result = ch_buf_append(out, esc, n);
    if(result) return result;
    run = i + 1;
  }
  return ch_buf_append(out, s + run, len - run);
}

ch_status ch_rpc_append_json_string(ch_buf *out, const char *s, size_t len) {
  ch_status result = ch_buf_append_char(out, '"');
  if(!result) result = ch_rpc_append_json_escaped(out, s, len);
  if(!result) result = ch_buf_append_char(out, '"');
  return result;
}

ch_status ch_rpc_write_raw_result(ch_buf *out, const cJSON *id,
                                  const char *result_json, size_t len) {
  char *id_text = id ? cJSON_PrintUnformatted(id) : NULL;
  ch_buf msg;
  ch_buf_init(&msg, out->max);
  ch_status result = ch_buf_appendf(&msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,"
                                          "\"result\":",
                                    id_text ? id_text : "null");
  if(!result) result = ch_buf_append(&msg, result_json, len);
  if(!result) result = ch_buf_append_char(&msg, '}');
  if(!result) result = ch_frame_write(out, msg.data, msg.len);
  ch_buf_release(&msg);
  cJSON_free(id_text);
  return result;
}

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

ch_status ch_rpc_write_error_data(ch_buf *out, const cJSON *id, int code,
                                  const char *message, cJSON *data) {
  cJSON *msg = envelope(id);
  cJSON *error = cJSON_AddObjectToObject(msg, "error");
  cJSON_AddNumberToObject(error, "code", code);
  cJSON_AddStringToObject(error, "message", message);
  if(data) cJSON_AddItemToObject(error, "data", data);
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

bool ch_rpc_same_id(const cJSON *a, const cJSON *b) {
  if(!a || !b) return false;
  if(cJSON_IsNumber(a) && cJSON_IsNumber(b))
    return a->valuedouble == b->valuedouble;
  if(cJSON_IsString(a) && cJSON_IsString(b))
    return strcmp(a->valuestring, b->valuestring) == 0;
  return false;
}
