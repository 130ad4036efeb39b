/*
 * Element-wise passes of a Swish dense layer over a stack of primal and tangent rows (swish_dense.h).
 *
 * Every loop runs over contiguous chunks so that the compiler vectorises it; the functions are
 * compiled for AVX-512, AVX2 and plain x86-64 (target_clones, picked at load time by the CPU), with
 * floating-point contraction off (-ffp-contract=off in binding.gyp) so that every version rounds
 * the same way, and -fno-trapping-math (no code here reads the floating-point flags) lets it
 * if-convert the selects: the results do not depend on which version runs.
 */
#include "swish_dense.h"
#include "vectorise.h"

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

VECTOR_CLONES
void swish_stack_forward(int64_t p, int64_t blocks, const float *z, float *h) {
  float d1[CHUNK];
  for (int64_t start = 0; start < p; start += CHUNK) {
    const int64_t len = p - start < CHUNK ? p - start : CHUNK;
    const float *a = z + start;
    float *out = h + start;
    sigmoid_chunk(len, a, d1);
    for (int64_t i = 0; i < len; i++) {
      const float s = d1[i];
      out[i] = a[i] * s;
      d1[i] = s * (1.0f + a[i] * (1.0f - s)); /* swish'(a) */
    }
    for (int64_t k = 1; k < blocks; k++) {
      const float *da = z + k * p + start;
      float *dh = h + k * p + start;
      for (int64_t i = 0; i < len; i++) dh[i] = da[i] * d1[i];
    }
  }
}

VECTOR_CLONES
void swish_stack_backward(int64_t p, int64_t blocks, const float *z, float *g) {
  float d1[CHUNK], d2[CHUNK], coupling[CHUNK];
  for (int64_t start = 0; start < p; start += CHUNK) {
    const int64_t len = p - start < CHUNK ? p - start : CHUNK;
    const float *a = z + start;
    sigmoid_chunk(len, a, d1);
    for (int64_t i = 0; i < len; i++) {
      const float s = d1[i];
      d1[i] = s * (1.0f + a[i] * (1.0f - s));                     /* swish'(a) */
      d2[i] = s * (1.0f - s) * (2.0f + a[i] * (1.0f - 2.0f * s)); /* swish''(a) */
      coupling[i] = 0.0f;
    }
    for (int64_t k = 1; k < blocks; k++) {
      const float *da = z + k * p + start;
      float *gk = g + k * p + start;
      for (int64_t i = 0; i < len; i++) {
        coupling[i] += gk[i] * da[i];
        gk[i] *= d1[i];
      }
    }
    float *g0 = g + start;
    for (int64_t i = 0; i < len; i++) g0[i] = g0[i] * d1[i] + d2[i] * coupling[i];
  }
}

VECTOR_CLONES
void add_bias_rows(int64_t rows, int64_t width, const float *b, float *y) {
  for (int64_t r = 0; r < rows; r++) {
    float *row = y + r * width;
    for (int64_t j = 0; j < width; j++) row[j] += b[j];
  }
}
