import * as tf from '../backend/tf';
import { TangentOutput, VelocityModel } from './model';

/**
 * The scale of a path's state and of its velocity at time t, as tf functions of a times column
 * [B, 1] (the field receives t as a tensor, which a GPU backend cannot read synchronously).
 */
export interface PathScales {
  /** 1 / the standard deviation of x_t (data of unit scale): what the network's input is multiplied by. */
  inputScale(t: tf.Tensor2D): tf.Tensor2D;
  /** The standard deviation of the conditional velocity u_t: what the network's output is multiplied by. */
  outputScale(t: tf.Tensor2D): tf.Tensor2D;
}

/**
 * v(x, t) = c_out(t) F(c_in(t) x, t) (Karras et al.'s preconditioning, which the FDM authors' VE runs
 * use): on the variance-exploding path x_t spans 300 to 1e-3 in scale and u_t 3800 to 0, so the
 * network F sees inputs and produces outputs of unit scale at every t. The Jacobian in x is
 * c_out c_in J_F, so a tangent z of x is c_in z for F and F's tangent output is scaled by c_out.
 */
export class PreconditionedField implements VelocityModel {
  readonly dim: number;
  readonly variables: tf.Variable[];

  constructor(
    private readonly inner: VelocityModel,
    private readonly scales: PathScales,
  ) {
    this.dim = inner.dim;
    this.variables = inner.variables;
  }

  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.mul(this.scales.outputScale(t), this.inner.forward(tf.mul(this.scales.inputScale(t), x) as tf.Tensor2D, t)) as tf.Tensor2D);
  }

  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    return tf.tidy(() => {
      const [cIn, cOut] = [this.scales.inputScale(t), this.scales.outputScale(t)];
      const { v, jvp } = this.inner.forwardWithTangents(tf.mul(cIn, x) as tf.Tensor2D, t, tf.mul(cIn, tangents) as tf.Tensor3D);
      return { v: tf.mul(cOut, v) as tf.Tensor2D, jvp: tf.mul(cOut, jvp) as tf.Tensor3D };
    });
  }

  /**
   * Per-sample weights 1/c_out(t)^2 of the training loss, [B]: the squared error of c_out F is
   * c_out^2 times F's, which would let the largest-scale times (t near 0 on VE) drown the rest; any
   * positive weight per time keeps the true field the minimiser (the authors weight by 1/sigma'(t)^2).
   */
  lossWeight(t: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.reshape(tf.reciprocal(tf.square(this.scales.outputScale(t))), [-1]) as tf.Tensor1D);
  }

  flopsPerSample(): number {
    return this.inner.flopsPerSample();
  }

  dispose(): void {
    this.inner.dispose();
  }
}
