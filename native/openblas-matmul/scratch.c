/* One thread's scratch memory (scratch.h). */
#include "scratch.h"

#include <stdlib.h>

static _Thread_local float *scratch = NULL;
static _Thread_local int64_t scratch_floats = 0;

float *thread_scratch(int64_t floats) {
  if (floats > scratch_floats) {
    free(scratch);
    scratch = malloc((size_t)(floats > 0 ? floats : 1) * sizeof(float));
    scratch_floats = scratch ? floats : 0;
  }
  return scratch;
}
