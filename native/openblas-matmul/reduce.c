/* Sums over the middle axis (reduce.h); vectorised like swish_dense.c. */
#include "reduce.h"
#include "vectorise.h"


VECTOR_CLONES
void sum_middle(int64_t outer, int64_t reduced, int64_t inner, const float *x, float *out) {
  if (inner == 1) {
    for (int64_t a = 0; a < outer; a++) out[a] = lane_sum(reduced, x + a * reduced);
    return;
  }
  for (int64_t a = 0; a < outer; a++) {
    float *o = out + a * inner;
    const float *block = x + a * reduced * inner;
    for (int64_t c = 0; c < inner; c++) o[c] = 0.0f;
    for (int64_t r = 0; r < reduced; r++) {
      const float *row = block + r * inner;
      for (int64_t c = 0; c < inner; c++) o[c] += row[c];
    }
  }
}
