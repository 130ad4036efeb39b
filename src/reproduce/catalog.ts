import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadRunConfig } from '../cli/load-config';
import { EnvironmentRecord } from '../results/environment';
import { RunRecord } from '../results/record';
import { runFiles } from '../results/run-dir';
import { parseRecordsFile, RECORDS_FILE } from '../results/store';
import { matchesRecord } from '../runner/grid';
import { runIdentity } from '../runner/identity';
import { gridJobs } from '../runner/jobs';
import { listTasks } from '../tasks/registry';

/** A finished run found under a results root. */
export interface FinishedRun {
  identity: string;
  record: RunRecord;
  /** The run directory that holds it. */
  runDir: string;
  /** Its file key in that directory (models/<key>.json). */
  key: string;
}

/** The numerics version a run directory was written with (1 before environment.json recorded it). */
export function numericsOf(dir: string): number {
  try {
    const environment = JSON.parse(fs.readFileSync(runFiles(dir).environment, 'utf8')) as Partial<EnvironmentRecord>;
    return environment.numerics ?? 1;
  } catch {
    return 1;
  }
}

/**
 * The records of a run directory: records.jsonl and, while a grid is still running in worker or
 * cluster jobs, their per-run files under parts/ (a final line cut short by a crash is skipped).
 */
export function recordsOf(dir: string): RunRecord[] {
  const parts = path.join(dir, 'parts');
  const own = fs.existsSync(parts) ? fs.readdirSync(parts).filter((name) => name.endsWith('.jsonl')).sort().map((name) => path.join(parts, name)) : [];
  return [path.join(dir, RECORDS_FILE), ...own]
    .filter((file) => fs.existsSync(file))
    .flatMap((file) => parseRecordsFile(file, fs.readFileSync(file, 'utf8')).records);
}

export function subdirectories(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** The finished runs of one run directory, with their identities. */
function finishedRunsOf(dir: string): FinishedRun[] {
  const { task: taskName, config } = loadRunConfig(dir);
  const task = listTasks().find((t) => t.name === taskName)!;
  const jobs = gridJobs(config, task);
  const numerics = numericsOf(dir);
  return recordsOf(dir).flatMap((record) => {
    const job = jobs.find((candidate) => matchesRecord(task, record, candidate.spec, config));
    if (!job) return [];
    const identity = runIdentity({ task, spec: job.spec, config, backend: record.backend, numerics });
    return [{ identity, record, runDir: dir, key: job.key }];
  });
}

/**
 * Every finished run under a results root (<root>/<task>/<run-id>/), by identity. A run found more
 * than once (two invocations that ran it at the same time) counts once: the one in the earliest run
 * directory, so that the answer does not depend on which finished first. Run directories that cannot
 * be read are skipped and reported through `warn`.
 */
export function scanFinishedRuns(root: string, warn: (message: string) => void = () => {}): Map<string, FinishedRun> {
  const found = new Map<string, FinishedRun>();
  const taskNames = new Set(listTasks().map((task) => task.name));
  for (const taskName of subdirectories(root).filter((name) => taskNames.has(name))) {
    for (const runId of subdirectories(path.join(root, taskName))) {
      const dir = path.join(root, taskName, runId);
      if (!fs.existsSync(runFiles(dir).config)) continue;
      try {
        for (const run of finishedRunsOf(dir)) if (!found.has(run.identity)) found.set(run.identity, run);
      } catch (err) {
        warn(`skipped ${dir}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  return found;
}
