/* FiLM-modulated Swish with forward-mode tangents (film_swish.h); vectorised like swish_dense.c. */
#include "film_swish.h"
#include "sigmoid.h"
#include "vectorise.h"

/* u = gain a + offset and s = sigmoid(u) over one chunk of a row's channels. */
static inline __attribute__((always_inline)) void modulate(int64_t len, const float *a, const float *gain, const float *offset, float *u, float *s) {
  for (int64_t c = 0; c < len; c++) u[c] = gain[c] * a[c] + offset[c];
  sigmoid_chunk(len, u, s);
}

VECTOR_CLONES
void film_swish_forward(const struct film_shape *s, const float *a, const float *gain, const float *offset,
                        const float *da, float *h, float *hd) {
  const int64_t plane = s->batch * s->positions * s->channels;
  float u[CHUNK], scale[CHUNK];
  for (int64_t b = 0; b < s->batch; b++) {
    for (int64_t p = 0; p < s->positions; p++) {
      const int64_t row = (b * s->positions + p) * s->channels;
      for (int64_t start = 0; start < s->channels; start += CHUNK) {
        const int64_t len = s->channels - start < CHUNK ? s->channels - start : CHUNK;
        const float *g = gain + b * s->channels + start;
        modulate(len, a + row + start, g, offset + b * s->channels + start, u, scale);
        float *out = h + row + start;
        for (int64_t c = 0; c < len; c++) {
          const float sg = scale[c];
          out[c] = u[c] * sg;
          scale[c] = g[c] * (sg * (1.0f + u[c] * (1.0f - sg))); /* gain swish'(u) */
        }
        for (int64_t k = 0; k < s->tangents; k++) {
          const float *dk = da + k * plane + row + start;
          float *hk = hd + k * plane + row + start;
          for (int64_t c = 0; c < len; c++) hk[c] = dk[c] * scale[c];
        }
      }
    }
  }
}

VECTOR_CLONES
void film_swish_backward(const struct film_shape *s, const float *a, const float *gain, const float *offset,
                         const float *da, const float *gh, const float *ghd, float *ga, float *ggain,
                         float *goffset, float *gda) {
  const int64_t plane = s->batch * s->positions * s->channels;
  float u[CHUNK], d1[CHUNK], d2[CHUNK], q[CHUNK], scale[CHUNK], gu[CHUNK];
  for (int64_t i = 0; i < s->batch * s->channels; i++) ggain[i] = goffset[i] = 0.0f;
  for (int64_t b = 0; b < s->batch; b++) {
    for (int64_t p = 0; p < s->positions; p++) {
      const int64_t row = (b * s->positions + p) * s->channels;
      for (int64_t start = 0; start < s->channels; start += CHUNK) {
        const int64_t len = s->channels - start < CHUNK ? s->channels - start : CHUNK;
        const int64_t col = b * s->channels + start;
        const float *g = gain + col;
        const float *ar = a + row + start;
        modulate(len, ar, g, offset + col, u, d1);
        for (int64_t c = 0; c < len; c++) {
          const float sg = d1[c];
          d1[c] = sg * (1.0f + u[c] * (1.0f - sg));                     /* swish'(u) */
          d2[c] = sg * (1.0f - sg) * (2.0f + u[c] * (1.0f - 2.0f * sg)); /* swish''(u) */
          q[c] = 0.0f;
        }
        /* One output array per loop below: GCC vectorises those (with a run-time overlap check),
           not a loop that writes three. */
        for (int64_t c = 0; c < len; c++) scale[c] = g[c] * d1[c];
        for (int64_t k = 0; k < s->tangents; k++) {
          const float *ghk = ghd + k * plane + row + start, *dak = da + k * plane + row + start;
          float *gdak = gda + k * plane + row + start;
          for (int64_t c = 0; c < len; c++) q[c] += ghk[c] * dak[c];
          for (int64_t c = 0; c < len; c++) gdak[c] = ghk[c] * scale[c];
        }
        const float *ghr = gh + row + start;
        float *gar = ga + row + start, *gg = ggain + col, *go = goffset + col;
        for (int64_t c = 0; c < len; c++) gu[c] = ghr[c] * d1[c] + d2[c] * (g[c] * q[c]);
        for (int64_t c = 0; c < len; c++) gar[c] = gu[c] * g[c];
        for (int64_t c = 0; c < len; c++) go[c] += gu[c];
        for (int64_t c = 0; c < len; c++) gg[c] += gu[c] * ar[c] + d1[c] * q[c];
      }
    }
  }
}
