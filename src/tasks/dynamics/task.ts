import * as path from 'node:path';
import { standardDeviation } from 'simple-statistics';
import { RunConfig } from '../../config/schema';
import { ColumnSpec } from '../../core/columns';
import { PrepareContext, RunSpec, Task } from '../../core/task';
import { DynamicalSystem, trajectoryLength } from '../../datasets/dynamics';
import { compareEvents, constraintValues, TrajectoryStatistic, TrajectoryView } from '../../metrics/events';
import { VelocityModel } from '../../models/model';
import { PreconditionedField } from '../../models/preconditioned';
import { Unet1d } from '../../models/unet1d';
import { affinePathName, affineSchedule, GAUSSIAN_PATHS, veScales } from '../../paths/affine';
import { Rng } from '../../random/rng';
import { Curve, writeLineFigure } from '../../report/figures/lines';
import { densityColumns, densityTask, DensityDefinition, evaluationSolver } from '../density';
import { rowSampler } from '../rows';
import { ConditioningContext, continuationErrors, DataEvents, eventConditioned } from './conditioning';
import { hutchinsonAgainstExact } from '../../metrics/hutchinson-nll';
import { prepareTrajectories, TrajectorySets } from './data';
import { DYNAMICS_SECTION, dynamicsOf } from './settings';

/** A system of the family and the event its table measures (Finzi et al.'s constraint C; an event is C > 0). */
export interface DynamicsTaskDefinition {
  system: DynamicalSystem;
  description: string;
  constraint: (trajectory: TrajectoryView) => number;
  /** The same C as a differentiable function of a batch, for event-conditioned sampling. */
  differentiableConstraint: TrajectoryStatistic;
}

/** Probes per point with which CFM watches the divergence term in 180+ dimensions (d exact tangent passes would cost more than the step). */
const WATCH_PROBES = 2;
/** Histogram bins of C, as the authors' event histograms. */
const EVENT_BINS = 128;
/** Trajectories drawn in the figure, per panel. */
const FIGURE_TRAJECTORIES = 4;

const EVENT_COLUMNS: ColumnSpec[] = [
  { key: 'nllPerDim', header: 'NLL/dim (nats)', digits: 4, showStd: true, better: 'lower' },
  { key: 'eventTv', header: 'event TV', digits: 4, showStd: true, better: 'lower' },
  { key: 'eventTvFloor', header: 'TV floor (data)', digits: 4, showStd: false },
  { key: 'eventKl', header: 'event KL', digits: 4, showStd: true, better: 'lower' },
  { key: 'eventRate', header: 'P(event)', digits: 4, showStd: true },
  { key: 'eventRateData', header: 'P(event) data', digits: 4, showStd: false },
  { key: 'conditionedEventTv', header: 'event TV | guided', digits: 4, showStd: true, better: 'lower' },
  { key: 'conditionedEventRate', header: 'P(event) | guided', digits: 4, showStd: true, better: 'higher' },
  { key: 'continuationError', header: 'continuation err.', digits: 4, showStd: true, better: 'lower' },
];

/**
 * The U-Net over the time axis (models/unet1d.ts): `hidden` base channels, `depth` levels with
 * channels doubling per level (32/64/128 at the authors' size: hidden 32, depth 3).
 */
function unetFor(system: DynamicalSystem, config: RunConfig, rng: Rng): Unet1d {
  const multipliers = Array.from({ length: config.depth }, (_, level) => 2 ** level);
  const groups = Math.min(8, config.hidden);
  return new Unet1d({ length: trajectoryLength(system), channels: system.stateDim, base: config.hidden, multipliers, groups, blocksPerLevel: 1, timeEmbedding: 32 }, rng);
}

/**
 * The U-Net as the field, on the VE path preconditioned as the authors' VE runs are (inputs and
 * outputs of unit scale at every t, the loss weighted by 1/sigma_t'^2), with the training
 * trajectories' standard deviation as the data's scale.
 */
function fieldFor(system: DynamicalSystem, config: RunConfig, spec: RunSpec, train: Float32Array, rng: Rng): VelocityModel {
  const unet = unetFor(system, config, rng);
  return spec.path === 've' ? new PreconditionedField(unet, veScales(standardDeviation(Array.from(train)))) : unet;
}

/** The first coordinate of a few trajectories over time, for the figure. */
function firstCoordinateCurves(label: string, values: Float32Array, system: DynamicalSystem): Curve[] {
  const length = trajectoryLength(system);
  const size = length * system.stateDim;
  const count = Math.min(FIGURE_TRAJECTORIES, values.length / size);
  const times = Array.from({ length }, (_, t) => (system.burnIn + t) * system.dt);
  return Array.from({ length: count }, (_, i) => ({
    label,
    xs: times,
    ys: Array.from({ length }, (_, t) => values[i * size + t * system.stateDim]),
  }));
}

/** Bins of the figure's histograms of C (coarser than the metric's 128, for a readable plot). */
const FIGURE_HISTOGRAM_BINS = 32;

/** The event figure beside a run's trajectory figure. */
export function eventsFigureFile(trajectoryFigure: string): string {
  return trajectoryFigure.replace(/\.png$/, '-events.png');
}

/** The continuation-error figure beside a run's trajectory figure. */
export function continuationFigureFile(trajectoryFigure: string): string {
  return trajectoryFigure.replace(/\.png$/, '-continuation.png');
}

/** The density of values over equal bins spanning the data's range, as a curve through the bin centres (values outside are left out). */
function histogramCurve(label: string, values: number[], data: number[]): Curve {
  const low = Math.min(...data), high = Math.max(...data);
  const width = (high - low) / FIGURE_HISTOGRAM_BINS || 1;
  const counts = new Array<number>(FIGURE_HISTOGRAM_BINS).fill(0);
  for (const v of values) if (v >= low && v <= high) counts[Math.min(FIGURE_HISTOGRAM_BINS - 1, Math.floor((v - low) / width))]++;
  return { label, xs: counts.map((_, b) => low + (b + 0.5) * width), ys: counts.map((c) => c / (values.length * width)) };
}

/** A density task in R^(length x stateDim) whose data are a seed's trajectories, and the event metrics. */
function definitionFor(def: DynamicsTaskDefinition, sets: TrajectorySets): DensityDefinition {
  const { system, constraint } = def;
  const length = trajectoryLength(system);
  const dim = length * system.stateDim;
  const eventsOf = (values: Float32Array) => constraintValues(constraint, values, length, system.stateDim);
  return {
    name: system.name,
    description: def.description,
    dim,
    sample: rowSampler(sets.train, dim, true),
    heldOut: rowSampler(sets.test, dim, false),
    range: [-3, 3],
    model: (config, spec, rng) => fieldFor(system, config, spec, sets.train, rng),
    watchedDivergence: { divEstimator: 'hutchinson-unbiased', probes: WATCH_PROBES },
    async extraEvaluation(model, config, spec, rng, { samples, metrics }) {
      const scored = samples.subarray(0, config.eval.sampleCount * dim);
      const dataEvents = { heldOut: eventsOf(sets.test), reference: eventsOf(sets.reference) };
      const events = compareEvents(dataEvents.heldOut, eventsOf(scored), EVENT_BINS);
      const conditioned = await conditionedEvaluations(def, sets, dataEvents, model, config, spec.path, rng);
      // The histograms' sampling floor: what a perfect model scores, data against data of the same size.
      const floor = compareEvents(dataEvents.heldOut, dataEvents.reference, EVENT_BINS);
      return {
        metrics: {
          // The authors' per-dimension NLL (nats).
          nllPerDim: metrics.nll / dim,
          eventTv: events.tv,
          eventKl: events.kl,
          eventTvFloor: floor.tv,
          eventKlFloor: floor.kl,
          eventRate: events.eventRateModel,
          eventRateStdErr: events.eventRateModelStdErr,
          eventRateData: events.eventRateData,
          ...conditioned.metrics,
        },
        // The continuation error per generated step, for the figure (the evaluation's figure-data channel).
        density: conditioned.continuationPerStep,
      };
    },
    async writeFigure(file, panels) {
      const curves = [firstCoordinateCurves('data', sets.test, system), ...panels.map((p) => firstCoordinateCurves(p.label, p.points, system))].flat();
      await writeLineFigure(file, curves, { title: `${system.name}: first coordinate of ${FIGURE_TRAJECTORIES} trajectories per panel`, xTitle: 'time', yTitle: 'first coordinate', panelPerSeries: true });
      // Beside it, the distribution of the event statistic C: the table's histograms, drawn as curves.
      const heldOutEvents = eventsOf(sets.test);
      const histograms = [{ label: 'data', values: heldOutEvents }, ...panels.map((p) => ({ label: p.label, values: eventsOf(p.points) }))];
      await writeLineFigure(eventsFigureFile(file), histograms.map((h) => histogramCurve(h.label, h.values, heldOutEvents)), {
        title: `${system.name}: density of the event statistic C (an event is C > 0)`,
        xTitle: `C (${FIGURE_HISTOGRAM_BINS} bins over the data's range)`,
        yTitle: 'density',
      });
      const continued = panels.filter((p) => p.density?.length);
      if (continued.length) {
        const curves = continued.map((p) => ({ label: p.label, xs: Array.from(p.density!, (_, k) => (system.burnIn + trajectoryLength(system) - p.density!.length + k) * system.dt), ys: p.density! }));
        await writeLineFigure(continuationFigureFile(file), curves, { title: `${system.name}: continuation from the first states`, xTitle: 'time', yTitle: 'median relative error', reference: false });
      }
    },
  };
}

/** The evaluations that condition the trained flow (events, continuations) and the exact-divergence NLL subset. */
async function conditionedEvaluations(def: DynamicsTaskDefinition, sets: TrajectorySets, dataEvents: DataEvents, model: VelocityModel, config: RunConfig, pathName: string, rng: Rng): Promise<{ metrics: Record<string, number>; continuationPerStep?: Float32Array }> {
  const { system } = def;
  const settings = dynamicsOf(config);
  const length = trajectoryLength(system);
  const dim = length * system.stateDim;
  const context: ConditioningContext = {
    model,
    schedule: affineSchedule(affinePathName(pathName), config.sigmaMin),
    solver: evaluationSolver(config),
    length,
    stateDim: system.stateDim,
    eventsOf: (values) => constraintValues(def.constraint, values, length, system.stateDim),
    constraint: def.differentiableConstraint(length, system.stateDim),
    bins: EVENT_BINS,
  };
  const rows = (count: number) => sets.test.subarray(0, Math.min(count, sets.test.length / dim) * dim);
  const metrics: Record<string, number> = {};
  if (settings.conditionedSamples > 0) Object.assign(metrics, await eventConditioned(context, settings.conditionedSamples, dataEvents, rng.fork('event-conditioned')));
  let continuationPerStep: Float32Array | undefined;
  if (settings.continuations > 0) {
    const continued = await continuationErrors(context, rows(settings.continuations), settings.observedSteps, settings.continuationStrength, rng.fork('continuations'));
    Object.assign(metrics, continued.metrics);
    continuationPerStep = Float32Array.from(continued.perStep);
  }
  if (settings.exactNllTrajectories > 0) {
    const compared = await hutchinsonAgainstExact(model, rows(settings.exactNllTrajectories), { solver: context.solver, sourceStd: context.schedule.sourceStd, rng: rng.fork('exact-nll') });
    Object.assign(metrics, { nllPerDimExactSubset: compared.exactNllPerDim, hutchinsonNllBiasPerDim: compared.biasPerDim, hutchinsonNllSdPerDim: compared.sdPerDim });
  }
  return { metrics, continuationPerStep };
}

function setsKey(system: DynamicalSystem, config: RunConfig, seed: number): string {
  const { trainTrajectories, testTrajectories } = dynamicsOf(config);
  return JSON.stringify([system.name, trainTrajectories, testTrajectories, seed]);
}

/**
 * Lorenz or FitzHugh-Nagumo trajectories as in the FDM paper's dynamics experiments (after Finzi et
 * al.): a flow on whole trajectories (60 points x the state), its NLL per dimension by the
 * probability-flow ODE with Hutchinson's estimator, and the distribution of the event statistic C
 * under the model against held-out data (histogram TV and KL, P(event)).
 */
export function dynamicsTask(def: DynamicsTaskDefinition): Task {
  const prepared = new Map<string, TrajectorySets>();
  const setsFor = (config: RunConfig, seed: number, context: PrepareContext): TrajectorySets => {
    const key = setsKey(def.system, config, seed);
    const sets = prepared.get(key) ?? prepareTrajectories(def.system, dynamicsOf(config), seed, context);
    prepared.set(key, sets);
    return sets;
  };
  const definition = (config: RunConfig, spec: RunSpec): DensityDefinition => {
    const sets = prepared.get(setsKey(def.system, config, spec.seed));
    if (!sets) throw new Error(`${def.system.name}: the trajectories of seed ${spec.seed} are not ready: call prepare() first`);
    return definitionFor(def, sets);
  };
  return {
    name: def.system.name,
    description: def.description,
    presetFile: 'dynamics',
    // The variance-exploding path of the authors' final runs besides the affine ones.
    paths: GAUSSIAN_PATHS,
    section: DYNAMICS_SECTION,
    columns: [...densityColumns({}).filter((c) => c.key === 'nll' || c.key === 'nllStdErr'), ...EVENT_COLUMNS],
    facts: {},
    recordedSettings: (config) => {
      return Object.fromEntries(Object.entries(dynamicsOf(config)).map(([key, value]) => [`dynamics.${key}`, value]));
    },
    async prepare(config, spec, context) {
      setsFor(config, spec.seed, context);
    },
    createExperiment: (config, spec, rng) => densityTask(definition(config, spec)).createExperiment(config, spec, rng),
    async writeFigure(file, panels, rng, config) {
      // Drawn by a process that may have trained nothing (--jobs): the seed's trajectories come from
      // the cache in the run directory, where the figure goes.
      const spec = panels[0]?.spec;
      if (!spec) return;
      const sets = setsFor(config, spec.seed, { dir: path.dirname(file), log: () => undefined });
      await densityTask(definitionFor(def, sets)).writeFigure!(file, panels, rng, config);
    },
  };
}
