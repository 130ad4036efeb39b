/* Sums over the middle axis (reduce.h); vectorised like swish_dense.c. */
#include "reduce.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* Independent partial sums of a contiguous row: lanes the compiler can keep in one vector register. */
#define LANES 16

/* sum of x[0..n), in LANES interleaved partial sums added pairwise at the end. */
static inline __attribute__((always_inline)) float row_sum(int64_t n, const float *x) {
  float lanes[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    for (int j = 0; j < LANES; j++) lanes[j] += x[i + j];
  }
  for (int j = 0; i < n; i++, j++) lanes[j] += x[i];
  for (int width = LANES / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; j++) lanes[j] += lanes[j + width];
  }
  return lanes[0];
}

VECTOR_CLONES
void sum_middle(int64_t outer, int64_t reduced, int64_t inner, const float *x, float *out) {
  if (inner == 1) {
    for (int64_t a = 0; a < outer; a++) out[a] = row_sum(reduced, x + a * reduced);
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
