import * as tf from '../backend/tf';
import { Rng } from '../random/rng';
import { fusedKernelsActive } from '../backend/fused-kernels';
import { swishWithDerivative } from './activations';
import { fusedSwishDense } from './swish-dense';
import { TangentOutput, VelocityModel } from './model';

export interface MlpShape {
  dim: number;
  hidden: number;
  /** Number of hidden layers (each Linear + Swish); the reference checkerboard model has 4. */
  depth: number;
}

/** Matrix product of a [K, B, n] stack of tangents with a [n, m] weight. */
function stackedMatMul(stack: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
  const [k, b, n] = stack.shape;
  return tf.reshape(tf.matMul(tf.reshape(stack, [k * b, n]), w), [k, b, w.shape[1]]);
}

/**
 * The checkerboard MLP: [x, t] -> hidden (Swish) x depth -> d. The first layer's weight is kept
 * as an x part and a t part so that tangents, which have no t component, skip the concat.
 * Initialisation follows PyTorch's nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 *
 * Two layouts of the same function: where the fused kernels run (wasm on OpenBLAS), the tangents
 * travel as row blocks under the primal, [x; z_1; ...; z_K], through one fused kernel per layer and
 * direction (models/swish-dense.ts); elsewhere primal and tangents are separate tensors through
 * tfjs ops, since slicing and concatenating a stack costs copies on the stock kernels.
 */
export class Mlp implements VelocityModel {
  readonly dim: number;
  readonly variables: tf.Variable[];
  private readonly inputX: tf.Variable<tf.Rank.R2>;
  private readonly inputT: tf.Variable<tf.Rank.R2>;
  private readonly weights: tf.Variable<tf.Rank.R2>[];
  private readonly biases: tf.Variable<tf.Rank.R1>[];

  constructor(readonly shape: MlpShape, rng: Rng) {
    this.dim = shape.dim;
    const { dim, hidden, depth } = shape;
    const param = <R extends tf.Rank>(shape: tf.ShapeMap[R], fanIn: number) =>
      tf.tidy(() => {
        const size = shape.reduce((a, b) => a * b, 1);
        const values = rng.uniformArray(size, -1, 1).map((u) => u / Math.sqrt(fanIn));
        return tf.variable(tf.tensor(values, shape), true) as unknown as tf.Variable<R>;
      });
    const firstFanIn = dim + 1;
    this.inputX = param([dim, hidden], firstFanIn);
    this.inputT = param([1, hidden], firstFanIn);
    this.weights = [];
    this.biases = [param([hidden], firstFanIn)];
    for (let layer = 1; layer <= depth; layer++) {
      const out = layer === depth ? dim : hidden;
      this.weights.push(param([hidden, out], hidden));
      this.biases.push(param([out], hidden));
    }
    this.variables = [this.inputX, this.inputT, ...this.weights, ...this.biases];
  }

  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      if (fusedKernelsActive()) return this.stackedForward(x, t, null);
      let h = this.firstPreActivation(x, t);
      for (let layer = 0; layer < this.weights.length; layer++) {
        const act = tf.mul(h, tf.sigmoid(h));
        h = tf.add(tf.matMul(act, this.weights[layer]), this.biases[layer + 1]);
      }
      return h as tf.Tensor2D;
    });
  }

  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    return tf.tidy(() => {
      if (fusedKernelsActive()) {
        const { v, jvp } = this.stackedForwardWithTangents(x, t, tangents);
        return { v, jvp };
      }
      let a = this.firstPreActivation(x, t);
      let da = stackedMatMul(tangents, this.inputX);
      for (let layer = 0; layer < this.weights.length; layer++) {
        const { h, dh } = swishWithDerivative(a);
        const w = this.weights[layer];
        a = tf.add(tf.matMul(h, w), this.biases[layer + 1]);
        da = stackedMatMul(tf.mul(da, dh) as tf.Tensor3D, w);
      }
      return { v: a as tf.Tensor2D, jvp: da };
    });
  }

  flopsPerSample(): number {
    const { dim, hidden, depth } = this.shape;
    // Multiply-adds of every weight matrix, two flops each.
    return 2 * ((dim + 1) * hidden + (depth - 1) * hidden * hidden + hidden * dim);
  }

  dispose(): void {
    tf.dispose(this.variables);
  }

  private stackedForwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    const [k, batch, dim] = tangents.shape;
    const out = this.stackedForward(x, t, tf.reshape(tangents, [k * batch, dim]) as tf.Tensor2D);
    const v = tf.slice(out, [0, 0], [batch, dim]) as tf.Tensor2D;
    const jvp = tf.reshape(tf.slice(out, [batch, 0], [k * batch, dim]), [k, batch, dim]) as tf.Tensor3D;
    return { v, jvp };
  }

  /**
   * The output rows [v; J z_1; ...; J z_K] for the input rows [x; z_1; ...; z_K] (tangents [KB, d]
   * or none). The first layer's input rows are [x, t, 1] for the primal and [z_k, 0, 0] for a
   * tangent, which has no t component and no bias, against the weight [W_x; W_t; b].
   */
  private stackedForward(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor2D | null): tf.Tensor2D {
    const batch = x.shape[0];
    const primalInput = tf.concat([x, t, tf.onesLike(t)], 1);
    const input = tangents ? tf.concat([primalInput, tf.pad(tangents, [[0, 0], [0, 2]])], 0) : primalInput;
    const firstWeight = tf.concat([this.inputX, this.inputT, tf.reshape(this.biases[0], [1, -1])], 0);
    let z = tf.matMul(input, firstWeight) as tf.Tensor2D;
    for (let layer = 0; layer < this.weights.length; layer++) {
      z = fusedSwishDense(z, this.weights[layer], this.biases[layer + 1], batch);
    }
    return z;
  }

  private firstPreActivation(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor {
    // The time column is a broadcast product, cheaper than a matMul.
    return tf.add(tf.add(tf.matMul(x, this.inputX), tf.mul(t, this.inputT)), this.biases[0]);
  }
}
