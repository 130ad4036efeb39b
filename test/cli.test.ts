import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { RunRecord } from '../src/results/record';
import { cli, cliAsync } from './helpers/cli';

/** A short checkerboard run, as CI runs it, into a fresh directory. */
const FAST = ['--preset', 'ci', '--iterations', '60', '--log-every', '20'];

describe('fdm-bench command line', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-cli-'));
  let json: { runDir: string; backend: string; records: RunRecord[] };

  before(() => {
    const run = cli(['run', 'checkerboard', ...FAST, '--out', out, '--json']);
    assert.equal(run.status, 0, run.stderr);
    json = JSON.parse(run.stdout);
  });

  it('prints exactly one JSON document on stdout with --json, progress on stderr', () => {
    assert.equal(json.records.length, 2);
    for (const record of json.records) {
      assert.equal(record.task, 'checkerboard');
      assert.equal(record.seed, 0);
      assert.equal(record.status, 'ok');
      assert.equal(typeof record.metrics.nll, 'number');
      assert.ok(record.timing.msPerIterMedian > 0);
      assert.equal(record.settings.iterations, 60);
    }
    assert.deepEqual(json.records.map((r) => r.method), ['cfm', 'fdm']);
    assert.equal(json.records[1].settings.lambda, 0.1);
  });

  it('writes config, environment, records (JSONL and CSV), a Markdown table and a PNG', () => {
    for (const file of ['config.yaml', 'environment.json', 'records.jsonl', 'records.csv', 'table.md', 'samples.png']) {
      assert.ok(fs.existsSync(path.join(json.runDir, file)), file);
    }
    const env = JSON.parse(fs.readFileSync(path.join(json.runDir, 'environment.json'), 'utf8'));
    assert.equal(env.backend, json.backend);
    assert.match(env.tfjs, /^\d+\.\d+\.\d+$/);
    const lines = fs.readFileSync(path.join(json.runDir, 'records.jsonl'), 'utf8').trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => JSON.parse(l)), json.records);
  });

  it('reproduces the same metrics from the same seed and backend', () => {
    const again = cli(['run', 'checkerboard', ...FAST, '--out', out, '--json']);
    const records = (JSON.parse(again.stdout) as typeof json).records;
    assert.deepEqual(records.map((r) => r.metrics), json.records.map((r) => r.metrics));
  });

  it('passes `check` against a baseline written from the run, and fails on a worse result', () => {
    const baseline = path.join(out, 'baseline.json');
    assert.equal(cli(['check', json.runDir, '--baseline', baseline, '--write-baseline']).status, 0);
    const pass = cli(['check', json.runDir, '--baseline', baseline]);
    assert.equal(pass.status, 0, pass.stdout + pass.stderr);
    // A deliberately worse FDM result: NLL up by 0.5 nats.
    const worseDir = path.join(out, 'worse');
    fs.mkdirSync(worseDir);
    const worse = json.records.map((r) => (r.method === 'fdm' ? { ...r, metrics: { ...r.metrics, nll: (r.metrics.nll as number) + 0.5 } } : r));
    fs.writeFileSync(path.join(worseDir, 'records.jsonl'), worse.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const fail = cli(['check', worseDir, '--baseline', baseline]);
    assert.equal(fail.status, 1);
    assert.match(fail.stdout, /FAIL checkerboard fdm.*nll/);
  });

  it('rejects bad input with a clear message and exit code 2, writing nothing', () => {
    const before = fs.readdirSync(path.join(out, 'checkerboard')).sort();
    const unknownTaskJson = cli(['run', 'checkerbord', '--out', out, '--json']);
    assert.equal(unknownTaskJson.status, 2, 'the same exit code with --json');
    assert.match(JSON.parse(unknownTaskJson.stdout).error.message, /unknown task 'checkerbord'/);
    const unknownTask = cli(['run', 'checkerbord', '--out', out]);
    assert.equal(unknownTask.status, 2);
    assert.match(unknownTask.stderr, /unknown task 'checkerbord'; valid tasks: checkerboard/);
    const badValues = cli(['run', 'checkerboard', '--batch-size', '-3', '--lambda', '-1', '--out', out]);
    assert.equal(badValues.status, 2);
    assert.match(badValues.stderr, /batchSize: Too small/);
    assert.match(badValues.stderr, /lambda\.0: Too small/);
    const unknownFlag = cli(['run', 'checkerboard', '--lamda', '0.1', '--out', out]);
    assert.notEqual(unknownFlag.status, 0);
    assert.match(unknownFlag.stderr, /Nonexistent flag: --lamda/);
    assert.deepEqual(fs.readdirSync(path.join(out, 'checkerboard')).sort(), before);
  });

  it('rejects what only the command line can get wrong, naming the value and the valid ones, with exit code 2', async () => {
    const notYaml = path.join(out, 'broken.yaml');
    fs.writeFileSync(notYaml, 'iterations: [1, 2\nhidden: 8\n');
    const cases: Array<[string[], RegExp]> = [
      [['run', 'checkerboard', '--backend', 'cuda', '--out', out], /Expected --backend=cuda to be one of: auto, wasm, cpu, webgpu, tensorflow, tensorflow-gpu/],
      [['run', 'checkerboard', '--config', notYaml, '--out', out], /config file .*broken\.yaml is not valid YAML \(line 2\)/],
      [['run', '--out', out], /give a task \(see `fdm-bench list`\), or --resume <run-dir>/],
      [['run', '--resume', out, '--iterations', '5'], /--iterations=5 cannot also be provided when using --resume/],
      [['run', 'checkerboard', '--out', notYaml], /--out .*broken\.yaml: cannot create the results folder .*broken\.yaml\/checkerboard: a file is in the way/],
      [['check', out, '--baseline', notYaml], /broken\.yaml: not a baseline: invalid JSON/],
      [['run', 'checkerboard', '--batch-size', '100000000', '--backend', 'wasm', '--out', out], /batchSize 100000000: a training step needs at least 381\.5 GiB .* more than the wasm backend's 4 GiB heap/],
    ];
    const results = await Promise.all(cases.map(([args]) => cliAsync(args)));
    results.forEach((result, i) => {
      const [args, message] = cases[i];
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      // oclif wraps long messages, starting each line with ' › '.
      assert.match(result.stderr.replace(/\s*\n ›\s*/g, ' '), message, args.join(' '));
    });
  });

  it('re-renders stored results with `report` in every format', () => {
    const markdown = cli(['report', json.runDir, '--format', 'markdown']);
    assert.equal(markdown.status, 0, markdown.stderr);
    assert.match(markdown.stdout, /\| method \|.*NLL \(nats\)/);
    const csv = cli(['report', json.runDir, '--format', 'csv']);
    assert.equal(csv.stdout.trim().split('\n').length, 3);
    assert.equal(JSON.parse(cli(['report', json.runDir, '--format', 'json']).stdout).length, 2);
  });
});
