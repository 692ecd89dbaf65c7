/*
 * chorus/lex.h: a plain lexer for source text, without a tree.
 *
 * It splits text into the tokens tree-sitter's leaves would be on ordinary
 * code: words (identifiers and keywords, C's `#include`-style directives
 * and JavaScript's #private names), numbers, quoted strings (one token each,
 * with a prefix such as f"", r'', b"", u8"", and Python's triple quotes; in
 * JavaScript and TypeScript a regular expression where an operand may start),
 * the common multi-byte operators, and single bytes; white space and comments
 * (`#` in Python, `//` and block comments elsewhere) are skipped.
 *
 * Two users: the builtin model lexes the text typed since a document's
 * record was built, and the extraction lexes the expressions it does not
 * walk (see extract.c). Both need the same tokens from the same text, not
 * a faithful grammar: a construct the lexer splits differently from the
 * parser (an f-string with nested quotes, say) only makes a slightly
 * different token stream.
 */
#ifndef CHORUS_LEX_H
#define CHORUS_LEX_H

#include "chorus/syntax.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum ch_lex_kind {
  CH_LEX_WORD,   /* an identifier, a keyword, or a directive (#include) */
  CH_LEX_NUMBER, /* starts with a digit */
  CH_LEX_STRING, /* a quoted string with its prefix, or a JS regex */
  CH_LEX_OTHER,  /* an operator or a single byte */
} ch_lex_kind;

typedef struct ch_lexer {
  const char *text;
  uint32_t len, pos;
  bool hash_comments; /* `#` starts a comment (Python) */
  bool directives;    /* `#word` is one word (C, C++) */
  bool regex;         /* `/` may start a regular expression (JS, TS) */
  bool inside;        /* the text ended inside a string or a comment */
  /* The last token, for telling a regular expression from a division
   * (prev_end 0: none yet; a token ends after its first byte). */
  uint32_t prev_start, prev_end;
  ch_lex_kind prev_kind;
} ch_lexer;

/* Prepares to lex text[0..len) as `lang` (NULL: C-like comments). */
void ch_lexer_init(ch_lexer *self, const ch_language *lang, const char *text,
                   uint32_t len);

/* The next token, [*start, *end) in the text, and its kind; false at the
 * end of the text. */
bool ch_lex_next(ch_lexer *self, uint32_t *start, uint32_t *end,
                 ch_lex_kind *kind);

#endif
