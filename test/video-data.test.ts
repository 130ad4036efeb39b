import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { downscalePool, mnistDigits, movingMnist, MovingMnistOptions, VideoSet } from '../src/datasets/moving-mnist';
import { Rng } from '../src/random/rng';

const FAST: MovingMnistOptions = { split: 'train', count: 3, frames: 10, size: 32, digits: 1, digitSize: 14, seed: 'mm' };

function frame(videos: VideoSet, video: number, t: number): Float32Array {
  const pixels = videos.size * videos.size;
  const start = (video * videos.frames + t) * pixels;
  return videos.data.subarray(start, start + pixels);
}

interface Box {
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  cx: number;
  cy: number;
  mass: number;
}

/** Bounding box, intensity-weighted centroid and total intensity of a frame's nonzero pixels. */
function describeFrame(pixels: Float32Array, size: number): Box {
  const box = { minX: Infinity, maxX: -Infinity, minY: Infinity, maxY: -Infinity, cx: 0, cy: 0, mass: 0 };
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = pixels[y * size + x];
      if (v === 0) continue;
      box.minX = Math.min(box.minX, x);
      box.maxX = Math.max(box.maxX, x);
      box.minY = Math.min(box.minY, y);
      box.maxY = Math.max(box.maxY, y);
      box.cx += v * x;
      box.cy += v * y;
      box.mass += v;
    }
  }
  return { ...box, cx: box.cx / box.mass, cy: box.cy / box.mass };
}

describe('mnistDigits', () => {
  it('splits the 10,000 digits into disjoint train and test pools', () => {
    const train = mnistDigits('train');
    const test = mnistDigits('test');
    assert.equal(train.size, 28);
    assert.equal(train.count, 7996);
    assert.equal(test.count, 2004);
    const pixels = 28 * 28;
    const key = (images: Float32Array, n: number) => images.subarray(n * pixels, (n + 1) * pixels).join(',');
    const trainKeys = new Set(Array.from({ length: train.count }, (_, n) => key(train.images, n)));
    for (let n = 0; n < test.count; n++) assert.ok(!trainKeys.has(key(test.images, n)), `test digit ${n} is also in train`);
  });

  it('downscales by block averaging', () => {
    const pool = { images: Float32Array.from([0, 1, 0, 0, 1, 1, 0, 1, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 0.25, 0.25]), count: 1, size: 4 };
    assert.deepEqual(Array.from(downscalePool(pool, 2).images), [0.75, 0.25, 0.5, 0.25]);
    assert.throws(() => downscalePool(pool, 3), /integer factor dividing 4/);
  });
});

describe('movingMnist', () => {
  it('has shape [count, frames, size, size] and values in [0, 1]', () => {
    const videos = movingMnist(FAST);
    assert.deepEqual([videos.count, videos.frames, videos.size], [3, 10, 32]);
    assert.equal(videos.data.length, 3 * 10 * 32 * 32);
    assert.ok(videos.data.every((v) => v >= 0 && v <= 1));
    assert.ok(videos.data.some((v) => v > 0.5));
  });

  it('makes the standard 64x64, 2-digit, 20-frame setting', () => {
    const videos = movingMnist({ split: 'test', count: 2, frames: 20, size: 64, digits: 2, seed: 'standard' });
    assert.equal(videos.data.length, 2 * 20 * 64 * 64);
    assert.ok(videos.data.every((v) => v >= 0 && v <= 1));
  });

  it('is deterministic from the seed, and an Rng seed gives the same as its string', () => {
    const a = movingMnist(FAST);
    assert.deepEqual(movingMnist(FAST).data, a.data);
    assert.deepEqual(movingMnist({ ...FAST, seed: new Rng('mm') }).data, a.data);
    assert.notDeepEqual(movingMnist({ ...FAST, seed: 'other' }).data, a.data);
  });

  it('keeps a digit whole inside the frame and bounces it off the walls', () => {
    const size = 32;
    const videos = movingMnist({ ...FAST, count: 1, frames: 100, seed: 'bounce' });
    const boxes = Array.from({ length: 100 }, (_, t) => describeFrame(frame(videos, 0, t), size));
    // Never clipped: the digit's total intensity is the same in every frame.
    for (const box of boxes) {
      assert.ok(box.minX >= 0 && box.minY >= 0 && box.maxX < size && box.maxY < size);
      assert.ok(Math.abs(box.mass - boxes[0].mass) < 1e-3, `mass ${box.mass} vs ${boxes[0].mass}`);
    }
    // The 14-pixel digit moves at most 0.15 * (32 - 14) = 2.7 px a frame, so where it reverses
    // along an axis its box lies within a step (plus rounding) of the box's extreme on that side,
    // which is where it touches the wall (the digit image's own margin being constant).
    const reach = 4;
    let flips = 0;
    for (const [axis, lo, hi] of [['cx', 'minX', 'maxX'], ['cy', 'minY', 'maxY']] as const) {
      const lowest = Math.min(...boxes.map((box) => box[lo]));
      const highest = Math.max(...boxes.map((box) => box[hi]));
      let lastSign = 0;
      for (let t = 1; t < boxes.length; t++) {
        const sign = Math.sign(boxes[t][axis] - boxes[t - 1][axis]);
        if (sign === 0) continue;
        if (lastSign !== 0 && sign !== lastSign) {
          flips++;
          const atWall = sign > 0 ? boxes[t - 1][lo] <= lowest + reach : boxes[t - 1][hi] >= highest - reach;
          assert.ok(atWall, `${axis} reversed at frame ${t} away from the wall: ${JSON.stringify(boxes[t - 1])}`);
        }
        lastSign = sign;
      }
    }
    assert.ok(flips >= 2, `expected bounces in 100 frames, saw ${flips}`);
  });

  it('combines digits by per-pixel max', () => {
    const one = { ...FAST, count: 1, digits: 1 };
    const two = movingMnist({ ...one, digits: 2, seed: 'pair' });
    // The first digit of a 2-digit sequence follows the same draws as a 1-digit sequence.
    const first = movingMnist({ ...one, seed: 'pair' });
    for (let i = 0; i < two.data.length; i++) assert.ok(two.data[i] >= first.data[i]);
    assert.ok(two.data.every((v) => v <= 1));
  });

  it('rejects a digit larger than the frame or not dividing 28', () => {
    assert.throws(() => movingMnist({ ...FAST, size: 20, digitSize: 28 }), /does not fit/);
    assert.throws(() => movingMnist({ ...FAST, digitSize: 10 }), /integer factor/);
  });
});
