import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { basisTangents, traceFromBasis } from '../src/losses/divergence';
import { mulStack, Unet1d, Unet1dShape } from '../src/models/unet1d';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

/** Tiny instances: 6 steps pad to 8 for three levels, so the finite-difference checks cover the padding too. */
const TINY: Unet1dShape = { length: 6, channels: 3, base: 4, multipliers: [1, 2, 2], groups: 2, blocksPerLevel: 1, timeEmbedding: 8 };
const BATCH = 3;

/** Float32 unit roundoff. */
const U = 2 ** -24;
/**
 * Rounding allowed in one float32 forward pass, in units of U max|v|: ~40 sequential ops each round
 * to half an ulp, and the measured spread of (v(x + eps z) - v(x - eps z)) at tiny eps is ~5 U max|v|.
 */
const FORWARD_ULPS = 64;
/** The central-difference step that balances eps^2 truncation against rounding / eps: U^(1/3). */
const EPS = Math.cbrt(U);

function setup(seed: string, shape: Unet1dShape = TINY, batch = BATCH) {
  const rng = new Rng(seed);
  const model = new Unet1d(shape, rng.fork('init'));
  const x = tf.tensor2d(rng.normalArray(batch * model.dim), [batch, model.dim]);
  const t = tf.tensor2d(rng.uniformArray(batch), [batch, 1]);
  return { rng, model, x, t };
}

/** v(x + s z_k) for every tangent z_k [K, B, d], as one batch: [K][B][d]. */
function shifted(model: Unet1d, x: tf.Tensor2D, t: tf.Tensor2D, z: tf.Tensor3D, s: number): number[][][] {
  return tf.tidy(() => {
    const [k, b, d] = z.shape;
    const points = tf.reshape(tf.add(x, tf.mul(z, s)), [k * b, d]) as tf.Tensor2D;
    const v = model.forward(points, tf.tile(t, [k, 1]) as tf.Tensor2D);
    return tf.reshape(v, [k, b, d]).arraySync() as number[][][];
  });
}

/**
 * Central differences (v(x + eps z) - v(x - eps z)) / (2 eps) [K][B][d] and, per tangent and sample,
 * the error they may have: truncation eps^2 / 6 max|v'''| (the third directional derivative from a
 * wider stencil, h = 0.05, where its own rounding is negligible) plus rounding 2 FORWARD_ULPS U max|v| / (2 eps);
 * doubled, as v''' is estimated near x rather than bounded.
 */
function centralDifferences(model: Unet1d, x: tf.Tensor2D, t: tf.Tensor2D, z: tf.Tensor3D): { fd: number[][][]; tol: number[][] } {
  const at = (s: number) => shifted(model, x, t, z, s);
  const [plus, minus] = [at(EPS), at(-EPS)];
  const h = 0.05;
  const [p2, p1, m1, m2] = [at(2 * h), at(h), at(-h), at(-2 * h)];
  const fd = plus.map((rows, k) => rows.map((row, b) => row.map((vp, i) => (vp - minus[k][b][i]) / (2 * EPS))));
  const tol = plus.map((rows, k) =>
    rows.map((row, b) => {
      const third = Math.max(...row.map((_, i) => Math.abs(p2[k][b][i] - 2 * p1[k][b][i] + 2 * m1[k][b][i] - m2[k][b][i]) / (2 * h ** 3)));
      const size = Math.max(...row.map(Math.abs), ...minus[k][b].map(Math.abs));
      return 2 * ((EPS ** 2 / 6) * third + (FORWARD_ULPS * U * size) / EPS);
    }),
  );
  return { fd, tol };
}

describe('1D U-Net velocity field with forward-mode tangents', () => {
  before(useTestBackend);

  it('maps [B, L C] to [B, L C] for 60 x 3 (no padding) and 64 x 3, and pads 10 steps to 12', () => {
    for (const length of [60, 64, 10]) {
      const { model, x, t } = setup(`shape-${length}`, { ...TINY, length, multipliers: [1, 2, 4] }, 2);
      assert.equal(model.dim, length * 3);
      assert.equal(model.paddedLength, length === 10 ? 12 : length);
      assert.deepEqual(model.forward(x, t).shape, [2, length * 3]);
      const { v, jvp } = model.forwardWithTangents(x, t, tf.ones([2, 2, length * 3]) as tf.Tensor3D);
      assert.deepEqual([v.shape, jvp.shape], [[2, length * 3], [2, 2, length * 3]]);
      model.dispose();
    }
  });

  it('throws a clear error on a wrong shape of input or model', () => {
    const { model, x, t } = setup('wrong');
    assert.throws(() => model.forward(tf.zeros([BATCH, 17]) as tf.Tensor2D, t), /x has shape \[3,17\], expected \[B, 18\] \(18 = 6 steps x 3 channels/);
    assert.throws(() => model.forward(x, tf.zeros([BATCH]) as unknown as tf.Tensor2D), /t has shape \[3\], expected \[3, 1\]/);
    assert.throws(() => model.forwardWithTangents(x, t, tf.zeros([2, BATCH, 17]) as tf.Tensor3D), /tangents have shape \[2,3,17\], expected \[K, 3, 18\]/);
    assert.throws(() => new Unet1d({ ...TINY, groups: 3 }, new Rng('bad')), /groups \(3\) must divide every level's channels/);
    assert.throws(() => new Unet1d({ ...TINY, multipliers: [] }, new Rng('bad')), /multipliers must be a non-empty list/);
    assert.throws(() => new Unet1d({ ...TINY, timeEmbedding: 7 }, new Rng('bad')), /timeEmbedding must be even/);
    assert.throws(() => new Unet1d({ ...TINY, base: 0 }, new Rng('bad')), /base must be a positive integer/);
    model.dispose();
  });

  it('Jacobian-vector products match central differences, and v is exactly forward()', () => {
    const { rng, model, x, t } = setup('fd');
    const z = tf.tensor3d(rng.normalArray(2 * BATCH * model.dim), [2, BATCH, model.dim]);
    const { v, jvp } = model.forwardWithTangents(x, t, z);
    assert.deepEqual(v.dataSync(), model.forward(x, t).dataSync());
    const { fd, tol } = centralDifferences(model, x, t, z);
    const columns = jvp.arraySync();
    for (let k = 0; k < 2; k++)
      for (let b = 0; b < BATCH; b++)
        for (let i = 0; i < model.dim; i++) assertClose(columns[k][b][i], fd[k][b][i], tol[k][b], 0, `(J z_${k})[${b}][${i}]`);
    model.dispose();
  });

  it('Jacobian-vector products agree with reverse mode: w . (J z) = (J^T w) . z', () => {
    const { rng, model, x, t } = setup('vjp');
    const z = tf.tensor3d(rng.normalArray(2 * BATCH * model.dim), [2, BATCH, model.dim]);
    const w = tf.tensor2d(rng.normalArray(BATCH * model.dim), [BATCH, model.dim]);
    const forward = tf.sum(tf.mul(model.forwardWithTangents(x, t, z).jvp, w), 2).arraySync() as number[][];
    const vjp = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model.forward(xx as tf.Tensor2D, t), w)))(x);
    const reverse = tf.sum(tf.mul(z, vjp), 2).arraySync() as number[][];
    // Two float32 evaluations of the same sum of 18 products of O(1) terms, in different orders.
    for (let k = 0; k < 2; k++) for (let b = 0; b < BATCH; b++) assertClose(forward[k][b], reverse[k][b], 1e-5, 1e-4, `probe ${k} row ${b}`);
    model.dispose();
  });

  it('exact divergence from basis tangents is the trace of the finite-difference Jacobian', () => {
    const { model, x, t } = setup('divergence', { ...TINY, length: 8, channels: 2, multipliers: [1, 2] }, 2);
    const d = model.dim;
    const basis = basisTangents(2, d);
    const exact = traceFromBasis(model.forwardWithTangents(x, t, basis).jvp).dataSync();
    const { fd, tol } = centralDifferences(model, x, t, basis);
    for (let b = 0; b < 2; b++) {
      let trace = 0;
      let bound = 0;
      for (let i = 0; i < d; i++) {
        trace += fd[i][b][i];
        bound += tol[i][b];
      }
      assertClose(exact[b], trace, bound, 0, `divergence of sample ${b}`);
    }
    model.dispose();
  });

  it('gives finite, non-zero gradients of a v and JVP loss for every variable, and the same as the stock conv gradients on cpu', async () => {
    const gradients = () => {
      const { rng, model, x, t } = setup('grads');
      const z = tf.tensor3d(rng.normalArray(2 * BATCH * model.dim), [2, BATCH, model.dim]);
      // v enters too: the output bias moves v but not its Jacobian, as in the FDM loss (v and J z terms).
      const loss = () => {
        const { v, jvp } = model.forwardWithTangents(x, t, z);
        return tf.add(tf.sum(tf.square(v)), tf.sum(tf.square(jvp))) as tf.Scalar;
      };
      const { value, grads } = tf.variableGrads(loss, model.variables);
      const values = model.variables.map((v) => ({ shape: v.shape, g: grads[v.name].dataSync().slice() }));
      tf.dispose([x, t, z, value, ...Object.values(grads)]);
      model.dispose();
      return values;
    };
    const wasm = gradients();
    wasm.forEach(({ g }, i) => {
      assert.ok(g.every(Number.isFinite), `variable ${i}: non-finite gradient`);
      assert.ok(g.some((value) => value !== 0), `variable ${i}: zero gradient`);
    });
    // wasm lacks Conv2DBackpropFilter, so there the convolutions' gradients are the custom ones.
    await tf.setBackend('cpu');
    try {
      const cpu = gradients();
      wasm.forEach(({ shape, g }, i) => {
        // Float32 sums of the same products in different orders: agreement to ~1e-4 of the largest entry.
        const scale = Math.max(...cpu[i].g.map(Math.abs));
        assertAllClose(g, cpu[i].g, 1e-4 * scale, 1e-4, `gradient of variable ${i} [${shape}]`);
      });
    } finally {
      await useTestBackend();
    }
  });

  it("multiplies tangent stacks by per-sample factors with tf.mul's values and gradients", () => {
    const rng = new Rng('mul-stack');
    const cases: [number[], number[]][] = [
      [[2, 3, 4, 5], [3, 4, 5]], // swish derivative, GroupNorm's normalised activations
      [[2, 3, 4, 5], [5]], // GroupNorm's affine gain
      [[2, 3, 4, 5], [3, 1, 5]], // FiLM gain, 1 / sd
      [[2, 3, 1, 5], [3, 4, 5]], // a per-group mean times the normalised activations
    ];
    for (const [stackShape, factorShape] of cases) tf.tidy(() => {
      const random = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
      const [stack, factor] = [random(stackShape), random(factorShape)];
      const weights = random(tf.broadcast_util.assertAndGetBroadcastShape(stackShape, factorShape));
      const gradients = (mul: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(mul(a, b), weights)))([stack, factor]);
      const [ours, stock] = [gradients(mulStack), gradients(tf.mul)];
      assert.deepEqual(mulStack(stack, factor).dataSync(), tf.mul(stack, factor).dataSync());
      // The same sums of products, in another order.
      ours.forEach((g, i) => assertAllClose(g.dataSync(), stock[i].dataSync(), 1e-5, 1e-5, `gradient ${i} of [${stackShape}] x [${factorShape}]`));
    });
  });

  it('leaves no tensors behind', () => {
    const { rng, model, x, t } = setup('memory');
    const z = tf.tensor3d(rng.normalArray(2 * BATCH * model.dim), [2, BATCH, model.dim]);
    tf.dispose(Object.values(model.forwardWithTangents(x, t, z)));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.dispose(Object.values(model.forwardWithTangents(x, t, z)));
      tf.dispose(model.forward(x, t));
    }
    assert.equal(tf.memory().numTensors, before);
    const count = model.variables.length;
    model.dispose();
    assert.equal(tf.memory().numTensors, before - count);
  });

  it('initialises from the seed: the same seed gives the same weights, another seed others', () => {
    const weights = (seed: string) => {
      const model = new Unet1d(TINY, new Rng(seed));
      const values = model.variables.map((v) => Array.from(v.dataSync()));
      model.dispose();
      return values;
    };
    const [a, again, other] = [weights('seed-a'), weights('seed-a'), weights('seed-b')];
    assert.deepEqual(again, a);
    assert.notDeepEqual(other, a);
    assert.deepEqual(other.map((w) => w.length), a.map((w) => w.length));
  });
});
