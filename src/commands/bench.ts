import { Args, Flags } from '@oclif/core';
import { writeFigure } from '../report/figures/figure';
import { timingSpec } from '../report/figures/summary';
import { FdmCommand } from '../cli/base-command';
import Table from 'cli-table3';
import { benchTask, BenchRow } from '../bench/bench';
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
    ...configFlags,
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(BenchCommand);
    const { task, config, backend } = await startTask(this, args.task, flags.preset, flags);
    const log = (line: string) => process.stderr.write(line + '\n');
    log(`backend: ${backend.label}; ${task.name} preset ${flags.preset}: hidden ${config.hidden} x ${config.depth}, batch ${config.batchSize}`);
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
