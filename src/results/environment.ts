import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackendInfo } from '../backend/backend';
import { GpuAdapterRecord } from '../backend/webgpu';

/**
 * The version of the suite's numbers: bump it in the commit that changes what a run with given
 * settings computes (a loss, an estimator, an evaluation, the RNG streams), together with the
 * baselines. A run's identity includes it, so `reproduce` never reuses a run whose numbers the
 * current code would not reproduce. Run directories written before it existed hold version 1.
 * 2: the native kernels of the wasm + OpenBLAS backend (fused layers, Sin/Cos by the C library,
 * Winograd convolutions) round differently from the tfjs ops they replace.
 */
export const NUMERICS_VERSION = 2;

export interface EnvironmentRecord {
  date: string;
  /** NUMERICS_VERSION of the code that wrote the run directory (absent before it existed: 1). */
  numerics?: number;
  node: string;
  tfjs: string;
  fdmBench: string;
  backend: string;
  backendRequested: string;
  backendNotes: string[];
  /** The WebGPU adapter (vendor, architecture, device, description, software or not), on webgpu. */
  gpuAdapter?: GpuAdapterRecord;
  cpuModel: string;
  cpuCores: number;
  memoryGiB: number;
  platform: string;
  gitCommit: string | null;
  gitDirty: boolean | null;
  command: string;
}

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return null;
  }
}

/** Where, with what and from which code a run's numbers came. */
export function describeEnvironment(backend: BackendInfo): EnvironmentRecord {
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    date: new Date().toISOString(),
    numerics: NUMERICS_VERSION,
    node: process.version,
    tfjs: backend.tfjsVersion,
    fdmBench: pkg.version,
    backend: backend.label,
    backendRequested: backend.requested,
    backendNotes: backend.notes,
    ...(backend.adapter && { gpuAdapter: backend.adapter }),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpuCores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    gitCommit: git(['rev-parse', 'HEAD']),
    gitDirty: status === null ? null : status.length > 0,
    command: process.argv.slice(2).join(' '),
  };
}
