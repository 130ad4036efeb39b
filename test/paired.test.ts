import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PairedComparison, pairedComparisons, renderPairedMarkdown, renderPairedTerminal } from '../src/report/paired';
import { ColumnSpec } from '../src/core/columns';
import { RunRecord } from '../src/results/record';
import { assertClose } from './helpers/numeric';
import { lambdaGridRecords, makeRecord } from './helpers/run-records';

const COLUMNS: ColumnSpec[] = [
  { key: 'nll', header: 'NLL (nats)', digits: 3, showStd: true, better: 'lower' },
  { key: 'nllStdErr', header: 'NLL s.e.', digits: 3, showStd: false },
  { key: 'likelihood', header: 'likelihood', digits: 4, showStd: true, better: 'higher' },
  { key: 'energyDistance', header: 'energy dist.', digits: 4, showStd: true, better: 'lower' },
];

/*
 * Hand-computed t-test p-values: Student's t with 1 and 2 degrees of freedom has a closed-form
 * CDF, so the two-sided p-value is 1 - (2/pi) atan|t| for df = 1 and 1 - |t| / sqrt(2 + t^2) for df = 2.
 */
const pTwoSidedDf1 = (t: number) => 1 - (2 / Math.PI) * Math.atan(Math.abs(t));
const pTwoSidedDf2 = (t: number) => 1 - Math.abs(t) / Math.sqrt(2 + t * t);

/** CFM and FDM runs of the given seeds with these metric values. */
function pairedRecords(seeds: number[], cfm: Record<string, number[]>, fdm: Record<string, number[]>): RunRecord[] {
  const runs = (method: RunRecord['method'], values: Record<string, number[]>) =>
    seeds.map((seed, i) =>
      makeRecord({
        method,
        seed,
        nll: values.nll[i],
        msPerIter: 10,
        metrics: Object.fromEntries(Object.entries(values).map(([name, series]) => [name, series[i]])),
        settings: method === 'fdm' ? { lambda: 0.1 } : {},
      }),
    );
  // FDM first and seeds reversed: pairing must go by seed, not by position.
  return [...runs('fdm', fdm).reverse(), ...runs('cfm', cfm)];
}

function only(comparisons: PairedComparison[], metric: string): PairedComparison {
  const found = comparisons.filter((comparison) => comparison.metric === metric);
  assert.equal(found.length, 1, `one comparison of ${metric}`);
  return found[0];
}

describe('pairedComparisons', () => {
  it('pairs runs by seed and gives the hand-computed t, p-values and verdict', () => {
    const records = pairedRecords(
      [0, 1, 2],
      { nll: [4.0, 3.9, 3.8], likelihood: [0.018, 0.02, 0.019], nllStdErr: [0.01, 0.01, 0.01] },
      { nll: [3.99, 3.88, 3.77], likelihood: [0.019, 0.022, 0.02], nllStdErr: [0.02, 0.02, 0.02] },
    );
    const comparisons = pairedComparisons(records, COLUMNS);
    // nllStdErr has no direction; energyDistance is absent from the records.
    assert.deepEqual(comparisons.map((comparison) => comparison.metric), ['nll', 'likelihood']);

    // NLL differences -0.01, -0.02, -0.03: mean -0.02, sd 0.01, t = -0.02 / (0.01 / sqrt 3) = -2 sqrt 3.
    const nll = only(comparisons, 'nll');
    assert.equal(nll.key, 'checkerboard fdm');
    assert.equal(nll.pairs, 3);
    assertClose(nll.meanDifference, -0.02, 1e-12, 0, 'mean difference');
    assertClose(nll.t!, -2 * Math.sqrt(3), 1e-9, 0, 't');
    assertClose(nll.tTestP!, pTwoSidedDf2(2 * Math.sqrt(3)), 1e-9, 0, 't-test p'); // 0.0742
    // Every difference negative: W+ = 0, and P(W+ = 0) = 1/2^3 under H0, doubled for two sides.
    assertClose(nll.wilcoxonP!, 2 / 8, 1e-12, 0, 'Wilcoxon p');
    assert.equal(nll.better, 'fdm');
    assert.equal(nll.significant, false);

    // Likelihood differences 0.001, 0.002, 0.001: mean 0.004/3, sd 0.001/sqrt 3, t = 4; higher is better.
    const likelihood = only(comparisons, 'likelihood');
    assertClose(likelihood.t!, 4, 1e-9, 0, 't');
    assertClose(likelihood.tTestP!, pTwoSidedDf2(4), 1e-9, 0, 't-test p'); // 0.0572
    assert.equal(likelihood.better, 'fdm');
  });

  it('calls a difference significant when the t-test p is below 0.05, in either direction', () => {
    // Differences 0.10, 0.11, 0.09: mean 0.1, sd 0.01, t = 10 sqrt 3, p = 0.0033: CFM is significantly better.
    const records = pairedRecords([0, 1, 2], { nll: [3.8, 3.8, 3.8] }, { nll: [3.9, 3.91, 3.89] });
    const nll = only(pairedComparisons(records, COLUMNS), 'nll');
    assertClose(nll.t!, 10 * Math.sqrt(3), 1e-6, 0, 't');
    assertClose(nll.tTestP!, pTwoSidedDf2(10 * Math.sqrt(3)), 1e-9, 0, 't-test p');
    assert.equal(nll.better, 'cfm');
    assert.equal(nll.significant, true);
  });

  it('caps the Wilcoxon p-value at 1 when the statistic sits at the centre of its distribution', () => {
    // Differences 1, 2, -3: W+ = 1 + 2 = 3 of a maximum 6, the centre; doubling a tail gives 1.25.
    const records = pairedRecords([0, 1, 2], { nll: [4, 4, 4] }, { nll: [5, 6, 1] });
    assert.equal(only(pairedComparisons(records, COLUMNS), 'nll').wilcoxonP, 1);
  });

  it('handles two pairs (df = 1) and reports a tie without p-values when nothing differs', () => {
    // Differences 0.1 and 0.3: mean 0.2, sd 0.1 sqrt 2, t = 0.2 / 0.1 = 2.
    const two = only(pairedComparisons(pairedRecords([3, 7], { nll: [4, 4] }, { nll: [4.1, 4.3] }), COLUMNS), 'nll');
    assertClose(two.t!, 2, 1e-9, 0, 't');
    assertClose(two.tTestP!, pTwoSidedDf1(2), 1e-9, 0, 't-test p'); // 0.295
    assertClose(two.wilcoxonP!, 2 / 4, 1e-12, 0, 'Wilcoxon p');

    const tie = only(pairedComparisons(pairedRecords([0, 1], { nll: [4, 3.9] }, { nll: [4, 3.9] }), COLUMNS), 'nll');
    assert.deepEqual([tie.meanDifference, tie.t, tie.tTestP, tie.wilcoxonP, tie.better], [0, null, null, null, null]);
  });

  it('makes one comparison per FDM row, in table order, ignoring the lambda CFM records carry', () => {
    const comparisons = pairedComparisons(lambdaGridRecords(), COLUMNS);
    assert.deepEqual(
      comparisons.map((comparison) => [comparison.key, comparison.metric, comparison.pairs]),
      [
        ['checkerboard fdm lambda=0.1', 'nll', 3],
        ['checkerboard fdm lambda=1', 'nll', 3], // the diverged seed 4 has no pair
      ],
    );
    assert.deepEqual(comparisons[1].settings, { lambda: 1 });
    // lambda = 1: differences -0.05, -0.1, -0.15, so t = -0.1 / (0.05 / sqrt 3).
    assertClose(comparisons[1].t!, -2 * Math.sqrt(3), 1e-9, 0, 't');
  });

  it('leaves out comparisons with fewer than two pairs and runs whose shared settings differ', () => {
    assert.deepEqual(pairedComparisons(pairedRecords([0], { nll: [4] }, { nll: [3.9] }), COLUMNS), []);
    const records = pairedRecords([0, 1], { nll: [4, 4] }, { nll: [3.9, 3.8] });
    const otherBatch = records.map((record) =>
      record.method === 'cfm' ? { ...record, settings: { ...record.settings, batchSize: 1024 } } : record,
    );
    assert.deepEqual(pairedComparisons(otherBatch, COLUMNS), []);
  });

  it('pairs an FDM run with the CFM run of its own run directory when a configuration ran twice', () => {
    const inRun = (runId: string, seeds: number[], cfm: number[], fdm: number[]) =>
      pairedRecords(seeds, { nll: cfm }, { nll: fdm }).map((record) => ({ ...record, runId }));
    // Run A's FDM is 0.1 below its CFM, run B's 0.2; crossing runs would mix the two.
    const records = [...inRun('A', [0, 1], [4, 4.1], [3.9, 4.0]), ...inRun('B', [0, 1], [3.5, 3.6], [3.3, 3.4])];
    const nll = only(pairedComparisons(records, COLUMNS), 'nll');
    assert.equal(nll.pairs, 4);
    assertClose(nll.meanDifference, -0.15, 1e-12, 0, 'mean difference');
  });
});

describe('paired rendering', () => {
  const comparisons = pairedComparisons(lambdaGridRecords(), COLUMNS);

  it('prints a captioned table with the FDM settings, metric header, numbers and verdict', () => {
    const text = renderPairedTerminal(comparisons, COLUMNS);
    assert.match(text, /^Paired by seed: FDM − CFM/);
    for (const cell of ['fdm lambda=0.1', 'fdm lambda=1', 'NLL (nats)', 'Wilcoxon p', '-0.180', '-3.90', 'fdm (n.s.)']) {
      assert.ok(text.includes(cell), `missing ${cell} in\n${text}`);
    }
  });

  it('writes Markdown, and nothing when there is no comparison', () => {
    const lines = renderPairedMarkdown(comparisons, COLUMNS).trim().split('\n');
    assert.equal(lines[3], '| FDM run | metric | pairs | FDM − CFM | t | t-test p | Wilcoxon p | better |');
    assert.match(lines[5], /^\| fdm lambda=0\.1 \| NLL \(nats\) \| 3 \| -0\.180 \| -3\.90 \| 0\.060 \| 0\.250 \| fdm \(n\.s\.\) \|$/);
    assert.equal(renderPairedTerminal([], COLUMNS), '');
    assert.equal(renderPairedMarkdown([], COLUMNS), '');
  });
});
