import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Mean [k] and covariance [k, k] (n - 1 denominator) of n feature rows [n * k]. */
export function moments(features: Float32Array, k: number): { mean: number[]; covariance: Matrix } {
  const n = features.length / k;
  if (!Number.isInteger(n) || n < 2) throw new Error(`moments: need at least 2 rows of ${k} features, got ${features.length} values`);
  const mean = new Array<number>(k).fill(0);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) mean[j] += features[r * k + j] / n;
  const covariance = Matrix.zeros(k, k);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) {
      const di = features[r * k + i] - mean[i];
      for (let j = i; j < k; j++) covariance.set(i, j, covariance.get(i, j) + (di * (features[r * k + j] - mean[j])) / (n - 1));
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) covariance.set(i, j, covariance.get(j, i));
  return { mean, covariance };
}

/** The square root of a symmetric positive semi-definite matrix by its eigendecomposition (negative rounding clipped to 0). */
function symmetricSqrt(m: Matrix): Matrix {
  const { realEigenvalues, eigenvectorMatrix } = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const roots = Matrix.diag(realEigenvalues.map((value) => Math.sqrt(Math.max(0, value))));
  return eigenvectorMatrix.mmul(roots).mmul(eigenvectorMatrix.transpose());
}

/**
 * The Fréchet distance between Gaussians N(m1, S1) and N(m2, S2) (the squared 2-Wasserstein distance;
 * FID's formula): |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^(1/2) S2 S1^(1/2))^(1/2)).
 */
export function frechetFromMoments(m1: number[], s1: Matrix, m2: number[], s2: Matrix): number {
  const root1 = symmetricSqrt(s1);
  const cross = symmetricSqrt(root1.mmul(s2).mmul(root1));
  const meanTerm = m1.reduce((acc, v, i) => acc + (v - m2[i]) ** 2, 0);
  return meanTerm + s1.trace() + s2.trace() - 2 * cross.trace();
}

/** The Fréchet distance between the Gaussians fitted to two sets of feature rows [n * k]. */
export function frechetDistance(a: Float32Array, b: Float32Array, k: number): number {
  const [first, second] = [moments(a, k), moments(b, k)];
  return frechetFromMoments(first.mean, first.covariance, second.mean, second.covariance);
}
