import { CATEGORY_COLORS, FigureSpec, RUN_COLORS, writeFigure } from './figure';

/** A curve of a series; several curves may share a series (one colour, e.g. trajectories of one model). */
export interface Curve {
  label: string;
  /** The panel it is drawn in, when the figure has panels of its own (e.g. one per time). */
  panel?: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
}

export interface LineFigureOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  /** A log y axis (positive values only), for quantities spanning orders of magnitude. */
  logY?: boolean;
  /** One panel per series instead of all series on one axis (for many curves per series). */
  panelPerSeries?: boolean;
  /** Whether the first series is the reference (the data, an exact density), drawn black (default true). */
  reference?: boolean;
}

/** A point of a curve: its series, which curve of the series, and (x, y). */
export interface CurvePoint {
  series: string;
  panel?: string;
  curve: number;
  x: number;
  y: number;
}

/** Significant digits of the plotted values: more than a figure shows, fewer than float64 prints. */
const DIGITS = 6;

/** At most this many points of a curve are plotted (evenly strided): a figure's width holds no more. */
export const MAX_CURVE_POINTS = 600;

/** The curves' points, at most MAX_CURVE_POINTS per curve, non-finite ones (and, on a log axis, non-positive ones) left out. */
export function curvePoints(curves: Curve[], logY = false): CurvePoint[] {
  const perSeries = new Map<string, number>();
  return curves.flatMap(({ label, panel, xs, ys }) => {
    if (xs.length !== ys.length) throw new RangeError(`curve '${label}': ${xs.length} x values against ${ys.length} y values`);
    const curve = perSeries.get(label) ?? 0;
    perSeries.set(label, curve + 1);
    const stride = Math.ceil(xs.length / MAX_CURVE_POINTS);
    const kept = Array.from({ length: Math.ceil(xs.length / stride) }, (_, k) => k * stride);
    return kept.map((i) => ({ series: label, ...(panel === undefined ? {} : { panel }), curve, x: Number(xs[i].toPrecision(DIGITS)), y: Number(ys[i].toPrecision(DIGITS)) })).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logY || p.y > 0));
  });
}

/** Curves on shared axes with a legend, or one panel per series; the series keep the order given. */
export function lineSpec(curves: Curve[], options: LineFigureOptions): FigureSpec {
  const order = [...new Set(curves.map((c) => c.label))];
  const encoding = {
    x: { field: 'x', type: 'quantitative', title: options.xTitle, scale: { zero: false } },
    y: { field: 'y', type: 'quantitative', title: options.yTitle, scale: options.logY ? { type: 'log' } : { zero: false } },
    color: { field: 'series', type: 'nominal', sort: order, title: null, scale: { range: options.reference === false ? RUN_COLORS : CATEGORY_COLORS }, legend: options.panelPerSeries ? null : { orient: 'bottom', columns: 3 } },
    detail: { field: 'curve', type: 'nominal' },
  };
  const panels = [...new Set(curves.flatMap((c) => (c.panel === undefined ? [] : [c.panel])))];
  const facet = options.panelPerSeries ? { field: 'series', sort: order } : panels.length ? { field: 'panel', sort: panels } : undefined;
  const chart = { width: facet ? 260 : 520, height: 260, mark: { type: 'line', strokeWidth: 1.8, clip: true }, encoding };
  const data = { values: curvePoints(curves, options.logY) };
  if (!facet) return { title: options.title, data, ...chart } as FigureSpec;
  return {
    title: options.title,
    data,
    facet: { column: { ...facet, type: 'nominal', title: null } },
    spec: chart,
  } as FigureSpec;
}

export async function writeLineFigure(file: string, curves: Curve[], options: LineFigureOptions): Promise<void> {
  await writeFigure(file, lineSpec(curves, options));
}
