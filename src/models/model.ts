import * as tf from '../backend/tf';

/** Output of a forward pass that also carries Jacobian-vector products. */
export interface TangentOutput {
  /** v(x, t), [B, d]. */
  v: tf.Tensor2D;
  /** J_x v(x, t) z_k for each tangent z_k, [K, B, d]. */
  jvp: tf.Tensor3D;
}

/** A learned velocity field v_theta(x, t) on R^d that yields Jacobian-vector products in x. */
export interface VelocityModel {
  readonly dim: number;
  readonly variables: tf.Variable[];
  /** v(x, t) for x [B, d] and t [B, 1]. */
  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D;
  /** v and J z_k for tangents z [K, B, d], in one forward pass (forward-mode by construction). */
  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput;
  /** Per-sample weights [B] of the training loss at times t [B, 1], where the field's parameterisation asks for them (a preconditioned field). */
  lossWeight?(t: tf.Tensor2D): tf.Tensor1D;
  /** Floating-point operations of one forward pass per sample (for GFLOP/s reports). */
  flopsPerSample(): number;
  dispose(): void;
}
