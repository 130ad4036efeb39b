import * as path from 'node:path';
import { RunRecord } from '../results/record';
import { runFiles } from '../results/run-dir';
import { writeFileAtomic } from '../results/store';
import { NUMERICS_VERSION } from '../results/environment';
import { BenchmarkResult, Interruption, RunContext, resumeBenchmark, runBenchmark } from '../runner/runner';
import { ModelLocator, writeSummaries } from '../runner/summaries';
import { FinishedRun, scanFinishedRuns } from './catalog';
import { PaperNumbers } from './paper-numbers';
import { missingRuns, PlannedExperiment, ReproductionPlan } from './plan';
import { unfinishedRunDirs } from './unfinished';
import { MetricReader, renderReproductionMarkdown, reproductionRows, ReproductionRow } from './table';

export interface ReproduceContext extends Omit<RunContext, 'preset' | 'only' | 'mergeOnly' | 'workers'> {
  /** The worker processes or Slurm job array that train an experiment's missing runs; none: this process. */
  workersFor?(experiment: PlannedExperiment): RunContext['workers'];
  /** Train the missing runs (else report them as missing). */
  train: boolean;
  /** Evaluate finished runs with the protocols the table needs (else read only what is stored). */
  evaluate: boolean;
  /**
   * Readers of the protocols other than 'exact', by protocol; each may compute what it reads for the
   * finished runs first (e.g. the reference protocol's evaluations of their saved models).
   */
  protocols?: Partial<Record<string, ProtocolEvaluator>>;
}

/** Evaluates finished runs with a protocol (skipping those already evaluated) and reads its values. */
export interface ProtocolEvaluator {
  evaluate(runs: FinishedRun[]): Promise<void>;
  read: MetricReader;
  /** A table of the protocol's own numbers per run, shown under the reproduction table. */
  summary?(runs: FinishedRun[]): ProtocolSummary | undefined;
}

export interface ProtocolSummary {
  title: string;
  headers: string[];
  body: string[][];
}

export interface ReproductionResult {
  rows: ReproductionRow[];
  /** Runs the table needed that no finished run stands for (after this invocation's training). */
  missing: number;
  /** Run directories this invocation trained in (or submitted to Slurm, with --detach). */
  trained: string[];
  /** --detach: the Slurm jobs submitted, by run directory. */
  detached?: Record<string, Record<string, string>>;
  /** The finished runs the table reads. */
  runs: FinishedRun[];
  /** The protocols' own tables. */
  summaries: ProtocolSummary[];
  interrupted?: Interruption;
  failures?: string[];
}

/** Where `reproduce` writes its table: <root>/reproduce/<scale>.md and .json. */
export function reproductionFiles(outRoot: string, scale: string) {
  const dir = path.join(outRoot, 'reproduce');
  return {
    markdown: path.join(dir, `${scale}.md`),
    json: path.join(dir, `${scale}.json`),
    /** Per task: the table, training curves and figure of all the runs the reproduction reads, wherever they ran. */
    experiments: path.join(dir, scale),
  };
}

/** An experiment's table, curves and figure over its finished runs, read from their run directories. */
async function writeExperimentSummaries(experiment: PlannedExperiment, found: ReadonlyMap<string, FinishedRun>, dir: string, ctx: ReproduceContext) {
  const records = experiment.runs.map((run) => found.get(run.identity)?.record);
  const modelFile: ModelLocator = (job) => {
    const finished = found.get(experiment.runs[job.index].identity)!;
    return runFiles(finished.runDir).model(finished.key);
  };
  await writeSummaries(experiment.task, experiment.config, { runId: path.basename(dir), dir }, experiment.runs, records, ctx.progress, modelFile);
}

/**
 * Builds a reproduction: finds the finished runs of the plan under the results root, trains the
 * missing ones (each task's missing runs in one new run directory, whose summaries also cover the
 * runs reused from elsewhere), evaluates the protocols the table needs, and writes the table. It can
 * be stopped at any point: what finished is found again next time, interrupted run directories of
 * the experiment continue from their checkpoints, and only the rest starts anew.
 */
export async function reproduce(numbers: PaperNumbers, plan: ReproductionPlan, ctx: ReproduceContext): Promise<ReproductionResult> {
  const warn = (message: string) => ctx.progress.log(`warning: ${message}`);
  let found = scanFinishedRuns(ctx.outRoot, warn);
  const trained: string[] = [];
  const detached: Record<string, Record<string, string>> = {};
  let stopped: Pick<BenchmarkResult, 'interrupted' | 'failures'> = {};
  const identity = { backend: ctx.backend.label, numerics: NUMERICS_VERSION };
  const skipped = (dir: string) => warn(`${dir} has checkpoints of missing runs but may be in use by another process; not resuming it`);
  for (const experiment of plan.experiments) {
    if (!ctx.train || ctx.signal?.aborted) break;
    const runCtx = { ...ctx, preset: plan.scale, workers: ctx.workersFor?.(experiment) };
    // Interrupted run directories of this experiment first: their checkpoints continue.
    const unfinished = unfinishedRunDirs(experiment, ctx.outRoot, found, identity, skipped);
    for (const { dir, config } of unfinished) {
      ctx.progress.log(`${experiment.task.name}: resuming ${dir} from its checkpoints`);
      const result = await resumeBenchmark(experiment.task, config, dir, runCtx);
      trained.push(result.runDir);
      if (result.interrupted || result.failures) {
        stopped = { interrupted: result.interrupted, failures: result.failures };
        break;
      }
    }
    if (stopped.interrupted || stopped.failures || ctx.signal?.aborted) break;
    if (unfinished.length) found = scanFinishedRuns(ctx.outRoot, warn);
    const missing = missingRuns(experiment, found);
    if (!missing.length) continue;
    const reused = experiment.runs.flatMap((run): RunRecord[] => {
      const finished = found.get(run.identity);
      return finished ? [finished.record] : [];
    });
    ctx.progress.log(`${experiment.task.name}: ${missing.length} of ${experiment.runs.length} runs to train, ${reused.length} reused`);
    const result = await runBenchmark(experiment.task, experiment.config, runCtx, reused);
    trained.push(result.runDir);
    if (result.detached) detached[result.runDir] = result.detached;
    if (result.interrupted || result.failures) {
      stopped = { interrupted: result.interrupted, failures: result.failures };
      break;
    }
  }
  if (trained.length) found = scanFinishedRuns(ctx.outRoot, warn);
  const runs = plan.experiments.flatMap((experiment) => experiment.runs.flatMap((run) => found.get(run.identity) ?? []));
  const readers: Record<string, MetricReader> = {};
  const summaries: ProtocolSummary[] = [];
  const needed = new Set<string>(plan.entries.flatMap((entry) => (entry.suite ? [entry.suite.protocol] : [])));
  for (const [protocol, evaluator] of Object.entries(ctx.protocols ?? {})) {
    if (!evaluator || !needed.has(protocol)) continue;
    if (ctx.evaluate && !ctx.signal?.aborted) await evaluator.evaluate(runs);
    readers[protocol] = evaluator.read;
    const summary = evaluator.summary?.(runs);
    if (summary) summaries.push(summary);
  }
  const rows = reproductionRows(numbers, plan, found, readers);
  const files = reproductionFiles(ctx.outRoot, plan.scale);
  for (const experiment of plan.experiments) await writeExperimentSummaries(experiment, found, path.join(files.experiments, experiment.task.name), ctx);
  writeFileAtomic(files.markdown, renderReproductionMarkdown(rows, plan, numbers, summaries));
  writeFileAtomic(files.json, JSON.stringify({ scale: plan.scale, backend: ctx.backend.label, rows, summaries, trained }, null, 2) + '\n');
  const missing = plan.experiments.reduce((sum, experiment) => sum + missingRuns(experiment, found).length, 0);
  return { rows, missing, trained, runs, summaries, ...(Object.keys(detached).length ? { detached } : {}), ...stopped };
}
