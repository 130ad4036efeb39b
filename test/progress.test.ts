import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createProgress, silentProgress } from '../src/cli/progress';
import { Progress } from '../src/runner/progress';

/** A stream that collects what is written, looking like a terminal or not. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 160 });
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return { stream, text: () => chunks.join('') };
}

const losses = { total: 1.5, cfm: 1.25, cdm: 2.5 };

/** A resumed grid: one run finished earlier, one trained to the end, one diverged. */
function drive(progress: Progress): void {
  progress.log('backend: wasm');
  progress.start('checkerboard', [
    { name: 'cfm seed 0', iterations: 4, state: 'ok' },
    { name: 'fdm lambda=0.1 seed 0', iterations: 4, state: 'pending' },
    { name: 'fdm lambda=1 seed 0', iterations: 4, state: 'pending' },
  ]);
  progress.state(1, 'running', 'resumed from iteration 2');
  for (const iteration of [3, 4]) progress.step(1, { iteration, losses, msPerIter: 12.34, logged: iteration === 4 });
  progress.state(1, 'evaluating');
  progress.state(1, 'ok');
  progress.state(2, 'running');
  progress.step(2, { iteration: 1, losses, msPerIter: 10, logged: false });
  progress.state(2, 'diverged', 'at iteration 2: loss is not finite');
  progress.log('a message');
  progress.stop();
}

describe('progress output', () => {
  it('is plain lines without escape codes when stderr is not a terminal', async () => {
    const { stream, text } = fakeStream(false);
    drive(createProgress({ quiet: false, stream }));
    await new Promise(setImmediate);
    assert.equal(
      text(),
      [
        'backend: wasm',
        '[1/3] checkerboard: cfm seed 0: ok (already in the run directory)',
        '[2/3] checkerboard: fdm lambda=0.1 seed 0 (resumed from iteration 2)',
        '  fdm lambda=0.1 seed 0 it 4/4  loss 1.5000  cfm 1.2500  cdm 2.5000  12.3 ms/it',
        '  fdm lambda=0.1 seed 0: evaluating',
        '  fdm lambda=0.1 seed 0: ok',
        '[3/3] checkerboard: fdm lambda=1 seed 0',
        '  fdm lambda=1 seed 0: diverged at iteration 2: loss is not finite',
        'a message',
        '',
      ].join('\n'),
    );
  });

  it('is the grid as a list of runs with their states and a progress bar on a terminal', async () => {
    const { stream, text } = fakeStream(true);
    drive(createProgress({ quiet: false, stream }));
    await new Promise(setImmediate);
    // The last frame: every run with its final state, and the log lines above the list.
    const output = text();
    for (const line of [/ok\s+cfm seed 0/, /ok\s+fdm lambda=0\.1 seed 0/, /diverged\s+fdm lambda=1 seed 0\s+at iteration 2/, /backend: wasm/, /a message/]) {
      assert.match(output, line);
    }
    // While it trained, the run's line carried its bar, iteration, losses, ms/iter and ETA.
    const { stream: live, text: liveText } = fakeStream(true);
    const progress = createProgress({ quiet: false, stream: live });
    progress.start('checkerboard', [{ name: 'fdm lambda=0.1 seed 0', iterations: 4, state: 'pending' }]);
    progress.state(0, 'running');
    progress.step(0, { iteration: 3, losses, msPerIter: 12.34, logged: false });
    progress.stop();
    assert.match(liveText(), /running\s+fdm lambda=0\.1 seed 0\s+█+░+ 3\/4  loss 1\.5000  cfm 1\.2500  cdm 2\.5000  12\.3 ms\/it  ETA /);
    assert.match(liveText(), /\x1b\[/, 'a terminal gets cursor control codes');
  });

  it('is nothing with --quiet', () => {
    assert.equal(createProgress({ quiet: true, stream: fakeStream(true).stream }), silentProgress);
  });
});
