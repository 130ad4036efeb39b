import * as fs from 'node:fs';
import * as path from 'node:path';

function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Creates a results folder, or says which path is in the way (a file, no permission) instead of an errno. */
export function ensureResultsRoot(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    const reason = code === 'ENOTDIR' || code === 'EEXIST' ? 'a file is in the way' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new Error(`cannot create the results folder ${dir}: ${reason}`);
  }
}

/**
 * Creates results/<task>/<run-id>, with a run id made of the start time (and a counter when two
 * runs start within the same second), never touching an existing directory.
 */
export function createRunDir(outRoot: string, task: string, now = new Date()): { runId: string; dir: string } {
  const parent = path.join(outRoot, task);
  ensureResultsRoot(parent);
  const base = timestamp(now);
  for (let attempt = 0; ; attempt++) {
    const runId = attempt === 0 ? base : `${base}-${attempt + 1}`;
    const dir = path.join(parent, runId);
    try {
      fs.mkdirSync(dir);
      return { runId, dir };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** The files of a run directory. */
export function runFiles(dir: string) {
  return {
    config: path.join(dir, 'config.yaml'),
    environment: path.join(dir, 'environment.json'),
    records: path.join(dir, 'records.jsonl'),
    csv: path.join(dir, 'records.csv'),
    markdown: path.join(dir, 'table.md'),
    figure: path.join(dir, 'samples.png'),
    curves: path.join(dir, 'training-curves.png'),
    /** The paper's Figure 1: a CFM run's divergence error against its loss. */
    divergenceError: path.join(dir, 'divergence-error.png'),
    /** The self-contained HTML report of the directory (`fdm-bench report --format html`). */
    html: path.join(dir, 'report.html'),
    /** Whether the grid is running, interrupted (and where) or complete. */
    status: path.join(dir, 'status.json'),
    /** Where an unfinished run's training stands; removed once its record is written. */
    checkpoint: (key: string) => path.join(dir, 'checkpoints', `${key}.json`),
    /** A finished run's final weights and evaluation samples, for `fdm-bench sample` and figures. */
    model: (key: string) => path.join(dir, 'models', `${key}.json`),
  };
}

/** A run's name as a file name: 'fdm lambda=0.1 seed 0' -> 'fdm-lambda-0.1-seed-0'. */
export function runKey(name: string): string {
  return name.replace(/[^A-Za-z0-9.]+/g, '-');
}
