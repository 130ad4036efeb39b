/**
 * The finite form is kept while its sums cancel by less than this factor (sum of |terms| over
 * |sum|), which bounds its rounding error near 1e-12 relative; beyond it the complement form runs.
 */
const MAX_FINITE_CANCELLATION = 1e4;
/** The complement series stops once the bound on its remaining tail falls below this fraction of the sum. */
const SERIES_TOLERANCE = 1e-17;
/**
 * A safety bound only: where the complement form is chosen it needs at most ~1,100 terms over
 * K <= 200, alpha <= 100 (the worst case is alpha = 1 with b near 0.04).
 */
const MAX_SERIES_TERMS = 100_000;
/** Rescaling step of the finite form's running terms, far from overflow. */
const RESCALE_AT = 1e150;

/** c = C(b, alpha) and dc = dC/db. */
export interface Speed {
  c: number;
  dc: number;
}

/**
 * C(b, alpha) and dC/db of the Dirichlet probability path (Stark et al. 2024) at b = x_k, for K
 * classes, n = K - 1, y = 1 - b:
 *
 *   C(b, alpha) = -dI_b(alpha, n)/dalpha * B(alpha, n) / (y^n b^(alpha - 1)),
 *
 * I the regularized incomplete beta function. Evaluated as written this cancels catastrophically
 * (for K = 40 and b >= 0.5, dI/dalpha and y^n are both tiny and I is 1 to many digits). For integer
 * n, I = b^alpha sum_{j<n} (alpha)_j/j! y^j exactly and 1 - I = b^alpha sum_{j>=n} (alpha)_j/j! y^j;
 * differentiating termwise in alpha (d/dalpha log (alpha)_j = psi(alpha + j) - psi(alpha)) gives,
 * with g_j = ln b + psi(alpha + j) - psi(alpha) = ln b + sum_{i<j} 1/(alpha + i),
 *
 *   finite form:     C = -b sum_{j<n} e_j g_j,   e_j = B(alpha, n) (alpha)_j / j! y^(j-n),
 *   complement form: C = (b/n) sum_{m>=0} (alpha+n)_m / (K)_m y^m g_(n+m).
 *
 * g_j increases with j, so when g_n < 0 every finite term has the same sign and when g_n >= 0 every
 * complement term does: choosing by the sign of g_n means neither sum cancels. For g_n >= 0 and
 * b < 1/2 the complement converges only like y^m, so the finite form is kept there while it cancels
 * mildly (its cancellation is measured, not assumed); for b >= 1/2 the complement converges at
 * least like 2^-m and runs directly (the finite form is undefined at b = 1).
 *
 * dC/db: the finite form is differentiated termwise. On the complement form, using that dI/db is
 * the Beta(alpha, n) density p (so C = F / (p y) with F = -dI/dalpha, dF/db = -g_n p),
 *
 *   dC/db = (n C - g_n) / y - (alpha - 1) C / b,   (n C - g_n) / y = -g_n + b sum_{m>=1} (alpha+n)_m/(K)_m y^(m-1) g_(n+m),
 *
 * the series form of the first quotient avoiding a vanishing difference divided by y as b -> 1.
 * This identity is the continuity equation of the path, d/dalpha log p + div u + u . s = 0.
 *
 * Domain: 0 < b <= 1, alpha >= 1, integer K >= 2; outside it this throws rather than return NaN.
 */
export function dirichletSpeed(b: number, alpha: number, K: number): Speed {
  checkDomain(b, alpha, K);
  const n = K - 1;
  const shift = digammaShift(alpha, n);
  const gN = Math.log(b) + shift;
  if (gN < 0) return finiteForm(b, alpha, n, shift).speed;
  if (b >= 0.5) return complementForm(b, alpha, n, gN);
  const finite = finiteForm(b, alpha, n, shift);
  return finite.cancellation <= MAX_FINITE_CANCELLATION ? finite.speed : complementForm(b, alpha, n, gN);
}

function checkDomain(b: number, alpha: number, K: number): void {
  if (!(b > 0 && b <= 1)) throw new RangeError(`dirichletSpeed: b = ${b} is outside (0, 1]`);
  if (!(alpha >= 1)) throw new RangeError(`dirichletSpeed: alpha = ${alpha} is below 1`);
  if (!(Number.isInteger(K) && K >= 2)) throw new RangeError(`dirichletSpeed: K = ${K} is not an integer >= 2`);
}

/** psi(alpha + n) - psi(alpha) for integer n, as the finite sum of 1/(alpha + i). */
function digammaShift(alpha: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += 1 / (alpha + i);
  return sum;
}

/**
 * The finite form and how much its sums cancel. Its terms e_j = B(alpha, n) (alpha)_j / j! y^(j-n)
 * can span hundreds of orders of magnitude (y^(-n) for K = 160), so they are generated downward from
 * the exact e_(n-1) = 1 / ((alpha + n - 1) y), relative to a scale exp(logScale) that is raised
 * whenever they grow large; the terms are unimodal in j, so nothing significant underflows.
 * dC/db is summed termwise, -sum_j e_j (1 + g_j (1 + (n - j) b / y)) from de_j/db = (n - j) e_j / y
 * and dg_j/db = 1/b; this stays well conditioned as b -> 0, where the complement's identity for
 * dC/db subtracts two terms of size |ln b| (losing a factor alpha).
 */
function finiteForm(b: number, alpha: number, n: number, shift: number): { speed: Speed; cancellation: number } {
  const logB = Math.log(b);
  const y = 1 - b;
  const odds = b / y;
  let logScale = -Math.log((alpha + n - 1) * y);
  let term = 1; // e_j / exp(logScale)
  let digamma = shift - 1 / (alpha + n - 1); // psi(alpha + j) - psi(alpha)
  const sums = { c: 0, absC: 0, dc: 0, absDc: 0 };
  for (let j = n - 1; j >= 0; j--) {
    const g = logB + digamma;
    const cTerm = term * g;
    const dcTerm = term * (1 + g * (1 + (n - j) * odds));
    sums.c += cTerm;
    sums.absC += Math.abs(cTerm);
    sums.dc += dcTerm;
    sums.absDc += Math.abs(dcTerm);
    if (j === 0) break;
    term *= j / ((alpha + j - 1) * y);
    digamma -= 1 / (alpha + j - 1);
    if (term > RESCALE_AT) {
      term /= RESCALE_AT;
      for (const key of ['c', 'absC', 'dc', 'absDc'] as const) sums[key] /= RESCALE_AT;
      logScale += Math.log(RESCALE_AT);
    }
  }
  const scale = Math.exp(logScale);
  return {
    speed: { c: -b * sums.c * scale, dc: -sums.dc * scale },
    cancellation: Math.max(sums.absC / Math.abs(sums.c), sums.absDc / Math.abs(sums.dc)),
  };
}

/**
 * The complement form: every term is positive (g_n >= 0 here), so it sums without cancellation.
 * It accumulates tail = sum_{m>=1} (alpha+n)_m/(K)_m y^(m-1) g_(n+m), so C = (b/n)(g_n + y tail).
 * The term ratio r_m decreases in m for alpha >= 1, so once r_m < 1 the rest of the series is at
 * most term r_m / (1 - r_m), which sets the stopping point.
 */
function complementForm(b: number, alpha: number, n: number, gN: number): Speed {
  const y = 1 - b;
  const K = n + 1;
  let coefficient = (alpha + n) / K; // (alpha+n)_m / (K)_m y^(m-1) at m = 1
  let g = gN + 1 / (alpha + n); // g_(n+m) at m = 1
  let tail = 0;
  for (let m = 1; m <= MAX_SERIES_TERMS; m++) {
    const term = coefficient * g;
    tail += term;
    const nextCoefficient = coefficient * ((alpha + n + m) / (K + m)) * y;
    const nextG = g + 1 / (alpha + n + m);
    const ratio = (nextCoefficient * nextG) / term;
    coefficient = nextCoefficient;
    g = nextG;
    if (ratio < 1 && (term * ratio) / (1 - ratio) <= SERIES_TOLERANCE * tail) {
      const c = (b / n) * (gN + y * tail);
      return { c, dc: -gN + b * tail - ((alpha - 1) * c) / b };
    }
  }
  throw new Error(`dirichletSpeed: complement series did not converge (b = ${b}, alpha = ${alpha}, K = ${K})`);
}
