/* cli_doctor.c: placeholder until the command lands. */
#include <stdio.h>

#include "cli.h"

int ch_cli_doctor(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fputs("chorus: doctor: not available in this build\n", stderr);
  return 2;
}
