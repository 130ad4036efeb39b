import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { Mlp } from '../src/models/mlp';
import { PreconditionedField } from '../src/models/preconditioned';
import { affineSchedule, veScales } from '../src/paths/affine';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertClose } from './helpers/numeric';

describe('the preconditioned field on the VE path', () => {
  before(useTestBackend);

  it("its scales are 1/sqrt(s^2 + sigma_t^2) and |sigma_t'| of the VE schedule", () => {
    const ve = affineSchedule('ve');
    const s = 0.7;
    const scales = veScales(s);
    const times = [0, 0.3, 0.7, 0.99, 0.99999];
    const [cIn, cOut] = tf.tidy(() => [scales.inputScale(tf.tensor2d(times, [5, 1])).dataSync(), scales.outputScale(tf.tensor2d(times, [5, 1])).dataSync()]);
    times.forEach((time, i) => {
      // The field receives t in float32 (near t = 1, 1 - t differs from the float64 value by 0.1%).
      const t = Math.fround(time);
      assertClose(cIn[i], 1 / Math.sqrt(s * s + ve.sigma(t) ** 2), 0, 1e-5, `c_in at t=${t}`);
      assertClose(cOut[i], Math.abs(ve.dSigma(t)), 0, 1e-4, `c_out at t=${t}`);
    });
    const atEnd = tf.tidy(() => scales.outputScale(tf.tensor2d([1], [1, 1])).dataSync()[0]);
    assert.ok(Number.isFinite(atEnd), 'c_out is finite at t = 1 (taken at T_MAX)');
  });

  it('v = c_out F(c_in x, t), its JVPs a finite difference of v, and the loss weight 1/c_out^2', () => {
    const dim = 4;
    const inner = new Mlp({ dim, hidden: 16, depth: 2 }, new Rng('preconditioned-init'));
    const scales = veScales(0.7);
    const field = new PreconditionedField(inner, scales);
    const rng = new Rng('preconditioned');
    const x = tf.tensor2d(rng.normalArray(3 * dim).map((v) => 5 * v), [3, dim]);
    const t = tf.tensor2d([0.2, 0.6, 0.95], [3, 1]);
    const tangents = tf.tensor3d(rng.normalArray(2 * 3 * dim), [2, 3, dim]);
    tf.tidy(() => {
      const [cIn, cOut] = [scales.inputScale(t), scales.outputScale(t)];
      const expected = tf.mul(cOut, inner.forward(tf.mul(cIn, x) as tf.Tensor2D, t)).dataSync();
      const { v, jvp } = field.forwardWithTangents(x, t, tangents);
      v.dataSync().forEach((value, i) => assertClose(value, expected[i], 1e-5, 1e-5, `v[${i}]`));
      field.forward(x, t).dataSync().forEach((value, i) => assertClose(value, expected[i], 1e-5, 1e-5, `forward v[${i}]`));
      const h = 1e-2;
      for (let k = 0; k < 2; k++) {
        const z = tf.squeeze(tf.slice(tangents, [k, 0, 0], [1, 3, dim]), [0]) as tf.Tensor2D;
        const difference = tf.div(tf.sub(field.forward(tf.add(x, tf.mul(h, z)) as tf.Tensor2D, t), field.forward(tf.sub(x, tf.mul(h, z)) as tf.Tensor2D, t)), 2 * h).dataSync();
        const analytic = tf.slice(jvp, [k, 0, 0], [1, 3, dim]).dataSync();
        analytic.forEach((value, i) => assertClose(value, difference[i], 1e-2, 1e-2, `JVP ${k} [${i}]`));
      }
      const weights = field.lossWeight(t).dataSync();
      const outputScales = cOut.dataSync();
      weights.forEach((w, i) => assertClose(w, 1 / outputScales[i] ** 2, 0, 1e-5, `loss weight ${i}`));
    });
    tf.dispose([x, t, tangents]);
    field.dispose();
  });
});
