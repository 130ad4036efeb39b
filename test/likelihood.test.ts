import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/backend/tf';
import { MixtureMarginalField } from '../src/models/gmm-field';
import { GaussianMixturePath } from '../src/paths/gaussian-mixture-path';
import { condOtSchedule } from '../src/paths/affine';
import { Mlp } from '../src/models/mlp';
import { VelocityModel } from '../src/models/model';
import { Rng } from '../src/random/rng';
import { LikelihoodOptions, logLikelihood, sampleFlow } from '../src/solvers/flow';
import { hutchinsonAgainstExact } from '../src/metrics/hutchinson-nll';
import { integrate, OdeFunction, SolverOptions } from '../src/solvers/ode';
import { useTestBackend } from './helpers/backend';

const MU = [1, -0.5];
const STD = 0.6;
const DIM = 2;
// Six points around and away from the mean; batchSize 4 below leaves a partial last batch.
const POINTS = new Float32Array([1, -0.5, 1.5, -0.2, 0.2, -1.1, 2.2, 0.6, -0.3, -1.9, 1.1, 0.4]);
const RK4: SolverOptions = { solver: 'rk4', steps: 50 };
const DOPRI5: SolverOptions = { solver: 'dopri5', rtol: 1e-5, atol: 1e-5 };

/** log N(x; mu, (s c)^2 I) per row: the field's image of the source N(0, c^2 I) (c = 1 unless given). */
function exactLogDensity(x: Float32Array, sourceStd = 1): number[] {
  const rows = x.length / DIM;
  const std = STD * sourceStd;
  return Array.from({ length: rows }, (_, row) => {
    let total = 0;
    for (let j = 0; j < DIM; j++) {
      const z = (x[row * DIM + j] - MU[j]) / std;
      total += -0.5 * z * z - Math.log(std) - 0.5 * Math.log(2 * Math.PI);
    }
    return total;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function meanAndStd(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(squares / (n - 1)) };
}

/** Column j of a row-major [n, DIM] array. */
const column = (x: Float32Array, j: number) => x.filter((_, i) => i % DIM === j);

/** Each point repeated `copies` times: rows of one point get independent Hutchinson probes. */
function repeatRows(x: Float32Array, copies: number): Float32Array {
  const out = new Float32Array(x.length * copies);
  for (let row = 0; row < x.length / DIM; row++) {
    for (let c = 0; c < copies; c++) out.set(x.subarray(row * DIM, (row + 1) * DIM), (row * copies + c) * DIM);
  }
  return out;
}

/**
 * Checks that the Hutchinson likelihood, averaged over independent probes, agrees with the exact-
 * divergence one: each point gets `copies` single-probe estimates, and their mean must lie within
 * 5 standard errors (plus solver round-off) of the exact value.
 */
async function assertHutchinsonUnbiased(model: VelocityModel, options: LikelihoodOptions, copies: number): Promise<void> {
  const exact = (await logLikelihood(model, POINTS, { ...options, divergence: 'exact' })).logp;
  const single = (await logLikelihood(model, repeatRows(POINTS, copies), { ...options, batchSize: 512, probes: 1 })).logp;
  exact.forEach((expected, row) => {
    const { mean, std } = meanAndStd(single.subarray(row * copies, (row + 1) * copies));
    const tolerance = (5 * std) / Math.sqrt(copies) + 1e-4;
    assert.ok(Math.abs(mean - expected) <= tolerance, `point ${row}: Hutchinson ${mean} ± ${std / Math.sqrt(copies)} vs exact ${expected}`);
  });
}

/**
 * log p_1 by brute force, independent of forwardWithTangents: the divergence is the trace of a
 * central finite-difference Jacobian of model.forward, integrated backward with the given solver.
 */
async function bruteForceLogLikelihood(model: VelocityModel, x: Float32Array, options: SolverOptions): Promise<number[]> {
  const batch = x.length / DIM;
  const h = 1e-2;
  const rhs: OdeFunction = (t, state) => {
    const position = tf.slice(state, [0, 0], [batch, DIM]);
    const time = tf.fill([batch, 1], t) as tf.Tensor2D;
    const partials = Array.from({ length: DIM }, (_, i) => {
      const shift = tf.mul(tf.oneHot([i], DIM), h);
      const difference = tf.sub(model.forward(tf.add(position, shift), time), model.forward(tf.sub(position, shift), time));
      return tf.div(tf.slice(difference, [0, i], [batch, 1]), 2 * h);
    });
    return tf.concat([model.forward(position, time), tf.addN(partials)], 1) as tf.Tensor2D;
  };
  const state1 = tf.tidy(() => tf.concat([tf.tensor2d(x, [batch, DIM]), tf.zeros([batch, 1])], 1) as tf.Tensor2D);
  const { y } = await integrate(rhs, state1, 1, 0, options);
  const state0 = y.dataSync();
  tf.dispose([state1, y]);
  return Array.from({ length: batch }, (_, row) => {
    const [a, b, divergenceIntegral] = state0.subarray(row * (DIM + 1), (row + 1) * (DIM + 1));
    return -0.5 * (a * a + b * b) - Math.log(2 * Math.PI) + divergenceIntegral;
  });
}

describe('flow sampling and likelihood', () => {
  let field: MixtureMarginalField;

  before(async () => {
    await useTestBackend();
    // A one-component mixture: the CondOT marginal field towards N(mu, s^2 I) in closed form.
    field = new MixtureMarginalField(new GaussianMixturePath({ weights: [1], means: [Array.from(MU)], stds: [STD] }, condOtSchedule(0)));
  });

  after(() => field.dispose());

  it('the closed-form Gaussian field is mu - x at t = 0 and x at t = 1, with its Jacobian', () => {
    // At t = 0 the field is mu - x; at t = 1 it is x (c_0 = -1, c_1 = 1).
    const x = tf.tensor2d([0.3, 0.7, -1, 2], [2, DIM]);
    const t = tf.tensor2d([0, 1], [2, 1]);
    const { v, jvp } = field.forwardWithTangents(x, t, tf.ones([1, 2, DIM]) as tf.Tensor3D);
    assertClose(v.dataSync(), [1 - 0.3, -0.5 - 0.7, -1, 2], 1e-6, 'v');
    assertClose(jvp.dataSync(), [-1, -1, 1, 1], 1e-6, 'jvp');
    tf.dispose([x, t, v, jvp]);
  });

  it('sampleFlow pushes N(0, I) to N(mu, s^2 I)', async () => {
    const count = 2000;
    const noise = new Rng('likelihood/noise').normalArray(count * DIM);
    const before = tf.memory().numTensors;
    const samples = await sampleFlow(field, noise, { solver: 'rk4', steps: 20, batchSize: 512 });
    assert.equal(tf.memory().numTensors, before);
    for (let j = 0; j < DIM; j++) {
      const { mean, std } = meanAndStd(column(samples, j));
      // 5 standard errors: s / sqrt(n) for the mean, about s / sqrt(2n) for the standard deviation.
      assert.ok(Math.abs(mean - MU[j]) <= (5 * STD) / Math.sqrt(count), `mean[${j}] = ${mean}`);
      assert.ok(Math.abs(std - STD) <= (5 * STD) / Math.sqrt(2 * count), `std[${j}] = ${std}`);
    }
    // The exact flow map is x1 = mu + s x0, so each sample can be checked too.
    assertClose(samples, Float32Array.from(noise, (z, i) => MU[i % DIM] + STD * z), 1e-4, 'sample');
  });

  it('sampleFlow started at a later time (a warm start) follows the same flow map from there', async () => {
    // This field's flow keeps each point's standardised value z: x_t = t mu + sqrt(t^2 s^2 + (1 - t)^2) z.
    const start = 0.4;
    const z = new Rng('likelihood/warm').normalArray(6 * DIM);
    const states = Float32Array.from(z, (v, i) => start * MU[i % DIM] + Math.hypot(start * STD, 1 - start) * v);
    const samples = await sampleFlow(field, states, { solver: 'rk4', steps: 20, batchSize: 4, start });
    assertClose(samples, Float32Array.from(z, (v, i) => MU[i % DIM] + STD * v), 1e-4, 'sample');
  });

  for (const [name, solver] of [
    ['rk4', RK4],
    ['dopri5', DOPRI5],
  ] as const) {
    it(`exact-divergence likelihood equals log N(x; mu, s^2 I) with ${name}`, async () => {
      const before = tf.memory().numTensors;
      const { logp, stats } = await logLikelihood(field, POINTS, { ...solver, batchSize: 4, divergence: 'exact' });
      assert.equal(tf.memory().numTensors, before);
      assertClose(logp, exactLogDensity(POINTS), 1e-3, 'logp');
      assert.ok(stats.nfe > 0 && stats.steps > 0);
    });
  }

  it('from a source N(0, c^2 I) the likelihood is that of the linear flow map mu + s x0: N(mu, (s c)^2 I)', async () => {
    const { logp } = await logLikelihood(field, POINTS, { ...RK4, batchSize: 4, divergence: 'exact', sourceStd: 2.5 });
    assertClose(logp, exactLogDensity(POINTS, 2.5), 1e-3, 'logp');
  });

  it('hutchinsonAgainstExact: no bias and no spread where Rademacher probes are exact, and the exact NLL per dimension', async () => {
    const compared = await hutchinsonAgainstExact(field, POINTS, { solver: { ...RK4, batchSize: 4 }, sourceStd: 1, repeats: 3, rng: new Rng('compare') });
    const expected = -exactLogDensity(POINTS).reduce((a, b) => a + b, 0) / (POINTS.length / DIM) / DIM;
    assertClose([compared.exactNllPerDim], [expected], 1e-3, 'exact NLL per dimension');
    assertClose([compared.biasPerDim, compared.sdPerDim], [0, 0], 1e-4, 'bias and spread');
  });

  it('Rademacher Hutchinson is exact for a field whose Jacobian is a multiple of the identity', async () => {
    const { logp } = await logLikelihood(field, POINTS, { ...RK4, batchSize: 4, divergence: 'hutchinson', rng: new Rng('rademacher') });
    assertClose(logp, exactLogDensity(POINTS), 1e-3, 'logp');
  });

  it('Gaussian-probe Hutchinson likelihood averages to the exact one', async () => {
    const options: LikelihoodOptions = {
      solver: 'rk4',
      steps: 10,
      batchSize: 4,
      divergence: 'hutchinson',
      probeDistribution: 'gaussian',
      rng: new Rng('gaussian-probes'),
    };
    await assertHutchinsonUnbiased(field, options, 400);
  });

  it('averaging many probes per trajectory shrinks the Hutchinson error', async () => {
    const options: LikelihoodOptions = { solver: 'rk4', steps: 10, batchSize: 4, divergence: 'hutchinson', probeDistribution: 'gaussian' };
    const exact = exactLogDensity(POINTS);
    // A single Gaussian probe errs by |d log s| * |chi^2_2 / 2 - 1| ~ 1 nat; 256 probes by about 1/16 of that.
    const many = (await logLikelihood(field, POINTS, { ...options, probes: 256, rng: new Rng('many') })).logp;
    assertClose(many, exact, 5 * (2 * Math.abs(Math.log(STD))) / 16, 'logp with 256 probes');
  });

  describe('through an untrained Mlp', () => {
    let mlp: Mlp;
    before(() => {
      mlp = new Mlp({ dim: 2, hidden: 16, depth: 2 }, new Rng('x'));
    });
    after(() => mlp.dispose());

    it('exact-divergence likelihood matches a finite-difference brute force', async () => {
      const before = tf.memory().numTensors;
      const { logp } = await logLikelihood(mlp, POINTS, { ...RK4, batchSize: 4, divergence: 'exact' });
      assert.equal(tf.memory().numTensors, before);
      // The untrained net's divergence integral is only 0.01-0.03 nats, so 1e-3 would hide a 10% error;
      // the two routes agree to ~3e-7.
      assertClose(logp, await bruteForceLogLikelihood(mlp, POINTS, RK4), 1e-5, 'logp');
    });

    it('Rademacher Hutchinson likelihood averages to the exact one', async () => {
      await assertHutchinsonUnbiased(mlp, { solver: 'rk4', steps: 10, batchSize: 4, divergence: 'hutchinson', rng: new Rng('mlp-probes') }, 200);
    });

    it('hutchinsonAgainstExact sees the probes\' spread where the Jacobian is not a multiple of the identity', async () => {
      const compared = await hutchinsonAgainstExact(mlp, POINTS, { solver: { ...RK4, batchSize: 4 }, sourceStd: 1, repeats: 8, rng: new Rng('mlp-compare') });
      assert.ok(compared.sdPerDim > 1e-5, `spread ${compared.sdPerDim}`);
      // Unbiased: the mean difference is within 4 standard errors of 0.
      const count = 8 * (POINTS.length / 2);
      assert.ok(Math.abs(compared.biasPerDim) < (4 * compared.sdPerDim) / Math.sqrt(count), `bias ${compared.biasPerDim}, sd ${compared.sdPerDim}`);
    });
  });
});
