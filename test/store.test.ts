import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { parseRecordsFile } from '../src/results/store';
import { makeRecord } from './helpers/run-records';

const STORE = path.resolve(__dirname, '..', 'src', 'results', 'store.js');

/** Starts a node process running `body` (with `store` bound to the compiled results/store module) until it is killed. */
function writer(body: string): ChildProcess {
  return spawn(process.execPath, ['-e', `const store = require(${JSON.stringify(STORE)}); ${body}`], { stdio: 'ignore' });
}

async function killWhen(child: ChildProcess, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!ready() && Date.now() < deadline) await sleep(10);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('result files under kill -9', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdm-store-'));

  it('records.jsonl keeps every record written before the kill intact, in order', async () => {
    const file = path.join(dir, 'records.jsonl');
    // Large records (about 20 kB each), so that the kill has a fair chance to land inside a write.
    const template = makeRecord({ method: 'fdm', seed: 0, nll: 4, msPerIter: 10, metrics: Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`m${i}`, i / 7])) });
    const child = writer(`const record = ${JSON.stringify(template)}; for (let i = 0; ; i++) store.appendRecord(${JSON.stringify(file)}, { ...record, seed: i });`);
    await killWhen(child, () => fs.existsSync(file) && fs.statSync(file).size > 4_000_000);
    const { records, warnings } = parseRecordsFile(file, fs.readFileSync(file, 'utf8'));
    assert.ok(records.length >= 100, `${records.length} records`);
    assert.deepEqual(records.map((r) => r.seed), [...records.keys()]);
    for (const record of records) assert.deepEqual(record, { ...template, seed: record.seed });
    assert.ok(warnings.length <= 1, 'at most the final line can be cut short');
  });

  it('writeFileAtomic leaves the old or the new content, never a mix or a partial file', async () => {
    const file = path.join(dir, 'table.md');
    const size = 2_000_000;
    const child = writer(`for (let i = 0; ; i++) store.writeFileAtomic(${JSON.stringify(file)}, String(i % 10).repeat(${size}));`);
    let polls = 0;
    await killWhen(child, () => fs.existsSync(file) && ++polls > 20);
    const content = fs.readFileSync(file, 'utf8');
    assert.equal(content.length, size);
    assert.equal(content, content[0].repeat(size));
  });
});
