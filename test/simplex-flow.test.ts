import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { resolveConfig } from '../src/cli/load-config';
import {
  denoiserField,
  denoiserFieldTangent,
  projectToTangent,
  simplexResidual,
  simplexResidualEstimates,
  SimplexLossOptions,
  tangentBasis,
} from '../src/losses/simplex-loss';
import { categoricalDivergences, empiricalDistribution, samplingFloor } from '../src/metrics/categorical';
import { Conv1d, LogitTangents, SimplexCnn, SimplexDenoiser } from '../src/models/simplex-cnn';
import { dirichletPath, linearSimplexPath, SimplexPath } from '../src/paths/simplex';
import { conditionalBatch } from '../src/paths/simplex-batch';
import { speedTable } from '../src/paths/speed-table';
import { Rng } from '../src/random/rng';
import { sampleSimplexFlow } from '../src/solvers/simplex';
import { gridJobs } from '../src/runner/jobs';
import { dnaToyTask, toyTarget } from '../src/tasks/dna-toy';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

const EXACT: SimplexLossOptions = { lambda: 1, divEstimator: 'exact', probes: 0, probeDist: 'rademacher', cdmWeight: 'path', stopGrad: false };

/** Points of a Dirichlet(1) draw per position, [B * L * K]. */
function simplexPoints(path: SimplexPath, batch: number, length: number, classes: number, rng: Rng): Float64Array {
  const x = new Float64Array(batch * length * classes);
  for (let i = 0; i < batch * length; i++) path.sampleNoise(classes, rng, x, i * classes);
  return x;
}

/** w^T (J z) from forward-mode tangents against (J^T w)^T z from reverse-mode autodiff. */
function assertJvpMatchesVjp(f: (x: tf.Tensor3D) => tf.Tensor3D, jvp: tf.Tensor4D, x: tf.Tensor3D, z: tf.Tensor4D, rng: Rng): void {
  const w = tf.tensor3d(rng.normalArray(x.size), x.shape);
  // A copy, so that f's own references to x stay constants of the differentiation.
  const vjp = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(f(y as tf.Tensor3D), w)))(tf.clone(x));
  const forward = tf.sum(tf.mul(jvp, w), [1, 2, 3]).arraySync() as number[];
  const reverse = tf.sum(tf.mul(z, vjp), [1, 2, 3]).arraySync() as number[];
  const scale = Math.max(...reverse.map(Math.abs));
  assertAllClose(forward, reverse, 1e-4 * scale, 0, 'w.Jz vs (J^T w).z');
  tf.dispose([w, vjp]);
}

describe('simplex flows: model, field, residual, sampler', () => {
  before(useTestBackend);

  it("the reachable-tap convolution equals tfjs's 'same' dilated conv1d", () => {
    const rng = new Rng('conv');
    for (const dilation of [1, 2, 4, 16]) {
      const conv = new Conv1d(3, 5, 9, dilation, 4, rng.fork(`w${dilation}`));
      const x = tf.tensor3d(rng.normalArray(2 * 4 * 3), [2, 4, 3]);
      const ours = conv.apply(x);
      const filter = tf.reshape(conv.weight, [9, 3, 5]) as tf.Tensor3D;
      const reference = tf.add(tf.conv1d(x, filter, 1, 'same', 'NWC', dilation), conv.bias);
      assertAllClose(Array.from(ours.dataSync()), Array.from(reference.dataSync()), 1e-5, 0, `dilation ${dilation}`);
      tf.dispose([x, ours, filter, reference]);
      conv.dispose();
    }
  });

  it("the CNN's forward-mode logit JVPs match reverse-mode autodiff", () => {
    const rng = new Rng('cnn-jvp');
    const model = new SimplexCnn({ length: 4, classes: 5, hidden: 8, layers: 5, kernel: 9 }, rng.fork('init'));
    const x = tf.tensor3d(Float32Array.from(simplexPoints(linearSimplexPath(), 3, 4, 5, rng)), [3, 4, 5]);
    const tau = tf.tensor2d([0.1, 0.5, 0.9], [3, 1]);
    const z = projectToTangent(tf.tensor4d(rng.normalArray(2 * 3 * 4 * 5), [2, 3, 4, 5]));
    const { jvp, logits } = model.logitsWithTangents(x, tau, z);
    assertAllClose(Array.from(logits.dataSync()), Array.from(model.logits(x, tau).dataSync()), 1e-6, 0, 'logits');
    assertJvpMatchesVjp((y) => model.logits(y, tau), jvp, x, z, rng);
    model.dispose();
  });

  it("the denoiser field's JVP matches reverse-mode autodiff, c(x) linearised at the point", () => {
    const rng = new Rng('field-jvp');
    const shape: [number, number, number] = [3, 2, 6];
    const size = 3 * 2 * 6;
    const x0 = tf.tensor3d(Float32Array.from(simplexPoints(linearSimplexPath(), 3, 2, 6, rng)), shape);
    const logitsAt = (x: tf.Tensor3D) => tf.mul(3, tf.sin(tf.mul(5, x))) as tf.Tensor3D; // any smooth map
    const speed = tf.tensor3d(rng.uniformArray(size, 0.5, 3), shape);
    const speedSlope = tf.tensor3d(rng.normalArray(size), shape);
    const field = (x: tf.Tensor3D) => {
      const linearised = tf.add(speed, tf.mul(speedSlope, tf.sub(x, x0))) as tf.Tensor3D;
      return denoiserField(tf.softmax(logitsAt(x)) as tf.Tensor3D, { x, speed: linearised });
    };
    const z = projectToTangent(tf.tensor4d(rng.normalArray(2 * size), [2, ...shape]));
    const logitJvp = tf.mul(tf.mul(15, tf.cos(tf.mul(5, x0))), z) as tf.Tensor4D;
    const probs = tf.softmax(logitsAt(x0)) as tf.Tensor3D;
    const jvp = denoiserFieldTangent(probs, logitJvp, { x: x0, speed, speedSlope }, z);
    assertJvpMatchesVjp(field, jvp, x0, z, rng);
  });

  for (const path of [linearSimplexPath(), dirichletPath(8)]) {
    it(`${path.name}: the residual is zero when v is the conditional field, and not zero for a random CNN`, () => {
      const rng = new Rng(`residual-${path.name}`);
      const [batch, length, classes] = [4, 3, 5];
      const targets = Int32Array.from({ length: batch * length }, () => rng.int(classes));
      const [start, end] = path.timeRange;
      const times = Float64Array.from({ length: batch }, (_, i) => start + ((i + 0.5) / batch) * 0.9 * (end - start));
      const x = new Float64Array(batch * length * classes);
      for (let i = 0; i < targets.length; i++) path.sample(targets[i], classes, times[Math.floor(i / length)], rng, x, i * classes);
      const data = conditionalBatch(path, { x, times, length, classes }, targets);
      // Saturated logits on the target: p(k|x) is one-hot, so v = u(x | e_k) and its JVPs are u's.
      const oracle: SimplexDenoiser = {
        logits: () => tf.mul(60, data.target),
        logitsWithTangents: (_x, _t, tangents): LogitTangents => ({ logits: tf.mul(60, data.target), jvp: tf.zerosLike(tangents) }),
      };
      const atField = simplexResidual(oracle, data);
      const divU = Array.from(data.divU.dataSync());
      const scale = Math.max(...divU.map(Math.abs));
      const oracleResidual = Array.from(atField.dataSync());
      assertAllClose(oracleResidual, new Array(batch).fill(0), 1e-5 * scale, 0, 'r at v = u');
      // Not zero for a learned field: far above the float32 rounding left in r at v = u.
      const model = new SimplexCnn({ length, classes, hidden: 8, layers: 2, kernel: 9 }, rng.fork('init'));
      const random = simplexResidual(model, data);
      const randomResidual = Math.max(...Array.from(random.dataSync()).map(Math.abs));
      const roundoff = Math.max(...oracleResidual.map(Math.abs), 1e-7 * scale);
      assert.ok(randomResidual > 100 * roundoff, `r of a random CNN, ${randomResidual}, is not zero (rounding ${roundoff})`);
      model.dispose();
      tf.dispose([atField, random, ...Object.values(data)]);
    });
  }

  it("the sampler's interpolated Dirichlet speed table matches the series to 1e-9 relative", () => {
    const rng = new Rng('table');
    const path = dirichletPath(8);
    for (const classes of [3, 40, 160]) {
      for (const alpha of [1, 2.5, 8]) {
        const table = speedTable(path, alpha, classes);
        for (let i = 0; i < 300; i++) {
          // b spread over (1e-12, 1 - 1e-9) on the logit scale, where the nodes are.
          const b = 1 / (1 + Math.exp(-(-27 + 47 * rng.uniform())));
          const exact = path.speed(b, alpha, classes).c;
          assertClose(table(b), exact, 0, 1e-9, `C(${b}, ${alpha}) at K = ${classes}`);
        }
      }
    }
  });

  for (const path of [linearSimplexPath(), dirichletPath(8)]) {
    it(`${path.name}: tangent-space Hutchinson estimates are unbiased for the exact residual, and the diagonal of J_v is taken exactly`, () => {
      const rng = new Rng(`hutchinson-${path.name}`);
      const [length, classes] = [2, 4];
      const times = Float64Array.of(path.name === 'linear' ? 0.7 : 2.5);
      const targets = Int32Array.of(1, 3);
      const x = new Float64Array(length * classes);
      for (let i = 0; i < length; i++) path.sample(targets[i], classes, times[0], rng, x, i * classes);
      const data = conditionalBatch(path, { x, times, length, classes }, targets);
      const model = new SimplexCnn({ length, classes, hidden: 8, layers: 2, kernel: 9 }, rng.fork('init'));
      const exact = simplexResidual(model, data).dataSync()[0];
      const probes = 4000;
      const estimates = simplexResidualEstimates(model, data, { ...EXACT, divEstimator: 'hutchinson-squared', probes }, rng.fork('probes'));
      const singles = Array.from(estimates.perProbe.dataSync());
      const mean = singles.reduce((a, b) => a + b, 0) / probes;
      const sd = Math.sqrt(singles.reduce((a, b) => a + (b - mean) ** 2, 0) / (probes - 1));
      assert.ok(Math.abs(mean - exact) < 4 * (sd / Math.sqrt(probes)) + 1e-4, `hutchinson ${mean} vs exact ${exact} (s.d. ${sd})`);
      // Probing the whole of J_v instead, its diagonal adds noise the estimates above do not have.
      const whole = tf.tidy(() => {
        const z = projectToTangent(tf.tensor4d(rng.fork('whole').rademacherArray(probes * length * classes), [probes, 1, length, classes]));
        const { logits, jvp } = model.logitsWithTangents(data.x, data.tau, z);
        const vJvp = denoiserFieldTangent(tf.softmax(logits) as tf.Tensor3D, jvp, data, z);
        return Array.from(tf.sum(tf.mul(z, vJvp), [1, 2, 3]).dataSync());
      });
      const wholeMean = whole.reduce((a, b) => a + b, 0) / probes;
      const wholeSd = Math.sqrt(whole.reduce((a, b) => a + (b - wholeMean) ** 2, 0) / (probes - 1));
      assert.ok(sd < wholeSd, `s.d. with the diagonal exact, ${sd}, is below the whole-Jacobian probe's, ${wholeSd}`);
      assert.equal(tangentBasis(1, length, classes).shape[0], length * classes);
      model.dispose();
      tf.dispose([estimates.logits, estimates.v, estimates.perProbe, ...Object.values(data)]);
    });
  }

  for (const path of [linearSimplexPath(), dirichletPath(8)]) {
    it(`${path.name}: Euler sampling with the exact posterior denoiser reproduces the target up to the noise floor`, async () => {
      const [length, classes, count] = [2, 5, 6000];
      const truth = toyTarget(length, classes);
      const logPrior = tf.tensor3d(Float32Array.from(truth.probs, Math.log), [1, length, classes]);
      // The exact posterior p(k | x, t) of independent positions with prior pi: pi_k p_t(x | e_k) / sum.
      const oracle: SimplexDenoiser = {
        logits: (x, tau) =>
          tf.tidy(() => {
            if (path.name === 'linear') {
              const inside = tf.greaterEqual(x, tf.reshape(tau, [-1, 1, 1]));
              return tf.add(logPrior, tf.where(inside, tf.zerosLike(x), tf.fill(x.shape, -1e4))) as tf.Tensor3D;
            }
            const alphaMinusOne = tf.mul(tf.reshape(tau, [-1, 1, 1]), 7);
            return tf.add(logPrior, tf.mul(alphaMinusOne, tf.log(tf.maximum(x, 1e-30)))) as tf.Tensor3D;
          }),
        logitsWithTangents: () => {
          throw new Error('not needed for sampling');
        },
      };
      const tokens = await sampleSimplexFlow(oracle, path, count, { length, classes, steps: 100, batchSize: 3000 }, new Rng('oracle'));
      const d = categoricalDivergences(empiricalDistribution(tokens, length, classes), truth);
      const floor = samplingFloor(truth, count, 20, new Rng('floor'));
      assert.ok(d.kl < 3 * floor.kl, `${path.name}: KL ${d.kl} vs floor ${floor.kl}`);
      tf.dispose(logPrior);
    });
  }

  it('dna-toy: a K sweep names each run (and its checkpoint and model files) by K', () => {
    const config = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { path: ['dirichlet'], simplex: { simplexDim: [10, 20] } } });
    const jobs = gridJobs(config, dnaToyTask);
    assert.deepEqual(jobs.map((j) => j.name), [
      'cfm simplexDim=10 seed 0',
      'cfm simplexDim=20 seed 0',
      'fdm lambda=0.1 simplexDim=10 seed 0',
      'fdm lambda=0.1 simplexDim=20 seed 0',
    ]);
  });
});
