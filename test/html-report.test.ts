import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderHtmlReport } from '../src/report/html';
import { cliAsync } from './helpers/cli';
import { makeRecord } from './helpers/run-records';

/** Debian's Chromium (.ci/run installs it); FDM_BENCH_BROWSER_TEST=required makes its absence a failure. */
const CHROMIUM = process.env.FDM_BENCH_CHROMIUM ?? '/usr/bin/chromium';
const browserRequired = process.env.FDM_BENCH_BROWSER_TEST === 'required';
const haveChromium = fs.existsSync(CHROMIUM);

/** Every task with a `ci` preset (kth has none: it needs the KTH videos), reported on together. */
const TASKS = ['checkerboard', 'gmm1d', 'gmm2d', 'points', 'dna-toy', 'moving-mnist', 'mnist', 'lorenz', 'fitzhugh-nagumo'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-html-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What Chromium made of a page: its DOM after the scripts ran, and a screenshot. */
function openInChromium(file: string, screenshot: string): string {
  const profile = fs.mkdtempSync(path.join(tmp, 'profile-'));
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', `--user-data-dir=${profile}`, '--virtual-time-budget=30000'];
  const url = `file://${file}`;
  const shot = spawnSync(CHROMIUM, [...flags, '--window-size=1400,2400', `--screenshot=${screenshot}`, url], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(shot.status, 0, shot.stderr);
  const dom = spawnSync(CHROMIUM, [...flags, '--dump-dom', url], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  assert.equal(dom.status, 0, dom.stderr);
  return dom.stdout;
}

describe('HTML report (unit)', () => {
  const page = renderHtmlReport({
    title: 'a <title>',
    sections: [{ heading: 'task', table: '<table><tr><td>1</td></tr></table>', paired: '' }],
    figures: [{ name: 'run/samples', spec: { data: { values: [{ label: '</script><script>alert(1)</script>' }] }, mark: 'point' }, caption: 'run/samples.vl.json' }],
    runs: [{ dir: 'run', config: 'iterations: 3 # <b>', environment: { node: 'v20' } }],
  });

  it('is self-contained: every script inline, nothing loaded from elsewhere', () => {
    assert.doesNotMatch(page, /<script[^>]+src=/);
    assert.doesNotMatch(page, /<link[^>]+href=/);
    assert.equal((page.match(/<script>/g) ?? []).length, 4, 'vega, vega-lite, vega-embed and the renderer');
    assert.ok(page.length > 500_000, 'the libraries are in the page');
  });

  it('escapes text and keeps the figure data intact inside its script element', () => {
    assert.match(page, /<h1>a &#60;title&#62;<\/h1>/);
    assert.match(page, /iterations: 3 # &#60;b&#62;/);
    const json = page.match(/<script type="application\/json" id="figure-specs">(.*?)<\/script>/s)![1];
    assert.deepEqual(JSON.parse(json)[0].spec.data.values[0].label, '</script><script>alert(1)</script>');
  });
});

describe('report --format html (command line)', () => {
  const dirs = ['a', 'b'].map((name) => path.join(tmp, 'bad', name));
  before(() => {
    for (const [i, dir] of dirs.entries()) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'records.jsonl'), JSON.stringify(makeRecord({ method: 'cfm', seed: i, nll: 1, msPerIter: 1 })) + '\n');
    }
  });

  it('asks where the report goes when the results span several run directories, and writes nothing', async () => {
    const result = await cliAsync(['report', ...dirs, '--format', 'html']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--output: these results span 2 run directories/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    for (const dir of dirs) assert.equal(fs.existsSync(path.join(dir, 'report.html')), false);
  });

  it('refuses --output with a format that prints to stdout', async () => {
    const result = await cliAsync(['report', dirs[0], '--output', path.join(tmp, 'x.md'), '--format', 'markdown']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--output is for --format html/);
  });

  it('draws the figures of a task\'s runs across directories, which no directory holds', async () => {
    const file = path.join(tmp, 'both.html');
    const result = await cliAsync(['report', ...dirs, '--format', 'html', '--output', file]);
    assert.equal(result.status, 0, result.stderr);
    const figures = JSON.parse(fs.readFileSync(file, 'utf8').match(/<script type="application\/json" id="figure-specs">(.*?)<\/script>/s)![1]);
    assert.deepEqual(figures.map((f: { name: string }) => f.name), ['checkerboard/timing']);
    assert.deepEqual(figures[0].spec.data.values.map((v: { msPerIter: number }) => v.msPerIter), [1], 'the median over both runs');
  });

  it('writes report.html into the one run directory by default', async () => {
    const result = await cliAsync(['report', dirs[0], '--format', 'html']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), path.join(dirs[0], 'report.html'));
    assert.match(fs.readFileSync(path.join(dirs[0], 'report.html'), 'utf8'), /<h2>checkerboard<\/h2>/);
  });
});

describe('HTML report of ci runs in headless Chromium', { skip: !haveChromium && !browserRequired && `${CHROMIUM} not installed (.ci/run installs Debian's chromium)` }, () => {
  let report: string;
  let dom: string;
  let runDirs: string[];

  before(async () => {
    const runs = await Promise.all(TASKS.map((task) => cliAsync(['run', task, '--preset', 'ci', '--quiet', '--json', '--out', path.join(tmp, 'results')])));
    runs.forEach((run, i) => assert.equal(run.status, 0, `${TASKS[i]}: ${run.stderr}`));
    runDirs = runs.map((run) => JSON.parse(run.stdout).runDir);
    report = path.join(tmp, 'all.html');
    const made = await cliAsync(['report', ...runDirs, '--format', 'html', '--output', report]);
    assert.equal(made.status, 0, made.stderr);
    const screenshot = path.join(process.env.FDM_BENCH_SCREENSHOT_DIR ?? tmp, 'html-report.png');
    dom = openInChromium(report, screenshot);
    assert.ok(fs.statSync(screenshot).size > 10_000, 'a screenshot with something on it');
  });

  it('every run writes its own report.html beside its figures', () => {
    for (const dir of runDirs) assert.ok(fs.statSync(path.join(dir, 'report.html')).size > 500_000, dir);
  });

  it('renders every figure as a non-empty SVG, with no Vega error', () => {
    const status = dom.match(/<p id="render-status" data-state="(\w+)">([^<]*)</);
    assert.ok(status, 'the status line is there');
    const figureCount = runDirs.flatMap((dir) => fs.readdirSync(dir).filter((f) => f.endsWith('.vl.json'))).length;
    assert.deepEqual([status[1], status[2]], ['rendered', `${figureCount} figures rendered`]);
    const svgs = dom.match(/<div id="figure-\d+" class="figure[^"]*"[^>]*>.*?<\/svg>/gs) ?? [];
    assert.equal(svgs.length, figureCount);
    for (const svg of svgs) assert.ok((svg.match(/<path|<image|<text/g) ?? []).length > 10, svg.slice(0, 120));
  });

  it('has each task\'s table and every run\'s configuration and environment', () => {
    for (const task of TASKS) assert.match(dom, new RegExp(`<h2>${task}</h2>\\s*<div class="table-scroll"><table>`));
    assert.equal((dom.match(/<h3>Configuration<\/h3>/g) ?? []).length, TASKS.length);
    assert.equal((dom.match(/<h3>Environment<\/h3>/g) ?? []).length, TASKS.length);
  });
});
