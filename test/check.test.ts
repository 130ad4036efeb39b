import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aggregate } from '../src/report/aggregate';
import { checkAgainstBaseline, DEFAULT_TOLERANCES, makeBaseline, parseBaseline } from '../src/report/check';
import { RunRecord } from '../src/results/record';
import { appendRecord, readRecords, writeFileAtomic } from '../src/results/store';
import { lambdaGridRecords, makeRecord } from './helpers/run-records';

const SOURCE = 'results/checkerboard/run-1';

/** The lambda grid with every nll of one FDM row shifted by `delta`. */
function gridWithWorseNll(delta: number): RunRecord[] {
  return lambdaGridRecords().map((record) =>
    record.method === 'fdm' && record.settings.lambda === 0.1
      ? { ...record, metrics: { ...record.metrics, nll: record.metrics.nll! + delta } }
      : record,
  );
}

describe('checkAgainstBaseline', () => {
  const baseline = makeBaseline(aggregate(lambdaGridRecords()), SOURCE);

  it('passes against the rows it was built from, with an ok line per compared value', () => {
    const result = checkAgainstBaseline(aggregate(lambdaGridRecords()), baseline);
    assert.equal(result.passed, true, result.lines.join('\n'));
    assert.ok(result.lines.some((line) => line.startsWith('ok checkerboard fdm lambda=0.1: nll 3.720')));
    assert.ok(result.lines.every((line) => line.startsWith('ok ')));
  });

  it('fails when nll is worse than the tolerance allows, naming row and metric', () => {
    const result = checkAgainstBaseline(aggregate(gridWithWorseNll(0.1)), baseline);
    assert.equal(result.passed, false);
    const failures = result.lines.filter((line) => line.startsWith('FAIL'));
    assert.deepEqual(failures, [
      'FAIL checkerboard fdm lambda=0.1: nll 3.820 > baseline 3.720 + tol 0.050 (worse by 0.100)',
    ]);
  });

  it('passes when nll is worse but within tolerance, and when it improves', () => {
    assert.equal(checkAgainstBaseline(aggregate(gridWithWorseNll(0.04)), baseline).passed, true);
    assert.equal(checkAgainstBaseline(aggregate(gridWithWorseNll(-1)), baseline).passed, true);
  });

  it('skips the values it is told to ignore, and checks the rest', () => {
    const slower = lambdaGridRecords().map((record) => ({ ...record, timing: { ...record.timing, msPerIterMedian: 1000 * record.timing.msPerIterMedian } }));
    assert.equal(checkAgainstBaseline(aggregate(slower), baseline).passed, false, 'a thousand times slower fails');
    const ignored = checkAgainstBaseline(aggregate(slower), baseline, ['msPerIterMedian']);
    assert.equal(ignored.passed, true, ignored.lines.join('\n'));
    assert.ok(ignored.lines.includes('skip checkerboard cfm: msPerIterMedian not checked (--ignore)'));
    assert.equal(checkAgainstBaseline(aggregate(gridWithWorseNll(0.1)), baseline, ['msPerIterMedian']).passed, false, 'nll is still checked');
  });

  it('fails when a baseline row is missing from the current results', () => {
    const withoutCfm = lambdaGridRecords().filter((record) => record.method !== 'cfm');
    const result = checkAgainstBaseline(aggregate(withoutCfm), baseline);
    assert.equal(result.passed, false);
    assert.ok(result.lines.includes('FAIL checkerboard cfm: row missing from current results'));
  });

  it('treats higher-is-better metrics and relative tolerances in their own direction', () => {
    const tolerances = { accuracy: { rel: 0.1, better: 'higher' as const } };
    const scored = (accuracy: number) =>
      aggregate([makeRecord({ method: 'cfm', seed: 1, nll: 3.9, msPerIter: 10, metrics: { accuracy } })]);
    const higherBaseline = makeBaseline(scored(0.8), SOURCE, tolerances);
    assert.equal(checkAgainstBaseline(scored(0.75), higherBaseline).passed, true);
    const result = checkAgainstBaseline(scored(0.7), higherBaseline);
    assert.equal(result.passed, false);
    assert.match(result.lines[0], /accuracy 0\.700 < baseline 0\.800 - tol 0\.080/);
  });

  it('round-trips through JSON and rejects a malformed baseline file', () => {
    const parsed = parseBaseline('baseline.json', JSON.stringify(baseline));
    assert.deepEqual(parsed, baseline);
    assert.deepEqual(parsed.tolerances, DEFAULT_TOLERANCES);
    assert.throws(() => parseBaseline('baseline.json', '{"schema": 1}'), /baseline\.json: invalid baseline: createdAt/);
  });
});

describe('results store', () => {
  const tempDirs: string[] = [];
  const tempDir = () => {
    tempDirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-bench-store-')));
    return tempDirs[tempDirs.length - 1];
  };
  after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  const lines = (records: RunRecord[]) => records.map((record) => JSON.stringify(record) + '\n').join('');
  const [first, second, third] = lambdaGridRecords();

  it('skips a truncated final line with a warning', () => {
    const file = path.join(tempDir(), 'records.jsonl');
    fs.writeFileSync(file, lines([first, second]) + JSON.stringify(third).slice(0, 40));
    const { records, warnings } = readRecords([file]);
    assert.deepEqual(records, [first, second]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /records\.jsonl:3: skipped truncated final line/);
  });

  it('rejects a corrupt middle line, naming file and line', () => {
    const file = path.join(tempDir(), 'records.jsonl');
    fs.writeFileSync(file, lines([first]) + '{"schema": 1, "runId"\n' + lines([second]));
    assert.throws(() => readRecords([file]), (error: Error) => error.message.startsWith(`${file}:2: malformed JSON`));
  });

  it('rejects a record missing a required field, naming the field', () => {
    const file = path.join(tempDir(), 'records.jsonl');
    const { timing: _timing, ...withoutTiming } = first;
    fs.writeFileSync(file, lines([first]) + JSON.stringify(withoutTiming) + '\n');
    assert.throws(() => readRecords([file]), new RegExp(`${file}:2: invalid record: timing`));
  });

  it('finds records.jsonl in run directories nested under a task directory', () => {
    const root = tempDir();
    appendRecord(path.join(root, 'checkerboard', 'run-b', 'records.jsonl'), second);
    appendRecord(path.join(root, 'checkerboard', 'run-a', 'records.jsonl'), first);
    appendRecord(path.join(root, 'checkerboard', 'run-a', 'records.jsonl'), third);
    const fromRoot = readRecords([root]);
    assert.deepEqual(fromRoot, { records: [first, third, second], warnings: [] });
    assert.deepEqual(readRecords([path.join(root, 'checkerboard', 'run-b')]).records, [second]);
  });

  it('warns about a directory without records', () => {
    assert.match(readRecords([tempDir()]).warnings[0], /no records\.jsonl found/);
  });

  it('writes files atomically, leaving no temp file behind', () => {
    const dir = tempDir();
    const file = path.join(dir, 'table.md');
    writeFileAtomic(file, 'old');
    writeFileAtomic(file, 'new');
    assert.equal(fs.readFileSync(file, 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(dir), ['table.md']);
  });
});
