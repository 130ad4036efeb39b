import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { BlasStatus, blasActive, blasAddon, disableBlasMatMul, enableBlasMatMul } from '../src/backend/blas';
import { transposesAreSlow } from '../src/backend/matmul';
import * as tf from '../src/backend/tf';
import { Rng } from '../src/random/rng';
import { onStockWasm, useTestBackend } from './helpers/backend';

/*
 * Tolerance. Every result is compared with a float64 reference computed in JS from the same
 * float32 inputs. For a dot product of length k, any summation order (blocked, FMA or not, any
 * thread split) in float32 satisfies |fl(c) - c| <= gamma * sum_p |a_p b_p| with
 * gamma = (k+2)u / (1 - (k+2)u), u = 2^-24 (Higham, Accuracy and Stability, eq. 3.5; +1 for the
 * final rounding to float32, +1 of slack). The float64 reference itself is off by ~k 2^-53 of the
 * same sum, negligible. Both the BLAS kernel and the original wasm kernel must be inside this
 * bound, which makes them within twice the bound of each other; the two kernels sum in different
 * orders, so bit equality between them is not expected.
 */
const U = 2 ** -24;

interface Reference {
  shape: number[];
  value: Float64Array;
  bound: Float64Array;
}

/** Row-major float64 op(A)·op(B) with tfjs batch broadcasting (right-aligned outer dims, 1 broadcasts). */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean): Reference {
  const ar = aShape.length;
  const br = bShape.length;
  const m = tA ? aShape[ar - 1] : aShape[ar - 2];
  const k = tA ? aShape[ar - 2] : aShape[ar - 1];
  const n = tB ? bShape[br - 2] : bShape[br - 1];
  const aOuter = aShape.slice(0, -2);
  const bOuter = bShape.slice(0, -2);
  const r = Math.max(aOuter.length, bOuter.length);
  const pa = [...new Array<number>(r - aOuter.length).fill(1), ...aOuter];
  const pb = [...new Array<number>(r - bOuter.length).fill(1), ...bOuter];
  const outer = pa.map((d, i) => Math.max(d, pb[i]));
  const batches = outer.reduce((x, y) => x * y, 1);
  const value = new Float64Array(batches * m * n);
  const bound = new Float64Array(batches * m * n);
  const gamma = ((k + 2) * U) / (1 - (k + 2) * U);
  for (let bi = 0; bi < batches; bi++) {
    // Multi-index of the output batch, mapped into each operand (size-1 dims broadcast).
    let rem = bi;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let d = r - 1; d >= 0; d--) {
      const c = rem % outer[d];
      rem = Math.floor(rem / outer[d]);
      if (pa[d] !== 1) ia += c * sa;
      if (pb[d] !== 1) ib += c * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    const aBase = ia * m * k;
    const bBase = ib * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let abs = 0;
        for (let p = 0; p < k; p++) {
          const x = a[aBase + (tA ? p * m + i : i * k + p)];
          const y = b[bBase + (tB ? j * k + p : p * n + j)];
          s += x * y;
          abs += Math.abs(x * y);
        }
        value[bi * m * n + i * n + j] = s;
        bound[bi * m * n + i * n + j] = gamma * abs;
      }
    }
  }
  return { shape: [...outer, m, n], value, bound };
}

function assertWithinBound(actual: Float32Array, ref: Reference, what: string): void {
  assert.equal(actual.length, ref.value.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - ref.value[i]);
    if (!(err <= ref.bound[i])) {
      assert.fail(`${what}[${i}]: ${actual[i]} vs float64 ${ref.value[i]}, |err| ${err.toExponential(2)} > bound ${ref.bound[i].toExponential(2)}`);
    }
  }
}

function matMulData(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean): { shape: number[]; data: Float32Array } {
  return tf.tidy(() => {
    const out = tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), tA, tB);
    return { shape: out.shape, data: out.dataSync() as Float32Array };
  });
}

/** Stored shape of an operand for op() dims rows x cols under `transpose`, with outer dims. */
function stored(outer: number[], rows: number, cols: number, transpose: boolean): number[] {
  return [...outer, ...(transpose ? [cols, rows] : [rows, cols])];
}

interface Case {
  name: string;
  aOuter: number[];
  bOuter: number[];
  m: number;
  k: number;
  n: number;
  /** The stock wasm kernel flattens outer dims and handles only batch 1 or equal batches. */
  wasmHandles: boolean;
}

const CASES: Case[] = [
  { name: '1x1x1', aOuter: [], bOuter: [], m: 1, k: 1, n: 1, wasmHandles: true },
  { name: '3x17x1', aOuter: [], bOuter: [], m: 3, k: 17, n: 1, wasmHandles: true },
  { name: '1x3x17', aOuter: [], bOuter: [], m: 1, k: 3, n: 17, wasmHandles: true },
  { name: '17x1x3', aOuter: [], bOuter: [], m: 17, k: 1, n: 3, wasmHandles: true },
  { name: '64x300x129', aOuter: [], bOuter: [], m: 64, k: 300, n: 129, wasmHandles: true },
  { name: 'batch [4] x [4]', aOuter: [4], bOuter: [4], m: 3, k: 17, n: 5, wasmHandles: true },
  { name: 'batch [2,3] x 2D', aOuter: [2, 3], bOuter: [], m: 17, k: 3, n: 64, wasmHandles: true },
  { name: 'batch 2D x [5]', aOuter: [], bOuter: [5], m: 3, k: 17, n: 1, wasmHandles: true },
  { name: 'batch [1] x [5]', aOuter: [1], bOuter: [5], m: 17, k: 64, n: 3, wasmHandles: true },
  { name: 'batch [5] x [1]', aOuter: [5], bOuter: [1], m: 17, k: 64, n: 3, wasmHandles: true },
  { name: 'batch [2,3] x [1,3]', aOuter: [2, 3], bOuter: [1, 3], m: 4, k: 5, n: 6, wasmHandles: false },
  { name: 'batch [2,1] x [3]', aOuter: [2, 1], bOuter: [3], m: 4, k: 5, n: 6, wasmHandles: false },
];

const FLAGS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

describe('OpenBLAS BatchMatMul kernel for the wasm backend', () => {
  let status: BlasStatus = { active: false, label: '' };
  let skipReason = '';

  before(async () => {
    await useTestBackend();
    if (process.env.FDM_BENCH_BLAS === 'off') {
      skipReason = 'FDM_BENCH_BLAS=off: the suite runs on the pure wasm kernel';
      return;
    }
    status = enableBlasMatMul();
    if (!status.active) skipReason = `OpenBLAS addon not available (${status.note ?? 'no reason given'}); build it with npm install`;
  });

  /** Runs `body` with the BLAS kernel on, or skips the test with the reason it is not available. */
  function withBlas(t: TestContext, body: () => void): void {
    if (!status.active) {
      t.skip(skipReason);
      return;
    }
    try {
      body();
    } finally {
      enableBlasMatMul();
    }
  }

  it('matches a float64 reference and the stock wasm kernel: 2D and batched, all transposes, odd sizes', (t) =>
    withBlas(t, () => {
      const rng = new Rng('blas-vs-wasm');
      for (const c of CASES) {
        for (const [tA, tB] of FLAGS) {
          const what = `${c.name} transposeA=${tA} transposeB=${tB}`;
          const aShape = stored(c.aOuter, c.m, c.k, tA);
          const bShape = stored(c.bOuter, c.k, c.n, tB);
          const a = rng.normalArray(aShape.reduce((x, y) => x * y, 1));
          const b = rng.normalArray(bShape.reduce((x, y) => x * y, 1));
          const ref = reference(a, aShape, b, bShape, tA, tB);
          const blas = matMulData(a, aShape, b, bShape, tA, tB);
          assert.deepEqual(blas.shape, ref.shape, `${what}: shape`);
          assertWithinBound(blas.data, ref, `blas ${what}`);
          if (!c.wasmHandles) continue;
          const wasm = onStockWasm(() => matMulData(a, aShape, b, bShape, tA, tB));
          assert.deepEqual(wasm.shape, ref.shape, `${what}: wasm shape`);
          assertWithinBound(wasm.data, ref, `wasm ${what}`);
        }
      }
    }));

  it('gives bit-identical results for the same inputs (fixed thread count)', (t) =>
    withBlas(t, () => {
      const rng = new Rng('blas-determinism');
      // 64x300x129 and a product large enough for OpenBLAS to split it over its threads.
      for (const [m, k, n, tA, tB] of [
        [64, 300, 129, false, false],
        [64, 300, 129, true, true],
        [384, 512, 448, false, true],
      ] as [number, number, number, boolean, boolean][]) {
        const aShape = stored([], m, k, tA);
        const bShape = stored([], k, n, tB);
        const a = rng.normalArray(m * k);
        const b = rng.normalArray(k * n);
        const first = matMulData(a, aShape, b, bShape, tA, tB).data;
        const second = matMulData(a, aShape, b, bShape, tA, tB).data;
        assert.ok(Buffer.from(first.buffer).equals(Buffer.from(second.buffer)), `${m}x${k}x${n} repeated`);
      }
    }));

  it('gradients through tf.matMul (fast gradient of matmul.ts) match the pure-wasm ones', (t) =>
    withBlas(t, () => {
      assert.equal(transposesAreSlow(), false, 'transposes are CBLAS flags while BLAS is active');
      assert.equal(onStockWasm(() => transposesAreSlow()), true, 'the wasm kernel wants explicit transposes');
      const rng = new Rng('blas-grad');
      for (const [outer, m, k, n] of [
        [[], 33, 65, 17],
        [[3], 5, 7, 4],
      ] as [number[], number, number, number][]) {
        for (const [tA, tB] of FLAGS) {
          const what = `[${outer}] ${m}x${k}x${n} transposeA=${tA} transposeB=${tB}`;
          const aShape = stored(outer, m, k, tA);
          const bShape = stored(outer, k, n, tB);
          const a = rng.normalArray(aShape.reduce((x, y) => x * y, 1));
          const b = rng.normalArray(bShape.reduce((x, y) => x * y, 1));
          const g = rng.normalArray(outer.reduce((x, y) => x * y, 1) * m * n);
          // L = sum(op(A)op(B) ∘ G) is linear, so dL/dC = G exactly and the gradients are products:
          // dA = G·op(B)^T (or its transpose), dB = op(A)^T·G (or its transpose).
          const grads = () =>
            tf.tidy(() => {
              const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, tA, tB), tf.tensor(g, [...outer, m, n])));
              const [da, db] = tf.grads(f)([tf.tensor(a, aShape), tf.tensor(b, bShape)]);
              return [da.dataSync() as Float32Array, db.dataSync() as Float32Array];
            });
          const gShape = [...outer, m, n];
          const refA = tA ? reference(b, bShape, g, gShape, tB, true) : reference(g, gShape, b, bShape, false, !tB);
          const refB = tB ? reference(g, gShape, a, aShape, true, tA) : reference(a, aShape, g, gShape, !tA, false);
          const [blasA, blasB] = grads();
          const [wasmA, wasmB] = onStockWasm(grads);
          assertWithinBound(blasA, refA, `blas dA ${what}`);
          assertWithinBound(wasmA, refA, `wasm dA ${what}`);
          assertWithinBound(blasB, refB, `blas dB ${what}`);
          assertWithinBound(wasmB, refB, `wasm dB ${what}`);
        }
      }
    }));

  it('leaks no tensors or wasm buffers over many calls, and hands other dtypes and empty shapes to the stock kernel', (t) =>
    withBlas(t, () => {
      const rng = new Rng('blas-leaks');
      const a = tf.tensor(rng.normalArray(2 * 17 * 3), [2, 17, 3]);
      const b = tf.tensor(rng.normalArray(3 * 5), [3, 5]);
      const backend = tf.backend() as unknown as { numDataIds(): number };
      const tensors = tf.memory().numTensors;
      const dataIds = backend.numDataIds();
      for (let i = 0; i < 200; i++) {
        tf.tidy(() => {
          tf.matMul(a, b).dataSync();
          tf.matMul(a, a, true, false).dataSync();
          tf.matMul(tf.reshape(a, [1, 2, 17, 3]), tf.reshape(a, [2, 1, 17, 3]), false, true).dataSync();
          tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y, false, true)))([tf.reshape(a, [34, 3]), tf.transpose(b)]);
        });
      }
      tf.tidy(() => assert.deepEqual(tf.matMul(tf.zeros([0, 3]), tf.zeros([3, 4])).shape, [0, 4]));
      const i32 = tf.tensor2d([[1]], [1, 1], 'int32');
      // The stock wasm kernel rejects int32, and the replacement hands it over unchanged.
      assert.throws(() => tf.matMul(i32, i32), /non-float32|float32/);
      i32.dispose();
      assert.equal(tf.memory().numTensors, tensors, 'tensor count');
      assert.equal(backend.numDataIds(), dataIds, 'wasm buffers');
      a.dispose();
      b.dispose();
    }));

  it('switches off and on: disable restores the stock kernel and its exact results', (t) =>
    withBlas(t, () => {
      const stock = onStockWasm(() => tf.getKernel(tf.BatchMatMul, 'wasm'));
      const rng = new Rng('blas-roundtrip');
      const a = rng.normalArray(64 * 300);
      const b = rng.normalArray(300 * 129);
      const blas1 = matMulData(a, [64, 300], b, [300, 129], false, false).data;
      assert.ok(blasActive());
      assert.notEqual(tf.getKernel(tf.BatchMatMul, 'wasm'), stock);

      disableBlasMatMul();
      assert.equal(blasActive(), false);
      assert.equal(tf.getKernel(tf.BatchMatMul, 'wasm'), stock, 'the original kernel object is back');
      const wasm1 = matMulData(a, [64, 300], b, [300, 129], false, false).data;
      disableBlasMatMul(); // idempotent
      const wasm2 = matMulData(a, [64, 300], b, [300, 129], false, false).data;
      assert.ok(Buffer.from(wasm1.buffer).equals(Buffer.from(wasm2.buffer)));

      const again = enableBlasMatMul();
      assert.equal(again.active, true);
      assert.match(again.label, /^openblas \S+ \(\d+ threads?\)$/);
      assert.deepEqual(enableBlasMatMul(), again, 'enable is idempotent');
      const blas2 = matMulData(a, [64, 300], b, [300, 129], false, false).data;
      assert.ok(Buffer.from(blas1.buffer).equals(Buffer.from(blas2.buffer)), 'same BLAS result after the round trip');
    }));

  it('the addon throws TypeError / RangeError on bad arguments instead of crashing', (t) =>
    withBlas(t, () => {
      const lib = blasAddon()!;
      const a = new Float32Array(6);
      const b = new Float32Array(6);
      const c = new Float32Array(4);
      lib.sgemm(false, false, 2, 2, 3, a, 0, b, 0, c, 0);
      const call = (...args: unknown[]) => () => (lib.sgemm as (...x: unknown[]) => void)(...args);
      assert.throws(call(false, false, 2, 2, 3, a, 1, b, 0, c, 0), RangeError, 'a too short for its offset');
      assert.throws(call(false, false, 2, 3, 3, a, 0, b, 0, c, 0), RangeError, 'b too short');
      assert.throws(call(false, false, 2, 2, 3, a, 0, b, 0, a, 0), RangeError, 'c overlaps a');
      assert.throws(call(false, false, -1, 2, 3, a, 0, b, 0, c, 0), RangeError, 'negative m');
      assert.throws(call(false, false, 1.5, 2, 3, a, 0, b, 0, c, 0), RangeError, 'fractional m');
      assert.throws(call(1, false, 2, 2, 3, a, 0, b, 0, c, 0), TypeError, 'transA not boolean');
      assert.throws(call(false, false, 2, 2, 3, new Float64Array(6), 0, b, 0, c, 0), TypeError, 'Float64Array');
      assert.throws(call(false, false, 2, 2, 3, a, 0, b, 0, c), TypeError, 'missing argument');
      assert.throws(() => lib.setThreads(0), RangeError);
    }));
});
