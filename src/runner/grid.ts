import { isDeepStrictEqual } from 'node:util';
import { RunConfig } from '../config/schema';
import { METHOD_DEFINITIONS } from '../core/methods';
import { ESTIMATOR_FACTS } from '../losses/divergence';
import { lossOptionsFor } from '../tasks/loss-options';
import { RunSpec, Task } from '../core/task';
import { RunRecord } from '../results/record';

/** Cartesian product of lists, in order (the first list varies slowest). */
function product<T extends object>(lists: { [K in keyof T]: T[K][] }): T[] {
  return Object.entries(lists).reduce<Record<string, unknown>[]>(
    (acc, [key, values]) => acc.flatMap((partial) => (values as unknown[]).map((v) => ({ ...partial, [key]: v }))),
    [{}],
  ) as T[];
}

/** Normalises settings that cannot matter, so equivalent FDM runs are not repeated. */
function canonical(spec: RunSpec): RunSpec {
  if ('axes' in spec && spec.axes === undefined) {
    // A task without axes of its own: no key, so its specs compare equal to those saved before axes existed.
    const { axes, ...rest } = spec;
    return canonical(rest);
  }
  const { neutral } = METHOD_DEFINITIONS[spec.method];
  if (neutral) return { ...spec, ...neutral };
  if (spec.divEstimator === 'exact') return { ...spec, probes: 0 };
  // No probe count given: the estimator's own default.
  if (Number.isNaN(spec.probes)) return { ...spec, probes: ESTIMATOR_FACTS[spec.divEstimator].defaultProbes };
  return spec;
}

/**
 * Every run of a configuration: methods x path x (FDM-only settings for FDM) x seeds. CFM is not
 * repeated over lambda, estimator and the other FDM-only settings.
 */
export function expandRuns(config: RunConfig, task: Pick<Task, 'gridAxes'>): RunSpec[] {
  const taskAxes = task.gridAxes?.(config);
  const axes = taskAxes ? product<Record<string, number | string>>(taskAxes as Record<string, Array<number | string>>) : [undefined];
  const all = product<RunSpec>({
    method: config.methods,
    path: config.path,
    axes,
    lambda: config.lambda,
    divEstimator: config.divEstimator,
    probes: config.probes ?? [Number.NaN],
    cdmWeight: config.cdmWeight,
    stopGrad: config.stopGrad,
    fdmVariant: config.fdmVariant,
    timeSampling: config.timeSampling,
    seed: config.seeds,
  }).map(canonical);
  const seen = new Set<string>();
  return all.filter((spec) => {
    const key = JSON.stringify(spec);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The settings recorded with a run: the shared ones, the task's own, and the FDM settings for FDM runs. */
export function runSettings(task: Pick<Task, 'recordedSettings'>, spec: RunSpec, config: RunConfig): Record<string, string | number | boolean> {
  const shared = {
    path: spec.path,
    ...spec.axes,
    ...task.recordedSettings?.(config, spec),
    iterations: config.iterations,
    batchSize: config.batchSize,
    hidden: config.hidden,
    depth: config.depth,
    lr: config.lr,
    lrSchedule: config.lrSchedule,
    sigmaMin: config.sigmaMin,
    solver: config.eval.solver,
    solverSteps: config.eval.steps,
    nllSamples: config.eval.nllSamples,
    timeSampling: spec.timeSampling,
  };
  if (spec.method === 'cfm') return shared;
  const { method, ...fdmSettings } = lossOptionsFor(spec, config);
  return { ...shared, ...fdmSettings };
}

/** Whether a record is the run of this spec under this configuration (same method, seed and recorded settings). */
export function matchesRecord(task: Pick<Task, 'recordedSettings'>, record: RunRecord, spec: RunSpec, config: RunConfig): boolean {
  return record.method === spec.method && record.seed === spec.seed && isDeepStrictEqual(record.settings, runSettings(task, spec, config));
}
