import { Rng } from './rng';

/**
 * A Gamma(shape, 1) variate drawn from the seeded stream (Marsaglia and Tsang 2000, "A simple
 * method for generating gamma variables"): a squeezed rejection sampler on a transformed normal,
 * accepting over 95% of proposals for every shape >= 1. Shapes below 1 use their boost:
 * Gamma(shape) = Gamma(shape + 1) * U^(1/shape). Shape 1, every coordinate of the noise Dir(1)
 * and all but one of a Dirichlet path point, is the exponential -ln U: one uniform instead of a
 * normal, a uniform and the rejection test.
 */
export function gammaVariate(shape: number, rng: Rng): number {
  if (!(shape > 0)) throw new RangeError(`gammaVariate: shape ${shape} is not positive`);
  if (shape === 1) return -Math.log(1 - rng.uniform());
  if (shape < 1) return gammaVariate(shape + 1, rng) * Math.pow(1 - rng.uniform(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const root = 1 + c * x;
    if (root <= 0) continue;
    const v = root * root * root;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** The Gamma variates of one draw, reused from call to call (sampling runs per position of a batch). */
let draws = new Float64Array(64);

/**
 * Writes a draw from Dirichlet(alphas) into out[offset .. offset + alphas.length), as normalised
 * Gamma variates. The normalisation runs in float64 before the values are stored, so a Float32Array
 * receives correctly rounded coordinates. Plain loops over a reused buffer: a batch of the DNA toy
 * draws 80,000 variates per step, and mapping into a fresh array per draw cost more than the draws.
 */
export function dirichletInto(
  alphas: ArrayLike<number>,
  rng: Rng,
  out: Float64Array | Float32Array,
  offset: number,
): void {
  const K = alphas.length;
  if (draws.length < K) draws = new Float64Array(K);
  let total = 0;
  for (let i = 0; i < K; i++) {
    draws[i] = gammaVariate(alphas[i], rng);
    total += draws[i];
  }
  for (let i = 0; i < K; i++) out[offset + i] = draws[i] / total;
}
