import { Rng } from '../random/rng';

/**
 * How training times are drawn on [0, tMax). Every choice comes with importance weights that make
 * its expected loss the uniform one's, so the objective is the same and only where the samples
 * fall (and so the gradient's variance) changes:
 * - `uniform`: t ~ U[0, tMax), weight 1.
 * - `late`: t = tMax (1 - (1 - u)^2), u ~ U[0, 1): density 1 / (2 tMax sqrt(1 - t/tMax)), rising
 *   towards t = tMax where the TV bound's integrand E|L_t| has most of its mass (the conditional
 *   score grows like 1/sigma_t); weight 2 (1 - u) = 2 sqrt(1 - t/tMax).
 */
/** Training times lie in [0, T_MAX): sigma_t = 0 at t = 1 would make the conditional score infinite. */
export const T_MAX = 1 - 1e-5;

export const TIME_SAMPLINGS = ['uniform', 'late'] as const;
export type TimeSampling = (typeof TIME_SAMPLINGS)[number];

export interface TrainingTimes {
  t: Float32Array;
  /** Importance weights (mean 1 in expectation), or null where they are all 1. */
  weights: Float32Array | null;
}

export function drawTrainingTimes(sampling: TimeSampling, n: number, tMax: number, rng: Rng): TrainingTimes {
  if (sampling === 'uniform') return { t: rng.uniformArray(n, 0, tMax), weights: null };
  const u = rng.uniformArray(n, 0, 1);
  return {
    t: Float32Array.from(u, (ui) => tMax * (1 - (1 - ui) ** 2)),
    weights: Float32Array.from(u, (ui) => 2 * (1 - ui)),
  };
}
