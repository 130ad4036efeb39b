import { PNG } from 'pngjs';
import { writeFileAtomic } from '../results/store';
import { BACKGROUND, drawLine, drawText, fillRect, FONT_ROWS, PALETTE, Rgb } from './raster';

export interface Curve {
  label: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
}

export interface CurvesPngOptions {
  title: string;
  width?: number;
  height?: number;
  /** Plot log10(y) (positive values only), for losses spanning orders of magnitude. */
  logY?: boolean;
}

const AXIS: Rgb = [120, 120, 120];
const MARGIN = 40;

function finiteExtent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return [0, 1];
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return low === high ? [low - 1, high + 1] : [low, high];
}

/**
 * Line plot of several curves on shared axes with a legend, e.g. density estimates over a grid or
 * losses over training. Axis extents are printed at the corners instead of tick marks.
 */
export function writeCurvesPng(file: string, curves: Curve[], options: CurvesPngOptions): void {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const transform = (y: number) => (options.logY ? (y > 0 ? Math.log10(y) : Number.NaN) : y);
  const [xLow, xHigh] = finiteExtent(curves.flatMap((c) => Array.from(c.xs)));
  const [yLow, yHigh] = finiteExtent(curves.flatMap((c) => Array.from(c.ys, transform)));
  const png = new PNG({ width, height });
  fillRect(png, 0, 0, width, height, BACKGROUND);
  const plotW = width - 2 * MARGIN;
  const plotH = height - 2 * MARGIN;
  const px = (x: number) => MARGIN + ((x - xLow) / (xHigh - xLow)) * plotW;
  const py = (y: number) => MARGIN + plotH - ((transform(y) - yLow) / (yHigh - yLow)) * plotH;
  for (const [x0, y0, x1, y1] of [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]]) {
    drawLine(png, MARGIN + x0 * plotW, MARGIN + y0 * plotH, MARGIN + x1 * plotW, MARGIN + y1 * plotH, AXIS);
  }
  curves.forEach((curve, index) => {
    const color = PALETTE[index % PALETTE.length];
    for (let i = 1; i < curve.xs.length; i++) {
      const [ya, yb] = [py(curve.ys[i - 1]), py(curve.ys[i])];
      if (Number.isFinite(ya) && Number.isFinite(yb)) drawLine(png, px(curve.xs[i - 1]), ya, px(curve.xs[i]), yb, color);
    }
    const legendTop = MARGIN + 4 + index * (FONT_ROWS + 4);
    fillRect(png, width - MARGIN - 150, legendTop + 3, 12, 3, color);
    drawText(png, curve.label, width - MARGIN - 134, legendTop, 1, 134, color);
  });
  const fmt = (v: number) => (options.logY ? `1e${v.toFixed(1)}` : v.toPrecision(3));
  drawText(png, options.title, MARGIN, 10, 1, plotW);
  drawText(png, fmt(yHigh), 2, MARGIN - 4, 1, MARGIN + 20);
  drawText(png, fmt(yLow), 2, MARGIN + plotH - 4, 1, MARGIN + 20);
  drawText(png, xLow.toPrecision(3), MARGIN, height - MARGIN + 6, 1, 80);
  drawText(png, xHigh.toPrecision(3), width - MARGIN - 40, height - MARGIN + 6, 1, 80);
  writeFileAtomic(file, PNG.sync.write(png));
}
