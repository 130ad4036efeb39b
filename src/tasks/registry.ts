import { densityTask } from './density';
import { dnaToyTask } from './dna-toy';
import { dynamicsTask } from './dynamics/task';
import { FITZHUGH_NAGUMO, LORENZ } from '../datasets/dynamics';
import { fitzhughNagumoConstraint, fitzhughNagumoConstraintTf, lorenzConstraint, lorenzConstraintTf } from '../metrics/events';
import { mixtureTask } from './gmm';
import { mnistTask } from './mnist/task';
import { pointsTask } from './points';
import { Task } from '../core/task';
import { kthTask, movingMnistTask } from './video-sets';
import {
  circles,
  EIGHT_GAUSSIANS_ENTROPY,
  eightGaussians,
  moons,
  pinwheel,
  rings,
  twoSpirals,
} from './toy2d/cnf-sets';
import { CHECKERBOARD_ENTROPY, checkerboard, Sampler2D } from './toy2d/samplers';

/** A 2D set of the CNF literature (FFJORD's toy data): FFJORD's plot range, presets in configs/toy2d.yaml. */
function toy2dTask(name: string, description: string, sample: Sampler2D, entropy?: number): Task {
  return densityTask({ name, description, sample, entropy, range: [-4, 4], presetFile: 'toy2d' });
}

const TASKS: Task[] = [
  densityTask({
    name: 'checkerboard',
    description: 'the reference 2D checkerboard (8 uniform squares); NLL floor ln(8/0.45^2) = 3.676 nats',
    sample: checkerboard,
    entropy: CHECKERBOARD_ENTROPY,
    range: [-5, 5],
  }),
  mixtureTask({
    name: 'gmm1d',
    description: '1D mixture of three narrow, well separated Gaussians (the paper\'s Figures 1-2); exact TV and its bounds',
    mixture: { weights: [0.3, 0.4, 0.3], means: [[-2], [0], [2]], stds: [0.03, 0.03, 0.03] },
    range: [-5, 5],
  }),
  mixtureTask({
    name: 'gmm2d',
    description: '2D mixture of four Gaussians of unequal weight; exact TV and its bounds',
    mixture: { weights: [0.1, 0.2, 0.3, 0.4], means: [[-1.5, -1.5], [1.5, -1.5], [-1.5, 1.5], [1.5, 1.5]], stds: [0.35, 0.35, 0.35, 0.35] },
    range: [-5, 5],
  }),
  toy2dTask('8gaussians', 'FFJORD 8 Gaussians (std 0.35 at radius 2.83); NLL floor 2.832 nats by quadrature', eightGaussians, EIGHT_GAUSSIANS_ENTROPY),
  toy2dTask('moons', 'FFJORD two moons (make_moons, noise 0.1, scaled x2)', moons),
  toy2dTask('rings', 'FFJORD four concentric rings (radii 0.75 to 3, noise 0.08)', rings),
  toy2dTask('pinwheel', 'FFJORD pinwheel (5 twisted arms)', pinwheel),
  toy2dTask('2spirals', 'FFJORD two interleaved spirals (540 degrees, noise 0.1)', twoSpirals),
  toy2dTask('circles', 'FFJORD two circles (make_circles factor 0.5, noise 0.08, scaled x3)', circles),
  dnaToyTask,
  dynamicsTask({
    system: LORENZ,
    description: 'Lorenz trajectories (60 x 3, after Finzi et al.); NLL per dimension and the event C = 0.6 - mean |rfft(x)| > 0',
    constraint: lorenzConstraint,
    differentiableConstraint: lorenzConstraintTf,
  }),
  dynamicsTask({
    system: FITZHUGH_NAGUMO,
    description: 'two coupled FitzHugh-Nagumo neurons (60 x 4, after Finzi et al.); NLL per dimension and the spike event max mean(x1, x2) > 2.5',
    constraint: fitzhughNagumoConstraint,
    differentiableConstraint: fitzhughNagumoConstraintTf,
  }),
  mnistTask,
  movingMnistTask,
  kthTask,
  pointsTask,
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
