import { Command, Flags } from '@oclif/core';
import { BACKEND_CHOICES, BackendChoice, BackendInfo, initBackend } from '../backend/backend';
import { loadRunConfig, resolveConfig } from './load-config';
import { EVAL_PROTOCOLS, LR_SCHEDULES, RunConfig, RunConfigInput } from '../config/schema';
import { getTask, listTasks } from '../tasks/registry';
import { Task } from '../core/task';
import { CDM_WEIGHTS, DIV_ESTIMATORS, PROBE_DISTRIBUTIONS } from '../losses/divergence';
import { FDM_VARIANTS, METHODS } from '../losses/flow-loss';
import { GAUSSIAN_PATHS } from '../paths/affine';
import { SIMPLEX_PATHS } from '../paths/simplex';
import { TIME_SAMPLINGS } from '../paths/time-sampling';
import { SOLVERS } from '../solvers/ode';
import { booleanList, numberList, numberValue, parseSeeds, stringList } from './parse';

/** The flags that set the shared settings. */
const sharedFlags = {
  config: Flags.string({ description: 'YAML file with settings; flags override it' }),
  methods: Flags.string({ description: `methods to train: ${METHODS.join(', ')} (list allowed)` }),
  lambda: Flags.string({ description: 'FDM weight lambda (list allowed)' }),
  seeds: Flags.string({ description: 'a count (3 = seeds 0,1,2) or a list (4,7)' }),
  iterations: Flags.string({ description: 'training iterations' }),
  'batch-size': Flags.string({ description: 'training batch size' }),
  hidden: Flags.string({ description: 'hidden width: MLP units, or channels of the DNA CNN and the video conv field' }),
  depth: Flags.string({ description: 'depth: MLP hidden layers, or residual blocks of the DNA CNN and the video conv field' }),
  lr: Flags.string({ description: 'Adam learning rate' }),
  'lr-schedule': Flags.string({ description: `learning-rate schedule: ${LR_SCHEDULES.join(', ')}` }),
  path: Flags.string({ description: `probability path: ${GAUSSIAN_PATHS.join(', ')}; ${SIMPLEX_PATHS.join(', ')} on the simplex (list allowed)` }),
  'div-estimator': Flags.string({
    description: `estimator of the FDM term: ${DIV_ESTIMATORS.join(', ')} (list allowed; \`fdm-bench list\` says which are unbiased)`,
  }),
  probes: Flags.string({ description: 'Hutchinson probes per sample (list allowed; default 2 for hutchinson-unbiased, else 1)' }),
  'probe-dist': Flags.string({ options: [...PROBE_DISTRIBUTIONS], description: 'Hutchinson probe distribution' }),
  'cdm-weight': Flags.string({ description: `weight w_t of the divergence residual: ${CDM_WEIGHTS.join(', ')} (path: sigma_t on Gaussian paths; list allowed)` }),
  'time-sampling': Flags.string({ description: `training times: ${TIME_SAMPLINGS.join(', ')} (late: denser towards t = 1, importance-weighted; list allowed)` }),
  'stop-grad': Flags.string({ description: 'detach v inside (v - u) . s: true (default), false, or both: true,false' }),
  'no-stop-grad': Flags.boolean({ description: 'the same as --stop-grad false', exclusive: ['stop-grad'] }),
  'fdm-variant': Flags.string({ description: `${FDM_VARIANTS.join(', ')} (reference: the 2D reference code with its extra terms; list allowed)` }),
  solver: Flags.string({ options: [...SOLVERS], description: 'ODE solver for NLL and sampling' }),
  'eval-steps': Flags.string({ description: 'fixed solver steps for NLL and sampling' }),
  'nll-samples': Flags.string({ description: 'held-out points whose NLL is computed' }),
  'eval-protocol': Flags.string({
    options: [...EVAL_PROTOCOLS],
    description: "likelihood protocol: exact, or reference (also the reference code's, evaluated during training, best kept; density tasks)",
  }),
  'reference-every': Flags.string({ description: 'training iterations between in-training reference evaluations (default 200, the reference\'s)' }),
  backend: Flags.string({ options: [...BACKEND_CHOICES], description: 'tfjs backend (auto picks tensorflow-gpu > webgpu on a hardware adapter > tensorflow > wasm > cpu)' }),
  'log-every': Flags.string({ description: 'progress line every N iterations (0: none)' }),
  'checkpoint-every': Flags.string({ description: 'checkpoint every N iterations for --resume after a crash (0: only on Ctrl-C/SIGTERM)' }),
};

/** A plain string-valued flag, as every flag of the configuration is. */
const stringFlag = (description: string) => Flags.string({ description });

/** The flags the tasks' own sections declare (e.g. points' --data), naming their tasks in --help. */
function sectionFlags(): Record<string, ReturnType<typeof stringFlag>> {
  const byName = new Map<string, { description: string; tasks: string[] }>();
  for (const task of listTasks()) {
    for (const [name, flag] of Object.entries(task.section?.flags ?? {})) {
      const entry = byName.get(name) ?? { description: flag.description, tasks: [] };
      entry.tasks.push(task.name);
      byName.set(name, entry);
    }
  }
  return Object.fromEntries([...byName].map(([name, { description, tasks }]) => [name, stringFlag(`${description} (task ${tasks.join(', ')})`)]));
}

const taskFlags = sectionFlags();

/** The flags that set configuration values, shared by `run`, `bench` and `estimators`. */
export const configFlags = { ...sharedFlags, ...taskFlags };

type ConfigFlagValues = { [name: string]: string | boolean | undefined };

/** The values of the task's own section given by flags; a flag of another task's section is a mistake. */
function sectionOverrides(flags: ConfigFlagValues, task: Task): Record<string, Record<string, string | number | number[]>> {
  const own = task.section?.flags ?? {};
  const values: Record<string, string | number | number[]> = {};
  for (const name of Object.keys(taskFlags)) {
    const given = flags[name];
    if (typeof given !== 'string') continue;
    const flag = own[name];
    if (!flag) throw new Error(`--${name} is not a setting of task '${task.name}'`);
    values[flag.key] = flag.type === 'number' ? numberValue(given)! : flag.type === 'numberList' ? numberList(given)! : given;
  }
  return Object.keys(values).length ? { [task.section!.key]: values } : {};
}

function definedOnly(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/** The configuration values given by flags (absent flags leave the preset's values alone). */
export function configOverrides(flags: ConfigFlagValues, task?: Task): RunConfigInput {
  const str = (name: keyof ConfigFlagValues) => flags[name] as string | undefined;
  const evalOverrides = definedOnly({
    solver: str('solver'),
    steps: numberValue(str('eval-steps')),
    nllSamples: numberValue(str('nll-samples')),
    protocol: str('eval-protocol'),
    referenceEvery: numberValue(str('reference-every')),
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
    lrSchedule: str('lr-schedule'),
    path: stringList(str('path')),
    divEstimator: stringList(str('div-estimator')),
    probes: numberList(str('probes')),
    probeDist: str('probe-dist'),
    cdmWeight: stringList(str('cdm-weight')),
    timeSampling: stringList(str('time-sampling')),
    stopGrad: flags['no-stop-grad'] ? [false] : booleanList(str('stop-grad')),
    fdmVariant: stringList(str('fdm-variant')),
    backend: str('backend'),
    logEvery: numberValue(str('log-every')),
    checkpointEvery: numberValue(str('checkpoint-every')),
    eval: Object.keys(evalOverrides).length ? evalOverrides : undefined,
    ...(task ? sectionOverrides(flags, task) : {}),
  }) as RunConfigInput;
}

export interface StartedTask {
  task: Task;
  preset: string;
  config: RunConfig;
  backend: BackendInfo;
}

/** Runs the setup steps of a command; any mistake ends it with a clear message and exit code 2. */
export async function exitOnMistake<T>(command: Command, setup: () => Promise<T>): Promise<T> {
  try {
    return await setup();
  } catch (err) {
    command.error((err as Error).message, { exit: 2 });
  }
}

/** WebAssembly's address space: the wasm backend's tensors all live in one heap of at most 4 GiB. */
const WASM_HEAP_BYTES = 4 * 2 ** 30;

/**
 * Refuses a batch that cannot fit the wasm backend's heap, before anything runs (past it, the
 * backend traps mid-step, or the process thrashes its memory instead of ending). The estimate is a
 * lower bound, so nothing that fits is refused: every model here keeps at least a pre- and a
 * post-activation of `hidden` floats per layer and sample for the backward pass.
 */
function refuseWhatCannotFit(config: RunConfig, backend: BackendInfo): void {
  if (backend.name !== 'wasm') return;
  const bytes = config.batchSize * config.hidden * config.depth * 2 * 4;
  if (bytes <= WASM_HEAP_BYTES) return;
  const gib = (bytes / 2 ** 30).toFixed(1);
  throw new Error(
    `batchSize ${config.batchSize}: a training step needs at least ${gib} GiB (batch x hidden x depth x 2 floats), ` +
      `more than the wasm backend's 4 GiB heap; lower --batch-size (or --hidden, --depth)`,
  );
}

/**
 * The task named on the command line, its configuration (preset, --config, flags) and the started
 * backend. Any mistake ends the command with a clear message and exit code 2, before anything runs.
 */
export function startTask(command: Command, taskName: string, preset: string, flags: ConfigFlagValues): Promise<StartedTask> {
  return exitOnMistake(command, async () => {
    const task = getTask(taskName);
    const config = resolveConfig({ task: task.name, preset, configFile: flags.config as string | undefined, overrides: configOverrides(flags, task) });
    const backend = await initBackend(config.backend);
    refuseWhatCannotFit(config, backend);
    return { task, preset, config, backend };
  });
}

/**
 * The task and configuration a run directory was started with (its config.yaml) and the started
 * backend (its own, unless overridden), for --resume and `sample`; a given task name must match.
 * Mistakes exit with code 2.
 */
export function reopenTask(command: Command, runDir: string, expect: { task?: string; backend?: BackendChoice } = {}): Promise<StartedTask> {
  return exitOnMistake(command, async () => {
    const saved = loadRunConfig(runDir);
    if (expect.task !== undefined && expect.task !== saved.task) throw new Error(`${runDir} is a run of task '${saved.task}', not '${expect.task}'`);
    const backend = await initBackend(expect.backend ?? saved.config.backend);
    return { task: getTask(saved.task), preset: saved.preset, config: saved.config, backend };
  });
}
