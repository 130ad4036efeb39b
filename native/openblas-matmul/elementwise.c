/* Element-wise maps (elementwise.h). */
#include "elementwise.h"

#include <math.h>

void sin_f32(int64_t n, const float *x, float *y) {
  for (int64_t i = 0; i < n; i++) y[i] = sinf(x[i]);
}

void cos_f32(int64_t n, const float *x, float *y) {
  for (int64_t i = 0; i < n; i++) y[i] = cosf(x[i]);
}
