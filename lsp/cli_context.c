/* cli_context.c: placeholder until the command lands. */
#include <stdio.h>

#include "cli.h"

int ch_cli_context(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fputs("chorus: context: not available in this build\n", stderr);
  return 2;
}
