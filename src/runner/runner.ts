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
import { appendRecord, parseRecordsFile, writeFileAtomic } from '../results/store';
import { AggregateRow } from '../report/aggregate';
import { loadCheckpoint, writeCheckpoint, writeModel } from '../training/checkpoint';
import { timingStats } from '../training/timing';
import { train } from '../training/trainer';
import { matchesRecord, runSettings } from './grid';
import { GridJob, gridJobs, splitJobs } from './jobs';
import { Progress } from './progress';
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
   * --jobs N: the pending runs go to `count` worker processes started by `run` (at most one per
   * run), which append their records to records.jsonl; this process then writes the summaries and
   * status.json once.
   */
  workers?: { count: number; run: RunWorkers };
  /**
   * In a worker process: the grid indices it runs (those without a record). It leaves records.jsonl
   * as it finds it apart from its own appends, and the summaries and status.json to the parent.
   */
  only?: readonly number[];
}

/** How the worker processes of one grid ended. */
export interface WorkersOutcome {
  /** Where signals stopped workers (those that reported it). */
  interrupted: Interruption[];
  /** One line per worker that failed (crashed, or exited with an error other than a divergence). */
  failures: string[];
}

/**
 * Runs `shares` (grid indices, one list per worker process) in the run directory `dir`, all at
 * once; aborting `signal` is forwarded to the workers, which checkpoint and stop.
 */
export type RunWorkers = (dir: string, shares: number[][], signal?: AbortSignal) => Promise<WorkersOutcome>;

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
  /** --jobs: the worker processes that failed (their unfinished runs can be resumed). */
  failures?: string[];
}

/** The contents of status.json. */
export interface RunStatus {
  /** 'failed': a --jobs worker process failed; the others finished their runs. */
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
      onCheckpoint: (trainer) =>
        writeCheckpoint(checkpointFile, { task: task.name, run: job.name, spec: job.spec, trainer, experiment: experiment.snapshot() }),
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
      writeModel(files.model(job.key), { task: task.name, run: job.name, spec: job.spec, experiment: experiment.snapshot() }, panel);
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
 * Runs the pending runs in this process, in grid order, appending each record as soon as it exists
 * (a crash later never loses it); a signal stops them after the current iteration with a checkpoint.
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
    appendRecord(files.records, record);
    fs.rmSync(files.checkpoint(job.key), { force: true });
    records[job.index] = record;
    ctx.progress.state(job.index, record.status, record.status === 'diverged' ? `at iteration ${record.divergedAt}: loss is not finite` : undefined);
  }
  return undefined;
}

/**
 * --jobs: runs the pending runs in worker processes, then takes their records from records.jsonl.
 * The first interruption in grid order stands for the grid's.
 */
async function runInWorkers(task: Task, config: RunConfig, ctx: RunContext, run: RunDir, jobs: GridJob[], pending: GridJob[], records: Array<RunRecord | undefined>) {
  const workers = ctx.workers!;
  const shares = splitJobs(pending, workers.count);
  let outcome: WorkersOutcome = { interrupted: [], failures: [] };
  if (!ctx.signal?.aborted) {
    ctx.progress.log(`${pending.length} run(s) in ${shares.length} worker process(es)`);
    outcome = await workers.run(run.dir, shares, ctx.signal);
  }
  for (const record of readExistingRecords(runFiles(run.dir).records, ctx.progress)) {
    const job = pending.find((j) => matchesRecord(task, record, j.spec, config));
    if (job) records[job.index] ??= record;
  }
  const order = (i: Interruption) => jobs.findIndex((job) => job.name === i.run);
  let interrupted: Interruption | undefined = [...outcome.interrupted].sort((a, b) => order(a) - order(b))[0];
  const unfinished = pending.find((job) => !records[job.index]);
  // A worker that the signal stopped before it could say where (while it started) left no checkpoint.
  if (!interrupted && ctx.signal?.aborted && unfinished) interrupted = { signal: String(ctx.signal.reason), run: unfinished.name, iteration: 0, checkpoint: null };
  return { interrupted, failures: outcome.failures };
}

/**
 * Runs the grid in a run directory, skipping runs that already have a record, here or (--jobs) in
 * worker processes; the CSV, the table and the figure cover the finished runs.
 */
async function runGrid(task: Task, config: RunConfig, ctx: RunContext, run: RunDir, existing: RunRecord[]): Promise<BenchmarkResult> {
  const files = runFiles(run.dir);
  const jobs = gridJobs(config, task);
  const records = jobs.map((job) => existing.find((r) => matchesRecord(task, r, job.spec, config)));
  const mine = (job: GridJob) => !ctx.only || ctx.only.includes(job.index);
  const status = () => ({ runs: jobs.length, finished: records.filter(Boolean).length, diverged: records.filter((r) => r?.status === 'diverged').length });
  ctx.progress.start(task.name, jobs.map((job) => ({ name: job.name, iterations: config.iterations, state: (mine(job) && records[job.index]?.status) || 'pending' })));
  const pending = jobs.filter((job) => !records[job.index] && mine(job));
  if (ctx.only) {
    // A worker process: the parent writes the summaries and status.json.
    const interrupted = await runHere(task, config, ctx, run, pending, records);
    const own = records.filter((r, i): r is RunRecord => r !== undefined && ctx.only!.includes(i));
    return { runId: run.runId, runDir: run.dir, records: own, rows: [], ...(interrupted ? { interrupted } : {}) };
  }
  writeStatus(files.status, { state: 'running', ...status() });
  const { interrupted, failures = [] } = ctx.workers && pending.length
    ? await runInWorkers(task, config, ctx, run, jobs, pending, records)
    : { interrupted: await runHere(task, config, ctx, run, pending, records) };
  const rows = await writeSummaries(task, config, run, jobs, records, ctx.progress);
  const state = interrupted ? 'interrupted' : failures.length ? 'failed' : 'complete';
  writeStatus(files.status, { state, ...status(), ...(interrupted ? { interrupted } : {}), ...(failures.length ? { failures } : {}) });
  return {
    runId: run.runId,
    runDir: run.dir,
    records: records.filter((r): r is RunRecord => r !== undefined),
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
 * The records a run directory holds. A final line cut short by a crash is dropped from the file,
 * so that later appends stay whole lines; its run runs again.
 */
function readExistingRecords(file: string, progress: Progress, repair = true): RunRecord[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  // A worker process (--jobs) leaves that to its parent, which repairs the file before starting it.
  if (complete !== text && repair) {
    writeFileAtomic(file, complete);
    progress.log(`${file}: dropped an incomplete final line (written when the run was killed); that run runs again`);
  }
  return parseRecordsFile(file, complete).records;
}

/**
 * Continues an interrupted or crashed run directory (its config.yaml gave task and config): runs with
 * a record are kept, a run with a checkpoint continues from it, the others run from the start.
 */
export async function resumeBenchmark(task: Task, config: RunConfig, dir: string, ctx: RunContext): Promise<BenchmarkResult> {
  const existing = readExistingRecords(runFiles(dir).records, ctx.progress, !ctx.only);
  return runGrid(task, config, ctx, { runId: path.basename(dir), dir }, existing);
}
