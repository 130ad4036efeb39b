import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { RunConfig } from '../config/schema';
import { FigurePanel, Task } from '../core/task';
import { Rng } from '../random/rng';
import { RunRecord } from '../results/record';
import { runFiles } from '../results/run-dir';
import { writeFileAtomic } from '../results/store';
import { aggregate, AggregateRow } from '../report/aggregate';
import { writeFigure } from '../report/figures/figure';
import { metricBarsSpec, NamedFigure, tableFigures } from '../report/figures/summary';
import { pairedComparisons, renderPairedMarkdown } from '../report/paired';
import { renderMarkdown } from '../report/render';
import { buildHtmlReport, renderHtmlReport } from '../report/html';
import { TrainingHistory, writeTrainingFigures } from '../report/figures/training';
import { modelPanel, readModel } from '../training/checkpoint';
import { GridJob } from './jobs';
import { Progress } from './progress';

/** A run directory and its id. */
export interface RunDir {
  runId: string;
  dir: string;
}

function flattenRecord(record: RunRecord): Record<string, unknown> {
  const { settings, metrics, timing, history, ...head } = record;
  const { throughput, ...times } = timing;
  return { ...head, ...settings, ...metrics, ...times, ...throughput };
}

function writeRecordsCsv(file: string, records: RunRecord[]): void {
  const rows = records.map(flattenRecord);
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  writeFileAtomic(file, stringifyCsv(rows, { header: true, columns }));
}

/** Where a finished run's saved model is. */
export type ModelLocator = (job: GridJob, record: RunRecord) => string;

/**
 * A run's model: in this run directory (also when it was copied or renamed), else (a run reused by
 * `reproduce`) in the sibling directory its record names.
 */
const besideRun = (run: RunDir): ModelLocator => (job, record) => {
  const own = runFiles(run.dir).model(job.key);
  return fs.existsSync(own) ? own : runFiles(path.join(path.dirname(run.dir), record.runId)).model(job.key);
};

/** The figure's panels: the first seed of every setting that finished, from its saved model. */
function figurePanels(task: Task, modelFile: ModelLocator, jobs: GridJob[], records: Array<RunRecord | undefined>, progress: Progress): FigurePanel[] {
  const panels: FigurePanel[] = [];
  for (const job of jobs) {
    if (records[job.index]?.status !== 'ok' || panels.some((p) => p.label === job.label)) continue;
    try {
      const panel = modelPanel(readModel(modelFile(job, records[job.index]!), task.name, job.spec), job.label, job.spec);
      if (panel) panels.push(panel);
    } catch (err) {
      progress.log(`warning: ${(err as Error).message}; ${job.name} is left out of the figure`);
    }
  }
  return panels;
}

/** The loss history of the first finished seed of every setting, labelled as in the figure. */
function firstSeedHistories(jobs: GridJob[], records: Array<RunRecord | undefined>): TrainingHistory[] {
  const histories: TrainingHistory[] = [];
  for (const job of jobs) {
    const history = records[job.index]?.history;
    if (history?.length && !histories.some((h) => h.label === job.label)) histories.push({ label: job.label, trainsDivergence: job.spec.method !== 'cfm', history });
  }
  return histories;
}

/** The figures of the results table: sweeps, timing, and the task's own metric bars. */
function resultFigures(task: Task, rows: AggregateRow[]): NamedFigure[] {
  const bars = (task.metricBars ?? []).flatMap((bar) => {
    const spec = metricBarsSpec(rows, bar.metrics, bar.title, bar.yTitle);
    return spec ? [{ name: bar.name, spec }] : [];
  });
  return [...tableFigures(rows, task.columns), ...bars];
}

/** Draws figures or the report; they are views of the results, so failing to draw one must not cost the table or the status. */
async function drawing(progress: Progress, draw: () => Promise<void>, what = 'figure'): Promise<void> {
  try {
    await draw();
  } catch (err) {
    progress.log(`warning: no ${what}: ${(err as Error).message}`);
  }
}

/** records.csv, table.md, the training curves and the figure, for the runs finished so far. */
export async function writeSummaries(
  task: Task,
  config: RunConfig,
  run: RunDir,
  jobs: GridJob[],
  records: Array<RunRecord | undefined>,
  progress: Progress,
  modelFile: ModelLocator = besideRun(run),
) {
  const files = runFiles(run.dir);
  const finished = records.filter((r): r is RunRecord => r !== undefined);
  const rows = aggregate(finished);
  if (finished.length === 0) return rows;
  writeRecordsCsv(files.csv, finished);
  // The paired CFM-vs-FDM tests, when there are several seeds, go under the table.
  const paired = renderPairedMarkdown(pairedComparisons(finished, task.columns), task.columns);
  writeFileAtomic(files.markdown, [renderMarkdown(rows, task.columns), paired].join('\n'));
  await drawing(progress, () => writeTrainingFigures(files, firstSeedHistories(jobs, records), task.name));
  for (const figure of resultFigures(task, rows)) await drawing(progress, () => writeFigure(path.join(run.dir, `${figure.name}.png`), figure.spec));
  if (task.writeFigure) {
    const panels = figurePanels(task, modelFile, jobs, records, progress);
    if (panels.length) await drawing(progress, () => task.writeFigure!(files.figure, panels, new Rng(`${task.name}/figure`), config));
  }
  // Last, so that it holds the figures just drawn.
  const title = `fdm-bench ${task.name}: ${path.basename(run.dir)}`;
  await drawing(progress, async () => writeFileAtomic(files.html, renderHtmlReport(buildHtmlReport(title, finished, () => task.columns, [run.dir]))), 'report.html');
  return rows;
}
