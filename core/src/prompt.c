/* prompt.c: FIM templates, chat prompts, stop strings and chat answers (see
 * chorus/prompt.h).
 *
 * Every built-in family is written in the same template language users
 * write custom templates in ({prefix}, {suffix}, {files}, {path}, {repo},
 * {{ and }}), so one renderer serves both and the family table reads like
 * the reference table it was written from. Only the repository-level
 * layouts of StarCoder2 and Qwen are code, because they repeat per file. */
#include "chorus/prompt.h"

#include <string.h>

/* ---- families ------------------------------------------------------------ */

/* A NULL-terminated list of strings, for the static tables below. */
#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const no_stops[] = {NULL};

typedef struct family_info {
  const char *name;
  ch_fim_family family;
  const char *layout; /* in the custom template language */
  const char *const *stops;
} family_info;

/* The names ch_fim_template_init accepts, in the order the error lists them.
 * Tokens and stops: REFERENCE.md section C. */
static const family_info families[] = {
    {"starcoder", CH_FIM_STARCODER,
     "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
     LIST("<file_sep>", "<|endoftext|>")},
    {"starcoder2", CH_FIM_STARCODER,
     "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
     LIST("<file_sep>", "<|endoftext|>")},
    /* The spaces around the sentinels are part of CodeLlama's format: its
     * tokenizer puts them there, so the prompt must too. */
    {"codellama", CH_FIM_CODELLAMA, "<PRE> {prefix} <SUF>{suffix} <MID>",
     LIST("<EOT>")},
    {"codellama-spm", CH_FIM_CODELLAMA_SPM,
     "<PRE> <SUF>{suffix} <MID> {prefix}", LIST("<EOT>")},
    /* Full-width vertical bars (U+FF5C) and U+2581 LOWER ONE EIGHTH BLOCK. */
    {"deepseek", CH_FIM_DEEPSEEK,
     "<\xEF\xBD\x9C"
     "fim\xE2\x96\x81"
     "begin\xEF\xBD\x9C>{prefix}<\xEF\xBD\x9C"
     "fim\xE2\x96\x81"
     "hole\xEF\xBD\x9C>{suffix}<\xEF\xBD\x9C"
     "fim\xE2\x96\x81"
     "end\xEF\xBD\x9C>",
     LIST("<\xEF\xBD\x9C"
          "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>")},
    {"qwen", CH_FIM_QWEN,
     "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
     LIST("<|endoftext|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
          "<|im_start|>", "<|im_end|>")},
    {"codestral", CH_FIM_CODESTRAL, "[SUFFIX]{suffix}[PREFIX]{prefix}",
     LIST("[PREFIX]", "[SUFFIX]")},
    {"codegemma", CH_FIM_CODEGEMMA,
     "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
     LIST("<|file_separator|>", "<end_of_turn>", "<eos>")},
    {"granite", CH_FIM_GRANITE,
     "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>", LIST("<fim_pad>")},
    {"none", CH_FIM_NONE, "{prefix}", no_stops},
};

static const family_info *family_by_id(ch_fim_family family) {
  for(size_t i = 0; i < CH_ARRAY_LEN(families); i++)
    if(families[i].family == family) return &families[i];
  return NULL;
}

const char *ch_fim_family_name(ch_fim_family family) {
  if(family == CH_FIM_CUSTOM) return "custom";
  const family_info *f = family_by_id(family);
  return f ? f->name : "unknown";
}

static size_t count_stops(const char *const *stops) {
  size_t n = 0;
  while(stops && stops[n])
    n++;
  return n;
}

void ch_fim_template_add_stops(ch_fim_template *self,
                               const char *const *stops) {
  size_t have = count_stops((const char *const *)self->stops);
  size_t add = count_stops(stops);
  self->stops = ch_realloc(self->stops, (have + add + 1) * sizeof(char *));
  for(size_t i = 0; i < add; i++) {
    if(!stops[i][0]) continue; /* an empty stop would match everywhere */
    bool dup = false;
    for(size_t j = 0; j < have && !dup; j++)
      dup = strcmp(self->stops[j], stops[i]) == 0;
    if(!dup) self->stops[have++] = ch_strdup(stops[i]);
  }
  self->stops[have] = NULL;
}

static void template_empty(ch_fim_template *self) {
  self->family = CH_FIM_NONE;
  self->custom = NULL;
  self->stops = NULL;
}

ch_status ch_fim_template_init(ch_fim_template *self, const char *name,
                               ch_buf *error) {
  template_empty(self);
  if(!name) {
    if(error) ch_buf_append_str(error, "fim template name is missing");
    return CH_ERR_INVALID;
  }
  for(size_t i = 0; i < CH_ARRAY_LEN(families); i++) {
    if(strcmp(families[i].name, name) != 0) continue;
    self->family = families[i].family;
    ch_fim_template_add_stops(self, families[i].stops);
    return CH_OK;
  }
  if(error) {
    ch_buf_appendf(error, "unknown fim template \"%s\" (known:", name);
    for(size_t i = 0; i < CH_ARRAY_LEN(families); i++)
      ch_buf_appendf(error, "%s %s", i ? "," : "", families[i].name);
    ch_buf_append_str(error, ")");
  }
  return CH_ERR_NOT_FOUND;
}

void ch_fim_template_release(ch_fim_template *self) {
  for(size_t i = 0; self->stops && self->stops[i]; i++)
    ch_free(self->stops[i]);
  ch_free(self->stops);
  ch_free(self->custom);
  template_empty(self);
}

/* ---- the template language ----------------------------------------------- */

typedef enum placeholder {
  PH_PREFIX,
  PH_SUFFIX,
  PH_FILES,
  PH_PATH,
  PH_REPO,
  PH_UNKNOWN,
} placeholder;

static const char *const placeholder_names[] = {"prefix", "suffix", "files",
                                                "path", "repo"};

static placeholder placeholder_of(const char *s, size_t n) {
  for(size_t i = 0; i < CH_ARRAY_LEN(placeholder_names); i++)
    if(strlen(placeholder_names[i]) == n &&
       memcmp(placeholder_names[i], s, n) == 0)
      return (placeholder)i;
  return PH_UNKNOWN;
}

/* Walks a template. For each literal run calls lit, for each placeholder
 * calls ph; stops at the first error, which it describes in *error. Used
 * both to check a template and to render it, so the two cannot disagree. */
typedef struct walker {
  ch_status (*lit)(struct walker *w, const char *s, size_t n);
  ch_status (*ph)(struct walker *w, placeholder p);
  ch_buf *error;
} walker;

static ch_status walk(const char *t, walker *w) {
  size_t i = 0, run = 0;
  ch_status result = CH_OK;
  while(t[i]) {
    char c = t[i];
    if((c == '{' || c == '}') && t[i + 1] == c) {
      /* An escaped brace: the literal so far plus one brace. */
      result = w->lit(w, t + run, i - run + 1);
      if(result) return result;
      i += 2;
      run = i;
      continue;
    }
    if(c == '}') {
      if(w->error)
        ch_buf_appendf(w->error,
                       "fim template: \"}\" at byte %zu has no \"{\" (write "
                       "\"}}\" for a literal brace)",
                       i);
      return CH_ERR_INVALID;
    }
    if(c != '{') {
      i++;
      continue;
    }
    const char *close = strchr(t + i + 1, '}');
    const char *next_open = strchr(t + i + 1, '{');
    if(!close || (next_open && next_open < close)) {
      if(w->error)
        ch_buf_appendf(w->error,
                       "fim template: \"{\" at byte %zu is not closed (write "
                       "\"{{\" for a literal brace)",
                       i);
      return CH_ERR_INVALID;
    }
    size_t name_len = (size_t)(close - (t + i + 1));
    placeholder p = placeholder_of(t + i + 1, name_len);
    if(p == PH_UNKNOWN) {
      if(w->error)
        ch_buf_appendf(w->error,
                       "fim template: unknown placeholder \"{%.*s}\" (known: "
                       "{prefix}, {suffix}, {files}, {path}, {repo})",
                       (int)name_len, t + i + 1);
      return CH_ERR_INVALID;
    }
    if(i > run) {
      result = w->lit(w, t + run, i - run);
      if(result) return result;
    }
    result = w->ph(w, p);
    if(result) return result;
    i = (size_t)(close - t) + 1;
    run = i;
  }
  if(i > run) result = w->lit(w, t + run, i - run);
  return result;
}

typedef struct checker {
  walker w;
  unsigned seen; /* bit per placeholder */
} checker;

static ch_status check_lit(walker *w, const char *s, size_t n) {
  (void)w, (void)s, (void)n;
  return CH_OK;
}

static ch_status check_ph(walker *w, placeholder p) {
  ((checker *)w)->seen |= 1u << p;
  return CH_OK;
}

/* Which placeholders a template uses; CH_ERR_INVALID when malformed. */
static ch_status template_check(const char *text, unsigned *seen,
                                ch_buf *error) {
  checker c = {{check_lit, check_ph, error}, 0};
  ch_status result = walk(text, &c.w);
  *seen = c.seen;
  return result;
}

ch_status ch_fim_template_init_custom(ch_fim_template *self, const char *text,
                                      const char *const *stops, ch_buf *error) {
  template_empty(self);
  if(!text) {
    if(error) ch_buf_append_str(error, "fim template text is missing");
    return CH_ERR_INVALID;
  }
  unsigned seen;
  ch_status result = template_check(text, &seen, error);
  if(result) return result;
  if(!(seen & (1u << PH_PREFIX)) || !(seen & (1u << PH_SUFFIX))) {
    if(error)
      ch_buf_appendf(error,
                     "fim template: no {%s} (a template needs both "
                     "{prefix} and {suffix})",
                     !(seen & (1u << PH_PREFIX)) ? "prefix" : "suffix");
    return CH_ERR_INVALID;
  }
  self->family = CH_FIM_CUSTOM;
  self->custom = ch_strdup(text);
  ch_fim_template_add_stops(self, no_stops);
  ch_fim_template_add_stops(self, stops);
  return CH_OK;
}

/* ---- comment blocks ------------------------------------------------------ */

typedef struct marker_info {
  const char *marker;
  const char *const *languages;
} marker_info;

static const marker_info markers[] = {
    {"#", LIST("python", "ruby", "bash", "sh", "shell", "shellscript", "zsh",
               "fish", "perl", "r", "yaml", "toml", "make", "makefile", "cmake",
               "dockerfile", "elixir", "julia", "nim", "powershell", "starlark",
               "gdscript", "coffeescript", "tcl", "crystal", "nix", "hcl",
               "terraform", "graphql", "awk")},
    {"--",
     LIST("lua", "sql", "haskell", "elm", "ada", "purescript", "agda", "vhdl")},
    {";;", LIST("commonlisp", "lisp", "elisp", "emacs-lisp", "clojure",
                "scheme", "racket", "fennel")},
    {"%", LIST("erlang", "latex", "tex", "matlab", "octave", "prolog")},
    {"\"", LIST("vim", "viml")},
    {"!", LIST("fortran")},
    {"'", LIST("vb", "vba")},
};

const char *ch_prompt_comment_marker(const char *language) {
  if(!language) return "//";
  for(size_t i = 0; i < CH_ARRAY_LEN(markers); i++)
    for(const char *const *l = markers[i].languages; *l; l++)
      if(strcmp(*l, language) == 0) return markers[i].marker;
  return "//"; /* C, C++, Java, JS/TS, Go, Rust, C#, Kotlin, Swift, ... */
}

ch_status ch_prompt_files_block(const ch_prompt_input *in, ch_buf *out) {
  const char *m = ch_prompt_comment_marker(in->language);
  ch_status result = CH_OK;
  for(size_t f = 0; f < in->nfiles && !result; f++) {
    const ch_prompt_file *file = &in->files[f];
    result =
        ch_buf_appendf(out, "%s path: %s\n", m, file->path ? file->path : "");
    const char *s = file->text ? file->text : "";
    const char *end = s + (file->text ? file->len : 0);
    while(s < end && !result) {
      const char *nl = memchr(s, '\n', (size_t)(end - s));
      const char *line_end = nl ? nl : end;
      size_t n = (size_t)(line_end - s);
      result = ch_buf_append_str(out, m);
      if(!result && n) result = ch_buf_append_char(out, ' ');
      if(!result) result = ch_buf_append(out, s, n);
      if(!result) result = ch_buf_append_char(out, '\n');
      s = nl ? nl + 1 : end;
    }
  }
  return result;
}

/* ---- rendering ----------------------------------------------------------- */

typedef struct renderer {
  walker w;
  const ch_prompt_input *in;
  ch_buf *out;
  bool block_before_prefix; /* the template has no {files} */
} renderer;

static ch_status render_lit(walker *w, const char *s, size_t n) {
  return ch_buf_append(((renderer *)w)->out, s, n);
}

static ch_status render_ph(walker *w, placeholder p) {
  renderer *r = (renderer *)w;
  const ch_prompt_input *in = r->in;
  ch_status result;
  switch(p) {
  case PH_PREFIX:
    if(r->block_before_prefix) {
      result = ch_prompt_files_block(in, r->out);
      if(result) return result;
    }
    return ch_buf_append(r->out, in->prefix, in->prefix_len);
  case PH_SUFFIX: return ch_buf_append(r->out, in->suffix, in->suffix_len);
  case PH_FILES: return ch_prompt_files_block(in, r->out);
  case PH_PATH: return ch_buf_append_str(r->out, in->path ? in->path : "");
  case PH_REPO: return ch_buf_append_str(r->out, in->repo ? in->repo : "");
  case PH_UNKNOWN: break;
  }
  return CH_ERR_INVALID;
}

static ch_status render(const char *layout, const ch_prompt_input *in,
                        ch_buf *out) {
  unsigned seen;
  ch_status result = template_check(layout, &seen, NULL);
  if(result) return result;
  renderer r = {
      {render_lit, render_ph, NULL}, in, out, !(seen & (1u << PH_FILES))};
  return walk(layout, &r.w);
}

/* StarCoder2's repository layout: <repo_name>, then <file_sep>path\ntext per
 * file, then the current file's header with the FIM part as its text. */
static ch_status render_starcoder_repo(const ch_prompt_input *in, ch_buf *out) {
  ch_status result = CH_OK;
  if(in->repo) result = ch_buf_appendf(out, "<repo_name>%s", in->repo);
  for(size_t f = 0; f < in->nfiles && !result; f++) {
    const ch_prompt_file *file = &in->files[f];
    result =
        ch_buf_appendf(out, "<file_sep>%s\n", file->path ? file->path : "");
    if(!result) result = ch_buf_append(out, file->text, file->len);
  }
  if(!result && in->path)
    result = ch_buf_appendf(out, "<file_sep>%s\n", in->path);
  if(!result)
    result = render("<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
                    &(ch_prompt_input){.prefix = in->prefix,
                                       .prefix_len = in->prefix_len,
                                       .suffix = in->suffix,
                                       .suffix_len = in->suffix_len},
                    out);
  return result;
}

/* Qwen2.5-Coder's: <|repo_name|>repo\n, then <|file_sep|>path \ntext\n per
 * file (the space after the path is Qwen's), then the current file. */
static ch_status render_qwen_repo(const ch_prompt_input *in, ch_buf *out) {
  ch_status result = CH_OK;
  if(in->repo) result = ch_buf_appendf(out, "<|repo_name|>%s\n", in->repo);
  for(size_t f = 0; f < in->nfiles && !result; f++) {
    const ch_prompt_file *file = &in->files[f];
    result =
        ch_buf_appendf(out, "<|file_sep|>%s \n", file->path ? file->path : "");
    if(!result) result = ch_buf_append(out, file->text, file->len);
    if(!result) result = ch_buf_append_char(out, '\n');
  }
  if(!result && in->path)
    result = ch_buf_appendf(out, "<|file_sep|>%s \n", in->path);
  if(!result)
    result =
        render("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
               &(ch_prompt_input){.prefix = in->prefix,
                                  .prefix_len = in->prefix_len,
                                  .suffix = in->suffix,
                                  .suffix_len = in->suffix_len},
               out);
  return result;
}

ch_status ch_prompt_fim(const ch_fim_template *t, const ch_prompt_input *in,
                        ch_buf *out) {
  if(t->family == CH_FIM_CUSTOM) {
    if(!t->custom) return CH_ERR_INVALID;
    return render(t->custom, in, out);
  }
  if(in->nfiles && t->family == CH_FIM_STARCODER)
    return render_starcoder_repo(in, out);
  if(in->nfiles && t->family == CH_FIM_QWEN) return render_qwen_repo(in, out);
  const family_info *f = family_by_id(t->family);
  if(!f) return CH_ERR_INVALID;
  return render(f->layout, in, out);
}

/* ---- stops --------------------------------------------------------------- */

size_t ch_prompt_stop_at(const char *text, size_t len, const char *const *stops,
                         size_t *partial) {
  size_t at = len;
  for(size_t i = 0; stops && stops[i]; i++) {
    size_t n = strlen(stops[i]);
    if(n == 0) continue;
    /* Only the text before the best match so far can hold a better one. */
    size_t limit = at < len ? CH_MIN(len, at + n - 1) : len;
    const char *hit = memmem(text, limit, stops[i], n);
    if(hit) at = (size_t)(hit - text);
  }
  if(partial) {
    *partial = 0;
    if(at == len) {
      for(size_t i = 0; stops && stops[i]; i++) {
        size_t n = strlen(stops[i]);
        /* The longest proper prefix of the stop that ends the text. */
        for(size_t k = CH_MIN(n - (n > 0), len); k > *partial; k--) {
          if(memcmp(text + len - k, stops[i], k) == 0) {
            *partial = k;
            break;
          }
        }
      }
    }
  }
  return at;
}

/* ---- chat ---------------------------------------------------------------- */

/* A fence longer than any run of backticks in the texts, so code that holds
 * ``` (Markdown in a string, say) cannot close the block early. */
static size_t fence_len(const char *s, size_t n, size_t at_least) {
  size_t best = at_least, run = 0;
  for(size_t i = 0; i < n; i++) {
    run = s[i] == '`' ? run + 1 : 0;
    if(run + 1 > best) best = run + 1;
  }
  return best;
}

static ch_status append_fence(ch_buf *out, size_t n) {
  ch_status result = CH_OK;
  for(size_t i = 0; i < n && !result; i++)
    result = ch_buf_append_char(out, '`');
  return result;
}

static const char system_prompt[] =
    "You are a code completion engine inside an editor. The user shows a "
    "file with one hole marked " CH_PROMPT_HOLE
    " where the cursor is. Reply with only the code that "
    "replaces " CH_PROMPT_HOLE
    ", in a single fenced code block. Do not repeat the code before or after "
    "the hole, do not explain, do not add tests or examples. Match the "
    "file's indentation and style. The code must fit between the text "
    "before and after the hole. If nothing should be inserted, reply with "
    "an empty code block.";

ch_status ch_prompt_chat(const ch_prompt_input *in, ch_buf *system,
                         ch_buf *user) {
  ch_status result = ch_buf_append_str(system, system_prompt);
  if(result) return result;
  const char *lang = in->language ? in->language : "";
  if(in->nfiles) {
    result = ch_buf_append_str(user, "Other files of the repository, for "
                                     "context:\n\n");
    for(size_t f = 0; f < in->nfiles && !result; f++) {
      const ch_prompt_file *file = &in->files[f];
      size_t fl = fence_len(file->text, file->len, 3);
      result = ch_buf_appendf(user, "%s:\n", file->path ? file->path : "");
      if(!result) result = append_fence(user, fl);
      if(!result) result = ch_buf_appendf(user, "%s\n", lang);
      if(!result) result = ch_buf_append(user, file->text, file->len);
      if(!result && (file->len == 0 || file->text[file->len - 1] != '\n'))
        result = ch_buf_append_char(user, '\n');
      if(!result) result = append_fence(user, fl);
      if(!result) result = ch_buf_append_str(user, "\n\n");
    }
    if(result) return result;
  }
  size_t fl = fence_len(in->prefix, in->prefix_len, 3);
  fl = fence_len(in->suffix, in->suffix_len, fl);
  if(in->path)
    result = ch_buf_appendf(
        user, "Fill in the hole " CH_PROMPT_HOLE " in %s:\n", in->path);
  else
    result = ch_buf_append_str(user, "Fill in the hole " CH_PROMPT_HOLE ":\n");
  if(!result) result = append_fence(user, fl);
  if(!result) result = ch_buf_appendf(user, "%s\n", lang);
  if(!result) result = ch_buf_append(user, in->prefix, in->prefix_len);
  if(!result) result = ch_buf_append_str(user, CH_PROMPT_HOLE);
  if(!result) result = ch_buf_append(user, in->suffix, in->suffix_len);
  if(!result && (in->suffix_len == 0 || in->suffix[in->suffix_len - 1] != '\n'))
    result = ch_buf_append_char(user, '\n');
  if(!result) result = append_fence(user, fl);
  if(!result) result = ch_buf_append_char(user, '\n');
  return result;
}

/* ---- chat answers -------------------------------------------------------- */

typedef struct span {
  const char *s;
  size_t n;
} span;

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_info_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '#' ||
         c == '.' || c == '-';
}

/* Length of the run of c at s[0..), within n. */
static size_t run_of(const char *s, size_t n, char c) {
  size_t k = 0;
  while(k < n && s[k] == c)
    k++;
  return k;
}

/* The first fenced block of a reply: ``` or ~~~ (three or more), anywhere,
 * then an optional language word up to the line end. The block ends at a
 * fence of at least the same length at the start of a line, else at the
 * first such fence anywhere, else at the end of the reply (a reply cut off
 * by max_tokens). False when the reply has no fence. */
static bool first_fenced_block(const char *s, size_t n, span *code) {
  size_t open = 0, flen = 0;
  char fc = 0;
  for(size_t i = 0; i < n; i++) {
    if(s[i] != '`' && s[i] != '~') continue;
    size_t k = run_of(s + i, n - i, s[i]);
    /* ~~~ only counts at a line start: tildes show up in prose. */
    bool line_start = i == 0 || s[i - 1] == '\n';
    if(k >= 3 && (s[i] == '`' || line_start)) {
      open = i;
      flen = k;
      fc = s[i];
      break;
    }
    i += k - 1;
  }
  if(!flen) return false;
  size_t p = open + flen;
  size_t w = p;
  while(w < n && (s[w] == ' ' || s[w] == '\t'))
    w++;
  while(w < n && is_info_char(s[w]))
    w++;
  while(w < n && (s[w] == ' ' || s[w] == '\t' || s[w] == '\r'))
    w++;
  size_t start;
  if(w >= n)
    start = n;
  else if(s[w] == '\n')
    start = w + 1;
  else
    start = p; /* ```x = 1``` on one line: no language word */
  size_t end = n, anywhere = n;
  for(size_t i = start; i < n; i++) {
    if(s[i] != fc) continue;
    size_t k = run_of(s + i, n - i, fc);
    if(k >= flen) {
      size_t b = i;
      while(b > start && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
      if(b == start || s[b - 1] == '\n') {
        end = b;
        break;
      }
      if(anywhere == n) anywhere = i;
    }
    i += k - 1;
  }
  if(end == n) end = anywhere;
  /* The line break before the closing fence belongs to the fence. */
  if(end > start && s[end - 1] == '\n') end--;
  if(end > start && s[end - 1] == '\r') end--;
  code->s = s + start;
  code->n = end - start;
  return true;
}

static bool starts_with_word(const char *s, size_t n, const char *w) {
  size_t k = strlen(w);
  if(n < k || memcmp(s, w, k) != 0) return false;
  return n == k ||
         !((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z'));
}

static bool has_code_punct(const char *s, size_t n) {
  for(size_t i = 0; i < n; i++)
    if(s[i] && strchr("(){}[];=<>", s[i])) return true;
  return false;
}

static size_t count_words(const char *s, size_t n) {
  size_t words = 0;
  for(size_t i = 0; i < n; i++)
    if(!is_space(s[i]) && (i == 0 || is_space(s[i - 1]))) words++;
  return words;
}

/* A line a chat model writes before its code: "Here is the code:", "Sure!
 * The missing part is:", "Certainly." Only sentences that start like that
 * count, so a docstring line or a comment is never taken for prose. */
static bool is_opening_prose(const char *s, size_t n) {
  static const char *const openers[] = {
      "Here",  "Here's", "Sure",       "Certainly", "Of course", "Okay",
      "OK",    "Ok",     "Alright",    "Below",     "The",       "This",
      "To",    "I",      "I'll",       "I've",      "You",       "Absolutely",
      "Great", "Got it", "Completion", "Answer",    "Code",      "Output",
  };
  while(n && is_space(s[n - 1]))
    n--;
  while(n && is_space(*s))
    s++, n--;
  if(!n || has_code_punct(s, n)) return false;
  bool opener = false;
  for(size_t i = 0; i < CH_ARRAY_LEN(openers) && !opener; i++)
    opener = starts_with_word(s, n, openers[i]);
  if(!opener) return false;
  char last = s[n - 1];
  if(last == ':') return true;
  /* A bare affirmation on its own line: "Sure!", "Certainly." */
  return (last == '.' || last == '!') && count_words(s, n) <= 3;
}

/* A paragraph a chat model writes after its code: starts with a capital
 * word from the usual ones, reads like a sentence, has no code punctuation. */
static bool is_closing_prose(const char *s, size_t n) {
  static const char *const openers[] = {
      "This", "These", "The",  "Note", "Explanation", "Here", "I",
      "It",   "In",    "With", "Now",  "Let",         "That", "You",
  };
  while(n && is_space(*s))
    s++, n--;
  if(!n || has_code_punct(s, n) || count_words(s, n) < 4) return false;
  for(size_t i = 0; i < CH_ARRAY_LEN(openers); i++)
    if(starts_with_word(s, n, openers[i])) return true;
  return false;
}

/* An unfenced reply: drop opening prose lines, and a closing paragraph of
 * prose after a blank line. */
static span strip_prose(span c) {
  bool dropped = false;
  for(;;) {
    const char *nl = memchr(c.s, '\n', c.n);
    if(!nl) break;
    size_t n = (size_t)(nl - c.s);
    bool blank = true;
    for(size_t i = 0; i < n && blank; i++)
      blank = is_space(c.s[i]);
    /* A leading line break can be the completion itself (the cursor at the
     * end of a line); blank lines only go together with prose before them. */
    if(blank ? !dropped : !is_opening_prose(c.s, n)) break;
    dropped = true;
    c.s = nl + 1;
    c.n -= n + 1;
  }
  /* The first "\n\n" followed by prose ends the code. */
  for(size_t i = 0; i + 1 < c.n; i++) {
    if(c.s[i] != '\n') continue;
    size_t j = i + 1;
    while(j < c.n && (c.s[j] == ' ' || c.s[j] == '\t' || c.s[j] == '\r'))
      j++;
    if(j >= c.n || c.s[j] != '\n') continue;
    const char *para = c.s + j + 1;
    const char *end = memchr(para, '\n', c.n - (j + 1));
    size_t pn = end ? (size_t)(end - para) : c.n - (j + 1);
    if(is_closing_prose(para, pn)) {
      c.n = i;
      break;
    }
  }
  return c;
}

/* Balance of (), [] and {}: 0 when every opener is closed in order. Strings
 * are not skipped; this only guards against cutting a completion's own
 * closing bracket, so a rough count is enough. */
static bool balanced(const char *s, size_t n) {
  static const char open[] = "([{", close[] = ")]}";
  long depth[3] = {0, 0, 0};
  for(size_t i = 0; i < n; i++) {
    if(!s[i]) continue;
    const char *o = strchr(open, s[i]), *c = strchr(close, s[i]);
    if(o) depth[o - open]++;
    if(c && --depth[c - close] < 0) return false;
  }
  return !depth[0] && !depth[1] && !depth[2];
}

/* The reply began with the end of the prefix: the longest tail of the prefix
 * that starts at a line start, or the current line without its indentation. */
static span strip_repeated_prefix(span c, const ch_prompt_input *in) {
  const char *p = in->prefix;
  size_t pn = in->prefix_len;
  if(!c.n || !pn) return c;
  for(size_t i = 0; i < pn; i++) {
    if(i && p[i - 1] != '\n') continue;
    size_t tail = pn - i;
    if(tail <= c.n && memcmp(c.s, p + i, tail) == 0) {
      c.s += tail;
      c.n -= tail;
      return c;
    }
  }
  /* The current line, indentation ignored on both sides. */
  size_t ls = pn;
  while(ls && p[ls - 1] != '\n')
    ls--;
  while(ls < pn && (p[ls] == ' ' || p[ls] == '\t'))
    ls++;
  size_t cur = pn - ls;
  size_t lead = 0;
  while(lead < c.n && (c.s[lead] == ' ' || c.s[lead] == '\t'))
    lead++;
  if(cur && c.n - lead >= cur && memcmp(c.s + lead, p + ls, cur) == 0) {
    c.s += lead + cur;
    c.n -= lead + cur;
  }
  return c;
}

/* The reply ended with the start of the suffix: the longest head of the
 * suffix that ends at a line end (or is all of it), trailing whitespace
 * ignored. A head is not cut when that would unbalance the brackets of a
 * reply that was balanced: the completion "bar()" before a suffix ")", or
 * "{ ... \n}" before a "\n}" that closes an outer block, keeps its own
 * closing bracket. */
static span strip_repeated_suffix(span c, const ch_prompt_input *in) {
  const char *s = in->suffix;
  size_t sn = in->suffix_len;
  size_t cn = c.n;
  while(cn && is_space(c.s[cn - 1]))
    cn--;
  if(!cn || !sn) return c;
  size_t first_visible = 0;
  while(first_visible < sn && is_space(s[first_visible]))
    first_visible++;
  size_t q = sn;
  for(;;) {
    size_t h = q;
    while(h && is_space(s[h - 1]))
      h--;
    bool visible = h > first_visible;
    if(visible && h <= cn && memcmp(c.s + cn - h, s, h) == 0) {
      if(!balanced(c.s, cn) || balanced(c.s, cn - h)) {
        c.n = cn - h;
        return c;
      }
    }
    /* The next shorter head: up to the previous line break. */
    if(q == 0) break;
    q--;
    while(q && s[q] != '\n')
      q--;
    if(q == 0) break;
  }
  return c;
}

/* Appends s[0..n) to b (whose max is at least n), dropping each CR before
 * an LF when lf_only, and every hole marker when no_hole. */
static void append_lf(ch_buf *b, const char *s, size_t n, bool lf_only,
                      bool no_hole) {
  static const char hole[] = CH_PROMPT_HOLE;
  const size_t hn = sizeof(hole) - 1;
  for(size_t i = 0; i < n; i++) {
    if(no_hole && s[i] == '<' && n - i >= hn && memcmp(s + i, hole, hn) == 0) {
      i += hn - 1;
      continue;
    }
    if(lf_only && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') continue;
    ch_buf_append_char(b, s[i]);
  }
  if(!b->data) ch_buf_append(b, "", 0);
}

ch_status ch_prompt_chat_answer(const char *reply, size_t len,
                                const ch_prompt_input *in, ch_buf *out) {
  if(!reply || !len) return CH_OK;
  span c;
  if(!first_fenced_block(reply, len, &c)) {
    c.s = reply;
    c.n = len;
    /* A whole reply in single backticks: `x + 1`. */
    size_t a = 0, b = len;
    while(a < b && is_space(reply[a]))
      a++;
    while(b > a && is_space(reply[b - 1]))
      b--;
    if(b - a >= 2 && reply[a] == '`' && reply[b - 1] == '`' &&
       !memchr(reply + a, '\n', b - a)) {
      c.s = reply + a + 1;
      c.n = b - a - 2;
    } else {
      c = strip_prose(c);
    }
  }
  /* A document with CRLF line ends is matched with them as LF (models
   * answer in LF), and the answer gets CRLF back to fit the document. */
  bool crlf = (in->prefix && memmem(in->prefix, in->prefix_len, "\r\n", 2)) ||
              (in->suffix && memmem(in->suffix, in->suffix_len, "\r\n", 2));
  ch_buf code, prefix, suffix;
  ch_buf_init(&code, c.n);
  ch_buf_init(&prefix, in->prefix_len);
  ch_buf_init(&suffix, in->suffix_len);
  /* The hole marker goes wherever the model echoed it. */
  append_lf(&code, c.s, c.n, crlf, true);
  ch_prompt_input doc = *in;
  if(crlf) {
    append_lf(&prefix, in->prefix, in->prefix_len, true, false);
    append_lf(&suffix, in->suffix, in->suffix_len, true, false);
    doc.prefix = prefix.data;
    doc.prefix_len = prefix.len;
    doc.suffix = suffix.data;
    doc.suffix_len = suffix.len;
  }
  span d = {code.data ? code.data : "", code.len};
  d = strip_repeated_prefix(d, &doc);
  d = strip_repeated_suffix(d, &doc);
  ch_status result = CH_OK;
  for(size_t i = 0; i < d.n && !result;) {
    const char *nl = crlf ? memchr(d.s + i, '\n', d.n - i) : NULL;
    size_t upto = nl ? (size_t)(nl - d.s) : d.n;
    result = ch_buf_append(out, d.s + i, upto - i);
    if(!result && nl) result = ch_buf_append(out, "\r\n", 2);
    i = nl ? upto + 1 : d.n;
  }
  ch_buf_release(&code);
  ch_buf_release(&prefix);
  ch_buf_release(&suffix);
  return result;
}
