import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../results/store';
import { describeRun, readWorkerReport, RunView, viewGrid } from '../runner/grid-status';
import { Progress, RunState } from '../runner/progress';
import { Interruption, RunWorkers, WorkerBatch, WorkersOutcome } from '../runner/runner';
import { gridScripts, isLiveState, SlurmClient, slurmCommands, SlurmCommandError, slurmFiles, SlurmOptions, SlurmQuery, SlurmSubmission, writeSubmission } from '../runner/slurm';

export interface SlurmExecutorOptions {
  /** The node.js binary and bin/run.js the array tasks run, as the compute nodes see them. */
  node: string;
  bin: string;
  options: SlurmOptions;
  /** Training iterations of every run (for the ETA). */
  iterations: number;
  /** Shows each run's state while the parent waits. */
  progress: Progress;
  /** Submit and return at once with the job ids. */
  detach: boolean;
  /** Between two looks at squeue and the run directory. */
  pollMs: number;
  /** How long squeue may fail in a row before the wait gives up (default 10 min). */
  giveUpMs?: number;
  /** Slurm's commands; tests substitute their own. */
  client?: SlurmClient;
}

const GIVE_UP_MS = 10 * 60_000;
/** Lines of a failed task's stderr quoted in its failure. */
const LOG_TAIL_LINES = 8;

/** The last lines of a log, indented, or why there are none. */
function logTail(file: string): string {
  if (!fs.existsSync(file)) return `  (no log: ${file} does not exist)`;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) return `  (${file} is empty)`;
  return [`  the end of ${file}:`, ...lines.slice(-LOG_TAIL_LINES).map((line) => `    ${line}`)].join('\n');
}

/** A run's view as the progress display's state and detail. */
function displayed(view: RunView): { state: RunState; detail: string } {
  const detail = describeRun(view);
  switch (view.phase) {
    case 'finished':
      return { state: 'ok', detail };
    case 'diverged':
    case 'running':
    case 'evaluating':
    case 'interrupted':
      return { state: view.phase, detail };
    case 'failed':
      // The display has no state for it; the failure is reported in full when the grid ends.
      return { state: 'interrupted', detail: `failed: ${detail}` };
    default:
      return { state: 'pending', detail: view.phase === 'unknown' ? `state unknown; ${detail}` : detail };
  }
}

/** Says when Slurm stops and starts answering; gives up after `giveUpMs` of silence, leaving the jobs alone. */
function controllerWatch(log: (line: string) => void, giveUpMs: number, dir: string) {
  let silentSince: number | undefined;
  return (query: SlurmQuery) => {
    if (query.reachable) {
      if (silentSince !== undefined) log('Slurm answers again');
      silentSince = undefined;
      return;
    }
    if (silentSince === undefined) {
      silentSince = Date.now();
      log(`Slurm does not answer (${query.message}); the grid's jobs are not taken for finished; still waiting`);
    } else if (Date.now() - silentSince > giveUpMs) {
      throw new SlurmCommandError(
        `Slurm has not answered for ${Math.round(giveUpMs / 60_000)} min (${query.message}); its jobs may still run: ` +
          `see fdm-bench status ${dir}, and once they ended fdm-bench run --resume ${dir}`,
      );
    }
  };
}

interface Waited {
  views: RunView[];
  /** The signal that made this process cancel the jobs, if one did. */
  cancelledBy?: string;
}

/**
 * Polls squeue and the run directory until no job of the submission can run any more, showing each
 * run's state as it changes. A failing squeue is not completion: the wait goes on (and gives up
 * after a while of silence). A signal cancels the jobs (scancel); running tasks then checkpoint and
 * stop, and the wait continues until they have.
 */
async function waitForGrid(batch: WorkerBatch, submission: SlurmSubmission, opts: SlurmExecutorOptions, client: SlurmClient): Promise<Waited> {
  const { dir, jobs, signal, log } = batch;
  const ids = [submission.arrayJob, submission.mergeJob];
  const watch = controllerWatch(log, opts.giveUpMs ?? GIVE_UP_MS, dir);
  const shown = new Map<number, string>();
  let cancelledBy: string | undefined;
  for (;;) {
    if (signal?.aborted && !cancelledBy) {
      cancelledBy = String(signal.reason);
      log(`${String(signal.reason)}: cancelling the grid's Slurm jobs ${ids.join(', ')}; running tasks checkpoint and stop (Ctrl-C again stops waiting for them)`);
      await client.cancel(ids).catch((err: Error) => log(`warning: ${err.message}`));
    }
    const query = await client.query(ids);
    watch(query);
    const views = viewGrid(dir, jobs, batch.records(), opts.iterations, { submission, query });
    for (const index of submission.runs) {
      const { state, detail } = displayed(views[index]);
      if (shown.get(index) === `${state} ${detail}`) continue;
      shown.set(index, `${state} ${detail}`);
      opts.progress.state(index, state, detail);
    }
    if (query.reachable && !query.jobs.some((job) => isLiveState(job.state))) return { views, cancelledBy };
    // Until the jobs are cancelled, a signal ends the pause at once.
    await sleep(opts.pollMs, undefined, cancelledBy ? {} : { signal }).catch(() => undefined);
  }
}

/** The outcome of the array tasks: interruptions their workers reported, and the tasks that failed. */
function tasksOutcome(dir: string, submission: SlurmSubmission, waited: Waited): WorkersOutcome {
  const files = slurmFiles(dir);
  const interrupted: Interruption[] = [];
  const failures: string[] = [];
  submission.runs.forEach((index, taskId) => {
    const view = waited.views[index];
    const report = readWorkerReport(files.taskOut(index));
    // scancel stops a task with SIGTERM; the grid was stopped by the signal this process received.
    if (report?.interrupted) interrupted.push({ ...report.interrupted, signal: waited.cancelledBy ?? report.interrupted.signal });
    else if (view.phase === 'failed' || (view.phase === 'interrupted' && !waited.cancelledBy)) {
      failures.push(`Slurm task ${submission.arrayJob}_${taskId} (run ${index + 1}, ${view.name}) ${view.reason ?? 'ended without a record'}\n${logTail(files.taskErr(index))}`);
    }
  });
  // The merge job ran (every task succeeded) and reported its records: the summaries are written.
  const merge = readWorkerReport(files.mergeOut);
  return { interrupted, failures, summarised: Array.isArray(merge?.records) && !merge.error };
}

/**
 * `run --executor slurm`: the pending runs as one Slurm job array (one task per run, whole runs) and
 * a merge job that depends on it (afterok), from scripts written to <run-dir>/slurm/. It then waits,
 * showing each run's state, iteration and ETA, unless `detach`.
 */
export function slurmExecutor(opts: SlurmExecutorOptions): RunWorkers {
  const client = opts.client ?? slurmCommands;
  return async (batch) => {
    // The jobs may start in any directory.
    const dir = path.resolve(batch.dir);
    const runs = batch.shares.flat();
    const files = slurmFiles(dir);
    const jobName = `fdm-bench-${path.basename(path.dirname(dir))}-${path.basename(dir)}`;
    const scripts = gridScripts({ dir, node: opts.node, bin: opts.bin, runs, jobName, options: opts.options });
    writeFileAtomic(files.grid, scripts.grid);
    writeFileAtomic(files.merge, scripts.merge);
    writeFileAtomic(files.submit, scripts.submit);
    // Logs of an earlier submission would pass for this one's (a task that has not started has none).
    for (const index of runs) for (const log of [files.taskOut(index), files.taskErr(index)]) fs.rmSync(log, { force: true });
    for (const log of [files.mergeOut, files.mergeErr]) fs.rmSync(log, { force: true });
    const { arrayJob, mergeJob } = await client.submit(files.submit);
    const submission: SlurmSubmission = { arrayJob, mergeJob, runs, submittedAt: new Date().toISOString() };
    writeSubmission(dir, submission);
    batch.log(`${runs.length} run(s) submitted to Slurm: array job ${arrayJob} (a task per run), then merge job ${mergeJob}; scripts and logs in ${path.join(batch.dir, 'slurm')}`);
    if (opts.detach) return { interrupted: [], failures: [], detached: { array: arrayJob, merge: mergeJob } };
    return tasksOutcome(dir, submission, await waitForGrid({ ...batch, dir }, submission, opts, client));
  };
}
