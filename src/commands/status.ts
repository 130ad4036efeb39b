import { Args } from '@oclif/core';
import { FdmCommand } from '../cli/base-command';
import { gridStatus, renderGridStatus } from '../cli/grid-status';

export default class Status extends FdmCommand {
  static summary = "Show where each run of a run directory stands, locally or on Slurm.";
  static description =
    'Each run is pending, queued (on Slurm), running (with its iteration, ms/iter and ETA), evaluating, finished, ' +
    'diverged, interrupted, or failed (with the path of its log): from the records, the progress files the ' +
    "runs' processes write, and, for a grid submitted with --executor slurm, squeue. It reads and changes nothing; " +
    '`fdm-bench run --resume <run-dir>` continues what did not finish.';
  static examples = ['<%= config.bin %> status results/checkerboard/20261129-141134'];
  static enableJsonFlag = true;
  static args = {
    runDir: Args.string({ required: true, description: 'a run directory, results/<task>/<run-id>' }),
  };

  async run(): Promise<unknown> {
    const { args } = await this.parse(Status);
    let status;
    try {
      status = await gridStatus(args.runDir);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    if (this.jsonEnabled()) return status;
    for (const line of renderGridStatus(status)) this.log(line);
    return undefined;
  }
}
