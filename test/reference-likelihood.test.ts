import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { ReferenceEvaluationFile } from '../src/reproduce/evaluations';
import { GaussianMixture, sampleMixture } from '../src/datasets/gaussian-mixture';
import { basisTangents, drawProbes, probeQuadratic, traceFromBasis } from '../src/losses/divergence';
import {
  evaluationsOverTraining,
  expectedMaxOfStandardNormals,
  REFERENCE_PROTOCOL,
  referenceLogLikelihood,
} from '../src/metrics/reference-likelihood';
import { MixtureMarginalField } from '../src/models/gmm-field';
import { Mlp } from '../src/models/mlp';
import { condOtSchedule } from '../src/paths/affine';
import { GaussianMixturePath } from '../src/paths/gaussian-mixture-path';
import { Rng } from '../src/random/rng';
import { logLikelihood } from '../src/solvers/flow';
import { useTestBackend } from './helpers/backend';
import { cliAsync } from './helpers/cli';

const SQRT_PI = Math.sqrt(Math.PI);

function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

function sdOf(values: ArrayLike<number>): number {
  const m = meanOf(values);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] - m) ** 2;
  return Math.sqrt(sum / (values.length - 1));
}

describe('expected maximum of n standard normals', () => {
  it('matches the closed forms for n = 1 to 5', () => {
    // n = 4, 5: (3 / (2 sqrt(pi))) (1 + (2/pi) asin(1/3)) and (5 / (4 sqrt(pi))) (1 + (6/pi) asin(1/3)).
    const known: [number, number][] = [
      [1, 0],
      [2, 1 / SQRT_PI],
      [3, 1.5 / SQRT_PI],
      [4, (3 / (2 * SQRT_PI)) * (1 + (2 / Math.PI) * Math.asin(1 / 3))],
      [5, (5 / (4 * SQRT_PI)) * (1 + (6 / Math.PI) * Math.asin(1 / 3))],
    ];
    for (const [n, value] of known) assert.ok(Math.abs(expectedMaxOfStandardNormals(n) - value) < 1e-9, `n = ${n}: ${expectedMaxOfStandardNormals(n)} vs ${value}`);
  });

  it('agrees with a Monte Carlo estimate at n = 150 (about 2.65) and grows with n', () => {
    const n = 150;
    const replicates = 20000;
    const rng = new Rng('expected-max');
    const maxima = new Float64Array(replicates);
    for (let r = 0; r < replicates; r++) {
      let best = -Infinity;
      for (let i = 0; i < n; i++) best = Math.max(best, rng.normal());
      maxima[r] = best;
    }
    const exact = expectedMaxOfStandardNormals(n);
    const standardError = sdOf(maxima) / Math.sqrt(replicates);
    assert.ok(Math.abs(meanOf(maxima) - exact) < 4 * standardError, `Monte Carlo ${meanOf(maxima)} ± ${standardError} vs ${exact}`);
    assert.ok(exact > 2.6 && exact < 2.7);
    // Tabulated values: 2.50759 at n = 100, 3.24144 at n = 1000.
    assert.ok(Math.abs(expectedMaxOfStandardNormals(100) - 2.50759) < 1e-5);
    assert.ok(Math.abs(expectedMaxOfStandardNormals(1000) - 3.24144) < 1e-5);
    assert.throws(() => expectedMaxOfStandardNormals(0), /positive integer/);
  });

  it('counts the evaluations the reference makes: after iterations 200, 400, ...', () => {
    assert.equal(evaluationsOverTraining(30001), 150);
    assert.equal(evaluationsOverTraining(3000), 15);
    assert.equal(evaluationsOverTraining(199), 0);
  });
});

describe('the reference likelihood protocol', () => {
  // gmm2d's mixture: the exact CondOT marginal field (sigma_min = 0) carries N(0, I) to it exactly.
  const MIXTURE: GaussianMixture = {
    weights: [0.1, 0.2, 0.3, 0.4],
    means: [[-1.5, -1.5], [1.5, -1.5], [-1.5, 1.5], [1.5, 1.5]],
    stds: [0.35, 0.35, 0.35, 0.35],
  };
  const target = new GaussianMixturePath(MIXTURE, condOtSchedule(0));
  const field = new MixtureMarginalField(target);
  const sample = (n: number, rng: Rng) => sampleMixture(MIXTURE, n, rng);
  const exactLogDensity = (x: Float32Array, row: number) => target.at(x.subarray(2 * row, 2 * row + 2), 1).logDensity;

  before(useTestBackend);

  it("matches the exact mean log-density of the data within its own standard errors (and Euler's measured bias)", async () => {
    const result = await referenceLogLikelihood(field, sample, new Rng('protocol-vs-exact'));
    assert.equal(result.batchMeans.length, REFERENCE_PROTOCOL.batches);
    assert.ok(Math.abs(result.meanLogDensity - meanOf(result.batchMeans)) < 1e-12);
    assert.equal(result.likelihood, Math.exp(result.meanLogDensity));
    // E_q[log q] by Monte Carlo on 100,000 fresh points (s.e. about 0.003).
    const fresh = sample(100_000, new Rng('expected-log-density'));
    const logq = Float64Array.from({ length: 100_000 }, (_, i) => exactLogDensity(fresh, i));
    const expected = meanOf(logq);
    const expectedSe = sdOf(logq) / Math.sqrt(logq.length);
    // One evaluation's s.e. (from its 10 batches) is about 0.015 nats here. Euler with step 0.01
    // overestimates the log-density of this flow by +0.018 to +0.019 nats (measured on three seeds,
    // and pinned down in the next test), about 1.2 of those standard errors; 3 s.e. cover both.
    const tolerance = 3 * Math.hypot(result.stdErr, expectedSe);
    assert.ok(Math.abs(result.meanLogDensity - expected) < tolerance, `protocol ${result.meanLogDensity} ± ${result.stdErr} vs exact ${expected} ± ${expectedSe}`);
  });

  it("differs from the exact log-density on the same points only by Euler's bias and zero-mean probe noise", async () => {
    const rng = new Rng('paired');
    const result = await referenceLogLikelihood(field, sample, rng);
    // The same batches again (the protocol draws them from rng.fork('data')), with the exact divergence.
    const data = rng.fork('data');
    const probeNoise: number[] = [];
    let eulerBias = 0;
    for (let b = 0; b < REFERENCE_PROTOCOL.batches; b++) {
      const x = sample(REFERENCE_PROTOCOL.batchSize, data);
      const euler = (await logLikelihood(field, x, { solver: 'euler', steps: 100, batchSize: 512, divergence: 'exact' })).logp;
      let exact = 0;
      for (let i = 0; i < euler.length; i++) exact += exactLogDensity(x, i);
      eulerBias += (meanOf(euler) - exact / euler.length) / REFERENCE_PROTOCOL.batches;
      // The probe does not move the trajectory, so protocol minus exact-divergence Euler is
      // -0.01 sum_k (z^T J z - tr J): zero in expectation over the probe.
      probeNoise.push(result.batchMeans[b] - meanOf(euler));
    }
    // Measured: +0.0180, +0.0186, +0.0193 nats on three seeds (Euler's first-order error; see the next test).
    assert.ok(eulerBias > 0.012 && eulerBias < 0.026, `Euler bias ${eulerBias}`);
    const noiseSe = sdOf(probeNoise) / Math.sqrt(probeNoise.length);
    assert.ok(Math.abs(meanOf(probeNoise)) < 4 * noiseSe, `probe noise ${meanOf(probeNoise)} ± ${noiseSe}`);
  });

  it("the bias is Euler's: a tenth of it with 1,000 steps (first order)", async () => {
    const x = sample(256, new Rng('euler-order'));
    let exact = 0;
    for (let i = 0; i < 256; i++) exact += exactLogDensity(x, i) / 256;
    const bias = async (steps: number) => meanOf((await logLikelihood(field, x, { solver: 'euler', steps, batchSize: 256, divergence: 'exact' })).logp) - exact;
    const ratio = (await bias(100)) / (await bias(1000));
    assert.ok(ratio > 8 && ratio < 12, `bias ratio ${ratio}`);
  });

  it('in 1D a Rademacher probe is exact: the protocol equals exact-divergence Euler on the same batches', async () => {
    const mlp = new Mlp({ dim: 1, hidden: 16, depth: 2 }, new Rng('mlp-1d'));
    try {
      const protocol = { ...REFERENCE_PROTOCOL, batches: 3, batchSize: 64 };
      const normal = (n: number, rng: Rng) => rng.normalArray(n);
      const rng = new Rng('one-dimension');
      const result = await referenceLogLikelihood(mlp, normal, rng, protocol, 0.5);
      const data = rng.fork('data');
      for (let b = 0; b < protocol.batches; b++) {
        const exact = (await logLikelihood(mlp, normal(64, data), { solver: 'euler', steps: 100, batchSize: 64, divergence: 'exact' })).logp;
        // logOffset 0.5 is subtracted from every point.
        assert.ok(Math.abs(result.batchMeans[b] - (meanOf(exact) - 0.5)) < 1e-5, `batch ${b}`);
      }
    } finally {
      mlp.dispose();
    }
  });

  it("a single probe's z^T J z averages to the exact divergence (all four 2D probes exactly; random ones within s.e.)", () => {
    const mlp = new Mlp({ dim: 2, hidden: 32, depth: 3 }, new Rng('mlp-2d'));
    try {
      const x = tf.tensor2d([0.3, -1.2], [1, 2]);
      const t = tf.tensor2d([0.4], [1, 1]);
      const exact = tf.tidy(() => traceFromBasis(mlp.forwardWithTangents(x, t, basisTangents(1, 2)).jvp).dataSync()[0]);
      const quadratic = (probes: tf.Tensor3D) =>
        tf.tidy(() => {
          const n = probes.shape[0];
          const jvp = mlp.forwardWithTangents(tf.tile(x, [1, 1]), t, probes).jvp;
          return Array.from(probeQuadratic(probes, jvp).dataSync()).slice(0, n);
        });
      const all = tf.tensor3d([1, 1, 1, -1, -1, 1, -1, -1], [4, 1, 2]);
      assert.ok(Math.abs(meanOf(quadratic(all)) - exact) < 1e-5);
      const drawn = drawProbes(new Rng('probes'), 4000, 1, 2, 'rademacher');
      const values = quadratic(drawn);
      assert.ok(Math.abs(meanOf(values) - exact) < 4 * (sdOf(values) / Math.sqrt(values.length)) + 1e-6);
      tf.dispose([x, t, all, drawn]);
    } finally {
      mlp.dispose();
    }
  });

  it('is deterministic given its stream, leaves no tensors behind, and checks its settings', async () => {
    const mlp = new Mlp({ dim: 2, hidden: 16, depth: 2 }, new Rng('mlp-memory'));
    try {
      const protocol = { ...REFERENCE_PROTOCOL, batches: 2, batchSize: 32, stepSize: 0.1 };
      const normal = (n: number, rng: Rng) => rng.normalArray(2 * n);
      const first = await referenceLogLikelihood(mlp, normal, new Rng('same'), protocol);
      const tensors = tf.memory().numTensors;
      const again = await referenceLogLikelihood(mlp, normal, new Rng('same'), protocol);
      assert.equal(tf.memory().numTensors, tensors);
      assert.deepEqual(again, first);
      assert.notDeepEqual((await referenceLogLikelihood(mlp, normal, new Rng('other'), protocol)).batchMeans, first.batchMeans);
      await assert.rejects(() => referenceLogLikelihood(mlp, normal, new Rng('x'), { ...protocol, stepSize: 0.03 }), /whole steps/);
    } finally {
      mlp.dispose();
    }
  });

  after(() => field.dispose());
});

describe('fdm-bench evaluate (command line)', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-evaluate-'));
  let runDir: string;

  before(async () => {
    // 400 iterations: the reference would evaluate twice (after 200 and 400), so N = 2.
    const run = await cliAsync(['run', 'checkerboard', '--preset', 'ci', '--iterations', '400', '--nll-samples', '300', '--out', out, '--json']);
    assert.equal(run.status, 0, run.stderr);
    runDir = JSON.parse(run.stdout).runDir;
  });

  it('evaluates every finished run, writes evaluations/reference.json, reuses it, and recomputes the same with --force', async () => {
    const first = await cliAsync(['evaluate', runDir, '--repeats', '2', '--json']);
    assert.equal(first.status, 0, first.stderr);
    const result = JSON.parse(first.stdout) as ReferenceEvaluationFile;
    const stored = JSON.parse(fs.readFileSync(path.join(runDir, 'evaluations', 'reference.json'), 'utf8')) as ReferenceEvaluationFile;
    assert.deepEqual(stored, result);
    assert.deepEqual(result.runs.map((r) => r.run), ['cfm seed 0', 'fdm lambda=0.1 seed 0']);
    const records = fs.readFileSync(path.join(runDir, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const [i, r] of result.runs.entries()) {
      assert.equal(r.values.length, 2);
      assert.equal(r.seeds.length, 2);
      assert.equal(r.evaluationsOverTraining, 2);
      assert.equal(r.exactNll, records[i].metrics.nll);
      assert.ok(Math.abs(r.mean - meanOf(r.values)) < 1e-12);
      assert.ok(Math.abs(r.sd - sdOf(r.values)) < 1e-12);
      assert.ok(Math.abs(r.sdFromBatches - Math.sqrt(meanOf(r.stdErrs.map((e) => e * e)))) < 1e-12);
      for (const [k, means] of r.batchMeans.entries()) assert.ok(Math.abs(r.stdErrs[k] - sdOf(means) / Math.sqrt(10)) < 1e-12);
      // E[max of 2 normals] = 1/sqrt(pi).
      assert.ok(Math.abs(r.expectedMaxZ - 1 / SQRT_PI) < 1e-9);
      assert.ok(Math.abs(r.expectedBest - (r.mean + r.sd / SQRT_PI)) < 1e-12);
      assert.ok(Math.abs(r.likelihood.expectedBest - Math.exp(r.expectedBest)) < 1e-15);
      assert.deepEqual({ ...r.settings }, { protocol: 'reference', repeats: 2, interval: 200, batches: 10, batchSize: 512, stepSize: 0.01 });
    }
    const storedBytes = fs.readFileSync(path.join(runDir, 'evaluations', 'reference.json'));
    const again = await cliAsync(['evaluate', runDir, '--repeats', '2']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /reusing 2 evaluations/);
    assert.ok(fs.readFileSync(path.join(runDir, 'evaluations', 'reference.json')).equals(storedBytes), 'nothing evaluated, nothing rewritten (not even updatedAt)');
    assert.match(again.stdout, /best-of-N NLL/);
    const forced = await cliAsync(['evaluate', runDir, '--repeats', '2', '--run', '2', '--force', '--json']);
    const forcedRuns = (JSON.parse(forced.stdout) as ReferenceEvaluationFile).runs;
    assert.deepEqual(forcedRuns.map((r) => r.values), result.runs.map((r) => r.values));
  });

  it('refuses what is not a run directory, or one without a finished run, with one message and exit code 2', async () => {
    // oclif wraps a long message over lines that start with ' ›'.
    const unwrap = (text: string) => text.replace(/\s*\n\s*›\s*/g, ' ');
    const missing = await cliAsync(['evaluate', path.join(out, 'nope')]);
    assert.equal(missing.status, 2);
    assert.match(unwrap(missing.stderr), /does not exist/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
    const empty = path.join(out, 'empty-run');
    fs.mkdirSync(empty);
    fs.copyFileSync(path.join(runDir, 'config.yaml'), path.join(empty, 'config.yaml'));
    const none = await cliAsync(['evaluate', empty]);
    assert.equal(none.status, 2);
    assert.match(unwrap(none.stderr), /no finished run with a saved model/);
    assert.doesNotMatch(none.stderr, /\n\s+at /);
    const badRun = await cliAsync(['evaluate', runDir, '--run', 'nonsense']);
    assert.equal(badRun.status, 2);
    assert.match(unwrap(badRun.stderr), /no run 'nonsense'/);
  });
});
