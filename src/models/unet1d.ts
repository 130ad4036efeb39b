import * as tf from '../backend/tf';
import { Rng } from '../random/rng';
import { silu, swishWithDerivative } from './activations';
import { convSame } from './conv';
import { TangentOutput, VelocityModel } from './model';
import { ParamFactory } from './params';

export interface Unet1dShape {
  /** Time steps L of a trajectory. */
  length: number;
  /** State channels C per time step: the field lives on R^(L C), laid out time-major. */
  channels: number;
  /** Channels of the first level. */
  base: number;
  /** Channel multiplier of each level (e.g. [1, 2, 4]); every level after the first runs at half the previous length. */
  multipliers: number[];
  /** GroupNorm groups; must divide base times every multiplier. */
  groups: number;
  /** Residual blocks per level, on the way down and again on the way up. */
  blocksPerLevel: number;
  /** Sinusoidal time features (even), also the width of the time MLP. */
  timeEmbedding: number;
}

/**
 * Highest frequency (radians per unit of t) of the sinusoidal time features, the lowest being 1,
 * geometric in between: periods from the whole of t in [0, 1] to 1/16 of it, fine enough to tell
 * times apart without letting the field swing in t faster than an ODE solver's steps.
 */
const MAX_TIME_FREQUENCY = 100;
const GROUP_NORM_EPS = 1e-5;

/** Activations [N, L, C] and, in a tangent pass, their tangents [K, N, L, C]. */
interface Pair {
  h: tf.Tensor3D;
  dh: tf.Tensor4D | null;
}

interface Dense {
  weight: tf.Tensor2D;
  bias: tf.Tensor1D;
}

interface Conv {
  /** [1, 3, Cin, Cout]: a 3-tap kernel along the time axis, laid out for conv2d on [N, 1, L, C]. */
  weight: tf.Tensor4D;
  bias: tf.Tensor1D;
}

interface Affine {
  gain: tf.Tensor1D;
  shift: tf.Tensor1D;
}

interface ResBlock {
  norm: Affine;
  conv1: Conv;
  /** Time embedding -> per-channel scale and offset [2 Cout] after the second GroupNorm. */
  film: Dense;
  conv2: Conv;
  /** 1x1 map of the shortcut when the block changes the channel count. */
  skip: Dense | null;
}

interface Level {
  blocks: ResBlock[];
  /** Down path: to the next level's length; up path: to the previous level's length and channels. */
  resample: Dense | null;
}

/**
 * A zero-padded 'same' 3-tap convolution along time, x [N, L, Cin], w [1, 3, Cin, Cout], as a
 * conv2d over [N, 1, L, Cin] (tf.conv1d is that conv2d too), with conv.ts's gradients on wasm.
 */
function conv3(x: tf.Tensor3D, w: tf.Tensor4D): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.reshape(convSame(tf.reshape(x, [n, 1, l, c]) as tf.Tensor4D, w), [n, l, w.shape[3]]);
}

/** A gradient summed over the axes along which a tensor of `shape` was broadcast to it. */
function sumTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, g.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

const mulStackOp = tf.customGrad(((stack: tf.Tensor, factor: tf.Tensor, save: tf.GradSaveFunc) => {
  save([stack, factor]);
  return {
    value: tf.mul(stack, factor),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [s, f] = saved;
      const k = dy.shape[0];
      const product = tf.mul(dy, s);
      const overK = tf.matMul(tf.ones([1, k]), tf.reshape(product, [k, -1]));
      return [sumTo(tf.mul(dy, f), s.shape), sumTo(tf.reshape(overK, product.shape.slice(1)), f.shape)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * A tangent stack [K, ...] times a factor that has no K axis (broadcast): tf.mul's values, but the
 * factor's gradient sums over K by a matrix product with ones. tf.mul's own gradient reduces over
 * the leading axis with Sum, which wasm computes by transposing the whole stack first: that took a
 * third of a training step.
 */
export function mulStack<T extends tf.Tensor>(stack: T, factor: tf.Tensor): T {
  return mulStackOp(stack, factor) as T;
}

/** Per-step matrix product [N, L, C] x [C, C'] -> [N, L, C']. */
function pointwise(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [n * l, c]), w), [n, l, w.shape[1]]);
}

/**
 * Stride-2 convolution with a 2-tap kernel, [N, L, C] -> [N, L / 2, C'] with w [2 C, C']: a reshape
 * puts steps 2j and 2j + 1 side by side, then one matrix product. No padding, no shifted copies,
 * and gradients through matMul only.
 */
function downsample(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [n * (l / 2), 2 * c]), w), [n, l / 2, w.shape[1]]);
}

/** Its transpose, a stride-2 transposed convolution: [N, L, C] -> [N, 2 L, C'] with w [C, 2 C']. */
function upsample(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [n * l, c]), w), [n, 2 * l, w.shape[1] / 2]);
}

/** A linear map plus a bias: the tangents take the map alone, as one batch of K N sequences. */
function linear(p: Pair, map: (x: tf.Tensor3D) => tf.Tensor3D, bias: tf.Tensor1D): Pair {
  const h = tf.add(map(p.h), bias) as tf.Tensor3D;
  if (!p.dh) return { h, dh: null };
  const [k, n, l, c] = p.dh.shape;
  const out = map(tf.reshape(p.dh, [k * n, l, c]));
  return { h, dh: tf.reshape(out, [k, n, out.shape[1], out.shape[2]]) };
}

/** Swish; its derivative only where there are tangents to multiply (sampling runs without). */
function swish(p: Pair): Pair {
  if (!p.dh) return { h: silu(p.h), dh: null };
  const { h, dh } = swishWithDerivative(p.h);
  return { h, dh: mulStack(p.dh, dh) };
}

/** h gain + offset, gain and offset broadcast over [N, L, C] and free of x (GroupNorm's affine, FiLM). */
function scaleShift(p: Pair, gain: tf.Tensor, offset: tf.Tensor): Pair {
  return { h: tf.add(tf.mul(p.h, gain), offset) as tf.Tensor3D, dh: p.dh && mulStack(p.dh, gain) };
}

function addPairs(a: Pair, b: Pair): Pair {
  return { h: tf.add(a.h, b.h), dh: a.dh && b.dh && (tf.add(a.dh, b.dh) as tf.Tensor4D) };
}

function concatChannels(a: Pair, b: Pair): Pair {
  return { h: tf.concat([a.h, b.h], 2), dh: a.dh && b.dh && tf.concat([a.dh, b.dh], 3) };
}

/**
 * GroupNorm without affine: n = (h - mu) / s per sample and group (over steps and the group's
 * channels), s = sqrt(var + eps). Its tangent, with mu and s depending on h:
 *   dn = (dh - mean(dh)) / s - (h - mu) mean((h - mu) dh) / s^3 = (dh - mean(dh) - n mean(n dh)) / s.
 */
function groupNorm(p: Pair, groups: number): Pair {
  const [n, l, c] = p.h.shape;
  const grouped = tf.reshape(p.h, [n, l, groups, c / groups]);
  const { mean, variance } = tf.moments(grouped, [1, 3], true);
  const invSd = tf.rsqrt(tf.add(variance, GROUP_NORM_EPS));
  const normed = tf.mul(tf.sub(grouped, mean), invSd);
  const h = tf.reshape(normed, [n, l, c]) as tf.Tensor3D;
  if (!p.dh) return { h, dh: null };
  const k = p.dh.shape[0];
  const dg = tf.reshape(p.dh, [k, n, l, groups, c / groups]);
  const centred = tf.sub(dg, tf.mean(dg, [2, 4], true));
  const correction = mulStack(tf.mean(mulStack(dg, normed), [2, 4], true), normed);
  return { h, dh: tf.reshape(mulStack(tf.sub(centred, correction), invSd), [k, n, l, c]) as tf.Tensor4D };
}

/**
 * A 1D U-Net over the time axis of trajectories (after the DDPM-style U-Net of Finzi et al.'s
 * userdiffusion, which the FDM authors use for their dynamical systems), scaled by its shape:
 *
 *   conv3 C -> base
 *   down, per level i (channels base m_i):  blocks x ResBlock, keep as skip, then (not the last) stride-2 downsample
 *   middle ResBlock
 *   up, per level from the deepest:         concat skip, blocks x ResBlock, then (not the first) stride-2 upsample to level i-1
 *   GroupNorm, swish, conv3 -> C
 *
 *   ResBlock(h) = shortcut(h) + conv3(swish(FiLM(GN(conv3(swish(GN(h)))))))
 *
 * FiLM is (1 + scale(t)) n + offset(t) per channel from a sinusoidal embedding of t through a
 * two-layer swish MLP (improved DDPM's scale-shift norm). Resampling is a stride-2 2-tap
 * convolution down and its transpose up: both a reshape and a matrix product, exact inverses in
 * shape, so only L must split into halves n - 1 times for n levels. A length that does not
 * (the suite's 60 steps do for three levels: 60 -> 30 -> 15) is zero-padded at the end of the time
 * axis to the next multiple of 2^(n - 1), and the output cropped back; the padded steps then take
 * part in the convolutions and GroupNorm statistics like the others (as image U-Nets' padding does).
 *
 * The tangent pass carries J z_k alongside every activation: convolutions, resampling and the
 * shortcut maps run on the K B tangent sequences as one batch without bias; swish multiplies by
 * its derivative; GroupNorm takes its exact Jacobian; FiLM and the affine gains scale them (t has
 * no tangent).
 */
export class Unet1d implements VelocityModel {
  readonly dim: number;
  readonly variables: tf.Variable[];
  /** Time steps after padding: a multiple of 2^(levels - 1). */
  readonly paddedLength: number;
  private readonly frequencies: Float32Array;
  private readonly timeIn: Dense;
  private readonly timeOut: Dense;
  private readonly input: Conv;
  private readonly down: Level[] = [];
  private readonly middle: ResBlock;
  /** Deepest level first. */
  private readonly up: Level[] = [];
  private readonly outNorm: Affine;
  private readonly output: Conv;
  /** Multiply-adds per sample of every weight, counted as the layers are made. */
  private macs = 0;

  constructor(
    readonly shape: Unet1dShape,
    rng: Rng,
  ) {
    checkShape(shape);
    const { length, channels, base, multipliers, blocksPerLevel, timeEmbedding } = shape;
    this.dim = length * channels;
    const factor = 2 ** (multipliers.length - 1);
    this.paddedLength = Math.ceil(length / factor) * factor;
    const half = timeEmbedding / 2;
    this.frequencies = Float32Array.from({ length: half }, (_, j) => MAX_TIME_FREQUENCY ** (half > 1 ? j / (half - 1) : 0));

    const params = new ParamFactory(rng);
    const variables: tf.Variable[] = [];
    const make = <T extends tf.Tensor>(dims: number[], fanIn: number) => {
      const v = params.make(dims, fanIn);
      variables.push(v);
      return v as unknown as T;
    };
    const fixed = (value: number, size: number) => {
      const v = tf.tidy(() => tf.variable(tf.fill([size], value), true));
      variables.push(v);
      return v as unknown as tf.Tensor1D;
    };
    const dense = (inputs: number, outputs: number, steps = 1): Dense => {
      this.macs += steps * inputs * outputs;
      return { weight: make([inputs, outputs], inputs), bias: make([outputs], inputs) };
    };
    const conv = (inputs: number, outputs: number, steps: number): Conv => {
      this.macs += steps * 3 * inputs * outputs;
      return { weight: make([1, 3, inputs, outputs], 3 * inputs), bias: make([outputs], 3 * inputs) };
    };
    // Transposed 2-tap stride-2 at `steps` input steps: [C, 2 C'], the bias per output channel, shared by both output steps.
    const transposed = (inputs: number, outputs: number, steps: number): Dense => {
      this.macs += steps * inputs * 2 * outputs;
      return { weight: make([inputs, 2 * outputs], inputs), bias: make([outputs], inputs) };
    };
    const affine = (size: number): Affine => ({ gain: fixed(1, size), shift: fixed(0, size) });
    const resBlock = (inputs: number, outputs: number, steps: number): ResBlock => ({
      norm: affine(inputs),
      conv1: conv(inputs, outputs, steps),
      film: dense(timeEmbedding, 2 * outputs),
      conv2: conv(outputs, outputs, steps),
      skip: inputs === outputs ? null : dense(inputs, outputs, steps),
    });

    this.timeIn = dense(timeEmbedding, timeEmbedding);
    this.timeOut = dense(timeEmbedding, timeEmbedding);
    const widths = multipliers.map((m) => base * m);
    const steps = widths.map((_, i) => this.paddedLength / 2 ** i);
    this.input = conv(channels, base, steps[0]);
    let current = base;
    widths.forEach((width, i) => {
      const blocks = Array.from({ length: blocksPerLevel }, (_, j) => resBlock(j === 0 ? current : width, width, steps[i]));
      current = width;
      // 2-tap stride-2: [2 C, C] applied at half the steps.
      const resample = i < widths.length - 1 ? dense(2 * width, width, steps[i] / 2) : null;
      this.down.push({ blocks, resample });
    });
    this.middle = resBlock(current, current, steps[steps.length - 1]);
    for (let i = widths.length - 1; i >= 0; i--) {
      const blocks = Array.from({ length: blocksPerLevel }, (_, j) => resBlock(j === 0 ? current + widths[i] : widths[i], widths[i], steps[i]));
      current = widths[i];
      const resample = i > 0 ? transposed(current, widths[i - 1], steps[i]) : null;
      if (i > 0) current = widths[i - 1];
      this.up.push({ blocks, resample });
    }
    this.outNorm = affine(current);
    this.output = conv(current, channels, steps[0]);
    this.variables = variables;
  }

  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    this.checkInputs(x, t);
    return tf.tidy(() => this.run(x, t, null).v);
  }

  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    this.checkInputs(x, t, tangents);
    const { v, jvp } = tf.tidy(() => this.run(x, t, tangents) as { v: tf.Tensor2D; jvp: tf.Tensor3D });
    return { v, jvp };
  }

  /** Two flops per multiply-add of every weight (convolutions at their level's padded length, dense maps); norms and activations not counted. */
  flopsPerSample(): number {
    return 2 * this.macs;
  }

  dispose(): void {
    tf.dispose(this.variables);
  }

  private checkInputs(x: tf.Tensor, t: tf.Tensor, tangents?: tf.Tensor): void {
    const { length, channels } = this.shape;
    const what = `${this.dim} = ${length} steps x ${channels} channels, time-major`;
    if (x.rank !== 2 || x.shape[1] !== this.dim) throw new Error(`unet1d: x has shape [${x.shape}], expected [B, ${this.dim}] (${what})`);
    const b = x.shape[0];
    if (t.rank !== 2 || t.shape[0] !== b || t.shape[1] !== 1) throw new Error(`unet1d: t has shape [${t.shape}], expected [${b}, 1]`);
    if (tangents && (tangents.rank !== 3 || tangents.shape[1] !== b || tangents.shape[2] !== this.dim)) {
      throw new Error(`unet1d: tangents have shape [${tangents.shape}], expected [K, ${b}, ${this.dim}]`);
    }
  }

  /** The per-sample time embedding [B, E]: sinusoidal features through a two-layer swish MLP. */
  private timeEmbedding(t: tf.Tensor2D): tf.Tensor2D {
    const angles = tf.mul(t, tf.tensor2d(this.frequencies, [1, this.frequencies.length]));
    const features = tf.concat([tf.sin(angles), tf.cos(angles)], 1);
    const hidden = silu(tf.add(tf.matMul(features, this.timeIn.weight), this.timeIn.bias));
    return silu(tf.add(tf.matMul(hidden, this.timeOut.weight), this.timeOut.bias)) as tf.Tensor2D;
  }

  private resBlock(p: Pair, block: ResBlock, embedding: tf.Tensor2D): Pair {
    const b = embedding.shape[0];
    const width = block.conv2.weight.shape[3];
    const film = tf.reshape(tf.add(tf.matMul(embedding, block.film.weight), block.film.bias), [b, 1, 2 * width]);
    const [scale, offset] = tf.split(film, 2, 2);
    let r = swish(scaleShift(groupNorm(p, this.shape.groups), block.norm.gain, block.norm.shift));
    r = linear(r, (z) => conv3(z, block.conv1.weight), block.conv1.bias);
    r = swish(scaleShift(groupNorm(r, this.shape.groups), tf.add(scale, 1), offset));
    r = linear(r, (z) => conv3(z, block.conv2.weight), block.conv2.bias);
    const skip = block.skip;
    return addPairs(skip ? linear(p, (z) => pointwise(z, skip.weight), skip.bias) : p, r);
  }

  /** v [B, d], and with tangents [K, B, d] their Jacobian-vector products [K, B, d]. */
  private run(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D | null): { v: tf.Tensor2D; jvp?: tf.Tensor3D } {
    const { length, channels, groups } = this.shape;
    const b = x.shape[0];
    const k = tangents ? tangents.shape[0] : 0;
    const extra = this.paddedLength - length;
    const sequences = (flat: tf.Tensor, rows: number) => tf.pad(tf.reshape(flat, [rows, length, channels]), [[0, 0], [0, extra], [0, 0]]);
    let p: Pair = {
      h: sequences(x, b) as tf.Tensor3D,
      dh: tangents && (tf.reshape(sequences(tangents, k * b), [k, b, this.paddedLength, channels]) as tf.Tensor4D),
    };
    const embedding = this.timeEmbedding(t);

    p = linear(p, (z) => conv3(z, this.input.weight), this.input.bias);
    const skips: Pair[] = [];
    for (const level of this.down) {
      for (const block of level.blocks) p = this.resBlock(p, block, embedding);
      skips.push(p);
      const resample = level.resample;
      if (resample) p = linear(p, (z) => downsample(z, resample.weight), resample.bias);
    }
    p = this.resBlock(p, this.middle, embedding);
    for (const level of this.up) {
      p = concatChannels(p, skips.pop()!);
      for (const block of level.blocks) p = this.resBlock(p, block, embedding);
      const resample = level.resample;
      if (resample) p = linear(p, (z) => upsample(z, resample.weight), resample.bias);
    }
    p = swish(scaleShift(groupNorm(p, groups), this.outNorm.gain, this.outNorm.shift));
    p = linear(p, (z) => conv3(z, this.output.weight), this.output.bias);

    const v = tf.reshape(tf.slice(p.h, [0, 0, 0], [b, length, channels]), [b, this.dim]) as tf.Tensor2D;
    if (!p.dh) return { v };
    return { v, jvp: tf.reshape(tf.slice(p.dh, [0, 0, 0, 0], [k, b, length, channels]), [k, b, this.dim]) as tf.Tensor3D };
  }
}

function checkShape(shape: Unet1dShape): void {
  const { multipliers, groups, base, timeEmbedding, ...counts } = shape;
  for (const [name, value] of Object.entries({ ...counts, base, groups, timeEmbedding })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`unet1d: ${name} must be a positive integer, got ${value}`);
  }
  if (timeEmbedding % 2 !== 0) throw new Error(`unet1d: timeEmbedding must be even (sin and cos pairs), got ${timeEmbedding}`);
  if (multipliers.length === 0 || multipliers.some((m) => !Number.isInteger(m) || m < 1)) {
    throw new Error(`unet1d: multipliers must be a non-empty list of positive integers, got [${multipliers}]`);
  }
  const bad = multipliers.find((m) => (base * m) % groups !== 0);
  if (bad !== undefined) throw new Error(`unet1d: groups (${groups}) must divide every level's channels, not ${base} x ${bad}`);
}
