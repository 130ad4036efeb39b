import * as tf from '../backend/tf';
import { denoiserField } from '../losses/simplex-loss';
import { SimplexDenoiser } from '../models/simplex-cnn';
import { SimplexPath } from '../paths/simplex';
import { MIN_COORDINATE } from '../paths/simplex-batch';
import { scaledTime } from '../paths/simplex-batch';
import { speedTable } from '../paths/speed-table';
import { Rng } from '../random/rng';

export interface SimplexSamplingOptions {
  length: number;
  classes: number;
  /** Euler steps over the path's time range. */
  steps: number;
  /** Sequences integrated at once. */
  batchSize: number;
}

/** Moves each position back onto the simplex after an Euler step: negative entries to 0, then renormalised. */
export function projectToSimplex(x: Float64Array, classes: number): void {
  for (let row = 0; row < x.length; row += classes) {
    let total = 0;
    for (let j = row; j < row + classes; j++) total += x[j] = Math.max(x[j], 0);
    for (let j = row; j < row + classes; j++) x[j] /= total;
  }
}

/** One class per position drawn from probabilities [n * L * K]. */
function drawTokens(probs: Float32Array, classes: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: probs.length / classes }, (_, i) => rng.categorical(probs, i * classes, classes));
}

/**
 * Generates `count` sequences [count * L] of class indices: Euler steps of the denoiser's field from
 * Dir(1) noise over the path's time range (t from 0 to 1, or alpha from 1 to alphaMax), the state put
 * back on the simplex after each step. Each token is drawn from the denoiser's p(k | x) at the last
 * step: if the flow's state has the path's marginal there, the tokens have the data distribution
 * exactly, whereas Dirichlet FM's argmax would be biased towards the modes while alphaMax is finite.
 * On the linear path the last Euler step lands on those very probabilities.
 */
export async function sampleSimplexFlow(model: SimplexDenoiser, path: SimplexPath, count: number, opts: SimplexSamplingOptions, rng: Rng): Promise<Int32Array> {
  const { length, classes, steps, batchSize } = opts;
  const [start, end] = path.timeRange;
  const dt = (end - start) / steps;
  const tokens = new Int32Array(count * length);
  for (let first = 0; first < count; first += batchSize) {
    const n = Math.min(batchSize, count - first);
    const x = new Float64Array(n * length * classes);
    for (let i = 0; i < n * length; i++) path.sampleNoise(classes, rng, x, i * classes);
    let probs: Float32Array = new Float32Array(0);
    const shape: [number, number, number] = [n, length, classes];
    for (let step = 0; step < steps; step++) {
      const t = start + step * dt;
      const speedAt = speedTable(path, t, classes);
      const speed = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) speed[i] = speedAt(Math.max(x[i], MIN_COORDINATE));
      const [p, v] = tf.tidy(() => {
        const inputs = { x: tf.tensor3d(Float32Array.from(x), shape), speed: tf.tensor3d(speed, shape) };
        const p = tf.softmax(model.logits(inputs.x, tf.fill([n, 1], scaledTime(path, t)) as tf.Tensor2D)) as tf.Tensor3D;
        return [p, denoiserField(p, inputs)];
      });
      // The simplex projection runs on the CPU in float64, so every step reads the field back.
      const [pValues, velocity] = await Promise.all([p.data(), v.data()]);
      probs = pValues as Float32Array;
      tf.dispose([p, v]);
      for (let i = 0; i < x.length; i++) x[i] += dt * velocity[i];
      projectToSimplex(x, classes);
    }
    tokens.set(drawTokens(probs, classes, rng), first * length);
  }
  return tokens;
}
