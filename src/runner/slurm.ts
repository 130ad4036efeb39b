import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../results/store';

/**
 * Slurm as an executor of grids: the batch scripts a grid is submitted with, what Slurm says about
 * its jobs, and what a run directory records about them. Everything here talks to Slurm through its
 * commands (sbatch, squeue, scancel), which is all a login node is sure to have.
 */

/** The sbatch options `run --executor slurm` passes through (flags --partition ... --sbatch-arg). */
export interface SlurmOptions {
  partition?: string;
  time?: string;
  mem?: string;
  cpusPerTask?: number;
  gres?: string;
  account?: string;
  /** Further sbatch arguments, as given (--sbatch-arg, repeatable). */
  extra?: string[];
}

/** Which executor a run directory's grid was last run with, so that --resume keeps it (`executor.json`). */
export type ExecutorRecord = { executor: 'local' } | { executor: 'slurm'; slurm: SlurmOptions };

/** A bad value for Slurm: the message names the flag. */
export class SlurmOptionError extends Error {}

/** sbatch's own --time formats: minutes, m:s, h:m:s, d-h, d-h:m, d-h:m:s; or no limit. */
const TIME_PATTERN = /^(\d+(-\d+)?(:\d+){0,2}|UNLIMITED|INFINITE)$/i;
/** sbatch's --mem: a whole number, megabytes unless a unit K, M, G or T follows. */
const MEM_PATTERN = /^\d+[KMGT]?$/i;
/** Options the executor sets itself: given again, they would break the grid's job array or its logs. */
const OWN_OPTIONS = ['--array', '-a', '--dependency', '-d', '--output', '-o', '--error', '-e', '--wrap', '--parsable', '--kill-on-invalid-dep', '--job-name', '-J'];

/** Checks the pass-through options before anything is submitted or created. */
export function checkSlurmOptions(options: SlurmOptions): void {
  if (options.time !== undefined && !TIME_PATTERN.test(options.time)) {
    throw new SlurmOptionError(`--time '${options.time}': expected minutes or a time such as 4:00:00 or 2-00:00:00`);
  }
  if (options.mem !== undefined && !MEM_PATTERN.test(options.mem)) {
    throw new SlurmOptionError(`--mem '${options.mem}': expected megabytes or a size such as 4G`);
  }
  for (const [flag, value] of [['--partition', options.partition], ['--gres', options.gres], ['--account', options.account]] as const) {
    if (value !== undefined && value.trim() === '') throw new SlurmOptionError(`${flag}: empty value`);
  }
  for (const arg of options.extra ?? []) {
    // A word that is not an option would become sbatch's script, and the grid's script its argument.
    if (!arg.startsWith('-')) throw new SlurmOptionError(`--sbatch-arg '${arg}': expected an sbatch option such as --qos=high`);
    const name = arg.split('=')[0];
    if (OWN_OPTIONS.includes(name)) throw new SlurmOptionError(`--sbatch-arg '${arg}': ${name} is set by fdm-bench itself`);
  }
}

/**
 * A POSIX shell word that stands for exactly `value`: single quotes keep every character literal
 * ($, backticks, ;, newlines, backslashes), and a single quote itself is closed, escaped and reopened.
 */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The files of a run directory that concern Slurm, all under `slurm/`. */
export function slurmFiles(dir: string) {
  const root = path.join(dir, 'slurm');
  return {
    root,
    grid: path.join(root, 'grid.sbatch'),
    merge: path.join(root, 'merge.sbatch'),
    submit: path.join(root, 'submit.sh'),
    /** The job ids of the latest submission (SlurmSubmission). */
    jobs: path.join(root, 'jobs.json'),
    taskOut: (index: number) => path.join(root, `task-${index}.out`),
    taskErr: (index: number) => path.join(root, `task-${index}.err`),
    mergeOut: path.join(root, 'merge.out'),
    mergeErr: path.join(root, 'merge.err'),
  };
}

export interface GridScriptsInput {
  /** The run directory, absolute: the jobs may start in any directory. */
  dir: string;
  /** The node.js binary and fdm-bench's bin/run.js, absolute, as the compute nodes see them. */
  node: string;
  bin: string;
  /** The grid indices to run, one array task each, in array task order. */
  runs: readonly number[];
  jobName: string;
  options: SlurmOptions;
}

/** sbatch arguments for the pass-through options, as given (one argument each, unquoted). */
function optionArgs(options: SlurmOptions, forMerge: boolean): string[] {
  const args: string[] = [];
  const add = (flag: string, value: string | number | undefined) => value !== undefined && args.push(`${flag}=${value}`);
  add('--partition', options.partition);
  add('--account', options.account);
  add('--time', options.time);
  // The merge job only reads records and draws figures: no GPU, no big memory, one CPU.
  if (!forMerge) {
    add('--mem', options.mem);
    add('--cpus-per-task', options.cpusPerTask);
    add('--gres', options.gres);
  }
  return [...args, ...(options.extra ?? [])];
}

/**
 * The grid's batch scripts, every value they carry shell-quoted:
 * - grid.sbatch, a job array of one task per run (whole runs): task i runs grid index runs[i] as a
 *   worker, `run --resume <dir> --worker-runs <index> --json`, its stdout (the JSON report) and stderr
 *   (progress lines) going to slurm/task-<index>.out and .err;
 * - merge.sbatch, `run --resume <dir> --merge-only`, which merges the runs' records and writes the
 *   summaries and status.json;
 * - submit.sh, which submits the array and then the merge job with --dependency=afterok on it and
 *   --kill-on-invalid-dep=yes (a failed task cancels the merge instead of leaving it pending for
 *   ever), and prints the two job ids. `bash submit.sh` resubmits the grid as it was.
 */
export function gridScripts(input: GridScriptsInput): { grid: string; merge: string; submit: string } {
  const files = slurmFiles(input.dir);
  const q = shellQuote;
  const worker = `exec ${q(input.node)} ${q(input.bin)} run --resume ${q(input.dir)}`;
  const grid = [
    '#!/bin/bash',
    `# fdm-bench: one array task per run of the grid in ${input.dir.replace(/\n/g, ' ')}, whole runs.`,
    '# Array task i runs grid index runs[i]; its report and log go to task-<index>.out/.err beside this file.',
    'set -euo pipefail',
    `runs=(${input.runs.join(' ')})`,
    'index=${runs[$SLURM_ARRAY_TASK_ID]}',
    `exec >${q(files.root)}/"task-$index.out" 2>${q(files.root)}/"task-$index.err"`,
    `${worker} --worker-runs "$index" --json`,
    '',
  ].join('\n');
  const merge = [
    '#!/bin/bash',
    '# fdm-bench: merges the records of the grid\'s array tasks, writes the summaries and status.json.',
    'set -euo pipefail',
    `exec >${q(files.mergeOut)} 2>${q(files.mergeErr)}`,
    `${worker} --merge-only --json`,
    '',
  ].join('\n');
  // The jobs' own output goes nowhere: the scripts send theirs to the run directory's logs first thing.
  const common = ['sbatch', '--parsable', '--output=/dev/null', '--error=/dev/null'];
  const arrayCommand = [...common, `--job-name=${q(input.jobName)}`, `--array=0-${input.runs.length - 1}`, ...optionArgs(input.options, false).map(q), q(files.grid)];
  const mergeCommand = [
    ...common,
    `--job-name=${q(`${input.jobName}-merge`)}`,
    '--dependency=afterok:"$array"',
    '--kill-on-invalid-dep=yes',
    ...optionArgs(input.options, true).map(q),
    q(files.merge),
  ];
  const submit = [
    '#!/bin/bash',
    '# fdm-bench: submits the grid (grid.sbatch, a job array) and the merge job that runs once every',
    '# array task succeeded (merge.sbatch), and prints the two job ids. Runs that already have a record',
    '# are skipped by their tasks, so `bash submit.sh` resubmits the grid as it was.',
    'set -euo pipefail',
    `array=$(${arrayCommand.join(' ')})`,
    // --parsable prints "jobid" or "jobid;cluster".
    'array=${array%%;*}',
    `if ! merge=$(${mergeCommand.join(' ')}); then`,
    '  scancel "$array"',
    '  exit 1',
    'fi',
    'echo "$array ${merge%%;*}"',
    '',
  ].join('\n');
  return { grid, merge, submit };
}

/** The job ids of a grid's latest submission (slurm/jobs.json). */
export interface SlurmSubmission {
  arrayJob: string;
  mergeJob: string;
  /** The grid index each array task runs, by task id. */
  runs: number[];
  submittedAt: string;
}

/** A small JSON file of the run directory; undefined when absent, an error naming it when corrupt. */
function readJsonFile<T>(file: string): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is corrupt: ${(err as Error).message}`);
  }
}

export function writeSubmission(dir: string, submission: SlurmSubmission): void {
  writeFileAtomic(slurmFiles(dir).jobs, JSON.stringify(submission, null, 2) + '\n');
}

export function readSubmission(dir: string): SlurmSubmission | undefined {
  return readJsonFile<SlurmSubmission>(slurmFiles(dir).jobs);
}

const executorFile = (dir: string) => path.join(dir, 'executor.json');

export function writeExecutorRecord(dir: string, record: ExecutorRecord): void {
  writeFileAtomic(executorFile(dir), JSON.stringify(record, null, 2) + '\n');
}

/** The executor a run directory records; a directory from before executors were recorded ran locally. */
export function readExecutorRecord(dir: string): ExecutorRecord {
  return readJsonFile<ExecutorRecord>(executorFile(dir)) ?? { executor: 'local' };
}

/** One job, or one task of an array job, as squeue lists it. */
export interface SlurmJobState {
  /** The job id; for an array task, the array's job id. */
  job: string;
  /** The task id of an array task. */
  arrayTask?: number;
  /** Slurm's state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
  state: string;
  /** Why it is pending (Resources, Priority, Dependency, ...); 'None' otherwise. */
  reason: string;
  /** Where it runs or ran; empty while pending. */
  node: string;
}

/**
 * What squeue answered. An error is not completion: only "Invalid job id" means the jobs have left
 * the controller's memory (MinJobAge after they ended); any other failure, a controller down or
 * unreachable among them, leaves their states unknown.
 */
export type SlurmQuery = { reachable: true; jobs: SlurmJobState[] } | { reachable: false; message: string };

/** States in which a job can still run: everything else is final. */
const LIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED', 'RESV_DEL_HOLD']);

export function isLiveState(state: string): boolean {
  return LIVE_STATES.has(state);
}

/** States in which a job waits to start. */
export function isQueuedState(state: string): boolean {
  return ['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD'].includes(state);
}

/** squeue's format for parseSqueue: job id (array_task for array tasks), state, reason, node. */
export const SQUEUE_FORMAT = '%i|%T|%r|%N';

/** Parses `squeue -h -r -o '%i|%T|%r|%N'` output. */
export function parseSqueue(stdout: string): SlurmJobState[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, state, reason = '', node = ''] = line.trim().split('|');
      const match = /^(\d+)_(\d+)$/.exec(id);
      return { job: match ? match[1] : id, ...(match ? { arrayTask: Number(match[2]) } : {}), state, reason, node };
    });
}

/** squeue's answer from its exit status and output. */
export function interpretSqueue(result: { code: number; stdout: string; stderr: string }): SlurmQuery {
  if (result.code === 0) return { reachable: true, jobs: parseSqueue(result.stdout) };
  if (/Invalid job id specified/i.test(result.stderr)) return { reachable: true, jobs: [] };
  const message = result.stderr.trim().split('\n').pop() || `squeue exited with code ${result.code}`;
  return { reachable: false, message };
}

/** The Slurm commands the executor uses; tests substitute their own. */
export interface SlurmClient {
  /** Runs a submit.sh; returns its two job ids. */
  submit(script: string): Promise<{ arrayJob: string; mergeJob: string }>;
  query(jobIds: readonly string[]): Promise<SlurmQuery>;
  cancel(jobIds: readonly string[]): Promise<void>;
}

/** sbatch refused the grid, or a Slurm command failed: the message is Slurm's. */
export class SlurmCommandError extends Error {}

const run = promisify(execFile);
/** A Slurm command that hangs (a controller that accepts but does not answer) must not hang the grid. */
const COMMAND_TIMEOUT_MS = 60_000;

async function runCommand(file: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (failed.code === 'ENOENT') throw new SlurmCommandError(`${file} not found on PATH`);
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr || failed.message };
  }
}

/** Slurm's own commands, found on PATH. */
export const slurmCommands: SlurmClient = {
  async submit(script) {
    const result = await runCommand('bash', [script]);
    const ids = /^(\d+) (\d+)$/m.exec(result.stdout);
    if (result.code !== 0 || !ids) throw new SlurmCommandError(`sbatch refused the grid: ${result.stderr.trim().split('\n').pop() || result.stdout.trim()}`);
    return { arrayJob: ids[1], mergeJob: ids[2] };
  },
  async query(jobIds) {
    return interpretSqueue(await runCommand('squeue', ['-h', '-r', '-t', 'all', '-j', jobIds.join(','), '-o', SQUEUE_FORMAT]));
  },
  async cancel(jobIds) {
    const result = await runCommand('scancel', [...jobIds]);
    if (result.code !== 0) throw new SlurmCommandError(`scancel ${jobIds.join(' ')} failed: ${result.stderr.trim()}`);
  },
};

/**
 * Asks sbatch, without submitting anything (--test-only), whether it takes these options, so that a
 * wrong partition, account or GPU request is refused before a run directory is created.
 */
export async function checkSbatchAccepts(options: SlurmOptions): Promise<void> {
  const result = await runCommand('sbatch', ['--test-only', '--output=/dev/null', ...optionArgs(options, false), '--wrap=true']);
  if (result.code !== 0) throw new SlurmCommandError(`sbatch refused the options: ${result.stderr.trim().split('\n').pop()}`);
}

/** Whether a command is on PATH (sbatch, before --executor slurm creates anything). */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
