/* complete.c: placeholder until the module lands. */
#include "cli.h"
