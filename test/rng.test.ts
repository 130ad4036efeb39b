import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../src/random/rng';

function draws(rng: Rng): number[] {
  return [rng.uniform(), rng.normal(), rng.int(1000), ...rng.uniformArray(3), ...rng.normalArray(3), ...rng.rademacherArray(3)];
}

describe('Rng state', () => {
  it('continues exactly where it stood, cached Box-Muller normal included, after a JSON round trip', () => {
    const rng = new Rng('state-test');
    rng.uniformArray(17);
    rng.normal(); // leaves the pair's second normal cached
    const saved = JSON.parse(JSON.stringify(rng.state()));
    const expected = draws(rng);
    const restored = new Rng('a different seed');
    restored.restore(saved);
    assert.deepEqual(draws(restored), expected);
  });

  it('leaves the saved state unchanged as the stream goes on, and forks by name only', () => {
    const rng = new Rng('state-test');
    const saved = rng.state();
    const copy = structuredClone(saved);
    draws(rng);
    assert.deepEqual(saved, copy);
    assert.deepEqual(draws(rng.fork('x')), draws(new Rng('state-test').fork('x')));
  });
  it('draws categorical classes with their probabilities, from an offset into a longer array', () => {
    const rng = new Rng('categorical');
    const probs = [0.9, 0.1, 0.2, 0.5, 0.3];
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[rng.categorical(probs, 2, 3)]++;
    [0.2, 0.5, 0.3].forEach((p, j) => {
      const standardError = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(counts[j] / n - p) < 4 * standardError, `class ${j}: ${counts[j] / n} vs ${p}`);
    });
  });
});
