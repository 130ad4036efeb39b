import * as tf from '../backend/tf';
import { SimplexPath, tangentDivergence } from './simplex';

/** Where a batch of sequences sits: B sequences of L positions on the K-simplex, at per-sequence times. */
export interface SimplexPoints {
  /** Points, [B * L * K] row-major. */
  x: Float32Array | Float64Array;
  /** Path times (t for the linear path, alpha for the Dirichlet path), [B]. */
  times: ArrayLike<number>;
  length: number;
  classes: number;
}

/** The denoiser's inputs: points and times. */
export interface DenoiserInputs {
  x: tf.Tensor3D;
  /** Times scaled to [0, 1] over the path's range, the model's time input, [B, 1]. */
  tau: tf.Tensor2D;
}

/** What the denoiser field v = sum_j p(j|x) c(x_j, t) (e_j - x) needs besides the model's probabilities. */
export interface FieldInputs extends DenoiserInputs {
  /** c(x_j, t) for every class j, [B, L, K]. */
  speed: tf.Tensor3D;
  /** dc/db at b = x_j for every class j, [B, L, K]. */
  speedSlope: tf.Tensor3D;
}

/** Points, times and the clean tokens: all the cross-entropy (CFM) loss needs. */
export interface TokenBatch extends DenoiserInputs {
  /** One-hot targets, [B, L, K]. */
  target: tf.Tensor3D;
}

/** The conditional quantities of the targets' paths at the points, summed over positions where scalar. */
export interface SimplexConditional extends FieldInputs, TokenBatch {
  /** u(x | e_k), [B, L, K]. */
  u: tf.Tensor3D;
  /** Tangent score of p_t(x | e_k), [B, L, K]. */
  score: tf.Tensor3D;
  /** Tangent divergence of u summed over positions, [B]. */
  divU: tf.Tensor1D;
  /** w = min(1, L (K - 1) / |div u|), [B]: see residualWeight. */
  weight: tf.Tensor1D;
}

/**
 * The residual's weight min(1, d / |div u|), d = L (K - 1) the tangent dimension. docs/math.md section 1
 * gives d / |div u|, which is 1 - t on the linear path (as sigma_t on CondOT, where |div u| >= d
 * always). On the Dirichlet path |div u| is far below d (about 3 against d = 156 for L = 4, K = 40)
 * and crosses zero near x_k = 0.01-0.03, where x_k sits at small alpha, so d / |div u| would
 * multiply the residual by 50 typically and by thousands at times: capping at 1 keeps the linear
 * path's weight and leaves the Dirichlet residual, already of order 1, unweighted.
 */
export function residualWeight(divU: number, tangentDim: number): number {
  return Math.min(1, tangentDim / Math.abs(divU));
}

/** The model's time input: the path's time mapped linearly from its range onto [0, 1]. */
export function scaledTime(path: SimplexPath, t: number): number {
  const [start, end] = path.timeRange;
  return (t - start) / (end - start);
}

/**
 * Coordinates at which c and dc/db are evaluated are at least this: C(0) = 0, but dC/db grows like
 * -ln(b)/alpha as b -> 0, and an Euler step put back on the simplex can leave exact zeros.
 */
export const MIN_COORDINATE = 1e-12;

function denoiserInputs(path: SimplexPath, points: SimplexPoints): DenoiserInputs {
  const { x, times, length, classes } = points;
  const batch = times.length;
  return {
    x: tf.tensor3d(Float32Array.from(x), [batch, length, classes]),
    tau: tf.tensor2d(Float32Array.from(times, (t) => scaledTime(path, t)), [batch, 1]),
  };
}

function oneHot(targets: Int32Array, points: SimplexPoints): tf.Tensor3D {
  const { x, times, length, classes } = points;
  const values = new Float32Array(x.length);
  targets.forEach((k, i) => (values[i * classes + k] = 1));
  return tf.tensor3d(values, [times.length, length, classes]);
}

/** The denoiser's inputs and the one-hot tokens, without the path's speeds (the CFM loss does not need them). */
export function tokenBatch(path: SimplexPath, points: SimplexPoints, targets: Int32Array): TokenBatch {
  return { ...denoiserInputs(path, points), target: oneHot(targets, points) };
}

/** c and dc/db at every class of every position, [B * L * K] each, evaluated in float64 on the CPU. */
function classSpeeds(path: SimplexPath, points: SimplexPoints): { speed: Float64Array; slope: Float64Array } {
  const { x, times, length, classes } = points;
  const speed = new Float64Array(x.length);
  const slope = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const { c, dc } = path.speed(Math.max(x[i], MIN_COORDINATE), times[Math.floor(i / (length * classes))], classes);
    speed[i] = c;
    slope[i] = dc;
  }
  return { speed, slope };
}

function withSpeeds(path: SimplexPath, points: SimplexPoints, speeds: { speed: Float64Array; slope: Float64Array }): FieldInputs {
  const shape: [number, number, number] = [points.times.length, points.length, points.classes];
  return {
    ...denoiserInputs(path, points),
    speed: tf.tensor3d(Float32Array.from(speeds.speed), shape),
    speedSlope: tf.tensor3d(Float32Array.from(speeds.slope), shape),
  };
}

/** Field inputs plus the conditional quantities of the target classes (one per position, [B * L]). */
export function conditionalBatch(path: SimplexPath, points: SimplexPoints, targets: Int32Array): SimplexConditional {
  const { x, times, length, classes } = points;
  const batch = times.length;
  const speeds = classSpeeds(path, points);
  const u = new Float32Array(x.length);
  const score = new Float32Array(x.length);
  const divU = new Float32Array(batch);
  for (let seq = 0; seq < batch; seq++) {
    const t = times[seq];
    for (let pos = 0; pos < length; pos++) {
      const row = (seq * length + pos) * classes;
      const k = targets[seq * length + pos];
      const b = x[row + k];
      const [c, dc] = [speeds.speed[row + k], speeds.slope[row + k]];
      const a = path.scoreCoefficient(b, t, classes);
      for (let j = 0; j < classes; j++) {
        const toVertex = (j === k ? 1 : 0) - x[row + j];
        u[row + j] = c * toVertex;
        score[row + j] = a * ((j === k ? 1 : 0) - 1 / classes);
      }
      divU[seq] += tangentDivergence(b, c, dc, classes);
    }
  }
  const tangentDim = length * (classes - 1);
  const shape: [number, number, number] = [batch, length, classes];
  return {
    ...withSpeeds(path, points, speeds),
    target: oneHot(targets, points),
    u: tf.tensor3d(u, shape),
    score: tf.tensor3d(score, shape),
    divU: tf.tensor1d(divU),
    weight: tf.tensor1d(divU.map((d) => residualWeight(d, tangentDim))),
  };
}
