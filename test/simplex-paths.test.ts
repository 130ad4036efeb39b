import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import betainc from '@stdlib/math-base-special-betainc';
import gammaln from '@stdlib/math-base-special-gammaln';
import { dirichletSpeed } from '../src/paths/dirichlet-speed';
import {
  dirichletPath,
  isSimplexPath,
  linearSimplexPath,
  SimplexPath,
  simplexPath,
  tangentDivergence,
} from '../src/paths/simplex';
import { gammaVariate } from '../src/random/dirichlet';
import { Rng } from '../src/random/rng';
import { assertClose } from './helpers/numeric';

const CLASSES = [3, 40, 160];
const ALPHAS = [1.5, 8, 50];
const B_GRID = [1e-6, 1e-3, 0.05, 0.2, 0.5, 0.7, 0.9, 0.99, 0.999, 1 - 1e-6];
const LINEAR_TIMES = [0.1, 0.5, 0.9];

/**
 * Fourth-order central difference (Richardson-extrapolated): error O(h^4) f^(5) plus rounding
 * about 1.5 eps |f| / h, which is what lets the references below reach 1e-9 or better.
 */
function derivative(f: (s: number) => number, at: number, h: number): number {
  return (8 * (f(at + h) - f(at - h)) - (f(at + 2 * h) - f(at - 2 * h))) / (12 * h);
}

/** Step for differences in b that keeps the stencil inside (0, 1); C is smooth through b = 1. */
function bStep(b: number): number {
  return Math.min(1e-3 * b, (1 - b) / 3, 1e-3);
}

/**
 * C(b, alpha) from its definition, -dI_b(alpha, n)/dalpha * B(alpha, n) / ((1 - b)^n b^(alpha - 1)),
 * with I from @stdlib betainc, or null where that reference has no precision left.
 *
 * It differentiates whichever of I and 1 - I is smaller (betainc's `upper` form), because betainc
 * is accurate relative to the value it returns, and 1 - I computed as 1 - betainc(...) would keep
 * nothing once I is near 1. It differences log Q rather than Q: Q behaves like b^alpha in alpha,
 * so log Q is nearly linear and its difference quotient is good to ~1e-11 where Q's is not
 * (Q(alpha +- 2h) differ by up to 1e-30 times for alpha = 50, b = 1e-6). The scale factor is formed
 * in log space (it over- and underflows separately for K = 160). Points with Q below 1e-280 are
 * skipped: there betainc's result is subnormal or zero, so its relative precision (and its
 * logarithm) is gone. That is 11 of the 120 grid points: K = 160 with b >= 0.99 (1 - I ~ y^159)
 * and K = 3, alpha = 50, b = 1e-6 (I ~ b^50).
 */
function referenceSpeed(b: number, alpha: number, K: number): number | null {
  const n = K - 1;
  const upper = betainc(b, alpha, n, true, true) < betainc(b, alpha, n);
  const logQ = (s: number) => Math.log(betainc(b, s, n, true, upper));
  if (logQ(alpha) < Math.log(1e-280)) return null;
  const dLogQ = derivative(logQ, alpha, 1e-3 * alpha);
  const minusDI = upper ? dLogQ : -dLogQ; // -dI/dalpha = d(1 - I)/dalpha, divided by Q
  const logScale = gammaln(alpha) + gammaln(n) - gammaln(alpha + n) - n * Math.log1p(-b) - (alpha - 1) * Math.log(b);
  return minusDI * Math.exp(logQ(alpha) + logScale);
}

/** Points of p_t(. | e_k): a few per (K, t), with random targets, drawn from the path itself. */
function pathPoints(path: SimplexPath, times: number[], perCase: number, rng: Rng) {
  const points: { x: Float64Array; k: number; t: number }[] = [];
  for (const K of CLASSES) {
    for (const t of times) {
      for (let i = 0; i < perCase; i++) {
        const x = new Float64Array(K);
        const k = rng.int(K);
        path.sample(k, K, t, rng, x, 0);
        points.push({ x, k, t });
      }
    }
  }
  return points;
}

/** Both paths with the times they are checked at (t for linear, alpha for Dirichlet). */
const PATH_CASES = [
  { path: linearSimplexPath(), times: LINEAR_TIMES },
  { path: dirichletPath(50), times: ALPHAS },
];

/** u(x | e_k) = c (e_k - x), written out coordinate by coordinate. */
function field(path: SimplexPath, x: Float64Array, k: number, t: number): Float64Array {
  const { c } = path.speed(x[k], t, x.length);
  return x.map((xi, i) => c * ((i === k ? 1 : 0) - xi));
}

/** The tangent score a (e_k - 1/K), written out coordinate by coordinate. */
function score(path: SimplexPath, x: Float64Array, k: number, t: number): Float64Array {
  const a = path.scoreCoefficient(x[k], t, x.length);
  return x.map((_, i) => a * ((i === k ? 1 : 0) - 1 / x.length));
}

function dot(u: ArrayLike<number>, v: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < u.length; i++) sum += u[i] * v[i];
  return sum;
}

/** x + h v for the tangent direction v = e_i - e_j. */
function moved(x: Float64Array, i: number, j: number, h: number): Float64Array {
  const y = Float64Array.from(x);
  y[i] += h;
  y[j] -= h;
  return y;
}

/** How far x may move before the density changes form: the linear path's support ends at x_k = t. */
function room(path: SimplexPath, x: Float64Array, k: number, t: number): number {
  return path.name === 'linear' ? x[k] - t : x[k];
}

describe('Dirichlet speed C(b, alpha)', () => {
  it('matches -dI/dalpha * B / ((1-b)^n b^(alpha-1)) from @stdlib betainc', () => {
    // Measured agreement is 1.2e-11 or better, the reference's own differencing error (C itself
    // is good to ~1e-13 against 50-digit arithmetic); 1e-9 leaves margin.
    let checked = 0;
    for (const K of CLASSES) {
      for (const alpha of [1, ...ALPHAS]) {
        for (const b of B_GRID) {
          const expected = referenceSpeed(b, alpha, K);
          if (expected === null) continue;
          checked++;
          assertClose(dirichletSpeed(b, alpha, K).c, expected, 0, 1e-9, `C(${b}, ${alpha}), K = ${K}`);
        }
      }
    }
    assert.ok(checked >= 100, `only ${checked} points had a usable reference`);
  });

  it('dC/db matches a difference quotient of C', () => {
    // The quotient is good to ~4e-9 relative (worst next to b = 1, where the step is 3e-7 and C's
    // last-ulp rounding is divided by it); elsewhere it is ~1e-10.
    for (const K of CLASSES) {
      for (const alpha of [1, ...ALPHAS]) {
        for (const b of B_GRID) {
          const c = (s: number) => dirichletSpeed(s, alpha, K).c;
          const expected = derivative(c, b, bStep(b));
          assertClose(dirichletSpeed(b, alpha, K).dc, expected, 0, 2e-8, `dC/db(${b}, ${alpha}), K = ${K}`);
        }
      }
    }
  });

  it('tends to (psi(alpha + K - 1) - psi(alpha)) / (K - 1) as b -> 1, and is finite at alpha = 1', () => {
    // The limit follows from C = F / (p (1 - b)) by l'Hopital, F = -dI/dalpha, p the Beta density.
    for (const K of CLASSES) {
      for (const alpha of [1, ...ALPHAS]) {
        let shift = 0;
        for (let i = 0; i < K - 1; i++) shift += 1 / (alpha + i);
        assertClose(dirichletSpeed(1, alpha, K).c, shift / (K - 1), 0, 1e-14, `C(1, ${alpha}), K = ${K}`);
        assertClose(dirichletSpeed(1 - 1e-9, alpha, K).c, shift / (K - 1), 0, 1e-7, `C(1 - 1e-9, ${alpha}), K = ${K}`);
        for (const b of B_GRID) {
          const { c, dc } = dirichletSpeed(b, 1, K);
          assert.ok(c > 0 && Number.isFinite(dc), `C(${b}, 1) = ${c}, dC/db = ${dc}, K = ${K}`);
        }
      }
    }
  });

  it('rejects points outside its domain instead of returning NaN', () => {
    assert.throws(() => dirichletSpeed(0, 2, 4), RangeError);
    assert.throws(() => dirichletSpeed(1.5, 2, 4), RangeError);
    assert.throws(() => dirichletSpeed(0.5, 0.5, 4), RangeError);
    assert.throws(() => dirichletSpeed(0.5, 2, 1), RangeError);
  });
});

describe('simplex paths: conditional quantities', () => {
  for (const { path, times } of PATH_CASES) {
    it(`${path.name}: continuity equation d/dt log p + div u + u . s = 0 at samples`, () => {
      // Every term is exact to ~1e-12 relative except d/dt log p, a difference quotient of
      // logDensity: its rounding error is ~eps |log p| / h (|log p| ~ 1e3 for K = 160, h ~ 1e-3 t;
      // on the linear path h shrinks near the support's edge x_k = t). Measured residuals are
      // below 5e-11 of the terms' total; 1e-8 leaves margin while a real mistake in c, dc/db, a or
      // the density fails it (a change of 1e-6 in dc/db already does).
      const rng = new Rng('continuity');
      for (const { x, k, t } of pathPoints(path, times, 4, rng)) {
        const K = x.length;
        const h = path.name === 'linear' ? Math.min(1e-3 * (1 - t), (x[k] - t) / 3) : 1e-3 * t;
        const dLogP = derivative((s) => path.logDensity(x, k, s), t, h);
        const { c, dc } = path.speed(x[k], t, K);
        const divU = tangentDivergence(x[k], c, dc, K);
        const uDotS = dot(field(path, x, k, t), score(path, x, k, t));
        const scale = Math.abs(dLogP) + Math.abs(divU) + Math.abs(uDotS);
        assertClose(dLogP + divU + uDotS, 0, 1e-8 * scale, 0, `residual at t = ${t}, K = ${K}, x_k = ${x[k]}`);
      }
    });

    it(`${path.name}: tangent score matches differences of log p along e_i - e_j`, () => {
      const rng = new Rng('score');
      for (const { x, k, t } of pathPoints(path, times, 2, rng)) {
        const K = x.length;
        const s = score(path, x, k, t);
        const other = (k + 1 + rng.int(K - 1)) % K;
        const third = (other + 1) % K === k ? (other + 2) % K : (other + 1) % K; // neither k nor other (K >= 3)
        for (const [i, j] of [[k, other], [other, k], [other, third]]) {
          const h = 1e-3 * Math.min(x[i], x[j], room(path, x, k, t));
          const measured = derivative((e) => path.logDensity(moved(x, i, j, e), k, t), 0, h);
          const expected = s[i] - s[j];
          assertClose(measured, expected, 1e-9, 1e-8, `score along e_${i} - e_${j}, t = ${t}, K = ${K}`);
        }
      }
    });

    it(`${path.name}: div u matches the trace of a difference Jacobian in tangent coordinates`, () => {
      // Sums (P e_i) . J (P e_i) over i, i.e. trace(P J P), with J P e_i a difference of the field
      // along P e_i = e_i - 1/K. The differences use only c, so this checks dc/db and
      // tangentDivergence together.
      const rng = new Rng('divergence');
      for (const { x, k, t } of pathPoints(path, times, 2, rng)) {
        const K = x.length;
        const b = x[k];
        const h = 1e-3 * Math.min(b, 1 - b);
        let trace = 0;
        for (let i = 0; i < K; i++) {
          const direction = x.map((_, j) => (j === i ? 1 : 0) - 1 / K);
          const along = (e: number) => field(path, x.map((xj, j) => xj + e * direction[j]), k, t);
          const [p1, m1, p2, m2] = [along(h), along(-h), along(2 * h), along(-2 * h)];
          const jv = p1.map((_, j) => (8 * (p1[j] - m1[j]) - (p2[j] - m2[j])) / (12 * h));
          trace += dot(direction, jv);
        }
        const { c, dc } = path.speed(b, t, K);
        assertClose(trace, tangentDivergence(b, c, dc, K), 0, 1e-8, `div u at t = ${t}, K = ${K}, x_k = ${b}`);
      }
    });
  }

  it('the linear path at t = 0 and the Dirichlet path at alpha = 1 have the same density Dir(1_K)', () => {
    for (const K of CLASSES) {
      const x = new Float64Array(K);
      linearSimplexPath().sampleNoise(K, new Rng('uniform'), x, 0);
      assertClose(linearSimplexPath().logDensity(x, 0, 0), dirichletPath(8).logDensity(x, 0, 1), 0, 1e-14, `K = ${K}`);
      assertClose(linearSimplexPath().logDensity(x, 0, 0), gammaln(K), 0, 1e-14, `log (K-1)!, K = ${K}`);
    }
  });

  it('simplexPath builds the named path with its time range', () => {
    assert.deepEqual(simplexPath('linear', 8).timeRange, [0, 1]);
    assert.deepEqual(simplexPath('dirichlet', 8).timeRange, [1, 8]);
    assert.equal(simplexPath('dirichlet', 8).name, 'dirichlet');
    assert.ok(isSimplexPath('dirichlet') && isSimplexPath('linear') && !isSimplexPath('condot'));
  });
});

describe('simplex paths: sampling', () => {
  const DRAWS = 2000;

  /** Mean and variance of x_k over draws of p_t(. | e_k). */
  function targetMoments(path: SimplexPath, K: number, t: number, seed: string) {
    const rng = new Rng(seed);
    const x = new Float64Array(K);
    let sum = 0;
    let sumSquares = 0;
    for (let draw = 0; draw < DRAWS; draw++) {
      const k = rng.int(K);
      path.sample(k, K, t, rng, x, 0);
      let total = 0;
      for (const value of x) {
        assert.ok(value >= 0, `negative coordinate ${value}`);
        total += value;
      }
      assertClose(total, 1, 1e-12, 0, 'sum of coordinates');
      sum += x[k];
      sumSquares += x[k] * x[k];
    }
    const mean = sum / DRAWS;
    return { mean, variance: sumSquares / DRAWS - mean * mean };
  }

  /** x_k ~ Beta(alpha, K - 1) on the Dirichlet path; x_k = t + (1 - t) Beta(1, K - 1) on the linear one. */
  function targetLaw(path: SimplexPath, K: number, t: number) {
    const n = K - 1;
    if (path.name === 'dirichlet') {
      return { mean: t / (t + n), variance: (t * n) / ((t + n) ** 2 * (t + n + 1)) };
    }
    return { mean: t + (1 - t) / K, variance: ((1 - t) ** 2 * n) / (K * K * (K + 1)) };
  }

  for (const { path, times } of PATH_CASES) {
    it(`${path.name}: draws lie on the simplex and x_k has the right mean and variance`, () => {
      for (const K of CLASSES) {
        for (const t of times) {
          const measured = targetMoments(path, K, t, `${path.name}/${K}/${t}`);
          const law = targetLaw(path, K, t);
          const meanError = Math.sqrt(law.variance / DRAWS);
          assertClose(measured.mean, law.mean, 4 * meanError, 0, `mean of x_k, K = ${K}, t = ${t}`);
          // The sample variance's relative standard error is about sqrt(2 / DRAWS) = 3% here (a
          // bit more for skewed laws); 20% still fails for a wrong shape parameter.
          assertClose(measured.variance, law.variance, 0, 0.2, `variance of x_k, K = ${K}, t = ${t}`);
        }
      }
    });

    it(`${path.name}: sampling is deterministic for a seed and differs across seeds`, () => {
      const draw = (seed: string) => {
        const rng = new Rng(seed);
        const out = new Float64Array(3 * 40);
        for (let i = 0; i < 3; i++) path.sample(i, 40, times[1], rng, out, 40 * i);
        return out;
      };
      assert.deepEqual(draw('a'), draw('a'));
      assert.notDeepEqual(draw('a'), draw('b'));
    });
  }

  it('gamma variates have mean and variance equal to their shape', () => {
    // Dirichlet draws normalise Gamma variates, which hides a common scale error; check them bare.
    const rng = new Rng('gamma');
    for (const shape of [0.5, 1, 3, 50]) {
      let sum = 0;
      let sumSquares = 0;
      for (let draw = 0; draw < DRAWS; draw++) {
        const value = gammaVariate(shape, rng);
        sum += value;
        sumSquares += value * value;
      }
      const mean = sum / DRAWS;
      assertClose(mean, shape, 4 * Math.sqrt(shape / DRAWS), 0, `mean of Gamma(${shape})`);
      // Relative standard error of the sample variance: sqrt((2 + 6 / shape) / DRAWS), at most 8%.
      assertClose(sumSquares / DRAWS - mean * mean, shape, 0, 0.35, `variance of Gamma(${shape})`);
    }
  });

  it('noise is Dir(1_K): mean 1/K per coordinate; float32 output still sums to 1', () => {
    for (const K of CLASSES) {
      const rng = new Rng(`noise/${K}`);
      const out = new Float32Array(K);
      let sum = 0;
      for (let draw = 0; draw < DRAWS; draw++) {
        dirichletPath(8).sampleNoise(K, rng, out, 0);
        assertClose(out.reduce((total, value) => total + value, 0), 1, 1e-5, 0, 'float32 sum');
        sum += out[0];
      }
      const standardError = Math.sqrt((K - 1) / (K * K * (K + 1)) / DRAWS);
      assertClose(sum / DRAWS, 1 / K, 4 * standardError, 0, `mean of x_0, K = ${K}`);
    }
  });
});
