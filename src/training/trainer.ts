import * as tf from '../backend/tf';
import { Experiment, StepLosses } from '../tasks/task';

export interface TrainOptions {
  iterations: number;
  lr: number;
  lrSchedule: 'constant' | 'reference';
  /** Called every `logEvery` iterations (and at the last) with the step's losses. */
  logEvery: number;
  onLog?: (iteration: number, losses: StepLosses, msPerIter: number) => void;
}

export interface TrainResult {
  status: 'ok' | 'diverged';
  /** The iteration (1-based) whose loss was NaN or infinite. */
  divergedAt?: number;
  /** Wall time of every training step, evaluation excluded. */
  stepMs: number[];
  /** Losses at the logged iterations. */
  history: Array<{ iteration: number } & StepLosses>;
}

/** Adam whose learning rate can follow a schedule (tfjs keeps it in a protected field). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

/** The reference code's schedule: 10 iterations of linear warm-up, then x0.999 every 10 iterations. */
export function learningRateAt(iteration: number, base: number, schedule: TrainOptions['lrSchedule']): number {
  if (schedule === 'constant') return base;
  const warmup = Math.min(1, iteration / 10);
  return base * warmup * 0.999 ** Math.floor(iteration / 10);
}

export interface Stepper {
  /** One optimisation step; returns the losses as numbers and leaves no tensor behind. */
  step(iteration: number): StepLosses;
  dispose(): void;
}

/** Adam on an experiment's variables, with the learning rate following the schedule. */
export function createStepper(experiment: Experiment, lr: number, schedule: TrainOptions['lrSchedule']): Stepper {
  const optimizer = new ScheduledAdam(lr, 0.9, 0.999, 1e-8);
  return {
    step(iteration: number): StepLosses {
      optimizer.setLearningRate(learningRateAt(iteration, lr, schedule));
      let terms: tf.Tensor[] = [];
      const total = optimizer.minimize(
        () => {
          const loss = experiment.loss(iteration);
          terms = [tf.keep(loss.cfm), tf.keep(loss.cdm)];
          return loss.total;
        },
        true,
        experiment.variables,
      ) as tf.Scalar;
      const stacked = tf.stack([total, ...terms]);
      const [t, cfm, cdm] = stacked.dataSync();
      tf.dispose([stacked, total, ...terms]);
      return { total: t, cfm, cdm };
    },
    dispose: () => optimizer.dispose(),
  };
}

/** Trains an experiment, stopping at the first non-finite loss. */
export function train(experiment: Experiment, opts: TrainOptions): TrainResult {
  const stepper = createStepper(experiment, opts.lr, opts.lrSchedule);
  const result: TrainResult = { status: 'ok', stepMs: [], history: [] };
  try {
    for (let iteration = 1; iteration <= opts.iterations; iteration++) {
      const started = performance.now();
      const losses = stepper.step(iteration);
      result.stepMs.push(performance.now() - started);
      if (!Number.isFinite(losses.total)) {
        result.status = 'diverged';
        result.divergedAt = iteration;
        result.history.push({ iteration, ...losses });
        break;
      }
      const logNow = opts.logEvery > 0 && (iteration % opts.logEvery === 0 || iteration === opts.iterations);
      if (logNow) {
        result.history.push({ iteration, ...losses });
        opts.onLog?.(iteration, losses, result.stepMs[result.stepMs.length - 1]);
      }
    }
  } finally {
    stepper.dispose();
  }
  return result;
}
