import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * TensorFlow.js on WebGPU under Node: Dawn's Node bindings (the npm package `webgpu`, an optional
 * dependency) give `navigator.gpu`, and `@tensorflow/tfjs-backend-webgpu` registers its backend
 * when it is loaded with `navigator.gpu` present. Dawn runs on Vulkan: a GPU's own driver, or a
 * software one (Mesa's lavapipe, scripts/setup-vulkan-software.sh) that runs the same code on the CPU.
 */

/** The adapter tfjs computes on, as environment.json records it. */
export interface GpuAdapterRecord {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (lavapipe/llvmpipe, SwiftShader): correct, but slower than wasm. */
  software: boolean;
}

interface DawnAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}

interface DawnModule {
  create(options: string[]): { requestAdapter(options?: object): Promise<{ info: DawnAdapterInfo } | null> };
  globals: Record<string, unknown>;
}

/**
 * The Vulkan drivers' manifest files, found as the loader finds them: VK_DRIVER_FILES (or the older
 * VK_ICD_FILENAMES) replaces its search of the standard directories, VK_ADD_DRIVER_FILES adds to it.
 * A machine with none has no Vulkan driver, and Dawn would only print its failure to find one.
 */
function vulkanDriverManifests(): string[] {
  const list = (name: string) => (process.env[name] ?? '').split(':').filter((file) => file !== '');
  const added = list('VK_ADD_DRIVER_FILES');
  const replacing = [...list('VK_DRIVER_FILES'), ...list('VK_ICD_FILENAMES')];
  if (replacing.length) return [...added, ...replacing];
  const home = os.homedir();
  const dirs = [
    path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'vulkan/icd.d'),
    '/etc/xdg/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    path.join(process.env.XDG_DATA_HOME ?? path.join(home, '.local/share'), 'vulkan/icd.d'),
    '/usr/local/share/vulkan/icd.d',
    '/usr/share/vulkan/icd.d',
  ];
  const listed = dirs.flatMap((dir) => {
    try {
      return fs.readdirSync(dir).filter((name) => name.endsWith('.json')).map((name) => path.join(dir, name));
    } catch {
      return [];
    }
  });
  return [...added, ...listed];
}

const SOFTWARE_DEVICES = /llvmpipe|lavapipe|swiftshader|softpipe/i;
/** Library names of the software Vulkan drivers: Mesa's lavapipe (libvulkan_lvp.so) and SwiftShader. */
const SOFTWARE_DRIVER_LIBRARIES = /vulkan_lvp|lavapipe|swiftshader/i;

/**
 * Whether a Vulkan driver other than a software one is installed, read from the drivers' manifests
 * (their library_path) without loading anything: where only lavapipe is present, `auto` need not
 * load Dawn (which prints its limits on stderr) to find the software adapter it would pass over.
 */
export function hasHardwareVulkanDriver(): boolean {
  return vulkanDriverManifests().some((file) => {
    try {
      const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as { ICD?: { library_path?: string } };
      return !SOFTWARE_DRIVER_LIBRARIES.test(manifest.ICD?.library_path ?? '');
    } catch {
      // An unreadable manifest may still name a GPU's driver: let Dawn decide.
      return true;
    }
  });
}

function describeAdapter(info: DawnAdapterInfo): GpuAdapterRecord {
  const { vendor, architecture, device, description } = info;
  const software = info.isFallbackAdapter === true || architecture === 'software' || SOFTWARE_DEVICES.test(`${device} ${description}`);
  return { vendor, architecture, device, description, software };
}

function loadDawn(): DawnModule | string {
  try {
    // `webgpu` is an ES module; Node >= 20.19 loads it with require.
    return require('webgpu') as DawnModule;
  } catch (err) {
    return `the webgpu package (Dawn's Node bindings) is not installed: ${(err as Error).message.split('\n')[0]}`;
  }
}

let opened: Promise<GpuAdapterRecord | string> | undefined;

/**
 * Opens Dawn's high-performance adapter and makes it tfjs's `navigator.gpu`, then loads the tfjs
 * WebGPU backend. Returns the adapter, or why there is none. Idempotent: a second call reports the
 * adapter of the first.
 */
export function openWebGpu(): Promise<GpuAdapterRecord | string> {
  opened ??= open();
  return opened;
}

async function open(): Promise<GpuAdapterRecord | string> {
  if (vulkanDriverManifests().length === 0) {
    return 'no Vulkan driver on this machine (for a software one: scripts/setup-vulkan-software.sh)';
  }
  const dawn = loadDawn();
  if (typeof dawn === 'string') return dawn;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) return 'Dawn found no WebGPU adapter on the Vulkan drivers present';
  const nav = globalThis as { navigator?: object };
  if (nav.navigator === undefined) nav.navigator = { gpu };
  else Object.defineProperty(nav.navigator, 'gpu', { value: gpu, configurable: true });
  // The backend registers itself at load time, and only when navigator.gpu exists.
  require('@tensorflow/tfjs-backend-webgpu');
  return describeAdapter(adapter.info);
}
