import { z } from 'zod';
import { ConfigSection, RunConfig } from '../config/schema';

const positiveInt = z.number().int().positive();

/** Stage 1 of the video tasks: the frame autoencoder and its training. */
const autoencoderSchema = z
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
const videoSchema = z
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

export type VideoSettings = z.output<typeof videoSchema>;

/** The video tasks' section, `video:` in presets and config files. */
export const VIDEO_SECTION: ConfigSection = { key: 'video', schema: videoSchema };

/** The video settings of a configuration validated with VIDEO_SECTION. */
export function videoOf(config: RunConfig): VideoSettings {
  return config.video as VideoSettings;
}
