import ttest from '@stdlib/stats-ttest';
import wilcoxon from '@stdlib/stats-wilcoxon';
import { RunRecord } from '../results/record';
import { FDM_ONLY_SETTINGS } from '../core/methods';
import { aggregate, groupBy, groupKey, pickSettings, Settings, variedSettings } from './aggregate';
import { ColumnSpec } from '../core/columns';
import { escapeHtml, formatNumber, htmlTable, markdownTable, terminalTable } from './render';

/** Significance level of the verdict in the 'better' column. */
export const ALPHA = 0.05;

/** Below this many pairs neither test is defined. */
const MIN_PAIRS = 2;

/** FDM against CFM on one metric, over the seeds both ran. */
export interface PairedComparison {
  /** The FDM row's key, as in AggregateRow.key (e.g. 'checkerboard fdm lambda=0.1'). */
  key: string;
  /** The FDM row's varied settings. */
  settings: Settings;
  /** The metric (a column key). */
  metric: string;
  /** Pairs whose CFM and FDM runs both finished with a finite value of the metric. */
  pairs: number;
  /** Mean over pairs of FDM - CFM. */
  meanDifference: number;
  /** Paired t statistic: the mean difference over its standard error (n - 1 degrees of freedom). */
  t: number | null;
  /** Two-sided p-value of the paired t-test; null when undefined (every difference 0). */
  tTestP: number | null;
  /**
   * Two-sided p-value of the Wilcoxon signed-rank test: exact up to 50 pairs without ties or zero
   * differences, else the normal approximation with continuity correction (zero differences
   * dropped); null when every difference is 0.
   */
  wilcoxonP: number | null;
  /** The method the mean difference favours in the metric's direction; null on a tie. */
  better: RunRecord['method'] | null;
  /** Whether the t-test rejects equal means at ALPHA. */
  significant: boolean;
}

/**
 * Paired CFM-vs-FDM comparisons for one task's records: for every FDM row of the aggregated table
 * and every column with a direction (ColumnSpec.better), each ok FDM run is paired with the ok CFM
 * run of the same seed and the same settings apart from the FDM-only ones. Runs of one seed share
 * initial weights and batches, so the per-seed difference removes the seed's own luck. When the
 * same configuration ran more than once, the CFM run of the same run directory is preferred.
 * Comparisons with fewer than 2 pairs are left out.
 */
export function pairedComparisons(records: RunRecord[], columns: readonly ColumnSpec[]): PairedComparison[] {
  const ok = records.filter((record) => record.status === 'ok');
  const varied = variedSettings(records);
  const cfmByPairKey = groupBy(ok.filter((record) => record.method === 'cfm'), pairKey);
  const fdmRows = aggregate(records).filter((row) => row.method === 'fdm');
  return fdmRows.flatMap((row) => {
    const fdmRuns = ok.filter((record) => record.method === 'fdm' && rowKey(record, varied) === row.key);
    const pairs = fdmRuns.flatMap((fdm) => {
      const candidates = cfmByPairKey.get(pairKey(fdm)) ?? [];
      const cfm = candidates.find((record) => record.runId === fdm.runId) ?? candidates[0];
      return cfm ? [{ cfm, fdm }] : [];
    });
    return columns
      .filter((column) => column.better !== undefined)
      .flatMap((column) => compare(row.key, row.settings, pairs, column));
  });
}

function rowKey(record: RunRecord, varied: string[]): string {
  return groupKey(record.task, record.method, pickSettings(record, varied));
}

/** Task, seed and every setting CFM shares with FDM: what a CFM run must match to pair with an FDM run. */
function pairKey(record: RunRecord): string {
  const shared = Object.entries(record.settings)
    .filter(([name]) => !FDM_ONLY_SETTINGS.includes(name))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([record.task, record.seed, shared]);
}

function compare(
  key: string,
  settings: Settings,
  pairs: { cfm: RunRecord; fdm: RunRecord }[],
  column: ColumnSpec,
): PairedComparison[] {
  const cfm: number[] = [];
  const fdm: number[] = [];
  for (const pair of pairs) {
    const [x, y] = [pair.fdm.metrics[column.key], pair.cfm.metrics[column.key]];
    if (isFiniteNumber(x) && isFiniteNumber(y)) (fdm.push(x), cfm.push(y));
  }
  const statistics = pairedStatistics(fdm, cfm, column.better!);
  return statistics ? [{ key, settings, metric: column.key, ...statistics }] : [];
}

/** The paired statistics of one metric: what a PairedComparison says beyond which row and metric. */
export type PairedStatistics = Omit<PairedComparison, 'key' | 'settings' | 'metric'>;

/**
 * FDM against CFM on paired values (fdm[i] and cfm[i] from one seed): the mean difference, the paired
 * t-test and the Wilcoxon signed-rank test, and the method favoured in the direction `better`;
 * undefined below 2 pairs, where neither test is defined.
 */
export function pairedStatistics(fdm: number[], cfm: number[], better: 'lower' | 'higher'): PairedStatistics | undefined {
  if (fdm.length !== cfm.length) throw new Error(`internal: ${fdm.length} FDM values paired with ${cfm.length} CFM values`);
  if (fdm.length < MIN_PAIRS) return undefined;
  const differences = fdm.map((value, i) => value - cfm[i]);
  const meanDifference = differences.reduce((a, b) => a + b, 0) / differences.length;
  const allZero = differences.every((difference) => difference === 0);
  // Both tests take x - y, so FDM goes first.
  const tTest = ttest(fdm, cfm);
  const tTestP = finiteOrNull(tTest.pValue);
  const fdmBetter = better === 'lower' ? meanDifference < 0 : meanDifference > 0;
  return {
    pairs: fdm.length,
    meanDifference,
    t: finiteOrNull(tTest.statistic),
    tTestP,
    wilcoxonP: allZero ? null : wilcoxonTwoSided(fdm, cfm),
    better: meanDifference === 0 ? null : fdmBetter ? 'fdm' : 'cfm',
    significant: tTestP !== null && tTestP < ALPHA,
  };
}

/**
 * @stdlib doubles the smaller tail of the exact distribution, which exceeds 1 when the statistic
 * sits at the distribution's centre (e.g. differences 1, 2, -3); a probability is capped at 1.
 */
function wilcoxonTwoSided(fdm: number[], cfm: number[]): number | null {
  const p = finiteOrNull(wilcoxon(fdm, cfm).pValue);
  return p === null ? null : Math.min(1, p);
}

function isFiniteNumber(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

const HEADERS = ['FDM run', 'metric', 'pairs', 'FDM − CFM', 't', 't-test p', 'Wilcoxon p', 'better'];

const CAPTION =
  `Paired by seed: FDM − CFM, two-sided p-values of the paired t-test and the Wilcoxon signed-rank test.\n` +
  `'better': the method the mean difference favours, (n.s.) when the t-test's p ≥ ${ALPHA}. ` +
  `Wilcoxon's p is at least 2/2^n for n pairs: it needs 6 seeds to go below 0.05.`;

/** The comparisons as a terminal table with a caption; '' when there are none. */
export function renderPairedTerminal(comparisons: PairedComparison[], columns: readonly ColumnSpec[]): string {
  return comparisons.length ? `${CAPTION}\n${terminalTable(HEADERS, pairedBody(comparisons, columns))}` : '';
}

/** The comparisons as Markdown with a caption; '' when there are none. */
export function renderPairedMarkdown(comparisons: PairedComparison[], columns: readonly ColumnSpec[]): string {
  return comparisons.length ? `${CAPTION}\n\n${markdownTable(HEADERS, pairedBody(comparisons, columns))}` : '';
}

/** The comparisons as HTML with a caption; '' when there are none. */
export function renderPairedHtml(comparisons: PairedComparison[], columns: readonly ColumnSpec[]): string {
  return comparisons.length ? `<p class="caption">${escapeHtml(CAPTION)}</p>\n${htmlTable(HEADERS, pairedBody(comparisons, columns))}` : '';
}

function pairedBody(comparisons: PairedComparison[], columns: readonly ColumnSpec[]): string[][] {
  return comparisons.map((comparison) => {
    const column = columns.find((candidate) => candidate.key === comparison.metric);
    const label = ['fdm', ...Object.entries(comparison.settings).map(([name, value]) => `${name}=${value}`)].join(' ');
    return [
      label,
      column?.header ?? comparison.metric,
      String(comparison.pairs),
      formatNumber(comparison.meanDifference, column?.digits ?? 4),
      optional(comparison.t, 2),
      optional(comparison.tTestP, 3),
      optional(comparison.wilcoxonP, 3),
      verdict(comparison),
    ];
  });
}

function optional(value: number | null, digits: number): string {
  return value === null ? '—' : formatNumber(value, digits);
}

function verdict(comparison: PairedComparison): string {
  if (comparison.better === null) return 'tie';
  return comparison.significant ? comparison.better : `${comparison.better} (n.s.)`;
}
