/* lex.c: the plain lexer of chorus/lex.h. */
#include "chorus/lex.h"

#include <string.h>

/* Longest first where one is a prefix of another. */
static const struct {
  char text[5];
  uint8_t len;
} operators[] = {
    {">>>=", 4}, {"<<=", 3}, {">>=", 3}, {"...", 3}, {"===", 3}, {"!==", 3},
    {"**=", 3},  {"//=", 3}, {">>>", 3}, {"->", 2},  {"=>", 2},  {"==", 2},
    {"!=", 2},   {"<=", 2},  {">=", 2},  {"&&", 2},  {"||", 2},  {"++", 2},
    {"--", 2},   {"+=", 2},  {"-=", 2},  {"*=", 2},  {"/=", 2},  {"%=", 2},
    {"&=", 2},   {"|=", 2},  {"^=", 2},  {"::", 2},  {"<<", 2},  {">>", 2},
    {"**", 2},   {":=", 2},  {"?.", 2},  {"??", 2},  {"<-", 2},  {"//", 2},
};

static inline bool is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

static inline bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

/* Bytes that start some operator. */
static inline bool starts_operator(unsigned char c) {
  return c && memchr("<>.=!*/-&|+%^:?", c, 15) != NULL;
}

void ch_lexer_init(ch_lexer *self, const ch_language *lang, const char *text,
                   uint32_t len) {
  memset(self, 0, sizeof(*self));
  self->text = text;
  self->len = len;
  self->hash_comments = lang && !strcmp(lang->name, "python");
  self->directives =
      lang && (!strcmp(lang->name, "c") || !strcmp(lang->name, "cpp"));
  self->regex =
      lang && (!strcmp(lang->name, "javascript") ||
               !strcmp(lang->name, "typescript") || !strcmp(lang->name, "tsx"));
}

/* Words after which `/` starts a regular expression, not a division. */
static bool regex_after_word(const char *w, uint32_t n) {
  static const char *const words[] = {
      "return", "typeof", "case",  "in",    "of",   "new",        "delete",
      "void",   "throw",  "yield", "await", "else", "instanceof", "do"};
  for(size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
    if(strlen(words[i]) == n && !memcmp(words[i], w, n)) return true;
  return false;
}

/* Where an operand may start: after nothing, an operator or an opening
 * bracket, or a keyword such as `return`. */
static bool operand_expected(const ch_lexer *self) {
  if(!self->prev_end) return true;
  const char *p = self->text + self->prev_start;
  uint32_t n = self->prev_end - self->prev_start;
  switch(self->prev_kind) {
  case CH_LEX_WORD: return regex_after_word(p, n);
  case CH_LEX_OTHER:
    return !(n == 1 && (*p == ')' || *p == ']' || *p == '}')) &&
           !(n == 2 && (!memcmp(p, "++", 2) || !memcmp(p, "--", 2)));
  default: return false;
  }
}

/* The end of the regular expression that starts with the `/` at i, or 0
 * when the line ends first (then it is a division after all). */
static uint32_t regex_end(const ch_lexer *self, uint32_t i) {
  const char *t = self->text;
  bool in_class = false;
  for(uint32_t j = i + 1; j < self->len; j++) {
    char c = t[j];
    if(c == '\n' || c == '\r') return 0;
    if(c == '\\') {
      j++;
    } else if(c == '[') {
      in_class = true;
    } else if(c == ']') {
      in_class = false;
    } else if(c == '/' && !in_class) {
      for(j++; j < self->len && is_word((unsigned char)t[j]); j++) {
      }
      return j;
    }
  }
  return 0;
}

/* The end of the string that starts with the quote at i (after any
 * prefix); sets inside when the text ends first. */
static uint32_t string_end(ch_lexer *self, uint32_t i) {
  const char *t = self->text;
  uint32_t len = self->len;
  char q = t[i];
  uint32_t j;
  if(q != '`' && i + 2 < len && t[i + 1] == q && t[i + 2] == q) {
    /* Triple quotes: to the closing three. */
    for(j = i + 3;
        j + 2 < len && !(t[j] == q && t[j + 1] == q && t[j + 2] == q); j++)
      if(t[j] == '\\') j++;
    if(j + 2 >= len) {
      self->inside = true;
      return len;
    }
    return j + 3;
  }
  for(j = i + 1; j < len && t[j] != q; j++) {
    if(t[j] == '\\' && j + 1 < len) {
      j++; /* an escaped byte, a line break included */
      continue;
    }
    if(t[j] == '\n' && q != '`') break;
  }
  if(j < len && t[j] == q) return j + 1;
  if(j >= len) self->inside = true;
  return j;
}

bool ch_lex_next(ch_lexer *self, uint32_t *start, uint32_t *end,
                 ch_lex_kind *kind) {
  const char *t = self->text;
  uint32_t len = self->len, i = self->pos;
  for(;;) {
    while(i < len && is_space((unsigned char)t[i]))
      i++;
    if(i >= len) {
      self->pos = len;
      return false;
    }
    char c = t[i];
    if((c == '#' && self->hash_comments) ||
       (c == '/' && i + 1 < len && t[i + 1] == '/' && !self->hash_comments)) {
      const char *nl = memchr(t + i, '\n', len - i);
      if(!nl) self->inside = true;
      i = nl ? (uint32_t)(nl - t) : len;
      continue;
    }
    if(c == '/' && i + 1 < len && t[i + 1] == '*' && !self->hash_comments) {
      for(i += 2; i + 1 < len && !(t[i] == '*' && t[i + 1] == '/'); i++) {
      }
      if(i + 1 >= len) {
        self->inside = true;
        i = len;
      } else {
        i += 2;
      }
      continue;
    }
    break;
  }
  unsigned char c = (unsigned char)t[i];
  uint32_t j = i + 1;
  ch_lex_kind k = CH_LEX_OTHER;
  if(c == '"' || c == '\'' || c == '`') {
    j = string_end(self, i);
    k = CH_LEX_STRING;
  } else if(c >= '0' && c <= '9') {
    while(j < len && (is_word((unsigned char)t[j]) || t[j] == '.' ||
                      ((t[j] == '+' || t[j] == '-') &&
                       (t[j - 1] == 'e' || t[j - 1] == 'E'))))
      j++;
    k = CH_LEX_NUMBER;
  } else if(is_word(c) || (c == '#' && (self->directives || self->regex) &&
                           i + 1 < len && is_word((unsigned char)t[i + 1]))) {
    while(j < len && is_word((unsigned char)t[j]))
      j++;
    k = CH_LEX_WORD;
    /* String prefixes: f"..", r'..', b"..", u8"..". */
    if(j < len && j - i <= 2 && (t[j] == '"' || t[j] == '\'')) {
      j = string_end(self, j);
      k = CH_LEX_STRING;
    }
  } else if(c == '/' && self->regex && operand_expected(self) &&
            (j = regex_end(self, i)) != 0) {
    k = CH_LEX_STRING;
  } else if(starts_operator(c)) {
    j = i + 1;
    for(size_t o = 0; o < sizeof(operators) / sizeof(operators[0]); o++) {
      uint32_t n = operators[o].len;
      if(operators[o].text[0] == (char)c && n <= len - i &&
         !memcmp(t + i, operators[o].text, n)) {
        j = i + n;
        break;
      }
    }
  }
  if(j > len) j = len;
  *start = i;
  *end = j;
  *kind = k;
  self->pos = j;
  self->prev_start = i;
  self->prev_end = j;
  self->prev_kind = k;
  return true;
}
