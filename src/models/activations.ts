import * as tf from '../backend/tf';

/** Swish (SiLU) x * sigmoid(x), the activation of every network in the suite. */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Swish a * sigmoid(a) and its derivative s (1 + a (1 - s)): what a forward-mode tangent pass
 * multiplies its tangents by.
 */
export function swishWithDerivative<T extends tf.Tensor>(a: T): { h: T; dh: T } {
  const s = tf.sigmoid(a);
  const h = tf.mul(a, s) as T;
  const dh = tf.mul(s, tf.add(1, tf.mul(a, tf.sub(1, s)))) as T;
  return { h, dh };
}
