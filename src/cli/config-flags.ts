import { Command, Flags } from '@oclif/core';
import { BACKEND_CHOICES, BackendInfo, initBackend } from '../backend/backend';
import { resolveConfig } from '../config/load';
import { RunConfig, RunConfigInput } from '../config/schema';
import { getTask } from '../tasks/registry';
import { Task } from '../tasks/task';
import { numberList, numberValue, parseSeeds, stringList } from './parse';

/** The flags that set configuration values, shared by `run` and `bench`. */
export const configFlags = {
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
  'log-every': Flags.string({ description: 'progress line every N iterations (0: none)' }),
};

type ConfigFlagValues = { [K in keyof typeof configFlags]?: string | boolean };

function definedOnly(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/** The configuration values given by flags (absent flags leave the preset's values alone). */
export function configOverrides(flags: ConfigFlagValues): RunConfigInput {
  const str = (name: keyof ConfigFlagValues) => flags[name] as string | undefined;
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

/**
 * The task named on the command line, its configuration (preset, --config, flags) and the started
 * backend. Any mistake ends the command with a clear message and exit code 2, before anything runs.
 */
export async function startTask(
  command: Command,
  taskName: string,
  preset: string,
  flags: ConfigFlagValues,
): Promise<{ task: Task; config: RunConfig; backend: BackendInfo }> {
  try {
    const task = getTask(taskName);
    const config = resolveConfig({ task: task.name, preset, configFile: flags.config as string | undefined, overrides: configOverrides(flags) });
    return { task, config, backend: await initBackend(config.backend) };
  } catch (err) {
    command.error((err as Error).message, { exit: 2 });
  }
}
