import * as tf from '../backend/tf';
import { Rng } from '../random/rng';
import { silu } from './activations';
import { convSame } from './conv';
import { ParamFactory } from './params';

/**
 * Stage 1 of the RIVER-style video task: a convolutional autoencoder that maps each grayscale
 * frame to a small latent grid, on which stage 2 runs flow matching.
 *
 * Why it is built the way it is (tfjs 4.22, wasm backend, measured at batch 32):
 * - tf.conv2d's forward kernel is fast on wasm (XNNPACK, ~17 GFLOP/s), but its gradient is not
 *   usable: the wasm backend has no Conv2DBackpropFilter kernel (training a conv2d weight throws),
 *   its Conv2DBackpropInput is ~6x slower than a forward conv, conv2dTranspose needs the missing
 *   filter kernel too, depthwiseConv2d lacks its filter kernel, DepthToSpace has no gradient, and
 *   conv3d (which has both gradient kernels) is ~40x slower than conv2d. So the 3x3 convolutions
 *   use a custom gradient made of forward conv2d calls only (see convSame in conv.ts).
 * - Down- and up-sampling are 2x2 'patchify' ops (space-to-depth and depth-to-space written as
 *   reshape/transpose, whose gradients exist everywhere) followed or preceded by a per-pixel
 *   matMul, i.e. a stride-2 2x2 convolution, resp. its transpose, computed as a plain matMul.
 * - The first down-sampling and the last up-sampling are patchify layers, so no 3x3 convolution
 *   ever runs at the full frame resolution (where it would cost 4x as much).
 */

/** The architecture's size knobs (all that a saved file must match). */
export interface AutoencoderShape {
  /** Frame height = width in pixels (64 standard, 32 fast preset). */
  size: number;
  /** Number of 2x down-samplings: the latent grid is size / 2^downsamplings on a side (RIVER: 3 at 64x64). */
  downsamplings: number;
  /** Channels of the latent grid (RIVER: 4). */
  latentChannels: number;
  /** Base channels: the feature map after the first down-sampling has `width` channels (see levelChannels). */
  width: number;
}

/** Small constant in the latent normalisation, so a constant encoder output cannot divide by zero. */
const LATENT_EPS = 1e-6;
/** Channel multipliers stop growing after this, so a deep encoder does not explode in size. */
const MAX_CHANNEL_MULTIPLIER = 4;

/**
 * Channels of the feature map at level l = 1..downsamplings (resolution size / 2^l):
 * width * min(2^(l-1), 4). Doubling the channels as the resolution halves keeps each level's
 * 3x3 convolution at about the same cost, as in VQGAN/RIVER encoders.
 */
export function levelChannels(shape: AutoencoderShape, level: number): number {
  return shape.width * Math.min(2 ** (level - 1), MAX_CHANNEL_MULTIPLIER);
}

/** The size knobs of a shape, whatever else an object holds. */
export function pickShape(shape: AutoencoderShape): AutoencoderShape {
  const { size, downsamplings, latentChannels, width } = shape;
  return { size, downsamplings, latentChannels, width };
}

function checkShape(shape: AutoencoderShape): void {
  const { size, downsamplings, latentChannels, width } = shape;
  for (const [name, value] of Object.entries({ size, downsamplings, latentChannels, width })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`autoencoder ${name} must be a positive integer, got ${value}`);
  }
  if (size % 2 ** downsamplings !== 0) {
    throw new Error(`autoencoder: a ${size}x${size} frame cannot be down-sampled by 2 ${downsamplings} times`);
  }
}


/**
 * 2x2 space-to-depth: [B, H, W, C] -> [B, H/2, W/2, 4C], channel order (dy, dx, c).
 * Written with 4-D reshapes/transposes (not tf.spaceToBatchND or a 6-D transpose) so that it and
 * its gradient are cheap memory moves on every backend.
 */
export function spaceToDepth2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const rows = tf.reshape(x, [b * (h / 2), 2, w / 2, 2 * c]);
  return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [b, h / 2, w / 2, 4 * c]);
}

/** 2x2 depth-to-space, the inverse of spaceToDepth2: [B, H, W, 4C] -> [B, 2H, 2W, C] (tf.depthToSpace has no gradient). */
export function depthToSpace2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c4] = x.shape;
  const c = c4 / 4;
  const patches = tf.reshape(x, [b * h, w, 2, 2 * c]);
  return tf.reshape(tf.transpose(patches, [0, 2, 1, 3]), [b, 2 * h, 2 * w, c]);
}

/** A per-pixel linear map (a 1x1 convolution) over [B, H, W, Cin]: a plain matMul, fast on wasm. */
class PixelLinear {
  private readonly weight: tf.Variable;
  private readonly bias: tf.Variable;
  constructor(private readonly inputs: number, readonly outputs: number, params: ParamFactory) {
    this.weight = params.make([inputs, outputs], inputs);
    this.bias = params.make([outputs], inputs);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w] = x.shape;
    const flat = tf.reshape(x, [b * h * w, this.inputs]);
    const out = tf.add(tf.matMul(flat, this.weight as tf.Tensor2D), this.bias);
    return tf.reshape(out, [b, h, w, this.outputs]);
  }
}

/** x + convSame(silu(x)) + bias: a pre-activation residual block, so the identity path trains from the start. */
class ResidualConv {
  private readonly weight: tf.Variable;
  private readonly bias: tf.Variable;
  constructor(channels: number, params: ParamFactory) {
    this.weight = params.make([3, 3, channels, channels], 9 * channels);
    this.bias = params.make([channels], 9 * channels);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.add(x, tf.add(convSame(silu(x), this.weight as tf.Tensor4D), this.bias));
  }
}

/**
 * The frame autoencoder. Encoder (D = downsamplings, c_l = levelChannels(l)):
 *   frame [B, S, S, 1] -> space-to-depth -> linear 4 -> c_1 -> residual 3x3 conv
 *   -> for l = 2..D: silu, space-to-depth, linear 4 c_(l-1) -> c_l, residual 3x3 conv
 *   -> silu, linear c_D -> latentChannels -> flatten -> per-frame normalisation.
 * The decoder mirrors it (linear latentChannels -> c_D, residual conv, then per level silu,
 * linear c_l -> 4 c_(l-1), depth-to-space, residual conv; finally silu, linear c_1 -> 4,
 * depth-to-space to [B, S, S, 1]) and ends in a sigmoid, so frames land in [0, 1].
 *
 * Latent scale: the flattened latent of each frame is normalised to zero mean and unit variance
 * over its latentDim entries (a layer normalisation without affine parameters). Flow matching
 * starts from N(0, I), whose samples have mean ~0 and squared norm ~latentDim; a plain
 * autoencoder's latent scale is arbitrary and drifts during training, so fixing it in the
 * architecture keeps data and noise on the same scale without dataset statistics to carry
 * around. It costs two degrees of freedom per frame (its latent mean and norm), which the encoder
 * learns not to use. The layout of the flattened latent is channels-last: index
 * ((i * g) + j) * latentChannels + c for grid cell (i, j) of a g x g grid.
 */
export class FrameAutoencoder {
  readonly variables: tf.Variable[];
  /** latent dims per frame: latentChannels * (size / 2^downsamplings)^2 */
  readonly latentDim: number;
  /** Side of the latent grid, size / 2^downsamplings. */
  readonly latentSize: number;
  private readonly encoderIn: PixelLinear[] = [];
  private readonly encoderBlocks: ResidualConv[] = [];
  private readonly encoderOut: PixelLinear;
  private readonly decoderIn: PixelLinear;
  private readonly decoderBlocks: ResidualConv[] = [];
  private readonly decoderUp: PixelLinear[] = [];

  /** A copy of the shape it was built with (only the four fields: what a saved file must match). */
  readonly shape: AutoencoderShape;

  constructor(shape: AutoencoderShape, rng: Rng) {
    checkShape(shape);
    this.shape = pickShape(shape);
    const { size, downsamplings: depth, latentChannels } = shape;
    this.latentSize = size / 2 ** depth;
    this.latentDim = latentChannels * this.latentSize ** 2;
    const params = new ParamFactory(rng);
    const channels = (level: number) => (level === 0 ? 1 : levelChannels(shape, level));
    for (let level = 1; level <= depth; level++) {
      this.encoderIn.push(new PixelLinear(4 * channels(level - 1), channels(level), params));
      this.encoderBlocks.push(new ResidualConv(channels(level), params));
    }
    this.encoderOut = new PixelLinear(channels(depth), latentChannels, params);
    this.decoderIn = new PixelLinear(latentChannels, channels(depth), params);
    for (let level = depth; level >= 1; level--) {
      this.decoderBlocks.push(new ResidualConv(channels(level), params));
      this.decoderUp.push(new PixelLinear(channels(level), 4 * channels(level - 1), params));
    }
    this.variables = params.created;
  }

  /** Frames [B, H, W] (or [B, H, W, 1]) in [0, 1] -> normalised latents [B, latentDim]. */
  encode(frames: tf.Tensor3D | tf.Tensor4D): tf.Tensor2D {
    const { size } = this.shape;
    const [b, h, w] = frames.shape;
    if (h !== size || w !== size || (frames.rank === 4 && frames.shape[3] !== 1)) {
      throw new Error(`autoencoder: expected frames [B, ${size}, ${size}] or [B, ${size}, ${size}, 1], got [${frames.shape}]`);
    }
    return tf.tidy(() => {
      let x = tf.reshape(frames, [b, size, size, 1]) as tf.Tensor4D;
      for (let level = 0; level < this.encoderIn.length; level++) {
        const input = level === 0 ? x : silu(x);
        x = this.encoderBlocks[level].apply(this.encoderIn[level].apply(spaceToDepth2(input)));
      }
      const latent = tf.reshape(this.encoderOut.apply(silu(x)), [b, this.latentDim]);
      const { mean, variance } = tf.moments(latent, 1, true);
      return tf.div(tf.sub(latent, mean), tf.sqrt(tf.add(variance, LATENT_EPS))) as tf.Tensor2D;
    });
  }

  /** Latents [B, latentDim] -> frames [B, H, W] in [0, 1]. */
  decode(latents: tf.Tensor2D): tf.Tensor3D {
    const [b, dim] = latents.shape;
    if (dim !== this.latentDim) throw new Error(`autoencoder: expected latents [B, ${this.latentDim}], got [${latents.shape}]`);
    return tf.tidy(() => {
      const g = this.latentSize;
      let x = this.decoderIn.apply(tf.reshape(latents, [b, g, g, this.shape.latentChannels]));
      for (let i = 0; i < this.decoderBlocks.length; i++) {
        x = depthToSpace2(this.decoderUp[i].apply(silu(this.decoderBlocks[i].apply(x))));
      }
      const size = this.shape.size;
      return tf.reshape(tf.sigmoid(x), [b, size, size]) as tf.Tensor3D;
    });
  }

  /** decode(encode(frames)): what training fits to the frames. */
  reconstruct(frames: tf.Tensor3D | tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => this.decode(this.encode(frames)));
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

/**
 * Puts a latent (in place) on the autoencoder's latent set, zero mean and unit variance over its
 * entries, as encode() leaves every latent: for a predicted latent, which nothing else keeps there.
 */
export function normaliseLatent(latent: Float32Array): void {
  let mean = 0;
  for (const v of latent) mean += v / latent.length;
  let variance = 0;
  for (const v of latent) variance += (v - mean) ** 2 / latent.length;
  const scale = 1 / Math.sqrt(variance + LATENT_EPS);
  for (let i = 0; i < latent.length; i++) latent[i] = (latent[i] - mean) * scale;
}
