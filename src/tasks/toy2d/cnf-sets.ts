import { Rng } from '../../random/rng';
import { Sampler2D } from './samplers';

/*
 * The 2D data sets of the CNF literature, defined and scaled as FFJORD's `inf_train_gen`
 * (lib/toy_data.py). FFJORD fills each batch in fixed proportions (exactly n/4 points per ring on
 * evenly spaced angles, n/2 per moon, ...); here every point is an independent draw from the
 * distribution those batches approximate (component uniform, angle uniform), so that training
 * batches, held-out NLL and the two-sample metrics all see i.i.d. samples.
 */

type Point = [number, number];

/** n independent points as a flat [n * 2] array. */
function drawPoints(n: number, rng: Rng, draw: (rng: Rng) => Point): Float32Array {
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) out.set(draw(rng), 2 * i);
  return out;
}

/** A uniform angle on the circle of that radius, plus isotropic Gaussian noise of that std. */
function noisyCirclePoint(radius: number, noiseStd: number, rng: Rng): Point {
  const angle = 2 * Math.PI * rng.uniform();
  return [radius * Math.cos(angle) + noiseStd * rng.normal(), radius * Math.sin(angle) + noiseStd * rng.normal()];
}

/**
 * FFJORD's '8gaussians': modes at radius 4 every 45 degrees with std 0.5, all divided by 1.414
 * (FFJORD's literal, not sqrt 2).
 */
const EIGHT_GAUSSIANS_RADIUS = 4 / 1.414;

export const EIGHT_GAUSSIANS = {
  radius: EIGHT_GAUSSIANS_RADIUS,
  std: 0.5 / 1.414,
  centres: Array.from({ length: 8 }, (_, k): Point => [
    EIGHT_GAUSSIANS_RADIUS * Math.cos((k * Math.PI) / 4),
    EIGHT_GAUSSIANS_RADIUS * Math.sin((k * Math.PI) / 4),
  ]),
};

export const eightGaussians: Sampler2D = (n, rng) =>
  drawPoints(n, rng, (r) => {
    const [cx, cy] = EIGHT_GAUSSIANS.centres[r.int(8)];
    return [cx + EIGHT_GAUSSIANS.std * r.normal(), cy + EIGHT_GAUSSIANS.std * r.normal()];
  });

/** log p(x, y) of '8gaussians': the log of the equal-weight mixture, by log-sum-exp. */
export function eightGaussiansLogDensity(x: number, y: number): number {
  const variance = EIGHT_GAUSSIANS.std ** 2;
  const exponents = EIGHT_GAUSSIANS.centres.map(([cx, cy]) => -((x - cx) ** 2 + (y - cy) ** 2) / (2 * variance));
  const top = Math.max(...exponents);
  const sum = exponents.reduce((acc, e) => acc + Math.exp(e - top), 0);
  return top + Math.log(sum / (8 * 2 * Math.PI * variance));
}

/**
 * Differential entropy -∫ p log p of a 2D density by the trapezoid rule on the square
 * [-half, half]^2. For an analytic, Gaussian-tailed integrand the rule converges exponentially:
 * its error for a component of std s is about exp(-2 pi^2 s^2 / step^2), below double precision
 * already at step = s / 4, so a grid of modest size gives the exact value.
 */
export function gridEntropy2D(logDensity: (x: number, y: number) => number, half: number, step: number): number {
  const points = Math.ceil(half / step);
  let sum = 0;
  for (let i = -points; i <= points; i++) {
    for (let j = -points; j <= points; j++) {
      const logp = logDensity(i * step, j * step);
      sum += Math.exp(logp) * logp;
    }
  }
  return -sum * step * step;
}

/**
 * The NLL floor of '8gaussians', 2.832 nats: neighbouring modes are 6.1 std apart, so it sits
 * 0.006 below ln 8 + ln(2 pi e std^2), the limit of fully separated modes. The grid reaches 12 std
 * beyond the modes, where p < e^-70; it is computed once, on first use.
 */
export const EIGHT_GAUSSIANS_ENTROPY = gridEntropy2D(
  eightGaussiansLogDensity,
  EIGHT_GAUSSIANS.radius + 12 * EIGHT_GAUSSIANS.std,
  EIGHT_GAUSSIANS.std / 5,
);

/**
 * FFJORD's 'moons': sklearn's make_moons(noise=0.1) (the upper half circle, and the lower one
 * shifted to (1, 0.5)), then mapped by x -> 2x + (-1, -0.2).
 */
export const moons: Sampler2D = (n, rng) =>
  drawPoints(n, rng, (r) => {
    const angle = Math.PI * r.uniform();
    const upper = r.uniform() < 0.5;
    const x = upper ? Math.cos(angle) : 1 - Math.cos(angle);
    const y = upper ? Math.sin(angle) : 0.5 - Math.sin(angle);
    return [2 * (x + 0.1 * r.normal()) - 1, 2 * (y + 0.1 * r.normal()) - 0.2];
  });

/** Radii of FFJORD's 'rings': 1, 0.75, 0.5 and 0.25, times 3. */
export const RING_RADII = [3, 2.25, 1.5, 0.75];

/** FFJORD's 'rings': four concentric circles of equal mass, noise std 0.08 after scaling. */
export const rings: Sampler2D = (n, rng) => drawPoints(n, rng, (r) => noisyCirclePoint(RING_RADII[r.int(4)], 0.08, r));

/** Radii of FFJORD's 'circles': make_circles(factor=0.5) times 3. */
export const CIRCLE_RADII = [3, 1.5];

/**
 * FFJORD's 'circles': sklearn's make_circles(factor=0.5, noise=0.08), times 3; the noise is added
 * before the scaling, so its std is 0.24.
 */
export const circles: Sampler2D = (n, rng) =>
  drawPoints(n, rng, (r) => noisyCirclePoint(CIRCLE_RADII[r.int(2)], 3 * 0.08, r));

/** FFJORD's 'pinwheel': 5 arms; radial std 0.3 around 1, tangential std 0.1, twist rate 0.25, times 2. */
export const PINWHEEL = { arms: 5, radialStd: 0.3, tangentialStd: 0.1, rate: 0.25, scale: 2 };

export const pinwheel: Sampler2D = (n, rng) =>
  drawPoints(n, rng, (r) => {
    const radial = 1 + PINWHEEL.radialStd * r.normal();
    const tangential = PINWHEEL.tangentialStd * r.normal();
    // Each arm twists more the further out the point lies.
    const angle = (2 * Math.PI * r.int(PINWHEEL.arms)) / PINWHEEL.arms + PINWHEEL.rate * Math.exp(radial);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    // FFJORD multiplies the row vector (radial, tangential) by [[cos, -sin], [sin, cos]] from the right.
    return [PINWHEEL.scale * (radial * cos + tangential * sin), PINWHEEL.scale * (tangential * cos - radial * sin)];
  });

/**
 * FFJORD's '2spirals': the arm (-t cos t, t sin t) with t = 3 pi sqrt(u) (540 degrees, uniform in
 * arc area), jittered by U[0, 0.5) per coordinate; half the points mirrored through the origin;
 * all divided by 3, plus Gaussian noise of std 0.1.
 */
export const twoSpirals: Sampler2D = (n, rng) =>
  drawPoints(n, rng, (r) => {
    const turn = 3 * Math.PI * Math.sqrt(r.uniform());
    const sign = r.uniform() < 0.5 ? 1 : -1;
    const x = -Math.cos(turn) * turn + 0.5 * r.uniform();
    const y = Math.sin(turn) * turn + 0.5 * r.uniform();
    return [(sign * x) / 3 + 0.1 * r.normal(), (sign * y) / 3 + 0.1 * r.normal()];
  });
