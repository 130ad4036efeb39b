import { Args, Flags } from '@oclif/core';
import { FdmCommand } from '../cli/base-command';
import { compareEstimators, DEFAULT_CHOICES, probeSweep, EstimatorRow } from '../bench/estimators';
import { configFlags, startTask } from '../cli/config-flags';
import { terminalTable } from '../report/render';

function render(rows: EstimatorRow[]): string {
  return terminalTable(
    ['problem', 'estimator', 'probes', 'kind', 'E_z[L_CDM]', 'E_z[L_CDM] / exact', 'grad cosine', 'grad rel. error', 'ms per loss'],
    rows.map((r) => [
      r.problem,
      r.estimator,
      String(r.probes),
      r.bias,
      r.cdm.toPrecision(4),
      r.estimator === 'exact' ? '1' : `${r.ratio.toPrecision(4)} ± ${r.ratioStdErr.toPrecision(2)}`,
      r.gradientCosine.toFixed(4),
      r.gradientRelativeError.toPrecision(3),
      r.msPerLoss.toFixed(1),
    ]),
  );
}

export default class EstimatorsCommand extends FdmCommand {
  static summary = "Compare the estimators of FDM's divergence term on a task: E_z[L_CDM] against the exact value.";
  static description =
    'Trains CFM for --warmup steps from the preset\'s initialisation, then evaluates L_CDM with every ' +
    'estimator on the same --batches batches. An unbiased estimator gives a ratio of 1 (within its ' +
    'standard error); a larger ratio is probe variance added to the loss.';
  static examples = ['<%= config.bin %> estimators dna-toy --warmup 200', '<%= config.bin %> estimators gmm2d --preset quick --batches 40'];
  static enableJsonFlag = true;
  static args = { task: Args.string({ required: true, description: 'task name' }) };
  static flags = {
    preset: Flags.string({ default: 'quick', description: 'preset whose model, batch and path settings are used' }),
    warmup: Flags.integer({ default: 200, min: 0, description: 'CFM training steps before the comparison' }),
    batches: Flags.integer({ default: 20, min: 2, description: 'batches each estimator is averaged over' }),
    'probe-counts': Flags.string({ description: 'compare every Hutchinson estimator at each of these probe counts (e.g. 1,2,4,8) instead of at its default' }),
    ...configFlags,
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(EstimatorsCommand);
    const { task, config, backend } = await startTask(this, args.task, flags.preset, flags);
    const log = (line: string) => process.stderr.write(line + '\n');
    log(`backend: ${backend.label}`);
    const counts = flags['probe-counts']?.split(',').map((part) => Number(part.trim()));
    if (counts && !counts.every((n) => Number.isInteger(n) && n >= 1)) this.error(`--probe-counts: expected positive integers separated by commas, got '${flags['probe-counts']}'`, { exit: 2 });
    const choices = counts ? probeSweep(counts) : DEFAULT_CHOICES;
    const rows = await compareEstimators(task, config, { warmup: flags.warmup, batches: flags.batches, choices }, log);
    if (this.jsonEnabled()) return { task: task.name, preset: flags.preset, warmup: flags.warmup, batches: flags.batches, backend: backend.label, rows };
    this.log(render(rows));
    return undefined;
  }
}
