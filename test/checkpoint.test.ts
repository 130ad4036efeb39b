import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { runConfigSchema } from '../src/config/schema';
import { Rng } from '../src/random/rng';
import { loadCheckpoint, loadModel, readModel, SavedFileError, writeCheckpoint, writeModel } from '../src/training/checkpoint';
import { npyFloat32, samplesCsv } from '../src/results/samples-file';
import { expandRuns } from '../src/runner/grid';
import { Experiment } from '../src/core/task';
import { decodeValues, encodeValues } from '../src/training/state';
import { TrainerState } from '../src/training/trainer';
import { useTestBackend } from './helpers/backend';
import { fakeTask } from './helpers/fake-task';

const spec = expandRuns(runConfigSchema.parse({ methods: ['fdm'] }), fakeTask())[0];
const otherSpec = { ...spec, lambda: 5 };
const trainer: TrainerState = { iteration: 3, stepMs: [1, 2, 3], history: [], optimizer: { iterations: 3, betaPowers: [0.729, 0.997], moments: [] } };

function newExperiment(): Experiment {
  return fakeTask().createExperiment(runConfigSchema.parse({}), spec, new Rng('fake/seed-0'));
}

describe('checkpoints and saved models', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-checkpoint-'));
  const file = path.join(dir, 'checkpoint.json');
  before(useTestBackend);

  it('encode float32 values exactly, at any offset', () => {
    const values = new Float32Array([0.1, -3e-39, Number.MAX_VALUE, 1 / 3, -0, 7]).subarray(1);
    assert.deepEqual(decodeValues(encodeValues(values, [5])), values);
  });

  it('load a checkpoint back into a fresh experiment', async () => {
    const source = newExperiment();
    writeCheckpoint(file, { task: 'fake', run: 'fdm seed 0', spec, trainer, experiment: await source.snapshot() });
    const target = newExperiment();
    target.variables[0].assign(target.variables[0].mul(0));
    assert.deepEqual(loadCheckpoint(file, 'fake', spec, target), trainer);
    assert.deepEqual(await target.snapshot(), await source.snapshot());
    source.dispose();
    target.dispose();
  });

  it("load a checkpoint and a model of a run with a task's grid axes (dna-toy's K)", async () => {
    const withAxes = { ...spec, axes: { simplexDim: 40 } };
    const source = newExperiment();
    writeCheckpoint(file, { task: 'fake', run: 'fdm simplexDim=40 seed 0', spec: withAxes, trainer, experiment: await source.snapshot() });
    const target = newExperiment();
    assert.deepEqual(loadCheckpoint(file, 'fake', withAxes, target), trainer);
    assert.throws(() => loadCheckpoint(file, 'fake', { ...spec, axes: { simplexDim: 80 } }, target), /belongs to another run/);
    const modelFile = path.join(dir, 'model-axes.json');
    writeModel(modelFile, { task: 'fake', run: 'fdm simplexDim=40 seed 0', spec: withAxes, experiment: await source.snapshot() }, null);
    assert.deepEqual(readModel(modelFile, 'fake', withAxes).spec, withAxes);
    source.dispose();
    target.dispose();
  });

  const experimentState = async () => {
    const e = newExperiment();
    const state = await e.snapshot();
    e.dispose();
    return state;
  };
  const badFiles: Array<[string, (text: string) => string | null, RegExp]> = [
    ['a missing file', () => null, /checkpoint file .*checkpoint\.json does not exist/],
    ['an empty file', () => '', /checkpoint file .*checkpoint\.json is truncated or corrupt \(not valid JSON, 0 bytes\)/],
    ['a truncated file', (text) => text.slice(0, text.length / 2), /checkpoint file .*checkpoint\.json is truncated or corrupt/],
    ['weights cut short', (text) => text.replace(/"base64":"(.{8})/, '"base64":"'), /checkpoint file .* is corrupt: experiment\.variables\.0: data length does not match the shape/],
    ['a wrong field type', (text) => text.replace('"iteration":3', '"iteration":"3"'), /is corrupt: trainer\.iteration: Invalid input: expected number/],
    ['moments that do not match the variables', (text) => text.replace('"moments":[]', '"moments":[{"shape":[1],"base64":"AAAAAA=="}]'), /is corrupt: trainer\.optimizer: the optimizer moments do not match/],
    ['a saved model in its place', (text) => text.replace('fdm-bench checkpoint', 'fdm-bench model'), /is corrupt: kind: Invalid input: expected "fdm-bench checkpoint"/],
    ['another run', (text) => text.replace('"lambda":0.1', '"lambda":5'), /checkpoint file .* belongs to another run/],
  ];
  for (const [what, corrupt, message] of badFiles) {
    it(`reject ${what}, naming the file`, async () => {
      writeCheckpoint(file, { task: 'fake', run: 'fdm seed 0', spec, trainer, experiment: await experimentState() });
      const text = corrupt(fs.readFileSync(file, 'utf8'));
      if (text === null) fs.rmSync(file);
      else fs.writeFileSync(file, text);
      const target = newExperiment();
      assert.throws(() => loadCheckpoint(file, 'fake', spec, target), (err: Error) => err instanceof SavedFileError && message.test(err.message));
      target.dispose();
    });
  }

  it('reject a state that does not fit the model, naming the file', async () => {
    const state = await experimentState();
    state.variables[0] = encodeValues(new Float32Array(6), [2, 3]);
    writeCheckpoint(file, { task: 'fake', run: 'fdm seed 0', spec, trainer, experiment: state });
    const target = newExperiment();
    assert.throws(() => loadCheckpoint(file, 'fake', spec, target), /checkpoint file .*: the saved state does not fit this run: variable 0 has shape \[2,3\], the model's is \[2,2\]/);
    target.dispose();
  });

  it('reject a saved model of another run, and a missing one, naming the file', async () => {
    const modelFile = path.join(dir, 'model.json');
    writeModel(modelFile, { task: 'fake', run: 'fdm seed 0', spec: otherSpec, experiment: await experimentState() }, null);
    const target = newExperiment();
    assert.throws(() => loadModel(modelFile, 'fake', spec, target), /model file .*model\.json belongs to another run/);
    assert.throws(() => loadModel(path.join(dir, 'none.json'), 'fake', spec, target), /model file .*none\.json does not exist/);
    target.dispose();
  });
});

describe('sample files', () => {
  const points = new Float32Array([0.5, -1.25, 3, 4.125, -0, 1e-3]);

  it('NPY: magic, version, a header padded to 64 bytes with shape and dtype, then the raw float32 data', () => {
    const bytes = npyFloat32(points, [3, 2]);
    assert.equal(bytes.subarray(0, 8).toString('latin1'), '\x93NUMPY\x01\x00');
    const headerLength = bytes.readUInt16LE(8);
    const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
    assert.equal((10 + headerLength) % 64, 0);
    assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 2\), \} *\n$/);
    const data = bytes.subarray(10 + headerLength);
    assert.deepEqual(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)), points);
    assert.match(npyFloat32(points, [6]).toString('latin1'), /'shape': \(6,\)/);
  });

  it('CSV: a header x0, x1 and one exact row per sample', () => {
    const lines = samplesCsv(points, 2).trimEnd().split('\n');
    assert.deepEqual(lines, ['x0,x1', '0.5,-1.25', '3,4.125', `0,${Math.fround(1e-3)}`]);
  });
});
