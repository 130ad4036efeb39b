/*
 * One thread's scratch memory for the kernels that need a temporary buffer (conv_same.c,
 * winograd.c, relu_dense.c): grown on demand and kept for the life of the thread (the addon may
 * run in several worker threads). A kernel takes it at its start and is done with it when it
 * returns; no kernel calls another while it holds it.
 */
#ifndef FDM_BENCH_SCRATCH_H
#define FDM_BENCH_SCRATCH_H

#include <stdint.h>

/* At least `floats` floats, or NULL when they could not be allocated. */
float *thread_scratch(int64_t floats);

#endif
