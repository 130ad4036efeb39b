import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { resolveConfig } from '../src/cli/load-config';
import { Rng } from '../src/random/rng';
import { categoricalSpec, classBars } from '../src/report/figures/categorical';
import { densitySpec, histogramBins } from '../src/report/figures/density';
import { FigureSpec, renderSvg, specFileOf, withTheme, writeFigure } from '../src/report/figures/figure';
import { frameDataUrl, imageGridSpec } from '../src/report/figures/images';
import { curvePoints, lineSpec, MAX_CURVE_POINTS } from '../src/report/figures/lines';
import { centredMean, divergenceErrorSpec, smoothingHalfWidth, trainingCurvesSpec, TrainingHistory, writeTrainingFigures } from '../src/report/figures/training';
import { aggregate } from '../src/report/aggregate';
import { metricBarsSpec, sweepSpec, sweptSettings, tableFigures } from '../src/report/figures/summary';
import { gridJobs } from '../src/runner/jobs';
import { lambdaGridRecords } from './helpers/run-records';
import { dnaToyTask } from '../src/tasks/dna-toy';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-figures-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The data rows a specification carries inline. */
function rows<T>(spec: FigureSpec): T[] {
  return (spec as { data: { values: T[] } }).data.values;
}

/** How many items a mark of the given type drew in an SVG rendered by Vega. */
function markItems(svg: string, type: string): number {
  const group = svg.match(new RegExp(`<g class="mark-${type} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gs')) ?? [];
  return group.reduce((n, g) => n + (g.match(/<path|<image|<line/g)?.length ?? 0), 0);
}

describe('figures: rendering and files', () => {
  const spec: FigureSpec = { data: { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] }, mark: 'line', encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } } as FigureSpec;

  it('writes the PNG and its specification with the data beside it, and nothing else', async () => {
    const file = path.join(dir, 'files', 'plot.png');
    await writeFigure(file, spec);
    assert.deepEqual(fs.readdirSync(path.dirname(file)).sort(), ['plot.png', 'plot.vl.json']);
    const png = PNG.sync.read(fs.readFileSync(file));
    assert.ok(png.width > 200 && png.height > 200, `${png.width}x${png.height}`);
    const saved = JSON.parse(fs.readFileSync(specFileOf(file), 'utf8'));
    assert.equal(saved.$schema, 'https://vega.github.io/schema/vega-lite/v5.json');
    assert.deepEqual(saved.data.values, rows(spec));
    // The saved specification renders to the same picture: a user can restyle it from the file alone.
    assert.equal(await renderSvg(saved), await renderSvg(spec));
  });

  it('renders the same bytes twice (no time stamps, no randomness)', async () => {
    const a = path.join(dir, 'twice', 'a.png');
    const b = path.join(dir, 'twice', 'b.png');
    await writeFigure(a, spec);
    await writeFigure(b, spec);
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
  });

  it('refuses a specification Vega-Lite would only warn about, and writes nothing', async () => {
    const file = path.join(dir, 'bad', 'bad.png');
    const bad = { ...spec, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, shape: { field: 'x', type: 'quantitative' } } } as unknown as FigureSpec;
    await assert.rejects(writeFigure(file, bad), /vega-lite: .*shape/);
    assert.equal(fs.existsSync(path.dirname(file)), false);
  });

  it('merges a figure\'s own configuration into the theme key by key', () => {
    const themed = withTheme({ ...spec, config: { axis: { grid: false } } } as FigureSpec) as unknown as { config: { axis: Record<string, unknown>; font: string } };
    assert.equal(themed.config.axis.grid, false);
    assert.equal(themed.config.axis.labelFontSize, 12, 'the theme\'s other axis settings stay');
    assert.equal(themed.config.font, 'DejaVu Sans');
  });
});

describe('figures: density heatmaps', () => {
  const rng = new Rng('figures/density');
  const spread = rng.fork('spread').uniformArray(2 * 4000, -1, 1);
  const corner = rng.fork('corner').uniformArray(2 * 4000, 0.8, 1);

  it('bins are densities: they integrate to the fraction of points inside the range', () => {
    const half = Float32Array.from(spread, (v, i) => (i % 2 === 0 ? v * 2 : v)); // x in [-2, 2]: half outside [-1, 1]
    const bins = histogramBins({ label: 'half', points: half }, [-1, 1], 20);
    const mass = bins.reduce((sum, b) => sum + b.density * (b.x2 - b.x) * (b.y2 - b.y), 0);
    const inside = Array.from({ length: half.length / 2 }, (_, i) => Math.abs(half[2 * i]) < 1).filter(Boolean).length / (half.length / 2);
    // Densities are stored to 6 significant digits (relative error 5e-7 per bin).
    assert.ok(Math.abs(mass - inside) < 1e-5, `${mass} vs ${inside}`);
  });

  it('puts points in the bins that hold them, drops NaN and refuses odd coordinates', () => {
    const bins = histogramBins({ label: 'corner', points: corner }, [-1, 1], 10);
    assert.equal(bins.length, 1);
    assert.ok(Math.abs(bins[0].x - 0.8) < 1e-12 && Math.abs(bins[0].y2 - 1) < 1e-12);
    assert.equal(histogramBins({ label: 'nan', points: Float32Array.of(NaN, 0, 0, NaN) }, [-1, 1], 4).length, 0);
    assert.throws(() => histogramBins({ label: 'odd', points: Float32Array.of(0, 0, 1) }, [-1, 1], 4), /odd number/);
  });

  it('draws one rect per nonzero bin in panels that share one colour scale', async () => {
    const spec = densitySpec([{ label: 'uniform', points: spread }, { label: 'corner', points: corner }], { range: [-1, 1], bins: 10, title: 't' });
    const values = rows<{ panel: string; density: number }>(spec);
    assert.equal(values.filter((v) => v.panel === 'uniform').length, 100);
    assert.equal(values.filter((v) => v.panel === 'corner').length, 1);
    const color = (spec as { spec: { encoding: { color: { scale: { domain: number[] } } } } }).spec.encoding.color;
    assert.equal(color.scale.domain[0], 0);
    assert.ok(color.scale.domain[1] < 100, 'the corner\'s one hot bin (density 100) does not set the scale');
    assert.equal(markItems(await renderSvg(spec), 'rect'), 101);
  });
});

describe('figures: curves', () => {
  it('keeps finite points, positive ones on a log axis, and numbers the curves of a series', () => {
    const points = curvePoints([
      { label: 'a', xs: [0, 1, 2], ys: [1, NaN, -1] },
      { label: 'a', xs: [0], ys: [2] },
      { label: 'b', xs: [0], ys: [3] },
    ], true);
    assert.deepEqual(points, [{ series: 'a', curve: 0, x: 0, y: 1 }, { series: 'a', curve: 1, x: 0, y: 2 }, { series: 'b', curve: 0, x: 0, y: 3 }]);
    assert.throws(() => curvePoints([{ label: 'c', xs: [0, 1], ys: [0] }]), /2 x values against 1 y values/);
    const long = curvePoints([{ label: 'long', xs: Array.from({ length: 2000 }, (_, i) => i), ys: new Array(2000).fill(1) }]);
    assert.ok(long.length <= MAX_CURVE_POINTS && long.length >= MAX_CURVE_POINTS / 2, `${long.length} points`);
    assert.deepEqual([long[0].x, long[1].x], [0, 4], 'evenly strided from the first point');
  });

  it('draws every curve, in one panel or one per series, the series in the order given', async () => {
    const curves = [{ label: 'true p1', xs: [0, 1, 2], ys: [1, 2, 1] }, { label: 'fdm', xs: [0, 1, 2], ys: [1, 1, 1] }, { label: 'cfm', xs: [0, 1, 2], ys: [2, 1, 2] }];
    const shared = lineSpec(curves, { title: 't', xTitle: 'x', yTitle: 'density' }) as { encoding: { color: { sort: string[] } } };
    assert.deepEqual(shared.encoding.color.sort, ['true p1', 'fdm', 'cfm']);
    assert.equal(markItems(await renderSvg(shared as FigureSpec), 'line'), 3);
    const panels = lineSpec(curves, { title: 't', xTitle: 'x', yTitle: 'density', panelPerSeries: true });
    assert.equal(markItems(await renderSvg(panels), 'line'), 3);
  });
});

describe('figures: training curves and the paper\'s Figure 1', () => {
  const history = (scale: number) => Array.from({ length: 30 }, (_, i) => ({ iteration: 100 * (i + 1), total: scale, cfm: scale / (i + 1), cdm: 10 * scale }));
  const runs: TrainingHistory[] = [
    { label: 'cfm', trainsDivergence: false, history: history(1) },
    { label: 'fdm lambda=0.1', trainsDivergence: true, history: history(2) },
  ];

  it('smooths by a centred mean over a window that grows with the history, cut at the ends', () => {
    assert.equal(smoothingHalfWidth(3), 1);
    assert.equal(smoothingHalfWidth(250), 10);
    assert.deepEqual(centredMean([1, 2, 6, 3], 1), [1.5, 3, 11 / 3, 4.5]);
  });

  it('draws raw and smoothed curves of both terms for every run', async () => {
    const spec = trainingCurvesSpec(runs, 'task');
    assert.equal(rows(spec).length, 2 * 2 * 2 * 30);
    // Two panels (terms) x two runs x (raw, smoothed).
    assert.equal(markItems(await renderSvg(spec), 'line'), 8);
    assert.equal(markItems(await renderSvg(divergenceErrorSpec(runs[0], 'task')), 'line'), 4);
    const svg = await renderSvg(spec);
    assert.equal((svg.match(/class="mark-group role-legend"/g) ?? []).length, 1, 'one legend');
    const dashes = (spec as unknown as { spec: { encoding: { strokeDash: { scale: Record<string, unknown> } } } }).spec.encoding.strokeDash.scale;
    assert.deepEqual(dashes, { domain: ['cfm', 'fdm lambda=0.1'] }, 'dashes from the default dash range, not the colours');
    assert.match(svg, /stroke-dasharray/, 'the second run is dashed');
  });

  it('writes Figure 1 only when a run watches the divergence term without training on it', async () => {
    const files = (name: string) => ({ curves: path.join(dir, name, 'training-curves.png'), divergenceError: path.join(dir, name, 'divergence-error.png') });
    await writeTrainingFigures(files('both'), runs, 'task');
    assert.ok(fs.existsSync(files('both').divergenceError));
    await writeTrainingFigures(files('fdm'), runs.slice(1), 'task');
    assert.ok(fs.existsSync(files('fdm').curves));
    assert.equal(fs.existsSync(files('fdm').divergenceError), false);
  });
});

describe('figures: categorical bars (dna-toy samples.png)', () => {
  it('has, per position and class, the true probability and each method\'s generated frequency', async () => {
    const truth = { probs: Float64Array.of(0.5, 0.25, 0.25), length: 1, classes: 3 };
    const bars = classBars(truth, [{ label: 'cfm', tokens: [2, 2, 0, 2] }]);
    assert.deepEqual(bars.map((b) => [b.series, b.class, b.probability]), [['truth', 0, 0.5], ['truth', 1, 0.25], ['truth', 2, 0.25], ['cfm', 0, 0.25], ['cfm', 1, 0], ['cfm', 2, 0.75]]);
    assert.equal(markItems(await renderSvg(categoricalSpec(truth, [{ label: 'cfm', tokens: [2, 2, 0, 2] }])), 'rect'), 6);
  });

  it('dna-toy draws the panels of one K and refuses panels of several', async () => {
    const config = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: {} });
    const { length } = config.simplex as { length: number };
    const tokens = Float32Array.from({ length: 50 * length }, (_, i) => i % 20);
    const spec = gridJobs(config, dnaToyTask)[0].spec;
    const file = path.join(dir, 'dna', 'dna.png');
    const panel = (k: number) => ({ label: `cfm K=${k}`, spec: { ...spec, axes: { simplexDim: k } }, points: tokens });
    await dnaToyTask.writeFigure!(file, [panel(40)], new Rng('f'), config);
    assert.ok(PNG.sync.read(fs.readFileSync(file)).width > 0);
    await assert.rejects(dnaToyTask.writeFigure!(file, [panel(40), panel(20)], new Rng('f'), config), /one K at a time; these runs have K = 40, 20/);
  });
});

describe('figures: images that are data', () => {
  it('encodes a frame as a grey PNG enlarged by repeating pixels', () => {
    const frame = Float32Array.of(0, 1, 0.5, 2);
    const png = PNG.sync.read(Buffer.from(frameDataUrl(frame, 2, 3).split(',')[1], 'base64'));
    assert.equal(png.width, 6);
    const grey = (x: number, y: number) => png.data[4 * (y * 6 + x)];
    assert.deepEqual([grey(0, 0), grey(2, 2), grey(3, 0), grey(5, 2), grey(0, 3), grey(5, 5)], [0, 0, 255, 255, 128, 255]);
    assert.throws(() => frameDataUrl(frame, 3, 1), /side 3 has 9 values, got 4/);
  });

  it('places predicted frames after the context frames, one image per frame', async () => {
    const size = 2;
    const blocks = [{ title: 'sequence 1', rows: [
      { label: 'truth', frames: new Float32Array(5 * size * size).fill(0.5), firstColumn: 0 },
      { label: 'cfm', frames: new Float32Array(2 * size * size).fill(1), firstColumn: 3 },
    ] }];
    const spec = imageGridSpec(blocks, { title: 't', size, columnTitle: 'frame' });
    assert.deepEqual(rows<{ row: string; column: number }>(spec).map((r) => `${r.row}@${r.column}`), ['truth@1', 'truth@2', 'truth@3', 'truth@4', 'truth@5', 'cfm@4', 'cfm@5']);
    assert.equal(markItems(await renderSvg(spec), 'image'), 7);
  });
});

describe('figures: results tables (sweeps, bars, timing)', () => {
  const table = aggregate(lambdaGridRecords());
  const columns = [{ key: 'nll', header: 'NLL', digits: 3, showStd: true, better: 'lower' as const }];

  it('finds the swept numeric settings, not the fixed or textual ones', () => {
    assert.deepEqual(sweptSettings(table), ['lambda']);
  });

  it('plots FDM\'s mean ± sd over seeds against lambda, CFM as the reference line, diverged runs out', async () => {
    const spec = sweepSpec(table, columns, 'lambda')!;
    const values = rows(spec) as Array<{ series: string; x: number | null; mean: number; low: number; high: number }>;
    const at = (x: number | null) => values.find((v) => v.x === x)!;
    assert.ok(Math.abs(at(0.1).mean - 3.72) < 1e-12 && Math.abs(at(0.1).high - at(0.1).mean - 0.02) < 1e-12);
    assert.ok(Math.abs(at(1).mean - 3.8) < 1e-12, 'the diverged seed is not in the mean');
    assert.ok(Math.abs(at(null).mean - 3.9) < 1e-12 && at(null).series === 'cfm');
    // Two FDM points, their two error bars, one reference rule.
    const svg = await renderSvg(spec);
    assert.equal(markItems(svg, 'symbol'), 2);
    assert.equal(markItems(svg, 'rule'), 3);
  });

  it('draws bars of chosen metrics per row, and the time per iteration per row', async () => {
    const bars = metricBarsSpec(table, [{ key: 'nll', label: 'NLL' }], 't', 'nats')!;
    assert.equal(markItems(await renderSvg(bars), 'rect'), 3);
    const timing = tableFigures(table, columns).find((f) => f.name === 'timing')!;
    assert.deepEqual((rows(timing.spec) as Array<{ msPerIter: number }>).map((b) => b.msPerIter), [11, 22, 33]);
    assert.deepEqual(tableFigures(table, columns).map((f) => f.name), ['sweep-lambda', 'timing']);
  });
});
