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
#include "sigmoid.h"
#include "vectorise.h"


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
