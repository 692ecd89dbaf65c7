/* context.c: placeholder until the module lands. */
#include "chorus/util.h"
