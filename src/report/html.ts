import * as fs from 'node:fs';
import * as path from 'node:path';
import { ColumnSpec } from '../core/columns';
import { RunRecord } from '../results/record';
import { aggregate } from './aggregate';
import { pairedComparisons, renderPairedHtml } from './paired';
import { escapeHtml, renderHtml } from './render';
import { withTheme } from './figures/figure';
import { tableFigures } from './figures/summary';

/**
 * The HTML report: one self-contained file (no network access: Vega, Vega-Lite and vega-embed are
 * inlined, and every figure's specification with its data), with the tables, the paired tests, the
 * figures rendered in the browser (tooltips included), the configuration and the environment.
 */
export interface HtmlReport {
  title: string;
  /** Per task: its table and paired tests, already HTML. */
  sections: Array<{ heading: string; table: string; paired: string }>;
  figures: ReportFigure[];
  /** Per run directory: its config.yaml text and environment.json fields. */
  runs: Array<{ dir: string; config?: string; environment?: Record<string, unknown> }>;
}

export interface ReportFigure {
  /** Where it comes from, e.g. 'checkerboard/20261203-180940/samples'. */
  name: string;
  spec: unknown;
  /** What the page says under it: its file, or how the report made it. */
  caption: string;
}

/** Figures in the order a reader wants them: samples first, then the training curves, then the rest by name. */
const FIGURE_ORDER = ['samples', 'training-curves', 'divergence-error'];

function figureRank(file: string): number {
  const rank = FIGURE_ORDER.findIndex((name) => path.basename(file) === `${name}.vl.json`);
  return rank === -1 ? FIGURE_ORDER.length : rank;
}

/** Every figure specification (`*.vl.json`) directly in a run directory. */
export function readFigures(dir: string, name: string): ReportFigure[] {
  const files = fs.readdirSync(dir).filter((file) => file.endsWith('.vl.json'));
  files.sort((a, b) => figureRank(a) - figureRank(b) || a.localeCompare(b));
  return files.map((file) => ({ name: `${name}/${file.replace(/\.vl\.json$/, '')}`, spec: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')), caption: `${name}/${file}` }));
}

/** A run directory's configuration, environment and figures, as far as they are there. */
function readRun(dir: string): { run: HtmlReport['runs'][number]; figures: ReportFigure[] } {
  const file = (name: string) => path.join(dir, name);
  const config = fs.existsSync(file('config.yaml')) ? fs.readFileSync(file('config.yaml'), 'utf8') : undefined;
  const environment = fs.existsSync(file('environment.json')) ? JSON.parse(fs.readFileSync(file('environment.json'), 'utf8')) : undefined;
  const name = path.join(path.basename(path.dirname(path.resolve(dir))), path.basename(path.resolve(dir)));
  return { run: { dir: name, config, environment }, figures: readFigures(dir, name) };
}

/**
 * The report of records read from run directories: per task its table and paired tests (with the
 * task's columns), then every directory's figures, configuration and environment.
 */
export function buildHtmlReport(title: string, records: RunRecord[], columnsOf: (task: string) => readonly ColumnSpec[], dirs: string[]): HtmlReport {
  const tasks = [...new Set(records.map((r) => r.task))];
  const combined: ReportFigure[] = [];
  const sections = tasks.map((task) => {
    const own = records.filter((r) => r.task === task);
    const columns = columnsOf(task);
    const rows = aggregate(own);
    // Runs of one task from several directories: their sweeps and timings together, which no directory holds.
    if (new Set(own.map((r) => r.runId)).size > 1) combined.push(...tableFigures(rows, columns).map((f) => ({ name: `${task}/${f.name}`, spec: withTheme(f.spec), caption: `${task}: ${f.name} over all its run directories above (made for this report)` })));
    return { heading: task, table: renderHtml(rows, columns), paired: renderPairedHtml(pairedComparisons(own, columns), columns) };
  });
  const runs = dirs.map(readRun);
  return { title, sections, figures: [...combined, ...runs.flatMap((r) => r.figures)], runs: runs.map((r) => r.run) };
}

/** The minified browser builds the page inlines, in load order: each beside its package's main file (vega-embed exports no other path). */
const SCRIPTS = [['vega', 'vega.min.js'], ['vega-lite', 'vega-lite.min.js'], ['vega-embed', 'vega-embed.min.js']] as const;

function browserBuild([pkg, file]: readonly [string, string]): string {
  return fs.readFileSync(path.join(path.dirname(require.resolve(pkg)), file), 'utf8');
}

/** Text that is safe inside a <script> element: '</script' and '<!--' cannot occur in it. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON safe inside a <script> element (every '<' escaped, which JSON.parse reads back unchanged). */
function jsonInScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const STYLE = `
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1.5em; color: #111; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; }
table.environment td { white-space: normal; word-break: break-word; }
.table-scroll { overflow-x: auto; }
.caption { color: #444; max-width: 70em; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.85em; margin-top: 0.3em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
#render-status { color: #555; } #render-status[data-state="error"] { color: #b00; white-space: pre-wrap; }
`;

/** Renders every figure as SVG and records the outcome in #render-status (what the browser test reads). */
const RENDER_SCRIPT = `
(function () {
  var figures = JSON.parse(document.getElementById('figure-specs').textContent);
  var status = document.getElementById('render-status');
  var errors = [];
  window.addEventListener('error', function (event) { errors.push(String(event.message)); });
  Promise.all(figures.map(function (figure, i) {
    return vegaEmbed('#figure-' + i, figure.spec, { renderer: 'svg', actions: false })
      .catch(function (err) { errors.push(figure.name + ': ' + err); });
  })).then(function () {
    status.dataset.state = errors.length ? 'error' : 'rendered';
    status.textContent = errors.length ? errors.join('\\n') : figures.length + ' figures rendered';
  });
})();
`;

function runSection(run: HtmlReport['runs'][number]): string {
  const environment = run.environment
    ? `<h3>Environment</h3>\n<table class="environment"><tbody>\n${Object.entries(run.environment).map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`).join('\n')}\n</tbody></table>`
    : '';
  const config = run.config === undefined ? '' : `<h3>Configuration</h3>\n<pre>${escapeHtml(run.config)}</pre>`;
  return `<h2>Run ${escapeHtml(run.dir)}</h2>\n${config}\n${environment}`;
}

export function renderHtmlReport(report: HtmlReport): string {
  const scripts = SCRIPTS.map((build) => `<script>${scriptSafe(browserBuild(build))}</script>`).join('\n');
  const sections = report.sections.map((s) => `<h2>${escapeHtml(s.heading)}</h2>\n<div class="table-scroll">${s.table}</div>\n${s.paired ? `<div class="table-scroll">${s.paired}</div>` : ''}`).join('\n');
  const figures = report.figures.length
    ? report.figures.map((f, i) => `<figure><div id="figure-${i}" class="figure"></div><figcaption>${escapeHtml(f.caption)}</figcaption></figure>`).join('\n')
    : '<p>No figure specifications (<code>*.vl.json</code>) in these run directories.</p>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(report.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(report.title)}</h1>
<p id="render-status" data-state="pending">rendering figures…</p>
${sections}
<h2>Figures</h2>
${figures}
${report.runs.map(runSection).join('\n')}
<script type="application/json" id="figure-specs">${jsonInScript(report.figures.map((f) => ({ name: f.name, spec: f.spec })))}</script>
${scripts}
<script>${RENDER_SCRIPT}</script>
</body>
</html>
`;
}
