import * as fs from 'node:fs';
import { Flags } from '@oclif/core';
import { Progress } from '../runner/progress';
import { RunContext } from '../runner/runner';
import {
  checkSbatchAccepts,
  checkSlurmOptions,
  ExecutorRecord,
  isLiveState,
  onPath,
  readExecutorRecord,
  readSubmission,
  slurmCommands,
  SlurmOptions,
} from '../runner/slurm';
import { slurmExecutor } from './slurm-executor';
import { workerProcesses } from './workers';

export const EXECUTORS = ['local', 'slurm'] as const;

/** The flags that say where a grid's runs run: here (--jobs) or on Slurm, with sbatch's options. */
export const executorFlags = {
  executor: Flags.string({
    options: [...EXECUTORS],
    description: 'where the runs run: local (this machine, --jobs at once) or slurm (one job array task per run); --resume keeps the recorded one',
  }),
  detach: Flags.boolean({ description: '--executor slurm: submit, print the job ids and return (follow with `fdm-bench status <run-dir>`)' }),
  partition: Flags.string({ description: '--executor slurm: the partition' }),
  time: Flags.string({ description: '--executor slurm: time limit of each run, e.g. 4:00:00 or 1-00:00:00' }),
  mem: Flags.string({ description: '--executor slurm: memory of each run, e.g. 8G (megabytes without a unit)' }),
  'cpus-per-task': Flags.integer({ min: 1, description: '--executor slurm: CPUs of each run' }),
  gres: Flags.string({ description: '--executor slurm: generic resources of each run, e.g. gpu:1' }),
  account: Flags.string({ description: '--executor slurm: the account charged' }),
  'sbatch-arg': Flags.string({ multiple: true, description: '--executor slurm: a further sbatch argument, e.g. --sbatch-arg=--qos=high (repeatable)' }),
  'poll-interval': Flags.integer({ min: 1, default: 5, description: '--executor slurm: seconds between two looks at Slurm and the run directory while waiting' }),
};

export interface ExecutorFlagValues {
  executor?: string;
  detach: boolean;
  partition?: string;
  time?: string;
  mem?: string;
  'cpus-per-task'?: number;
  gres?: string;
  account?: string;
  'sbatch-arg'?: string[];
  'poll-interval': number;
  jobs: number;
}

/** A mistake in choosing or setting up the executor; `exit` is the command's exit code. */
export class ExecutorError extends Error {
  constructor(
    message: string,
    readonly exit: number,
  ) {
    super(message);
  }
}

/** The sbatch options given by flags, by their option names (those given only). */
function givenSlurmOptions(flags: ExecutorFlagValues): { options: SlurmOptions; names: string[] } {
  const options: SlurmOptions = {};
  const names: string[] = [];
  const take = <K extends keyof SlurmOptions>(key: K, flag: keyof ExecutorFlagValues, value: SlurmOptions[K] | undefined) => {
    if (value === undefined) return;
    options[key] = value;
    names.push(`--${flag}`);
  };
  take('partition', 'partition', flags.partition);
  take('time', 'time', flags.time);
  take('mem', 'mem', flags.mem);
  take('cpusPerTask', 'cpus-per-task', flags['cpus-per-task']);
  take('gres', 'gres', flags.gres);
  take('account', 'account', flags.account);
  take('extra', 'sbatch-arg', flags['sbatch-arg']);
  return { options, names };
}

/**
 * Refuses to continue a grid whose Slurm jobs may still run (both would train the same runs), or
 * whose jobs' states cannot be known because Slurm does not answer.
 */
async function refuseWhileJobsLive(dir: string): Promise<void> {
  const submission = readSubmission(dir);
  if (!submission || !onPath('squeue')) return;
  const ids = [submission.arrayJob, submission.mergeJob];
  const query = await slurmCommands.query(ids);
  if (!query.reachable) throw new ExecutorError(`Slurm does not answer (${query.message}): cannot tell whether this grid's jobs ${ids.join(', ')} still run; try again later`, 1);
  const live = [...new Set(query.jobs.filter((job) => isLiveState(job.state)).map((job) => job.job))];
  if (live.length) throw new ExecutorError(`this grid's Slurm jobs ${live.join(', ')} are still queued or running: wait for them (fdm-bench status ${dir}) or scancel them first`, 2);
}

/**
 * The executor of this run: --executor, else the one the resumed directory recorded, else local.
 * Slurm's options (the recorded ones, overridden by flags) are checked, and sbatch asked whether it
 * takes them, before anything is created or submitted.
 */
export async function chooseExecutor(flags: ExecutorFlagValues, resumeDir?: string): Promise<ExecutorRecord> {
  let recorded: ExecutorRecord = { executor: 'local' };
  try {
    if (resumeDir && fs.existsSync(resumeDir)) recorded = readExecutorRecord(resumeDir);
  } catch (err) {
    throw new ExecutorError((err as Error).message, 2);
  }
  const executor = flags.executor ?? recorded.executor;
  const given = givenSlurmOptions(flags);
  if (executor === 'local') {
    const slurmOnly = [...given.names, ...(flags.detach ? ['--detach'] : [])];
    if (slurmOnly.length) throw new ExecutorError(`${slurmOnly[0]} is an option of --executor slurm`, 2);
  } else if (flags.jobs > 1) {
    throw new ExecutorError('--jobs is an option of --executor local: on Slurm every run is an array task of its own', 2);
  }
  if (resumeDir) await refuseWhileJobsLive(resumeDir);
  if (executor === 'local') return { executor: 'local' };
  const options = { ...(recorded.executor === 'slurm' ? recorded.slurm : {}), ...given.options };
  try {
    checkSlurmOptions(options);
  } catch (err) {
    throw new ExecutorError((err as Error).message, 2);
  }
  if (!onPath('sbatch')) throw new ExecutorError('--executor slurm: sbatch is not on PATH (Slurm\'s client commands are needed where `run` runs)', 2);
  try {
    await checkSbatchAccepts(options);
  } catch (err) {
    throw new ExecutorError(`--executor slurm: ${(err as Error).message}`, 2);
  }
  return { executor: 'slurm', slurm: options };
}

/** The worker processes (--jobs N) or Slurm job array of the chosen executor; none for one local process. */
export function executorWorkers(
  executor: ExecutorRecord,
  flags: ExecutorFlagValues,
  opts: { bin: string; quiet: boolean; progress: Progress; iterations: number },
): RunContext['workers'] {
  if (executor.executor === 'slurm') {
    const run = slurmExecutor({
      node: process.execPath,
      bin: opts.bin,
      options: executor.slurm,
      iterations: opts.iterations,
      progress: opts.progress,
      detach: flags.detach,
      pollMs: flags['poll-interval'] * 1000,
    });
    // One array task per run.
    return { count: Number.POSITIVE_INFINITY, run };
  }
  return flags.jobs > 1 ? { count: flags.jobs, run: workerProcesses({ bin: opts.bin, quiet: opts.quiet, stderr: process.stderr }) } : undefined;
}
