import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { resolveConfig, taskPresets } from '../src/cli/load-config';
import { Rng } from '../src/random/rng';
import { gridJobs } from '../src/runner/jobs';
import { listTasks } from '../src/tasks/registry';
import { Experiment, Task } from '../src/core/task';
import { createStepper, readLosses } from '../src/training/trainer';
import { useTestBackend } from './helpers/backend';

/** Tasks that train only on data the user supplies, so they ship no `ci` preset. */
const NEEDS_USER_DATA = ['kth'];
const STEPS = 4;

/** An FDM run of the task's `ci` preset, shortened, and what training it leaves. */
async function train(task: Task): Promise<{ experiment: Experiment; losses: number[]; tensorCounts: number[]; make: () => Experiment }> {
  const config = resolveConfig({ task: task.name, preset: 'ci', overrides: { iterations: STEPS } });
  const { spec } = gridJobs(config, task).find((job) => job.spec.method === 'fdm')!;
  await task.prepare?.(config, spec, { dir: null, log: () => undefined });
  const make = () => task.createExperiment(config, spec, new Rng(`${task.name}/contract`));
  const experiment = make();
  const stepper = createStepper(experiment, config.lr, config.lrSchedule, config.iterations);
  const losses: number[] = [];
  const tensorCounts: number[] = [];
  for (let i = 1; i <= STEPS; i++) {
    losses.push((await readLosses([stepper.step(i)]))[0].total);
    tensorCounts.push(tf.memory().numTensors);
  }
  stepper.dispose();
  return { experiment, losses, tensorCounts, make };
}

function lossAt(experiment: Experiment, iteration: number): number {
  const terms = experiment.loss(iteration);
  const value = terms.total.dataSync()[0];
  tf.dispose(Object.values(terms));
  return value;
}

/**
 * What every registered task owes the runner, checked on its `ci` preset: training repeats exactly
 * for a seed, keeps the tensor count flat, a snapshot restores bit-identically, and evaluate()
 * fills every column the task declares.
 */
describe('the task contract, for every registered task', () => {
  before(useTestBackend);

  it(`every task has a ci preset, except those that need the user's data (${NEEDS_USER_DATA.join(', ')})`, () => {
    const without = listTasks().filter((task) => !('ci' in taskPresets(task.name))).map((task) => task.name);
    assert.deepEqual(without, NEEDS_USER_DATA);
  });

  for (const task of listTasks().filter((t) => !NEEDS_USER_DATA.includes(t.name))) {
    it(`${task.name}: repeatable, flat in tensors, restorable, and its columns filled`, async () => {
      const first = await train(task);
      assert.ok(first.losses.every(Number.isFinite), `finite losses ${first.losses}`);
      assert.equal(first.tensorCounts[STEPS - 1], first.tensorCounts[1], `tensor count over steps 2..${STEPS}: ${first.tensorCounts}`);

      const restored = first.make();
      restored.restore(await first.experiment.snapshot());
      assert.equal(lossAt(restored, STEPS + 1), lossAt(first.experiment, STEPS + 1), 'the loss after a snapshot and restore');
      restored.dispose();

      const second = await train(task);
      assert.deepEqual(second.losses, first.losses, 'the same losses for the same seed');
      const [a, b] = [await first.experiment.evaluate(), await second.experiment.evaluate()];
      assert.deepEqual(a.metrics, b.metrics, 'the same metrics for the same seed');
      const filled = { ...a.metrics, ...task.facts };
      const missing = task.columns.map((c) => c.key).filter((key) => !Number.isFinite(filled[key]));
      assert.deepEqual(missing, [], 'columns evaluate() left empty');
      first.experiment.dispose();
      second.experiment.dispose();
    });
  }
});
