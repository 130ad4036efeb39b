import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { PositionDistributions } from '../src/metrics/categorical';
import { barHeight, writeCategoricalPng } from '../src/report/categorical-png';
import { resolveConfig } from '../src/cli/load-config';
import { dnaToyTask } from '../src/tasks/dna-toy';
import { Rng } from '../src/random/rng';
import { gridJobs } from '../src/runner/jobs';

/** The colours of one pixel column below the legend (two entries: 2 x (9 + 4) + 2 x 8 pixels). */
function columnColours(png: PNG, x: number): string[] {
  const seen: string[] = [];
  for (let y = png.height - 1; y >= 42; y--) {
    const o = 4 * (y * png.width + x);
    seen.push(`${png.data[o]},${png.data[o + 1]},${png.data[o + 2]}`);
  }
  return seen;
}

describe('categorical figure (dna-toy samples.png)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-cat-'));

  it('draws, per position, the true probabilities and each method\'s frequencies as bars of the right heights', () => {
    // One position, three classes; the method generated class 2 three times out of four.
    const truth: PositionDistributions = { probs: Float64Array.of(0.5, 0.25, 0.25), length: 1, classes: 3 };
    const file = path.join(dir, 'bars.png');
    writeCategoricalPng(file, truth, [{ label: 'cfm', tokens: [2, 2, 0, 2] }]);
    const png = PNG.sync.read(fs.readFileSync(file));
    const grey = '170,170,170';
    const orange = '230,159,0';
    // Layout: margin 8, groups of (truth, cfm) bars 3 px wide plus a 3 px gap; the axis top is max(0.5, 0.75) = 0.75.
    const count = (x: number, colour: string) => columnColours(png, x).filter((c) => c === colour).length;
    assert.equal(count(8 + 0 * 9 + 1, grey), barHeight(0.5, 0.75));
    assert.equal(count(8 + 0 * 9 + 4, orange), barHeight(0.25, 0.75));
    assert.equal(count(8 + 1 * 9 + 4, orange), 0, 'class 1 was never generated');
    assert.equal(count(8 + 2 * 9 + 4, orange), barHeight(0.75, 0.75));
    assert.equal(barHeight(0.75, 0.75), 90, 'the largest bar reaches the top of the plot');
  });

  it('dna-toy draws the panels of one K and refuses panels of several', async () => {
    const config = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: {} });
    const { length } = config.simplex as { length: number };
    const tokens = Float32Array.from({ length: 50 * length }, (_, i) => i % 20);
    const spec = gridJobs(config, dnaToyTask)[0].spec;
    const file = path.join(dir, 'dna.png');
    const panel = (k: number) => ({ label: `cfm K=${k}`, spec: { ...spec, axes: { simplexDim: k } }, points: tokens });
    await dnaToyTask.writeFigure!(file, [panel(40)], new Rng('f'), config);
    assert.ok(PNG.sync.read(fs.readFileSync(file)).width > 0);
    await assert.rejects(dnaToyTask.writeFigure!(file, [panel(40), panel(20)], new Rng('f'), config), /one K at a time; these runs have K = 40, 20/);
  });
});
