import * as fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { Experiment, FigurePanel, RunSpec } from '../core/task';
import { EncodedTensor, ExperimentState } from '../core/state';
import { decodeValues, encodedTensorSchema, encodeValues, experimentStateSchema } from './state';
import { TrainerState } from './trainer';
import { writeFileAtomic } from '../results/store';

/** A missing, truncated or corrupt checkpoint or model file; the message names the file. */
export class SavedFileError extends Error {}

/** Where an unfinished run stands: what `run --resume` needs to continue it exactly. */
export interface Checkpoint {
  kind: 'fdm-bench checkpoint';
  schema: 1;
  task: string;
  /** The run's name in the grid, e.g. 'fdm lambda=0.1 seed 0'. */
  run: string;
  spec: RunSpec;
  trainer: TrainerState;
  experiment: ExperimentState;
}

/** A finished run: its final weights (and streams) and its evaluation's figure panel. */
export interface SavedModel {
  kind: 'fdm-bench model';
  schema: 1;
  task: string;
  run: string;
  spec: RunSpec;
  experiment: ExperimentState;
  panel: { points: EncodedTensor; density?: EncodedTensor } | null;
}

/**
 * Loose on purpose: a saved spec is only ever compared with the expected one (checkIdentity). Its
 * values are scalars, and the task's grid axes one level deeper (`axes: { simplexDim: 40 }`).
 */
const scalar = z.union([z.string(), z.number(), z.boolean()]);
const specSchema = z.record(z.string(), z.union([scalar, z.record(z.string(), scalar)])) as unknown as z.ZodType<RunSpec>;

const trainerStateSchema: z.ZodType<TrainerState> = z.object({
  iteration: z.number().int().nonnegative(),
  stepMs: z.array(z.number()),
  history: z.array(z.object({ iteration: z.number().int(), total: z.number(), cfm: z.number(), cdm: z.number() })),
  optimizer: z.object({
    iterations: z.number().int().nonnegative(),
    betaPowers: z.tuple([z.number(), z.number()]),
    moments: z.array(encodedTensorSchema),
  }),
});

/** Adam holds a first and a second moment of the variables' shapes, or nothing before its first step. */
function momentsFitVariables(checkpoint: Checkpoint): boolean {
  const { moments } = checkpoint.trainer.optimizer;
  const variables = checkpoint.experiment.variables;
  if (moments.length === 0) return true;
  return moments.length === 2 * variables.length && moments.every((m, i) => isDeepStrictEqual(m.shape, variables[i % variables.length].shape));
}

const checkpointSchema: z.ZodType<Checkpoint> = z
  .object({
    kind: z.literal('fdm-bench checkpoint'),
    schema: z.literal(1),
    task: z.string(),
    run: z.string(),
    spec: specSchema,
    trainer: trainerStateSchema,
    experiment: experimentStateSchema,
  })
  .refine(momentsFitVariables, { message: 'the optimizer moments do not match the variables', path: ['trainer', 'optimizer'] });

const savedModelSchema: z.ZodType<SavedModel> = z.object({
  kind: z.literal('fdm-bench model'),
  schema: z.literal(1),
  task: z.string(),
  run: z.string(),
  spec: specSchema,
  experiment: experimentStateSchema,
  panel: z.object({ points: encodedTensorSchema, density: encodedTensorSchema.optional() }).nullable(),
});

/** A JSON file written by the suite, read and validated; a missing, truncated or corrupt one is a SavedFileError naming it. */
export function readSavedFile<T>(file: string, what: string, schema: z.ZodType<T>): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`;
    throw new SavedFileError(`${what} file ${file} ${reason}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SavedFileError(`${what} file ${file} is truncated or corrupt (not valid JSON, ${text.length} bytes)`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`);
    throw new SavedFileError(`${what} file ${file} is corrupt: ${problems.slice(0, 3).join('; ')}`);
  }
  return parsed.data;
}

/** Throws unless a saved file belongs to this task and run. */
function checkIdentity(file: string, what: string, saved: { task: string; spec: RunSpec }, task: string, spec: RunSpec): void {
  if (saved.task !== task || !isDeepStrictEqual(saved.spec, spec)) {
    throw new SavedFileError(`${what} file ${file} belongs to another run (task ${saved.task}, ${JSON.stringify(saved.spec)})`);
  }
}

export function writeCheckpoint(file: string, checkpoint: Omit<Checkpoint, 'kind' | 'schema'>): void {
  writeFileAtomic(file, JSON.stringify({ kind: 'fdm-bench checkpoint', schema: 1, ...checkpoint }));
}

function restoreInto(experiment: Experiment, state: ExperimentState, file: string, what: string): void {
  try {
    experiment.restore(state);
  } catch (err) {
    throw new SavedFileError(`${what} file ${file}: ${(err as Error).message}`);
  }
}

/**
 * Reads the checkpoint of this task's run `spec` into its experiment and returns where the trainer
 * stands; any problem is a SavedFileError naming the file.
 */
export function loadCheckpoint(file: string, task: string, spec: RunSpec, experiment: Experiment): TrainerState {
  const checkpoint = readSavedFile(file, 'checkpoint', checkpointSchema);
  checkIdentity(file, 'checkpoint', checkpoint, task, spec);
  restoreInto(experiment, checkpoint.experiment, file, 'checkpoint');
  return checkpoint.trainer;
}

export function writeModel(file: string, model: Omit<SavedModel, 'kind' | 'schema' | 'panel'>, panel: Omit<FigurePanel, 'label' | 'spec'> | null): void {
  const encoded = panel && {
    points: encodeValues(panel.points, [panel.points.length]),
    ...(panel.density ? { density: encodeValues(panel.density, [panel.density.length]) } : {}),
  };
  writeFileAtomic(file, JSON.stringify({ kind: 'fdm-bench model', schema: 1, ...model, panel: encoded }));
}

export function readModel(file: string, task: string, spec: RunSpec): SavedModel {
  const model = readSavedFile(file, 'model', savedModelSchema);
  checkIdentity(file, 'model', model, task, spec);
  return model;
}

/** Loads a finished run's saved model into its experiment; any problem is a SavedFileError naming the file. */
export function loadModel(file: string, task: string, spec: RunSpec, experiment: Experiment): void {
  restoreInto(experiment, readModel(file, task, spec).experiment, file, 'model');
}

/** The figure panel a saved model of run `spec` carries, under `label`. */
export function modelPanel(model: SavedModel, label: string, spec: RunSpec): FigurePanel | null {
  if (!model.panel) return null;
  const { points, density } = model.panel;
  return { label, spec, points: decodeValues(points), ...(density ? { density: decodeValues(density) } : {}) };
}
