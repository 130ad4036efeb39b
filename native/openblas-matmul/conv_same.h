/*
 * Stride-1 'same' (zero-padded) 2D convolution of NHWC images with an odd kh x kw filter
 * [kh, kw, C, OC], as OpenBLAS matrix products a few images at a time: Winograd's F(2x2, 3x3) for
 * 3x3 filters on 32 input channels or more (winograd.h), im2col otherwise (pure C;
 * openblas_matmul.c wraps it). Returns 0, or -1 when the scratch buffer could not be allocated.
 */
#ifndef FDM_BENCH_CONV_SAME_H
#define FDM_BENCH_CONV_SAME_H

#include <stdint.h>

struct conv_shape {
  int64_t n, h, w, c, kh, kw, oc;
};

/* y [n, h, w, oc] = x [n, h, w, c] (*) filter [kh, kw, c, oc]. */
int conv_same_forward(const struct conv_shape *s, const float *x, const float *filter, float *y);

/* dx = dL/dx [n, h, w, c] and dfilter = dL/dfilter [kh, kw, c, oc] for dy [n, h, w, oc]. */
int conv_same_backward(const struct conv_shape *s, const float *x, const float *filter, const float *dy,
                       float *dx, float *dfilter);

#endif
