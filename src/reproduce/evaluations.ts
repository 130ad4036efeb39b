/**
 * Evaluations of finished runs' saved models by a protocol other than the suite's exact one, stored
 * beside the run (<run-dir>/evaluations/<protocol>.json): `fdm-bench evaluate` and `reproduce` use them.
 */
import { createHash } from 'node:crypto';
import { mean as meanOf, sampleStandardDeviation } from 'simple-statistics';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadRunConfig } from '../cli/load-config';
import {
  evaluationsOverTraining,
  expectedMaxOfStandardNormals,
  REFERENCE_PROTOCOL,
  REFERENCE_SOURCE,
  ReferenceProtocol,
  referenceLogLikelihood,
} from '../metrics/reference-likelihood';
import { Rng } from '../random/rng';
import { RunConfig } from '../config/schema';
import { Experiment, Task } from '../core/task';
import { RunRecord } from '../results/record';
import { runFiles } from '../results/run-dir';
import { writeFileAtomic } from '../results/store';
import { recordsOf } from './catalog';
import { terminalTable } from '../report/render';
import { matchesRecord } from '../runner/grid';
import { findJob, GridJob, gridJobs } from '../runner/jobs';
import { DensityTarget, densityTarget } from '../tasks/density';
import { getTask } from '../tasks/registry';
import { loadModel } from '../training/checkpoint';

export const EVALUATION_PROTOCOLS = ['reference'] as const;
export type EvaluationProtocol = (typeof EVALUATION_PROTOCOLS)[number];

/** What one run's evaluations depend on besides its model: reused from the file only when these match. */
export interface ReferenceEvaluationSettings extends ReferenceProtocol {
  protocol: EvaluationProtocol;
  repeats: number;
}

/** The reference protocol run K times on one finished run's final model (docs/math.md section 5). */
export interface ReferenceRunEvaluation {
  run: string;
  key: string;
  method: RunRecord['method'];
  seed: number;
  settings: ReferenceEvaluationSettings;
  /** sha256 of models/<key>.json: a re-trained model is evaluated again. */
  modelSha256: string;
  /** Seed of each repeat's random streams (its batches: fork 'data'; its probes: fork 'probes'). */
  seeds: string[];
  /** Training iterations of the run, and N: the evaluations the reference makes over them (one every `interval`). */
  iterations: number;
  evaluationsOverTraining: number;
  /** The suite's exact NLL (nats) and exp(-NLL) from the run's record. */
  exactNll: number | null;
  exactLikelihood: number | null;
  /** The protocol's value (mean log-density, nats) of each repeat, and each one's standard error from its batches. */
  values: number[];
  stdErrs: number[];
  batchMeans: number[][];
  /** Mean and standard deviation over the repeats: sd is sigma, the spread of one evaluation. */
  mean: number;
  sd: number;
  /**
   * The same sigma from the batches, sqrt(mean of stdErrs^2): one evaluation's mean is the mean of
   * its independent batch means, so this estimates it with 9K degrees of freedom against the
   * repeats' K - 1. Where the two disagree by much, more repeats settle it.
   */
  sdFromBatches: number;
  /** E[max of N iid N(0, 1)], and the expected best of N evaluations, mean + sd * E[max]. */
  expectedMaxZ: number;
  expectedBest: number;
  /** mean + sdFromBatches * E[max]. */
  expectedBestFromBatches: number;
  /** The same as likelihoods (exp of the log-densities): what the paper's table shows. */
  likelihood: { values: number[]; final: number; expectedBest: number };
  /** Wall time of one evaluation (mean over the repeats), seconds. */
  secondsPerEvaluation: number;
}

export interface ReferenceEvaluationFile {
  schema: 1;
  protocol: EvaluationProtocol;
  source: string;
  task: string;
  backend: string;
  updatedAt: string;
  runs: ReferenceRunEvaluation[];
}

export interface EvaluateRunDirOptions {
  protocol?: EvaluationProtocol;
  /** Independent evaluations per run (default 5, at least 2 for a spread). */
  repeats?: number;
  /** Which runs: 1-based indices in the grid, names ('fdm lambda=0.1 seed 0') or file keys; default every finished run. */
  runs?: string[];
  /** Evaluate again even where the file holds this run with the same settings and model. */
  force?: boolean;
  /** Label of the started backend, stored in the file. */
  backend: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** The evaluations file of a run directory for a protocol. */
export function evaluationFile(runDir: string, protocol: EvaluationProtocol = 'reference'): string {
  return path.join(runDir, 'evaluations', `${protocol}.json`);
}

export function readEvaluationFile(file: string): ReferenceEvaluationFile | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as ReferenceEvaluationFile;
    return parsed.schema === 1 && Array.isArray(parsed.runs) ? parsed : undefined;
  } catch {
    return undefined; // unreadable: evaluated afresh and overwritten
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Runs the reference protocol `repeats` times on every finished run of a run directory (a record
 * with status ok and a saved model), writes <run-dir>/evaluations/<protocol>.json atomically and
 * returns its content. The backend must be started. Runs already in the file with the same
 * settings and model are reused unless `force`; entries of runs not selected are kept. Throws
 * (with a one-line message) on a directory that is not a run directory, a task without a velocity
 * field on R^d, or no finished run to evaluate.
 */
export async function evaluateRunDir(runDir: string, options: EvaluateRunDirOptions): Promise<ReferenceEvaluationFile> {
  const protocol = options.protocol ?? 'reference';
  const repeats = options.repeats ?? 5;
  if (!Number.isInteger(repeats) || repeats < 2) throw new Error(`repeats must be an integer of at least 2 (the spread needs two), got ${repeats}`);
  const log = options.log ?? (() => undefined);
  const saved = loadRunConfig(runDir);
  const task = getTask(saved.task);
  const config = saved.config;
  const files = runFiles(runDir);
  const records = recordsOf(runDir);
  const settings: ReferenceEvaluationSettings = { protocol, repeats, ...REFERENCE_PROTOCOL };
  const jobs = gridJobs(config, task);
  const selected = options.runs?.length ? options.runs.map((wanted) => findJob(jobs, wanted)) : jobs;
  const finished = selected.flatMap((job) => {
    const record = records.find(
      (r) => r.status === 'ok' && matchesRecord(task, r, job.spec, config),
    );
    return record && fs.existsSync(files.model(job.key)) ? [{ job, record }] : [];
  });
  if (finished.length === 0) throw new Error(`${runDir}: no finished run with a saved model (a record in records.jsonl and models/<run>.json) to evaluate`);

  const file = evaluationFile(runDir, protocol);
  const previous = readEvaluationFile(file);
  const entries = new Map<string, ReferenceRunEvaluation>((previous?.runs ?? []).map((entry) => [entry.key, entry]));
  let evaluated = false;
  for (const { job, record } of finished) {
    const modelSha256 = sha256(files.model(job.key));
    const known = entries.get(job.key);
    if (!options.force && known && known.modelSha256 === modelSha256 && isDeepStrictEqual(known.settings, settings)) {
      log(`${job.name}: reusing ${known.values.length} evaluations from ${file}`);
      continue;
    }
    const experiment = openDensityExperiment(task, config, job, files.model(job.key), protocol);
    try {
      entries.set(job.key, await evaluateRun(task.name, job, record, config.iterations, settings, modelSha256, densityTarget(experiment)!, log));
      evaluated = true;
    } finally {
      experiment.dispose();
    }
  }
  // Everything reused: the file stays as it is, byte for byte (a committed reproduction does not change).
  if (!evaluated && previous) return previous;
  const order = jobs.map((j) => j.key);
  const result: ReferenceEvaluationFile = {
    schema: 1,
    protocol,
    source: REFERENCE_SOURCE,
    task: task.name,
    backend: options.backend,
    updatedAt: new Date().toISOString(),
    runs: [...entries.values()].sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key)),
  };
  writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** A run's experiment with its saved model loaded; refuses a task whose experiment is not a field on R^d. */
function openDensityExperiment(task: Task, config: RunConfig, job: GridJob, modelFile: string, protocol: EvaluationProtocol): Experiment {
  const notDensity = `task '${task.name}' is not a density task: the ${protocol} protocol evaluates a velocity field on R^d`;
  let experiment: Experiment;
  try {
    experiment = task.createExperiment(config, job.spec, new Rng(`${task.name}/seed-${job.spec.seed}`));
  } catch (err) {
    throw new Error(`${notDensity} (${(err as Error).message})`);
  }
  try {
    if (!densityTarget(experiment)) throw new Error(notDensity);
    loadModel(modelFile, task.name, job.spec, experiment);
    return experiment;
  } catch (err) {
    experiment.dispose();
    throw err;
  }
}

async function evaluateRun(
  taskName: string,
  job: GridJob,
  record: RunRecord,
  iterations: number,
  settings: ReferenceEvaluationSettings,
  modelSha256: string,
  target: DensityTarget,
  log: (line: string) => void,
): Promise<ReferenceRunEvaluation> {
  const seeds = Array.from({ length: settings.repeats }, (_, r) => `${taskName}/reference-likelihood/${job.key}/repeat-${r}`);
  const values: number[] = [];
  const stdErrs: number[] = [];
  const batchMeans: number[][] = [];
  const start = performance.now();
  for (const [r, seed] of seeds.entries()) {
    const one = await referenceLogLikelihood(target.model, target.sample, new Rng(seed), settings, target.logOffset);
    values.push(one.meanLogDensity);
    stdErrs.push(one.stdErr);
    batchMeans.push(one.batchMeans);
    log(`${job.name}: evaluation ${r + 1}/${settings.repeats}: mean log-density ${one.meanLogDensity.toFixed(4)} ± ${one.stdErr.toFixed(4)} (likelihood ${one.likelihood.toPrecision(4)})`);
  }
  const secondsPerEvaluation = (performance.now() - start) / 1000 / settings.repeats;
  const mean = meanOf(values);
  const sd = sampleStandardDeviation(values);
  const n = evaluationsOverTraining(iterations, settings.interval);
  const expectedMaxZ = n >= 1 ? expectedMaxOfStandardNormals(n) : 0;
  const expectedBest = mean + sd * expectedMaxZ;
  const sdFromBatches = Math.sqrt(meanOf(stdErrs.map((e) => e * e)));
  const nll = record.metrics.nll ?? null;
  return {
    run: job.name,
    key: job.key,
    method: job.spec.method,
    seed: job.spec.seed,
    settings,
    modelSha256,
    seeds,
    iterations,
    evaluationsOverTraining: n,
    exactNll: nll,
    exactLikelihood: nll === null ? null : Math.exp(-nll),
    values,
    stdErrs,
    batchMeans,
    mean,
    sd,
    sdFromBatches,
    expectedMaxZ,
    expectedBest,
    expectedBestFromBatches: mean + sdFromBatches * expectedMaxZ,
    likelihood: { values: values.map(Math.exp), final: Math.exp(mean), expectedBest: Math.exp(expectedBest) },
    secondsPerEvaluation,
  };
}

const fixed = (value: number | null, digits: number) => (value === null || !Number.isFinite(value) ? '—' : value.toFixed(digits));

/** The table: the suite's exact NLL beside the protocol's final value, its spread and the expected best of N, as NLL and likelihood. */
export function renderEvaluations(evaluation: ReferenceEvaluationFile): string {
  return terminalTable(
    ['run', 'exact NLL', 'ref. NLL', 'σ (repeats)', 'σ (batches)', 'N', 'E[max of N]', 'best-of-N NLL', 'exact lik.', 'ref. lik.', 'best-of-N lik.', 's/eval.'],
    evaluation.runs.map((r) => [
      r.run,
      fixed(r.exactNll, 3),
      fixed(-r.mean, 3),
      fixed(r.sd, 4),
      fixed(r.sdFromBatches, 4),
      String(r.evaluationsOverTraining),
      fixed(r.expectedMaxZ, 3),
      fixed(-r.expectedBest, 3),
      fixed(r.exactLikelihood, 5),
      fixed(r.likelihood.final, 5),
      fixed(r.likelihood.expectedBest, 5),
      r.secondsPerEvaluation.toFixed(1),
    ]),
  );
}

