import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadRunConfig, resolveConfig, taskPresets } from '../src/cli/load-config';
import { RunConfigInput } from '../src/config/schema';
import { getTask, listTasks } from '../src/tasks/registry';
import { expandRuns } from '../src/runner/grid';

function tempYaml(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-config-'));
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('layers preset, then --config file, then flags', () => {
    const file = tempYaml('iterations: 77\nhidden: 9\neval:\n  steps: 5\n');
    const config = resolveConfig({ task: 'checkerboard', preset: 'quick', configFile: file, overrides: { hidden: 11 } });
    assert.equal(config.iterations, 77);
    assert.equal(config.hidden, 11);
    assert.equal(config.eval.steps, 5);
    assert.equal(config.eval.solver, 'rk4', 'nested settings not named in the file keep the preset value');
    assert.equal(config.batchSize, 512);
  });

  const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a negative batch size', { batchSize: -4 }, /batchSize: Too small/],
    ['lambda < 0', { lambda: [-0.5] }, /lambda\.0: Too small/],
    ['zero probes', { probes: 0 }, /probes\.0: Too small: expected number to be >0/],
    ['a wrong type', { iterations: 'many' }, /iterations: Invalid input: expected number/],
    ['an unknown key', { learningRate: 0.1 }, /unknown setting\(s\) 'learningRate'/],
    ['an unknown method', { methods: ['cfm', 'ot'] }, /methods\.1: Invalid option: expected one of "cfm"\|"fdm"/],
  ];
  for (const [what, overrides, message] of invalid) {
    it(`rejects ${what}, naming the field`, () => {
      assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'quick', overrides }), (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it("a task's own section is validated by its schema, and refused on a task that does not have it", () => {
    assert.throws(() => resolveConfig({ task: 'moving-mnist', preset: 'ci', overrides: { video: { size: -2 } } }), /video\.size: Too small/);
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: { video: { size: 32 } } }), /unknown setting\(s\) 'video'/);
    const dna = resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { simplex: { length: 6 } } });
    assert.deepEqual(dna.simplex, { simplexDim: [5], length: 6, alphaMax: 8, alphaScale: 2 });
  });

  it('validates every preset of every task', () => {
    // kth reads the user's copy of KTH: its presets are complete once the data paths are given.
    const dataPaths = { kth: { video: { trainPath: 'kth/train', testPath: 'kth/test' } } } as Record<string, RunConfigInput>;
    for (const task of listTasks()) {
      for (const preset of Object.keys(taskPresets(task.name))) {
        const overrides = dataPaths[task.name] ?? {};
        assert.doesNotThrow(() => resolveConfig({ task: task.name, preset, overrides }), `${task.name} ${preset}`);
      }
    }
  });

  it('rejects settings a task does not take: a path it does not train on, K off the simplex, a non-Euler simplex sampler', () => {
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: { path: ['dirichlet'] } }), /path: 'dirichlet' is not a path of task 'checkerboard'; valid paths: condot, vp, cosine/);
    assert.throws(() => resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { path: ['condot'] } }), /valid paths: linear, dirichlet/);
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: { simplex: { simplexDim: [10] } } }), /unknown setting\(s\) 'simplex'/);
    assert.throws(() => resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { eval: { solver: 'rk4' } } }), /dna-toy samples with Euler steps only/);
    assert.throws(() => resolveConfig({ task: 'dna-toy', preset: 'ci', overrides: { simplex: { simplexDim: [1] } } }), /simplex\.simplexDim\.0: Too small/);
  });

  it("accepts 'ot' as another name for the CondOT path", () => {
    const config = resolveConfig({ task: 'checkerboard', preset: 'ci', overrides: { path: ['ot', 'vp'] } });
    assert.deepEqual(config.path, ['condot', 'vp']);
  });

  it('rejects an unknown preset, listing the valid ones', () => {
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'huge', overrides: {} }), /unknown preset 'huge'.*quick, paper, reference, ci/);
  });

  it('rejects a config file that is not YAML, naming the file', () => {
    const file = tempYaml('iterations: [1, 2\n');
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'quick', configFile: file, overrides: {} }), new RegExp(`${file} is not valid YAML`));
  });

  it('rejects a missing config file, naming it', () => {
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'quick', configFile: '/no/such.yaml', overrides: {} }), /cannot read config file \/no\/such\.yaml/);
  });

  it("reads a run directory's config.yaml back, and names a missing directory or an invalid file", () => {
    const dir = path.dirname(tempYaml('task: checkerboard\npreset: ci\niterations: 9\n'));
    const saved = loadRunConfig(dir);
    assert.deepEqual([saved.task, saved.preset, saved.config.iterations, saved.config.checkpointEvery], ['checkerboard', 'ci', 9, 500]);
    assert.throws(() => loadRunConfig(path.join(dir, 'nothing')), /run directory .*nothing does not exist/);
    const invalid = path.dirname(tempYaml('task: checkerboard\nbatchSize: -1\n'));
    assert.throws(() => loadRunConfig(invalid), /invalid configuration \(.*config\.yaml\):\n  batchSize: Too small/);
    const noTask = path.dirname(tempYaml('iterations: 9\n'));
    assert.throws(() => loadRunConfig(noTask), /config file .*config\.yaml names no task/);
    const truncated = path.dirname(tempYaml('task: checkerboard\nmethods: [cfm,'));
    assert.throws(() => loadRunConfig(truncated), /config file .*config\.yaml is not valid YAML/);
  });

  it('sweeps every combination, without repeating CFM over FDM-only settings', () => {
    const config = resolveConfig({
      task: 'checkerboard',
      preset: 'quick',
      overrides: { seeds: [0, 1], lambda: [0.01, 0.1, 1], divEstimator: ['exact', 'hutchinson-squared'], probes: [1, 4] },
    });
    const runs = expandRuns(config, getTask('checkerboard'));
    const count = (method: string) => runs.filter((r) => r.method === method).length;
    assert.equal(count('cfm'), 2);
    // Per seed: 3 lambdas x (exact + hutchinson-squared with 2 probe counts) = 9.
    assert.equal(count('fdm'), 18);
  });

  it("without a probe count each estimator takes its own default, and too few probes are refused by name", () => {
    const config = resolveConfig({ task: 'checkerboard', preset: 'quick', overrides: { divEstimator: ['exact', 'hutchinson-unbiased', 'hutchinson-reference'] } });
    const probes = expandRuns(config, getTask('checkerboard')).filter((r) => r.method === 'fdm').map((r) => `${r.divEstimator}:${r.probes}`);
    assert.deepEqual(probes, ['exact:0', 'hutchinson-unbiased:2', 'hutchinson-reference:1']);
    assert.throws(
      () => resolveConfig({ task: 'checkerboard', preset: 'quick', overrides: { divEstimator: ['hutchinson-unbiased'], probes: [1] } }),
      /probes: hutchinson-unbiased needs at least 2 probes \(got 1\)/,
    );
    assert.throws(() => resolveConfig({ task: 'checkerboard', preset: 'quick', overrides: { divEstimator: ['hutchinson'] } }), /divEstimator.0: Invalid option/);
  });
});
