import { Command } from '@oclif/core';
import { taskPresets } from '../cli/load-config';
import { DivEstimator, ESTIMATOR_FACTS } from '../losses/divergence';
import { listTasks } from '../tasks/registry';

/** `key=value` pairs of a preset on one line, nested settings as `eval.steps=40`. */
function settingsLine(settings: Record<string, unknown>, prefix = ''): string {
  return Object.entries(settings)
    .map(([key, value]) =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? settingsLine(value as Record<string, unknown>, `${prefix}${key}.`)
        : `${prefix}${key}=${Array.isArray(value) ? value.join(',') : String(value)}`,
    )
    .join(' ');
}

export default class List extends Command {
  static summary = 'List the tasks, with their presets and settings, and the estimators of the FDM term.';
  static enableJsonFlag = true;

  async run(): Promise<unknown> {
    const tasks = listTasks().map((task) => ({ name: task.name, description: task.description, presets: taskPresets(task.name) }));
    for (const task of tasks) {
      this.log(`${task.name}: ${task.description}`);
      for (const [preset, settings] of Object.entries(task.presets)) this.log(`  ${preset}: ${settingsLine(settings)}`);
    }
    // Which estimators' expected loss is E[(w r)^2] (unbiased), which keep the true field a
    // stationary point (consistent) and which do neither (biased).
    const estimators = (Object.keys(ESTIMATOR_FACTS) as DivEstimator[]).map((name) => ({ name, ...ESTIMATOR_FACTS[name] }));
    this.log('\nestimators of the FDM term (--div-estimator):');
    for (const e of estimators) this.log(`  ${e.name} [${e.bias}; probes: default ${e.defaultProbes}, at least ${e.minProbes}]: ${e.summary}`);
    return { tasks, estimators };
  }
}
