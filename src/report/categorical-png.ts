import { PNG } from 'pngjs';
import { empiricalDistribution, PositionDistributions } from '../metrics/categorical';
import { writeFileAtomic } from '../results/store';
import { BACKGROUND, drawText, fillRect, FONT_ROWS, PALETTE, Rgb } from './raster';

/** A method's generated sequences: [count, length] class indices. */
export interface CategoricalPanel {
  label: string;
  tokens: ArrayLike<number>;
}

const TRUTH_COLOR: Rgb = [170, 170, 170];
const AXIS: Rgb = [120, 120, 120];
const LEGEND_LINE = FONT_ROWS + 4;
const BAR = 3;
const GROUP_GAP = 3;
const PLOT_HEIGHT = 90;
const MARGIN = 8;
const ROW_GAP = 2 * FONT_ROWS + 8;

/** Height in pixels of a bar of probability p on an axis whose top is `top`. */
export function barHeight(p: number, top: number): number {
  return Math.round((PLOT_HEIGHT * p) / top);
}

/**
 * Per position, a bar chart over the classes: the true probability (grey) beside each method's
 * generated frequency (one colour per method, legend on top), all on the position's own scale, the
 * largest bar of the position reaching the top. What the KL and TV columns summarise, class by class.
 */
export function writeCategoricalPng(file: string, truth: PositionDistributions, panels: CategoricalPanel[]): void {
  const { length, classes } = truth;
  const series = 1 + panels.length;
  const groupWidth = series * BAR + GROUP_GAP;
  const width = Math.max(2 * MARGIN + classes * groupWidth, 320);
  const legendHeight = series * LEGEND_LINE + 2 * MARGIN;
  const png = new PNG({ width, height: legendHeight + length * (PLOT_HEIGHT + ROW_GAP) + MARGIN });
  fillRect(png, 0, 0, png.width, png.height, BACKGROUND);
  const colors = [TRUTH_COLOR, ...panels.map((_, i) => PALETTE[(i + 1) % PALETTE.length])];
  ['truth', ...panels.map((p) => p.label)].forEach((label, i) => {
    const top = MARGIN + i * LEGEND_LINE;
    fillRect(png, MARGIN, top, FONT_ROWS, FONT_ROWS, colors[i]);
    drawText(png, label, MARGIN + FONT_ROWS + 4, top, 1, width - 2 * MARGIN - FONT_ROWS - 4);
  });
  const generated = panels.map((panel) => empiricalDistribution(panel.tokens, length, classes).probs);
  const rows = [truth.probs, ...generated];
  for (let pos = 0; pos < length; pos++) {
    const top = legendHeight + pos * (PLOT_HEIGHT + ROW_GAP);
    const row = (probs: Float64Array) => probs.subarray(pos * classes, (pos + 1) * classes);
    const scale = Math.max(...rows.map((probs) => Math.max(...row(probs))));
    drawText(png, `position ${pos + 1} (axis top ${scale.toFixed(3)})`, MARGIN, top, 1, width - 2 * MARGIN);
    const base = top + FONT_ROWS + 4 + PLOT_HEIGHT;
    fillRect(png, MARGIN, base, classes * groupWidth, 1, AXIS);
    for (let j = 0; j < classes; j++) {
      rows.forEach((probs, s) => {
        const h = barHeight(row(probs)[j], scale);
        fillRect(png, MARGIN + j * groupWidth + s * BAR, base - h, BAR, h, colors[s]);
      });
    }
  }
  writeFileAtomic(file, PNG.sync.write(png));
}
