/*
 * LayerNorm over the last axis of rows [N x C], carrying forward-mode tangents [T x N x C]
 * (pure C; openblas_matmul.c wraps it). Per row, with r = (var(h) + eps)^(-1/2), n = (h - mean h) r:
 *   y = gain n + shift,   dy_t = gain r P(dh_t),   P(v) = v - mean(v) - n mean(n v)
 * (P is symmetric; dn/dh = r P). The backward pass, for gy and gdy_t, G = gain gy, G_t = gain gdy_t,
 * c_t = dh_t - mean(dh_t), m_t = mean(n dh_t), A_t = sum G_t c_t, B_t = sum G_t n:
 *   gshift = sum over rows of gy,  ggain = sum over rows of (gy n + sum_t gdy_t r P(dh_t)),
 *   gdh_t = r P(G_t),
 *   gh = r P(G) + sum_t [ -(r^2 / C)(A_t - m_t B_t) n + r P(Q_t) ],  Q_t = -r (c_t B_t / C + m_t G_t),
 * the last terms from dy_t's dependence on h through r and n.
 */
#ifndef FDM_BENCH_LAYER_NORM_H
#define FDM_BENCH_LAYER_NORM_H

#include <stdint.h>

struct layer_norm_shape {
  int64_t rows, channels, tangents;
  float eps;
};

void layer_norm_forward(const struct layer_norm_shape *s, const float *h, const float *dh,
                        const float *gain, const float *shift, float *y, float *dy);

/* Returns 0, or -1 when the per-row scratch could not be allocated. */
int layer_norm_backward(const struct layer_norm_shape *s, const float *h, const float *dh,
                        const float *gain, const float *gy, const float *gdy, float *gh, float *gdh,
                        float *ggain, float *gshift);

#endif
