import { z } from 'zod';
import { BACKEND_CHOICES } from '../backend/backend';
import { CDM_WEIGHTS, DIV_ESTIMATORS, ESTIMATOR_FACTS, PROBE_DISTRIBUTIONS } from '../losses/divergence';
import { FDM_VARIANTS, METHODS } from '../losses/flow-loss';
import { TIME_SAMPLINGS } from '../paths/time-sampling';
import { AFFINE_PATHS } from '../paths/affine';
import { SIMPLEX_PATHS } from '../paths/simplex';
import { SOLVERS } from '../solvers/ode';

/** A setting that may be given as one value or as a list of values to sweep over. */
function grid<T extends z.ZodType>(item: T) {
  // Wrapping a single value first keeps zod's messages about the item itself ("lambda.0: ...").
  return z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(item).nonempty());
}

const positiveInt = z.number().int().positive();

export const evalSchema = z
  .object({
    /** Held-out data points whose NLL is computed. */
    nllSamples: positiveInt.default(2000),
    /** Model samples (and as many fresh data points) for the sample-quality metrics. */
    sampleCount: positiveInt.default(2000),
    /** Model samples drawn for the density figure (the metrics use the first sampleCount of them). */
    figureSamples: positiveInt.default(10000),
    /** Quadrature grid points per axis for exact TV and bounds (Gaussian-mixture tasks). */
    gridPerAxis: positiveInt.default(2000),
    /** Samples per time node for the Monte Carlo conditional bound (Gaussian-mixture tasks). */
    conditionalSamples: positiveInt.default(2000),
    solver: z.enum(SOLVERS).default('rk4'),
    steps: positiveInt.default(40),
    rtol: z.number().positive().default(1e-5),
    atol: z.number().positive().default(1e-5),
    batchSize: positiveInt.default(1000),
  })
  .strict();

/** Settings of the simplex (categorical sequence) tasks. */
export const simplexSchema = z
  .object({
    /** Sequence length L. */
    length: positiveInt.default(4),
    /** The Dirichlet path's last time (alpha); sampling integrates alpha from 1 to here. */
    alphaMax: z.number().gt(1).default(8),
    /** Training alphas are 1 + alphaScale * Exp(1), as in Dirichlet FM. */
    alphaScale: z.number().positive().default(2),
  })
  .strict();

/** Stage 1 of the video tasks: the frame autoencoder and its training. */
export const autoencoderSchema = z
  .object({
    /** 2x down-samplings: the latent grid is size / 2^downsamplings on a side (RIVER: 3 at 64x64). */
    downsamplings: positiveInt.default(2),
    latentChannels: positiveInt.default(4),
    /** Base channels of the convolutions. */
    width: positiveInt.default(16),
    iterations: positiveInt.default(1000),
    batchSize: positiveInt.default(32),
    lr: z.number().positive().max(1).default(0.003),
  })
  .strict();

/** Settings of the video-prediction tasks (frames, data, stage 1). */
export const videoSchema = z
  .object({
    /** Frame side in pixels. */
    size: positiveInt.default(32),
    /** Moving MNIST: digits per sequence and their side (28, or 14 by 2x2 averaging). */
    digits: positiveInt.default(1),
    digitSize: positiveInt.default(14),
    /** Frames given, then frames predicted autoregressively. */
    contextFrames: positiveInt.default(5),
    predictFrames: positiveInt.default(5),
    trainSequences: positiveInt.default(500),
    testSequences: positiveInt.default(32),
    /** KTH: an HDF5 shard (or folder of shards, or of frame folders) for training and one for testing. */
    trainPath: z.string().optional(),
    testPath: z.string().optional(),
    /** Test sequences drawn in the figure. */
    figureSequences: positiveInt.default(3),
    /**
     * RIVER's warm start: each predicted frame's ODE starts at this time, at the path's point
     * between noise and "no change from the previous frame", instead of at 0 from pure noise.
     */
    warmStart: z.number().min(0).lt(1).default(0),
    autoencoder: autoencoderSchema.default(() => autoencoderSchema.parse({})),
  })
  .strict();

export const PATHS = [...AFFINE_PATHS, ...SIMPLEX_PATHS] as const;
export type PathName = (typeof PATHS)[number];

/**
 * Every setting of `fdm-bench run`, validated in one place for presets, --config files and flags.
 * Grid settings accept a list; every combination runs.
 */
export const runConfigSchema = z
  .object({
    methods: grid(z.enum(METHODS)).default(['cfm', 'fdm']),
    seeds: grid(z.number().int().nonnegative()).default([0]),
    iterations: positiveInt.default(2000),
    batchSize: positiveInt.default(256),
    hidden: positiveInt.default(256),
    depth: positiveInt.default(4),
    lr: z.number().positive().max(1).default(1e-3),
    /** 'reference': 10-iteration linear warm-up, then x0.999 every 10 iterations (the reference code). */
    lrSchedule: z.enum(['constant', 'reference']).default('constant'),
    // 'ot' is accepted as another name for the CondOT path.
    path: grid(z.preprocess((v) => (v === 'ot' ? 'condot' : v), z.enum(PATHS))).default(['condot']),
    /** Classes per position K of the simplex tasks (absent for the others). */
    simplexDim: grid(z.number().int().min(2).max(1000)).optional(),
    simplex: simplexSchema.default(() => simplexSchema.parse({})),
    video: videoSchema.default(() => videoSchema.parse({})),
    sigmaMin: z.number().min(0).lt(1).default(0),
    lambda: grid(z.number().nonnegative()).default([0.1]),
    /** How the FDM term E[(w r)^2] is estimated (losses/divergence.ts says which are unbiased). */
    divEstimator: grid(z.enum(DIV_ESTIMATORS)).default(['exact']),
    /** Hutchinson probes per sample; absent, each estimator's default (2 for hutchinson-unbiased, else 1). */
    probes: grid(positiveInt).optional(),
    probeDist: z.enum(PROBE_DISTRIBUTIONS).default('rademacher'),
    /** The weight w_t of the divergence residual: the path's own (sigma_t on Gaussian paths), its square root, or 1. */
    cdmWeight: grid(z.enum(CDM_WEIGHTS)).default(['path']),
    /** How training times are drawn: uniform, or 'late' (denser towards t = 1, importance-weighted back to uniform). */
    timeSampling: grid(z.enum(TIME_SAMPLINGS)).default(['uniform']),
    stopGrad: grid(z.boolean()).default([true]),
    fdmVariant: grid(z.enum(FDM_VARIANTS)).default(['paper']),
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    /** Progress lines every this many iterations (0: none). */
    logEvery: z.number().int().nonnegative().default(200),
    /** A checkpoint every this many iterations (0: only when interrupted), to resume from after a crash. */
    checkpointEvery: z.number().int().nonnegative().default(500),
    eval: evalSchema.default(() => evalSchema.parse({})),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const estimator of config.divEstimator) {
      const least = ESTIMATOR_FACTS[estimator].minProbes;
      const few = (config.probes ?? []).filter((n) => n < least);
      if (few.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['probes'], message: `${estimator} needs at least ${least} probes (got ${few.join(', ')})` });
    }
  });

export type RunConfigInput = z.input<typeof runConfigSchema>;
export type RunConfig = z.output<typeof runConfigSchema>;

/** Formats zod issues as one line per field, naming the field and what was allowed. */
export function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    return `  ${field}: ${issue.message}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}
