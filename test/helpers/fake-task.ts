import * as tf from '../../src/backend/tf';
import { RunConfig, runConfigSchema } from '../../src/config/schema';
import { Rng } from '../../src/random/rng';
import { Experiment, RunSpec, Task } from '../../src/core/task';
import { ExperimentState } from '../../src/core/state';
import { captureState, restoreState } from '../../src/training/state';

export interface FakeTaskOptions {
  /** The iteration whose loss is NaN, for the runs it returns one for. */
  divergeAt?: (spec: RunSpec) => number | undefined;
  /** Called before every loss (e.g. to abort at a chosen iteration). */
  onLoss?: (spec: RunSpec, iteration: number) => void;
}

const DIM = 2;

/** A 2x2 linear map fitted to x -> (1 + lambda) x on a seeded stream of points: a task that trains in milliseconds. */
class FakeExperiment implements Experiment {
  readonly variables: tf.Variable[];
  private readonly streams: Record<string, Rng>;

  constructor(private readonly spec: RunSpec, private readonly opts: FakeTaskOptions, rng: Rng) {
    this.variables = [tf.variable(tf.tensor2d(rng.fork('init').normalArray(DIM * DIM), [DIM, DIM]))];
    this.streams = { data: rng.fork('data') };
  }

  loss(iteration: number) {
    this.opts.onLoss?.(this.spec, iteration);
    const x = this.streams.data.normalArray(8 * DIM);
    return tf.tidy(() => {
      const points = tf.tensor2d(x, [8, DIM]);
      const fit = tf.mean(tf.square(tf.sub(tf.matMul(points, this.variables[0]), tf.mul(points, 1 + this.spec.lambda)))) as tf.Scalar;
      const total = this.opts.divergeAt?.(this.spec) === iteration ? tf.mul(fit, Number.NaN) : fit;
      return { total: total as tf.Scalar, cfm: fit.clone(), cdm: tf.scalar(0) };
    });
  }

  async evaluate() {
    const weights = Array.from(this.variables[0].dataSync());
    return { metrics: { nll: weights.reduce((a, w) => a + w * w, 0), w0: weights[0] }, samples: await this.sample(16, new Rng('fake/eval')) };
  }

  async sample(count: number, rng: Rng): Promise<Float32Array> {
    const noise = rng.normalArray(count * DIM);
    const samples = tf.tidy(() => tf.matMul(tf.tensor2d(noise, [count, DIM]), this.variables[0]));
    const values = (await samples.data()) as Float32Array;
    samples.dispose();
    return values;
  }

  snapshot(): Promise<ExperimentState> {
    return captureState(this.variables, this.streams);
  }

  restore(state: ExperimentState): void {
    restoreState(this.variables, this.streams, state);
  }

  flopsPerStep(): number {
    return 0;
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

export function fakeTask(opts: FakeTaskOptions = {}): Task {
  return {
    name: 'fake',
    description: 'a linear map fitted in milliseconds',
    columns: [{ key: 'nll', header: 'NLL', digits: 3, showStd: true }],
    paths: ['condot'],
    facts: {},
    createExperiment: (_config, spec, rng) => new FakeExperiment(spec, opts, rng),
  };
}

/** A grid of the fake task: CFM and FDM at each lambda, one seed. */
export function fakeConfig(overrides: Record<string, unknown> = {}): RunConfig {
  return runConfigSchema.parse({ iterations: 12, lr: 0.05, logEvery: 4, checkpointEvery: 4, ...overrides });
}
