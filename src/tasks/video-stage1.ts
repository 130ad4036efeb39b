import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunConfig } from '../config/schema';
import { PrepareContext } from '../core/task';
import { VideoSet } from '../datasets/moving-mnist';
import { Rng } from '../random/rng';
import { FrameAutoencoder } from '../models/frame-autoencoder';
import { encodeFrames, loadAutoencoder, reconstructionPsnr, saveAutoencoder, trainAutoencoder } from './video-autoencoder';
import { videoOf } from './video-settings';

/** Train and test videos, each [count, frames, size, size] in [0, 1]. */
export interface VideoData {
  train: VideoSet;
  test: VideoSet;
}

export interface VideoTaskDefinition {
  name: string;
  description: string;
  presetFile?: string;
  /** The task's videos with the configured frame count and size. */
  load(config: RunConfig): Promise<VideoData>;
  /** Settings the task cannot run with, as messages. */
  checkConfig?(config: RunConfig): string[];
}

/** What stage 1 leaves for the flow: the autoencoder, the training latents and the test set. */
export interface Stage1 {
  autoencoder: FrameAutoencoder;
  /** Latents of every training frame, [videos, frames, latentDim]. */
  trainLatents: Float32Array;
  test: VideoSet;
  /** Latents of the test videos' context frames, [videos, contextFrames, latentDim]. */
  testContext: Float32Array;
  /** Mean PSNR of the test frames through the autoencoder: a ceiling for the predictions. */
  reconstructionPsnr: number;
}

/** Videos loaded when only training steps are timed. */
export const TIMING_VIDEOS = 8;
/** Rows encoded or decoded at once. */
export const CODEC_BATCH = 256;

export function stage1Key(task: string, config: RunConfig, seed: number): string {
  const { figureSequences, warmStart, ...shaping } = videoOf(config);
  return `${task}/seed-${seed}/${JSON.stringify(shaping)}`;
}

export function frameCount(config: RunConfig): number {
  return videoOf(config).contextFrames + videoOf(config).predictFrames;
}

/** Frames [from, to) of every video of a set, [count, to - from, size, size]. */
export function frameRange(videos: VideoSet, from: number, to: number): Float32Array {
  const pixels = videos.size * videos.size;
  const out = new Float32Array(videos.count * (to - from) * pixels);
  for (let v = 0; v < videos.count; v++) {
    const start = (v * videos.frames + from) * pixels;
    out.set(videos.data.subarray(start, start + (to - from) * pixels), v * (to - from) * pixels);
  }
  return out;
}

/**
 * Trains the frame autoencoder (or loads it from the run directory, where it is cached so that a
 * resumed run, every method of a seed and `sample` share it) and encodes the videos.
 */
export async function runStage1(def: VideoTaskDefinition, runConfig: RunConfig, seed: number, context: PrepareContext): Promise<Stage1> {
  // A step's cost does not depend on how many videos there are, nor on the autoencoder's weights.
  const config = context.timingOnly ? { ...runConfig, video: { ...videoOf(runConfig), trainSequences: TIMING_VIDEOS, testSequences: TIMING_VIDEOS } } : runConfig;
  const video = videoOf(config);
  const { train, test } = await def.load(config);
  const ae = video.autoencoder;
  const autoencoder = new FrameAutoencoder({ size: video.size, downsamplings: ae.downsamplings, latentChannels: ae.latentChannels, width: ae.width }, new Rng(`${def.name}/seed-${seed}/autoencoder`));
  const file = context.dir === null ? null : path.join(context.dir, 'stage1', `autoencoder-seed-${seed}.json`);
  if (context.timingOnly) {
    context.log(`stage 1: skipped for timing (untrained autoencoder, ${TIMING_VIDEOS} videos)`);
  } else if (file !== null && fs.existsSync(file)) {
    loadAutoencoder(autoencoder, file);
    context.log(`stage 1: autoencoder loaded from ${file}`);
  } else {
    context.log(`stage 1: training the frame autoencoder (${ae.iterations} iterations, latent ${autoencoder.latentDim})`);
    const every = Math.max(1, Math.floor(ae.iterations / 5));
    const onProgress = (i: number, loss: number) => i % every === 0 && context.log(`  autoencoder it ${i}/${ae.iterations}  mse ${loss.toFixed(5)}`);
    const trained = await trainAutoencoder(autoencoder, train.data, { iterations: ae.iterations, batchSize: ae.batchSize, lr: ae.lr, onProgress }, new Rng(`${def.name}/seed-${seed}/autoencoder-batches`));
    context.log(`stage 1: trained in ${trained.seconds.toFixed(1)} s`);
    if (file !== null) await saveAutoencoder(autoencoder, file);
  }
  return {
    autoencoder,
    trainLatents: await encodeFrames(autoencoder, train.data, CODEC_BATCH),
    test,
    testContext: await encodeFrames(autoencoder, frameRange(test, 0, video.contextFrames), CODEC_BATCH),
    reconstructionPsnr: await reconstructionPsnr(autoencoder, test.data, CODEC_BATCH),
  };
}
