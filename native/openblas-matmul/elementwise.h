/* Element-wise maps the wasm backend runs slowly (pure C; openblas_matmul.c wraps them). */
#ifndef FDM_BENCH_ELEMENTWISE_H
#define FDM_BENCH_ELEMENTWISE_H

#include <stdint.h>

/*
 * y[i] = sin(x[i]) or cos(x[i]) in float32, by the C library's sinf / cosf (glibc's: within an ulp,
 * about ten times faster than the wasm backend's kernels on the Fourier features' angles, which
 * reach hundreds of radians).
 */
void sin_f32(int64_t n, const float *x, float *y);
void cos_f32(int64_t n, const float *x, float *y);

#endif
