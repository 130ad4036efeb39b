/**
 * Two-sample distances between a model's samples A (n x d) and fresh data B (m x d), both flat
 * row-major Float32Arrays. They run in plain double-precision JS, O(n·m·d), which is fine for the
 * few thousand points an evaluation uses.
 *
 * Both statistics below are unbiased estimates of a quantity that is 0 exactly when the two
 * distributions match, so on two finite samples from the same distribution they scatter around 0
 * and can come out slightly negative; only clearly positive values signal a mismatch.
 */

/** A function of the squared Euclidean distance between two points. */
type PairFunction = (squaredDistance: number) => number;

/** Above this many pooled points, the median heuristic looks at an evenly spaced subsample. */
export const MEDIAN_SUBSAMPLE_POINTS = 1000;

export interface MmdResult {
  /** Unbiased estimate of MMD^2. */
  mmd2: number;
  /** The RBF bandwidth used: the one given, or the median heuristic's. */
  bandwidth: number;
}

/**
 * Energy distance in its squared form (Székely & Rizzo's D^2, no square root taken):
 *
 *   D^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,
 *
 * with |.| the Euclidean norm. The cross term averages all n·m pairs; the within-sample terms are
 * U-statistics over the n(n-1) and m(m-1) ordered pairs with i != j, so the estimate is unbiased.
 */
export function energyDistance(a: Float32Array, b: Float32Array, dim: number): number {
  const n = countPoints(a, dim, 'a');
  const m = countPoints(b, dim, 'b');
  const cross = crossSum(a, b, dim, Math.sqrt) / (n * m);
  const withinA = offDiagonalSum(a, dim, Math.sqrt) / (n * (n - 1));
  const withinB = offDiagonalSum(b, dim, Math.sqrt) / (m * (m - 1));
  return 2 * cross - withinA - withinB;
}

/**
 * Unbiased MMD^2 with the Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)):
 *
 *   MMD^2 = mean_{i!=j} k(a_i, a_j) + mean_{i!=j} k(b_i, b_j) - 2 mean_{i,j} k(a_i, b_j).
 *
 * Without a bandwidth h, the median heuristic sets h to the median pairwise Euclidean distance
 * of the pooled sample A ∪ B (see `medianPairwiseDistance`).
 */
export function mmdRbf(a: Float32Array, b: Float32Array, dim: number, bandwidth?: number): MmdResult {
  const n = countPoints(a, dim, 'a');
  const m = countPoints(b, dim, 'b');
  const h = bandwidth ?? medianPairwiseDistance(concat(a, b), dim);
  if (!(h > 0 && Number.isFinite(h))) throw new RangeError(`bandwidth must be positive and finite, got ${h}`);
  const scale = -1 / (2 * h * h);
  const kernel: PairFunction = (squaredDistance) => Math.exp(scale * squaredDistance);
  const withinA = offDiagonalSum(a, dim, kernel) / (n * (n - 1));
  const withinB = offDiagonalSum(b, dim, kernel) / (m * (m - 1));
  const cross = crossSum(a, b, dim, kernel) / (n * m);
  return { mmd2: withinA + withinB - 2 * cross, bandwidth: h };
}

/**
 * Median of the Euclidean distances between all unordered pairs of distinct points (the average
 * of the middle two for an even count). Above MEDIAN_SUBSAMPLE_POINTS points it uses that many
 * evenly spaced rows instead, which keeps the sort small and the result deterministic; the
 * median of a large sample barely moves under such thinning.
 *
 * When more than half the pairs coincide (a collapsed model) the median is 0, which no kernel can
 * use, so it falls back to the median of the positive distances, and to 1 if all points are equal
 * (then every bandwidth gives the same kernel values).
 */
export function medianPairwiseDistance(points: Float32Array, dim: number): number {
  countPoints(points, dim, 'points');
  const subsample = evenlySpacedRows(points, dim, MEDIAN_SUBSAMPLE_POINTS);
  const distances = upperTriangleDistances(subsample, dim).sort();
  const median = sortedMedian(distances);
  if (median > 0) return median;
  const firstPositive = distances.findIndex((distance) => distance > 0);
  return firstPositive < 0 ? 1 : sortedMedian(distances.subarray(firstPositive));
}

/** Number of points in a flat array, which must hold at least two whole d-dimensional points. */
function countPoints(points: Float32Array, dim: number, name: string): number {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (points.length % dim !== 0) {
    throw new RangeError(`${name} has ${points.length} numbers, not a multiple of dim ${dim}`);
  }
  const count = points.length / dim;
  // The within-sample U-statistics divide by count * (count - 1).
  if (count < 2) throw new RangeError(`${name} needs at least 2 points, got ${count}`);
  return count;
}

function squaredDistance(x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, dim: number): number {
  let sum = 0;
  for (let k = 0; k < dim; k++) {
    const diff = x[xOffset + k] - y[yOffset + k];
    sum += diff * diff;
  }
  return sum;
}

/** Sum of f over all n·m pairs (a_i, b_j). */
function crossSum(a: Float32Array, b: Float32Array, dim: number, f: PairFunction): number {
  let total = 0;
  for (let i = 0; i < a.length; i += dim) {
    let row = 0; // per-row partial sums keep the double accumulator's rounding error small
    for (let j = 0; j < b.length; j += dim) row += f(squaredDistance(a, i, b, j, dim));
    total += row;
  }
  return total;
}

/** Sum of f over the ordered pairs (x_i, x_j) with i != j, computed on i < j and doubled. */
function offDiagonalSum(x: Float32Array, dim: number, f: PairFunction): number {
  let total = 0;
  for (let i = 0; i < x.length; i += dim) {
    let row = 0;
    for (let j = i + dim; j < x.length; j += dim) row += f(squaredDistance(x, i, x, j, dim));
    total += row;
  }
  return 2 * total;
}

function upperTriangleDistances(x: Float32Array, dim: number): Float64Array {
  const count = x.length / dim;
  const distances = new Float64Array((count * (count - 1)) / 2);
  let next = 0;
  for (let i = 0; i < x.length; i += dim) {
    for (let j = i + dim; j < x.length; j += dim) distances[next++] = Math.sqrt(squaredDistance(x, i, x, j, dim));
  }
  return distances;
}

/** At most `limit` rows, spread evenly over the whole array so both pooled samples are represented. */
function evenlySpacedRows(points: Float32Array, dim: number, limit: number): Float32Array {
  const count = points.length / dim;
  if (count <= limit) return points;
  const out = new Float32Array(limit * dim);
  for (let r = 0; r < limit; r++) {
    const source = Math.floor((r * count) / limit) * dim;
    out.set(points.subarray(source, source + dim), r * dim);
  }
  return out;
}

function sortedMedian(sorted: Float64Array): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
