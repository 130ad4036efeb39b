/** One metric or timing column of a report; which ones a task shows differs by task. */
export interface ColumnSpec {
  /** Metric name or timing key (see TIMING_KEYS). */
  key: string;
  header: string;
  /** Decimal places. */
  digits: number;
  /** Show 'mean ± std' (when the row has more than one value). */
  showStd: boolean;
  /** Which way is better; only columns with a direction get a paired CFM-vs-FDM test (report/paired.ts). */
  better?: 'lower' | 'higher';
}

/** A bar chart of chosen metrics per run that a task asks for beside its table (e.g. a bound and what it bounds). */
export interface MetricBarsFigure {
  /** File name without extension. */
  name: string;
  title: string;
  yTitle: string;
  metrics: Array<{ key: string; label: string }>;
}
