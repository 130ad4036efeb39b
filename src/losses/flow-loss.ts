import * as tf from '../backend/tf';
import { VelocityModel } from '../models/model';
import { PathSample } from '../paths/path';
import { Rng } from '../random/rng';
import {
  CdmWeight,
  DivEstimator,
  ProbeDistribution,
  basisTangents,
  drawProbes,
  probeQuadratic,
  residualWeight,
  rowDot,
  stopGradient,
  traceFromBasis,
  weightedSquare,
} from './divergence';

export const METHODS = ['cfm', 'fdm'] as const;
export type Method = (typeof METHODS)[number];
export const FDM_VARIANTS = ['paper', 'reference'] as const;
export type FdmVariant = (typeof FDM_VARIANTS)[number];
export interface FlowLossOptions {
  method: Method;
  lambda: number;
  divEstimator: DivEstimator;
  probes: number;
  probeDist: ProbeDistribution;
  cdmWeight: CdmWeight;
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
 * Estimates of the residual r = div v - div u + (v - u) . s of docs/math.md section 1, one row per
 * probe [n, B] (one row, the exact r, for the exact estimator), each with expectation r over its probe.
 * `vFrozen` is v with the gradient stopped when the stop-gradient switch is on.
 */
function residualEstimates(
  model: VelocityModel,
  sample: PathSample,
  vFrozen: (v: tf.Tensor) => tf.Tensor,
  opts: Pick<FlowLossOptions, 'divEstimator' | 'probes' | 'probeDist' | 'fdmVariant'>,
  rng: Rng | null,
): { v: tf.Tensor2D; perProbe: tf.Tensor2D; jacobianColumnSums: () => tf.Tensor2D } {
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
  let perProbe: tf.Tensor;
  if (exact) {
    perProbe = tf.expandDims(tf.add(tf.sub(traceFromBasis(jvp), sample.divU), rowDot(mismatch, sample.score)), 0);
  } else if (opts.divEstimator === 'hutchinson-reference') {
    // The same probe in every term: z^T J z + (s.z)((v - u).z) - z^T (du/dx) z.
    const z = probes!;
    perProbe = tf.sub(
      tf.add(probeQuadratic(z, probeJvp()), tf.mul(rowDot(sample.score, z), rowDot(mismatch, z))),
      rowDot(sample.duDiag, tf.square(z)),
    );
  } else {
    // Only div v is probed; div u and (v - u) . s are known exactly (a control variate).
    const known = tf.add(tf.neg(sample.divU), rowDot(mismatch, sample.score));
    perProbe = tf.add(probeQuadratic(probes!, probeJvp()), known);
  }
  const jacobianColumnSums = () => tf.transpose(tf.sum(jvp, 2)) as tf.Tensor2D;
  return { v, perProbe: perProbe as tf.Tensor2D, jacobianColumnSums };
}

/**
 * The reference 2D code's extra terms (docs/math.md section 1): an elementwise residual built on J^T 1,
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
 * stop-gradient: the quantity whose mean |r| bounds the total variation (docs/math.md section 1).
 */
export function conditionalResidual(model: VelocityModel, sample: PathSample): tf.Tensor1D {
  return tf.tidy(() => {
    const exact = { divEstimator: 'exact', probes: 0, probeDist: 'rademacher', fdmVariant: 'paper' } as const;
    return tf.squeeze(residualEstimates(model, sample, (x) => x, exact, null).perProbe, [0]) as tf.Tensor1D;
  });
}

/** Mean over the batch, each sample's value [B] times its time's importance weight when there are any. */
function weightedMean(perSample: tf.Tensor1D, importance?: tf.Tensor1D): tf.Scalar {
  return tf.mean(importance ? tf.mul(importance, perSample) : perSample) as tf.Scalar;
}

/**
 * The CFM loss, or the FDM loss L_CFM + lambda L_CDM, for one batch drawn from a path.
 * `importance`: the weights of times not drawn uniformly (paths/time-sampling.ts), [B].
 */
export function flowLoss(model: VelocityModel, sample: PathSample, opts: FlowLossOptions, rng: Rng, importance?: tf.Tensor1D): LossTerms {
  return tf.tidy(() => {
    // Without importance weights the mean over batch and coordinates is one reduction, as before.
    const flowError = (v: tf.Tensor2D) =>
      importance ? weightedMean(tf.mean(tf.squaredDifference(v, sample.u), 1) as tf.Tensor1D, importance) : (tf.mean(tf.squaredDifference(v, sample.u)) as tf.Scalar);
    if (opts.method === 'cfm') {
      const cfm = flowError(model.forward(sample.xt, sample.t));
      return { total: cfm, cfm, cdm: tf.scalar(0) };
    }
    const freeze = opts.stopGrad ? stopGradient : (x: tf.Tensor) => x;
    const { v, perProbe, jacobianColumnSums } = residualEstimates(model, sample, freeze, opts, rng);
    const cfm = flowError(v);
    const weight = residualWeight(sample.weight, opts.cdmWeight);
    let cdm = weightedMean(weightedSquare(perProbe, weight, opts.divEstimator), importance);
    if (opts.fdmVariant === 'reference') {
      cdm = tf.add(cdm, referenceExtraTerms(sample, v, freeze(v), jacobianColumnSums())) as tf.Scalar;
    }
    const total = tf.add(cfm, tf.mul(opts.lambda, cdm)) as tf.Scalar;
    return { total, cfm, cdm };
  });
}
