import { quantile } from 'simple-statistics';
import { FigureSpec, writeFigure } from './figure';

/** One panel: a 2D histogram of `points`, flat (x, y) pairs, under `label`. */
export interface DensityPanel {
  label: string;
  points: Float32Array;
}

export interface DensityFigureOptions {
  /** Plotted interval, the same for x and y; points outside it are left out. */
  range: [number, number];
  /** Bins per axis. */
  bins?: number;
  title: string;
  /** The axes' titles. */
  axes?: [string, string];
}

/** One histogram bin: its panel, its corners and the density it estimates (count / (n * area)). */
export interface DensityBin {
  panel: string;
  x: number;
  x2: number;
  y: number;
  y2: number;
  density: number;
}

const DEFAULT_BINS = 64;
/** The shared colour scale tops out at this quantile of the nonzero bins: one hot bin must not wash out the rest. */
const SATURATION_QUANTILE = 0.99;
/** Viridis' lowest colour: the background of a panel is what an empty bin would be. */
const VIRIDIS_ZERO = '#440154';

/**
 * The nonzero bins of a panel's 2D histogram over range x range, as densities of the points the
 * panel holds (points outside the range count in n, so the densities of a panel integrate to the
 * fraction inside it). NaN coordinates are left out.
 */
export function histogramBins(panel: DensityPanel, [low, high]: [number, number], bins: number): DensityBin[] {
  if (panel.points.length % 2 !== 0) throw new RangeError(`panel '${panel.label}' has an odd number of coordinates`);
  const n = panel.points.length / 2;
  const width = (high - low) / bins;
  const counts = new Map<number, number>();
  for (let i = 0; i < panel.points.length; i += 2) {
    const column = Math.floor((panel.points[i] - low) / width);
    const row = Math.floor((panel.points[i + 1] - low) / width);
    // Negated in-range tests so that NaN coordinates are dropped too.
    if (!(column >= 0 && column < bins && row >= 0 && row < bins)) continue;
    counts.set(row * bins + column, (counts.get(row * bins + column) ?? 0) + 1);
  }
  return [...counts.entries()].sort(([a], [b]) => a - b).map(([bin, count]) => {
    const column = bin % bins, row = Math.floor(bin / bins);
    return { panel: panel.label, x: low + column * width, x2: low + (column + 1) * width, y: low + row * width, y2: low + (row + 1) * width, density: Number((count / (n * width * width)).toPrecision(6)) };
  });
}

/**
 * Square 2D-histogram panels side by side (data first), with axes and one colour scale for all of
 * them, so that a method's density can be read against the data's.
 */
export function densitySpec(panels: DensityPanel[], options: DensityFigureOptions): FigureSpec {
  if (panels.length === 0) throw new RangeError('at least one panel is needed');
  const { range, title } = options;
  if (!(range[0] < range[1])) throw new RangeError(`range must be increasing, got [${range[0]}, ${range[1]}]`);
  const bins = options.bins ?? DEFAULT_BINS;
  const values = panels.flatMap((panel) => histogramBins(panel, range, bins));
  const top = values.length ? quantile(values.map((v) => v.density), SATURATION_QUANTILE) : 1;
  const [xTitle, yTitle] = options.axes ?? ['x', 'y'];
  const axis = (axisTitle: string) => ({ scale: { domain: range, nice: false, zero: false }, title: axisTitle });
  return {
    title: { text: title, subtitle: `${bins} x ${bins} bins; one colour scale, clipped at the ${SATURATION_QUANTILE * 100}th percentile of the nonzero bins` },
    data: { values },
    facet: { column: { field: 'panel', type: 'nominal', sort: panels.map((p) => p.label), title: null, header: { labelFontSize: 13 } } },
    spec: {
      width: 230,
      height: 230,
      mark: { type: 'rect' },
      encoding: {
        x: { field: 'x', type: 'quantitative', ...axis(xTitle) },
        x2: { field: 'x2' },
        y: { field: 'y', type: 'quantitative', ...axis(yTitle) },
        y2: { field: 'y2' },
        color: {
          field: 'density',
          type: 'quantitative',
          title: 'density',
          scale: { scheme: 'viridis', domain: [0, top], clamp: true },
        },
      },
    },
    config: { view: { fill: VIRIDIS_ZERO }, axis: { grid: false } },
  } as FigureSpec;
}

export async function writeDensityFigure(file: string, panels: DensityPanel[], options: DensityFigureOptions): Promise<void> {
  await writeFigure(file, densitySpec(panels, options));
}
