import { mean, sampleStandardDeviation } from 'simple-statistics';
import { VelocityModel } from '../models/model';
import { Rng } from '../random/rng';
import { FlowOptions, logLikelihood } from '../solvers/flow';

/** Probe draws per point in the comparison, by default. */
export const HUTCHINSON_REPEATS = 4;

export interface EstimatorComparison {
  /** The NLL per dimension of the points with the exact divergence (nats, in the flow's space). */
  exactNllPerDim: number;
  /** Mean of Hutchinson's NLL minus the exact one per dimension, over points and probe draws: the bias. */
  biasPerDim: number;
  /** Standard deviation of that difference: the noise one probe per trajectory adds to a point's NLL. */
  sdPerDim: number;
}

/**
 * The NLL of a few points with the exact divergence (d tangent passes) beside Hutchinson's (one
 * Rademacher probe held along each trajectory, as the tables' NLL above 16 dimensions) on the same
 * points, `repeats` times with fresh probes: what the estimator adds to the tables' NLL.
 */
export async function hutchinsonAgainstExact(
  model: VelocityModel,
  points: Float32Array,
  options: { solver: FlowOptions; sourceStd: number; repeats?: number; rng: Rng },
): Promise<EstimatorComparison> {
  const { solver, sourceStd, repeats = HUTCHINSON_REPEATS, rng } = options;
  const dim = model.dim;
  const exact = (await logLikelihood(model, points, { ...solver, divergence: 'exact', batchSize: 1, sourceStd })).logp;
  const differences: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const { logp } = await logLikelihood(model, points, { ...solver, divergence: 'hutchinson', probes: 1, rng: rng.fork(`repeat-${r}`), sourceStd });
    logp.forEach((value, i) => differences.push((exact[i] - value) / dim));
  }
  return { exactNllPerDim: -mean(Array.from(exact)) / dim, biasPerDim: -mean(differences), sdPerDim: sampleStandardDeviation(differences) };
}
