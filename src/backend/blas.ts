import * as path from 'node:path';
import * as tf from './tf';
import { KernelArgs, StockKernel, replaceWasmKernel, writeOutputs } from './wasm-kernels';

/**
 * Matrix products of the wasm backend on the system OpenBLAS, through the optional N-API addon in
 * native/openblas-matmul (package `fdm-bench-openblas`). `enableBlasMatMul` swaps the wasm
 * backend's `BatchMatMul` kernel for one that calls `cblas_sgemm` on Float32Array views of the wasm
 * heap (no copies, transposes as CBLAS flags); without the addon nothing changes and the reason is
 * returned as a note. Other dtypes and empty shapes go to the original wasm kernel.
 */

/** The addon's exports (native/openblas-matmul/openblas_matmul.c). */
export interface BlasAddon {
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    aOffset: number,
    b: Float32Array,
    bOffset: number,
    c: Float32Array,
    cOffset: number,
  ): void;
  /** Fused Swish dense layer over stacked primal and tangent rows (native/openblas-matmul/swish_dense.h). */
  swishDenseForward(rows: number, blocks: number, n: number, m: number, z: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, h: Float32Array): void;
  swishDenseBackward(
    rows: number,
    blocks: number,
    n: number,
    m: number,
    z: Float32Array,
    w: Float32Array,
    h: Float32Array,
    g: Float32Array,
    dz: Float32Array,
    dw: Float32Array,
    db: Float32Array,
  ): void;
  /** One Adam step in one pass (native/openblas-matmul/adam.h); accBeta = beta^(t+1). */
  adamUpdate(
    value: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    newValue: Float32Array,
    newM: Float32Array,
    newV: Float32Array,
    beta1: number,
    beta2: number,
    epsilon: number,
    lr: number,
    accBeta1: number,
    accBeta2: number,
  ): void;
  /** out[a, c] = sum over r of x[a, r, c] (native/openblas-matmul/reduce.h). */
  sumMiddle(outer: number, reduced: number, inner: number, x: Float32Array, out: Float32Array): void;
  /** Stride-1 'same' 2D convolution of NHWC images (native/openblas-matmul/conv_same.h), and its gradients. */
  convSameForward(n: number, h: number, w: number, c: number, kh: number, kw: number, oc: number, x: Float32Array, filter: Float32Array, y: Float32Array): void;
  convSameBackward(
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    oc: number,
    x: Float32Array,
    filter: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dfilter: Float32Array,
  ): void;
  /** LayerNorm over the channels with forward-mode tangents (native/openblas-matmul/layer_norm.h), and its gradients. */
  layerNormForward(rows: number, channels: number, tangents: number, eps: number, h: Float32Array, dh: Float32Array, gain: Float32Array, shift: Float32Array, y: Float32Array, dy: Float32Array): void;
  layerNormBackward(
    rows: number,
    channels: number,
    tangents: number,
    eps: number,
    h: Float32Array,
    dh: Float32Array,
    gain: Float32Array,
    gy: Float32Array,
    gdy: Float32Array,
    gh: Float32Array,
    gdh: Float32Array,
    ggain: Float32Array,
    gshift: Float32Array,
  ): void;
  /** A dense layer on ReLU with forward-mode tangents (native/openblas-matmul/relu_dense.h), and its gradients. */
  reluDenseForward(rows: number, tangents: number, n: number, m: number, channels: number, x: Float32Array, z: Float32Array, w: Float32Array, b: Float32Array, h: Float32Array, dh: Float32Array): void;
  reluDenseBackward(
    rows: number,
    tangents: number,
    n: number,
    m: number,
    channels: number,
    x: Float32Array,
    z: Float32Array,
    w: Float32Array,
    h: Float32Array,
    gh: Float32Array,
    gdh: Float32Array,
    gx: Float32Array,
    gz: Float32Array,
    gw: Float32Array,
    gb: Float32Array,
  ): void;
  /** Swish of a FiLM-modulated input with forward-mode tangents (native/openblas-matmul/film_swish.h), and its gradients. */
  filmSwishForward(batch: number, positions: number, channels: number, tangents: number, a: Float32Array, gain: Float32Array, offset: Float32Array, da: Float32Array, h: Float32Array, hd: Float32Array): void;
  filmSwishBackward(
    batch: number,
    positions: number,
    channels: number,
    tangents: number,
    a: Float32Array,
    gain: Float32Array,
    offset: Float32Array,
    da: Float32Array,
    gh: Float32Array,
    ghd: Float32Array,
    ga: Float32Array,
    ggain: Float32Array,
    goffset: Float32Array,
    gda: Float32Array,
  ): void;
  /** y = sin(x) or cos(x) in float32 (native/openblas-matmul/elementwise.h). */
  elementwise(op: 'sin' | 'cos', x: Float32Array, y: Float32Array): void;
  setThreads(n: number): void;
  threads(): number;
  config(): string;
}

export interface BlasStatus {
  active: boolean;
  /** e.g. 'openblas 0.3.21 (2 threads)'; empty when not active. */
  label: string;
  /** Why the BLAS kernel is not used. */
  note?: string;
}

const PACKAGE = 'fdm-bench-openblas';
let addon: BlasAddon | null | undefined;
let loadProblem = '';

/** The addon, or null (with `loadProblem` set) when it is missing or does not load. */
function loadAddon(): BlasAddon | null {
  if (addon !== undefined) return addon;
  const problems: string[] = [];
  // The installed optional dependency first, then the in-repository build (dist/src/backend → root).
  for (const id of [PACKAGE, path.resolve(__dirname, '..', '..', '..', 'native', 'openblas-matmul')]) {
    try {
      const loaded = require(id) as BlasAddon;
      if (typeof loaded.sgemm !== 'function') throw new Error('it exports no sgemm');
      addon = loaded;
      return addon;
    } catch (err) {
      problems.push((err as Error).message.split('\n')[0]);
    }
  }
  addon = null;
  loadProblem = `${PACKAGE} not usable (${problems.join('; ')}); matrix products stay on wasm`;
  return addon;
}

/**
 * The thread count used when none was set: OPENBLAS_NUM_THREADS if it is set, else 1. OpenBLAS's
 * sums depend on how many threads split them (measured: the checkerboard ci preset's NLL moves in
 * the 9th digit between 1 and 2 threads), so a default that followed the core count would make the
 * numbers depend on the machine and on `run --jobs`; more threads are a choice the label records.
 */
function defaultBlasThreads(): number {
  const fromEnv = Number(process.env.OPENBLAS_NUM_THREADS);
  return Number.isInteger(fromEnv) && fromEnv >= 1 ? fromEnv : 1;
}

let original: tf.KernelConfig | null = null;
let active = false;
let threadsSet = false;

function blasLabel(lib: BlasAddon): string {
  const version = /OpenBLAS\s+(\S+)/i.exec(lib.config())?.[1] ?? '(unknown version)';
  const n = lib.threads();
  return `openblas ${version} (${n} thread${n === 1 ? '' : 's'})`;
}

/** Sets OpenBLAS's thread count (results are deterministic for a fixed count); returns the count in use, or 0 without the addon. */
export function setBlasThreads(n: number): number {
  const lib = loadAddon();
  if (lib === null) return 0;
  lib.setThreads(n);
  threadsSet = true;
  return lib.threads();
}

/** The loaded addon, or null when it is missing or broken. */
export function blasAddon(): BlasAddon | null {
  return loadAddon();
}

/** Whether the wasm backend's BatchMatMul currently runs on OpenBLAS. */
export function blasActive(): boolean {
  return active;
}

/**
 * Batch strides of one operand inside the broadcast outer shape: index of the operand's matrix for
 * every output matrix (tfjs semantics: outer dims are right-aligned and a dim of 1 broadcasts).
 */
function batchIndices(outer: number[], own: number[]): Int32Array {
  const total = tf.util.sizeFromShape(outer);
  const idx = new Int32Array(total);
  const r = outer.length;
  const padded = new Array<number>(r - own.length).fill(1).concat(own);
  const strides = new Array<number>(r).fill(0);
  for (let d = r - 1, s = 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 ? 0 : s;
    s *= padded[d];
  }
  for (let i = 0; i < total; i++) {
    let rem = i;
    let j = 0;
    for (let d = r - 1; d >= 0; d--) {
      const coord = rem % outer[d];
      rem = (rem - coord) / outer[d];
      j += coord * strides[d];
    }
    idx[i] = j;
  }
  return idx;
}

function blasBatchMatMul(args: KernelArgs, stock: StockKernel): tf.TensorInfo | tf.TensorInfo[] {
  const lib = addon as BlasAddon;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  if (
    a.dtype !== 'float32' ||
    b.dtype !== 'float32' ||
    aRank < 2 ||
    bRank < 2 ||
    tf.util.sizeFromShape(a.shape) === 0 ||
    tf.util.sizeFromShape(b.shape) === 0
  ) {
    return stock(args);
  }
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const k = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const kb = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  if (k !== kb) return stock(args); // its error message
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batchA = tf.util.sizeFromShape(aOuter);
  const batchB = tf.util.sizeFromShape(bOuter);
  const batch = tf.util.sizeFromShape(outer);

  return writeOutputs(args, [[...outer, m, n]], ([cv], view) => {
    const [av, bv] = [view(a), view(b)];
    if (batchB === 1 && !transposeA) {
      // Every a-matrix times the one b: a single product with the batch folded into the rows.
      lib.sgemm(false, transposeB, batch * m, n, k, av, 0, bv, 0, cv, 0);
    } else if (batchA === batch && batchB === batch) {
      for (let i = 0; i < batch; i++) lib.sgemm(transposeA, transposeB, m, n, k, av, i * m * k, bv, i * k * n, cv, i * m * n);
    } else {
      const ia = batchIndices(outer, aOuter);
      const ib = batchIndices(outer, bOuter);
      for (let i = 0; i < batch; i++) {
        lib.sgemm(transposeA, transposeB, m, n, k, av, ia[i] * m * k, bv, ib[i] * k * n, cv, i * m * n);
      }
    }
  })[0];
}

/**
 * Routes the wasm backend's BatchMatMul through OpenBLAS when the addon loads. Idempotent. The
 * thread count defaults to OPENBLAS_NUM_THREADS, else 1 (see `defaultBlasThreads`).
 */
export function enableBlasMatMul(): BlasStatus {
  const lib = loadAddon();
  if (lib === null) return { active: false, label: '', note: loadProblem };
  if (active) return { active: true, label: blasLabel(lib) };
  if (!threadsSet) setBlasThreads(defaultBlasThreads());
  const current = replaceWasmKernel(tf.BatchMatMul, blasBatchMatMul);
  if (current === undefined) {
    return { active: false, label: '', note: 'the wasm backend has no BatchMatMul kernel registered; matrix products stay on wasm' };
  }
  original = current;
  active = true;
  return { active: true, label: blasLabel(lib) };
}

/** Puts the wasm backend's own BatchMatMul kernel back. */
export function disableBlasMatMul(): void {
  if (!active || original === null) return;
  tf.unregisterKernel(tf.BatchMatMul, 'wasm');
  tf.registerKernel(original);
  active = false;
}
