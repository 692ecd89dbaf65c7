/*
 * chorus/guard.h: what may leave the machine.
 *
 * Every model is local or remote. Before text is put in a prompt the
 * context engine asks the guard two things:
 *
 * 1. Is this file denied? Files whose path (relative to the workspace root)
 *    matches a deny glob are never put in any prompt, for remote and local
 *    models alike: they hold secrets, not code, so leaving them out costs
 *    nothing. The globs use gitignore syntax and rules (a glob without '/'
 *    matches the basename at any depth, "dir/" matches directories, "!"
 *    re-includes, a file inside a denied directory is denied). The default
 *    list (ch_guard_default_deny) is matched without regard to case, so
 *    "ID_RSA" and ".ENV.local" are denied too; configured globs match as
 *    written and also without regard to case when written in lower case.
 *
 * 2. What does this text look like with its secrets taken out?
 *    ch_guard_redact copies text and replaces each secret it recognises
 *    with a placeholder "<redacted:KIND>" (KIND from ch_secret_kind_name)
 *    that keeps the shape of the code: only the value inside its quotes
 *    goes, only the password of a URL, only the body of a private key
 *    block between its BEGIN and END lines. Recognised: provider tokens
 *    with a fixed shape (see ch_secret_kind), private key blocks, JWTs,
 *    URLs with a password, and high-entropy string values assigned to a
 *    name that says key, secret, token, password, passwd, pwd, credential
 *    or auth (assignments, keyword arguments, dict/JSON/YAML keys, env and
 *    shell files, query strings, connection strings, HTTP headers). One
 *    pass over the text with hand-written scanners: no regular
 *    expressions, no allocation besides the output, linear time (about
 *    0.3 ms per 100 KB of code).
 *
 *    What the assignment rule keeps, so that ordinary code comes out
 *    byte-identical: values that read as names (snake_case, camelCase,
 *    dotted, paths, "V1SecretKeySelector"), hex shorter than 32 digits,
 *    UUIDs, dates, numbers, URLs, ARNs, values with spaces, references
 *    ($VAR, ${VAR}, {{ var }}, <your-key>, ****, "abc..."), names that
 *    describe a secret without holding one (token_url, key_id,
 *    secret_name, password_file, public_key), and weak passwords such as
 *    "hunter2" (a password needs three of lower, upper, digit and
 *    punctuation, or two and twelve bytes). Documentation stand-ins in
 *    URLs ("user:password@") are kept too. A secret split across lines is
 *    not recognised (key blocks aside), and neither is a token cut in
 *    half: redact a whole file (or whole lines) first, then cut snippets
 *    from the result. Text for a local model is copied unchanged unless
 *    the options say redact_local.
 *
 * The guard never logs or returns a secret: ch_guard_stats counts
 * redactions per kind, and ch_guard_stats_log writes those counts with
 * the file's name.
 *
 * Threads: a ch_guard is immutable once built; share it between threads
 * freely. Options structs are plain data.
 */
#ifndef CHORUS_GUARD_H
#define CHORUS_GUARD_H

#include <cjson/cJSON.h>

#include "chorus/util.h"

/* What a redacted secret was. Placeholders and log lines name the kind. */
typedef enum ch_secret_kind {
  CH_SECRET_AWS_ACCESS_KEY = 0, /* AKIA/ASIA... + 16 */
  CH_SECRET_AWS_SECRET_KEY,     /* 40 chars assigned to an aws..secret name */
  CH_SECRET_GITHUB_TOKEN,       /* ghp_ gho_ ghu_ ghs_ ghr_ github_pat_ */
  CH_SECRET_GITLAB_TOKEN,       /* glpat- and the other gl...- prefixes */
  CH_SECRET_SLACK_TOKEN,        /* xoxb- xoxp- xoxa- xoxr- xoxs- xoxe- */
  CH_SECRET_SLACK_WEBHOOK,      /* hooks.slack.com/services/... path */
  CH_SECRET_STRIPE_KEY,         /* sk_live_ sk_test_ rk_ whsec_ */
  CH_SECRET_OPENAI_KEY,         /* sk-proj- sk-svcacct- sk-admin- sk- */
  CH_SECRET_ANTHROPIC_KEY,      /* sk-ant- */
  CH_SECRET_GOOGLE_API_KEY,     /* AIza + 35 */
  CH_SECRET_GOOGLE_OAUTH,       /* ya29. access tokens, GOCSPX- secrets */
  CH_SECRET_NPM_TOKEN,          /* npm_ + 36 */
  CH_SECRET_PYPI_TOKEN,         /* pypi-AgE... */
  CH_SECRET_HUGGINGFACE_TOKEN,  /* hf_ + 34 or more */
  CH_SECRET_SENDGRID_KEY,       /* SG.x{22}.x{43} */
  CH_SECRET_DIGITALOCEAN_TOKEN, /* dop_v1_ doo_v1_ dor_v1_ + 64 hex */
  CH_SECRET_SHOPIFY_TOKEN,      /* shpat_ shpss_ shpca_ shppa_ + 32 hex */
  CH_SECRET_PRIVATE_KEY,        /* -----BEGIN ... PRIVATE KEY----- block */
  CH_SECRET_JWT,                /* eyJ... . ... . ... */
  CH_SECRET_URL_PASSWORD,       /* scheme://user:PASSWORD@host */
  CH_SECRET_PASSWORD,           /* value of a password/passwd/pwd name */
  CH_SECRET_GENERIC,            /* value of a key/secret/token/auth name */
  CH_SECRET_KIND_COUNT
} ch_secret_kind;

/* "aws-access-key", "github-token", ..., "generic-secret". Never NULL
 * ("unknown" for a value out of range). */
const char *ch_secret_kind_name(ch_secret_kind kind);

/* The default deny globs, NULL-terminated, static: .env*, *.pem, *.key,
 * id_rsa* and the other ssh private keys, *.p12, *.pfx, credentials*,
 * secrets.*, and a few more files that only ever hold secrets. */
const char *const *ch_guard_default_deny(void);

typedef struct ch_guard_options {
  /* NULL-terminated gitignore-style globs, borrowed for ch_guard_new.
   * NULL: the defaults. An empty list (only the NULL) denies nothing. */
  const char *const *deny;
  /* Added after deny (or after the defaults); may be NULL. */
  const char *const *deny_extra;
  bool redact_local; /* also redact text for local models */
} ch_guard_options;

typedef struct ch_guard ch_guard;

/* Compiles a policy; options may be NULL (the defaults) and is copied, so
 * the caller may free its strings afterwards. Empty globs are skipped; a
 * malformed glob (an unclosed "[") matches nothing, as in git. Never fails
 * today: *error (error may be NULL) is set to CH_OK; the status exists so a
 * later check on the options can refuse them. Free with ch_guard_free. */
ch_guard *ch_guard_new(const ch_guard_options *options, ch_status *error);
void ch_guard_free(ch_guard *self); /* NULL: no-op */

/* Whether the file at rel_path (relative to the workspace root,
 * '/'-separated; a leading "./" or "/" is ignored) must stay out of every
 * prompt. NULL or empty path: false. */
bool ch_guard_path_denied(const ch_guard *self, const char *rel_path);

/* Whether text for a model (remote or local) is redacted at all. */
bool ch_guard_redacts(const ch_guard *self, bool remote);

/* Counts of what one or more ch_guard_redact calls replaced. */
typedef struct ch_guard_stats {
  size_t redactions; /* sum of by_kind */
  size_t by_kind[CH_SECRET_KIND_COUNT];
} ch_guard_stats;

/* Appends text[0..len) to out with each secret replaced by its
 * placeholder. Returns CH_OK, or CH_ERR_TOO_LARGE when out would pass its
 * maximum (out is then back to the length it had: nothing half-redacted
 * is left in it), or CH_ERR_INVALID for a NULL self/out or a NULL text
 * with len > 0. When !ch_guard_redacts(self, remote) the text is copied
 * as is. stats may be NULL; when given, counts are added to it (so one
 * stats can sum several calls). Any bytes are accepted, invalid UTF-8 and
 * NULs included; secrets are ASCII, so a placeholder never cuts a UTF-8
 * sequence. */
ch_status ch_guard_redact(const ch_guard *self, bool remote, const char *text,
                          size_t len, ch_buf *out, ch_guard_stats *stats);

/* Adds the counts of `add` to self. */
void ch_guard_stats_add(ch_guard_stats *self, const ch_guard_stats *add);

/* Appends "3 secrets (github-token 1, jwt 2)" to out: counts and kind
 * names only. Appends "no secrets" when there were none. */
ch_status ch_guard_stats_format(const ch_guard_stats *self, ch_buf *out);

/* Logs one info line "guard: redacted 3 secrets (github-token 1, jwt 2)
 * in FILE" when stats has redactions; nothing otherwise. file may be NULL
 * ("text"). Never logs a secret. */
void ch_guard_stats_log(const ch_guard_stats *self, const char *file);

/* Options read from JSON, owning their strings. Embed it: _init, fill with
 * ch_guard_options_from_json, hand `options` to ch_guard_new, _release. */
typedef struct ch_guard_options_owned {
  ch_guard_options options; /* points into the arrays below */
  char **deny;              /* NULL-terminated, owned; NULL: not set */
  char **deny_extra;        /* NULL-terminated, owned; NULL: not set */
} ch_guard_options_owned;

void ch_guard_options_owned_init(ch_guard_options_owned *self);
void ch_guard_options_owned_release(ch_guard_options_owned *self);

/* Applies {"deny": [...], "denyExtra": [...], "redactLocal": bool} from
 * obj (borrowed; NULL or JSON null: nothing to apply). Problems are
 * appended to problems (may be NULL) as lines such as
 * "origin: guard.deny[1]: expected a string\n"; a field with a problem
 * keeps its previous value (a list with one bad entry keeps the good
 * ones), every other field applies, unknown fields are reported. Returns
 * CH_ERR_INVALID when there was a problem, CH_OK otherwise. origin may be
 * NULL ("config"). */
ch_status ch_guard_options_from_json(ch_guard_options_owned *out,
                                     const cJSON *obj, const char *origin,
                                     ch_buf *problems);

#endif
