import { LossPoint } from '../../results/record';
import { CATEGORY_COLORS, FigureSpec, RUN_COLORS, writeFigure } from './figure';

export interface TrainingHistory {
  /** The run's label in tables and figures, e.g. 'fdm lambda=0.1'. */
  label: string;
  /** Whether the run trains on the divergence term; a CFM run only watches it. */
  trainsDivergence: boolean;
  history: LossPoint[];
}

const TERMS = { cfm: 'L_CFM: flow matching loss', cdm: 'L_CDM: divergence term' } as const;

/** The half-width, in logged points, of the centred moving average drawn over the raw losses. */
export function smoothingHalfWidth(points: number): number {
  return Math.max(1, Math.round(points / 25));
}

/** The mean of values[i - k .. i + k] at each i, the window cut at the ends. */
export function centredMean(values: number[], k: number): number[] {
  return values.map((_, i) => {
    const window = values.slice(Math.max(0, i - k), i + k + 1);
    return window.reduce((a, b) => a + b, 0) / window.length;
  });
}

/** Each run's losses as logged ('raw') and smoothed over 2k + 1 logged points ('smoothed'), positive values only (log axis). */
function lossRows(runs: TrainingHistory[], k: number) {
  return runs.flatMap(({ label, history }) =>
    (['cfm', 'cdm'] as const).flatMap((term) => {
      const logged = history.filter((h) => Number.isFinite(h[term]) && h[term] > 0);
      const smoothed = centredMean(logged.map((h) => h[term]), k);
      return logged.flatMap((h, i) => [
        { run: label, term: TERMS[term], kind: 'raw', iteration: h.iteration, value: h[term] },
        { run: label, term: TERMS[term], kind: 'smoothed', iteration: h.iteration, value: smoothed[i] },
      ]);
    }),
  );
}

/**
 * One line mark: the raw values faint, the smoothed ones bold, series by colour and dash (paired
 * runs start from the same weights on the same batches, so their curves can coincide).
 */
function lossChart(seriesField: string, order: string[]) {
  // The order as a scale domain, not a sort: sorted channels get a legend each instead of one shared.
  const series = { field: seriesField, type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2, symbolStrokeWidth: 2.5, symbolSize: 300 } };
  const colors = seriesField === 'run' ? RUN_COLORS : CATEGORY_COLORS;
  const byKind = (range: number[]) => ({ field: 'kind', type: 'ordinal', scale: { domain: ['raw', 'smoothed'], range }, legend: null });
  return {
    mark: { type: 'line' },
    encoding: {
      x: { field: 'iteration', type: 'quantitative', title: 'iteration', scale: { nice: false } },
      y: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: 'loss (log scale)' },
      color: { ...series, scale: { domain: order, range: colors } },
      strokeDash: { ...series, scale: { domain: order } },
      opacity: byKind([0.3, 1]),
      strokeWidth: byKind([1, 2.2]),
      detail: { field: 'kind', type: 'nominal' },
    },
  };
}

function subtitle(k: number): string {
  return `faint: as logged; bold: centred mean over ${2 * k + 1} logged points`;
}

/** Both losses of every run over training, one panel per term (each on its own log axis), runs by colour. */
export function trainingCurvesSpec(runs: TrainingHistory[], taskName: string): FigureSpec {
  const k = smoothingHalfWidth(Math.max(...runs.map((r) => r.history.length)));
  return {
    title: { text: `${taskName}: training losses`, subtitle: subtitle(k) },
    data: { values: lossRows(runs, k) },
    facet: { column: { field: 'term', type: 'nominal', sort: [TERMS.cfm, TERMS.cdm], title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: { width: 340, height: 240, ...lossChart('run', runs.map((r) => r.label)) },
  } as FigureSpec;
}

/**
 * The paper's Figure 1 for one CFM run: the divergence error L_CDM, which CFM does not train on,
 * beside the loss it does train on, on one log axis.
 */
export function divergenceErrorSpec(run: TrainingHistory, taskName: string): FigureSpec {
  const k = smoothingHalfWidth(run.history.length);
  return {
    title: { text: `${taskName}: CFM training leaves the divergence error large`, subtitle: [`${run.label}: L_CDM is watched, not trained on (the paper's Figure 1)`, subtitle(k)] },
    data: { values: lossRows([run], k) },
    width: 480,
    height: 260,
    ...lossChart('term', [TERMS.cfm, TERMS.cdm]),
  } as FigureSpec;
}

/** The training curves, and the paper's Figure 1 from the first CFM run when there is one. */
export async function writeTrainingFigures(files: { curves: string; divergenceError: string }, runs: TrainingHistory[], taskName: string): Promise<void> {
  if (runs.length === 0) return;
  await writeFigure(files.curves, trainingCurvesSpec(runs, taskName));
  const cfm = runs.find((r) => !r.trainsDivergence);
  if (cfm) await writeFigure(files.divergenceError, divergenceErrorSpec(cfm, taskName));
}
