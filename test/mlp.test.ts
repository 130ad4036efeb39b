import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { basisTangents, drawProbes, probeQuadratic, traceFromBasis } from '../src/losses/divergence';
import { Mlp } from '../src/models/mlp';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

const DIM = 3;
const BATCH = 5;

function setup(seed: string) {
  const rng = new Rng(seed);
  const model = new Mlp({ dim: DIM, hidden: 24, depth: 3 }, rng.fork('init'));
  const x = tf.tensor2d(rng.normalArray(BATCH * DIM), [BATCH, DIM]);
  const t = tf.tensor2d(rng.uniformArray(BATCH), [BATCH, 1]);
  return { rng, model, x, t };
}

/** Full Jacobians [B][i][k] = dv_i/dx_k by central differences of forward() alone. */
function finiteDifferenceJacobian(model: Mlp, x: tf.Tensor2D, t: tf.Tensor2D, h = 1e-2): number[][][] {
  const jac = Array.from({ length: BATCH }, () => Array.from({ length: DIM }, () => new Array<number>(DIM).fill(0)));
  for (let k = 0; k < DIM; k++) {
    const e = tf.mul(tf.oneHot(tf.fill([BATCH], k, 'int32') as tf.Tensor1D, DIM), h);
    const plus = model.forward(tf.add(x, e) as tf.Tensor2D, t).arraySync();
    const minus = model.forward(tf.sub(x, e) as tf.Tensor2D, t).arraySync();
    for (let b = 0; b < BATCH; b++) for (let i = 0; i < DIM; i++) jac[b][i][k] = (plus[b][i] - minus[b][i]) / (2 * h);
  }
  return jac;
}

describe('MLP with forward-mode tangents', () => {
  before(useTestBackend);

  it('returns the same v as the plain forward pass', () => {
    const { model, x, t } = setup('same-v');
    const { v } = model.forwardWithTangents(x, t, basisTangents(BATCH, DIM));
    assertAllClose(v.dataSync(), model.forward(x, t).dataSync(), 1e-6, 1e-6, 'v');
  });

  it('Jacobian-vector products match finite differences of forward()', () => {
    const { model, x, t } = setup('fd');
    const { jvp } = model.forwardWithTangents(x, t, basisTangents(BATCH, DIM));
    const columns = jvp.arraySync(); // [k][b][i] = dv_i/dx_k
    const fd = finiteDifferenceJacobian(model, x, t);
    for (let b = 0; b < BATCH; b++)
      for (let i = 0; i < DIM; i++)
        for (let k = 0; k < DIM; k++) assertClose(columns[k][b][i], fd[b][i][k], 2e-4, 1e-3, `J[${b}][${i}][${k}]`);
  });

  it('Jacobian-vector products agree with reverse-mode tf.grad (J^T w)', () => {
    const { rng, model, x, t } = setup('grad');
    const w = tf.tensor2d(rng.normalArray(BATCH * DIM), [BATCH, DIM]);
    // Reverse mode: d/dx sum(v(x) * w) = J^T w, per sample.
    const vjp = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model.forward(xx as tf.Tensor2D, t), w)))(x).arraySync() as number[][];
    const columns = model.forwardWithTangents(x, t, basisTangents(BATCH, DIM)).jvp.arraySync();
    const wv = w.arraySync();
    for (let b = 0; b < BATCH; b++)
      for (let k = 0; k < DIM; k++) {
        const fromJvp = columns[k][b].reduce((acc, jik, i) => acc + jik * wv[b][i], 0);
        assertClose(fromJvp, vjp[b][k], 1e-5, 1e-4, `(J^T w)[${b}][${k}]`);
      }
  });

  it("Hutchinson's estimate converges to the exact divergence", () => {
    const { rng, model, x, t } = setup('hutchinson');
    const exact = traceFromBasis(model.forwardWithTangents(x, t, basisTangents(BATCH, DIM)).jvp).dataSync();
    for (const dist of ['rademacher', 'gaussian'] as const) {
      const n = 4000;
      const z = drawProbes(rng.fork(dist), n, BATCH, DIM, dist);
      const quad = probeQuadratic(z, model.forwardWithTangents(x, t, z).jvp).arraySync(); // [n][B]
      for (let b = 0; b < BATCH; b++) {
        const samples = quad.map((row) => row[b]);
        const mean = samples.reduce((a, c) => a + c, 0) / n;
        const sd = Math.sqrt(samples.reduce((a, c) => a + (c - mean) ** 2, 0) / (n - 1));
        // Five standard errors: fails by chance with probability ~6e-7 per check.
        assert.ok(Math.abs(mean - exact[b]) <= 5 * (sd / Math.sqrt(n)) + 1e-6, `${dist} sample ${b}: ${mean} vs ${exact[b]} (sd ${sd})`);
      }
    }
  });

  it('counts its flops from the layer sizes', () => {
    const model = new Mlp({ dim: 2, hidden: 512, depth: 4 }, new Rng('flops'));
    assert.equal(model.flopsPerSample(), 2 * (3 * 512 + 3 * 512 * 512 + 512 * 2));
    model.dispose();
  });
});
