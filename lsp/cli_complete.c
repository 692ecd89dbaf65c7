/* cli_complete.c: placeholder until the command lands. */
#include <stdio.h>

#include "cli.h"

int ch_cli_complete(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fputs("chorus: complete: not available in this build\n", stderr);
  return 2;
}
