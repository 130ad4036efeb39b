import * as tf from '../backend/tf';
import { basisTangents, traceFromBasis } from '../losses/divergence';
import { conditionalResidual, flowLoss } from '../losses/flow-loss';
import { GaussianMixture, sampleMixture } from '../datasets/gaussian-mixture';
import { GaussianMixturePath } from '../paths/gaussian-mixture-path';
import { VelocityModel } from '../models/model';
import { AffinePath } from '../paths/affine';
import { disposeQuantities } from '../paths/path';
import { Rng } from '../random/rng';
import { logLikelihood } from '../solvers/flow';
import { SolverOptions } from '../solvers/ode';

/** Cell centres of a regular grid on [low, high]^d and the volume of one cell. */
export function quadratureGrid([low, high]: [number, number], perAxis: number, dim: 1 | 2): { points: Float32Array; cell: number } {
  const h = (high - low) / perAxis;
  const axis = Array.from({ length: perAxis }, (_, i) => low + (i + 0.5) * h);
  if (dim === 1) return { points: Float32Array.from(axis), cell: h };
  const points = new Float32Array(2 * perAxis * perAxis);
  axis.forEach((y, r) => axis.forEach((x, c) => points.set([x, y], 2 * (r * perAxis + c))));
  return { points, cell: h * h };
}

const GAUSS_LEGENDRE_6 = {
  nodes: [-0.9324695142, -0.6612093865, -0.2386191861, 0.2386191861, 0.6612093865, 0.9324695142],
  weights: [0.1713244924, 0.360761573, 0.4679139346, 0.4679139346, 0.360761573, 0.1713244924],
};

/**
 * Quadrature nodes on [0, 1] for integrands that steepen near t = 1 (the conditional score grows
 * like 1/sigma_t): panels [1 - 2^-i, 1 - 2^-(i+1)] halving towards 1, six Gauss-Legendre nodes each.
 */
export function timeQuadrature(panels = 10): { t: number[]; w: number[] } {
  const t: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < panels; i++) {
    const a = 1 - 2 ** -i;
    const b = i === panels - 1 ? 1 : 1 - 2 ** -(i + 1);
    GAUSS_LEGENDRE_6.nodes.forEach((x, j) => {
      t.push(a + ((x + 1) / 2) * (b - a));
      w.push(((b - a) / 2) * GAUSS_LEGENDRE_6.weights[j]);
    });
  }
  return { t, w };
}

export interface BoundOptions {
  range: [number, number];
  gridPerAxis: number;
  /** Samples of (x1, x0) per time node for the conditional bound. */
  conditionalSamples: number;
  batchSize: number;
  solver: SolverOptions;
}

export interface BoundReport {
  /** TV(p_1, p̂_1) by quadrature, p̂_1 from the model's exact likelihood. */
  tv: number;
  /** (1/2) ∫ E_{p_t} |L_t| dt with L_t = div(u_t - v) + (u_t - v) . grad log p_t. */
  boundMarginal: number;
  /** (1/2) ∫ E |r| dt over the conditional path (Monte Carlo), and its standard error. */
  boundConditional: number;
  boundConditionalStdErr: number;
  /** ∫ E_{p_t} |v - u_t|^2 dt, the marginal flow error. */
  flowErrorMarginal: number;
  /** ∫ E_{p_t} (div u_t - div v)^2 dt, the marginal divergence error. */
  divErrorMarginal: number;
  /** The model density p̂_1 on the grid (for figures). */
  modelDensity: Float32Array;
  /** Grid used, and the mass of p_1 it holds (should be ~1: the grid covers the support). */
  grid: Float32Array;
  gridMass: number;
}

/** v and div v (exact) of the model at points x and one time t, in batches. */
async function fieldAndDivergence(model: VelocityModel, x: Float32Array, t: number, batchSize: number): Promise<{ v: Float32Array; div: Float32Array }> {
  const d = model.dim;
  const n = x.length / d;
  const v = new Float32Array(n * d);
  const div = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const b = Math.min(batchSize, n - start);
    const [vs, divs] = tf.tidy(() => {
      const xs = tf.tensor2d(x.subarray(start * d, (start + b) * d), [b, d]);
      const out = model.forwardWithTangents(xs, tf.fill([b, 1], t) as tf.Tensor2D, basisTangents(b, d));
      return [out.v, traceFromBasis(out.jvp)];
    });
    v.set(await vs.data(), start * d);
    div.set(await divs.data(), start);
    tf.dispose([vs, divs]);
  }
  return { v, div };
}

/** E_{p_t}|L_t|, E|v - u|^2 and E(div u - div v)^2 at one time by quadrature on the grid. */
async function marginalTerms(model: VelocityModel, path: GaussianMixturePath, grid: Float32Array, cell: number, t: number, batchSize: number) {
  const d = path.dim;
  const { v, div } = await fieldAndDivergence(model, grid, t, batchSize);
  let forcing = 0, flow = 0, divergence = 0;
  for (let i = 0; i < grid.length / d; i++) {
    const exact = path.at(grid.subarray(i * d, (i + 1) * d), t);
    const p = Math.exp(exact.logDensity) * cell;
    let mismatch = 0, sq = 0;
    for (let j = 0; j < d; j++) {
      const diff = exact.velocity[j] - v[i * d + j];
      mismatch += diff * exact.score[j];
      sq += diff * diff;
    }
    const divGap = exact.divergence - div[i];
    forcing += p * Math.abs(divGap + mismatch);
    flow += p * sq;
    divergence += p * divGap * divGap;
  }
  return { forcing, flow, divergence };
}

/** Mean and variance of |r| over conditional samples at one time. */
async function conditionalTerm(model: VelocityModel, affine: AffinePath, mixture: GaussianMixture, t: number, n: number, rng: Rng) {
  const d = model.dim;
  const residuals = tf.tidy(() => {
    const x1 = tf.tensor2d(sampleMixture(mixture, n, rng), [n, d]);
    const x0 = tf.tensor2d(rng.normalArray(n * d), [n, d]);
    const sample = affine.sample(x0, x1, new Float32Array(n).fill(t));
    const r = tf.abs(conditionalResidual(model, sample));
    disposeQuantities(sample);
    return r;
  });
  const abs = Array.from(await residuals.data());
  residuals.dispose();
  const mean = abs.reduce((a, b) => a + b, 0) / n;
  const variance = abs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, variance };
}

/**
 * The chain of docs/math.md section 1 for a trained model on a Gaussian-mixture target, where everything
 * is known exactly: TV(p_1, p̂_1) <= marginal bound <= conditional bound (in expectation).
 */
export async function divergenceBounds(
  model: VelocityModel,
  path: GaussianMixturePath,
  affine: AffinePath,
  opts: BoundOptions,
  rng: Rng,
): Promise<BoundReport> {
  const d = path.dim as 1 | 2;
  const { points: grid, cell } = quadratureGrid(opts.range, opts.gridPerAxis, d);
  const { logp } = await logLikelihood(model, grid, { ...opts.solver, batchSize: opts.batchSize, divergence: 'exact' });
  const modelDensity = Float32Array.from(logp, Math.exp);
  let tv = 0, gridMass = 0;
  for (let i = 0; i < logp.length; i++) {
    const p1 = Math.exp(path.at(grid.subarray(i * d, (i + 1) * d), 1).logDensity);
    tv += 0.5 * Math.abs(p1 - modelDensity[i]) * cell;
    gridMass += p1 * cell;
  }
  const quad = timeQuadrature();
  let forcing = 0, flow = 0, divergence = 0, conditional = 0, conditionalVar = 0;
  for (const [i, t] of quad.t.entries()) {
    const m = await marginalTerms(model, path, grid, cell, t, opts.batchSize);
    forcing += quad.w[i] * m.forcing;
    flow += quad.w[i] * m.flow;
    divergence += quad.w[i] * m.divergence;
    const c = await conditionalTerm(model, affine, path.mixture, t, opts.conditionalSamples, rng);
    conditional += quad.w[i] * c.mean;
    conditionalVar += (quad.w[i] ** 2 * c.variance) / opts.conditionalSamples;
  }
  return {
    tv,
    boundMarginal: forcing / 2,
    boundConditional: conditional / 2,
    boundConditionalStdErr: Math.sqrt(conditionalVar) / 2,
    flowErrorMarginal: flow,
    divErrorMarginal: divergence,
    modelDensity,
    grid,
    gridMass,
  };
}

/** The conditional CFM and CDM losses (exact divergence, no stop-gradient) on a fresh batch. */
export async function conditionalLosses(model: VelocityModel, affine: AffinePath, mixture: GaussianMixture, n: number, tMax: number, rng: Rng): Promise<{ cfm: number; cdm: number }> {
  const d = model.dim;
  const losses = tf.tidy(() => {
    const x1 = tf.tensor2d(sampleMixture(mixture, n, rng), [n, d]);
    const x0 = tf.tensor2d(rng.normalArray(n * d), [n, d]);
    const sample = affine.sample(x0, x1, rng.uniformArray(n, 0, tMax));
    const opts = { method: 'fdm', lambda: 1, divEstimator: 'exact', probes: 0, probeDist: 'rademacher', cdmWeight: 'path', stopGrad: false, fdmVariant: 'paper' } as const;
    const terms = flowLoss(model, sample, opts, rng);
    disposeQuantities(sample);
    return tf.stack([terms.cfm, terms.cdm]);
  });
  const [cfm, cdm] = await losses.data();
  losses.dispose();
  return { cfm, cdm };
}
