import * as tf from '../backend/tf';
import { RunConfig } from '../config/schema';
import { VIDEO_SECTION, videoOf } from './video-settings';
import { CODEC_BATCH, frameCount, frameRange, runStage1, Stage1, stage1Key, VideoTaskDefinition } from './video-stage1';
import { frameChange, latentField, randomContext, writeCondition } from './video-conditioning';
import { VideoSet } from '../datasets/moving-mnist';
import { flowLoss, FlowLossOptions } from '../losses/flow-loss';
import { tangentsPerSample } from '../core/methods';
import { centroidDistanceBatch, psnrBatch, ssimBatch } from '../metrics/image-quality';
import { normaliseLatent } from '../models/frame-autoencoder';
import { ConvLatentField } from '../models/conv-field';
import { AffinePath, affinePathName, affineSchedule, AFFINE_PATHS } from '../paths/affine';
import { disposeQuantities } from '../paths/path';
import { drawTrainingTimes, T_MAX } from '../paths/time-sampling';
import { Rng } from '../random/rng';
import { ColumnSpec } from '../core/columns';
import { ImageBlock, writeImageGrid } from '../report/figures/images';
import { sampleFlow } from '../solvers/flow';
import { lossOptionsFor } from './loss-options';
import { ModelExperiment } from './model-experiment';
import { EvaluationResult, Experiment, FigurePanel, RunSpec, Task } from '../core/task';

/**
 * Every video setting that shapes a run's numbers (the figure's sequence count does not), flat:
 * `video.size`, ..., `video.autoencoder.width`, ...
 */
function videoSettings(config: RunConfig): Record<string, string | number> {
  const { figureSequences, autoencoder, ...video } = videoOf(config);
  const flat = (prefix: string, values: object) =>
    Object.entries(values).filter(([, v]) => v !== undefined).map(([k, v]) => [`${prefix}.${k}`, v as string | number] as const);
  return Object.fromEntries([...flat('video', video), ...flat('video.autoencoder', autoencoder)]);
}

class VideoExperiment extends ModelExperiment<ConvLatentField> implements Experiment {
  private readonly path: AffinePath;
  private readonly opts: FlowLossOptions;
  private readonly latentDim: number;

  constructor(
    private readonly stage1: Stage1,
    private readonly config: RunConfig,
    private readonly spec: RunSpec,
    private readonly rng: Rng,
  ) {
    const ae = stage1.autoencoder;
    super(latentField(ae, config, rng.fork('init')), rng);
    this.latentDim = ae.latentDim;
    this.path = new AffinePath(affineSchedule(affinePathName(spec.path), config.sigmaMin));
    this.opts = lossOptionsFor(spec, config);
  }

  /**
   * A batch of (target, previous, context, distance) from the training latents, as RIVER samples
   * them: for frame tau >= 2 the target is its change from frame tau - 1 (see frameChange) and the
   * context is a random earlier frame (see randomContext).
   */
  private trainingBatch(count: number): { target: Float32Array; condition: Float32Array } {
    const d = this.latentDim;
    const frames = frameCount(this.config);
    const videos = this.stage1.trainLatents.length / (frames * d);
    const target = new Float32Array(count * d);
    const condition = new Float32Array(count * this.model.conditionWidth);
    const rng = this.streams.data;
    const latent = (v: number, f: number) => this.stage1.trainLatents.subarray((v * frames + f) * d, (v * frames + f + 1) * d);
    for (let i = 0; i < count; i++) {
      const v = rng.int(videos);
      const tau = 2 + rng.int(frames - 2);
      const { context, distance } = randomContext(rng, tau, frames);
      frameChange(latent(v, tau), latent(v, tau - 1), target.subarray(i * d, (i + 1) * d));
      writeCondition(condition, i, latent(v, tau - 1), latent(v, context), distance);
    }
    return { target, condition };
  }

  loss(): { total: tf.Scalar; cfm: tf.Scalar; cdm: tf.Scalar } {
    const n = this.config.batchSize;
    const d = this.latentDim;
    const { target, condition } = this.trainingBatch(n);
    const x1 = tf.tensor2d(target, [n, d]);
    const x0 = tf.tensor2d(this.streams.noise.normalArray(n * d), [n, d]);
    const cond = tf.tensor2d(condition, [n, this.model.conditionWidth]);
    const times = drawTrainingTimes(this.spec.timeSampling, n, T_MAX, this.streams.time);
    const sample = this.path.sample(x0, x1, times.t);
    const importance = times.weights ? tf.tensor1d(times.weights) : undefined;
    const terms = flowLoss(this.model.given(cond), sample, this.opts, this.streams.probes, importance);
    tf.dispose([x0, x1, cond, importance]);
    disposeQuantities(sample);
    return terms;
  }

  /**
   * Predicted latents [count, predictFrames, d] of the first `count` test videos, frame by frame:
   * the change from the previous frame (given or predicted) generated from noise through the ODE,
   * conditioned on that frame and on a random earlier one drawn anew at every evaluation of the
   * field, as RIVER integrates, then normalised as the encoder normalises its latents.
   */
  private async rollout(count: number, rng: Rng): Promise<Float32Array> {
    const { contextFrames, predictFrames, warmStart } = videoOf(this.config);
    const frames = frameCount(this.config);
    const d = this.latentDim;
    const width = this.model.conditionWidth;
    const latents = new Float32Array(count * frames * d);
    for (let v = 0; v < count; v++) {
      latents.set(this.stage1.testContext.subarray(v * contextFrames * d, (v + 1) * contextFrames * d), v * frames * d);
    }
    const latent = (v: number, f: number) => latents.subarray((v * frames + f) * d, (v * frames + f + 1) * d);
    const ev = this.config.eval;
    for (let tau = contextFrames; tau < frames; tau++) {
      const conditionRows = (): tf.Tensor2D => {
        const condition = new Float32Array(count * width);
        for (let v = 0; v < count; v++) {
          const { context, distance } = randomContext(rng, tau, frames);
          writeCondition(condition, v, latent(v, tau - 1), latent(v, context), distance);
        }
        return tf.tensor2d(condition, [count, width]);
      };
      // One batch: the condition rows belong to these very videos.
      const solver = { solver: ev.solver, steps: ev.steps, rtol: ev.rtol, atol: ev.atol, batchSize: count, start: warmStart };
      const predicted = await sampleFlow(this.model.given(conditionRows), this.startingPoints(count, rng), solver);
      for (let v = 0; v < count; v++) {
        const previous = latent(v, tau - 1);
        const next = latent(v, tau);
        next.set(predicted.subarray(v * d, (v + 1) * d).map((change, i) => previous[i] + change));
        // Back onto the encoder's latent set, so that an error does not grow frame after frame off it.
        normaliseLatent(next);
      }
    }
    const out = new Float32Array(count * predictFrames * d);
    for (let v = 0; v < count; v++) out.set(latents.subarray((v * frames + contextFrames) * d, (v + 1) * frames * d), v * predictFrames * d);
    return out;
  }

  /**
   * Where each frame's ODE starts: noise at t = 0, or with a warm start w the path's point at t = w
   * for a change of zero (the previous frame), sigma_w times noise.
   */
  private startingPoints(count: number, rng: Rng): Float32Array {
    const scale = this.path.schedule.sigma(videoOf(this.config).warmStart);
    return rng.normalArray(count * this.latentDim).map((z) => scale * z);
  }

  /** Predicted frames [count, predictFrames, size, size] of the first `count` test videos. */
  async sample(count: number, rng: Rng): Promise<Float32Array> {
    const available = this.stage1.test.count;
    if (count > available) throw new Error(`video samples are predictions of the ${available} test videos; asked for ${count}`);
    const latents = await this.rollout(count, rng);
    const rows = latents.length / this.latentDim;
    const size = videoOf(this.config).size;
    const frames = new Float32Array(rows * size * size);
    for (let first = 0; first < rows; first += CODEC_BATCH) {
      const n = Math.min(CODEC_BATCH, rows - first);
      const decoded = tf.tidy(() => this.stage1.autoencoder.decode(tf.tensor2d(latents.subarray(first * this.latentDim, (first + n) * this.latentDim), [n, this.latentDim])));
      frames.set(await decoded.data(), first * size * size);
      decoded.dispose();
    }
    return frames;
  }

  async evaluate(): Promise<EvaluationResult> {
    const { contextFrames, predictFrames, size, figureSequences } = videoOf(this.config);
    const test = this.stage1.test;
    const start = performance.now();
    const predicted = await this.sample(test.count, this.rng.fork('eval'));
    const framesPerSecond = (test.count * predictFrames) / ((performance.now() - start) / 1000);
    const truth = frameRange(test, contextFrames, contextFrames + predictFrames);
    const count = test.count * predictFrames;
    const score = (frames: Float32Array) => ({
      psnr: psnrBatch(frames, truth, count),
      ssim: ssimBatch(frames, truth, count, size, size),
      centroid: centroidDistanceBatch(frames, truth, count, size, size),
    });
    const model = score(predicted);
    // The trivial predictor, the last context frame held still: a model that does not beat it has not learnt the motion.
    const held = score(lastFrameHeld(test, contextFrames, predictFrames));
    const all = () => true;
    const metrics: Record<string, number> = {
      psnr: mean(model.psnr, all),
      ssim: mean(model.ssim, all),
      centroidError: mean(model.centroid, all),
      reconstructionPsnr: this.stage1.reconstructionPsnr,
      lastFramePsnr: mean(held.psnr, all),
      lastFrameSsim: mean(held.ssim, all),
      lastFrameCentroidError: mean(held.centroid, all),
    };
    for (let f = 0; f < predictFrames; f++) {
      const frame = (i: number) => i % predictFrames === f;
      metrics[`psnr${f + 1}`] = mean(model.psnr, frame);
      metrics[`ssim${f + 1}`] = mean(model.ssim, frame);
      metrics[`centroidError${f + 1}`] = mean(model.centroid, frame);
    }
    const shown = Math.min(figureSequences, test.count);
    return { metrics, samples: predicted.slice(0, shown * predictFrames * size * size), throughput: { framesPerSecond } };
  }

  flopsPerStep(): number {
    return this.stepFlops(tangentsPerSample(this.opts, this.latentDim), this.config.batchSize);
  }
}

/** Each video's last context frame repeated predictFrames times, [count, predictFrames, size, size]. */
function lastFrameHeld(videos: VideoSet, contextFrames: number, predictFrames: number): Float32Array {
  const last = frameRange(videos, contextFrames - 1, contextFrames);
  const pixels = videos.size * videos.size;
  const out = new Float32Array(videos.count * predictFrames * pixels);
  for (let v = 0; v < videos.count; v++) {
    for (let f = 0; f < predictFrames; f++) out.set(last.subarray(v * pixels, (v + 1) * pixels), (v * predictFrames + f) * pixels);
  }
  return out;
}

/** Mean of the finite values at the indices selected (identical frames have infinite PSNR). */
function mean(values: Float64Array, selected: (i: number) => boolean): number {
  let sum = 0;
  let n = 0;
  values.forEach((v, i) => {
    if (selected(i) && Number.isFinite(v)) {
      sum += v;
      n++;
    }
  });
  return n ? sum / n : NaN;
}

const VIDEO_COLUMNS: ColumnSpec[] = [
  { key: 'psnr', header: 'PSNR (dB)', digits: 2, showStd: true, better: 'higher' },
  { key: 'ssim', header: 'SSIM', digits: 4, showStd: true, better: 'higher' },
  { key: 'psnr1', header: 'PSNR frame 1', digits: 2, showStd: false, better: 'higher' },
  { key: 'ssim1', header: 'SSIM frame 1', digits: 4, showStd: false, better: 'higher' },
  { key: 'centroidError', header: 'centroid error (px)', digits: 2, showStd: true, better: 'lower' },
  { key: 'reconstructionPsnr', header: 'AE recon. PSNR', digits: 2, showStd: false },
  { key: 'lastFramePsnr', header: 'last frame held PSNR', digits: 2, showStd: false },
  { key: 'lastFrameSsim', header: 'last frame held SSIM', digits: 4, showStd: false },
  { key: 'lastFrameCentroidError', header: 'last frame held centroid error', digits: 2, showStd: false },
];

/**
 * Settings no video task can run with: a context frame must differ from the previous frame, and
 * the roll-out's solver must take fixed steps (the field draws a new context frame at every
 * evaluation, which an adaptive solver's error control would read as error).
 */
function videoProblems(config: RunConfig): string[] {
  const problems: string[] = [];
  const { contextFrames } = videoOf(config);
  if (contextFrames < 2) problems.push(`video.contextFrames: ${contextFrames} is too few; the flow conditions on the previous frame and an earlier one, so at least 2 are needed`);
  if (config.eval.solver === 'dopri5') problems.push('eval.solver: dopri5 adapts its steps to the error, and the video field changes its context frame at every evaluation; use euler, midpoint or rk4');
  return problems;
}

/**
 * Video prediction by latent flow matching (RIVER-style): a frame autoencoder trained first, then
 * a flow in its latent space that predicts the next frame's latent from noise, conditioned on the
 * previous frame and a random earlier one. CFM and FDM differ only in the loss.
 */
export function videoTask(def: VideoTaskDefinition): Task {
  const stages = new Map<string, Stage1>();
  const stageOf = (config: RunConfig, seed: number): Stage1 => {
    const stage = stages.get(stage1Key(def.name, config, seed));
    if (!stage) throw new Error(`${def.name}: stage 1 (the autoencoder) of seed ${seed} is not ready: call prepare() first`);
    return stage;
  };
  return {
    name: def.name,
    description: def.description,
    presetFile: def.presetFile,
    paths: AFFINE_PATHS,
    columns: VIDEO_COLUMNS,
    facts: {},
    section: VIDEO_SECTION,
    checkConfig: (config) => [...videoProblems(config), ...(def.checkConfig?.(config) ?? [])],
    recordedSettings: videoSettings,
    async prepare(config, spec, context) {
      // A timing-only stage 1 (bench) is cached under the same key: bench and run never share a process.
      const key = stage1Key(def.name, config, spec.seed);
      if (!stages.has(key)) stages.set(key, await runStage1(def, config, spec.seed, context));
    },
    createExperiment: (config, spec, rng) => new VideoExperiment(stageOf(config, spec.seed), config, spec, rng),
    async writeFigure(file: string, panels: FigurePanel[], _rng: Rng, config: RunConfig): Promise<void> {
      // Loaded again rather than taken from stage 1: with --jobs the figure is drawn by a process
      // that trained nothing. The videos are fixed by the configuration, so they are the same ones.
      const { test } = await def.load(config);
      const layout = videoOf(config);
      await writeImageGrid(file, videoBlocks(test, panels, layout), {
        title: `${def.name}: predicted frames`,
        subtitle: `per test sequence: the truth (${layout.contextFrames} context frames, then the ${layout.predictFrames} to predict), then each method's prediction`,
        size: layout.size,
        columnTitle: 'frame',
      });
    },
  };
}

/** Per shown test sequence: the truth (context, then the frames to predict), then each method's predicted frames under the frames they predict. */
function videoBlocks(truth: VideoSet, panels: FigurePanel[], layout: { size: number; contextFrames: number; predictFrames: number }): ImageBlock[] {
  const { size, contextFrames, predictFrames } = layout;
  const perSequence = predictFrames * size * size;
  const sequences = Math.min(truth.count, ...panels.map((p) => Math.floor(p.points.length / perSequence)));
  const perTruth = truth.frames * size * size;
  return Array.from({ length: sequences }, (_, s) => ({
    title: `test sequence ${s + 1}`,
    rows: [
      { label: 'truth', frames: truth.data.subarray(s * perTruth, s * perTruth + (contextFrames + predictFrames) * size * size), firstColumn: 0 },
      ...panels.map((p) => ({ label: p.label, frames: p.points.subarray(s * perSequence, (s + 1) * perSequence), firstColumn: contextFrames })),
    ],
  }));
}
