/*
 * A dense layer followed by ReLU that carries forward-mode tangents (pure C; openblas_matmul.c
 * wraps it): primal rows x [rows x n], tangent rows z [tangents rows x n] (tangent t's block is rows
 * [t rows, (t + 1) rows), row r of each block belonging to primal row r), weights w [n x m] and a
 * bias b of `channels` entries repeated along each output row (m = a whole number of channels: the
 * simplex CNN's block-Toeplitz convolutions put several positions in one row).
 *
 *   h = relu(x w + b),   dh_t = (z_t w) * step(x w + b),   step = 1 where h > 0, else 0
 *
 * The backward pass, for gh and gdh_t, with the masked gradients ga = gh * step and
 * gza_t = gdh_t * step (step' = 0, so the tangents add no second-order term):
 *   gx = ga w^T,   gz_t = gza_t w^T,   gw = x^T ga + sum_t z_t^T gza_t,   gb = sums of ga per channel.
 */
#ifndef FDM_BENCH_RELU_DENSE_H
#define FDM_BENCH_RELU_DENSE_H

#include <stdint.h>

struct relu_dense_shape {
  int64_t rows, tangents, n, m, channels;
};

void relu_dense_forward(const struct relu_dense_shape *s, const float *x, const float *z, const float *w,
                        const float *b, float *h, float *dh);

/* Returns 0, or -1 when the scratch for the masked gradients could not be allocated. */
int relu_dense_backward(const struct relu_dense_shape *s, const float *x, const float *z, const float *w,
                        const float *h, const float *gh, const float *gdh, float *gx, float *gz, float *gw,
                        float *gb);

#endif
