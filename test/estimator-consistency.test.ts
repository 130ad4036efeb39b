import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { DivEstimator, ESTIMATOR_FACTS, ProbeDistribution } from '../src/losses/divergence';
import { flowLoss, FlowLossOptions } from '../src/losses/flow-loss';
import { GaussianMixture, sampleMixture } from '../src/datasets/gaussian-mixture';
import { MixtureMarginalField } from '../src/models/gmm-field';
import { GaussianMixturePath } from '../src/paths/gaussian-mixture-path';
import { TangentOutput, VelocityModel } from '../src/models/model';
import { AffinePath, condOtSchedule } from '../src/paths/affine';
import { disposeQuantities } from '../src/paths/path';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';

/**
 * Is the true marginal field a stationary point of an estimator's expected FDM loss? With
 * v = u* + eps h for a fixed direction h, d/d eps E_{x, z}[L_CDM] at eps = 0 (the gradient training
 * follows, stop-gradient included) must be zero for every estimator declared unbiased or
 * consistent, and it is not for the biased one (docs/math.md section 1). Measured by Monte Carlo over
 * batches, against its own standard error.
 */

const SCHEDULE = condOtSchedule(0.01);
const MIXTURES: Record<string, GaussianMixture> = {
  gmm1d: { weights: [0.3, 0.4, 0.3], means: [[-2], [0], [2]], stds: [0.3, 0.3, 0.3] },
  gmm2d: { weights: [0.1, 0.2, 0.3, 0.4], means: [[-1.5, -1.5], [1.5, -1.5], [-1.5, 1.5], [1.5, 1.5]], stds: [0.35, 0.35, 0.35, 0.35] },
};

/** A direction h(x, t) and its Jacobian-vector products, in tfjs ops. */
type Direction = (x: tf.Tensor2D, t: tf.Tensor2D, tangents: tf.Tensor3D) => TangentOutput;

/** M = [[0.5, 1], [1, -0.3]] in 2D (1 in 1D): a trace and a symmetric coupling of the coordinates. */
function coupling(dim: number): tf.Tensor2D {
  return dim === 1 ? tf.tensor2d([1], [1, 1]) : tf.tensor2d([0.5, 1, 1, -0.3], [2, 2]);
}

/** Tangents [K, B, d] times M (symmetric), as J z for a field whose Jacobian is M. */
function timesCoupling(tangents: tf.Tensor3D, m: tf.Tensor2D): tf.Tensor3D {
  const dim = m.shape[0];
  return tf.reshape(tf.matMul(tf.reshape(tangents, [-1, dim]), m), tangents.shape) as tf.Tensor3D;
}

/** h = M x: J = M. */
const linear: Direction = (x, _t, tangents) => {
  const m = coupling(x.shape[1]);
  return { v: tf.matMul(x, m) as tf.Tensor2D, jvp: timesCoupling(tangents, m) };
};

/** h = (1 + t) tanh(M x): J = (1 + t) diag(sech^2(M x)) M, varying in x and t. */
const tanhCoupling: Direction = (x, t, tangents) => {
  const m = coupling(x.shape[1]);
  const inner = tf.matMul(x, m);
  const scale = tf.add(t, 1);
  const slope = tf.mul(scale, tf.sub(1, tf.square(tf.tanh(inner))));
  return { v: tf.mul(scale, tf.tanh(inner)) as tf.Tensor2D, jvp: tf.mul(tf.expandDims(slope, 0), timesCoupling(tangents, m)) as tf.Tensor3D };
};

/** u* + eps h, the true marginal field moved by eps along h. */
function perturbed(base: MixtureMarginalField, h: Direction, eps: tf.Scalar): VelocityModel {
  return {
    dim: base.dim,
    variables: [],
    forward: (x, t) => tf.add(base.forward(x, t), tf.mul(eps, h(x, t, tf.zeros([0, ...x.shape]) as tf.Tensor3D).v)) as tf.Tensor2D,
    forwardWithTangents: (x, t, tangents) => {
      const at = base.forwardWithTangents(x, t, tangents);
      const step = h(x, t, tangents);
      return { v: tf.add(at.v, tf.mul(eps, step.v)) as tf.Tensor2D, jvp: tf.add(at.jvp, tf.mul(eps, step.jvp)) as tf.Tensor3D };
    },
    flopsPerSample: () => 0,
    dispose: () => undefined,
  };
}

interface Slope {
  mean: number;
  standardError: number;
}

/** d/d eps E[L_CDM] at eps = 0 over `batches` batches of `size` points with t ~ U[0, 0.9], and its standard error. */
function slopeAtTrueField(mixtureName: string, h: Direction, opts: Partial<FlowLossOptions>, batches: number, size: number): Slope {
  const mixture = MIXTURES[mixtureName];
  const dim = mixture.means[0].length;
  const base = new MixtureMarginalField(new GaussianMixturePath(mixture, SCHEDULE));
  const path = new AffinePath(SCHEDULE);
  const loss: FlowLossOptions = {
    ...{ method: 'fdm', lambda: 1, divEstimator: 'exact', probes: 0, probeDist: 'rademacher' as ProbeDistribution },
    ...{ cdmWeight: 'path', stopGrad: true, fdmVariant: 'paper' },
    ...opts,
  };
  const rng = new Rng(`slope-${mixtureName}`);
  const slopes: number[] = [];
  for (let b = 0; b < batches; b++) {
    const x1 = tf.tensor2d(sampleMixture(mixture, size, rng), [size, dim]);
    const x0 = tf.tensor2d(rng.normalArray(size * dim), [size, dim]);
    const sample = path.sample(x0, x1, rng.uniformArray(size, 0, 0.9));
    const probes = rng.fork(`probes-${b}`);
    const slope = tf.grad((eps: tf.Tensor) => flowLoss(perturbed(base, h, eps as tf.Scalar), sample, loss, probes).cdm)(tf.scalar(0));
    slopes.push(slope.dataSync()[0]);
    tf.dispose([x0, x1, slope]);
    disposeQuantities(sample);
  }
  const mean = slopes.reduce((a, s) => a + s, 0) / batches;
  const sd = Math.sqrt(slopes.reduce((a, s) => a + (s - mean) ** 2, 0) / (batches - 1));
  return { mean, standardError: sd / Math.sqrt(batches) };
}

function describeSlope(s: Slope): string {
  return `${s.mean.toExponential(3)} ± ${s.standardError.toExponential(2)} (${(s.mean / s.standardError).toFixed(1)} s.e.)`;
}

describe('FDM estimators at the true marginal field', () => {
  before(useTestBackend);

  const cases: Array<[string, Direction, ProbeDistribution]> = [
    ['gmm2d', linear, 'rademacher'],
    ['gmm2d', tanhCoupling, 'rademacher'],
    ['gmm1d', tanhCoupling, 'gaussian'],
  ];
  for (const [mixture, h, probeDist] of cases) {
    const name = `${mixture}, h = ${h === linear ? 'M x' : '(1 + t) tanh(M x)'}, ${probeDist} probes`;
    for (const estimator of Object.keys(ESTIMATOR_FACTS) as DivEstimator[]) {
      const facts = ESTIMATOR_FACTS[estimator];
      const probes = facts.defaultProbes;
      it(`${name}: ${estimator} (${facts.bias}) ${facts.bias === 'biased' ? 'moves' : 'keeps'} the true field ${facts.bias === 'biased' ? 'off' : 'at'} a stationary point`, () => {
        const slope = slopeAtTrueField(mixture, h, { divEstimator: estimator, probes, probeDist }, 40, 10000);
        if (facts.bias === 'biased') assert.ok(Math.abs(slope.mean) > 6 * slope.standardError, `slope ${describeSlope(slope)} should differ from 0`);
        else assert.ok(Math.abs(slope.mean) < 4 * slope.standardError, `slope ${describeSlope(slope)} should be 0`);
      });
    }
  }

  it('without the stop-gradient even the exact estimator is not stationary at the true field', () => {
    const slope = slopeAtTrueField('gmm2d', linear, { divEstimator: 'exact', stopGrad: false }, 80, 10000);
    assert.ok(Math.abs(slope.mean) > 5 * slope.standardError, `slope ${describeSlope(slope)} should differ from 0`);
  });
});
