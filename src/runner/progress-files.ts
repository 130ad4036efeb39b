import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../results/store';
import { GridJob } from './jobs';
import { Progress, RunState } from './progress';

/**
 * Where a run stands, as the process training it last wrote it to `progress/<run key>.json`: what
 * `fdm-bench status` and a `run` waiting on Slurm read, since neither can see that process.
 */
export interface RunProgressFile {
  state: RunState;
  iteration: number;
  iterations: number;
  /** Mean milliseconds per training iteration in this process so far; null before the first. */
  msPerIter: number | null;
  /** Where the process runs: a local `status` can tell a live process from one that died. */
  host: string;
  pid: number;
  updatedAt: string;
}

/** Whether a process of this machine with this pid lives (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function progressFile(dir: string, key: string): string {
  return path.join(dir, 'progress', `${key}.json`);
}

/** A run's progress file, or undefined when there is none (or it cannot be read: it is only a view). */
export function readRunProgress(dir: string, key: string): RunProgressFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(progressFile(dir, key), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Removes a finished run's progress file, and the progress folder once it is empty (call it when no worker of the grid runs). */
export function removeRunProgress(dir: string, key: string): void {
  const file = progressFile(dir, key);
  fs.rmSync(file, { force: true });
  removeIfEmpty(path.dirname(file));
}

/** Removes a folder if it is empty (another process may still write into it: then it stays). */
export function removeIfEmpty(folder: string): void {
  try {
    fs.rmdirSync(folder);
  } catch {
    // not empty, or already gone
  }
}

/** At most one write per run this often while it trains, besides every state change and logged iteration. */
const WRITE_EVERY_MS = 2000;

/**
 * `inner`, also writing each run's progress file (atomically) when its state changes, at every logged
 * iteration and at least every WRITE_EVERY_MS while it trains.
 */
export function withProgressFiles(inner: Progress, dir: string, jobs: readonly GridJob[]): Progress {
  const runs = new Map<number, { state: RunState; iteration: number; iterations: number; totalMs: number; steps: number; writtenAt: number }>();
  const write = (index: number) => {
    const run = runs.get(index)!;
    run.writtenAt = Date.now();
    const file: RunProgressFile = {
      state: run.state,
      iteration: run.iteration,
      iterations: run.iterations,
      msPerIter: run.steps ? run.totalMs / run.steps : null,
      host: os.hostname(),
      pid: process.pid,
      updatedAt: new Date(run.writtenAt).toISOString(),
    };
    writeFileAtomic(progressFile(dir, jobs[index].key), JSON.stringify(file) + '\n');
  };
  return {
    start(title, gridRuns) {
      gridRuns.forEach((run, index) => runs.set(index, { state: run.state, iteration: 0, iterations: run.iterations, totalMs: 0, steps: 0, writtenAt: 0 }));
      inner.start(title, gridRuns);
    },
    state(index, state, detail) {
      runs.get(index)!.state = state;
      write(index);
      inner.state(index, state, detail);
    },
    step(index, step) {
      const run = runs.get(index)!;
      run.iteration = step.iteration;
      run.totalMs += step.msPerIter;
      run.steps += 1;
      if (step.logged || Date.now() - run.writtenAt >= WRITE_EVERY_MS) write(index);
      inner.step(index, step);
    },
    log: (line) => inner.log(line),
    stop: () => inner.stop(),
  };
}
