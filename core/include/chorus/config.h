/*
 * chorus/config.h: settings from a JSON config file and from the editor.
 *
 * The same JSON object shape is read from a file (--config FILE, else
 * $CHORUS_CONFIG, else $XDG_CONFIG_HOME/chorus/config.json, else
 * ~/.config/chorus/config.json) and from initializationOptions and
 * workspace/didChangeConfiguration. A mistake is reported with where it came
 * from and the field ("config.json: logLevel: expected one of error, warn,
 * info, debug, trace"), the field keeps its previous value, and every other
 * field still loads. Unknown fields are reported too, since they are
 * usually typos.
 *
 * Fields:
 *   logLevel      "error" | "warn" | "info" | "debug" | "trace"
 *   ignore        array of gitignore-style patterns the index skips, on
 *                 top of the repository's own .gitignore files
 *   maxFileBytes  files larger than this are not indexed (default 1 MiB)
 *   models        array of language models (chorus/models.h documents each
 *                 field); a bad entry is reported with its index and field
 *                 ("config.json: models[2].provider: unknown provider ...")
 *                 and skipped, the other entries load. A source that has a
 *                 "models" field replaces the whole list.
 *   guard         {"deny": [...], "denyExtra": [...], "redactLocal": bool}:
 *                 files no model may see, and whether text for local models
 *                 is redacted too (chorus/guard.h)
 *   context       {"budget": tokens, "prefixRatio": 0..1}: the size of the
 *                 context sent to models that take text (default 2048
 *                 tokens) and the share of the window before the cursor
 *
 * Threads: a ch_config is plain data; copy it to share it.
 */
#ifndef CHORUS_CONFIG_H
#define CHORUS_CONFIG_H

#include <cjson/cJSON.h>

#include "chorus/guard.h"
#include "chorus/util.h"

typedef struct ch_model_config ch_model_config; /* chorus/models.h */

typedef struct ch_config {
  ch_log_level log_level;
  bool has_log_level; /* set by some source; otherwise the default applies */
  char **ignore;      /* NULL-terminated, owned; NULL when none */
  uint64_t max_file_bytes; /* 0: the default */
  ch_model_config *models; /* owned array of nmodels valid entries */
  size_t nmodels;
  bool has_models; /* some source had a "models" field */
  ch_guard_options_owned guard; /* .options goes to ch_guard_new */
  uint32_t context_budget;      /* tokens; 0: the default */
  double context_prefix_ratio;  /* 0: the default */
} ch_config;

/* Defaults: log level info, unset; no extra ignores; default size limit. */
void ch_config_init(ch_config *self);
/* Frees what the config owns; it is back to its defaults. */
void ch_config_release(ch_config *self);

/* Applies the fields of obj (borrowed). Problems are appended to problems
 * as lines "origin: field: what\n". Returns CH_ERR_INVALID when there was at
 * least one problem, CH_OK otherwise; valid fields apply either way. */
ch_status ch_config_apply_json(ch_config *self, const cJSON *obj,
                               const char *origin, ch_buf *problems);

/* Reads and applies a file. CH_ERR_NOT_FOUND when it does not exist (no
 * problem is recorded: a missing default file is normal), CH_ERR_IO when it
 * cannot be read, CH_ERR_PARSE when it is not JSON (with the line number),
 * CH_ERR_INVALID when fields were wrong. */
ch_status ch_config_load_file(ch_config *self, const char *path,
                              ch_buf *problems);

/* The default config file path (see above); caller frees with ch_free.
 * NULL when no home directory is known. */
char *ch_config_default_path(void);

#endif
