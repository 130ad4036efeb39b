import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/random/rng';
import {
  MEDIAN_SUBSAMPLE_POINTS,
  energyDistance,
  medianPairwiseDistance,
  mmdRbf,
} from '../src/metrics/sample-quality';

function assertClose(actual: number, expected: number, tolerance: number): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `expected ${expected} ± ${tolerance}, got ${actual}`);
}

/** Standard normal points in `dim` dimensions, shifted along the first axis. */
function gaussian(rng: Rng, count: number, dim: number, shift = 0): Float32Array {
  const points = rng.normalArray(count * dim);
  for (let i = 0; i < points.length; i += dim) points[i] += shift;
  return points;
}

function translate(points: Float32Array, offset: number[]): Float32Array {
  return points.map((value, index) => value + offset[index % offset.length]);
}

describe('energyDistance', () => {
  it('matches a hand computation in 1D', () => {
    // a = {0, 1}, b = {3, 5}
    // cross |a_i - b_j|: 3, 5, 2, 4 -> mean 14/4 = 3.5
    // within a (i != j): |0 - 1| twice / 2 = 1;  within b: |3 - 5| twice / 2 = 2
    // D^2 = 2 * 3.5 - 1 - 2 = 4
    const value = energyDistance(Float32Array.of(0, 1), Float32Array.of(3, 5), 1);
    assertClose(value, 4, 1e-12);
  });

  it('uses the Euclidean norm and is negative for two equal finite samples', () => {
    // a = b = {(0,0), (3,4)}: cross distances 0, 5, 5, 0 -> mean 2.5; within each sample 5.
    // D^2 = 2 * 2.5 - 5 - 5 = -5: the U-statistics drop the zero self-distances.
    const points = Float32Array.of(0, 0, 3, 4);
    assertClose(energyDistance(points, points, 2), -5, 1e-12);
  });

  it('is symmetric and invariant to translating both samples', () => {
    const rng = new Rng('energy-symmetry');
    const a = gaussian(rng.fork('a'), 60, 3);
    const b = gaussian(rng.fork('b'), 45, 3, 1);
    const value = energyDistance(a, b, 3);
    assertClose(energyDistance(b, a, 3), value, 1e-12);
    const offset = [3, -2, 0.5];
    assertClose(energyDistance(translate(a, offset), translate(b, offset), 3), value, 1e-5);
  });

  it('is near zero for the same distribution and clearly positive for a shift', () => {
    const rng = new Rng('energy-power');
    const a = gaussian(rng.fork('a'), 1000, 2);
    const same = gaussian(rng.fork('same'), 1000, 2);
    const shifted = gaussian(rng.fork('shifted'), 1000, 2, 1);
    assertClose(energyDistance(a, same, 2), 0, 0.01);
    // Population value for a unit shift of a 2D standard normal: 2 sqrt(pi) (L_{1/2}(-1/4) - 1) ≈ 0.43.
    assert.ok(energyDistance(a, shifted, 2) > 0.25);
  });

  it('rejects malformed input', () => {
    assert.throws(() => energyDistance(Float32Array.of(0, 1, 2), Float32Array.of(0, 1), 2), RangeError);
    assert.throws(() => energyDistance(Float32Array.of(0), Float32Array.of(0, 1), 1), RangeError);
  });
});

describe('mmdRbf', () => {
  it('matches a hand computation in 1D with a given bandwidth', () => {
    // a = {0, 1}, b = {2, 3}, h = 1, k(r) = exp(-r^2 / 2)
    // within a: k(1) = e^-0.5; within b: k(1) = e^-0.5
    // cross distances 2, 3, 1, 2 -> mean (2 e^-2 + e^-4.5 + e^-0.5) / 4
    // MMD^2 = 2 e^-0.5 - (2 e^-2 + e^-4.5 + e^-0.5) / 2 = 1.5 e^-0.5 - e^-2 - 0.5 e^-4.5
    const expected = 1.5 * Math.exp(-0.5) - Math.exp(-2) - 0.5 * Math.exp(-4.5);
    const result = mmdRbf(Float32Array.of(0, 1), Float32Array.of(2, 3), 1, 1);
    assertClose(result.mmd2, expected, 1e-12);
    assert.equal(result.bandwidth, 1);
  });

  it('is negative for two equal finite samples', () => {
    // a = b = {(0,0), (3,4)}, h = 5: within each k(5) = e^-0.5; cross mean (1 + 1 + 2 e^-0.5) / 4.
    // MMD^2 = 2 e^-0.5 - (1 + e^-0.5) = e^-0.5 - 1
    const points = Float32Array.of(0, 0, 3, 4);
    assertClose(mmdRbf(points, points, 2, 5).mmd2, Math.exp(-0.5) - 1, 1e-12);
  });

  it('picks the median pairwise distance of the pooled sample as bandwidth', () => {
    // pooled {0, 1, 3, 7}: distances 1, 3, 7, 2, 6, 4 -> sorted 1 2 3 4 6 7 -> median (3 + 4) / 2
    const result = mmdRbf(Float32Array.of(0, 1), Float32Array.of(3, 7), 1);
    assert.equal(result.bandwidth, 3.5);
    const explicit = mmdRbf(Float32Array.of(0, 1), Float32Array.of(3, 7), 1, 3.5);
    assertClose(result.mmd2, explicit.mmd2, 0);
  });

  it('is symmetric and invariant to translating both samples', () => {
    const rng = new Rng('mmd-symmetry');
    const a = gaussian(rng.fork('a'), 60, 3);
    const b = gaussian(rng.fork('b'), 45, 3, 1);
    const { mmd2, bandwidth } = mmdRbf(a, b, 3);
    const swapped = mmdRbf(b, a, 3);
    assertClose(swapped.mmd2, mmd2, 1e-12);
    assertClose(swapped.bandwidth, bandwidth, 1e-12);
    const offset = [3, -2, 0.5];
    const moved = mmdRbf(translate(a, offset), translate(b, offset), 3);
    assertClose(moved.mmd2, mmd2, 1e-5);
    assertClose(moved.bandwidth, bandwidth, 1e-5);
  });

  it('is near zero for the same distribution and clearly positive for a shift', () => {
    const rng = new Rng('mmd-power');
    const a = gaussian(rng.fork('a'), 1000, 2);
    const same = gaussian(rng.fork('same'), 1000, 2);
    const shifted = gaussian(rng.fork('shifted'), 1000, 2, 1);
    assertClose(mmdRbf(a, same, 2).mmd2, 0, 0.005);
    assert.ok(mmdRbf(a, shifted, 2).mmd2 > 0.05);
  });
});

describe('medianPairwiseDistance', () => {
  it('subsamples large pools deterministically and stays close to the full median', () => {
    // 3001 evenly spaced points on [0, 1] behave like U[0, 1], whose pairwise distance has median
    // 1 - 1/sqrt(2) (solve P(|U - U'| <= t) = 1 - (1 - t)^2 = 1/2).
    const count = 3001;
    assert.ok(count > MEDIAN_SUBSAMPLE_POINTS);
    const points = Float32Array.from({ length: count }, (_, i) => i / (count - 1));
    const median = medianPairwiseDistance(points, 1);
    assertClose(median, 1 - Math.SQRT1_2, 2e-3);
    assert.equal(medianPairwiseDistance(points, 1), median);
  });

  it('falls back to positive distances when most points coincide', () => {
    // {0, 0, 0, 2}: distances 0, 0, 2, 0, 2, 2 -> median 1 (positive already)
    assert.equal(medianPairwiseDistance(Float32Array.of(0, 0, 0, 2), 1), 1);
    // {0, 0, 0, 0, 2}: six zero distances out of ten -> median of the positive ones, all 2
    assert.equal(medianPairwiseDistance(Float32Array.of(0, 0, 0, 0, 2), 1), 2);
    assert.equal(medianPairwiseDistance(Float32Array.of(5, 5, 5), 1), 1);
  });
});
