import * as tf from '../backend/tf';
import { RunConfig } from '../config/schema';
import { DivEstimator, ESTIMATOR_FACTS, EstimatorBias } from '../losses/divergence';
import { Rng } from '../random/rng';
import { expandRuns } from '../runner/grid';
import { RunSpec, Task } from '../core/task';
import { createStepper } from '../training/trainer';
import { ExperimentState } from '../core/state';

/** An estimator of the FDM term with its probe count. */
export interface EstimatorChoice {
  estimator: DivEstimator;
  probes: number;
}

/** The ones compared by default: each estimator at its default probe count, and the biased one with 4 probes (its bias shrinks as 1/n). */
export const DEFAULT_CHOICES: EstimatorChoice[] = [
  ...(Object.keys(ESTIMATOR_FACTS) as DivEstimator[]).map((estimator) => ({ estimator, probes: ESTIMATOR_FACTS[estimator].defaultProbes })),
  { estimator: 'hutchinson-squared', probes: 4 },
];

/** Every Hutchinson estimator at each of the given probe counts it allows (a probe sweep, e.g. 1, 2, 4, 8). */
export function probeSweep(counts: number[]): EstimatorChoice[] {
  const estimators = (Object.keys(ESTIMATOR_FACTS) as DivEstimator[]).filter((estimator) => estimator !== 'exact');
  return [{ estimator: 'exact', probes: 0 }, ...estimators.flatMap((estimator) => counts.filter((n) => n >= ESTIMATOR_FACTS[estimator].minProbes).map((probes) => ({ estimator, probes })))];
}

export interface EstimatorOptions {
  /** CFM training steps before the comparison (0: the initial weights). */
  warmup: number;
  /** Batches each estimator's L_CDM is averaged over (the same batches for every estimator). */
  batches: number;
  choices: EstimatorChoice[];
}

export interface EstimatorRow {
  /** The problem (path, and K on the simplex). */
  problem: string;
  estimator: DivEstimator;
  probes: number;
  bias: EstimatorBias;
  /** Mean L_CDM over the batches and probes. */
  cdm: number;
  /** E_z[L_CDM] / exact L_CDM, and its standard error over the batches (paired with the exact ones). */
  ratio: number;
  ratioStdErr: number;
  /**
   * The gradient of L_CDM in the weights against the exact one on the same batch, averaged over the
   * batches: cosine similarity, and |g - g_exact| / |g_exact| (what the probes' noise does to a step).
   */
  gradientCosine: number;
  gradientRelativeError: number;
  msPerLoss: number;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function standardError(values: number[]): number {
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1) / values.length);
}

/** One FDM spec per problem of the configuration (path and the task's axes), first seed, exact estimator. */
function problems(task: Task, config: RunConfig): RunSpec[] {
  const one = <T>(values: T[]) => [values[0]];
  return expandRuns({
    ...config,
    methods: ['fdm'],
    seeds: one(config.seeds),
    lambda: one(config.lambda),
    divEstimator: ['exact'],
    probes: undefined,
    cdmWeight: one(config.cdmWeight),
    stopGrad: one(config.stopGrad),
    fdmVariant: one(config.fdmVariant),
    timeSampling: one(config.timeSampling),
  }, task);
}

/** The weights and random streams after `warmup` CFM steps from the task's initialisation. */
async function warmState(task: Task, config: RunConfig, spec: RunSpec, warmup: number, rng: Rng): Promise<ExperimentState> {
  const experiment = task.createExperiment(config, { ...spec, method: 'cfm' }, rng);
  const stepper = createStepper(experiment, config.lr, config.lrSchedule, warmup);
  for (let i = 1; i <= warmup; i++) stepper.step(i).dispose();
  const state = await experiment.snapshot();
  stepper.dispose();
  experiment.dispose();
  return state;
}

/** L_CDM and its gradient in the weights (flattened) of one estimator on the batches that follow a state (the streams restored, so every estimator sees the same batches). */
async function cdmValues(task: Task, config: RunConfig, spec: RunSpec, state: ExperimentState, batches: number, rng: Rng): Promise<{ values: number[]; gradients: Float32Array[]; ms: number }> {
  const experiment = task.createExperiment(config, spec, rng);
  experiment.restore(state);
  const values: number[] = [];
  const gradients: Float32Array[] = [];
  const start = performance.now();
  for (let b = 0; b < batches; b++) {
    const { value, grads } = tf.variableGrads(() => experiment.loss(b + 1).cdm, experiment.variables);
    values.push((await value.data())[0]);
    const flat = tf.tidy(() => tf.concat(experiment.variables.map((v) => tf.reshape(grads[v.name] ?? tf.zerosLike(v), [-1]))));
    gradients.push((await flat.data()) as Float32Array);
    tf.dispose([value, flat, ...Object.values(grads)]);
  }
  const ms = (performance.now() - start) / batches;
  experiment.dispose();
  return { values, gradients, ms };
}

/** Mean over batches of the cosine between each gradient and the exact one, and of their relative distance. */
function gradientAgreement(gradients: Float32Array[], exact: Float32Array[]): { cosine: number; relativeError: number } {
  const pairs = gradients.map((g, b) => {
    const e = exact[b];
    let dot = 0, gg = 0, ee = 0, dd = 0;
    for (let i = 0; i < g.length; i++) {
      dot += g[i] * e[i];
      gg += g[i] * g[i];
      ee += e[i] * e[i];
      dd += (g[i] - e[i]) ** 2;
    }
    return { cosine: dot / Math.sqrt(gg * ee), relativeError: Math.sqrt(dd / ee) };
  });
  return { cosine: mean(pairs.map((p) => p.cosine)), relativeError: mean(pairs.map((p) => p.relativeError)) };
}

/**
 * How far each estimator's expected FDM term is from the exact one, E_z[L_CDM] / L_CDM, on the
 * task's batches: 1 for an unbiased estimator (up to Monte Carlo error), above 1 by the probe
 * variance for the others; and how far its gradient is from the exact gradient on each batch (the
 * noise the probes add to a training step). Estimators a task does not support are left out.
 */
export async function compareEstimators(task: Task, config: RunConfig, opts: EstimatorOptions, log: (line: string) => void): Promise<EstimatorRow[]> {
  const rows: EstimatorRow[] = [];
  for (const spec of problems(task, config)) {
    const problem = [spec.path, ...Object.entries(spec.axes ?? {}).map(([axis, value]) => `${axis}=${value}`)].join(' ');
    await task.prepare?.(config, spec, { dir: null, log });
    const rng = new Rng(`${task.name}/estimators`);
    log(`${task.name} ${problem}: ${opts.warmup} CFM steps, then L_CDM on ${opts.batches} batches per estimator`);
    const state = await warmState(task, config, spec, opts.warmup, rng);
    const exact = await cdmValues(task, config, spec, state, opts.batches, rng);
    const exactMean = mean(exact.values);
    for (const { estimator, probes } of opts.choices) {
      if (task.checkConfig?.({ ...config, divEstimator: [estimator] }).length) continue;
      const run = estimator === 'exact' ? exact : await cdmValues(task, config, { ...spec, divEstimator: estimator, probes }, state, opts.batches, rng);
      const paired = run.values.map((v, i) => v - exact.values[i]);
      const agreement = gradientAgreement(run.gradients, exact.gradients);
      rows.push({
        problem,
        estimator,
        probes: estimator === 'exact' ? 0 : probes,
        bias: ESTIMATOR_FACTS[estimator].bias,
        cdm: mean(run.values),
        ratio: mean(run.values) / exactMean,
        ratioStdErr: estimator === 'exact' ? 0 : standardError(paired) / Math.abs(exactMean),
        gradientCosine: agreement.cosine,
        gradientRelativeError: agreement.relativeError,
        msPerLoss: run.ms,
      });
    }
  }
  return rows;
}
