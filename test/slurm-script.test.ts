import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { slurmExecutor } from '../src/cli/slurm-executor';
import { silentProgress } from '../src/cli/progress';
import { describeRun, viewGrid } from '../src/runner/grid-status';
import { GridJob } from '../src/runner/jobs';
import { progressFile, RunProgressFile } from '../src/runner/progress-files';
import { RunRecord } from '../src/results/record';
import { mergeRecordParts, readRunRecords, writeRecordPart } from '../src/runner/parts';
import { WorkerBatch } from '../src/runner/runner';
import { checkSlurmOptions, gridScripts, interpretSqueue, shellQuote, SlurmClient, SlurmQuery } from '../src/runner/slurm';
import { makeRecord } from './helpers/run-records';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');

/** Values that run commands if a script carried them unquoted: each would create a file named PWNED-<n>. */
const HOSTILE = [
  `it's; touch PWNED-1`,
  '$(touch PWNED-2)',
  '`touch PWNED-3`',
  `"; touch PWNED-4; echo "`,
  `a'b'\\'c $HOME * ! \\ "d"`,
  'line\n$(touch PWNED-5)\nbreak',
];

function bash(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) {
  return spawnSync('bash', args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8' });
}

/**
 * A stand-in for a command (sbatch, node) that records each call's arguments in `<calls>/<n>` (NUL
 * separated) and prints what `answer` says (a job id), so a script can run without Slurm.
 */
function fakeCommand(file: string, calls: string, answer = ''): void {
  fs.writeFileSync(file, `#!/bin/bash\nn=$(ls ${shellQuote(calls)} | wc -l)\nprintf '%s\\0' "$@" > ${shellQuote(calls)}/$n\n${answer}\n`, { mode: 0o755 });
}

function recordedCalls(calls: string): string[][] {
  return fs
    .readdirSync(calls)
    .sort((a, b) => Number(a) - Number(b))
    .map((name) => fs.readFileSync(path.join(calls, name), 'utf8').split('\0').slice(0, -1));
}

/** Files a hostile value would have created (the hostile directory names themselves only mention them). */
function pwnedFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((name) => /^PWNED-\d+$/.test(path.basename(name)));
}

describe('Slurm batch scripts', () => {
  it('shellQuote gives the shell back exactly the value, whatever it holds', () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-quote-'));
    for (const value of [...HOSTILE, '', 'plain', 'ünïcödé ✓']) {
      const result = bash(['-c', `printf '%s' ${shellQuote(value)}`], { cwd });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, value);
    }
    assert.deepEqual(pwnedFiles(cwd), []);
  });

  it('carries hostile paths, settings and extra arguments as plain words: bash -n passes, running them executes nothing', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-sbatch-'));
    // The run directory's own name is hostile too; the scripts write their logs into it.
    const dir = path.join(tmp, HOSTILE.slice(0, 4).join(' '));
    fs.mkdirSync(path.join(dir, 'slurm'), { recursive: true });
    const calls = path.join(tmp, 'calls');
    fs.mkdirSync(calls);
    const fakeBin = path.join(tmp, 'fake-bin');
    fs.mkdirSync(fakeBin);
    fakeCommand(path.join(fakeBin, 'node'), calls);
    // sbatch --parsable prints the job id (and a cluster name after a semicolon on federated clusters).
    fakeCommand(path.join(fakeBin, 'sbatch'), calls, 'echo "$((100 + n));cluster"');
    fakeCommand(path.join(fakeBin, 'scancel'), calls);
    const options = { partition: HOSTILE[0], account: HOSTILE[1], gres: HOSTILE[2], time: '1-02:00:00', mem: '8G', cpusPerTask: 2, extra: HOSTILE.slice(3).map((v) => `--comment=${v}`) };
    checkSlurmOptions(options);
    const evilBin = path.join(tmp, HOSTILE[4], 'run.js');
    const scripts = gridScripts({ dir, node: path.join(fakeBin, 'node'), bin: evilBin, runs: [0, 3], jobName: `fdm ${HOSTILE[1]}`, options });
    const files = { grid: path.join(dir, 'slurm', 'grid.sbatch'), merge: path.join(dir, 'slurm', 'merge.sbatch'), submit: path.join(dir, 'slurm', 'submit.sh') };
    for (const [name, file] of Object.entries(files)) {
      fs.writeFileSync(file, scripts[name as keyof typeof files]);
      const syntax = bash(['-n', file], { cwd: tmp });
      assert.equal(syntax.status, 0, `${name}: ${syntax.stderr}`);
    }
    const env = { PATH: `${fakeBin}${path.delimiter}${process.env.PATH}` };

    // Array task 1 runs grid index 3; its output goes to task-3.out/.err in the run directory.
    const task = bash([files.grid], { cwd: tmp, env: { ...env, SLURM_ARRAY_TASK_ID: '1' } });
    assert.equal(task.status, 0, task.stderr);
    const merge = bash([files.merge], { cwd: tmp, env });
    assert.equal(merge.status, 0, merge.stderr);
    const submit = bash([files.submit], { cwd: tmp, env });
    assert.equal(submit.status, 0, submit.stderr);
    assert.equal(submit.stdout, '102 103\n');

    const [taskCall, mergeCall, arrayCall, mergeSubmitCall] = recordedCalls(calls);
    assert.deepEqual(taskCall, [evilBin, 'run', '--resume', dir, '--worker-runs', '3', '--json']);
    assert.ok(fs.existsSync(path.join(dir, 'slurm', 'task-3.out')) && fs.existsSync(path.join(dir, 'slurm', 'task-3.err')));
    assert.deepEqual(mergeCall, [evilBin, 'run', '--resume', dir, '--merge-only', '--json']);
    assert.deepEqual(arrayCall, [
      '--parsable',
      '--output=/dev/null',
      '--error=/dev/null',
      `--job-name=fdm ${HOSTILE[1]}`,
      '--array=0-1',
      `--partition=${HOSTILE[0]}`,
      `--account=${HOSTILE[1]}`,
      '--time=1-02:00:00',
      '--mem=8G',
      '--cpus-per-task=2',
      `--gres=${HOSTILE[2]}`,
      ...options.extra,
      files.grid,
    ]);
    // The merge job waits for every array task and is cancelled if one fails; it needs no GPU or memory.
    assert.deepEqual(mergeSubmitCall, [
      '--parsable',
      '--output=/dev/null',
      '--error=/dev/null',
      `--job-name=fdm ${HOSTILE[1]}-merge`,
      '--dependency=afterok:102',
      '--kill-on-invalid-dep=yes',
      `--partition=${HOSTILE[0]}`,
      `--account=${HOSTILE[1]}`,
      '--time=1-02:00:00',
      ...options.extra,
      files.merge,
    ]);
    assert.deepEqual(pwnedFiles(tmp), []);
  });

  it('refuses options sbatch would misread, naming the flag', () => {
    const cases: Array<[Parameters<typeof checkSlurmOptions>[0], RegExp]> = [
      [{ mem: 'lots' }, /^--mem 'lots': expected megabytes or a size such as 4G$/],
      [{ mem: '4.5G' }, /^--mem '4.5G'/],
      [{ time: 'soon' }, /^--time 'soon': expected minutes or a time/],
      [{ partition: ' ' }, /^--partition: empty value$/],
      [{ extra: ['qos=high'] }, /^--sbatch-arg 'qos=high': expected an sbatch option/],
      [{ extra: ['--array=0-9'] }, /--array is set by fdm-bench itself/],
      [{ extra: ['--output=x.log'] }, /--output is set by fdm-bench itself/],
    ];
    for (const [options, message] of cases) assert.throws(() => checkSlurmOptions(options), { message });
    for (const time of ['90', '30:00', '4:00:00', '2-00', '2-12:00', '1-00:00:00', 'UNLIMITED']) checkSlurmOptions({ time });
    for (const mem of ['4000', '4G', '512m', '0']) checkSlurmOptions({ mem });
  });

  it('tells jobs that ended from a controller that does not answer', () => {
    assert.deepEqual(interpretSqueue({ code: 0, stdout: '12_0|RUNNING|None|node7\n12_1|PENDING|Resources|\n13|PENDING|Dependency|\n', stderr: '' }), {
      reachable: true,
      jobs: [
        { job: '12', arrayTask: 0, state: 'RUNNING', reason: 'None', node: 'node7' },
        { job: '12', arrayTask: 1, state: 'PENDING', reason: 'Resources', node: '' },
        { job: '13', state: 'PENDING', reason: 'Dependency', node: '' },
      ],
    });
    // Jobs that ended long ago (MinJobAge) are forgotten: squeue says so with this error.
    assert.deepEqual(interpretSqueue({ code: 1, stdout: '', stderr: 'slurm_load_jobs error: Invalid job id specified\n' }), { reachable: true, jobs: [] });
    const down = 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)';
    assert.deepEqual(interpretSqueue({ code: 1, stdout: '', stderr: `${down}\n` }), { reachable: false, message: down });
  });
});

/** Two runs named as a grid would name them; the executor only reads their names and keys. */
const JOBS = ['cfm seed 0', 'fdm lambda=0.1 seed 0'].map((name, index) => ({ index, name, label: name, key: name.replace(/[^A-Za-z0-9.]+/g, '-'), spec: {} }) as GridJob);

/** A Slurm whose squeue answers from a script; it records what was cancelled. */
function scriptedSlurm(answers: Array<SlurmQuery | (() => SlurmQuery)>): SlurmClient & { queries: number; cancelled: string[] } {
  const client = {
    queries: 0,
    cancelled: [] as string[],
    submit: async () => ({ arrayJob: '40', mergeJob: '41' }),
    query: async () => {
      const answer = answers[Math.min(client.queries++, answers.length - 1)];
      return typeof answer === 'function' ? answer() : answer;
    },
    cancel: async (ids: readonly string[]) => void client.cancelled.push(...ids),
  };
  return client;
}

const down: SlurmQuery = { reachable: false, message: 'Unable to contact slurm controller (connect failure)' };
const running = (tasks: string[]): SlurmQuery => ({ reachable: true, jobs: tasks.map((state, i) => ({ job: '40', arrayTask: i, state, reason: 'None', node: 'n1' })) });

function batchIn(dir: string, records: Array<RunRecord | undefined>, lines: string[], signal?: AbortSignal): WorkerBatch {
  return { dir, shares: [[0], [1]], jobs: JOBS, records: () => records, log: (line) => lines.push(line), signal };
}

describe('waiting on Slurm (a scripted squeue)', () => {
  const options = { node: process.execPath, bin: BIN, options: {}, iterations: 10, progress: silentProgress, detach: false, pollMs: 2 };

  it('does not take an unanswered squeue for the end of the jobs, and reports a task that ended without a record with its log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-wait-'));
    const records: Array<RunRecord | undefined> = [undefined, undefined];
    const client = scriptedSlurm([
      running(['RUNNING', 'RUNNING']),
      down,
      down,
      down,
      () => {
        // While the controller was down, the first run finished and the second task died.
        records[0] = makeRecord({ method: 'cfm', seed: 0, nll: 4, msPerIter: 1 });
        fs.writeFileSync(path.join(dir, 'slurm', 'task-1.err'), 'backend: wasm\nRangeError: out of memory\n');
        return { reachable: true, jobs: [] };
      },
    ]);
    const lines: string[] = [];
    const outcome = await slurmExecutor({ ...options, client })(batchIn(dir, records, lines));
    assert.equal(client.queries, 5, 'waited through the silence');
    assert.deepEqual(lines.filter((l) => /answer/.test(l)), [
      `Slurm does not answer (${down.message}); the grid's jobs are not taken for finished; still waiting`,
      'Slurm answers again',
    ]);
    assert.deepEqual(outcome.interrupted, []);
    assert.equal(outcome.failures.length, 1);
    assert.match(outcome.failures[0], /^Slurm task 40_1 \(run 2, fdm lambda=0\.1 seed 0\) ended\n {2}the end of .*task-1\.err:\n {4}backend: wasm\n {4}RangeError: out of memory$/);
    assert.equal(outcome.summarised, false);
    const submission = JSON.parse(fs.readFileSync(path.join(dir, 'slurm', 'jobs.json'), 'utf8'));
    assert.deepEqual({ ...submission, submittedAt: 'x' }, { arrayJob: '40', mergeJob: '41', runs: [0, 1], submittedAt: 'x' });
  });

  it('gives up after a long silence, leaving the jobs alone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-wait-'));
    const client = scriptedSlurm([down]);
    await assert.rejects(slurmExecutor({ ...options, client, giveUpMs: 30 })(batchIn(dir, [undefined, undefined], [])), /Slurm has not answered for .*its jobs may still run: see fdm-bench status/);
    assert.deepEqual(client.cancelled, []);
  });

  it('cancels the jobs on a signal and waits until their tasks have stopped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-wait-'));
    const controller = new AbortController();
    const client = scriptedSlurm([
      () => {
        controller.abort('SIGINT');
        return running(['RUNNING', 'PENDING']);
      },
      running(['COMPLETING', 'CANCELLED']),
      () => {
        // The running task checkpointed on scancel's SIGTERM and said where it stopped.
        fs.writeFileSync(path.join(dir, 'slurm', 'task-0.out'), JSON.stringify({ records: [], interrupted: { signal: 'SIGTERM', run: 'cfm seed 0', iteration: 7, checkpoint: 'checkpoints/cfm-seed-0.json' } }));
        return running(['CANCELLED', 'CANCELLED']);
      },
    ]);
    const lines: string[] = [];
    const outcome = await slurmExecutor({ ...options, client })(batchIn(dir, [undefined, undefined], lines, controller.signal));
    assert.deepEqual(client.cancelled, ['40', '41']);
    assert.equal(client.queries, 3);
    assert.match(lines.join('\n'), /SIGINT: cancelling the grid's Slurm jobs 40, 41/);
    assert.deepEqual(outcome.interrupted, [{ signal: 'SIGINT', run: 'cfm seed 0', iteration: 7, checkpoint: 'checkpoints/cfm-seed-0.json' }]);
    assert.deepEqual(outcome.failures, [], 'a task cancelled before it started is not a failure');
  });

  it('--detach submits and returns the job ids at once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-wait-'));
    const client = scriptedSlurm([down]);
    const outcome = await slurmExecutor({ ...options, client, detach: true })(batchIn(dir, [undefined, undefined], []));
    assert.deepEqual(outcome.detached, { array: '40', merge: '41' });
    assert.equal(client.queries, 0);
    for (const file of ['grid.sbatch', 'merge.sbatch', 'submit.sh', 'jobs.json']) assert.ok(fs.existsSync(path.join(dir, 'slurm', file)), file);
  });
});

describe('the state of each run of a local grid (status)', () => {
  it('from records, progress files and whether the process that wrote them lives', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-status-'));
    const jobs = ['a seed 0', 'b seed 0', 'c seed 0', 'd seed 0', 'e seed 0'].map((name, index) => ({ ...JOBS[0], index, name, key: name.replace(/ /g, '-') }));
    // A process that has ended: its pid is free.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    const progress = (key: string, fields: Partial<RunProgressFile>) => {
      const file: RunProgressFile = { state: 'running', iteration: 120, iterations: 400, msPerIter: 5, host: os.hostname(), pid: process.pid, updatedAt: '', ...fields };
      fs.mkdirSync(path.dirname(progressFile(dir, key)), { recursive: true });
      fs.writeFileSync(progressFile(dir, key), JSON.stringify(file));
    };
    progress('b-seed-0', {});
    progress('c-seed-0', { pid: deadPid, iteration: 80 });
    progress('d-seed-0', { pid: deadPid, iteration: 60 });
    fs.mkdirSync(path.join(dir, 'checkpoints'));
    fs.writeFileSync(path.join(dir, 'checkpoints', 'd-seed-0.json'), '{}');
    const records = [makeRecord({ method: 'cfm', seed: 0, nll: 4, msPerIter: 1 }), undefined, undefined, undefined, undefined];
    const views = viewGrid(dir, jobs, records, 400);
    assert.deepEqual(views.map((v) => v.phase), ['finished', 'running', 'failed', 'interrupted', 'pending']);
    assert.equal(describeRun(views[1]), `it 120/400, 5.0 ms/it, ETA 1s; pid ${process.pid}`);
    assert.match(describeRun(views[2]), /its process ended at iteration 80 without a record or a checkpoint/);
    assert.equal(describeRun(views[3]), 'stopped at iteration 60');
  });
});

describe('records of worker processes and array tasks (parts)', () => {
  const record = (seed: number) => makeRecord({ method: 'cfm', seed, nll: 4 + seed / 10, msPerIter: 1 });

  it('merges parts into records.jsonl in grid order, once per run, keeping every line as written', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-parts-'));
    // A field the reader does not know (it is not in the schema) must survive the rewrite.
    const withExtra = { ...record(2), timing: { ...record(2).timing, throughput: { samplesPerSecond: 5 } } };
    fs.writeFileSync(path.join(dir, 'records.jsonl'), JSON.stringify(withExtra) + '\n' + JSON.stringify(record(0)).slice(0, 50));
    writeRecordPart(dir, 'seed-1', record(1));
    writeRecordPart(dir, 'seed-0', record(0));
    writeRecordPart(dir, 'seed-2-again', { ...record(2), runId: 'duplicate' });
    assert.deepEqual(readRunRecords(dir).map((r) => r.seed), [2, 0, 1, 2]);
    const lines: string[] = [];
    const merged = mergeRecordParts(dir, (r) => r.seed, (line) => lines.push(line));
    assert.deepEqual(merged.map((r) => [r.seed, r.runId]), [[0, 'run-cfm-0'], [1, 'run-cfm-1'], [2, 'run-cfm-2']]);
    assert.match(lines.join('\n'), /dropped an incomplete final line/);
    const text = fs.readFileSync(path.join(dir, 'records.jsonl'), 'utf8');
    assert.equal(text, [record(0), record(1), withExtra].map((r) => JSON.stringify(r) + '\n').join(''));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'parts')), [], 'parts merged and removed');
  });

  it('loses and repeats no record when several processes write parts and merge at once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-parts-'));
    const parts = path.resolve(__dirname, '..', 'src', 'runner', 'parts.js');
    const base = JSON.stringify(record(0));
    // Each writer stores 25 records, merging after each one, as workers and merge jobs sharing a run directory would.
    const writer = `
      const { writeRecordPart, mergeRecordParts } = require(${JSON.stringify(parts)});
      const w = Number(process.argv[1]);
      for (let i = 0; i < 25; i++) {
        writeRecordPart(${JSON.stringify(dir)}, 'w' + w + '-' + i, { ...${base}, seed: w * 100 + i });
        mergeRecordParts(${JSON.stringify(dir)}, (r) => r.seed, () => {});
      }`;
    const exits = [1, 2, 3, 4].map((n) => new Promise<number | null>((resolve) => spawn(process.execPath, ['-e', writer, String(n)], { stdio: 'inherit' }).on('close', resolve)));
    assert.deepEqual(await Promise.all(exits), [0, 0, 0, 0]);
    const seeds = mergeRecordParts(dir, (r) => r.seed, () => {}).map((r) => r.seed);
    assert.deepEqual(seeds, [1, 2, 3, 4].flatMap((w) => Array.from({ length: 25 }, (_, i) => w * 100 + i)));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'parts')), []);
    assert.ok(!fs.existsSync(path.join(dir, '.records.lock')));
  });
});

describe('run --executor: bad input', { concurrency: true }, () => {
  const GRID = ['run', 'checkerboard', '--preset', 'ci', '--iterations', '5'];
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-executor-'));
  const runCli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args, '--out', out], { cwd: ROOT, env: { ...process.env, ...env } });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (status) => resolve({ status, stderr }));
    });

  const cases: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
    ['an unknown executor', ['--executor', 'pbs'], /--executor/],
    ['a non-numeric --mem', ['--executor', 'slurm', '--mem', 'lots'], /Error: --mem 'lots': expected megabytes or a size such as 4G\n$/],
    ['no sbatch on PATH', ['--executor', 'slurm'], /--executor slurm: sbatch is not on PATH/, { PATH: fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-empty-path-')) }],
    ['a Slurm option without Slurm', ['--partition', 'gpu'], /--partition is an option of --executor slurm/],
    ['--jobs on Slurm', ['--executor', 'slurm', '--jobs', '2'], /--jobs is an option of --executor local/],
  ];
  for (const [what, args, message, env] of cases) {
    it(`refuses ${what} with one line and exit 2, before anything runs`, async () => {
      const result = await runCli([...GRID, ...args], env);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      assert.ok(!fs.existsSync(path.join(out, 'checkerboard')) || fs.readdirSync(path.join(out, 'checkerboard')).length === 0, 'no run directory');
    });
  }
});
