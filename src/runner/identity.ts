import { createHash } from 'node:crypto';
import { RunConfig } from '../config/schema';
import { RunSpec, Task } from '../core/task';
import { runSettings } from './grid';

/**
 * Settings of a configuration that are not one run's: the grid's lists (each run's own value is in
 * its spec), the backend asked for (the one used is part of the identity by its label), and what
 * only shapes the log (progress lines, checkpoint interval: a resumed run computes the same numbers).
 */
const NOT_A_RUNS_SETTING = [
  'methods',
  'seeds',
  'path',
  'lambda',
  'divEstimator',
  'probes',
  'cdmWeight',
  'timeSampling',
  'stopGrad',
  'fdmVariant',
  'backend',
  'logEvery',
  'checkpointEvery',
];

/** What identifies a finished run: every input of its numbers. */
export interface RunIdentityInput {
  task: Pick<Task, 'name' | 'recordedSettings' | 'gridAxes'>;
  spec: RunSpec;
  /** The validated configuration the run belongs to (defaults filled in by the schema). */
  config: RunConfig;
  /** The backend label the run used, e.g. 'wasm (simd) + openblas 0.3.21 (1 thread)'. */
  backend: string;
  /** NUMERICS_VERSION of the code that computed it. */
  numerics: number;
}

/** Object keys sorted at every level, so that equal settings serialise equally. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The configuration of one run alone: the shared settings without the grid's lists, the task's section without its axes' lists. */
function ownSettings(task: RunIdentityInput['task'], config: RunConfig): Record<string, unknown> {
  const own: Record<string, unknown> = Object.fromEntries(Object.entries(config).filter(([key]) => !NOT_A_RUNS_SETTING.includes(key)));
  const axes = Object.keys(task.gridAxes?.(config) ?? {});
  for (const [key, value] of Object.entries(own)) {
    // A task's axis (dna-toy's simplexDim) is a list in its section; the run's value is in spec.axes.
    if (axes.length && value !== null && typeof value === 'object' && !Array.isArray(value) && key !== 'eval') {
      own[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([name]) => !axes.includes(name)));
    }
  }
  return own;
}

/**
 * A run's identity: a hash of the task, the run's spec (method, seed, path, FDM settings, axes),
 * every setting of its configuration that can change its numbers (evaluation included), the
 * settings recorded with it, the backend label and the numerics version. Two runs with one identity
 * compute the same metrics, so a finished one is reused instead of trained again (`reproduce`).
 */
export function runIdentity(input: RunIdentityInput): string {
  const { task, spec, config } = input;
  const described = {
    task: task.name,
    spec,
    config: ownSettings(task, config),
    recorded: runSettings(task, spec, config),
    backend: input.backend,
    numerics: input.numerics,
  };
  return createHash('sha256').update(canonicalJson(described)).digest('hex').slice(0, 20);
}
