import { GaussianMixture, mixtureDim } from '../datasets/gaussian-mixture';
import { AffineSchedule } from './affine';

/** Everything the marginal path gives at one point x and time t (float64). */
export interface MarginalPoint {
  logDensity: number;
  /** u_t(x), the marginal velocity. */
  velocity: number[];
  /** grad log p_t(x). */
  score: number[];
  /** div u_t(x). */
  divergence: number;
}

function logSumExp(values: number[]): number {
  const max = Math.max(...values);
  return max + Math.log(values.reduce((acc, v) => acc + Math.exp(v - max), 0));
}

/**
 * The marginal path of an affine Gaussian path towards a Gaussian-mixture target, in closed form:
 * x_t = alpha x1 + sigma x0 makes p_t the mixture of N(alpha mu_k, V_k I), V_k = alpha^2 s_k^2 + sigma^2.
 * Component k moves with u_k = dalpha mu_k + c_k (x - alpha mu_k), c_k = (alpha dalpha s_k^2 + sigma dsigma) / V_k,
 * and the marginal field is the posterior-weighted u = sum_k w_k(x) u_k(x).
 */
export class GaussianMixturePath {
  readonly dim: number;

  constructor(readonly mixture: GaussianMixture, readonly schedule: AffineSchedule) {
    this.dim = mixtureDim(mixture);
  }

  /** Per-component quantities at time t. */
  private components(t: number) {
    const { alpha, sigma, dAlpha, dSigma } = this.schedule;
    const a = alpha(t), s = sigma(t), da = dAlpha(t), ds = dSigma(t);
    return this.mixture.means.map((mean, k) => {
      const std = this.mixture.stds[k];
      const variance = a * a * std * std + s * s;
      return {
        centre: mean.map((m) => a * m),
        drift: mean.map((m) => da * m),
        variance,
        rate: (a * da * std * std + s * ds) / variance,
        logWeight: Math.log(this.mixture.weights[k]),
      };
    });
  }

  /** log p_t(x), u_t(x), grad log p_t(x) and div u_t(x). */
  at(x: ArrayLike<number>, t: number): MarginalPoint {
    return this.local(x, t).point;
  }

  /** J z of the marginal field at (x, t). */
  jacobianTimes(x: ArrayLike<number>, t: number, z: ArrayLike<number>): number[] {
    return this.local(x, t).jacobianTimes(z);
  }

  /**
   * The field at one point and its Jacobian as a function of z, from one pass over the components:
   * posteriors w_k, component scores g_k = -(x - centre_k) / V_k and velocities u_k.
   */
  local(x: ArrayLike<number>, t: number): { point: MarginalPoint; jacobianTimes: (z: ArrayLike<number>) => number[] } {
    const d = this.dim;
    const comps = this.components(t);
    const logTerms = comps.map((c) => {
      let sq = 0;
      for (let i = 0; i < d; i++) sq += (x[i] - c.centre[i]) ** 2;
      return c.logWeight - sq / (2 * c.variance) - (d / 2) * Math.log(2 * Math.PI * c.variance);
    });
    const logDensity = logSumExp(logTerms);
    const posterior = logTerms.map((l) => Math.exp(l - logDensity));
    const scores = comps.map((c) => c.centre.map((m, i) => -(x[i] - m) / c.variance));
    const velocities = comps.map((c) => c.centre.map((m, i) => c.drift[i] + c.rate * (x[i] - m)));
    const score = new Array<number>(d).fill(0);
    const velocity = new Array<number>(d).fill(0);
    comps.forEach((_, k) => {
      for (let i = 0; i < d; i++) {
        score[i] += posterior[k] * scores[k][i];
        velocity[i] += posterior[k] * velocities[k][i];
      }
    });
    // grad w_k = w_k (g_k - g), so div u = sum_k w_k (d c_k + (g_k - g) . u_k)
    // and J z = sum_k w_k (c_k z + u_k ((g_k - g) . z)).
    const scoreGap = (k: number, z: ArrayLike<number>) => scores[k].reduce((acc, g, i) => acc + (g - score[i]) * z[i], 0);
    const divergence = comps.reduce((acc, c, k) => acc + posterior[k] * (d * c.rate + scoreGap(k, velocities[k])), 0);
    const jacobianTimes = (z: ArrayLike<number>): number[] => {
      const out = new Array<number>(d).fill(0);
      comps.forEach((c, k) => {
        const proj = scoreGap(k, z);
        for (let i = 0; i < d; i++) out[i] += posterior[k] * (c.rate * z[i] + velocities[k][i] * proj);
      });
      return out;
    };
    return { point: { logDensity, velocity, score, divergence }, jacobianTimes };
  }
}
