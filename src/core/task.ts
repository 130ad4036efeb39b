import * as tf from '../backend/tf';
import { ConfigSection, PathName, EvalProtocol, RunConfig } from '../config/schema';
import { FdmVariant, Method } from '../losses/flow-loss';
import { CdmWeight, DivEstimator } from '../losses/divergence';
import { TimeSampling } from '../paths/time-sampling';
import { Rng } from '../random/rng';
import { ColumnSpec, MetricBarsFigure } from './columns';
import { ExperimentState } from './state';

/** The grid settings of FDM's loss (core/methods.ts says what CFM holds for them). */
export interface FdmSettings {
  lambda: number;
  divEstimator: DivEstimator;
  /** Hutchinson probes per sample (0 with the exact estimator). */
  probes: number;
  cdmWeight: CdmWeight;
  stopGrad: boolean;
  fdmVariant: FdmVariant;
}

/** One point of the sweep: a method with scalar settings, for one seed. */
export interface RunSpec extends FdmSettings {
  method: Method;
  seed: number;
  path: PathName;
  /** The task's own grid axes at this point (dna-toy's simplexDim), absent for tasks without any. */
  axes?: Record<string, number | string>;
  /** How training times are drawn (shared by CFM and FDM, which train on the same batches). */
  timeSampling: TimeSampling;
}

/** Loss values of one training step, as numbers (the step's tensors are already disposed). */
export interface StepLosses {
  total: number;
  cfm: number;
  cdm: number;
}

/** What an experiment hands back after training: metrics and, optionally, points to plot. */
export interface EvaluationResult {
  metrics: Record<string, number>;
  /** Model samples for the task's figure. */
  samples?: Float32Array;
  /**
   * Figure data of the task's own, kept with the saved model: the model's density on the task's
   * evaluation grid (the mixtures), or the continuation error per generated step (dynamics). The
   * name is the saved files' key.
   */
  density?: Float32Array;
  /** Evaluation throughput (e.g. samplesPerSecond): timing, kept apart from the reproducible metrics. */
  throughput?: Record<string, number>;
}

/** A model being trained by one method on one task: the runner drives it, the task defines it. */
export interface Experiment {
  readonly variables: tf.Variable[];
  /** The training loss of one step, built from the experiment's own seeded streams. */
  loss(iteration: number): { total: tf.Scalar; cfm: tf.Scalar; cdm: tf.Scalar };
  evaluate(): Promise<EvaluationResult>;
  /**
   * Work after training iteration `iteration` (1-based) has updated the weights, outside the
   * step's gradient tape and timing: a density task's in-training reference likelihood. It must
   * not draw from the streams loss() draws from, so that training is the same with or without it;
   * what it keeps goes into snapshot().
   */
  afterStep?(iteration: number): Promise<void>;
  /** `count` model samples (flat rows of the data's dimension), with the evaluation's solver settings. */
  sample(count: number, rng: Rng): Promise<Float32Array>;
  /**
   * The model's log-density of points (flat rows of the data's dimension, in the data's units) by
   * the evaluation's solver: what the NLL averages (tasks with a likelihood; `rng` for any probes).
   */
  logDensity?(points: Float32Array, rng: Rng): Promise<Float64Array>;
  /**
   * Everything training changes besides the optimizer: the variables and the random streams loss()
   * draws from (captureState in training/state.ts builds it). Checkpoints and saved models hold it.
   */
  snapshot(): Promise<ExperimentState>;
  /** Loads a snapshot (restoreState in training/state.ts); throws, saying why, if it does not fit. */
  restore(state: ExperimentState): void;
  /**
   * Floating-point operations of one training step, counted from the model's matrix sizes:
   * forward, plus one tangent pass per Jacobian-vector product, times 3 for the backward pass.
   */
  flopsPerStep(): number;
  dispose(): void;
}

export interface PrepareContext {
  dir: string | null;
  log: (line: string) => void;
  /**
   * Only training steps will be timed (`bench`): what they compute must have the run's shapes and
   * cost, but need not be trained or complete (an untrained autoencoder, a few videos).
   */
  timingOnly?: boolean;
}

/** A figure panel: a label, the run it shows and the points it shows. */
export interface FigurePanel {
  label: string;
  spec: RunSpec;
  points: Float32Array;
  density?: Float32Array;
}

/**
 * A benchmark task. Adding one means writing this interface and registering it in
 * tasks/registry.ts; the runner, results and report code stay as they are.
 */
export interface Task {
  readonly name: string;
  readonly description: string;
  /** Name of the presets file in configs/ when it is not `<name>.yaml` (tasks of a family share one). */
  readonly presetFile?: string;
  /** Report columns for this task's metrics. */
  readonly columns: ColumnSpec[];
  /** Bar charts of its metrics beside the table (every task also gets its sweeps and timing figures). */
  readonly metricBars?: MetricBarsFigure[];
  /** The probability paths the task trains on; the first is its default. */
  readonly paths: readonly PathName[];
  /**
   * The task's own configuration section (e.g. `video:`): its key and schema, which presets,
   * config files and config.yaml are validated with, beside the shared settings.
   */
  readonly section?: ConfigSection;
  /**
   * The task's own grid axes: settings of its section that take a list of values, every one of
   * which runs (dna-toy's simplexDim). They name runs and are recorded like the shared axes.
   */
  gridAxes?(config: RunConfig): Record<string, ReadonlyArray<number | string>>;
  /** Problems with a configuration that the schema cannot see (settings the task does not support). */
  checkConfig?(config: RunConfig): string[];
  /**
   * The evaluation protocols the task has besides 'exact' (eval.protocol): the density tasks have the
   * reference code's likelihood protocol, tracked during training (docs/math.md section 5).
   */
  evalProtocols?: readonly EvalProtocol[];
  /**
   * The settings of the task's own configuration sections that shape a run (e.g. K and the
   * sequence length, the video frames and autoencoder), recorded with every run beside the shared
   * ones so that results which differ in them are never aggregated or paired together.
   */
  recordedSettings?(config: RunConfig, spec: RunSpec): Record<string, string | number | boolean>;
  /** Extra facts recorded with every record of the task (e.g. the true entropy). */
  readonly facts: Record<string, number>;
  /**
   * Work a run needs before its experiment exists and that is not training time, e.g. a video
   * task's autoencoder (stage 1). `dir` is the run directory where it may cache its results (null
   * when nothing is kept, as in `bench`). Called before every createExperiment.
   */
  prepare?(config: RunConfig, spec: RunSpec, context: PrepareContext): Promise<void>;
  createExperiment(config: RunConfig, spec: RunSpec, rng: Rng): Experiment;
  /** Writes the task's figure (e.g. sample densities beside the ground truth) into a run directory. */
  writeFigure?(file: string, panels: FigurePanel[], rng: Rng, config: RunConfig): Promise<void>;
}
