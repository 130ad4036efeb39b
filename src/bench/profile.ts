import * as tf from '../backend/tf';
import { RunConfig } from '../config/schema';
import { gridJobs } from '../runner/jobs';
import { Task } from '../core/task';
import { benchedSteps } from './bench';

/** One kernel's share of a training step, averaged over the profiled steps. */
export interface KernelProfile {
  kernel: string;
  callsPerStep: number;
  msPerStep: number;
  /** Of the summed kernel time. */
  share: number;
  /** Bytes of the kernel's outputs per step (float32), in MiB: the memory traffic it writes. */
  mibWrittenPerStep: number;
}

export interface StepProfile {
  label: string;
  /** Wall time per step under the profiler (it adds a little). */
  msPerStep: number;
  kernelsPerStep: number;
  kernels: KernelProfile[];
}

/**
 * Where a training step's time goes: tf.profile over `steps` steps (after `warmup` untimed ones) of
 * every run of the configuration (first seed), kernels by total time. Kernel times are the backend's
 * (wall time per kernel on wasm and cpu, device time where the backend measures it).
 */
export async function profileTask(task: Task, config: RunConfig, opts: { warmup: number; steps: number }, log: (line: string) => void): Promise<StepProfile[]> {
  const profiles: StepProfile[] = [];
  for (const { spec, label } of gridJobs({ ...config, seeds: [config.seeds[0]] }, task)) {
    log(`profiling ${task.name} ${label}: ${opts.warmup} warm-up + ${opts.steps} profiled steps`);
    const { step, dispose } = await benchedSteps(task, config, spec, log);
    for (let i = 1; i <= opts.warmup; i++) await step(i);
    const totals = new Map<string, { calls: number; ms: number; bytes: number }>();
    const start = performance.now();
    for (let i = 1; i <= opts.steps; i++) {
      const info = await tf.profile(() => step(opts.warmup + i));
      for (const kernel of info.kernels) {
        // A custom-gradient op (tf.customGrad) is profiled as a scope around kernels that are profiled
        // themselves; counting it too would count their time twice.
        if (tf.getKernel(kernel.name, tf.getBackend()) === undefined) continue;
        const entry = totals.get(kernel.name) ?? { calls: 0, ms: 0, bytes: 0 };
        entry.calls += 1;
        entry.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
        entry.bytes += kernel.outputShapes.reduce((sum, shape) => sum + 4 * shape.reduce((a, b) => a * b, 1), 0);
        totals.set(kernel.name, entry);
      }
    }
    const wall = (performance.now() - start) / opts.steps;
    dispose();
    const kernelMs = [...totals.values()].reduce((sum, e) => sum + e.ms, 0);
    const kernels = [...totals.entries()]
      .map(([kernel, e]) => ({ kernel, callsPerStep: e.calls / opts.steps, msPerStep: e.ms / opts.steps, share: kernelMs > 0 ? e.ms / kernelMs : 0, mibWrittenPerStep: e.bytes / opts.steps / 2 ** 20 }))
      .sort((a, b) => b.msPerStep - a.msPerStep);
    profiles.push({ label, msPerStep: wall, kernelsPerStep: kernels.reduce((sum, k) => sum + k.callsPerStep, 0), kernels });
  }
  return profiles;
}
