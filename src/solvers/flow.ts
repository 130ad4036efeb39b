import * as tf from '../backend/tf';
import { basisTangents, drawProbes, probeQuadratic, ProbeDistribution, traceFromBasis } from '../losses/divergence';
import { VelocityModel } from '../models/model';
import { Rng } from '../random/rng';
import { T_MAX } from '../paths/time-sampling';
import { GuidedSampling, guidedVelocity } from './guidance';
import { integrate, SolverOptions, SolverStats } from './ode';

export interface FlowOptions extends SolverOptions {
  /** Samples integrated together as one [B, d] state. */
  batchSize: number;
}

export interface SampleOptions extends FlowOptions {
  /** Time at which the integration starts (default 0); the given states are x at that time. */
  start?: number;
  /** Conditioned sampling: the field plus a guidance term (solvers/guidance.ts). */
  guided?: GuidedSampling;
}

export interface LikelihoodOptions extends FlowOptions {
  /** The divergence along each trajectory: exact (d JVPs), or Hutchinson probes held fixed along it. */
  divergence: 'exact' | 'hutchinson';
  /** Hutchinson probes per trajectory, averaged (default 1). */
  probes?: number;
  /** Hutchinson probe distribution (default rademacher). */
  probeDistribution?: ProbeDistribution;
  /** Source of the Hutchinson probes; required for divergence 'hutchinson'. */
  rng?: Rng;
  /** Standard deviation of the flow's Gaussian source N(0, s^2 I) (default 1; AffineSchedule.sourceStd). */
  sourceStd?: number;
  /** The time t of the marginal p_t whose density is computed (default 1): the ODE runs from t back to 0. */
  fromTime?: number;
}

export interface LikelihoodResult {
  /** log p_1(x) in nats, one per sample. */
  logp: Float64Array;
  /** Solver work summed over all batches. */
  stats: SolverStats;
}

/** Row ranges [start, end) of at most batchSize rows covering count rows. */
function batchRanges(count: number, batchSize: number): [number, number][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += batchSize) ranges.push([start, Math.min(count, start + batchSize)]);
  return ranges;
}

function rowCount(values: Float32Array, dim: number, what: string): number {
  if (values.length % dim !== 0) throw new Error(`${what}: length ${values.length} is not a multiple of dim ${dim}`);
  return values.length / dim;
}

function timeColumn(batch: number, t: number): tf.Tensor2D {
  return tf.fill([batch, 1], t) as tf.Tensor2D;
}

/** Samples x_1 by integrating dx/dt = v(x, t) from t = start (default 0) to 1 starting at the given states (n * d values). */
export async function sampleFlow(model: VelocityModel, noise: Float32Array, options: SampleOptions): Promise<Float32Array> {
  const dim = model.dim;
  const out = new Float32Array(noise.length);
  for (const [start, end] of batchRanges(rowCount(noise, dim, 'sampleFlow'), options.batchSize)) {
    const batch = end - start;
    const x0 = tf.tensor2d(noise.subarray(start * dim, end * dim), [batch, dim]);
    const field = options.guided ? guidedVelocity(model, options.guided, [start, end]) : (t: number, x: tf.Tensor2D) => model.forward(x, timeColumn(batch, t));
    // Guidance is singular at sigma = 0 (it moves observed coordinates along the conditional path,
    // (o - x)/(1 - t) for CondOT): guided sampling stops at T_MAX, 1e-5 short of the data.
    const { y } = await integrate(field, x0, options.start ?? 0, options.guided ? T_MAX : 1, options);
    out.set(await y.data(), start * dim);
    tf.dispose([x0, y]);
  }
  return out;
}

/** Divergence of v at (x, t) for every row, [B], from JVPs with fixed tangents (basis or probes). */
type DivergenceFromJvp = (jvp: tf.Tensor3D) => tf.Tensor1D;

/** The tangents one trajectory batch uses and how its divergence is read off their JVPs. */
function divergenceTangents(batch: number, dim: number, options: LikelihoodOptions): { tangents: tf.Tensor3D; readDivergence: DivergenceFromJvp } {
  if (options.divergence === 'exact') return { tangents: basisTangents(batch, dim), readDivergence: traceFromBasis };
  if (!options.rng) throw new Error("logLikelihood: divergence 'hutchinson' needs an rng for its probes");
  const probes = options.probes ?? 1;
  if (!Number.isInteger(probes) || probes < 1) throw new Error(`logLikelihood: probes must be a positive integer, got ${probes}`);
  // Drawn once per trajectory and held fixed along it, so the integrand is a smooth function of t.
  const tangents = drawProbes(options.rng, probes, batch, dim, options.probeDistribution ?? 'rademacher');
  return { tangents, readDivergence: (jvp) => tf.mean(probeQuadratic(tangents, jvp), 0) as tf.Tensor1D };
}

/** log N(z; 0, std^2 I) of the dim values of `values` starting at `offset`, in float64. */
function normalLogDensity(values: Float32Array, offset: number, dim: number, std: number): number {
  let squared = 0;
  for (let j = offset; j < offset + dim; j++) squared += values[j] * values[j];
  return -0.5 * (squared / (std * std) + dim * Math.log(2 * Math.PI * std * std));
}

/**
 * log p_1(x) of the flow of v (docs/math.md section 3): the augmented state [x, a] runs backward from t = 1
 * (x, 0) to t = 0 under dx/dt = v, da/dt = div v, which leaves a(0) = -integral_0^1 div v dt, so
 * log p_1(x) = log N(x(0); 0, sourceStd^2 I) + a(0).
 */
export async function logLikelihood(model: VelocityModel, x: Float32Array, options: LikelihoodOptions): Promise<LikelihoodResult> {
  const dim = model.dim;
  const count = rowCount(x, dim, 'logLikelihood');
  const logp = new Float64Array(count);
  const stats: SolverStats = { nfe: 0, steps: 0, rejected: 0 };
  for (const [start, end] of batchRanges(count, options.batchSize)) {
    const batch = end - start;
    const { tangents, readDivergence } = divergenceTangents(batch, dim, options);
    const augmentedRhs = (t: number, state: tf.Tensor2D): tf.Tensor2D => {
      const position = tf.slice(state, [0, 0], [batch, dim]);
      const { v, jvp } = model.forwardWithTangents(position, timeColumn(batch, t), tangents);
      return tf.concat([v, tf.reshape(readDivergence(jvp), [batch, 1]) as tf.Tensor2D], 1);
    };
    const state1 = tf.tidy(() => tf.concat([tf.tensor2d(x.subarray(start * dim, end * dim), [batch, dim]), tf.zeros([batch, 1]) as tf.Tensor2D], 1));
    const result = await integrate(augmentedRhs, state1, options.fromTime ?? 1, 0, options);
    const state0 = (await result.y.data()) as Float32Array;
    tf.dispose([tangents, state1, result.y]);
    for (let row = 0; row < batch; row++) {
      const offset = row * (dim + 1);
      logp[start + row] = normalLogDensity(state0, offset, dim, options.sourceStd ?? 1) + state0[offset + dim];
    }
    stats.nfe += result.stats.nfe;
    stats.steps += result.stats.steps;
    stats.rejected += result.stats.rejected;
  }
  return { logp, stats };
}
