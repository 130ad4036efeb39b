import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { BackendInfo } from '../backend/backend';
import { RunConfig } from '../config/schema';
import { EvaluationResult, Task } from '../core/task';
import { Rng } from '../random/rng';
import { describeEnvironment } from '../results/environment';
import { RunRecord } from '../results/record';
import { createRunDir, runFiles } from '../results/run-dir';
import { appendRecord, writeFileAtomic } from '../results/store';
import { aggregate, AggregateRow } from '../report/aggregate';
import { loadCheckpoint, writeCheckpoint, writeModel } from '../training/checkpoint';
import { timingStats } from '../training/timing';
import { train } from '../training/trainer';
import { runSettings } from './grid';
import { recordIndex, recordsByRun } from './grid-status';
import { GridJob, gridJobs, splitJobs } from './jobs';
import { mergeRecordParts, readRunRecords, removeEmptyParts, writeRecordPart } from './parts';
import { Progress } from './progress';
import { removeRunProgress, withProgressFiles } from './progress-files';
import { ExecutorRecord, writeExecutorRecord } from './slurm';
import { RunDir, writeSummaries } from './summaries';

export interface RunContext {
  backend: BackendInfo;
  /** Root of the results tree (results/ by default). */
  outRoot: string;
  preset: string;
  progress: Progress;
  /** Aborting it (SIGINT, SIGTERM) stops the grid after the current iteration, leaving a checkpoint. */
  signal?: AbortSignal;
  /**
   * --jobs N or --executor slurm: the pending runs go to `count` worker processes started by `run`, or
   * to Slurm array tasks (at most one per run), which write their records to parts/; this process then
   * merges them into records.jsonl and writes the summaries and status.json once.
   */
  workers?: { count: number; run: RunWorkers };
  /**
   * In a worker process or Slurm array task: the grid indices it runs (those without a record). It
   * writes each record to its own part file and leaves records.jsonl, the summaries and status.json
   * to whoever finishes the grid.
   */
  only?: readonly number[];
  /**
   * The Slurm merge job (`run --resume <dir> --merge-only`): runs nothing, merges the records the
   * array tasks left and writes the summaries and status.json.
   */
  mergeOnly?: boolean;
  /** The executor to record in the run directory (executor.json), for --resume to keep. */
  executor?: ExecutorRecord;
}

/** How the worker processes (or Slurm array tasks) of one grid ended. */
export interface WorkersOutcome {
  /** Where signals stopped workers (those that reported it). */
  interrupted: Interruption[];
  /** One line per worker that failed (crashed, or exited with an error other than a divergence). */
  failures: string[];
  /** --detach: the workers were submitted and left to run; their job ids by role (array, merge). */
  detached?: Record<string, string>;
  /** The Slurm merge job already merged the records and wrote the summaries and status.json. */
  summarised?: boolean;
}

/** What worker processes are given to run. */
export interface WorkerBatch {
  /** The run directory. */
  dir: string;
  /** Grid indices, one list per worker process (or Slurm array task), to run at once. */
  shares: number[][];
  /** The whole grid, by index: names and file keys of the runs. */
  jobs: readonly GridJob[];
  /** The grid's records as the run directory holds them now (records.jsonl and parts), by grid index. */
  records(): Array<RunRecord | undefined>;
  /** A line for the user, between the progress output. */
  log(line: string): void;
  /** Aborting it is forwarded to the workers, which checkpoint and stop. */
  signal?: AbortSignal;
}

export type RunWorkers = (batch: WorkerBatch) => Promise<WorkersOutcome>;

/** Where a signal stopped the grid: the run it stopped, or the next one when it came between runs. */
export interface Interruption {
  signal: string;
  run: string;
  /** Iterations the run's checkpoint holds (0: the run had not started). */
  iteration: number;
  /** The checkpoint, relative to the run directory. */
  checkpoint: string | null;
}

export interface BenchmarkResult {
  runId: string;
  runDir: string;
  /** Records of the finished runs, in grid order (all of them unless interrupted). */
  records: RunRecord[];
  rows: AggregateRow[];
  interrupted?: Interruption;
  /** --jobs, --executor slurm: the worker processes or array tasks that failed (their unfinished runs can be resumed). */
  failures?: string[];
  /** --detach: the grid was submitted and runs on without this process; the job ids by role. */
  detached?: Record<string, string>;
}

/** The contents of status.json. */
export interface RunStatus {
  /** 'failed': a --jobs worker process or Slurm array task failed; the others finished their runs. */
  state: 'running' | 'interrupted' | 'failed' | 'complete';
  updatedAt: string;
  runs: number;
  finished: number;
  diverged: number;
  interrupted?: Interruption;
  failures?: string[];
}

type RunOutcome = { record: RunRecord } | { interruptedAt: number };

/**
 * Trains (from the run's checkpoint, if it has one) and evaluates one run. A finished run's model
 * is saved before its record is returned, so a run with a record always has its model.
 */
async function runOne(task: Task, config: RunConfig, job: GridJob, ctx: RunContext, run: RunDir): Promise<RunOutcome> {
  const files = runFiles(run.dir);
  const checkpointFile = files.checkpoint(job.key);
  await task.prepare?.(config, job.spec, { dir: run.dir, log: (line) => ctx.progress.log(line) });
  const experiment = task.createExperiment(config, job.spec, new Rng(`${task.name}/seed-${job.spec.seed}`));
  try {
    const resumeFrom = fs.existsSync(checkpointFile) ? loadCheckpoint(checkpointFile, task.name, job.spec, experiment) : undefined;
    ctx.progress.state(job.index, 'running', resumeFrom && `resumed from iteration ${resumeFrom.iteration}`);
    const trained = await train(experiment, {
      iterations: config.iterations,
      lr: config.lr,
      lrSchedule: config.lrSchedule,
      logEvery: config.logEvery,
      checkpointEvery: config.checkpointEvery,
      signal: ctx.signal,
      resumeFrom,
      onStep: (step) => ctx.progress.step(job.index, step),
      onCheckpoint: async (trainer) =>
        writeCheckpoint(checkpointFile, { task: task.name, run: job.name, spec: job.spec, trainer, experiment: await experiment.snapshot() }),
    });
    if (trained.status === 'interrupted') return { interruptedAt: trained.stepMs.length };
    if (trained.status === 'ok') ctx.progress.state(job.index, 'evaluating');
    const evalStart = performance.now();
    const evaluation: EvaluationResult = trained.status === 'ok' ? await experiment.evaluate() : { metrics: {} };
    const evalSeconds = (performance.now() - evalStart) / 1000;
    const record: RunRecord = {
      schema: 1,
      runId: run.runId,
      task: task.name,
      method: job.spec.method,
      seed: job.spec.seed,
      status: trained.status,
      ...(trained.divergedAt !== undefined ? { divergedAt: trained.divergedAt } : {}),
      settings: runSettings(task, job.spec, config),
      metrics: Object.fromEntries(Object.entries({ ...evaluation.metrics, ...task.facts }).map(([k, v]) => [k, Number.isFinite(v) ? v : null])),
      timing: { ...timingStats(trained.stepMs, evalSeconds), ...(evaluation.throughput ? { throughput: evaluation.throughput } : {}) },
      backend: ctx.backend.label,
      // Non-finite losses (a diverged run's last point) become null in JSON; keep the finite ones.
      history: trained.history.filter((h) => Number.isFinite(h.total)),
    };
    if (record.status === 'ok') {
      const panel = evaluation.samples ? { points: evaluation.samples, density: evaluation.density } : null;
      writeModel(files.model(job.key), { task: task.name, run: job.name, spec: job.spec, experiment: await experiment.snapshot() }, panel);
    }
    return { record };
  } finally {
    experiment.dispose();
  }
}

function writeStatus(file: string, status: Omit<RunStatus, 'updatedAt'>): void {
  writeFileAtomic(file, JSON.stringify({ ...status, updatedAt: new Date().toISOString() }, null, 2) + '\n');
}

/**
 * Runs the pending runs in this process, in grid order, storing each record as soon as it exists (a
 * crash later never loses it): appended to records.jsonl, or in a worker to its own part file; a
 * signal stops them after the current iteration with a checkpoint.
 */
async function runHere(task: Task, config: RunConfig, ctx: RunContext, run: RunDir, pending: GridJob[], records: Array<RunRecord | undefined>) {
  const files = runFiles(run.dir);
  for (const job of pending) {
    const outcome = ctx.signal?.aborted ? { interruptedAt: 0 } : await runOne(task, config, job, ctx, run);
    if ('interruptedAt' in outcome) {
      const checkpoint = outcome.interruptedAt > 0 ? path.relative(run.dir, files.checkpoint(job.key)) : null;
      ctx.progress.state(job.index, 'interrupted', checkpoint ? `at iteration ${outcome.interruptedAt}` : 'before it started');
      return { signal: String(ctx.signal?.reason), run: job.name, iteration: outcome.interruptedAt, checkpoint };
    }
    const { record } = outcome;
    if (ctx.only) writeRecordPart(run.dir, job.key, record);
    else appendRecord(files.records, record);
    fs.rmSync(files.checkpoint(job.key), { force: true });
    records[job.index] = record;
    ctx.progress.state(job.index, record.status, record.status === 'diverged' ? `at iteration ${record.divergedAt}: loss is not finite` : undefined);
  }
  return undefined;
}

type IndexOf = (record: RunRecord) => number | undefined;

/**
 * --jobs, --executor slurm: runs the pending runs in worker processes or array tasks, then merges the
 * records they left. The first interruption in grid order stands for the grid's.
 */
async function runInWorkers(ctx: RunContext, run: RunDir, jobs: GridJob[], pending: GridJob[], records: Array<RunRecord | undefined>, indexOf: IndexOf) {
  const workers = ctx.workers!;
  const shares = splitJobs(pending, workers.count);
  const log = (line: string) => ctx.progress.log(line);
  let outcome: WorkersOutcome = { interrupted: [], failures: [] };
  if (!ctx.signal?.aborted) {
    const current = () => recordsByRun(readRunRecords(run.dir), jobs, indexOf);
    outcome = await workers.run({ dir: run.dir, shares, jobs, records: current, log, signal: ctx.signal });
  }
  if (outcome.detached) return { failures: [], detached: outcome.detached };
  recordsByRun(mergeRecordParts(run.dir, indexOf, log), jobs, indexOf).forEach((record, index) => (records[index] ??= record));
  const order = (i: Interruption) => jobs.findIndex((job) => job.name === i.run);
  let interrupted: Interruption | undefined = [...outcome.interrupted].sort((a, b) => order(a) - order(b))[0];
  const unfinished = pending.find((job) => !records[job.index]);
  // A worker that the signal stopped before it could say where (while it started) left no checkpoint.
  if (!interrupted && ctx.signal?.aborted && unfinished) interrupted = { signal: String(ctx.signal.reason), run: unfinished.name, iteration: 0, checkpoint: null };
  return { interrupted, failures: outcome.failures, summarised: outcome.summarised };
}

/** What the Slurm merge job reports when the grid ended without some of its runs. */
function missingRuns(jobs: GridJob[], records: Array<RunRecord | undefined>): string[] {
  const missing = jobs.filter((job) => !records[job.index]);
  return missing.length ? [`${missing.length} run(s) have no record: ${missing.map((job) => job.name).join(', ')}`] : [];
}

/**
 * Runs the grid in a run directory, skipping runs that already have a record (there, or in `reused`),
 * here or (--jobs, --executor slurm) in worker processes; the CSV, the table and the figure cover the
 * finished runs.
 */
async function runGrid(task: Task, config: RunConfig, ctx: RunContext, run: RunDir, reused: RunRecord[]): Promise<BenchmarkResult> {
  const files = runFiles(run.dir);
  const jobs = gridJobs(config, task);
  const indexOf = recordIndex(task, config, jobs);
  // A worker takes the records as they are; anyone else first merges the parts that crashed workers left.
  const stored = ctx.only ? readRunRecords(run.dir) : mergeRecordParts(run.dir, indexOf, (line) => ctx.progress.log(line));
  const records = recordsByRun([...stored, ...reused], jobs, indexOf);
  const mine = (job: GridJob) => !ctx.only || ctx.only.includes(job.index);
  const status = () => ({ runs: jobs.length, finished: records.filter(Boolean).length, diverged: records.filter((r) => r?.status === 'diverged').length });
  // Whoever trains here also writes each run's progress file, for `fdm-bench status` and a waiting `run`.
  const here = { ...ctx, progress: withProgressFiles(ctx.progress, run.dir, jobs) };
  here.progress.start(task.name, jobs.map((job) => ({ name: job.name, iterations: config.iterations, state: (mine(job) && records[job.index]?.status) || 'pending' })));
  const pending = ctx.mergeOnly ? [] : jobs.filter((job) => !records[job.index] && mine(job));
  if (ctx.only) {
    // A worker process: the parent writes the summaries and status.json.
    const interrupted = await runHere(task, config, here, run, pending, records);
    const own = records.filter((r, i): r is RunRecord => r !== undefined && ctx.only!.includes(i));
    return { runId: run.runId, runDir: run.dir, records: own, rows: [], ...(interrupted ? { interrupted } : {}) };
  }
  if (ctx.executor) writeExecutorRecord(run.dir, ctx.executor);
  if (!ctx.mergeOnly) writeStatus(files.status, { state: 'running', ...status() });
  const { interrupted, failures = [], detached, summarised } = ctx.mergeOnly
    ? { failures: missingRuns(jobs, records) }
    : ctx.workers && pending.length
      ? await runInWorkers(ctx, run, jobs, pending, records, indexOf)
      : { interrupted: await runHere(task, config, here, run, pending, records) };
  const finished = records.filter((r): r is RunRecord => r !== undefined);
  if (detached) return { runId: run.runId, runDir: run.dir, records: finished, rows: [], detached };
  // No worker of the grid runs any more: their files of finished runs can go.
  for (const job of jobs) if (records[job.index]) removeRunProgress(run.dir, job.key);
  removeEmptyParts(run.dir);
  // The Slurm merge job wrote the summaries already when it succeeded; they cover the same records.
  const rows = summarised ? aggregate(finished) : await writeSummaries(task, config, run, jobs, records, ctx.progress);
  const state = interrupted ? 'interrupted' : failures.length ? 'failed' : 'complete';
  writeStatus(files.status, { state, ...status(), ...(interrupted ? { interrupted } : {}), ...(failures.length ? { failures } : {}) });
  return {
    runId: run.runId,
    runDir: run.dir,
    records: finished,
    rows,
    ...(interrupted ? { interrupted } : {}),
    ...(failures.length ? { failures } : {}),
  };
}

/**
 * Trains and evaluates every run of a configuration in a new run directory, except those `reused`
 * holds (finished runs of the same settings found elsewhere, by `reproduce`): they are not trained
 * again, and the directory's table and figure cover them too.
 */
export async function runBenchmark(task: Task, config: RunConfig, ctx: RunContext, reused: RunRecord[] = []): Promise<BenchmarkResult> {
  const { runId, dir } = createRunDir(ctx.outRoot, task.name);
  const files = runFiles(dir);
  writeFileAtomic(files.config, stringifyYaml({ task: task.name, preset: ctx.preset, ...config }));
  writeFileAtomic(files.environment, JSON.stringify(describeEnvironment(ctx.backend), null, 2) + '\n');
  return runGrid(task, config, ctx, { runId, dir }, reused);
}

/**
 * Continues an interrupted or crashed run directory (its config.yaml gave task and config): runs with
 * a record are kept, a run with a checkpoint continues from it, the others run from the start.
 */
export async function resumeBenchmark(task: Task, config: RunConfig, dir: string, ctx: RunContext): Promise<BenchmarkResult> {
  return runGrid(task, config, ctx, { runId: path.basename(dir), dir }, []);
}
