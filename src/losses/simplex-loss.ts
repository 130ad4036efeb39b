import * as tf from '../backend/tf';
import { SimplexDenoiser } from '../models/simplex-cnn';
import { FieldInputs, SimplexConditional, TokenBatch } from '../paths/simplex-batch';
import { Rng } from '../random/rng';
import { drawProbes, residualWeight, stopGradient, weightedSquare } from './divergence';
import { FlowLossOptions, LossTerms } from './flow-loss';

/** The FDM settings the simplex loss takes (one method, the paper's residual). */
export type SimplexLossOptions = Pick<FlowLossOptions, 'lambda' | 'divEstimator' | 'probes' | 'probeDist' | 'cdmWeight' | 'stopGrad'>;

/** Sum over the class axis, kept for broadcasting. */
function classSum(x: tf.Tensor): tf.Tensor {
  return tf.sum(x, -1, true);
}

/**
 * The denoiser's field v = sum_j p_j c_j (e_j - x) = p * c - (sum_j p_j c_j) x, per position, from
 * class probabilities p and the conditional speeds c_j = c(x_j, t) (docs/math.md section 2).
 */
export function denoiserField(probs: tf.Tensor3D, inputs: Pick<FieldInputs, 'x' | 'speed'>): tf.Tensor3D {
  return tf.tidy(() => {
    const weighted = tf.mul(probs, inputs.speed);
    return tf.sub(weighted, tf.mul(classSum(weighted), inputs.x)) as tf.Tensor3D;
  });
}

/**
 * J_v z for tangents z [T, B, L, K] less diag(J_v) z (see fieldJacobianDiagonal), given the logits'
 * JVPs: with p' = p (l' - sum p l') and c_j' = (dc/db)_j z_j,
 * v' = p' c + p c' - (sum p' c + p c') x - (sum p c) z, whose diagonal part is (p dc/db - sum p c) z.
 */
function fieldTangentOffDiagonal(probs: tf.Tensor3D, logitJvp: tf.Tensor4D, inputs: Pick<FieldInputs, 'x' | 'speed' | 'speedSlope'>, tangents: tf.Tensor4D): tf.Tensor4D {
  const dProbs = tf.mul(probs, tf.sub(logitJvp, classSum(tf.mul(probs, logitJvp))));
  const probsDc = tf.mul(dProbs, inputs.speed);
  const dWeighted = tf.add(probsDc, tf.mul(tf.mul(probs, inputs.speedSlope), tangents));
  return tf.sub(probsDc, tf.mul(classSum(dWeighted), inputs.x)) as tf.Tensor4D;
}

/** The diagonal of v's Jacobian per class [B, L, K]: p_j (dc/db)_j - sum_i p_i c_i. */
function fieldJacobianDiagonal(probs: tf.Tensor3D, inputs: Pick<FieldInputs, 'speed' | 'speedSlope'>): tf.Tensor3D {
  return tf.sub(tf.mul(probs, inputs.speedSlope), classSum(tf.mul(probs, inputs.speed))) as tf.Tensor3D;
}

/** J_v z for tangents z [T, B, L, K], given the logits' JVPs (see fieldTangentOffDiagonal). */
export function denoiserFieldTangent(
  probs: tf.Tensor3D,
  logitJvp: tf.Tensor4D,
  inputs: Pick<FieldInputs, 'x' | 'speed' | 'speedSlope'>,
  tangents: tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => tf.add(fieldTangentOffDiagonal(probs, logitJvp, inputs, tangents), tf.mul(fieldJacobianDiagonal(probs, inputs), tangents)) as tf.Tensor4D);
}

/** Projects vectors [.., K] onto the simplex's tangent space (subtracts the mean over classes). */
export function projectToTangent<T extends tf.Tensor>(z: T): T {
  return tf.sub(z, tf.mean(z, -1, true)) as T;
}

/**
 * The projected basis P e_i of the whole sequence's tangent space, repeated over the batch:
 * [L K, B, L, K]. Summing z^T J z over it gives trace(P J P), the exact tangent divergence.
 */
export function tangentBasis(batch: number, length: number, classes: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = length * classes;
    const basis = projectToTangent(tf.reshape(tf.eye(n), [n, 1, length, classes]));
    return tf.tile(basis, [1, batch, 1, 1]) as tf.Tensor4D;
  });
}

/** Probes projected onto the tangent space: E[z z^T] = P, so z^T J z estimates trace(P J P). */
function tangentProbes(rng: Rng, opts: Pick<SimplexLossOptions, 'probes' | 'probeDist'>, batch: number, length: number, classes: number): tf.Tensor4D {
  return tf.tidy(() => {
    const raw = drawProbes(rng, opts.probes, batch, length * classes, opts.probeDist);
    return projectToTangent(tf.reshape(raw, [opts.probes, batch, length, classes])) as tf.Tensor4D;
  });
}

/** Sum over positions and classes of each sample, [.., B, L, K] -> [.., B]. */
function sequenceSum(x: tf.Tensor): tf.Tensor {
  return tf.sum(x, [-2, -1]);
}

/**
 * Estimates of the residual r = div v - div u + (v - u) . s per sequence (docs/math.md section 1),
 * one row per probe [n, B] (one row, the exact r, for the exact estimator), divergences over the simplex's
 * tangent space summed over positions; and v itself. Only the off-diagonal part of v's Jacobian is
 * probed: its diagonal D = diag(p dc/db - sum p c) is known without JVPs, and its tangent trace
 * tr(P D P) = (1 - 1/K) sum_k D_k per position is added exactly (a control variate). Probed, the
 * term -(sum p c) I alone adds a variance of about L (2 - 2/K) (sum p c)^2, noise that does not
 * depend on the network and swamps the signal on the linear path. `freeze` stops v's gradient
 * inside (v - u) . s when the stop-gradient switch is on.
 */
export function simplexResidualEstimates(
  model: SimplexDenoiser,
  batch: SimplexConditional,
  opts: Pick<SimplexLossOptions, 'divEstimator' | 'probes' | 'probeDist'>,
  rng: Rng | null,
  freeze: (v: tf.Tensor) => tf.Tensor = (v) => v,
): { logits: tf.Tensor3D; v: tf.Tensor3D; perProbe: tf.Tensor2D } {
  return tf.tidy(() => {
    const [size, length, classes] = batch.x.shape;
    const exact = opts.divEstimator === 'exact';
    if (!exact && !rng) throw new Error('Hutchinson probes need a random stream');
    if (opts.divEstimator === 'hutchinson-reference') throw new Error("the simplex loss has no 'hutchinson-reference' form");
    const tangents = exact ? tangentBasis(size, length, classes) : tangentProbes(rng!, opts, size, length, classes);
    const { logits, jvp } = model.logitsWithTangents(batch.x, batch.tau, tangents);
    const probs = tf.softmax(logits) as tf.Tensor3D;
    const v = denoiserField(probs, batch);
    const quadratic = sequenceSum(tf.mul(tangents, fieldTangentOffDiagonal(probs, jvp, batch, tangents))); // [T, B]
    const offDiagonal = exact ? tf.expandDims(tf.sum(quadratic, 0), 0) : quadratic;
    const diagonalTrace = tf.mul(tf.sum(fieldJacobianDiagonal(probs, batch), [1, 2]), 1 - 1 / classes);
    const mismatch = sequenceSum(tf.mul(tf.sub(freeze(v), batch.u), batch.score));
    const known = tf.add(tf.sub(diagonalTrace, batch.divU), mismatch);
    return { logits, v, perProbe: tf.add(offDiagonal, known) as tf.Tensor2D };
  });
}

/** The exact residual r per sequence [B] (for diagnostics and tests). */
export function simplexResidual(model: SimplexDenoiser, batch: SimplexConditional): tf.Tensor1D {
  return tf.tidy(() => {
    const { logits, v, perProbe } = simplexResidualEstimates(model, batch, { divEstimator: 'exact', probes: 0, probeDist: 'rademacher' }, null);
    tf.dispose([logits, v]);
    return tf.squeeze(perProbe, [0]) as tf.Tensor1D;
  });
}

/** Cross-entropy of the logits on the clean tokens, mean over sequences and positions. */
function crossEntropy(logits: tf.Tensor3D, target: tf.Tensor3D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), -1))) as tf.Scalar;
}

/** Dirichlet FM's training loss: cross-entropy of the denoiser on the clean tokens (the CFM analogue). */
export function denoiserLoss(model: SimplexDenoiser, batch: TokenBatch): LossTerms {
  return tf.tidy(() => {
    const ce = crossEntropy(model.logits(batch.x, batch.tau), batch.target);
    return { total: ce, cfm: ce, cdm: tf.scalar(0) };
  });
}

/**
 * FDM on the simplex: the cross-entropy (reported in the `cfm` slot) plus lambda E[(w r)^2], r the
 * tangent-space residual.
 */
export function simplexFdmLoss(model: SimplexDenoiser, batch: SimplexConditional, opts: SimplexLossOptions, rng: Rng): LossTerms {
  return tf.tidy(() => {
    const freeze = opts.stopGrad ? stopGradient : (v: tf.Tensor) => v;
    const { logits, perProbe } = simplexResidualEstimates(model, batch, opts, rng, freeze);
    const ce = crossEntropy(logits, batch.target);
    const cdm = tf.mean(weightedSquare(perProbe, residualWeight(batch.weight, opts.cdmWeight), opts.divEstimator)) as tf.Scalar;
    return { total: tf.add(ce, tf.mul(opts.lambda, cdm)) as tf.Scalar, cfm: ce, cdm };
  });
}
