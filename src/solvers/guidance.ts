import * as tf from '../backend/tf';
import { VelocityModel } from '../models/model';
import { AffineSchedule } from '../paths/affine';
import { T_MAX } from '../paths/time-sampling';

/**
 * Conditioned sampling of a flow trained on an affine Gaussian path x_t = alpha_t x1 + sigma_t x0
 * (Finzi et al., ICML 2023, section 4, written for flows). The marginal field is
 *
 *   v(x, t) = (sigma'/sigma) x + (alpha' - sigma' alpha/sigma) x̂1,   x̂1 = E[x1 | x_t = x],
 *
 * so the field gives the denoised prediction x̂1 and, with x̂1 = (x + sigma^2 s)/alpha (Tweedie),
 * the score s. Conditioning on an observation y adds grad_x log p(y | x_t) to the score, which moves
 * the field by
 *
 *   delta v = lambda_t delta s,   lambda_t = sigma^2 (alpha'/alpha - sigma'/sigma) = sigma (sigma alpha' - alpha sigma')/alpha.
 *
 * Guidance is evaluated at min(t, T_MAX): the field was trained only there, and at sigma = 0 x̂1 is
 * 0/0.
 */

/** The schedule's coefficients at one time. */
interface Coefficients {
  alpha: number;
  sigma: number;
  dAlpha: number;
  dSigma: number;
}

function coefficientsAt(schedule: AffineSchedule, t: number): Coefficients {
  const s = Math.min(t, T_MAX);
  return { alpha: schedule.alpha(s), sigma: schedule.sigma(s), dAlpha: schedule.dAlpha(s), dSigma: schedule.dSigma(s) };
}

/** x̂1 = (v - (sigma'/sigma) x) / (alpha' - sigma' alpha/sigma): the field's prediction of the data point. */
function denoised(v: tf.Tensor2D, x: tf.Tensor2D, c: Coefficients): tf.Tensor2D {
  const rate = c.dSigma / c.sigma;
  return tf.div(tf.sub(v, tf.mul(rate, x)), c.dAlpha - rate * c.alpha) as tf.Tensor2D;
}

/** A differentiable statistic of each row of x̂1 (an event constraint C; the event is C > 0), [B, d] -> [B]. */
export type RowStatistic = (x: tf.Tensor2D) => tf.Tensor1D;

/** The field at a batch and what conditioning adds to it, delta v (both [B, d]). */
export interface GuidedStep {
  field: tf.Tensor2D;
  correction: tf.Tensor2D;
}

/** Conditioning on an event or on observed values: the field and its correction at a batch x of the rows `rows`. */
export type Guidance = (model: VelocityModel, schedule: AffineSchedule, x: tf.Tensor2D, t: number, rows: RowRange) => GuidedStep;

/** The rows [start, end) of the sampled set that a batch x holds. */
export type RowRange = [number, number];

/** A guidance and the path the field was trained on, which relates the field to the score. */
export interface GuidedSampling {
  schedule: AffineSchedule;
  guidance: Guidance;
}

/** The guided field v + delta v for the rows of one batch, as an ODE right-hand side. */
export function guidedVelocity(model: VelocityModel, { schedule, guidance }: GuidedSampling, rows: RowRange): (t: number, x: tf.Tensor2D) => tf.Tensor2D {
  return (t, x) =>
    tf.tidy(() => {
      const { field, correction } = guidance(model, schedule, x, t, rows);
      return tf.add(field, correction) as tf.Tensor2D;
    });
}

/** The factor of the logistic approximation of the Gaussian CDF, Phi(z) ~ sigmoid(1.6 z) (Finzi et al.'s). */
export const PROBIT_LOGISTIC_SCALE = 1.6;

/**
 * The field v and x̂1 at x and G = grad_x C(x̂1(x)) per row, from one forward and one backward pass
 * through the field (v and x̂1 are kept from the forward pass the gradient records). Call inside tf.tidy.
 */
function constraintThroughField(model: VelocityModel, c: Coefficients, constraint: RowStatistic, x: tf.Tensor2D, t: number) {
  const time = tf.fill([x.shape[0], 1], t) as tf.Tensor2D;
  let forward: { field: tf.Tensor2D; xHat: tf.Tensor2D } | undefined;
  const { value, grad } = tf.valueAndGrad((input: tf.Tensor2D) => {
    const field = model.forward(input, time);
    const xHat = denoised(field, input, c);
    // Kept beyond the gradient's scope, then handed to the caller's tidy.
    forward = { field: tf.keep(field), xHat: tf.keep(xHat) };
    return tf.sum(constraint(xHat));
  })(x);
  value.dispose();
  const { field, xHat } = forward!;
  // tf.keep exempts them from every scope: clones are tracked by the caller's tidy, the kept ones go now.
  const tracked = { field: tf.clone(field), xHat: tf.clone(xHat) };
  tf.dispose([field, xHat]);
  return { ...tracked, throughField: grad as tf.Tensor2D };
}

/**
 * Conditioning on the event C(x1) > 0 (Finzi et al.'s event_scores): p(E | x_t) ~ Phi(C(x̂1)/std)
 * with std^2 the variance of C(x1) given x_t, linearised,
 *
 *   std = (sigma/alpha) sqrt(alpha |grad C(x̂1) . G| + reg),   G = grad_x C(x̂1(x))
 *
 * (G is J^T grad C with J = dx̂1/dx, and Cov[x1 | x_t] = (sigma^2/alpha) J), so that
 * delta s = 1.6 (1 - sigmoid(1.6 z)) G / std with z = C(x̂1)/std, and
 *
 *   delta v = 1.6 (1 - sigmoid(1.6 z)) (sigma alpha' - alpha sigma') G / sqrt(alpha |grad C . G| + reg),
 *
 * finite where alpha = 0. For Gaussian data and a linear C this is exact up to the logistic
 * approximation of Phi. Unlike the authors' code, std is held fixed in the gradient (they also
 * differentiate it, a second derivative of the field, which tfjs's tape does not provide).
 */
export function eventGuidance(constraint: RowStatistic, reg = 1e-3): Guidance {
  return (model, schedule, x, t) =>
    tf.tidy(() => {
      const time = Math.min(t, T_MAX);
      const c = coefficientsAt(schedule, time);
      const { field, xHat, throughField } = constraintThroughField(model, c, constraint, x, time);
      const { value, grad: atData } = tf.valueAndGrad((row: tf.Tensor2D) => tf.sum(constraint(row)))(xHat);
      value.dispose();
      const C = constraint(xHat);
      const rootTerm = tf.sqrt(tf.add(tf.mul(c.alpha, tf.abs(tf.sum(tf.mul(atData as tf.Tensor2D, throughField), 1))), reg));
      // z = C / std = alpha C / (sigma sqrt(...)); at sigma = 0 (t clamped to T_MAX keeps it positive).
      const z = tf.div(tf.mul(c.alpha, C), tf.mul(c.sigma, rootTerm));
      const weight = tf.div(tf.mul(PROBIT_LOGISTIC_SCALE * (c.sigma * c.dAlpha - c.alpha * c.dSigma), tf.sub(1, tf.sigmoid(tf.mul(PROBIT_LOGISTIC_SCALE, z)))), rootTerm);
      return { field, correction: tf.mul(tf.reshape(weight, [-1, 1]), throughField) as tf.Tensor2D };
    });
}

/**
 * Conditioning on observed values o at the coordinates where `mask` is 1 (Finzi et al.'s
 * inpainting_scores): there the score is the conditional path's, -(x - alpha o)/sigma^2, so those
 * coordinates follow the conditional path to o exactly (delta v = (alpha' - alpha sigma'/sigma)(o - x̂1));
 * elsewhere reconstruction guidance adds -strength (alpha/sigma)^2 grad_x |mask (x̂1(x) - o)|^2 to
 * the score, delta v = -strength alpha (alpha' - alpha sigma'/sigma) grad_x |...|^2. `observedRows`
 * holds o for every sampled row ([n * d]: o where observed, anything elsewhere), `observedMask` the
 * d coordinates' 0/1 flags.
 */
export function observationGuidance(observedRows: Float32Array, observedMask: Float32Array, strength: number): Guidance {
  const dim = observedMask.length;
  return (model, schedule, x, t, [start, end]) =>
    tf.tidy(() => {
      const observed = tf.tensor2d(observedRows.subarray(start * dim, end * dim), [end - start, dim]);
      const mask = tf.tensor2d(observedMask, [1, dim]);
      const time = Math.min(t, T_MAX);
      const c = coefficientsAt(schedule, time);
      const misfit = (row: tf.Tensor2D) => tf.sum(tf.square(tf.mul(mask, tf.sub(row, observed))), 1) as tf.Tensor1D;
      const { field, xHat, throughField } = constraintThroughField(model, c, misfit, x, time);
      const drift = c.dAlpha - (c.alpha * c.dSigma) / c.sigma;
      const towardObserved = tf.mul(drift, tf.sub(observed, xHat));
      const reconstruction = tf.mul(-strength * c.alpha * drift, throughField);
      return { field, correction: tf.add(tf.mul(mask, towardObserved), tf.mul(tf.sub(1, mask), reconstruction)) as tf.Tensor2D };
    });
}
