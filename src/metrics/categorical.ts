import { Rng } from '../random/rng';

/** Per-position categorical distributions: L rows of K probabilities, row-major. */
export interface PositionDistributions {
  probs: Float64Array;
  length: number;
  classes: number;
}

/** Divergences of an empirical per-position distribution from the true one, averaged over positions. */
export interface CategoricalDivergences {
  /** KL(empirical || true), 0 log 0 = 0: Dirichlet FM's toy metric. */
  kl: number;
  /** KL(true || empirical): infinite when a class of positive probability was never generated. */
  reverseKl: number;
  /** Total variation, (1/2) sum |empirical - true|. */
  tv: number;
}

/** Class frequencies of each position over n sequences of class indices [n * L]. */
export function empiricalDistribution(tokens: ArrayLike<number>, length: number, classes: number): PositionDistributions {
  const count = tokens.length / length;
  const probs = new Float64Array(length * classes);
  for (let i = 0; i < tokens.length; i++) probs[(i % length) * classes + tokens[i]] += 1 / count;
  return { probs, length, classes };
}

function klRow(p: Float64Array, q: Float64Array, offset: number, classes: number): number {
  let sum = 0;
  for (let j = offset; j < offset + classes; j++) if (p[j] > 0) sum += p[j] * Math.log(p[j] / q[j]);
  return sum;
}

export function categoricalDivergences(empirical: PositionDistributions, truth: PositionDistributions): CategoricalDivergences {
  const { length, classes } = truth;
  let kl = 0;
  let reverseKl = 0;
  let tv = 0;
  for (let pos = 0; pos < length; pos++) {
    const offset = pos * classes;
    kl += klRow(empirical.probs, truth.probs, offset, classes);
    reverseKl += klRow(truth.probs, empirical.probs, offset, classes);
    for (let j = offset; j < offset + classes; j++) tv += Math.abs(empirical.probs[j] - truth.probs[j]) / 2;
  }
  return { kl: kl / length, reverseKl: reverseKl / length, tv: tv / length };
}

/** n sequences drawn position by position from the true distributions, as class indices [n * L]. */
export function sampleSequences(truth: PositionDistributions, count: number, rng: Rng): Int32Array {
  const { length, classes, probs } = truth;
  const out = new Int32Array(count * length);
  for (let i = 0; i < out.length; i++) out[i] = rng.categorical(probs, (i % length) * classes, classes);
  return out;
}

/**
 * The sampling-noise floor at n sequences: the mean of each divergence for n sequences drawn from the
 * truth itself, over `replicates` draws. A perfect model scores this on average, not 0.
 */
export function samplingFloor(truth: PositionDistributions, count: number, replicates: number, rng: Rng): CategoricalDivergences {
  const total = { kl: 0, reverseKl: 0, tv: 0 };
  for (let r = 0; r < replicates; r++) {
    const d = categoricalDivergences(empiricalDistribution(sampleSequences(truth, count, rng), truth.length, truth.classes), truth);
    total.kl += d.kl / replicates;
    total.reverseKl += d.reverseKl / replicates;
    total.tv += d.tv / replicates;
  }
  return total;
}
