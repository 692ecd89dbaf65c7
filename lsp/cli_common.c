/* cli_common.c: what the one-shot commands (complete, context, eval) share:
 * FILE:LINE:COL arguments, reading a file whole, the repository of a file,
 * and a cursor from a line and a column. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chorus/config.h"
#include "chorus/util.h"
#include "cli.h"

bool ch_cli_parse_location(const char *arg, char **file, long *line,
                           long *col) {
  const char *c2 = strrchr(arg, ':');
  if(!c2 || c2 == arg || c2[1] == 0) return false;
  const char *c1 = c2 - 1;
  while(c1 > arg && *c1 != ':') c1--;
  if(c1 == arg) return false;
  char *end = NULL;
  errno = 0;
  *line = strtol(c1 + 1, &end, 10);
  if(errno || end != c2 || *line < 1) return false;
  *col = strtol(c2 + 1, &end, 10);
  if(errno || *end || *col < 1) return false;
  *file = ch_strndup(arg, (size_t)(c1 - arg));
  return true;
}

char *ch_cli_read_file(const char *path, size_t max, size_t *len,
                       const char **why) {
  FILE *f = fopen(path, "rb");
  if(!f) {
    if(why) *why = strerror(errno);
    return NULL;
  }
  ch_buf b;
  ch_buf_init(&b, max);
  char chunk[65536];
  size_t n;
  bool ok = true;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    if(ch_buf_append(&b, chunk, n)) {
      ok = false;
      if(why) *why = "too large";
      break;
    }
  if(ok && ferror(f)) {
    ok = false;
    if(why) *why = "read error";
  }
  fclose(f);
  if(!ok) {
    ch_buf_release(&b);
    return NULL;
  }
  char *data = ch_buf_detach(&b, len);
  return data ? data : ch_strdup("");
}

char *ch_cli_repo_root(const char *abs_file) {
  char *dir = ch_strdup(abs_file);
  char *slash = strrchr(dir, '/');
  if(slash) *(slash == dir ? slash + 1 : slash) = 0;
  char *probe = ch_strdup(dir);
  for(;;) {
    char *git = ch_strdupf("%s/.git", probe);
    struct stat st;
    bool found = stat(git, &st) == 0;
    ch_free(git);
    if(found) {
      ch_free(dir);
      return probe;
    }
    char *up = strrchr(probe, '/');
    if(!up || up == probe) break;
    *up = 0;
  }
  ch_free(probe);
  return dir;
}

bool ch_cli_cursor(const char *text, size_t len, long line, long col,
                   uint32_t *cursor) {
  size_t i = 0;
  for(long l = 1; l < line; l++) {
    const char *nl = memchr(text + i, '\n', len - i);
    if(!nl) return false;
    i = (size_t)(nl - text) + 1;
  }
  /* Columns count characters: skip UTF-8 continuation bytes. */
  for(long c = 1; i < len && text[i] != '\n' && c < col; c++) {
    i++;
    while(i < len && ((unsigned char)text[i] & 0xC0) == 0x80) i++;
  }
  *cursor = (uint32_t)i;
  return true;
}

void ch_cli_print_problems(ch_buf *problems) {
  for(char *line = problems->data; line && *line;) {
    char *nl = strchr(line, '\n');
    if(nl) *nl = 0;
    fprintf(stderr, "chorus: config: %s\n", line);
    line = nl ? nl + 1 : NULL;
  }
  ch_buf_reset(problems);
}

void ch_cli_load_config(ch_config *config, const char *config_path) {
  ch_buf problems;
  ch_buf_init(&problems, 1 << 16);
  char *path = config_path ? ch_strdup(config_path) : ch_config_default_path();
  if(path) {
    ch_status r = ch_config_load_file(config, path, &problems);
    if(r == CH_ERR_NOT_FOUND && config_path)
      ch_buf_appendf(&problems, "%s: (file): not found\n", path);
  }
  ch_free(path);
  ch_cli_print_problems(&problems);
  ch_buf_release(&problems);
}
