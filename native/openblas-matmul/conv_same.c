/* 'same' 2D convolution by im2col and OpenBLAS (conv_same.h). */
#include "conv_same.h"
#include "cblas.h"
#include "scratch.h"
#include "winograd.h"

#include <string.h>

/* Fewest input channels for Winograd (use_winograd). */
#define WINOGRAD_MIN_CHANNELS 32

/* Floats of im2col scratch per chunk of images (16 MiB); at least one image's columns. */
#define CHUNK_FLOATS (1 << 22)

/* Columns of images [0, count) of x: cols[(img h + yy) w + xx, (i kw + j) c + ch] = x[img, yy + i - ph, xx + j - pw, ch] or 0. */
static void im2col(const struct conv_shape *s, int64_t count, const float *x, float *cols) {
  const int64_t ph = (s->kh - 1) / 2, pw = (s->kw - 1) / 2, k = s->kh * s->kw * s->c;
  for (int64_t img = 0; img < count; img++) {
    for (int64_t yy = 0; yy < s->h; yy++) {
      for (int64_t xx = 0; xx < s->w; xx++) {
        float *row = cols + ((img * s->h + yy) * s->w + xx) * k;
        for (int64_t i = 0; i < s->kh; i++) {
          const int64_t sy = yy + i - ph;
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t sx = xx + j - pw;
            float *dst = row + (i * s->kw + j) * s->c;
            if (sy < 0 || sy >= s->h || sx < 0 || sx >= s->w) {
              memset(dst, 0, (size_t)s->c * sizeof(float));
            } else {
              memcpy(dst, x + ((img * s->h + sy) * s->w + sx) * s->c, (size_t)s->c * sizeof(float));
            }
          }
        }
      }
    }
  }
}

/* dx of images [0, count) += the columns' gradients scattered back (the adjoint of im2col). */
static void col2im_add(const struct conv_shape *s, int64_t count, const float *cols, float *dx) {
  const int64_t ph = (s->kh - 1) / 2, pw = (s->kw - 1) / 2, k = s->kh * s->kw * s->c;
  for (int64_t img = 0; img < count; img++) {
    for (int64_t yy = 0; yy < s->h; yy++) {
      for (int64_t xx = 0; xx < s->w; xx++) {
        const float *row = cols + ((img * s->h + yy) * s->w + xx) * k;
        for (int64_t i = 0; i < s->kh; i++) {
          const int64_t sy = yy + i - ph;
          if (sy < 0 || sy >= s->h) continue;
          for (int64_t j = 0; j < s->kw; j++) {
            const int64_t sx = xx + j - pw;
            if (sx < 0 || sx >= s->w) continue;
            const float *src = row + (i * s->kw + j) * s->c;
            float *dst = dx + ((img * s->h + sy) * s->w + sx) * s->c;
            for (int64_t ch = 0; ch < s->c; ch++) dst[ch] += src[ch];
          }
        }
      }
    }
  }
}

/* Images per chunk, so that a chunk's columns fit CHUNK_FLOATS (at least one image). */
static int64_t chunk_images(const struct conv_shape *s) {
  const int64_t per_image = s->h * s->w * s->kh * s->kw * s->c;
  const int64_t images = per_image > 0 ? CHUNK_FLOATS / per_image : s->n;
  return images < 1 ? 1 : (images > s->n ? s->n : images);
}

/*
 * Winograd for 3x3 filters on wide inputs; im2col where the input has few channels: there the 16
 * transformed products per tile cost more memory traffic than the 9-fold columns. Measured on 256
 * images of 8x8, forward / backward ms: 4 -> 128 channels 1.8 / 3.4 by im2col against 6.2 / 13.8
 * by Winograd, 8 -> 128 2.6 / 5.2 against 6.4 / 14.5; 128 -> 4 10.1 / 19.5 against 7.0 / 13.8,
 * 128 -> 128 33 / 65 against 20.5 / 42.
 */
static int use_winograd(const struct conv_shape *s) {
  return s->kh == 3 && s->kw == 3 && s->c >= WINOGRAD_MIN_CHANNELS;
}

int conv_same_forward(const struct conv_shape *s, const float *x, const float *filter, float *y) {
  if (use_winograd(s)) return winograd_forward(s, x, filter, y);
  const int64_t k = s->kh * s->kw * s->c, pixels = s->h * s->w, chunk = chunk_images(s);
  float *cols = thread_scratch(chunk * pixels * k);
  if (cols == NULL) return -1;
  for (int64_t first = 0; first < s->n; first += chunk) {
    const int64_t count = s->n - first < chunk ? s->n - first : chunk;
    im2col(s, count, x + first * pixels * s->c, cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(count * pixels), (int)s->oc, (int)k, 1.0f,
                cols, (int)k, filter, (int)s->oc, 0.0f, y + first * pixels * s->oc, (int)s->oc);
  }
  return 0;
}

int conv_same_backward(const struct conv_shape *s, const float *x, const float *filter, const float *dy,
                       float *dx, float *dfilter) {
  if (use_winograd(s)) return winograd_backward(s, x, filter, dy, dx, dfilter);
  const int64_t k = s->kh * s->kw * s->c, pixels = s->h * s->w, chunk = chunk_images(s);
  float *cols = thread_scratch(chunk * pixels * k);
  if (cols == NULL) return -1;
  memset(dx, 0, (size_t)(s->n * pixels * s->c) * sizeof(float));
  for (int64_t first = 0; first < s->n; first += chunk) {
    const int64_t count = s->n - first < chunk ? s->n - first : chunk;
    const int64_t rows = count * pixels;
    const float *dy_chunk = dy + first * pixels * s->oc;
    im2col(s, count, x + first * pixels * s->c, cols);
    /* dfilter (+)= cols^T dy: the first chunk writes, the others add. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)s->oc, (int)rows, 1.0f, cols, (int)k,
                dy_chunk, (int)s->oc, first == 0 ? 0.0f : 1.0f, dfilter, (int)s->oc);
    /* The columns' gradient dy filter^T, scattered back into dx. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)k, (int)s->oc, 1.0f, dy_chunk,
                (int)s->oc, filter, (int)s->oc, 0.0f, cols, (int)k);
    col2im_add(s, count, cols, dx + first * pixels * s->c);
  }
  return 0;
}
