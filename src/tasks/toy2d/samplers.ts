import { Rng } from '../../random/rng';

/** Draws n points of a 2D data set as a flat [n * 2] array. */
export type Sampler2D = (n: number, rng: Rng) => Float32Array;

/** Python-style modulo (non-negative for a positive divisor), as the reference's `floor(a) % 2`. */
function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/**
 * The reference checkerboard (the authors' main_fm_2d.py): a ~ U[-2, 2),
 * b = U[0, 1) - 2 Bernoulli(1/2) + (floor(a) mod 2), x = (a, b) / 0.45. Uniform on 8 squares of side
 * 1/0.45, density 0.45^2 / 8.
 */
export const checkerboard: Sampler2D = (n, rng) => {
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = rng.uniform() * 4 - 2;
    const b = rng.uniform() - 2 * (rng.uniform() < 0.5 ? 1 : 0) + mod(Math.floor(a), 2);
    out[2 * i] = a / 0.45;
    out[2 * i + 1] = b / 0.45;
  }
  return out;
};

/** The checkerboard's differential entropy ln(8 / 0.45^2), the lowest NLL any model can reach. */
export const CHECKERBOARD_ENTROPY = Math.log(8 / 0.45 ** 2);
