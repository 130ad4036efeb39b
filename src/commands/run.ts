import { Args, Command, Flags } from '@oclif/core';
import { BACKEND_CHOICES, initBackend } from '../backend/backend';
import { numberList, numberValue, parseSeeds, stringList } from '../cli/parse';
import { ConfigError, resolveConfig } from '../config/load';
import { RunConfigInput } from '../config/schema';
import { renderTerminal } from '../report/render';
import { runBenchmark } from '../runner/runner';
import { getTask } from '../tasks/registry';

function definedOnly(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

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
    config: Flags.string({ description: 'YAML file with settings; flags override it' }),
    methods: Flags.string({ description: 'methods to train, e.g. cfm,fdm' }),
    lambda: Flags.string({ description: 'FDM weight lambda (list allowed)' }),
    seeds: Flags.string({ description: 'a count (3 = seeds 0,1,2) or a list (4,7)' }),
    iterations: Flags.string({ description: 'training iterations' }),
    'batch-size': Flags.string({ description: 'training batch size' }),
    hidden: Flags.string({ description: 'hidden width of the MLP' }),
    depth: Flags.string({ description: 'hidden layers of the MLP' }),
    lr: Flags.string({ description: 'Adam learning rate' }),
    path: Flags.string({ description: 'probability path: condot, vp, cosine (list allowed)' }),
    'div-estimator': Flags.string({ description: 'divergence of v in the FDM loss: exact, hutchinson (list allowed)' }),
    probes: Flags.string({ description: 'Hutchinson probes per sample (list allowed)' }),
    'probe-dist': Flags.string({ description: 'Hutchinson probe distribution: rademacher, gaussian' }),
    'probe-dots': Flags.string({ description: "Hutchinson dot products: exact, or probe (the reference's single-probe form)" }),
    'stop-grad': Flags.boolean({ allowNo: true, description: 'detach v inside (v - u) . s (default on; --no-stop-grad turns it off)' }),
    'fdm-variant': Flags.string({ description: 'paper, or reference (the 2D reference code with its extra terms)' }),
    solver: Flags.string({ description: 'ODE solver for NLL and sampling: euler, midpoint, rk4, dopri5' }),
    'eval-steps': Flags.string({ description: 'fixed solver steps for NLL and sampling' }),
    'nll-samples': Flags.string({ description: 'held-out points whose NLL is computed' }),
    backend: Flags.string({ options: [...BACKEND_CHOICES], description: 'tfjs backend (auto picks GPU > native > wasm > cpu)' }),
    out: Flags.string({ default: 'results', description: 'root directory for results' }),
    'log-every': Flags.string({ description: 'progress line every N iterations (0: none)' }),
    quiet: Flags.boolean({ char: 'q', description: 'no progress output' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Run);
    const json = this.jsonEnabled();
    const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(line + '\n');
    let task, config;
    try {
      task = getTask(args.task);
      config = resolveConfig({ task: task.name, preset: flags.preset, configFile: flags.config, overrides: this.overrides(flags) });
    } catch (err) {
      if (err instanceof ConfigError || err instanceof Error) this.error(err.message, { exit: 2 });
      throw err;
    }
    const backend = await initBackend(config.backend);
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

  private overrides(flags: Record<string, string | boolean | undefined>): RunConfigInput {
    const str = (name: string) => flags[name] as string | undefined;
    const evalOverrides = definedOnly({
      solver: str('solver'),
      steps: numberValue(str('eval-steps')),
      nllSamples: numberValue(str('nll-samples')),
    });
    return definedOnly({
      methods: stringList(str('methods')),
      lambda: numberList(str('lambda')),
      seeds: parseSeeds(str('seeds')),
      iterations: numberValue(str('iterations')),
      batchSize: numberValue(str('batch-size')),
      hidden: numberValue(str('hidden')),
      depth: numberValue(str('depth')),
      lr: numberValue(str('lr')),
      path: stringList(str('path')),
      divEstimator: stringList(str('div-estimator')),
      probes: numberList(str('probes')),
      probeDist: str('probe-dist'),
      probeDots: stringList(str('probe-dots')),
      stopGrad: flags['stop-grad'] as boolean | undefined,
      fdmVariant: stringList(str('fdm-variant')),
      backend: str('backend'),
      logEvery: numberValue(str('log-every')),
      eval: Object.keys(evalOverrides).length ? evalOverrides : undefined,
    }) as RunConfigInput;
  }
}
