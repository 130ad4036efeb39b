import { Args, Command, Flags } from '@oclif/core';
import { configFlags, startTask } from '../cli/config-flags';
import { renderTerminal } from '../report/render';
import { runBenchmark } from '../runner/runner';

export default class Run extends Command {
  static summary = 'Train CFM and FDM on a task, evaluate them, print a table and write results.';
  static description =
    'Settings come from the preset, then --config, then flags. List flags take comma-separated values ' +
    '(--lambda 0,0.1,1): every combination runs. Progress goes to stderr; the table (or, with --json, ' +
    'one JSON document) to stdout. Results are written to <out>/<task>/<run-id>/.';
  static examples = [
    '<%= config.bin %> run checkerboard',
    '<%= config.bin %> run checkerboard --preset paper --backend tensorflow-gpu',
    '<%= config.bin %> run checkerboard --seeds 3 --lambda 0.01,0.1,1 --json',
  ];
  static enableJsonFlag = true;

  static args = {
    task: Args.string({ required: true, description: 'task name (see `fdm-bench list`)' }),
  };

  static flags = {
    preset: Flags.string({ default: 'quick', description: 'preset from configs/<task>.yaml (quick, paper, ci)' }),
    ...configFlags,
    out: Flags.string({ default: 'results', description: 'root directory for results' }),
    quiet: Flags.boolean({ char: 'q', description: 'no progress output' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Run);
    const json = this.jsonEnabled();
    const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(line + '\n');
    const { task, config, backend } = await startTask(this, args.task, flags.preset, flags);
    log(`backend: ${backend.label} (tfjs ${backend.tfjsVersion})${backend.notes.length ? `; ${backend.notes.join('; ')}` : ''}`);
    const result = await runBenchmark(task, config, { backend, outRoot: flags.out, preset: flags.preset, log });
    const diverged = result.records.filter((r) => r.status === 'diverged');
    if (diverged.length) process.exitCode = 1;
    if (json) return { runId: result.runId, runDir: result.runDir, backend: backend.label, records: result.records };
    this.log(renderTerminal(result.rows, task.columns));
    this.log(`results: ${result.runDir}`);
    if (diverged.length) this.logToStderr(`${diverged.length} run(s) diverged; see the table and records.jsonl`);
    return undefined;
  }
}
