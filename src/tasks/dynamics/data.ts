import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DynamicalSystem, generateTrajectories, trajectoryLength } from '../../datasets/dynamics';
import { Rng } from '../../random/rng';
import { writeFileAtomic } from '../../results/store';
import { readSavedFile } from '../../training/checkpoint';
import { decodeValues, encodedTensorSchema, encodeValues } from '../../training/state';
import { PrepareContext } from '../../core/task';
import { DynamicsSettings } from './settings';

/** A seed's trajectories [n, length, stateDim]: training, held-out, and a second held-out set for the sampling floor. */
export interface TrajectorySets {
  train: Float32Array;
  test: Float32Array;
  reference: Float32Array;
}

const FILE_KIND = 'fdm-bench trajectories';
const SPLITS = ['train', 'test', 'reference'] as const;

const savedSchema = z.object({
  kind: z.literal(FILE_KIND),
  schema: z.literal(1),
  system: z.string(),
  seed: z.number().int(),
  train: encodedTensorSchema,
  test: encodedTensorSchema,
  reference: encodedTensorSchema,
});

/** What shapes a seed's trajectory sets. */
export type TrajectoryCounts = Pick<DynamicsSettings, 'trainTrajectories' | 'testTrajectories'>;

function counts(settings: TrajectoryCounts): Record<(typeof SPLITS)[number], number> {
  return { train: settings.trainTrajectories, test: settings.testTrajectories, reference: settings.testTrajectories };
}

/** The file a run directory caches a seed's trajectories in, named by everything that shapes them. */
export function trajectoriesFile(dir: string, system: DynamicalSystem, settings: TrajectoryCounts, seed: number): string {
  return path.join(dir, 'trajectories', `${system.name}-train-${settings.trainTrajectories}-test-${settings.testTrajectories}-seed-${seed}.json`);
}

/**
 * A seed's trajectories, each split from a stream of its own (so that more training trajectories do
 * not change the held-out ones), generated once and cached in the run directory: CFM and FDM of a
 * seed, a resumed run and `sample` read the same ones.
 */
export function prepareTrajectories(system: DynamicalSystem, settings: TrajectoryCounts, seed: number, context: PrepareContext): TrajectorySets {
  const file = context.dir === null ? null : trajectoriesFile(context.dir, system, settings, seed);
  const shape = (count: number) => [count, trajectoryLength(system), system.stateDim];
  if (file !== null && fs.existsSync(file)) {
    const saved = readSavedFile(file, 'trajectories', savedSchema);
    const sets = Object.fromEntries(SPLITS.map((split) => [split, decodeValues(saved[split])])) as unknown as TrajectorySets;
    const wrong = SPLITS.find((split) => saved[split].shape.join() !== shape(counts(settings)[split]).join());
    if (saved.system !== system.name || saved.seed !== seed || wrong) throw new Error(`trajectories file ${file} holds other trajectories (${saved.system}, seed ${saved.seed})`);
    context.log(`${system.name}: trajectories loaded from ${file}`);
    return sets;
  }
  const started = performance.now();
  const rng = new Rng(`${system.name}/seed-${seed}/trajectories`);
  const sets = Object.fromEntries(SPLITS.map((split) => [split, generateTrajectories(system, counts(settings)[split], rng.fork(split))])) as unknown as TrajectorySets;
  context.log(`${system.name}: ${SPLITS.map((split) => `${counts(settings)[split]} ${split}`).join(', ')} trajectories generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (file !== null) {
    const saved = { kind: FILE_KIND, schema: 1, system: system.name, seed, ...Object.fromEntries(SPLITS.map((split) => [split, encodeValues(sets[split], shape(counts(settings)[split]))])) };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, JSON.stringify(saved));
  }
  return sets;
}
