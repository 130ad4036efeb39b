import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { resolveConfig } from '../src/cli/load-config';
import { readPointsFile } from '../src/datasets/points-file';
import { Rng } from '../src/random/rng';
import { gridJobs } from '../src/runner/jobs';
import { pointsTask } from '../src/tasks/points';
import { createStepper } from '../src/training/trainer';
import { useTestBackend } from './helpers/backend';
import { cli } from './helpers/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-points-'));

/** A .npy file (format 1.0) of a C-ordered 2D array, written by hand as NumPy does. */
function writeNpy(file: string, rows: number, dim: number, values: number[], dtype: '<f4' | '<f8'): void {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const bytes = dtype === '<f8' ? Buffer.from(Float64Array.from(values).buffer) : Buffer.from(Float32Array.from(values).buffer);
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), bytes]));
}

/** Rows of a d-dimensional Gaussian with unequal scales, and a copy scaled by `factor`. */
function gaussianRows(rows: number, dim: number, factor = 1): number[] {
  const rng = new Rng(`points-test/${dim}`);
  return Array.from({ length: rows * dim }, (_, i) => factor * (1 + (i % dim)) * rng.normal());
}

/** The FDM run of a points configuration, trained a few steps, evaluated. */
async function evaluateOn(data: string, iterations = 20) {
  const config = resolveConfig({ task: 'points', preset: 'ci', overrides: { iterations, points: { data } } });
  const { spec } = gridJobs(config, pointsTask).find((job) => job.spec.method === 'fdm')!;
  const experiment = pointsTask.createExperiment(config, spec, new Rng('points-test'));
  const stepper = createStepper(experiment, config.lr, 'constant', config.iterations);
  for (let i = 1; i <= iterations; i++) stepper.step(i).dispose();
  const result = await experiment.evaluate();
  stepper.dispose();
  experiment.dispose();
  return result.metrics;
}

describe('points: the user-data task', () => {
  before(useTestBackend);

  it('reads the same table from a CSV (with a header) and from .npy files of float64 and float32', () => {
    const values = [1.5, -2, 3.25, 0, 4, -0.5];
    fs.writeFileSync(path.join(dir, 'a.csv'), 'x,y\n1.5,-2\n3.25, 0\n4 -0.5\n');
    writeNpy(path.join(dir, 'a8.npy'), 3, 2, values, '<f8');
    writeNpy(path.join(dir, 'a4.npy'), 3, 2, values, '<f4');
    for (const name of ['a.csv', 'a8.npy', 'a4.npy']) {
      const table = readPointsFile(path.join(dir, name));
      assert.deepEqual([table.rows, table.dim, Array.from(table.values)], [3, 2, values], name);
    }
  });

  it('names what is wrong with a file that is not a table of points', () => {
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ['ragged.csv', '1,2\n3\n', /row 2 has 1 values, the first has 2/],
      ['text.csv', '1,2\n3,abc\n', /row 2, column 2: 'abc' is not a finite number/],
      ['empty.csv', 'x,y\n', /no rows of numbers/],
      ['fake.npy', 'not numpy', /not a \.npy file/],
    ];
    for (const [name, contents, message] of cases) {
      fs.writeFileSync(path.join(dir, name), contents);
      assert.throws(() => readPointsFile(path.join(dir, name)), message, name);
    }
    writeNpy(path.join(dir, 'flat.npy'), 6, 1, [1, 2, 3, 4, 5, 6], '<f8');
    fs.writeFileSync(path.join(dir, 'cube.npy'), fs.readFileSync(path.join(dir, 'flat.npy')).toString('latin1').replace('(6, 1)', '(1,6,1)'), 'latin1');
    assert.throws(() => readPointsFile(path.join(dir, 'cube.npy')), /is not 2-D/);
  });

  it('reports the NLL in the data units: scaling the data by 10 adds d ln 10 and changes nothing else', async () => {
    const [rows, dim] = [400, 3];
    writeNpy(path.join(dir, 'g.npy'), rows, dim, gaussianRows(rows, dim), '<f8');
    writeNpy(path.join(dir, 'g10.npy'), rows, dim, gaussianRows(rows, dim, 10), '<f8');
    const [plain, scaled] = [await evaluateOn(path.join(dir, 'g.npy')), await evaluateOn(path.join(dir, 'g10.npy'))];
    assert.ok(Math.abs(scaled.nll - plain.nll - dim * Math.log(10)) < 1e-4, `NLL ${plain.nll} -> ${scaled.nll}`);
    assert.ok(Math.abs(scaled.energyDistance - plain.energyDistance) < 1e-5, 'sample metrics are taken on the standardised data');
  });

  it('above 16 dimensions the NLL comes from Hutchinson probes, with a standard error', async () => {
    const [rows, dim] = [200, 20];
    writeNpy(path.join(dir, 'g20.npy'), rows, dim, gaussianRows(rows, dim), '<f4');
    const metrics = await evaluateOn(path.join(dir, 'g20.npy'), 5);
    assert.ok(Number.isFinite(metrics.nll) && metrics.nllStdErr > 0, JSON.stringify(metrics));
  });

  it('refuses a missing file, a flag of its own on another task, and data of more than 64 dimensions, with exit code 2', () => {
    // oclif wraps long messages, starting each line with ' › '.
    const unwrapped = (text: string) => text.replace(/\s*\n ›\s*/g, ' ');
    const missing = cli(['run', 'points', '--data', path.join(dir, 'nope.csv'), '--out', dir]);
    assert.equal(missing.status, 2);
    assert.match(unwrapped(missing.stderr), /points\.data: .*nope\.csv: no such file/);
    const elsewhere = cli(['run', 'checkerboard', '--data', path.join(dir, 'a.csv'), '--out', dir]);
    assert.equal(elsewhere.status, 2);
    assert.match(unwrapped(elsewhere.stderr), /--data is not a setting of task 'checkerboard'/);
    writeNpy(path.join(dir, 'wide.npy'), 20, 65, new Array(20 * 65).fill(0).map((_, i) => i % 7), '<f8');
    const wide = cli(['run', 'points', '--data', path.join(dir, 'wide.npy'), '--out', dir]);
    assert.equal(wide.status, 2);
    assert.match(unwrapped(wide.stderr), /65 columns; the points task takes up to 64 dimensions/);
  });
});
