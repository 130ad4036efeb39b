import { withSynchronousReads } from '../backend/backend';
import { RunConfig } from '../config/schema';
import { GaussianMixture, mixtureDim, sampleMixture } from '../datasets/gaussian-mixture';
import { conditionalLosses, divergenceBounds, quadratureGrid } from '../metrics/divergence-bound';
import { logLikelihood } from '../solvers/flow';
import { MixtureMarginalField } from '../models/gmm-field';
import { GaussianMixturePath } from '../paths/gaussian-mixture-path';
import { VelocityModel } from '../models/model';
import { AffinePath, affinePathName, affineSchedule, condOtSchedule } from '../paths/affine';
import { Rng } from '../random/rng';
import { Curve, writeLineFigure } from '../report/figures/lines';
import { ColumnSpec } from '../core/columns';
import { T_MAX } from '../paths/time-sampling';
import { densityTask, evaluationSolver, ExtraEvaluation } from './density';
import { FigurePanel, RunSpec, Task } from '../core/task';

export interface MixtureTaskDefinition {
  name: string;
  description: string;
  mixture: GaussianMixture;
  range: [number, number];
}

/**
 * The marginal bound and the marginal divergence error lead: they are what FDM claims to shrink.
 * The conditional losses (exact divergence, no stop-gradient, a fresh batch) are mostly
 * irreducible, so each comes with its floor, its value for the true marginal field on the same
 * batch, and the excess over it.
 */
const BOUND_COLUMNS: ColumnSpec[] = [
  { key: 'boundMarginal', header: 'marginal bound', digits: 4, showStd: true, better: 'lower' },
  { key: 'divErrorMarginal', header: '∫E|div(u-v)|²', digits: 3, showStd: true, better: 'lower' },
  { key: 'tv', header: 'TV(p1, p̂1)', digits: 4, showStd: true, better: 'lower' },
  { key: 'flowErrorMarginal', header: '∫E|v-u|²', digits: 4, showStd: true, better: 'lower' },
  { key: 'boundConditional', header: 'conditional bound', digits: 3, showStd: true, better: 'lower' },
  { key: 'cfmLoss', header: 'L_CFM', digits: 3, showStd: true, better: 'lower' },
  { key: 'cfmLossExcess', header: 'L_CFM - floor', digits: 4, showStd: true, better: 'lower' },
  { key: 'cdmLoss', header: 'L_CDM', digits: 3, showStd: true, better: 'lower' },
  { key: 'cdmLossFloor', header: 'L_CDM floor', digits: 3, showStd: false },
  { key: 'cdmLossExcess', header: 'L_CDM - floor', digits: 3, showStd: true, better: 'lower' },
];

/** Differential entropy of the mixture itself (the NLL floor), by quadrature on a fine grid. */
function mixtureEntropy(mixture: GaussianMixture, range: [number, number]): number {
  const target = new GaussianMixturePath(mixture, condOtSchedule(0));
  const dim = mixtureDim(mixture) as 1 | 2;
  const { points, cell } = quadratureGrid(range, dim === 1 ? 20000 : 600, dim);
  let entropy = 0;
  for (let i = 0; i < points.length / dim; i++) {
    const logp = target.at(points.subarray(i * dim, (i + 1) * dim), 1).logDensity;
    entropy -= Math.exp(logp) * logp * cell;
  }
  return entropy;
}

/** The times of the 1D figure (the paper's Figure 2): the marginal p_t, exact and each model's. */
const FIGURE_TIMES = [0.6, 0.85, 1];

/** The model's density p_t on the grid at each figure time before 1 (the ODE from t back to 0), then p_1, end to end. */
async function figureDensities(model: VelocityModel, grid: Float32Array, atOne: Float32Array, config: RunConfig): Promise<Float32Array> {
  const densities: Float32Array[] = [];
  for (const t of FIGURE_TIMES.slice(0, -1)) {
    const { logp } = await logLikelihood(model, grid, { ...evaluationSolver(config), divergence: 'exact', fromTime: t });
    densities.push(Float32Array.from(logp, Math.exp));
  }
  const all = new Float32Array(grid.length * FIGURE_TIMES.length);
  [...densities, atOne].forEach((density, i) => all.set(density, i * grid.length));
  return all;
}

function boundEvaluation(def: MixtureTaskDefinition) {
  return async (model: VelocityModel, config: RunConfig, spec: RunSpec, rng: Rng): Promise<ExtraEvaluation> => {
    const schedule = affineSchedule(affinePathName(spec.path), config.sigmaMin);
    const affine = new AffinePath(schedule);
    const ev = config.eval;
    const report = await divergenceBounds(
      model,
      new GaussianMixturePath(def.mixture, schedule),
      affine,
      {
        range: def.range,
        gridPerAxis: ev.gridPerAxis,
        conditionalSamples: ev.conditionalSamples,
        batchSize: ev.batchSize,
        solver: { solver: ev.solver, steps: ev.steps, rtol: ev.rtol, atol: ev.atol },
      },
      rng.fork('bounds'),
    );
    // The model and the true marginal field on the same batch (the same stream).
    const lossesOf = (field: VelocityModel) => conditionalLosses(field, affine, def.mixture, 4 * config.batchSize, T_MAX, rng.fork('losses'));
    const losses = await lossesOf(model);
    const floor = await withSynchronousReads(() => lossesOf(new MixtureMarginalField(new GaussianMixturePath(def.mixture, schedule))));
    const { tv, boundMarginal, boundConditional, boundConditionalStdErr, flowErrorMarginal, divErrorMarginal } = report;
    const conditional = {
      cfmLoss: losses.cfm,
      cfmLossExcess: losses.cfm - floor.cfm,
      cdmLoss: losses.cdm,
      cdmLossFloor: floor.cdm,
      cdmLossExcess: losses.cdm - floor.cdm,
    };
    return {
      metrics: { tv, boundMarginal, boundConditional, boundConditionalStdErr, flowErrorMarginal, divErrorMarginal, ...conditional },
      density: mixtureDim(def.mixture) === 1 ? await figureDensities(model, report.grid, report.modelDensity, config) : report.modelDensity,
    };
  };
}

/**
 * The 1D figure, the paper's Figure 2: the marginal density p_t at the figure times, exact (on each
 * run's path) and each model's from the ODE likelihood. Models saved before the intermediate times
 * were computed carry p_1 only, and are drawn at t = 1.
 */
function densityCurves(def: MixtureTaskDefinition) {
  return async (file: string, panels: FigurePanel[], config: RunConfig): Promise<void> => {
    const { points } = quadratureGrid(def.range, config.eval.gridPerAxis, 1);
    const curves: Curve[] = [];
    const paths = [...new Set(panels.map((p) => p.spec.path))];
    for (const [i, t] of FIGURE_TIMES.entries()) {
      const panel = `t = ${t}`;
      for (const pathName of paths) {
        const exact = new GaussianMixturePath(def.mixture, affineSchedule(affinePathName(pathName), config.sigmaMin));
        const label = paths.length > 1 ? `exact p_t (${pathName})` : 'exact p_t';
        curves.push({ label, panel, xs: points, ys: Float32Array.from(points, (x) => Math.exp(exact.at([x], t).logDensity)) });
      }
      for (const { label, density } of panels) {
        const times = density ? density.length / points.length : 0;
        const offset = i - (FIGURE_TIMES.length - times);
        if (offset >= 0) curves.push({ label, panel, xs: points, ys: density!.subarray(offset * points.length, (offset + 1) * points.length) });
      }
    }
    await writeLineFigure(file, curves, { title: `${def.name}: the marginal density p_t, exact and learned (the paper's Figure 2)`, xTitle: 'x', yTitle: 'density' });
  };
}

/** A Gaussian-mixture density task whose path, field and TV bounds are known in closed form. */
export function mixtureTask(def: MixtureTaskDefinition): Task {
  const dim = mixtureDim(def.mixture);
  return densityTask({
    name: def.name,
    description: def.description,
    dim,
    sample: (n, rng) => sampleMixture(def.mixture, n, rng),
    entropy: () => mixtureEntropy(def.mixture, def.range),
    range: def.range,
    extraEvaluation: boundEvaluation(def),
    extraColumns: BOUND_COLUMNS,
    writeFigure: dim === 1 ? densityCurves(def) : undefined,
    metricBars: [{
      name: 'tv-bounds',
      title: `${def.name}: TV(p1, p̂1) ≤ marginal bound ≤ conditional bound`,
      yTitle: 'total variation',
      metrics: [
        { key: 'tv', label: 'TV(p1, p̂1)' },
        { key: 'boundMarginal', label: 'marginal bound' },
        { key: 'boundConditional', label: 'conditional bound' },
      ],
    }],
  });
}
