/* Tests for core/src/guard.c: deny globs, secret redaction, options. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chorus/guard.h"

#define FIXTURES CHORUS_SOURCE_DIR "/tests/fixtures/guard"

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if(!f) fail_msg("cannot open %s", path);
  ch_buf b;
  ch_buf_init(&b, (size_t)64 << 20);
  char chunk[8192];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    assert_int_equal(ch_buf_append(&b, chunk, n), CH_OK);
  fclose(f);
  return ch_buf_detach(&b, len);
}

/* Redacts text for a remote model with the default guard; the caller
 * frees the result. */
static char *redact(const ch_guard *g, bool remote, const char *text,
                    size_t len, ch_guard_stats *stats, size_t *out_len) {
  ch_buf out;
  ch_buf_init(&out, (size_t)64 << 20);
  assert_int_equal(ch_guard_redact(g, remote, text, len, &out, stats), CH_OK);
  return ch_buf_detach(&out, out_len);
}

static char *redact_str(const ch_guard *g, const char *text,
                        ch_guard_stats *stats) {
  size_t n;
  return redact(g, true, text, strlen(text), stats, &n);
}

static size_t count_of(const char *hay, const char *needle) {
  size_t c = 0, k = strlen(needle);
  for(const char *p = strstr(hay, needle); p; p = strstr(p + k, needle))
    c++;
  return c;
}

static ch_secret_kind kind_by_name(const char *name) {
  for(int k = 0; k < CH_SECRET_KIND_COUNT; k++)
    if(strcmp(ch_secret_kind_name((ch_secret_kind)k), name) == 0)
      return (ch_secret_kind)k;
  fail_msg("unknown kind %s in MANIFEST", name);
  return CH_SECRET_KIND_COUNT;
}

/* ---- the secrets fixture ------------------------------------------------- */

typedef struct planted {
  char file[64];
  ch_secret_kind kind;
  char secret[512];
} planted;

static size_t read_manifest(planted *items, size_t max) {
  size_t len;
  char *text = read_all(FIXTURES "/secrets/MANIFEST", &len);
  size_t n = 0;
  for(char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if(line[0] == '#') continue;
    char *tab1 = strchr(line, '\t');
    char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    assert_non_null(tab2);
    *tab1 = *tab2 = '\0';
    assert_true(n < max);
    snprintf(items[n].file, sizeof(items[n].file), "%s", line);
    items[n].kind = kind_by_name(tab1 + 1);
    assert_true(strlen(tab2 + 1) < sizeof(items[n].secret));
    snprintf(items[n].secret, sizeof(items[n].secret), "%s", tab2 + 1);
    n++;
  }
  free(text);
  return n;
}

static void test_secrets_fixture(void **state) {
  (void)state;
  static planted items[256];
  size_t n = read_manifest(items, CH_ARRAY_LEN(items));
  assert_true(n >= 40);
  ch_guard *g = ch_guard_new(NULL, NULL);
  bool kinds_seen[CH_SECRET_KIND_COUNT] = {0};
  size_t files = 0, failures = 0;
  for(size_t i = 0; i < n; i++) {
    bool first = true;
    for(size_t j = 0; j < i; j++)
      if(strcmp(items[j].file, items[i].file) == 0) first = false;
    if(!first) continue;
    files++;
    char *path = ch_strdupf(FIXTURES "/secrets/%s", items[i].file);
    size_t len, out_len;
    char *text = read_all(path, &len);
    ch_free(path);
    ch_guard_stats stats = {0};
    char *out = redact(g, true, text, len, &stats, &out_len);
    size_t expected[CH_SECRET_KIND_COUNT] = {0}, total = 0;
    for(size_t j = i; j < n; j++) {
      if(strcmp(items[j].file, items[i].file) != 0) continue;
      assert_non_null(strstr(text, items[j].secret)); /* really planted */
      expected[items[j].kind]++;
      total++;
      kinds_seen[items[j].kind] = true;
      if(strstr(out, items[j].secret)) {
        print_error("%s: %s secret left in: %s\n", items[j].file,
                    ch_secret_kind_name(items[j].kind), items[j].secret);
        failures++;
      }
    }
    for(int k = 0; k < CH_SECRET_KIND_COUNT; k++) {
      if(stats.by_kind[k] != expected[k]) {
        print_error("%s: %s: %zu redacted, %zu planted\n", items[i].file,
                    ch_secret_kind_name((ch_secret_kind)k), stats.by_kind[k],
                    expected[k]);
        failures++;
      }
      char placeholder[64];
      snprintf(placeholder, sizeof(placeholder), "<redacted:%s>",
               ch_secret_kind_name((ch_secret_kind)k));
      assert_int_equal(count_of(out, placeholder), stats.by_kind[k]);
    }
    assert_int_equal(stats.redactions, count_of(out, "<redacted:"));
    if(stats.redactions != total) failures++;
    /* Nothing but the secrets changed: the lines around them are intact. */
    assert_true(out_len < len);
    free(text);
    free(out);
  }
  ch_guard_free(g);
  assert_int_equal(files, 7);
  /* every file of the fixture is in the manifest */
  DIR *d = opendir(FIXTURES "/secrets");
  assert_non_null(d);
  size_t on_disk = 0;
  for(struct dirent *e = readdir(d); e; e = readdir(d))
    on_disk += e->d_name[0] != '.' && strcmp(e->d_name, "MANIFEST") != 0;
  closedir(d);
  assert_int_equal(on_disk, files);
  size_t kinds = 0;
  for(int k = 0; k < CH_SECRET_KIND_COUNT; k++)
    kinds += kinds_seen[k];
  print_message("secrets fixture: %zu secrets of %zu kinds in %zu files\n", n,
                kinds, files);
  assert_true(kinds >= 20);
  assert_int_equal(failures, 0);
}

/* The shape of the code survives: only values go. */
static void test_placeholder_keeps_shape(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"token = \"ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5\"\n",
       "token = \"<redacted:github-token>\"\n"},
      {"{\"apiKey\": \"q8Zr3LmX0vTnB6yWc2KdHs9Fp4Jg7Ae1\"}",
       "{\"apiKey\": \"<redacted:generic-secret>\"}"},
      {"db: postgres://app:Pq7xZ2mK9vL4@db:5432/app",
       "db: postgres://app:<redacted:url-password>@db:5432/app"},
      {"API_KEY=Zx8cV2bN6mQ4wE7rT1yU9iO3pA5sD0fG\r\nNEXT=1\r\n",
       "API_KEY=<redacted:generic-secret>\r\nNEXT=1\r\n"},
      {"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n"
       "bXl0ZXN0a2V5\n-----END RSA PRIVATE KEY-----\n",
       "-----BEGIN RSA PRIVATE KEY-----\n<redacted:private-key>\n"
       "-----END RSA PRIVATE KEY-----\n"},
      {"curl -H 'Authorization: Bearer 8fK2mQ9xL4vR7tZ1cN6bW3yH5jD0gS2a' x",
       "curl -H 'Authorization: Bearer <redacted:generic-secret>' x"},
      {"GET /v1/data?api_key=9f8e7d6c5b4a39281706f5e4d3c2b1a0&page=2",
       "GET /v1/data?api_key=<redacted:generic-secret>&page=2"},
      {"const apiKey: string = \"Lm4Kx9Qw2Zr7Tn1Vb8Yc3Hd6Fg0Js5Pa\";",
       "const apiKey: string = \"<redacted:generic-secret>\";"},
      {"password: 'S3cure!Passw0rd'", "password: '<redacted:password>'"},
      /* Go, PHP, Ruby, shell, a call's first argument, an ini file */
      {"\tsecret := `Vq9Zr2Lm7Xk4Tn1Bw8Yc3Hd6Fg0Js5Pa`\n",
       "\tsecret := `<redacted:generic-secret>`\n"},
      {"'api_key' => 'Rk2Lm9Zq4Xv7Tn1Bw8Yc3Hd6Fg0Js5P',",
       "'api_key' => '<redacted:generic-secret>',"},
      {"client = Client.new(auth_token: \"Tq8Lm2Zr9Xk4Vn1Bw7Yc3Hd6Fg0Js5Pa\")",
       "client = Client.new(auth_token: \"<redacted:generic-secret>\")"},
      {"export DB_PASSWORD='c0rrect-H0rse!'",
       "export DB_PASSWORD='<redacted:password>'"},
      {"os.Setenv(\"SERVICE_TOKEN\", \"Zq8Lm2Tr9Xk4Vn1Bw7Yc3Hd6Fg0Js5Pa\")",
       "os.Setenv(\"SERVICE_TOKEN\", \"<redacted:generic-secret>\")"},
      {"[default]\naws_secret_access_key = "
       "Kq8Lm2Tr9Xk4Vn1Bw7Yc3Hd6Fg0Js5Pa/zXc+Q12\n",
       "[default]\naws_secret_access_key = <redacted:aws-secret-key>\n"},
      /* a "value" named by its sibling: Kubernetes env, .NET settings */
      {"env:\n  - name: LOG_LEVEL\n    value: debug\n"
       "  - name: DB_PASSWORD\n    value: \"Xk9#mP2$vL7q\"\n"
       "  - name: API_TOKEN\n    value: Tq8Lm2Zr9Xk4Vn1Bw7Yc3Hd6Fg0Js5Pa\n",
       "env:\n  - name: LOG_LEVEL\n    value: debug\n"
       "  - name: DB_PASSWORD\n    value: \"<redacted:password>\"\n"
       "  - name: API_TOKEN\n    value: <redacted:generic-secret>\n"},
      {"<add key=\"ServiceApiKey\" value=\"Lm4Kx9Qw2Zr7Tn1Vb8Yc3Hd6Fg0Js5Pa\" "
       "/>",
       "<add key=\"ServiceApiKey\" value=\"<redacted:generic-secret>\" />"},
      {"<add key=\"Theme\" value=\"Lm4Kx9Qw2Zr7Tn1Vb8Yc3Hd6Fg0Js5Pa\" />",
       "<add key=\"Theme\" value=\"Lm4Kx9Qw2Zr7Tn1Vb8Yc3Hd6Fg0Js5Pa\" />"},
      /* a token the name also describes keeps its own kind */
      {"GITHUB_TOKEN=ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
       "GITHUB_TOKEN=<redacted:github-token>"},
      /* a private key inside a JSON string, with escaped line breaks */
      {"{\"k\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END "
       "PRIVATE "
       "KEY-----\\n\"}",
       "{\"k\": \"-----BEGIN PRIVATE "
       "KEY-----\\n<redacted:private-key>\\n-----END "
       "PRIVATE KEY-----\\n\"}"},
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
    char *out = redact_str(g, cases[i].in, NULL);
    if(strcmp(out, cases[i].out) != 0)
      fail_msg("case %zu:\n in: %s\ngot: %s\nwant: %s", i, cases[i].in, out,
               cases[i].out);
    free(out);
  }
  ch_guard_free(g);
}

/* ---- the clean fixture --------------------------------------------------- */

static void test_clean_fixture(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  DIR *d = opendir(FIXTURES "/clean");
  assert_non_null(d);
  size_t files = 0, bytes = 0, changed = 0;
  struct dirent *e;
  while((e = readdir(d))) {
    if(e->d_name[0] == '.') continue;
    char path[512];
    snprintf(path, sizeof(path), FIXTURES "/clean/%s", e->d_name);
    size_t len, out_len;
    char *text = read_all(path, &len);
    ch_guard_stats stats = {0};
    char *out = redact(g, true, text, len, &stats, &out_len);
    files++;
    bytes += len;
    if(stats.redactions || out_len != len || memcmp(out, text, len) != 0) {
      changed++;
      /* Show the first line that changed, which names the false positive. */
      size_t k = 0;
      while(k < len && k < out_len && text[k] == out[k])
        k++;
      size_t a = k;
      while(a > 0 && text[a - 1] != '\n')
        a--;
      const char *nl = strchr(out + a, '\n');
      print_error("%s: %zu redactions; line: %.*s\n", e->d_name,
                  stats.redactions, (int)(nl ? (size_t)(nl - out - a) : 200),
                  out + a);
    }
    free(text);
    free(out);
  }
  closedir(d);
  ch_guard_free(g);
  print_message("clean fixture: %zu files, %zu bytes\n", files, bytes);
  assert_true(files >= 9);
  assert_int_equal(changed, 0);
}

/* ---- deny globs ---------------------------------------------------------- */

static void test_deny_defaults(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  static const char *const denied[] = {
      ".env",
      ".env.local",
      "services/api/.env.production",
      "certs/server.pem",
      "tls/site.key",
      "id_rsa",
      "home/.ssh/id_rsa.pub",
      "id_ed25519",
      "store/client.p12",
      "credentials",
      "aws/credentials.json",
      "config/secrets.yaml",
      "secrets.json",
      "ID_RSA",
      "Config/.ENV",
      "Certs/SERVER.PEM",
      "./.env",
      "/deploy/.env",
      ".envrc",
      "secrets.d/db.txt",
      /* inside a denied directory, as git has it */
      "docs/id_rsa_explained.txt/x",
  };
  static const char *const allowed[] = {
      "src/env.c",
      "environment.py",
      "keys.go",
      "src/secrets_manager.go",
      "monkey.py",
      "README.md",
      "src/credential_store.rs",
      "pem/README.md",
      "keyboard.key.md",
      "docs/rsa_keys.txt",
      "",
      "lib/environ.py",
  };
  for(size_t i = 0; i < CH_ARRAY_LEN(denied); i++)
    if(!ch_guard_path_denied(g, denied[i]))
      fail_msg("%s should be denied", denied[i]);
  for(size_t i = 0; i < CH_ARRAY_LEN(allowed); i++)
    if(ch_guard_path_denied(g, allowed[i]))
      fail_msg("%s should not be denied", allowed[i]);
  assert_false(ch_guard_path_denied(g, NULL));
  assert_false(ch_guard_path_denied(NULL, ".env"));
  ch_guard_free(g);
  ch_guard_free(NULL);
}

static void test_deny_custom(void **state) {
  (void)state;
  /* deny replaces the defaults */
  const char *const deny[] = {"*.sqlite", "private/", "/top-only.txt",
                              "Build/*.LOG", NULL};
  ch_guard_options o = {.deny = deny};
  ch_guard *g = ch_guard_new(&o, NULL);
  assert_true(ch_guard_path_denied(g, "data/app.sqlite"));
  assert_true(ch_guard_path_denied(g, "private/notes.md"));
  assert_true(ch_guard_path_denied(g, "a/b/private/c/d.py"));
  assert_false(ch_guard_path_denied(g, "a/private")); /* a file, not a dir */
  assert_true(ch_guard_path_denied(g, "top-only.txt"));
  assert_false(ch_guard_path_denied(g, "sub/top-only.txt"));
  assert_true(ch_guard_path_denied(g, "Build/x.LOG"));
  assert_false(ch_guard_path_denied(g, "build/x.log")); /* written in caps */
  assert_false(ch_guard_path_denied(g, ".env"));        /* defaults gone */
  ch_guard_free(g);

  /* deny_extra adds to the defaults; "!" re-includes */
  const char *const extra[] = {"*.tfstate", "!.env.example", NULL};
  o = (ch_guard_options){.deny_extra = extra};
  g = ch_guard_new(&o, NULL);
  assert_true(ch_guard_path_denied(g, "infra/prod.tfstate"));
  assert_true(ch_guard_path_denied(g, "infra/PROD.TFSTATE"));
  assert_true(ch_guard_path_denied(g, ".env"));
  assert_false(ch_guard_path_denied(g, ".env.example"));
  assert_true(ch_guard_path_denied(g, ".env.local"));
  ch_guard_free(g);

  /* gitignore rules: "**", anchored paths, and no re-including a file
   * whose directory is denied */
  const char *const deep[] = {
      "**/fixtures/*.json", "a/**/b.txt", "vault/", "!vault/readme.md", "*.log",
      "!keep.log",          NULL};
  o = (ch_guard_options){.deny = deep};
  g = ch_guard_new(&o, NULL);
  assert_true(ch_guard_path_denied(g, "fixtures/x.json"));
  assert_true(ch_guard_path_denied(g, "tests/unit/fixtures/x.json"));
  assert_false(ch_guard_path_denied(g, "tests/fixtures/sub/x.json"));
  assert_true(ch_guard_path_denied(g, "a/b.txt"));
  assert_true(ch_guard_path_denied(g, "a/x/y/b.txt"));
  assert_true(ch_guard_path_denied(g, "vault/readme.md"));
  assert_true(ch_guard_path_denied(g, "x/debug.log"));
  assert_false(ch_guard_path_denied(g, "x/keep.log"));
  ch_guard_free(g);

  /* an empty list denies nothing; empty globs are skipped */
  const char *const none[] = {"", NULL};
  o = (ch_guard_options){.deny = none};
  ch_status st = CH_ERR_STATE;
  g = ch_guard_new(&o, &st);
  assert_int_equal(st, CH_OK);
  assert_false(ch_guard_path_denied(g, ".env"));
  assert_false(ch_guard_path_denied(g, "id_rsa"));
  ch_guard_free(g);
}

/* ---- local and remote ---------------------------------------------------- */

static const char sample[] =
    "openai_key = \"sk-proj-Qm3x9ZkL2vB7nT4cR8yW1dF6hJ0gS5aP\"\n";

static void test_local_remote(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  assert_true(ch_guard_redacts(g, true));
  assert_false(ch_guard_redacts(g, false));
  size_t n;
  ch_guard_stats stats = {0};
  char *local = redact(g, false, sample, strlen(sample), &stats, &n);
  assert_string_equal(local, sample);
  assert_int_equal(stats.redactions, 0);
  char *remote = redact(g, true, sample, strlen(sample), &stats, &n);
  assert_string_equal(remote, "openai_key = \"<redacted:openai-key>\"\n");
  assert_int_equal(stats.redactions, 1);
  assert_int_equal(stats.by_kind[CH_SECRET_OPENAI_KEY], 1);
  free(local);
  free(remote);
  ch_guard_free(g);

  ch_guard_options o = {.redact_local = true};
  g = ch_guard_new(&o, NULL);
  assert_true(ch_guard_redacts(g, false));
  local = redact(g, false, sample, strlen(sample), NULL, &n);
  assert_string_equal(local, "openai_key = \"<redacted:openai-key>\"\n");
  free(local);
  ch_guard_free(g);
  assert_false(ch_guard_redacts(NULL, true));
}

/* ---- boundaries ---------------------------------------------------------- */

static void expect(const ch_guard *g, const char *in, const char *want) {
  char *out = redact_str(g, in, NULL);
  if(strcmp(out, want) != 0)
    fail_msg("\n in: %s\ngot: %s\nwant: %s", in, out, want);
  free(out);
}

static void test_boundaries(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  const char *tok = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5";
  /* the whole buffer, its start, its end (no newline after) */
  expect(g, tok, "<redacted:github-token>");
  expect(g, "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5 rest",
         "<redacted:github-token> rest");
  expect(g, "x=AKIAQWERTYUIOP234567", "x=<redacted:aws-access-key>");
  expect(g, "k: AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
         "k: <redacted:google-api-key>");
  /* CRLF */
  expect(g, "A=1\r\nTOKEN=Hq7Lx2Zm9Kv4Rt8Wc1Nb6Yd3Fg5Js0Pa\r\nB=2\r\n",
         "A=1\r\nTOKEN=<redacted:generic-secret>\r\nB=2\r\n");
  /* a prefix inside a longer word is not a token */
  expect(g, "xghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
         "xghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5");
  expect(g, "AKIAQWERTYUIOP2345678", "AKIAQWERTYUIOP2345678"); /* 17 */
  /* a token cut by the length given is too short to be one */
  size_t n;
  char *out = redact(g, true, tok, 20, NULL, &n);
  assert_int_equal(n, 20);
  assert_memory_equal(out, tok, 20);
  free(out);
  /* a secret split across lines is not expected to be found */
  expect(g, "ghp_aB3dE5fG7hJ9kL1mN3p\nQ5rS7tU9vW1xY3zA5",
         "ghp_aB3dE5fG7hJ9kL1mN3p\nQ5rS7tU9vW1xY3zA5");
  /* a key block without END is redacted to the end of the text */
  expect(g, "k = '''-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk\n",
         "k = '''-----BEGIN EC PRIVATE KEY-----\n<redacted:private-key>");
  /* public keys and certificates are not secrets */
  expect(g,
         "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n"
         "-----END PUBLIC KEY-----\n",
         "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n"
         "-----END PUBLIC KEY-----\n");
  /* weak or referenced values stay */
  expect(g, "password = \"hunter2\"", "password = \"hunter2\"");
  expect(g, "DB_URL=mysql://root:${DB_PASS}@db/app",
         "DB_URL=mysql://root:${DB_PASS}@db/app");
  /* JWT, several secrets on one line, empty text */
  expect(g,
         "a "
         "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
         "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U b",
         "a <redacted:jwt> b");
  expect(g,
         "t1=xoxb-1234567890-ABCdef123456 "
         "t2=npm_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
         "t1=<redacted:slack-token> t2=<redacted:npm-token>");
  expect(g, "", "");
  out = redact(g, true, NULL, 0, NULL, &n);
  assert_int_equal(n, 0);
  free(out);
  ch_guard_free(g);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  static const char in[] =
      "\xff\xfe caf\xc3\xa9 \xe2\x82 \x00 "
      "token='sk_live_aB3dE5fG7hJ9kL1mN3pQ5rS7' \xc0\xaf"
      "\xed\xa0\x80 password=\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"";
  static const char want[] =
      "\xff\xfe caf\xc3\xa9 \xe2\x82 \x00 "
      "token='<redacted:stripe-key>' \xc0\xaf"
      "\xed\xa0\x80 password=\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"";
  size_t n;
  ch_guard_stats stats = {0};
  char *out = redact(g, true, in, sizeof(in) - 1, &stats, &n);
  assert_int_equal(n, sizeof(want) - 1);
  assert_memory_equal(out, want, n);
  assert_int_equal(stats.redactions, 1);
  free(out);
  ch_guard_free(g);
}

static void test_output_cap(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  ch_buf out;
  ch_buf_init(&out, 32);
  assert_int_equal(ch_buf_append_str(&out, "kept:"), CH_OK);
  ch_guard_stats stats = {0};
  /* too large for the cap: nothing half-redacted is left behind */
  assert_int_equal(
      ch_guard_redact(g, true, sample, strlen(sample), &out, &stats),
      CH_ERR_TOO_LARGE);
  assert_int_equal(out.len, 5);
  assert_string_equal(out.data, "kept:");
  assert_int_equal(stats.redactions, 0);
  /* the same for a copy to a local model */
  assert_int_equal(
      ch_guard_redact(g, false, sample, strlen(sample), &out, NULL),
      CH_ERR_TOO_LARGE);
  assert_int_equal(out.len, 5);
  /* it fits exactly */
  const char *small = "k=AKIAQWERTYUIOP234567";
  ch_buf_reset(&out);
  out.max = strlen("k=<redacted:aws-access-key>");
  assert_int_equal(ch_guard_redact(g, true, small, strlen(small), &out, NULL),
                   CH_OK);
  assert_string_equal(out.data, "k=<redacted:aws-access-key>");
  ch_buf_release(&out);
  /* arguments */
  assert_int_equal(ch_guard_redact(NULL, true, "x", 1, &out, NULL),
                   CH_ERR_INVALID);
  assert_int_equal(ch_guard_redact(g, true, "x", 1, NULL, NULL),
                   CH_ERR_INVALID);
  assert_int_equal(ch_guard_redact(g, true, NULL, 1, &out, NULL),
                   CH_ERR_INVALID);
  ch_guard_free(g);
}

/* ---- stats and logging --------------------------------------------------- */

typedef struct captured {
  char text[1024];
  int lines;
} captured;

static void capture_sink(ch_log_level level, const char *message,
                         void *userdata) {
  (void)level;
  captured *c = userdata;
  snprintf(c->text, sizeof(c->text), "%s", message);
  c->lines++;
}

static void test_stats_and_log(void **state) {
  (void)state;
  ch_guard *g = ch_guard_new(NULL, NULL);
  const char *text =
      "a = 'glpat-Zx8cV2bN6mQ4wE7rT1yU' # one\n"
      "b = 'glpat-Hq7Lx2Zm9Kv4Rt8Wc1Nb'\n"
      "c = eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmN\n";
  ch_guard_stats stats = {0}, total = {0};
  char *out = redact_str(g, text, &stats);
  free(out);
  assert_int_equal(stats.redactions, 3);
  ch_guard_stats_add(&total, &stats);
  ch_guard_stats_add(&total, &stats);
  assert_int_equal(total.redactions, 6);
  assert_int_equal(total.by_kind[CH_SECRET_GITLAB_TOKEN], 4);

  ch_buf b;
  ch_buf_init(&b, 256);
  assert_int_equal(ch_guard_stats_format(&stats, &b), CH_OK);
  assert_string_equal(b.data, "3 secrets (gitlab-token 2, jwt 1)");
  ch_buf_reset(&b);
  ch_guard_stats none = {0};
  ch_guard_stats_format(&none, &b);
  assert_string_equal(b.data, "no secrets");
  ch_buf_release(&b);

  captured c = {{0}, 0};
  ch_log_set_sink(capture_sink, &c);
  ch_log_level old = ch_log_get_level();
  ch_log_set_level(CH_LOG_INFO);
  ch_guard_stats_log(&stats, "src/app.py");
  ch_guard_stats_log(&none, "src/other.py"); /* nothing to say */
  ch_log_set_level(old);
  ch_log_set_sink(NULL, NULL);
  assert_int_equal(c.lines, 1);
  assert_string_equal(
      c.text,
      "guard: redacted 3 secrets (gitlab-token 2, jwt 1) in src/app.py");
  assert_null(strstr(c.text, "glpat"));
  ch_guard_free(g);
}

static void test_kind_names(void **state) {
  (void)state;
  for(int k = 0; k < CH_SECRET_KIND_COUNT; k++) {
    const char *name = ch_secret_kind_name((ch_secret_kind)k);
    assert_non_null(name);
    assert_string_not_equal(name, "unknown");
    for(int j = 0; j < k; j++)
      assert_string_not_equal(name, ch_secret_kind_name((ch_secret_kind)j));
  }
  assert_string_equal(ch_secret_kind_name(CH_SECRET_AWS_ACCESS_KEY),
                      "aws-access-key");
  assert_string_equal(ch_secret_kind_name(CH_SECRET_KIND_COUNT), "unknown");
  assert_string_equal(ch_secret_kind_name((ch_secret_kind)-1), "unknown");
  const char *const *d = ch_guard_default_deny();
  size_t n = 0;
  while(d[n])
    n++;
  assert_true(n >= 8);
}

/* ---- options from JSON --------------------------------------------------- */

static void test_options_json(void **state) {
  (void)state;
  ch_guard_options_owned o;
  ch_guard_options_owned_init(&o);
  ch_buf problems;
  ch_buf_init(&problems, 4096);

  cJSON *obj = cJSON_Parse(
      "{\"deny\": [\"*.db\", \"vault/\"], \"denyExtra\": [\"*.tfstate\"],"
      " \"redactLocal\": true}");
  assert_int_equal(
      ch_guard_options_from_json(&o, obj, "config.json", &problems), CH_OK);
  cJSON_Delete(obj);
  assert_null(problems.data);
  assert_true(o.options.redact_local);
  assert_string_equal(o.options.deny[0], "*.db");
  assert_string_equal(o.options.deny[1], "vault/");
  assert_null(o.options.deny[2]);
  ch_guard *g = ch_guard_new(&o.options, NULL);
  ch_guard_options_owned_release(&o); /* the guard copied what it needs */
  assert_true(ch_guard_path_denied(g, "x/app.db"));
  assert_true(ch_guard_path_denied(g, "vault/k.txt"));
  assert_true(ch_guard_path_denied(g, "s.tfstate"));
  assert_false(ch_guard_path_denied(g, ".env"));
  assert_true(ch_guard_redacts(g, false));
  ch_guard_free(g);

  /* problems: each reported, the rest applies */
  ch_guard_options_owned_init(&o);
  obj = cJSON_Parse("{\"deny\": [\"*.db\", 3, \"\"], \"denyExtra\": \"*.x\","
                    " \"redactLocal\": \"yes\", \"denyExtras\": []}");
  assert_int_equal(
      ch_guard_options_from_json(&o, obj, "config.json", &problems),
      CH_ERR_INVALID);
  cJSON_Delete(obj);
  assert_string_equal(problems.data,
                      "config.json: guard.deny[1]: expected a string\n"
                      "config.json: guard.deny[2]: empty glob\n"
                      "config.json: guard.denyExtra: expected an array of "
                      "strings\n"
                      "config.json: guard.redactLocal: expected true or false\n"
                      "config.json: guard.denyExtras: unknown field\n");
  assert_string_equal(o.options.deny[0], "*.db");
  assert_null(o.options.deny[1]);
  assert_null(o.options.deny_extra);
  assert_false(o.options.redact_local);

  /* a later source overrides; null restores the default */
  ch_buf_reset(&problems);
  obj = cJSON_Parse("{\"deny\": null, \"redactLocal\": false}");
  assert_int_equal(ch_guard_options_from_json(&o, obj, NULL, &problems), CH_OK);
  cJSON_Delete(obj);
  assert_null(o.options.deny);
  assert_int_equal(problems.len, 0);

  /* not an object */
  obj = cJSON_Parse("[1]");
  assert_int_equal(ch_guard_options_from_json(&o, obj, NULL, &problems),
                   CH_ERR_INVALID);
  cJSON_Delete(obj);
  assert_string_equal(problems.data, "config: guard: expected an object\n");
  assert_int_equal(ch_guard_options_from_json(&o, NULL, NULL, NULL), CH_OK);
  assert_int_equal(ch_guard_options_from_json(NULL, NULL, NULL, NULL),
                   CH_ERR_INVALID);
  ch_guard_options_owned_release(&o);
  ch_guard_options_owned_release(&o); /* twice is harmless */
  ch_buf_release(&problems);
}

/* ---- random input -------------------------------------------------------- */

/* Text glued from fragments that start every scanner, with random bytes
 * between: every call returns CH_OK, never reads or writes out of bounds
 * (the sanitizer build checks), and honours the output cap exactly. */
static void test_random_input(void **state) {
  (void)state;
  static const char *const pieces[] = {
      "key",
      "token",
      "password",
      " = ",
      ": ",
      "=",
      "\"",
      "'",
      "`",
      "\n",
      "\r\n",
      " ",
      "ghp_",
      "AKIA",
      "AIza",
      "sk-ant-",
      "eyJ",
      ".",
      "-----BEGIN PRIVATE KEY-----",
      "-----END",
      "://",
      "@",
      ":",
      "hooks.slack.com/services/",
      "xoxb-",
      "SG.",
      "Bearer ",
      "\\",
      "\xff",
      "\xc3",
      "&",
      ";",
      "${",
      "[",
  };
  static const char alnum[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
  ch_guard *g = ch_guard_new(NULL, NULL);
  uint64_t seed = 0x9e3779b97f4a7c15u;
  ch_buf text, out;
  ch_buf_init(&text, 1 << 16);
  ch_buf_init(&out, 1 << 20);
  size_t total = 0;
  for(int round = 0; round < 3000; round++) {
    ch_buf_reset(&text);
    int parts = 1 + (int)(seed % 40);
    for(int p = 0; p < parts; p++) {
      seed = seed * 6364136223846793005u + 1442695040888963407u;
      unsigned r = (unsigned)(seed >> 33);
      if(r % 3) {
        ch_buf_append_str(&text, pieces[r % CH_ARRAY_LEN(pieces)]);
      } else {
        size_t n = r % 48;
        for(size_t k = 0; k < n; k++) {
          seed = seed * 6364136223846793005u + 1442695040888963407u;
          ch_buf_append_char(&text, alnum[(seed >> 40) % (sizeof(alnum) - 1)]);
        }
      }
    }
    ch_buf_reset(&out);
    ch_guard_stats stats = {0};
    assert_int_equal(
        ch_guard_redact(g, true, text.data, text.len, &out, &stats), CH_OK);
    total += stats.redactions;
    /* the same text into a buffer one byte too small fails cleanly */
    if(out.len) {
      ch_buf small;
      ch_buf_init(&small, out.len - 1);
      assert_int_equal(
          ch_guard_redact(g, true, text.data, text.len, &small, NULL),
          CH_ERR_TOO_LARGE);
      assert_int_equal(small.len, 0);
      ch_buf_release(&small);
    }
  }
  print_message("random input: 3000 texts, %zu redactions\n", total);
  assert_true(total > 0);
  ch_buf_release(&text);
  ch_buf_release(&out);
  ch_guard_free(g);
}

/* ---- threads ------------------------------------------------------------- */

typedef struct shared_work {
  const ch_guard *guard;
  const char *text;
  size_t len;
  const char *want;
  size_t want_len;
  int mismatches;
} shared_work;

static void *redact_many(void *arg) {
  shared_work *w = arg;
  for(int i = 0; i < 50; i++) {
    ch_buf out;
    ch_buf_init(&out, (size_t)1 << 20);
    if(ch_guard_redact(w->guard, true, w->text, w->len, &out, NULL) ||
       out.len != w->want_len || memcmp(out.data, w->want, out.len) != 0)
      w->mismatches++;
    ch_buf_release(&out);
    /* deny lookups from the same threads */
    if(!ch_guard_path_denied(w->guard, "a/.env") ||
       ch_guard_path_denied(w->guard, "a/env.c"))
      w->mismatches++;
  }
  return NULL;
}

/* One guard shared by threads gives each the same answer. */
static void test_threads(void **state) {
  (void)state;
  size_t len, want_len;
  char *text = read_all(FIXTURES "/secrets/settings.json", &len);
  ch_guard *g = ch_guard_new(NULL, NULL);
  shared_work w[4];
  pthread_t th[4];
  char *want = redact(g, true, text, len, NULL, &want_len);
  for(int i = 0; i < 4; i++) {
    w[i] = (shared_work){g, text, len, want, want_len, 0};
    assert_int_equal(pthread_create(&th[i], NULL, redact_many, &w[i]), 0);
  }
  for(int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].mismatches, 0);
  }
  free(want);
  free(text);
  ch_guard_free(g);
}

/* ---- speed --------------------------------------------------------------- */

static void test_speed(void **state) {
  (void)state;
  /* About 100 KB of ordinary code: the clean fixture, repeated. */
  const char *names[] = {"hashes.py", "server.go", "bundle.min.js",
                         "deploy.yaml", "package-lock.json"};
  ch_buf text;
  ch_buf_init(&text, (size_t)1 << 20);
  while(text.len < 100 * 1024) {
    for(size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
      char path[256];
      snprintf(path, sizeof(path), FIXTURES "/clean/%s", names[i]);
      size_t len;
      char *t = read_all(path, &len);
      assert_int_equal(ch_buf_append(&text, t, len), CH_OK);
      free(t);
    }
  }
  ch_guard *g = ch_guard_new(NULL, NULL);
  ch_buf out;
  ch_buf_init(&out, (size_t)4 << 20);
  uint64_t best = UINT64_MAX;
  for(int round = 0; round < 20; round++) {
    ch_buf_reset(&out);
    uint64_t t0 = ch_now_ns();
    assert_int_equal(ch_guard_redact(g, true, text.data, text.len, &out, NULL),
                     CH_OK);
    uint64_t dt = ch_now_ns() - t0;
    if(dt < best) best = dt;
  }
  assert_int_equal(out.len, text.len);
  print_message("redact: %zu bytes of ordinary code in %.3f ms (best of 20)\n",
                text.len, (double)best / 1e6);
  /* Generous, so a loaded machine or a sanitizer build does not fail it;
   * the number printed is what matters. */
  assert_true(best < (uint64_t)50 * 1000 * 1000);

  /* Text made to trip every trigger: the bounded look-backs keep it
   * linear. */
  static const char *const nasty[] = {"key: ", "token=\"",      "-----BEGIN ",
                                      "a:// ", "\"api_key\": ", "==="};
  for(size_t k = 0; k < CH_ARRAY_LEN(nasty); k++) {
    ch_buf_reset(&text);
    while(text.len < 100 * 1024)
      assert_int_equal(ch_buf_append_str(&text, nasty[k]), CH_OK);
    ch_buf_reset(&out);
    uint64_t t0 = ch_now_ns();
    assert_int_equal(ch_guard_redact(g, true, text.data, text.len, &out, NULL),
                     CH_OK);
    uint64_t dt = ch_now_ns() - t0;
    print_message("redact: 100 KB of \"%s\" repeated in %.3f ms\n", nasty[k],
                  (double)dt / 1e6);
    assert_true(dt < (uint64_t)200 * 1000 * 1000);
  }
  ch_buf_release(&out);
  ch_buf_release(&text);
  ch_guard_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secrets_fixture),
      cmocka_unit_test(test_placeholder_keeps_shape),
      cmocka_unit_test(test_clean_fixture),
      cmocka_unit_test(test_deny_defaults),
      cmocka_unit_test(test_deny_custom),
      cmocka_unit_test(test_local_remote),
      cmocka_unit_test(test_boundaries),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_output_cap),
      cmocka_unit_test(test_stats_and_log),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_options_json),
      cmocka_unit_test(test_random_input),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_speed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
