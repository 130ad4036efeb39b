import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wasserstein2 } from '../src/metrics/wasserstein';
import { Rng } from '../src/random/rng';
import { assertClose } from './helpers/numeric';

/** W2 by trying every matching: the definition itself, for a handful of points. */
function bruteForceW2(a: Float32Array, b: Float32Array, dim: number): number {
  const n = a.length / dim;
  let best = Infinity;
  const visit = (order: number[], rest: number[]) => {
    if (rest.length === 0) {
      let cost = 0;
      order.forEach((j, i) => {
        for (let k = 0; k < dim; k++) cost += (a[i * dim + k] - b[j * dim + k]) ** 2;
      });
      best = Math.min(best, cost);
      return;
    }
    rest.forEach((j) => visit([...order, j], rest.filter((other) => other !== j)));
  };
  visit([], [...Array(n).keys()]);
  return Math.sqrt(best / n);
}

describe('wasserstein2', () => {
  const rng = new Rng('wasserstein-test');

  it('equals the best of all n! matchings on small sets in 1 to 3 dimensions', () => {
    for (let n = 1; n <= 7; n++) {
      for (const dim of [1, 2, 3]) {
        const a = rng.normalArray(n * dim);
        const b = rng.uniformArray(n * dim, -2, 2);
        assertClose(wasserstein2(a, b, dim), bruteForceW2(a, b, dim), 1e-12, 1e-12, `n ${n}, dim ${dim}`);
      }
    }
  });

  it('matches sorted order in 1D, the closed form, on 1,000 points', () => {
    const n = 1000;
    const a = rng.normalArray(n);
    const b = rng.uniformArray(n, -1, 3);
    const [sortedA, sortedB] = [Float64Array.from(a).sort(), Float64Array.from(b).sort()];
    const meanSquare = sortedA.reduce((sum, value, i) => sum + (value - sortedB[i]) ** 2, 0) / n;
    assertClose(wasserstein2(a, b, 1), Math.sqrt(meanSquare), 1e-12, 1e-9, 'W2 in 1D');
  });

  it('is 0 between a set and a shuffled copy, and |c| after a shift by c', () => {
    const n = 200;
    const a = rng.normalArray(2 * n);
    const reversed = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) reversed.set(a.subarray(2 * (n - 1 - i), 2 * (n - i)), 2 * i);
    assert.equal(wasserstein2(a, reversed, 2), 0);
    // Any matching s costs sum |a_i - a_s(i)|^2 + n |c|^2 (the cross term sums to 0), so the identity is optimal.
    const shifted = a.map((value, i) => value + (i % 2 === 0 ? 0.3 : -0.4));
    assertClose(wasserstein2(a, shifted, 2), 0.5, 1e-6, 0, 'shift by (0.3, -0.4)');
  });

  it('rejects sets of different sizes and malformed arrays', () => {
    assert.throws(() => wasserstein2(new Float32Array(4), new Float32Array(6), 2), /same number of points/);
    assert.throws(() => wasserstein2(new Float32Array(3), new Float32Array(3), 2), /whole number/);
    assert.throws(() => wasserstein2(new Float32Array(0), new Float32Array(0), 2), /whole number/);
    assert.throws(() => wasserstein2(new Float32Array(2), new Float32Array(2), 0), /dim/);
  });
});
