import { Command } from '@oclif/core';
import { stringify as stringifyYaml } from 'yaml';
import { taskPresets } from '../config/load';
import { listTasks } from '../tasks/registry';

export default class List extends Command {
  static summary = 'List the tasks, with their presets and settings.';
  static enableJsonFlag = true;

  async run(): Promise<unknown> {
    const tasks = listTasks().map((task) => ({ name: task.name, description: task.description, presets: taskPresets(task.name) }));
    for (const task of tasks) {
      this.log(`${task.name}: ${task.description}`);
      for (const [preset, settings] of Object.entries(task.presets)) {
        this.log(`  preset ${preset}:`);
        this.log(stringifyYaml(settings).trimEnd().replace(/^/gm, '    '));
      }
    }
    return { tasks };
  }
}
