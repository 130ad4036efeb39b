import * as fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import * as tf from '../backend/tf';
import { ExperimentState } from '../core/state';
import { psnrBatch } from '../metrics/image-quality';
import { AutoencoderShape, FrameAutoencoder, pickShape } from '../models/frame-autoencoder';
import { Rng } from '../random/rng';
import { writeFileAtomic } from '../results/store';
import { SavedFileError } from '../training/checkpoint';
import { captureState, encodedTensorSchema, restoreState } from '../training/state';

/** Stage 1 of the video tasks around the autoencoder's architecture (models/frame-autoencoder.ts): its training, encoding, score and file. */

function frameCount(ae: FrameAutoencoder, frames: Float32Array): number {
  const pixels = ae.shape.size ** 2;
  if (frames.length === 0 || frames.length % pixels !== 0) {
    throw new Error(`autoencoder: ${frames.length} values are not a whole number of ${ae.shape.size}x${ae.shape.size} frames`);
  }
  return frames.length / pixels;
}

export interface TrainAutoencoderOptions {
  iterations: number;
  batchSize: number;
  /** Adam's learning rate. */
  lr: number;
  /** Called after each step with the number of steps done (1-based) and that step's loss. */
  onProgress?: (iteration: number, loss: number) => void;
}

/**
 * Trains on frames [n, H, W] (Float32Array) with Adam on MSE, seeded minibatches; returns the loss curve.
 * Minibatches walk through seeded permutations of the frames (every frame once per epoch), so a
 * seed fixes the run. The optimizer's moments are disposed at the end; the step's tensors are
 * disposed every iteration, so the tensor count stays flat. Throws if the loss stops being finite.
 */
export async function trainAutoencoder(
  ae: FrameAutoencoder,
  frames: Float32Array,
  opts: TrainAutoencoderOptions,
  rng: Rng,
): Promise<{ losses: number[]; seconds: number }> {
  const n = frameCount(ae, frames);
  const { iterations, batchSize, lr } = opts;
  if (!Number.isInteger(iterations) || iterations < 0) throw new Error(`autoencoder: iterations must be a non-negative integer, got ${iterations}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`autoencoder: batch size must be a positive integer, got ${batchSize}`);
  const size = ae.shape.size;
  const pixels = size * size;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let cursor = n;
  const nextIndex = (): number => {
    if (cursor === n) {
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      cursor = 0;
    }
    return order[cursor++];
  };
  const batch = new Float32Array(batchSize * pixels);
  const optimizer = tf.train.adam(lr);
  const losses: number[] = [];
  const start = process.hrtime.bigint();
  try {
    for (let iteration = 1; iteration <= iterations; iteration++) {
      for (let k = 0; k < batchSize; k++) {
        const i = nextIndex();
        batch.set(frames.subarray(i * pixels, (i + 1) * pixels), k * pixels);
      }
      const x = tf.tensor3d(batch, [batchSize, size, size]);
      const loss = optimizer.minimize(() => tf.mean(tf.squaredDifference(ae.reconstruct(x), x)) as tf.Scalar, true, ae.variables);
      x.dispose();
      const [value] = await loss!.data();
      loss!.dispose();
      if (!Number.isFinite(value)) throw new Error(`autoencoder training diverged: loss ${value} at iteration ${iteration}`);
      losses.push(value);
      opts.onProgress?.(iteration, value);
    }
  } finally {
    optimizer.dispose();
  }
  return { losses, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Runs `f` on consecutive batches of frames as tensors [b, H, W] and concatenates the Float32Array results. */
async function mapBatches(ae: FrameAutoencoder, frames: Float32Array, batchSize: number, perFrame: number, f: (x: tf.Tensor3D) => tf.Tensor): Promise<Float32Array> {
  const n = frameCount(ae, frames);
  const size = ae.shape.size;
  const pixels = size * size;
  const out = new Float32Array(n * perFrame);
  for (let first = 0; first < n; first += batchSize) {
    const count = Math.min(batchSize, n - first);
    const values = tf.tidy(() => f(tf.tensor3d(frames.subarray(first * pixels, (first + count) * pixels), [count, size, size])));
    out.set(await values.data(), first * perFrame);
    values.dispose();
  }
  return out;
}

/** Latents [n, latentDim] of frames [n, H, W], encoded in batches (stage 2's training data). */
export function encodeFrames(ae: FrameAutoencoder, frames: Float32Array, batchSize: number): Promise<Float32Array> {
  return mapBatches(ae, frames, batchSize, ae.latentDim, (x) => ae.encode(x));
}

/** Reconstruction PSNR (dB) of frames through the autoencoder, mean over frames (batched). */
export async function reconstructionPsnr(ae: FrameAutoencoder, frames: Float32Array, batchSize: number): Promise<number> {
  const n = frameCount(ae, frames);
  const reconstructed = await mapBatches(ae, frames, batchSize, ae.shape.size ** 2, (x) => ae.reconstruct(x));
  const perFrame = psnrBatch(reconstructed, frames, n);
  let sum = 0;
  for (const value of perFrame) sum += value;
  return sum / n;
}

const FILE_KIND = 'fdm-bench frame autoencoder';

interface SavedAutoencoder {
  kind: typeof FILE_KIND;
  schema: 1;
  shape: AutoencoderShape;
  state: ExperimentState;
}

const positiveInt = z.number().int().positive();
const savedAutoencoderSchema = z.object({
  kind: z.literal(FILE_KIND),
  schema: z.literal(1),
  shape: z.object({ size: positiveInt, downsamplings: positiveInt, latentChannels: positiveInt, width: positiveInt }),
  state: z.object({ variables: z.array(encodedTensorSchema), streams: z.record(z.string(), z.unknown()) }),
});

function shapeText(shape: AutoencoderShape): string {
  return `size ${shape.size}, downsamplings ${shape.downsamplings}, latentChannels ${shape.latentChannels}, width ${shape.width}`;
}

/** Save/load the weights as JSON in a file (for caching stage 1 in a run directory), written atomically. */
export async function saveAutoencoder(ae: FrameAutoencoder, file: string): Promise<void> {
  const saved: SavedAutoencoder = { kind: FILE_KIND, schema: 1, shape: ae.shape, state: await captureState(ae.variables, {}) };
  writeFileAtomic(file, JSON.stringify(saved));
}

/**
 * Loads weights saved by saveAutoencoder into `ae`. A missing, truncated or corrupt file, or one
 * saved for another shape, is a SavedFileError whose message names the file (as checkpoints are).
 */
export function loadAutoencoder(ae: FrameAutoencoder, file: string): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`;
    throw new SavedFileError(`autoencoder file ${file} ${reason}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SavedFileError(`autoencoder file ${file} is truncated or corrupt (not valid JSON, ${text.length} bytes)`);
  }
  const parsed = savedAutoencoderSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`);
    throw new SavedFileError(`autoencoder file ${file} is corrupt: ${problems.slice(0, 3).join('; ')}`);
  }
  const saved = parsed.data;
  if (!isDeepStrictEqual(pickShape(saved.shape), ae.shape)) {
    throw new SavedFileError(`autoencoder file ${file} holds a model of another shape (${shapeText(saved.shape)}), expected ${shapeText(ae.shape)}`);
  }
  try {
    restoreState(ae.variables, {}, { variables: saved.state.variables, streams: {} });
  } catch (err) {
    throw new SavedFileError(`autoencoder file ${file}: ${(err as Error).message}`);
  }
}
