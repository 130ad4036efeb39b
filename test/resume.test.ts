import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { RunRecord } from '../src/results/record';
import { parseRecordsFile } from '../src/results/store';
import { Interruption, RunStatus } from '../src/runner/runner';
import { cliAsync, CliResult } from './helpers/cli';

/** Two runs (CFM, then FDM) long enough to be interrupted well before their end. */
const GRID = ['run', 'checkerboard', '--preset', 'ci', '--iterations', '120', '--log-every', '10', '--checkpoint-every', '40', '--nll-samples', '300'];

interface RunJson {
  runDir: string;
  records: RunRecord[];
  interrupted?: Interruption;
}

function parseJson(result: CliResult): RunJson {
  return JSON.parse(result.stdout);
}

function readStatus(runDir: string): RunStatus {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'status.json'), 'utf8'));
}

/** The only run directory under an --out root. */
function onlyRunDir(out: string): string {
  const runs = fs.readdirSync(path.join(out, 'checkerboard'));
  assert.equal(runs.length, 1);
  return path.join(out, 'checkerboard', runs[0]);
}

const metricsOf = (records: RunRecord[]) => records.map((r) => ({ method: r.method, metrics: r.metrics, iterations: r.timing.iterations }));

// The tests only share the reference run, so they run side by side (every command line call is asynchronous).
describe('interruption, resume and saved models (command line)', { concurrency: true }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-resume-'));
  let reference: CliResult;
  let referenceJson: RunJson;

  before(async () => {
    reference = await cliAsync([...GRID, '--out', path.join(tmp, 'reference'), '--json']);
    assert.equal(reference.status, 0, reference.stderr);
    referenceJson = parseJson(reference);
  });

  it('writes plain progress lines without escape codes when stderr is not a terminal, and only JSON on stdout', () => {
    assert.match(reference.stderr, /^\[1\/2\] checkerboard: cfm seed 0$/m);
    assert.match(reference.stderr, /^ {2}fdm lambda=0\.1 seed 0 it 120\/120 {2}loss \d+\.\d{4} {2}cfm \d+\.\d{4} {2}cdm \d+\.\d{4} {2}\d+\.\d ms\/it$/m);
    assert.match(reference.stderr, /^ {2}fdm lambda=0\.1 seed 0: ok$/m);
    assert.doesNotMatch(reference.stderr, /\x1b/);
    assert.deepEqual(Object.keys(referenceJson), ['runId', 'runDir', 'backend', 'records']);
    assert.equal(readStatus(referenceJson.runDir).state, 'complete');
  });

  it('stops on SIGINT after the current iteration with exit 130, and --resume ends with identical metrics', async () => {
    const out = path.join(tmp, 'sigint');
    const stopped = await cliAsync([...GRID, '--out', out, '--json'], { when: /fdm lambda=0\.1 seed 0 it 20\/120/, signal: 'SIGINT' });
    assert.equal(stopped.status, 130, stopped.stderr);
    const { runDir, records, interrupted } = parseJson(stopped);
    assert.equal(records.length, 1, 'the finished CFM run is kept');
    assert.deepEqual(metricsOf(records), metricsOf(referenceJson.records.slice(0, 1)));
    assert.equal(interrupted?.run, 'fdm lambda=0.1 seed 0');
    assert.ok(interrupted!.iteration >= 20 && interrupted!.iteration < 120, `stopped at ${interrupted!.iteration}`);
    assert.deepEqual(readStatus(runDir).interrupted, interrupted);
    assert.ok(fs.existsSync(path.join(runDir, interrupted!.checkpoint!)));
    assert.match(stopped.stderr, new RegExp(`continue with: fdm-bench run --resume ${runDir}`));

    const resumed = await cliAsync(['run', '--resume', runDir, '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /\[1\/2\] checkerboard: cfm seed 0: ok \(already in the run directory\)/);
    assert.match(resumed.stderr, new RegExp(`fdm lambda=0\\.1 seed 0 \\(resumed from iteration ${interrupted!.iteration}\\)`));
    assert.deepEqual(metricsOf(parseJson(resumed).records), metricsOf(referenceJson.records));
    assert.equal(readStatus(runDir).state, 'complete');
  });

  it('stops on SIGTERM with exit 143, leaving a checkpoint and the status', async () => {
    const out = path.join(tmp, 'sigterm');
    const stopped = await cliAsync([...GRID, '--out', out], { when: /cfm seed 0 it 10\/120/, signal: 'SIGTERM' });
    assert.equal(stopped.status, 143, stopped.stderr);
    const status = readStatus(onlyRunDir(out));
    assert.equal(status.state, 'interrupted');
    assert.equal(status.interrupted?.signal, 'SIGTERM');
    assert.equal(status.interrupted?.run, 'cfm seed 0');
  });

  it('after kill -9, keeps every finished record and resumes from the last periodic checkpoint to identical metrics', async () => {
    const out = path.join(tmp, 'sigkill');
    const killed = await cliAsync([...GRID, '--out', out], { when: /fdm lambda=0\.1 seed 0 it 50\/120/, signal: 'SIGKILL' });
    assert.equal(killed.status, null);
    const runDir = onlyRunDir(out);
    const { records, warnings } = parseRecordsFile('records.jsonl', fs.readFileSync(path.join(runDir, 'records.jsonl'), 'utf8'));
    assert.deepEqual(warnings, []);
    assert.deepEqual(metricsOf(records), metricsOf(referenceJson.records.slice(0, 1)));
    assert.equal(readStatus(runDir).state, 'running', 'a killed process cannot mark its directory');

    const resumed = await cliAsync(['run', '--resume', runDir, '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /fdm lambda=0\.1 seed 0 \(resumed from iteration (40|80)\)/);
    assert.deepEqual(metricsOf(parseJson(resumed).records), metricsOf(referenceJson.records));
  });

  it('`sample` draws from a saved model as CSV or NPY with the figure, and names a corrupt model file', async () => {
    const runDir = referenceJson.runDir;
    const npyFile = path.join(tmp, 'fdm.npy');
    const [csv, npy, unknown] = await Promise.all([
      cliAsync(['sample', runDir]),
      cliAsync(['sample', runDir, '--run', 'fdm lambda=0.1 seed 0', '-n', '300', '--format', 'npy', '--out', npyFile, '--json']),
      cliAsync(['sample', runDir, '--run', '3']),
    ]);
    assert.equal(csv.status, 0, csv.stderr);
    const csvFile = path.join(runDir, 'samples', 'cfm-seed-0.csv');
    const lines = fs.readFileSync(csvFile, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'x0,x1');
    assert.equal(lines.length, 2001);
    assert.ok(lines.slice(1).every((line) => line.split(',').every((v) => Number.isFinite(Number(v)))));
    assert.ok(fs.existsSync(path.join(runDir, 'samples', 'cfm-seed-0.png')));

    assert.equal(npy.status, 0, npy.stderr);
    assert.deepEqual(JSON.parse(npy.stdout), { run: 'fdm lambda=0.1 seed 0', count: 300, format: 'npy', samples: npyFile, figure: path.join(tmp, 'fdm.png') });
    const bytes = fs.readFileSync(npyFile);
    assert.match(bytes.toString('latin1', 0, 128), /'shape': \(300, 2\)/);
    assert.equal(bytes.length, 128 + 300 * 2 * 4);
    assert.ok(fs.existsSync(path.join(tmp, 'fdm.png')));

    const modelFile = path.join(runDir, 'models', 'cfm-seed-0.json');
    const model = fs.readFileSync(modelFile);
    fs.writeFileSync(modelFile, model.subarray(0, 500));
    const corrupt = await cliAsync(['sample', runDir, '--run', 'cfm-seed-0']);
    fs.writeFileSync(modelFile, model);
    for (const [result, message] of [
      [corrupt, /model file .*cfm-seed-0\.json is truncated or corrupt/],
      [unknown, /no run '3' in this run directory; its runs: 1 'cfm seed 0', 2 'fdm lambda=0\.1 seed 0'/],
    ] as const) {
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr.replace(/\s*\n ›\s*/g, ' '), message);
    }
  });
});
