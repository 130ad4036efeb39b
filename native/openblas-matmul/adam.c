/* One Adam step, fused (adam.h); vectorised like swish_dense.c, sqrt without errno. */
#include "adam.h"
#include "vectorise.h"

#include <math.h>


VECTOR_CLONES
void adam_update(int64_t count, const float *restrict value, const float *restrict m,
                 const float *restrict v, const float *restrict g,
                 const struct adam_scalars *s, float *restrict new_value, float *restrict new_m,
                 float *restrict new_v) {
  const float beta1 = s->beta1, c1 = s->one_minus_beta1, beta2 = s->beta2, c2 = s->one_minus_beta2;
  const float bias1 = s->one_minus_acc_beta1, bias2 = s->one_minus_acc_beta2;
  const float epsilon = s->epsilon, neg_lr = s->neg_lr;
  for (int64_t i = 0; i < count; i++) {
    const float m1 = m[i] * beta1 + g[i] * c1;
    const float v1 = v[i] * beta2 + (g[i] * g[i]) * c2;
    new_m[i] = m1;
    new_v[i] = v1;
    new_value[i] = ((m1 / bias1) / (sqrtf(v1 / bias2) + epsilon)) * neg_lr + value[i];
  }
}
