/*
 * Swish with a per-sample, per-channel scale and offset (FiLM), carrying forward-mode tangents: the
 * video conv field's activation (src/models/conv-field.ts). Pure C; openblas_matmul.c wraps it.
 * Pre-activations a [batch x positions x channels], gain and offset [batch x channels], tangents
 * da [tangents x batch x positions x channels]. With u = gain a + offset:
 *
 *   h = swish(u),   hd_k = da_k gain swish'(u)
 *
 * (hd_k is the tangent of h along da_k). The backward pass, for gh and ghd_k, with
 * q = sum_k ghd_k da_k and g_u = gh swish'(u) + swish''(u) gain q:
 *   ga = g_u gain,   gda_k = ghd_k gain swish'(u),
 *   ggain = sum over positions of (g_u a + swish'(u) q),   goffset = sum over positions of g_u,
 * with swish' = s (1 + u (1 - s)) and swish'' = s (1 - s) (2 + u (1 - 2 s)), s = sigmoid(u).
 */
#ifndef FDM_BENCH_FILM_SWISH_H
#define FDM_BENCH_FILM_SWISH_H

#include <stdint.h>

struct film_shape {
  int64_t batch, positions, channels, tangents;
};

void film_swish_forward(const struct film_shape *s, const float *a, const float *gain, const float *offset,
                        const float *da, float *h, float *hd);

void film_swish_backward(const struct film_shape *s, const float *a, const float *gain, const float *offset,
                         const float *da, const float *gh, const float *ghd, float *ga, float *ggain,
                         float *goffset, float *gda);

#endif
