import * as fs from 'node:fs';
import { runFiles } from '../results/run-dir';
import { describeRun, recordIndex, recordsByRun, RunPhase, RunView, viewGrid } from '../runner/grid-status';
import { gridJobs } from '../runner/jobs';
import { readRunRecords } from '../runner/parts';
import { RunStatus } from '../runner/runner';
import { onPath, readSubmission, slurmCommands, SlurmQuery, SlurmSubmission } from '../runner/slurm';
import { getTask } from '../tasks/registry';
import { loadRunConfig } from './load-config';

/** What `fdm-bench status` shows of a run directory. */
export interface GridStatus {
  runDir: string;
  task: string;
  /** status.json's state, as the last process that finished the grid (or started it) wrote it. */
  state?: RunStatus['state'];
  /** The latest Slurm submission, and what squeue said of it. */
  slurm?: SlurmSubmission & { answer: 'ok' | string };
  runs: RunView[];
}

function readStatusFile(dir: string): RunStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(runFiles(dir).status, 'utf8'));
  } catch {
    return undefined;
  }
}

/** squeue's answer, or why there is none (no squeue here: the jobs' states are unknown, not ended). */
async function askSlurm(submission: SlurmSubmission): Promise<SlurmQuery> {
  if (!onPath('squeue')) return { reachable: false, message: 'squeue is not on PATH' };
  return slurmCommands.query([submission.arrayJob, submission.mergeJob]);
}

/**
 * Each run of a run directory: finished or diverged from its record, otherwise from its progress
 * file and, when the grid was submitted to Slurm, from squeue. Reads only; merges nothing.
 */
export async function gridStatus(dir: string): Promise<GridStatus> {
  const { task: taskName, config } = loadRunConfig(dir);
  const task = getTask(taskName);
  const jobs = gridJobs(config, task);
  const records = recordsByRun(readRunRecords(dir), jobs, recordIndex(task, config, jobs));
  const submission = readSubmission(dir);
  const query = submission && (await askSlurm(submission));
  const runs = viewGrid(dir, jobs, records, config.iterations, submission && query ? { submission, query } : undefined);
  const slurm = submission && query ? { ...submission, answer: query.reachable ? 'ok' : query.message } : undefined;
  const state = readStatusFile(dir)?.state;
  return { runDir: dir, task: taskName, ...(state ? { state } : {}), ...(slurm ? { slurm } : {}), runs };
}

/** The longest phase name, so that the run names line up. */
const PHASE_WIDTH = 'interrupted'.length;

/** The status as lines: a heading with the counts, the Slurm jobs, then a line per run. */
export function renderGridStatus(status: GridStatus): string[] {
  const counts = new Map<RunPhase, number>();
  for (const run of status.runs) counts.set(run.phase, (counts.get(run.phase) ?? 0) + 1);
  const summary = [...counts].map(([phase, n]) => `${n} ${phase}`).join(', ');
  const lines = [`${status.runDir}: ${status.task}, ${status.runs.length} run(s): ${summary}${status.state ? ` (status.json: ${status.state})` : ''}`];
  if (status.slurm) {
    const answer = status.slurm.answer === 'ok' ? '' : `; Slurm does not answer: ${status.slurm.answer}`;
    lines.push(`Slurm: array job ${status.slurm.arrayJob}, merge job ${status.slurm.mergeJob}, submitted ${status.slurm.submittedAt}${answer}`);
  }
  const nameWidth = Math.max(...status.runs.map((run) => run.name.length));
  for (const run of status.runs) lines.push(`${run.phase.padEnd(PHASE_WIDTH)}  ${run.name.padEnd(nameWidth)}  ${describeRun(run)}`.trimEnd());
  return lines;
}
