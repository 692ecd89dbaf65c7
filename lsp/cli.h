/*
 * cli.h: subcommands of the `chorus` program other than `lsp`. Each takes
 * the arguments after its name and returns the process exit code.
 */
#ifndef CHORUS_LSP_CLI_H
#define CHORUS_LSP_CLI_H

int ch_cli_index(int argc, char **argv);
int ch_cli_complete(int argc, char **argv);
int ch_cli_doctor(int argc, char **argv);
int ch_cli_context(int argc, char **argv);
int ch_cli_eval(int argc, char **argv);

/* ---- shared by the one-shot commands and the server (cli_common.c) ---- */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chorus/config.h"

/* "FILE:LINE:COL" with LINE and COL from 1; *file is ch_malloc'd. */
bool ch_cli_parse_location(const char *arg, char **file, long *line,
                           long *col);
/* The whole file (ch_free it), at most max bytes; NULL with *why set (a
 * static string) when it cannot be read. */
char *ch_cli_read_file(const char *path, size_t max, size_t *len,
                       const char **why);
/* The repository of an absolute file path: the nearest folder up that
 * holds .git, else the file's own folder. ch_free it. */
char *ch_cli_repo_root(const char *abs_file);
/* The byte offset of 1-based LINE and COL (COL in characters, clamped to
 * the end of the line); false when the text has fewer lines. */
bool ch_cli_cursor(const char *text, size_t len, long line, long col,
                   uint32_t *cursor);
/* Prints each "origin: field: what" line of problems to stderr as
 * "chorus: config: ..." and empties the buffer. */
void ch_cli_print_problems(ch_buf *problems);
/* Loads the config file (config_path, else the default one) into config,
 * printing its problems; a missing default file is no problem. */
void ch_cli_load_config(ch_config *config, const char *config_path);

#endif
