import * as tf from '../backend/tf';
import { T_MAX } from './time-sampling';
import { ConditionalPath, ConditionalQuantities, PathSample } from './path';

/** alpha_t, sigma_t and their time derivatives. */
export interface AffineSchedule {
  readonly name: string;
  /**
   * Standard deviation of the Gaussian source the flow starts from, N(0, sourceStd^2 I): sigma_0
   * where alpha_0 = 0. The variance-exploding path has alpha_0 = 1, so p_0 is the data blurred by
   * N(0, sigma_0^2 I); with sigma_0 = 300 against data of unit scale the source N(0, sigma_0^2 I)
   * approximates it (Song et al.'s prior, the authors' sampler).
   */
  readonly sourceStd: number;
  alpha(t: number): number;
  sigma(t: number): number;
  dAlpha(t: number): number;
  dSigma(t: number): number;
}

/** CondOT: alpha = t, sigma = 1 - (1 - sigmaMin) t. */
export function condOtSchedule(sigmaMin = 0): AffineSchedule {
  return {
    name: sigmaMin > 0 ? `condot(sigma_min=${sigmaMin})` : 'condot',
    sourceStd: 1,
    alpha: (t) => t,
    sigma: (t) => 1 - (1 - sigmaMin) * t,
    dAlpha: () => 1,
    dSigma: () => -(1 - sigmaMin),
  };
}

/** Linear variance preserving: alpha = t, sigma = sqrt(1 - t^2). */
export const vpSchedule: AffineSchedule = {
  name: 'vp',
  sourceStd: 1,
  alpha: (t) => t,
  sigma: (t) => Math.sqrt(1 - t * t),
  dAlpha: () => 1,
  dSigma: (t) => -t / Math.sqrt(1 - t * t),
};

/** Cosine: alpha = sin(pi t / 2), sigma = cos(pi t / 2). */
export const cosineSchedule: AffineSchedule = {
  name: 'cosine',
  sourceStd: 1,
  alpha: (t) => Math.sin((Math.PI * t) / 2),
  sigma: (t) => Math.cos((Math.PI * t) / 2),
  dAlpha: (t) => (Math.PI / 2) * Math.cos((Math.PI * t) / 2),
  dSigma: (t) => -(Math.PI / 2) * Math.sin((Math.PI * t) / 2),
};

/** sigma_min and sigma_max of the variance-exploding path (Finzi et al.'s and the FDM authors' dynamics runs). */
export const VE_SIGMA_MIN = 1e-3;
export const VE_SIGMA_MAX = 300;

/**
 * Variance exploding (Song et al.'s VE SDE as a flow, the FDM authors' final dynamics path):
 * x_t = x1 + sigma(1 - t) x0 with sigma(tau) = sigma_min sqrt((sigma_max/sigma_min)^(2 tau) - 1),
 * so alpha = 1, sigma_t = sigma(1 - t), and sigma_t' = -sigma'(1 - t) with
 * sigma'(tau) = sigma_min ln(r) r^(2 tau) / sqrt(r^(2 tau) - 1), r = sigma_max/sigma_min.
 */
export function veSchedule(sigmaMin = VE_SIGMA_MIN, sigmaMax = VE_SIGMA_MAX): AffineSchedule {
  const logRatio = Math.log(sigmaMax / sigmaMin);
  // r^(2 tau) - 1 by expm1, exact for the small tau (t near 1) where sigma is small.
  const excess = (tau: number) => Math.expm1(2 * tau * logRatio);
  const sigma = (tau: number) => sigmaMin * Math.sqrt(excess(tau));
  return {
    name: 've',
    sourceStd: sigma(1),
    alpha: () => 1,
    sigma: (t) => sigma(1 - t),
    dAlpha: () => 0,
    dSigma: (t) => (-sigmaMin * logRatio * (excess(1 - t) + 1)) / Math.sqrt(excess(1 - t)),
  };
}

/**
 * The VE path's scales as tf functions of a times column (models/preconditioned.ts): x_t has
 * standard deviation sqrt(s^2 + sigma_t^2) for data of standard deviation s, and u_t = sigma_t' x0
 * has |sigma_t'|. Times are taken at most T_MAX, where sigma_t' is still finite.
 */
export function veScales(dataStd: number, sigmaMin = VE_SIGMA_MIN, sigmaMax = VE_SIGMA_MAX) {
  const logRatio = Math.log(sigmaMax / sigmaMin);
  const excess = (t: tf.Tensor2D) => tf.expm1(tf.mul(2 * logRatio, tf.maximum(tf.sub(1, t), 1 - T_MAX)));
  return {
    inputScale: (t: tf.Tensor2D) => tf.tidy(() => tf.rsqrt(tf.add(dataStd * dataStd, tf.mul(sigmaMin * sigmaMin, excess(t))))) as tf.Tensor2D,
    outputScale: (t: tf.Tensor2D) =>
      tf.tidy(() => {
        const e = excess(t);
        return tf.div(tf.mul(sigmaMin * logRatio, tf.add(e, 1)), tf.sqrt(e));
      }) as tf.Tensor2D,
  };
}

export const AFFINE_PATHS = ['condot', 'vp', 'cosine'] as const;
/** The affine paths plus the variance-exploding one, which only tasks that declare it accept (its source is not N(0, I)). */
export const GAUSSIAN_PATHS = [...AFFINE_PATHS, 've'] as const;
export type AffinePathName = (typeof GAUSSIAN_PATHS)[number];

/** The name as an affine Gaussian path, or an error naming the valid ones (tasks check paths up front). */
export function affinePathName(name: string): AffinePathName {
  if ((GAUSSIAN_PATHS as readonly string[]).includes(name)) return name as AffinePathName;
  throw new Error(`path '${name}' is not an affine Gaussian path (${GAUSSIAN_PATHS.join(', ')})`);
}

export function affineSchedule(name: AffinePathName, sigmaMin = 0): AffineSchedule {
  if (name === 'condot') return condOtSchedule(sigmaMin);
  if (name === 've') return veSchedule();
  return name === 'vp' ? vpSchedule : cosineSchedule;
}

/** Per-sample schedule coefficients as [B, 1] columns, computed in float64 then stored as float32. */
function coefficients(schedule: AffineSchedule, t: Float32Array) {
  const column = (f: (s: number) => number) => tf.tensor2d(Float32Array.from(t, f), [t.length, 1]);
  return {
    alpha: column(schedule.alpha),
    sigma: column(schedule.sigma),
    dAlpha: column(schedule.dAlpha),
    dSigma: column(schedule.dSigma),
    // d log sigma / dt: the Jacobian of u is this multiple of the identity.
    rate: column((s) => schedule.dSigma(s) / schedule.sigma(s)),
  };
}

/**
 * The Gaussian path x_t = alpha_t x1 + sigma_t x0 with x0 ~ N(0, I) (docs/math.md section 2):
 * u = (dsigma/sigma) x + (dalpha - dsigma alpha/sigma) x1, div u = d dsigma/sigma,
 * score = -(x - alpha x1)/sigma^2, weight sigma_t.
 */
export class AffinePath implements ConditionalPath {
  readonly name: string;

  constructor(readonly schedule: AffineSchedule) {
    this.name = schedule.name;
  }

  sample(x0: tf.Tensor2D, x1: tf.Tensor2D, t: Float32Array): PathSample {
    return tf.tidy(() => {
      const c = coefficients(this.schedule, t);
      const xt = tf.add(tf.mul(c.alpha, x1), tf.mul(c.sigma, x0)) as tf.Tensor2D;
      // At x_t, x - alpha x1 = sigma x0 exactly; using x0 avoids the cancellation near sigma = 0.
      const score = tf.neg(tf.div(x0, c.sigma)) as tf.Tensor2D;
      const u = tf.add(tf.mul(c.dAlpha, x1), tf.mul(c.dSigma, x0)) as tf.Tensor2D;
      const tCol = tf.tensor2d(t, [t.length, 1]);
      return { t: tCol, xt, u, score, ...this.jacobianTerms(c.rate, c.sigma, x1.shape[1]) };
    });
  }

  conditionalAt(x: tf.Tensor2D, x1: tf.Tensor2D, t: Float32Array): ConditionalQuantities {
    return tf.tidy(() => {
      const c = coefficients(this.schedule, t);
      const centred = tf.sub(x, tf.mul(c.alpha, x1));
      const score = tf.neg(tf.div(centred, tf.square(c.sigma))) as tf.Tensor2D;
      const drift = tf.sub(c.dAlpha, tf.mul(c.rate, c.alpha));
      const u = tf.add(tf.mul(c.rate, x), tf.mul(drift, x1)) as tf.Tensor2D;
      return { u, score, ...this.jacobianTerms(c.rate, c.sigma, x1.shape[1]) };
    });
  }

  private jacobianTerms(rate: tf.Tensor2D, sigma: tf.Tensor2D, dim: number) {
    const batch = rate.shape[0];
    return {
      divU: tf.reshape(tf.mul(rate, dim), [batch]) as tf.Tensor1D,
      duDiag: tf.tile(rate, [1, dim]) as tf.Tensor2D,
      weight: tf.reshape(sigma, [batch]) as tf.Tensor1D,
    };
  }

  logDensity(x: Float64Array, x1: Float64Array, t: number): number {
    const alpha = this.schedule.alpha(t);
    const sigma = this.schedule.sigma(t);
    let sq = 0;
    for (let i = 0; i < x.length; i++) sq += (x[i] - alpha * x1[i]) ** 2;
    return -sq / (2 * sigma * sigma) - x.length * Math.log(sigma) - (x.length / 2) * Math.log(2 * Math.PI);
  }
}
