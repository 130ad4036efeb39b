import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import { VelocityModel } from '../models/model';
import { Rng } from '../random/rng';
import { logLikelihood } from '../solvers/flow';

/**
 * The likelihood evaluation of the authors' 2D code (docs/math.md section 5), as it runs during
 * training in Utah-Math-Data-Science/Flow_Div_Matching, flow_matching_2d_Synthetic_FDM/main_fm_2d.py
 * (commit ce36627), with its ODE solver flow_matching/solver/ode_solver.py and torchdiffeq's
 * fixed-grid Euler:
 * - main_fm_2d.py line 197: it evaluates when `(i + 1) % print_every == 0`, print_every = 200
 *   (line 316), over `iterations` = 30001 (line 311): after iterations 200, 400, ..., 30000, i.e.
 *   floor(30001 / 200) = 150 evaluations.
 * - lines 213-225: num_acc = 10 batches, each of `batch_size` = 512 (line 309) fresh points from the
 *   data sampler inf_train_gen (lines 32-40, the checkerboard).
 * - lines 219-221: solver.compute_likelihood(method='euler', step_size=0.01, time_grid=[1.0, 0.0],
 *   exact_divergence=False, log_p0=log N(0, I)) (the prior: line 209). ode_solver.py lines 142-144
 *   draw one Rademacher probe per point, z = (randn < 0) * 2 - 1, held fixed along the trajectory;
 *   lines 161-170 take z^T (dv/dx) z as the divergence; lines 174-192 integrate (x, log_det) from
 *   (x_1, 0) at t = 1 to t = 0 and return log p0(x(0)) + log_det(0). torchdiffeq reverses the
 *   descending grid and steps Euler with step 0.01: 100 steps, v and div v evaluated at
 *   t = 1, 0.99, ..., 0.01 (the start of each step), log_det(0) = -0.01 * sum_k div v(x_k, t_k).
 * - lines 222-230: the per-point log p is summed over the 10 batches and divided by 10, then
 *   averaged over the 512 rows: the mean log-density of the 5,120 points, which equals the mean of
 *   the 10 per-batch means. (Line 229, commented out, would have kept the mean over rows of
 *   exp(batch-averaged log p) instead.)
 * - lines 234-236: `best_ll` keeps the largest such value over training; lines 253 and 319 return
 *   and print it ('best ll'), beside the last value (`log_p_acc`).
 * The paper's checkerboard "likelihood" (2.38e-2 CFM, 2.53e-2 FDM) is thus exp(best_ll): the
 * exponential of the best (over 150 evaluations) mean log-density, a geometric-mean density. The
 * code prints the log; exp(-3.738) = 0.0238 and exp(-3.677) = 0.0253, against the data's own
 * exp(-ln(8 / 0.45^2)) = 0.45^2 / 8 = 1/39.5 = 0.02531.
 */
export interface ReferenceProtocol {
  /** Evaluations happen every `interval` training iterations (main_fm_2d.py: print_every = 200). */
  interval: number;
  /** Fresh batches per evaluation (num_acc = 10). */
  batches: number;
  /** Points per batch (the training batch size, 512, in the reference's run). */
  batchSize: number;
  /** Euler step from t = 1 down to t = 0 (0.01: 100 steps). */
  stepSize: number;
}

export const REFERENCE_PROTOCOL: Readonly<ReferenceProtocol> = Object.freeze({ interval: 200, batches: 10, batchSize: 512, stepSize: 0.01 });

/** The reference's citation, stored beside every result of the protocol. */
export const REFERENCE_SOURCE =
  'Utah-Math-Data-Science/Flow_Div_Matching@ce36627 flow_matching_2d_Synthetic_FDM/main_fm_2d.py lines 197-245 ' +
  '(compute_likelihood: flow_matching/solver/ode_solver.py lines 104-194)';

/** Draws n points of the evaluation data as a flat [n * d] array. */
export type PointSampler = (n: number, rng: Rng) => Float32Array;

export interface ReferenceLikelihood {
  /** Mean log-density (nats) of each batch. */
  batchMeans: number[];
  /** The protocol's value: the mean over all points (= the mean of the batch means), nats. */
  meanLogDensity: number;
  /** exp(meanLogDensity): the quantity the paper's table reports (for the best evaluation over training). */
  likelihood: number;
  /** Standard error of meanLogDensity from the spread of the batch means (the batches are independent). */
  stdErr: number;
  /**
   * What the reference's commented-out line 229 would have kept: the mean over the batchSize row
   * indices of exp(mean over the batches of log p). Reported for comparison only.
   */
  rowGeometricMeanDensity: number;
}

/** The Euler steps of the protocol's step size; 1 / stepSize must be a whole number (torchdiffeq would shorten the last step). */
export function eulerSteps(stepSize: number): number {
  const steps = Math.round(1 / stepSize);
  if (!(stepSize > 0) || Math.abs(steps * stepSize - 1) > 1e-9) throw new Error(`stepSize must divide 1 into whole steps, got ${stepSize}`);
  return steps;
}

/** Evaluations the reference makes over a run: after iterations interval, 2 interval, ... <= iterations. */
export function evaluationsOverTraining(iterations: number, interval = REFERENCE_PROTOCOL.interval): number {
  return Math.floor(iterations / interval);
}

/**
 * One evaluation of the reference protocol on a velocity field: `batches` fresh batches of
 * `batchSize` points drawn from `sample` with rng.fork('data'), each integrated backward with Euler
 * steps of `stepSize` and one Rademacher probe per point from rng.fork('probes') held along its
 * trajectory. `logOffset` (a standardisation's log-scale, as a density task's nllOffset) is
 * subtracted from every log-density so that it is in the data's units. Leaves no tensors behind.
 */
export async function referenceLogLikelihood(
  model: VelocityModel,
  sample: PointSampler,
  rng: Rng,
  protocol: Readonly<ReferenceProtocol> = REFERENCE_PROTOCOL,
  logOffset = 0,
): Promise<ReferenceLikelihood> {
  const { batches, batchSize } = protocol;
  if (!Number.isInteger(batches) || batches < 1) throw new Error(`batches must be a positive integer, got ${batches}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const steps = eulerSteps(protocol.stepSize);
  const data = rng.fork('data');
  const probes = rng.fork('probes');
  const batchMeans: number[] = [];
  const rowSums = new Float64Array(batchSize);
  for (let b = 0; b < batches; b++) {
    // Like the reference, a batch's points, then its probes (a stream each, so neither shifts the other).
    const x = sample(batchSize, data);
    const { logp } = await logLikelihood(model, x, { solver: 'euler', steps, batchSize, divergence: 'hutchinson', probes: 1, probeDistribution: 'rademacher', rng: probes });
    let sum = 0;
    for (let i = 0; i < batchSize; i++) {
      const value = logp[i] - logOffset;
      sum += value;
      rowSums[i] += value;
    }
    batchMeans.push(sum / batchSize);
  }
  const meanLogDensity = batchMeans.reduce((a, m) => a + m, 0) / batches;
  const spread = batches > 1 ? batchMeans.reduce((a, m) => a + (m - meanLogDensity) ** 2, 0) / (batches - 1) : NaN;
  let rowDensity = 0;
  for (let i = 0; i < batchSize; i++) rowDensity += Math.exp(rowSums[i] / batches);
  return {
    batchMeans,
    meanLogDensity,
    likelihood: Math.exp(meanLogDensity),
    stdErr: Math.sqrt(spread / batches),
    rowGeometricMeanDensity: rowDensity / batchSize,
  };
}

/** log Phi(x), accurate in both tails. */
function logNormalCdf(x: number): number {
  return x < 0 ? Math.log(normalCdf(x, 0, 1)) : Math.log1p(-normalCdf(-x, 0, 1));
}

/**
 * E[max of n iid N(0, 1)] = integral of x n phi(x) Phi(x)^(n-1) dx, by composite Simpson's rule
 * with step 1e-3 on [-12, max(12, sqrt(2 ln n) + 8)] (the integrand beyond is below 1e-30), with
 * Phi from @stdlib. Simpson's error here is below 1e-10 for every n tried (1 to 1e6).
 * The expected best of n noisy evaluations whose values are iid N(mu, sigma^2) is mu + sigma times this.
 */
export function expectedMaxOfStandardNormals(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`n must be a positive integer, got ${n}`);
  if (n === 1) return 0;
  const low = -12;
  const high = Math.max(12, Math.sqrt(2 * Math.log(n)) + 8);
  const intervals = 2 * Math.ceil((high - low) / 2e-3);
  const h = (high - low) / intervals;
  const logN = Math.log(n);
  const integrand = (x: number) => x * Math.exp(logN - 0.5 * x * x - 0.5 * Math.log(2 * Math.PI) + (n - 1) * logNormalCdf(x));
  let total = integrand(low) + integrand(high);
  for (let i = 1; i < intervals; i++) total += (i % 2 === 1 ? 4 : 2) * integrand(low + i * h);
  return (total * h) / 3;
}
