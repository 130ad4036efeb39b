/* 'same' 3x3 convolutions by Winograd's F(2x2, 3x3) (winograd.h); transforms vectorised over channels. */
#include "winograd.h"
#include "cblas.h"
#include "scratch.h"
#include "vectorise.h"

#include <stdlib.h>
#include <string.h>

/* Floats of transformed tiles per chunk of images (16 MiB); at least one image's. */
#define CHUNK_FLOATS (1 << 22)
/* Elements of a transformed tile. */
#define TILE 16

/* Tiles of 2x2 outputs per image, per row and column. */
static int64_t tiles_along(int64_t size) { return (size + 1) / 2; }

/* Images per chunk when each image needs per_image floats of scratch (at least one, at most n). */
static int64_t chunk_images(int64_t n, int64_t per_image) {
  const int64_t images = per_image > 0 ? CHUNK_FLOATS / per_image : n;
  return images < 1 ? 1 : (images > n ? n : images);
}

/* Channels per block of a tile's transform: local copies in L1, loops the compiler vectorises. */
#define BLOCK 64

/* rows[r][0..len) = src[r] + first, or zeros where src[r] is NULL (outside the image). */
static inline __attribute__((always_inline)) void gather(int count, const float *const *src, int64_t first, int64_t len, float rows[][BLOCK]) {
  for (int r = 0; r < count; r++) {
    if (src[r] == NULL) memset(rows[r], 0, (size_t)len * sizeof(float));
    else memcpy(rows[r], src[r] + first, (size_t)len * sizeof(float));
  }
}

/* dst[r] + first = rows[r][0..len), skipping NULL destinations (outside the image). */
static inline __attribute__((always_inline)) void scatter(int count, float *const *dst, int64_t first, int64_t len, float rows[][BLOCK]) {
  for (int r = 0; r < count; r++) {
    if (dst[r] != NULL) memcpy(dst[r] + first, rows[r], (size_t)len * sizeof(float));
  }
}

/* The pixel (yy, xx) of image img of a [.., h, w, channels] array, or NULL outside the image. */
static inline __attribute__((always_inline)) const float *pixel(const struct conv_shape *s, const float *x, int64_t channels, int64_t img, int64_t yy, int64_t xx) {
  return yy >= 0 && yy < s->h && xx >= 0 && xx < s->w ? x + ((img * s->h + yy) * s->w + xx) * channels : NULL;
}

/* t[p][ch] = (B^T d B)[p] for a block of channels of one 4x4 input tile d (rows a * 4 + b). */
VECTOR_CLONES
static void input_tile(int64_t len, float d[TILE][BLOCK], float t[TILE][BLOCK]) {
  float r[TILE][BLOCK];
  /* B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3. */
  for (int b = 0; b < 4; b++) {
    for (int64_t ch = 0; ch < len; ch++) {
      const float d0 = d[b][ch], d1 = d[4 + b][ch], d2 = d[8 + b][ch], d3 = d[12 + b][ch];
      r[b][ch] = d0 - d2;
      r[4 + b][ch] = d1 + d2;
      r[8 + b][ch] = d2 - d1;
      r[12 + b][ch] = d1 - d3;
    }
  }
  /* (B^T d) B: the same on the columns. */
  for (int a = 0; a < 4; a++) {
    for (int64_t ch = 0; ch < len; ch++) {
      const float q0 = r[4 * a][ch], q1 = r[4 * a + 1][ch], q2 = r[4 * a + 2][ch], q3 = r[4 * a + 3][ch];
      t[4 * a][ch] = q0 - q2;
      t[4 * a + 1][ch] = q1 + q2;
      t[4 * a + 2][ch] = q2 - q1;
      t[4 * a + 3][ch] = q1 - q3;
    }
  }
}

/* y[i * 2 + j][ch] = (A^T m A)[i][j] for a block of channels of one tile's 16 products m. */
VECTOR_CLONES
static void output_tile(int64_t len, float m[TILE][BLOCK], float y[4][BLOCK]) {
  float r[8][BLOCK];
  /* A^T m: rows m0 + m1 + m2, m1 - m2 - m3. */
  for (int b = 0; b < 4; b++) {
    for (int64_t ch = 0; ch < len; ch++) {
      const float m0 = m[b][ch], m1 = m[4 + b][ch], m2 = m[8 + b][ch], m3 = m[12 + b][ch];
      r[b][ch] = m0 + m1 + m2;
      r[4 + b][ch] = m1 - m2 - m3;
    }
  }
  /* (A^T m) A: the same on the columns. */
  for (int i = 0; i < 2; i++) {
    for (int64_t ch = 0; ch < len; ch++) {
      const float q0 = r[4 * i][ch], q1 = r[4 * i + 1][ch], q2 = r[4 * i + 2][ch], q3 = r[4 * i + 3][ch];
      y[2 * i][ch] = q0 + q1 + q2;
      y[2 * i + 1][ch] = q1 - q2 - q3;
    }
  }
}

/* t[p][ch] = (A g A^T)[p] for a block of channels of one tile's 2x2 output gradient g (rows i * 2 + j). */
VECTOR_CLONES
static void gradient_tile(int64_t len, float g[4][BLOCK], float t[TILE][BLOCK]) {
  float r[8][BLOCK];
  /* A g: rows g0, g0 + g1, g0 - g1, -g1. */
  for (int j = 0; j < 2; j++) {
    for (int64_t ch = 0; ch < len; ch++) {
      const float g0 = g[j][ch], g1 = g[2 + j][ch];
      r[j][ch] = g0;
      r[2 + j][ch] = g0 + g1;
      r[4 + j][ch] = g0 - g1;
      r[6 + j][ch] = -g1;
    }
  }
  /* (A g) A^T: the same on the columns. */
  for (int a = 0; a < 4; a++) {
    for (int64_t ch = 0; ch < len; ch++) {
      const float q0 = r[2 * a][ch], q1 = r[2 * a + 1][ch];
      t[4 * a][ch] = q0;
      t[4 * a + 1][ch] = q0 + q1;
      t[4 * a + 2][ch] = q0 - q1;
      t[4 * a + 3][ch] = -q1;
    }
  }
}

/* Where tile t of a chunk stores transformed element p: rows [p tiles + t] of width `width`. */
static void tile_rows(float *base, int64_t tiles, int64_t t, int64_t width, float *rows[TILE]) {
  for (int p = 0; p < TILE; p++) rows[p] = base + (p * tiles + t) * width;
}

/*
 * v[p][t][0..c) = (B^T d B)[p] for every tile t of images [0, count) of x, d the tile's 4x4 input
 * window at rows 2 ty - 1 .. 2 ty + 2 and columns 2 tx - 1 .. 2 tx + 2 (zeros outside the image).
 */
static void input_transform(const struct conv_shape *s, int64_t count, int64_t tiles, const float *x, float *v) {
  const int64_t th = tiles_along(s->h), tw = tiles_along(s->w);
  float d[TILE][BLOCK], out[TILE][BLOCK];
  for (int64_t img = 0; img < count; img++) {
    for (int64_t ty = 0; ty < th; ty++) {
      for (int64_t tx = 0; tx < tw; tx++) {
        const float *src[TILE];
        float *dst[TILE];
        for (int p = 0; p < TILE; p++) src[p] = pixel(s, x, s->c, img, 2 * ty - 1 + p / 4, 2 * tx - 1 + p % 4);
        tile_rows(v, tiles, (img * th + ty) * tw + tx, s->c, dst);
        for (int64_t first = 0; first < s->c; first += BLOCK) {
          const int64_t len = s->c - first < BLOCK ? s->c - first : BLOCK;
          gather(TILE, src, first, len, d);
          input_tile(len, d, out);
          scatter(TILE, dst, first, len, out);
        }
      }
    }
  }
}

/* y of images [0, count) from m[p][t][0..oc): each tile's A^T m A, the outputs inside the image. */
static void output_transform(const struct conv_shape *s, int64_t count, int64_t tiles, float *m, float *y) {
  const int64_t th = tiles_along(s->h), tw = tiles_along(s->w);
  float in[TILE][BLOCK], out[4][BLOCK];
  for (int64_t img = 0; img < count; img++) {
    for (int64_t ty = 0; ty < th; ty++) {
      for (int64_t tx = 0; tx < tw; tx++) {
        const float *src[TILE];
        float *dst[4];
        tile_rows(m, tiles, (img * th + ty) * tw + tx, s->oc, (float **)src);
        for (int q = 0; q < 4; q++) dst[q] = (float *)pixel(s, y, s->oc, img, 2 * ty + q / 2, 2 * tx + q % 2);
        for (int64_t first = 0; first < s->oc; first += BLOCK) {
          const int64_t len = s->oc - first < BLOCK ? s->oc - first : BLOCK;
          gather(TILE, src, first, len, in);
          output_tile(len, in, out);
          scatter(4, dst, first, len, out);
        }
      }
    }
  }
}

/* e[p][t][0..oc) = (A g A^T)[p] for each tile's 2x2 output gradient g (zeros outside the image). */
static void gradient_transform(const struct conv_shape *s, int64_t count, int64_t tiles, const float *dy, float *e) {
  const int64_t th = tiles_along(s->h), tw = tiles_along(s->w);
  float g[4][BLOCK], out[TILE][BLOCK];
  for (int64_t img = 0; img < count; img++) {
    for (int64_t ty = 0; ty < th; ty++) {
      for (int64_t tx = 0; tx < tw; tx++) {
        const float *src[4];
        float *dst[TILE];
        for (int q = 0; q < 4; q++) src[q] = pixel(s, dy, s->oc, img, 2 * ty + q / 2, 2 * tx + q % 2);
        tile_rows(e, tiles, (img * th + ty) * tw + tx, s->oc, dst);
        for (int64_t first = 0; first < s->oc; first += BLOCK) {
          const int64_t len = s->oc - first < BLOCK ? s->oc - first : BLOCK;
          gather(4, src, first, len, g);
          gradient_tile(len, g, out);
          scatter(TILE, dst, first, len, out);
        }
      }
    }
  }
}

/* u[p][0..c oc) = (G g G^T)[p] for the filter g [3, 3, c, oc] (one [c, oc] plane per tap). */
VECTOR_CLONES
static void filter_transform(int64_t plane, const float *restrict g, float *restrict u) {
  for (int64_t e = 0; e < plane; e++) {
    float r[12];
    /* G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2. */
    for (int j = 0; j < 3; j++) {
      const float g0 = g[j * plane + e], g1 = g[(3 + j) * plane + e], g2 = g[(6 + j) * plane + e];
      r[j] = g0;
      r[3 + j] = 0.5f * (g0 + g1 + g2);
      r[6 + j] = 0.5f * (g0 - g1 + g2);
      r[9 + j] = g2;
    }
    /* (G g) G^T: the same on the columns. */
    for (int a = 0; a < 4; a++) {
      const float *q = r + 3 * a;
      u[(4 * a) * plane + e] = q[0];
      u[(4 * a + 1) * plane + e] = 0.5f * (q[0] + q[1] + q[2]);
      u[(4 * a + 2) * plane + e] = 0.5f * (q[0] - q[1] + q[2]);
      u[(4 * a + 3) * plane + e] = q[2];
    }
  }
}

/* dfilter [3, 3, c, oc] = G^T S G from the 16 accumulated planes S[p] [c, oc]. */
VECTOR_CLONES
static void filter_gradient(int64_t plane, const float *restrict sums, float *restrict dfilter) {
  for (int64_t e = 0; e < plane; e++) {
    float r[12];
    /* G^T S: rows s0 + (s1 + s2) / 2, (s1 - s2) / 2, (s1 + s2) / 2 + s3. */
    for (int b = 0; b < 4; b++) {
      const float s0 = sums[b * plane + e], s1 = sums[(4 + b) * plane + e], s2 = sums[(8 + b) * plane + e],
                  s3 = sums[(12 + b) * plane + e];
      r[b] = s0 + 0.5f * (s1 + s2);
      r[4 + b] = 0.5f * (s1 - s2);
      r[8 + b] = 0.5f * (s1 + s2) + s3;
    }
    /* (G^T S) G: the same on the columns. */
    for (int i = 0; i < 3; i++) {
      const float *q = r + 4 * i;
      dfilter[(3 * i) * plane + e] = q[0] + 0.5f * (q[1] + q[2]);
      dfilter[(3 * i + 1) * plane + e] = 0.5f * (q[1] - q[2]);
      dfilter[(3 * i + 2) * plane + e] = 0.5f * (q[1] + q[2]) + q[3];
    }
  }
}

/*
 * A call's scratch: 16 planes of [c, oc] (the transformed filter, or the filter gradient's sums),
 * then a chunk's transformed inputs [16, tiles, c] and outputs or output gradients [16, tiles, oc].
 */
struct workspace {
  int64_t tiles_per_image, plane, chunk;
  float *planes, *inputs, *outputs;
};

static int workspace_for(const struct conv_shape *s, struct workspace *ws) {
  ws->tiles_per_image = tiles_along(s->h) * tiles_along(s->w);
  ws->plane = s->c * s->oc;
  ws->chunk = chunk_images(s->n, TILE * ws->tiles_per_image * (s->c + s->oc));
  const int64_t max_tiles = ws->chunk * ws->tiles_per_image;
  ws->planes = thread_scratch(TILE * ws->plane + TILE * max_tiles * (s->c + s->oc));
  if (ws->planes == NULL) return -1;
  ws->inputs = ws->planes + TILE * ws->plane;
  ws->outputs = ws->inputs + TILE * max_tiles * s->c;
  return 0;
}

int winograd_forward(const struct conv_shape *s, const float *x, const float *filter, float *y) {
  struct workspace ws;
  if (workspace_for(s, &ws) != 0) return -1;
  filter_transform(ws.plane, filter, ws.planes);
  for (int64_t first = 0; first < s->n; first += ws.chunk) {
    const int64_t count = s->n - first < ws.chunk ? s->n - first : ws.chunk, tiles = count * ws.tiles_per_image;
    input_transform(s, count, tiles, x + first * s->h * s->w * s->c, ws.inputs);
    for (int p = 0; p < TILE; p++) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)tiles, (int)s->oc, (int)s->c, 1.0f, ws.inputs + p * tiles * s->c,
                  (int)s->c, ws.planes + p * ws.plane, (int)s->oc, 0.0f, ws.outputs + p * tiles * s->oc, (int)s->oc);
    }
    output_transform(s, count, tiles, ws.outputs, y + first * s->h * s->w * s->oc);
  }
  return 0;
}

/* dfilter: the 16 planes S[p] = sum over tiles of v[p]^T e[p], accumulated chunk by chunk, then G^T S G. */
static int filter_backward(const struct conv_shape *s, const float *x, const float *dy, float *dfilter) {
  struct workspace ws;
  if (workspace_for(s, &ws) != 0) return -1;
  for (int64_t first = 0; first < s->n; first += ws.chunk) {
    const int64_t count = s->n - first < ws.chunk ? s->n - first : ws.chunk, tiles = count * ws.tiles_per_image;
    input_transform(s, count, tiles, x + first * s->h * s->w * s->c, ws.inputs);
    gradient_transform(s, count, tiles, dy + first * s->h * s->w * s->oc, ws.outputs);
    for (int p = 0; p < TILE; p++) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s->c, (int)s->oc, (int)tiles, 1.0f, ws.inputs + p * tiles * s->c,
                  (int)s->c, ws.outputs + p * tiles * s->oc, (int)s->oc, first == 0 ? 0.0f : 1.0f, ws.planes + p * ws.plane,
                  (int)s->oc);
    }
  }
  filter_gradient(ws.plane, ws.planes, dfilter);
  return 0;
}

int winograd_backward(const struct conv_shape *s, const float *x, const float *filter, const float *dy,
                      float *dx, float *dfilter) {
  /* dx: dy convolved with the filter turned by 180 degrees, its channels swapped. */
  const int64_t plane = s->c * s->oc;
  float *adjoint = malloc((size_t)(9 * plane) * sizeof(float));
  if (adjoint == NULL) return -1;
  for (int64_t tap = 0; tap < 9; tap++) {
    const float *from = filter + (8 - tap) * plane;
    float *to = adjoint + tap * plane;
    for (int64_t ch = 0; ch < s->c; ch++) {
      for (int64_t o = 0; o < s->oc; o++) to[o * s->c + ch] = from[ch * s->oc + o];
    }
  }
  const struct conv_shape swapped = {s->n, s->h, s->w, s->oc, 3, 3, s->c};
  const int status = winograd_forward(&swapped, dy, adjoint, dx);
  free(adjoint);
  if (status != 0) return status;
  if (s->n == 0) {
    memset(dfilter, 0, (size_t)(9 * plane) * sizeof(float));
    return 0;
  }
  return filter_backward(s, x, dy, dfilter);
}
