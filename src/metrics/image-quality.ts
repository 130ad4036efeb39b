/** Pixel arrays the metrics accept: generated frames are Float32, references may be Float64. */
export type Pixels = Float32Array | Float64Array;

/**
 * Peak signal-to-noise ratio of one image against a reference, in dB:
 * 10 log10(maxValue^2 / MSE). Identical images give Infinity.
 */
export function psnr(a: Pixels, b: Pixels, maxValue = 1): number {
  assertSameLength(a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((maxValue * maxValue) / mse);
}

/** PSNR of each of `count` images stored back to back ([count, h, w]). */
export function psnrBatch(a: Pixels, b: Pixels, count: number, maxValue = 1): Float64Array {
  const pixels = imagePixels(a, b, count);
  const out = new Float64Array(count);
  for (let n = 0; n < count; n++) {
    out[n] = psnr(a.subarray(n * pixels, (n + 1) * pixels), b.subarray(n * pixels, (n + 1) * pixels), maxValue);
  }
  return out;
}

export interface SsimOptions {
  /** Dynamic range L of the pixel values; default 1 (images in [0, 1]). */
  dataRange?: number;
}

const SSIM_SIGMA = 1.5;
/** Window radius: 11x11 window, as in Wang et al. and skimage (truncate 3.5 at sigma 1.5). */
const SSIM_RADIUS = 5;
const SSIM_K1 = 0.01;
const SSIM_K2 = 0.03;

/** The normalised 1-D Gaussian whose outer product is the 11x11 SSIM window. */
function ssimKernel(): Float64Array {
  const kernel = new Float64Array(2 * SSIM_RADIUS + 1);
  let sum = 0;
  for (let i = -SSIM_RADIUS; i <= SSIM_RADIUS; i++) {
    kernel[i + SSIM_RADIUS] = Math.exp(-(i * i) / (2 * SSIM_SIGMA * SSIM_SIGMA));
    sum += kernel[i + SSIM_RADIUS];
  }
  return kernel.map((v) => v / sum);
}

/**
 * Mean structural similarity (Wang et al. 2004) of two h x w images: 11x11 Gaussian window,
 * sigma 1.5, K1 = 0.01, K2 = 0.03, local statistics weighted by the window with population
 * (not sample) covariance, and the SSIM map taken only where the window fits ('valid'). This is
 * Wang's reference ssim_index.m (filter2 'valid') with L = dataRange, and equals skimage's
 * structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 * data_range=1), which filters the whole image and then crops the 5-pixel border.
 */
export function ssim(a: Pixels, b: Pixels, h: number, w: number, options: SsimOptions = {}): number {
  assertSameLength(a, b);
  if (a.length !== h * w) throw new Error(`ssim: ${a.length} pixels is not ${h}x${w}`);
  const window = 2 * SSIM_RADIUS + 1;
  if (h < window || w < window) throw new Error(`ssim: a ${h}x${w} image is smaller than the ${window}x${window} window`);
  const range = options.dataRange ?? 1;
  const c1 = (SSIM_K1 * range) ** 2;
  const c2 = (SSIM_K2 * range) ** 2;
  const stats = localStatistics(a, b, h, w);
  let sum = 0;
  for (let i = 0; i < stats.muA.length; i++) {
    const muA = stats.muA[i];
    const muB = stats.muB[i];
    const varA = stats.aa[i] - muA * muA;
    const varB = stats.bb[i] - muB * muB;
    const cov = stats.ab[i] - muA * muB;
    sum += ((2 * muA * muB + c1) * (2 * cov + c2)) / ((muA * muA + muB * muB + c1) * (varA + varB + c2));
  }
  return sum / stats.muA.length;
}

/** SSIM of each of `count` h x w images stored back to back ([count, h, w]). */
export function ssimBatch(a: Pixels, b: Pixels, count: number, h: number, w: number, options: SsimOptions = {}): Float64Array {
  const pixels = imagePixels(a, b, count);
  const out = new Float64Array(count);
  for (let n = 0; n < count; n++) {
    out[n] = ssim(a.subarray(n * pixels, (n + 1) * pixels), b.subarray(n * pixels, (n + 1) * pixels), h, w, options);
  }
  return out;
}

/**
 * Intensity centroid [x, y] of an h x w image of non-negative intensities, in pixels (x the column,
 * y the row, 0 at the first pixel's centre). An all-zero image locates nothing: its centroid is
 * the image's centre, so a blank prediction counts as far from an off-centre object.
 */
export function intensityCentroid(image: Pixels, h: number, w: number): [number, number] {
  if (image.length !== h * w) throw new Error(`centroid: ${image.length} pixels is not ${h}x${w}`);
  let mass = 0;
  let x = 0;
  let y = 0;
  for (let i = 0; i < image.length; i++) {
    if (image[i] < 0) throw new Error(`centroid: intensities must be non-negative, got ${image[i]} at pixel ${i}`);
    mass += image[i];
    x += image[i] * (i % w);
    y += image[i] * Math.floor(i / w);
  }
  return mass > 0 ? [x / mass, y / mass] : [(w - 1) / 2, (h - 1) / 2];
}

/**
 * Distance in pixels between the intensity centroids of each of `count` h x w images and of its
 * reference: whether a predicted frame puts its content where the true frame has it. On sparse
 * frames (digits on black) PSNR and SSIM reward a faded or blurred prediction; this does not.
 */
export function centroidDistanceBatch(a: Pixels, b: Pixels, count: number, h: number, w: number): Float64Array {
  const pixels = imagePixels(a, b, count);
  const out = new Float64Array(count);
  for (let n = 0; n < count; n++) {
    const [xa, ya] = intensityCentroid(a.subarray(n * pixels, (n + 1) * pixels), h, w);
    const [xb, yb] = intensityCentroid(b.subarray(n * pixels, (n + 1) * pixels), h, w);
    out[n] = Math.hypot(xa - xb, ya - yb);
  }
  return out;
}

/** Window-weighted means of a, b, a^2, b^2 and ab at every 'valid' position. */
interface LocalStatistics {
  muA: Float64Array;
  muB: Float64Array;
  aa: Float64Array;
  bb: Float64Array;
  ab: Float64Array;
}

function localStatistics(a: Pixels, b: Pixels, h: number, w: number): LocalStatistics {
  const kernel = ssimKernel();
  const n = h * w;
  const aa = new Float64Array(n);
  const bb = new Float64Array(n);
  const ab = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    aa[i] = a[i] * a[i];
    bb[i] = b[i] * b[i];
    ab[i] = a[i] * b[i];
  }
  const filter = (image: Pixels) => filterValid(image, h, w, kernel);
  return { muA: filter(a), muB: filter(b), aa: filter(aa), bb: filter(bb), ab: filter(ab) };
}

/**
 * Correlates an h x w image with the separable window `kernel x kernel`, keeping only positions
 * where the window lies inside the image: a row pass then a column pass, O(k) per pixel instead
 * of O(k^2). Output is (h - k + 1) x (w - k + 1).
 */
function filterValid(image: Pixels, h: number, w: number, kernel: Float64Array): Float64Array {
  const k = kernel.length;
  const outW = w - k + 1;
  const outH = h - k + 1;
  const rows = new Float64Array(h * outW);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += kernel[i] * image[y * w + x + i];
      rows[y * outW + x] = sum;
    }
  }
  const out = new Float64Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += kernel[i] * rows[(y + i) * outW + x];
      out[y * outW + x] = sum;
    }
  }
  return out;
}

function assertSameLength(a: Pixels, b: Pixels): void {
  if (a.length !== b.length) throw new Error(`images differ in size: ${a.length} vs ${b.length} pixels`);
}

/** Pixels per image of a batch of `count` images, checking both batches agree. */
function imagePixels(a: Pixels, b: Pixels, count: number): number {
  assertSameLength(a, b);
  if (!Number.isInteger(count) || count < 1 || a.length % count !== 0) {
    throw new Error(`cannot split ${a.length} pixels into ${count} images`);
  }
  return a.length / count;
}
