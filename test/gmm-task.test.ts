import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { resolveConfig } from '../src/cli/load-config';
import { Rng } from '../src/random/rng';
import { expandRuns } from '../src/runner/grid';
import { mixtureTask } from '../src/tasks/gmm';
import { train } from '../src/training/trainer';
import { useTestBackend } from './helpers/backend';

// One Gaussian: its entropy 0.5 ln(2 pi e 0.5^2) = 0.7258 nats is the NLL floor.
const task = mixtureTask({ name: 'gauss1d', description: 'one Gaussian', mixture: { weights: [1], means: [[0.5]], stds: [0.5] }, range: [-6, 6] });

describe('Gaussian-mixture task', () => {
  before(useTestBackend);

  it('knows the exact entropy of its target', () => {
    assert.ok(Math.abs(task.facts.entropy - 0.5 * Math.log(2 * Math.PI * Math.E * 0.25)) < 1e-6);
  });

  for (const method of ['cfm', 'fdm'] as const) {
    it(`${method.toUpperCase()} training brings the NLL close to the entropy, and TV <= marginal <= conditional bound`, async () => {
      const config = resolveConfig({
        task: 'gmm1d',
        preset: 'ci',
        overrides: { iterations: 400, hidden: 32, depth: 2, batchSize: 256, lr: 0.005, logEvery: 0, eval: { gridPerAxis: 400, conditionalSamples: 500, nllSamples: 2000 } },
      });
      const spec = expandRuns(config, task).find((s) => s.method === method)!;
      const experiment = task.createExperiment(config, spec, new Rng('gauss1d/seed-0'));
      await train(experiment, { iterations: config.iterations, lr: config.lr, lrSchedule: 'constant', logEvery: 0 });
      const { metrics } = await experiment.evaluate();
      experiment.dispose();
      // Held-out NLL has a standard error of ~0.016 nats at 2000 points; sigma_min = 0.01 blurs p_1 a little.
      assert.ok(metrics.gap < 0.08 && metrics.gap > -0.06, `gap to entropy ${metrics.gap}`);
      assert.ok(metrics.tv <= metrics.boundMarginal, `TV ${metrics.tv} <= marginal bound ${metrics.boundMarginal}`);
      assert.ok(metrics.boundMarginal <= metrics.boundConditional + 3 * metrics.boundConditionalStdErr, 'marginal <= conditional bound');
      assert.ok(metrics.tv < 0.1, `trained TV ${metrics.tv}`);
    });
  }
});
