/* One Adam step over a parameter array, fused into one pass (pure C; openblas_matmul.c wraps it). */
#ifndef FDM_BENCH_ADAM_H
#define FDM_BENCH_ADAM_H

#include <stdint.h>

struct adam_scalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  /* 1 - beta^(t+1), the bias corrections of this step */
  float one_minus_acc_beta1, one_minus_acc_beta2;
  float epsilon, neg_lr;
};

/*
 * m' = beta1 m + (1 - beta1) g,  v' = beta2 v + (1 - beta2) g^2,
 * value' = value - lr (m' / (1 - beta1^(t+1))) / (sqrt(v' / (1 - beta2^(t+1))) + epsilon),
 * in the order of operations of tfjs's AdamOptimizer.applyGradients (same roundings).
 */
void adam_update(int64_t count, const float *restrict value, const float *restrict m,
                 const float *restrict v, const float *restrict g,
                 const struct adam_scalars *s, float *restrict new_value, float *restrict new_m,
                 float *restrict new_v);

#endif
