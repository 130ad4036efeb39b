import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunConfig } from '../config/schema';
import { Task } from '../core/task';
import { RunRecord } from '../results/record';
import { runFiles } from '../results/run-dir';
import { matchesRecord } from './grid';
import { GridJob } from './jobs';
import { processAlive, readRunProgress, RunProgressFile } from './progress-files';
import { isLiveState, isQueuedState, slurmFiles, SlurmQuery, SlurmSubmission } from './slurm';

/** The grid index a record belongs to (same method, seed and settings), or undefined. */
export function recordIndex(task: Task, config: RunConfig, jobs: readonly GridJob[]): (record: RunRecord) => number | undefined {
  return (record) => {
    const index = jobs.findIndex((job) => matchesRecord(task, record, job.spec, config));
    return index < 0 ? undefined : index;
  };
}

/** A grid's records by grid index (the first one of a run, as merging keeps it). */
export function recordsByRun(records: readonly RunRecord[], jobs: readonly GridJob[], indexOf: (record: RunRecord) => number | undefined): Array<RunRecord | undefined> {
  const byRun: Array<RunRecord | undefined> = jobs.map(() => undefined);
  for (const record of records) {
    const index = indexOf(record);
    if (index !== undefined) byRun[index] ??= record;
  }
  return byRun;
}

/** Where a run stands, as `fdm-bench status` and a `run` waiting on Slurm show it. */
export type RunPhase = 'pending' | 'queued' | 'running' | 'evaluating' | 'finished' | 'diverged' | 'failed' | 'interrupted' | 'unknown';

export interface RunView {
  index: number;
  name: string;
  phase: RunPhase;
  iterations: number;
  /** The last iteration its process reported, and its mean ms per iteration. */
  iteration?: number;
  msPerIter?: number;
  /** Where it runs or waits: 'Slurm task 12_3 on node7', 'queued: Resources', 'pid 4242'. */
  where?: string;
  /** What went wrong, for a failed or interrupted run. */
  reason?: string;
  /** The log of a failed Slurm task. */
  log?: string;
}

/** A grid's Slurm submission and what squeue said about its jobs. */
export interface SlurmView {
  submission: SlurmSubmission;
  query: SlurmQuery;
}

/** What a worker printed with --json on its stdout (a Slurm task's .out): its records, or where a signal stopped it, or its error. */
export interface WorkerReport {
  records?: unknown[];
  interrupted?: { signal: string; run: string; iteration: number; checkpoint: string | null };
  error?: { message?: string };
}

export function parseWorkerReport(stdout: string): WorkerReport | undefined {
  try {
    const report = JSON.parse(stdout);
    return typeof report === 'object' && report !== null ? report : undefined;
  } catch {
    return undefined;
  }
}

/** A worker's report from the file its stdout went to (a Slurm task's .out), if there is one. */
export function readWorkerReport(file: string): WorkerReport | undefined {
  return fs.existsSync(file) ? parseWorkerReport(fs.readFileSync(file, 'utf8')) : undefined;
}

function fromProgress(progress: RunProgressFile): Pick<RunView, 'iteration' | 'msPerIter'> {
  return { iteration: progress.iteration, ...(progress.msPerIter !== null ? { msPerIter: progress.msPerIter } : {}) };
}

/** A run that no process of this machine is seen to run: stopped with a checkpoint, or never started. */
function stoppedRun(dir: string, job: GridJob, progress: RunProgressFile | undefined): Pick<RunView, 'phase' | 'reason' | 'iteration'> {
  const checkpoint = fs.existsSync(runFiles(dir).checkpoint(job.key));
  if (!progress) return checkpoint ? { phase: 'interrupted', reason: 'has a checkpoint' } : { phase: 'pending' };
  if (progress.state === 'interrupted' || checkpoint) return { phase: 'interrupted', iteration: progress.iteration, reason: `stopped at iteration ${progress.iteration}` };
  return { phase: 'failed', iteration: progress.iteration, reason: `its process ended at iteration ${progress.iteration} without a record or a checkpoint` };
}

/** A run of a local grid (no Slurm): from its progress file, and whether the process that wrote it lives. */
function localRun(dir: string, job: GridJob, progress: RunProgressFile | undefined): Omit<RunView, 'index' | 'name' | 'iterations'> {
  if (progress && (progress.state === 'running' || progress.state === 'evaluating')) {
    const here = progress.host === os.hostname();
    if (!here || processAlive(progress.pid)) return { phase: progress.state, ...fromProgress(progress), where: here ? `pid ${progress.pid}` : `host ${progress.host}, pid ${progress.pid}` };
  }
  return stoppedRun(dir, job, progress);
}

/** A run given to a Slurm array task: from squeue's state for the task, its progress file and its report. */
function slurmRun(dir: string, job: GridJob, progress: RunProgressFile | undefined, slurm: SlurmView, taskId: number): Omit<RunView, 'index' | 'name' | 'iterations'> {
  const { arrayJob } = slurm.submission;
  const id = `${arrayJob}_${taskId}`;
  if (!slurm.query.reachable) {
    // Slurm does not answer: the last state the task wrote, marked as such.
    const lastKnown = progress?.state === 'running' || progress?.state === 'evaluating' ? progress.state : 'unknown';
    return { phase: lastKnown, ...(progress ? fromProgress(progress) : {}), where: `Slurm task ${id}; Slurm not answering: ${slurm.query.message}` };
  }
  const task = slurm.query.jobs.find((j) => j.job === arrayJob && j.arrayTask === taskId);
  if (task && isQueuedState(task.state)) {
    const why = task.reason && task.reason !== 'None' ? ` (${task.reason})` : '';
    return { phase: 'queued', where: `Slurm task ${id}, ${task.state.toLowerCase()}${why}` };
  }
  if (task && isLiveState(task.state)) {
    const phase = progress?.state === 'evaluating' ? 'evaluating' : 'running';
    return { phase, ...(progress ? fromProgress(progress) : {}), where: `Slurm task ${id} on ${task.node}` };
  }
  // Ended (or forgotten by the controller) without a record.
  const files = slurmFiles(dir);
  const report = readWorkerReport(files.taskOut(job.index));
  if (report?.interrupted) return { phase: 'interrupted', iteration: report.interrupted.iteration, reason: `stopped at iteration ${report.interrupted.iteration}`, where: `Slurm task ${id}` };
  if (task?.state === 'CANCELLED' || !fs.existsSync(files.taskErr(job.index))) {
    return { ...stoppedRun(dir, job, progress), phase: 'interrupted', reason: task?.state === 'CANCELLED' ? 'cancelled' : 'never started', where: `Slurm task ${id}` };
  }
  const how = task ? task.state : 'ended';
  return { phase: 'failed', reason: `${how}${report?.error?.message ? `: ${report.error.message}` : ''}`, log: files.taskErr(job.index), where: `Slurm task ${id}` };
}

/**
 * Every run of a grid: finished or diverged from its record, otherwise from its progress file and,
 * for a grid submitted to Slurm, squeue's state of its array task.
 */
export function viewGrid(dir: string, jobs: readonly GridJob[], records: ReadonlyArray<RunRecord | undefined>, iterations: number, slurm?: SlurmView): RunView[] {
  return jobs.map((job) => {
    const head = { index: job.index, name: job.name, iterations };
    const record = records[job.index];
    if (record) return record.status === 'diverged' ? { ...head, phase: 'diverged', reason: `loss not finite at iteration ${record.divergedAt}` } : { ...head, phase: 'finished' };
    const progress = readRunProgress(dir, job.key);
    const taskId = slurm?.submission.runs.indexOf(job.index) ?? -1;
    return { ...head, ...(slurm && taskId >= 0 ? slurmRun(dir, job, progress, slurm, taskId) : localRun(dir, job, progress)) };
  });
}

/** 75 -> '1m15s', 4000 -> '1h06m'. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds of training left, from the mean ms per iteration so far. */
export function etaSeconds(view: RunView): number | undefined {
  if (view.iteration === undefined || view.msPerIter === undefined || view.phase !== 'running') return undefined;
  return ((view.iterations - view.iteration) * view.msPerIter) / 1000;
}

/** The rest of a run's line after its state and name: iteration, ms/iter and ETA, why, where, its log. */
export function describeRun(view: RunView): string {
  const parts: string[] = [];
  // Before its first iteration a run has no speed to show.
  if (view.phase === 'running' && view.iteration) {
    const eta = etaSeconds(view);
    parts.push(`it ${view.iteration}/${view.iterations}${view.msPerIter !== undefined ? `, ${view.msPerIter.toFixed(1)} ms/it` : ''}${eta !== undefined ? `, ETA ${formatDuration(eta)}` : ''}`);
  }
  if (view.reason) parts.push(view.reason);
  if (view.where) parts.push(view.where);
  if (view.log) parts.push(`log ${path.relative(process.cwd(), view.log)}`);
  return parts.join('; ');
}
