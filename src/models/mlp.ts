import * as tf from '../backend/tf';
import { Rng } from '../random/rng';
import { swishWithDerivative } from './activations';
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

  private firstPreActivation(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor {
    // The time column is a broadcast product, cheaper than a matMul.
    return tf.add(tf.add(tf.matMul(x, this.inputX), tf.mul(t, this.inputT)), this.biases[0]);
  }
}
