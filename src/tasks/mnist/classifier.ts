import * as tf from '../../backend/tf';
import { silu } from '../../models/activations';
import { ParamFactory } from '../../models/params';
import { Rng } from '../../random/rng';
import { gatherRows, shuffled } from '../rows';

/** Widths of the classifier's two hidden layers; the second is the feature space of the Fréchet distance. */
const HIDDEN = 128;
export const FEATURES = 32;
const CLASSES = 10;
const EPOCHS = 4;
const BATCH = 128;
const LEARNING_RATE = 2e-3;

/** Labelled images: intensities in [0, 1] [n * pixels] and digits [n]. */
export interface LabelledImages {
  images: Float32Array;
  labels: Uint8Array;
  pixels: number;
}

/**
 * A small digit classifier (an MLP, pixels -> 128 -> 32 -> 10, swish) whose 32 penultimate
 * activations are the feature space of the mnist task's Fréchet distance: FID's construction with
 * features a digit classifier learns, since Inception's are not available offline (so the number is
 * not an FID and is not comparable to one). Trained from a fixed seed, so every process gets the
 * same weights.
 */
export class DigitClassifier {
  private readonly layers: { weight: tf.Variable; bias: tf.Variable }[];

  private constructor(pixels: number, rng: Rng) {
    const params = new ParamFactory(rng);
    const widths = [pixels, HIDDEN, FEATURES, CLASSES];
    this.layers = widths.slice(1).map((width, i) => ({ weight: params.make([widths[i], width], widths[i]), bias: params.make([width], widths[i]) }));
  }

  /** Trains one on the images (EPOCHS passes of seeded mini-batches, Adam). */
  static async train(data: LabelledImages, rng: Rng): Promise<DigitClassifier> {
    const classifier = new DigitClassifier(data.pixels, rng.fork('init'));
    const optimizer = tf.train.adam(LEARNING_RATE);
    const count = data.labels.length;
    for (let epoch = 0; epoch < EPOCHS; epoch++) {
      const order = shuffled(count, rng.fork(`epoch-${epoch}`));
      for (let start = 0; start + BATCH <= count; start += BATCH) {
        const rows = order.slice(start, start + BATCH);
        tf.tidy(() => {
          const x = tf.tensor2d(gatherRows(data.images, data.pixels, rows), [BATCH, data.pixels]);
          const y = tf.oneHot(tf.tensor1d(rows.map((r) => data.labels[r]), 'int32'), CLASSES);
          optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, classifier.logits(x)) as tf.Scalar);
        });
      }
    }
    optimizer.dispose();
    return classifier;
  }

  /** The penultimate activations of each image [n * pixels] -> [n * FEATURES]. */
  async features(images: Float32Array, pixels: number): Promise<Float32Array> {
    const out = tf.tidy(() => this.hidden(tf.tensor2d(images, [images.length / pixels, pixels])));
    const values = (await out.data()) as Float32Array;
    out.dispose();
    return values;
  }

  /** The share of images whose predicted digit is their label. */
  async accuracy(data: LabelledImages): Promise<number> {
    const predicted = tf.tidy(() => tf.argMax(this.logits(tf.tensor2d(data.images, [data.labels.length, data.pixels])), 1));
    const values = Array.from(await predicted.data());
    predicted.dispose();
    return values.filter((p, i) => p === data.labels[i]).length / data.labels.length;
  }

  dispose(): void {
    for (const { weight, bias } of this.layers) tf.dispose([weight, bias]);
  }

  private hidden(x: tf.Tensor2D): tf.Tensor2D {
    const [first, second] = this.layers;
    const h = silu(tf.add(tf.matMul(x, first.weight), first.bias) as tf.Tensor2D);
    return silu(tf.add(tf.matMul(h, second.weight), second.bias) as tf.Tensor2D);
  }

  private logits(x: tf.Tensor2D): tf.Tensor2D {
    const last = this.layers[2];
    return tf.add(tf.matMul(this.hidden(x), last.weight), last.bias) as tf.Tensor2D;
  }
}
