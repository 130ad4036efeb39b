import { Rng } from '../random/rng';

/**
 * The CNF literature's treatment of 8-bit images (RealNVP, FFJORD): pixel levels k in 0..255 are
 * dequantised to x = (k + u)/256 with u ~ U[0, 1), and the flow models y = logit(a + (1 - 2a) x),
 * which maps [0, 1] to the whole line. Densities are reported in bits per dimension of the 8-bit
 * data: with p_x the density of x on [0, 1]^d,
 *
 *   log p_x(x) = log p_y(y) + sum_i log |dy_i/dx_i|,   dy/dx = (1 - 2a) / (s (1 - s)),  s = a + (1 - 2a) x,
 *   bits/dim = (-log p_x(x) + d ln 256) / (d ln 2),
 *
 * an upper bound on the 8-bit data's discrete negative log-likelihood (Theis et al., 2016).
 */

/** Pixel levels of 8-bit images. */
export const PIXEL_LEVELS = 256;

/** FFJORD's a for MNIST: the logit's argument stays in [a, 1 - a]. */
export const LOGIT_ALPHA = 1e-6;

/** Pixel intensities in [0, 1] (levels k/255, possibly rounded) back to their levels 0..255. */
export function pixelLevels(intensities: Float32Array): Uint8Array {
  return Uint8Array.from(intensities, (v) => Math.min(PIXEL_LEVELS - 1, Math.max(0, Math.round(v * (PIXEL_LEVELS - 1)))));
}

/** Dequantised, logit-transformed rows: y = logit(a + (1 - 2a)(k + u)/256) with fresh u per pixel. */
export function dequantizedLogits(levels: Uint8Array, rng: Rng, alpha = LOGIT_ALPHA): Float32Array {
  return Float32Array.from(levels, (k) => {
    const s = alpha + (1 - 2 * alpha) * ((k + rng.uniform()) / PIXEL_LEVELS);
    return Math.log(s) - Math.log1p(-s);
  });
}

/** sum_i log |dy_i/dx_i| of each row of logits y [n, dim], in float64 (s = sigmoid(y)). */
export function logitLogDet(logits: Float32Array, dim: number, alpha = LOGIT_ALPHA): Float64Array {
  const rows = logits.length / dim;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      const y = logits[j];
      // log s + log(1 - s) = -softplus(-y) - softplus(y), stable for large |y|.
      total += Math.log(1 - 2 * alpha) + softplus(-y) + softplus(y);
    }
    out[r] = total;
  }
  return out;
}

function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** Bits per dimension of the 8-bit data from the mean NLL (nats) of the dequantised x in [0, 1]^dim. */
export function bitsPerDim(nllPixelUnits: number, dim: number): number {
  return (nllPixelUnits + dim * Math.log(PIXEL_LEVELS)) / (dim * Math.LN2);
}
