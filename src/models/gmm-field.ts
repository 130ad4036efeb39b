import * as tf from '../backend/tf';
import { GaussianMixturePath } from '../paths/gaussian-mixture-path';
import { TangentOutput, VelocityModel } from './model';

/**
 * The exact marginal field as a VelocityModel (no parameters), so that the likelihood, sampling
 * and bound code can be checked on a flow whose answers are known. Computed in float64 on the CPU
 * from its inputs' values, which it reads synchronously: on webgpu, use it under
 * withSynchronousReads (backend/backend.ts), as the gmm tasks do.
 */
export class MixtureMarginalField implements VelocityModel {
  readonly dim: number;
  readonly variables: tf.Variable[] = [];

  constructor(readonly path: GaussianMixturePath) {
    this.dim = path.dim;
  }

  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    return this.forwardWithTangents(x, t, tf.zeros([0, x.shape[0], this.dim]) as tf.Tensor3D).v;
  }

  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    const [batch, d] = x.shape;
    const k = tangents.shape[0];
    const xs = x.dataSync(), ts = t.dataSync(), zs = tangents.dataSync();
    const v = new Float32Array(batch * d);
    const jvp = new Float32Array(k * batch * d);
    for (let b = 0; b < batch; b++) {
      const local = this.path.local(xs.subarray(b * d, (b + 1) * d), ts[b]);
      v.set(local.point.velocity, b * d);
      for (let j = 0; j < k; j++) {
        const offset = (j * batch + b) * d;
        jvp.set(local.jacobianTimes(zs.subarray(offset, offset + d)), offset);
      }
    }
    return { v: tf.tensor2d(v, [batch, d]), jvp: tf.tensor3d(jvp, [k, batch, d]) };
  }

  flopsPerSample(): number {
    return 0;
  }

  dispose(): void {}
}
