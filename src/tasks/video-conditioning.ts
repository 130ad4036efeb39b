import { RunConfig } from '../config/schema';
import { ConvLatentField } from '../models/conv-field';
import { Rng } from '../random/rng';
import { FrameAutoencoder } from '../models/frame-autoencoder';

/**
 * The latent field, conditioned as in RIVER on the previous frame's latent grid, one earlier
 * frame's grid and that frame's distance: `hidden` channels, `depth` residual blocks.
 */
export function latentField(ae: FrameAutoencoder, config: RunConfig, rng: Rng): ConvLatentField {
  const shape = { grid: ae.latentSize, channels: ae.shape.latentChannels, conditionGrids: 2, conditionScalars: 1, width: config.hidden, blocks: config.depth };
  return new ConvLatentField(shape, rng);
}

/**
 * What the flow generates: the change of the latent from the previous frame, next - previous.
 * Most of a frame is the previous one (the background, a digit's shape), so on the change a
 * small network spends its capacity on the motion instead of on copying; the prediction is the
 * previous latent plus the generated change. A shift by the (given) previous latent, so
 * likelihoods and divergences of the field are those of the next latent's.
 */
export function frameChange(next: Float32Array, previous: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = next[i] - previous[i];
}

/**
 * RIVER's context frame for target frame tau (>= 2): uniform among the frames before the previous
 * one, so that it always differs from it (a copy of the previous frame would carry no motion), and
 * its distance from the previous frame, in units of the video's length.
 */
export function randomContext(rng: Rng, tau: number, frames: number): { context: number; distance: number } {
  const context = rng.int(tau - 1);
  return { context, distance: (tau - 1 - context) / frames };
}

/** Row i of a condition matrix: [previous latent, context latent, distance]. */
export function writeCondition(out: Float32Array, row: number, previous: Float32Array, context: Float32Array, distance: number): void {
  const d = previous.length;
  const offset = row * (2 * d + 1);
  out.set(previous, offset);
  out.set(context, offset + d);
  out[offset + 2 * d] = distance;
}
