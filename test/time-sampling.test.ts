import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drawTrainingTimes } from '../src/paths/time-sampling';
import { Rng } from '../src/random/rng';

describe('training time sampling', () => {
  it('uniform times carry no weights and stay on [0, tMax)', () => {
    const { t, weights } = drawTrainingTimes('uniform', 1000, 0.9, new Rng('u'));
    assert.equal(weights, null);
    assert.ok(t.every((x) => x >= 0 && x < 0.9));
  });

  it("'late' times are denser towards tMax and their weights make every average the uniform one", () => {
    const tMax = 1 - 1e-5;
    const n = 200000;
    const { t, weights } = drawTrainingTimes('late', n, tMax, new Rng('late'));
    assert.ok(weights);
    assert.ok(t.every((x) => x >= 0 && x < tMax));
    // Mass of [0.9, tMax): sqrt(1 - 0.9/tMax) ~ 0.32 under 'late', 0.1 under uniform.
    const late = t.filter((x) => x >= 0.9).length / n;
    assert.ok(Math.abs(late - Math.sqrt(1 - 0.9 / tMax)) < 0.005, `fraction above 0.9: ${late}`);
    // E_late[w f(t)] = (1/tMax) int_0^tMax f: for f = 1, t^2 and 1/(1.01 - t), against closed forms.
    const closedForms: Array<[string, (x: number) => number, number]> = [
      ['1', () => 1, 1],
      ['t^2', (x) => x * x, tMax ** 2 / 3],
      ['1/(1.01 - t)', (x) => 1 / (1.01 - x), Math.log(1.01 / (1.01 - tMax)) / tMax],
    ];
    for (const [name, f, expected] of closedForms) {
      const values = Array.from(t, (x, i) => weights[i] * f(x));
      const mean = values.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
      assert.ok(Math.abs(mean - expected) < 4 * (sd / Math.sqrt(n)), `E[w ${name}] = ${mean}, expected ${expected} (s.e. ${sd / Math.sqrt(n)})`);
    }
  });
});
