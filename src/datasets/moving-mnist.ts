import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../random/rng';

/**
 * A batch of grayscale videos, values in [0, 1], laid out [count, frames, size, size] (row-major
 * frames). Moving MNIST and KTH both come in this shape, so a video task does not care which.
 */
export interface VideoSet {
  data: Float32Array;
  count: number;
  frames: number;
  size: number;
}

export type MnistSplit = 'train' | 'test';

/** A pool of square digit images, values in [0, 1], laid out [count, size, size]. */
export interface DigitPool {
  images: Float32Array;
  count: number;
  size: number;
  /** The digit each image shows, where known (the package's pools), [count]. */
  labels?: Uint8Array;
}

/** Side of the digits the `mnist` package ships. */
export const MNIST_DIGIT_SIZE = 28;

/** Share of each class that goes to the train pool; see `mnistDigits`. */
const TRAIN_FRACTION = 0.8;

/** Digit classes in the order the package stores them: one JSON file per class. */
const CLASSES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

let classImages: Float32Array[] | null = null;

/**
 * The package's images per class, read straight from its data files: its API picks samples with
 * Math.random, which would make the pools (and every sequence drawn from them) unreproducible.
 * Read once and kept, since the files are about 20 MB of JSON.
 */
function loadClassImages(): Float32Array[] {
  if (classImages === null) {
    const digitsDir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
    classImages = CLASSES.map((digit) => {
      const file = path.join(digitsDir, `${digit}.json`);
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[] };
      return Float32Array.from(parsed.data);
    });
  }
  return classImages;
}

/**
 * The digit pool of a split. The `mnist` package ships 10,000 digits (the MNIST test set, 863 to
 * 1,127 per class) stored class by class, so a split by global index would leave whole classes out
 * of one pool. Instead, within each class the first 80% (rounded down) of the package's order are
 * train and the rest test: 7,996 train and 2,004 test digits, disjoint by construction, every class
 * in both. Images come in class order (all 0s, then all 1s, ...).
 */
export function mnistDigits(split: MnistSplit): DigitPool {
  const pixels = MNIST_DIGIT_SIZE * MNIST_DIGIT_SIZE;
  const parts = loadClassImages().map((images) => {
    const n = images.length / pixels;
    const trainCount = Math.floor(n * TRAIN_FRACTION);
    const [start, end] = split === 'train' ? [0, trainCount] : [trainCount, n];
    return images.subarray(start * pixels, end * pixels);
  });
  const images = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  const labels = new Uint8Array(images.length / pixels);
  let offset = 0;
  parts.forEach((part, digit) => {
    images.set(part, offset);
    labels.fill(CLASSES[digit], offset / pixels, (offset + part.length) / pixels);
    offset += part.length;
  });
  return { images, count: images.length / pixels, size: MNIST_DIGIT_SIZE, labels };
}

/** Shrinks every image of a pool by averaging `factor x factor` blocks (factor 2: 28 -> 14). */
export function downscalePool(pool: DigitPool, factor: number): DigitPool {
  if (!Number.isInteger(factor) || factor < 1 || pool.size % factor !== 0) {
    throw new Error(`cannot downscale ${pool.size}x${pool.size} digits by ${factor}: need an integer factor dividing ${pool.size}`);
  }
  const size = pool.size / factor;
  const images = new Float32Array(pool.count * size * size);
  const norm = 1 / (factor * factor);
  for (let n = 0; n < pool.count; n++) {
    const src = n * pool.size * pool.size;
    const dst = n * size * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          const row = src + (y * factor + dy) * pool.size + x * factor;
          for (let dx = 0; dx < factor; dx++) sum += pool.images[row + dx];
        }
        images[dst + y * size + x] = sum * norm;
      }
    }
  }
  return { images, count: pool.count, size, labels: pool.labels };
}

export interface MovingMnistOptions {
  split: MnistSplit;
  /** Number of sequences. */
  count: number;
  /** Frames per sequence. */
  frames: number;
  /** Side of the square frame in pixels. */
  size: number;
  /** Digits per sequence. */
  digits: number;
  /** Side of a digit in pixels; must divide 28 (28 native, 14 by 2x2 averaging). Default 28. */
  digitSize?: number;
  seed: string | Rng;
}

/**
 * Speeds are drawn uniformly from this range, in units of the free range (frame side minus digit
 * side) per frame. The standard generator (Srivastava et al. 2015) uses a fixed 0.1 (3.6 px per
 * frame at 64/28); a spread around it varies the dynamics while keeping the digits' steps well
 * under the free range, so one reflection per step always suffices.
 */
const SPEED_RANGE = [0.05, 0.15] as const;

/** One digit's motion: top-left corner and velocity in pixels (per frame). */
interface Trajectory {
  x: number;
  y: number;
  vx: number;
  vy: number;
}

/**
 * Moving MNIST sequences (Srivastava et al. 2015): each of `digits` digits, drawn from the split's
 * pool, starts at a uniform random position with a random direction and speed, moves linearly and
 * bounces off the borders (position and velocity reflect), so it always lies fully inside the
 * frame. Digits are placed at the rounded position and combined by per-pixel max, the standard
 * way. Deterministic from the seed; with an `Rng`, that stream is advanced.
 */
export function movingMnist(options: MovingMnistOptions): VideoSet {
  const { count, frames, size, digits } = options;
  const digitSize = options.digitSize ?? MNIST_DIGIT_SIZE;
  assertShape(options, digitSize);
  const rng = typeof options.seed === 'string' ? new Rng(options.seed) : options.seed;
  const pool = downscalePool(mnistDigits(options.split), MNIST_DIGIT_SIZE / digitSize);
  const frameSize = size * size;
  const data = new Float32Array(count * frames * frameSize);
  for (let s = 0; s < count; s++) {
    for (let d = 0; d < digits; d++) {
      const image = rng.int(pool.count);
      const motion = randomTrajectory(rng, size - digitSize);
      for (let t = 0; t < frames; t++) {
        const frame = data.subarray((s * frames + t) * frameSize, (s * frames + t + 1) * frameSize);
        drawMax(frame, size, pool, image, Math.round(motion.x), Math.round(motion.y));
        step(motion, size - digitSize);
      }
    }
  }
  return { data, count, frames, size };
}

function assertShape(options: MovingMnistOptions, digitSize: number): void {
  const { count, frames, size, digits } = options;
  for (const [name, value] of Object.entries({ count, frames, size, digits, digitSize })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`moving MNIST: ${name} must be a positive integer, got ${value}`);
  }
  if (digitSize > size) throw new Error(`moving MNIST: digitSize ${digitSize} does not fit in a ${size}x${size} frame`);
}

/** Uniform start anywhere the digit fits, uniform direction, speed from SPEED_RANGE. */
function randomTrajectory(rng: Rng, range: number): Trajectory {
  const x = rng.uniform() * range;
  const y = rng.uniform() * range;
  const angle = 2 * Math.PI * rng.uniform();
  const speed = range * (SPEED_RANGE[0] + (SPEED_RANGE[1] - SPEED_RANGE[0]) * rng.uniform());
  return { x, y, vx: speed * Math.cos(angle), vy: speed * Math.sin(angle) };
}

/** Moves one frame on, reflecting off the walls at 0 and `range`. */
function step(motion: Trajectory, range: number): void {
  [motion.x, motion.vx] = reflect(motion.x + motion.vx, motion.vx, range);
  [motion.y, motion.vy] = reflect(motion.y + motion.vy, motion.vy, range);
}

function reflect(position: number, velocity: number, range: number): [number, number] {
  if (position < 0) return [-position, -velocity];
  if (position > range) return [2 * range - position, -velocity];
  return [position, velocity];
}

/** Writes pool image `image` with top-left (x0, y0) into a frame, keeping the brighter pixel. */
function drawMax(frame: Float32Array, size: number, pool: DigitPool, image: number, x0: number, y0: number): void {
  const side = pool.size;
  const src = image * side * side;
  for (let y = 0; y < side; y++) {
    const row = (y0 + y) * size + x0;
    for (let x = 0; x < side; x++) {
      const value = pool.images[src + y * side + x];
      if (value > frame[row + x]) frame[row + x] = value;
    }
  }
}
