import { z } from 'zod';
import * as tf from '../../backend/tf';
import { ConfigSection, RunConfig } from '../../config/schema';
import { ColumnSpec } from '../../core/columns';
import { FigurePanel, Task } from '../../core/task';
import { bitsPerDim, dequantizedLogits, LOGIT_ALPHA, logitLogDet, PIXEL_LEVELS, pixelLevels } from '../../datasets/dequantize';
import { frechetDistance } from '../../metrics/frechet';
import { DigitClassifier, FEATURES, LabelledImages } from './classifier';
import { downscalePool, MNIST_DIGIT_SIZE, mnistDigits, MnistSplit } from '../../datasets/moving-mnist';
import { ConvLatentField } from '../../models/conv-field';
import { hutchinsonAgainstExact } from '../../metrics/hutchinson-nll';
import { AFFINE_PATHS, affinePathName, affineSchedule } from '../../paths/affine';
import { writeImageGrid } from '../../report/figures/images';
import { VelocityModel } from '../../models/model';
import { Rng } from '../../random/rng';
import { densityColumns, densityTask, DensityDefinition, evaluationSolver } from '../density';
import { pickRows } from '../rows';

const IMAGE_SIZES = [28, 14, 7] as const;

/** Settings of the `mnist` task, `mnist:` in presets and config files (`--image-size`). */
const mnistSchema = z
  .object({
    /** Side of the images: MNIST's 28, or 14 and 7 by averaging 2x2 or 4x4 blocks (then re-quantised to 8 bits). */
    imageSize: z.number().int().refine((v) => (IMAGE_SIZES as readonly number[]).includes(v), { message: `imageSize must be one of ${IMAGE_SIZES.join(', ')}` }).default(14),
    /** Held-out images whose NLL is also computed with the exact divergence, beside Hutchinson's with fresh probes; 0 skips it. */
    exactNllImages: z.number().int().nonnegative().default(4),
  })
  .strict();

type MnistSettings = z.output<typeof mnistSchema>;

const MNIST_SECTION: ConfigSection = {
  key: 'mnist',
  schema: mnistSchema,
  flags: { 'image-size': { key: 'imageSize', description: `side of the digit images: ${IMAGE_SIZES.join(', ')} (block averages of MNIST's 28)`, type: 'number' } },
};

function settingsOf(config: RunConfig): MnistSettings {
  return config.mnist as MnistSettings;
}

/** A split's digits at a size: 8-bit pixel levels [n * size^2] and labels [n], read once per (split, size). */
const digitCache = new Map<string, { levels: Uint8Array; labels: Uint8Array }>();
function digits(split: MnistSplit, size: number): { levels: Uint8Array; labels: Uint8Array } {
  const key = `${split}/${size}`;
  let entry = digitCache.get(key);
  if (!entry) {
    const pool = downscalePool(mnistDigits(split), MNIST_DIGIT_SIZE / size);
    entry = { levels: pixelLevels(pool.images), labels: pool.labels! };
    digitCache.set(key, entry);
  }
  return entry;
}

function digitLevels(split: MnistSplit, size: number): Uint8Array {
  return digits(split, size).levels;
}

/** A split's digits as intensities k/255 with their labels, what the classifier sees. */
function labelledDigits(split: MnistSplit, size: number): LabelledImages {
  const { levels, labels } = digits(split, size);
  return { images: Float32Array.from(levels, (k) => k / (PIXEL_LEVELS - 1)), labels, pixels: size * size };
}

/** The feature classifier of a size, trained once per process on the training digits (seeded). */
const classifiers = new Map<number, Promise<DigitClassifier>>();
function classifierFor(size: number): Promise<DigitClassifier> {
  let classifier = classifiers.get(size);
  if (!classifier) {
    classifier = DigitClassifier.train(labelledDigits('train', size), new Rng(`mnist/classifier/${size}`));
    classifiers.set(size, classifier);
  }
  return classifier;
}

/**
 * The Fréchet distance in the classifier's features between the model's samples and the held-out
 * digits, and its floor: the training digits (as many as the samples) against the same held-out ones.
 */
async function classifierFrechet(size: number, samples: Float32Array, rng: Rng): Promise<Record<string, number>> {
  const pixels = size * size;
  const classifier = await classifierFor(size);
  const heldOut = labelledDigits('test', size);
  const train = labelledDigits('train', size);
  const count = samples.length / pixels;
  const reference = pickRows(train.images, pixels, count, rng, false);
  const [model, data, floor] = await Promise.all([classifier.features(samples, pixels), classifier.features(heldOut.images, pixels), classifier.features(reference, pixels)]);
  return {
    classifierFd: frechetDistance(model, data, FEATURES),
    classifierFdFloor: frechetDistance(floor, data, FEATURES),
    classifierAccuracy: await classifier.accuracy(heldOut),
  };
}

/** n images drawn from a split's levels (held-out: without replacement), dequantised afresh and logit-transformed. */
function digitSampler(split: MnistSplit, size: number, withReplacement: boolean) {
  const dim = size * size;
  return (n: number, rng: Rng): Float32Array => dequantizedLogits(pickRows(digitLevels(split, size), dim, n, rng, withReplacement), rng.fork('dequantize'));
}

/** The residual conv field of the video tasks on the g x g x 1 image, without a condition. */
function imageField(size: number, config: RunConfig, rng: Rng): VelocityModel {
  const field = new ConvLatentField({ grid: size, channels: 1, conditionGrids: 0, conditionScalars: 0, width: config.hidden, blocks: config.depth }, rng);
  const none = tf.keep(tf.zeros([1, 0]) as tf.Tensor2D);
  return {
    ...field.given(none),
    dispose: () => {
      none.dispose();
      field.dispose();
    },
  };
}

/** Digits per row and rows of the figure. */
const GRID = { columns: 8, rows: 4 };

/** Logits back to intensities in [0, 1]: x = (sigmoid(y) - a)/(1 - 2a), clipped (a sample may leave [a, 1 - a]). */
function intensities(logits: Float32Array): Float32Array {
  return Float32Array.from(logits, (y) => Math.min(1, Math.max(0, (1 / (1 + Math.exp(-y)) - LOGIT_ALPHA) / (1 - 2 * LOGIT_ALPHA))));
}

/** Held-out digits, then each method's samples: GRID.rows lines of GRID.columns digits each. */
async function writeDigitGrid(file: string, size: number, panels: FigurePanel[]): Promise<void> {
  const perRow = GRID.columns * size * size;
  const truth = intensities(digitSampler('test', size, false)(GRID.columns * GRID.rows, new Rng('mnist/figure')));
  const block = (title: string, images: Float32Array) => ({
    title,
    rows: Array.from({ length: Math.min(GRID.rows, Math.floor(images.length / perRow)) }, (_, r) => ({ label: String(r + 1), frames: images.subarray(r * perRow, (r + 1) * perRow), firstColumn: 0 })),
  });
  await writeImageGrid(file, [block('held-out digits', truth), ...panels.map((p) => block(p.label, intensities(p.points.subarray(0, Math.min(p.points.length, GRID.rows * perRow)))))], {
    title: `mnist ${size}x${size}: samples`,
    subtitle: 'held-out digits, then each method\'s samples (logit space mapped back to intensities)',
    size,
    columnTitle: null,
  });
}

const MNIST_COLUMNS: ColumnSpec[] = [
  { key: 'bitsPerDim', header: 'bits/dim', digits: 3, showStd: true, better: 'lower' },
  { key: 'classifierFd', header: 'Fréchet dist. (digit clf.)', digits: 3, showStd: true, better: 'lower' },
  { key: 'classifierFdFloor', header: 'FD floor (data)', digits: 3, showStd: false },
];

function definitionFor(size: number): DensityDefinition {
  const dim = size * size;
  const heldOut = digitSampler('test', size, false);
  return {
    name: 'mnist',
    description: 'MNIST digits (the mnist package: MNIST test set split 80/20 into train/held-out), dequantised and logit-transformed; bits/dim',
    dim,
    sample: digitSampler('train', size, true),
    heldOut,
    pointLogDet: (points) => logitLogDet(points, dim),
    range: [-14, 14],
    presetFile: 'mnist',
    model: (config, _spec, rng) => imageField(size, config, rng),
    watchedDivergence: { divEstimator: 'hutchinson-unbiased', probes: 2 },
    writeFigure: (file, panels) => writeDigitGrid(file, size, panels),
    async extraEvaluation(model, config, spec, rng, { samples, metrics }) {
      const scored = intensities(samples.subarray(0, config.eval.sampleCount * dim));
      const bits = {
        bitsPerDim: bitsPerDim(metrics.nll, dim),
        bitsPerDimStdErr: metrics.nllStdErr / (dim * Math.LN2),
        ...(await classifierFrechet(size, scored, rng.fork('frechet'))),
      };
      const count = settingsOf(config).exactNllImages;
      if (count === 0) return { metrics: bits };
      // The estimator's effect on bits/dim: a few held-out images with the exact divergence and with Hutchinson's.
      const points = heldOut(count, rng.fork('exact-nll-images'));
      const sourceStd = affineSchedule(affinePathName(spec.path)).sourceStd;
      const compared = await hutchinsonAgainstExact(model, points, { solver: evaluationSolver(config), sourceStd, rng: rng.fork('exact-nll-probes') });
      const meanLogDet = logitLogDet(points, dim).reduce((a, b) => a + b, 0) / count;
      return {
        metrics: {
          ...bits,
          bitsPerDimExactSubset: bitsPerDim(compared.exactNllPerDim * dim - meanLogDet, dim),
          hutchinsonBitsBias: compared.biasPerDim / Math.LN2,
          hutchinsonBitsSd: compared.sdPerDim / Math.LN2,
        },
      };
    },
  };
}

/**
 * Density estimation on real digits: the `mnist` package's 10,000 digits (MNIST's test set, split
 * 80/20 per class into disjoint train and held-out pools as the video tasks do), at 28, 14 or 7
 * pixels a side, in bits/dim of the 8-bit images (datasets/dequantize.ts).
 */
export const mnistTask: Task = (() => {
  const bySize = new Map<number, Task>();
  const taskFor = (config: RunConfig): Task => {
    const size = settingsOf(config).imageSize;
    if (!bySize.has(size)) bySize.set(size, densityTask(definitionFor(size)));
    return bySize.get(size)!;
  };
  return {
    name: 'mnist',
    description: definitionFor(14).description,
    presetFile: 'mnist',
    paths: AFFINE_PATHS,
    section: MNIST_SECTION,
    columns: [...MNIST_COLUMNS, ...densityColumns({}).filter((c) => ['nll', 'nllStdErr'].includes(c.key))],
    facts: {},
    recordedSettings: (config) => Object.fromEntries(Object.entries(settingsOf(config)).map(([key, value]) => [`mnist.${key}`, value])),
    createExperiment: (config, spec, rng) => taskFor(config).createExperiment(config, spec, rng),
    writeFigure: (file, panels, rng, config) => taskFor(config).writeFigure!(file, panels, rng, config),
  };
})();
