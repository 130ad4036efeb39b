import { z } from 'zod';
import { BACKEND_CHOICES } from '../backend/backend';
import { CDM_WEIGHTS, DIV_ESTIMATORS, ESTIMATOR_FACTS, PROBE_DISTRIBUTIONS } from '../losses/divergence';
import { FDM_VARIANTS, METHODS } from '../losses/flow-loss';
import { TIME_SAMPLINGS } from '../paths/time-sampling';
import { GAUSSIAN_PATHS } from '../paths/affine';
import { SIMPLEX_PATHS } from '../paths/simplex';
import { REFERENCE_PROTOCOL } from '../metrics/reference-likelihood';
import { SOLVERS } from '../solvers/ode';

/** A setting that may be given as one value or as a list of values to sweep over. */
export function grid<T extends z.ZodType>(item: T) {
  // Wrapping a single value first keeps zod's messages about the item itself ("lambda.0: ...").
  return z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(item).nonempty());
}

const positiveInt = z.number().int().positive();

/**
 * How a density task's likelihood is evaluated: 'exact' (the final model, exact divergence, a fixed
 * held-out set: docs/math.md section 3) alone, or also 'reference' (the reference code's protocol
 * run during training and its best value kept: section 5).
 */
export const EVAL_PROTOCOLS = ['exact', 'reference'] as const;
export type EvalProtocol = (typeof EVAL_PROTOCOLS)[number];

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
    /**
     * 'reference' adds the reference code's likelihood protocol, evaluated during training every
     * referenceEvery iterations with its best value kept (density tasks only; docs/math.md section 5).
     */
    protocol: z.enum(EVAL_PROTOCOLS).default('exact'),
    /** Training iterations between two in-training reference evaluations (the reference's 200). */
    referenceEvery: positiveInt.default(REFERENCE_PROTOCOL.interval),
  })
  .strict();

export const PATHS = [...GAUSSIAN_PATHS, ...SIMPLEX_PATHS] as const;
export type PathName = (typeof PATHS)[number];

/**
 * Learning-rate schedules (src/training/lr-schedule.ts): constant; reference: the FDM code's warm-up
 * and step decay; cosine: a linear warm-up over the first 1% of the iterations, then half a cosine from
 * the base rate to 0 at the last one (SGDR without restarts, Loshchilov & Hutter 2017).
 */
export const LR_SCHEDULES = ['constant', 'reference', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

/**
 * The settings every task shares, validated in one place for presets, --config files and flags
 * (a task's own section, e.g. `video:`, is added by withTaskSection). Grid settings accept a list;
 * every combination runs.
 */
export const sharedConfigSchema = z
  .object({
    methods: grid(z.enum(METHODS)).default(['cfm', 'fdm']),
    seeds: grid(z.number().int().nonnegative()).default([0]),
    iterations: positiveInt.default(2000),
    batchSize: positiveInt.default(256),
    hidden: positiveInt.default(256),
    depth: positiveInt.default(4),
    lr: z.number().positive().max(1).default(1e-3),
    /** One of LR_SCHEDULES, e.g. 'reference': 10-iteration linear warm-up, then x0.999 every 10 iterations (the reference code). */
    lrSchedule: z.enum(LR_SCHEDULES).default('constant'),
    // 'ot' is accepted as another name for the CondOT path.
    path: grid(z.preprocess((v) => (v === 'ot' ? 'condot' : v), z.enum(PATHS))).default(['condot']),
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
  .strict();

/** Checks between settings that no single field's schema sees. */
function checkProbeCounts(config: z.output<typeof sharedConfigSchema>, ctx: z.RefinementCtx): void {
  for (const estimator of config.divEstimator) {
    const least = ESTIMATOR_FACTS[estimator].minProbes;
    const few = (config.probes ?? []).filter((n) => n < least);
    if (few.length) ctx.addIssue({ code: 'custom', path: ['probes'], message: `${estimator} needs at least ${least} probes (got ${few.join(', ')})` });
  }
}

/** A command-line flag that sets one value of a task's section (`--data file` sets `points.data`). */
export interface SectionFlag {
  /** The setting in the section. */
  key: string;
  description: string;
  type: 'string' | 'number' | 'numberList';
}

/**
 * A task's own configuration section: its key in presets and config files, its schema (with
 * defaults), and the flags that set its values, by flag name.
 */
export interface ConfigSection {
  key: string;
  schema: z.ZodType;
  flags?: Record<string, SectionFlag>;
}

/** The schema of a task's whole configuration: the shared settings and, if it has one, its own section. */
export function withTaskSection(section?: ConfigSection): z.ZodType<RunConfig, RunConfigInput> {
  const object = section ? sharedConfigSchema.extend({ [section.key]: section.schema.default(() => section.schema.parse({})) }) : sharedConfigSchema;
  // The extended object's output is the shared settings plus the section: a RunConfig.
  return (object as typeof sharedConfigSchema).superRefine(checkProbeCounts) as unknown as z.ZodType<RunConfig, RunConfigInput>;
}

/** The shared settings alone (for code and tests that need no task section). */
export const runConfigSchema = withTaskSection();

export type RunConfigInput = z.input<typeof sharedConfigSchema> & { [section: string]: unknown };
/** A validated configuration: the shared settings, and the task's own section under its key. */
export type RunConfig = z.output<typeof sharedConfigSchema> & { readonly [section: string]: unknown };

/** Formats zod issues as one line per field, naming the field and what was allowed. */
export function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    // A key no schema knows: a typo, or the section of another task.
    if (issue.code === 'unrecognized_keys') return `  ${field}: unknown setting(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} (\`fdm-bench list\` shows each task's)`;
    return `  ${field}: ${issue.message}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}
