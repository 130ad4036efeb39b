import * as tf from '../backend/tf';
import { z } from 'zod';
import { ConfigSection, grid, RunConfig } from '../config/schema';
import { denoiserLoss, simplexFdmLoss } from '../losses/simplex-loss';
import {
  categoricalDivergences,
  empiricalDistribution,
  PositionDistributions,
  sampleSequences,
  samplingFloor,
} from '../metrics/categorical';
import { SimplexCnn } from '../models/simplex-cnn';
import { isSimplexPath, SIMPLEX_PATHS, SimplexPath, simplexPath } from '../paths/simplex';
import { conditionalBatch, SimplexConditional, tokenBatch } from '../paths/simplex-batch';
import { FlowLossOptions, LossTerms } from '../losses/flow-loss';
import { tangentsPerSample } from '../core/methods';
import { sampleSimplexFlow } from '../solvers/simplex';
import { Rng } from '../random/rng';
import { writeCategoricalFigure } from '../report/figures/categorical';
import { ColumnSpec } from '../core/columns';
import { isLogIteration } from '../training/trainer';
import { lossOptionsFor } from './loss-options';
import { ModelExperiment } from './model-experiment';
import { EvaluationResult, Experiment, RunSpec, Task } from '../core/task';

const positiveInt = z.number().int().positive();
/** K when the configuration sets none: Dirichlet FM's toy. */
const DEFAULT_CLASSES = 40;

/** Settings of the simplex (categorical sequence) tasks. */
const simplexSchema = z
  .object({
    /** Classes per position K: a grid axis (`--simplex-dim 10,20,40` runs every K). */
    simplexDim: grid(z.number().int().min(2).max(1000)).default([DEFAULT_CLASSES]),
    /** Sequence length L. */
    length: positiveInt.default(4),
    /** The Dirichlet path's last time (alpha); sampling integrates alpha from 1 to here. */
    alphaMax: z.number().gt(1).default(8),
    /** Training alphas are 1 + alphaScale * Exp(1), as in Dirichlet FM. */
    alphaScale: z.number().positive().default(2),
  })
  .strict();

type SimplexSettings = z.output<typeof simplexSchema>;

/** dna-toy's section, `simplex:` in presets and config files. */
const SIMPLEX_SECTION: ConfigSection = {
  key: 'simplex',
  schema: simplexSchema,
  flags: { 'simplex-dim': { key: 'simplexDim', description: 'classes per position K (list allowed, e.g. 10,20,40,80,160)', type: 'numberList' } },
};

function simplexOf(config: RunConfig): SimplexSettings {
  return config.simplex as SimplexSettings;
}

/** Dirichlet FM's CNN kernel width. */
const KERNEL = 9;
/** Linear-path training times stay below 1, where u = (e_k - x)/(1 - t) is 0/0. */
const LINEAR_T_MAX = 1 - 1e-4;
/** Draws of N true sequences averaged for the sampling-noise floor. */
const FLOOR_REPLICATES = 20;

/** Per-position target distributions softmax(U(0,1)^{L x K}) from a seed fixed by L and K (not the run's seed). */
export function toyTarget(length: number, classes: number): PositionDistributions {
  const rng = new Rng(`dna-toy/target/L${length}-K${classes}`);
  const probs = new Float64Array(length * classes);
  for (let pos = 0; pos < length; pos++) {
    const row = probs.subarray(pos * classes, (pos + 1) * classes);
    for (let j = 0; j < classes; j++) row[j] = Math.exp(rng.uniform());
    const total = row.reduce((a, b) => a + b, 0);
    for (let j = 0; j < classes; j++) row[j] /= total;
  }
  return { probs, length, classes };
}

class DnaToyExperiment extends ModelExperiment<SimplexCnn> implements Experiment {
  private readonly path: SimplexPath;
  private readonly truth: PositionDistributions;
  private readonly opts: FlowLossOptions;
  private readonly length: number;
  private readonly classes: number;

  constructor(
    private readonly config: RunConfig,
    spec: RunSpec,
    private readonly rng: Rng,
  ) {
    const length = simplexOf(config).length;
    const classes = classesOf(spec);
    super(new SimplexCnn({ length, classes, hidden: config.hidden, layers: config.depth, kernel: KERNEL }, rng.fork('init')), rng);
    this.length = length;
    this.classes = classes;
    this.truth = toyTarget(length, classes);
    if (!isSimplexPath(spec.path)) throw new Error(`path '${spec.path}' is not a simplex path (${SIMPLEX_PATHS.join(', ')})`);
    this.path = simplexPath(spec.path, simplexOf(config).alphaMax);
    this.opts = lossOptionsFor(spec, config);
  }

  /** Training times: uniform on the linear path, 1 + alphaScale Exp(1) on the Dirichlet path (Dirichlet FM). */
  private trainingTimes(count: number): Float64Array {
    const rng = this.streams.time;
    if (this.path.name === 'linear') return Float64Array.from({ length: count }, () => LINEAR_T_MAX * rng.uniform());
    return Float64Array.from({ length: count }, () => 1 - simplexOf(this.config).alphaScale * Math.log(1 - rng.uniform()));
  }

  loss(iteration: number): { total: tf.Scalar; cfm: tf.Scalar; cdm: tf.Scalar } {
    const { length, classes } = this;
    const count = this.config.batchSize;
    const targets = sampleSequences(this.truth, count, this.streams.data);
    const times = this.trainingTimes(count);
    const x = new Float64Array(count * length * classes);
    for (let i = 0; i < targets.length; i++) {
      this.path.sample(targets[i], classes, times[Math.floor(i / length)], this.streams.noise, x, i * classes);
    }
    const points = { x, times, length, classes };
    if (this.opts.method === 'fdm') {
      return this.withBatch(conditionalBatch(this.path, points, targets), (batch) => simplexFdmLoss(this.model, batch, this.opts, this.streams.probes));
    }
    // CFM needs the path's speeds only on logged iterations, for the divergence term it watches.
    if (!isLogIteration(iteration, this.config.logEvery, this.config.iterations)) {
      return this.withBatch(tokenBatch(this.path, points, targets), (batch) => denoiserLoss(this.model, batch));
    }
    return this.withBatch(conditionalBatch(this.path, points, targets), (batch) => this.watchedDenoiserLoss(batch));
  }

  private withBatch<B extends object>(batch: B, loss: (batch: B) => LossTerms): LossTerms {
    try {
      return loss(batch);
    } finally {
      tf.dispose(Object.values(batch) as tf.Tensor[]);
    }
  }

  /**
   * CFM's loss, and in the cdm slot the divergence term it does not train on, by the unbiased
   * two-probe estimator; that term is not an ancestor of the total, so it adds no gradient.
   */
  private watchedDenoiserLoss(batch: SimplexConditional): LossTerms {
    const terms = denoiserLoss(this.model, batch);
    const watch = { ...this.opts, lambda: 0, divEstimator: 'hutchinson-unbiased', probes: 2 } as const;
    const cdm = tf.tidy(() => {
      const watched = simplexFdmLoss(this.model, batch, watch, this.streams.probes);
      tf.dispose([watched.total, watched.cfm]);
      return watched.cdm;
    });
    tf.dispose(terms.cdm);
    return { ...terms, cdm };
  }

  private generate(count: number, rng: Rng): Promise<Int32Array> {
    const { steps, batchSize } = this.config.eval;
    return sampleSimplexFlow(this.model, this.path, count, { length: this.length, classes: this.classes, steps, batchSize }, rng);
  }

  async sample(count: number, rng: Rng): Promise<Float32Array> {
    return Float32Array.from(await this.generate(count, rng));
  }

  async evaluate(): Promise<EvaluationResult> {
    const evalRng = this.rng.fork('eval');
    const count = this.config.eval.sampleCount;
    const start = performance.now();
    const tokens = await this.generate(count, evalRng.fork('noise'));
    const sequencesPerSecond = count / ((performance.now() - start) / 1000);
    const model = categoricalDivergences(empiricalDistribution(tokens, this.length, this.classes), this.truth);
    const floor = samplingFloor(this.truth, count, FLOOR_REPLICATES, evalRng.fork('floor'));
    return {
      metrics: {
        kl: model.kl,
        klFloor: floor.kl,
        reverseKl: model.reverseKl,
        reverseKlFloor: floor.reverseKl,
        tv: model.tv,
        tvFloor: floor.tv,
      },
      throughput: { sequencesPerSecond },
      samples: Float32Array.from(tokens),
    };
  }

  flopsPerStep(): number {
    const tangents = tangentsPerSample(this.opts, this.length * this.classes);
    return this.stepFlops(tangents, this.config.batchSize);
  }
}

const COLUMNS: ColumnSpec[] = [
  { key: 'kl', header: 'KL(gen||true)', digits: 4, showStd: true, better: 'lower' },
  { key: 'klFloor', header: 'KL floor', digits: 4, showStd: false },
  { key: 'reverseKl', header: 'KL(true||gen)', digits: 4, showStd: true, better: 'lower' },
  { key: 'tv', header: 'TV', digits: 4, showStd: true, better: 'lower' },
  { key: 'tvFloor', header: 'TV floor', digits: 4, showStd: false },
];

/** A run's K, from its grid axes. */
function classesOf(spec: RunSpec): number {
  return Number(spec.axes?.simplexDim ?? DEFAULT_CLASSES);
}

/** The sequence length, and the Dirichlet path's alpha range and scale (K is recorded as a grid axis). */
function simplexSettings(config: RunConfig, spec: RunSpec): Record<string, number> {
  const { length, alphaMax, alphaScale } = simplexOf(config);
  return spec.path === 'dirichlet' ? { length, alphaMax, alphaScale } : { length };
}

/** Settings the simplex task does not implement, named so a user knows what to change. */
function unsupportedSettings(config: RunConfig): string[] {
  const problems: string[] = [];
  if (config.eval.solver !== 'euler') problems.push(`eval.solver: dna-toy samples with Euler steps only (got '${config.eval.solver}')`);
  if (config.fdmVariant.some((v) => v !== 'paper')) problems.push("fdmVariant: the 'reference' variant is the 2D reference code's; dna-toy has 'paper' only");
  if (config.divEstimator.includes('hutchinson-reference')) {
    problems.push("divEstimator: 'hutchinson-reference' is the 2D reference code's single-probe form; dna-toy has exact, hutchinson-unbiased and hutchinson-squared");
  }
  if (config.timeSampling.some((s) => s !== 'uniform')) problems.push("timeSampling: dna-toy draws its paths' own training times ('uniform' only)");
  return problems;
}

/**
 * Dirichlet FM's toy (Stark et al. 2024): sequences of L positions, each drawn independently from a
 * fixed categorical softmax(U(0,1)^K), generated by flows on the simplex (linear or Dirichlet path)
 * and scored by the KL of the generated per-position frequencies to the truth.
 */
export const dnaToyTask: Task = {
  name: 'dna-toy',
  description: "Dirichlet FM's toy: L=4 positions of K=40 classes (softmax of uniforms); linear and Dirichlet simplex paths, KL to the truth",
  paths: SIMPLEX_PATHS,
  columns: COLUMNS,
  facts: {},
  section: SIMPLEX_SECTION,
  gridAxes: (config) => ({ simplexDim: simplexOf(config).simplexDim }),
  checkConfig: unsupportedSettings,
  recordedSettings: simplexSettings,
  createExperiment: (config, spec, rng) => new DnaToyExperiment(config, spec, rng),
  async writeFigure(file, panels, _rng, config) {
    const ks = [...new Set(panels.map((p) => classesOf(p.spec)))];
    if (ks.length !== 1) throw new Error(`the dna-toy figure shows one K at a time; these runs have K = ${ks.join(', ')}`);
    const truth = toyTarget(simplexOf(config).length, ks[0]);
    await writeCategoricalFigure(file, truth, panels.map((p) => ({ label: p.label, tokens: p.points })));
  },
};
