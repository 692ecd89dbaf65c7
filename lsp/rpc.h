/*
 * rpc.h: JSON-RPC 2.0 messages as LSP uses them, over cJSON.
 *
 * - Classifies a parsed message as request, notification or response.
 * - Builds replies and notifications and frames them into an output buffer.
 * - Reads params with checked types: every accessor names the field it
 *   looked at ("textDocument.uri: expected a string"), so an InvalidParams
 *   error tells the client exactly what was wrong.
 */
#ifndef CHORUS_LSP_RPC_H
#define CHORUS_LSP_RPC_H

#include <cjson/cJSON.h>

#include "chorus/util.h"

/* JSON-RPC and LSP error codes. */
enum {
  CH_RPC_PARSE_ERROR = -32700,
  CH_RPC_INVALID_REQUEST = -32600,
  CH_RPC_METHOD_NOT_FOUND = -32601,
  CH_RPC_INVALID_PARAMS = -32602,
  CH_RPC_INTERNAL_ERROR = -32603,
  CH_RPC_SERVER_NOT_INITIALIZED = -32002,
  CH_RPC_REQUEST_CANCELLED = -32800,
  CH_RPC_CONTENT_MODIFIED = -32801,
  CH_RPC_SERVER_CANCELLED = -32802,
  CH_RPC_REQUEST_FAILED = -32803,
};

typedef enum ch_rpc_kind {
  CH_RPC_INVALID = 0, /* not a JSON-RPC message we accept */
  CH_RPC_REQUEST,     /* method + id */
  CH_RPC_NOTIFICATION,/* method, no id */
  CH_RPC_RESPONSE,    /* id + result or error, no method */
} ch_rpc_kind;

/* Parses one JSON-RPC body. Like cJSON_ParseWithLengthOpts, but the whole
 * body must be one JSON value (white space may follow), and strings may
 * contain U+0000: cJSON ends strings at the first NUL, so "\u0000" escapes
 * are decoded through a marker and every string that holds one records its
 * true length (read it with ch_rpc_string_len). Returns NULL on invalid JSON
 * and sets *error_at to the byte offset where parsing stopped. Free the
 * result with cJSON_Delete. */
cJSON *ch_rpc_parse(const char *body, size_t len, size_t *error_at);
/* Byte length of a string value, counting NULs that ch_rpc_parse kept. */
size_t ch_rpc_string_len(const cJSON *item);
/* Appends s[0..len) as a JSON string literal (quotes included), escaping
 * quotes, backslashes and every control character (NUL as \u0000). Bytes
 * >= 0x80 are copied as they are. */
ch_status ch_rpc_append_json_string(ch_buf *out, const char *s, size_t len);
/* The same without the quotes, for a string written in pieces. */
ch_status ch_rpc_append_json_escaped(ch_buf *out, const char *s, size_t len);
/* Appends a framed response whose result is already serialised JSON. */
ch_status ch_rpc_write_raw_result(ch_buf *out, const cJSON *id,
                                  const char *result_json, size_t len);

/* Classifies msg. On CH_RPC_INVALID, *why says what is wrong. */
ch_rpc_kind ch_rpc_classify(const cJSON *msg, const char **why);

/* Appends a framed response with `result` (taken: freed by this call; NULL
 * means JSON null). `id` is borrowed and copied; NULL means id null. */
ch_status ch_rpc_write_result(ch_buf *out, const cJSON *id, cJSON *result);
/* Appends a framed error response. */
ch_status ch_rpc_write_error(ch_buf *out, const cJSON *id, int code,
                             const char *message);
/* The same with a `data` member (taken: freed by this call; NULL: none). */
ch_status ch_rpc_write_error_data(ch_buf *out, const cJSON *id, int code,
                                  const char *message, cJSON *data);
/* Appends a framed notification; params taken (NULL: none). */
ch_status ch_rpc_write_notification(ch_buf *out, const char *method,
                                    cJSON *params);
/* Appends a framed request from the server with a numeric id. */
ch_status ch_rpc_write_request(ch_buf *out, long id, const char *method,
                               cJSON *params);

/* Checked access to params. Each getter looks up `key` in `obj` (a JSON
 * object). On a type mismatch or a missing required field it writes a
 * message naming `path`.`key` into err (which must hold CH_RPC_ERR_MAX
 * bytes) and returns false; an absent optional field returns true and
 * leaves *out untouched. `path` is the dotted path of obj ("" for the
 * params root). Borrowed results point into obj. */
#define CH_RPC_ERR_MAX 256
typedef struct ch_rpc_err {
  char message[CH_RPC_ERR_MAX];
} ch_rpc_err;

bool ch_rpc_get_object(const cJSON *obj, const char *path, const char *key,
                       bool required, const cJSON **out, ch_rpc_err *err);
bool ch_rpc_get_array(const cJSON *obj, const char *path, const char *key,
                      bool required, const cJSON **out, ch_rpc_err *err);
bool ch_rpc_get_string(const cJSON *obj, const char *path, const char *key,
                       bool required, const char **out, ch_rpc_err *err);
/* Integers: JSON numbers with no fraction within [min, max]. */
bool ch_rpc_get_int(const cJSON *obj, const char *path, const char *key,
                    bool required, long long min, long long max,
                    long long *out, ch_rpc_err *err);
bool ch_rpc_get_bool(const cJSON *obj, const char *path, const char *key,
                     bool required, bool *out, ch_rpc_err *err);
/* Writes "path.key: what" into err; returns false for chaining. */
bool ch_rpc_fail(ch_rpc_err *err, const char *path, const char *key,
                 const char *what);

/* Whether two request ids are the same id (numbers by value, strings by
 * content; NULL or other types never match). */
bool ch_rpc_same_id(const cJSON *a, const cJSON *b);

#endif
