import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { Rng } from '../src/random/rng';
import { writeDensityPng } from '../src/report/density-png';

const PIXELS = 40;
const GAP = 8; // the layout's margin and spacing, as in density-png.ts
const WHITE = [255, 255, 255];

/** Mean of the three colour channels at (x, y). */
function brightness(png: PNG, x: number, y: number): number {
  const offset = 4 * (y * png.width + x);
  return (png.data[offset] + png.data[offset + 1] + png.data[offset + 2]) / 3;
}

function rgb(png: PNG, x: number, y: number): number[] {
  const offset = 4 * (y * png.width + x);
  return [png.data[offset], png.data[offset + 1], png.data[offset + 2]];
}

describe('writeDensityPng', () => {
  let directory: string;
  let png: PNG;
  let panelTop: number;

  before(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'density-png-'));
    const rng = new Rng('density-png');
    // Spread over the whole range [-1, 1]^2, and packed into the top-right corner (x, y in [0.8, 1)).
    const spread = rng.fork('spread').uniformArray(2 * 4000, -1, 1);
    const corner = rng.fork('corner').uniformArray(2 * 4000, 0.8, 1);
    const file = path.join(directory, 'nested', 'two-panels.png');
    writeDensityPng(
      file,
      [
        { label: 'uniform', points: spread },
        { label: 'corner', points: corner },
      ],
      { range: [-1, 1], pixels: PIXELS },
    );
    png = PNG.sync.read(fs.readFileSync(file));
    panelTop = png.height - GAP - PIXELS;
  });

  after(() => fs.rmSync(directory, { recursive: true, force: true }));

  it('lays out two square panels side by side with gaps', () => {
    assert.equal(png.width, GAP + 2 * (PIXELS + GAP));
    assert.ok(png.height > PIXELS + 2 * GAP, 'room for the labels above the panels');
  });

  it('leaves no temporary file behind', () => {
    assert.deepEqual(fs.readdirSync(path.join(directory, 'nested')), ['two-panels.png']);
  });

  it('draws the corner panel bright in its top-right corner and dark elsewhere', () => {
    const left = GAP + PIXELS + GAP;
    const cornerSize = PIXELS / 10; // [0.8, 1) of the range [-1, 1]
    let cornerSum = 0;
    for (let y = 0; y < cornerSize; y++) {
      for (let x = PIXELS - cornerSize; x < PIXELS; x++) cornerSum += brightness(png, left + x, panelTop + y);
    }
    const dark = brightness(png, left, panelTop + PIXELS - 1);
    assert.ok(cornerSum / (cornerSize * cornerSize) > 120, 'corner bins are bright');
    assert.ok(dark < 60, 'the bottom-left bin is dark');
    assert.deepEqual(rgb(png, left + PIXELS / 2, panelTop + PIXELS / 2), rgb(png, left, panelTop + PIXELS - 1));
  });

  it('fills the uniform panel everywhere', () => {
    const left = GAP;
    let lit = 0;
    for (let y = 0; y < PIXELS; y++) {
      for (let x = 0; x < PIXELS; x++) if (brightness(png, left + x, panelTop + y) > 60) lit++;
    }
    assert.ok(lit > 0.8 * PIXELS * PIXELS, `only ${lit} bins lit`);
  });

  it('writes each label above its panel', () => {
    for (const left of [GAP, GAP + PIXELS + GAP]) {
      let inked = 0;
      for (let y = GAP; y < panelTop - GAP; y++) {
        for (let x = left; x < left + PIXELS; x++) if (rgb(png, x, y).some((c, i) => c !== WHITE[i])) inked++;
      }
      assert.ok(inked > 20, `label above the panel at x=${left} has ${inked} inked pixels`);
    }
  });

  it('rejects a panel with an odd number of coordinates', () => {
    const file = path.join(directory, 'bad.png');
    const points = Float32Array.of(0, 0, 1);
    assert.throws(() => writeDensityPng(file, [{ label: 'odd', points }], { range: [-1, 1], pixels: 8 }), RangeError);
    assert.equal(fs.existsSync(file), false);
  });
});
