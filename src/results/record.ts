/**
 * One (task, method, settings, seed) run as stored in results/<task>/<run-id>/records.jsonl and
 * printed by `run --json`. This is the schema CI scripts parse; the README documents it.
 */
export interface RunRecord {
  /** Schema version of this record. */
  schema: 1;
  runId: string;
  task: string;
  method: 'cfm' | 'fdm';
  seed: number;
  /** 'ok', or 'diverged' when a loss turned NaN/infinite (then `divergedAt` is set). */
  status: 'ok' | 'diverged';
  divergedAt?: number;
  /** Every setting that shaped this run (lambda, iterations, batchSize, hidden, path, ...). */
  settings: Record<string, string | number | boolean>;
  /** Named metrics; 'nll' (nats) is always present for density tasks. NaN is stored as null. */
  metrics: Record<string, number | null>;
  timing: TimingStats;
  /** Backend label, e.g. 'wasm (simd)'. */
  backend: string;
  /** Losses at the logged iterations; for CFM, `cdm` is the divergence term watched, not trained on. */
  history?: LossPoint[];
}

export interface LossPoint {
  iteration: number;
  total: number;
  cfm: number;
  cdm: number;
}

/** Milliseconds per training iteration, evaluation excluded. */
export interface TimingStats {
  msPerIterMedian: number;
  msPerIterMean: number;
  msPerIterStd: number;
  msPerIterP95: number;
  iterations: number;
  trainSeconds: number;
  evalSeconds: number;
  /** Evaluation throughput per second: samplesPerSecond, nllPerSecond, sequencesPerSecond, framesPerSecond. */
  throughput?: Record<string, number>;
}
