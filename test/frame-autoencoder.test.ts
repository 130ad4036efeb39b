import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { convSame } from '../src/models/conv';
import { AutoencoderShape, depthToSpace2, FrameAutoencoder, normaliseLatent, spaceToDepth2 } from '../src/models/frame-autoencoder';
import { encodeFrames, loadAutoencoder, reconstructionPsnr, saveAutoencoder, trainAutoencoder } from '../src/tasks/video-autoencoder';
import { Rng } from '../src/random/rng';
import { useTestBackend } from './helpers/backend';
import { assertAllClose } from './helpers/numeric';

const SMALL: AutoencoderShape = { size: 32, downsamplings: 2, latentChannels: 4, width: 8 };

/**
 * `clips` clips of `length` frames, size x size, each with one bright square of random size and
 * intensity moving at a constant velocity and bouncing off the borders, on a dark background.
 */
function movingSquares(rng: Rng, clips: number, length: number, size: number): Float32Array {
  const frames = new Float32Array(clips * length * size * size);
  for (let c = 0; c < clips; c++) {
    const side = 6 + rng.int(7);
    const intensity = 0.6 + 0.4 * rng.uniform();
    const span = size - side;
    let x = rng.uniform() * span;
    let y = rng.uniform() * span;
    let vx = (rng.uniform() - 0.5) * 6;
    let vy = (rng.uniform() - 0.5) * 6;
    for (let t = 0; t < length; t++) {
      const offset = (c * length + t) * size * size;
      const x0 = Math.round(x);
      const y0 = Math.round(y);
      for (let i = y0; i < y0 + side; i++) for (let j = x0; j < x0 + side; j++) frames[offset + i * size + j] = intensity;
      x += vx;
      y += vy;
      if (x < 0 || x > span) [vx, x] = [-vx, Math.min(Math.max(x, 0), span)];
      if (y < 0 || y > span) [vy, y] = [-vy, Math.min(Math.max(y, 0), span)];
    }
  }
  return frames;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

describe('frame autoencoder', () => {
  let dir: string;
  before(async () => {
    await useTestBackend();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frame-ae-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('patchify ops invert each other', () => {
    const x = tf.tensor4d(new Rng('patch').uniformArray(2 * 4 * 6 * 3), [2, 4, 6, 3]);
    const down = spaceToDepth2(x);
    assert.deepEqual(down.shape, [2, 2, 3, 12]);
    // The 2x2 patch at (0, 0) of frame 0, channel 0, in (dy, dx) order.
    const v = x.arraySync();
    assert.deepEqual(Array.from(down.slice([0, 0, 0, 0], [1, 1, 1, 12]).dataSync()).filter((_, k) => k % 3 === 0), [v[0][0][0][0], v[0][0][1][0], v[0][1][0][0], v[0][1][1][0]]);
    assert.deepEqual(Array.from(depthToSpace2(down).dataSync()), Array.from(x.dataSync()));
  });

  it('convSame matches an im2col convolution in values and gradients', () => {
    const rng = new Rng('conv');
    const x = tf.tensor4d(rng.normalArray(2 * 5 * 6 * 3), [2, 5, 6, 3]);
    const w = tf.tensor4d(rng.normalArray(9 * 3 * 4), [3, 3, 3, 4]);
    const probe = tf.tensor4d(rng.normalArray(2 * 5 * 6 * 4), [2, 5, 6, 4]);
    // Reference: zero-pad, gather the 9 shifted copies, one matMul (all ops with stock gradients).
    const reference = (x: tf.Tensor4D, w: tf.Tensor4D) => {
      const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const taps: tf.Tensor[] = [];
      for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) taps.push(tf.slice(padded, [0, dy, dx, 0], [2, 5, 6, 3]));
      return tf.reshape(tf.matMul(tf.reshape(tf.concat(taps, 3), [60, 27]), tf.reshape(w, [27, 4])), [2, 5, 6, 4]);
    };
    assertAllClose(convSame(x, w).dataSync(), reference(x, w).dataSync(), 1e-5, 1e-5, 'values');
    const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(convSame(a as tf.Tensor4D, b as tf.Tensor4D), probe)))([x, w]);
    const theirs = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(a as tf.Tensor4D, b as tf.Tensor4D), probe)))([x, w]);
    assertAllClose(ours[0].dataSync(), theirs[0].dataSync(), 1e-4, 1e-4, 'dL/dx');
    assertAllClose(ours[1].dataSync(), theirs[1].dataSync(), 1e-4, 1e-4, 'dL/dw');
  });

  for (const shape of [SMALL, { size: 64, downsamplings: 3, latentChannels: 4, width: 8 }]) {
    it(`encodes ${shape.size}x${shape.size} frames to ${shape.latentChannels}-channel latents and decodes into [0, 1]`, () => {
      const ae = new FrameAutoencoder(shape, new Rng('shapes'));
      const grid = shape.size / 2 ** shape.downsamplings;
      assert.equal(ae.latentDim, shape.latentChannels * grid * grid);
      const frames = tf.tensor3d(new Rng('frames').uniformArray(3 * shape.size ** 2), [3, shape.size, shape.size]);
      const z = ae.encode(frames);
      assert.deepEqual(z.shape, [3, ae.latentDim]);
      // The same latents from [B, H, W, 1] input.
      assert.deepEqual(Array.from(ae.encode(frames.expandDims(3) as tf.Tensor4D).dataSync()), Array.from(z.dataSync()));
      // Normalised latents: zero mean, unit variance per frame (the scale of flow matching's noise).
      const { mean: m, variance } = tf.moments(z, 1);
      assertAllClose(m.dataSync(), [0, 0, 0], 1e-4, 0, 'latent mean');
      assertAllClose(variance.dataSync(), [1, 1, 1], 1e-3, 0, 'latent variance');
      // Decoding far-out latents still lands in [0, 1].
      const decoded = ae.decode(tf.mul(tf.tensor2d(new Rng('z').normalArray(3 * ae.latentDim), [3, ae.latentDim]), 50) as tf.Tensor2D);
      assert.deepEqual(decoded.shape, [3, shape.size, shape.size]);
      assert.ok(decoded.min().dataSync()[0] >= 0 && decoded.max().dataSync()[0] <= 1);
      assert.throws(() => ae.encode(tf.zeros([1, shape.size, shape.size / 2]) as tf.Tensor3D), /expected frames/);
      tf.dispose([frames, z, m, variance, decoded]);
      ae.dispose();
    });
  }

  it('normaliseLatent puts a latent at zero mean and unit variance, and is idempotent', () => {
    const rng = new Rng('latent');
    const latent = Float32Array.from(rng.normalArray(256), (v) => 3 + 5 * v);
    normaliseLatent(latent);
    const mean = latent.reduce((a, b) => a + b, 0) / latent.length;
    const variance = latent.reduce((a, b) => a + (b - mean) ** 2, 0) / latent.length;
    assert.ok(Math.abs(mean) < 1e-6 && Math.abs(variance - 1) < 1e-5, `mean ${mean}, variance ${variance}`);
    const again = latent.slice();
    normaliseLatent(again);
    assertAllClose(again, latent, 1e-6, 1e-5, 'normalised twice');
  });

  it('rejects a shape whose frames cannot be down-sampled that often', () => {
    assert.throws(() => new FrameAutoencoder({ ...SMALL, size: 36, downsamplings: 3 }, new Rng('bad')), /cannot be down-sampled/);
  });

  it('training on moving squares lowers the MSE and raises the reconstruction PSNR', async (t) => {
    const frames = movingSquares(new Rng('squares'), 8, 8, 32);
    const ae = new FrameAutoencoder(SMALL, new Rng('train').fork('init'));
    const before = await reconstructionPsnr(ae, frames, 24);
    const { losses, seconds } = await trainAutoencoder(ae, frames, { iterations: 300, batchSize: 16, lr: 3e-3 }, new Rng('train').fork('batches'));
    const after = await reconstructionPsnr(ae, frames, 24);
    assert.equal(losses.length, 300);
    const first = mean(losses.slice(0, 20));
    const last = mean(losses.slice(-20));
    assert.ok(last < first / 4, `loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
    assert.ok(after > before + 6 && after > 20, `PSNR ${before.toFixed(2)} -> ${after.toFixed(2)} dB`);
    const latents = await encodeFrames(ae, frames, 24);
    assert.equal(latents.length, 64 * ae.latentDim);
    t.diagnostic(`300 steps (batch 16) in ${seconds.toFixed(1)} s: loss ${first.toFixed(4)} -> ${last.toFixed(4)}, PSNR ${before.toFixed(2)} -> ${after.toFixed(2)} dB`);
    ae.dispose();
  });

  it('is deterministic for a seed and keeps the tensor count flat while training', async () => {
    const frames = movingSquares(new Rng('squares'), 4, 8, 32);
    const train = async (counts: Map<number, number>) => {
      const ae = new FrameAutoencoder(SMALL, new Rng('det').fork('init'));
      const onProgress = (iteration: number) => counts.set(iteration, tf.memory().numTensors);
      await trainAutoencoder(ae, frames, { iterations: 20, batchSize: 8, lr: 1e-3, onProgress }, new Rng('det').fork('batches'));
      const weights = ae.variables.map((v) => Array.from(v.dataSync()));
      ae.dispose();
      return weights;
    };
    const counts = new Map<number, number>();
    const baseline = tf.memory().numTensors;
    const a = await train(counts);
    const b = await train(new Map());
    assert.deepEqual(a, b);
    assert.equal(counts.get(20), counts.get(5));
    assert.equal(tf.memory().numTensors, baseline, 'training leaves no tensors behind');
  });

  it('saves and loads weights, and names the file when it cannot load', async () => {
    const rng = new Rng('save');
    const ae = new FrameAutoencoder(SMALL, rng.fork('a'));
    const file = path.join(dir, 'stage1', 'autoencoder.json');
    await saveAutoencoder(ae, file);
    const fresh = new FrameAutoencoder(SMALL, rng.fork('b'));
    const z = tf.tensor2d(rng.normalArray(2 * ae.latentDim), [2, ae.latentDim]);
    assert.notDeepEqual(Array.from(fresh.decode(z).dataSync()), Array.from(ae.decode(z).dataSync()));
    loadAutoencoder(fresh, file);
    assert.deepEqual(Array.from(fresh.decode(z).dataSync()), Array.from(ae.decode(z).dataSync()));

    const text = fs.readFileSync(file, 'utf8');
    const truncated = path.join(dir, 'truncated.json');
    fs.writeFileSync(truncated, text.slice(0, Math.floor(text.length / 2)));
    assert.throws(() => loadAutoencoder(fresh, truncated), (err: Error) => err.message.includes(truncated) && /truncated or corrupt/.test(err.message));

    const otherShape = path.join(dir, 'wide.json');
    const wide = new FrameAutoencoder({ ...SMALL, width: 16 }, rng.fork('c'));
    await saveAutoencoder(wide, otherShape);
    assert.throws(() => loadAutoencoder(fresh, otherShape), (err: Error) => err.message.includes(otherShape) && /another shape/.test(err.message));

    // A variable's data cut short inside otherwise valid JSON.
    const corrupt = path.join(dir, 'corrupt.json');
    const json = JSON.parse(text);
    json.state.variables[0].base64 = json.state.variables[0].base64.slice(0, 8);
    fs.writeFileSync(corrupt, JSON.stringify(json));
    assert.throws(() => loadAutoencoder(fresh, corrupt), (err: Error) => err.message.includes(corrupt) && /corrupt/.test(err.message));

    const missing = path.join(dir, 'missing.json');
    assert.throws(() => loadAutoencoder(fresh, missing), (err: Error) => err.message.includes(missing) && /does not exist/.test(err.message));
    tf.dispose(z);
    [ae, fresh, wide].forEach((m) => m.dispose());
  });
});
