/*
 * chorus/models.h: language models behind one table of providers.
 *
 * A model is a named entry of the "models" config section: a provider
 * (openai, openai-chat, anthropic, ollama, llamacpp, mistral-fim, builtin),
 * an endpoint, a model id, a FIM template, an API key variable, limits and
 * deadlines. A provider is a table of function pointers (ch_provider); adding
 * one is one file under core/src/models/ and one entry in the table in
 * models.c.
 *
 * Guarantees:
 * - Everything runs on the loop thread (chorus/loop.h). HTTP providers put
 *   their transfers on the loop's curl multi handle; nothing blocks.
 * - ch_models_complete either returns an error and never calls its callback,
 *   or returns CH_OK and calls it exactly once, later, from the loop (never
 *   from inside ch_models_complete), unless ch_model_call_cancel is called
 *   first; after a cancel the callback is never called and the transfer is
 *   already aborted (its connection closed) when ch_model_call_cancel returns.
 * - The text handed to the callback has the model's stop strings cut off,
 *   also when a stop string arrived split across stream chunks.
 * - API keys are read from the environment variable the model names, at
 *   request time; they never appear in logs, error messages or results
 *   (a server echoing the key in an error body is redacted).
 *
 * Threads: a ch_models and its calls belong to the loop's thread.
 */
#ifndef CHORUS_MODELS_H
#define CHORUS_MODELS_H

#include <cjson/cJSON.h>

#include "chorus/http.h"
#include "chorus/loop.h"
#include "chorus/prompt.h"
#include "chorus/util.h"

typedef struct ch_index ch_index; /* chorus/index.h */

/* ---- configuration --------------------------------------------------------
 * One entry of the "models" array, as plain data. Parsed and validated by
 * ch_model_config_parse; owned strings are freed by ch_model_config_release. */
typedef struct ch_model_config {
  char *name;     /* unique, non-empty */
  char *provider; /* a name from the provider table */
  char *endpoint; /* base URL without a trailing slash; NULL for builtin */
  char *model;    /* model id sent to the server; NULL when not needed */
  char *fim;      /* a template family name ("qwen", "none", ...), or NULL */
  char *fim_template; /* custom template text ("fim": {"template"}) or NULL */
  char **fim_stops;   /* its stops; NULL-terminated, or NULL */
  char *api_key_env;  /* name of the environment variable, or NULL */
  bool remote;        /* default: true unless the endpoint host is loopback */
  uint32_t max_tokens; /* default 128 */
  double temperature;  /* default 0.2 */
  char **stop;         /* extra stop strings; NULL-terminated or NULL */
  bool suffix_field;   /* openai: send `suffix` (true) or render the template */
  bool has_suffix_field; /* set explicitly in the config */
  bool chat;           /* ollama: use /api/chat with a chat prompt */
  uint32_t connect_ms;     /* default 2000 */
  uint32_t first_byte_ms;  /* default 10000 */
  uint32_t total_ms;       /* default 30000 */
  size_t max_response_bytes; /* default 4 MiB */
} ch_model_config;

/* Defaults for every field; strings NULL. */
void ch_model_config_init(ch_model_config *self);
void ch_model_config_release(ch_model_config *self);
/* A deep copy of src into self (self need not be initialised). */
void ch_model_config_copy(ch_model_config *self, const ch_model_config *src);

/* Parses the "models" array `arr` (borrowed). Valid entries are appended to
 * *out / *nout (a ch_malloc'd array the caller releases with
 * ch_model_configs_free); each bad entry is reported as a line
 * "origin: models[i].field: what\n" in problems and skipped. Returns
 * CH_ERR_INVALID when anything was reported, else CH_OK. */
ch_status ch_model_config_parse(const cJSON *arr, const char *origin,
                                ch_model_config **out, size_t *nout,
                                ch_buf *problems);
void ch_model_configs_free(ch_model_config *configs, size_t n);

/* ---- results ------------------------------------------------------------ */

typedef enum ch_model_error {
  CH_MODEL_OK = 0,
  CH_MODEL_TIMEOUT,      /* a deadline passed: see ch_model_result.deadline */
  CH_MODEL_REFUSED,      /* connection refused (nothing listens) */
  CH_MODEL_HTTP,         /* HTTP status >= 400: http_status + server message */
  CH_MODEL_BAD_RESPONSE, /* not the API's shape: invalid JSON, cut stream */
  CH_MODEL_CANCELLED,    /* cancelled (only seen by `chorus complete`) */
  CH_MODEL_TOO_LARGE,    /* the reply passed max_response_bytes */
  CH_MODEL_SERVER,       /* an error the server reported inside the stream */
  CH_MODEL_NETWORK,      /* DNS, TLS, reset, ...: curl's message */
  CH_MODEL_CONFIG,       /* e.g. the API key variable is not set */
} ch_model_error;

typedef enum ch_model_deadline {
  CH_DEADLINE_NONE = 0,
  CH_DEADLINE_CONNECT,
  CH_DEADLINE_FIRST_BYTE,
  CH_DEADLINE_TOTAL,
} ch_model_deadline;

/* A short lowercase name: "timeout", "refused", "http", "bad response",
 * "cancelled", "too large", "server error", "network", "config". */
const char *ch_model_error_name(ch_model_error error);
const char *ch_model_deadline_name(ch_model_deadline deadline);

/* What a completion produced. Everything is borrowed for the duration of the
 * callback; copy what you keep. */
typedef struct ch_model_result {
  ch_model_error error;
  ch_model_deadline deadline; /* for CH_MODEL_TIMEOUT */
  long http_status;           /* last HTTP status, 0 when none */
  const char *message;        /* human message for an error, else "" */
  const char *text;           /* generated text, stops cut; "" on error */
  size_t len;
  const char *finish_reason;  /* "stop", "length", ... or "" when unknown */
  int64_t tokens_in;          /* -1 when not reported */
  int64_t tokens_out;         /* -1 when not reported */
  double first_byte_ms;       /* from the start to the first byte, or -1 */
  double total_ms;            /* from the start to the end */
  unsigned attempts;          /* HTTP attempts made (retries + 1) */
  const char *model;          /* the model's config name */
  const char *provider;       /* the provider's name */
  /* Providers that know where their answer comes from (builtin). */
  double confidence;          /* 0..1, or -1 when not reported */
  const char *provenance;     /* e.g. "src/a.c:12", or "" */
} ch_model_result;

/* ---- requests ----------------------------------------------------------- */

/* A file given to the model as context (repo-level FIM, infill extra):
 * {path, text, len}, the prompt module's type. */
typedef ch_prompt_file ch_model_file;

/* One completion request. All borrowed; ch_models_complete copies what it
 * keeps, so the caller may free them as soon as it returns. */
typedef struct ch_model_request {
  const char *path;     /* document path (absolute or workspace relative) */
  const char *language; /* e.g. "c", or NULL */
  const char *repo;     /* repository name for repo-level templates, or NULL */
  uint32_t cursor;      /* byte offset of the cursor in the document */
  const char *prefix;   /* the document before the cursor */
  size_t prefix_len;
  const char *suffix;   /* the document after the cursor; may be NULL */
  size_t suffix_len;
  const ch_model_file *files; /* other files as context; may be NULL */
  size_t nfiles;
  uint32_t max_tokens; /* 0: the model's */
} ch_model_request;

/* ---- the environment providers are created with ------------------------ */
typedef struct ch_models_env {
  ch_loop *loop;   /* borrowed; required */
  ch_index *index; /* borrowed; may be NULL (builtin then answers nothing) */
  /* Nothing else runs yet (a command line tool before its loop): providers
   * may take their time in model_init to be ready for the first request
   * (the builtin model builds from the index then, instead of in the
   * background). */
  bool blocking_init;
  /* Looks up an environment variable; NULL uses getenv. Tests inject keys. */
  const char *(*getenv)(const char *name, void *userdata);
  void *getenv_userdata;
} ch_models_env;

typedef struct ch_models ch_models;
typedef struct ch_model ch_model;
typedef struct ch_model_call ch_model_call;

/* Called once per call (see the guarantees above). `result` is borrowed.
 * The callback may start new calls, cancel others, or free the set. */
typedef void (*ch_model_cb)(void *userdata, const ch_model_result *result);

/* ---- the provider table ----------------------------------------------------
 * How an HTTP provider's request looks: filled by `build`. */
typedef enum ch_provider_stream {
  CH_STREAM_NONE = 0, /* the whole body is parsed at the end */
  CH_STREAM_SSE,
  CH_STREAM_NDJSON,
} ch_provider_stream;

typedef struct ch_provider_http {
  const char *method;  /* static string: "POST", "GET" */
  ch_buf path;         /* appended to the endpoint, e.g. "/v1/completions" */
  ch_buf body;         /* request body (JSON), empty for GET */
  ch_buf headers;      /* "Name: value\n" lines besides Content-Type */
  ch_provider_stream stream;
} ch_provider_http;

typedef struct ch_provider {
  const char *name;
  bool needs_endpoint; /* false only for builtin */
  /* Extra validation of a config entry; writes "field: what" into problem
   * and returns non-OK when wrong. May be NULL. */
  ch_status (*check)(const ch_model_config *config, ch_buf *problem);
  /* Per-model state, e.g. the builtin model's tables. May be NULL. */
  ch_status (*model_init)(ch_model *model, const ch_models_env *env);
  void (*model_release)(ch_model *model);

  /* HTTP providers. build fills out for one request (the key, when the model
   * has one, is passed in; put it only in headers). The parse functions feed
   * the call with ch_model_call_emit / _finish_reason / _usage / _fail.
   * Returning non-OK ends the stream (the call fails with what _fail set, or
   * bad response). */
  ch_status (*build)(const ch_model *model, const ch_model_request *request,
                     const char *api_key, ch_provider_http *out, ch_buf *error);
  ch_status (*parse_event)(ch_model_call *call, const char *event,
                           const char *data, size_t len);
  ch_status (*parse_body)(ch_model_call *call, const char *body, size_t len);
  /* The cheap health request of `chorus doctor` and its verdict. */
  ch_status (*health_build)(const ch_model *model, const char *api_key,
                            ch_provider_http *out);
  /* Given a 2xx body: CH_OK, or CH_ERR_NOT_FOUND when the model is not
   * served (message says so). May be NULL: any 2xx is fine. */
  ch_status (*health_parse)(const ch_model *model, const char *body,
                            size_t len, ch_buf *message);

  /* Runs once the stream ended well, before the result is delivered: e.g.
   * extracting the code from a chat reply (ch_model_call_text /
   * ch_model_call_set_text). May be NULL. */
  ch_status (*finish)(ch_model_call *call);

  /* Providers without HTTP (builtin): start answers through the call
   * (ch_model_call_emit..., then ch_model_call_done, now or later on the
   * loop); cancel undoes whatever start left pending. */
  ch_status (*start)(ch_model_call *call);
  void (*cancel)(ch_model_call *call);

  /* The index published a new snapshot (loop thread; several publications
   * between two loop turns are told once). May be NULL. */
  void (*index_changed)(ch_model *model);
} ch_provider;

/* The table, in order; NULL-terminated. */
extern const ch_provider *const ch_providers[];
/* The provider named `name`, or NULL. */
const ch_provider *ch_provider_find(const char *name);
/* "openai, openai-chat, ..." for error messages; static. */
const char *ch_provider_names(void);

/* Provider tables, one per file under core/src/models/. */
extern const ch_provider ch_provider_openai;
extern const ch_provider ch_provider_openai_chat;
extern const ch_provider ch_provider_anthropic;
extern const ch_provider ch_provider_ollama;
extern const ch_provider ch_provider_llamacpp;
extern const ch_provider ch_provider_mistral;
extern const ch_provider ch_provider_builtin;

/* ---- the set of models -------------------------------------------------- */

/* Models from configs (copied). Entries whose provider fails to initialise
 * are reported in problems (may be NULL) and left out. When no model is
 * left (n == 0 included) the set holds only the builtin model, named
 * "builtin". env is copied; returns NULL only without env->loop. */
ch_models *ch_models_new(const ch_models_env *env,
                         const ch_model_config *configs, size_t n,
                         ch_buf *problems);
/* Cancels calls still pending (no callbacks) and frees. NULL is a no-op. */
void ch_models_free(ch_models *self);

size_t ch_models_count(const ch_models *self);
ch_model *ch_models_at(ch_models *self, size_t i);
/* The model named name, or NULL. */
ch_model *ch_models_find(ch_models *self, const char *name);
/* Tells every model whose provider wants it that the index changed. */
void ch_models_index_changed(ch_models *self);
/* The first configured model (builtin when none is). */
ch_model *ch_models_default(ch_models *self);

/* Borrowed accessors of a model. */
const ch_model_config *ch_model_config_of(const ch_model *self);
const ch_provider *ch_model_provider(const ch_model *self);
const ch_models_env *ch_model_env(const ch_model *self);
/* The model's FIM template text rendering: renders prefix/suffix into out
 * with the configured template (family or custom). Used by providers. */
ch_status ch_model_render_fim(const ch_model *self,
                              const ch_model_request *request, ch_buf *out,
                              ch_buf *error);
/* All stop strings for this model: the template's and the config's.
 * NULL-terminated, borrowed for the model's life. */
const char *const *ch_model_stops(const ch_model *self);
/* Provider state set by model_init. */
void *ch_model_state(const ch_model *self);
void ch_model_set_state(ch_model *self, void *state);

/* Starts one completion (see the guarantees at the top). On CH_OK *call
 * (if not NULL) is a handle valid until the callback returns or until
 * ch_model_call_cancel. */
ch_status ch_models_complete(ch_models *self, ch_model *model,
                             const ch_model_request *request, ch_model_cb cb,
                             void *userdata, ch_model_call **call);
/* Aborts at once; the callback will not be called. NULL is a no-op. */
void ch_model_call_cancel(ch_model_call *call);

/* Replays a recorded 2xx response body through model's provider as if it
 * arrived in pieces of `chunk` bytes (0: whole), then delivers the result
 * to cb before returning: nothing touches the network. For tests and for
 * checking a captured stream. The request is what the answer belongs to
 * (chat providers use it to extract the code). */
ch_status ch_models_replay(ch_models *self, ch_model *model,
                           const ch_model_request *request, const char *body,
                           size_t len, size_t chunk, ch_model_cb cb,
                           void *userdata);
/* Builds the HTTP request the provider would send (method in out->method,
 * path, body, headers) without sending it; api_key may be NULL. For tests
 * and `--dry-run` style tools. out's buffers must be initialised. */
ch_status ch_models_build(ch_model *model, const ch_model_request *request,
                          const char *api_key, ch_provider_http *out,
                          ch_buf *error);

/* ---- for providers: feeding a call ------------------------------------- */
const ch_model_request *ch_model_call_request(const ch_model_call *self);
const ch_model *ch_model_call_model(const ch_model_call *self);
/* Appends generated text; stop strings are cut here. Returns CH_ERR_STATE
 * once a stop was seen (the rest is not needed), CH_ERR_TOO_LARGE past the
 * response limit. */
ch_status ch_model_call_emit(ch_model_call *self, const char *text,
                             size_t len);
/* Copies reason ("stop", "length", ...). */
void ch_model_call_finish_reason(ch_model_call *self, const char *reason);
/* Token counts; a negative value leaves the count unknown. */
void ch_model_call_usage(ch_model_call *self, int64_t in, int64_t out);
/* Marks the call failed (first failure wins); message is formatted and
 * redacted of the key. */
void ch_model_call_fail(ch_model_call *self, ch_model_error error,
                        const char *fmt, ...) CH_PRINTF(3, 4);
/* The answer is complete (text seen so far is final); the stream may stop. */
void ch_model_call_end(ch_model_call *self);
/* Provenance for builtin-like providers (copied). */
void ch_model_call_provenance(ch_model_call *self, double confidence,
                              const char *where);
/* For providers with `start`: a slot for their own state. */
void *ch_model_call_state(const ch_model_call *self);
void ch_model_call_set_state(ch_model_call *self, void *state);
/* For providers with `start`: delivers the result. Must be called exactly
 * once unless the call was cancelled; it may be called from inside start
 * (the callback is then deferred to the loop) or later on the loop. */
void ch_model_call_done(ch_model_call *self);

/* The text so far (borrowed until the next change), and replacing it. */
const char *ch_model_call_text(const ch_model_call *self, size_t *len);
void ch_model_call_set_text(ch_model_call *self, const char *text, size_t len);

/* ---- what a model is sent ----------------------------------------------
 * ch_model_prepare turns a document and a cursor into a request for one
 * model. A provider that sends text over the network gets the context
 * engine's budgeted snippets (chorus/context.h): the windows around the
 * cursor as prefix and suffix, every other snippet as a file (snippets of
 * one file merged, paths relative to the document's root), redacted by the
 * guard when the model is remote (or redactLocal is set). A provider that
 * sends nothing anywhere (builtin) gets the document as it is. */
typedef struct ch_snapshot ch_snapshot;
typedef struct ch_context_engine ch_context_engine;
typedef struct ch_guard ch_guard;
typedef struct ch_language ch_language;

typedef struct ch_model_prepare_input {
  const ch_snapshot *snapshot; /* required for providers that send text */
  ch_context_engine *engine;   /* required for providers that send text */
  const ch_guard *guard;       /* NULL: no path policy, no redaction */
  const char *path;            /* absolute path of the document */
  const ch_language *lang;     /* may be NULL */
  const char *text;            /* the document's current text */
  uint32_t len;
  uint32_t cursor;             /* byte offset into text */
  uint32_t budget;             /* tokens for the context; 0: 2048 */
  double prefix_ratio;         /* 0: the engine's default */
  /* Other open documents and recent edits in other files, for the
   * context's similar code and edit hunks; may be empty. */
  const struct ch_context_doc *docs;
  size_t ndocs;
  const struct ch_context_edit *edits;
  size_t nedits;
} ch_model_prepare_input;

/* What a prepared request points into; release it after ch_models_complete
 * returned (the request is copied there). */
typedef struct ch_model_prepared {
  struct ch_context *context; /* the context sent, or NULL (builtin) */
  ch_prompt_file *files;
  size_t nfiles;
  char *texts; /* the merged texts of files */
} ch_model_prepared;

/* Fills *request for `model` (pointers into `in` and *held). Returns
 * CH_ERR_STATE with a message in error when the guard denies the document
 * itself (nothing of it may reach a model), CH_ERR_INVALID for a missing
 * snapshot or engine or a cursor past the text. *held must be released
 * with ch_model_prepared_release whatever the result. */
ch_status ch_model_prepare(const ch_model *model,
                           const ch_model_prepare_input *in,
                           ch_model_request *request, ch_model_prepared *held,
                           ch_buf *error);
void ch_model_prepared_release(ch_model_prepared *self);

/* ---- health checks (`chorus doctor`) ------------------------------------ */
typedef enum ch_model_health_state {
  CH_HEALTH_OK = 0,
  CH_HEALTH_FAILED,        /* see error / http_status / message */
  CH_HEALTH_UNKNOWN_MODEL, /* the server answers but does not serve it */
  CH_HEALTH_LOADING,       /* llama.cpp: 503 while the model loads */
} ch_model_health_state;

typedef struct ch_model_health {
  ch_model_health_state state;
  ch_model_error error; /* for CH_HEALTH_FAILED */
  long http_status;
  const char *message;  /* plain words for a person; borrowed */
  double latency_ms;
} ch_model_health;

typedef void (*ch_model_health_cb)(void *userdata, const ch_model *model,
                                   const ch_model_health *health);
/* Checks one model with its provider's cheap request and a deadline of
 * timeout_ms; cb follows the same once-only rule as ch_models_complete.
 * Providers without a health check answer ok. */
ch_status ch_models_check(ch_models *self, ch_model *model,
                          uint32_t timeout_ms, ch_model_health_cb cb,
                          void *userdata);

/* ---- helpers shared by providers ---------------------------------------- */
/* Adds `field`: [stops...] (at most max, 0: all) to obj when there are any. */
void ch_model_json_add_stops(cJSON *obj, const char *field,
                             const char *const *stops, size_t max);
/* Prints obj (unformatted) into out. */
ch_status ch_model_json_print(const cJSON *obj, ch_buf *out);
/* The request path for an API route: when the endpoint already has a path
 * (".../v1", ".../beta") only `route` is appended, else `version` + route.
 * E.g. ("/v1", "/completions"). */
void ch_model_api_path(const ch_model *model, const char *version,
                       const char *route, ch_buf *out);
/* The prompt module's input for a request (pointers borrowed from it). */
void ch_model_prompt_input(const ch_model_request *request,
                           ch_prompt_input *out);
/* The message inside an API error body ({"error": {"message"}}, {"error":
 * "..."}, {"message"}, {"detail"}, or the text itself, shortened). */
void ch_model_error_text(const char *body, size_t len, ch_buf *out);
/* The maximum tokens for a request (request's, else the model's). */
uint32_t ch_model_max_tokens(const ch_model *model,
                             const ch_model_request *request);
/* OpenAI-shaped stream chunks, shared by openai, openai-chat and
 * mistral-fim: "[DONE]", choices[0].text or .delta.content, finish_reason,
 * usage, error. */
ch_status ch_provider_openai_parse_chunk(ch_model_call *call, const char *data,
                                         size_t len);
/* The same as a provider's parse_event (the event name is not used). */
ch_status ch_provider_openai_parse_event(ch_model_call *call, const char *event,
                                         const char *data, size_t len);
/* True when a model list body (OpenAI/Anthropic/Mistral "data": [{"id"}],
 * or Ollama "models": [{"name"}]) names model. */
bool ch_model_list_has(const char *body, size_t len, const char *model);
/* The class of a failed HTTP response, with a message for a person in
 * message (appended) and the deadline of a timeout; CH_MODEL_OK for a
 * response that ended well (or that the reader stopped). */
ch_model_error ch_model_classify(const ch_http_response *response,
                                 const char *endpoint,
                                 ch_model_deadline *deadline, ch_buf *message);
/* Normalises a provider's finish reason to "stop" / "length" where known. */
const char *ch_model_normal_finish(const char *reason);

/* The rest live in models/common.c: what several wire formats share. */

/* Appends "Authorization: Bearer <api_key>" to out->headers; nothing when
 * api_key is NULL. */
void ch_model_add_bearer(ch_provider_http *out, const char *api_key);
/* The request line of OpenAI-shaped APIs: POST to route under "/v1" (see
 * ch_model_api_path) with a bearer key, answered with server-sent events.
 * The body is the caller's. */
void ch_model_api_post(const ch_model *model, const char *route,
                       const char *api_key, ch_provider_http *out);
/* The prompt of APIs that take the suffix in a field of its own: the other
 * files as one block (ch_prompt_files_block), then the prefix. Appended to
 * out; CH_ERR_TOO_LARGE when out's maximum is passed. */
ch_status ch_model_prefix_prompt(const ch_model_request *request, ch_buf *out);
/* Renders the request's chat prompt (ch_prompt_chat, each part at most max
 * bytes) into obj: "messages": [system, user] with role and content, or,
 * with system_field, "system" (when not empty) and "messages": [user].
 * When the prompt does not fit, obj is left alone, error says so and the
 * prompt's status is returned. */
ch_status ch_model_json_add_chat(cJSON *obj, const ch_model_request *request,
                                 bool system_field, size_t max, ch_buf *error);
/* Parses one stream event or line (data, borrowed). NULL after failing the
 * call as a bad response that quotes the start of data; else a tree the
 * caller frees with cJSON_Delete. */
cJSON *ch_model_call_parse(ch_model_call *call, const char *data, size_t len);
/* Fails the call with the server's own words from an error chunk or body
 * (ch_model_error_text). Returns CH_ERR_STATE, which ends the stream. */
ch_status ch_model_call_fail_server(ch_model_call *call, const char *body,
                                    size_t len);
/* ch_model_call_emit of a piece of text in a JSON tree (borrowed, may be
 * NULL): CH_OK without emitting when it is not a string or is empty. */
ch_status ch_model_call_emit_json(ch_model_call *call, const cJSON *text);
/* Reports token counts from the numbers obj[in_field] and obj[out_field]
 * (obj borrowed, may be NULL); a missing or non-number field stays
 * unknown. */
void ch_model_call_usage_of(ch_model_call *call, const cJSON *obj,
                            const char *in_field, const char *out_field);
/* A `finish` for chat providers: replaces the reply with the code it holds
 * for the request's hole (ch_prompt_chat_answer). */
ch_status ch_model_chat_finish(ch_model_call *call);
/* A `health_build` for APIs that list their models: GET <version>/models
 * (see ch_model_api_path, version "/v1") with a bearer key. */
ch_status ch_model_health_models(const ch_model *model, const char *api_key,
                                 ch_provider_http *out);
/* A `health_parse` for a model list: CH_OK when the model has no id or the
 * list names it, else CH_ERR_NOT_FOUND with "the server does not list
 * '<id>'" appended to message. */
ch_status ch_model_health_listed(const ch_model *model, const char *body,
                                 size_t len, ch_buf *message);

#endif
