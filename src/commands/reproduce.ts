import * as path from 'node:path';
import { Flags } from '@oclif/core';
import { BACKEND_CHOICES, BackendChoice, initBackend } from '../backend/backend';
import { FdmCommand } from '../cli/base-command';
import { exitOnMistake } from '../cli/config-flags';
import { abortOnSignals, signalExitCode } from '../cli/interrupt';
import { parseSeeds, splitList } from '../cli/parse';
import { createProgress } from '../cli/progress';
import { chooseExecutor, ExecutorError, executorFlags, executorWorkers } from '../cli/executor';
import { NUMERICS_VERSION } from '../results/environment';
import { ensureResultsRoot } from '../results/run-dir';
import { FAMILIES, Family, loadPaperNumbers } from '../reproduce/paper-numbers';
import { exportReproduction } from '../reproduce/export';
import { PlannedExperiment, planReproduction } from '../reproduce/plan';
import { ExecutorRecord } from '../runner/slurm';
import { referenceProtocol } from '../reproduce/reference-protocol';
import { reproduce, reproductionFiles } from '../reproduce/reproduce';
import { renderReproductionTerminal } from '../reproduce/table';

const SCALES = ['ci', 'quick', 'paper'] as const;

export default class Reproduce extends FdmCommand {
  static summary = "Run the paper's experiments that the suite has and print the paper's table beside the suite's.";
  static description =
    "One row per (experiment, metric) of configs/paper-numbers.yaml: the paper's CFM and FDM values and their source, " +
    "the suite's (mean ± sd over seeds), the paired FDM − CFM difference with its p-values, and a verdict. Each task " +
    "runs its preset of the scale's name. Finished runs are found under --out by their identity (every setting, the " +
    'backend and the numerics version) and reused, never retrained: only what is missing runs, so a reproduction can be ' +
    'stopped and continued. The table is also written to <out>/reproduce/<scale>.md and .json.';
  static examples = [
    '<%= config.bin %> reproduce --scale ci',
    '<%= config.bin %> reproduce --family density --scale paper --seeds 3 --jobs 2',
    '<%= config.bin %> reproduce --scale paper --dry-run',
    '<%= config.bin %> reproduce --scale paper --seeds 3 --executor slurm --partition gpu --gres gpu:1 --time 12:00:00 --detach',
  ];
  static enableJsonFlag = true;

  static flags = {
    family: Flags.string({ description: `families to reproduce: ${FAMILIES.join(', ')} (list allowed; default all)` }),
    scale: Flags.string({ options: [...SCALES], default: 'quick', description: 'the preset every task runs: ci (minutes), quick, paper (hours to days)' }),
    seeds: Flags.string({ description: "a count (3 = seeds 0,1,2) or a list (4,7); default: the preset's" }),
    out: Flags.string({ default: 'results', description: 'results root: finished runs are looked up and new ones written here' }),
    backend: Flags.string({ options: [...BACKEND_CHOICES], default: 'auto', description: 'tfjs backend (finished runs count only when they used the same)' }),
    jobs: Flags.integer({ min: 1, default: 1, description: 'run each task\'s missing runs in this many worker processes at once' }),
    ...executorFlags,
    export: Flags.string({ description: 'also copy the tables and the small files of every run they read (records, settings, environment, tables, figures; no models) into this folder, e.g. reproductions/<date>-<machine>' }),
    repeats: Flags.integer({ default: 5, min: 2, description: "evaluations of each final model by the paper's likelihood protocol (its spread gives the expected best of N)" }),
    'no-train': Flags.boolean({ description: 'train nothing: the table from the finished runs (evaluating them by the protocols it needs)' }),
    'dry-run': Flags.boolean({ description: 'print the table from the finished runs and say what is missing, training nothing' }),
    quiet: Flags.boolean({ char: 'q', description: 'no progress output' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Reproduce);
    const families = flags.family ? splitList(flags.family) : undefined;
    const unknown = families?.filter((family) => !FAMILIES.includes(family as Family)) ?? [];
    if (unknown.length) this.error(`--family: unknown family '${unknown[0]}'; valid families: ${FAMILIES.join(', ')}`, { exit: 2 });
    const seeds = parseSeeds(flags.seeds);
    if (seeds?.some((seed) => !Number.isInteger(seed) || seed < 0)) this.error(`--seeds: expected a count or a list of seeds, got '${flags.seeds}'`, { exit: 2 });
    let executor: ExecutorRecord;
    try {
      executor = await chooseExecutor(flags);
    } catch (err) {
      if (err instanceof ExecutorError) this.error(err.message, { exit: err.exit });
      throw err;
    }
    const { numbers, plan, backend } = await exitOnMistake(this, async () => {
      ensureResultsRoot(flags.out);
      const numbers = loadPaperNumbers();
      const backend = await initBackend(flags.backend as BackendChoice);
      const plan = planReproduction(numbers, { scale: flags.scale, families: families as Family[] | undefined, seeds, numerics: NUMERICS_VERSION, backend: backend.label });
      return { numbers, plan, backend };
    });
    const interrupt = abortOnSignals();
    const progress = createProgress({ quiet: flags.quiet, stream: process.stderr, plain: flags.jobs > 1 });
    progress.log(`backend: ${backend.label} (tfjs ${backend.tfjsVersion})`);
    const bin = path.join(this.config.root, 'bin', 'run.js');
    const workersFor = (experiment: PlannedExperiment) => executorWorkers(executor, flags, { bin, quiet: flags.quiet, progress, iterations: experiment.config.iterations });
    let result;
    try {
      const referenceTasks = plan.entries.flatMap((entry) => (entry.suite?.protocol === 'reference' ? [entry.suite.task] : []));
      const protocols = { reference: referenceProtocol({ tasks: referenceTasks, repeats: flags.repeats, backend: backend.label, log: (line) => progress.log(line) }) };
      result = await reproduce(numbers, plan, { backend, outRoot: flags.out, progress, signal: interrupt.signal, workersFor, executor, train: !flags['dry-run'] && !flags['no-train'], evaluate: !flags['dry-run'], protocols });
    } finally {
      progress.stop();
      interrupt.dispose();
    }
    if (result.interrupted) process.exitCode = signalExitCode(result.interrupted.signal);
    else if (result.failures) process.exitCode = 1;
    const files = reproductionFiles(flags.out, plan.scale);
    if (flags.export) exportReproduction(flags.export, { tables: [files.markdown, files.json], experiments: files.experiments }, result.runs);
    if (this.jsonEnabled()) {
      const { runs, ...rest } = result;
      return { scale: plan.scale, backend: backend.label, ...rest, runs: runs.map(({ identity, runDir, key }) => ({ identity, runDir, key })), files };
    }
    this.log(renderReproductionTerminal(result.rows, plan, result.summaries));
    for (const [dir, jobs] of Object.entries(result.detached ?? {})) this.logToStderr(`submitted to Slurm: ${dir} (jobs ${Object.values(jobs).join(', ')}); follow with fdm-bench status ${dir}`);
    if (result.missing) this.logToStderr(`${result.missing} run(s) missing; ${flags['dry-run'] || flags['no-train'] ? 'run without --dry-run or --no-train to train them' : 'run the same command again to continue'}`);
    this.log(`table: ${files.markdown}`);
    return undefined;
  }
}
