import { ColumnSpec } from '../../core/columns';
import { AggregateRow } from '../aggregate';
import { FigureSpec, RUN_COLORS } from './figure';

/**
 * Figures of a results table (one row per setting, aggregated over seeds): headline metrics against
 * a swept setting, bars of chosen metrics per run, and time per iteration. Error bars are one
 * standard deviation over seeds.
 */
export interface NamedFigure {
  /** File name without extension, e.g. 'sweep-lambda'. */
  name: string;
  spec: FigureSpec;
}

/** A row's name in figures: method, then its settings, e.g. 'fdm lambda=0.1 probes=4'. */
export function rowLabel(row: AggregateRow, leaveOut: string[] = []): string {
  return [row.method, ...Object.entries(row.settings).filter(([key]) => !leaveOut.includes(key)).map(([key, value]) => `${key}=${value}`)].join(' ');
}

/** Settings that take at least two numeric values among the rows: the axes of a sweep. */
export function sweptSettings(rows: AggregateRow[]): string[] {
  const keys = [...new Set(rows.flatMap((row) => Object.keys(row.settings)))];
  return keys.filter((key) => {
    const values = rows.map((row) => row.settings[key]).filter((v) => v !== undefined);
    return values.every((v) => typeof v === 'number') && new Set(values).size >= 2;
  });
}

/** One metric of one row: mean and the ends of its ± one-sd bar (the mean alone for one seed). */
function summaryPoint(row: AggregateRow, key: string) {
  const summary = row.metrics[key];
  if (!summary || summary.mean === null) return undefined;
  const sd = summary.n > 1 && summary.std !== null ? summary.std : 0;
  return { mean: summary.mean, low: summary.mean - sd, high: summary.mean + sd, seeds: summary.n };
}

/** A log x axis when the swept values are positive and span a decade or more (lambda, probes). */
function sweepScale(values: number[]): Record<string, unknown> {
  const positive = values.every((v) => v > 0);
  return positive && Math.max(...values) / Math.min(...values) >= 10 ? { type: 'log' } : { zero: false };
}

/**
 * Each headline metric (the columns with a direction) against one swept setting: the rows that have
 * it as points joined by lines per remaining setting, the rows without it (CFM against a lambda
 * sweep) as horizontal reference lines.
 */
export function sweepSpec(rows: AggregateRow[], columns: readonly ColumnSpec[], setting: string): FigureSpec | undefined {
  const metrics = columns.filter((c) => c.better);
  const values = metrics.flatMap((column) =>
    rows.flatMap((row) => {
      const point = summaryPoint(row, column.key);
      if (!point) return [];
      const x = row.settings[setting];
      return [{ metric: `${column.header} (${column.better} is better)`, series: rowLabel(row, [setting]), x: typeof x === 'number' ? x : null, ...point }];
    }),
  );
  const swept = values.filter((v) => v.x !== null);
  if (swept.length === 0) return undefined;
  const x = { field: 'x', type: 'quantitative', title: setting, scale: sweepScale(swept.map((v) => v.x as number)) };
  const color = { field: 'series', type: 'nominal', title: null, scale: { range: RUN_COLORS }, legend: { orient: 'bottom', columns: 2 } };
  const y = (title: string | null) => ({ field: 'mean', type: 'quantitative', title, scale: { zero: false } });
  const onSweep = { filter: 'datum.x !== null' };
  return {
    title: { text: `${rows[0].task}: metrics against ${setting}`, subtitle: 'mean over seeds, bars ± one standard deviation; dashed: runs without this setting (e.g. CFM)' },
    data: { values },
    columns: 3,
    facet: { field: 'metric', type: 'nominal', title: null, sort: metrics.map((c) => `${c.header} (${c.better} is better)`) },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 200,
      layer: [
        { transform: [onSweep], mark: { type: 'line', point: true }, encoding: { x, y: y('mean'), color } },
        { transform: [onSweep], mark: { type: 'rule' }, encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color } },
        { transform: [{ filter: 'datum.x === null' }], mark: { type: 'rule', strokeDash: [6, 4] }, encoding: { y: y(null), color } },
      ],
    },
  } as FigureSpec;
}

/** Chosen metrics of every row as grouped bars with ± one-sd bars (e.g. the chain TV <= marginal bound <= conditional bound). */
export function metricBarsSpec(rows: AggregateRow[], metrics: Array<{ key: string; label: string }>, title: string, yTitle: string): FigureSpec | undefined {
  const values = rows.flatMap((row) => metrics.flatMap(({ key, label }) => {
    const point = summaryPoint(row, key);
    return point ? [{ run: rowLabel(row), quantity: label, ...point }] : [];
  }));
  if (values.length === 0) return undefined;
  const order = metrics.map((m) => m.label);
  const x = { field: 'run', type: 'nominal', title: null, sort: [...new Set(values.map((v) => v.run))], axis: { labelAngle: 0, labelLimit: 220 } };
  const offset = { field: 'quantity', type: 'nominal', sort: order };
  return {
    title: { text: title, subtitle: 'mean over seeds, bars ± one standard deviation' },
    data: { values },
    // The step of the innermost band: one bar.
    width: { step: 36 },
    height: 260,
    layer: [
      { mark: { type: 'bar' }, encoding: { x, xOffset: offset, y: { field: 'mean', type: 'quantitative', title: yTitle }, color: { ...offset, title: null, legend: { orient: 'bottom' } } } },
      { mark: { type: 'rule', color: 'black' }, encoding: { x, xOffset: offset, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } } },
    ],
  } as FigureSpec;
}

/** Time per training iteration of each run or configuration, by backend. */
export interface TimingBar {
  run: string;
  backend: string;
  msPerIter: number;
}

export function timingSpec(bars: TimingBar[], title: string): FigureSpec | undefined {
  if (bars.length === 0) return undefined;
  const backends = [...new Set(bars.map((b) => b.backend))];
  return {
    title: { text: title, subtitle: 'median milliseconds per training iteration' },
    data: { values: bars },
    width: 420,
    height: { step: 22 },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'run', type: 'nominal', title: null, sort: [...new Set(bars.map((b) => b.run))], axis: { labelLimit: 600 } },
      ...(backends.length > 1 ? { yOffset: { field: 'backend', type: 'nominal' } } : {}),
      x: { field: 'msPerIter', type: 'quantitative', title: 'ms per iteration' },
      color: { field: 'backend', type: 'nominal', title: 'backend', legend: { orient: 'bottom', labelLimit: 500 } },
    },
  } as FigureSpec;
}

/** The figures every results table gets: a sweep per swept setting, and the time per iteration. */
export function tableFigures(rows: AggregateRow[], columns: readonly ColumnSpec[]): NamedFigure[] {
  const sweeps = sweptSettings(rows).flatMap((setting) => {
    const spec = sweepSpec(rows, columns, setting);
    return spec ? [{ name: `sweep-${setting}`, spec }] : [];
  });
  const timing = timingSpec(
    rows.flatMap((row) => (row.msPerIterMedian === null ? [] : [{ run: rowLabel(row), backend: row.backends.join(', '), msPerIter: row.msPerIterMedian }])),
    `${rows[0]?.task}: training time`,
  );
  return [...sweeps, ...(timing ? [{ name: 'timing', spec: timing }] : [])];
}
