import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { RunRecord } from '../src/results/record';
import { parseRecordsFile } from '../src/results/store';
import { RunStatus } from '../src/runner/runner';
import { cliAsync, CliResult } from './helpers/cli';
import { makeRecord } from './helpers/run-records';

/** Four runs: CFM and FDM, seeds 0 and 1. */
const GRID = ['run', 'checkerboard', '--preset', 'ci', '--iterations', '40', '--seeds', '2', '--json'];

interface RunJson {
  runDir: string;
  records: RunRecord[];
  failures?: string[];
}

const byRun = (records: RunRecord[]) => Object.fromEntries(records.map((r) => [`${r.method} seed ${r.seed}`, r.metrics]));
const readStatus = (runDir: string): RunStatus => JSON.parse(fs.readFileSync(path.join(runDir, 'status.json'), 'utf8'));

/** The records of a records.jsonl, checking that it holds only whole lines. */
function wholeLines(file: string): RunRecord[] {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), 'the file ends with a whole line');
  const { records, warnings } = parseRecordsFile(file, text);
  assert.deepEqual(warnings, []);
  assert.equal(records.length, text.split('\n').length - 1, 'one record per line');
  return records;
}

describe('run --jobs (command line)', { concurrency: true }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-jobs-'));
  let serial: CliResult;
  let parallel: CliResult;
  let parallelJson: RunJson;

  before(async () => {
    [serial, parallel] = await Promise.all([
      cliAsync([...GRID, '--out', path.join(tmp, 'serial')]),
      cliAsync([...GRID, '--jobs', '2', '--out', path.join(tmp, 'parallel')]),
    ]);
    assert.equal(serial.status, 0, serial.stderr);
    assert.equal(parallel.status, 0, parallel.stderr);
    parallelJson = JSON.parse(parallel.stdout);
  });

  it('gives the same metrics per (method, seed) as --jobs 1, in one run directory with whole lines and the summaries', () => {
    const serialJson: RunJson = JSON.parse(serial.stdout);
    assert.deepEqual(parallelJson.records.map((r) => `${r.method} seed ${r.seed}`), ['cfm seed 0', 'cfm seed 1', 'fdm seed 0', 'fdm seed 1']);
    assert.deepEqual(byRun(parallelJson.records), byRun(serialJson.records));
    const { runDir } = parallelJson;
    const lines = wholeLines(path.join(runDir, 'records.jsonl'));
    assert.equal(lines.length, 4);
    assert.deepEqual(byRun(lines), byRun(serialJson.records));
    for (const file of ['config.yaml', 'environment.json', 'records.csv', 'table.md', 'samples.png', 'training-curves.png']) {
      assert.ok(fs.existsSync(path.join(runDir, file)), file);
    }
    assert.equal(fs.readFileSync(path.join(runDir, 'records.csv'), 'utf8').trimEnd().split('\n').length, 5);
    assert.deepEqual(readStatus(runDir), { ...readStatus(runDir), state: 'complete', runs: 4, finished: 4, diverged: 0 });
    assert.ok(!fs.existsSync(path.join(runDir, 'checkpoints')) || fs.readdirSync(path.join(runDir, 'checkpoints')).length === 0);
    // Two workers, each with whole runs, their plain progress lines prefixed with the worker number.
    assert.match(parallel.stderr, /^4 run\(s\) in 2 worker process\(es\)$/m);
    assert.match(parallel.stderr, /^\[worker 1\] \[1\/4\] checkerboard: cfm seed 0$/m);
    assert.match(parallel.stderr, /^\[worker 2\] \[2\/4\] checkerboard: cfm seed 1$/m);
    assert.match(parallel.stderr, /^\[worker 2\] {3}fdm lambda=0\.1 seed 1: ok$/m);
    assert.doesNotMatch(parallel.stderr, /\x1b/);
  });

  it('rejects a --jobs that is not a positive integer with exit 2', async () => {
    // (Without --json: with it, oclif turns every error's exit code into 1.)
    const args = GRID.filter((arg) => arg !== '--json');
    const results = await Promise.all(['0', 'two'].map((n) => cliAsync([...args, '--jobs', n, '--out', path.join(tmp, 'rejected')])));
    for (const result of results) {
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /--jobs/);
    }
    assert.match(results[0].stderr, /greater than or equal to 1/);
    assert.ok(!fs.existsSync(path.join(tmp, 'rejected')), 'nothing ran');
  });

  it('reports a failed worker, summarises the runs that finished and exits 1', async () => {
    // The parallel run's directory without the FDM records, and a corrupt checkpoint for the last run.
    const runDir = path.join(tmp, 'failing');
    fs.cpSync(parallelJson.runDir, runDir, { recursive: true });
    const records = path.join(runDir, 'records.jsonl');
    fs.writeFileSync(records, wholeLines(records).filter((r) => r.method === 'cfm').map((r) => JSON.stringify(r) + '\n').join(''));
    fs.mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
    fs.writeFileSync(path.join(runDir, 'checkpoints', 'fdm-lambda-0.1-seed-1.json'), 'garbage');
    fs.rmSync(path.join(runDir, 'table.md'));
    const result = await cliAsync(['run', '--resume', runDir, '--jobs', '3', '--json']);
    assert.equal(result.status, 1, result.stderr);
    const json: RunJson = JSON.parse(result.stdout);
    assert.match(json.failures?.join('\n') ?? '', /^worker 2 \(runs 4\) exited with code \d+: checkpoint file .* is truncated or corrupt/);
    assert.match(result.stderr, /^2 run\(s\) in 2 worker process\(es\)$/m, 'no more workers than runs');
    assert.match(result.stderr, /^worker 2 \(runs 4\) exited/m);
    assert.deepEqual(byRun(wholeLines(records)), byRun(parallelJson.records.slice(0, 3)));
    assert.ok(fs.existsSync(path.join(runDir, 'table.md')));
    const status = readStatus(runDir);
    assert.equal(status.state, 'failed');
    assert.equal(status.finished, 3);
    assert.deepEqual(status.failures, json.failures);
  });

  it('keeps records.jsonl whole lines when several processes append at once, for records of up to 250 kB', async () => {
    const file = path.join(tmp, 'appends', 'records.jsonl');
    const store = path.resolve(__dirname, '..', 'src', 'results', 'store.js');
    const base = JSON.stringify(makeRecord({ method: 'fdm', seed: 0, nll: 3.9, msPerIter: 30 }));
    // Each process appends 30 records whose loss histories make lines from 1 kB to 250 kB (ours are 1-3 kB).
    const writer = `
      const { appendRecord } = require(${JSON.stringify(store)});
      for (let i = 0; i < 30; i++) {
        const size = Math.round(10 * 300 ** (i / 29));
        const history = Array.from({ length: size }, (_, k) => ({ iteration: k, total: 1 + k / 3, cfm: 0.5, cdm: k / 7 }));
        appendRecord(${JSON.stringify(file)}, { ...${base}, seed: Number(process.argv[1]) * 100 + i, history });
      }`;
    const exits = [1, 2, 3, 4].map(
      (n) => new Promise<number | null>((resolve) => spawn(process.execPath, ['-e', writer, String(n)], { stdio: 'inherit' }).on('close', resolve)),
    );
    assert.deepEqual(await Promise.all(exits), [0, 0, 0, 0]);
    const records = wholeLines(file);
    assert.equal(records.length, 120);
    assert.equal(new Set(records.map((r) => r.seed)).size, 120);
  });
});
