import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate, AggregateRow, variedSettings } from '../src/report/aggregate';
import { ColumnSpec } from '../src/core/columns';
import { renderCsv, renderJson, renderMarkdown, renderTerminal } from '../src/report/render';

const CHECKERBOARD_COLUMNS: ColumnSpec[] = [
  { key: 'nll', header: 'NLL (nats)', digits: 3, showStd: true },
  { key: 'energyDistance', header: 'energy dist.', digits: 4, showStd: true },
  { key: 'mmd2', header: 'MMD²', digits: 5, showStd: true },
];
import { lambdaGridRecords, makeRecord } from './helpers/run-records';

const EPS = 1e-9;

function rowByKey(rows: AggregateRow[], key: string): AggregateRow {
  const row = rows.find((candidate) => candidate.key === key);
  assert.ok(row, `no row ${key}; have ${rows.map((r) => r.key).join(', ')}`);
  return row;
}

/** Minimal RFC 4180 reader, enough to prove the CSV round-trips. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '"' && text[i + 1] === '"') cell += text[i++];
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === ',') (row.push(cell), (cell = ''));
    else if (!quoted && char === '\n') (row.push(cell), rows.push(row), (row = []), (cell = ''));
    else cell += char;
  }
  return rows;
}

describe('aggregate', () => {
  const rows = aggregate(lambdaGridRecords());

  it('groups by method and the varied lambda, CFM without lambda, in display order', () => {
    assert.deepEqual(
      rows.map((row) => row.key),
      ['checkerboard cfm', 'checkerboard fdm lambda=0.1', 'checkerboard fdm lambda=1'],
    );
    assert.deepEqual(rowByKey(rows, 'checkerboard cfm').settings, {});
    assert.deepEqual(rowByKey(rows, 'checkerboard fdm lambda=1').settings, { lambda: 1 });
  });

  it('detects varied settings, ignoring seed and the lambda CFM does not use', () => {
    assert.deepEqual(variedSettings(lambdaGridRecords()), ['lambda']);
    const mixed = [
      ...lambdaGridRecords(),
      makeRecord({ method: 'cfm', seed: 1, nll: 3.9, msPerIter: 40, settings: { batchSize: 1024 } }),
    ];
    assert.deepEqual(variedSettings(mixed), ['batchSize', 'lambda']);
  });

  it('computes mean, sample std and standard error over seeds', () => {
    const cfm = rowByKey(rows, 'checkerboard cfm').metrics.nll;
    assert.equal(cfm.n, 3);
    assert.ok(Math.abs(cfm.mean! - 3.9) < EPS);
    assert.ok(Math.abs(cfm.std! - 0.1) < EPS);
    assert.ok(Math.abs(cfm.standardError! - 0.1 / Math.sqrt(3)) < EPS);
    const fdm = rowByKey(rows, 'checkerboard fdm lambda=0.1').metrics.nll;
    assert.ok(Math.abs(fdm.mean! - 3.72) < EPS);
    assert.ok(Math.abs(fdm.std! - 0.02) < EPS);
  });

  it('gives std 0 for a single seed', () => {
    const [row] = aggregate([makeRecord({ method: 'cfm', seed: 1, nll: 3.8, msPerIter: 10 })]);
    assert.deepEqual(row.metrics.nll, { n: 1, mean: 3.8, std: 0, standardError: 0 });
  });

  it('lists a diverged run and keeps it out of metric means and timing', () => {
    const row = rowByKey(rows, 'checkerboard fdm lambda=1');
    assert.equal(row.n, 4);
    assert.deepEqual(row.status, { ok: 3, diverged: 1 });
    assert.deepEqual(row.diverged, [{ runId: 'run-fdm-4', seed: 4, divergedAt: 17 }]);
    assert.ok(Math.abs(row.metrics.nll.mean! - 3.8) < EPS);
    assert.ok(Math.abs(row.metrics.nll.std! - 0.05) < EPS);
    assert.equal(row.msPerIterMedian, 33);
  });

  it('takes the median of per-run timing medians and divides FDM by the matching CFM', () => {
    assert.equal(rowByKey(rows, 'checkerboard cfm').msPerIterMedian, 11);
    assert.equal(rowByKey(rows, 'checkerboard fdm lambda=0.1').fdmCfmTimeRatio, 2);
    assert.equal(rowByKey(rows, 'checkerboard fdm lambda=1').fdmCfmTimeRatio, 3);
    assert.equal(rowByKey(rows, 'checkerboard cfm').fdmCfmTimeRatio, null);
  });

  it('matches the time ratio within other varied settings', () => {
    const records = [10, 20].flatMap((hidden) => [
      makeRecord({ method: 'cfm', seed: 1, nll: 3.9, msPerIter: hidden, settings: { hidden } }),
      makeRecord({ method: 'fdm', seed: 1, nll: 3.8, msPerIter: 5 * hidden, settings: { hidden, lambda: 0.1 } }),
    ]);
    const ratios = aggregate(records).map((row) => [row.key, row.fdmCfmTimeRatio]);
    assert.deepEqual(ratios, [
      ['checkerboard cfm hidden=10', null],
      ['checkerboard cfm hidden=20', null],
      ['checkerboard fdm hidden=10', 5],
      ['checkerboard fdm hidden=20', 5],
    ]);
  });
});

describe('render', () => {
  const rows = aggregate(lambdaGridRecords());

  it('writes Markdown with the spec headers, mean ± std and a dash for missing metrics', () => {
    const markdown = renderMarkdown(rows, CHECKERBOARD_COLUMNS);
    const [header, , cfmLine] = markdown.trimEnd().split('\n');
    assert.match(header, /\| method \| lambda \| NLL \(nats\) \| energy dist\. \| MMD² \|/);
    assert.match(header, /ms\/iter \(median\) \| FDM\/CFM time \| iterations \| seeds \| backend \|$/);
    // cfm: NLL 3.900 ± 0.100, energy 0.02 ± 0.01, no MMD².
    assert.equal(
      cfmLine,
      '| cfm | — | 3.900 ± 0.100 | 0.0200 ± 0.0100 | — | 11.00 | — | 100 | 3 | wasm (simd) |',
    );
    assert.match(markdown, /\| fdm \| 1 \| 3\.800 ± 0\.050 .* \| 33\.00 \| 3\.00× \| 100 \| 4 \(1 diverged\) \|/);
  });

  it('writes CSV that parses back to a header plus one line per row, with std in its own column', () => {
    const table = parseCsv(renderCsv(rows, CHECKERBOARD_COLUMNS));
    assert.equal(table.length, rows.length + 1);
    const [header, cfm] = table;
    assert.ok(table.every((line) => line.length === header.length));
    const nllStd = header.indexOf('NLL (nats) std');
    assert.ok(nllStd > 0);
    assert.ok(Math.abs(Number(cfm[nllStd]) - 0.1) < EPS);
    assert.equal(cfm[header.indexOf('MMD²')], '');
    assert.equal(cfm[header.indexOf('lambda')], '');
  });

  it('writes a terminal table and JSON', () => {
    const terminal = renderTerminal(rows, CHECKERBOARD_COLUMNS);
    assert.match(terminal, /NLL \(nats\)/);
    assert.match(terminal, /3\.720 ± 0\.020/);
    assert.deepEqual(JSON.parse(renderJson(rows)), rows);
  });

  it('prints tiny nonzero values in exponent notation instead of zeros', () => {
    const record = makeRecord({ method: 'cfm', seed: 1, nll: 3.8, msPerIter: 10, metrics: { mmd2: 0.0000012 } });
    assert.match(renderMarkdown(aggregate([record]), CHECKERBOARD_COLUMNS), /\| 1\.20e-6 \|/);
  });
});
