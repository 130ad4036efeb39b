/*
 * Element-wise passes of a dense layer on Swish, fused over a stack of rows: the primal rows
 * a [p] (p = rows x width, row-major) followed by (blocks - 1) tangent blocks da_k [p] (forward-mode
 * Jacobian-vector products, one block per tangent). Pure C, no N-API: openblas_matmul.c wraps them.
 */
#ifndef FDM_BENCH_SWISH_DENSE_H
#define FDM_BENCH_SWISH_DENSE_H

#include <stdint.h>

/*
 * h = swish(a) = a sigmoid(a) on the primal block, h_k = da_k swish'(a) on each tangent block:
 * the input of the layer's matrix product for the primal and its tangents.
 */
void swish_stack_forward(int64_t p, int64_t blocks, const float *z, float *h);

/*
 * In place on g (the gradient with respect to h, same layout): the gradient with respect to z.
 * Tangent blocks: g_k swish'(a). Primal block: g swish'(a) + swish''(a) sum_k g_k da_k (the
 * tangents depend on a through swish'(a)). g_k are read before they are overwritten.
 */
void swish_stack_backward(int64_t p, int64_t blocks, const float *z, float *g);

/* y[r, j] += b[j] for the first `rows` rows of the row-major y [rows x width]. */
void add_bias_rows(int64_t rows, int64_t width, const float *b, float *y);

#endif
