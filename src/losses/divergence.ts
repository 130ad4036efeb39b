import * as tf from '../backend/tf';
import { Rng } from '../random/rng';

export const DIV_ESTIMATORS = ['exact', 'hutchinson'] as const;
export type DivEstimator = (typeof DIV_ESTIMATORS)[number];
export const PROBE_DISTRIBUTIONS = ['rademacher', 'gaussian'] as const;
export type ProbeDistribution = (typeof PROBE_DISTRIBUTIONS)[number];

/** The d standard basis vectors, each repeated over the batch: [d, B, d]. */
export function basisTangents(batch: number, dim: number): tf.Tensor3D {
  return tf.tidy(() => tf.tile(tf.reshape(tf.eye(dim), [dim, 1, dim]), [1, batch, 1]) as tf.Tensor3D);
}

/** n independent Hutchinson probes per sample, [n, B, d]. */
export function drawProbes(rng: Rng, n: number, batch: number, dim: number, dist: ProbeDistribution): tf.Tensor3D {
  const size = n * batch * dim;
  const values = dist === 'rademacher' ? rng.rademacherArray(size) : rng.normalArray(size);
  return tf.tensor3d(values, [n, batch, dim]);
}

/** Exact divergence (trace of the Jacobian) from the JVPs with the basis tangents, [B]. */
export function traceFromBasis(jvp: tf.Tensor3D): tf.Tensor1D {
  return tf.tidy(() => {
    const dim = jvp.shape[0];
    return tf.sum(tf.mul(jvp, tf.reshape(tf.eye(dim), [dim, 1, dim])), [0, 2]) as tf.Tensor1D;
  });
}

/** z^T J z for each probe z, [n, B], from the probes and their JVPs. */
export function probeQuadratic(probes: tf.Tensor3D, jvp: tf.Tensor3D): tf.Tensor2D {
  return tf.sum(tf.mul(probes, jvp), 2) as tf.Tensor2D;
}

/** Row-wise dot product of two [.., d] tensors along the last axis. */
export function rowDot(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.sum(tf.mul(a, b), -1);
}

/** Identity in the forward pass, zero gradient in the backward pass (PyTorch's detach). */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad((...inputs) => {
  const x = inputs[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)] };
});
