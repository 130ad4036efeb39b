import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../results/environment';
import { runFiles } from '../results/run-dir';
import { getTask } from '../tasks/registry';
import { describeIssues, RunConfig, RunConfigInput, withTaskSection } from '../config/schema';

export const CONFIG_DIR = path.join(PACKAGE_ROOT, 'configs');

/** A configuration mistake: the message names the file or flag, the field and what is allowed. */
export class ConfigError extends Error {}

const presetFileSchema = z
  .object({
    description: z.string().optional(),
    presets: z.record(z.string(), z.record(z.string(), z.unknown())),
  })
  .strict();

type PlainObject = Record<string, unknown>;

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError ? ` (line ${err.linePos?.[0].line})` : '';
    throw new ConfigError(`config file ${file} is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * The presets of a task: configs/<presetFile>.yaml, where tasks of one family (the 2D sets) may
 * share a file, and a task without one has configs/<task>.yaml.
 */
export function taskPresets(task: string): Record<string, PlainObject> {
  const file = path.join(CONFIG_DIR, `${getTask(task).presetFile ?? task}.yaml`);
  const parsed = presetFileSchema.safeParse(readYaml(file));
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, file));
  return parsed.data.presets;
}

function presetValues(task: string, preset: string): PlainObject {
  const presets = taskPresets(task);
  if (!(preset in presets)) {
    throw new ConfigError(`unknown preset '${preset}' for task '${task}'; valid presets: ${Object.keys(presets).join(', ')}`);
  }
  return presets[preset];
}

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Later layers override earlier ones; nested objects (eval) merge key by key. */
export function mergeLayers(...layers: PlainObject[]): PlainObject {
  const out: PlainObject = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeLayers(out[key] as PlainObject, value) : value;
    }
  }
  return out;
}

export interface ConfigSources {
  task: string;
  preset: string;
  /** A YAML file with settings (the same keys as a preset). */
  configFile?: string;
  /** Settings from command-line flags. */
  overrides: RunConfigInput;
}

/** Preset, then --config file, then flags, validated against the one schema. */
export function resolveConfig(sources: ConfigSources): RunConfig {
  const layers: PlainObject[] = [presetValues(sources.task, sources.preset)];
  if (sources.configFile) {
    const fromFile = readYaml(sources.configFile) ?? {};
    if (!isPlainObject(fromFile)) throw new ConfigError(`config file ${sources.configFile} must hold a mapping of settings`);
    layers.push(fromFile);
  }
  layers.push(sources.overrides as PlainObject);
  const parsed = withTaskSection(getTask(sources.task).section).safeParse(mergeLayers(...layers));
  const source = [`preset '${sources.preset}'`, sources.configFile, 'flags'].filter(Boolean).join(' + ');
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, source));
  checkAgainstTask(sources.task, parsed.data, source);
  return parsed.data;
}

/** Settings valid in general but not for this task: a path it does not train on, K off the simplex, ... */
function checkAgainstTask(taskName: string, config: RunConfig, source: string): void {
  const task = getTask(taskName);
  const problems = config.path
    .filter((p) => !task.paths.includes(p))
    .map((p) => `path: '${p}' is not a path of task '${task.name}'; valid paths: ${task.paths.join(', ')}`);
  const protocol = config.eval.protocol;
  if (protocol !== 'exact' && !task.evalProtocols?.includes(protocol)) {
    problems.push(`eval.protocol: task '${task.name}' has no '${protocol}' protocol (it evaluates a density task's log-likelihood; this task's: exact${(task.evalProtocols ?? []).map((p) => `, ${p}`).join('')})`);
  }
  problems.push(...(task.checkConfig?.(config) ?? []));
  if (problems.length) throw new ConfigError(`invalid configuration (${source}) for task '${task.name}':\n${problems.map((p) => `  ${p}`).join('\n')}`);
}

/** What a run directory's config.yaml holds: the task, the preset it started from and every setting. */
export interface RunDirConfig {
  task: string;
  preset: string;
  config: RunConfig;
}

/** Reads and validates a run directory's config.yaml (for --resume and `sample`); mistakes name the file. */
export function loadRunConfig(dir: string): RunDirConfig {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`run directory ${dir} does not exist`);
  const file = runFiles(dir).config;
  const values = readYaml(file);
  if (!isPlainObject(values)) throw new ConfigError(`config file ${file} must hold a mapping of settings`);
  const { task, preset, ...settings } = values;
  if (typeof task !== 'string') throw new ConfigError(`config file ${file} names no task (a 'task:' line)`);
  const parsed = withTaskSection(getTask(task).section).safeParse(settings);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, file));
  checkAgainstTask(task, parsed.data, file);
  return { task, preset: typeof preset === 'string' ? preset : 'unknown', config: parsed.data };
}
