import * as tf from '../backend/tf';
import { FILM_SWISH, fusedKernelsActive } from '../backend/fused-kernels';
import { Rng } from '../random/rng';
import { silu, swishWithDerivative } from './activations';
import { convSame } from './conv';
import { VelocityModel } from './model';
import { ParamFactory } from './params';

export interface ConvFieldShape {
  /** Side g of the latent grid. */
  grid: number;
  /** Channels C of the latent grid: the field lives on R^(g g C), channels-last. */
  channels: number;
  /** Grids of the same shape in each condition row (RIVER: the previous frame and one earlier frame). */
  conditionGrids: number;
  /** Scalars after the grids in each condition row (RIVER: the earlier frame's distance). */
  conditionScalars: number;
  /** Hidden channels of every 3x3 convolution. */
  width: number;
  /** Residual blocks after the input convolution. */
  blocks: number;
}

/** Condition rows of a field: fixed, or drawn anew at every evaluation. */
export type Condition = tf.Tensor2D | (() => tf.Tensor2D);

/** Frequencies (times pi) of the sinusoidal time features, so the embedding resolves t finely. */
const TIME_FREQUENCIES = [1, 2, 4, 8];

/**
 * The FiLM-modulated Swish and its tangents: h = swish(gain a + offset) and, for tangents da
 * [K B, g, g, w] (K blocks of B), hd = da gain swish'(gain a + offset). One native kernel each way
 * where the fused kernels run (backend/fused-kernels.ts), tfjs ops elsewhere.
 */
function filmSwish(a: tf.Tensor4D, film: { gain: tf.Tensor4D; offset: tf.Tensor4D }, da: tf.Tensor4D | null): { h: tf.Tensor4D; hd: tf.Tensor4D | null } {
  const [b, rows, cols, width] = a.shape;
  const k = da ? da.shape[0] / b : 0;
  if (fusedKernelsActive()) {
    const perSample = (x: tf.Tensor) => tf.reshape(x, [b, width]);
    const tangents = da ? tf.reshape(da, [k, b, rows * cols, width]) : tf.zeros([0, b, rows * cols, width]);
    const inputs = { a: tf.reshape(a, [b, rows * cols, width]), gain: perSample(film.gain), offset: perSample(film.offset), da: tangents };
    const [h, hd] = tf.engine().runKernel(FILM_SWISH, inputs) as tf.Tensor[];
    return { h: tf.reshape(h, a.shape), hd: da && tf.reshape(hd, da.shape) };
  }
  const u = tf.add(tf.mul(a, film.gain), film.offset) as tf.Tensor4D;
  if (!da) return { h: silu(u), hd: null };
  const { h, dh } = swishWithDerivative(u);
  const scale = tf.mul(dh, film.gain);
  return { h, hd: tf.reshape(tf.mul(tf.reshape(da, [k, b, rows, cols, width]), scale), da.shape) as tf.Tensor4D };
}

/**
 * A residual convolutional field on a latent grid, for latent video prediction (RIVER uses a
 * transformer over the latent cells with U-Net-style skips, 13 layers 768 wide; on the 8x8 grids
 * here the receptive field of a few 3x3 convolutions covers most of the grid at a fraction of the
 * cost). Translation-equivariant, so moving content is cheap to model, unlike an MLP on the
 * flattened latent.
 *
 *   a_0 = conv(x, Wx) + conv(condition grids, Wc) + b_0
 *   a_i = a_(i-1) + conv(swish((1 + s_i) a_(i-1) + e_i), W_i) + b_i        i = 1..blocks
 *   v   = conv(swish((1 + s_out) a_B + e_out), W_out) + b_out
 *
 * where (s_i, e_i) = M_i swish(E [t, sin(k pi t), cos(k pi t), scalars] + b_E) are a per-channel
 * scale and offset from the time and the condition's scalars (FiLM, as diffusion U-Nets condition
 * on time): the ideal field of a nearly deterministic next frame, (x1 - x) / (1 - t), scales with
 * time, which offsets alone express poorly. The tangent pass (FDM's Jacobian-vector products in
 * x) runs the same convolutions on the tangents: x enters only through Wx, and every later map is
 * a convolution or an elementwise (scaled) swish.
 *
 * The biases are applied through the FiLM offsets instead of over the grid: with c_i = b_0 + ... +
 * b_i, a_i = ã_i + c_i where ã_i sums the convolutions alone, and swish((1 + s) a_i + e) =
 * swish((1 + s) ã_i + (e + (1 + s) c_i)), a [B, width] correction. The same field, without a pass
 * over the whole [B, g, g, width] grid (and its gradient's sum) for every bias.
 */
export class ConvLatentField {
  readonly dim: number;
  readonly variables: tf.Variable[];
  private readonly inputX: tf.Tensor4D;
  private readonly inputCondition: tf.Tensor4D | null;
  private readonly inputBias: tf.Tensor1D;
  private readonly embedIn: tf.Tensor2D;
  private readonly embedBias: tf.Tensor1D;
  /** Per block then the output: the embedding's map to a scale and an offset, [width, 2 width]. */
  private readonly modulations: tf.Tensor2D[] = [];
  private readonly blockWeights: tf.Tensor4D[] = [];
  private readonly blockBiases: tf.Tensor1D[] = [];
  private readonly outWeight: tf.Tensor4D;
  private readonly outBias: tf.Tensor1D;

  constructor(
    readonly shape: ConvFieldShape,
    rng: Rng,
  ) {
    const { grid, channels, conditionGrids, width, blocks } = shape;
    for (const [name, value] of Object.entries(shape)) {
      if (!Number.isInteger(value) || value < (name === 'conditionGrids' || name === 'conditionScalars' ? 0 : 1)) {
        throw new Error(`conv field: ${name} must be a ${name.startsWith('condition') ? 'non-negative' : 'positive'} integer, got ${value}`);
      }
    }
    this.dim = grid * grid * channels;
    const params = new ParamFactory(rng);
    const inputFanIn = 9 * channels * (1 + conditionGrids);
    const make = <T extends tf.Tensor>(dims: number[], fanIn: number) => params.make(dims, fanIn) as unknown as T;
    this.inputX = make([3, 3, channels, width], inputFanIn);
    this.inputCondition = conditionGrids > 0 ? make<tf.Tensor4D>([3, 3, channels * conditionGrids, width], inputFanIn) : null;
    this.inputBias = make([width], inputFanIn);
    const features = this.featureCount();
    this.embedIn = make([features, width], features);
    this.embedBias = make([width], features);
    for (let i = 0; i <= blocks; i++) this.modulations.push(make([width, 2 * width], width));
    for (let i = 0; i < blocks; i++) {
      this.blockWeights.push(make([3, 3, width, width], 9 * width));
      this.blockBiases.push(make([width], 9 * width));
    }
    this.outWeight = make([3, 3, width, channels], 9 * width);
    this.outBias = make([channels], 9 * width);
    this.variables = params.created;
  }

  /** Entries of a condition row: the grids, then the scalars. */
  get conditionWidth(): number {
    return this.shape.conditionGrids * this.dim + this.shape.conditionScalars;
  }

  /**
   * The field v(x, t | condition) as a VelocityModel, condition [B, conditionWidth]: a fixed matrix,
   * or a source called at every evaluation (RIVER draws a new context frame at each solver step;
   * what the source returns is disposed after the evaluation).
   */
  given(condition: Condition): VelocityModel {
    const rows = (): tf.Tensor2D => {
      const matrix = typeof condition === 'function' ? condition() : condition;
      if (matrix.shape[1] !== this.conditionWidth) {
        throw new Error(`conv field: condition rows have ${matrix.shape[1]} entries, expected ${this.conditionWidth}`);
      }
      return matrix;
    };
    if (typeof condition !== 'function') rows();
    return {
      dim: this.dim,
      variables: this.variables,
      forward: (x, t) => tf.tidy(() => this.run(x, t, rows()).v),
      forwardWithTangents: (x, t, tangents) => {
        const { v, jvp } = tf.tidy(() => this.run(x, t, rows(), tangents) as { v: tf.Tensor2D; jvp: tf.Tensor3D });
        return { v, jvp };
      },
      flopsPerSample: () => this.flopsPerSample(),
      dispose: () => undefined,
    };
  }

  flopsPerSample(): number {
    const { grid, channels, conditionGrids, width, blocks } = this.shape;
    const conv = (inputs: number, outputs: number) => 2 * grid * grid * 9 * inputs * outputs;
    const embedding = 2 * width * (this.featureCount() + 2 * (blocks + 1) * width);
    return conv(channels * (1 + conditionGrids), width) + blocks * conv(width, width) + conv(width, channels) + embedding;
  }

  dispose(): void {
    tf.dispose(this.variables);
  }

  private featureCount(): number {
    return 1 + 2 * TIME_FREQUENCIES.length + this.shape.conditionScalars;
  }

  /** Per-channel 1 + scale and offset [B, 1, 1, width] of every block and of the output, from t and the scalars. */
  private modulation(t: tf.Tensor2D, scalars: tf.Tensor2D | null): { gain: tf.Tensor4D; offset: tf.Tensor4D }[] {
    const angles = tf.mul(t, tf.tensor1d(TIME_FREQUENCIES.map((k) => k * Math.PI)));
    const parts = [t, tf.sin(angles), tf.cos(angles), ...(scalars ? [scalars] : [])];
    const features = tf.concat(parts, 1);
    const hidden = silu(tf.add(tf.matMul(features, this.embedIn), this.embedBias));
    const b = t.shape[0];
    const w = this.shape.width;
    return this.modulations.map((m) => {
      const [scale, offset] = tf.split(tf.reshape(tf.matMul(hidden, m), [b, 1, 1, 2 * w]), 2, 3) as tf.Tensor4D[];
      return { gain: tf.add(scale, 1), offset };
    });
  }

  /** v, and with tangents [K, B, d] their Jacobian-vector products, in one pass. */
  private run(x: tf.Tensor2D, t: tf.Tensor2D, condition: tf.Tensor2D, tangents?: tf.Tensor3D): { v: tf.Tensor2D; jvp?: tf.Tensor3D } {
    const { grid, channels, conditionGrids, conditionScalars } = this.shape;
    const b = x.shape[0];
    const asGrid = (flat: tf.Tensor, rows: number, c: number) => tf.reshape(flat, [rows, grid, grid, c]) as tf.Tensor4D;
    const gridPart = conditionGrids > 0 ? tf.slice(condition, [0, 0], [b, conditionGrids * this.dim]) : null;
    const scalars = conditionScalars > 0 ? (tf.slice(condition, [0, conditionGrids * this.dim], [b, conditionScalars]) as tf.Tensor2D) : null;
    const film = this.modulation(t, scalars);

    // ã: the residual stream without its biases; `carried` holds their sum c (see the class comment).
    let a = convSame(asGrid(x, b, channels), this.inputX);
    if (gridPart && this.inputCondition) a = tf.add(a, convSame(this.conditionChannels(gridPart, b), this.inputCondition)) as tf.Tensor4D;
    let carried: tf.Tensor1D = this.inputBias;
    const shifted = ({ gain, offset }: { gain: tf.Tensor4D; offset: tf.Tensor4D }) => ({ gain, offset: tf.add(offset, tf.mul(gain, carried)) as tf.Tensor4D });
    const k = tangents ? tangents.shape[0] : 0;
    let da = tangents ? convSame(asGrid(tangents, k * b, channels), this.inputX) : null;
    for (let i = 0; i < this.blockWeights.length; i++) {
      const { h, hd } = filmSwish(a, shifted(film[i]), da);
      const w = this.blockWeights[i];
      a = tf.add(a, convSame(h, w));
      carried = tf.add(carried, this.blockBiases[i]);
      if (da && hd) da = tf.add(da, convSame(hd, w)) as tf.Tensor4D;
    }
    const { h, hd } = filmSwish(a, shifted(film[film.length - 1]), da);
    const v = tf.reshape(tf.add(convSame(h, this.outWeight), this.outBias), [b, this.dim]) as tf.Tensor2D;
    if (!hd) return { v };
    return { v, jvp: tf.reshape(convSame(hd, this.outWeight), [k, b, this.dim]) as tf.Tensor3D };
  }

  /** Condition grids side by side [g g C | g g C | ...] -> channels [B, g, g, grids * C]. */
  private conditionChannels(flat: tf.Tensor, b: number): tf.Tensor4D {
    const { grid, channels, conditionGrids } = this.shape;
    const grids = tf.reshape(flat, [b, conditionGrids, grid * grid, channels]);
    return tf.reshape(tf.transpose(grids, [0, 2, 1, 3]), [b, grid, grid, conditionGrids * channels]) as tf.Tensor4D;
  }
}
