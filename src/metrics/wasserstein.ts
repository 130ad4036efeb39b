import { munkres } from 'munkres';

/**
 * Exact 2-Wasserstein distance between the empirical distributions of two equal-size point sets
 * A and B (n x d each, flat row-major):
 *
 *   W2 = sqrt( min over permutations s of (1/n) sum_i |a_i - b_s(i)|^2 ).
 *
 * Between two uniform measures on n points each, some optimal transport plan is a permutation
 * (Birkhoff's theorem), so the optimal assignment under squared Euclidean cost gives W2 exactly.
 * The assignment comes from the `munkres` package (Hungarian algorithm, O(n^3) worst case, an
 * n x n cost matrix in memory), so W2 is for point sets of a few thousand at most.
 */
export function wasserstein2(a: Float32Array, b: Float32Array, dim: number): number {
  const n = countPoints(a, dim, 'a');
  if (countPoints(b, dim, 'b') !== n) {
    throw new RangeError(`a and b must hold the same number of points, got ${n} and ${b.length / dim}`);
  }
  const cost = costMatrix(a, b, dim);
  let total = 0;
  for (const [row, column] of munkres(cost)) total += cost[row][column];
  return Math.sqrt(total / n);
}

/** Squared Euclidean distances |a_i - b_j|^2, one row per point of A, in double precision. */
function costMatrix(a: Float32Array, b: Float32Array, dim: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let i = 0; i < a.length; i += dim) {
    const row = new Float64Array(b.length / dim);
    for (let j = 0; j < b.length; j += dim) {
      let sum = 0;
      for (let k = 0; k < dim; k++) sum += (a[i + k] - b[j + k]) ** 2;
      row[j / dim] = sum;
    }
    rows.push(row);
  }
  return rows;
}

/** Number of whole d-dimensional points in a flat array; at least one. */
function countPoints(points: Float32Array, dim: number, name: string): number {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (points.length === 0 || points.length % dim !== 0) {
    throw new RangeError(`${name} must hold a positive whole number of ${dim}-dimensional points, got ${points.length} numbers`);
  }
  return points.length / dim;
}
