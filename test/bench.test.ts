import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { benchTask } from '../src/bench/bench';
import { profileTask } from '../src/bench/profile';
import { benchEvaluation } from '../src/bench/evaluation';
import { compareEstimators, DEFAULT_CHOICES, probeSweep } from '../src/bench/estimators';
import { resolveConfig } from '../src/cli/load-config';
import { getTask } from '../src/tasks/registry';
import { SWISH_DENSE, fusedKernelsActive } from '../src/backend/fused-kernels';
import { useTestBackend } from './helpers/backend';

describe('bench', () => {
  before(useTestBackend);

  it('times every run, pairs each FDM run with the CFM run on the same path, and leaks no tensors', async () => {
    const config = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: {} });
    const rows = await benchTask(getTask('dna-toy'), config, { warmup: 1, iterations: 3 }, () => undefined);
    assert.deepEqual(rows.map((r) => r.label), ['cfm path=linear', 'cfm path=dirichlet', 'fdm lambda=0.1 path=linear', 'fdm lambda=0.1 path=dirichlet']);
    for (const path of ['linear', 'dirichlet']) {
      const cfm = rows.find((r) => r.label === `cfm path=${path}`)!;
      const fdm = rows.find((r) => r.label === `fdm lambda=0.1 path=${path}`)!;
      assert.equal(fdm.ratioToCfm, fdm.msMedian / cfm.msMedian);
      assert.equal(cfm.ratioToCfm, 1);
    }
    for (const row of rows) {
      assert.equal(row.tensorGrowth, 0, row.label);
      assert.ok(row.msMedian > 0 && row.gflops > 0 && row.rssStartMiB > 0, row.label);
    }
  });
});

describe('bench --profile', () => {
  before(useTestBackend);

  it('accounts for every kernel of a step: shares sum to 1, matrix products present, FDM runs more kernels, no tensors left', async () => {
    const config = resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: {} });
    const tensors = tf.memory().numTensors;
    const profiles = await profileTask(getTask('checkerboard'), config, { warmup: 1, steps: 2 }, () => undefined);
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(profiles.map((p) => p.label), ['cfm', 'fdm lambda=0.1']);
    for (const profile of profiles) {
      assert.ok(Math.abs(profile.kernels.reduce((sum, k) => sum + k.share, 0) - 1) < 1e-9, profile.label);
      assert.equal(profile.kernelsPerStep, profile.kernels.reduce((sum, k) => sum + k.callsPerStep, 0));
      // The MLP's hidden layers run as the fused layer's kernels where those are active, else as BatchMatMul.
      const fused = fusedKernelsActive();
      const matmul = profile.kernels.find((k) => k.kernel === (fused ? SWISH_DENSE : 'BatchMatMul'));
      assert.ok(matmul && matmul.callsPerStep >= (fused ? config.depth : 6) && Number.isInteger(matmul.callsPerStep), `${profile.label}: ${matmul?.callsPerStep} ${matmul?.kernel} per step`);
      assert.ok(profile.kernels.every((k) => k.kernel !== 'unnamed scope'), 'custom-gradient scopes are not counted');
      for (let i = 1; i < profile.kernels.length; i++) assert.ok(profile.kernels[i].msPerStep <= profile.kernels[i - 1].msPerStep);
    }
    assert.ok(profiles[1].kernelsPerStep > profiles[0].kernelsPerStep, 'the divergence term adds kernels');
  });
});

describe('bench --evaluation', () => {
  before(useTestBackend);

  it("times sampling and the log-density with the preset's solver, on every task with a likelihood, and leaks no tensors", async () => {
    const config = resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: {} });
    const tensors = tf.memory().numTensors;
    const rows = await benchEvaluation(getTask('checkerboard'), config, { points: 40, repeats: 2 }, () => undefined);
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(rows.map((r) => r.phase), ['sampling', 'log-density']);
    for (const row of rows) {
      assert.equal(row.points, 40);
      assert.equal(row.solver, `${config.eval.solver}, ${config.eval.steps} steps`);
      assert.ok(row.secondsMedian > 0 && Math.abs(row.pointsPerSecond * row.secondsMedian - 40) < 1e-9, JSON.stringify(row));
    }
  });

  it('times sampling alone where the task has no likelihood', async () => {
    const config = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { path: ['linear'] } });
    const rows = await benchEvaluation(getTask('dna-toy'), config, { points: 8, repeats: 1 }, () => undefined);
    assert.deepEqual(rows.map((r) => r.phase), ['sampling']);
  });
});

describe('estimators', () => {
  before(useTestBackend);

  it('compares every estimator a task supports with the exact one on the same batches', async () => {
    const config = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { path: ['linear'] } });
    const rows = await compareEstimators(getTask('dna-toy'), config, { warmup: 3, batches: 4, choices: DEFAULT_CHOICES }, () => undefined);
    // dna-toy has no single-probe reference form.
    assert.deepEqual(rows.map((r) => `${r.estimator}:${r.probes}`), ['exact:0', 'hutchinson-unbiased:2', 'hutchinson-squared:1', 'hutchinson-squared:4']);
    const [exact, unbiased, squared1, squared4] = rows;
    assert.equal(exact.ratio, 1);
    assert.ok(Math.abs(unbiased.ratio - 1) < 4 * unbiased.ratioStdErr + 1e-6, `unbiased ratio ${unbiased.ratio} ± ${unbiased.ratioStdErr}`);
    // The squared estimator's excess is a variance: positive, and smaller with more probes.
    assert.ok(squared1.ratio > 1 && squared4.ratio > 1 && squared4.ratio < squared1.ratio, `squared ratios ${squared1.ratio}, ${squared4.ratio}`);
    // The exact gradient against itself; the probes' gradients point the same way, closer with more probes.
    assert.deepEqual([exact.gradientCosine, exact.gradientRelativeError], [1, 0]);
    assert.ok(squared4.gradientCosine > squared1.gradientCosine && squared4.gradientRelativeError < squared1.gradientRelativeError, `gradient agreement 1 vs 4 probes: ${squared1.gradientCosine}, ${squared4.gradientCosine}`);
    assert.ok(unbiased.gradientCosine > 0 && unbiased.gradientCosine < 1, `unbiased gradient cosine ${unbiased.gradientCosine}`);
  });

  it('a probe sweep compares every Hutchinson estimator at each count it allows', () => {
    assert.deepEqual(
      probeSweep([1, 2, 8]).map((c) => `${c.estimator}:${c.probes}`),
      ['exact:0', 'hutchinson-unbiased:2', 'hutchinson-unbiased:8', 'hutchinson-reference:1', 'hutchinson-reference:2', 'hutchinson-reference:8', 'hutchinson-squared:1', 'hutchinson-squared:2', 'hutchinson-squared:8'],
    );
  });
});
