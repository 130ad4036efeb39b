import * as tf from '../backend/tf';
import { LAYER_NORM, RELU_DENSE, fusedKernelsActive } from '../backend/fused-kernels';
import { Rng } from '../random/rng';

export interface SimplexCnnShape {
  /** Sequence length L. */
  length: number;
  /** Classes per position K (the simplex has K vertices). */
  classes: number;
  hidden: number;
  /** Residual dilated convolution layers (Dirichlet FM's CNN has 5). */
  layers: number;
  /** Convolution kernel width (9 in Dirichlet FM). */
  kernel: number;
}

/** Dilations of Dirichlet FM's CNN stack, repeated when there are more layers. */
const DILATIONS = [1, 1, 4, 16, 64];
/** Standard deviation of the fixed Fourier frequencies of the time embedding (time scaled to [0, 1]). */
const FOURIER_SCALE = 16;
const LAYER_NORM_EPS = 1e-5;

/** Logits [B, L, K] and, per tangent z_k, the logits' directional derivative J z_k [T, B, L, K]. */
export interface LogitTangents {
  logits: tf.Tensor3D;
  jvp: tf.Tensor4D;
}

/** A denoiser p(k | x, t) over K classes per position, with forward-mode JVPs of its logits in x. */
export interface SimplexDenoiser {
  logits(x: tf.Tensor3D, tau: tf.Tensor2D): tf.Tensor3D;
  /** Logits and their JVPs along tangents [T, B, L, K], in one forward pass. */
  logitsWithTangents(x: tf.Tensor3D, tau: tf.Tensor2D, tangents: tf.Tensor4D): LogitTangents;
}

/**
 * A 'same' zero-padded 1D convolution over [N, L, C], applied to whole sequences as one matrix
 * product: x [N, L C] times the block-Toeplitz matrix whose block (l', l) is the kernel tap that
 * links input position l' to output position l (zero if none). For the short sequences of the toy
 * (L = 4) this beats sliding the kernel: no shifted copies of the activations, no padding, no
 * concatenation (whose gradient, a split, is slow on wasm), and taps that would only ever see the
 * padding (with L = 4 and dilation 16 all but the centre) cost nothing. Its cost grows as L^2,
 * so long sequences would want the sliding form instead. When only the centre tap can reach
 * (1x1 kernels, dilation >= L) the matrix is block-diagonal and the convolution is applied per
 * position instead, L times cheaper.
 */
export class Conv1d {
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;
  /** placement[l' L + l, j] = 1 where l' - l is tap j's offset times the dilation. */
  private readonly placement: tf.Tensor2D;
  /** Whether only the centre tap ever meets the sequence. */
  private readonly pointwise: boolean;

  constructor(
    private readonly inChannels: number,
    readonly outChannels: number,
    private readonly kernel: number,
    dilation: number,
    private readonly length: number,
    rng: Rng,
  ) {
    // PyTorch's Conv1d default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const bound = 1 / Math.sqrt(inChannels * kernel);
    const init = (size: number) => rng.uniformArray(size, -bound, bound);
    // Rows are tap-major: rows [j C, (j + 1) C) hold tap j's [C, H] matrix.
    this.weight = tf.variable(tf.tensor2d(init(kernel * inChannels * outChannels), [kernel * inChannels, outChannels]));
    this.bias = tf.variable(tf.tensor1d(init(outChannels)));
    const centre = (kernel - 1) / 2;
    const placement = new Float32Array(length * length * kernel);
    for (let from = 0; from < length; from++) {
      for (let to = 0; to < length; to++) {
        const tap = centre + (from - to) / dilation;
        if (Number.isInteger(tap) && tap >= 0 && tap < kernel) placement[(from * length + to) * kernel + tap] = 1;
      }
    }
    this.placement = tf.tensor2d(placement, [length * length, kernel]);
    this.pointwise = kernel === 1 || dilation >= length;
  }

  get variables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  /** Multiply-adds per sequence. */
  get macsPerSequence(): number {
    return (this.pointwise ? 1 : this.length) * this.length * this.inChannels * this.outChannels;
  }

  /**
   * The [L C, L H] block-Toeplitz matrix of the kernel, or its centre tap [C, H] when the
   * convolution is pointwise; build it once per pass and share it with the tangents.
   */
  matrix(): tf.Tensor2D {
    const { length, inChannels, outChannels, kernel } = this;
    if (this.pointwise) return tf.slice(this.weight, [((kernel - 1) / 2) * inChannels, 0], [inChannels, outChannels]);
    const blocks = tf.matMul(this.placement, tf.reshape(this.weight, [kernel, inChannels * outChannels]));
    const arranged = tf.transpose(tf.reshape(blocks, [length, length, inChannels, outChannels]), [0, 2, 1, 3]);
    return tf.reshape(arranged, [length * inChannels, length * outChannels]);
  }

  /** The linear part (no bias) with a prebuilt matrix: what tangents go through. */
  linear(x: tf.Tensor3D, matrix: tf.Tensor2D): tf.Tensor3D {
    const [n] = x.shape;
    const rows = this.pointwise ? [n * this.length, this.inChannels] : [n, this.length * this.inChannels];
    return tf.reshape(tf.matMul(tf.reshape(x, rows), matrix), [n, this.length, this.outChannels]);
  }

  apply(x: tf.Tensor3D, matrix: tf.Tensor2D = this.matrix()): tf.Tensor3D {
    return tf.add(this.linear(x, matrix), this.bias);
  }

  /**
   * The convolution on ReLU and its JVPs: h = relu(conv(x) + b) and, for tangents dx [T, N, L, C],
   * dh = conv(dx) step(conv(x) + b). One native kernel each way where the fused kernels run
   * (backend/fused-kernels.ts), tfjs ops elsewhere.
   */
  reluApply(x: tf.Tensor3D, dx: tf.Tensor4D | null, matrix: tf.Tensor2D): { h: tf.Tensor3D; dh: tf.Tensor4D | null } {
    const [n, length] = x.shape;
    const outShape: [number, number, number] = [n, length, this.outChannels];
    const tangentShape: [number, number, number, number] = [dx ? dx.shape[0] : 0, ...outShape];
    if (fusedKernelsActive()) {
      const rowWidth = matrix.shape[0];
      const primal = tf.reshape(x, [-1, rowWidth]);
      const z = dx ? tf.reshape(dx, [-1, rowWidth]) : tf.zeros([0, rowWidth]);
      const [h, dh] = tf.engine().runKernel(RELU_DENSE, { x: primal, z, w: matrix, b: this.bias }) as tf.Tensor[];
      return { h: tf.reshape(h, outShape), dh: dx && tf.reshape(dh, tangentShape) };
    }
    const a = this.apply(x, matrix);
    const h = tf.relu(a);
    if (!dx) return { h, dh: null };
    const linear = this.linear(tf.reshape(dx, [-1, length, this.inChannels]), matrix);
    // The step function (0 at 0) is ReLU's derivative; its own gradient is zero.
    return { h, dh: tf.mul(tf.reshape(linear, tangentShape), tf.step(a)) as tf.Tensor4D };
  }

  dispose(): void {
    tf.dispose([this.weight, this.bias, this.placement]);
  }
}

class Dense {
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;

  constructor(inputs: number, outputs: number, rng: Rng) {
    const bound = 1 / Math.sqrt(inputs);
    this.weight = tf.variable(tf.tensor2d(rng.uniformArray(inputs * outputs, -bound, bound), [inputs, outputs]));
    this.bias = tf.variable(tf.tensor1d(rng.uniformArray(outputs, -bound, bound)));
  }

  get variables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.weight), this.bias);
  }
}

class LayerNorm {
  readonly gain: tf.Variable<tf.Rank.R1>;
  readonly shift: tf.Variable<tf.Rank.R1>;

  constructor(channels: number) {
    this.gain = tf.variable(tf.ones([channels]) as tf.Tensor1D);
    this.shift = tf.variable(tf.zeros([channels]) as tf.Tensor1D);
  }

  get variables(): tf.Variable[] {
    return [this.gain, this.shift];
  }

  /**
   * y = gain (h - mean) / sd + shift over the channels, and the tangents dh [T, ...] mapped:
   * dy = gain / sd (dh - mean(dh) - n mean(n dh)) with n the normalised h. One native kernel each
   * way where the fused kernels run (backend/fused-kernels.ts), tfjs ops elsewhere.
   */
  normalise(h: tf.Tensor3D, dh: tf.Tensor4D | null): { y: tf.Tensor3D; dy: tf.Tensor4D | null } {
    if (fusedKernelsActive()) {
      const tangents = dh ?? tf.zeros([0, ...h.shape]);
      const [y, dy] = tf.engine().runKernel(LAYER_NORM, { h, dh: tangents, gain: this.gain, shift: this.shift }, { eps: LAYER_NORM_EPS }) as tf.Tensor[];
      return { y: y as tf.Tensor3D, dy: dh ? (dy as tf.Tensor4D) : null };
    }
    const { mean, variance } = tf.moments(h, -1, true);
    const invSd = tf.rsqrt(tf.add(variance, LAYER_NORM_EPS));
    const normed = tf.mul(tf.sub(h, mean), invSd);
    const y = tf.add(tf.mul(normed, this.gain), this.shift) as tf.Tensor3D;
    if (!dh) return { y, dy: null };
    const centred = tf.sub(dh, tf.mean(dh, -1, true));
    const correction = tf.mul(normed, tf.mean(tf.mul(normed, dh), -1, true));
    return { y, dy: tf.mul(tf.mul(tf.sub(centred, correction), invSd), this.gain) as tf.Tensor4D };
  }
}

/** Applies a per-position linear map to a stack of tangents [T, B, L, C] -> [T, B, L, C']. */
function stacked(tangents: tf.Tensor4D, map: (x: tf.Tensor3D) => tf.Tensor3D): tf.Tensor4D {
  const [count, batch, length, channels] = tangents.shape;
  const out = map(tf.reshape(tangents, [count * batch, length, channels]));
  return tf.reshape(out, [count, batch, length, out.shape[2]]);
}

/**
 * Dirichlet flow matching's denoiser CNN (Stark et al. 2024): a kernel-9 input convolution, residual
 * blocks of (time embedding added, LayerNorm, dilated convolution, ReLU), then two 1x1 convolutions
 * to K logits per position. Time enters through fixed Gaussian Fourier features. Like the MLP, it
 * carries tangents forward alongside the activations, so the Jacobian-vector products the FDM loss
 * needs come out of one pass and training needs only first-order gradients.
 */
export class SimplexCnn implements SimplexDenoiser {
  readonly variables: tf.Variable[];
  private readonly frequencies: tf.Tensor2D;
  private readonly timeDense: Dense;
  private readonly input: Conv1d;
  private readonly blocks: { time: Dense; norm: LayerNorm; conv: Conv1d }[];
  private readonly head: [Conv1d, Conv1d];

  constructor(readonly shape: SimplexCnnShape, rng: Rng) {
    const { length, classes, hidden, layers, kernel } = shape;
    const half = Math.ceil(hidden / 2);
    this.frequencies = tf.tensor2d(rng.normalArray(half).map((w) => w * FOURIER_SCALE * 2 * Math.PI), [1, half]);
    this.timeDense = new Dense(2 * half, hidden, rng);
    this.input = new Conv1d(classes, hidden, kernel, 1, length, rng);
    this.blocks = Array.from({ length: layers }, (_, i) => ({
      time: new Dense(hidden, hidden, rng),
      norm: new LayerNorm(hidden),
      conv: new Conv1d(hidden, hidden, kernel, DILATIONS[i % DILATIONS.length], length, rng),
    }));
    this.head = [new Conv1d(hidden, hidden, 1, 1, length, rng), new Conv1d(hidden, classes, 1, 1, length, rng)];
    this.variables = [
      ...this.timeDense.variables,
      ...this.input.variables,
      ...this.blocks.flatMap((b) => [...b.time.variables, ...b.norm.variables, ...b.conv.variables]),
      ...this.head.flatMap((c) => c.variables),
    ];
  }

  logits(x: tf.Tensor3D, tau: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => this.pass(x, tau, null).logits);
  }

  logitsWithTangents(x: tf.Tensor3D, tau: tf.Tensor2D, tangents: tf.Tensor4D): LogitTangents {
    return tf.tidy(() => {
      const { logits, jvp } = this.pass(x, tau, tangents);
      return { logits, jvp: jvp! };
    });
  }

  /** Floating-point operations of one forward pass per sequence (two per multiply-add). */
  flopsPerSample(): number {
    const { hidden } = this.shape;
    const convs = [this.input, ...this.blocks.map((b) => b.conv), ...this.head];
    const timeMacs = this.timeDense.weight.shape[0] * hidden + this.blocks.length * hidden * hidden;
    return 2 * (convs.reduce((acc, c) => acc + c.macsPerSequence, 0) + timeMacs);
  }

  dispose(): void {
    const convs = [this.input, ...this.blocks.map((b) => b.conv), ...this.head];
    const others = [...this.timeDense.variables, ...this.blocks.flatMap((b) => [...b.time.variables, ...b.norm.variables])];
    tf.dispose([...others, this.frequencies]);
    for (const conv of convs) conv.dispose();
  }

  private timeEmbedding(tau: tf.Tensor2D): tf.Tensor2D {
    const angles = tf.matMul(tau, this.frequencies);
    return tf.relu(this.timeDense.apply(tf.concat([tf.sin(angles), tf.cos(angles)], 1) as tf.Tensor2D));
  }

  private pass(x: tf.Tensor3D, tau: tf.Tensor2D, tangents: tf.Tensor4D | null): { logits: tf.Tensor3D; jvp: tf.Tensor4D | null } {
    const time = this.timeEmbedding(tau);
    const first = this.input.reluApply(x, tangents, this.input.matrix());
    let [feat, dFeat] = [first.h, first.dh];
    for (const block of this.blocks) {
      const withTime = tf.add(feat, tf.expandDims(block.time.apply(time), 1)) as tf.Tensor3D;
      const { y, dy } = block.norm.normalise(withTime, dFeat);
      const act = block.conv.reluApply(y, dy, block.conv.matrix());
      feat = tf.add(feat, act.h) as tf.Tensor3D;
      if (dFeat && act.dh) dFeat = tf.add(dFeat, act.dh) as tf.Tensor4D;
    }
    const [inner, outer] = this.head;
    const hidden = inner.reluApply(feat, dFeat, inner.matrix());
    const outerMatrix = outer.matrix();
    const logits = outer.apply(hidden.h, outerMatrix);
    if (!hidden.dh) return { logits, jvp: null };
    return { logits, jvp: stacked(hidden.dh, (z) => outer.linear(z, outerMatrix)) };
  }
}
