import { Args, Flags } from '@oclif/core';
import { BACKEND_CHOICES, BackendChoice } from '../backend/backend';
import { FdmCommand } from '../cli/base-command';
import { reopenTask } from '../cli/config-flags';
import {
  EVALUATION_PROTOCOLS,
  EvaluationProtocol,
  evaluateRunDir,
  evaluationFile,
  ReferenceEvaluationFile,
  renderEvaluations,
} from '../reproduce/evaluations';

export default class Evaluate extends FdmCommand {
  static summary = "Evaluate a finished run's saved models with the paper's likelihood protocol, beside the suite's exact NLL.";
  static description =
    'Runs the reference code\'s likelihood evaluation (main_fm_2d.py: 10 fresh batches of 512 points, Euler steps of 0.01 ' +
    'from t = 1 to 0, one Rademacher Hutchinson probe per point) --repeats times on the final model of every finished run, ' +
    'and from their spread the expected value of the best of the N evaluations the reference makes over training ' +
    '(one every 200 iterations), which is what the paper reports (as exp of the mean log-density). Writes ' +
    '<run-dir>/evaluations/reference.json and prints a table; runs evaluated before with the same settings are reused.';
  static examples = [
    '<%= config.bin %> evaluate results/checkerboard/20261129-141134',
    "<%= config.bin %> evaluate results/checkerboard/20261129-141134 --run 'fdm lambda=0.1 seed 0' --repeats 10 --force",
  ];
  static enableJsonFlag = true;
  static args = {
    runDir: Args.string({ required: true, description: 'a run directory, results/<task>/<run-id>' }),
  };
  static flags = {
    protocol: Flags.string({ options: [...EVALUATION_PROTOCOLS], default: 'reference', description: 'evaluation protocol' }),
    repeats: Flags.integer({ default: 5, min: 2, description: 'independent evaluations per run (fresh batches and probes)' }),
    run: Flags.string({ multiple: true, multipleNonGreedy: true, description: "which runs (repeatable): 1-based index, name ('fdm lambda=0.1 seed 0') or file key; default every finished run" }),
    force: Flags.boolean({ default: false, description: 'evaluate again even where the file holds the same settings and model' }),
    backend: Flags.string({ options: [...BACKEND_CHOICES], description: "tfjs backend (default: the run's)" }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Evaluate);
    const { backend } = await reopenTask(this, args.runDir, { backend: flags.backend as BackendChoice | undefined });
    let evaluation: ReferenceEvaluationFile;
    try {
      evaluation = await evaluateRunDir(args.runDir, {
        protocol: flags.protocol as EvaluationProtocol,
        repeats: flags.repeats,
        runs: flags.run,
        force: flags.force,
        backend: backend.label,
        log: (line) => this.logToStderr(line),
      });
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    this.logToStderr(`${evaluationFile(args.runDir, evaluation.protocol)} (${backend.label})`);
    if (this.jsonEnabled()) return evaluation;
    this.log(renderEvaluations(evaluation));
    return undefined;
  }
}
