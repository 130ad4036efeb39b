import gammaln from '@stdlib/math-base-special-gammaln';
import { dirichletInto } from '../random/dirichlet';
import { Rng } from '../random/rng';
import { dirichletSpeed } from './dirichlet-speed';

export const SIMPLEX_PATHS = ['linear', 'dirichlet'] as const;
export type SimplexPathName = (typeof SIMPLEX_PATHS)[number];

/** Whether a path name (from a config or the command line) names a simplex path. */
export function isSimplexPath(name: string): name is SimplexPathName {
  return (SIMPLEX_PATHS as readonly string[]).includes(name);
}

/**
 * A conditional path on the probability simplex, per position (docs/math.md section 2). Both paths share
 * the field u(x | e_k) = c(x_k, t) (e_k - x) and the tangent score a(x_k, t) (e_k - 1/K), so a
 * path is described by the scalars c, dc/db and a at b = x_k.
 */
export interface SimplexPath {
  readonly name: SimplexPathName;
  /** Training/sampling time range: [0, 1) for linear (sampling integrates t from 0 to 1), [1, alphaMax] for Dirichlet. */
  readonly timeRange: [number, number];
  /** c(b, t) and dc/db at b = x_k: u(x|e_k) = c (e_k - x). */
  speed(b: number, t: number, K: number): { c: number; dc: number };
  /** a(b, t): the tangent score is a (e_k - 1/K). */
  scoreCoefficient(b: number, t: number, K: number): number;
  /** log p_t(x | e_k) for one position's x (length K, on the simplex), float64. */
  logDensity(x: Float64Array, k: number, t: number): number;
  /** Writes a draw of x ~ p_t(. | e_k) (K entries) into out at offset. */
  sample(k: number, K: number, t: number, rng: Rng, out: Float64Array | Float32Array, offset: number): void;
  /** A draw from p at the start time (Dir(1_K)), written the same way. */
  sampleNoise(K: number, rng: Rng, out: Float64Array | Float32Array, offset: number): void;
}

/** One buffer for the concentrations of a draw, reused from draw to draw (sampling runs per position). */
let concentrationBuffer = new Float64Array(0);

/** The concentrations 1_K, with entry k raised to alpha when k is given. */
function concentrations(K: number, k = -1, alpha = 1): Float64Array {
  if (concentrationBuffer.length !== K) concentrationBuffer = new Float64Array(K);
  concentrationBuffer.fill(1);
  if (k >= 0) concentrationBuffer[k] = alpha;
  return concentrationBuffer;
}

/** Dir(1_K), the uniform distribution on the simplex: the start of both paths. */
function sampleUniform(K: number, rng: Rng, out: Float64Array | Float32Array, offset: number): void {
  dirichletInto(concentrations(K), rng, out, offset);
}

/**
 * The linear simplex path x_t = t e_k + (1 - t) x0, x0 ~ Dir(1_K). p_t(. | e_k) is uniform on the
 * shrunken simplex {x : x_k >= t}, whose volume is (1 - t)^(K-1) / (K-1)! in the coordinates
 * x_1..x_(K-1); hence the score vanishes and c = 1/(1 - t) does not depend on b.
 */
export function linearSimplexPath(): SimplexPath {
  return {
    name: 'linear',
    timeRange: [0, 1],
    speed: (_b, t) => ({ c: 1 / (1 - t), dc: 0 }),
    scoreCoefficient: () => 0,
    logDensity(x, k, t) {
      if (x[k] < t) return -Infinity;
      const K = x.length;
      return gammaln(K) - (K - 1) * Math.log1p(-t);
    },
    sample(k, K, t, rng, out, offset) {
      sampleUniform(K, rng, out, offset);
      for (let i = 0; i < K; i++) out[offset + i] *= 1 - t;
      out[offset + k] += t;
    },
    sampleNoise: sampleUniform,
  };
}

/**
 * The Dirichlet path of Stark et al. (2024): x ~ Dir(1 + (alpha - 1) e_k) with time alpha running
 * from 1 (uniform) to alphaMax. Its density depends on x only through x_k, so the tangent score is
 * (alpha - 1)/x_k (e_k - 1/K); c = C(x_k, alpha) is in dirichlet-speed.ts.
 */
export function dirichletPath(alphaMax: number): SimplexPath {
  if (!(alphaMax > 1)) throw new RangeError(`dirichletPath: alphaMax = ${alphaMax} must exceed 1`);
  return {
    name: 'dirichlet',
    timeRange: [1, alphaMax],
    speed: (b, alpha, K) => dirichletSpeed(b, alpha, K),
    scoreCoefficient: (b, alpha) => (alpha - 1) / b,
    logDensity(x, k, alpha) {
      const K = x.length;
      // At alpha = 1 the density is uniform; the guard keeps 0 * log(0) out at a vertex.
      const shape = alpha === 1 ? 0 : (alpha - 1) * Math.log(x[k]);
      return gammaln(alpha + K - 1) - gammaln(alpha) + shape;
    },
    sample(k, K, alpha, rng, out, offset) {
      dirichletInto(concentrations(K, k, alpha), rng, out, offset);
    },
    sampleNoise: sampleUniform,
  };
}

export function simplexPath(name: SimplexPathName, alphaMax: number): SimplexPath {
  return name === 'linear' ? linearSimplexPath() : dirichletPath(alphaMax);
}

/**
 * div u at one position from c and dc: (1 - b) dc - (K - 1) c. This is trace(P J P) for the field
 * c(x_k)(e_k - x), P = I - 11^T/K the projector onto the simplex's tangent space: the -c I part
 * contributes -(K - 1) c, the rank-one part dc (e_k - x) e_k^T contributes dc (1 - b).
 */
export function tangentDivergence(b: number, c: number, dc: number, K: number): number {
  return (1 - b) * dc - (K - 1) * c;
}
