import { Args, Flags } from '@oclif/core';
import { writeFigure } from '../report/figures/figure';
import { timingSpec } from '../report/figures/summary';
import { terminalTable } from '../report/render';
import { KernelProfile, profileTask, StepProfile } from '../bench/profile';
import { FdmCommand } from '../cli/base-command';
import Table from 'cli-table3';
import { benchTask, BenchRow } from '../bench/bench';
import { benchEvaluation, EvaluationBenchRow } from '../bench/evaluation';
import { configFlags, startTask } from '../cli/config-flags';

function renderBench(rows: BenchRow[], backend: string): string {
  const table = new Table({
    head: ['run', 'median ms', 'p95 ms', 'mean ± sd ms', 'steps/s', 'GFLOP/s', 'vs CFM', 'tensor growth', 'RSS MiB start→end', 'device MiB start→end', 'backend'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      r.label,
      r.msMedian.toFixed(2),
      r.msP95.toFixed(2),
      `${r.msMean.toFixed(2)} ± ${r.msStd.toFixed(2)}`,
      r.stepsPerSecond.toFixed(1),
      r.gflops.toFixed(2),
      r.ratioToCfm === null ? '—' : `${r.ratioToCfm.toFixed(2)}×`,
      String(r.tensorGrowth),
      `${r.rssStartMiB.toFixed(0)}→${r.rssMiB.toFixed(0)}`,
      r.deviceStartMiB === undefined ? '—' : `${r.deviceStartMiB.toFixed(1)}→${r.deviceMiB?.toFixed(1)}`,
      backend,
    ]);
  }
  return table.toString();
}

function renderEvaluation(rows: EvaluationBenchRow[], backend: string): string {
  const body = rows.map((r) => [r.phase, String(r.points), r.secondsMedian.toFixed(3), r.pointsPerSecond.toFixed(0), r.solver, String(r.batchSize), backend]);
  return terminalTable(['phase', 'points', 'median s', 'points/s', 'solver', 'batch', 'backend'], body);
}

/** A run's kernels, most time first (the first KERNELS_SHOWN; the rest summed). */
const KERNELS_SHOWN = 15;

function renderProfile(profile: StepProfile): string {
  const shown = profile.kernels.slice(0, KERNELS_SHOWN);
  const rest = profile.kernels.slice(KERNELS_SHOWN);
  const row = (k: Pick<KernelProfile, 'kernel' | 'callsPerStep' | 'msPerStep' | 'share' | 'mibWrittenPerStep'>) =>
    [k.kernel, k.callsPerStep.toFixed(0), k.msPerStep.toFixed(2), `${(100 * k.share).toFixed(1)}%`, k.mibWrittenPerStep.toFixed(1)];
  const sum = (key: 'callsPerStep' | 'msPerStep' | 'share' | 'mibWrittenPerStep') => rest.reduce((total, k) => total + k[key], 0);
  const body = [...shown.map(row), ...(rest.length ? [row({ kernel: `(${rest.length} others)`, callsPerStep: sum('callsPerStep'), msPerStep: sum('msPerStep'), share: sum('share'), mibWrittenPerStep: sum('mibWrittenPerStep') })] : [])];
  return `${profile.label}: ${profile.msPerStep.toFixed(1)} ms per step under the profiler, ${profile.kernelsPerStep.toFixed(0)} kernels\n${terminalTable(['kernel', 'calls/step', 'ms/step', 'share', 'MiB written/step'], body)}`;
}

export default class BenchCommand extends FdmCommand {
  static summary = 'Time training steps of CFM and FDM (tinybench): ms/iter, FDM/CFM ratio, GFLOP/s.';
  static description =
    'Uses the model, batch and loss settings of the preset (and flags). Warm-up steps are excluded; ' +
    'GFLOP/s counts the matrix products of the forward, tangent and backward passes.';
  static examples = ['<%= config.bin %> bench checkerboard --preset paper', '<%= config.bin %> bench checkerboard --div-estimator hutchinson-unbiased --json'];
  static enableJsonFlag = true;
  static args = { task: Args.string({ required: true, description: 'task name' }) };
  static flags = {
    preset: Flags.string({ default: 'paper', description: 'preset whose model and batch sizes are timed' }),
    warmup: Flags.integer({ default: 5, min: 0, description: 'untimed warm-up steps' }),
    steps: Flags.integer({ default: 30, min: 1, description: 'timed steps per run' }),
    figure: Flags.string({ description: 'also draw the medians as a bar chart into this PNG (its Vega-Lite specification beside it)' }),
    profile: Flags.boolean({ default: false, description: 'instead of timing, profile --steps steps per run with tf.profile: time, calls and bytes written per kernel' }),
    evaluation: Flags.boolean({
      default: false,
      description: "instead of training steps, time the evaluation's flows: sampling and the log-density, in points/s, with the preset's solver (--solver, --eval-steps) on the untrained field",
      exclusive: ['profile', 'figure'],
    }),
    'eval-points': Flags.integer({ default: 2000, min: 1, description: 'with --evaluation: points per timed call' }),
    repeats: Flags.integer({ default: 3, min: 1, description: 'with --evaluation: timed calls per phase, after one untimed' }),
    ...configFlags,
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(BenchCommand);
    const { task, config, backend } = await startTask(this, args.task, flags.preset, flags);
    const log = (line: string) => process.stderr.write(line + '\n');
    log(`backend: ${backend.label}; ${task.name} preset ${flags.preset}: hidden ${config.hidden} x ${config.depth}, batch ${config.batchSize}`);
    if (flags.evaluation) {
      const rows = await benchEvaluation(task, config, { points: flags['eval-points'], repeats: flags.repeats }, log);
      if (this.jsonEnabled()) return { task: task.name, preset: flags.preset, backend: backend.label, evaluation: rows };
      this.log(renderEvaluation(rows, backend.label));
      return undefined;
    }
    if (flags.profile) {
      const profiles = await profileTask(task, config, { warmup: flags.warmup, steps: flags.steps }, log);
      if (this.jsonEnabled()) return { task: task.name, preset: flags.preset, backend: backend.label, profiles };
      this.log(profiles.map((p) => renderProfile(p)).join('\n'));
      return undefined;
    }
    const rows = await benchTask(task, config, { warmup: flags.warmup, iterations: flags.steps }, log);
    if (flags.figure) {
      const bars = rows.map((row) => ({ run: row.label, backend: backend.label, msPerIter: row.msMedian }));
      await writeFigure(flags.figure, timingSpec(bars, `${task.name} (${flags.preset}): time per training step`)!);
      log(`figure: ${flags.figure}`);
    }
    if (this.jsonEnabled()) return { task: task.name, preset: flags.preset, backend: backend.label, rows };
    this.log(renderBench(rows, backend.label));
    return undefined;
  }
}
