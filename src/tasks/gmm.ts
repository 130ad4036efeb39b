import { withSynchronousReads } from '../backend/backend';
import { RunConfig } from '../config/schema';
import { GaussianMixture, mixtureDim, sampleMixture } from '../datasets/gaussian-mixture';
import { conditionalLosses, divergenceBounds, quadratureGrid } from '../metrics/divergence-bound';
import { MixtureMarginalField } from '../models/gmm-field';
import { GaussianMixturePath } from '../paths/gaussian-mixture-path';
import { VelocityModel } from '../models/model';
import { AffinePath, affinePathName, affineSchedule, condOtSchedule } from '../paths/affine';
import { Rng } from '../random/rng';
import { Curve, writeCurvesPng } from '../report/curves-png';
import { ColumnSpec } from '../core/columns';
import { T_MAX } from '../paths/time-sampling';
import { densityTask, ExtraEvaluation } from './density';
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
      density: report.modelDensity,
    };
  };
}

/** The 1D figure: the exact p_1 and each method's exact model density on the quadrature grid. */
function densityCurves(def: MixtureTaskDefinition) {
  return (file: string, panels: FigurePanel[], config: RunConfig): void => {
    const { points } = quadratureGrid(def.range, config.eval.gridPerAxis, 1);
    const target = new GaussianMixturePath(def.mixture, affineSchedule('condot', config.sigmaMin));
    const truth = Float32Array.from(points, (x) => Math.exp(target.at([x], 1).logDensity));
    const curves: Curve[] = [{ label: 'true p1', xs: points, ys: truth }];
    for (const panel of panels) if (panel.density) curves.push({ label: panel.label, xs: points, ys: panel.density });
    writeCurvesPng(file, curves, { title: `${def.name}: density at t = 1` });
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
  });
}
