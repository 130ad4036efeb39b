import { z } from 'zod';
import * as tf from '../backend/tf';
import { EncodedTensor, ExperimentState } from '../core/state';
import { Rng, RngState } from '../random/rng';

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes that a base64 string of this length decodes to (Node ignores characters outside the alphabet, so count before). */
function decodedBytes(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return (base64.length * 3) / 4 - padding;
}

export const encodedTensorSchema = z
  .object({ shape: z.array(z.number().int().nonnegative()), base64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64') })
  .refine((t) => t.base64.length % 4 === 0 && decodedBytes(t.base64) === 4 * elementCount(t.shape), {
    message: 'data length does not match the shape',
  });

const rngStateSchema: z.ZodType<RngState> = z.object({
  alea: z.object({ c: z.number(), s0: z.number(), s1: z.number(), s2: z.number() }),
  spareNormal: z.number().nullable(),
});

export const experimentStateSchema: z.ZodType<ExperimentState> = z.object({
  variables: z.array(encodedTensorSchema),
  streams: z.record(z.string(), rngStateSchema),
  tracked: z.record(z.string(), z.number().nullable()).optional(),
});

export function encodeValues(values: Float32Array, shape: number[]): EncodedTensor {
  return { shape, base64: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64') };
}

export async function encodeTensor(tensor: tf.Tensor): Promise<EncodedTensor> {
  return encodeValues((await tensor.data()) as Float32Array, tensor.shape);
}

/** The values of an encoded tensor (validated by encodedTensorSchema: the length fits the shape). */
export function decodeValues(encoded: EncodedTensor): Float32Array {
  const bytes = Buffer.from(encoded.base64, 'base64');
  // Copied into a fresh buffer: a Float32Array needs 4-byte alignment, which Node's pooled buffers lack.
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function decodeTensor(encoded: EncodedTensor): tf.Tensor {
  return tf.tensor(decodeValues(encoded), encoded.shape, 'float32');
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** Why a saved state cannot be loaded into these variables and streams, or null when it fits. */
function stateMismatch(variables: tf.Variable[], streams: Record<string, Rng>, state: ExperimentState): string | null {
  if (state.variables.length !== variables.length) {
    return `it holds ${state.variables.length} variables, the model has ${variables.length}`;
  }
  const wrong = variables.findIndex((v, i) => !sameShape(v.shape, state.variables[i].shape));
  if (wrong >= 0) return `variable ${wrong} has shape [${state.variables[wrong].shape}], the model's is [${variables[wrong].shape}]`;
  const expected = Object.keys(streams).sort().join(', ');
  const saved = Object.keys(state.streams).sort().join(', ');
  return expected === saved ? null : `it holds random streams (${saved}), the experiment has (${expected})`;
}

/** Snapshot of variables and streams: what an Experiment's snapshot() returns. */
export async function captureState(variables: tf.Variable[], streams: Record<string, Rng>): Promise<ExperimentState> {
  return {
    variables: await Promise.all(variables.map(encodeTensor)),
    streams: Object.fromEntries(Object.entries(streams).map(([name, rng]) => [name, rng.state()])),
  };
}

/** Loads a snapshot back (what an Experiment's restore() does); throws if it does not fit. */
export function restoreState(variables: tf.Variable[], streams: Record<string, Rng>, state: ExperimentState): void {
  const mismatch = stateMismatch(variables, streams, state);
  if (mismatch) throw new Error(`the saved state does not fit this run: ${mismatch}`);
  variables.forEach((variable, i) => {
    const values = decodeTensor(state.variables[i]);
    variable.assign(values);
    values.dispose();
  });
  for (const [name, rng] of Object.entries(streams)) rng.restore(state.streams[name]);
}
