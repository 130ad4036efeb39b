import { Rng } from '../random/rng';

/** An isotropic Gaussian mixture sum_k weight_k N(mean_k, std_k^2 I) in R^d. */
export interface GaussianMixture {
  weights: number[];
  /** Component means, each of length d. */
  means: number[][];
  stds: number[];
}

export function mixtureDim(mixture: GaussianMixture): number {
  return mixture.means[0].length;
}

/** Draws n points of an isotropic Gaussian mixture, flat [n * d]. */
export function sampleMixture(mixture: GaussianMixture, n: number, rng: Rng): Float32Array {
  const d = mixture.means[0].length;
  const cumulative = mixture.weights.map((_, k) => mixture.weights.slice(0, k + 1).reduce((a, b) => a + b, 0));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const u = rng.uniform() * cumulative[cumulative.length - 1];
    const k = Math.max(0, cumulative.findIndex((c) => u < c));
    for (let j = 0; j < d; j++) out[i * d + j] = mixture.means[k][j] + mixture.stds[k] * rng.normal();
  }
  return out;
}
