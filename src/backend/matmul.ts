import * as tf from './tf';
import { blasActive } from './blas';

/**
 * On the wasm and cpu backends a matMul with transposeA/transposeB runs an order of magnitude
 * slower than an explicit transpose followed by a plain matMul, and the stock BatchMatMul gradient
 * uses exactly those transposed forms. Native backends are fast either way,
 * and so is wasm while its BatchMatMul runs on OpenBLAS (blas.ts), where a transpose is a CBLAS flag.
 */
export function transposesAreSlow(): boolean {
  const name = tf.getBackend();
  if (name === 'wasm' && blasActive()) return false;
  return name === 'wasm' || name === 'cpu';
}

function swapLastTwo(x: tf.Tensor): tf.Tensor {
  const perm = [...Array(x.rank).keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/** `matMul(a, b, transposeA, transposeB)` computed the fastest way for the active backend. */
export function matMulFast(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (!transposesAreSlow()) return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(() =>
    tf.matMul(transposeA ? swapLastTwo(a) : a, transposeB ? swapLastTwo(b) : b),
  );
}

let registered = false;

/** Replaces the BatchMatMul gradient by the same formulas evaluated through `matMulFast`. */
export function registerFastMatMulGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      const g = dy as tf.Tensor;
      if (!transposeA && !transposeB) {
        return { a: () => matMulFast(g, b, false, true), b: () => matMulFast(a, g, true, false) };
      }
      if (!transposeA && transposeB) {
        return { a: () => matMulFast(g, b, false, false), b: () => matMulFast(g, a, true, false) };
      }
      if (transposeA && !transposeB) {
        return { a: () => matMulFast(b, g, false, true), b: () => matMulFast(a, g, false, false) };
      }
      return { a: () => matMulFast(b, g, true, true), b: () => matMulFast(g, a, true, true) };
    },
  });
}
