import { PNG } from 'pngjs';
import { writeFileAtomic } from '../results/store';
import { BACKGROUND, drawText, fillRect, FONT_ROWS, Rgb, setPixel } from './raster';

/** One square panel: a 2D histogram of `points`, flat (x, y) pairs, under `label`. */
export interface DensityPanel {
  label: string;
  points: Float32Array;
}

export interface DensityPngOptions {
  /** Plotted interval, the same for x and y; points outside it are left out. */
  range: [number, number];
  /** Side of each panel in pixels, one histogram bin per pixel. */
  pixels: number;
  /** Line written above the panel labels. */
  title?: string;
}

/** Space around and between panels, and between text and what is below it. */
const GAP = 8;
/** Counts are scaled so this quantile of the nonzero bins reaches the top of the colormap. */
const SATURATION_QUANTILE = 0.99;

/** Viridis sampled at 10 evenly spaced points (R's viridis(10)); interpolated linearly between. */
const VIRIDIS_STOPS: readonly Rgb[] = [
  [0x44, 0x01, 0x54], [0x48, 0x28, 0x78], [0x3e, 0x4a, 0x89], [0x31, 0x68, 0x8e], [0x26, 0x82, 0x8e],
  [0x1f, 0x9e, 0x89], [0x35, 0xb7, 0x79], [0x6d, 0xcd, 0x59], [0xb4, 0xde, 0x2c], [0xfd, 0xe7, 0x25],
];
const COLORMAP = buildColormap(VIRIDIS_STOPS, 256);

/**
 * Writes one PNG with a square 2D-histogram panel per entry, side by side, each labelled above and
 * coloured by its own scale (a sample's shape matters here, not its absolute density, and one hot
 * bin must not wash out the rest). Row 0 of a panel is the top of the range, so y points up.
 * The file is written to a temporary name in the same directory and renamed, so a reader never
 * sees a half-written image.
 */
export function writeDensityPng(file: string, panels: DensityPanel[], options: DensityPngOptions): void {
  validate(panels, options);
  const png = renderPanels(panels, options);
  writeFileAtomic(file, PNG.sync.write(png));
}

function validate(panels: DensityPanel[], { range, pixels }: DensityPngOptions): void {
  if (panels.length === 0) throw new RangeError('at least one panel is needed');
  if (!Number.isInteger(pixels) || pixels < 1) throw new RangeError(`pixels must be a positive integer, got ${pixels}`);
  if (!(range[0] < range[1])) throw new RangeError(`range must be increasing, got [${range[0]}, ${range[1]}]`);
  for (const { label, points } of panels) {
    if (points.length % 2 !== 0) throw new RangeError(`panel '${label}' has an odd number of coordinates`);
  }
}

function renderPanels(panels: DensityPanel[], { range, pixels, title }: DensityPngOptions): PNG {
  // Text grows with the panels so labels stay legible on large figures.
  const textScale = Math.max(1, Math.floor(pixels / 120));
  const textBand = FONT_ROWS * textScale + GAP;
  const titleBand = title === undefined ? 0 : textBand;
  const width = GAP + panels.length * (pixels + GAP);
  const png = new PNG({ width, height: GAP + titleBand + textBand + pixels + GAP });
  fillRect(png, 0, 0, png.width, png.height, BACKGROUND);
  if (title !== undefined) drawText(png, title, GAP, GAP, textScale, width - 2 * GAP);
  const labelTop = GAP + titleBand;
  panels.forEach(({ label, points }, index) => {
    const left = GAP + index * (pixels + GAP);
    drawText(png, label, left, labelTop, textScale, pixels);
    drawHistogram(png, histogram2D(points, range, pixels), left, labelTop + textBand, pixels);
  });
  return png;
}

/** Counts per bin, `pixels` x `pixels`, row-major with row 0 at the top (largest y). */
function histogram2D(points: Float32Array, [low, high]: [number, number], pixels: number): Uint32Array {
  const counts = new Uint32Array(pixels * pixels);
  const binsPerUnit = pixels / (high - low);
  for (let i = 0; i < points.length; i += 2) {
    const column = Math.floor((points[i] - low) * binsPerUnit);
    const row = pixels - 1 - Math.floor((points[i + 1] - low) * binsPerUnit);
    // Written as negated in-range tests so NaN coordinates are dropped too.
    if (!(column >= 0 && column < pixels && row >= 0 && row < pixels)) continue;
    counts[row * pixels + column]++;
  }
  return counts;
}

function drawHistogram(png: PNG, counts: Uint32Array, left: number, top: number, pixels: number): void {
  const saturation = nonzeroQuantile(counts, SATURATION_QUANTILE);
  const lastColor = COLORMAP.length - 1;
  for (let row = 0; row < pixels; row++) {
    for (let column = 0; column < pixels; column++) {
      const level = Math.min(1, counts[row * pixels + column] / saturation);
      setPixel(png, left + column, top + row, COLORMAP[Math.round(level * lastColor)]);
    }
  }
}

/** The q-quantile (lower) of the nonzero counts; 1 for an empty histogram, so all bins map to 0. */
function nonzeroQuantile(counts: Uint32Array, q: number): number {
  const nonzero = counts.filter((count) => count > 0).sort();
  if (nonzero.length === 0) return 1;
  return nonzero[Math.floor(q * (nonzero.length - 1))];
}

function buildColormap(stops: readonly Rgb[], size: number): Rgb[] {
  return Array.from({ length: size }, (_, i): Rgb => {
    const position = (i / (size - 1)) * (stops.length - 1);
    const lower = Math.min(Math.floor(position), stops.length - 2);
    const t = position - lower;
    const mix = (channel: number): number =>
      Math.round(stops[lower][channel] + t * (stops[lower + 1][channel] - stops[lower][channel]));
    return [mix(0), mix(1), mix(2)];
  });
}

