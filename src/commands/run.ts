import * as path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { FdmCommand } from '../cli/base-command';
import { configFlags, reopenTask, startTask } from '../cli/config-flags';
import { chooseExecutor, ExecutorError, executorFlags, executorWorkers } from '../cli/executor';
import { abortOnSignals, signalExitCode } from '../cli/interrupt';
import { createProgress } from '../cli/progress';
import { parseWorkerRuns, WORKER_FLAG } from '../cli/workers';
import { pairedComparisons, renderPairedTerminal } from '../report/paired';
import { renderTerminal } from '../report/render';
import { SavedFileError } from '../training/checkpoint';
import { ensureResultsRoot } from '../results/run-dir';
import { BenchmarkResult, Interruption, resumeBenchmark, runBenchmark } from '../runner/runner';
import { ExecutorRecord, SlurmCommandError } from '../runner/slurm';

function interruptionMessage(interrupted: Interruption, runDir: string): string {
  const where = interrupted.checkpoint
    ? `${interrupted.run} stopped after iteration ${interrupted.iteration} (checkpoint ${interrupted.checkpoint})`
    : `${interrupted.run} had not started`;
  return `interrupted by ${interrupted.signal}: ${where}; finished runs are in records.jsonl.\ncontinue with: fdm-bench run --resume ${runDir}`;
}

export default class Run extends FdmCommand {
  static summary = 'Train CFM and FDM on a task, evaluate them, print a table and write results.';
  static description =
    'Settings come from the preset, then --config, then flags. List flags take comma-separated values ' +
    '(--lambda 0,0.1,1): every combination runs. Progress goes to stderr; the table (or, with --json, ' +
    'one JSON document) to stdout. Results are written to <out>/<task>/<run-id>/. Ctrl-C or SIGTERM stops ' +
    'after the current iteration with a checkpoint (exit 130 or 143); --resume <run-dir> continues from it. ' +
    '--jobs N runs the grid in N worker processes at once, --executor slurm as a Slurm job array (one task ' +
    'per run), both with the same results.';
  static examples = [
    '<%= config.bin %> run checkerboard',
    '<%= config.bin %> run checkerboard --preset paper --backend tensorflow-gpu',
    '<%= config.bin %> run checkerboard --seeds 3 --lambda 0.01,0.1,1 --json',
    '<%= config.bin %> run gmm1d --seeds 4 --jobs 2',
    '<%= config.bin %> run checkerboard --preset paper --executor slurm --partition gpu --gres gpu:1 --time 8:00:00',
    '<%= config.bin %> run --resume results/checkerboard/20261129-141134',
  ];
  static enableJsonFlag = true;

  static args = {
    task: Args.string({ description: 'task name (see `fdm-bench list`); not needed with --resume' }),
  };

  static flags = {
    preset: Flags.string({ default: 'quick', description: 'preset from configs/<task>.yaml (quick, paper, ci)' }),
    ...configFlags,
    out: Flags.string({ default: 'results', description: 'root directory for results' }),
    quiet: Flags.boolean({ char: 'q', description: 'no progress output' }),
    resume: Flags.string({
      description: 'continue an interrupted run directory with the settings of its config.yaml: finished runs are kept, the interrupted one continues from its checkpoint',
      exclusive: ['preset', 'out', ...Object.keys(configFlags)],
    }),
    jobs: Flags.integer({ min: 1, default: 1, description: 'run the runs of the grid in this many worker processes at once (same results as 1)' }),
    ...executorFlags,
    [WORKER_FLAG]: Flags.custom<number[]>({ parse: async (value) => parseWorkerRuns(value) })({
      hidden: true,
      dependsOn: ['resume'],
      description: 'internal (--jobs, Slurm array tasks): run only these grid indices of the --resume directory',
    }),
    'merge-only': Flags.boolean({
      hidden: true,
      dependsOn: ['resume'],
      exclusive: [WORKER_FLAG],
      description: 'internal (the Slurm merge job): merge the records of the --resume directory, write its summaries and status; run nothing',
    }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Run);
    if (!flags.resume && !args.task) this.error('give a task (see `fdm-bench list`), or --resume <run-dir>', { exit: 2 });
    const { task, preset, config, backend } = flags.resume
      ? await reopenTask(this, flags.resume, { task: args.task })
      : await startTask(this, args.task!, flags.preset, flags);
    if (!flags.resume) {
      try {
        ensureResultsRoot(path.join(flags.out, task.name));
      } catch (err) {
        this.error(`--out ${flags.out}: ${(err as Error).message}`, { exit: 2 });
      }
    }
    const only = flags[WORKER_FLAG];
    const mergeOnly = flags['merge-only'];
    // A worker or the merge job runs here, whatever executor its grid has.
    let executor: ExecutorRecord | undefined;
    try {
      executor = only || mergeOnly ? undefined : await chooseExecutor(flags, flags.resume);
    } catch (err) {
      if (err instanceof ExecutorError) this.error(err.message, { exit: err.exit });
      throw err;
    }
    const jobs = only ? 1 : flags.jobs;
    const interrupt = abortOnSignals();
    // With workers, their plain lines go to stderr: no progress bars in between.
    const progress = createProgress({ quiet: flags.quiet, stream: process.stderr, plain: jobs > 1 });
    progress.log(`backend: ${backend.label} (tfjs ${backend.tfjsVersion})${backend.notes.length ? `; ${backend.notes.join('; ')}` : ''}`);
    const bin = path.join(this.config.root, 'bin', 'run.js');
    const workers = executor && executorWorkers(executor, { ...flags, jobs }, { bin, quiet: flags.quiet, progress, iterations: config.iterations });
    const ctx = { backend, outRoot: flags.out, preset, progress, signal: interrupt.signal, workers, only, mergeOnly, executor };
    let result: BenchmarkResult;
    try {
      result = flags.resume ? await resumeBenchmark(task, config, flags.resume, ctx) : await runBenchmark(task, config, ctx);
    } catch (err) {
      if (err instanceof SavedFileError) this.error(err.message, { exit: 2 });
      if (err instanceof SlurmCommandError) this.error(err.message, { exit: 1 });
      if (err instanceof Error && err.name === 'RuntimeError') {
        // WebAssembly's RuntimeError: a trap of the wasm backend, in practice a run too large for its heap.
        this.error(`the wasm backend stopped (${err.message}): the run probably needs more than its 4 GiB heap; lower --batch-size`, { exit: 2 });
      }
      throw err;
    } finally {
      progress.stop();
      interrupt.dispose();
    }
    if (result.detached) return this.reportDetached(result);
    const diverged = result.records.filter((r) => r.status === 'diverged');
    if (result.interrupted) process.exitCode = signalExitCode(result.interrupted.signal);
    else if (diverged.length || result.failures) process.exitCode = 1;
    // A worker's interruption is reported by its parent.
    if (result.interrupted && !only) process.stderr.write(interruptionMessage(result.interrupted, result.runDir) + '\n');
    if (result.failures) process.stderr.write(`${result.failures.join('\n')}\nthe finished runs are summarised; continue with: fdm-bench run --resume ${result.runDir}\n`);
    if (this.jsonEnabled()) {
      const extra = { ...(result.interrupted ? { interrupted: result.interrupted } : {}), ...(result.failures ? { failures: result.failures } : {}) };
      return { runId: result.runId, runDir: result.runDir, backend: backend.label, records: result.records, ...extra };
    }
    if (result.records.length) this.log(renderTerminal(result.rows, task.columns));
    const paired = renderPairedTerminal(pairedComparisons(result.records, task.columns), task.columns);
    if (paired) this.log(paired);
    this.log(`results: ${result.runDir}`);
    if (diverged.length) this.logToStderr(`${diverged.length} run(s) diverged; see the table and records.jsonl`);
    return undefined;
  }

  /** --detach: the job ids (also in <run-dir>/slurm/jobs.json) and how to follow the grid. */
  private reportDetached(result: BenchmarkResult): unknown {
    const jobs = result.detached!;
    if (this.jsonEnabled()) return { runId: result.runId, runDir: result.runDir, executor: 'slurm', jobs, records: result.records };
    this.log(`submitted: Slurm array job ${jobs.array}, merge job ${jobs.merge}`);
    this.log(`follow with: fdm-bench status ${result.runDir}`);
    this.log(`results: ${result.runDir}`);
    return undefined;
  }
}
