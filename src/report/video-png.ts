import { PNG } from 'pngjs';
import { VideoSet } from '../datasets/moving-mnist';
import { writeFileAtomic } from '../results/store';
import { BACKGROUND, drawText, fillRect, FONT_ROWS } from './raster';

/** A row of predicted frames: a label and [sequences, predictFrames, size, size] values in [0, 1]. */
export interface VideoPanel {
  label: string;
  points: Float32Array;
}

export interface VideoStripLayout {
  size: number;
  contextFrames: number;
  predictFrames: number;
}

const GAP = 2;
const LABEL_WIDTH = 150;

/** Pixels per frame pixel: frames are enlarged to about 64 pixels. */
function zoomOf(size: number): number {
  return Math.max(1, Math.floor(64 / size));
}

function drawFrame(png: PNG, frame: Float32Array, size: number, left: number, top: number, zoom: number): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const level = Math.round(255 * Math.min(1, Math.max(0, frame[y * size + x])));
      fillRect(png, left + x * zoom, top + y * zoom, zoom, zoom, [level, level, level]);
    }
  }
}

/**
 * Writes a PNG strip per test sequence: the ground truth (context frames, then the frames to
 * predict), then one row per method with its predictions under the frames they predict.
 */
export function writeVideoStrip(file: string, truth: VideoSet, panels: VideoPanel[], layout: VideoStripLayout): void {
  const { size, contextFrames, predictFrames } = layout;
  const perSequence = predictFrames * size * size;
  const sequences = Math.min(truth.count, ...panels.map((p) => Math.floor(p.points.length / perSequence)));
  const zoom = zoomOf(size);
  const cell = size * zoom + GAP;
  const rowsPerSequence = 1 + panels.length;
  const png = new PNG({ width: LABEL_WIDTH + (contextFrames + predictFrames) * cell + GAP, height: GAP + sequences * (rowsPerSequence * cell + 2 * GAP) });
  fillRect(png, 0, 0, png.width, png.height, BACKGROUND);
  const pixels = size * size;
  for (let s = 0; s < sequences; s++) {
    const top = GAP + s * (rowsPerSequence * cell + 2 * GAP);
    const textTop = (row: number) => top + row * cell + Math.max(0, Math.floor((cell - FONT_ROWS) / 2));
    drawText(png, `truth #${s + 1}`, GAP, textTop(0), 1, LABEL_WIDTH - GAP);
    for (let f = 0; f < contextFrames + predictFrames; f++) {
      const frame = truth.data.subarray((s * truth.frames + f) * pixels, (s * truth.frames + f + 1) * pixels);
      drawFrame(png, frame, size, LABEL_WIDTH + f * cell, top, zoom);
    }
    panels.forEach((panel, p) => {
      drawText(png, panel.label, GAP, textTop(p + 1), 1, LABEL_WIDTH - GAP);
      for (let f = 0; f < predictFrames; f++) {
        const frame = panel.points.subarray(s * perSequence + f * pixels, s * perSequence + (f + 1) * pixels);
        drawFrame(png, frame, size, LABEL_WIDTH + (contextFrames + f) * cell, top + (p + 1) * cell, zoom);
      }
    });
  }
  writeFileAtomic(file, PNG.sync.write(png));
}
