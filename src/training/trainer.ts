import * as tf from '../backend/tf';
import { LossPoint } from '../results/record';
import { Experiment, StepLosses } from '../core/task';
import { EncodedTensor } from '../core/state';
import { decodeTensor, encodeTensor } from './state';
import { LrSchedule } from '../config/schema';
import { learningRateAt } from './lr-schedule';
import { fusedAdamUpdate, fusedKernelsActive } from '../backend/fused-kernels';

export interface TrainOptions {
  iterations: number;
  lr: number;
  lrSchedule: LrSchedule;
  /** Losses of every `logEvery`-th iteration (and of the last) go into the history (0: none). */
  logEvery: number;
  /** Called after every iteration; `logged` marks the iterations that went into the history. */
  onStep?: (step: StepReport) => void;
  /** A checkpoint goes to onCheckpoint every this many iterations (0: only when interrupted). */
  checkpointEvery?: number;
  onCheckpoint?: (state: TrainerState) => Promise<void> | void;
  /** Once aborted, training stops after the current iteration and hands a checkpoint to onCheckpoint. */
  signal?: AbortSignal;
  /** Continues from a checkpoint; the experiment's own state is the caller's to restore. */
  resumeFrom?: TrainerState;
}

export interface StepReport {
  iteration: number;
  losses: StepLosses;
  msPerIter: number;
  logged: boolean;
}

export interface TrainResult {
  /** 'interrupted': the signal stopped training after stepMs.length iterations (a checkpoint was handed over). */
  status: 'ok' | 'diverged' | 'interrupted';
  /** The iteration (1-based) whose loss was NaN or infinite. */
  divergedAt?: number;
  /** Wall time of every training step, evaluation excluded. */
  stepMs: number[];
  /** Losses at the logged iterations. */
  history: LossPoint[];
}

/** Adam between two steps: its step count, its running powers of beta1 and beta2, and its moments. */
export interface OptimizerState {
  iterations: number;
  betaPowers: [number, number];
  /** First moments of every variable (in the experiment's order), then second moments; none before the first step. */
  moments: EncodedTensor[];
}

/** The trainer's side of a checkpoint: with the experiment's snapshot, enough to continue exactly. */
export interface TrainerState {
  /** Iterations completed. */
  iteration: number;
  stepMs: number[];
  history: TrainResult['history'];
  optimizer: OptimizerState;
}

/** Fields tfjs's Adam keeps private: the running products beta1^(t+1) and beta2^(t+1), and the moments. */
interface AdamPrivate {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

/** Whether an iteration's losses are logged (and monitored): every `logEvery`, and the last one. */
export function isLogIteration(iteration: number, logEvery: number, iterations: number): boolean {
  return logEvery > 0 && (iteration % logEvery === 0 || iteration === iterations);
}

/** Adam whose learning rate can follow a schedule (tfjs keeps it in a protected field) and whose state can be saved. */
export class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }

  /**
   * tfjs's step, or the same formula as one fused kernel per variable (backend/fused-kernels.ts)
   * where those run: tfjs takes a dozen kernels and fresh buffers per variable, about a fifth of a
   * CFM step of the paper's MLP.
   */
  applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (!fusedKernelsActive()) return super.applyGradients(variableGradients);
    const named = Array.isArray(variableGradients) ? variableGradients : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    const self = this as unknown as AdamPrivate;
    const hyper = { lr: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
    tf.tidy(() => {
      named.forEach(({ name, tensor: gradient }, i) => {
        const value = tf.engine().registeredVariables[name];
        const moment = (slot: string) => ({ originalName: `${name}/${slot}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) });
        self.accumulatedFirstMoment[i] ??= moment('m');
        self.accumulatedSecondMoment[i] ??= moment('v');
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i].variable;
        const v = self.accumulatedSecondMoment[i].variable;
        const [newValue, newM, newV] = fusedAdamUpdate(value, m, v, gradient, self.accBeta1, self.accBeta2, hyper);
        m.assign(newM);
        v.assign(newV);
        value.assign(newValue);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  async saveState(): Promise<OptimizerState> {
    const [counter, ...moments] = await this.getWeights();
    counter.tensor.dispose();
    const { accBeta1, accBeta2 } = this as unknown as AdamPrivate;
    return {
      iterations: this.iterations,
      betaPowers: [(await accBeta1.data())[0], (await accBeta2.data())[0]],
      moments: await Promise.all(moments.map((m) => encodeTensor(m.tensor))),
    };
  }

  async loadState(state: OptimizerState): Promise<void> {
    const tensors = [tf.scalar(state.iterations, 'int32'), ...state.moments.map(decodeTensor)];
    await this.setWeights(tensors.map((tensor, i) => ({ name: `saved-${i}`, tensor })));
    tf.dispose(tensors);
    // setWeights recomputes beta^(t+1) with pow(), which differs in the last bits from the running
    // product that every step updates; a bit-identical resume needs the product itself.
    const { accBeta1, accBeta2 } = this as unknown as AdamPrivate;
    tf.tidy(() => {
      accBeta1.assign(tf.scalar(state.betaPowers[0]));
      accBeta2.assign(tf.scalar(state.betaPowers[1]));
    });
  }
}

export interface Stepper {
  /**
   * One optimisation step. Its losses [total, cfm, cdm] stay on the device, so that a GPU is never
   * made to wait for a read; the caller reads them (readLosses) and disposes them.
   */
  step(iteration: number): tf.Tensor1D;
  saveState(): Promise<OptimizerState>;
  loadState(state: OptimizerState): Promise<void>;
  dispose(): void;
}

/** Adam on an experiment's variables, with the learning rate following the schedule. */
export function createStepper(experiment: Experiment, lr: number, schedule: LrSchedule, iterations: number): Stepper {
  const optimizer = new ScheduledAdam(lr, 0.9, 0.999, 1e-8);
  return {
    step(iteration: number): tf.Tensor1D {
      optimizer.setLearningRate(learningRateAt(iteration, lr, schedule, iterations));
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
      const stacked = tf.stack([total, ...terms]) as tf.Tensor1D;
      tf.dispose([total, ...terms]);
      return stacked;
    },
    saveState: () => optimizer.saveState(),
    loadState: (state) => optimizer.loadState(state),
    dispose: () => optimizer.dispose(),
  };
}

/** The losses of steps (Stepper.step's tensors, which it disposes) as numbers, in one read from the device. */
export async function readLosses(steps: tf.Tensor1D[]): Promise<StepLosses[]> {
  if (steps.length === 0) return [];
  const all = tf.stack(steps);
  tf.dispose(steps);
  const values = await all.data();
  all.dispose();
  return steps.map((_, i) => ({ total: values[3 * i], cfm: values[3 * i + 1], cdm: values[3 * i + 2] }));
}

/**
 * Steps between two reads of the losses at most: a read makes a GPU finish its queue, so the loop
 * reads only at logged and checkpointed iterations, and at least this often to notice a diverged
 * run and to keep the progress display moving.
 */
const MAX_UNREAD_STEPS = 100;

/** Lets pending signal handlers run: they fire only when the event loop turns. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Trains an experiment, stopping at the first non-finite loss, or after the current iteration once
 * `signal` is aborted. Checkpoints go to onCheckpoint every checkpointEvery iterations and on interruption.
 */
export async function train(experiment: Experiment, opts: TrainOptions): Promise<TrainResult> {
  const stepper = createStepper(experiment, opts.lr, opts.lrSchedule, opts.iterations);
  const resumed = opts.resumeFrom;
  const result: TrainResult = { status: 'ok', stepMs: [...(resumed?.stepMs ?? [])], history: [...(resumed?.history ?? [])] };
  const checkpoint = async (iteration: number) =>
    opts.onCheckpoint?.({ iteration, stepMs: [...result.stepMs], history: [...result.history], optimizer: await stepper.saveState() });
  // Steps whose losses are still on the device, with the time each took to issue.
  let unread: { iteration: number; losses: tf.Tensor1D; ms: number }[] = [];
  /** Reads the unread steps' losses; the time the read waited is spread over them. False once diverged. */
  const readUnread = async (): Promise<boolean> => {
    const started = performance.now();
    const losses = await readLosses(unread.map((step) => step.losses));
    const waitMs = (performance.now() - started) / unread.length;
    const steps = unread;
    unread = [];
    for (const [i, { iteration, ms }] of steps.entries()) {
      result.stepMs.push(ms + waitMs);
      const logged = isLogIteration(iteration, opts.logEvery, opts.iterations);
      if (!Number.isFinite(losses[i].total)) {
        result.status = 'diverged';
        result.divergedAt = iteration;
        result.history.push({ iteration, ...losses[i] });
        return false;
      }
      if (logged) result.history.push({ iteration, ...losses[i] });
      opts.onStep?.({ iteration, losses: losses[i], msPerIter: ms + waitMs, logged });
    }
    return true;
  };
  try {
    if (resumed) await stepper.loadState(resumed.optimizer);
    for (let iteration = (resumed?.iteration ?? 0) + 1; iteration <= opts.iterations; iteration++) {
      const started = performance.now();
      const losses = stepper.step(iteration);
      unread.push({ iteration, losses, ms: performance.now() - started });
      // Outside the step's timing and gradient tape (e.g. the in-training reference likelihood).
      await experiment.afterStep?.(iteration);
      await yieldToEventLoop();
      const checkpointDue = !!opts.checkpointEvery && iteration % opts.checkpointEvery === 0;
      const readDue =
        checkpointDue || opts.signal?.aborted || unread.length >= MAX_UNREAD_STEPS || isLogIteration(iteration, opts.logEvery, opts.iterations) || iteration === opts.iterations;
      if (readDue && !(await readUnread())) break;
      if (opts.signal?.aborted) {
        result.status = 'interrupted';
        await checkpoint(iteration);
        break;
      }
      if (checkpointDue) await checkpoint(iteration);
    }
  } finally {
    tf.dispose(unread.map((step) => step.losses));
    stepper.dispose();
  }
  return result;
}
