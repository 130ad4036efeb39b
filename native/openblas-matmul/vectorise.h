/*
 * What the element-wise C files share: VECTOR_CLONES compiles a function for AVX-512, AVX2 and plain
 * x86-64 (picked at load time by the CPU; with -ffp-contract=off every version rounds the same
 * way), and sums in LANES interleaved partial sums added pairwise, which the compiler vectorises
 * and whose order is fixed by the length alone (results the same run to run).
 */
#ifndef FDM_BENCH_VECTORISE_H
#define FDM_BENCH_VECTORISE_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#define LANES 16

/* The LANES partial sums added pairwise. */
static inline __attribute__((always_inline)) float fold_lanes(float *lanes) {
  for (int width = LANES / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; j++) lanes[j] += lanes[j + width];
  }
  return lanes[0];
}

/* sum of x[i] for i < n. */
static inline __attribute__((always_inline)) float lane_sum(int64_t n, const float *x) {
  float lanes[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    for (int j = 0; j < LANES; j++) lanes[j] += x[i + j];
  }
  for (int j = 0; i < n; i++, j++) lanes[j] += x[i];
  return fold_lanes(lanes);
}

/* sum of x[i] y[i] for i < n. */
static inline __attribute__((always_inline)) float lane_dot(int64_t n, const float *x, const float *y) {
  float lanes[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    for (int j = 0; j < LANES; j++) lanes[j] += x[i + j] * y[i + j];
  }
  for (int j = 0; i < n; i++, j++) lanes[j] += x[i] * y[i];
  return fold_lanes(lanes);
}

#endif
