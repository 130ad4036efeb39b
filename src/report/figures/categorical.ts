import { empiricalDistribution, PositionDistributions } from '../../metrics/categorical';
import { CATEGORY_COLORS, FigureSpec, writeFigure } from './figure';

/** A method's generated sequences: [count, length] class indices. */
export interface CategoricalPanel {
  label: string;
  tokens: ArrayLike<number>;
}

const TRUTH = 'truth';
const TRUTH_COLOR = '#a0a0a0';

/** One bar: a series' probability of a class at a position. */
export interface ClassBar {
  series: string;
  position: number;
  class: number;
  probability: number;
}

export function classBars(truth: PositionDistributions, panels: CategoricalPanel[]): ClassBar[] {
  const { length, classes } = truth;
  const series = [{ label: TRUTH, probs: truth.probs }, ...panels.map((p) => ({ label: p.label, probs: empiricalDistribution(p.tokens, length, classes).probs }))];
  return series.flatMap(({ label, probs }) => Array.from(probs, (probability, i) => ({ series: label, position: Math.floor(i / classes) + 1, class: i % classes, probability })));
}

/**
 * Per position, a bar chart over the classes: the true probability (grey) beside each method's
 * generated frequency, each position on its own scale. What the KL and TV columns summarise, class by class.
 */
export function categoricalSpec(truth: PositionDistributions, panels: CategoricalPanel[]): FigureSpec {
  const order = [TRUTH, ...panels.map((p) => p.label)];
  return {
    title: { text: 'Class frequencies per position', subtitle: 'truth against each method\'s generated sequences' },
    data: { values: classBars(truth, panels) },
    facet: { row: { field: 'position', type: 'ordinal', title: 'position' } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: { step: 4 * order.length },
      height: 110,
      mark: { type: 'bar' },
      encoding: {
        // Every class labelled up to 20 classes, every fifth beyond.
        x: { field: 'class', type: 'ordinal', title: 'class', axis: { labelAngle: 0, ...(truth.classes > 20 ? { labelExpr: 'datum.value % 5 === 0 ? datum.label : ""' } : {}) } },
        xOffset: { field: 'series', type: 'nominal', sort: order },
        y: { field: 'probability', type: 'quantitative', title: 'probability' },
        color: { field: 'series', type: 'nominal', sort: order, title: null, scale: { range: [TRUTH_COLOR, ...CATEGORY_COLORS.slice(1)] }, legend: { orient: 'top' } },
      },
    },
  } as FigureSpec;
}

export async function writeCategoricalFigure(file: string, truth: PositionDistributions, panels: CategoricalPanel[]): Promise<void> {
  await writeFigure(file, categoricalSpec(truth, panels));
}
