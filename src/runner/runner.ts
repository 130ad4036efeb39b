import { stringify as stringifyYaml } from 'yaml';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { BackendInfo } from '../backend/backend';
import { RunConfig } from '../config/schema';
import { Rng } from '../random/rng';
import { describeEnvironment } from '../results/environment';
import { RunRecord } from '../results/record';
import { createRunDir, runFiles } from '../results/run-dir';
import { appendRecord, writeFileAtomic } from '../results/store';
import { aggregate, AggregateRow } from '../report/aggregate';
import { renderMarkdown } from '../report/render';
import { FigurePanel, RunSpec, Task } from '../tasks/task';
import { train } from '../training/trainer';
import { timingStats } from '../training/timing';
import { expandRuns, runSettings } from './grid';

export interface RunContext {
  backend: BackendInfo;
  /** Root of the results tree (results/ by default). */
  outRoot: string;
  preset: string;
  /** Progress lines (stderr on the command line). */
  log: (line: string) => void;
}

export interface BenchmarkResult {
  runId: string;
  runDir: string;
  records: RunRecord[];
  rows: AggregateRow[];
}

const LABEL_SETTINGS = ['path', 'divEstimator', 'probes', 'probeDots', 'stopGrad', 'fdmVariant'] as const;

/** A short label for a run in logs and figures, e.g. 'fdm lambda=0.1 probes=4'. */
export function specLabel(spec: RunSpec, varied: readonly string[]): string {
  const parts: string[] = [spec.method];
  if (spec.method === 'fdm') parts.push(`lambda=${spec.lambda}`);
  for (const key of LABEL_SETTINGS) {
    if (varied.includes(key) && (key === 'path' || spec.method === 'fdm')) parts.push(`${key}=${String(spec[key])}`);
  }
  return parts.join(' ');
}

/** Grid settings that take more than one value among the runs that use them. */
function variedGridSettings(specs: RunSpec[]): string[] {
  const fdm = specs.filter((s) => s.method === 'fdm');
  return LABEL_SETTINGS.filter((key) => new Set((key === 'path' ? specs : fdm).map((s) => s[key])).size > 1);
}

async function runOne(task: Task, config: RunConfig, spec: RunSpec, label: string, ctx: RunContext, runId: string) {
  const rng = new Rng(`${task.name}/seed-${spec.seed}`);
  const experiment = task.createExperiment(config, spec, rng);
  try {
    const trained = train(experiment, {
      iterations: config.iterations,
      lr: config.lr,
      lrSchedule: config.lrSchedule,
      logEvery: config.logEvery,
      onLog: (it, l, ms) =>
        ctx.log(`  ${label} seed ${spec.seed} it ${it}/${config.iterations}  loss ${l.total.toFixed(4)}  cfm ${l.cfm.toFixed(4)}  cdm ${l.cdm.toFixed(4)}  ${ms.toFixed(1)} ms/it`),
    });
    const evalStart = performance.now();
    const evaluation = trained.status === 'ok' ? await experiment.evaluate() : { metrics: {} as Record<string, number> };
    const evalSeconds = (performance.now() - evalStart) / 1000;
    const record: RunRecord = {
      schema: 1,
      runId,
      task: task.name,
      method: spec.method,
      seed: spec.seed,
      status: trained.status,
      ...(trained.divergedAt !== undefined ? { divergedAt: trained.divergedAt } : {}),
      settings: runSettings(spec, config),
      metrics: Object.fromEntries(Object.entries({ ...evaluation.metrics, ...task.facts }).map(([k, v]) => [k, Number.isFinite(v) ? v : null])),
      timing: timingStats(trained.stepMs, evalSeconds),
      backend: ctx.backend.label,
    };
    return { record, samples: 'samples' in evaluation ? evaluation.samples : undefined, density: 'density' in evaluation ? evaluation.density : undefined };
  } finally {
    experiment.dispose();
  }
}

function flattenRecord(record: RunRecord): Record<string, unknown> {
  const { settings, metrics, timing, ...head } = record;
  return { ...head, ...settings, ...metrics, ...timing };
}

function writeRecordsCsv(file: string, records: RunRecord[]): void {
  const rows = records.map(flattenRecord);
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  writeFileAtomic(file, stringifyCsv(rows, { header: true, columns }));
}

/**
 * Trains and evaluates every run of a configuration, appending each record as soon as it exists
 * (a crash later never loses it), then writes the CSV, the Markdown table and the figure.
 */
export async function runBenchmark(task: Task, config: RunConfig, ctx: RunContext): Promise<BenchmarkResult> {
  const { runId, dir } = createRunDir(ctx.outRoot, task.name);
  const files = runFiles(dir);
  writeFileAtomic(files.config, stringifyYaml({ task: task.name, preset: ctx.preset, ...config }));
  writeFileAtomic(files.environment, JSON.stringify(describeEnvironment(ctx.backend), null, 2) + '\n');
  const specs = expandRuns(config);
  const varied = variedGridSettings(specs);
  const records: RunRecord[] = [];
  const panels: FigurePanel[] = [];
  for (const [index, spec] of specs.entries()) {
    const label = specLabel(spec, varied);
    ctx.log(`[${index + 1}/${specs.length}] ${task.name}: ${label} seed ${spec.seed}`);
    const { record, samples, density } = await runOne(task, config, spec, label, ctx, runId);
    appendRecord(files.records, record);
    records.push(record);
    if (record.status === 'diverged') ctx.log(`  diverged at iteration ${record.divergedAt}: loss is not finite`);
    if (samples && !panels.some((p) => p.label === label)) panels.push({ label, points: samples, density });
  }
  const rows = aggregate(records);
  writeRecordsCsv(files.csv, records);
  writeFileAtomic(files.markdown, renderMarkdown(rows, task.columns) + '\n');
  if (task.writeFigure && panels.length) await task.writeFigure(files.figure, panels, new Rng(`${task.name}/figure`));
  return { runId, runDir: dir, records, rows };
}
