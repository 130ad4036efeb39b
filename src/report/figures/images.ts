import { PNG } from 'pngjs';
import { FigureSpec, writeFigure } from './figure';

/**
 * Images that are data (digits, video frames) stay images: each is a grey PNG of its own, placed and
 * labelled by the same grammar as the other figures (Vega-Lite image marks).
 */
export interface ImageRow {
  label: string;
  /** Frames of size x size intensities in [0, 1], one after another. */
  frames: Float32Array;
  /** The column of the first frame (a prediction starts after the context frames). */
  firstColumn: number;
}

/** A block of rows under a header (a test sequence, or a method's samples). */
export interface ImageBlock {
  title: string;
  rows: ImageRow[];
}

export interface ImageGridOptions {
  title: string;
  subtitle?: string;
  /** Side of a frame in pixels. */
  size: number;
  /** The column axis' title, or null to hide the axis (columns with no meaning, e.g. samples). */
  columnTitle: string | null;
}

/** Frames are enlarged by whole pixels to about this side, so that a 7x7 digit is legible. */
const CELL_PIXELS = 56;

export function zoomOf(size: number): number {
  return Math.max(1, Math.round(CELL_PIXELS / size));
}

/** A frame as a data URL of a grey PNG enlarged `zoom` times by repeating pixels (no smoothing). */
export function frameDataUrl(frame: Float32Array, size: number, zoom: number): string {
  if (frame.length !== size * size) throw new RangeError(`a frame of side ${size} has ${size * size} values, got ${frame.length}`);
  const side = size * zoom;
  const png = new PNG({ width: side, height: side });
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const level = Math.round(255 * Math.min(1, Math.max(0, frame[Math.floor(y / zoom) * size + Math.floor(x / zoom)])));
      png.data.set([level, level, level, 255], 4 * (y * side + x));
    }
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

export function imageGridSpec(blocks: ImageBlock[], options: ImageGridOptions): FigureSpec {
  const { size } = options;
  const zoom = zoomOf(size);
  const pixels = size * size;
  const values = blocks.flatMap((block) =>
    block.rows.flatMap((row) => Array.from({ length: Math.floor(row.frames.length / pixels) }, (_, f) => ({
      block: block.title,
      row: row.label,
      column: row.firstColumn + f + 1,
      url: frameDataUrl(row.frames.subarray(f * pixels, (f + 1) * pixels), size, zoom),
    }))),
  );
  const side = size * zoom;
  const rowOrder = [...new Set(blocks.flatMap((b) => b.rows.map((r) => r.label)))];
  return {
    title: { text: options.title, ...(options.subtitle ? { subtitle: options.subtitle } : {}) },
    data: { values },
    facet: { row: { field: 'block', type: 'nominal', sort: blocks.map((b) => b.title), title: null, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' } } },
    spec: {
      width: { step: side + 4 },
      height: { step: side + 4 },
      mark: { type: 'image', width: side, height: side, aspect: false, tooltip: false },
      encoding: {
        x: { field: 'column', type: 'ordinal', title: options.columnTitle, axis: options.columnTitle === null ? null : { labelAngle: 0 } },
        y: { field: 'row', type: 'ordinal', sort: rowOrder, title: null },
        url: { field: 'url', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { view: { stroke: null }, axis: { grid: false, domain: false, ticks: false } },
  } as FigureSpec;
}

export async function writeImageGrid(file: string, blocks: ImageBlock[], options: ImageGridOptions): Promise<void> {
  await writeFigure(file, imageGridSpec(blocks, options));
}
