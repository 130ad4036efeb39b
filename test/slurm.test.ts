import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { RunRecord } from '../src/results/record';
import { parseRecordsFile } from '../src/results/store';
import { RunStatus } from '../src/runner/runner';
import { cliAsync, CliResult } from './helpers/cli';

/**
 * The grid through a real Slurm (scripts/slurm-local.sh up brings up a one-node cluster; CI does so
 * before `npm test`). Skipped, saying why, where sinfo does not answer.
 */
function slurmAbsence(): string | undefined {
  const sinfo = spawnSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 15_000 });
  if (sinfo.error) return `no Slurm here (sinfo: ${sinfo.error.message}); scripts/slurm-local.sh up brings up a one-node cluster`;
  if (sinfo.status !== 0 || sinfo.stdout.trim() === '') return `Slurm does not answer (sinfo: ${sinfo.stderr.trim() || 'no nodes'}); scripts/slurm-local.sh up brings it up`;
  return undefined;
}

/** Four runs: CFM and FDM, seeds 0 and 1. */
const GRID = ['run', 'checkerboard', '--preset', 'ci', '--iterations', '40', '--seeds', '2', '--json'];
const SLURM = ['--executor', 'slurm', '--poll-interval', '1'];

interface RunJson {
  runDir: string;
  records: RunRecord[];
  failures?: string[];
  interrupted?: { run: string; iteration: number };
  jobs?: { array: string; merge: string };
}

const parse = (result: CliResult): RunJson => JSON.parse(result.stdout);
const readStatus = (runDir: string): RunStatus => JSON.parse(fs.readFileSync(path.join(runDir, 'status.json'), 'utf8'));
const names = (records: RunRecord[]) => records.map((r) => `${r.method} seed ${r.seed}`);
const metrics = (records: RunRecord[]) => records.map((r) => ({ run: `${r.method} seed ${r.seed}`, metrics: r.metrics, backend: r.backend }));

/** The records of a records.jsonl, checking that it holds whole lines only. */
function storedRecords(runDir: string): RunRecord[] {
  const file = path.join(runDir, 'records.jsonl');
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'));
  const { records, warnings } = parseRecordsFile(file, text);
  assert.deepEqual(warnings, []);
  return records;
}

/** Whether any job of the grid's latest submission is still queued or running. */
function jobsLive(runDir: string): boolean {
  const { arrayJob, mergeJob } = JSON.parse(fs.readFileSync(path.join(runDir, 'slurm', 'jobs.json'), 'utf8'));
  const squeue = spawnSync('squeue', ['-h', '-j', `${arrayJob},${mergeJob}`, '-t', 'PD,R,CG', '-o', '%i'], { encoding: 'utf8' });
  return squeue.stdout.trim() !== '';
}

const absent = slurmAbsence();

describe('run --executor slurm on a real Slurm', { concurrency: true, skip: absent }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-slurm-'));
  let local: RunJson;
  let slurm: RunJson;
  let slurmRun: CliResult;

  before(async () => {
    const [localRun, onSlurm] = await Promise.all([cliAsync([...GRID, '--out', path.join(tmp, 'local')]), cliAsync([...GRID, ...SLURM, '--out', path.join(tmp, 'slurm')])]);
    assert.equal(localRun.status, 0, localRun.stderr);
    assert.equal(onSlurm.status, 0, onSlurm.stderr);
    [local, slurm, slurmRun] = [parse(localRun), parse(onSlurm), onSlurm];
  });

  it('gives the local executor\'s metrics bit for bit, from an array task per run and a merge job', () => {
    assert.deepEqual(names(slurm.records), ['cfm seed 0', 'cfm seed 1', 'fdm seed 0', 'fdm seed 1']);
    assert.deepEqual(metrics(slurm.records), metrics(local.records));
    const { runDir } = slurm;
    assert.deepEqual(metrics(storedRecords(runDir)), metrics(local.records), 'records.jsonl: merged in grid order');
    assert.ok(!fs.existsSync(path.join(runDir, 'parts')), 'no parts left');
    assert.ok(!fs.existsSync(path.join(runDir, 'progress')), 'no progress files left');
    for (const file of ['grid.sbatch', 'merge.sbatch', 'submit.sh', 'jobs.json', 'task-0.out', 'task-3.err', 'merge.out']) assert.ok(fs.existsSync(path.join(runDir, 'slurm', file)), file);
    for (const file of ['records.csv', 'table.md', 'samples.png', 'training-curves.png']) assert.ok(fs.existsSync(path.join(runDir, file)), file);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(runDir, 'executor.json'), 'utf8')), { executor: 'slurm', slurm: {} });
    assert.equal(readStatus(runDir).state, 'complete');
    assert.match(slurmRun.stderr, /^4 run\(s\) submitted to Slurm: array job \d+ \(a task per run\), then merge job \d+/m);
    assert.match(slurmRun.stderr, /^ {2}fdm lambda=0\.1 seed 1: ok$/m);
  });

  it('reports a failing array task with its log while the others finish; --resume submits only what is missing', async () => {
    // The Slurm run's directory without its FDM records, and a corrupt checkpoint that makes the last run fail.
    const runDir = path.join(tmp, 'failing', path.basename(slurm.runDir));
    fs.cpSync(slurm.runDir, runDir, { recursive: true });
    const records = path.join(runDir, 'records.jsonl');
    fs.writeFileSync(records, storedRecords(runDir).filter((r) => r.method === 'cfm').map((r) => JSON.stringify(r) + '\n').join(''));
    fs.mkdirSync(path.join(runDir, 'checkpoints'));
    fs.writeFileSync(path.join(runDir, 'checkpoints', 'fdm-lambda-0.1-seed-1.json'), 'garbage');

    // The recorded executor (slurm) is kept.
    const failed = await cliAsync(['run', '--resume', runDir, '--poll-interval', '1', '--json']);
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stderr, /^2 run\(s\) submitted to Slurm/m);
    const failures = parse(failed).failures ?? [];
    assert.equal(failures.length, 1);
    assert.match(failures[0], /^Slurm task \d+_1 \(run 4, fdm lambda=0\.1 seed 1\) FAILED: checkpoint file .*fdm-lambda-0\.1-seed-1\.json is truncated or corrupt/);
    assert.match(failures[0], /\n {2}the end of .*slurm\/task-3\.err:\n {4}backend: /);
    assert.match(failed.stderr, /continue with: fdm-bench run --resume/);
    assert.deepEqual(metrics(storedRecords(runDir)), metrics(local.records.slice(0, 3)), 'the other task finished');
    assert.equal(readStatus(runDir).state, 'failed');
    const status = await cliAsync(['status', runDir]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /3 finished, 1 failed/);
    assert.match(status.stdout, /^failed +fdm lambda=0\.1 seed 1 +FAILED: checkpoint file .*; Slurm task \d+_1; log .*slurm\/task-3\.err$/m);

    fs.rmSync(path.join(runDir, 'checkpoints', 'fdm-lambda-0.1-seed-1.json'));
    const resumed = await cliAsync(['run', '--resume', runDir, '--poll-interval', '1', '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /^1 run\(s\) submitted to Slurm/m);
    assert.deepEqual(metrics(parse(resumed).records), metrics(local.records));
    assert.deepEqual(metrics(storedRecords(runDir)), metrics(local.records));
    assert.equal(readStatus(runDir).state, 'complete');
  });

  it('--detach returns with the job ids; the grid cannot be resumed while they live; the merge job finishes it', async () => {
    // Held jobs stay queued until released: the checks below cannot race the grid.
    const detached = await cliAsync([...GRID, ...SLURM, '--detach', '--sbatch-arg=--hold', '--out', path.join(tmp, 'detached')]);
    assert.equal(detached.status, 0, detached.stderr);
    const { runDir, jobs } = parse(detached);
    const recorded = JSON.parse(fs.readFileSync(path.join(runDir, 'slurm', 'jobs.json'), 'utf8'));
    assert.deepEqual([recorded.arrayJob, recorded.mergeJob], [jobs!.array, jobs!.merge]);

    const status = await cliAsync(['status', runDir, '--json']);
    assert.equal(status.status, 0, status.stderr);
    assert.deepEqual(JSON.parse(status.stdout).runs.map((r: { phase: string }) => r.phase), ['queued', 'queued', 'queued', 'queued']);
    const refused = await cliAsync(['run', '--resume', runDir]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /this grid's Slurm jobs .* are still queued or running/);

    const release = spawnSync('scontrol', ['release', jobs!.array, jobs!.merge], { encoding: 'utf8' });
    assert.equal(release.status, 0, release.stderr);
    const deadline = Date.now() + 240_000;
    while (readStatus(runDir).state !== 'complete' && Date.now() < deadline) await sleep(500);
    assert.equal(readStatus(runDir).state, 'complete', 'the merge job wrote the status');
    assert.deepEqual(metrics(storedRecords(runDir)), metrics(local.records));
    assert.ok(fs.existsSync(path.join(runDir, 'table.md')));
  });

  it('Ctrl-C cancels the grid\'s jobs, running tasks checkpoint, and --resume completes it', async () => {
    const args = ['run', 'checkerboard', '--preset', 'ci', '--iterations', '600', '--log-every', '50', '--seeds', '2', ...SLURM, '--json', '--out', path.join(tmp, 'interrupted')];
    const stopped = await cliAsync(args, { when: /it [1-9]\d*\/600/, signal: 'SIGINT' });
    assert.equal(stopped.status, 130, stopped.stderr);
    assert.match(stopped.stderr, /SIGINT: cancelling the grid's Slurm jobs \d+, \d+/);
    assert.match(stopped.stderr, /continue with: fdm-bench run --resume /);
    const { runDir, interrupted } = parse(stopped);
    assert.ok(interrupted, 'says where it stopped');
    assert.ok(!jobsLive(runDir), 'no job of the grid is left queued or running');
    assert.equal(readStatus(runDir).state, 'interrupted');

    const resumed = await cliAsync(['run', '--resume', runDir, '--poll-interval', '1', '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(names(parse(resumed).records), ['cfm seed 0', 'cfm seed 1', 'fdm seed 0', 'fdm seed 1']);
    assert.equal(readStatus(runDir).state, 'complete');
  });
});

describe('reproduce --executor slurm on a real Slurm', { skip: absent }, () => {
  it('trains the missing runs as a job array, with the local executor\'s metrics; then nothing is missing', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-slurm-reproduce-'));
    const args = (out: string) => ['reproduce', '--family', 'cost', '--scale', 'ci', '--seeds', '2', '--backend', 'wasm', '--out', out, '--json', '-q'];
    const [local, slurm] = await Promise.all([cliAsync(args(path.join(tmp, 'local'))), cliAsync([...args(path.join(tmp, 'slurm')), ...SLURM])]);
    assert.equal(local.status, 0, local.stderr);
    assert.equal(slurm.status, 0, slurm.stderr);
    const trained = (result: CliResult): string[] => JSON.parse(result.stdout).trained;
    assert.equal(trained(slurm).length, 1);
    assert.ok(fs.existsSync(path.join(trained(slurm)[0], 'slurm', 'grid.sbatch')), 'the runs went through Slurm');
    const sorted = (records: RunRecord[]) => metrics(records).sort((a, b) => (a.run < b.run ? -1 : 1));
    assert.deepEqual(sorted(storedRecords(trained(slurm)[0])), sorted(storedRecords(trained(local)[0])));
    const again = await cliAsync(args(path.join(tmp, 'slurm')));
    assert.deepEqual(trained(again), []);
  });
});
