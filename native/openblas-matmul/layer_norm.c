/* LayerNorm with tangents (layer_norm.h): one pass over each row, row by row, in a fixed order. */
#include "layer_norm.h"
#include "vectorise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* n = (h - mean h) r for one row; returns r. */
static inline __attribute__((always_inline)) float normalise(int64_t c, float eps, const float *h, float *n) {
  const float mean = lane_sum(c, h) / (float)c;
  for (int64_t j = 0; j < c; j++) n[j] = h[j] - mean;
  const float var = lane_dot(c, n, n) / (float)c;
  const float r = 1.0f / sqrtf(var + eps);
  for (int64_t j = 0; j < c; j++) n[j] *= r;
  return r;
}

/* out = scale P(v) = scale (v - mean(v) - n mean(n v)). */
static inline __attribute__((always_inline)) void project(int64_t c, float scale, const float *n, const float *v, float *out) {
  const float mean = lane_sum(c, v) / (float)c;
  const float mn = lane_dot(c, n, v) / (float)c;
  for (int64_t j = 0; j < c; j++) out[j] = scale * (v[j] - mean - n[j] * mn);
}

VECTOR_CLONES
void layer_norm_forward(const struct layer_norm_shape *s, const float *h, const float *dh,
                        const float *gain, const float *shift, float *y, float *dy) {
  const int64_t c = s->channels, plane = s->rows * c;
  for (int64_t row = 0; row < s->rows; row++) {
    float *yr = y + row * c; /* n first, then y in place */
    const float r = normalise(c, s->eps, h + row * c, yr);
    for (int64_t t = 0; t < s->tangents; t++) {
      float *out = dy + t * plane + row * c;
      project(c, r, yr, dh + t * plane + row * c, out);
      for (int64_t j = 0; j < c; j++) out[j] *= gain[j];
    }
    for (int64_t j = 0; j < c; j++) yr[j] = gain[j] * yr[j] + shift[j];
  }
}

VECTOR_CLONES
int layer_norm_backward(const struct layer_norm_shape *s, const float *h, const float *dh,
                        const float *gain, const float *gy, const float *gdy, float *gh, float *gdh,
                        float *ggain, float *gshift) {
  const int64_t c = s->channels, plane = s->rows * c;
  /* Per row: n, the scaled gradients G, a tangent's centred c_t, P(dh_t), Q_t, and gh's sum. */
  float *scratch = malloc((size_t)(6 * c) * sizeof(float));
  if (scratch == NULL) return -1;
  float *n = scratch, *g = n + c, *centred = g + c, *pdh = centred + c, *q = pdh + c, *acc = q + c;
  memset(ggain, 0, (size_t)c * sizeof(float));
  memset(gshift, 0, (size_t)c * sizeof(float));
  for (int64_t row = 0; row < s->rows; row++) {
    const float r = normalise(c, s->eps, h + row * c, n);
    const float *gyr = gy + row * c;
    for (int64_t j = 0; j < c; j++) {
      gshift[j] += gyr[j];
      ggain[j] += gyr[j] * n[j];
      g[j] = gain[j] * gyr[j];
    }
    project(c, r, n, g, acc); /* through y */
    float extra_n = 0.0f;      /* the coefficient of n in gh from the tangents' dependence on r */
    for (int64_t t = 0; t < s->tangents; t++) {
      const float *dht = dh + t * plane + row * c;
      const float *gdyt = gdy + t * plane + row * c;
      project(c, r, n, dht, pdh); /* dn_t = r P(dh_t) */
      for (int64_t j = 0; j < c; j++) {
        ggain[j] += gdyt[j] * pdh[j];
        g[j] = gain[j] * gdyt[j]; /* G_t */
      }
      project(c, r, n, g, gdh + t * plane + row * c);
      const float mean_dh = lane_sum(c, dht) / (float)c;
      for (int64_t j = 0; j < c; j++) centred[j] = dht[j] - mean_dh;
      const float m = lane_dot(c, n, centred) / (float)c;
      const float a = lane_dot(c, g, centred), b = lane_dot(c, g, n);
      extra_n += -(r * r / (float)c) * (a - m * b);
      for (int64_t j = 0; j < c; j++) q[j] = -r * (centred[j] * b / (float)c + m * g[j]);
      project(c, r, n, q, q);
      for (int64_t j = 0; j < c; j++) acc[j] += q[j];
    }
    float *ghr = gh + row * c;
    for (int64_t j = 0; j < c; j++) ghr[j] = acc[j] + extra_n * n[j];
  }
  free(scratch);
  return 0;
}
