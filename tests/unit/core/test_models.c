/* Tests for core/src/models.c and core/src/models/: config validation, the
 * exact request each provider builds, stream parsing per provider from
 * canned bytes in every chunking, stop strings cut across chunks, and the
 * classification of broken answers. Nothing here touches the network:
 * answers are replayed through ch_models_replay. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "chorus/models.h"

/* ---- helpers ------------------------------------------------------------- */

static ch_loop *loop;

/* Models from a JSON array text; problems (may be NULL) collects reports. */
static ch_models *models_from(const char *json, ch_buf *problems) {
  cJSON *arr = cJSON_Parse(json);
  assert_non_null(arr);
  ch_model_config *configs = NULL;
  size_t n = 0;
  ch_model_config_parse(arr, "config.json", &configs, &n, problems);
  cJSON_Delete(arr);
  ch_models_env env = {.loop = loop};
  ch_models *m = ch_models_new(&env, configs, n, problems);
  ch_model_configs_free(configs, n);
  assert_non_null(m);
  return m;
}

static const char PREFIX[] = "int add(int a, int b) {\n  ";
static const char SUFFIX[] = "\n}\n";

static ch_model_request request(void) {
  ch_model_request r = {
      .path = "src/add.c",
      .language = "c",
      .prefix = PREFIX,
      .prefix_len = sizeof(PREFIX) - 1,
      .suffix = SUFFIX,
      .suffix_len = sizeof(SUFFIX) - 1,
  };
  return r;
}

typedef struct built {
  ch_provider_http http;
  ch_buf error;
} built;

static void build(ch_models *models, const char *name,
                  const ch_model_request *req, const char *key, built *b) {
  memset(b, 0, sizeof(*b));
  ch_buf_init(&b->http.path, 4096);
  ch_buf_init(&b->http.body, 1 << 20);
  ch_buf_init(&b->http.headers, 4096);
  ch_buf_init(&b->error, 1024);
  ch_model *m = ch_models_find(models, name);
  assert_non_null(m);
  assert_int_equal(ch_models_build(m, req, key, &b->http, &b->error), CH_OK);
}

static void built_release(built *b) {
  ch_buf_release(&b->http.path);
  ch_buf_release(&b->http.body);
  ch_buf_release(&b->http.headers);
  ch_buf_release(&b->error);
}

static const char *str(const ch_buf *b) { return b->data ? b->data : ""; }

/* The result of a replay, copied. */
typedef struct outcome {
  int calls;
  ch_model_error error;
  char text[4096];
  char message[1024];
  char finish[32];
  int64_t in, out;
} outcome;

static void on_result(void *userdata, const ch_model_result *r) {
  outcome *o = userdata;
  o->calls++;
  o->error = r->error;
  snprintf(o->text, sizeof(o->text), "%.*s", (int)r->len, r->text);
  snprintf(o->message, sizeof(o->message), "%s", r->message);
  snprintf(o->finish, sizeof(o->finish), "%s", r->finish_reason);
  o->in = r->tokens_in;
  o->out = r->tokens_out;
}

/* A replay that ended well, with this text, finish reason and usage. */
static void expect_answer(const outcome *o, const char *text,
                          const char *finish, int64_t in, int64_t out) {
  assert_int_equal(o->error, CH_MODEL_OK);
  assert_string_equal(o->text, text);
  assert_string_equal(o->finish, finish);
  assert_int_equal(o->in, in);
  assert_int_equal(o->out, out);
}

/* Replays body in every chunk size from 1 to 9 and whole; every run must
 * give the same outcome, which is returned. */
static outcome replay_all(ch_models *models, const char *name,
                          const char *body) {
  ch_model *m = ch_models_find(models, name);
  assert_non_null(m);
  ch_model_request req = request();
  outcome first;
  memset(&first, 0, sizeof(first));
  size_t len = strlen(body);
  for(size_t chunk = 0; chunk <= 9; chunk++) {
    outcome o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ch_models_replay(models, m, &req, body, len, chunk,
                                      on_result, &o),
                     CH_OK);
    assert_int_equal(o.calls, 1);
    if(chunk == 0) {
      first = o;
      continue;
    }
    assert_int_equal(o.error, first.error);
    assert_string_equal(o.text, first.text);
    assert_string_equal(o.finish, first.finish);
    assert_int_equal(o.in, first.in);
    assert_int_equal(o.out, first.out);
  }
  return first;
}

static const char ALL_MODELS[] =
    "[{\"name\": \"oa\", \"provider\": \"openai\", \"endpoint\": "
    "\"http://127.0.0.1:8000\", \"model\": \"m\", \"maxTokens\": 64},"
    " {\"name\": \"vllm\", \"provider\": \"openai\", \"endpoint\": "
    "\"http://127.0.0.1:8000/v1\", \"model\": \"m\", \"fim\": \"qwen\"},"
    " {\"name\": \"ds\", \"provider\": \"openai\", \"endpoint\": "
    "\"https://api.deepseek.com/beta\", \"model\": \"deepseek-coder\"},"
    " {\"name\": \"chat\", \"provider\": \"openai-chat\", \"endpoint\": "
    "\"http://127.0.0.1:8000\", \"model\": \"m\", \"stop\": [\"\\n\\n\\n\"]},"
    " {\"name\": \"an\", \"provider\": \"anthropic\", \"endpoint\": "
    "\"https://api.anthropic.com\", \"model\": \"claude\", \"maxTokens\": 32},"
    " {\"name\": \"ol\", \"provider\": \"ollama\", \"endpoint\": "
    "\"http://localhost:11434\", \"model\": \"qwen\", \"temperature\": 0},"
    " {\"name\": \"olraw\", \"provider\": \"ollama\", \"endpoint\": "
    "\"http://localhost:11434\", \"model\": \"sc\", \"fim\": \"starcoder\"},"
    " {\"name\": \"lc\", \"provider\": \"llamacpp\", \"endpoint\": "
    "\"http://127.0.0.1:8012\", \"maxTokens\": 16,"
    "  \"timeouts\": {\"totalMs\": 3000}},"
    " {\"name\": \"mi\", \"provider\": \"mistral-fim\", \"endpoint\": "
    "\"https://codestral.mistral.ai\", \"model\": \"codestral-latest\"}]";

/* ---- config -------------------------------------------------------------- */

static void test_config_defaults_and_remote(void **state) {
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  ch_models *models = models_from(ALL_MODELS, &problems);
  assert_string_equal(str(&problems), "");
  assert_int_equal(ch_models_count(models), 9);
  const ch_model_config *oa = ch_model_config_of(ch_models_find(models, "oa"));
  assert_false(oa->remote); /* loopback */
  assert_int_equal(oa->max_tokens, 64);
  assert_int_equal(oa->connect_ms, 2000);
  assert_int_equal(oa->first_byte_ms, 10000);
  assert_int_equal(oa->total_ms, 30000);
  assert_true(ch_model_config_of(ch_models_find(models, "an"))->remote);
  assert_false(ch_model_config_of(ch_models_find(models, "ol"))->remote);
  /* A default first-byte deadline follows a smaller explicit total. */
  const ch_model_config *lc = ch_model_config_of(ch_models_find(models, "lc"));
  assert_int_equal(lc->first_byte_ms, 3000);
  assert_ptr_equal(ch_models_default(models), ch_models_find(models, "oa"));
  ch_models_free(models);
  ch_buf_release(&problems);
}

static void test_config_each_mistake_reported_rest_loads(void **state) {
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  ch_models *models = models_from(
      "[{\"name\": \"good\", \"provider\": \"openai\", \"endpoint\": "
      "\"http://h:1/\"},"
      " {\"name\": \"a\", \"provider\": \"foo\", \"endpoint\": \"http://h\"},"
      " {\"name\": \"b\", \"provider\": \"openai\", \"endpoint\": \"ftp://h\"},"
      " {\"name\": \"c\", \"provider\": \"ollama\", \"endpoint\": "
      "\"http://h\"},"
      " {\"name\": \"d\", \"provider\": \"openai\", \"endpoint\": \"http://h\","
      "  \"fim\": \"nonsense\"},"
      " {\"name\": \"e\", \"provider\": \"openai\", \"endpoint\": \"http://h\","
      "  \"temperature\": 3, \"maxTokens\": 1.5, \"stop\": [\"\"]},"
      " {\"name\": \"f\", \"provider\": \"openai\", \"endpoint\": \"http://h\","
      "  \"timeouts\": {\"connectMs\": 0, \"bogus\": 1}, \"apiKeyEnv\": "
      "\"1X\"},"
      " {\"name\": \"good\", \"provider\": \"openai\", \"endpoint\": "
      "\"http://h\"},"
      " {\"provider\": \"openai\", \"endpoint\": \"http://h\", \"typo\": 1},"
      " {\"name\": \"g\", \"provider\": \"openai\", \"endpoint\": \"http://h\","
      "  \"fim\": {\"template\": \"{prefix} only\"}},"
      " 7,"
      " {\"name\": \"h\", \"provider\": \"openai\"},"
      " {\"name\": \"i\", \"provider\": \"openai\", \"endpoint\": \"http://h\","
      "  \"timeouts\": {\"firstByteMs\": 5000, \"totalMs\": 100}},"
      " {\"name\": \"ok2\", \"provider\": \"llamacpp\", \"endpoint\": "
      "\"http://h\", \"fim\": {\"template\": \"<a>{prefix}<b>{suffix}<c>\","
      "  \"stops\": [\"<d>\"]}, \"remote\": true}]",
      &problems);
  const char *p = str(&problems);
  static const char *const expected[] = {
      "config.json: models[1].provider: unknown provider 'foo' (known: "
      "openai, openai-chat, anthropic, ollama, llamacpp, mistral-fim, "
      "builtin)\n",
      "config.json: models[2].endpoint: expected an http:// or https:// URL\n",
      "config.json: models[3]: model: required by the ollama provider\n",
      "config.json: models[4].fim: ",
      "config.json: models[5].temperature: expected a number from 0 to 2\n",
      "config.json: models[5].maxTokens: expected a whole number",
      "config.json: models[5].stop: element 0: expected a non-empty string\n",
      "config.json: models[6].timeouts.connectMs: expected a whole number",
      "config.json: models[6].timeouts.bogus: unknown field",
      "config.json: models[6].apiKeyEnv: expected the name of an environment "
      "variable\n",
      "config.json: models[7].name: 'good' is already the name of another "
      "model\n",
      "config.json: models[8].typo: unknown field\n",
      "config.json: models[8].name: missing\n",
      "config.json: models[9].fim.template: ",
      "config.json: models[10]: expected an object\n",
      "config.json: models[11].endpoint: missing (the openai provider talks "
      "to a server)\n",
      "config.json: models[12].timeouts.firstByteMs: must not exceed totalMs "
      "(100)\n",
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(expected); i++) {
    if(!strstr(p, expected[i]))
      fail_msg("missing problem '%s' in:\n%s", expected[i], p);
  }
  assert_int_equal(ch_models_count(models), 2);
  const ch_model_config *good =
      ch_model_config_of(ch_models_find(models, "good"));
  assert_string_equal(good->endpoint, "http://h:1"); /* trailing / dropped */
  const ch_model *ok2 = ch_models_find(models, "ok2");
  assert_non_null(ok2);
  assert_true(ch_model_config_of(ok2)->remote);
  const char *const *stops = ch_model_stops(ok2);
  assert_string_equal(stops[0], "<d>");
  ch_models_free(models);
  ch_buf_release(&problems);
}

static void test_config_not_an_array(void **state) {
  ch_buf problems;
  ch_buf_init(&problems, 1024);
  cJSON *obj = cJSON_Parse("{\"name\": \"x\"}");
  ch_model_config *c = NULL;
  size_t n = 0;
  assert_int_equal(ch_model_config_parse(obj, "f.json", &c, &n, &problems),
                   CH_ERR_INVALID);
  assert_string_equal(str(&problems),
                      "f.json: models: expected an array of models\n");
  assert_int_equal(n, 0);
  cJSON_Delete(obj);
  ch_buf_release(&problems);
}

static void test_no_models_means_builtin_or_nothing(void **state) {
  ch_models_env env = {.loop = loop};
  ch_models *models = ch_models_new(&env, NULL, 0, NULL);
  /* The builtin model is the default when the build has it. */
  if(ch_provider_find("builtin")) {
    assert_int_equal(ch_models_count(models), 1);
    assert_string_equal(ch_model_config_of(ch_models_default(models))->name,
                        "builtin");
  } else {
    assert_int_equal(ch_models_count(models), 0);
    assert_null(ch_models_default(models));
  }
  ch_models_free(models);
}

/* ---- request building ---------------------------------------------------- */

static void test_build_openai_suffix(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  ch_model_request req = request();
  built b;
  build(models, "oa", &req, "sk-1", &b);
  assert_string_equal(b.http.method, "POST");
  assert_string_equal(str(&b.http.path), "/v1/completions");
  assert_string_equal(str(&b.http.headers), "Authorization: Bearer sk-1\n");
  assert_int_equal(b.http.stream, CH_STREAM_SSE);
  assert_string_equal(
      str(&b.http.body),
      "{\"model\":\"m\",\"prompt\":\"int add(int a, int b) {\\n  \","
      "\"suffix\":\"\\n}\\n\",\"max_tokens\":64,\"temperature\":0.2,"
      "\"stream\":true}");
  built_release(&b);
  /* No key, no header; the request's own token limit wins. */
  req.max_tokens = 7;
  build(models, "oa", &req, NULL, &b);
  assert_string_equal(str(&b.http.headers), "");
  assert_non_null(strstr(str(&b.http.body), "\"max_tokens\":7,"));
  built_release(&b);
  ch_models_free(models);
}

static void test_build_openai_template_and_deepseek(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  ch_model_request req = request();
  built b;
  build(models, "vllm", &req, NULL, &b);
  assert_string_equal(str(&b.http.path), "/completions"); /* endpoint has /v1 */
  cJSON *j = cJSON_Parse(str(&b.http.body));
  assert_string_equal(
      cJSON_GetObjectItem(j, "prompt")->valuestring,
      "<|fim_prefix|>int add(int a, int b) {\n  <|fim_suffix|>\n}\n"
      "<|fim_middle|>");
  assert_null(cJSON_GetObjectItem(j, "suffix"));
  const cJSON *stop = cJSON_GetObjectItem(j, "stop");
  assert_int_equal(cJSON_GetArraySize(stop), 4); /* the API's limit */
  assert_string_equal(cJSON_GetArrayItem(stop, 0)->valuestring,
                      "<|endoftext|>");
  cJSON_Delete(j);
  built_release(&b);

  build(models, "ds", &req, "k", &b);
  assert_string_equal(str(&b.http.path), "/completions");
  assert_non_null(strstr(str(&b.http.body), "\"suffix\":\"\\n}\\n\""));
  built_release(&b);
  ch_models_free(models);
}

static void test_build_chat_and_anthropic(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  ch_model_request req = request();
  built b;
  build(models, "chat", &req, "k", &b);
  assert_string_equal(str(&b.http.path), "/v1/chat/completions");
  cJSON *j = cJSON_Parse(str(&b.http.body));
  const cJSON *msgs = cJSON_GetObjectItem(j, "messages");
  assert_int_equal(cJSON_GetArraySize(msgs), 2);
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "role")->valuestring,
      "system");
  const char *user =
      cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")->valuestring;
  assert_non_null(strstr(user, CH_PROMPT_HOLE));
  assert_non_null(strstr(user, "int add(int a, int b) {"));
  assert_string_equal(
      cJSON_GetArrayItem(cJSON_GetObjectItem(j, "stop"), 0)->valuestring,
      "\n\n\n");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
  assert_int_equal(cJSON_GetObjectItem(j, "max_completion_tokens")->valueint,
                   128);
  assert_null(cJSON_GetObjectItem(j, "max_tokens"));
  cJSON_Delete(j);
  built_release(&b);

  build(models, "an", &req, "sk-ant", &b);
  assert_string_equal(str(&b.http.path), "/v1/messages");
  assert_string_equal(str(&b.http.headers),
                      "x-api-key: sk-ant\nanthropic-version: 2023-06-01\n");
  j = cJSON_Parse(str(&b.http.body));
  assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "claude");
  assert_int_equal(cJSON_GetObjectItem(j, "max_tokens")->valueint, 32);
  assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "system")));
  msgs = cJSON_GetObjectItem(j, "messages");
  assert_int_equal(cJSON_GetArraySize(msgs), 1);
  assert_null(cJSON_GetObjectItem(j, "stop_sequences"));
  cJSON_Delete(j);
  built_release(&b);
  ch_models_free(models);
}

static void test_build_ollama(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  ch_model_request req = request();
  built b;
  build(models, "ol", &req, NULL, &b);
  assert_string_equal(str(&b.http.path), "/api/generate");
  assert_int_equal(b.http.stream, CH_STREAM_NDJSON);
  assert_string_equal(
      str(&b.http.body),
      "{\"model\":\"qwen\",\"prompt\":\"int add(int a, int b) {\\n  \","
      "\"suffix\":\"\\n}\\n\",\"stream\":true,\"options\":{\"num_predict\":"
      "128,\"temperature\":0}}");
  built_release(&b);
  build(models, "olraw", &req, NULL, &b);
  assert_string_equal(
      str(&b.http.body),
      "{\"model\":\"sc\",\"prompt\":\"<fim_prefix>int add(int a, int b) "
      "{\\n  <fim_suffix>\\n}\\n<fim_middle>\",\"raw\":true,\"stream\":true,"
      "\"options\":{\"num_predict\":128,\"temperature\":0.2,\"stop\":["
      "\"<file_sep>\",\"<|endoftext|>\"]}}");
  built_release(&b);
  ch_models_free(models);
}

static void test_build_llamacpp_and_mistral(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  ch_model_request req = request();
  ch_model_file files[] = {{"lib/util.h", "int util(void);\n", 16}};
  req.files = files;
  req.nfiles = 1;
  built b;
  build(models, "lc", &req, NULL, &b);
  assert_string_equal(str(&b.http.path), "/infill");
  assert_string_equal(
      str(&b.http.body),
      "{\"input_prefix\":\"int add(int a, int b) {\\n  \",\"input_suffix\":"
      "\"\\n}\\n\",\"input_extra\":[{\"filename\":\"lib/util.h\",\"text\":"
      "\"int util(void);\\n\"}],\"prompt\":\"\",\"n_predict\":16,"
      "\"temperature\":0.2,\"cache_prompt\":true,\"t_max_predict_ms\":1500,"
      "\"stream\":true}");
  built_release(&b);
  /* Nothing after the cursor: plain /completion. */
  req.suffix = NULL;
  req.suffix_len = 0;
  req.nfiles = 0;
  build(models, "lc", &req, NULL, &b);
  assert_string_equal(str(&b.http.path), "/completion");
  assert_non_null(strstr(str(&b.http.body),
                         "\"prompt\":\"int add(int a, int b) {\\n  \""));
  built_release(&b);

  req = request();
  build(models, "mi", &req, "mk", &b);
  assert_string_equal(str(&b.http.path), "/v1/fim/completions");
  assert_string_equal(str(&b.http.headers), "Authorization: Bearer mk\n");
  assert_string_equal(
      str(&b.http.body),
      "{\"model\":\"codestral-latest\",\"prompt\":\"int add(int a, int b) "
      "{\\n  \",\"suffix\":\"\\n}\\n\",\"max_tokens\":128,\"temperature\":0.2,"
      "\"stream\":true}");
  built_release(&b);
  ch_models_free(models);
}

/* ---- stream parsing ------------------------------------------------------ */

static void test_parse_openai_sse(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  outcome o = replay_all(
      models, "oa",
      ": keep-alive\r\n\r\n"
      "data: "
      "{\"choices\":[{\"text\":\"return\",\"finish_reason\":null}]}\r\n\r\n"
      "data: {\"choices\":[{\"text\":\" a + b;\",\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
      "\"completion_tokens\":3}}\n\n"
      "data: [DONE]\n\n");
  expect_answer(&o, "return a + b;", "length", 9, 3);
  ch_models_free(models);
}

static void test_parse_chat_extracts_code(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  outcome o = replay_all(
      models, "chat",
      "data: "
      "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}"
      "\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"```c\\nreturn a\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\" + b;\\n```\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n");
  assert_int_equal(o.error, CH_MODEL_OK);
  assert_string_equal(o.text, "return a + b;");
  ch_models_free(models);
}

static void test_parse_anthropic_events(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  static const char ok[] =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
      "{\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\","
      "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
      "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"return "
      "a\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
      "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" + b;\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
      "\"index\":0}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
      "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  outcome o = replay_all(models, "an", ok);
  expect_answer(&o, "return a + b;", "stop", 12, 5);

  o = replay_all(models, "an",
                 "event: message_start\ndata: {\"type\":\"message_start\","
                 "\"message\":{}}\n\n"
                 "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                 "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
  assert_int_equal(o.error, CH_MODEL_SERVER);
  assert_string_equal(o.message, "the server reported: Overloaded");
  ch_models_free(models);
}

static void test_parse_ollama_ndjson(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  outcome o = replay_all(
      models, "ol",
      "{\"response\":\"return\",\"done\":false}\r\n"
      "{\"response\":\" a + b;\",\"done\":false}\n\n"
      "{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\","
      "\"prompt_eval_count\":20,\"eval_count\":4}\n");
  expect_answer(&o, "return a + b;", "stop", 20, 4);
  o = replay_all(models, "ol",
                 "{\"response\":\"ret\",\"done\":false}\n"
                 "{\"error\":\"model ran out of memory\"}\n");
  assert_int_equal(o.error, CH_MODEL_SERVER);
  assert_string_equal(o.message,
                      "the server reported: model ran out of memory");
  ch_models_free(models);
}

static void test_parse_llamacpp_and_mistral(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  outcome o = replay_all(
      models, "lc",
      "data: {\"content\":\"return a\",\"stop\":false}\n\n"
      "data: {\"content\":\" + b;\",\"stop\":false}\n\n"
      "data: {\"content\":\"\",\"stop\":true,\"stop_type\":\"limit\","
      "\"timings\":{\"prompt_n\":30,\"predicted_n\":16}}\n\n");
  expect_answer(&o, "return a + b;", "length", 30, 16);
  o = replay_all(
      models, "mi",
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x = 1\"},"
      "\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},"
      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
      "\"completion_tokens\":2}}\n\n"
      "data: [DONE]\n\n");
  assert_int_equal(o.error, CH_MODEL_OK);
  assert_string_equal(o.text, "x = 1");
  assert_int_equal(o.out, 2);
  ch_models_free(models);
}

static void test_stop_cut_across_chunks(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  /* The stop string is split across two events, and every chunking splits
   * those events again. */
  outcome o = replay_all(
      models, "vllm",
      "data: {\"choices\":[{\"text\":\"return a + b;<|endof\"}]}\n\n"
      "data: {\"choices\":[{\"text\":\"text|>int main\"}]}\n\n"
      "data: {\"choices\":[{\"text\":\"(void)\"}]}\n\n"
      "data: [DONE]\n\n");
  assert_int_equal(o.error, CH_MODEL_OK);
  assert_string_equal(o.text, "return a + b;");
  assert_string_equal(o.finish, "stop");
  /* A stop seen before the end marker ends the answer: no end needed. */
  o = replay_all(models, "vllm",
                 "data: {\"choices\":[{\"text\":\"x<|file_sep|>y\"}]}\n\n");
  assert_int_equal(o.error, CH_MODEL_OK);
  assert_string_equal(o.text, "x");
  /* Text that only looks like the start of a stop is kept. */
  o = replay_all(models, "vllm",
                 "data: {\"choices\":[{\"text\":\"a <|endof\"}]}\n\n"
                 "data: [DONE]\n\n");
  assert_string_equal(o.text, "a <|endof");
  ch_models_free(models);
}

static void test_broken_answers_classified(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  /* No end marker: the stream was cut. */
  outcome o = replay_all(models, "oa",
                         "data: {\"choices\":[{\"text\":\"ret\"}]}\n\n");
  assert_int_equal(o.error, CH_MODEL_BAD_RESPONSE);
  assert_non_null(strstr(o.message, "ended before the model finished"));
  o = replay_all(models, "oa", "data: {\"choices\":[{\"text\":\"ret\"\n\n");
  assert_int_equal(o.error, CH_MODEL_BAD_RESPONSE);
  assert_non_null(strstr(o.message, "invalid JSON"));
  o = replay_all(models, "oa", "data: {\"error\":{\"message\":\"boom\"}}\n\n");
  assert_int_equal(o.error, CH_MODEL_SERVER);
  assert_string_equal(o.message, "the server reported: boom");
  o = replay_all(models, "ol", "{\"response\":\"x\"}\n");
  assert_int_equal(o.error, CH_MODEL_BAD_RESPONSE);
  o = replay_all(models, "oa", "");
  assert_int_equal(o.error, CH_MODEL_BAD_RESPONSE);
  ch_models_free(models);
}

static void test_answer_too_large(void **state) {
  ch_models *models = models_from(
      "[{\"name\": \"small\", \"provider\": \"openai\", \"endpoint\": "
      "\"http://h\", \"maxResponseBytes\": 1024}]",
      NULL);
  ch_buf body;
  ch_buf_init(&body, 1 << 20);
  for(int i = 0; i < 100; i++)
    ch_buf_append_str(&body, "data: {\"choices\":[{\"text\":\"0123456789"
                             "0123456789\"}]}\n\n");
  ch_model_request req = request();
  outcome o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(ch_models_replay(models, ch_models_find(models, "small"),
                                    &req, body.data, body.len, 100, on_result,
                                    &o),
                   CH_OK);
  assert_int_equal(o.error, CH_MODEL_TOO_LARGE);
  assert_non_null(strstr(o.message, "1024 bytes"));
  ch_buf_release(&body);
  ch_models_free(models);
}

static void test_garbage_and_truncations_never_crash(void **state) {
  /* Every prefix of a valid stream, and random bytes, through every
   * provider: one result each, never a crash (the sanitizer build checks
   * the memory side). */
  ch_models *models = models_from(ALL_MODELS, NULL);
  static const char valid[] =
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n"
      "data: {\"choices\":[{\"text\":\"b\",\"delta\":{\"content\":\"c\"}}]}\n\n"
      "{\"response\":\"d\",\"done\":false}\n"
      "data: {\"content\":\"e\",\"stop\":true}\n\n"
      "data: [DONE]\n\n";
  ch_model_request req = request();
  uint64_t seed = 42;
  char noise[512];
  for(size_t m = 0; m < ch_models_count(models); m++) {
    ch_model *model = ch_models_at(models, m);
    if(!ch_model_provider(model)->build) continue;
    for(size_t cut = 0; cut <= sizeof(valid) - 1; cut += 7) {
      outcome o;
      memset(&o, 0, sizeof(o));
      assert_int_equal(ch_models_replay(models, model, &req, valid, cut,
                                        1 + cut % 5, on_result, &o),
                       CH_OK);
      assert_int_equal(o.calls, 1);
    }
    for(int round = 0; round < 50; round++) {
      for(size_t i = 0; i < sizeof(noise); i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        /* Mostly the characters streams are made of. */
        static const char alphabet[] = "data: {}[]\":,\n\r\\event";
        noise[i] = (seed >> 60) < 12
                       ? alphabet[(seed >> 33) % (sizeof(alphabet) - 1)]
                       : (char)(seed >> 40);
      }
      outcome o;
      memset(&o, 0, sizeof(o));
      assert_int_equal(ch_models_replay(models, model, &req, noise,
                                        sizeof(noise), 1 + round % 9,
                                        on_result, &o),
                       CH_OK);
      assert_int_equal(o.calls, 1);
    }
  }
  ch_models_free(models);
}

/* ---- helpers shared by providers ----------------------------------------- */

static void test_error_text_shapes(void **state) {
  static const struct {
    const char *body, *want;
  } cases[] = {
      {"{\"error\":{\"message\":\"bad key\",\"type\":\"x\"}}", "bad key"},
      {"{\"error\":\"model 'q' not found\"}", "model 'q' not found"},
      {"{\"object\":\"error\",\"message\":\"too long\"}", "too long"},
      {"{\"detail\":\"Not Found\"}", "Not Found"},
      {"  plain text failure\n", "plain text failure"},
      {"", ""},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    ch_buf out;
    ch_buf_init(&out, 1024);
    ch_model_error_text(cases[i].body, strlen(cases[i].body), &out);
    assert_string_equal(str(&out), cases[i].want);
    ch_buf_release(&out);
  }
  /* Long bodies are shortened. */
  char big[1000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  ch_buf out;
  ch_buf_init(&out, 4096);
  ch_model_error_text(big, strlen(big), &out);
  assert_int_equal(out.len, 303);
  ch_buf_release(&out);
}

static void test_classify_http_failures(void **state) {
  static const struct {
    ch_http_response r;
    ch_model_error want;
    ch_model_deadline deadline;
    const char *message;
  } cases[] = {
      {{.error = CH_HTTP_OK}, CH_MODEL_OK, CH_DEADLINE_NONE, ""},
      {{.error = CH_HTTP_ABORTED, .bytes = 10}, CH_MODEL_OK, CH_DEADLINE_NONE,
       ""},
      {{.error = CH_HTTP_TIMEOUT, .deadline = CH_HTTP_DEADLINE_CONNECT,
        .message = "the connect deadline passed"},
       CH_MODEL_TIMEOUT, CH_DEADLINE_CONNECT, "the connect deadline passed"},
      {{.error = CH_HTTP_TIMEOUT, .deadline = CH_HTTP_DEADLINE_FIRST_BYTE,
        .message = "m"},
       CH_MODEL_TIMEOUT, CH_DEADLINE_FIRST_BYTE, "m"},
      {{.error = CH_HTTP_TIMEOUT, .deadline = CH_HTTP_DEADLINE_TOTAL,
        .message = "m"},
       CH_MODEL_TIMEOUT, CH_DEADLINE_TOTAL, "m"},
      {{.error = CH_HTTP_REFUSED, .message = "connection refused: x"},
       CH_MODEL_REFUSED, CH_DEADLINE_NONE,
       "connection refused: x (http://h:1)"},
      {{.error = CH_HTTP_STATUS, .status = 503,
        .error_body = "{\"error\":{\"message\":\"Loading model\"}}",
        .error_body_len = 37},
       CH_MODEL_HTTP, CH_DEADLINE_NONE, "HTTP 503: Loading model"},
      {{.error = CH_HTTP_STATUS, .status = 404, .error_body = "",
        .error_body_len = 0},
       CH_MODEL_HTTP, CH_DEADLINE_NONE, "HTTP 404"},
      {{.error = CH_HTTP_TOO_LARGE, .message = "past 10 bytes"},
       CH_MODEL_TOO_LARGE, CH_DEADLINE_NONE, "past 10 bytes"},
      {{.error = CH_HTTP_TLS, .message = "TLS failure: bad cert"},
       CH_MODEL_NETWORK, CH_DEADLINE_NONE, "TLS failure: bad cert"},
      {{.error = CH_HTTP_NETWORK, .message = "reset"}, CH_MODEL_NETWORK,
       CH_DEADLINE_NONE, "reset"},
      {{.error = CH_HTTP_NETWORK, .bytes = 42, .message = "reset"},
       CH_MODEL_BAD_RESPONSE, CH_DEADLINE_NONE,
       "the stream was cut after 42 bytes: reset"},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    ch_buf msg;
    ch_buf_init(&msg, 1024);
    ch_model_deadline d = CH_DEADLINE_TOTAL;
    assert_int_equal(ch_model_classify(&cases[i].r, "http://h:1", &d, &msg),
                     cases[i].want);
    assert_int_equal(d, cases[i].deadline);
    assert_string_equal(str(&msg), cases[i].message);
    ch_buf_release(&msg);
  }
}

static void test_model_lists(void **state) {
  static const char openai[] =
      "{\"object\":\"list\",\"data\":[{\"id\":\"a\"},{\"id\":\"qwen\"}]}";
  static const char ollama[] =
      "{\"models\":[{\"name\":\"qwen:latest\",\"model\":\"qwen:latest\"},"
      "{\"name\":\"sc:3b\"}]}";
  assert_true(ch_model_list_has(openai, strlen(openai), "qwen"));
  assert_false(ch_model_list_has(openai, strlen(openai), "qwe"));
  assert_true(ch_model_list_has(ollama, strlen(ollama), "qwen"));
  assert_true(ch_model_list_has(ollama, strlen(ollama), "sc:3b"));
  assert_false(ch_model_list_has(ollama, strlen(ollama), "sc"));
  assert_false(ch_model_list_has("nonsense", 8, "qwen"));
  assert_string_equal(ch_model_normal_finish("end_turn"), "stop");
  assert_string_equal(ch_model_normal_finish("max_tokens"), "length");
  assert_string_equal(ch_model_normal_finish("content_filter"),
                      "content_filter");
}

/* ---- health checks ------------------------------------------------------- */

/* The health request of model `name` in b (release with built_release). */
static void build_health(ch_models *models, const char *name, const char *key,
                         built *b) {
  memset(b, 0, sizeof(*b));
  ch_buf_init(&b->http.path, 4096);
  ch_buf_init(&b->http.body, 4096);
  ch_buf_init(&b->http.headers, 4096);
  ch_buf_init(&b->error, 1024);
  ch_model *m = ch_models_find(models, name);
  assert_non_null(m);
  assert_int_equal(ch_model_provider(m)->health_build(m, key, &b->http), CH_OK);
  assert_int_equal(b->http.body.len, 0);
}

/* The verdict of model `name`'s provider on a model list body, with its
 * message in message (initialised here; the caller releases it). */
static ch_status health_verdict(ch_models *models, const char *name,
                                const char *body, ch_buf *message) {
  ch_model *m = ch_models_find(models, name);
  assert_non_null(m);
  ch_buf_init(message, 1024);
  return ch_model_provider(m)->health_parse(m, body, strlen(body), message);
}

static void test_health_requests(void **state) {
  ch_models *models = models_from(ALL_MODELS, NULL);
  built b;
  build_health(models, "oa", "sk-1", &b);
  assert_string_equal(b.http.method, "GET");
  assert_string_equal(str(&b.http.path), "/v1/models");
  assert_string_equal(str(&b.http.headers), "Authorization: Bearer sk-1\n");
  built_release(&b);
  /* The endpoint already ends in /v1; no key, no header. */
  build_health(models, "vllm", NULL, &b);
  assert_string_equal(str(&b.http.path), "/models");
  assert_string_equal(str(&b.http.headers), "");
  built_release(&b);
  build_health(models, "chat", "k", &b);
  assert_string_equal(str(&b.http.path), "/v1/models");
  assert_string_equal(str(&b.http.headers), "Authorization: Bearer k\n");
  built_release(&b);
  build_health(models, "mi", "mk", &b);
  assert_string_equal(str(&b.http.path), "/v1/models");
  assert_string_equal(str(&b.http.headers), "Authorization: Bearer mk\n");
  built_release(&b);
  build_health(models, "an", "sk-ant", &b);
  assert_string_equal(b.http.method, "GET");
  assert_string_equal(str(&b.http.path), "/v1/models");
  assert_string_equal(str(&b.http.headers),
                      "x-api-key: sk-ant\nanthropic-version: 2023-06-01\n");
  built_release(&b);
  build_health(models, "ol", "proxy", &b);
  assert_string_equal(b.http.method, "GET");
  assert_string_equal(str(&b.http.path), "/api/tags");
  assert_string_equal(str(&b.http.headers), "Authorization: Bearer proxy\n");
  built_release(&b);
  build_health(models, "lc", NULL, &b);
  assert_string_equal(b.http.method, "GET");
  assert_string_equal(str(&b.http.path), "/health");
  assert_string_equal(str(&b.http.headers), "");
  built_release(&b);
  /* llama.cpp's /health says all there is: any 2xx is fine. */
  assert_null(ch_model_provider(ch_models_find(models, "lc"))->health_parse);
  ch_models_free(models);
}

static void test_health_verdicts(void **state) {
  static const char listed[] = "{\"data\":[{\"id\":\"m\"},{\"id\":\"claude\"},"
                               "{\"id\":\"codestral-latest\"}]}";
  static const char empty[] = "{\"data\":[]}";
  ch_models *models = models_from(
      "[{\"name\": \"alias\", \"provider\": \"anthropic\", \"endpoint\": "
      "\"https://api.anthropic.com\", \"model\": \"claude-3-5-haiku-latest\"},"
      " {\"name\": \"noid\", \"provider\": \"openai\", \"endpoint\": "
      "\"http://127.0.0.1:8000\"}]",
      NULL);
  ch_models *all = models_from(ALL_MODELS, NULL);
  ch_buf msg;
  const char *const served[] = {"oa", "chat", "an", "mi"};
  for(size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
    assert_int_equal(health_verdict(all, served[i], listed, &msg), CH_OK);
    assert_string_equal(str(&msg), "");
    ch_buf_release(&msg);
  }
  assert_int_equal(health_verdict(all, "oa", empty, &msg), CH_ERR_NOT_FOUND);
  assert_string_equal(str(&msg), "the server does not list 'm'");
  ch_buf_release(&msg);
  assert_int_equal(health_verdict(all, "chat", empty, &msg), CH_ERR_NOT_FOUND);
  assert_string_equal(str(&msg), "the server does not list 'm'");
  ch_buf_release(&msg);
  assert_int_equal(health_verdict(all, "an", empty, &msg), CH_ERR_NOT_FOUND);
  assert_string_equal(str(&msg), "the server does not list 'claude'");
  ch_buf_release(&msg);
  /* Mistral lists its aliases; only Anthropic's are taken unlisted. */
  assert_int_equal(health_verdict(all, "mi", empty, &msg), CH_ERR_NOT_FOUND);
  assert_string_equal(str(&msg), "the server does not list 'codestral-latest'");
  ch_buf_release(&msg);
  assert_int_equal(health_verdict(models, "alias", empty, &msg), CH_OK);
  ch_buf_release(&msg);
  /* Without a model id there is nothing to look for. */
  assert_int_equal(health_verdict(models, "noid", empty, &msg), CH_OK);
  ch_buf_release(&msg);
  assert_int_equal(health_verdict(all, "ol",
                                  "{\"models\":[{\"name\":\"sc:latest\"}]}",
                                  &msg),
                   CH_ERR_NOT_FOUND);
  assert_string_equal(str(&msg), "'qwen' is not pulled (ollama pull qwen)");
  ch_buf_release(&msg);
  assert_int_equal(health_verdict(all, "ol",
                                  "{\"models\":[{\"name\":\"qwen:latest\"}]}",
                                  &msg),
                   CH_OK);
  ch_buf_release(&msg);
  ch_models_free(all);
  ch_models_free(models);
}

static void on_result_stop(void *userdata, const ch_model_result *r) {
  on_result(userdata, r);
  ch_loop_stop(loop);
}

static bool watchdog_fired;
static void on_watchdog(ch_loop *l, void *userdata) {
  watchdog_fired = true;
  ch_loop_stop(l);
}

/* A model whose API key variable is never set. */
static const char KEYLESS[] =
    "[{\"name\": \"k\", \"provider\": \"openai\", \"endpoint\": "
    "\"http://127.0.0.1:9\", \"apiKeyEnv\": \"CHORUS_UNIT_NO_SUCH_VAR\"}]";

/* Starts a completion of model `name` whose result lands in *o (zeroed
 * here) and stops the loop. The request dies here: the call copied it. */
static ch_model_call *start(ch_models *models, const char *name, outcome *o) {
  ch_model_request req = request();
  memset(o, 0, sizeof(*o));
  ch_model_call *call = NULL;
  assert_int_equal(ch_models_complete(models, ch_models_find(models, name),
                                      &req, on_result_stop, o, &call),
                   CH_OK);
  assert_non_null(call);
  return call;
}

static void test_missing_key_is_config_error(void **state) {
  ch_models *models = models_from(KEYLESS, NULL);
  outcome o;
  start(models, "k", &o);
  assert_int_equal(o.calls, 0); /* never from inside the call */
  watchdog_fired = false;
  uint64_t wd = ch_loop_timer_start(loop, 5000, on_watchdog, NULL);
  ch_loop_run(loop);
  ch_loop_timer_stop(loop, wd);
  assert_false(watchdog_fired);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.error, CH_MODEL_CONFIG);
  assert_string_equal(o.message, "the environment variable "
                                 "CHORUS_UNIT_NO_SUCH_VAR is not set (the API "
                                 "key of model 'k')");
  ch_models_free(models);
}

static void test_cancel_before_result(void **state) {
  ch_models *models = models_from(KEYLESS, NULL);
  outcome o;
  ch_model_call *call = start(models, "k", &o);
  ch_model_call_cancel(call);
  /* Run the loop a while: the cancelled call must never answer. */
  watchdog_fired = false;
  ch_loop_timer_start(loop, 100, on_watchdog, NULL);
  ch_loop_run(loop);
  assert_true(watchdog_fired);
  assert_int_equal(o.calls, 0);
  ch_models_free(models);
}

static int setup(void **state) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  loop = ch_loop_new(NULL);
  return loop ? 0 : -1;
}

static int teardown(void **state) {
  ch_loop_free(loop);
  curl_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_defaults_and_remote),
      cmocka_unit_test(test_config_each_mistake_reported_rest_loads),
      cmocka_unit_test(test_config_not_an_array),
      cmocka_unit_test(test_no_models_means_builtin_or_nothing),
      cmocka_unit_test(test_build_openai_suffix),
      cmocka_unit_test(test_build_openai_template_and_deepseek),
      cmocka_unit_test(test_build_chat_and_anthropic),
      cmocka_unit_test(test_build_ollama),
      cmocka_unit_test(test_build_llamacpp_and_mistral),
      cmocka_unit_test(test_parse_openai_sse),
      cmocka_unit_test(test_parse_chat_extracts_code),
      cmocka_unit_test(test_parse_anthropic_events),
      cmocka_unit_test(test_parse_ollama_ndjson),
      cmocka_unit_test(test_parse_llamacpp_and_mistral),
      cmocka_unit_test(test_stop_cut_across_chunks),
      cmocka_unit_test(test_broken_answers_classified),
      cmocka_unit_test(test_answer_too_large),
      cmocka_unit_test(test_garbage_and_truncations_never_crash),
      cmocka_unit_test(test_error_text_shapes),
      cmocka_unit_test(test_classify_http_failures),
      cmocka_unit_test(test_model_lists),
      cmocka_unit_test(test_health_requests),
      cmocka_unit_test(test_health_verdicts),
      cmocka_unit_test(test_missing_key_is_config_error),
      cmocka_unit_test(test_cancel_before_result),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
