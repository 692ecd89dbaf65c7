/*
 * chorus/prompt.h: what a model is sent, and what is kept of its answer.
 *
 * Renders the text before and after the cursor, with context from other
 * files, for one model: a fill-in-the-middle (FIM) prompt in the special
 * tokens of the model's family, or a system + user message pair for chat
 * models. It also finds stop strings in streamed output and extracts the
 * code from a chat reply.
 *
 * Guarantees:
 * - Rendering appends to a caller's ch_buf and honours its maximum: when the
 *   prompt does not fit, CH_ERR_TOO_LARGE is returned (the buffer may hold
 *   a partial prompt then; reset it before reuse).
 * - Text is treated as bytes: nothing is escaped, re-encoded or trimmed in
 *   a FIM prompt, so the model sees the file exactly.
 * - Everything is pure: no global state, safe from any thread as long as
 *   the buffers and templates passed are not shared while in use.
 */
#ifndef CHORUS_PROMPT_H
#define CHORUS_PROMPT_H

#include <stddef.h>

#include "chorus/util.h"

/* FIM families (../shared/REFERENCE.md section C has the exact tokens and
 * stops). */
typedef enum ch_fim_family {
  CH_FIM_NONE = 0,  /* the API takes prefix and suffix itself (OpenAI `suffix`,
                       Ollama `suffix`, Mistral FIM, llama.cpp /infill) */
  CH_FIM_STARCODER, /* StarCoder, StarCoder2 */
  CH_FIM_CODELLAMA, /* PSM */
  CH_FIM_CODELLAMA_SPM,
  CH_FIM_DEEPSEEK,
  CH_FIM_QWEN, /* Qwen2.5-Coder; repo-level layout when files are given */
  CH_FIM_CODESTRAL,
  CH_FIM_CODEGEMMA,
  CH_FIM_GRANITE,
  CH_FIM_CUSTOM, /* user template from config */
} ch_fim_family;

typedef struct ch_fim_template {
  ch_fim_family family;
  /* Owned; CUSTOM only: text with {prefix} {suffix} and optionally {files}
   * {path} {repo}; literal braces as {{ and }}. NULL for other families. */
  char *custom;
  /* Owned, NULL-terminated: the family's stops, plus any from config. */
  char **stops;
} ch_fim_template;

/* By name: "starcoder", "starcoder2", "codellama", "codellama-spm", "deepseek",
 * "qwen", "codestral", "codegemma", "granite", "none". Unknown name ->
 * CH_ERR_NOT_FOUND with a message listing the known names in *error (appended).
 * error may be NULL. On failure self is left empty (safe to release). */
ch_status ch_fim_template_init(ch_fim_template *self, const char *name,
                               ch_buf *error);
/* A custom template; checks it has {prefix} and {suffix} and no unknown
 * {names}. Copies text and stops (stops may be NULL). CH_ERR_INVALID with a
 * message in *error (appended; may be NULL) when the template is malformed. */
ch_status ch_fim_template_init_custom(ch_fim_template *self, const char *text,
                                      const char *const *stops, ch_buf *error);
/* Adds stop strings (copied; NULL-terminated list) after the family's own,
 * skipping duplicates and empty strings. For stops from config. */
void ch_fim_template_add_stops(ch_fim_template *self, const char *const *stops);
/* Frees what the template owns; it is left empty (family CH_FIM_NONE). */
void ch_fim_template_release(ch_fim_template *self);
/* The canonical name of a family ("starcoder", ..., "custom"); static. */
const char *ch_fim_family_name(ch_fim_family family);

/* Context from other files, in the order it should appear (stable first). */
typedef struct ch_prompt_file {
  const char *path;
  const char *text;
  size_t len;
} ch_prompt_file;
/* All pointers in these two structs are borrowed for the call. Texts are
 * bytes with a length (NULs allowed); a NULL text needs a zero length. */
typedef struct ch_prompt_input {
  /* Text before the cursor. */
  const char *prefix;
  size_t prefix_len;
  /* Text after the cursor. */
  const char *suffix;
  size_t suffix_len;
  /* Current file, relative, '/'-separated; may be NULL. */
  const char *path;
  /* "c", "python", ... (chorus/syntax.h names); may be NULL. */
  const char *language;
  /* Repository name for repo-level layouts; may be NULL. */
  const char *repo;
  const ch_prompt_file *files;
  size_t nfiles;
} ch_prompt_input;

/* Renders the FIM prompt into out (appends). StarCoder2 and Qwen put other
 * files in their repo-level layout; families without one (and CH_FIM_NONE's
 * prompt part, see next function) get the files as a comment block in the
 * language's line-comment syntax ("# path: a/b.py" then the text) before the
 * prefix. CH_FIM_NONE renders that file block + prefix only. CH_ERR_TOO_LARGE
 * when out's max is reached.
 *
 * Repo-level layouts (only when files are given):
 *   StarCoder  [<repo_name>{repo}]<file_sep>{path}\n{text}...
 *              [<file_sep>{current path}\n]<fim_prefix>...<fim_middle>
 *   Qwen       [<|repo_name|>{repo}\n]<|file_sep|>{path} \n{text}\n...
 *              [<|file_sep|>{current path} \n]<|fim_prefix|>...<|fim_middle|>
 * The bracketed parts are left out when repo or path is NULL. A custom
 * template gets the comment block where it says {files}, else just before
 * the prefix. */
ch_status ch_prompt_fim(const ch_fim_template *t, const ch_prompt_input *in,
                        ch_buf *out);
/* Other files as a comment block (used by providers that send prefix and
 * suffix as separate fields but want context): per file "<m> path: <path>"
 * then every line of its text behind the marker <m>. Appends nothing when
 * there are no files. */
ch_status ch_prompt_files_block(const ch_prompt_input *in, ch_buf *out);
/* The line-comment marker of a language ("//", "#", "--", ...); "//" when
 * unknown or NULL. The string is static. */
const char *ch_prompt_comment_marker(const char *language);

/* Where the first stop string starts in text[0..len), or len when none;
 * *partial is set when the text ends with a proper prefix of some stop (a
 * streaming caller must hold those bytes back until more arrive). stops is
 * NULL-terminated. *partial (may be NULL) is the number of bytes at the end of
 * text that could begin a stop (0 when none, and 0 when a stop was found). */
size_t ch_prompt_stop_at(const char *text, size_t len, const char *const *stops,
                         size_t *partial);

/* The marker put where the completion goes in a chat prompt. */
#define CH_PROMPT_HOLE "<CURSOR>"

/* Chat models: a system message and a user message asking to fill the hole
 * marked in the code (prefix + a hole marker + suffix, in a fenced block with
 * the language, other files before it), answering with only the missing code.
 * Appends to both buffers. */
ch_status ch_prompt_chat(const ch_prompt_input *in, ch_buf *system,
                         ch_buf *user);
/* Extracts the code that goes into the hole from a chat reply, robustly:
 * fenced or not (```lang ... ``` anywhere, several blocks: the first code
 * block; an unclosed block runs to the end), leading prose dropped, the hole
 * marker removed, the prefix repeated at the start (whole or its last lines)
 * removed, the suffix repeated at the end removed. When the document's
 * line ends are CRLF (seen in prefix or suffix), the reply is matched with
 * CRLF as LF and the answer is written with CRLF. Appends to out (nothing
 * for an empty reply); CH_ERR_TOO_LARGE past out's max. */
ch_status ch_prompt_chat_answer(const char *reply, size_t len,
                                const ch_prompt_input *in, ch_buf *out);

#endif
