import * as tf from '../backend/tf';
import { RunConfig } from '../config/schema';
import { ExperimentState } from '../core/state';
import { flowLoss, FlowLossOptions } from '../losses/flow-loss';
import { tangentsPerSample } from '../core/methods';
import { REFERENCE_PROTOCOL, referenceLogLikelihood } from '../metrics/reference-likelihood';
import { energyDistance, mmdRbf } from '../metrics/sample-quality';
import { wasserstein2 } from '../metrics/wasserstein';
import { VelocityModel } from '../models/model';
import { Mlp } from '../models/mlp';
import { AFFINE_PATHS, AffinePath, affinePathName, affineSchedule } from '../paths/affine';
import { disposeQuantities } from '../paths/path';
import { drawTrainingTimes, T_MAX } from '../paths/time-sampling';
import { Rng } from '../random/rng';
import { ColumnSpec, MetricBarsFigure } from '../core/columns';
import { writeDensityFigure } from '../report/figures/density';
import { FlowOptions, logLikelihood, sampleFlow } from '../solvers/flow';
import { isLogIteration } from '../training/trainer';
import { Sampler2D } from './toy2d/samplers';
import { lossOptionsFor } from './loss-options';
import { ModelExperiment } from './model-experiment';
import { EvaluationResult, Experiment, FigurePanel, RunSpec, Task } from '../core/task';

/** Up to this dimension the NLL uses the exact divergence. */
export const EXACT_NLL_MAX_DIM = 16;

export interface DensityDefinition {
  name: string;
  description: string;
  /** Training data: n points as a flat [n * dim] array. */
  sample: Sampler2D;
  /** Evaluation data (held-out NLL and the samples' reference), when it is not drawn like the training data. */
  heldOut?: Sampler2D;
  /**
   * log |det| of the map from the data's units to the space the flow models (a standardisation's
   * sum of log scales): added to the NLL so that it is in the data's units.
   */
  nllOffset?: number;
  /**
   * Where the map from the data to the modelled space y depends on the point (the image tasks'
   * logit): log |det dy/dx| of each evaluated point [n * dim] -> [n], added to the flow's
   * log-density so that the NLL is in the data's units.
   */
  pointLogDet?: (points: Float32Array) => Float64Array;
  /**
   * Differential entropy of the data in nats, when known: the NLL floor. A function is called once,
   * on first use, so that a costly quadrature does not slow down every command at start-up.
   */
  entropy?: number | (() => number);
  /** Plot range for both axes. */
  range: [number, number];
  /** Presets file in configs/ shared by a family of tasks. */
  presetFile?: string;
  /** Data dimension (2 unless stated; the 1D mixture uses 1). */
  dim?: number;
  /**
   * Metrics beyond NLL and sample quality, computed from the trained model (e.g. exact TV bounds),
   * the evaluation's samples (its first eval.sampleCount rows are the scored ones) and its metrics.
   */
  extraEvaluation?: (model: VelocityModel, config: RunConfig, spec: RunSpec, rng: Rng, evaluated: Evaluated) => Promise<ExtraEvaluation>;
  /** The velocity field (default: the reference code's MLP of width `hidden` and `depth` layers). */
  model?: (config: RunConfig, spec: RunSpec, rng: Rng) => VelocityModel;
  /**
   * How CFM runs watch the divergence term they do not train on, at logged iterations: exactly
   * (default), or, where d tangent passes per point would cost more than the step, with unbiased
   * Hutchinson probes.
   */
  watchedDivergence?: { divEstimator: 'hutchinson-unbiased'; probes: number };
  /** Report columns after the standard ones. */
  extraColumns?: ColumnSpec[];
  /** Replaces the default figure (2D histograms of samples beside the data). */
  writeFigure?: (file: string, panels: FigurePanel[], config: RunConfig) => Promise<void>;
  /** Bar charts of the task's metrics beside its table. */
  metricBars?: MetricBarsFigure[];
}

/** What the standard evaluation has computed by the time the task's own evaluation runs. */
export interface Evaluated {
  samples: Float32Array;
  metrics: Record<string, number>;
}

/** What a task-specific evaluation adds: metrics and, optionally, figure data (EvaluationResult.density). */
export interface ExtraEvaluation {
  metrics: Record<string, number>;
  density?: Float32Array;
}

function mean(values: Float64Array): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function standardError(values: Float64Array, m: number): number {
  const variance = values.reduce((acc, v) => acc + (v - m) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance / values.length);
}

/**
 * What the reference code keeps of its in-training likelihood evaluations (main_fm_2d.py lines
 * 234-236: best_ll, and the last value), with the iterations they came after and their count.
 * Before the first evaluation the values are NaN and the iterations 0.
 */
interface ReferenceTracking {
  evaluations: number;
  bestLogLik: number;
  bestIteration: number;
  lastLogLik: number;
  lastIteration: number;
}

const TRACKING_KEYS = ['evaluations', 'bestLogLik', 'bestIteration', 'lastLogLik', 'lastIteration'] as const;

function noTracking(): ReferenceTracking {
  return { evaluations: 0, bestLogLik: Number.NaN, bestIteration: 0, lastLogLik: Number.NaN, lastIteration: 0 };
}

/** As a snapshot holds it: JSON has no NaN or infinities, so those are null (and come back as NaN). */
function encodeTracking(tracking: ReferenceTracking): Record<string, number | null> {
  return Object.fromEntries(TRACKING_KEYS.map((key) => [key, Number.isFinite(tracking[key]) ? tracking[key] : null]));
}

function decodeTracking(saved: Record<string, number | null> | undefined): ReferenceTracking {
  const why = 'the saved state does not fit this run';
  if (!saved) throw new Error(`${why}: it holds no in-training reference likelihood, which eval.protocol 'reference' keeps`);
  const missing = TRACKING_KEYS.filter((key) => !(key in saved));
  if (missing.length) throw new Error(`${why}: its in-training reference likelihood lacks ${missing.join(', ')}`);
  const value = (key: (typeof TRACKING_KEYS)[number]) => saved[key] ?? Number.NaN;
  const tracking = Object.fromEntries(TRACKING_KEYS.map((key) => [key, value(key)])) as unknown as ReferenceTracking;
  const counts = [tracking.evaluations, tracking.bestIteration, tracking.lastIteration];
  if (!counts.every((n) => Number.isInteger(n) && n >= 0)) throw new Error(`${why}: its in-training reference likelihood has counts that are not whole numbers`);
  return tracking;
}

/** The in-training reference evaluations of a run with eval.protocol 'reference' (docs/math.md section 5). */
interface ReferenceTracker {
  /** An evaluation after every this many training iterations. */
  every: number;
  /** Its own stream, which training never draws from: evaluation k uses rng.fork('iteration-k'). */
  rng: Rng;
  state: ReferenceTracking;
  /** Seconds spent evaluating in this process and the evaluations they covered (timing only, not saved). */
  seconds: number;
  timed: number;
}

class DensityExperiment extends ModelExperiment<VelocityModel> implements Experiment {
  private readonly path: AffinePath;
  private readonly opts: FlowLossOptions;
  private readonly dim: number;
  private readonly reference: ReferenceTracker | null;

  constructor(
    private readonly def: DensityDefinition,
    private readonly facts: Record<string, number>,
    private readonly config: RunConfig,
    private readonly spec: RunSpec,
    private readonly rng: Rng,
  ) {
    super(def.model?.(config, spec, rng.fork('init')) ?? new Mlp({ dim: def.dim ?? 2, hidden: config.hidden, depth: config.depth }, rng.fork('init')), rng);
    this.dim = def.dim ?? 2;
    this.path = new AffinePath(affineSchedule(affinePathName(spec.path), config.sigmaMin));
    this.opts = lossOptionsFor(spec, config);
    this.reference =
      config.eval.protocol === 'reference'
        ? { every: config.eval.referenceEvery, rng: rng.fork('reference-tracking'), state: noTracking(), seconds: 0, timed: 0 }
        : null;
  }

  /**
   * With eval.protocol 'reference': after every referenceEvery-th iteration, one evaluation of the
   * reference code's likelihood protocol on the current weights (10 fresh batches of 512, Euler
   * 0.01, one Rademacher probe per point), keeping the best mean log-density, as main_fm_2d.py does
   * after its iterations 200, 400, ... Its draws come from its own stream, so training is unchanged.
   */
  async afterStep(iteration: number): Promise<void> {
    const tracker = this.reference;
    if (!tracker || iteration % tracker.every !== 0) return;
    const { sample, logOffset } = this.densityTarget();
    const started = performance.now();
    const protocol = { ...REFERENCE_PROTOCOL, interval: tracker.every };
    const { meanLogDensity: value } = await referenceLogLikelihood(this.model, sample, tracker.rng.fork(`iteration-${iteration}`), protocol, logOffset);
    tracker.seconds += (performance.now() - started) / 1000;
    tracker.timed++;
    const state = tracker.state;
    state.evaluations++;
    state.lastLogLik = value;
    state.lastIteration = iteration;
    // The reference's `if log_p_acc > best_ll`: a tie keeps the earlier evaluation; NaN never wins.
    if (!Number.isNaN(value) && (state.bestIteration === 0 || value > state.bestLogLik)) {
      state.bestLogLik = value;
      state.bestIteration = iteration;
    }
  }

  /** The variables and streams, and with eval.protocol 'reference' what the tracking has kept so far. */
  override async snapshot(): Promise<ExperimentState> {
    const state = await super.snapshot();
    return this.reference ? { ...state, tracked: encodeTracking(this.reference.state) } : state;
  }

  /** A snapshot without tracking cannot continue a run that tracks; tracking in a snapshot of a run that does not is ignored. */
  override restore(state: ExperimentState): void {
    const tracking = this.reference ? decodeTracking(state.tracked) : null;
    super.restore(state);
    if (this.reference && tracking) this.reference.state = tracking;
  }

  /** The metrics of the in-training reference evaluations (none without eval.protocol 'reference'). */
  private referenceMetrics(): Record<string, number> {
    if (!this.reference) return {};
    const state = this.reference.state;
    const metrics: Record<string, number> = { referenceEvaluations: state.evaluations };
    if (state.bestIteration > 0) {
      metrics.referenceBestLogLik = state.bestLogLik;
      metrics.referenceBestIteration = state.bestIteration;
      // The paper's checkerboard "likelihood": exp of the best mean log-density (docs/math.md section 5).
      metrics.referenceBestLikelihood = Math.exp(state.bestLogLik);
    }
    if (state.evaluations > 0) metrics.referenceFinalLogLik = state.lastLogLik;
    return metrics;
  }

  sample(count: number, rng: Rng): Promise<Float32Array> {
    const std = this.path.schedule.sourceStd;
    return sampleFlow(this.model, rng.normalArray(count * this.dim).map((z) => std * z), evaluationSolver(this.config));
  }

  loss(iteration: number): { total: tf.Scalar; cfm: tf.Scalar; cdm: tf.Scalar } {
    const n = this.config.batchSize;
    const x1 = tf.tensor2d(this.def.sample(n, this.streams.data), [n, this.dim]);
    const x0 = tf.tensor2d(this.streams.noise.normalArray(n * this.dim), [n, this.dim]);
    const times = drawTrainingTimes(this.spec.timeSampling, n, T_MAX, this.streams.time);
    const sample = this.path.sample(x0, x1, times.t);
    const importance = this.lossWeights(times.weights, sample.t);
    let terms = flowLoss(this.model, sample, this.opts, this.streams.probes, importance);
    if (this.opts.method === 'cfm' && isLogIteration(iteration, this.config.logEvery, this.config.iterations)) {
      // Watch the divergence term CFM does not train on (the paper's Figure 1). It is not an
      // ancestor of the returned total, so it adds no gradient, and the exact estimator draws no probes.
      const watch = this.def.watchedDivergence ?? { divEstimator: 'exact' };
      const watched = flowLoss(this.model, sample, { ...this.opts, ...watch, method: 'fdm', lambda: 0 }, this.streams.probes, importance);
      tf.dispose([terms.cdm, watched.total, watched.cfm]);
      terms = { ...terms, cdm: watched.cdm };
    }
    tf.dispose([x0, x1, importance]);
    disposeQuantities(sample);
    return terms;
  }

  /** The time sampling's importance weights times the field's own loss weights, or undefined where both are 1. */
  private lossWeights(importance: Float32Array | null, t: tf.Tensor2D): tf.Tensor1D | undefined {
    const own = this.model.lossWeight?.(t);
    if (!importance) return own;
    const drawn = tf.tensor1d(importance);
    if (!own) return drawn;
    const product = tf.mul(drawn, own) as tf.Tensor1D;
    tf.dispose([drawn, own]);
    return product;
  }

  async logDensity(points: Float32Array, rng: Rng): Promise<Float64Array> {
    const solver = evaluationSolver(this.config);
    const { logp } = await logLikelihood(this.model, points, { ...solver, ...this.nllDivergence(rng), sourceStd: this.path.schedule.sourceStd });
    const logDet = this.def.pointLogDet?.(points);
    return logDet ? logp.map((value, i) => value + logDet[i]) : logp;
  }

  async evaluate(): Promise<EvaluationResult> {
    const ev = this.config.eval;
    const evalRng = this.rng.fork('eval');
    const evaluationData = this.def.heldOut ?? this.def.sample;
    const heldOut = evaluationData(ev.nllSamples, evalRng.fork('held-out'));
    const nllStart = performance.now();
    const logp = await this.logDensity(heldOut, evalRng.fork('probes'));
    const nllSeconds = (performance.now() - nllStart) / 1000;
    const rawMeanLogp = mean(logp);
    const meanLogp = rawMeanLogp - (this.def.nllOffset ?? 0);
    const nll = -meanLogp;
    const drawn = Math.max(ev.sampleCount, ev.figureSamples);
    const sampleStart = performance.now();
    const samples = await this.sample(drawn, evalRng.fork('noise'));
    const sampleSeconds = (performance.now() - sampleStart) / 1000;
    const scored = samples.subarray(0, ev.sampleCount * this.dim);
    const fresh = evaluationData(ev.sampleCount, evalRng.fork('fresh'));
    const metrics: Record<string, number> = {
      nll,
      nllStdErr: standardError(logp, rawMeanLogp),
      // exp(E log p): the geometric-mean density, the paper's checkerboard "likelihood".
      likelihood: Math.exp(meanLogp),
      energyDistance: energyDistance(scored, fresh, this.dim),
      mmd2: mmdRbf(scored, fresh, this.dim).mmd2,
      w2: wasserstein2(scored, fresh, this.dim),
    };
    const entropy = this.facts.entropy;
    if (entropy !== undefined) metrics.gap = nll - entropy;
    const extra = await this.def.extraEvaluation?.(this.model, this.config, this.spec, evalRng.fork('extra'), { samples, metrics });
    // Throughput of the batched solvers (the NLL's exact divergence from d tangent passes).
    const throughput: Record<string, number> = { nllPerSecond: ev.nllSamples / nllSeconds, samplesPerSecond: drawn / sampleSeconds };
    // Seconds per in-training reference evaluation, over those this process ran (not the resumed part's earlier ones).
    if (this.reference?.timed) throughput.referenceSecondsPerEvaluation = this.reference.seconds / this.reference.timed;
    return { metrics: { ...metrics, ...this.referenceMetrics(), ...extra?.metrics }, samples, density: extra?.density, throughput };
  }

  /**
   * The NLL's divergence: exact up to EXACT_NLL_MAX_DIM dimensions (d tangent passes), above that
   * Hutchinson's with one Rademacher probe held along each trajectory, whose noise the NLL's
   * standard error over points then includes.
   */
  private nllDivergence(rng: Rng) {
    return this.dim <= EXACT_NLL_MAX_DIM ? ({ divergence: 'exact' } as const) : ({ divergence: 'hutchinson', probes: 1, rng } as const);
  }

  flopsPerStep(): number {
    return this.stepFlops(tangentsPerSample(this.opts, this.dim), this.config.batchSize);
  }

  /** The field and the evaluation data, for evaluations outside the run (`fdm-bench evaluate`). */
  densityTarget(): DensityTarget {
    return { model: this.model, dim: this.dim, sample: this.def.heldOut ?? this.def.sample, logOffset: this.def.nllOffset ?? 0 };
  }
}

/** The ODE solver of a configuration's evaluation (eval.solver, steps, tolerances, batch size), for sampling and likelihoods. */
export function evaluationSolver(config: RunConfig): FlowOptions {
  const ev = config.eval;
  return { solver: ev.solver, steps: ev.steps, rtol: ev.rtol, atol: ev.atol, batchSize: ev.batchSize };
}

/** What an evaluation of a density experiment's flow needs: the field, the evaluation data and their units. */
export interface DensityTarget {
  model: VelocityModel;
  dim: number;
  /** The data the run's own evaluation draws from (held-out rows where the task has them). */
  sample: Sampler2D;
  /** Subtracted from the flow's log-density to give it in the data's units (DensityDefinition.nllOffset). */
  logOffset: number;
}

/** The density experiment's field and evaluation data, or undefined for an experiment of another kind of task. */
export function densityTarget(experiment: Experiment): DensityTarget | undefined {
  return experiment instanceof DensityExperiment ? experiment.densityTarget() : undefined;
}

/** A density task's flow on R^d has a log-density: the reference code's protocol evaluates it. */
export const DENSITY_EVAL_PROTOCOLS = ['reference'] as const;

const DENSITY_COLUMNS: ColumnSpec[] = [
  { key: 'nll', header: 'NLL (nats)', digits: 3, showStd: true, better: 'lower' },
  { key: 'gap', header: 'gap to entropy', digits: 3, showStd: false },
  { key: 'nllStdErr', header: 'NLL s.e.', digits: 3, showStd: false },
  { key: 'likelihood', header: 'likelihood', digits: 4, showStd: true, better: 'higher' },
  { key: 'energyDistance', header: 'energy dist.', digits: 4, showStd: true, better: 'lower' },
  { key: 'mmd2', header: 'MMD^2', digits: 4, showStd: true, better: 'lower' },
  { key: 'w2', header: 'W2', digits: 4, showStd: true, better: 'lower' },
];

/** The report columns of a density task: the gap to entropy only where the data's entropy is known. */
export function densityColumns(def: Pick<DensityDefinition, 'entropy' | 'extraColumns'>): ColumnSpec[] {
  return [...DENSITY_COLUMNS.filter((c) => c.key !== 'gap' || def.entropy !== undefined), ...(def.extraColumns ?? [])];
}

/**
 * A density-estimation task in R^d (the 2D sets, the 1D and 2D mixtures): the MLP of the reference
 * code on an affine Gaussian path.
 */
export function densityTask(def: DensityDefinition): Task {
  let known: Record<string, number> | null = null;
  const facts = (): Record<string, number> => {
    if (known === null) {
      const entropy = typeof def.entropy === 'function' ? def.entropy() : def.entropy;
      known = entropy === undefined ? {} : { entropy };
    }
    return known;
  };
  return {
    name: def.name,
    description: def.description,
    presetFile: def.presetFile,
    paths: AFFINE_PATHS,
    columns: densityColumns(def),
    metricBars: def.metricBars,
    evalProtocols: DENSITY_EVAL_PROTOCOLS,
    get facts() {
      return facts();
    },
    createExperiment: (config, spec, rng) => new DensityExperiment(def, facts(), config, spec, rng),
    async writeFigure(file: string, panels: FigurePanel[], rng: Rng, config: RunConfig): Promise<void> {
      if (def.writeFigure) return def.writeFigure(file, panels, config);
      const count = panels[0]?.points.length ? panels[0].points.length / 2 : 2000;
      const truth = { label: 'data', points: def.sample(count, rng.fork('figure')) };
      await writeDensityFigure(file, [truth, ...panels], { range: def.range, title: `${def.name}: samples as 2D histograms` });
    },
  };
}
