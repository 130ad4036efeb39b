import { mean, sampleStandardDeviation } from 'simple-statistics';
import { ALPHA, pairedStatistics, PairedStatistics } from '../report/paired';
import { formatNumber, markdownTable, terminalTable } from '../report/render';
import { FinishedRun } from './catalog';
import { PaperEntry, PaperNumbers } from './paper-numbers';
import { PlannedExperiment, ReproductionPlan } from './plan';
import type { ProtocolSummary } from './reproduce';

/** Mean and sample standard deviation of one method's values over seeds. */
export interface ValueSummary {
  n: number;
  mean: number | null;
  sd: number | null;
}

/** One (experiment, metric) of the paper against the suite. */
export interface ReproductionRow {
  id: string;
  family: string;
  experiment: string;
  where: string;
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  protocol: string | null;
  paper: { cfm: number; fdm: number } | null;
  source: string;
  suite: { cfm: ValueSummary; fdm: ValueSummary; seeds: number[]; statistics: PairedStatistics | null } | null;
  verdict: string;
  /** Why the verdict is what it is, when it is not a comparison: why it cannot run here, what is missing. */
  note?: string;
}

/**
 * A run's value of an entry's metric, or undefined when it has none (a diverged run, a metric the
 * run did not compute, a protocol not evaluated). `msPerIterMedian` is the run's timing.
 */
export type MetricReader = (entry: PaperEntry, run: FinishedRun) => number | undefined;

/** The suite's exact protocol: the record's metrics and timing. */
export const readRecordMetric: MetricReader = (entry, run) => {
  if (run.record.status !== 'ok') return undefined;
  const key = entry.suite!.metric;
  const value = key === 'msPerIterMedian' ? run.record.timing.msPerIterMedian : run.record.metrics[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

function summary(values: number[]): ValueSummary {
  if (values.length === 0) return { n: 0, mean: null, sd: null };
  return { n: values.length, mean: mean(values), sd: values.length > 1 ? sampleStandardDeviation(values) : null };
}

/** Which method the paper's numbers favour in the metric's direction (null: equal). */
function paperWinner(entry: PaperEntry): 'cfm' | 'fdm' | null {
  const { cfm, fdm } = entry.paper!;
  if (cfm === fdm) return null;
  return (entry.better === 'lower' ? fdm < cfm : fdm > cfm) ? 'fdm' : 'cfm';
}

/**
 * reproduced: the suite's paired difference has the paper's direction and the t-test rejects equal
 * means at ALPHA; same direction (n.s.): the direction alone; opposite: the other direction
 * (with (n.s.) when not significant). Without pairs (one seed) the direction of the means is shown, n.s.
 */
export function verdictOf(entry: PaperEntry, suite: NonNullable<ReproductionRow['suite']>): string {
  const { cfm, fdm, statistics } = suite;
  if (cfm.mean === null || fdm.mean === null) return 'no finished runs';
  const difference = fdm.mean - cfm.mean;
  const favoured = statistics ? statistics.better : difference === 0 ? null : (entry.better === 'lower' ? difference < 0 : difference > 0) ? 'fdm' : 'cfm';
  const significant = statistics?.significant ?? false;
  if (!entry.paper) return favoured === null ? 'suite only: tie' : `suite only: ${favoured} better${significant ? '' : ' (n.s.)'}`;
  const paper = paperWinner(entry);
  if (favoured === null || paper === null) return 'tie';
  if (favoured === paper) return significant ? 'reproduced' : 'same direction (n.s.)';
  return significant ? 'opposite' : 'opposite (n.s.)';
}

/** The entry's values of one experiment's runs, paired by seed (CFM and FDM of one seed share data and initial weights). */
function suiteColumns(entry: PaperEntry, experiment: PlannedExperiment, found: ReadonlyMap<string, FinishedRun>, read: MetricReader) {
  const value = (method: 'cfm' | 'fdm', seed: number) => {
    const run = experiment.runs.find((r) => r.spec.method === method && r.spec.seed === seed);
    const finished = run && found.get(run.identity);
    return finished ? read(entry, finished) : undefined;
  };
  const seeds = [...new Set(experiment.runs.map((run) => run.spec.seed))];
  const cfm = seeds.map((seed) => value('cfm', seed));
  const fdm = seeds.map((seed) => value('fdm', seed));
  const both = seeds.flatMap((_, i) => (cfm[i] !== undefined && fdm[i] !== undefined ? [i] : []));
  const defined = (values: Array<number | undefined>) => values.filter((v): v is number => v !== undefined);
  return {
    cfm: summary(defined(cfm)),
    fdm: summary(defined(fdm)),
    seeds: both.map((i) => seeds[i]),
    statistics: pairedStatistics(both.map((i) => fdm[i]!), both.map((i) => cfm[i]!), entry.better) ?? null,
  };
}

/** For values that only compare as a ratio (timings on other hardware): FDM/CFM of the paper and of the suite. */
function ratioNote(entry: PaperEntry, suite: NonNullable<ReproductionRow['suite']>): string {
  const paper = entry.paper ? number(entry.paper.fdm / entry.paper.cfm, 3) : '—';
  const ours = suite.cfm.mean !== null && suite.fdm.mean !== null ? number(suite.fdm.mean / suite.cfm.mean, 3) : '—';
  return `FDM/CFM ratio: paper ${paper}, suite ${ours}`;
}

/** The reproduction table: one row per paper entry, from the finished runs found. */
export function reproductionRows(
  numbers: PaperNumbers,
  plan: ReproductionPlan,
  found: ReadonlyMap<string, FinishedRun>,
  readers: Partial<Record<string, MetricReader>> = {},
): ReproductionRow[] {
  return plan.entries.map((entry) => {
    const head = {
      id: entry.id,
      family: entry.family,
      experiment: entry.experiment,
      where: entry.where,
      metric: entry.metric,
      unit: entry.unit,
      better: entry.better,
      protocol: entry.suite?.protocol ?? null,
      paper: entry.paper ?? null,
      source: numbers.sources[entry.source],
    };
    if (!entry.suite) return { ...head, suite: null, verdict: 'not runnable here', note: entry.notRunnable };
    const experiment = plan.experiments.find((e) => e.task.name === entry.suite!.task)!;
    const read = entry.suite.protocol === 'exact' ? readRecordMetric : readers[entry.suite.protocol];
    if (!read) return { ...head, suite: null, verdict: 'not evaluated', note: `the ${entry.suite.protocol} protocol did not run` };
    const missing = experiment.runs.filter((run) => !found.has(run.identity)).length;
    const suite = suiteColumns(entry, experiment, found, read);
    const verdict = verdictOf(entry, suite);
    const notes = [missing ? `${missing} of ${experiment.runs.length} runs missing` : '', entry.compareRatio ? ratioNote(entry, suite) : ''].filter(Boolean);
    return { ...head, suite, verdict, ...(notes.length ? { note: notes.join('; ') } : {}) };
  });
}

const HEADERS = ['experiment', 'metric', 'protocol', 'paper CFM', 'paper FDM', 'suite CFM', 'suite FDM', 'FDM − CFM', 'pairs', 't-test p', 'Wilcoxon p', 'verdict'];

/** `digits` significant digits, in the style of the paper's tables (small values in exponent form). */
function number(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined) return '—';
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(digits - 1);
  return Number.isInteger(value) ? String(value) : Number(value.toPrecision(digits)).toString();
}

function meanSd(value: ValueSummary): string {
  if (value.mean === null) return '—';
  return value.sd === null ? number(value.mean) : `${number(value.mean)} ± ${number(value.sd, 2)}`;
}

/** Rows with a note get a numbered marker in the verdict column; the notes follow the table. */
function body(rows: ReproductionRow[]): string[][] {
  let notes = 0;
  return rows.map((row) => {
    const stats = row.suite?.statistics;
    const difference = row.suite && row.suite.cfm.mean !== null && row.suite.fdm.mean !== null ? row.suite.fdm.mean - row.suite.cfm.mean : null;
    return [
      row.experiment,
      row.metric,
      row.protocol ?? '—',
      number(row.paper?.cfm),
      number(row.paper?.fdm),
      row.suite ? meanSd(row.suite.cfm) : '—',
      row.suite ? meanSd(row.suite.fdm) : '—',
      number(difference, 3),
      String(row.suite?.seeds.length ?? 0),
      stats?.tTestP == null ? '—' : formatNumber(stats.tTestP, 3),
      stats?.wilcoxonP == null ? '—' : formatNumber(stats.wilcoxonP, 3),
      row.note ? `${row.verdict} [${++notes}]` : row.verdict,
    ];
  });
}

export function reproductionCaption(plan: ReproductionPlan): string {
  return (
    `The paper against the suite at scale '${plan.scale}': suite values are mean ± sd over seeds; FDM − CFM the ` +
    `difference of the means, tested over the seeds where both finished (paired t-test and Wilcoxon signed-rank, ` +
    `two-sided; verdict 'reproduced' when the direction is the paper's and the t-test's p < ${ALPHA}).`
  );
}

function notes(rows: ReproductionRow[]): string {
  return rows
    .filter((row) => row.note)
    .map((row, i) => `[${i + 1}] ${row.experiment}, ${row.metric}: ${row.note}`)
    .join('\n');
}

export function renderReproductionTerminal(rows: ReproductionRow[], plan: ReproductionPlan, summaries: ProtocolSummary[] = []): string {
  const extra = summaries.map((summary) => `\n${summary.title}\n${terminalTable(summary.headers, summary.body)}`).join('');
  return `${reproductionCaption(plan)}\n${terminalTable(HEADERS, body(rows))}\n${notes(rows)}${extra}`;
}

/** The table in Markdown, with the sources of the paper's numbers under it. */
export function renderReproductionMarkdown(rows: ReproductionRow[], plan: ReproductionPlan, numbers: PaperNumbers, summaries: ProtocolSummary[] = []): string {
  const extra = summaries.map((summary) => `\n${summary.title}\n\n${markdownTable(summary.headers, summary.body)}\n`).join('');
  const used = [...new Set(plan.entries.map((entry) => entry.source))];
  const sources = used.map((key) => `- ${key}: ${numbers.sources[key]}`).join('\n');
  const units = rows.map((row) => `- ${row.experiment}, ${row.metric} (${row.where}): ${row.unit}`).join('\n');
  const list = notes(rows).split('\n').filter(Boolean).map((line) => `- ${line}`).join('\n');
  return `${reproductionCaption(plan)}\n\n${markdownTable(HEADERS, body(rows))}\n\n${list}\n${extra}\nUnits:\n${units}\n\nSources of the paper's numbers (configs/paper-numbers.yaml):\n${sources}\n`;
}
