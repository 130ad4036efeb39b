import { PNG } from 'pngjs';
import { fonts, renderPixels } from 'js-pixel-fonts';

/** Drawing primitives shared by the PNG figures. */
export type Rgb = readonly [number, number, number];

export const BACKGROUND: Rgb = [255, 255, 255];
export const TEXT: Rgb = [20, 20, 20];
/** Distinct colours for up to 8 series (Okabe-Ito, colour-blind safe). */
export const PALETTE: readonly Rgb[] = [
  [0, 0, 0], [230, 159, 0], [0, 114, 178], [213, 94, 0], [0, 158, 115], [204, 121, 167], [86, 180, 233], [240, 228, 66],
];
/** Rows of the pixel font including descenders (7 rows of capitals plus 2 below the line). */
export const FONT_ROWS = 9;
/** Characters the pixel font has; anything else is drawn as '?'. */
const FONT_GLYPHS = fonts.sevenPlus.glyphs;

/** Draws `text` with its top-left corner at (left, top), cut off at `maxWidth` pixels. */
export function drawText(png: PNG, text: string, left: number, top: number, scale: number, maxWidth: number, color: Rgb = TEXT): void {
  const known = Array.from(text, (char) => (Object.hasOwn(FONT_GLYPHS, char) ? char : '?')).join('');
  const rows = renderPixels(known, fonts.sevenPlus);
  const visibleColumns = Math.floor(maxWidth / scale);
  rows.forEach((row, y) => {
    row.slice(0, visibleColumns).forEach((on, x) => {
      if (on) fillRect(png, left + x * scale, top + y * scale, scale, scale, color);
    });
  });
}

export function fillRect(png: PNG, left: number, top: number, width: number, height: number, color: Rgb): void {
  for (let y = top; y < top + height; y++) {
    for (let x = left; x < left + width; x++) setPixel(png, x, y, color);
  }
}

export function setPixel(png: PNG, x: number, y: number, [r, g, b]: Rgb): void {
  if (x < 0 || y < 0 || x >= png.width || y >= png.height) return;
  const offset = 4 * (y * png.width + x);
  png.data[offset] = r;
  png.data[offset + 1] = g;
  png.data[offset + 2] = b;
  png.data[offset + 3] = 255;
}

/** A straight segment, two pixels thick, by stepping along its longer axis. */
export function drawLine(png: PNG, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
  for (let i = 0; i <= steps; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / steps);
    const y = Math.round(y0 + ((y1 - y0) * i) / steps);
    fillRect(png, x, y, 2, 2, color);
  }
}
