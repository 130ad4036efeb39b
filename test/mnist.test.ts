import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { resolveConfig } from '../src/cli/load-config';
import { bitsPerDim, dequantizedLogits, LOGIT_ALPHA, logitLogDet, PIXEL_LEVELS } from '../src/datasets/dequantize';
import { Rng } from '../src/random/rng';
import { gridJobs } from '../src/runner/jobs';
import { densityTarget } from '../src/tasks/density';
import { DigitClassifier } from '../src/tasks/mnist/classifier';
import { mnistTask } from '../src/tasks/mnist/task';
import { downscalePool, mnistDigits } from '../src/datasets/moving-mnist';
import { useTestBackend } from './helpers/backend';
import { assertClose } from './helpers/numeric';

const logit = (x: number) => {
  const s = LOGIT_ALPHA + (1 - 2 * LOGIT_ALPHA) * x;
  return Math.log(s / (1 - s));
};
const xOf = (y: number) => (1 / (1 + Math.exp(-y)) - LOGIT_ALPHA) / (1 - 2 * LOGIT_ALPHA);
const logStandardNormal = (y: number) => -0.5 * y * y - 0.5 * Math.log(2 * Math.PI);

describe('dequantisation, the logit transform and bits/dim', () => {
  before(useTestBackend);

  it('dequantised level k lies in the logit of [k/256, (k+1)/256), and log|dy/dx| is the derivative of the transform', () => {
    const levels = Uint8Array.from([0, 1, 77, 128, 254, 255]);
    const y = dequantizedLogits(levels, new Rng('dequantize'));
    levels.forEach((k, i) => assert.ok(y[i] >= logit(k / PIXEL_LEVELS) - 1e-4 && y[i] < logit((k + 1) / PIXEL_LEVELS) + 1e-4, `level ${k}: ${y[i]}`));
    const logDets = logitLogDet(y, 1);
    y.forEach((value, i) => {
      const x = xOf(value);
      const h = 1e-7;
      const derivative = (logit(x + h) - logit(x - h)) / (2 * h);
      assertClose(logDets[i], Math.log(derivative), 1e-4, 1e-5, `log dy/dx at level ${levels[i]}`);
    });
  });

  it('the density a standard normal in logit space induces on [0, 1] integrates to 1 (log-det sign and scale)', () => {
    const n = 200000;
    let integral = 0;
    for (let i = 0; i < n; i++) {
      const x = (i + 0.5) / n;
      const y = Float32Array.of(logit(x));
      integral += Math.exp(logStandardNormal(y[0]) + logitLogDet(y, 1)[0]) / n;
    }
    assertClose(integral, 1, 1e-4, 0, 'integral of p_x over [0, 1]');
  });

  it('bits/dim: the uniform density on [0, 1]^d is 8 bits, each nat per dimension less is 1/ln 2 bits less', () => {
    assertClose(bitsPerDim(0, 49), 8, 1e-12, 0, 'uniform');
    assertClose(bitsPerDim(-49, 49), 8 - 1 / Math.LN2, 1e-12, 0, 'one nat per dimension more likely');
  });

  it('the feature classifier of the Fréchet distance reads held-out 7x7 digits far better than chance', async () => {
    const data = (split: 'train' | 'test') => {
      const pool = downscalePool(mnistDigits(split), 4);
      return { images: pool.images, labels: pool.labels!, pixels: 49 };
    };
    const classifier = await DigitClassifier.train(data('train'), new Rng('classifier-test'));
    const accuracy = await classifier.accuracy(data('test'));
    assert.ok(accuracy > 0.8, `held-out accuracy ${accuracy}`);
    classifier.dispose();
  });

  it("the task's bits/dim of a zero field (p_y = N(0, I)) equals the closed form through the transforms", async () => {
    const config = resolveConfig({ task: 'mnist', preset: 'ci', overrides: { iterations: 1 } });
    const { spec } = gridJobs(config, mnistTask).find((job) => job.spec.method === 'cfm')!;
    const rng = new Rng('mnist-bookkeeping');
    const experiment = mnistTask.createExperiment(config, spec, rng);
    for (const variable of experiment.variables) variable.assign(tf.zerosLike(variable));
    const { metrics } = await experiment.evaluate();
    // The held-out points the evaluation drew (its stream, forked by name as evaluate() does).
    const target = densityTarget(experiment)!;
    const points = target.sample(config.eval.nllSamples, rng.fork('eval').fork('held-out'));
    const dim = target.dim;
    const logDet = logitLogDet(points, dim);
    let nll = 0;
    for (let r = 0; r < points.length / dim; r++) {
      let logp = logDet[r];
      for (let j = r * dim; j < (r + 1) * dim; j++) logp += logStandardNormal(points[j]);
      nll -= logp / (points.length / dim);
    }
    assertClose(metrics.nll, nll, 1e-3, 1e-5, 'NLL in pixel units');
    assertClose(metrics.bitsPerDim, bitsPerDim(nll, dim), 1e-5, 1e-6, 'bits/dim');
    experiment.dispose();
  });
});
