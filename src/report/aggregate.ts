import { mean, median, sampleStandardDeviation } from 'simple-statistics';
import { FDM_ONLY_SETTINGS } from '../core/methods';
import { RunRecord } from '../results/record';

export type SettingValue = string | number | boolean;
export type Settings = Record<string, SettingValue>;

/** Settings that never split rows: seeds are what a row aggregates over; method is its own column. */
const NON_GROUPING_SETTINGS: readonly string[] = ['seed', 'method'];

/** Row values that are not metrics; every other value key names a metric. */
export const TIMING_KEYS = ['msPerIterMedian', 'fdmCfmTimeRatio'] as const;
export type TimingKey = (typeof TIMING_KEYS)[number];

export interface MetricSummary {
  /** Runs that produced a finite value (diverged runs and null metrics excluded). */
  n: number;
  mean: number | null;
  /** Sample std (n - 1); 0 when n = 1. */
  std: number | null;
  standardError: number | null;
}

export interface DivergedRun {
  runId: string;
  seed: number;
  divergedAt?: number;
}

export interface AggregateRow {
  /** Canonical group key, e.g. 'checkerboard fdm lambda=0.1'; baselines match rows by it. */
  key: string;
  task: string;
  method: RunRecord['method'];
  /** Only the settings that vary within the task, so they identify this row among its siblings. */
  settings: Settings;
  /** Runs (seeds) in the group, diverged included. */
  n: number;
  status: Record<RunRecord['status'], number>;
  diverged: DivergedRun[];
  metrics: Record<string, MetricSummary>;
  /** Median over ok runs of each run's median ms/iteration; null when every run diverged. */
  msPerIterMedian: number | null;
  /** This FDM row's msPerIterMedian over the matching CFM row's; null for CFM rows or without a match. */
  fdmCfmTimeRatio: number | null;
  /** Planned training iterations (the longest run; diverged runs may stop early). */
  iterations: number;
  backends: string[];
}

/** Groups records into one row per (task, method, varied settings), sorted for display. */
export function aggregate(records: RunRecord[]): AggregateRow[] {
  const groups = new Map<string, { settings: Settings; records: RunRecord[] }>();
  for (const [task, taskRecords] of groupBy(records, (record) => record.task)) {
    const varied = variedSettings(taskRecords);
    for (const record of taskRecords) {
      const settings = pickSettings(record, varied);
      const key = groupKey(task, record.method, settings);
      const group = groups.get(key) ?? { settings, records: [] };
      group.records.push(record);
      groups.set(key, group);
    }
  }
  const rows = [...groups].map(([key, group]) => summarizeGroup(key, group.settings, group.records));
  return withTimeRatios(rows).sort(compareRows);
}

/** A row's value for a metric (its mean) or a timing key; null when absent. */
export function valueOf(row: AggregateRow, key: string): number | null {
  if (isTimingKey(key)) return row[key];
  return row.metrics[key]?.mean ?? null;
}

function isTimingKey(key: string): key is TimingKey {
  return (TIMING_KEYS as readonly string[]).includes(key);
}

/** A row's canonical key from its task, method and varied settings. */
export function groupKey(task: string, method: string, settings: Settings): string {
  const parts = Object.entries(settings).map(([name, value]) => `${name}=${value}`);
  return [task, method, ...parts].join(' ');
}

/** Items by key, in first-seen order. */
export function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key) ?? [];
    group.push(item);
    groups.set(key, group);
  }
  return groups;
}

/** Setting names (sorted) whose values differ among a task's records; FDM-only ones judged on FDM runs alone. */
export function variedSettings(taskRecords: RunRecord[]): string[] {
  const names = new Set(taskRecords.flatMap((record) => Object.keys(record.settings)));
  return [...names]
    .filter((name) => !NON_GROUPING_SETTINGS.includes(name))
    .filter((name) => {
      // A setting only some runs have (alphaMax: the Dirichlet path's, not the linear one's) does
      // not split rows by its absence; JSON keeps 1 and '1' apart.
      const relevant = taskRecords.filter((record) => appliesTo(name, record.method) && name in record.settings);
      return new Set(relevant.map((record) => JSON.stringify(record.settings[name]))).size > 1;
    })
    .sort();
}

function appliesTo(setting: string, method: RunRecord['method']): boolean {
  return method === 'fdm' || !FDM_ONLY_SETTINGS.includes(setting);
}

/** The record's values of the varied settings that apply to its method: its row's settings. */
export function pickSettings(record: RunRecord, varied: string[]): Settings {
  const settings: Settings = {};
  for (const name of varied) {
    const value = record.settings[name];
    if (value !== undefined && appliesTo(name, record.method)) settings[name] = value;
  }
  return settings;
}

function summarizeGroup(key: string, settings: Settings, records: RunRecord[]): AggregateRow {
  const ok = records.filter((record) => record.status === 'ok');
  const diverged = records.filter((record) => record.status === 'diverged');
  return {
    key,
    task: records[0].task,
    method: records[0].method,
    settings,
    n: records.length,
    status: { ok: ok.length, diverged: diverged.length },
    diverged: diverged.map(({ runId, seed, divergedAt }) => ({ runId, seed, divergedAt })),
    metrics: summarizeMetrics(ok),
    msPerIterMedian: ok.length > 0 ? median(ok.map((record) => record.timing.msPerIterMedian)) : null,
    fdmCfmTimeRatio: null,
    iterations: Math.max(...records.map((record) => record.timing.iterations)),
    backends: [...new Set(records.map((record) => record.backend))].sort(),
  };
}

function summarizeMetrics(okRecords: RunRecord[]): Record<string, MetricSummary> {
  const names = [...new Set(okRecords.flatMap((record) => Object.keys(record.metrics)))];
  const summaries: Record<string, MetricSummary> = {};
  for (const name of names) {
    const values = okRecords
      .map((record) => record.metrics[name])
      .filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
    summaries[name] = summarize(values);
  }
  return summaries;
}

function summarize(values: number[]): MetricSummary {
  const n = values.length;
  if (n === 0) return { n, mean: null, std: null, standardError: null };
  const std = n > 1 ? sampleStandardDeviation(values) : 0;
  return { n, mean: mean(values), std, standardError: std / Math.sqrt(n) };
}

/** Fills each FDM row's time ratio against the CFM row that differs from it only in FDM-only settings. */
function withTimeRatios(rows: AggregateRow[]): AggregateRow[] {
  const cfmByKey = new Map(rows.filter((row) => row.method === 'cfm').map((row) => [cfmCounterpartKey(row), row]));
  return rows.map((row) => {
    const cfm = row.method === 'fdm' ? cfmByKey.get(cfmCounterpartKey(row)) : undefined;
    return { ...row, fdmCfmTimeRatio: timeRatio(row.msPerIterMedian, cfm?.msPerIterMedian ?? null) };
  });
}

function timeRatio(fdmMs: number | null, cfmMs: number | null): number | null {
  return fdmMs !== null && cfmMs !== null && cfmMs > 0 ? fdmMs / cfmMs : null;
}

function cfmCounterpartKey(row: AggregateRow): string {
  const shared = Object.entries(row.settings).filter(([name]) => !FDM_ONLY_SETTINGS.includes(name));
  return groupKey(row.task, 'cfm', Object.fromEntries(shared));
}

/** Task, then CFM before FDM, then settings in key order (numbers numerically, a missing value first). */
function compareRows(a: AggregateRow, b: AggregateRow): number {
  if (a.task !== b.task) return a.task < b.task ? -1 : 1;
  if (a.method !== b.method) return a.method < b.method ? -1 : 1;
  const names = [...new Set([...Object.keys(a.settings), ...Object.keys(b.settings)])].sort();
  for (const name of names) {
    const order = compareSettingValues(a.settings[name], b.settings[name]);
    if (order !== 0) return order;
  }
  return 0;
}

function compareSettingValues(a: SettingValue | undefined, b: SettingValue | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}
