import * as tf from '../backend/tf';
import { TangentOutput, VelocityModel } from './model';

/**
 * The exact marginal velocity of the CondOT path x_t = t x1 + (1 - t) x0, x0 ~ N(0, I), for data
 * x1 ~ N(mu, s^2 I). x_t is Gaussian with mean t mu and variance V_t = t^2 s^2 + (1 - t)^2 per
 * coordinate, and Cov(x1 - x0, x_t) = t s^2 - (1 - t), so
 *   u_t(x) = E[x1 - x0 | x_t = x] = mu + c_t (x - t mu),   c_t = (t s^2 - (1 - t)) / V_t = V_t' / (2 V_t).
 * Its Jacobian is c_t I and div u = d c_t. The flow map is x_t = t mu + sqrt(V_t) x0, so the pushed-
 * forward density at t = 1 is exactly N(mu, s^2 I): a known answer for samplers and likelihoods.
 */
export class GaussianMarginalField implements VelocityModel {
  readonly dim: number;
  readonly variables: tf.Variable[] = [];
  private readonly mean: tf.Tensor1D;

  constructor(mean: ArrayLike<number>, readonly std: number) {
    if (!(std > 0)) throw new Error(`GaussianMarginalField: std must be positive, got ${std}`);
    this.dim = mean.length;
    this.mean = tf.keep(tf.tensor1d(Array.from(mean)));
  }

  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(this.mean, tf.mul(this.jacobianScale(t), tf.sub(x, tf.mul(t, this.mean)))));
  }

  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    return tf.tidy(() => {
      const scale = this.jacobianScale(t);
      const v = tf.add(this.mean, tf.mul(scale, tf.sub(x, tf.mul(t, this.mean)))) as tf.Tensor2D;
      const jvp = tf.mul(tf.reshape(scale, [1, -1, 1]), tangents) as tf.Tensor3D;
      return { v, jvp };
    });
  }

  flopsPerSample(): number {
    // About 8 for c_t, then t mu, the difference, the scaling and the shift per coordinate.
    return 8 + 4 * this.dim;
  }

  dispose(): void {
    this.mean.dispose();
  }

  /** c_t for each row of t [B, 1], as [B, 1]. */
  private jacobianScale(t: tf.Tensor2D): tf.Tensor2D {
    const variance = this.std * this.std;
    const oneMinusT = tf.sub(1, t);
    const numerator = tf.sub(tf.mul(t, variance), oneMinusT);
    const denominator = tf.add(tf.mul(tf.square(t), variance), tf.square(oneMinusT));
    return tf.div(numerator, denominator);
  }
}
