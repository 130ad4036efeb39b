import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigSection, RunConfig } from '../config/schema';
import { Task } from '../core/task';
import { PointsFileError, readPointsFile } from '../datasets/points-file';
import { AFFINE_PATHS } from '../paths/affine';
import { Rng } from '../random/rng';
import { PACKAGE_ROOT } from '../results/environment';
import { writeDensityFigure } from '../report/figures/density';
import { DENSITY_EVAL_PROTOCOLS, densityColumns, densityTask, DensityDefinition } from './density';
import { rowSampler, shuffled } from './rows';

/** The largest dimension the task takes: the MLP and the sample metrics are sized for low dimensions. */
const MAX_DIM = 64;
/** Fewest rows on each side of the split. */
const MIN_ROWS = 10;

const pointsSchema = z
  .object({
    /** A .csv or .npy file of points, one per row; a relative path is looked up from the working directory, then from the package (its examples/). */
    data: z.string().min(1).optional(),
    /** Fraction of the rows held out for the NLL and the sample metrics (the split is fixed: every seed and method sees the same). */
    testFraction: z.number().gt(0).lt(1).default(0.2),
    /** Standardise every coordinate by the training rows' mean and sd; the NLL is reported in the data's units all the same. */
    standardise: z.boolean().default(true),
  })
  .strict();

type PointsSettings = z.output<typeof pointsSchema>;

const POINTS_SECTION: ConfigSection = {
  key: 'points',
  schema: pointsSchema,
  flags: { data: { key: 'data', description: 'a .csv or .npy file of points, one per row', type: 'string' } },
};

function pointsOf(config: RunConfig): PointsSettings {
  return config.points as PointsSettings;
}

/** The data file as given, or the package's copy of it (the examples). */
function resolveDataFile(file: string): string {
  if (path.isAbsolute(file) || fs.existsSync(file)) return file;
  const packaged = path.join(PACKAGE_ROOT, file);
  return fs.existsSync(packaged) ? packaged : file;
}

/** The rows split into training and held-out, standardised by the training rows. */
interface PreparedPoints {
  dim: number;
  train: Float32Array;
  test: Float32Array;
  /** sum_j log sd_j: the standardisation's log-Jacobian, added back to the NLL. */
  logScale: number;
}

const prepared = new Map<string, PreparedPoints>();

function prepare(settings: PointsSettings): PreparedPoints {
  const key = JSON.stringify(settings);
  const known = prepared.get(key);
  if (known) return known;
  const table = readPointsFile(resolveDataFile(settings.data!));
  const { rows, dim, values } = table;
  if (dim > MAX_DIM) throw new PointsFileError(`${settings.data}: ${dim} columns; the points task takes up to ${MAX_DIM} dimensions`);
  const testRows = Math.round(rows * settings.testFraction);
  if (testRows < MIN_ROWS || rows - testRows < MIN_ROWS) {
    throw new PointsFileError(`${settings.data}: ${rows} rows split ${rows - testRows}/${testRows}; each side needs at least ${MIN_ROWS}`);
  }
  const order = shuffled(rows, new Rng('points/split'));
  const trainIndex = order.slice(testRows);
  const mean = new Float64Array(dim);
  const sd = new Float64Array(dim).fill(1);
  if (settings.standardise) {
    for (const r of trainIndex) for (let j = 0; j < dim; j++) mean[j] += values[r * dim + j] / trainIndex.length;
    for (let j = 0; j < dim; j++) {
      const variance = trainIndex.reduce((acc, r) => acc + (values[r * dim + j] - mean[j]) ** 2, 0) / (trainIndex.length - 1);
      // A constant column keeps its scale: dividing by 0 would make every value infinite.
      sd[j] = variance > 0 ? Math.sqrt(variance) : 1;
    }
  }
  const gather = (indices: number[]) => {
    const out = new Float32Array(indices.length * dim);
    indices.forEach((r, i) => {
      for (let j = 0; j < dim; j++) out[i * dim + j] = (values[r * dim + j] - mean[j]) / sd[j];
    });
    return out;
  };
  const result = { dim, train: gather(trainIndex), test: gather(order.slice(0, testRows)), logScale: sd.reduce((a, s) => a + Math.log(s), 0) };
  prepared.set(key, result);
  return result;
}

/** The first two coordinates of flat rows of `dim` values. */
function firstTwo(points: Float32Array, dim: number): Float32Array {
  const n = points.length / dim;
  return Float32Array.from({ length: 2 * n }, (_, i) => points[Math.floor(i / 2) * dim + (i % 2)]);
}

function definitionFor(config: RunConfig): DensityDefinition {
  const data = prepare(pointsOf(config));
  return {
    name: 'points',
    description: DESCRIPTION,
    dim: data.dim,
    sample: rowSampler(data.train, data.dim, true),
    heldOut: rowSampler(data.test, data.dim, false),
    nllOffset: data.logScale,
    range: [-4, 4],
    writeFigure: async (file, panels) => {
      if (data.dim < 2) return;
      const truth = { label: 'held-out data', points: firstTwo(data.test, data.dim) };
      const shown = panels.map((p) => ({ label: p.label, points: firstTwo(p.points, data.dim) }));
      await writeDensityFigure(file, [truth, ...shown], { range: [-4, 4], title: 'points: first two coordinates, standardised', axes: ['coordinate 1 (standardised)', 'coordinate 2 (standardised)'] });
    },
  };
}

/** What is wrong with the data of a configuration, before anything runs. */
function dataProblems(config: RunConfig): string[] {
  const settings = pointsOf(config);
  if (!settings.data) return ['points.data: give the data, a .csv or .npy file of points one per row: --data file.csv'];
  try {
    prepare(settings);
    return [];
  } catch (err) {
    if (err instanceof PointsFileError) return [`points.data: ${err.message}`];
    throw err;
  }
}

const DESCRIPTION = 'your own points (a .csv or .npy file, one per row, up to 64 dimensions): NLL and sample metrics on held-out rows';

/**
 * CFM against FDM on the user's data: a density task whose data, split and standardisation come
 * from the configuration's `points:` section (`--data file`).
 */
export const pointsTask: Task = {
  name: 'points',
  description: DESCRIPTION,
  paths: AFFINE_PATHS,
  section: POINTS_SECTION,
  columns: densityColumns({}),
  evalProtocols: DENSITY_EVAL_PROTOCOLS,
  facts: {},
  checkConfig: dataProblems,
  recordedSettings: (config) => {
    const settings = pointsOf(config);
    const data = prepare(settings);
    return { 'points.data': settings.data!, 'points.testFraction': settings.testFraction, 'points.standardise': settings.standardise, 'points.dim': data.dim, 'points.logScale': data.logScale };
  },
  createExperiment: (config, spec, rng) => densityTask(definitionFor(config)).createExperiment(config, spec, rng),
  writeFigure: (file, panels, rng, config) => densityTask(definitionFor(config)).writeFigure!(file, panels, rng, config),
};
