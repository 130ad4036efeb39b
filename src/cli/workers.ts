import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import { parseWorkerReport } from '../runner/grid-status';
import { RunWorkers, WorkersOutcome } from '../runner/runner';
import { signalExitCode } from './interrupt';

/** The hidden flag of `run` that makes a process a --jobs worker: `run --resume <dir> --worker-runs 0,2`. */
export const WORKER_FLAG = 'worker-runs';

/** The grid indices given to --worker-runs. */
export function parseWorkerRuns(value: string): number[] {
  const indices = value.split(',').map((v) => v.trim());
  if (indices.some((v) => !/^\d+$/.test(v))) throw new Error(`--${WORKER_FLAG}: expected grid indices such as 0,2, got '${value}'`);
  return indices.map(Number);
}

interface WorkerEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

/**
 * Worker processes for `run --jobs N`: each is the same command line (`node <bin> run --resume
 * <dir> --worker-runs <its share> --json`), in its own process group so that a Ctrl-C on the
 * terminal reaches only the parent, which forwards it once. Their stderr (plain progress lines,
 * since it is a pipe) is copied to `stderr` line by line, prefixed with the worker number; their
 * stdout is the JSON report the parent reads.
 */
export function workerProcesses(opts: { bin: string; quiet: boolean; stderr: NodeJS.WritableStream }): RunWorkers {
  return async ({ dir, shares, log, signal }) => {
    log(`${shares.flat().length} run(s) in ${shares.length} worker process(es)`);
    const ends = shares.map((share, i) => {
      const args = [opts.bin, 'run', '--resume', dir, `--${WORKER_FLAG}`, share.join(','), '--json', ...(opts.quiet ? ['--quiet'] : [])];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
      const forward = () => child.kill(signal?.reason as NodeJS.Signals);
      signal?.addEventListener('abort', forward, { once: true });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const lines = readline.createInterface({ input: child.stderr, crlfDelay: Infinity });
      lines.on('line', (line) => opts.stderr.write(`[worker ${i + 1}] ${line}\n`));
      const linesDone = new Promise<void>((resolve) => lines.once('close', resolve));
      const exited = new Promise<WorkerEnd>((resolve) => {
        child.once('error', (err) => resolve({ code: null, signal: null, stdout: `spawn failed: ${err.message}` }));
        child.once('close', (code, sig) => resolve({ code, signal: sig, stdout }));
      });
      return Promise.all([exited, linesDone]).then(([end]) => {
        signal?.removeEventListener('abort', forward);
        return end;
      });
    });
    const outcome: WorkersOutcome = { interrupted: [], failures: [] };
    (await Promise.all(ends)).forEach((end, i) => {
      const report = parseWorkerReport(end.stdout);
      if (Array.isArray(report?.records)) {
        if (report.interrupted) outcome.interrupted.push(report.interrupted);
        return;
      }
      // Stopped by the forwarded signal before it could report (while it started): not a failure.
      const reason = signal?.aborted ? String(signal.reason) : undefined;
      if (reason && (end.signal === reason || end.code === signalExitCode(reason))) return;
      // With --json, a worker's error message is on its stdout.
      const how = end.signal ? `was killed by ${end.signal}` : end.code === null ? end.stdout : `exited with code ${end.code}`;
      const message = report?.error?.message ? `: ${report.error.message}` : '';
      outcome.failures.push(`worker ${i + 1} (runs ${shares[i].map((index) => index + 1).join(', ')}) ${how}${message}`);
    });
    return outcome;
  };
}
