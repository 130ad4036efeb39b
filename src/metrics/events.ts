import * as tf from '../backend/tf';

/**
 * Event statistics of trajectories (Finzi et al., ICML 2023, as the FDM repository defines them in
 * userfm/event_constraints.py): a constraint C(x) of a whole trajectory, and the event C > 0. The
 * paper's dynamics table compares the distribution of C under the model with the data's.
 */

/** A trajectory of `length` points of `stateDim` values, time-major, starting at `offset`. */
export interface TrajectoryView {
  values: ArrayLike<number>;
  offset: number;
  length: number;
  stateDim: number;
}

/** Magnitudes |X_f| of the real DFT X_f = sum_t x_t e^{-2 pi i f t / n} for f = 0 .. floor(n/2) (numpy's rfft, unnormalised). */
export function realDftMagnitudes(x: ArrayLike<number>): number[] {
  const n = x.length;
  return Array.from({ length: Math.floor(n / 2) + 1 }, (_, f) => {
    let re = 0, im = 0;
    for (let t = 0; t < n; t++) {
      const angle = (2 * Math.PI * f * t) / n;
      re += x[t] * Math.cos(angle);
      im -= x[t] * Math.sin(angle);
    }
    return Math.hypot(re, im);
  });
}

function channel(trajectory: TrajectoryView, c: number): number[] {
  const { values, offset, length, stateDim } = trajectory;
  return Array.from({ length }, (_, t) => values[offset + t * stateDim + c]);
}

/** Lorenz: C = 0.6 - mean over frequencies f >= 1 of |rfft(first coordinate)|; an event is a quiet (low-amplitude) trajectory. */
export function lorenzConstraint(trajectory: TrajectoryView): number {
  const magnitudes = realDftMagnitudes(channel(trajectory, 0)).slice(1);
  return 0.6 - magnitudes.reduce((a, b) => a + b, 0) / magnitudes.length;
}

/** FitzHugh-Nagumo: C = max over time of the mean of the two voltages, minus 2.5; an event is a large spike. */
export function fitzhughNagumoConstraint(trajectory: TrajectoryView): number {
  const [x1, x2] = [channel(trajectory, 0), channel(trajectory, 1)];
  return Math.max(...x1.map((v, t) => (v + x2[t]) / 2)) - 2.5;
}

/** C of every trajectory of a flat batch [n, length, stateDim]. */
export function constraintValues(constraint: (t: TrajectoryView) => number, values: ArrayLike<number>, length: number, stateDim: number): number[] {
  const size = length * stateDim;
  return Array.from({ length: values.length / size }, (_, i) => constraint({ values, offset: i * size, length, stateDim }));
}

export interface EventComparison {
  /** KL(data || model) of the histograms of C (the model's with a pseudo-count of 1/2 per bin). */
  kl: number;
  /** Total variation between the two histograms, (1/2) sum |p - q|. */
  tv: number;
  /** P(C > 0) under the data and the model, and the model's Monte-Carlo standard error. */
  eventRateData: number;
  eventRateModel: number;
  eventRateModelStdErr: number;
}

/**
 * Histograms of C over `bins` equal bins spanning the data's range, plus one bin below and one above
 * it for the model's values outside (the data has none there), compared. Without the pseudo-count
 * KL(data || model) would be infinite as soon as the model misses one bin the data reaches, which a
 * finite sample does by chance; the Krichevsky-Trofimov 1/2 keeps it finite and vanishes as n grows.
 */
export function compareEvents(data: readonly number[], model: readonly number[], bins = 128): EventComparison {
  if (data.length === 0 || model.length === 0) throw new Error('compareEvents: needs data and model values');
  const low = Math.min(...data), high = Math.max(...data);
  const width = (high - low) / bins || 1;
  // Index 0 is below the data's range, bins + 1 above it; the data's maximum belongs to the last inner bin.
  const binOf = (v: number) => (v < low ? 0 : v > high ? bins + 1 : 1 + Math.min(bins - 1, Math.floor((v - low) / width)));
  const histogram = (values: readonly number[]) => {
    const counts = new Float64Array(bins + 2);
    for (const v of values) counts[binOf(v)] += 1;
    return counts;
  };
  const [p, q] = [histogram(data), histogram(model)];
  let kl = 0, tv = 0;
  for (let b = 0; b < bins + 2; b++) {
    const pb = p[b] / data.length;
    if (pb > 0) kl += pb * Math.log(pb / ((q[b] + 0.5) / (model.length + (bins + 2) / 2)));
    tv += Math.abs(pb - q[b] / model.length) / 2;
  }
  const rate = (values: readonly number[]) => values.filter((v) => v > 0).length / values.length;
  const eventRateModel = rate(model);
  return {
    kl,
    tv,
    eventRateData: rate(data),
    eventRateModel,
    eventRateModelStdErr: Math.sqrt((eventRateModel * (1 - eventRateModel)) / model.length),
  };
}

/**
 * The constraints as differentiable tf functions of a batch of flat trajectories [B, length *
 * stateDim] -> [B], for guidance (solvers/guidance.ts). The functions above stay the metrics' float64
 * definition; tests hold the two equal.
 */
export type TrajectoryStatistic = (length: number, stateDim: number) => (x: tf.Tensor2D) => tf.Tensor1D;

function channelTf(x: tf.Tensor2D, length: number, stateDim: number, c: number): tf.Tensor2D {
  return tf.reshape(tf.slice(tf.reshape(x, [-1, length, stateDim]), [0, 0, c], [-1, length, 1]), [-1, length]) as tf.Tensor2D;
}

/** Lorenz's C by the real DFT as two matrix products (cos and sin of 2 pi f t / n for f >= 1). */
export const lorenzConstraintTf: TrajectoryStatistic = (length, stateDim) => {
  const frequencies = Math.floor(length / 2);
  const basis = (f: (angle: number) => number) =>
    tf.tensor2d(Float32Array.from({ length: length * frequencies }, (_, i) => f((2 * Math.PI * (Math.floor(i / frequencies) * ((i % frequencies) + 1))) / length)), [length, frequencies]);
  return (x) =>
    tf.tidy(() => {
      const signal = channelTf(x, length, stateDim, 0);
      const [re, im] = [tf.matMul(signal, basis(Math.cos)), tf.matMul(signal, basis(Math.sin))];
      // The 1e-12 keeps the gradient of |X_f| finite where X_f = 0.
      const magnitudes = tf.sqrt(tf.add(tf.add(tf.square(re), tf.square(im)), 1e-12));
      return tf.sub(0.6, tf.mean(magnitudes, 1)) as tf.Tensor1D;
    });
};

/** FitzHugh-Nagumo's C: the largest mean of the two voltages over time, minus 2.5. */
export const fitzhughNagumoConstraintTf: TrajectoryStatistic = (length, stateDim) => (x) =>
  tf.tidy(() => tf.sub(tf.max(tf.div(tf.add(channelTf(x, length, stateDim, 0), channelTf(x, length, stateDim, 1)), 2), 1), 2.5) as tf.Tensor1D);
