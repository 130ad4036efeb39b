import { z } from 'zod';
import { BACKEND_CHOICES } from '../backend/backend';
import { DIV_ESTIMATORS, PROBE_DISTRIBUTIONS } from '../losses/divergence';
import { FDM_VARIANTS, METHODS, PROBE_DOTS } from '../losses/flow-loss';
import { AFFINE_PATHS } from '../paths/affine';
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
    path: grid(z.preprocess((v) => (v === 'ot' ? 'condot' : v), z.enum(AFFINE_PATHS))).default(['condot']),
    sigmaMin: z.number().min(0).lt(1).default(0),
    lambda: grid(z.number().nonnegative()).default([0.1]),
    divEstimator: grid(z.enum(DIV_ESTIMATORS)).default(['exact']),
    probes: grid(positiveInt).default([1]),
    probeDist: z.enum(PROBE_DISTRIBUTIONS).default('rademacher'),
    probeDots: grid(z.enum(PROBE_DOTS)).default(['exact']),
    stopGrad: grid(z.boolean()).default([true]),
    fdmVariant: grid(z.enum(FDM_VARIANTS)).default(['paper']),
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    /** Progress lines every this many iterations (0: none). */
    logEvery: z.number().int().nonnegative().default(200),
    /** A checkpoint every this many iterations (0: only when interrupted), to resume from after a crash. */
    checkpointEvery: z.number().int().nonnegative().default(500),
    eval: evalSchema.default(() => evalSchema.parse({})),
  })
  .strict();

export type RunConfigInput = z.input<typeof runConfigSchema>;
export type RunConfig = z.output<typeof runConfigSchema>;

/** Settings that shape only FDM runs: CFM runs are not repeated over them. */
export const FDM_ONLY_SETTINGS = ['lambda', 'divEstimator', 'probes', 'probeDots', 'stopGrad', 'fdmVariant'] as const;
/** Settings swept by the runner, in the order rows are grouped. */
export const GRID_SETTINGS = ['path', ...FDM_ONLY_SETTINGS] as const;
export type GridSetting = (typeof GRID_SETTINGS)[number];

/** Formats zod issues as one line per field, naming the field and what was allowed. */
export function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    return `  ${field}: ${issue.message}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}
