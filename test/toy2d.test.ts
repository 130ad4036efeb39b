import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../src/random/rng';
import {
  CIRCLE_RADII,
  circles,
  EIGHT_GAUSSIANS,
  EIGHT_GAUSSIANS_ENTROPY,
  eightGaussians,
  eightGaussiansLogDensity,
  gridEntropy2D,
  moons,
  PINWHEEL,
  pinwheel,
  RING_RADII,
  rings,
  twoSpirals,
} from '../src/tasks/toy2d/cnf-sets';
import { Sampler2D } from '../src/tasks/toy2d/samplers';
import { getTask } from '../src/tasks/registry';
import { taskPresets } from '../src/cli/load-config';
import { assertClose } from './helpers/numeric';

/*
 * Tolerances: a sample mean is compared with its exact value within 5 standard errors (the s.e.
 * estimated from the same sample), and a count with its binomial mean within 5 standard
 * deviations; each check would fail by chance with probability below 1e-6 under another seed.
 * The noise of every set is Gaussian, so "every point within 6 noise std of the support" fails by
 * chance with probability n e^-18 < 1e-3 at most, for the n used here.
 */
const N = 20000;

function draw(sampler: Sampler2D, label: string): { x: Float64Array; y: Float64Array } {
  const flat = sampler(N, new Rng(`toy2d-test/${label}`));
  return {
    x: Float64Array.from({ length: N }, (_, i) => flat[2 * i]),
    y: Float64Array.from({ length: N }, (_, i) => flat[2 * i + 1]),
  };
}

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

function assertMean(values: ArrayLike<number>, expected: number, what: string): void {
  const m = mean(values);
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i] - m) ** 2;
  const standardError = Math.sqrt(squares / (values.length - 1) / values.length);
  assertClose(m, expected, 5 * standardError, 0, `mean of ${what}`);
}

function assertCount(count: number, n: number, p: number, what: string): void {
  assertClose(count, n * p, 5 * Math.sqrt(n * p * (1 - p)), 0, `count of ${what}`);
}

function map(points: { x: Float64Array; y: Float64Array }, f: (x: number, y: number) => number): Float64Array {
  return points.x.map((x, i) => f(x, points.y[i]));
}

/** Index of the value in `candidates` nearest to `value`. */
function nearest(value: number, candidates: readonly number[]): number {
  let best = 0;
  for (let k = 1; k < candidates.length; k++) {
    if (Math.abs(value - candidates[k]) < Math.abs(value - candidates[best])) best = k;
  }
  return best;
}

/** Mean zero in both coordinates and E[x^2] = E[y^2] = variance: what every rotation-symmetric set shares. */
function assertCentredIsotropic(points: { x: Float64Array; y: Float64Array }, variance: number, what: string): void {
  assertMean(points.x, 0, `${what} x`);
  assertMean(points.y, 0, `${what} y`);
  assertMean(map(points, (x) => x * x), variance, `${what} x^2`);
  assertMean(map(points, (_, y) => y * y), variance, `${what} y^2`);
}

/** Concentric rings of equal mass and the given noise std: each gets 1/k of the points, all near it. */
function checkRings(sampler: Sampler2D, radii: readonly number[], noiseStd: number, what: string): void {
  const points = draw(sampler, what);
  const radius = map(points, Math.hypot);
  const ring = radius.map((r) => nearest(r, radii));
  radii.forEach((r, k) => assertCount(ring.filter((index) => index === k).length, N, 1 / radii.length, `${what} ring ${r}`));
  // The radial offset from the nearest ring is at most the noise's norm.
  const offset = radius.map((r, i) => r - radii[ring[i]]);
  assert.ok(offset.every((d) => Math.abs(d) < 6 * noiseStd), `${what}: a point far from every ring`);
  // The offset is the noise's radial part plus a curvature term of order noise^2 / radius, which
  // shifts its mean square by under 3% here: a loose but sufficient check of the noise level.
  assertClose(mean(offset.map((d) => d * d)), noiseStd ** 2, 0, 0.1, `${what}: mean square radial offset`);
  // E[x^2] = E[r^2] / 2 + noise variance, r uniform over the radii.
  assertCentredIsotropic(points, mean(radii.map((r) => r * r)) / 2 + noiseStd ** 2, what);
}

describe('8gaussians', () => {
  const { radius, std, centres } = EIGHT_GAUSSIANS;
  const points = draw(eightGaussians, '8gaussians');
  const mode = map(points, (x, y) => nearest(0, centres.map(([cx, cy]) => Math.hypot(x - cx, y - cy))));

  it('has FFJORD scale: modes at 4 / 1.414 every 45 degrees, std 0.5 / 1.414', () => {
    assertClose(radius, 2.8289, 1e-4, 0, 'radius');
    assertClose(std, 0.35361, 1e-5, 0, 'std');
    assert.deepEqual(
      centres.map(([x, y]) => Math.round((Math.atan2(y, x) * 180) / Math.PI)).sort((a, b) => a - b),
      [-135, -90, -45, 0, 45, 90, 135, 180],
    );
  });

  it('puts 1/8 of the points on each mode, each within 6 std of it', () => {
    centres.forEach((_, k) => assertCount(mode.filter((index) => index === k).length, N, 1 / 8, `mode ${k}`));
    const offset = points.x.map((x, i) => {
      const [cx, cy] = centres[mode[i]];
      return ((x - cx) ** 2 + (points.y[i] - cy) ** 2) / std ** 2;
    });
    assert.ok(offset.every((d2) => d2 < 36));
    // |x - centre|^2 / std^2 is chi-squared with 2 degrees of freedom: mean 2.
    assertMean(offset, 2, 'squared offset / std^2');
  });

  it('has mean 0 and per-axis variance std^2 + radius^2 / 2', () => {
    // The 8 unit directions u_k have sum u u^T = 4 I, so the centres add radius^2 / 2 per axis.
    assertCentredIsotropic(points, std ** 2 + radius ** 2 / 2, '8gaussians');
  });

  it('has a normalised log density whose entropy matches -E log p of its samples', () => {
    const step = std / 5;
    let mass = 0;
    for (let x = -radius - 12 * std; x <= radius + 12 * std; x += step) {
      for (let y = -radius - 12 * std; y <= radius + 12 * std; y += step) mass += Math.exp(eightGaussiansLogDensity(x, y));
    }
    assertClose(mass * step * step, 1, 1e-12, 0, 'total mass');
    const logp = map(points, eightGaussiansLogDensity);
    assertMean(logp.map((v) => -v), EIGHT_GAUSSIANS_ENTROPY, '-log p');
  });

  it('has a grid entropy converged to double precision, just below the separated-modes limit', () => {
    const half = radius + 12 * std;
    assertClose(gridEntropy2D(eightGaussiansLogDensity, half, std / 10), EIGHT_GAUSSIANS_ENTROPY, 1e-12, 0, 'finer grid');
    const separated = Math.log(8) + Math.log(2 * Math.PI * Math.E * std ** 2);
    assert.ok(EIGHT_GAUSSIANS_ENTROPY < separated && EIGHT_GAUSSIANS_ENTROPY > separated - 0.01);
    assertClose(EIGHT_GAUSSIANS_ENTROPY, 2.8319, 1e-4, 0, 'entropy');
    // One Gaussian: the rule gives ln(2 pi e s^2) exactly.
    const single = (x: number, y: number) => -(x * x + y * y) / (2 * std ** 2) - Math.log(2 * Math.PI * std ** 2);
    assertClose(gridEntropy2D(single, 12 * std, std / 5), Math.log(2 * Math.PI * Math.E * std ** 2), 1e-12, 0, 'single');
  });
});

describe('moons', () => {
  const points = draw(moons, 'moons');
  // Undo FFJORD's x -> 2x + (-1, -0.2) to get make_moons' coordinates (noise std 0.1 there).
  const unscaled = { x: points.x.map((x) => (x + 1) / 2), y: points.y.map((y) => (y + 0.2) / 2) };

  /** Distance from (x, y) to the half circle of radius 1 about (cx, cy), upper or lower half. */
  function distanceToArc(x: number, y: number, cx: number, cy: number, upper: boolean): number {
    const dx = x - cx;
    const dy = y - cy;
    if (upper ? dy >= 0 : dy <= 0) return Math.abs(Math.hypot(dx, dy) - 1);
    return Math.min(Math.hypot(dx - 1, dy), Math.hypot(dx + 1, dy));
  }

  it('lies within 6 noise std of the upper unit half circle or the lower one about (1, 0.5)', () => {
    const distance = map(unscaled, (x, y) => Math.min(distanceToArc(x, y, 0, 0, true), distanceToArc(x, y, 1, 0.5, false)));
    assert.ok(distance.every((d) => d < 0.6));
  });

  it('has the moments of the scaled moons: mean (0, 0.3), variances 3.04 and 2.29 - 4/pi', () => {
    // theta ~ U[0, pi]: E cos = 0, E cos^2 = E sin^2 = 1/2, E sin = 2/pi. Upper x = 2 cos - 1 and
    // lower x = 1 - 2 cos both have E x^2 = 3; upper y = 2 sin - 0.2, lower y = 0.8 - 2 sin average
    // to 0.3 with E y^2 = 2.34 - 4/pi. The noise, 0.2 after scaling, adds 0.04 to each variance.
    assertMean(points.x, 0, 'x');
    assertMean(points.y, 0.3, 'y');
    assertMean(map(points, (x) => x * x), 3.04, 'x^2');
    assertMean(map(points, (_, y) => (y - 0.3) ** 2), 2.29 - 4 / Math.PI, '(y - 0.3)^2');
  });
});

describe('rings', () => {
  it('has four rings of equal mass at radii 3, 2.25, 1.5, 0.75 with noise 0.08', () => {
    assert.deepEqual(RING_RADII, [3, 2.25, 1.5, 0.75]);
    checkRings(rings, RING_RADII, 0.08, 'rings');
  });
});

describe('circles', () => {
  it('has two circles of equal mass at radii 3 and 1.5 with noise 0.24', () => {
    assert.deepEqual(CIRCLE_RADII, [3, 1.5]);
    checkRings(circles, CIRCLE_RADII, 0.24, 'circles');
  });
});

describe('pinwheel', () => {
  const points = draw(pinwheel, 'pinwheel');
  const { arms, radialStd, tangentialStd, rate, scale } = PINWHEEL;

  it('is 5-fold symmetric: 1/5 of the points in each 72-degree sector, mean 0, isotropic', () => {
    const sector = map(points, (x, y) => Math.floor(((Math.atan2(y, x) + 2 * Math.PI) / (2 * Math.PI)) * arms) % arms);
    for (let k = 0; k < arms; k++) assertCount(sector.filter((s) => s === k).length, N, 1 / arms, `sector ${k}`);
    // |x|^2 = scale^2 (radial^2 + tangential^2), radial ~ N(1, 0.3^2), tangential ~ N(0, 0.1^2).
    const meanSquare = scale ** 2 * (1 + radialStd ** 2 + tangentialStd ** 2);
    assertCentredIsotropic(points, meanSquare / 2, 'pinwheel');
  });

  it('twists each arm clockwise by rate * exp(radius), as FFJORD does', () => {
    // A point is (radial, tangential) rotated clockwise by 2 pi k / 5 + rate exp(radial), so with
    // rho = |x| / scale and phi its polar angle, 5 (phi + rate exp(rho)) equals
    // 5 atan2(tangential, radial) + 5 rate (exp(rho) - exp(radial)) mod 2 pi. Its cosine's mean
    // is computed here by quadrature over (radial, tangential); a wrong twist direction or rate
    // gives about 0.17 instead of 0.85.
    const statistic = map(points, (x, y) => {
      const rho = Math.hypot(x, y) / scale;
      return Math.cos(arms * (Math.atan2(y, x) + rate * Math.exp(rho)));
    });
    let expected = 0;
    let weight = 0;
    const step = 0.02;
    for (let u = -8; u <= 8; u += step) {
      for (let v = -8; v <= 8; v += step) {
        const [radial, tangential] = [1 + radialStd * u, tangentialStd * v];
        const w = Math.exp(-(u * u + v * v) / 2);
        const rho = Math.hypot(radial, tangential);
        expected += w * Math.cos(arms * Math.atan2(tangential, radial) + arms * rate * (Math.exp(rho) - Math.exp(radial)));
        weight += w;
      }
    }
    assertMean(statistic, expected / weight, 'cos(5 (phi + rate exp(rho)))');
    assert.ok(expected / weight > 0.8);
  });
});

describe('2spirals', () => {
  const points = draw(twoSpirals, '2spirals');

  it('is symmetric through the origin and bounded by the spirals plus noise', () => {
    assertMean(points.x, 0, 'x');
    assertMean(points.y, 0, 'y');
    // Arm length t <= 3 pi, jitter below 0.5 sqrt 2, all / 3; noise norm below 6 * 0.1 sqrt 2.
    const bound = (3 * Math.PI + 0.5 * Math.SQRT2) / 3 + 0.6 * Math.SQRT2;
    assert.ok(map(points, Math.hypot).every((r) => r < bound));
  });

  it('has E|x|^2 = (E t^2 + (E t sin t - E t cos t) / 2 + 1/6) / 9 + 0.02', () => {
    // t = 3 pi sqrt(u) has density 2t / (3 pi)^2 on [0, 3 pi]: E t^2 = 9 pi^2 / 2,
    // E t sin t = 2 - 8 / (9 pi^2), E t cos t = -4 / (3 pi) (integration by parts); the jitter
    // U[0, 0.5) per coordinate adds 2 * 0.25 / 3 and its cross terms, the noise 2 * 0.01.
    const arm = (9 * Math.PI ** 2) / 2 + (2 - 8 / (9 * Math.PI ** 2) + 4 / (3 * Math.PI)) / 2 + 1 / 6;
    assertMean(map(points, (x, y) => x * x + y * y), arm / 9 + 0.02, '|x|^2');
  });
});

describe('CNF sets as tasks', () => {
  const sets: [string, Sampler2D][] = [
    ['8gaussians', eightGaussians],
    ['moons', moons],
    ['rings', rings],
    ['pinwheel', pinwheel],
    ['2spirals', twoSpirals],
    ['circles', circles],
  ];

  it('draws the same points for the same seed and different ones for another', () => {
    for (const [name, sampler] of sets) {
      assert.deepEqual(sampler(100, new Rng('seed-a')), sampler(100, new Rng('seed-a')), name);
      assert.notDeepEqual(sampler(100, new Rng('seed-a')), sampler(100, new Rng('seed-b')), name);
    }
  });

  it('registers each set with the shared toy2d presets, the entropy only for 8gaussians', () => {
    for (const [name] of sets) {
      const task = getTask(name);
      assert.equal(task.presetFile, 'toy2d');
      assert.deepEqual(Object.keys(taskPresets(name)).sort(), ['ci', 'paper', 'quick']);
      assert.deepEqual(task.facts, name === '8gaussians' ? { entropy: EIGHT_GAUSSIANS_ENTROPY } : {});
    }
  });
});
