import * as tf from '../backend/tf';
import { Rng } from '../random/rng';

/**
 * Makes trainable variables from a seeded Rng with PyTorch's default initialisation,
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and keeps the list of what it made.
 */
export class ParamFactory {
  readonly created: tf.Variable[] = [];
  constructor(private readonly rng: Rng) {}

  make(shape: number[], fanIn: number): tf.Variable {
    const size = shape.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const variable = tf.tidy(() => tf.variable(tf.tensor(this.rng.uniformArray(size, -bound, bound), shape), true));
    this.created.push(variable);
    return variable;
  }
}
