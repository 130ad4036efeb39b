import { z } from 'zod';
import { AggregateRow, Settings, TIMING_KEYS, valueOf } from './aggregate';

export interface Tolerance {
  abs?: number;
  rel?: number;
  better: 'lower' | 'higher';
}

/** Keyed by metric name or timing key; only these values are compared. */
export type Tolerances = Record<string, Tolerance>;

export interface BaselineRow {
  key: string;
  task: string;
  method: AggregateRow['method'];
  settings: Settings;
  /** Every metric mean and timing value of the row, so tolerances can be added later without rerunning. */
  values: Record<string, number | null>;
}

export interface Baseline {
  schema: 1;
  createdAt: string;
  /** The run directory the baseline was built from. */
  source: string;
  tolerances: Tolerances;
  rows: BaselineRow[];
}

export interface CheckResult {
  passed: boolean;
  lines: string[];
}

export const DEFAULT_TOLERANCES: Tolerances = {
  nll: { abs: 0.05, better: 'lower' },
  energyDistance: { abs: 0.02, better: 'lower' },
  // Loose: the baseline may come from a different machine; this only catches order-of-magnitude slowdowns.
  msPerIterMedian: { rel: 3.0, better: 'lower' },
};

const baselineSchema: z.ZodType<Baseline> = z.object({
  schema: z.literal(1),
  createdAt: z.string(),
  source: z.string(),
  tolerances: z.record(
    z.string(),
    z.object({ abs: z.number().optional(), rel: z.number().optional(), better: z.enum(['lower', 'higher']) }),
  ),
  rows: z.array(
    z.object({
      key: z.string(),
      task: z.string(),
      method: z.enum(['cfm', 'fdm']),
      settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
      values: z.record(z.string(), z.number().nullable()),
    }),
  ),
});

export function makeBaseline(rows: AggregateRow[], source: string, tolerances: Tolerances = DEFAULT_TOLERANCES): Baseline {
  return {
    schema: 1,
    createdAt: new Date().toISOString(),
    source,
    tolerances,
    rows: rows.map(toBaselineRow),
  };
}

function toBaselineRow(row: AggregateRow): BaselineRow {
  const names = [...Object.keys(row.metrics), ...TIMING_KEYS];
  const values = Object.fromEntries(names.map((name) => [name, valueOf(row, name)]));
  return { key: row.key, task: row.task, method: row.method, settings: row.settings, values };
}

/** Parses a baseline file's text; `file` only names the source in the error. */
export function parseBaseline(file: string, text: string): Baseline {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not a baseline: invalid JSON (${(err as Error).message})`);
  }
  const parsed = baselineSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(baseline)'}: ${issue.message}`);
  throw new Error(`${file}: invalid baseline: ${problems.join('; ')}`);
}

/** Fails on a baseline row missing from `rows`, or a toleranced value worse than the baseline by more than its tolerance. */
export function checkAgainstBaseline(rows: AggregateRow[], baseline: Baseline, ignore: string[] = []): CheckResult {
  const currentByKey = new Map(rows.map((row) => [row.key, row]));
  const lines: string[] = [];
  let passed = true;
  for (const baseRow of baseline.rows) {
    const current = currentByKey.get(baseRow.key);
    if (!current) {
      passed = false;
      lines.push(`FAIL ${baseRow.key}: row missing from current results`);
      continue;
    }
    for (const [name, tolerance] of Object.entries(baseline.tolerances)) {
      if (ignore.includes(name)) {
        lines.push(`skip ${baseRow.key}: ${name} not checked (--ignore)`);
        continue;
      }
      const outcome = compareValue(baseRow.values[name] ?? null, valueOf(current, name), tolerance);
      passed &&= outcome.passed;
      lines.push(`${outcome.passed ? 'ok' : 'FAIL'} ${baseRow.key}: ${name} ${outcome.detail}`);
    }
  }
  const baselineKeys = new Set(baseline.rows.map((row) => row.key));
  for (const row of rows.filter((candidate) => !baselineKeys.has(candidate.key))) {
    lines.push(`note ${row.key}: not in baseline, not checked`);
  }
  return { passed, lines };
}

function compareValue(base: number | null, current: number | null, tolerance: Tolerance): { passed: boolean; detail: string } {
  if (base === null) return { passed: true, detail: 'has no baseline value, not checked' };
  if (current === null) return { passed: false, detail: `missing (baseline ${fmt(base)})` };
  const allowed = Math.max(tolerance.abs ?? 0, (tolerance.rel ?? 0) * Math.abs(base));
  const lowerIsBetter = tolerance.better === 'lower';
  const worseBy = lowerIsBetter ? current - base : base - current;
  if (worseBy <= allowed) return { passed: true, detail: `${fmt(current)} (baseline ${fmt(base)}, tol ${fmt(allowed)})` };
  const [relation, sign] = lowerIsBetter ? ['>', '+'] : ['<', '-'];
  return {
    passed: false,
    detail: `${fmt(current)} ${relation} baseline ${fmt(base)} ${sign} tol ${fmt(allowed)} (worse by ${fmt(worseBy)})`,
  };
}

/** Three decimals, switching to exponent notation where that would hide a small value. */
function fmt(value: number): string {
  return value !== 0 && Math.abs(value) < 0.01 ? value.toExponential(2) : value.toFixed(3);
}
