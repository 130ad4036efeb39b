import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../src/cli/load-config';
import { runIdentity } from '../src/runner/identity';
import { gridJobs } from '../src/runner/jobs';
import { loadPaperNumbers, PaperEntry } from '../src/reproduce/paper-numbers';
import { ReproductionRow, verdictOf } from '../src/reproduce/table';
import { getTask } from '../src/tasks/registry';
import { cli, cliAsync } from './helpers/cli';

const tempRoot = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-reproduce-'));

describe('the paper numbers file', () => {
  const numbers = loadPaperNumbers();

  it('names, for every entry the suite runs, a task and one of its columns', () => {
    for (const entry of numbers.entries.filter((e) => e.suite)) {
      const task = getTask(entry.suite!.task);
      const keys = [...task.columns.map((c) => c.key), 'msPerIterMedian'];
      assert.ok(keys.includes(entry.suite!.metric), `${entry.id}: '${entry.suite!.metric}' is not a column of ${task.name}`);
    }
  });

  it("gives every entry a source the file defines, and a reason for what cannot run", () => {
    for (const entry of numbers.entries) {
      assert.ok(numbers.sources[entry.source], entry.id);
      assert.ok(entry.suite || entry.notRunnable, entry.id);
    }
  });

  it("holds the checkerboard's numbers as the issue quotes them", () => {
    const checkerboard = numbers.entries.find((e) => e.id === 'checkerboard-likelihood')!;
    assert.deepEqual(checkerboard.paper, { cfm: 2.38e-2, fdm: 2.53e-2 });
  });
});

describe('verdicts', () => {
  const entry = (better: 'lower' | 'higher', paper?: { cfm: number; fdm: number }) =>
    ({ better, paper, id: 'x', family: 'density', experiment: 'x', where: 'x', metric: 'x', unit: 'x', source: 'x' }) as PaperEntry;
  const suite = (cfm: number, fdm: number, better: 'cfm' | 'fdm' | null, significant: boolean | null): NonNullable<ReproductionRow['suite']> => ({
    cfm: { n: 3, mean: cfm, sd: 0.1 },
    fdm: { n: 3, mean: fdm, sd: 0.1 },
    seeds: [0, 1, 2],
    statistics: significant === null ? null : { pairs: 3, meanDifference: fdm - cfm, t: 1, tTestP: significant ? 0.01 : 0.3, wilcoxonP: 0.25, better, significant },
  });

  it("says 'reproduced' only for the paper's direction with a significant paired test", () => {
    const paper = entry('higher', { cfm: 1, fdm: 2 });
    assert.equal(verdictOf(paper, suite(1, 1.5, 'fdm', true)), 'reproduced');
    assert.equal(verdictOf(paper, suite(1, 1.5, 'fdm', false)), 'same direction (n.s.)');
    assert.equal(verdictOf(paper, suite(1, 0.5, 'cfm', true)), 'opposite');
    assert.equal(verdictOf(paper, suite(1, 0.5, 'cfm', false)), 'opposite (n.s.)');
  });

  it('reads the direction of a lower-is-better metric, and of one seed (no test) as not significant', () => {
    const paper = entry('lower', { cfm: 0.0314, fdm: 0.0266 });
    assert.equal(verdictOf(paper, suite(0.03, 0.02, null, null)), 'same direction (n.s.)');
    assert.equal(verdictOf(paper, suite(0.02, 0.03, null, null)), 'opposite (n.s.)');
  });

  it('reports the suite alone where the paper has no number', () => {
    assert.equal(verdictOf(entry('lower'), suite(0.3, 0.2, 'fdm', true)), 'suite only: fdm better');
  });
});

describe('run identity', () => {
  const task = getTask('checkerboard');
  const identities = (overrides: Record<string, unknown>, backend = 'wasm', numerics = 1) => {
    const config = resolveConfig({ task: 'checkerboard', preset: 'ci', overrides });
    return gridJobs(config, task).map((job) => `${job.spec.method}/${job.spec.seed}=${runIdentity({ task, spec: job.spec, config, backend, numerics })}`);
  };

  it('does not depend on the rest of the grid, the log or the checkpoint interval', () => {
    const cfm0 = identities({ methods: ['cfm'], seeds: [0] })[0];
    assert.ok(identities({ seeds: [0, 1, 2], logEvery: 7, checkpointEvery: 3 }).includes(cfm0));
  });

  it('changes with a setting that shapes the numbers, the backend and the numerics version', () => {
    const [base] = identities({ methods: ['cfm'] });
    for (const [what, other] of [
      ['iterations', identities({ methods: ['cfm'], iterations: 401 })[0]],
      ['eval.nllSamples', identities({ methods: ['cfm'], eval: { nllSamples: 999 } })[0]],
      ['eval.rtol', identities({ methods: ['cfm'], eval: { rtol: 1e-4 } })[0]],
      ['backend', identities({ methods: ['cfm'] }, 'cpu')[0]],
      ['numerics', identities({ methods: ['cfm'] }, 'wasm', 2)[0]],
    ]) {
      assert.notEqual(other.split('=')[1], base.split('=')[1], what);
    }
    const fdm = (lambda: number) => identities({ methods: ['fdm'], lambda: [lambda] })[0];
    assert.notEqual(fdm(0.1), fdm(0.2));
  });
});

describe('fdm-bench reproduce', () => {
  const args = (root: string) => ['reproduce', '--family', 'cost', '--scale', 'ci', '--seeds', '2', '--backend', 'wasm', '--out', root, '--json', '-q'];
  const costRow = (stdout: string) => (JSON.parse(stdout) as { rows: ReproductionRow[] }).rows.find((row) => row.id === 'time-per-iteration')!;

  it('trains what is missing once, then reuses it: a second invocation trains nothing', () => {
    const root = tempRoot();
    const first = cli(args(root));
    assert.equal(first.status, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).trained.length, 1);
    assert.equal(costRow(first.stdout).suite!.seeds.length, 2);
    const second = cli(args(root));
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).trained, []);
    assert.deepEqual(costRow(second.stdout), costRow(first.stdout));
    assert.ok(fs.readFileSync(path.join(root, 'reproduce', 'ci.md'), 'utf8').includes('training cost'));
  });

  it('counts every run once when two invocations share a results root at the same time', async () => {
    const root = tempRoot();
    const [a, b] = await Promise.all([cliAsync(args(root)), cliAsync(args(root))]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    // Both may have trained the same runs; the table takes one of each (the earliest run directory).
    assert.equal(costRow(a.stdout).suite!.seeds.length, 2);
    const third = cli(args(root));
    assert.deepEqual(JSON.parse(third.stdout).trained, []);
    assert.equal(costRow(third.stdout).suite!.cfm.n, 2);
    assert.equal(costRow(third.stdout).suite!.fdm.n, 2);
  });

  it('continues an interrupted reproduction from its checkpoints, to the metrics of an uninterrupted one', async () => {
    const [stopped, straight] = [tempRoot(), tempRoot()];
    const plain = (root: string) => args(root).filter((arg) => arg !== '-q');
    const interrupted = await cliAsync(plain(stopped), { when: /fdm lambda=0\.1 seed 0 it 200\/400/, signal: 'SIGINT' });
    assert.equal(interrupted.status, 130, interrupted.stderr);
    const [resumed, uninterrupted] = await Promise.all([cliAsync(plain(stopped)), cliAsync(args(straight))]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const trained = JSON.parse(resumed.stdout).trained as string[];
    assert.deepEqual(trained, [path.join(stopped, 'checkerboard', fs.readdirSync(path.join(stopped, 'checkerboard'))[0])], 'the interrupted run directory, continued; nothing new');
    assert.match(resumed.stderr, /resuming .* from its checkpoints/);
    assert.ok(fs.existsSync(path.join(trained[0], 'records.jsonl')));
    const metrics = (stdout: string) => {
      const row = costRow(stdout);
      return [row.suite!.cfm.n, row.suite!.fdm.n];
    };
    assert.deepEqual(metrics(resumed.stdout), [2, 2]);
    const nll = (root: string) =>
      fs
        .readdirSync(path.join(root, 'checkerboard'))
        .flatMap((dir) => {
          const file = path.join(root, 'checkerboard', dir, 'records.jsonl');
          return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line)) : [];
        })
        .map((r) => `${r.method}/${r.seed}=${r.metrics.nll}`)
        .sort();
    assert.deepEqual(nll(stopped), nll(straight));
    assert.equal(uninterrupted.status, 0, uninterrupted.stderr);
  });

  it('refuses an unknown family by name, with exit code 2 and no stack trace', () => {
    const result = cli(['reproduce', '--family', 'astronomy', '--out', tempRoot()]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /unknown family 'astronomy'/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
