/* Tests for core/src/config.c: applying JSON objects with precise problem
 * lines, loading files, and where the default file is looked for. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chorus/config.h"

/* ---- helpers ------------------------------------------------------------- */

static cJSON *parse(const char *json) {
  cJSON *obj = cJSON_Parse(json);
  assert_non_null(obj);
  return obj;
}

/* Number of lines in the problems buffer; each must end in "\n". */
static size_t problem_lines(const ch_buf *problems) {
  if(problems->len == 0) return 0;
  assert_int_equal(problems->data[problems->len - 1], '\n');
  size_t n = 0;
  for(size_t i = 0; i < problems->len; i++)
    if(problems->data[i] == '\n') n++;
  return n;
}

/* True when some line of the problems starts with `prefix`. */
static bool has_line(const ch_buf *problems, const char *prefix) {
  const char *p = problems->data ? problems->data : "";
  size_t n = strlen(prefix);
  while(*p) {
    if(strncmp(p, prefix, n) == 0) return true;
    const char *nl = strchr(p, '\n');
    if(!nl) break;
    p = nl + 1;
  }
  return false;
}

static void expect_line(const ch_buf *problems, const char *prefix) {
  if(!has_line(problems, prefix))
    fail_msg("no problem line starting \"%s\" in:\n%s", prefix,
             problems->data ? problems->data : "(none)");
}

/* A temporary file with `content`; the caller unlinks and frees the path. */
static char *temp_file(const char *content) {
  char *path = ch_strdup("/tmp/chorus-config-test-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t len = strlen(content);
  assert_int_equal(write(fd, content, len), (ssize_t)len);
  close(fd);
  return path;
}

/* ---- apply_json ---------------------------------------------------------- */

static void test_defaults(void **state) {
  (void)state;
  ch_config c;
  ch_config_init(&c);
  assert_int_equal(c.log_level, CH_LOG_INFO);
  assert_false(c.has_log_level);
}

static void test_index_fields(void **state) {
  (void)state;
  ch_config c;
  ch_config_init(&c);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  cJSON *obj = parse("{\"ignore\": [\"vendor/\", \"*.min.js\"], "
                     "\"maxFileBytes\": 2048}");
  assert_int_equal(ch_config_apply_json(&c, obj, "cfg", &problems), CH_OK);
  cJSON_Delete(obj);
  assert_non_null(c.ignore);
  assert_string_equal(c.ignore[0], "vendor/");
  assert_string_equal(c.ignore[1], "*.min.js");
  assert_null(c.ignore[2]);
  assert_int_equal(c.max_file_bytes, 2048);
  /* Wrong types are reported by field and keep the previous values. */
  obj = parse("{\"ignore\": [\"ok\", 3], \"maxFileBytes\": -1}");
  assert_int_equal(ch_config_apply_json(&c, obj, "cfg", &problems),
                   CH_ERR_INVALID);
  cJSON_Delete(obj);
  assert_non_null(strstr(problems.data, "cfg: ignore: expected an array of strings"));
  assert_non_null(strstr(problems.data, "cfg: maxFileBytes: expected a positive whole number"));
  assert_string_equal(c.ignore[0], "vendor/");
  assert_int_equal(c.max_file_bytes, 2048);
  ch_config_release(&c);
  assert_null(c.ignore);
  ch_buf_release(&problems);
}

static void test_apply_valid_log_level(void **state) {
  (void)state;
  static const struct {
    const char *name;
    ch_log_level level;
  } cases[] = {{"error", CH_LOG_ERROR},  {"warn", CH_LOG_WARN},
               {"warning", CH_LOG_WARN}, {"info", CH_LOG_INFO},
               {"debug", CH_LOG_DEBUG},  {"trace", CH_LOG_TRACE}};
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    ch_config c;
    ch_config_init(&c);
    ch_buf problems;
    ch_buf_init(&problems, 1 << 16);
    char json[64];
    snprintf(json, sizeof(json), "{\"logLevel\": \"%s\"}", cases[i].name);
    cJSON *obj = parse(json);
    assert_int_equal(ch_config_apply_json(&c, obj, "test", &problems), CH_OK);
    assert_int_equal(c.log_level, cases[i].level);
    assert_true(c.has_log_level);
    assert_int_equal(problems.len, 0);
    cJSON_Delete(obj);
    ch_buf_release(&problems);
  }
  /* An empty object changes nothing and is no problem. */
  ch_config c;
  ch_config_init(&c);
  cJSON *obj = parse("{}");
  assert_int_equal(ch_config_apply_json(&c, obj, "test", NULL), CH_OK);
  assert_false(c.has_log_level);
  cJSON_Delete(obj);
}

static void test_apply_invalid_value_keeps_previous(void **state) {
  (void)state;
  static const char *const bad[] = {
      "{\"logLevel\": \"loud\"}", "{\"logLevel\": 3}",
      "{\"logLevel\": null}",     "{\"logLevel\": [\"info\"]}",
      "{\"logLevel\": \"\"}",     "{\"logLevel\": true}",
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
    ch_config c;
    ch_config_init(&c);
    c.log_level = CH_LOG_DEBUG;
    c.has_log_level = true;
    ch_buf problems;
    ch_buf_init(&problems, 1 << 16);
    cJSON *obj = parse(bad[i]);
    assert_int_equal(
        ch_config_apply_json(&c, obj, "initializationOptions", &problems),
        CH_ERR_INVALID);
    assert_int_equal(c.log_level, CH_LOG_DEBUG);
    assert_true(c.has_log_level);
    assert_int_equal(problem_lines(&problems), 1);
    expect_line(&problems, "initializationOptions: logLevel: ");
    /* The line says what would have been accepted. */
    assert_non_null(strstr(problems.data, "trace"));
    cJSON_Delete(obj);
    ch_buf_release(&problems);
  }
}

static void test_apply_unknown_field_and_valid_field(void **state) {
  (void)state;
  ch_config c;
  ch_config_init(&c);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  cJSON *obj = parse("{\"logLevl\": \"debug\", \"logLevel\": \"trace\", "
                     "\"model\": {\"name\": \"x\"}}");
  assert_int_equal(ch_config_apply_json(&c, obj, "config.json", &problems),
                   CH_ERR_INVALID);
  /* The valid field applied despite the others. */
  assert_int_equal(c.log_level, CH_LOG_TRACE);
  assert_true(c.has_log_level);
  assert_int_equal(problem_lines(&problems), 2);
  expect_line(&problems, "config.json: logLevl: ");
  expect_line(&problems, "config.json: model: ");
  cJSON_Delete(obj);

  /* Both kinds of problem in one object, and problems accumulate. */
  obj = parse("{\"logLevel\": \"loud\", \"extra\": 1}");
  assert_int_equal(ch_config_apply_json(&c, obj, "workspace", &problems),
                   CH_ERR_INVALID);
  assert_int_equal(c.log_level, CH_LOG_TRACE);
  assert_int_equal(problem_lines(&problems), 4);
  expect_line(&problems, "workspace: logLevel: ");
  expect_line(&problems, "workspace: extra: ");
  cJSON_Delete(obj);

  /* Without a problems buffer: the same status, nothing to crash on. */
  obj = parse("{\"nope\": 1, \"logLevel\": \"error\"}");
  assert_int_equal(ch_config_apply_json(&c, obj, "x", NULL), CH_ERR_INVALID);
  assert_int_equal(c.log_level, CH_LOG_ERROR);
  cJSON_Delete(obj);
  ch_buf_release(&problems);
}

static void test_apply_non_object(void **state) {
  (void)state;
  static const char *const tops[] = {"[1, 2]", "\"info\"", "42", "null"};
  for(size_t i = 0; i < CH_ARRAY_LEN(tops); i++) {
    ch_config c;
    ch_config_init(&c);
    ch_buf problems;
    ch_buf_init(&problems, 1 << 16);
    cJSON *obj = parse(tops[i]);
    assert_int_equal(ch_config_apply_json(&c, obj, "opts", &problems),
                     CH_ERR_INVALID);
    assert_int_equal(problem_lines(&problems), 1);
    expect_line(&problems, "opts: ");
    assert_false(c.has_log_level);
    cJSON_Delete(obj);
    ch_buf_release(&problems);
  }
}

/* ---- load_file ----------------------------------------------------------- */

static void test_load_missing_file(void **state) {
  (void)state;
  char *path = temp_file("");
  unlink(path); /* a name that surely does not exist */
  ch_config c;
  ch_config_init(&c);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_ERR_NOT_FOUND);
  assert_int_equal(problems.len, 0);
  assert_false(c.has_log_level);
  assert_int_equal(
      ch_config_load_file(&c, "/nonexistent-dir/config.json", &problems),
      CH_ERR_NOT_FOUND);
  assert_int_equal(problems.len, 0);
  ch_buf_release(&problems);
  ch_free(path);
}

static void test_load_valid_file(void **state) {
  (void)state;
  char *path = temp_file("{\n  \"logLevel\": \"debug\"\n}\n");
  ch_config c;
  ch_config_init(&c);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_OK);
  assert_int_equal(c.log_level, CH_LOG_DEBUG);
  assert_true(c.has_log_level);
  assert_int_equal(problems.len, 0);
  unlink(path);
  ch_free(path);
  ch_buf_release(&problems);
}

static void test_load_invalid_json(void **state) {
  (void)state;
  char *path = temp_file("{\n"
                         "  \"logLevel\": \"debug\",\n"
                         "  oops\n"
                         "}\n");
  ch_config c;
  ch_config_init(&c);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_ERR_PARSE);
  /* Nothing of a broken file applies. */
  assert_false(c.has_log_level);
  assert_int_equal(problem_lines(&problems), 1);
  char *prefix = ch_strdupf("%s: ", path);
  expect_line(&problems, prefix);
  ch_free(prefix);
  if(!strstr(problems.data, "line 3"))
    fail_msg("no line number 3 in: %s", problems.data);
  unlink(path);
  ch_free(path);

  /* An empty file is not JSON either. */
  ch_buf_reset(&problems);
  path = temp_file("");
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_ERR_PARSE);
  assert_int_equal(problem_lines(&problems), 1);
  assert_non_null(strstr(problems.data, "line"));
  unlink(path);
  ch_free(path);

  /* An error on the first line says line 1. */
  ch_buf_reset(&problems);
  path = temp_file("{\"logLevel\" \"debug\"}");
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_ERR_PARSE);
  assert_non_null(strstr(problems.data, "line 1"));
  unlink(path);
  ch_free(path);
  ch_buf_release(&problems);
}

/* Trailing text after the object is not JSON either (a file with two
 * objects, or a stray word after the closing brace): it must not load. */
static void test_load_trailing_text(void **state) {
  (void)state;
  static const char *const trailing[] = {
      "{\"logLevel\": \"debug\"}\noops\n",
      "{}\n{\"logLevel\": \"debug\"}\n",
  };
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  for(size_t i = 0; i < CH_ARRAY_LEN(trailing); i++) {
    ch_buf_reset(&problems);
    ch_config c;
    ch_config_init(&c);
    char *path = temp_file(trailing[i]);
    ch_status status = ch_config_load_file(&c, path, &problems);
    unlink(path);
    ch_free(path);
    if(status != CH_ERR_PARSE)
      fail_msg("case %zu, trailing text after the JSON value: got \"%s\", "
               "want a parse error (log level now %s)",
               i, ch_strerror(status), ch_log_level_name(c.log_level));
    assert_false(c.has_log_level);
    assert_non_null(strstr(problems.data, "line 2"));
  }
  ch_buf_release(&problems);
}

static void test_load_file_problems(void **state) {
  (void)state;
  /* Non-object top level. */
  char *path = temp_file("[\"info\"]\n");
  ch_config c;
  ch_config_init(&c);
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_ERR_INVALID);
  assert_int_equal(problem_lines(&problems), 1);
  char *prefix = ch_strdupf("%s: ", path);
  expect_line(&problems, prefix);
  ch_free(prefix);
  assert_false(c.has_log_level);
  unlink(path);
  ch_free(path);

  /* Fields with problems name the file as origin; the rest applies. */
  ch_buf_reset(&problems);
  path = temp_file("{\"logLevel\": \"warn\", \"colour\": \"blue\"}");
  assert_int_equal(ch_config_load_file(&c, path, &problems), CH_ERR_INVALID);
  assert_int_equal(c.log_level, CH_LOG_WARN);
  prefix = ch_strdupf("%s: colour: ", path);
  expect_line(&problems, prefix);
  ch_free(prefix);
  assert_int_equal(problem_lines(&problems), 1);
  unlink(path);
  ch_free(path);

  /* A directory exists but cannot be read as a file. */
  ch_buf_reset(&problems);
  ch_status status = ch_config_load_file(&c, "/tmp", &problems);
  assert_true(status == CH_ERR_IO || status == CH_ERR_PARSE);
  assert_int_equal(problem_lines(&problems), 1);
  expect_line(&problems, "/tmp: ");
  ch_buf_release(&problems);
}

/* ---- default path -------------------------------------------------------- */

static void set_or_unset(const char *name, const char *value) {
  if(value)
    assert_int_equal(setenv(name, value, 1), 0);
  else
    assert_int_equal(unsetenv(name), 0);
}

static void expect_default(const char *want) {
  char *got = ch_config_default_path();
  if(!want) {
    if(got) fail_msg("expected no default path, got %s", got);
    return;
  }
  assert_non_null(got);
  assert_string_equal(got, want);
  ch_free(got);
}

static void test_default_path(void **state) {
  (void)state;
  static const char *const names[] = {"CHORUS_CONFIG", "XDG_CONFIG_HOME",
                                      "HOME"};
  char *saved[CH_ARRAY_LEN(names)];
  for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
    const char *v = getenv(names[i]);
    saved[i] = v ? ch_strdup(v) : NULL;
  }

  set_or_unset("HOME", "/home/ada");
  set_or_unset("XDG_CONFIG_HOME", "/xdg");
  set_or_unset("CHORUS_CONFIG", "/etc/chorus.json");
  expect_default("/etc/chorus.json");
  /* A relative CHORUS_CONFIG is taken as given. */
  set_or_unset("CHORUS_CONFIG", "rel/chorus.json");
  expect_default("rel/chorus.json");
  /* Empty means unset. */
  set_or_unset("CHORUS_CONFIG", "");
  expect_default("/xdg/chorus/config.json");
  set_or_unset("CHORUS_CONFIG", NULL);
  expect_default("/xdg/chorus/config.json");
  /* XDG_CONFIG_HOME counts only when absolute. */
  set_or_unset("XDG_CONFIG_HOME", "relative/xdg");
  expect_default("/home/ada/.config/chorus/config.json");
  set_or_unset("XDG_CONFIG_HOME", "");
  expect_default("/home/ada/.config/chorus/config.json");
  set_or_unset("XDG_CONFIG_HOME", NULL);
  expect_default("/home/ada/.config/chorus/config.json");
  /* No home at all. */
  set_or_unset("HOME", "");
  expect_default(NULL);
  set_or_unset("HOME", NULL);
  expect_default(NULL);
  set_or_unset("XDG_CONFIG_HOME", "/only/xdg");
  expect_default("/only/xdg/chorus/config.json");

  for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
    set_or_unset(names[i], saved[i]);
    ch_free(saved[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_index_fields),
      cmocka_unit_test(test_apply_valid_log_level),
      cmocka_unit_test(test_apply_invalid_value_keeps_previous),
      cmocka_unit_test(test_apply_unknown_field_and_valid_field),
      cmocka_unit_test(test_apply_non_object),
      cmocka_unit_test(test_load_missing_file),
      cmocka_unit_test(test_load_valid_file),
      cmocka_unit_test(test_load_invalid_json),
      cmocka_unit_test(test_load_trailing_text),
      cmocka_unit_test(test_load_file_problems),
      cmocka_unit_test(test_default_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
