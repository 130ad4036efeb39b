import { before, describe, it } from 'node:test';
import { GaussianMixture } from '../src/datasets/gaussian-mixture';
import { MixtureMarginalField } from '../src/models/gmm-field';
import { GaussianMixturePath } from '../src/paths/gaussian-mixture-path';
import { affineSchedule, condOtSchedule } from '../src/paths/affine';
import { Rng } from '../src/random/rng';
import { logLikelihood } from '../src/solvers/flow';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

const mixture2d: GaussianMixture = { weights: [0.3, 0.7], means: [[-1, 0.5], [1.2, -0.4]], stds: [0.3, 0.5] };
const mixture1d: GaussianMixture = { weights: [0.2, 0.5, 0.3], means: [[-1.5], [0], [1.5]], stds: [0.1, 0.2, 0.1] };
const paths = [
  ['2D condot', new GaussianMixturePath(mixture2d, condOtSchedule(0.01))],
  ['2D vp', new GaussianMixturePath(mixture2d, affineSchedule('vp'))],
  ['1D cosine', new GaussianMixturePath(mixture1d, affineSchedule('cosine'))],
] as const;

function shifted(x: number[], i: number, h: number): number[] {
  return x.map((v, j) => (j === i ? v + h : v));
}

describe('closed-form marginal path of a Gaussian mixture', () => {
  before(useTestBackend);

  for (const [name, path] of paths) {
    const rng = new Rng(name);
    const points = [0.1, 0.4, 0.7, 0.95].map((t) => ({ t, x: Array.from(rng.normalArray(path.dim)) }));

    it(`${name}: score and div u match finite differences`, () => {
      const h = 1e-5;
      for (const { t, x } of points) {
        const p = path.at(x, t);
        const fdScore = x.map((_, i) => (path.at(shifted(x, i, h), t).logDensity - path.at(shifted(x, i, -h), t).logDensity) / (2 * h));
        assertAllClose(p.score, fdScore, 1e-6, 1e-5, `score at t=${t}`);
        const fdDiv = x.reduce((acc, _, i) => acc + (path.at(shifted(x, i, h), t).velocity[i] - path.at(shifted(x, i, -h), t).velocity[i]) / (2 * h), 0);
        assertClose(p.divergence, fdDiv, 1e-6, 1e-5, `div u at t=${t}`);
        const z = Array.from(rng.normalArray(path.dim));
        const fdJz = x.map((_, i) => z.reduce((acc, zk, k) => acc + zk * (path.at(shifted(x, k, h), t).velocity[i] - path.at(shifted(x, k, -h), t).velocity[i]) / (2 * h), 0));
        assertAllClose(path.jacobianTimes(x, t, z), fdJz, 1e-6, 1e-5, `J z at t=${t}`);
      }
    });

    it(`${name}: the continuity equation d/dt log p + div u + u . grad log p = 0 holds`, () => {
      const h = 1e-6;
      for (const { t, x } of points) {
        const p = path.at(x, t);
        const dlogp = (path.at(x, t + h).logDensity - path.at(x, t - h).logDensity) / (2 * h);
        const transport = p.divergence + p.velocity.reduce((acc, ui, i) => acc + ui * p.score[i], 0);
        assertClose(dlogp + transport, 0, 1e-5 * (1 + Math.abs(dlogp)), 0, `continuity at t=${t}`);
      }
    });
  }

  it('transports N(0, I) onto the mixture: the exact likelihood of its flow is the mixture density', async () => {
    const path = new GaussianMixturePath(mixture1d, condOtSchedule(0.01));
    const field = new MixtureMarginalField(path);
    const xs = Float32Array.of(-1.5, -0.2, 0, 0.3, 1.45);
    const { logp } = await logLikelihood(field, xs, { solver: 'dopri5', rtol: 1e-7, atol: 1e-7, batchSize: 8, divergence: 'exact' });
    // p_1 is the mixture blurred by sigma_min: variances s_k^2 + 0.01^2.
    xs.forEach((x, i) => assertClose(logp[i], path.at([x], 1).logDensity, 2e-3, 0, `log p_1(${x})`));
  });

  it('the likelihood from an earlier time t is the marginal p_t (the paper\'s Figure 2), on CondOT and VP', async () => {
    for (const schedule of [condOtSchedule(0.01), affineSchedule('vp')]) {
      const path = new GaussianMixturePath(mixture1d, schedule);
      const field = new MixtureMarginalField(path);
      const xs = Float32Array.of(-1.2, -0.2, 0, 0.3, 1.1);
      for (const t of [0.6, 0.85]) {
        const { logp } = await logLikelihood(field, xs, { solver: 'dopri5', rtol: 1e-7, atol: 1e-7, batchSize: 8, divergence: 'exact', fromTime: t });
        xs.forEach((x, i) => assertClose(logp[i], path.at([x], t).logDensity, 2e-3, 0, `log p_${t}(${x})`));
      }
    }
  });
});
