import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { centroidDistanceBatch, intensityCentroid, psnr, psnrBatch, ssim, ssimBatch } from '../src/metrics/image-quality';
import { Rng } from '../src/random/rng';

const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;

/** A smooth test image with some structure: a tilted ramp plus a bright disc. */
function scene(h: number, w: number): Float64Array {
  const image = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const disc = (x - w / 2) ** 2 + (y - h / 3) ** 2 < (h / 5) ** 2 ? 0.4 : 0;
      image[y * w + x] = 0.2 + 0.3 * (x / w) + 0.1 * (y / h) + disc;
    }
  }
  return image;
}

/** Independent SSIM: explicit 11x11 window weights (normalised 2-D Gaussian), no separability. */
function directSsim(a: Float64Array, b: Float64Array, h: number, w: number): number {
  const weights: number[][] = [];
  let total = 0;
  for (let i = -5; i <= 5; i++) {
    const row: number[] = [];
    for (let j = -5; j <= 5; j++) {
      row.push(Math.exp(-(i * i + j * j) / (2 * 1.5 * 1.5)));
      total += row[row.length - 1];
    }
    weights.push(row);
  }
  let sum = 0;
  let windows = 0;
  for (let y = 5; y < h - 5; y++) {
    for (let x = 5; x < w - 5; x++) {
      let [ma, mb, aa, bb, ab] = [0, 0, 0, 0, 0];
      for (let i = -5; i <= 5; i++) {
        for (let j = -5; j <= 5; j++) {
          const g = weights[i + 5][j + 5] / total;
          const va = a[(y + i) * w + x + j];
          const vb = b[(y + i) * w + x + j];
          ma += g * va;
          mb += g * vb;
          aa += g * va * va;
          bb += g * vb * vb;
          ab += g * va * vb;
        }
      }
      const [varA, varB, cov] = [aa - ma * ma, bb - mb * mb, ab - ma * mb];
      sum += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (varA + varB + C2));
      windows++;
    }
  }
  return sum / windows;
}

function withNoise(image: Float64Array, sigma: number, rng: Rng): Float64Array {
  return image.map((v) => v + sigma * rng.normal());
}

describe('psnr', () => {
  it('is Infinity for identical images', () => {
    const image = scene(8, 8);
    assert.equal(psnr(image, image), Infinity);
  });

  it('is 20 dB for a constant offset of 0.1 at peak 1, and scales with the peak', () => {
    const a = new Float64Array(64);
    const b = new Float64Array(64).fill(0.1);
    assert.ok(Math.abs(psnr(a, b) - 20) < 1e-12);
    assert.ok(Math.abs(psnr(a, b, 10) - 40) < 1e-12);
  });

  it('gives per-image values over a batch', () => {
    const a = new Float32Array(3 * 16);
    const b = new Float32Array(3 * 16);
    b.fill(0.5, 16, 32);
    b.fill(0.01, 32, 48);
    const values = psnrBatch(a, b, 3);
    assert.equal(values[0], Infinity);
    assert.ok(Math.abs(values[1] - 10 * Math.log10(4)) < 1e-9);
    assert.ok(Math.abs(values[2] - 40) < 1e-4); // 0.01 is not exact in float32
    assert.throws(() => psnrBatch(a, b, 5), /cannot split 48 pixels into 5 images/);
  });
});

describe('ssim', () => {
  const [h, w] = [24, 20];
  const image = scene(h, w);

  it('is 1 for identical images', () => {
    assert.ok(Math.abs(ssim(image, image, h, w) - 1) < 1e-12);
  });

  it('is symmetric', () => {
    const noisy = withNoise(image, 0.1, new Rng('symmetric'));
    assert.equal(ssim(image, noisy, h, w), ssim(noisy, image, h, w));
  });

  it('matches the luminance term alone for a constant shift of a constant image', () => {
    // Both images constant: every window has mu = m and m + c, zero variances and covariance, so
    // the contrast-structure term is C2 / C2 = 1 and SSIM = (2 m (m + c) + C1) / (m^2 + (m + c)^2 + C1).
    const [m, c] = [0.2, 0.1];
    const a = new Float64Array(h * w).fill(m);
    const b = new Float64Array(h * w).fill(m + c);
    const expected = (2 * m * (m + c) + C1) / (m * m + (m + c) * (m + c) + C1);
    assert.ok(Math.abs(ssim(a, b, h, w) - expected) < 1e-12, `${ssim(a, b, h, w)} vs ${expected}`);
    assert.ok(Math.abs(expected - 0.1201 / 0.1301) < 1e-15);
  });

  it('equals a direct 2-D window reference to 1e-10', () => {
    const rng = new Rng('direct');
    const [th, tw] = [13, 15];
    const a = Float64Array.from(rng.uniformArray(th * tw));
    const b = withNoise(a, 0.2, rng);
    assert.ok(Math.abs(ssim(a, b, th, tw) - directSsim(a, b, th, tw)) < 1e-10);
    const shifted = a.map((v) => v + 0.3);
    assert.ok(Math.abs(ssim(a, shifted, th, tw) - directSsim(a, shifted, th, tw)) < 1e-10);
  });

  it('reproduces skimage on a fixed pair', () => {
    // skimage 0.26: structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    // use_sample_covariance=False, data_range=1) and peak_signal_noise_ratio(a, b, data_range=1).
    const a = new Float64Array(h * w);
    const b = new Float64Array(h * w);
    for (let i = 0; i < h * w; i++) {
      a[i] = ((i * 37) % 101) / 100;
      b[i] = Math.min(1, Math.abs(Math.sin(i * 0.7)) * 0.5 + a[i] * 0.5);
    }
    assert.ok(Math.abs(ssim(a, b, h, w) - 0.650906299951437) < 1e-12);
    assert.ok(Math.abs(psnr(a, b) - 13.0960730036608) < 1e-10);
  });

  it('decreases as Gaussian noise grows', () => {
    const rng = new Rng('noise');
    const scores = [0.01, 0.05, 0.1, 0.2, 0.4].map((sigma) => ssim(image, withNoise(image, sigma, rng), h, w));
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] < scores[i - 1], scores.join(', '));
    assert.ok(scores[0] > 0.9 && scores[scores.length - 1] < 0.5, scores.join(', '));
  });

  it('scores a batch image by image, and rejects images smaller than the window', () => {
    const noisy = withNoise(image, 0.1, new Rng('batch'));
    const a = new Float64Array([...image, ...image]);
    const b = new Float64Array([...image, ...noisy]);
    const values = ssimBatch(a, b, 2, h, w);
    assert.ok(Math.abs(values[0] - 1) < 1e-12);
    assert.equal(values[1], ssim(image, noisy, h, w));
    assert.throws(() => ssim(new Float64Array(100), new Float64Array(100), 10, 10), /smaller than the 11x11 window/);
  });

  it('intensity centroids and their distances, by hand', () => {
    // 4 rows x 6 columns: weight 1 at (x 1, y 0) and 3 at (x 5, y 2) -> centroid (4, 1.5).
    const image = new Float64Array(24);
    image[1] = 1;
    image[2 * 6 + 5] = 3;
    assert.deepEqual(intensityCentroid(image, 4, 6), [4, 1.5]);
    // Nothing to locate: the centre of the image.
    assert.deepEqual(intensityCentroid(new Float64Array(24), 4, 6), [2.5, 1.5]);
    assert.throws(() => intensityCentroid(Float64Array.of(-1, 1), 1, 2), /non-negative/);
    // One pixel at (x 0, y 0) against one at (x 3, y 4): 5 pixels apart; an image against itself: 0.
    const a = new Float64Array(2 * 30);
    const b = new Float64Array(2 * 30);
    a[0] = 1;
    b[4 * 6 + 3] = 0.5;
    a[30 + 7] = b[30 + 7] = 1;
    assert.deepEqual(Array.from(centroidDistanceBatch(a, b, 2, 5, 6)), [5, 0]);
  });

  it('the centroid distance of an image and its shifted copy is the shift', () => {
    const h = 12;
    const w = 14;
    const rng = new Rng('centroid-shift');
    const original = new Float64Array(h * w);
    const shifted = new Float64Array(h * w);
    // Content kept 3 pixels away from the borders, so a shift by (2, -3) loses nothing.
    for (let y = 3; y < h - 3; y++) for (let x = 3; x < w - 3; x++) original[y * w + x] = rng.uniform();
    for (let y = 3; y < h - 3; y++) for (let x = 3; x < w - 3; x++) shifted[(y - 3) * w + x + 2] = original[y * w + x];
    const [distance] = centroidDistanceBatch(original, shifted, 1, h, w);
    assert.ok(Math.abs(distance - Math.hypot(2, 3)) < 1e-12, `distance ${distance}`);
  });
});
