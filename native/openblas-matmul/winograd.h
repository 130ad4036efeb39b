/*
 * 'same' 3x3 convolutions of NHWC images by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
 * Gray 2016, "Fast Algorithms for Convolutional Neural Networks"), the products on OpenBLAS: per
 * 2x2 output tile, with the 4x4 input tile d (zero outside the image) and the filter g,
 *
 *   Y = A^T [(G g G^T) . (B^T d B)] A
 *
 * (. element-wise), 16 matrix products [tiles x C] [C x OC], one per element of the 4x4
 * transformed tile: 16 / 36 of im2col's multiplications, and no 9-fold copy of the input. The
 * gradients: dL/dx is the same convolution of dy with the filter turned by 180 degrees and its
 * channels swapped; dL/dg, the correlation F(3x3, 2x2) of each input tile with its 2x2 output
 * gradient e, summed over tiles (transposing the trilinear form of F(2x2, 3x3)):
 *
 *   dL/dg = G^T [sum over tiles of (A e A^T) . (B^T d B)] G.
 *
 * Exact in real arithmetic; in float32 the transforms add a few roundings per term (the tests
 * bound the difference to im2col by the same sum-of-magnitudes rule). Pure C; conv_same.c calls
 * it for 3x3 filters. Returns 0, or -1 when the scratch could not be allocated.
 */
#ifndef FDM_BENCH_WINOGRAD_H
#define FDM_BENCH_WINOGRAD_H

#include "conv_same.h"

int winograd_forward(const struct conv_shape *s, const float *x, const float *filter, float *y);

int winograd_backward(const struct conv_shape *s, const float *x, const float *filter, const float *dy,
                      float *dx, float *dfilter);

#endif
