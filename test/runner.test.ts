import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { BackendInfo, initBackend } from '../src/backend/backend';
import { RunConfig } from '../src/config/schema';
import { runFiles } from '../src/results/run-dir';
import { GridRun, Progress, RunState } from '../src/runner/progress';
import { BenchmarkResult, resumeBenchmark, RunContext, runBenchmark, RunStatus } from '../src/runner/runner';
import { Task } from '../src/core/task';
import { fakeConfig, fakeTask } from './helpers/fake-task';

/** A Progress that keeps what it was told. */
function recordingProgress() {
  const events = { runs: [] as GridRun[], states: [] as Array<[number, RunState, string | undefined]>, steps: 0, logs: [] as string[] };
  const progress: Progress = {
    start: (_title, runs) => void (events.runs = runs),
    state: (index, state, detail) => void events.states.push([index, state, detail]),
    step: () => void events.steps++,
    log: (line) => void events.logs.push(line),
    stop: () => {},
  };
  return { events, progress };
}

function readStatus(dir: string): RunStatus {
  return JSON.parse(fs.readFileSync(runFiles(dir).status, 'utf8'));
}

function metricsOf(result: BenchmarkResult) {
  return result.records.map((r) => ({ method: r.method, lambda: r.settings.lambda, status: r.status, metrics: r.metrics }));
}

describe('runner', () => {
  let backend: BackendInfo;
  const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-runner-'));
  const context = (progress: Progress, signal?: AbortSignal): RunContext => ({ backend, outRoot, preset: 'test', progress, signal });
  // Three runs: cfm, fdm lambda=0.1, fdm lambda=1.
  const config: RunConfig = fakeConfig({ lambda: [0.1, 1] });

  before(async () => {
    backend = await initBackend('wasm');
  });

  it('records a NaN loss as a diverged run with its iteration, and finishes the rest of the grid', async () => {
    const task: Task = fakeTask({ divergeAt: (spec) => (spec.method === 'fdm' && spec.lambda === 0.1 ? 3 : undefined) });
    const { events, progress } = recordingProgress();
    const result = await runBenchmark(task, config, context(progress));
    assert.deepEqual(result.records.map((r) => [r.method, r.status, r.divergedAt]), [['cfm', 'ok', undefined], ['fdm', 'diverged', 3], ['fdm', 'ok', undefined]]);
    assert.equal(result.records[1].timing.iterations, 3);
    assert.equal(result.records[2].timing.iterations, 12);
    assert.deepEqual(events.states.filter(([, state]) => state === 'diverged'), [[1, 'diverged', 'at iteration 3: loss is not finite']]);
    const files = runFiles(result.runDir);
    assert.equal(fs.readFileSync(files.records, 'utf8').trimEnd().split('\n').length, 3);
    assert.deepEqual(readStatus(result.runDir), { ...readStatus(result.runDir), state: 'complete', runs: 3, finished: 3, diverged: 1 });
    assert.ok(fs.existsSync(files.model('fdm-lambda-1-seed-0')));
    assert.ok(!fs.existsSync(files.model('fdm-lambda-0.1-seed-0')), 'a diverged run has no model');
    assert.deepEqual(fs.readdirSync(path.join(result.runDir, 'checkpoints')), [], 'finished runs leave no checkpoint');
  });

  it('stops after the current iteration when aborted, and a resume ends with the same records as an uninterrupted run', async () => {
    const uninterrupted = await runBenchmark(fakeTask(), config, context(recordingProgress().progress));

    const controller = new AbortController();
    const abortAtSeven = fakeTask({ onLoss: (spec, iteration) => spec.lambda === 0.1 && iteration === 7 && controller.abort('SIGINT') });
    const interrupted = await runBenchmark(abortAtSeven, config, context(recordingProgress().progress, controller.signal));
    assert.deepEqual(interrupted.interrupted, { signal: 'SIGINT', run: 'fdm lambda=0.1 seed 0', iteration: 7, checkpoint: 'checkpoints/fdm-lambda-0.1-seed-0.json' });
    assert.equal(readStatus(interrupted.runDir).state, 'interrupted');
    assert.deepEqual(readStatus(interrupted.runDir).interrupted, interrupted.interrupted);
    const files = runFiles(interrupted.runDir);
    assert.ok(fs.existsSync(files.checkpoint('fdm-lambda-0.1-seed-0')));
    const firstRecord = fs.readFileSync(files.records, 'utf8');
    assert.equal(firstRecord.split('\n').length, 2, 'only the finished run has a record');

    const { events, progress } = recordingProgress();
    const resumed = await resumeBenchmark(fakeTask(), config, interrupted.runDir, context(progress));
    assert.deepEqual(events.runs.map((r) => r.state), ['ok', 'pending', 'pending']);
    assert.deepEqual(events.states[0], [1, 'running', 'resumed from iteration 7']);
    assert.equal(events.steps, 12 - 7 + 12, 'the interrupted run continues at iteration 8, the next starts at 1');
    assert.deepEqual(metricsOf(resumed), metricsOf(uninterrupted));
    assert.deepEqual(resumed.records.map((r) => r.timing.iterations), [12, 12, 12]);
    assert.ok(fs.readFileSync(files.records, 'utf8').startsWith(firstRecord), 'the finished record is untouched');
    assert.equal(readStatus(interrupted.runDir).state, 'complete');
  });

  it('resumes from the last periodic checkpoint after a crash, dropping a record line cut short', async () => {
    const uninterrupted = await runBenchmark(fakeTask(), config, context(recordingProgress().progress));
    // A crash inside the third run, after its checkpoint at iteration 8: simulated by a loss that throws.
    const crashing = fakeTask({
      onLoss: (spec, iteration) => {
        if (spec.lambda === 1 && iteration === 10) throw new Error('simulated crash');
      },
    });
    await assert.rejects(runBenchmark(crashing, config, context(recordingProgress().progress)), /simulated crash/);
    const dir = path.join(outRoot, 'fake', fs.readdirSync(path.join(outRoot, 'fake')).sort().at(-1)!);
    const files = runFiles(dir);
    fs.appendFileSync(files.records, '{"schema":1,"runId":"cut sh');
    const { events, progress } = recordingProgress();
    const resumed = await resumeBenchmark(fakeTask(), config, dir, context(progress));
    assert.match(events.logs.join('\n'), /dropped an incomplete final line/);
    assert.deepEqual(events.states[0], [2, 'running', 'resumed from iteration 8']);
    assert.deepEqual(metricsOf(resumed), metricsOf(uninterrupted));
    assert.equal(fs.readFileSync(files.records, 'utf8').trimEnd().split('\n').length, 3);
  });
});
