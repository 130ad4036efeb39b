import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import * as tf from '../src/backend/tf';
import { resolveConfig } from '../src/cli/load-config';
import { Rng } from '../src/random/rng';
import { RunSpec } from '../src/core/task';
import { videoTask } from '../src/tasks/video';
import { latentField, randomContext, writeCondition } from '../src/tasks/video-conditioning';
import { FrameAutoencoder } from '../src/models/frame-autoencoder';
import { movingMnistDefinition } from '../src/tasks/video-sets';
import { videoOf } from '../src/tasks/video-settings';
import { useTestBackend } from './helpers/backend';
import { makeRecord } from './helpers/run-records';
import { aggregate } from '../src/report/aggregate';
import { RunRecord } from '../src/results/record';
import { runSettings } from '../src/runner/grid';

const config = resolveConfig({ task: 'moving-mnist', preset: 'ci', overrides: {} });
const fdm: RunSpec = { method: 'fdm', seed: 0, path: 'condot', lambda: 0.1, divEstimator: 'hutchinson-unbiased', probes: 2, cdmWeight: 'path', stopGrad: true, fdmVariant: 'paper', timeSampling: 'uniform' };

describe('video prediction task (moving-mnist, ci settings)', () => {
  before(useTestBackend);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-video-'));
  const logs: string[] = [];
  const context = { dir, log: (line: string) => logs.push(line) };

  it('stage 1 trains and caches the autoencoder; a fresh task loads it and predicts the same frames', async () => {
    const first = videoTask(movingMnistDefinition);
    await first.prepare!(config, fdm, context);
    const file = path.join(dir, 'stage1', 'autoencoder-seed-0.json');
    assert.ok(fs.existsSync(file), 'autoencoder cached in the run directory');
    const second = videoTask(movingMnistDefinition);
    await second.prepare!(config, fdm, context);
    assert.ok(logs.some((line) => line.includes(`loaded from ${file}`)), logs.join('\n'));
    const predictions: Float32Array[] = [];
    for (const task of [first, second]) {
      const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
      predictions.push(await experiment.sample(2, new Rng('predict')));
      experiment.dispose();
    }
    assert.deepEqual(predictions[0], predictions[1]);
  });

  it('predicts predictFrames frames per test video, in [0, 1], and refuses more videos than the test set', async () => {
    const task = videoTask(movingMnistDefinition);
    await task.prepare!(config, fdm, context);
    const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
    const { size, predictFrames, testSequences } = videoOf(config);
    const frames = await experiment.sample(3, new Rng('predict'));
    assert.equal(frames.length, 3 * predictFrames * size * size);
    assert.ok(frames.every((v) => v >= 0 && v <= 1));
    await assert.rejects(() => experiment.sample(testSequences + 1, new Rng('x')), /test videos/);
    experiment.dispose();
  });

  it('evaluation reports PSNR and SSIM overall and per predicted frame, and the autoencoder ceiling', async () => {
    const task = videoTask(movingMnistDefinition);
    await task.prepare!(config, fdm, context);
    const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
    const { metrics, samples } = await experiment.evaluate();
    for (const key of ['psnr', 'ssim', 'reconstructionPsnr', 'psnr1', 'psnr2', 'ssim1', 'ssim2']) assert.ok(Number.isFinite(metrics[key]), key);
    assert.equal(metrics.psnr3, undefined);
    assert.ok(metrics.ssim <= 1);
    // The held-last-frame baseline, by hand: PSNR of frame contextFrames - 1 against each later frame.
    const { test } = await movingMnistDefinition.load(config);
    const { contextFrames, predictFrames, size } = videoOf(config);
    const pixels = size * size;
    const frame = (v: number, f: number) => test.data.subarray((v * test.frames + f) * pixels, (v * test.frames + f + 1) * pixels);
    const psnrs: number[] = [];
    for (let v = 0; v < test.count; v++) {
      for (let f = contextFrames; f < contextFrames + predictFrames; f++) {
        let mse = 0;
        frame(v, f).forEach((p, i) => (mse += (p - frame(v, contextFrames - 1)[i]) ** 2 / pixels));
        if (mse > 0) psnrs.push(-10 * Math.log10(mse));
      }
    }
    assert.ok(Math.abs(metrics.lastFramePsnr - psnrs.reduce((a, b) => a + b, 0) / psnrs.length) < 1e-6, `lastFramePsnr ${metrics.lastFramePsnr}`);
    assert.ok(metrics.lastFrameSsim > 0 && metrics.lastFrameSsim <= 1);
    for (const key of ['centroidError', 'centroidError1', 'centroidError2', 'lastFrameCentroidError']) assert.ok(metrics[key] >= 0, key);
    assert.ok(Math.abs((metrics.centroidError1 + metrics.centroidError2) / 2 - metrics.centroidError) < 1e-9, 'mean of the per-frame errors');
    // The figure draws the predictions: blanking them changes pixels, and only in the prediction rows.
    const draw = async (points: Float32Array) => {
      const figure = path.join(dir, 'strip.png');
      await task.writeFigure!(figure, [{ label: 'fdm', spec: fdm, points }], new Rng('f'), config);
      return PNG.sync.read(fs.readFileSync(figure));
    };
    const [drawn, blank] = [await draw(samples!), await draw(new Float32Array(samples!.length))];
    assert.equal(drawn.width, blank.width);
    const changed = drawn.data.filter((value, i) => value !== blank.data[i]).length;
    assert.ok(changed > 0, 'the predicted frames are drawn');
    assert.ok(changed < drawn.data.length / 2, 'the truth rows and labels stay as they are');
    experiment.dispose();
  });

  it('lays out a condition row as [previous latent, context latent, distance], and the field reads every entry', () => {
    const d = 3;
    const condition = new Float32Array(2 * (2 * d + 1));
    writeCondition(condition, 1, Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6), 0.25);
    assert.deepEqual(Array.from(condition.subarray(2 * d + 1)), [1, 2, 3, 4, 5, 6, 0.25]);
    const ae = new FrameAutoencoder({ size: 8, downsamplings: 1, latentChannels: 2, width: 4 }, new Rng('ae'));
    const field = latentField(ae, { ...config, hidden: 6, depth: 1 }, new Rng('field'));
    const rows = 2;
    const rng = new Rng('rows');
    const cond = tf.tensor2d(rng.normalArray(rows * (2 * ae.latentDim + 1)), [rows, 2 * ae.latentDim + 1]);
    const x = tf.tensor2d(rng.normalArray(rows * ae.latentDim), [rows, ae.latentDim]);
    const t = tf.tensor2d([0.3, 0.7], [rows, 1]);
    // Every condition entry (both grids, every cell and channel, and the distance) moves the output.
    const sensitivity = tf.grad((c: tf.Tensor) => tf.sum(tf.square(field.given(c as tf.Tensor2D).forward(x, t))))(cond);
    assert.ok(Array.from(sensitivity.dataSync()).every((g) => g !== 0), 'a condition entry the field ignores');
    assert.throws(() => field.given(tf.zeros([rows, 2 * ae.latentDim]) as tf.Tensor2D), /condition rows have/);
    field.dispose();
    ae.dispose();
  });

  it("draws RIVER's context frame among the frames before the previous one, with its distance from it", () => {
    const rng = new Rng('contexts');
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const { context, distance } = randomContext(rng, 6, 10);
      assert.ok(Number.isInteger(context) && context >= 0 && context <= 4, `context ${context}`);
      assert.equal(distance, (5 - context) / 10);
      seen.add(context);
    }
    assert.equal(seen.size, 5, 'every earlier frame is drawn');
    assert.equal(randomContext(rng, 2, 4).context, 0, 'frame 2 has only frame 0 before its previous one');
  });

  it('a warm start begins each frame nearer the previous one; one context frame or an adaptive solver is refused', async () => {
    const task = videoTask(movingMnistDefinition);
    await task.prepare!(config, fdm, context);
    const predictions: Float32Array[] = [];
    for (const warmStart of [0, 0.9]) {
      const experiment = task.createExperiment({ ...config, video: { ...videoOf(config), warmStart } }, fdm, new Rng('video/seed-0'));
      predictions.push(await experiment.sample(2, new Rng('predict')));
      experiment.dispose();
    }
    const [cold, warm] = predictions;
    assert.notDeepEqual(cold, warm);
    // Frames rolled out from an untrained field: with a warm start little noise enters, so they stay nearer the last context frame.
    const { test } = await movingMnistDefinition.load(config);
    const { contextFrames, size } = videoOf(config);
    const pixels = size * size;
    const distanceToLast = (frames: Float32Array) => {
      let total = 0;
      for (let v = 0; v < 2; v++) {
        const last = test.data.subarray((v * test.frames + contextFrames - 1) * pixels, (v * test.frames + contextFrames) * pixels);
        frames.subarray(v * videoOf(config).predictFrames * pixels, (v * videoOf(config).predictFrames + 1) * pixels).forEach((p, i) => (total += (p - last[i]) ** 2));
      }
      return total;
    };
    assert.ok(distanceToLast(warm) < distanceToLast(cold), `warm ${distanceToLast(warm)} vs cold ${distanceToLast(cold)}`);
    assert.throws(() => resolveConfig({ task: 'moving-mnist', preset: 'ci', overrides: { video: { contextFrames: 1 } } }), /contextFrames: 1 is too few/);
    assert.throws(() => resolveConfig({ task: 'moving-mnist', preset: 'ci', overrides: { eval: { solver: 'dopri5' } } }), /eval.solver: dopri5/);
  });

  it('kth asks for its data paths before anything runs', () => {
    assert.throws(() => resolveConfig({ task: 'kth', preset: 'quick', overrides: {} }), /video.trainPath: kth needs its data/);
  });
});

describe('video settings in the records', () => {
  it('every video setting that shapes a run is recorded, and report keeps runs that differ in one apart', () => {
    const task = videoTask(movingMnistDefinition);
    const settings = runSettings(task, fdm, config);
    assert.equal(settings['video.size'], videoOf(config).size);
    assert.equal(settings['video.autoencoder.latentChannels'], videoOf(config).autoencoder.latentChannels);
    assert.ok(!('video.figureSequences' in settings), 'the figure does not shape the numbers');
    const larger = resolveConfig({ task: 'moving-mnist', preset: 'ci', overrides: { video: { size: 32 } } });
    const record = (c: typeof config, nll: number): RunRecord => ({
      ...makeRecord({ method: 'fdm', seed: 0, nll, msPerIter: 1 }),
      task: 'moving-mnist',
      settings: runSettings(task, fdm, c),
    });
    const rows = aggregate([record(config, 1), record(larger, 2)]);
    assert.deepEqual(rows.map((r) => r.settings['video.size']), [16, 32]);
  });
});
