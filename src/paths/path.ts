import * as tf from '../backend/tf';

/**
 * The conditional quantities of a probability path p_t(x | x1) at a batch of points, everything a
 * CFM or FDM loss needs (docs/math.md section 2). Shapes: B samples of dimension d.
 */
export interface ConditionalQuantities {
  /** Conditional velocity u_t(x | x1), [B, d]. */
  u: tf.Tensor2D;
  /** Divergence of u_t(. | x1) at x, [B]. */
  divU: tf.Tensor1D;
  /** Score grad_x log p_t(x | x1), [B, d]. */
  score: tf.Tensor2D;
  /** Diagonal of the Jacobian du/dx, [B, d] (the reference code's d_u_t). */
  duDiag: tf.Tensor2D;
  /** Weight w_t of the divergence residual, [B]. */
  weight: tf.Tensor1D;
}

export interface PathSample extends ConditionalQuantities {
  /** Times, [B, 1]. */
  t: tf.Tensor2D;
  /** Points x_t ~ p_t(. | x1), [B, d]. */
  xt: tf.Tensor2D;
}

/** A conditional probability path from a noise sample x0 to a data sample x1. */
export interface ConditionalPath {
  readonly name: string;
  /** x_t and its conditional quantities for noise x0, data x1 and times t (length B). */
  sample(x0: tf.Tensor2D, x1: tf.Tensor2D, t: Float32Array): PathSample;
  /** The conditional quantities at arbitrary points x (used by tests and diagnostics). */
  conditionalAt(x: tf.Tensor2D, x1: tf.Tensor2D, t: Float32Array): ConditionalQuantities;
  /** log p_t(x | x1) in float64, an independent reference for numerical checks. */
  logDensity(x: Float64Array, x1: Float64Array, t: number): number;
}

/** Disposes every tensor of a path sample or of conditional quantities. */
export function disposeQuantities(q: ConditionalQuantities | PathSample): void {
  tf.dispose(Object.values(q) as tf.Tensor[]);
}
