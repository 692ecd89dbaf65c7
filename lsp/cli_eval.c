/* cli_eval.c: placeholder until the command lands. */
#include <stdio.h>

#include "cli.h"

int ch_cli_eval(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fputs("chorus: eval: not available in this build\n", stderr);
  return 2;
}
