import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadRunConfig } from '../cli/load-config';
import { RunConfig } from '../config/schema';
import { runFiles } from '../results/run-dir';
import { runIdentity } from '../runner/identity';
import { gridJobs } from '../runner/jobs';
import { processAlive, readRunProgress } from '../runner/progress-files';
import { FinishedRun, numericsOf, subdirectories } from './catalog';
import { PlannedExperiment } from './plan';

/** A checkpoint written this recently means a process may still be training there (it checkpoints as it goes). */
const RECENT_CHECKPOINT_MS = 10 * 60 * 1000;

/** An interrupted run directory that holds runs of an experiment: resuming it continues their checkpoints. */
export interface UnfinishedRunDir {
  dir: string;
  config: RunConfig;
}

/**
 * Whether a process may be working in a run directory: a progress file of a live process on this
 * host (or a recently updated one from another host); without progress files (directories written
 * before they existed), a checkpoint written in the last minutes.
 */
function inUse(dir: string, keys: string[]): boolean {
  const now = Date.now();
  const progress = keys.flatMap((key) => readRunProgress(dir, key) ?? []);
  if (progress.length) {
    return progress.some(
      (p) => (p.state === 'running' || p.state === 'evaluating') && (p.host === os.hostname() ? processAlive(p.pid) : now - Date.parse(p.updatedAt) < RECENT_CHECKPOINT_MS),
    );
  }
  const checkpoints = path.join(dir, 'checkpoints');
  return fs.readdirSync(checkpoints).some((name) => now - fs.statSync(path.join(checkpoints, name)).mtimeMs < RECENT_CHECKPOINT_MS);
}

/**
 * The run directories of the experiment's task that were stopped with checkpoints of runs the
 * experiment still misses, and whose whole grid belongs to the experiment (so resuming them trains
 * nothing it does not need): the runs of an interrupted `reproduce`, or single runs started by hand
 * with the same settings. Directories a process may still be working in are left alone (`skipped`).
 */
export function unfinishedRunDirs(
  experiment: PlannedExperiment,
  outRoot: string,
  found: ReadonlyMap<string, FinishedRun>,
  identity: { backend: string; numerics: number },
  skipped: (dir: string) => void,
): UnfinishedRunDir[] {
  const wanted = new Set(experiment.runs.map((run) => run.identity));
  const taskDir = path.join(outRoot, experiment.task.name);
  return subdirectories(taskDir).flatMap((name) => {
    const dir = path.join(taskDir, name);
    const checkpoints = path.join(dir, 'checkpoints');
    if (!fs.existsSync(runFiles(dir).config) || !fs.existsSync(checkpoints) || fs.readdirSync(checkpoints).length === 0) return [];
    if (numericsOf(dir) !== identity.numerics) return [];
    let config: RunConfig;
    try {
      config = loadRunConfig(dir).config;
    } catch {
      return [];
    }
    const jobs = gridJobs(config, experiment.task);
    const ids = jobs.map((job) => runIdentity({ task: experiment.task, spec: job.spec, config, backend: identity.backend, numerics: identity.numerics }));
    if (!ids.every((id) => wanted.has(id)) || ids.every((id) => found.has(id))) return [];
    if (inUse(dir, jobs.map((job) => job.key))) {
      skipped(dir);
      return [];
    }
    return [{ dir, config }];
  });
}
