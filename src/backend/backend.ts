import * as tf from './tf';
import '@tensorflow/tfjs-backend-wasm';
import { registerFastMatMulGradient } from './matmul';
import { disableBlasMatMul, enableBlasMatMul } from './blas';
import { registerFusedKernels } from './fused-kernels';
import { shareWasmCopies } from './shared-copies';
import { GpuAdapterRecord, hasHardwareVulkanDriver, openWebGpu } from './webgpu';

export const BACKEND_CHOICES = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** What the user asked for. */
  requested: BackendChoice;
  /** The tfjs backend name that is active ('wasm', 'cpu', 'tensorflow'). */
  name: string;
  /** Human-readable label recorded with results, e.g. 'tensorflow-gpu' or 'wasm (simd)'. */
  label: string;
  /** Version of the tfjs core package that computes the numbers. */
  tfjsVersion: string;
  /** Why auto-selection skipped the faster backends, for the environment record. */
  notes: string[];
  /** The WebGPU adapter, on the webgpu backend. */
  adapter?: GpuAdapterRecord;
}

/** The native bindings register the 'tensorflow' backend when their package is loaded. */
function tryLoadNative(pkg: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): string | null {
  try {
    require(pkg);
    return null;
  } catch (err) {
    return `${pkg} not usable: ${(err as Error).message.split('\n')[0]}`;
  }
}

function nativeUsesGpu(): boolean {
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  return backend.isUsingGpuDevice === true;
}

async function activate(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

async function activateNative(gpu: boolean, notes: string[]): Promise<string | null> {
  const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const problem = tryLoadNative(pkg);
  if (problem) {
    notes.push(problem);
    return null;
  }
  if (!(await activate('tensorflow'))) {
    notes.push(`${pkg} loaded but its backend did not initialise`);
    return null;
  }
  if (gpu && !nativeUsesGpu()) {
    notes.push(`${pkg} loaded but sees no GPU`);
    return null;
  }
  return gpu ? 'tensorflow-gpu' : 'tensorflow';
}

async function activateWasm(notes: string[]): Promise<string | null> {
  if (!(await activate('wasm'))) {
    notes.push('wasm backend did not initialise');
    return null;
  }
  shareWasmCopies();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return simd ? 'wasm (simd)' : 'wasm';
}

/**
 * The webgpu backend on Dawn's adapter. `hardwareOnly` (auto) refuses a software adapter, which
 * computes the same numbers as the GPU route but slower than wasm.
 */
async function activateWebGpu(hardwareOnly: boolean, notes: string[]): Promise<{ label: string; adapter: GpuAdapterRecord } | null> {
  if (hardwareOnly && !hasHardwareVulkanDriver()) {
    notes.push('webgpu skipped: no Vulkan driver of a GPU (none, or only a software one such as lavapipe)');
    return null;
  }
  const adapter = await openWebGpu();
  if (typeof adapter === 'string') {
    notes.push(`webgpu not usable: ${adapter}`);
    return null;
  }
  const name = `${adapter.description || adapter.device} (${adapter.vendor}${adapter.software ? ', software' : ''})`;
  if (hardwareOnly && adapter.software) {
    notes.push(`webgpu skipped: its adapter ${name} is a software one, slower than wasm (ask for it with --backend webgpu)`);
    return null;
  }
  if (!(await activate('webgpu'))) {
    notes.push(`webgpu: the tfjs backend did not initialise on ${name}`);
    return null;
  }
  return { label: `webgpu: ${name}`, adapter };
}

async function activateCpu(): Promise<string> {
  if (!(await activate('cpu'))) throw new Error('the cpu backend failed to initialise');
  return 'cpu';
}

/**
 * Matrix products of the wasm backend on the system OpenBLAS (blas.ts) unless FDM_BENCH_BLAS=off;
 * returns the label with the BLAS library appended, or notes why it is not used.
 */
function withBlas(label: string, notes: string[]): string {
  if (process.env.FDM_BENCH_BLAS === 'off') {
    disableBlasMatMul();
    notes.push('openblas matmul disabled by FDM_BENCH_BLAS=off');
    return label;
  }
  const blas = enableBlasMatMul();
  if (blas.active) {
    registerFusedKernels();
    return `${label} + ${blas.label}`;
  }
  if (blas.note) notes.push(blas.note);
  return label;
}

/**
 * Selects and initialises a tfjs backend. `auto` prefers a GPU (native TensorFlow's, then WebGPU
 * on a hardware adapter), then native TensorFlow on the CPU, then WebAssembly (the embedded
 * default, always installed), then the plain JavaScript cpu backend. An explicitly requested
 * backend that cannot start is an error, never a silent fallback.
 */
export async function initBackend(requested: BackendChoice): Promise<BackendInfo> {
  const notes: string[] = [];
  let label: string | null = null;
  let adapter: GpuAdapterRecord | undefined;
  const webgpu = async (hardwareOnly: boolean) => {
    const active = await activateWebGpu(hardwareOnly, notes);
    adapter = active?.adapter;
    return active?.label ?? null;
  };
  switch (requested) {
    case 'auto':
      label =
        (await activateNative(true, notes)) ??
        (await webgpu(true)) ??
        (await activateNative(false, notes)) ??
        (await activateWasm(notes)) ??
        (await activateCpu());
      break;
    case 'webgpu':
      label = await webgpu(false);
      break;
    case 'tensorflow-gpu':
    case 'tensorflow':
      label = await activateNative(requested === 'tensorflow-gpu', notes);
      break;
    case 'wasm':
      label = await activateWasm(notes);
      break;
    case 'cpu':
      label = await activateCpu();
      break;
  }
  if (label === null) {
    throw new Error(`backend '${requested}' is not available: ${notes.join('; ')}`);
  }
  if (tf.getBackend() === 'wasm') label = withBlas(label, notes);
  tf.env().set('PROD', true);
  registerFastMatMulGradient();
  return { requested, name: tf.getBackend(), label, tfjsVersion: tf.version.tfjs, notes, ...(adapter && { adapter }) };
}

/** Backends whose tensors can be read synchronously (dataSync); a GPU allows only asynchronous reads. */
function readsSynchronously(name: string): boolean {
  return name !== 'webgpu';
}

/**
 * Runs `compute` on a backend that reads synchronously: the active one, or the cpu backend while
 * the active one is webgpu. For code that must see tensor values mid-computation, such as the exact
 * mixture field (models/gmm-field.ts), which computes in float64 on the CPU; `compute` must only use
 * tensors it creates itself, and return plain values.
 */
export async function withSynchronousReads<T>(compute: () => Promise<T>): Promise<T> {
  const active = tf.getBackend();
  if (readsSynchronously(active)) return compute();
  await tf.setBackend('cpu');
  try {
    return await compute();
  } finally {
    await tf.setBackend(active);
  }
}
