import * as tf from '../backend/tf';
import { Rng } from '../random/rng';

/**
 * How the FDM loss estimates E[(w r)^2], r = div v - div u + (v - u) . s (docs/math.md section 1).
 * Under Hutchinson every per-probe estimate r̂(z) has E_z[r̂] = r; what differs is how it is squared:
 * - `exact`: d Jacobian-vector products give div v exactly; the loss is E[(w r)^2] itself.
 * - `hutchinson-unbiased`: the U-statistic over pairs of n >= 2 independent probes,
 *   w^2 ((sum_i r̂_i)^2 - sum_i r̂_i^2) / (n (n - 1)); its expectation is (w r)^2 exactly, and with
 *   two probes it is the product (w r̂(z1)) (w r̂(z2)).
 * - `hutchinson-reference`: the reference code's single-probe form, the same probe in every term,
 *   r̂(z) = z^T J_v z + (s . z)((v - u) . z) - z^T (du/dx) z, n probes averaged, then squared. The
 *   excess over (w r)^2 is w^2 Var_z(z^T A z)/n with A = J_v - du/dx + s (v - u)^T; the symmetric
 *   part of E[A | x] vanishes at the true marginal field, so with the stop-gradient the true field
 *   is a stationary point of the expected loss (consistent), though the loss is biased upwards.
 * - `hutchinson-squared`: the dot products exact, only div v probed, n probes averaged and squared.
 *   The excess w^2 Var_z(z^T J_v z)/n (for Rademacher probes (1/2n) sum_{i != j} (J_ij + J_ji)^2)
 *   pulls the symmetric off-diagonal Jacobian towards zero, not towards the true field's: biased,
 *   the bias shrinking as 1/n. Kept for the ablation.
 */
export const DIV_ESTIMATORS = ['exact', 'hutchinson-unbiased', 'hutchinson-reference', 'hutchinson-squared'] as const;
export type DivEstimator = (typeof DIV_ESTIMATORS)[number];
export const PROBE_DISTRIBUTIONS = ['rademacher', 'gaussian'] as const;
export type ProbeDistribution = (typeof PROBE_DISTRIBUTIONS)[number];

/** What the expected loss of an estimator is, relative to E[(w r)^2] and to the true field. */
export type EstimatorBias = 'unbiased' | 'consistent' | 'biased';

export interface EstimatorFacts {
  bias: EstimatorBias;
  /** Probes used when the configuration names none, and the fewest allowed. */
  defaultProbes: number;
  minProbes: number;
  summary: string;
}

export const ESTIMATOR_FACTS: Record<DivEstimator, EstimatorFacts> = {
  exact: { bias: 'unbiased', defaultProbes: 0, minProbes: 0, summary: 'exact divergence (d JVPs): the loss itself' },
  'hutchinson-unbiased': {
    bias: 'unbiased',
    defaultProbes: 2,
    minProbes: 2,
    summary: 'product of independent probe estimates (U-statistic over pairs): unbiased for E[(w r)^2]',
  },
  'hutchinson-reference': {
    bias: 'consistent',
    defaultProbes: 1,
    minProbes: 1,
    summary: "the reference code's single-probe form: biased upwards, but the true field is a stationary point (with stop-gradient)",
  },
  'hutchinson-squared': {
    bias: 'biased',
    defaultProbes: 1,
    minProbes: 1,
    summary: 'probe average of div v squared: adds Var(z^T J z)/n, which the true field does not minimise (ablation only)',
  },
};

/**
 * The weight w_t of the divergence residual: `path`, the path's own (sigma_t on Gaussian paths, as
 * in the reference; min(1, d/|div u|) on the simplex); `sqrt-path`, its square root, so that
 * w^2 E[r^2] grows like 1/sigma_t towards t = 1 as the TV bound's integrand E|r| does; `one`.
 */
export const CDM_WEIGHTS = ['path', 'sqrt-path', 'one'] as const;
export type CdmWeight = (typeof CDM_WEIGHTS)[number];

export function residualWeight(pathWeight: tf.Tensor1D, kind: CdmWeight): tf.Tensor1D {
  if (kind === 'path') return pathWeight;
  return (kind === 'one' ? tf.onesLike(pathWeight) : tf.sqrt(pathWeight)) as tf.Tensor1D;
}

/** The n per-probe residual estimates r̂_i [n, B] (n = 1 for the exact residual) -> w^2 times the estimate of r^2, [B]. */
export function weightedSquare(perProbe: tf.Tensor2D, weight: tf.Tensor1D, estimator: DivEstimator): tf.Tensor1D {
  return tf.tidy(() => {
    const n = perProbe.shape[0];
    if (estimator !== 'hutchinson-unbiased') return tf.square(tf.mul(weight, tf.mean(perProbe, 0))) as tf.Tensor1D;
    if (n < 2) throw new Error(`hutchinson-unbiased needs at least 2 probes (got ${n})`);
    // sum_{i != j} r̂_i r̂_j / (n (n - 1)), from the sum and the sum of squares.
    const pairs = tf.sub(tf.square(tf.sum(perProbe, 0)), tf.sum(tf.square(perProbe), 0));
    return tf.mul(tf.square(weight), tf.div(pairs, n * (n - 1))) as tf.Tensor1D;
  });
}

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
