import * as path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { FdmCommand } from '../cli/base-command';
import { BACKEND_CHOICES, BackendChoice } from '../backend/backend';
import { reopenTask } from '../cli/config-flags';
import { Rng } from '../random/rng';
import { loadModel } from '../training/checkpoint';
import { runFiles } from '../results/run-dir';
import { SAMPLE_FORMATS, SampleFormat, writeSamplesFile } from '../results/samples-file';
import { findJob, GridJob, gridJobs } from '../runner/jobs';

export default class Sample extends FdmCommand {
  static summary = "Draw samples from a finished run's saved model and plot them, without retraining.";
  static description =
    "Loads models/<run>.json of a run directory, integrates the flow with the run's solver settings from " +
    "its config.yaml, and writes the samples (CSV with columns x0, x1, ... or an [n, d] float32 NPY) and the task's figure beside them (PNG).";
  static examples = [
    '<%= config.bin %> sample results/checkerboard/20261129-141134',
    "<%= config.bin %> sample results/checkerboard/20261129-141134 --run 'fdm lambda=0.1 seed 0' -n 10000 --format npy --out fdm.npy",
  ];
  static enableJsonFlag = true;
  static args = {
    runDir: Args.string({ required: true, description: 'a run directory, results/<task>/<run-id>' }),
  };
  static flags = {
    run: Flags.string({ description: "which run: its 1-based index, name ('fdm lambda=0.1 seed 0') or file key (default: the first)" }),
    count: Flags.integer({ char: 'n', default: 2000, min: 1, description: 'number of samples' }),
    format: Flags.string({ options: [...SAMPLE_FORMATS], default: 'csv', description: 'samples file format' }),
    out: Flags.string({ description: 'samples file (default <run-dir>/samples/<run>.<format>); the figure is written beside it as .png' }),
    seed: Flags.integer({ default: 0, min: 0, description: 'seed of the noise the samples start from' }),
    backend: Flags.string({ options: [...BACKEND_CHOICES], description: "tfjs backend (default: the run's)" }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Sample);
    const { task, config, backend } = await reopenTask(this, args.runDir, { backend: flags.backend as BackendChoice | undefined });
    const format = flags.format as SampleFormat;
    let job: GridJob;
    try {
      const jobs = gridJobs(config, task);
      // The first run by default.
      job = flags.run === undefined ? jobs[0] : findJob(jobs, flags.run);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    await task.prepare?.(config, job.spec, { dir: args.runDir, log: (line) => this.logToStderr(line) });
    const experiment = task.createExperiment(config, job.spec, new Rng(`${task.name}/seed-${job.spec.seed}`));
    try {
      try {
        loadModel(runFiles(args.runDir).model(job.key), task.name, job.spec, experiment);
      } catch (err) {
        this.error(`cannot sample '${job.name}': ${(err as Error).message}`, { exit: 2 });
      }
      const points = await experiment.sample(flags.count, new Rng(`${task.name}/sample/seed-${flags.seed}`));
      const samplesFile = flags.out ?? path.join(args.runDir, 'samples', `${job.key}.${format}`);
      writeSamplesFile(samplesFile, points, points.length / flags.count, format);
      const parsed = path.parse(samplesFile);
      const figure = task.writeFigure ? path.join(parsed.dir, `${parsed.name}.png`) : null;
      if (figure) await task.writeFigure!(figure, [{ label: job.name, spec: job.spec, points }], new Rng(`${task.name}/figure`), config);
      this.logToStderr(`${flags.count} samples of '${job.name}' (${backend.label}): ${samplesFile}${figure ? `; figure: ${figure}` : ''}`);
      return { run: job.name, count: flags.count, format, samples: samplesFile, figure };
    } finally {
      experiment.dispose();
    }
  }
}
