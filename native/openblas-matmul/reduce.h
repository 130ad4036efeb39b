/* Sums over the middle axis of a row-major [outer, reduced, inner] array (pure C; openblas_matmul.c wraps it). */
#ifndef FDM_BENCH_REDUCE_H
#define FDM_BENCH_REDUCE_H

#include <stdint.h>

/*
 * out[a, c] = sum over r of x[a, r, c]: any reduction over a contiguous run of axes, without the
 * transpose the stock wasm kernel makes when the run is not the innermost. The order of the sums is
 * fixed by the shape alone: results are the same run to run.
 */
void sum_middle(int64_t outer, int64_t reduced, int64_t inner, const float *x, float *out);

#endif
