/* A dense layer on ReLU with forward-mode tangents (relu_dense.h); element-wise passes vectorised like swish_dense.c. */
#include "relu_dense.h"
#include "cblas.h"
#include "scratch.h"
#include "vectorise.h"

#include <string.h>

/* out [rows x cols] = a [rows x k] w [k x cols], plus out's previous values when accumulate. */
static void product(int64_t rows, int64_t k, int64_t cols, const float *a, int trans_w, const float *w, float *out, int accumulate) {
  if (rows == 0 || cols == 0) return;
  if (k == 0) {
    if (!accumulate) memset(out, 0, (size_t)(rows * cols) * sizeof(float));
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_w ? CblasTrans : CblasNoTrans, (int)rows, (int)cols, (int)k, 1.0f, a,
              (int)k, w, trans_w ? (int)k : (int)cols, accumulate ? 1.0f : 0.0f, out, (int)cols);
}

/* out [k x cols] (+)= a^T g for a [rows x k], g [rows x cols]. */
static void transposed_product(int64_t rows, int64_t k, int64_t cols, const float *a, const float *g, float *out, int accumulate) {
  if (k == 0 || cols == 0) return;
  if (rows == 0) {
    if (!accumulate) memset(out, 0, (size_t)(k * cols) * sizeof(float));
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)cols, (int)rows, 1.0f, a, (int)k, g, (int)cols,
              accumulate ? 1.0f : 0.0f, out, (int)cols);
}

/* h = relu(h + b) over rows [rows x m], b repeated every `channels` entries. */
VECTOR_CLONES
static void bias_relu(int64_t rows, int64_t m, int64_t channels, const float *b, float *h) {
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t start = 0; start < m; start += channels) {
      float *row = h + r * m + start;
      for (int64_t c = 0; c < channels; c++) {
        const float a = row[c] + b[c];
        row[c] = a < 0.0f ? 0.0f : a; /* NaN stays NaN, as in tf.relu */
      }
    }
  }
}

/* out = g * step for each of `blocks` blocks of p entries, step = (h > 0) of one block. */
VECTOR_CLONES
static void mask_blocks(int64_t p, int64_t blocks, const float *h, const float *g, float *out) {
  for (int64_t k = 0; k < blocks; k++) {
    const float *gk = g + k * p;
    float *ok = out + k * p;
    for (int64_t i = 0; i < p; i++) ok[i] = h[i] > 0.0f ? gk[i] : 0.0f;
  }
}

void relu_dense_forward(const struct relu_dense_shape *s, const float *x, const float *z, const float *w,
                        const float *b, float *h, float *dh) {
  /* The product, then the bias and the ReLU: tfjs's matMul, add and relu, rounded the same way. */
  product(s->rows, s->n, s->m, x, 0, w, h, 0);
  bias_relu(s->rows, s->m, s->channels, b, h);
  product(s->tangents * s->rows, s->n, s->m, z, 0, w, dh, 0);
  mask_blocks(s->rows * s->m, s->tangents, h, dh, dh);
}

/* gb[c] = the sum over rows and over the repeats of channel c of g [rows x m]. */
VECTOR_CLONES
static void channel_sums(int64_t rows, int64_t m, int64_t channels, const float *g, float *gb) {
  for (int64_t c = 0; c < channels; c++) gb[c] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t start = 0; start < m; start += channels) {
      const float *row = g + r * m + start;
      for (int64_t c = 0; c < channels; c++) gb[c] += row[c];
    }
  }
}

int relu_dense_backward(const struct relu_dense_shape *s, const float *x, const float *z, const float *w,
                        const float *h, const float *gh, const float *gdh, float *gx, float *gz, float *gw,
                        float *gb) {
  const int64_t p = s->rows * s->m, tangent_rows = s->tangents * s->rows;
  float *ga = thread_scratch(p * (s->tangents + 1));
  if (ga == NULL && p > 0) return -1;
  float *gza = ga + p;
  mask_blocks(p, 1, h, gh, ga);
  mask_blocks(p, s->tangents, h, gdh, gza);
  channel_sums(s->rows, s->m, s->channels, ga, gb);
  transposed_product(s->rows, s->n, s->m, x, ga, gw, 0);
  transposed_product(tangent_rows, s->n, s->m, z, gza, gw, 1);
  product(s->rows, s->m, s->n, ga, 1, w, gx, 0);
  product(tangent_rows, s->m, s->n, gza, 1, w, gz, 0);
  return 0;
}
