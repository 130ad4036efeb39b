/*
 * The sigmoid in a form GCC vectorises, for the Swish kernels (swish_dense.c, film_swish.c): a
 * branch-free exp and the sigmoid of a chunk of at most CHUNK elements.
 */
#ifndef FDM_BENCH_SIGMOID_H
#define FDM_BENCH_SIGMOID_H

#include <stdint.h>
#include <string.h>

/* Elements per chunk: the per-element factors of a chunk stay in L1 while the blocks stream by. */
#define CHUNK 512

/*
 * exp(x) for x in [-87.3, 88.3], where 2^n stays a normal float: Cephes' expf (range reduction by
 * ln 2 in two parts, degree-6 polynomial; relative error about 1e-7, a float ulp), without branches
 * so that it vectorises, unlike the libm call.
 */
static inline __attribute__((always_inline)) float exp_in_range(float x) {
  /* n = floor(x log2(e) + 1/2), by truncation and a correction (floorf is a call on plain x86-64). */
  const float t = x * 1.44269504088896341f + 0.5f;
  const float truncated = (float)(int32_t)t;
  const float n = truncated > t ? truncated - 1.0f : truncated;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

/*
 * s = sigmoid(a) = 1 / (1 + exp(-a)) for len <= CHUNK elements. -a is clamped to the range of
 * exp_in_range first (in its own loop: GCC vectorises neither loop when the two are one): s is then
 * exactly 1 for a > 87.3 and below 1e-38 for a < -88.3, where the true value is smaller still.
 */
static inline __attribute__((always_inline)) void sigmoid_chunk(int64_t len, const float *a, float *s) {
  for (int64_t i = 0; i < len; i++) {
    const float x = -a[i];
    s[i] = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  }
  for (int64_t i = 0; i < len; i++) s[i] = 1.0f / (1.0f + exp_in_range(s[i]));
}

#endif
