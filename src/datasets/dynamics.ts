import { Rng } from '../random/rng';

/**
 * The part of odex (Hairer and Wanner's ODEX in JavaScript) used here. Its package ships TypeScript
 * sources rather than declarations, which do not compile under this project's strict settings, so
 * it is loaded with require and typed here.
 */
interface OdexSolver {
  relativeTolerance: number;
  absoluteTolerance: number;
  denseOutput: boolean;
  maxSteps: number;
  /** Largest step; 0 leaves it unbounded (the whole interval). */
  maxStepSize: number;
  grid(dt: number, out: (t: number, y: number[]) => false | undefined): unknown;
  solve(f: (t: number, y: number[]) => number[], t0: number, y0: number[], t1: number, out: unknown): { xEnd: number };
}
const { Solver } = require('odex') as { Solver: new (n: number) => OdexSolver };

/**
 * Trajectories of the two systems of the paper's fourth family, generated as the authors' code
 * (Finzi et al.'s userdiffusion, as the FDM repository configures it) generates them: an initial
 * state drawn from the system's distribution, integrated by an adaptive solver (rtol 1e-6), sampled
 * every `dt` for `samples` points, of which the first `burnIn` are dropped; 60 points remain.
 */
export interface DynamicalSystem {
  name: string;
  /** State dimension (channels of a trajectory). */
  stateDim: number;
  /** Time between two samples of a trajectory. */
  dt: number;
  /** Points sampled from t = 0, the dropped burn-in included. */
  samples: number;
  /** Leading points dropped so that the trajectory has mixed away from its initial distribution. */
  burnIn: number;
  /** dz/dt at state z (float64). */
  rate(z: readonly number[]): number[];
  /** A draw of the initial state. */
  initialState(rng: Rng): number[];
}

/** Points of a trajectory after the burn-in. */
export function trajectoryLength(system: DynamicalSystem): number {
  return system.samples - system.burnIn;
}

/**
 * Lorenz '63 (sigma 10, rho 28, beta 8/3) in units of 20, dz/dt = f(20 z)/20, so that the states lie
 * in about (-3, 3); z0 ~ N(0, I_3). Sampled every 0.1 for 90 points, the first 30 dropped.
 */
export const LORENZ: DynamicalSystem = {
  name: 'lorenz',
  stateDim: 3,
  dt: 0.1,
  samples: 90,
  burnIn: 30,
  rate(z) {
    const scale = 20;
    const [x, y, w] = z.map((v) => scale * v);
    return [10 * (y - x), x * (28 - w) - y, x * y - (8 / 3) * w].map((v) => v / scale);
  },
  initialState: (rng) => [rng.normal(), rng.normal(), rng.normal()],
};

/**
 * Two coupled FitzHugh-Nagumo neurons (Rubanova et al.'s parameters: a = -0.025794, b = (0.0065,
 * 0.0135), c = 0.02, coupling k = 0.128) in units of 5: with w = z/5, x = w[0:2], y = w[2:4],
 * dx/dt = x (a - x)(x - 1) - y + k (x_swapped - x), dy/dt = b x - c y, and dz/dt = 5 dw/dt;
 * z0 ~ N(0, 0.2^2 I_4). Sampled every 6 for 310 points, the first 250 dropped.
 */
export const FITZHUGH_NAGUMO: DynamicalSystem = {
  name: 'fitzhugh-nagumo',
  stateDim: 4,
  dt: 6,
  samples: 310,
  burnIn: 250,
  rate(z) {
    const [x1, x2, y1, y2] = z.map((v) => v / 5);
    const a = -0.025794, b = [0.0065, 0.0135], c = 0.02, k = 0.128;
    const dx = (x: number, y: number, other: number) => x * (a - x) * (x - 1) - y + k * (other - x);
    return [dx(x1, y1, x2), dx(x2, y2, x1), b[0] * x1 - c * y1, b[1] * x2 - c * y2].map((v) => 5 * v);
  },
  initialState: (rng) => [0, 0, 0, 0].map(() => 0.2 * rng.normal()),
};

/** The authors' solver tolerance (jax odeint's rtol; its atol default is 1.4e-8). */
export const TRAJECTORY_TOLERANCE: Readonly<SolverTolerance> = { rtol: 1e-6, atol: 1.4e-8 };

export interface SolverTolerance {
  rtol: number;
  atol: number;
}

/**
 * One trajectory from initial state z0: the states at t = (burnIn .. samples - 1) dt, time-major
 * ([length * stateDim], point i's state at i * stateDim), by Hairer and Wanner's ODEX (Gragg-Bulirsch-
 * Stoer extrapolation) with dense output at the sample times. ODEX's step-size controller can accept
 * a step whose state is NaN after a long stride where the solution is quiet (measured: a FitzHugh-
 * Nagumo trajectory strode 25 time units to t = 995.6, then its next step was NaN, and the grid stopped
 * at 166 of 310 points); such a trajectory is integrated again with steps of at most one sample
 * interval. Trajectories that succeed the first time are left exactly as they were.
 */
export function integrateTrajectory(system: DynamicalSystem, z0: readonly number[], tolerance = TRAJECTORY_TOLERANCE): Float64Array {
  const unbounded = integrateOnGrid(system, z0, tolerance, 0);
  if (unbounded.complete) return unbounded.states;
  const bounded = integrateOnGrid(system, z0, tolerance, system.dt);
  if (bounded.complete) return bounded.states;
  throw new Error(`${system.name}: the solver stopped at t = ${bounded.xEnd} before ${bounded.end} (${bounded.points} of ${system.samples} points, also with steps of at most ${system.dt}) from ${JSON.stringify(z0)}`);
}

/** ODEX on the sample grid with steps of at most maxStep (0: unbounded); complete when every point was reached with finite values. */
function integrateOnGrid(system: DynamicalSystem, z0: readonly number[], tolerance: SolverTolerance, maxStep: number) {
  const solver = new Solver(system.stateDim);
  solver.relativeTolerance = tolerance.rtol;
  solver.absoluteTolerance = tolerance.atol;
  solver.denseOutput = true;
  solver.maxSteps = 1e6;
  solver.maxStepSize = maxStep;
  const d = system.stateDim;
  const states = new Float64Array(trajectoryLength(system) * d);
  let points = 0;
  // Half a step past the last sample: the grid accumulates its times, and must not miss the last one by rounding.
  const end = (system.samples - 0.5) * system.dt;
  const result = solver.solve(
    (_t, z) => system.rate(z),
    0,
    [...z0],
    end,
    solver.grid(system.dt, (_t, z) => {
      // A NaN state stops the solver (the grid's callback returning false) instead of running to maxSteps.
      if (!z.every(Number.isFinite)) return false;
      if (points >= system.burnIn && points < system.samples) states.set(z, (points - system.burnIn) * d);
      points++;
      return undefined;
    }),
  );
  return { states, complete: points >= system.samples, points, end, xEnd: result.xEnd };
}

/** `count` trajectories [count, length, stateDim] (float32), from initial states drawn from `rng`. */
export function generateTrajectories(system: DynamicalSystem, count: number, rng: Rng): Float32Array {
  const size = trajectoryLength(system) * system.stateDim;
  const out = new Float32Array(count * size);
  for (let i = 0; i < count; i++) out.set(integrateTrajectory(system, system.initialState(rng)), i * size);
  return out;
}
