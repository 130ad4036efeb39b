import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { basisTangents, traceFromBasis } from '../src/losses/divergence';
import { conditionalResidual, flowLoss, FlowLossOptions } from '../src/losses/flow-loss';
import { Mlp } from '../src/models/mlp';
import { TangentOutput, VelocityModel } from '../src/models/model';
import { AffinePath, affineSchedule } from '../src/paths/affine';
import { PathSample } from '../src/paths/path';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

const DIM = 2;
const BATCH = 64;
const path = new AffinePath(affineSchedule('condot'));

const FDM: FlowLossOptions = {
  method: 'fdm',
  lambda: 0.1,
  divEstimator: 'exact',
  probes: 1,
  probeDist: 'rademacher',
  cdmWeight: 'path',
  stopGrad: true,
  fdmVariant: 'paper',
};

function batch(seed: string, x1Shared?: tf.Tensor2D): { sample: PathSample; x1: tf.Tensor2D } {
  const rng = new Rng(seed);
  const x1 = x1Shared ?? tf.tensor2d(rng.normalArray(BATCH * DIM), [BATCH, DIM]);
  const x0 = tf.tensor2d(rng.normalArray(BATCH * DIM), [BATCH, DIM]);
  return { sample: path.sample(x0, x1, rng.uniformArray(BATCH, 0.02, 0.98)), x1 };
}

/**
 * A "model" equal to the conditional field u_t(x | x1) of one fixed x1 per row: FDM's residual
 * must vanish for it, whatever the estimator.
 */
class ConditionalFieldModel implements VelocityModel {
  readonly dim = DIM;
  readonly variables: tf.Variable[] = [];
  constructor(private readonly x1: tf.Tensor2D) {}
  forward(x: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D {
    return path.conditionalAt(x, this.x1, t.dataSync() as Float32Array).u;
  }
  forwardWithTangents(x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D): TangentOutput {
    const q = path.conditionalAt(x, this.x1, t.dataSync() as Float32Array);
    // du/dx = (dsigma/sigma) I, so J z = duDiag * z.
    return { v: q.u, jvp: tf.mul(tf.expandDims(q.duDiag, 0), tangents) as tf.Tensor3D };
  }
  flopsPerSample(): number {
    return 0;
  }
  dispose(): void {}
}

describe('CFM and FDM losses', () => {
  before(useTestBackend);

  it('CFM is the mean squared difference of v and u', () => {
    const model = new Mlp({ dim: DIM, hidden: 16, depth: 2 }, new Rng('cfm'));
    const { sample } = batch('cfm');
    const loss = flowLoss(model, sample, { ...FDM, method: 'cfm' }, new Rng('p'));
    const v = Array.from(model.forward(sample.xt, sample.t).dataSync());
    const u = sample.u.dataSync();
    const expected = v.reduce((acc, vi, i) => acc + (vi - u[i]) ** 2, 0) / v.length;
    assertClose(loss.total.dataSync()[0], expected, 1e-7, 1e-5, 'CFM loss');
    assert.equal(loss.cdm.dataSync()[0], 0);
  });

  const estimators: Array<[string, Partial<FlowLossOptions>]> = [
    ['exact', {}],
    ['hutchinson-squared', { divEstimator: 'hutchinson-squared', probes: 3 }],
    ['hutchinson-unbiased', { divEstimator: 'hutchinson-unbiased', probes: 3 }],
    ['hutchinson-reference', { divEstimator: 'hutchinson-reference', probes: 1 }],
    ['reference variant', { fdmVariant: 'reference', divEstimator: 'hutchinson-reference' }],
  ];
  for (const [name, options] of estimators) {
    it(`the divergence term vanishes when v is the conditional field (${name})`, () => {
      const { sample, x1 } = batch('zero');
      const loss = flowLoss(new ConditionalFieldModel(x1), sample, { ...FDM, ...options }, new Rng('probes'));
      assertClose(loss.cdm.dataSync()[0], 0, 1e-6, 0, 'L_CDM');
      assertClose(loss.cfm.dataSync()[0], 0, 1e-9, 0, 'L_CFM');
    });
  }

  it('the FDM residual matches one built from a finite-difference divergence', () => {
    const model = new Mlp({ dim: DIM, hidden: 16, depth: 2 }, new Rng('fd-model'));
    const { sample } = batch('fd');
    const loss = flowLoss(model, sample, FDM, new Rng('p'));
    const h = 1e-2;
    const v = model.forward(sample.xt, sample.t);
    let divFd = tf.zeros([BATCH]);
    for (let k = 0; k < DIM; k++) {
      const e = tf.mul(tf.oneHot(tf.fill([BATCH], k, 'int32') as tf.Tensor1D, DIM), h);
      const diff = tf.sub(model.forward(tf.add(sample.xt, e) as tf.Tensor2D, sample.t), model.forward(tf.sub(sample.xt, e) as tf.Tensor2D, sample.t));
      divFd = tf.add(divFd, tf.div(tf.gather(tf.transpose(diff), k), 2 * h));
    }
    const residual = tf.add(tf.sub(divFd, sample.divU), tf.sum(tf.mul(tf.sub(v, sample.u), sample.score), 1));
    const cdm = tf.mean(tf.square(tf.mul(sample.weight, residual))).dataSync()[0];
    assertClose(loss.cdm.dataSync()[0], cdm, 1e-6, 2e-3, 'L_CDM');
    const cfm = tf.mean(tf.squaredDifference(v, sample.u)).dataSync()[0];
    assertClose(loss.total.dataSync()[0], cfm + FDM.lambda * cdm, 1e-6, 2e-3, 'L_FDM');
  });

  it('many Hutchinson probes reproduce the exact-divergence loss', () => {
    const model = new Mlp({ dim: DIM, hidden: 16, depth: 2 }, new Rng('hutch-model'));
    const { sample } = batch('hutch');
    const exact = flowLoss(model, sample, FDM, new Rng('p')).cdm.dataSync()[0];
    for (const divEstimator of ['hutchinson-squared', 'hutchinson-unbiased'] as const) {
      const estimated = flowLoss(model, sample, { ...FDM, divEstimator, probes: 3000 }, new Rng('p')).cdm.dataSync()[0];
      assertClose(estimated, exact, 0, 0.05, `L_CDM by ${divEstimator} with 3000 probes`);
    }
  });

  it('the residual weight and the importance weights of the times enter as documented', () => {
    const model = new Mlp({ dim: DIM, hidden: 16, depth: 2 }, new Rng('weights-model'));
    const { sample } = batch('weights');
    const r = Array.from(conditionalResidual(model, sample).dataSync());
    const sigma = Array.from(sample.weight.dataSync());
    const importance = Float32Array.from({ length: BATCH }, (_, i) => 0.5 + (i % 3) / 2);
    const v = Array.from(model.forward(sample.xt, sample.t).dataSync());
    const u = sample.u.dataSync();
    const mean = (f: (i: number) => number) => Array.from({ length: BATCH }, (_, i) => f(i)).reduce((a, b) => a + b, 0) / BATCH;
    const weightOf = { path: (i: number) => sigma[i], 'sqrt-path': (i: number) => Math.sqrt(sigma[i]), one: () => 1 } as const;
    for (const cdmWeight of ['path', 'sqrt-path', 'one'] as const) {
      const terms = flowLoss(model, sample, { ...FDM, cdmWeight }, new Rng('p'), tf.tensor1d(importance));
      const expected = mean((i) => importance[i] * (weightOf[cdmWeight](i) * r[i]) ** 2);
      assertClose(terms.cdm.dataSync()[0], expected, 1e-6, 1e-4, `L_CDM with w = ${cdmWeight}`);
      const flow = mean((i) => (importance[i] * ((v[2 * i] - u[2 * i]) ** 2 + (v[2 * i + 1] - u[2 * i + 1]) ** 2)) / DIM);
      assertClose(terms.cfm.dataSync()[0], flow, 1e-6, 1e-4, 'importance-weighted L_CFM');
    }
  });

  it('stop-gradient removes exactly the gradient through v in (v - u) . s', () => {
    const model = new Mlp({ dim: DIM, hidden: 16, depth: 2 }, new Rng('sg-model'));
    const { sample } = batch('sg');
    const frozenV = model.forward(sample.xt, sample.t); // a constant: no gradient flows into it
    const byHand = () => {
      const { v, jvp } = model.forwardWithTangents(sample.xt, sample.t, basisTangents(BATCH, DIM));
      const residual = tf.add(tf.sub(traceFromBasis(jvp), sample.divU), tf.sum(tf.mul(tf.sub(frozenV, sample.u), sample.score), 1));
      const cdm = tf.mean(tf.square(tf.mul(sample.weight, residual)));
      return tf.add(tf.mean(tf.squaredDifference(v, sample.u)), tf.mul(FDM.lambda, cdm)) as tf.Scalar;
    };
    const grads = (f: () => tf.Scalar) => tf.variableGrads(f, model.variables).grads;
    const expected = grads(byHand);
    const frozen = grads(() => flowLoss(model, sample, FDM, new Rng('p')).total);
    const unfrozen = grads(() => flowLoss(model, sample, { ...FDM, stopGrad: false }, new Rng('p')).total);
    let differs = false;
    for (const key of Object.keys(expected)) {
      assertAllClose(frozen[key].dataSync(), expected[key].dataSync(), 1e-6, 1e-4, `gradient ${key}`);
      const gap = tf.max(tf.abs(tf.sub(frozen[key], unfrozen[key]))).dataSync()[0];
      differs ||= gap > 1e-6;
    }
    assert.ok(differs, 'turning the stop-gradient off must change the gradient');
  });
});
