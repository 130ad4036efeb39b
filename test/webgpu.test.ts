import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '../src/backend/tf';
import { BackendInfo, initBackend } from '../src/backend/backend';
import { resolveConfig, taskPresets } from '../src/cli/load-config';
import { Rng } from '../src/random/rng';
import { gridJobs } from '../src/runner/jobs';
import { listTasks } from '../src/tasks/registry';
import { RunSpec, Task } from '../src/core/task';
import { RunConfig } from '../src/config/schema';
import { train } from '../src/training/trainer';
import { describeEnvironment } from '../src/results/environment';
import { hasHardwareVulkanDriver } from '../src/backend/webgpu';

/**
 * The webgpu backend against the cpu backend (plain JavaScript float32, the reference): every task's
 * loss and gradients of one step, its training loop and its sampler. Runs wherever a WebGPU adapter
 * exists, a GPU's or the software one of scripts/setup-vulkan-software.sh; elsewhere it is skipped,
 * unless FDM_BENCH_REQUIRE_WEBGPU=1 (as CI sets it), which makes a missing adapter a failure.
 */
let webgpu: BackendInfo | string;

async function openWebGpuBackend(): Promise<void> {
  try {
    webgpu = await initBackend('webgpu');
  } catch (err) {
    webgpu = (err as Error).message;
  }
}

function skipWithoutWebGpu(t: { skip(message: string): void }): boolean {
  if (typeof webgpu !== 'string') return false;
  if (process.env.FDM_BENCH_REQUIRE_WEBGPU === '1') assert.fail(`FDM_BENCH_REQUIRE_WEBGPU=1 but ${webgpu}`);
  t.skip(webgpu);
  return true;
}

/**
 * One step's loss and gradients agree to this relative error (of the largest entry of the loss terms,
 * and of the whole gradient): float32
 * sums of a few thousand terms, in another order on each backend, differ by about sqrt(n) ulp
 * (1e-7 each), a few 1e-6 at most; an error in a kernel or in the suite's own per-backend code
 * (the matMul gradient, forward-mode tangents) shows as an O(1) relative error.
 */
const STEP_TOLERANCE = 1e-5;

const NEEDS_USER_DATA = ['kth'];
const tasksWithCi = () => listTasks().filter((task) => !NEEDS_USER_DATA.includes(task.name) && 'ci' in taskPresets(task.name));

interface StepValues {
  loss: number[];
  grads: Float32Array[];
}

/** Loss terms and gradients of the first training step of a fresh experiment, on the active backend. */
async function firstStep(task: Task, config: RunConfig, spec: RunSpec): Promise<StepValues> {
  const experiment = task.createExperiment(config, spec, new Rng(`${task.name}/webgpu-parity`));
  let terms: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const loss = experiment.loss(1);
    terms = tf.keep(tf.stack([loss.total, loss.cfm, loss.cdm]));
    return loss.total;
  }, experiment.variables);
  const values: StepValues = {
    loss: Array.from(await terms!.data()),
    grads: await Promise.all(experiment.variables.map(async (v) => (await grads[v.name].data()) as Float32Array)),
  };
  tf.dispose([value, terms!, ...Object.values(grads)]);
  experiment.dispose();
  return values;
}

async function on<T>(backend: string, compute: () => Promise<T>): Promise<T> {
  await tf.setBackend(backend);
  try {
    return await compute();
  } finally {
    await tf.setBackend('webgpu');
  }
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0, worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  return worst / Math.max(scale, 1e-30);
}

function concatenated(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function ciConfig(task: Task, overrides: Record<string, unknown> = {}): RunConfig {
  return resolveConfig({ task: task.name, preset: 'ci', overrides });
}

describe('the webgpu backend', () => {
  before(openWebGpuBackend);

  it('records its adapter, and auto never picks a software one', async (t) => {
    if (skipWithoutWebGpu(t)) return;
    const info = webgpu as BackendInfo;
    assert.equal(info.name, 'webgpu');
    assert.ok(info.adapter, 'the adapter is recorded');
    assert.ok(info.label.startsWith('webgpu: '), info.label);
    assert.deepEqual(describeEnvironment(info).gpuAdapter, info.adapter, 'environment.json records the adapter');
    t.diagnostic(`adapter: ${JSON.stringify(info.adapter)}`);
    if (info.adapter!.software) {
      const auto = await initBackend('auto');
      assert.notEqual(auto.name, 'webgpu', 'auto passes over a software adapter');
      assert.ok(auto.notes.some((note) => /software/.test(note)), auto.notes.join('; '));
      await tf.setBackend('webgpu');
    }
  });

  it("tells a GPU's Vulkan driver from a software one by its manifest, without loading Dawn", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-icd-'));
    const manifest = (name: string, library: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } }));
      return file;
    };
    const saved = process.env.VK_ICD_FILENAMES;
    try {
      // VK_ICD_FILENAMES replaces the loader's search of the system's directories, as it does for the loader.
      process.env.VK_ICD_FILENAMES = manifest('nvidia_icd.json', 'libGLX_nvidia.so.0');
      assert.equal(hasHardwareVulkanDriver(), true);
      process.env.VK_ICD_FILENAMES = manifest('lvp_icd.json', '/opt/lavapipe/libvulkan_lvp.so');
      assert.equal(hasHardwareVulkanDriver(), false);
      process.env.VK_ICD_FILENAMES = [manifest('lvp_icd.json', '/opt/lavapipe/libvulkan_lvp.so'), manifest('nvidia_icd.json', 'libGLX_nvidia.so.0')].join(':');
      assert.equal(hasHardwareVulkanDriver(), true);
    } finally {
      if (saved === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const task of tasksWithCi()) {
    it(`${task.name}: one step's loss and gradients, CFM and FDM, agree with the cpu backend`, async (t) => {
      if (skipWithoutWebGpu(t)) return;
      const config = ciConfig(task);
      for (const method of ['cfm', 'fdm']) {
        const { spec } = gridJobs(config, task).find((job) => job.spec.method === method)!;
        await task.prepare?.(config, spec, { dir: null, log: () => undefined, timingOnly: true });
        const expected = await on('cpu', () => firstStep(task, config, spec));
        const actual = await firstStep(task, config, spec);
        const lossError = relativeError(actual.loss, expected.loss);
        // Over the whole gradient: a variable whose gradient is zero analytically (a bias right before a
        // normalisation, as in the U-Net) holds rounding noise on both backends, O(1) apart relative to itself.
        const gradError = relativeError(concatenated(actual.grads), concatenated(expected.grads));
        t.diagnostic(`${method}: loss terms ${actual.loss.map((v) => v.toPrecision(6)).join(', ')}; relative error ${lossError.toExponential(1)} (loss), ${gradError.toExponential(1)} (gradients)`);
        assert.ok(lossError < STEP_TOLERANCE, `${method} loss ${actual.loss} vs ${expected.loss}`);
        assert.ok(gradError < STEP_TOLERANCE, `${method} gradients: relative error ${gradError}`);
      }
    });
  }

  it('trains with a flat tensor count, reading the losses back only at logged iterations', async (t) => {
    if (skipWithoutWebGpu(t)) return;
    const task = listTasks().find((candidate) => candidate.name === 'checkerboard')!;
    const config = ciConfig(task);
    const { spec } = gridJobs(config, task).find((job) => job.spec.method === 'fdm')!;
    const experiment = task.createExperiment(config, spec, new Rng('webgpu-train'));
    const counts: number[] = [];
    const result = await train(experiment, {
      iterations: 60,
      lr: config.lr,
      lrSchedule: 'constant',
      logEvery: 20,
      onStep: (step) => step.logged && counts.push(tf.memory().numTensors),
    });
    experiment.dispose();
    assert.equal(result.status, 'ok');
    assert.equal(result.stepMs.length, 60);
    assert.deepEqual(result.history.map((h) => h.iteration), [20, 40, 60]);
    assert.ok(result.history.every((h) => Number.isFinite(h.total)));
    assert.equal(counts[2], counts[1], `tensors at iterations 20, 40, 60: ${counts}`);
  });

  for (const task of tasksWithCi()) {
    it(`${task.name}: samples on the device`, async (t) => {
      if (skipWithoutWebGpu(t)) return;
      const config = ciConfig(task);
      const { spec } = gridJobs(config, task)[0];
      await task.prepare?.(config, spec, { dir: null, log: () => undefined, timingOnly: true });
      const experiment = task.createExperiment(config, spec, new Rng(`${task.name}/webgpu-sample`));
      const before = tf.memory().numTensors;
      const count = 3;
      const points = await experiment.sample(count, new Rng('points'));
      assert.equal(tf.memory().numTensors, before, 'sampling leaves no tensors');
      experiment.dispose();
      assert.ok(points.length > 0 && points.length % count === 0, `${points.length} values for ${count} samples`);
      assert.ok(points.every(Number.isFinite), 'finite samples');
    });
  }
});
