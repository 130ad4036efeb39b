import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { basisTangents } from '../src/losses/divergence';
import { ConvLatentField } from '../src/models/conv-field';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

const SHAPE = { grid: 3, channels: 2, conditionGrids: 2, conditionScalars: 1, width: 5, blocks: 2 };
const DIM = SHAPE.grid * SHAPE.grid * SHAPE.channels;
const BATCH = 3;

function setup(seed: string) {
  const rng = new Rng(seed);
  const field = new ConvLatentField(SHAPE, rng.fork('init'));
  const condition = tf.tensor2d(rng.normalArray(BATCH * field.conditionWidth), [BATCH, field.conditionWidth]);
  const x = tf.tensor2d(rng.normalArray(BATCH * DIM), [BATCH, DIM]);
  const t = tf.tensor2d(rng.uniformArray(BATCH), [BATCH, 1]);
  return { rng, field, model: field.given(condition), x, t };
}

describe('convolutional latent field with forward-mode tangents', () => {
  before(useTestBackend);

  it('returns the same v as the plain forward pass, and its FLOP count from the layer sizes', () => {
    const { field, model, x, t } = setup('same-v');
    const { v } = model.forwardWithTangents(x, t, basisTangents(BATCH, DIM));
    assertAllClose(v.dataSync(), model.forward(x, t).dataSync(), 1e-6, 1e-6, 'v');
    // 3x3 convs on a 3x3 grid: input (2 + 4 -> 5), two blocks (5 -> 5), output (5 -> 2); embedding 10 -> 5, 3 modulations 5 -> 10.
    const convs = 2 * 9 * 9 * (6 * 5 + 2 * 5 * 5 + 5 * 2);
    assert.equal(field.flopsPerSample(), convs + 2 * 5 * (10 + 3 * 10));
    field.dispose();
  });

  it('Jacobian-vector products match central differences of forward()', () => {
    const { field, model, x, t } = setup('fd');
    const columns = model.forwardWithTangents(x, t, basisTangents(BATCH, DIM)).jvp.arraySync(); // [k][b][i]
    const h = 1e-2;
    for (let k = 0; k < DIM; k++) {
      const e = tf.mul(tf.oneHot(tf.fill([BATCH], k, 'int32') as tf.Tensor1D, DIM), h);
      const plus = model.forward(tf.add(x, e) as tf.Tensor2D, t).arraySync();
      const minus = model.forward(tf.sub(x, e) as tf.Tensor2D, t).arraySync();
      for (let b = 0; b < BATCH; b++)
        for (let i = 0; i < DIM; i++) assertClose(columns[k][b][i], (plus[b][i] - minus[b][i]) / (2 * h), 3e-4, 1e-3, `J[${b}][${i}][${k}]`);
    }
    field.dispose();
  });

  it('Jacobian-vector products agree with reverse mode: w . (J z) = (J^T w) . z', () => {
    const { rng, field, model, x, t } = setup('vjp');
    const probes = 4;
    const z = tf.tensor3d(rng.normalArray(probes * BATCH * DIM), [probes, BATCH, DIM]);
    const w = tf.tensor2d(rng.normalArray(BATCH * DIM), [BATCH, DIM]);
    const jvp = model.forwardWithTangents(x, t, z).jvp;
    const forward = tf.sum(tf.mul(jvp, w), 2).arraySync() as number[][];
    const vjp = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model.forward(xx as tf.Tensor2D, t), w)))(x);
    const reverse = tf.sum(tf.mul(z, vjp), 2).arraySync() as number[][];
    for (let k = 0; k < probes; k++) for (let b = 0; b < BATCH; b++) assertClose(forward[k][b], reverse[k][b], 1e-5, 1e-4, `probe ${k} row ${b}`);
    field.dispose();
  });

  it('draws a condition source at every evaluation, gives what a fixed condition gives, and releases the rows', () => {
    const { rng, field, x, t } = setup('source');
    const rows = [0, 1].map(() => rng.normalArray(BATCH * field.conditionWidth));
    let calls = 0;
    const model = field.given(() => tf.tensor2d(rows[calls++ % 2], [BATCH, field.conditionWidth]));
    const before = tf.memory().numTensors;
    const drawn = [0, 1].map(() => model.forward(x, t));
    assert.equal(calls, 2);
    assert.equal(tf.memory().numTensors, before + 2, 'only the two outputs remain');
    rows.forEach((values, i) => {
      const fixed = field.given(tf.tensor2d(values, [BATCH, field.conditionWidth])).forward(x, t);
      assert.deepEqual(drawn[i].dataSync(), fixed.dataSync(), `evaluation ${i}`);
    });
    const wrong = field.given(() => tf.zeros([BATCH, 3]) as tf.Tensor2D);
    assert.throws(() => wrong.forward(x, t), /condition rows have 3 entries/);
    field.dispose();
  });

  it('refuses a shape it cannot build', () => {
    assert.throws(() => new ConvLatentField({ ...SHAPE, width: 0 }, new Rng('bad')), /width must be a positive integer/);
    assert.throws(() => new ConvLatentField({ ...SHAPE, conditionGrids: -1 }, new Rng('bad')), /conditionGrids must be a non-negative integer/);
  });
});
