/*
 * The CBLAS declarations the addon uses. There is no cblas.h on the build machine (Debian's
 * runtime package libopenblas0 only), so they are declared here with the standard enum values and
 * the LP64 (32-bit int) interface; module initialisation refuses a USE64BITINT build.
 */
#ifndef FDM_BENCH_CBLAS_H
#define FDM_BENCH_CBLAS_H

enum { CblasRowMajor = 101, CblasColMajor = 102 };
enum { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

extern void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc);

#endif
