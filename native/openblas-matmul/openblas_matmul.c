/*
 * fdm-bench-openblas: a minimal N-API addon over the system OpenBLAS (libopenblas.so.0).
 *
 * Exports
 *   sgemm(transA, transB, m, n, k, a, aOffset, b, bOffset, c, cOffset)
 *       Row-major C[m x n] = op(A) . op(B) (alpha 1, beta 0) on Float32Arrays, offsets in
 *       elements. op(A) is m x k (A stored k x m when transA), op(B) is k x n (B stored n x k when
 *       transB); all matrices are dense (leading dimension = stored row length). The arrays may
 *       be views over any ArrayBuffer (e.g. the wasm heap): the addon reads and writes them in
 *       place, without copies. Bad arguments throw TypeError / RangeError.
 *   swishDenseForward(rows, blocks, n, m, z, w, b, y, h)
 *       One dense layer on Swish over a stack of `blocks` row blocks [rows x n] of z: the primal
 *       pre-activations a, then one block per tangent da_k (forward-mode JVPs). h = [swish(a);
 *       da_k swish'(a)] (kept for the backward pass), y = h w, plus b on the primal block.
 *   swishDenseBackward(rows, blocks, n, m, z, w, h, g, dz, dw, db)
 *       Its gradients for the output gradient g [blocks rows x m]: dw = h^T g, db = the column sums
 *       of g's primal block, dz = (g w^T) through the Swish (swish_dense.h).
 *   adamUpdate(value, m, v, g, newValue, newM, newV, beta1, beta2, epsilon, lr, accBeta1, accBeta2)
 *       One Adam step over a parameter array in one pass (adam.h); accBeta = beta^(t+1).
 *   sumMiddle(outer, reduced, inner, x, out)
 *       out[a, c] = sum over r of x[a, r, c] for x [outer x reduced x inner] (reduce.h).
 *   convSameForward(n, h, w, c, kh, kw, oc, x, filter, y)
 *   convSameBackward(n, h, w, c, kh, kw, oc, x, filter, dy, dx, dfilter)
 *       Stride-1 'same' 2D convolution of NHWC images with an odd filter [kh, kw, c, oc], and its
 *       gradients, by Winograd's F(2x2, 3x3) or im2col, and sgemm (conv_same.h, winograd.h).
 *   layerNormForward(rows, channels, tangents, eps, h, dh, gain, shift, y, dy)
 *   layerNormBackward(rows, channels, tangents, eps, h, dh, gain, gy, gdy, gh, gdh, ggain, gshift)
 *       LayerNorm over the channels of rows [rows x channels] with forward-mode tangents
 *       [tangents x rows x channels], and its gradients (layer_norm.h).
 *   reluDenseForward(rows, tangents, n, m, channels, x, z, w, b, h, dh)
 *   reluDenseBackward(rows, tangents, n, m, channels, x, z, w, h, gh, gdh, gx, gz, gw, gb)
 *       A dense layer on ReLU, h = relu(x w + b), with forward-mode tangents dh_t = (z_t w) step,
 *       and its gradients (relu_dense.h).
 *   filmSwishForward(batch, positions, channels, tangents, a, gain, offset, da, h, hd)
 *   filmSwishBackward(batch, positions, channels, tangents, a, gain, offset, da, gh, ghd, ga, ggain, goffset, gda)
 *       Swish of gain a + offset (per-sample, per-channel FiLM) with forward-mode tangents, and its
 *       gradients (film_swish.h).
 *   elementwise(op, x, y)
 *       y = sin(x) or cos(x) in float32 (op "sin" / "cos"; elementwise.h).
 *   setThreads(n)  openblas_set_num_threads(n), 1 <= n <= 4096
 *   threads()      openblas_get_num_threads()
 *   config()       openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY ..."
 *
 * There is no cblas.h on the build machine (runtime package only): cblas_sgemm is declared in the
 * addon's cblas.h, the other three OpenBLAS symbols below, with the LP64 (32-bit int) interface of
 * Debian's libopenblas0; module initialisation refuses a USE64BITINT build.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <node_api.h>

#include "adam.h"
#include "cblas.h"
#include "conv_same.h"
#include "elementwise.h"
#include "film_swish.h"
#include "layer_norm.h"
#include "reduce.h"
#include "relu_dense.h"
#include "swish_dense.h"

extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);

#define MAX_THREADS 4096

/* Returns NULL after throwing when a napi call failed (a pending exception is kept). */
#define NAPI_CALL(env, call)                                                          \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      bool pending = false;                                                           \
      napi_is_exception_pending((env), &pending);                                     \
      if (!pending) napi_throw_error((env), NULL, "fdm-bench-openblas: N-API call failed"); \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

static bool get_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  char msg[128];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) {
    snprintf(msg, sizeof msg, "sgemm: %s must be a boolean", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  napi_get_value_bool(env, v, out);
  return true;
}

/* A non-negative integer-valued number <= max. */
static bool get_index(napi_env env, napi_value v, const char *name, double max, int64_t *out) {
  napi_valuetype t;
  double d;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    snprintf(msg, sizeof msg, "%s must be a number", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  napi_get_value_double(env, v, &d);
  if (!isfinite(d) || d != floor(d) || d < 0 || d > max) {
    snprintf(msg, sizeof msg, "%s must be an integer in [0, %.0f], got %g", name, max, d);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static bool get_f32(napi_env env, napi_value v, const char *name, float **data, size_t *length) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *ptr = NULL;
  char msg[128];
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, length, &ptr, NULL, NULL) != napi_ok ||
      type != napi_float32_array) {
    snprintf(msg, sizeof msg, "%s must be a Float32Array", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  /* ptr already includes the view's byteOffset; NULL only for a detached / empty buffer. */
  *data = (float *)ptr;
  return true;
}

/* offset + count <= length, in elements (no overflow: all operands < 2^53 and count < 2^62). */
static bool check_extent(napi_env env, const char *name, size_t length, int64_t offset,
                         int64_t count) {
  char msg[200];
  if ((uint64_t)offset > (uint64_t)length || (uint64_t)count > (uint64_t)length - (uint64_t)offset) {
    snprintf(msg, sizeof msg,
             "%s needs %lld elements from offset %lld but has length %llu", name,
             (long long)count, (long long)offset, (unsigned long long)length);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  return true;
}

static bool overlaps(const float *p, int64_t np, const float *q, int64_t nq) {
  uintptr_t a0 = (uintptr_t)p, a1 = a0 + (uintptr_t)np * sizeof(float);
  uintptr_t b0 = (uintptr_t)q, b1 = b0 + (uintptr_t)nq * sizeof(float);
  return np > 0 && nq > 0 && a0 < b1 && b0 < a1;
}

static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 11) {
    napi_throw_type_error(env, NULL,
                          "sgemm(transA, transB, m, n, k, a, aOffset, b, bOffset, c, cOffset) "
                          "takes 11 arguments");
    return NULL;
  }
  bool trans_a, trans_b;
  int64_t m, n, k, a_off, b_off, c_off;
  float *a, *b, *c;
  size_t a_len, b_len, c_len;
  const double max_dim = (double)INT_MAX, max_off = 9007199254740991.0;
  if (!get_bool(env, argv[0], "transA", &trans_a) || !get_bool(env, argv[1], "transB", &trans_b) ||
      !get_index(env, argv[2], "sgemm: m", max_dim, &m) ||
      !get_index(env, argv[3], "sgemm: n", max_dim, &n) ||
      !get_index(env, argv[4], "sgemm: k", max_dim, &k) ||
      !get_f32(env, argv[5], "sgemm: a", &a, &a_len) ||
      !get_index(env, argv[6], "sgemm: aOffset", max_off, &a_off) ||
      !get_f32(env, argv[7], "sgemm: b", &b, &b_len) ||
      !get_index(env, argv[8], "sgemm: bOffset", max_off, &b_off) ||
      !get_f32(env, argv[9], "sgemm: c", &c, &c_len) ||
      !get_index(env, argv[10], "sgemm: cOffset", max_off, &c_off)) {
    return NULL;
  }
  const int64_t a_count = m * k, b_count = k * n, c_count = m * n;
  if (!check_extent(env, "sgemm: a", a_len, a_off, a_count) ||
      !check_extent(env, "sgemm: b", b_len, b_off, b_count) ||
      !check_extent(env, "sgemm: c", c_len, c_off, c_count)) {
    return NULL;
  }
  if (c_count == 0) return NULL; /* nothing to write */
  if (m * k > INT_MAX || k * n > INT_MAX || m * n > INT_MAX) {
    /* Well within what OpenBLAS (32-bit ints) indexes internally; larger products are refused. */
    napi_throw_range_error(env, NULL, "sgemm: a matrix has more than 2^31-1 elements");
    return NULL;
  }
  a += a_off;
  b += b_off;
  c += c_off;
  if (overlaps(c, c_count, a, a_count) || overlaps(c, c_count, b, b_count)) {
    napi_throw_range_error(env, NULL, "sgemm: the output c overlaps an input");
    return NULL;
  }
  if (k == 0) { /* empty inner dimension: C = 0 (and lda/ldb would be 0, which BLAS rejects) */
    memset(c, 0, (size_t)c_count * sizeof(float));
    return NULL;
  }
  const int lda = trans_a ? (int)m : (int)k;
  const int ldb = trans_b ? (int)k : (int)n;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              (int)m, (int)n, (int)k, 1.0f, a, lda, b, ldb, 0.0f, c, (int)n);
  return NULL;
}

/* A dense Float32Array argument of exactly `count` elements. */
static bool get_matrix(napi_env env, napi_value v, const char *name, int64_t count, float **data) {
  size_t length;
  char msg[200];
  if (!get_f32(env, v, name, data, &length)) return false;
  if ((uint64_t)length != (uint64_t)count) {
    snprintf(msg, sizeof msg, "%s must have %lld elements, got %llu", name, (long long)count,
             (unsigned long long)length);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  return true;
}

static bool distinct(napi_env env, const char *fn, const float *const *arrays, const int64_t *counts, int n_out, int n_all) {
  char msg[128];
  for (int o = 0; o < n_out; o++) {
    for (int j = 0; j < n_all; j++) {
      if (j != o && overlaps(arrays[o], counts[o], arrays[j], counts[j])) {
        snprintf(msg, sizeof msg, "%s: output %d overlaps argument %d", fn, o, j);
        napi_throw_range_error(env, NULL, msg);
        return false;
      }
    }
  }
  return true;
}

/* The call's first n arguments into argv; a TypeError "<usage> takes n arguments" when there are fewer. */
static bool get_args(napi_env env, napi_callback_info info, size_t n, const char *usage, napi_value *argv) {
  size_t argc = n;
  char msg[256];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, "fdm-bench-openblas: N-API call failed");
    return false;
  }
  if (argc < n) {
    snprintf(msg, sizeof msg, "%s takes %zu arguments", usage, n);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

/*
 * The arguments argv[first..first+n) as dense Float32Arrays of counts[i] elements (named "fn: names[i]"
 * in errors), of which the last n_out are outputs that must not overlap any other.
 */
static bool get_arrays(napi_env env, napi_value *argv, const char *fn, int first, int n, int n_out,
                       const char *const *names, const int64_t *counts, float **arrays) {
  char name[96];
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "%s: %s", fn, names[i]);
    if (!get_matrix(env, argv[first + i], name, counts[i], &arrays[i])) return false;
  }
  /* distinct() wants the outputs first. */
  const float *ordered[16];
  int64_t ordered_counts[16];
  for (int i = 0; i < n; i++) {
    const int j = i < n_out ? n - n_out + i : i - n_out;
    ordered[i] = arrays[j];
    ordered_counts[i] = counts[j];
  }
  return distinct(env, fn, ordered, ordered_counts, n_out, n);
}

/* The leading n integer arguments of a call, each in [0, 2^31 - 1], named "fn: names[i]" in errors. */
static bool get_sizes(napi_env env, napi_value *argv, const char *fn, int n, const char *const *names, int64_t **fields) {
  char name[64];
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "%s: %s", fn, names[i]);
    if (!get_index(env, argv[i], name, (double)INT_MAX, fields[i])) return false;
  }
  return true;
}

/* Throws a RangeError `message` when elements exceeds INT_MAX. */
static bool fits_int(napi_env env, const char *message, double elements) {
  if (elements <= INT_MAX) return true;
  napi_throw_range_error(env, NULL, message);
  return false;
}

/* The leading (rows, blocks, n, m) of the swish-dense calls; every matrix then fits a 32-bit int. */
static bool get_layer_dims(napi_env env, napi_value *argv, const char *fn, int64_t dims[4]) {
  static const char *names[4] = {"rows", "blocks", "n", "m"};
  int64_t *fields[4] = {&dims[0], &dims[1], &dims[2], &dims[3]};
  if (!get_sizes(env, argv, fn, 4, names, fields)) return false;
  const double stacked = (double)dims[0] * (double)dims[1], wider = (double)(dims[2] > dims[3] ? dims[2] : dims[3]);
  return fits_int(env, "swishDense: a matrix has more than 2^31-1 elements",
                  fmax(stacked, fmax(stacked * wider, (double)dims[2] * (double)dims[3])));
}

static napi_value swish_dense_forward(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  int64_t d[4];
  static const char *fn = "swishDenseForward";
  if (!get_args(env, info, 9, "swishDenseForward(rows, blocks, n, m, z, w, b, y, h)", argv) || !get_layer_dims(env, argv, fn, d)) return NULL;
  const int64_t rows = d[0], blocks = d[1], n = d[2], m = d[3], stacked = rows * blocks;
  static const char *names[5] = {"z", "w", "b", "y", "h"};
  const int64_t counts[5] = {stacked * n, n * m, m, stacked * m, stacked * n};
  float *a[5];
  if (!get_arrays(env, argv, fn, 4, 5, 2, names, counts, a)) return NULL;
  float *z = a[0], *w = a[1], *b = a[2], *y = a[3], *h = a[4];
  if (stacked * m == 0) return NULL;
  swish_stack_forward(rows * n, blocks, z, h);
  if (n == 0) {
    memset(y, 0, (size_t)(stacked * m) * sizeof(float));
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)stacked, (int)m, (int)n, 1.0f, h,
                (int)n, w, (int)m, 0.0f, y, (int)m);
  }
  add_bias_rows(rows, m, b, y);
  return NULL;
}

static napi_value swish_dense_backward(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  int64_t d[4];
  static const char *fn = "swishDenseBackward";
  if (!get_args(env, info, 11, "swishDenseBackward(rows, blocks, n, m, z, w, h, g, dz, dw, db)", argv) || !get_layer_dims(env, argv, fn, d)) return NULL;
  const int64_t rows = d[0], blocks = d[1], n = d[2], m = d[3], stacked = rows * blocks;
  static const char *names[7] = {"z", "w", "h", "g", "dz", "dw", "db"};
  const int64_t counts[7] = {stacked * n, n * m, stacked * n, stacked * m, stacked * n, n * m, m};
  float *a[7];
  if (!get_arrays(env, argv, fn, 4, 7, 3, names, counts, a)) return NULL;
  float *z = a[0], *w = a[1], *h = a[2], *g = a[3], *dz = a[4], *dw = a[5], *db = a[6];
  sum_middle(1, rows, m, g, db); /* the primal block's column sums */
  if (stacked == 0 || m == 0) {
    memset(dz, 0, (size_t)(stacked * n) * sizeof(float));
    memset(dw, 0, (size_t)(n * m) * sizeof(float));
    return NULL;
  }
  if (n == 0) return NULL;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)m, (int)stacked, 1.0f, h, (int)n,
              g, (int)m, 0.0f, dw, (int)m);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)stacked, (int)n, (int)m, 1.0f, g, (int)m,
              w, (int)m, 0.0f, dz, (int)n);
  swish_stack_backward(rows * n, blocks, z, dz);
  return NULL;
}

/* A finite number, as a float (rounded as JavaScript's Math.fround would). */
static bool get_float(napi_env env, napi_value v, const char *name, float *out) {
  napi_valuetype t;
  double d;
  char msg[128];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    snprintf(msg, sizeof msg, "%s must be a number", name);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  napi_get_value_double(env, v, &d);
  if (!isfinite(d)) {
    snprintf(msg, sizeof msg, "%s must be finite, got %g", name, d);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  *out = (float)d;
  return true;
}

static napi_value adam_update_napi(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  static const char *fn = "adamUpdate";
  static const char *names[7] = {"value", "m", "v", "g", "newValue", "newM", "newV"};
  float *arrays[7];
  size_t length = 0;
  if (!get_args(env, info, 13, "adamUpdate(value, m, v, g, newValue, newM, newV, beta1, beta2, epsilon, lr, accBeta1, accBeta2)", argv) ||
      !get_f32(env, argv[0], "adamUpdate: value", &arrays[0], &length)) {
    return NULL;
  }
  const int64_t counts[7] = {(int64_t)length, (int64_t)length, (int64_t)length, (int64_t)length,
                             (int64_t)length, (int64_t)length, (int64_t)length};
  /* get_arrays' overlap check also makes the restrict qualifiers of adam_update hold. */
  if (!get_arrays(env, argv, fn, 0, 7, 3, names, counts, arrays)) return NULL;
  float beta1, beta2, epsilon, lr, acc1, acc2;
  if (!get_float(env, argv[7], "adamUpdate: beta1", &beta1) ||
      !get_float(env, argv[8], "adamUpdate: beta2", &beta2) ||
      !get_float(env, argv[9], "adamUpdate: epsilon", &epsilon) ||
      !get_float(env, argv[10], "adamUpdate: lr", &lr) ||
      !get_float(env, argv[11], "adamUpdate: accBeta1", &acc1) ||
      !get_float(env, argv[12], "adamUpdate: accBeta2", &acc2)) {
    return NULL;
  }
  double d;
  napi_get_value_double(env, argv[7], &d);
  const float one_minus_beta1 = (float)(1.0 - d); /* tfjs: the scalar 1 - beta1, computed in double */
  napi_get_value_double(env, argv[8], &d);
  const float one_minus_beta2 = (float)(1.0 - d);
  napi_get_value_double(env, argv[10], &d);
  const struct adam_scalars s = {beta1, one_minus_beta1, beta2, one_minus_beta2,
                                 1.0f - acc1, 1.0f - acc2, epsilon, (float)-d};
  adam_update((int64_t)length, arrays[0], arrays[1], arrays[2], arrays[3], &s, arrays[4], arrays[5],
              arrays[6]);
  return NULL;
}

static napi_value sum_middle_napi(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int64_t outer, reduced, inner;
  static const char *fn = "sumMiddle";
  static const char *sizes[3] = {"outer", "reduced", "inner"};
  int64_t *fields[3] = {&outer, &reduced, &inner};
  if (!get_args(env, info, 5, "sumMiddle(outer, reduced, inner, x, out)", argv) || !get_sizes(env, argv, fn, 3, sizes, fields) ||
      !fits_int(env, "sumMiddle: x has more than 2^31-1 elements", fmax((double)outer * (double)reduced, (double)outer * (double)reduced * (double)inner))) {
    return NULL;
  }
  static const char *names[2] = {"x", "out"};
  const int64_t counts[2] = {outer * reduced * inner, outer * inner};
  float *a[2];
  if (!get_arrays(env, argv, fn, 3, 2, 1, names, counts, a)) return NULL;
  sum_middle(outer, reduced, inner, a[0], a[1]);
  return NULL;
}

/* The leading (n, h, w, c, kh, kw, oc) of the convolution calls: odd kh and kw, 32-bit sizes. */
static bool get_conv_shape(napi_env env, napi_value *argv, const char *fn, struct conv_shape *s) {
  static const char *names[7] = {"n", "h", "w", "c", "kh", "kw", "oc"};
  int64_t *fields[7] = {&s->n, &s->h, &s->w, &s->c, &s->kh, &s->kw, &s->oc};
  if (!get_sizes(env, argv, fn, 7, names, fields)) return false;
  if (s->kh % 2 == 0 || s->kw % 2 == 0) {
    napi_throw_range_error(env, NULL, "convSame: the filter's height and width must be odd");
    return false;
  }
  const double rows = (double)s->n * (double)s->h * (double)s->w;
  const double k = (double)s->kh * (double)s->kw * (double)s->c;
  return fits_int(env, "convSame: a matrix has more than 2^31-1 elements",
                  fmax(rows * (double)(s->c > s->oc ? s->c : s->oc), fmax(k * (double)s->oc, (double)s->h * (double)s->w * k)));
}

static bool conv_status(napi_env env, int status) {
  if (status == 0) return true;
  napi_throw_error(env, NULL, "convSame: out of memory for the scratch buffer");
  return false;
}

static napi_value conv_same_forward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  struct conv_shape s;
  static const char *fn = "convSameForward";
  if (!get_args(env, info, 10, "convSameForward(n, h, w, c, kh, kw, oc, x, filter, y)", argv) || !get_conv_shape(env, argv, fn, &s)) return NULL;
  const int64_t pixels = s.n * s.h * s.w;
  static const char *names[3] = {"x", "filter", "y"};
  const int64_t counts[3] = {pixels * s.c, s.kh * s.kw * s.c * s.oc, pixels * s.oc};
  float *a[3];
  if (!get_arrays(env, argv, fn, 7, 3, 1, names, counts, a)) return NULL;
  if (pixels == 0 || s.oc == 0) return NULL;
  if (s.c == 0) {
    memset(a[2], 0, (size_t)(pixels * s.oc) * sizeof(float));
    return NULL;
  }
  conv_status(env, conv_same_forward(&s, a[0], a[1], a[2]));
  return NULL;
}

static napi_value conv_same_backward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  struct conv_shape s;
  static const char *fn = "convSameBackward";
  if (!get_args(env, info, 12, "convSameBackward(n, h, w, c, kh, kw, oc, x, filter, dy, dx, dfilter)", argv) || !get_conv_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t pixels = s.n * s.h * s.w, filter_size = s.kh * s.kw * s.c * s.oc;
  static const char *names[5] = {"x", "filter", "dy", "dx", "dfilter"};
  const int64_t counts[5] = {pixels * s.c, filter_size, pixels * s.oc, pixels * s.c, filter_size};
  float *a[5];
  if (!get_arrays(env, argv, fn, 7, 5, 2, names, counts, a)) return NULL;
  if (pixels == 0 || s.c == 0 || s.oc == 0) {
    memset(a[3], 0, (size_t)(pixels * s.c) * sizeof(float));
    memset(a[4], 0, (size_t)filter_size * sizeof(float));
    return NULL;
  }
  conv_status(env, conv_same_backward(&s, a[0], a[1], a[2], a[3], a[4]));
  return NULL;
}

/* The leading (rows, channels, tangents, eps) of the LayerNorm calls. */
static bool get_norm_shape(napi_env env, napi_value *argv, const char *fn, struct layer_norm_shape *s) {
  char name[64];
  static const char *names[3] = {"rows", "channels", "tangents"};
  int64_t *fields[3] = {&s->rows, &s->channels, &s->tangents};
  if (!get_sizes(env, argv, fn, 3, names, fields)) return false;
  snprintf(name, sizeof name, "%s: eps", fn);
  if (!get_float(env, argv[3], name, &s->eps)) return false;
  if (!(s->eps > 0)) {
    napi_throw_range_error(env, NULL, "layerNorm: eps must be positive");
    return false;
  }
  return fits_int(env, "layerNorm: more than 2^31-1 elements", (double)s->rows * (double)s->channels * (double)(s->tangents + 1));
}

static napi_value layer_norm_forward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  struct layer_norm_shape s;
  static const char *fn = "layerNormForward";
  if (!get_args(env, info, 10, "layerNormForward(rows, channels, tangents, eps, h, dh, gain, shift, y, dy)", argv) || !get_norm_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t plane = s.rows * s.channels, stack = plane * s.tangents;
  static const char *names[6] = {"h", "dh", "gain", "shift", "y", "dy"};
  const int64_t counts[6] = {plane, stack, s.channels, s.channels, plane, stack};
  float *a[6];
  if (!get_arrays(env, argv, fn, 4, 6, 2, names, counts, a)) return NULL;
  layer_norm_forward(&s, a[0], a[1], a[2], a[3], a[4], a[5]);
  return NULL;
}

static napi_value layer_norm_backward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  struct layer_norm_shape s;
  static const char *fn = "layerNormBackward";
  if (!get_args(env, info, 13, "layerNormBackward(rows, channels, tangents, eps, h, dh, gain, gy, gdy, gh, gdh, ggain, gshift)", argv) ||
      !get_norm_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t plane = s.rows * s.channels, stack = plane * s.tangents;
  static const char *names[9] = {"h", "dh", "gain", "gy", "gdy", "gh", "gdh", "ggain", "gshift"};
  const int64_t counts[9] = {plane, stack, s.channels, plane, stack, plane, stack, s.channels, s.channels};
  float *a[9];
  if (!get_arrays(env, argv, fn, 4, 9, 4, names, counts, a)) return NULL;
  if (layer_norm_backward(&s, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]) != 0) {
    napi_throw_error(env, NULL, "layerNormBackward: out of memory");
  }
  return NULL;
}

/* The leading (rows, tangents, n, m, channels) of the ReLU dense calls: m a multiple of channels, 32-bit sizes. */
static bool get_relu_shape(napi_env env, napi_value *argv, const char *fn, struct relu_dense_shape *s) {
  static const char *names[5] = {"rows", "tangents", "n", "m", "channels"};
  int64_t *fields[5] = {&s->rows, &s->tangents, &s->n, &s->m, &s->channels};
  char msg[96];
  if (!get_sizes(env, argv, fn, 5, names, fields)) return false;
  if (s->channels == 0 || s->m % s->channels != 0) {
    snprintf(msg, sizeof msg, "%s: m must be a multiple of channels", fn);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  const double stacked = (double)s->rows * (double)(s->tangents + 1);
  snprintf(msg, sizeof msg, "%s: more than 2^31-1 elements", fn);
  return fits_int(env, msg, fmax(stacked * (double)(s->n > s->m ? s->n : s->m), (double)s->n * (double)s->m));
}

static napi_value relu_dense_forward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  struct relu_dense_shape s;
  static const char *fn = "reluDenseForward";
  if (!get_args(env, info, 11, "reluDenseForward(rows, tangents, n, m, channels, x, z, w, b, h, dh)", argv) || !get_relu_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t t = s.tangents * s.rows;
  static const char *names[6] = {"x", "z", "w", "b", "h", "dh"};
  const int64_t counts[6] = {s.rows * s.n, t * s.n, s.n * s.m, s.channels, s.rows * s.m, t * s.m};
  float *a[6];
  if (!get_arrays(env, argv, fn, 5, 6, 2, names, counts, a)) return NULL;
  relu_dense_forward(&s, a[0], a[1], a[2], a[3], a[4], a[5]);
  return NULL;
}

static napi_value relu_dense_backward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[15];
  struct relu_dense_shape s;
  static const char *fn = "reluDenseBackward";
  if (!get_args(env, info, 15, "reluDenseBackward(rows, tangents, n, m, channels, x, z, w, h, gh, gdh, gx, gz, gw, gb)", argv) ||
      !get_relu_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t t = s.tangents * s.rows;
  static const char *names[10] = {"x", "z", "w", "h", "gh", "gdh", "gx", "gz", "gw", "gb"};
  const int64_t counts[10] = {s.rows * s.n, t * s.n, s.n * s.m, s.rows * s.m, s.rows * s.m, t * s.m,
                              s.rows * s.n, t * s.n, s.n * s.m, s.channels};
  float *a[10];
  if (!get_arrays(env, argv, fn, 5, 10, 4, names, counts, a)) return NULL;
  if (relu_dense_backward(&s, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]) != 0) {
    napi_throw_error(env, NULL, "reluDenseBackward: out of memory");
  }
  return NULL;
}

/* The leading (batch, positions, channels, tangents) of the FiLM Swish calls, 32-bit sizes. */
static bool get_film_shape(napi_env env, napi_value *argv, const char *fn, struct film_shape *s) {
  static const char *names[4] = {"batch", "positions", "channels", "tangents"};
  int64_t *fields[4] = {&s->batch, &s->positions, &s->channels, &s->tangents};
  char msg[96];
  if (!get_sizes(env, argv, fn, 4, names, fields)) return false;
  snprintf(msg, sizeof msg, "%s: more than 2^31-1 elements", fn);
  return fits_int(env, msg, (double)s->batch * (double)s->positions * (double)s->channels * (double)(s->tangents + 1));
}

static napi_value film_swish_forward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  struct film_shape s;
  static const char *fn = "filmSwishForward";
  if (!get_args(env, info, 10, "filmSwishForward(batch, positions, channels, tangents, a, gain, offset, da, h, hd)", argv) ||
      !get_film_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t plane = s.batch * s.positions * s.channels, stack = plane * s.tangents, film = s.batch * s.channels;
  static const char *names[6] = {"a", "gain", "offset", "da", "h", "hd"};
  const int64_t counts[6] = {plane, film, film, stack, plane, stack};
  float *x[6];
  if (!get_arrays(env, argv, fn, 4, 6, 2, names, counts, x)) return NULL;
  film_swish_forward(&s, x[0], x[1], x[2], x[3], x[4], x[5]);
  return NULL;
}

static napi_value film_swish_backward_napi(napi_env env, napi_callback_info info) {
  napi_value argv[14];
  struct film_shape s;
  static const char *fn = "filmSwishBackward";
  if (!get_args(env, info, 14, "filmSwishBackward(batch, positions, channels, tangents, a, gain, offset, da, gh, ghd, ga, ggain, goffset, gda)", argv) ||
      !get_film_shape(env, argv, fn, &s)) {
    return NULL;
  }
  const int64_t plane = s.batch * s.positions * s.channels, stack = plane * s.tangents, film = s.batch * s.channels;
  static const char *names[10] = {"a", "gain", "offset", "da", "gh", "ghd", "ga", "ggain", "goffset", "gda"};
  const int64_t counts[10] = {plane, film, film, stack, plane, stack, plane, film, film, stack};
  float *x[10];
  if (!get_arrays(env, argv, fn, 4, 10, 4, names, counts, x)) return NULL;
  film_swish_backward(&s, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9]);
  return NULL;
}

/* elementwise(op, x, y): y = op(x) element by element, op "sin" or "cos" (elementwise.h). */
static napi_value elementwise_napi(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char op[8];
  size_t op_length = 0;
  size_t length;
  float *x, *a[2];
  if (!get_args(env, info, 3, "elementwise(op, x, y)", argv)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], op, sizeof op, &op_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "elementwise: op must be a string");
    return NULL;
  }
  void (*map)(int64_t, const float *, float *) = strcmp(op, "sin") == 0 ? sin_f32 : strcmp(op, "cos") == 0 ? cos_f32 : NULL;
  if (map == NULL) {
    napi_throw_range_error(env, NULL, "elementwise: op must be \"sin\" or \"cos\"");
    return NULL;
  }
  if (!get_f32(env, argv[1], "elementwise: x", &x, &length)) return NULL;
  static const char *names[2] = {"x", "y"};
  const int64_t counts[2] = {(int64_t)length, (int64_t)length};
  if (!get_arrays(env, argv, "elementwise", 1, 2, 1, names, counts, a)) return NULL;
  map((int64_t)length, a[0], a[1]);
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t n;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "setThreads(n) takes 1 argument");
    return NULL;
  }
  if (!get_index(env, argv[0], "setThreads: n", MAX_THREADS, &n)) return NULL;
  if (n < 1) {
    napi_throw_range_error(env, NULL, "setThreads: n must be at least 1");
    return NULL;
  }
  openblas_set_num_threads((int)n);
  return NULL;
}

static napi_value threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_CALL(env, napi_create_int32(env, openblas_get_num_threads(), &out));
  return out;
}

static napi_value config(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  const char *s = openblas_get_config();
  NAPI_CALL(env, napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  const char *cfg = openblas_get_config();
  if (cfg != NULL && strstr(cfg, "USE64BITINT") != NULL) {
    /* The declarations above pass 32-bit ints; an ILP64 build would read garbage. */
    napi_throw_error(env, NULL, "fdm-bench-openblas: libopenblas.so.0 is an ILP64 (USE64BITINT) build");
    return NULL;
  }
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"sgemm", sgemm},
             {"swishDenseForward", swish_dense_forward},
             {"swishDenseBackward", swish_dense_backward},
             {"adamUpdate", adam_update_napi},
             {"sumMiddle", sum_middle_napi},
             {"convSameForward", conv_same_forward_napi},
             {"convSameBackward", conv_same_backward_napi},
             {"layerNormForward", layer_norm_forward_napi},
             {"layerNormBackward", layer_norm_backward_napi},
             {"reluDenseForward", relu_dense_forward_napi},
             {"reluDenseBackward", relu_dense_backward_napi},
             {"filmSwishForward", film_swish_forward_napi},
             {"filmSwishBackward", film_swish_backward_napi},
             {"elementwise", elementwise_napi},
             {"setThreads", set_threads},
             {"threads", threads},
             {"config", config}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    NAPI_CALL(env, napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    NAPI_CALL(env, napi_set_named_property(env, exports, fns[i].name, f));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
