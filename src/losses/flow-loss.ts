import * as tf from '../backend/tf';
import { VelocityModel } from '../models/model';
import { PathSample } from '../paths/path';
import { Rng } from '../random/rng';
import {
  DivEstimator,
  ProbeDistribution,
  basisTangents,
  drawProbes,
  probeQuadratic,
  rowDot,
  stopGradient,
  traceFromBasis,
} from './divergence';

export const METHODS = ['cfm', 'fdm'] as const;
export type Method = (typeof METHODS)[number];
export const FDM_VARIANTS = ['paper', 'reference'] as const;
export type FdmVariant = (typeof FDM_VARIANTS)[number];
export const PROBE_DOTS = ['exact', 'probe'] as const;
/** How the dot products in the residual are taken under Hutchinson: exactly, or through the probe. */
export type ProbeDots = (typeof PROBE_DOTS)[number];

export interface FlowLossOptions {
  method: Method;
  lambda: number;
  divEstimator: DivEstimator;
  probes: number;
  probeDist: ProbeDistribution;
  probeDots: ProbeDots;
  stopGrad: boolean;
  fdmVariant: FdmVariant;
}

export interface LossTerms {
  total: tf.Scalar;
  /** mean |v - u|^2 over batch and coordinates. */
  cfm: tf.Scalar;
  /** The divergence-matching term that lambda multiplies (0 for CFM). */
  cdm: tf.Scalar;
}

/** J z for probes z [n, B, d] from the Jacobian columns jvp[k] = J e_k [d, B, d]. */
function combineColumns(probes: tf.Tensor3D, jvp: tf.Tensor3D): tf.Tensor3D {
  const columns = tf.expandDims(tf.transpose(jvp, [1, 0, 2]), 0); // [1, B, k, i]
  return tf.sum(tf.mul(tf.expandDims(probes, 3), columns), 2) as tf.Tensor3D;
}

/**
 * The residual r = div v - div u + (v - u) . s of SPEC section 1, per sample [B], by the chosen
 * estimator. `vFrozen` is v with the gradient stopped when the stop-gradient switch is on.
 */
function divergenceResidual(
  model: VelocityModel,
  sample: PathSample,
  vFrozen: (v: tf.Tensor) => tf.Tensor,
  opts: Pick<FlowLossOptions, 'divEstimator' | 'probes' | 'probeDist' | 'probeDots' | 'fdmVariant'>,
  rng: Rng | null,
): { v: tf.Tensor2D; residual: tf.Tensor1D; jacobianColumnSums: () => tf.Tensor2D } {
  const [batch, dim] = sample.xt.shape;
  const exact = opts.divEstimator === 'exact';
  const needsJacobian = exact || opts.fdmVariant === 'reference';
  if (!exact && !rng) throw new Error('Hutchinson probes need a random stream');
  const probes = exact ? null : drawProbes(rng!, opts.probes, batch, dim, opts.probeDist);
  const tangents = needsJacobian ? basisTangents(batch, dim) : (probes as tf.Tensor3D);
  const { v, jvp } = model.forwardWithTangents(sample.xt, sample.t, tangents);
  // With the full Jacobian at hand, J z for a probe z is a combination of its columns.
  const probeJvp = () => (needsJacobian && probes ? combineColumns(probes, jvp) : jvp);
  const mismatch = tf.sub(vFrozen(v), sample.u);
  let residual: tf.Tensor;
  if (exact) {
    residual = tf.add(tf.sub(traceFromBasis(jvp), sample.divU), rowDot(mismatch, sample.score));
  } else if (opts.probeDots === 'exact') {
    const divV = tf.mean(probeQuadratic(probes!, probeJvp()), 0);
    residual = tf.add(tf.sub(divV, sample.divU), rowDot(mismatch, sample.score));
  } else {
    // The reference code's single-probe form: z^T J z + (s.z)((v - u).z) - z^T (du/dx) z.
    const z = probes!;
    const perProbe = tf.sub(
      tf.add(probeQuadratic(z, probeJvp()), tf.mul(rowDot(sample.score, z), rowDot(mismatch, z))),
      rowDot(sample.duDiag, tf.square(z)),
    );
    residual = tf.mean(perProbe, 0);
  }
  const jacobianColumnSums = () => tf.transpose(tf.sum(jvp, 2)) as tf.Tensor2D;
  return { v, residual: residual as tf.Tensor1D, jacobianColumnSums };
}

/**
 * The reference 2D code's extra terms (SPEC section 1): an elementwise residual built on J^T 1,
 * and (d (v - u))^2.
 */
function referenceExtraTerms(
  sample: PathSample,
  v: tf.Tensor2D,
  vFrozen: tf.Tensor,
  columnSums: tf.Tensor2D,
): tf.Scalar {
  const dim = v.shape[1];
  const weight = tf.reshape(sample.weight, [-1, 1]);
  const elementwise = tf.mul(
    weight,
    tf.sub(tf.add(columnSums, tf.mul(sample.score, tf.sub(vFrozen, sample.u))), sample.duDiag),
  );
  const scaledMismatch = tf.mul(dim, tf.sub(v, sample.u));
  return tf.add(tf.mean(tf.square(elementwise)), tf.mean(tf.square(scaledMismatch))) as tf.Scalar;
}

/**
 * The conditional divergence residual r per sample [B], with the exact divergence and no
 * stop-gradient: the quantity whose mean |r| bounds the total variation (SPEC section 1).
 */
export function conditionalResidual(model: VelocityModel, sample: PathSample): tf.Tensor1D {
  return tf.tidy(() => {
    const exact = { divEstimator: 'exact', probes: 0, probeDist: 'rademacher', probeDots: 'exact', fdmVariant: 'paper' } as const;
    return divergenceResidual(model, sample, (x) => x, exact, null).residual;
  });
}

/** The CFM loss, or the FDM loss L_CFM + lambda L_CDM, for one batch drawn from a path. */
export function flowLoss(model: VelocityModel, sample: PathSample, opts: FlowLossOptions, rng: Rng): LossTerms {
  return tf.tidy(() => {
    if (opts.method === 'cfm') {
      const cfm = tf.mean(tf.squaredDifference(model.forward(sample.xt, sample.t), sample.u)) as tf.Scalar;
      return { total: cfm, cfm, cdm: tf.scalar(0) };
    }
    const freeze = opts.stopGrad ? stopGradient : (x: tf.Tensor) => x;
    const { v, residual, jacobianColumnSums } = divergenceResidual(model, sample, freeze, opts, rng);
    const cfm = tf.mean(tf.squaredDifference(v, sample.u)) as tf.Scalar;
    let cdm = tf.mean(tf.square(tf.mul(sample.weight, residual))) as tf.Scalar;
    if (opts.fdmVariant === 'reference') {
      cdm = tf.add(cdm, referenceExtraTerms(sample, v, freeze(v), jacobianColumnSums())) as tf.Scalar;
    }
    const total = tf.add(cfm, tf.mul(opts.lambda, cdm)) as tf.Scalar;
    return { total, cfm, cdm };
  });
}
