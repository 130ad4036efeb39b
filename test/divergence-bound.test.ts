import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { GaussianMixture, sampleMixture } from '../src/datasets/gaussian-mixture';
import { divergenceBounds, quadratureGrid, timeQuadrature } from '../src/metrics/divergence-bound';
import { MixtureMarginalField } from '../src/models/gmm-field';
import { GaussianMixturePath } from '../src/paths/gaussian-mixture-path';
import { Mlp } from '../src/models/mlp';
import { AffinePath, condOtSchedule } from '../src/paths/affine';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertClose } from './helpers/numeric';

const mixture: GaussianMixture = { weights: [0.4, 0.6], means: [[-1.2], [1]], stds: [0.25, 0.3] };
const schedule = condOtSchedule(0.05);
const path = new GaussianMixturePath(mixture, schedule);
const affine = new AffinePath(schedule);
const options = {
  range: [-6, 6] as [number, number],
  gridPerAxis: 300,
  conditionalSamples: 2000,
  batchSize: 300,
  solver: { solver: 'rk4' as const, steps: 60 },
};

describe('TV bound on a Gaussian-mixture target', () => {
  before(useTestBackend);

  it('integrates polynomials exactly over [0, 1] with the time quadrature', () => {
    const { t, w } = timeQuadrature();
    for (const power of [0, 1, 5, 9]) {
      assertClose(t.reduce((acc, ti, i) => acc + w[i] * ti ** power, 0), 1 / (power + 1), 1e-9, 0, `∫ t^${power}`);
    }
  });

  it('builds a grid whose cells tile the range', () => {
    const { points, cell } = quadratureGrid([-1, 1], 4, 2);
    assert.equal(points.length, 2 * 16);
    assertClose(cell * 16, 4, 1e-12, 0, 'area');
    assert.deepEqual(Array.from(points.subarray(0, 4)), [-0.75, -0.75, -0.25, -0.75]);
  });

  it('samples the mixture with its weights, means and spreads', () => {
    const x = sampleMixture(mixture, 20000, new Rng('mix'));
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    assertClose(mean, 0.4 * -1.2 + 0.6 * 1, 0.03, 0, 'mixture mean');
  });

  it('is zero for the exact marginal field: TV, the marginal bound and the flow errors vanish', async () => {
    const report = await divergenceBounds(new MixtureMarginalField(path), path, affine, options, new Rng('exact'));
    assertClose(report.gridMass, 1, 1e-6, 0, 'p_1 mass on the grid');
    assertClose(report.tv, 0, 2e-3, 0, 'TV');
    assertClose(report.boundMarginal, 0, 1e-6, 0, 'marginal bound');
    assertClose(report.flowErrorMarginal, 0, 1e-8, 0, 'flow error');
    assertClose(report.divErrorMarginal, 0, 1e-8, 0, 'divergence error');
    assert.ok(report.boundConditional > 0.05, 'the conditional bound stays positive: conditional and marginal fields differ');
  });

  it('orders TV <= marginal bound <= conditional bound for an arbitrary field', async () => {
    const model = new Mlp({ dim: 1, hidden: 16, depth: 2 }, new Rng('untrained'));
    const report = await divergenceBounds(model, path, affine, options, new Rng('chain'));
    assert.ok(report.tv > 0.05, `an untrained field is far from the target (TV ${report.tv})`);
    assert.ok(report.tv <= report.boundMarginal, `TV ${report.tv} <= marginal bound ${report.boundMarginal}`);
    assert.ok(
      report.boundMarginal <= report.boundConditional + 3 * report.boundConditionalStdErr,
      `marginal ${report.boundMarginal} <= conditional ${report.boundConditional} ± ${report.boundConditionalStdErr}`,
    );
    model.dispose();
  });
});
