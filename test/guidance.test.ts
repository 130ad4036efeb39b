import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { TangentOutput, VelocityModel } from '../src/models/model';
import { AffineSchedule, condOtSchedule, cosineSchedule, veSchedule } from '../src/paths/affine';
import { T_MAX } from '../src/paths/time-sampling';
import { Rng } from '../src/random/rng';
import { sampleFlow } from '../src/solvers/flow';
import { eventGuidance, observationGuidance, PROBIT_LOGISTIC_SCALE } from '../src/solvers/guidance';
import { useTestBackend } from './helpers/backend';
import { assertClose } from './helpers/numeric';

/**
 * The exact marginal field of data N(m, s^2 I) on an affine path, in tf ops (so that the tape
 * differentiates through it): x_t ~ N(alpha m, (alpha^2 s^2 + sigma^2) I), the posterior mean
 * x̂1 = m + gain (x - alpha m) with gain = alpha s^2 / (alpha^2 s^2 + sigma^2), and
 * v = (sigma'/sigma) x + (alpha' - sigma' alpha/sigma) x̂1. t is one time for the whole batch, taken
 * at most T_MAX, where the two terms' 1/sigma parts still cancel in float arithmetic.
 */
class GaussianField implements VelocityModel {
  readonly variables: tf.Variable[] = [];
  constructor(readonly dim: number, readonly mean: number, readonly std: number, readonly schedule: AffineSchedule) {}

  coefficients(time: number) {
    const t = Math.min(time, T_MAX);
    const s = this.schedule;
    const [alpha, sigma] = [s.alpha(t), s.sigma(t)];
    const gain = (alpha * this.std ** 2) / (alpha ** 2 * this.std ** 2 + sigma ** 2);
    const rate = s.dSigma(t) / sigma;
    return { alpha, sigma, gain, rate, drift: s.dAlpha(t) - rate * alpha };
  }

  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    const c = this.coefficients(t.dataSync()[0]);
    return tf.tidy(() => tf.add(tf.mul(c.rate, x), tf.mul(c.drift, tf.add(this.mean, tf.mul(c.gain, tf.sub(x, c.alpha * this.mean)))))) as tf.Tensor2D;
  }

  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    const c = this.coefficients(t.dataSync()[0]);
    return { v: this.forward(x, t), jvp: tf.mul(c.rate + c.drift * c.gain, tangents) as tf.Tensor3D };
  }

  flopsPerSample(): number {
    return 0;
  }

  dispose(): void {}
}

describe('guidance (conditioned sampling of an affine-path flow)', () => {
  before(useTestBackend);

  it('the event guidance equals lambda_t grad log sigmoid(1.6 C/std) with the posterior of Gaussian data, computed independently', () => {
    // Data N(0.3, 0.8^2 I) in 3 dimensions, C(x) = w.x - b: x1 | x_t is N(x̂1, s^2 sigma^2/(alpha^2 s^2 + sigma^2) I),
    // so C(x1) | x_t has mean w.x̂1 - b and variance |w|^2 times that (the guidance adds reg sigma^2/alpha^2).
    const [m, s, reg] = [0.3, 0.8, 1e-3];
    const w = [0.5, -1.2, 0.7], b = 0.4;
    for (const schedule of [condOtSchedule(), cosineSchedule, veSchedule()]) {
      const field = new GaussianField(3, m, s, schedule);
      const guidance = eventGuidance((x) => tf.sub(tf.sum(tf.mul(x, tf.tensor1d(w)), 1), b) as tf.Tensor1D, reg);
      const x = [[0.2, -0.5, 1.1], [-1.4, 0.3, 0.05]];
      for (const t of [0.1, 0.5, 0.9]) {
        const delta = tf.tidy(() => guidance(field, schedule, tf.tensor2d(x), t, [0, 2]).correction.arraySync() as number[][]);
        const c = field.coefficients(t);
        const w2 = w.reduce((acc, v) => acc + v * v, 0);
        const std = Math.sqrt((w2 * s * s * c.sigma ** 2) / (c.alpha ** 2 * s * s + c.sigma ** 2) + (reg * c.sigma ** 2) / c.alpha ** 2);
        // lambda_t relates a change of the score to one of the field (docs in solvers/guidance.ts).
        const lambda = c.sigma ** 2 * (schedule.dAlpha(t) / c.alpha - schedule.dSigma(t) / c.sigma);
        const logLikelihood = (row: number[]) => {
          const xHat = row.map((v) => m + c.gain * (v - c.alpha * m));
          const C = xHat.reduce((acc, v, i) => acc + w[i] * v, 0) - b;
          return -Math.log1p(Math.exp((-PROBIT_LOGISTIC_SCALE * C) / std));
        };
        x.forEach((row, r) =>
          row.forEach((_, i) => {
            const h = 1e-5;
            const [up, down] = [row.map((v, j) => (j === i ? v + h : v)), row.map((v, j) => (j === i ? v - h : v))];
            const expected = (lambda * (logLikelihood(up) - logLikelihood(down))) / (2 * h);
            assertClose(delta[r][i], expected, 1e-5, 1e-3, `${schedule.name} t=${t} row ${r} coordinate ${i}`);
          }),
        );
      }
    }
  });

  it('samples of Gaussian data conditioned on x_0 > 0 follow the half-normal (logistic link), the other coordinate untouched', async () => {
    const schedule = condOtSchedule();
    const field = new GaussianField(2, 0, 1, schedule);
    const n = 2000;
    const noise = new Rng('guidance-event').normalArray(n * 2);
    const guided = { schedule, guidance: eventGuidance((x) => tf.reshape(tf.slice(x, [0, 0], [-1, 1]), [-1]) as tf.Tensor1D) };
    const tensors = tf.memory().numTensors;
    const samples = await sampleFlow(field, noise, { solver: 'rk4', steps: 100, batchSize: 500, guided });
    assert.equal(tf.memory().numTensors, tensors, 'guided sampling leaves no tensors behind');
    const first = Array.from({ length: n }, (_, i) => samples[2 * i]);
    const second = Array.from({ length: n }, (_, i) => samples[2 * i + 1]);
    const fraction = first.filter((v) => v > 0).length / n;
    const mean = (values: number[]) => values.reduce((a, v) => a + v, 0) / values.length;
    assert.ok(fraction > 0.97, `P(x_0 > 0) = ${fraction}`);
    // The half-normal's mean sqrt(2/pi) = 0.798, within 4 standard errors (sd 0.60 / sqrt(2000) = 0.013).
    assertClose(mean(first), Math.sqrt(2 / Math.PI), 0.054, 0, 'mean of the conditioned coordinate');
    assertClose(mean(second), 0, 0.09, 0, 'mean of the free coordinate');
    assertClose(mean(second.map((v) => v * v)), 1, 0.13, 0, 'second moment of the free coordinate');
  });

  it('observed coordinates end at their values; with independent coordinates the others keep their law', async () => {
    const schedule = condOtSchedule();
    const field = new GaussianField(3, 0.5, 1.5, schedule);
    const n = 1000;
    const observed = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) observed[3 * i] = -1 + (2 * i) / n;
    const guided = { schedule, guidance: observationGuidance(observed, Float32Array.from([1, 0, 0]), 10) };
    const tensors = tf.memory().numTensors;
    const samples = await sampleFlow(field, new Rng('guidance-observed').normalArray(n * 3), { solver: 'rk4', steps: 50, batchSize: 250, guided });
    assert.equal(tf.memory().numTensors, tensors, 'guided sampling leaves no tensors behind');
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(samples[3 * i] - observed[3 * i]));
    assert.ok(worst < 1e-3, `observed coordinate off by ${worst}`);
    const free = Array.from({ length: n }, (_, i) => samples[3 * i + 2]);
    const mean = free.reduce((a, v) => a + v, 0) / n;
    const variance = free.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
    // Within 4 standard errors (1.5/sqrt(1000) = 0.047).
    assertClose(mean, 0.5, 0.2, 0, 'mean of a free coordinate');
    // Within 4.5 standard errors (the sample variance of 1000 normals has s.e. 2.25 sqrt(2/999) = 0.10).
    assertClose(variance, 2.25, 0.45, 0, 'variance of a free coordinate');
  });
});
