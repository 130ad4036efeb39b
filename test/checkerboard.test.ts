import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../src/random/rng';
import { CHECKERBOARD_ENTROPY, checkerboard } from '../src/tasks/toy2d/samplers';

describe('checkerboard sampler', () => {
  const n = 40000;
  const points = checkerboard(n, new Rng('checkerboard-test'));
  // Square index in the unscaled (a, b) plane: column floor(a) in -2..1, row floor(b) in -2..1.
  const cells = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const a = points[2 * i] * 0.45;
    const b = points[2 * i + 1] * 0.45;
    const key = `${Math.floor(a + 1e-6)},${Math.floor(b + 1e-6)}`;
    cells.set(key, (cells.get(key) ?? 0) + 1);
  }

  it('puts every point on the 8 dark squares of the reference board', () => {
    // b's offset is floor(a) mod 2 (Python's rule, non-negative), so floor(a) + floor(b) is even.
    const expected = ['-2,-2', '-2,0', '-1,-1', '-1,1', '0,-2', '0,0', '1,-1', '1,1'];
    assert.deepEqual([...cells.keys()].sort(), expected.sort());
  });

  it('fills each square with 1/8 of the mass, uniformly', () => {
    for (const [cell, count] of cells) {
      // Binomial(n, 1/8): sd = sqrt(n p (1 - p)) ~ 66; allow 5 sd.
      assert.ok(Math.abs(count - n / 8) < 5 * Math.sqrt((n * 7) / 64), `square ${cell}: ${count}`);
    }
    let meanA = 0;
    for (let i = 0; i < n; i++) meanA += points[2 * i] * 0.45;
    // a ~ U[-2, 2): mean 0, sd 2/sqrt(3).
    assert.ok(Math.abs(meanA / n) < 5 * (2 / Math.sqrt(3)) / Math.sqrt(n));
  });

  it('has entropy ln(8 / 0.45^2) = 3.676 nats, i.e. density 0.45^2 / 8 on its support', () => {
    assert.ok(Math.abs(CHECKERBOARD_ENTROPY - 3.676) < 5e-4);
    assert.ok(Math.abs(Math.exp(-CHECKERBOARD_ENTROPY) - 0.02531) < 1e-5);
  });
});
