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

  it('computes the formula of its docstring, biases added to the grid (a reference from its own parameters)', () => {
    const { field, x, t } = setup('formula');
    const { grid, channels, conditionGrids, width, blocks } = SHAPE;
    // The parameters in creation order: input convolutions and bias, embedding, modulations, blocks, output.
    const [inputX, inputCondition, inputBias, embedIn, embedBias, ...rest] = field.variables;
    const modulations = rest.slice(0, blocks + 1);
    const blockParams = rest.slice(blocks + 1, blocks + 1 + 2 * blocks);
    const [outWeight, outBias] = rest.slice(-2);
    const rows = tf.tensor2d(new Rng('formula-rows').normalArray(BATCH * field.conditionWidth), [BATCH, field.conditionWidth]);
    const reference = tf.tidy(() => {
      const conv = (input: tf.Tensor, w: tf.Tensor) => tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
      const swish = (u: tf.Tensor) => tf.mul(u, tf.sigmoid(u));
      const gridsOf = tf.reshape(tf.transpose(tf.reshape(tf.slice(rows, [0, 0], [BATCH, conditionGrids * DIM]), [BATCH, conditionGrids, grid * grid, channels]), [0, 2, 1, 3]), [BATCH, grid, grid, conditionGrids * channels]);
      const scalars = tf.slice(rows, [0, conditionGrids * DIM], [BATCH, 1]);
      const angles = tf.mul(t, tf.tensor1d([1, 2, 4, 8].map((k) => k * Math.PI)));
      const hidden = swish(tf.add(tf.matMul(tf.concat([t, tf.sin(angles), tf.cos(angles), scalars], 1), embedIn as tf.Tensor2D), embedBias));
      const film = modulations.map((m) => {
        const [scale, offset] = tf.split(tf.reshape(tf.matMul(hidden as tf.Tensor2D, m as tf.Tensor2D), [BATCH, 1, 1, 2 * width]), 2, 3);
        return (a: tf.Tensor) => swish(tf.add(tf.mul(a, tf.add(scale, 1)), offset));
      });
      let a = tf.add(tf.add(conv(tf.reshape(x, [BATCH, grid, grid, channels]), inputX), conv(gridsOf, inputCondition)), inputBias);
      for (let i = 0; i < blocks; i++) a = tf.add(a, tf.add(conv(film[i](a), blockParams[2 * i]), blockParams[2 * i + 1]));
      return tf.reshape(tf.add(conv(film[blocks](a), outWeight), outBias), [BATCH, DIM]);
    });
    assertAllClose(field.given(rows).forward(x, t).dataSync(), reference.dataSync(), 1e-5, 1e-5, 'v');
    tf.dispose([rows, reference]);
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
