import { RunConfig } from '../config/schema';
import { Task } from '../core/task';
import { resolveConfig } from '../cli/load-config';
import { runIdentity } from '../runner/identity';
import { GridJob, gridJobs } from '../runner/jobs';
import { getTask } from '../tasks/registry';
import { FinishedRun } from './catalog';
import { Family, PaperEntry, PaperNumbers } from './paper-numbers';

/** A grid run of a reproduction, with the identity it is found or stored under. */
export interface PlannedRun extends GridJob {
  identity: string;
}

/** One task's grid at the chosen scale: the runs that the paper entries of this task read. */
export interface PlannedExperiment {
  task: Task;
  /** The task's preset of the scale's name, with the seeds asked for. */
  config: RunConfig;
  runs: PlannedRun[];
}

export interface ReproductionPlan {
  /** ci, quick or paper: the preset each task runs. */
  scale: string;
  /** The paper entries of the families asked for, in the file's order. */
  entries: PaperEntry[];
  experiments: PlannedExperiment[];
}

export interface PlanOptions {
  scale: string;
  /** Only these families (all when absent). */
  families?: readonly Family[];
  /** Seeds instead of the preset's. */
  seeds?: number[];
  /** NUMERICS_VERSION of this code. */
  numerics: number;
  /** The backend label the missing runs will use; finished runs count only when they used the same. */
  backend: string;
}

/**
 * What a reproduction needs: for every task that a paper entry runs, its preset of the scale's
 * name (with the seeds asked for) and the identities of its runs.
 */
export function planReproduction(numbers: PaperNumbers, opts: PlanOptions): ReproductionPlan {
  const entries = numbers.entries.filter((entry) => !opts.families || opts.families.includes(entry.family));
  const taskNames = [...new Set(entries.flatMap((entry) => (entry.suite ? [entry.suite.task] : [])))];
  const experiments = taskNames.map((name) => {
    const task = getTask(name);
    const config = resolveConfig({ task: name, preset: opts.scale, overrides: opts.seeds ? { seeds: opts.seeds } : {} });
    const runs = gridJobs(config, task).map((job) => ({
      ...job,
      identity: runIdentity({ task, spec: job.spec, config, backend: opts.backend, numerics: opts.numerics }),
    }));
    return { task, config, runs };
  });
  return { scale: opts.scale, entries, experiments };
}

/** The runs of an experiment that no finished run stands for yet. */
export function missingRuns(experiment: PlannedExperiment, found: ReadonlyMap<string, FinishedRun>): PlannedRun[] {
  return experiment.runs.filter((run) => !found.has(run.identity));
}
