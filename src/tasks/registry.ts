import { density2DTask } from './density2d';
import { Task } from './task';
import { CHECKERBOARD_ENTROPY, checkerboard } from './toy2d/samplers';

const TASKS: Task[] = [
  density2DTask({
    name: 'checkerboard',
    description: 'the reference 2D checkerboard (8 uniform squares); NLL floor ln(8/0.45^2) = 3.676 nats',
    sample: checkerboard,
    entropy: CHECKERBOARD_ENTROPY,
    range: [-5, 5],
  }),
];

export function listTasks(): Task[] {
  return TASKS;
}

/** The task of that name, or an error that lists the valid names. */
export function getTask(name: string): Task {
  const task = TASKS.find((t) => t.name === name);
  if (!task) {
    throw new Error(`unknown task '${name}'; valid tasks: ${TASKS.map((t) => t.name).join(', ')}`);
  }
  return task;
}
