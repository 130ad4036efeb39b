import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { AffinePath, affineSchedule, AffineSchedule, condOtSchedule, VE_SIGMA_MAX, VE_SIGMA_MIN } from '../src/paths/affine';
import { disposeQuantities } from '../src/paths/path';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertAllClose, assertClose } from './helpers/numeric';

const schedules: AffineSchedule[] = [
  affineSchedule('condot'),
  condOtSchedule(0.01),
  affineSchedule('vp'),
  affineSchedule('cosine'),
  affineSchedule('ve'),
];
const DIM = 3;

/** A few (x, x1, t) triples with x near the bulk of p_t(. | x1). */
function points(schedule: AffineSchedule, rng: Rng) {
  return [0.1, 0.35, 0.6, 0.85].map((t) => {
    const x1 = Float64Array.from(rng.normalArray(DIM));
    const x = x1.map((v) => schedule.alpha(t) * v + schedule.sigma(t) * rng.normal());
    return { t, x, x1 };
  });
}

function quantitiesAt(path: AffinePath, x: Float64Array, x1: Float64Array, t: number) {
  const q = path.conditionalAt(tf.tensor2d([Array.from(x)]), tf.tensor2d([Array.from(x1)]), Float32Array.of(t));
  const out = {
    u: Array.from(q.u.dataSync()),
    score: Array.from(q.score.dataSync()),
    divU: q.divU.dataSync()[0],
    duDiag: Array.from(q.duDiag.dataSync()),
    weight: q.weight.dataSync()[0],
  };
  disposeQuantities(q);
  return out;
}

function shifted(x: Float64Array, i: number, h: number): Float64Array {
  const y = Float64Array.from(x);
  y[i] += h;
  return y;
}

describe('affine Gaussian paths', () => {
  before(useTestBackend);

  it("ve: sigma_t = sigma(1 - t) with the authors' sigma(tau), its derivative a finite difference, and the source N(0, sigma(1)^2)", () => {
    const ve = affineSchedule('ve');
    const sigmaOfTau = (tau: number) => VE_SIGMA_MIN * Math.sqrt((VE_SIGMA_MAX / VE_SIGMA_MIN) ** (2 * tau) - 1);
    for (const t of [0, 0.2, 0.5, 0.9, 0.999]) {
      assertClose(ve.alpha(t), 1, 0, 0, 'alpha = 1');
      assertClose(ve.sigma(t), sigmaOfTau(1 - t), 0, 1e-12, `sigma at t=${t}`);
      const h = 1e-7;
      if (t > 0) assertClose(ve.dSigma(t), (ve.sigma(t + h) - ve.sigma(t - h)) / (2 * h), 0, 1e-5, `dsigma/dt at t=${t}`);
    }
    assertClose(ve.sigma(1), 0, 0, 0, 'sigma_1 = 0: the path ends at the data');
    assertClose(ve.sourceStd, sigmaOfTau(1), 0, 1e-12, 'source std');
    assertClose(ve.sourceStd, VE_SIGMA_MAX, 0, 1e-6, 'source std ~ sigma_max');
  });

  for (const schedule of schedules) {
    const path = new AffinePath(schedule);

    it(`${schedule.name}: score matches a finite difference of log p_t(x | x1)`, () => {
      for (const { t, x, x1 } of points(schedule, new Rng('score'))) {
        const h = 1e-5;
        const fd = Array.from(x, (_, i) => (path.logDensity(shifted(x, i, h), x1, t) - path.logDensity(shifted(x, i, -h), x1, t)) / (2 * h));
        assertAllClose(quantitiesAt(path, x, x1, t).score, fd, 1e-4, 1e-4, `score at t=${t}`);
      }
    });

    it(`${schedule.name}: continuity equation d/dt log p + div u + u . score = 0`, () => {
      for (const { t, x, x1 } of points(schedule, new Rng('continuity'))) {
        const h = 1e-5;
        const dlogp = (path.logDensity(x, x1, t + h) - path.logDensity(x, x1, t - h)) / (2 * h);
        const q = quantitiesAt(path, x, x1, t);
        const transport = q.divU + q.u.reduce((acc, ui, i) => acc + ui * q.score[i], 0);
        assertClose(dlogp + transport, 0, 1e-3 * (1 + Math.abs(dlogp)), 0, `continuity residual at t=${t}`);
      }
    });

    it(`${schedule.name}: div u and du/dx match a finite-difference Jacobian of u`, () => {
      for (const { t, x, x1 } of points(schedule, new Rng('jacobian'))) {
        const h = 1e-2; // u is affine in x, so the central difference is exact up to rounding
        const diag = Array.from(x, (_, i) => (quantitiesAt(path, shifted(x, i, h), x1, t).u[i] - quantitiesAt(path, shifted(x, i, -h), x1, t).u[i]) / (2 * h));
        const q = quantitiesAt(path, x, x1, t);
        assertAllClose(q.duDiag, diag, 1e-3, 1e-3, `du/dx diagonal at t=${t}`);
        assertClose(q.divU, diag.reduce((a, b) => a + b, 0), 1e-3, 1e-3, `div u at t=${t}`);
        assertClose(q.weight, schedule.sigma(t), 1e-6, 1e-6, 'weight = sigma_t');
      }
    });

    it(`${schedule.name}: sample() gives x_t = alpha x1 + sigma x0 and the quantities at x_t`, () => {
      const rng = new Rng('sample');
      const n = 16;
      const x0 = tf.tensor2d(rng.normalArray(n * DIM), [n, DIM]);
      const x1 = tf.tensor2d(rng.normalArray(n * DIM), [n, DIM]);
      const t = rng.uniformArray(n, 0.05, 0.95);
      const s = path.sample(x0, x1, t);
      const q = path.conditionalAt(s.xt, x1, t);
      const x0v = x0.dataSync(), x1v = x1.dataSync(), xt = s.xt.dataSync();
      const expected = Array.from(xt, (_, k) => {
        const ti = t[Math.floor(k / DIM)];
        return schedule.alpha(ti) * x1v[k] + schedule.sigma(ti) * x0v[k];
      });
      assertAllClose(xt, expected, 1e-5, 1e-5, 'x_t');
      assertAllClose(s.u.dataSync(), q.u.dataSync(), 1e-4, 1e-4, 'u at x_t');
      assertAllClose(s.score.dataSync(), q.score.dataSync(), 1e-3, 1e-3, 'score at x_t');
      assertAllClose(s.divU.dataSync(), q.divU.dataSync(), 1e-5, 1e-5, 'div u at x_t');
      tf.dispose([x0, x1]);
      disposeQuantities(s);
      disposeQuantities(q);
    });
  }
});
