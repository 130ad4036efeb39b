import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { resolveConfig, taskPresets } from '../src/cli/load-config';
import { RunConfig } from '../src/config/schema';
import { ExperimentState } from '../src/core/state';
import { Experiment } from '../src/core/task';
import { REFERENCE_PROTOCOL, referenceLogLikelihood } from '../src/metrics/reference-likelihood';
import { Rng } from '../src/random/rng';
import { RunRecord } from '../src/results/record';
import { expandRuns } from '../src/runner/grid';
import { densityTarget } from '../src/tasks/density';
import { getTask, listTasks } from '../src/tasks/registry';
import { experimentStateSchema } from '../src/training/state';
import { train, TrainerState, TrainOptions } from '../src/training/trainer';
import { useTestBackend } from './helpers/backend';
import { cliAsync, CliResult } from './helpers/cli';

const ROOT_RNG = 'checkerboard/seed-0';

/** A tiny checkerboard run (as trainer.test.ts's), with the reference protocol every 10 iterations when asked. */
function tinyConfig(protocol: 'exact' | 'reference', overrides: Record<string, unknown> = {}): RunConfig {
  return resolveConfig({
    task: 'checkerboard',
    preset: 'ci',
    overrides: {
      iterations: 30,
      hidden: 16,
      depth: 2,
      batchSize: 64,
      logEvery: 5,
      eval: { nllSamples: 200, sampleCount: 200, figureSamples: 200, steps: 8, protocol, referenceEvery: 10 },
      ...overrides,
    },
  });
}

function experiment(config: RunConfig, method: 'cfm' | 'fdm' = 'fdm'): Experiment {
  const spec = expandRuns(config, getTask('checkerboard')).find((s) => s.method === method)!;
  return getTask('checkerboard').createExperiment(config, spec, new Rng(ROOT_RNG));
}

const OPTS: TrainOptions = { iterations: 30, lr: 1e-2, lrSchedule: 'reference', logEvery: 5 };

function referenceOnly(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => key.startsWith('reference')));
}

function withoutReference(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => !key.startsWith('reference')));
}

describe('in-training reference likelihood (eval.protocol reference)', () => {
  before(useTestBackend);

  it('defaults to the exact protocol alone, every 200 iterations when on; the ci preset is unchanged', async () => {
    const config = resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: {} });
    assert.equal(config.eval.protocol, 'exact');
    assert.equal(config.eval.referenceEvery, REFERENCE_PROTOCOL.interval);
    const exp = experiment(config);
    try {
      assert.equal('tracked' in (await exp.snapshot()), false, 'an exact run snapshots what it always did');
    } finally {
      exp.dispose();
    }
  });

  for (const method of ['cfm', 'fdm'] as const) {
    it(`leaves ${method.toUpperCase()} training bit-identical: same losses, weights, streams and exact metrics`, async () => {
      const run = async (protocol: 'exact' | 'reference') => {
        const exp = experiment(tinyConfig(protocol), method);
        try {
          const trained = await train(exp, OPTS);
          const { variables, streams } = await exp.snapshot();
          const { metrics, samples } = await exp.evaluate();
          return { history: trained.history, variables, streams, metrics, samples };
        } finally {
          exp.dispose();
        }
      };
      const exact = await run('exact');
      const tracked = await run('reference');
      assert.equal(exact.history.length, 6);
      assert.deepEqual(tracked.history, exact.history);
      assert.deepEqual(tracked.variables, exact.variables);
      assert.deepEqual(tracked.streams, exact.streams);
      assert.deepEqual(tracked.samples, exact.samples);
      assert.deepEqual(withoutReference(tracked.metrics), exact.metrics);
      assert.deepEqual(referenceOnly(exact.metrics), {}, 'the exact protocol adds no metric');

      const ref = referenceOnly(tracked.metrics);
      assert.deepEqual(Object.keys(ref).sort(), [
        'referenceBestIteration',
        'referenceBestLikelihood',
        'referenceBestLogLik',
        'referenceEvaluations',
        'referenceFinalLogLik',
      ]);
      assert.equal(ref.referenceEvaluations, 3, 'after iterations 10, 20 and 30');
      assert.ok([10, 20, 30].includes(ref.referenceBestIteration));
      assert.ok(ref.referenceBestLogLik >= ref.referenceFinalLogLik);
      assert.equal(ref.referenceBestLikelihood, Math.exp(ref.referenceBestLogLik));
      assert.ok(Number.isFinite(ref.referenceFinalLogLik) && ref.referenceFinalLogLik < 0);
    });
  }

  it('is one evaluation of the reference protocol on the weights after the iteration, from its own stream', async () => {
    const exp = experiment(tinyConfig('reference'));
    try {
      await train(exp, OPTS);
      const { metrics } = await exp.evaluate();
      const target = densityTarget(exp)!;
      const rng = new Rng(ROOT_RNG).fork('reference-tracking').fork('iteration-30');
      const direct = await referenceLogLikelihood(target.model, target.sample, rng, REFERENCE_PROTOCOL, target.logOffset);
      assert.equal(metrics.referenceFinalLogLik, direct.meanLogDensity);
    } finally {
      exp.dispose();
    }
  });

  it('keeps the tensor count flat over training with evaluations', async () => {
    const exp = experiment(tinyConfig('reference'));
    try {
      await train(exp, { ...OPTS, iterations: 10 });
      const afterWarmup = tf.memory().numTensors;
      await train(exp, { ...OPTS, iterations: 40 });
      assert.equal(tf.memory().numTensors, afterWarmup, 'tensors after 40 more iterations and 4 evaluations');
    } finally {
      exp.dispose();
    }
  });

  for (const stopAt of [15, 20]) {
    it(`continues from a checkpoint at iteration ${stopAt} with the same tracking and metrics as an uninterrupted run`, async () => {
      const whole = experiment(tinyConfig('reference'));
      const uninterrupted = await train(whole, OPTS);
      const finalState = await whole.snapshot();
      const finalMetrics = (await whole.evaluate()).metrics;
      whole.dispose();

      const first = experiment(tinyConfig('reference'));
      const stop = new AbortController();
      let saved: unknown;
      const stopped = await train(first, {
        ...OPTS,
        signal: stop.signal,
        onStep: (step) => step.iteration === stopAt && stop.abort('SIGINT'),
        onCheckpoint: async (trainer) => {
          saved = JSON.parse(JSON.stringify({ trainer, experiment: await first.snapshot() }));
        },
      });
      first.dispose();
      assert.equal(stopped.status, 'interrupted');
      const { trainer, experiment: json } = saved as { trainer: TrainerState; experiment: unknown };
      // Through the checkpoint file's schema, as run --resume reads it.
      const state = experimentStateSchema.parse(json) as ExperimentState;
      assert.equal(state.tracked?.evaluations, Math.floor(stopAt / 10));

      const second = experiment(tinyConfig('reference'));
      try {
        second.restore(state);
        const resumed = await train(second, { ...OPTS, resumeFrom: trainer });
        assert.deepEqual(resumed.history, uninterrupted.history);
        assert.deepEqual(await second.snapshot(), finalState);
        assert.deepEqual((await second.evaluate()).metrics, finalMetrics);
      } finally {
        second.dispose();
      }
    });
  }

  it('refuses to continue a tracking run from a snapshot without its tracking', async () => {
    const exact = experiment(tinyConfig('exact'));
    const tracking = experiment(tinyConfig('reference'));
    try {
      const exactState = await exact.snapshot();
      assert.throws(() => tracking.restore(exactState), /holds no in-training reference likelihood/);
      const { tracked, ...rest } = await tracking.snapshot();
      assert.ok(tracked);
      assert.throws(() => tracking.restore({ ...rest, tracked: { evaluations: 1 } }), /lacks bestLogLik/);
    } finally {
      exact.dispose();
      tracking.dispose();
    }
  });

  it('is offered by the density tasks only', () => {
    const accepts = (name: string) => {
      try {
        resolveConfig({ task: name, preset: 'ci', overrides: { eval: { protocol: 'reference' } } });
        return true;
      } catch (err) {
        assert.match((err as Error).message, /eval\.protocol: task '[^']+' has no 'reference' protocol/);
        return false;
      }
    };
    const withCi = listTasks().filter((task) => 'ci' in taskPresets(task.name)).map((task) => task.name);
    assert.deepEqual(withCi.filter(accepts), ['checkerboard', 'gmm1d', 'gmm2d', '8gaussians', 'moons', 'rings', 'pinwheel', '2spirals', 'circles', 'points'].filter((name) => withCi.includes(name)));
    assert.ok(withCi.includes('dna-toy') && !accepts('dna-toy'));
  });
});

describe('in-training reference likelihood (command line)', { concurrency: true }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-tracking-'));
  const GRID = [
    'run', 'checkerboard', '--preset', 'ci', '--iterations', '120', '--log-every', '10', '--checkpoint-every', '40',
    '--nll-samples', '300', '--eval-protocol', 'reference', '--reference-every', '30', '--json',
  ];
  const records = (result: CliResult): RunRecord[] => JSON.parse(result.stdout).records;
  const metricsOf = (result: CliResult) => records(result).map((r) => ({ method: r.method, metrics: r.metrics }));
  let reference: CliResult;

  before(async () => {
    reference = await cliAsync([...GRID, '--out', path.join(tmp, 'reference')]);
    assert.equal(reference.status, 0, reference.stderr);
  });

  it('records the tracking metrics of both methods, and the settings in config.yaml', () => {
    for (const record of records(reference)) {
      assert.equal(record.metrics.referenceEvaluations, 4, record.method);
      assert.ok([30, 60, 90, 120].includes(record.metrics.referenceBestIteration ?? NaN));
      assert.ok(Number.isFinite(record.metrics.referenceBestLikelihood));
    }
    const config = fs.readFileSync(path.join(JSON.parse(reference.stdout).runDir, 'config.yaml'), 'utf8');
    assert.match(config, /^ {2}protocol: reference$/m);
    assert.match(config, /^ {2}referenceEvery: 30$/m);
  });

  it('ends a run stopped by SIGINT and resumed from its checkpoint with the same metrics', async () => {
    const stopped = await cliAsync([...GRID, '--out', path.join(tmp, 'sigint')], { when: /fdm lambda=0\.1 seed 0 it 50\/120/, signal: 'SIGINT' });
    assert.equal(stopped.status, 130, stopped.stderr);
    const { runDir, interrupted } = JSON.parse(stopped.stdout);
    assert.ok(interrupted.iteration >= 50 && interrupted.iteration < 120, `stopped at ${interrupted.iteration}`);
    const checkpoint = JSON.parse(fs.readFileSync(path.join(runDir, interrupted.checkpoint), 'utf8'));
    assert.equal(checkpoint.experiment.tracked.evaluations, Math.floor(interrupted.iteration / 30));
    const resumed = await cliAsync(['run', '--resume', runDir, '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(metricsOf(resumed), metricsOf(reference));
  });

  it('is refused for a task that is not a density task, with exit code 2', async () => {
    const refused = await cliAsync(['run', 'dna-toy', '--preset', 'ci', '--eval-protocol', 'reference', '--out', path.join(tmp, 'dna')]);
    assert.equal(refused.status, 2, refused.stderr);
    // oclif wraps the message over lines prefixed ' ›'.
    const message = refused.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ');
    assert.match(message, /for task 'dna-toy': eval\.protocol: task 'dna-toy' has no 'reference' protocol/);
    assert.equal(fs.existsSync(path.join(tmp, 'dna')), false, 'nothing ran');
  });
});
