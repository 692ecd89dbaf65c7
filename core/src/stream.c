/* stream.c: placeholder until the module lands. */
#include "chorus/util.h"
