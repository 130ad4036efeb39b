import * as tf from '../backend/tf';

export const SOLVERS = ['euler', 'midpoint', 'rk4', 'dopri5'] as const;
export type SolverName = (typeof SOLVERS)[number];

/** Right-hand side dy/dt = f(t, y). It must not dispose y; its intermediates are tidied by the caller. */
export type OdeFunction = (t: number, y: tf.Tensor2D) => tf.Tensor2D;

export interface SolverOptions {
  solver: SolverName;
  /** Number of equal steps of the fixed-step solvers (euler, midpoint, rk4). */
  steps?: number;
  /** Relative and absolute tolerances of dopri5. */
  rtol?: number;
  atol?: number;
  /** Most step attempts (accepted plus rejected) dopri5 may take before giving up. */
  maxSteps?: number;
  /** First dopri5 step size; chosen by the Hairer-Norsett-Wanner heuristic when absent. */
  initialStep?: number;
}

export const DEFAULT_SOLVER_OPTIONS = { steps: 100, rtol: 1e-5, atol: 1e-5, maxSteps: 10_000 } as const;

export interface SolverStats {
  /** Evaluations of the right-hand side. */
  nfe: number;
  /** Accepted steps. */
  steps: number;
  /** Steps rejected by the dopri5 error controller (always 0 for fixed-step solvers). */
  rejected: number;
}

export interface IntegrationResult {
  y: tf.Tensor2D;
  stats: SolverStats;
}

/**
 * Integrates dy/dt = f(t, y) from t0 to t1 (t1 may be below t0) starting at y0 [B, m].
 * The caller keeps ownership of y0 and receives a new tensor y(t1). Asynchronous because dopri5's
 * step control reads its error norms back from the device (a GPU allows only asynchronous reads);
 * the fixed-step solvers read nothing.
 */
export async function integrate(
  f: OdeFunction,
  y0: tf.Tensor2D,
  t0: number,
  t1: number,
  options: SolverOptions,
): Promise<IntegrationResult> {
  if (t0 === t1) return { y: tf.clone(y0), stats: { nfe: 0, steps: 0, rejected: 0 } };
  if (options.solver === 'dopri5') return integrateDopri5(f, y0, t0, t1, options);
  return integrateFixed(f, y0, t0, t1, options.solver, options.steps ?? DEFAULT_SOLVER_OPTIONS.steps);
}

/** One explicit step y(t) -> y(t + h). */
type FixedStep = (f: OdeFunction, t: number, y: tf.Tensor2D, h: number) => tf.Tensor2D;

/** y + h * sum_j coefficients[j] * ks[j]; zero coefficients are skipped. */
function axpy(y: tf.Tensor2D, h: number, coefficients: readonly number[], ks: readonly tf.Tensor2D[]): tf.Tensor2D {
  const terms = coefficients.flatMap((c, j) => (c === 0 ? [] : [tf.mul(ks[j], h * c)]));
  return tf.add(y, terms.length === 1 ? terms[0] : tf.addN(terms));
}

const eulerStep: FixedStep = (f, t, y, h) => axpy(y, h, [1], [f(t, y)]);

const midpointStep: FixedStep = (f, t, y, h) => {
  const k1 = f(t, y);
  return axpy(y, h, [1], [f(t + h / 2, axpy(y, h / 2, [1], [k1]))]);
};

const rk4Step: FixedStep = (f, t, y, h) => {
  const k1 = f(t, y);
  const k2 = f(t + h / 2, axpy(y, h / 2, [1], [k1]));
  const k3 = f(t + h / 2, axpy(y, h / 2, [1], [k2]));
  const k4 = f(t + h, axpy(y, h, [1], [k3]));
  return axpy(y, h / 6, [1, 2, 2, 1], [k1, k2, k3, k4]);
};

const FIXED_STEPS: Record<Exclude<SolverName, 'dopri5'>, { step: FixedStep; evaluations: number }> = {
  euler: { step: eulerStep, evaluations: 1 },
  midpoint: { step: midpointStep, evaluations: 2 },
  rk4: { step: rk4Step, evaluations: 4 },
};

function integrateFixed(
  f: OdeFunction,
  y0: tf.Tensor2D,
  t0: number,
  t1: number,
  solver: Exclude<SolverName, 'dopri5'>,
  steps: number,
): IntegrationResult {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${solver}: steps must be a positive integer, got ${steps}`);
  const { step, evaluations } = FIXED_STEPS[solver];
  const h = (t1 - t0) / steps;
  let y = y0;
  for (let i = 0; i < steps; i++) {
    // Times from the index, not by accumulation, so the last step lands exactly on t1.
    const t = t0 + (i * (t1 - t0)) / steps;
    const next = tf.tidy(() => step(f, t, y, h));
    if (y !== y0) y.dispose();
    y = next;
  }
  return { y, stats: { nfe: steps * evaluations, steps, rejected: 0 } };
}

// Dormand-Prince 5(4) tableau. Row 6 of A is also the 5th-order solution; the seventh stage is
// f at that new point, which the error estimate uses and the next step reuses as its first (FSAL).
const DP_C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1];
const DP_A: readonly (readonly number[])[] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
/** Fifth-order weights minus the embedded fourth-order ones: the local error estimate. */
const DP_ERROR = [
  71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40,
];

const SAFETY = 0.9;
const MIN_FACTOR = 0.2;
const MAX_FACTOR = 10;

interface Tolerances {
  rtol: number;
  atol: number;
}

/** RMS over every entry of the batch of error / (atol + rtol * max(|y|, |yNew|)), as a scalar. */
function errorNorm(error: tf.Tensor2D, y: tf.Tensor2D, yNew: tf.Tensor2D, tol: Tolerances): tf.Scalar {
  return tf.tidy(() => {
    const scale = tf.add(tol.atol, tf.mul(tol.rtol, tf.maximum(tf.abs(y), tf.abs(yNew))));
    return tf.sqrt(tf.mean(tf.square(tf.div(error, scale)))) as tf.Scalar;
  });
}

async function readScalar(x: tf.Scalar): Promise<number> {
  const [value] = await x.data();
  x.dispose();
  return value;
}

/** A trial step of size h from (t, y) with first stage k1; returns the 5th-order y, its slope and the error norm. */
function dopri5Trial(f: OdeFunction, t: number, y: tf.Tensor2D, k1: tf.Tensor2D, h: number, tol: Tolerances) {
  return tf.tidy(() => {
    const ks = [k1];
    for (let stage = 1; stage < 6; stage++) ks.push(f(t + DP_C[stage] * h, axpy(y, h, DP_A[stage], ks)));
    const yNew = axpy(y, h, DP_A[6], ks);
    ks.push(f(t + h, yNew));
    const error = tf.mul(tf.addN(ks.flatMap((k, j) => (DP_ERROR[j] === 0 ? [] : [tf.mul(k, DP_ERROR[j])]))), h);
    return { yNew, kNew: ks[6], errNorm: errorNorm(error as tf.Tensor2D, y, yNew, tol) };
  });
}

/** Hairer, Norsett and Wanner's starting step (Solving ODEs I, II.4), signed toward t1; one f evaluation. */
async function initialStepSize(f: OdeFunction, t0: number, t1: number, y0: tf.Tensor2D, k1: tf.Tensor2D, tol: Tolerances): Promise<number> {
  const direction = Math.sign(t1 - t0);
  const [d0, d1] = await Promise.all([y0, k1].map((v) => readScalar(errorNorm(v, y0, y0, tol))));
  const h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : (0.01 * d0) / d1;
  const d2 =
    (await readScalar(
      tf.tidy(() => {
        const k2 = f(t0 + direction * h0, axpy(y0, direction * h0, [1], [k1]));
        return errorNorm(tf.sub(k2, k1), y0, y0, tol);
      }),
    )) / h0;
  const h1 = Math.max(d1, d2) <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / 5);
  return direction * Math.min(100 * h0, h1, Math.abs(t1 - t0));
}

/** Factor by which the next step grows or shrinks, from the error norm of the last trial. */
function stepFactor(errNorm: number, accepted: boolean): number {
  const proposed = errNorm === 0 ? MAX_FACTOR : SAFETY * errNorm ** (-1 / 5);
  return Math.min(accepted ? MAX_FACTOR : 1, Math.max(MIN_FACTOR, proposed));
}

async function integrateDopri5(f: OdeFunction, y0: tf.Tensor2D, t0: number, t1: number, options: SolverOptions): Promise<IntegrationResult> {
  const tol = { rtol: options.rtol ?? DEFAULT_SOLVER_OPTIONS.rtol, atol: options.atol ?? DEFAULT_SOLVER_OPTIONS.atol };
  const maxSteps = options.maxSteps ?? DEFAULT_SOLVER_OPTIONS.maxSteps;
  const direction = Math.sign(t1 - t0);
  const stats: SolverStats = { nfe: 1, steps: 0, rejected: 0 };
  let y = y0;
  let k1 = tf.tidy(() => f(t0, y0));
  try {
    let h = options.initialStep === undefined ? await initialStepSize(f, t0, t1, y0, k1, tol) : direction * Math.abs(options.initialStep);
    if (options.initialStep === undefined) stats.nfe += 1;
    let t = t0;
    while (direction * (t1 - t) > 0) {
      if (stats.steps + stats.rejected >= maxSteps) {
        throw new Error(`dopri5: exceeded maxSteps=${maxSteps} at t=${t} (integrating ${t0} -> ${t1}); loosen rtol/atol or raise maxSteps`);
      }
      if (Math.abs(h) <= 1e-12 * Math.max(1, Math.abs(t))) {
        throw new Error(`dopri5: step size underflow at t=${t} (integrating ${t0} -> ${t1})`);
      }
      // Land exactly on t1 rather than overshooting it.
      const last = direction * (t + h - t1) >= 0;
      const stepSize = last ? t1 - t : h;
      const trial = dopri5Trial(f, t, y, k1, stepSize, tol);
      stats.nfe += 6;
      const errNorm = await readScalar(trial.errNorm);
      if (!Number.isFinite(errNorm)) {
        tf.dispose([trial.yNew, trial.kNew]);
        throw new Error(`dopri5: non-finite values at t=${t} with step ${stepSize} (integrating ${t0} -> ${t1})`);
      }
      const accepted = errNorm <= 1;
      if (accepted) {
        if (y !== y0) y.dispose();
        k1.dispose();
        y = trial.yNew;
        k1 = trial.kNew;
        t = last ? t1 : t + stepSize;
        stats.steps += 1;
      } else {
        tf.dispose([trial.yNew, trial.kNew]);
        stats.rejected += 1;
      }
      h = stepSize * stepFactor(errNorm, accepted);
    }
    return { y, stats };
  } catch (err) {
    if (y !== y0) y.dispose();
    throw err;
  } finally {
    k1.dispose();
  }
}
