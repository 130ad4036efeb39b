import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/backend/tf';
import { integrate, OdeFunction, SolverName, SolverOptions } from '../src/solvers/ode';
import { useTestBackend } from './helpers/backend';

// A time-dependent linear test problem, dy/dt = -(1 + 2t) y, so y(t) = y(0) exp(-(t + t^2)).
// The t-dependence makes a stage evaluated at the wrong time show up as a lost order.
const decay: OdeFunction = (t, y) => tf.mul(y, -(1 + 2 * t));
const Y0 = [
  [1, -2],
  [0.5, 3],
];
const exactAt = (t: number) => Y0.flat().map((v) => v * Math.exp(-(t + t * t)));

async function solveDecay(t0: number, t1: number, y0: number[], options: SolverOptions) {
  const start = tf.tensor2d(y0, [2, 2]);
  const { y, stats } = await integrate(decay, start, t0, t1, options);
  const values = Array.from(y.dataSync());
  tf.dispose([start, y]);
  return { values, stats };
}

const maxAbsError = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

async function forwardError(solver: SolverName, steps: number): Promise<number> {
  return maxAbsError((await solveDecay(0, 1, Y0.flat(), { solver, steps })).values, exactAt(1));
}

describe('ODE solvers', () => {
  before(async () => {
    await useTestBackend();
  });

  // Step counts keep every error far above float32 round-off and inside the asymptotic regime.
  const orderCases: [Exclude<SolverName, 'dopri5'>, number, number[]][] = [
    ['euler', 1, [20, 40, 80]],
    ['midpoint', 2, [10, 20, 40]],
    ['rk4', 4, [4, 8, 16]],
  ];
  for (const [solver, order, stepCounts] of orderCases) {
    it(`${solver} converges at order ${order}`, async () => {
      const errors: number[] = [];
      for (const steps of stepCounts) errors.push(await forwardError(solver, steps));
      for (let i = 1; i < errors.length; i++) {
        const observed = Math.log2(errors[i - 1] / errors[i]);
        assert.ok(Math.abs(observed - order) <= 0.3, `${solver}: observed order ${observed.toFixed(3)} from errors ${errors}`);
      }
    });
  }

  it('fixed-step solvers integrate backward in time and count evaluations', async () => {
    const { values, stats } = await solveDecay(1, 0, exactAt(1), { solver: 'rk4', steps: 40 });
    assert.ok(maxAbsError(values, Y0.flat()) < 1e-5, `backward rk4 error ${maxAbsError(values, Y0.flat())}`);
    assert.deepEqual(stats, { nfe: 160, steps: 40, rejected: 0 });
  });

  for (const tol of [1e-3, 1e-6]) {
    it(`dopri5 meets rtol = atol = ${tol} forward and backward`, async () => {
      const options: SolverOptions = { solver: 'dopri5', rtol: tol, atol: tol };
      const forward = await solveDecay(0, 1, Y0.flat(), options);
      const backward = await solveDecay(1, 0, exactAt(1), options);
      for (const [result, exact] of [
        [forward, exactAt(1)],
        [backward, Y0.flat()],
      ] as const) {
        // Global error of a smooth decaying problem stays within a few local tolerances, plus float32 round-off.
        const allowed = exact.map((v) => 3 * (tol + tol * Math.abs(v)) + 1e-6);
        result.values.forEach((v, i) => assert.ok(Math.abs(v - exact[i]) <= allowed[i], `entry ${i}: ${v} vs ${exact[i]}`));
        assert.ok(result.stats.steps > 0 && result.stats.nfe >= 6 * result.stats.steps);
      }
    });
  }

  it('dopri5 takes fewer steps at a looser tolerance', async () => {
    const loose = (await solveDecay(0, 1, Y0.flat(), { solver: 'dopri5', rtol: 1e-3, atol: 1e-3 })).stats;
    const tight = (await solveDecay(0, 1, Y0.flat(), { solver: 'dopri5', rtol: 1e-6, atol: 1e-6 })).stats;
    assert.ok(loose.steps < tight.steps, `loose ${JSON.stringify(loose)} vs tight ${JSON.stringify(tight)}`);
  });

  it('dopri5 throws when it runs out of steps', async () => {
    const y0 = tf.tensor2d(Y0.flat(), [2, 2]);
    const before = tf.memory().numTensors;
    await assert.rejects(() => integrate(decay, y0, 0, 1, { solver: 'dopri5', rtol: 1e-7, atol: 1e-7, maxSteps: 3 }), /maxSteps=3/);
    assert.equal(tf.memory().numTensors, before);
    y0.dispose();
  });

  it('dopri5 throws on non-finite values', async () => {
    const y0 = tf.ones([2, 2]) as tf.Tensor2D;
    const poisoned: OdeFunction = (t, y) => (t > 0.5 ? tf.mul(y, NaN) : tf.neg(y));
    const before = tf.memory().numTensors;
    await assert.rejects(() => integrate(poisoned, y0, 0, 1, { solver: 'dopri5' }), /non-finite/);
    assert.equal(tf.memory().numTensors, before);
    y0.dispose();
  });

  for (const solver of ['euler', 'midpoint', 'rk4', 'dopri5'] as const) {
    it(`${solver} keeps the tensor count flat during and after a long integration`, async () => {
      const y0 = tf.tensor2d(Y0.flat(), [2, 2]);
      const counts: number[] = [];
      const counting: OdeFunction = (t, y) => {
        counts.push(tf.memory().numTensors);
        return decay(t, y);
      };
      const before = tf.memory().numTensors;
      const { y } = await integrate(counting, y0, 0, 3, { solver, steps: 200, rtol: 1e-7, atol: 1e-7 });
      assert.equal(tf.memory().numTensors, before + 1);
      assert.ok(counts.length > 100, `only ${counts.length} evaluations`);
      // Within one step the stages accumulate; across steps the count must not drift upward.
      const late = counts.slice(-counts.length / 4);
      const early = counts.slice(0, counts.length / 4);
      assert.ok(Math.max(...late) <= Math.max(...early), `tensor count grew from ${Math.max(...early)} to ${Math.max(...late)}`);
      tf.dispose([y0, y]);
    });
  }
});
