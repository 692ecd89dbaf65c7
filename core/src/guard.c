/* guard.c: deny globs and secret redaction. The public contract is in
 * chorus/guard.h.
 *
 * The file reads top to bottom:
 *   kinds      names of the secret kinds
 *   policy     the guard itself: deny globs through ch_ignore_list
 *   bytes      character classes as one table
 *   tokens     one hand-written scanner per provider format, dispatched on
 *              the first byte so ordinary text costs one table lookup
 *   names      is this name (api_key, X-Auth-Token, dbPassword) sensitive?
 *   values     is this value a secret (entropy and character classes)?
 *   the scan   one pass: at each byte that may start something, try the
 *              scanners; copy the text between secrets in whole runs
 *   stats, options from JSON
 */
#include "chorus/guard.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "chorus/workspace.h"

/* How far back a name is looked for before a value, and the longest value
 * judged by the assignment rules: both bound the work per byte. */
#define NAME_LOOKBACK 256
#define VALUE_MAX 1024
#define OUT_PLACEHOLDER_PREFIX "<redacted:"

/* ---- kinds --------------------------------------------------------------- */

static const char *const kind_names[CH_SECRET_KIND_COUNT] = {
    [CH_SECRET_AWS_ACCESS_KEY] = "aws-access-key",
    [CH_SECRET_AWS_SECRET_KEY] = "aws-secret-key",
    [CH_SECRET_GITHUB_TOKEN] = "github-token",
    [CH_SECRET_GITLAB_TOKEN] = "gitlab-token",
    [CH_SECRET_SLACK_TOKEN] = "slack-token",
    [CH_SECRET_SLACK_WEBHOOK] = "slack-webhook",
    [CH_SECRET_STRIPE_KEY] = "stripe-key",
    [CH_SECRET_OPENAI_KEY] = "openai-key",
    [CH_SECRET_ANTHROPIC_KEY] = "anthropic-key",
    [CH_SECRET_GOOGLE_API_KEY] = "google-api-key",
    [CH_SECRET_GOOGLE_OAUTH] = "google-oauth",
    [CH_SECRET_NPM_TOKEN] = "npm-token",
    [CH_SECRET_PYPI_TOKEN] = "pypi-token",
    [CH_SECRET_HUGGINGFACE_TOKEN] = "huggingface-token",
    [CH_SECRET_SENDGRID_KEY] = "sendgrid-key",
    [CH_SECRET_DIGITALOCEAN_TOKEN] = "digitalocean-token",
    [CH_SECRET_SHOPIFY_TOKEN] = "shopify-token",
    [CH_SECRET_PRIVATE_KEY] = "private-key",
    [CH_SECRET_JWT] = "jwt",
    [CH_SECRET_URL_PASSWORD] = "url-password",
    [CH_SECRET_PASSWORD] = "password",
    [CH_SECRET_GENERIC] = "generic-secret",
};

const char *ch_secret_kind_name(ch_secret_kind kind) {
  if((unsigned)kind >= CH_SECRET_KIND_COUNT) return "unknown";
  return kind_names[kind];
}

/* ---- policy -------------------------------------------------------------- */

static const char *const default_deny[] = {
    ".env*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials*",
    "secrets.*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "*.kdbx",
    NULL,
};

const char *const *ch_guard_default_deny(void) { return default_deny; }

struct ch_guard {
  /* Every glob, matched on the path as given. */
  ch_ignore_list *exact;
  /* The globs written without upper case (the defaults are), matched on
   * the path folded to lower case: "ID_RSA" is as secret as "id_rsa". */
  ch_ignore_list *folded;
  bool redact_local;
};

static bool has_upper(const char *s) {
  for(; *s; s++)
    if(*s >= 'A' && *s <= 'Z') return true;
  return false;
}

static size_t list_len(const char *const *list) {
  size_t n = 0;
  while(list && list[n])
    n++;
  return n;
}

ch_guard *ch_guard_new(const ch_guard_options *options, ch_status *error) {
  const char *const *deny =
      options && options->deny ? options->deny : default_deny;
  const char *const *extra = options ? options->deny_extra : NULL;
  size_t nd = list_len(deny), ne = list_len(extra);
  const char **all = ch_malloc(sizeof(char *) * (nd + ne + 1));
  const char **lower = ch_malloc(sizeof(char *) * (nd + ne + 1));
  size_t na = 0, nl = 0;
  for(size_t i = 0; i < nd + ne; i++) {
    const char *g = i < nd ? deny[i] : extra[i - nd];
    if(!*g) continue;
    all[na++] = g;
    if(!has_upper(g)) lower[nl++] = g;
  }
  all[na] = NULL;
  lower[nl] = NULL;

  ch_guard *self = ch_calloc(1, sizeof(*self));
  self->exact = ch_ignore_list_new(all);
  self->folded = ch_ignore_list_new(lower);
  self->redact_local = options && options->redact_local;
  ch_free(all);
  ch_free(lower);
  if(error) *error = CH_OK;
  return self;
}

void ch_guard_free(ch_guard *self) {
  if(!self) return;
  ch_ignore_list_free(self->exact);
  ch_ignore_list_free(self->folded);
  ch_free(self);
}

bool ch_guard_path_denied(const ch_guard *self, const char *rel_path) {
  if(!self || !rel_path || !*rel_path) return false;
  if(ch_ignore_list_match(self->exact, rel_path, false)) return true;
  char *folded = ch_strdup(rel_path);
  for(char *p = folded; *p; p++)
    if(*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  bool denied = ch_ignore_list_match(self->folded, folded, false);
  ch_free(folded);
  return denied;
}

bool ch_guard_redacts(const ch_guard *self, bool remote) {
  return self && (remote || self->redact_local);
}

/* ---- bytes --------------------------------------------------------------- */

enum {
  C_LOWER = 1,
  C_UPPER = 2,
  C_DIGIT = 4,
  C_URLSAFE = 8, /* '-' and '_', the extra letters of base64url */
  C_B64 = 16,    /* '+', '/', '=', the extra letters of base64 */
  C_HEX = 32,
  C_SPACE = 64, /* ' ', '\t', '\r', '\n', '\v', '\f' */
  C_NAME = 128, /* may be part of a name: alnum, '_', '-', '.', '$', '@' */
};
#define C_ALNUM (C_LOWER | C_UPPER | C_DIGIT)

static unsigned char cls[256];
/* Bytes at which a scanner may start. */
static unsigned char starts[256];

static void tables_fill(void) {
  for(int c = 0; c < 256; c++) {
    unsigned char v = 0;
    if(c >= 'a' && c <= 'z') v |= C_LOWER | C_NAME;
    if(c >= 'A' && c <= 'Z') v |= C_UPPER | C_NAME;
    if(c >= '0' && c <= '9') v |= C_DIGIT | C_HEX | C_NAME;
    if((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= C_HEX;
    if(c == '-' || c == '_') v |= C_URLSAFE | C_NAME;
    if(c == '+' || c == '/' || c == '=') v |= C_B64;
    if(c == '.' || c == '$' || c == '@') v |= C_NAME;
    if(c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
       c == '\f')
      v |= C_SPACE;
    cls[c] = v;
  }
  /* 1: always tried; 2: tried at the start of a word only */
  for(const char *s = "-:=\"'`"; *s; s++)
    starts[(unsigned char)*s] = 1;
  for(const char *s = "AgxsrweyGnphSd"; *s; s++)
    starts[(unsigned char)*s] = 2;
}

/* Filled once, before the first scan, from any thread. */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static void tables(void) { pthread_once(&tables_once, tables_fill); }

static inline bool is_(unsigned char c, unsigned mask) {
  return (cls[c] & mask) != 0;
}
#define IS(t, i, mask) is_((unsigned char)(t)[i], (mask))

/* Length of the run from i of bytes in mask, at most max. */
static size_t run(const char *t, size_t n, size_t i, unsigned mask,
                  size_t max) {
  size_t j = i;
  while(j < n && j - i < max && IS(t, j, mask))
    j++;
  return j - i;
}

static bool has_prefix(const char *t, size_t n, size_t i, const char *p) {
  /* the first two bytes settle almost every call */
  if(i >= n || t[i] != p[0]) return false;
  if(p[1] && (i + 1 >= n || t[i + 1] != p[1])) return false;
  size_t k = strlen(p);
  return n - i >= k && memcmp(t + i, p, k) == 0;
}

/* ---- tokens -------------------------------------------------------------- */

/* A provider token found at i: its kind and the secret span [start, end). */
typedef struct hit {
  ch_secret_kind kind;
  size_t start, end;
} hit;

static bool end_ok(const char *t, size_t n, size_t j, unsigned mask) {
  return j >= n || !IS(t, j, mask);
}

/* prefix + a run of at least min bytes of mask (as long as it goes, up to
 * 512), then a byte outside mask. */
static bool tok_run(const char *t, size_t n, size_t i, const char *prefix,
                    unsigned mask, size_t min, ch_secret_kind kind, hit *h) {
  if(!has_prefix(t, n, i, prefix)) return false;
  size_t p = i + strlen(prefix);
  size_t r = run(t, n, p, mask, 512);
  if(r < min || !end_ok(t, n, p + r, mask)) return false;
  *h = (hit){kind, i, p + r};
  return true;
}

/* prefix + exactly len bytes of mask, then a byte outside end_mask. */
static bool tok_fixed(const char *t, size_t n, size_t i, const char *prefix,
                      unsigned mask, size_t len, unsigned end_mask,
                      ch_secret_kind kind, hit *h) {
  if(!has_prefix(t, n, i, prefix)) return false;
  size_t p = i + strlen(prefix);
  if(run(t, n, p, mask, len) != len || !end_ok(t, n, p + len, end_mask))
    return false;
  *h = (hit){kind, i, p + len};
  return true;
}

/* Whether t[a..b) mixes at least two of lower, upper and digit: random
 * tokens do, identifiers such as "hf_model_name_for_tests" do not. */
static bool mixed(const char *t, size_t a, size_t b) {
  unsigned seen = 0;
  for(size_t k = a; k < b; k++)
    seen |= cls[(unsigned char)t[k]] & C_ALNUM;
  return seen != C_LOWER && seen != C_UPPER && seen != C_DIGIT && seen;
}

static bool tok_aws(const char *t, size_t n, size_t i, hit *h) {
  /* Access key ids (long-term, temporary, bearer, context); the other
   * four-letter prefixes (AIDA users, AROA roles...) name things, they
   * grant nothing. */
  static const char *const prefixes[] = {"AKIA", "ASIA", "ABIA", "ACCA"};
  if(n - i < 20) return false;
  for(size_t k = 0; k < CH_ARRAY_LEN(prefixes); k++)
    if(tok_fixed(t, n, i, prefixes[k], C_UPPER | C_DIGIT, 16, C_ALNUM,
                 CH_SECRET_AWS_ACCESS_KEY, h))
      return true;
  return false;
}

static bool tok_jwt(const char *t, size_t n, size_t i, hit *h) {
  if(!has_prefix(t, n, i, "eyJ")) return false;
  const unsigned m = C_ALNUM | C_URLSAFE;
  size_t a = run(t, n, i, m, 4096);
  if(a < 10 || i + a >= n || t[i + a] != '.') return false;
  size_t p = i + a + 1;
  size_t b = run(t, n, p, m, 16384);
  if(b < 10 || p + b >= n || t[p + b] != '.') return false;
  p += b + 1;
  size_t c = run(t, n, p, m, 4096);
  if(!end_ok(t, n, p + c, m)) return false;
  *h = (hit){CH_SECRET_JWT, i, p + c};
  return true;
}

/* "-----BEGIN <label with PRIVATE KEY>-----", then everything up to the
 * matching "-----END". The secret is the body; the line breaks that open
 * and close it stay, as real ones or as "\n" escapes inside a string. With
 * no END the body runs to the end of the text: a cut key is still a key. */
static bool tok_private_key(const char *t, size_t n, size_t i, hit *h) {
  if(!has_prefix(t, n, i, "-----BEGIN ")) return false;
  size_t p = i + 11, q = p;
  while(q < n && q - p < 64 && ((t[q] >= 'A' && t[q] <= 'Z') || t[q] == ' '))
    q++;
  if(!has_prefix(t, n, q, "-----")) return false;
  size_t label = q - p;
  bool private_key = false;
  for(size_t k = p; k + 11 <= q; k++)
    if(memcmp(t + k, "PRIVATE KEY", 11) == 0) private_key = true;
  if(!private_key || label < 11) return false;
  size_t body = q + 5, end = n;
  for(size_t k = body; k + 8 <= n; k++) {
    if(t[k] == '-' && memcmp(t + k, "-----END", 8) == 0) {
      end = k;
      break;
    }
  }
  size_t a = body, b = end;
  if(has_prefix(t, n, a, "\r\n"))
    a += 2;
  else if(a < n && t[a] == '\n')
    a++;
  else if(has_prefix(t, n, a, "\\r\\n"))
    a += 4;
  else if(has_prefix(t, n, a, "\\n"))
    a += 2;
  if(b > a && b < n) { /* keep the break before END, if any */
    if(b - a >= 2 && memcmp(t + b - 2, "\r\n", 2) == 0)
      b -= 2;
    else if(t[b - 1] == '\n')
      b--;
    else if(b - a >= 2 && memcmp(t + b - 2, "\\n", 2) == 0)
      b -= 2;
  }
  if(b <= a) return false;
  *h = (hit){CH_SECRET_PRIVATE_KEY, a, b};
  return true;
}

/* scheme://user:PASSWORD@host: only the password goes. i is the ':'. */
static bool tok_url_password(const char *t, size_t n, size_t i, hit *h) {
  if(!has_prefix(t, n, i, "://")) return false;
  size_t s = i;
  while(s > 0 && i - s < 32 &&
        (IS(t, s - 1, C_ALNUM) || t[s - 1] == '+' || t[s - 1] == '.' ||
         t[s - 1] == '-'))
    s--;
  if(i - s < 2 || !IS(t, s, C_LOWER | C_UPPER)) return false;
  size_t u = i + 3, at = 0, colon = 0;
  for(size_t k = u; k < n && k - u < 512; k++) {
    char c = t[k];
    if(c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '`' ||
       c == '<' || c == '>' || c == '\\' || IS(t, k, C_SPACE))
      break;
    if(c == '@')
      at = k;
    else if(c == ':' && !colon && !at)
      colon = k;
  }
  if(!at || !colon || colon > at || at == colon + 1) return false;
  char first = t[colon + 1];
  /* A reference to a secret is not one: $PASS, ${PASS}, {{pass}}, <pass>,
   * %s, ****. */
  if(first == '$' || first == '{' || first == '<' || first == '%') return false;
  size_t k = colon + 1;
  while(k < at && t[k] == '*')
    k++;
  if(k == at) return false;
  /* Documentation's stand-ins ("user:password@", "joe:pass@") */
  static const char *const stand_ins[] = {
      "password", "pass", "passwd", "pwd",  "pw",      "secret",
      "changeme", "foo",  "bar",    "test", "example", "xxx"};
  size_t plen = at - colon - 1;
  if(plen <= 2) return false;
  for(size_t q = 0; q < CH_ARRAY_LEN(stand_ins); q++) {
    if(strlen(stand_ins[q]) != plen) continue;
    size_t m = 0;
    while(m < plen && (t[colon + 1 + m] | 0x20) == stand_ins[q][m])
      m++;
    if(m == plen) return false;
  }
  *h = (hit){CH_SECRET_URL_PASSWORD, colon + 1, at};
  return true;
}

/* The provider formats, dispatched on the first byte. t[i] starts a word
 * (the byte before is not a letter or digit). */
static bool tok_provider(const char *t, size_t n, size_t i, hit *h) {
  const unsigned an = C_ALNUM, u = C_ALNUM | C_URLSAFE;
  switch(t[i]) {
  case 'A':
    return tok_aws(t, n, i, h) ||
           tok_fixed(t, n, i, "AIza", u, 35, u, CH_SECRET_GOOGLE_API_KEY, h);
  case 'g':
    if(t[i + 1 < n ? i + 1 : i] == 'h' &&
       (tok_run(t, n, i, "ghp_", an, 36, CH_SECRET_GITHUB_TOKEN, h) ||
        tok_run(t, n, i, "gho_", an, 36, CH_SECRET_GITHUB_TOKEN, h) ||
        tok_run(t, n, i, "ghu_", an, 36, CH_SECRET_GITHUB_TOKEN, h) ||
        tok_run(t, n, i, "ghs_", an, 36, CH_SECRET_GITHUB_TOKEN, h) ||
        tok_run(t, n, i, "ghr_", an, 36, CH_SECRET_GITHUB_TOKEN, h)))
      return true;
    if(tok_run(t, n, i, "github_pat_", an | C_URLSAFE, 40,
               CH_SECRET_GITHUB_TOKEN, h))
      return true;
    if(has_prefix(t, n, i, "gl")) {
      static const char *const gl[] = {"glpat-", "gldt-",  "glrt-",
                                       "glptt-", "glcbt-", "gloas-",
                                       "glft-",  "glimt-", "glsoat-"};
      for(size_t k = 0; k < CH_ARRAY_LEN(gl); k++)
        if(tok_run(t, n, i, gl[k], u, 20, CH_SECRET_GITLAB_TOKEN, h) &&
           mixed(t, h->start + strlen(gl[k]), h->end))
          return true;
    }
    return false;
  case 'x':
    if(n - i > 5 && has_prefix(t, n, i, "xox") && strchr("abprsec", t[i + 3]) &&
       t[i + 3] && t[i + 4] == '-') {
      size_t r = run(t, n, i + 5, C_ALNUM | C_URLSAFE, 512);
      if(r >= 10 && mixed(t, i + 5, i + 5 + r)) {
        *h = (hit){CH_SECRET_SLACK_TOKEN, i, i + 5 + r};
        return true;
      }
    }
    return false;
  case 's':
    if(tok_run(t, n, i, "sk_live_", an, 20, CH_SECRET_STRIPE_KEY, h) ||
       tok_run(t, n, i, "sk_test_", an, 20, CH_SECRET_STRIPE_KEY, h) ||
       tok_run(t, n, i, "sk-ant-", u, 32, CH_SECRET_ANTHROPIC_KEY, h) ||
       tok_run(t, n, i, "sk-proj-", u, 20, CH_SECRET_OPENAI_KEY, h) ||
       tok_run(t, n, i, "sk-svcacct-", u, 20, CH_SECRET_OPENAI_KEY, h) ||
       tok_run(t, n, i, "sk-admin-", u, 20, CH_SECRET_OPENAI_KEY, h))
      return true;
    if(tok_run(t, n, i, "sk-", an, 32, CH_SECRET_OPENAI_KEY, h) &&
       mixed(t, i + 3, h->end))
      return true;
    return tok_fixed(t, n, i, "shpat_", C_HEX, 32, an, CH_SECRET_SHOPIFY_TOKEN,
                     h) ||
           tok_fixed(t, n, i, "shpss_", C_HEX, 32, an, CH_SECRET_SHOPIFY_TOKEN,
                     h) ||
           tok_fixed(t, n, i, "shpca_", C_HEX, 32, an, CH_SECRET_SHOPIFY_TOKEN,
                     h) ||
           tok_fixed(t, n, i, "shppa_", C_HEX, 32, an, CH_SECRET_SHOPIFY_TOKEN,
                     h);
  case 'r':
    return tok_run(t, n, i, "rk_live_", an, 20, CH_SECRET_STRIPE_KEY, h) ||
           tok_run(t, n, i, "rk_test_", an, 20, CH_SECRET_STRIPE_KEY, h);
  case 'w': return tok_run(t, n, i, "whsec_", an, 24, CH_SECRET_STRIPE_KEY, h);
  case 'e': return tok_jwt(t, n, i, h);
  case 'y':
    return tok_run(t, n, i, "ya29.", u, 20, CH_SECRET_GOOGLE_OAUTH, h) &&
           mixed(t, i + 5, h->end);
  case 'G':
    return tok_run(t, n, i, "GOCSPX-", u, 20, CH_SECRET_GOOGLE_OAUTH, h);
  case 'n':
    return tok_fixed(t, n, i, "npm_", an, 36, u, CH_SECRET_NPM_TOKEN, h) &&
           mixed(t, i + 4, h->end);
  case 'p': return tok_run(t, n, i, "pypi-AgE", u, 50, CH_SECRET_PYPI_TOKEN, h);
  case 'h':
    if(tok_run(t, n, i, "hf_", an, 30, CH_SECRET_HUGGINGFACE_TOKEN, h) &&
       mixed(t, i + 3, h->end))
      return true;
    return false;
  case 'S':
    if(has_prefix(t, n, i, "SG.") && run(t, n, i + 3, u, 22) == 22 &&
       i + 25 < n && t[i + 25] == '.' && run(t, n, i + 26, u, 43) == 43 &&
       end_ok(t, n, i + 69, u)) {
      *h = (hit){CH_SECRET_SENDGRID_KEY, i, i + 69};
      return true;
    }
    return false;
  case 'd':
    return tok_fixed(t, n, i, "dop_v1_", C_HEX, 64, an,
                     CH_SECRET_DIGITALOCEAN_TOKEN, h) ||
           tok_fixed(t, n, i, "doo_v1_", C_HEX, 64, an,
                     CH_SECRET_DIGITALOCEAN_TOKEN, h) ||
           tok_fixed(t, n, i, "dor_v1_", C_HEX, 64, an,
                     CH_SECRET_DIGITALOCEAN_TOKEN, h);
  default: return false;
  }
}

/* Slack's incoming webhooks carry their secret in the path. */
static bool tok_slack_webhook(const char *t, size_t n, size_t i, hit *h) {
  static const char prefix[] = "hooks.slack.com/services/";
  if(!has_prefix(t, n, i, prefix)) return false;
  size_t p = i + sizeof(prefix) - 1;
  size_t r = run(t, n, p, C_ALNUM | C_URLSAFE | C_B64, 256);
  if(r < 20) return false;
  *h = (hit){CH_SECRET_SLACK_WEBHOOK, p, p + r};
  return true;
}

/* ---- names --------------------------------------------------------------- */

typedef enum sense {
  SENSE_NONE = 0,
  SENSE_SECRET,   /* key, secret, token, credential, auth */
  SENSE_PASSWORD, /* password, passwd, pwd, pass, passphrase */
} sense;

static bool word_is_n(const char *w, size_t n, const char *s, size_t k) {
  return n == k && memcmp(w, s, k) == 0;
}

static bool word_has_n(const char *w, size_t n, const char *s, size_t k) {
  for(size_t i = 0; i + k <= n; i++)
    if(w[i] == s[0] && memcmp(w + i, s, k) == 0) return true;
  return false;
}

/* For string literals, so the lengths are constants. */
#define word_is(w, n, lit) word_is_n((w), (n), (lit), sizeof(lit) - 1)
#define word_has(w, n, lit) word_has_n((w), (n), (lit), sizeof(lit) - 1)
#define word_starts(w, n, lit)                                                 \
  ((n) >= sizeof(lit) - 1 && memcmp((w), (lit), sizeof(lit) - 1) == 0)

/* Whether name[0..n) contains, in any case, one of the stems a sensitive
 * word has. Most names do not, and this says so in one short pass. */
static bool name_mentions(const char *name, size_t n) {
  static const struct {
    const char *s;
    size_t n;
  } stems[] = {{"key", 3}, {"secret", 6},      {"token", 5}, {"pass", 4},
               {"pwd", 3}, {"credential", 10}, {"auth", 4}};
  for(size_t i = 0; i < n; i++) {
    char c = (char)(name[i] | 0x20);
    if(c != 'k' && c != 's' && c != 't' && c != 'p' && c != 'c' && c != 'a')
      continue;
    for(size_t k = 0; k < CH_ARRAY_LEN(stems); k++) {
      if(stems[k].s[0] != c || n - i < stems[k].n) continue;
      size_t j = 1;
      while(j < stems[k].n && (name[i + j] | 0x20) == stems[k].s[j])
        j++;
      if(j == stems[k].n) return true;
    }
  }
  return false;
}

/* Words that, last in a name, say the value is about a secret but is not
 * one: token_url, api_key_env, secret_name, password_file, key_id. */
static bool qualifier(const char *w, size_t n) {
  if(n < 2 || n > 11) return false;
  static const char *const q[] = {
      "id",     "ids",         "name",    "names",       "type",     "types",
      "url",    "uri",         "path",    "file",        "dir",      "env",
      "var",    "field",       "label",   "header",      "prefix",   "suffix",
      "format", "len",         "length",  "size",        "count",    "hash",
      "digest", "fingerprint", "version", "endpoint",    "param",    "kind",
      "mode",   "help",        "hint",    "placeholder", "regex",    "pattern",
      "expiry", "expires",     "ttl",     "policy",      "provider", "scope",
      "scopes", "source",      "store",   "class",       "index",    "column",
      "attr",   "arn"};
  for(size_t k = 0; k < CH_ARRAY_LEN(q); k++)
    if(w[0] == q[k][0] && strlen(q[k]) == n && memcmp(w, q[k], n) == 0)
      return true;
  return false;
}

static sense word_sense(const char *w, size_t n) {
  if(word_has(w, n, "password") || word_has(w, n, "passwd") ||
     word_has(w, n, "passphrase") || word_is(w, n, "pwd") ||
     word_is(w, n, "pass") || word_is(w, n, "dbpass") || word_is(w, n, "pw"))
    return SENSE_PASSWORD;
  if(word_has(w, n, "secret") || word_has(w, n, "credential"))
    return SENSE_SECRET;
  if(word_has(w, n, "token") && !word_has(w, n, "tokeniz")) return SENSE_SECRET;
  if(word_is(w, n, "key") || word_is(w, n, "keys") || word_is(w, n, "apikey") ||
     word_is(w, n, "accesskey") || word_is(w, n, "privatekey") ||
     word_is(w, n, "authkey") || word_is(w, n, "masterkey") ||
     word_is(w, n, "signingkey") || word_is(w, n, "encryptionkey") ||
     word_is(w, n, "clientkey") || word_is(w, n, "sessionkey") ||
     word_is(w, n, "licensekey") || word_is(w, n, "accountkey"))
    return SENSE_SECRET;
  if(word_starts(w, n, "auth") &&
     !(word_starts(w, n, "author") && !word_starts(w, n, "authoriz")))
    return SENSE_SECRET;
  return SENSE_NONE;
}

/* Splits name[0..n) into lower-case words at '_', '-', '.', '$', '@' and
 * case changes (apiKey, APIKey, X-Api-Key) and judges it: the strongest
 * word wins, a "public" anywhere or a qualifier last says it is not a
 * secret. *aws says a word "aws" was seen. */
static sense name_sense(const char *name, size_t n, bool *aws) {
  char w[48];
  size_t wn = 0;
  sense best = SENSE_NONE;
  bool last_qualifier = false, is_public = false;
  *aws = false;
  if(!name_mentions(name, n)) return SENSE_NONE;
  for(size_t i = 0; i <= n; i++) {
    unsigned char c = i < n ? (unsigned char)name[i] : 0;
    bool letter_or_digit = i < n && is_(c, C_ALNUM);
    bool split = !letter_or_digit;
    if(letter_or_digit && wn && i > 0) {
      unsigned char prev = (unsigned char)name[i - 1];
      if(is_(c, C_UPPER) && is_(prev, C_LOWER | C_DIGIT)) split = true;
      /* "APIKey": the K starts a word because a lower case letter follows */
      if(is_(c, C_UPPER) && is_(prev, C_UPPER) && i + 1 < n &&
         is_((unsigned char)name[i + 1], C_LOWER))
        split = true;
    }
    if(split && wn) {
      sense s = word_sense(w, wn);
      if(s > best) best = s;
      if(word_is(w, wn, "aws")) *aws = true;
      if(word_is(w, wn, "public") || word_is(w, wn, "publishable"))
        is_public = true;
      last_qualifier = qualifier(w, wn);
      wn = 0;
    }
    if(letter_or_digit && wn < sizeof(w))
      w[wn++] = (char)(is_(c, C_UPPER) ? c - 'A' + 'a' : c);
  }
  if(is_public || last_qualifier) return SENSE_NONE;
  return best;
}

/* ---- values -------------------------------------------------------------- */

/* Shannon entropy of v[0..n) in bits per byte. */
static double entropy(const char *v, size_t n) {
  unsigned counts[256] = {0};
  for(size_t i = 0; i < n; i++)
    counts[(unsigned char)v[i]]++;
  double h = 0;
  for(int c = 0; c < 256; c++) {
    if(!counts[c]) continue;
    double p = (double)counts[c] / (double)n;
    h -= p * log2(p);
  }
  return h;
}

/* A reference to a secret rather than the secret: $VAR, ${VAR}, {{ var }},
 * %(var)s, <your-key>, ****, process.env.X, os.environ[...]. */
static bool is_reference(const char *v, size_t n) {
  if(!n) return true;
  if(v[0] == '$' || v[0] == '%' || v[0] == '<' || v[0] == '{') return true;
  if(n >= 3 && memmem(v, n, "...", 3)) return true; /* elided in docs */
  for(size_t i = 0; i + 1 < n; i++)
    if((v[i] == '$' && v[i + 1] == '{') || (v[i] == '{' && v[i + 1] == '{'))
      return true;
  size_t stars = 0;
  for(size_t i = 0; i < n; i++)
    stars += v[i] == '*' || v[i] == 'x' || v[i] == 'X' || v[i] == '.';
  return stars == n;
}

static bool is_vowel(unsigned char c) {
  c |= 0x20;
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* One run of letters and digits that reads as a word of code rather than
 * chance: short; at most two groups of digits (sha256, x509, V1Local...);
 * enough vowels (words have about two in five letters, random letters one
 * in five); and, in mixed case, letters that fall in camelCase words or
 * acronyms (XMLHttpRequest, Ipv6CidrAssociations). Random base62 runs
 * of 16 bytes pass as words a few times in a hundred, of 32 bytes a few
 * times in a thousand; the tests plant none that do. */
static bool word_like(const char *v, size_t n) {
  if(n <= 3) return true;
  size_t groups = 0, letters = 0, vowels = 0;
  bool lower = false, upper = false;
  for(size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if(is_(c, C_DIGIT)) {
      if(!i || !is_((unsigned char)v[i - 1], C_DIGIT)) groups++;
      continue;
    }
    letters++;
    vowels += is_vowel(c);
    if(is_(c, C_LOWER))
      lower = true;
    else
      upper = true;
  }
  if(groups > 2) return false;
  if(!letters) return true;
  if(letters >= 8 && vowels * 5 < letters) return false;
  if(!lower || !upper) return groups <= 1;
  size_t covered = 0, i = 0;
  while(i < n) {
    unsigned char c = (unsigned char)v[i];
    if(is_(c, C_UPPER)) {
      size_t j = i;
      while(j < n && is_((unsigned char)v[j], C_UPPER))
        j++;
      size_t k = j;
      while(k < n && is_((unsigned char)v[k], C_LOWER))
        k++;
      size_t u = j - i, l = k - j;
      if(l >= 2) { /* [ACRONYM]Word */
        covered += l + 1 + (u - 1 >= 2 ? u - 1 : 0);
        i = k;
      } else {
        if(u >= 2) covered += u;
        i = j;
      }
    } else if(is_(c, C_LOWER)) {
      size_t j = i;
      while(j < n && is_((unsigned char)v[j], C_LOWER))
        j++;
      if(j - i >= 2) covered += j - i;
      i = j;
    } else {
      i++;
    }
  }
  return covered * 4 >= letters * 3;
}

/* Whether every run of letters and digits of v is word-like: identifiers
 * (SOME_MODULE_CONSTANT_2, AccessTokenProvider), versions and dates
 * (app-v2-release-2024), dotted names. Random strings have runs that mix
 * digits and letters or flip case at every turn. */
static bool identifier_like(const char *v, size_t n) {
  size_t i = 0, runs = 0, total = 0, odd = 0;
  while(i < n) {
    while(i < n && !is_((unsigned char)v[i], C_ALNUM))
      i++;
    size_t a = i;
    while(i < n && is_((unsigned char)v[i], C_ALNUM))
      i++;
    if(i == a) continue;
    runs++;
    total += i - a;
    if(!word_like(v + a, i - a)) odd += i - a;
  }
  /* A path of names may hold one odd name ("cryptoKeys" in a path); random
   * strings split by '/' or '+' are odd all over. */
  return runs >= 3 ? odd * 3 <= total : odd == 0;
}

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *v, size_t n) {
  if(n != 36) return false;
  for(size_t i = 0; i < n; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if(dash ? v[i] != '-' : !is_((unsigned char)v[i], C_HEX)) return false;
  }
  return true;
}

/* An alphabet or a counting test vector ("ABC...XYZabc...789+/",
 * "0123456789abcdef"): most bytes follow their predecessor. */
static bool sequential(const char *v, size_t n) {
  size_t steps = 0;
  for(size_t i = 1; i < n; i++)
    steps += (unsigned char)v[i] == (unsigned char)v[i - 1] + 1;
  return steps * 2 >= n;
}

/* Is v[0..n), assigned to a name of sense s, a secret? The rules are tuned
 * on tests/fixtures/guard: every planted secret out, every line of the
 * clean fixture kept. */
static bool value_secret(const char *v, size_t n, sense s) {
  if(s == SENSE_NONE || n > VALUE_MAX || is_reference(v, n)) return false;
  unsigned seen = 0;
  bool hex = true, punct = false;
  for(size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    /* spaces, controls, non-ASCII, and what formats and markup use */
    if(c < 0x21 || c > 0x7e || strchr("\"'`\\{}<>", c)) return false;
    seen |= cls[c] & C_ALNUM;
    if(!is_(c, C_HEX)) hex = false;
    if(!is_(c, C_ALNUM | C_URLSAFE) && !strchr("./:", c)) punct = true;
  }
  if(seen == C_DIGIT || !seen) return false; /* numbers, dates, phones */
  if(n >= 10 && is_((unsigned char)v[0], C_DIGIT) && v[4] == '-' && v[7] == '-')
    return false;                 /* 2016-09-08T21:47:36Z */
  if(is_uuid(v, n)) return false; /* ids far more often than keys */
  if(sequential(v, n)) return false;
  /* Punctuation beyond - _ . is what people put in passwords, and no
   * identifier has it; without it a password must not read as a name. */
  if((s != SENSE_PASSWORD || !punct) && identifier_like(v, n)) return false;
  if(n >= 3 && memmem(v, n, "://", 3)) return false; /* a URL */
  double h = entropy(v, n);
  if(s == SENSE_PASSWORD) {
    /* Chosen by people and short: three classes of four, or two with some
     * length and spread. "hunter2" stays. */
    if(n < 8) return false;
    unsigned classes = (unsigned)__builtin_popcount(seen) + punct;
    if(classes >= 3) return h >= 2.5;
    return classes == 2 && n >= 12 && h >= 3.0;
  }
  if(n < 16) return false;
  if(v[0] == '/' || v[0] == '.' || v[0] == '~') return false; /* a path */
  /* ARNs, namespaces, URL parts, host/path: keys have none of ':', '%',
   * or both '.' and '/' (base64 has '/', never '.'). */
  if(memchr(v, ':', n) || memchr(v, '%', n) ||
     (memchr(v, '.', n) && memchr(v, '/', n)))
    return false;
  /* Letters only: random keys of this length almost always have a digit;
   * without one, a value needs the length to be judged on spread. */
  if(!(seen & C_DIGIT) && (n < 20 || h < 3.8)) return false;
  /* Shorter hex is an id or a short hash far more often than a key. */
  if(hex) return n >= 32 && h >= 3.0;
  return h >= (n < 24 ? 3.2 : 3.5);
}

/* ---- the scan ------------------------------------------------------------ */

typedef struct scan {
  const char *t;
  size_t n;
  ch_buf *out;
  size_t copied; /* t[0..copied) is in out already */
  ch_guard_stats counts;
  ch_status status;
} scan;

static void emit(scan *s, size_t start, size_t end, ch_secret_kind kind) {
  if(s->status || start >= end || start < s->copied) return;
  ch_status st = ch_buf_append(s->out, s->t + s->copied, start - s->copied);
  if(!st) st = ch_buf_append_str(s->out, OUT_PLACEHOLDER_PREFIX);
  if(!st) st = ch_buf_append_str(s->out, kind_names[kind]);
  if(!st) st = ch_buf_append_char(s->out, '>');
  s->status = st;
  s->copied = end;
  s->counts.redactions++;
  s->counts.by_kind[kind]++;
}

static bool word_start(const char *t, size_t i) {
  return i == 0 || !IS(t, i - 1, C_ALNUM);
}

/* The name assigned to what follows the operator at op (t[op] is '=',
 * ':', ',' or '>' of "=>"): skips a compound operator (+=, :=, ==, !=,
 * ||=, .=, =>), blanks, a "]" and finds either a quoted name ("api_key":,
 * ['token'] =, setenv("TOKEN", ...) or an identifier (API_KEY=, apiKey:,
 * self.password =). For ',' only a quoted name counts. */
static bool name_before(const char *t, size_t op, size_t *ns, size_t *ne) {
  size_t lim = op > NAME_LOOKBACK ? op - NAME_LOOKBACK : 0;
  size_t j = op;
  bool comma = t[op] == ',';
  if(t[op] == '>') {
    if(j == lim || t[j - 1] != '=') return false;
    j--;
  }
  while(j > lim && strchr(":+-*/?!=|&.", t[j - 1]) && t[j - 1])
    j--;
  while(j > lim && (t[j - 1] == ' ' || t[j - 1] == '\t'))
    j--;
  if(j > lim && t[j - 1] == ']') j--;
  if(j > lim && (t[j - 1] == '"' || t[j - 1] == '\'' || t[j - 1] == '`')) {
    char q = t[j - 1];
    size_t e = j - 1, k = e;
    while(k > lim && t[k - 1] != q && t[k - 1] != '\n')
      k--;
    if(k == lim || t[k - 1] != q || k == e) return false;
    if(comma) {
      /* only the first argument of a call: setenv("TOKEN", "...") */
      size_t b = k - 1;
      while(b > lim && (t[b - 1] == ' ' || t[b - 1] == '\t'))
        b--;
      if(b == lim || t[b - 1] != '(') return false;
    }
    *ns = k;
    *ne = e;
    return true;
  }
  if(comma) return false;
  size_t e = j;
  while(j > lim && IS(t, j - 1, C_NAME))
    j--;
  if(j == e) return false;
  if(t[op] == '=') {
    /* "apiKey: string =", "token: str =": the name is before the type,
     * and judging both together lets the name's words count. */
    size_t k = j;
    while(k > lim && (t[k - 1] == ' ' || t[k - 1] == '\t'))
      k--;
    if(k > lim && t[k - 1] == ':') {
      k--;
      while(k > lim && (t[k - 1] == ' ' || t[k - 1] == '\t'))
        k--;
      size_t k2 = k;
      while(k > lim && IS(t, k - 1, C_NAME))
        k--;
      if(k < k2) j = k;
    }
  }
  *ns = j;
  *ne = e;
  return true;
}

static bool equals_nocase(const char *a, size_t n, const char *lit) {
  size_t i = 0;
  while(i < n && lit[i] && (a[i] | 0x20) == lit[i])
    i++;
  return i == n && !lit[i];
}

/* A value whose name is "value" takes its name from a sibling "name" or
 * "key" just before it: Kubernetes env entries ("- name: DB_PASSWORD" then
 * "value: ..."), .NET settings (<add key="ApiKey" value="..."/>). Looks
 * back at most two lines. */
static void paired_name(const char *t, size_t *ns, size_t *ne) {
  if(!equals_nocase(t + *ns, *ne - *ns, "value")) return;
  size_t lim = *ns > NAME_LOOKBACK ? *ns - NAME_LOOKBACK : 0;
  int lines = 0;
  for(size_t k = *ns; k > lim && lines <= 2; k--) {
    char c = t[k - 1];
    if(c == '\n') lines++;
    if(c != ':' && c != '=') continue;
    /* the field before the operator: name or key, perhaps quoted */
    size_t e = k - 1;
    while(e > lim && (t[e - 1] == '"' || t[e - 1] == '\'' || t[e - 1] == ' '))
      e--;
    size_t b = e;
    while(b > lim && IS(t, b - 1, C_ALNUM))
      b--;
    if(!equals_nocase(t + b, e - b, "name") &&
       !equals_nocase(t + b, e - b, "key"))
      continue;
    /* the sibling's value: the name to judge */
    size_t v = k;
    while(t[v] == ' ' || t[v] == '"' || t[v] == '\'')
      v++;
    size_t w = v;
    while(w < *ns && IS(t, w, C_NAME))
      w++;
    if(w > v) {
      *ns = v;
      *ne = w;
    }
    return;
  }
}

/* "Bearer abc", "Basic abc", "token abc": the scheme word stays. */
static size_t auth_scheme(const char *v, size_t n) {
  static const char *const schemes[] = {"bearer ", "basic ", "token ", "bot "};
  for(size_t k = 0; k < CH_ARRAY_LEN(schemes); k++) {
    size_t len = strlen(schemes[k]);
    if(n <= len) continue;
    size_t i = 0;
    while(i < len && (v[i] | 0x20) == schemes[k][i])
      i++;
    if(i == len) {
      while(i < n && v[i] == ' ')
        i++;
      return i;
    }
  }
  return 0;
}

/* The kind of a value judged by its name: AWS secret access keys are 40
 * bytes of base64 under a name with "aws" in it. */
static ch_secret_kind assigned_kind(sense se, bool aws, const char *v,
                                    size_t n) {
  if(se == SENSE_PASSWORD) return CH_SECRET_PASSWORD;
  if(aws && n == 40) {
    size_t k = 0;
    while(k < n && is_((unsigned char)v[k], C_ALNUM | C_B64) && v[k] != '=')
      k++;
    if(k == n) return CH_SECRET_AWS_SECRET_KEY;
  }
  return CH_SECRET_GENERIC;
}

/* Redacts v[a..b) of s->t, assigned to name[ns..ne), when it is a secret.
 * A provider token at a wins over the name's judgement so the kind is
 * right. Returns true when something was emitted. */
static bool judge_value(scan *s, size_t ns, size_t ne, size_t a, size_t b) {
  const char *t = s->t;
  bool aws;
  sense se = name_sense(t + ns, ne - ns, &aws);
  if(se == SENSE_NONE) return false;
  a += auth_scheme(t + a, b - a);
  if(a >= b) return false;
  hit h;
  if(word_start(t, a) && tok_provider(t, b, a, &h)) {
    if(h.end == b) {
      emit(s, h.start, h.end, h.kind);
      return true;
    }
    return false; /* a token inside: the scan finds it */
  }
  if(!value_secret(t + a, b - a, se)) return false;
  emit(s, a, b, assigned_kind(se, aws, t + a, b - a));
  return true;
}

/* A quoted value at q: 'x', "x" or `x` on one line. Returns where the scan
 * goes on, or 0 to go on at q + 1 (inside the string, where tokens are
 * still found). */
static size_t at_quote(scan *s, size_t q) {
  const char *t = s->t;
  size_t n = s->n;
  char quote = t[q];
  size_t j = q;
  size_t lim = q > NAME_LOOKBACK ? q - NAME_LOOKBACK : 0;
  while(j > lim && (t[j - 1] == ' ' || t[j - 1] == '\t'))
    j--;
  if(j == lim) return 0;
  char op = t[j - 1];
  if(op != '=' && op != ':' && op != ',' && op != '>') return 0;
  size_t ns, ne;
  if(!name_before(t, j - 1, &ns, &ne)) return 0;
  paired_name(t, &ns, &ne);
  bool aws;
  if(name_sense(t + ns, ne - ns, &aws) == SENSE_NONE) return 0;
  if(q + 2 < n && t[q + 1] == quote && t[q + 2] == quote) return 0;
  size_t e = q + 1;
  while(e < n && t[e] != quote && t[e] != '\n' && e - q <= VALUE_MAX) {
    if(t[e] == '\\' && e + 1 < n && t[e + 1] != '\n') e++;
    e++;
  }
  if(e >= n || t[e] != quote) return 0;
  if(!judge_value(s, ns, ne, q + 1, e)) return 0;
  return e + 1;
}

/* Ends an unquoted value: blanks, line ends, the separators of query and
 * connection strings, quotes. */
static bool value_end(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' ||
         c == '&' || c == ',' || c == '"' || c == '\'' || c == '`';
}

/* winreg.OpenKeyEx, Status.DISASSOCIATED: a member of something, in
 * code, where an unquoted secret would not even parse. */
static bool member_expression(const char *v, size_t n) {
  bool dot = false, start = true;
  for(size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if(c == '.') {
      if(start) return false;
      dot = start = true;
    } else if(is_(c, C_ALNUM) || c == '_' || c == '$') {
      if(start && is_(c, C_DIGIT)) return false;
      start = false;
    } else {
      return false;
    }
  }
  return dot && !start;
}

/* An unquoted value after '=' (env files, shell, ini, query and
 * connection strings) or ': ' (YAML, HTTP headers): a single word that is
 * the whole rest of the line, or ends at a separator. Code (calls,
 * indexing, member access) does not qualify. */
static size_t at_operator(scan *s, size_t i) {
  const char *t = s->t;
  size_t n = s->n;
  char op = t[i];
  if(i + 1 >= n) return 0;
  if(op == '=' && (t[i + 1] == '=' || t[i + 1] == '>' || t[i + 1] == '~'))
    return 0;
  /* comparisons (==, !=, <=, >=) compare with code, not a literal */
  if(op == '=' && i > 0 && strchr("=!<>", t[i - 1]) && t[i - 1]) return 0;
  if(op == ':' && t[i + 1] != ' ' && t[i + 1] != '\t') return 0;
  size_t v = i + 1;
  while(v < n && (t[v] == ' ' || t[v] == '\t'))
    v++;
  if(v >= n || value_end(t[v]) || t[v] == '|' || t[v] == '>') return 0;
  size_t ns, ne;
  if(!name_before(t, i, &ns, &ne)) return 0;
  paired_name(t, &ns, &ne);
  bool aws;
  if(name_sense(t + ns, ne - ns, &aws) == SENSE_NONE) return 0;
  size_t e = v;
  for(;;) {
    while(e < n && !value_end(t[e]) && e - v <= VALUE_MAX) {
      if(strchr("(){}[]<>", t[e])) return 0;
      e++;
    }
    /* "Authorization: Bearer abc": the value is the next word */
    if(e < n && t[e] == ' ' && auth_scheme(t + v, n - v) == e + 1 - v &&
       e + 1 < n && !value_end(t[e + 1])) {
      e++;
      continue;
    }
    break;
  }
  if(e - v > VALUE_MAX) return 0;
  size_t k = e;
  while(k < n && (t[k] == ' ' || t[k] == '\t'))
    k++;
  if(k < n && t[k] != '\n' && t[k] != '\r' && t[k] != '#' &&
     !(k == e && value_end(t[k])))
    return 0;
  /* A provider token at v: the scan finds it there with its own kind. */
  hit h;
  if(word_start(t, v) && tok_provider(t, n, v, &h)) return 0;
  if(member_expression(t + v, e - v)) return 0;
  if(!judge_value(s, ns, ne, v, e)) return 0;
  return e;
}

/* Tries everything that may start at i; returns where to go on, or 0. */
static size_t at(scan *s, size_t i) {
  const char *t = s->t;
  size_t n = s->n;
  hit h;
  char c = t[i];
  switch(c) {
  case '"':
  case '\'':
  case '`': return at_quote(s, i);
  case '=': return at_operator(s, i);
  case ':':
    if(tok_url_password(t, n, i, &h)) {
      emit(s, h.start, h.end, h.kind);
      return h.end;
    }
    return at_operator(s, i);
  case '-':
    if(tok_private_key(t, n, i, &h)) {
      emit(s, h.start, h.end, h.kind);
      return h.end;
    }
    return 0;
  case 'h':
    if(tok_slack_webhook(t, n, i, &h)) {
      emit(s, h.start, h.end, h.kind);
      return h.end;
    }
    break;
  default: break;
  }
  if(!word_start(t, i) || !tok_provider(t, n, i, &h)) return 0;
  emit(s, h.start, h.end, h.kind);
  return h.end;
}

ch_status ch_guard_redact(const ch_guard *self, bool remote, const char *text,
                          size_t len, ch_buf *out, ch_guard_stats *stats) {
  if(!self || !out || (!text && len)) return CH_ERR_INVALID;
  if(!ch_guard_redacts(self, remote)) return ch_buf_append(out, text, len);
  tables();
  size_t mark = out->len;
  scan s = {.t = text, .n = len, .out = out};
  size_t i = 0;
  while(i < len && !s.status) {
    unsigned char st = starts[(unsigned char)text[i]];
    if(!st || (st == 2 && i && IS(text, i - 1, C_ALNUM))) {
      i++;
      continue;
    }
    size_t next = at(&s, i);
    i = next > i ? next : i + 1;
  }
  if(!s.status) s.status = ch_buf_append(out, text + s.copied, len - s.copied);
  if(s.status) {
    out->len = mark;
    if(out->data) out->data[mark] = '\0';
    return s.status;
  }
  if(stats) ch_guard_stats_add(stats, &s.counts);
  return CH_OK;
}

/* ---- stats --------------------------------------------------------------- */

void ch_guard_stats_add(ch_guard_stats *self, const ch_guard_stats *add) {
  if(!self || !add) return;
  self->redactions += add->redactions;
  for(size_t k = 0; k < CH_SECRET_KIND_COUNT; k++)
    self->by_kind[k] += add->by_kind[k];
}

ch_status ch_guard_stats_format(const ch_guard_stats *self, ch_buf *out) {
  if(!self || !out) return CH_ERR_INVALID;
  if(!self->redactions) return ch_buf_append_str(out, "no secrets");
  ch_status st = ch_buf_appendf(out, "%zu secret%s (", self->redactions,
                                self->redactions == 1 ? "" : "s");
  bool first = true;
  for(size_t k = 0; k < CH_SECRET_KIND_COUNT && !st; k++) {
    if(!self->by_kind[k]) continue;
    st = ch_buf_appendf(out, "%s%s %zu", first ? "" : ", ", kind_names[k],
                        self->by_kind[k]);
    first = false;
  }
  if(!st) st = ch_buf_append_char(out, ')');
  return st;
}

void ch_guard_stats_log(const ch_guard_stats *self, const char *file) {
  if(!self || !self->redactions || !ch_log_enabled(CH_LOG_INFO)) return;
  ch_buf line;
  ch_buf_init(&line, 4096);
  ch_guard_stats_format(self, &line);
  ch_log_info("guard: redacted %s in %s", line.data ? line.data : "",
              file ? file : "text");
  ch_buf_release(&line);
}

/* ---- options from JSON --------------------------------------------------- */

void ch_guard_options_owned_init(ch_guard_options_owned *self) {
  memset(self, 0, sizeof(*self));
}

static void strv_free(char **v) {
  for(size_t i = 0; v && v[i]; i++)
    ch_free(v[i]);
  ch_free(v);
}

void ch_guard_options_owned_release(ch_guard_options_owned *self) {
  if(!self) return;
  strv_free(self->deny);
  strv_free(self->deny_extra);
  memset(self, 0, sizeof(*self));
}

static void problem(ch_buf *problems, const char *origin, const char *fmt, ...)
    CH_PRINTF(3, 4);
static void problem(ch_buf *problems, const char *origin, const char *fmt,
                    ...) {
  if(!problems) return;
  ch_buf_appendf(problems, "%s: ", origin);
  va_list ap;
  va_start(ap, fmt);
  ch_buf_vappendf(problems, fmt, ap);
  va_end(ap);
  ch_buf_append_char(problems, '\n');
}

/* A list of strings; entries that are not strings are reported and left
 * out. Returns false (and sets nothing) when the field is not an array. */
static bool read_globs(const cJSON *item, const char *origin, const char *field,
                       ch_buf *problems, char ***out, bool *bad) {
  if(!cJSON_IsArray(item)) {
    problem(problems, origin, "guard.%s: expected an array of strings", field);
    *bad = true;
    return false;
  }
  size_t n = (size_t)cJSON_GetArraySize(item), k = 0, index = 0;
  char **v = ch_calloc(n + 1, sizeof(char *));
  for(const cJSON *e = item->child; e; e = e->next, index++) {
    if(!cJSON_IsString(e) || !e->valuestring) {
      problem(problems, origin, "guard.%s[%zu]: expected a string", field,
              index);
      *bad = true;
      continue;
    }
    if(!*e->valuestring) {
      problem(problems, origin, "guard.%s[%zu]: empty glob", field, index);
      *bad = true;
      continue;
    }
    v[k++] = ch_strdup(e->valuestring);
  }
  strv_free(*out);
  *out = v;
  return true;
}

ch_status ch_guard_options_from_json(ch_guard_options_owned *out,
                                     const cJSON *obj, const char *origin,
                                     ch_buf *problems) {
  if(!out) return CH_ERR_INVALID;
  if(!origin) origin = "config";
  bool bad = false;
  if(obj && !cJSON_IsNull(obj)) {
    if(!cJSON_IsObject(obj)) {
      problem(problems, origin, "guard: expected an object");
      bad = true;
    } else {
      for(const cJSON *f = obj->child; f; f = f->next) {
        const char *key = f->string ? f->string : "";
        if(strcmp(key, "deny") == 0) {
          if(cJSON_IsNull(f)) {
            strv_free(out->deny);
            out->deny = NULL;
          } else {
            read_globs(f, origin, "deny", problems, &out->deny, &bad);
          }
        } else if(strcmp(key, "denyExtra") == 0) {
          if(cJSON_IsNull(f)) {
            strv_free(out->deny_extra);
            out->deny_extra = NULL;
          } else {
            read_globs(f, origin, "denyExtra", problems, &out->deny_extra,
                       &bad);
          }
        } else if(strcmp(key, "redactLocal") == 0) {
          if(cJSON_IsBool(f)) {
            out->options.redact_local = cJSON_IsTrue(f);
          } else {
            problem(problems, origin,
                    "guard.redactLocal: expected true or false");
            bad = true;
          }
        } else {
          problem(problems, origin, "guard.%s: unknown field", key);
          bad = true;
        }
      }
    }
  }
  out->options.deny = (const char *const *)out->deny;
  out->options.deny_extra = (const char *const *)out->deny_extra;
  return bad ? CH_ERR_INVALID : CH_OK;
}
