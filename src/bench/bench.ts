import { isDeepStrictEqual } from 'node:util';
import { Bench } from 'tinybench';
import * as tf from '../backend/tf';
import { RunConfig } from '../config/schema';
import { Rng } from '../random/rng';
import { gridJobs } from '../runner/jobs';
import { Experiment, RunSpec, Task } from '../core/task';
import { createStepper } from '../training/trainer';

export interface BenchOptions {
  warmup: number;
  iterations: number;
}

export interface BenchRow {
  label: string;
  method: RunSpec['method'];
  msMedian: number;
  msP95: number;
  msMean: number;
  msStd: number;
  stepsPerSecond: number;
  gflops: number;
  /** This row's median over the CFM row's (1 for CFM). */
  ratioToCfm: number | null;
  /** Live tensors after the timed steps minus before them: 0 when nothing leaks. */
  tensorGrowth: number;
  /** Resident memory at the first timed step and after the last: flat when nothing accumulates. */
  rssStartMiB: number;
  rssMiB: number;
  /** Device memory the backend holds at the first timed step and after the last (GPU backends only). */
  deviceStartMiB?: number;
  deviceMiB?: number;
}

function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/** Bytes of device memory the backend holds, in MiB, where it counts them (webgpu does). */
function deviceMiB(): number | undefined {
  const bytes = (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU;
  return bytes === undefined ? undefined : bytes / 2 ** 20;
}

/** A run's experiment as bench times it: prepared for timing only (no autoencoder training), seeded. */
export async function benchedExperiment(task: Task, config: RunConfig, spec: RunSpec, log: (line: string) => void): Promise<Experiment> {
  await task.prepare?.(config, spec, { dir: null, log, timingOnly: true });
  return task.createExperiment(config, spec, new Rng(`${task.name}/bench`));
}

/** The latency statistics of a finished tinybench run of one task (ms), or an error naming `what` failed. */
export function latencyOf(bench: Bench, what: string) {
  const result = bench.tasks[0].result;
  if (!result || !('latency' in result)) throw new Error(`benchmark of ${what} failed: ${JSON.stringify(result)}`);
  return result.latency;
}

/** A run's experiment and its training step, which ends with the read of its losses (what bench times and profiles). */
export async function benchedSteps(task: Task, config: RunConfig, spec: RunSpec, log: (line: string) => void) {
  const experiment = await benchedExperiment(task, config, spec, log);
  const stepper = createStepper(experiment, config.lr, 'constant', config.iterations);
  return {
    experiment,
    async step(iteration: number): Promise<void> {
      const losses = stepper.step(iteration);
      await losses.data();
      losses.dispose();
    },
    dispose(): void {
      stepper.dispose();
      experiment.dispose();
    },
  };
}

/** Times training steps of one run specification with tinybench (warm-up excluded). */
async function benchSpec(task: Task, config: RunConfig, spec: RunSpec, opts: BenchOptions, log: (line: string) => void): Promise<Omit<BenchRow, 'ratioToCfm' | 'label'>> {
  const { experiment, step, dispose } = await benchedSteps(task, config, spec, log);
  let iteration = 0;
  let rssStart = 0;
  let deviceStart: number | undefined;
  let tensorsBefore = 0;
  const bench = new Bench({ iterations: opts.iterations, warmupIterations: opts.warmup, time: 0, warmupTime: 0, retainSamples: true });
  // Each timed step ends with the read of its losses, which waits for the device to finish it: on a
  // GPU, whose work is queued, a step is timed from its start to its results, not to its queueing.
  bench.add(spec.method, async () => {
    // Measured at the first timed step: the warm-up has created the optimizer's state by then.
    if (++iteration === opts.warmup + 1) [rssStart, deviceStart, tensorsBefore] = [rssMiB(), deviceMiB(), tf.memory().numTensors];
    await step(iteration);
  });
  await bench.run();
  const latency = latencyOf(bench, spec.method);
  const row = {
    method: spec.method,
    msMedian: latency.p50,
    msP95: percentile(latency.samples ? [...latency.samples] : [], 0.95) ?? latency.max,
    msMean: latency.mean,
    msStd: latency.sd,
    stepsPerSecond: 1000 / latency.p50,
    gflops: experiment.flopsPerStep() / (latency.p50 * 1e6),
    tensorGrowth: tf.memory().numTensors - tensorsBefore,
    rssStartMiB: rssStart,
    rssMiB: rssMiB(),
    ...(deviceStart !== undefined && { deviceStartMiB: deviceStart, deviceMiB: deviceMiB() }),
  };
  dispose();
  return row;
}

function percentile(samples: number[], q: number): number | null {
  if (!samples.length) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Benchmarks the training step of every run in the configuration (first seed only). */
export async function benchTask(task: Task, config: RunConfig, opts: BenchOptions, log: (line: string) => void): Promise<BenchRow[]> {
  const jobs = gridJobs({ ...config, seeds: [config.seeds[0]] }, task);
  const timed: { spec: RunSpec; row: BenchRow }[] = [];
  for (const { spec, label } of jobs) {
    log(`benchmarking ${task.name} ${label}: ${opts.warmup} warm-up + ${opts.iterations} timed steps`);
    timed.push({ spec, row: { label, ratioToCfm: null, ...(await benchSpec(task, config, spec, opts, log)) } });
  }
  // Each run against the CFM run on the same path (and the task's axes, e.g. K): what FDM adds to that step.
  const sameProblem = (a: RunSpec, b: RunSpec) => a.path === b.path && isDeepStrictEqual(a.axes, b.axes);
  return timed.map(({ spec, row }) => {
    const cfm = timed.find((t) => t.spec.method === 'cfm' && sameProblem(t.spec, spec));
    return { ...row, ratioToCfm: cfm ? row.msMedian / cfm.row.msMedian : null };
  });
}
