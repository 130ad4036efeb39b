import { RunConfig } from '../config/schema';
import { FDM_ONLY_SETTINGS, METHOD_DEFINITIONS } from '../core/methods';
import { RunSpec, Task } from '../core/task';
import { runKey } from '../results/run-dir';
import { expandRuns } from './grid';

/** One run of the grid, with its names in logs, figures and file names. */
export interface GridJob {
  index: number;
  spec: RunSpec;
  /** e.g. 'fdm lambda=0.1', shared by the seeds of a setting (figure panels). */
  label: string;
  /** e.g. 'fdm lambda=0.1 seed 0'. */
  name: string;
  /** name as a file name, e.g. 'fdm-lambda-0.1-seed-0'. */
  key: string;
}

/** Grid settings that name a run when they vary; lambda always names an FDM run. */
const LABEL_SETTINGS = ['timeSampling', 'divEstimator', 'probes', 'cdmWeight', 'stopGrad', 'fdmVariant'] as const;
const namesCfm = (key: string) => !FDM_ONLY_SETTINGS.includes(key);

/** A short label for a run in logs and figures, e.g. 'fdm lambda=0.1 probes=4'. */
function specLabel(spec: RunSpec, varied: readonly string[]): string {
  const parts: string[] = [spec.method, ...METHOD_DEFINITIONS[spec.method].name(spec)];
  if (varied.includes('path')) parts.push(`path=${spec.path}`);
  for (const [axis, value] of Object.entries(spec.axes ?? {})) if (varied.includes(axis)) parts.push(`${axis}=${value}`);
  for (const key of LABEL_SETTINGS) {
    if (varied.includes(key) && (namesCfm(key) || spec.method === 'fdm')) parts.push(`${key}=${String(spec[key])}`);
  }
  return parts.join(' ');
}

/** Grid settings that take more than one value among the runs that use them. */
function variedGridSettings(specs: RunSpec[]): string[] {
  const fdm = specs.filter((s) => s.method === 'fdm');
  const axes = [...new Set(specs.flatMap((s) => Object.keys(s.axes ?? {})))];
  const shared = ['path', ...axes].filter((key) => new Set(specs.map((s) => (key === 'path' ? s.path : s.axes?.[key]))).size > 1);
  return [...shared, ...LABEL_SETTINGS.filter((key) => new Set((namesCfm(key) ? specs : fdm).map((s) => s[key])).size > 1)];
}

/** Every run of a configuration, named. */
export function gridJobs(config: RunConfig, task: Pick<Task, 'gridAxes'>): GridJob[] {
  const specs = expandRuns(config, task);
  const varied = variedGridSettings(specs);
  const jobs = specs.map((spec, index) => {
    const label = specLabel(spec, varied);
    const name = `${label} seed ${spec.seed}`;
    return { index, spec, label, name, key: runKey(name) };
  });
  // Checkpoints and models are files named by key: two runs sharing one would overwrite each other.
  const keys = new Set(jobs.map((job) => job.key));
  if (keys.size !== jobs.length) throw new Error(`internal: runs of this grid share file names: ${jobs.map((j) => j.key).join(', ')}`);
  return jobs;
}

/** The pending runs split round-robin (in grid order) over at most `count` workers. */
export function splitJobs(pending: readonly GridJob[], count: number): number[][] {
  const shares: number[][] = Array.from({ length: Math.min(count, pending.length) }, () => []);
  pending.forEach((job, i) => shares[i % shares.length].push(job.index));
  return shares;
}

/** The run a user names: its 1-based index in the grid, its name ('fdm lambda=0.1 seed 0') or its file key. */
export function findJob(jobs: readonly GridJob[], wanted: string): GridJob {
  const job = /^\d+$/.test(wanted) ? jobs[Number(wanted) - 1] : jobs.find((j) => j.name === wanted || j.key === wanted);
  if (job) return job;
  throw new Error(`no run '${wanted}' in this run directory; its runs: ${jobs.map((j) => `${j.index + 1} '${j.name}'`).join(', ')}`);
}
