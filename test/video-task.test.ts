import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { resolveConfig } from '../src/config/load';
import { Rng } from '../src/random/rng';
import { RunSpec } from '../src/tasks/task';
import { conditioned, videoTask, writeCondition } from '../src/tasks/video';
import { Mlp } from '../src/models/mlp';
import { movingMnistDefinition } from '../src/tasks/video-sets';
import { useTestBackend } from './helpers/backend';

const config = resolveConfig({ task: 'moving-mnist', preset: 'ci', overrides: {} });
const fdm: RunSpec = { method: 'fdm', seed: 0, path: 'condot', lambda: 0.1, divEstimator: 'hutchinson', probes: 1, probeDots: 'exact', stopGrad: true, fdmVariant: 'paper' };

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
    const predictions = [first, second].map((task) => {
      const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
      const frames = experiment.sample(2, new Rng('predict'));
      experiment.dispose();
      return frames;
    });
    assert.deepEqual(predictions[0], predictions[1]);
  });

  it('predicts predictFrames frames per test video, in [0, 1], and refuses more videos than the test set', async () => {
    const task = videoTask(movingMnistDefinition);
    await task.prepare!(config, fdm, context);
    const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
    const { size, predictFrames, testSequences } = config.video;
    const frames = experiment.sample(3, new Rng('predict'));
    assert.equal(frames.length, 3 * predictFrames * size * size);
    assert.ok(frames.every((v) => v >= 0 && v <= 1));
    assert.throws(() => experiment.sample(testSequences + 1, new Rng('x')), /test videos/);
    experiment.dispose();
  });

  it('training steps (the conditioned latent FDM loss) are finite, repeat for a seed and keep the tensor count flat', async () => {
    const task = videoTask(movingMnistDefinition);
    await task.prepare!(config, fdm, context);
    const runs = [0, 1].map(() => {
      const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
      const totals: number[] = [];
      let afterSecond = 0;
      for (let i = 0; i < 5; i++) {
        const terms = experiment.loss(i);
        totals.push(terms.total.dataSync()[0]);
        tf.dispose(Object.values(terms));
        if (i === 1) afterSecond = tf.memory().numTensors;
      }
      assert.equal(tf.memory().numTensors, afterSecond);
      experiment.dispose();
      return totals;
    });
    assert.deepEqual(runs[0], runs[1]);
    assert.ok(runs[0].every(Number.isFinite));
  });

  it('evaluation reports PSNR and SSIM overall and per predicted frame, and the autoencoder ceiling', async () => {
    const task = videoTask(movingMnistDefinition);
    await task.prepare!(config, fdm, context);
    const experiment = task.createExperiment(config, fdm, new Rng('video/seed-0'));
    const { metrics, samples } = await experiment.evaluate();
    for (const key of ['psnr', 'ssim', 'reconstructionPsnr', 'psnr1', 'psnr2', 'ssim1', 'ssim2']) assert.ok(Number.isFinite(metrics[key]), key);
    assert.equal(metrics.psnr3, undefined);
    assert.ok(metrics.ssim <= 1);
    const figure = path.join(dir, 'strip.png');
    await task.writeFigure!(figure, [{ label: 'fdm', points: samples! }], new Rng('f'), config);
    assert.ok(fs.statSync(figure).size > 0);
    experiment.dispose();
  });

  it('conditions the latent field on [t, previous latent, context latent, distance], tangents through x only', () => {
    const d = 3;
    const condition = new Float32Array(2 * (2 * d + 1));
    writeCondition(condition, 1, Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6), 0.25);
    assert.deepEqual(Array.from(condition.subarray(2 * d + 1)), [1, 2, 3, 4, 5, 6, 0.25]);
    const mlp = new Mlp({ dim: d, hidden: 8, depth: 2, context: 2 + 2 * d }, new Rng('cond'));
    const cond = tf.tensor2d(condition, [2, 2 * d + 1]);
    const x = tf.tensor2d([0.1, -0.2, 0.3, 0.5, 0.4, -0.6], [2, d]);
    const t = tf.tensor2d([0.3, 0.7], [2, 1]);
    const field = conditioned(mlp, cond);
    const direct = mlp.forward(x, tf.concat([t, cond], 1) as tf.Tensor2D);
    assert.deepEqual(Array.from(field.forward(x, t).dataSync()), Array.from(direct.dataSync()));
    const { v, jvp } = field.forwardWithTangents(x, t, tf.ones([1, 2, d]) as tf.Tensor3D);
    assert.deepEqual(v.shape, [2, d]);
    assert.deepEqual(jvp.shape, [1, 2, d]);
    assert.equal(field.dim, d);
    mlp.dispose();
  });

  it('kth asks for its data paths before anything runs', () => {
    assert.throws(() => resolveConfig({ task: 'kth', preset: 'quick', overrides: {} }), /video.trainPath: kth needs its data/);
  });
});
