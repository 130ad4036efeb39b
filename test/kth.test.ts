import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { loadKth, writeRiverShard } from '../src/datasets/kth';
import type { VideoSet } from '../src/datasets/moving-mnist';

const SIZE = 64;
const FRAMES = 12;
const BACKGROUND = 30 / 255;
const SQUARE = 200 / 255;

/** `count` videos of a 10x10 square moving diagonally, a different start per video. */
function squares(count: number, frames = FRAMES): VideoSet {
  const data = new Float32Array(count * frames * SIZE * SIZE).fill(BACKGROUND);
  for (let v = 0; v < count; v++) {
    for (let t = 0; t < frames; t++) {
      const [x0, y0] = [4 * v + 2 * t, 3 + t];
      for (let y = y0; y < y0 + 10; y++) {
        data.fill(SQUARE, ((v * frames + t) * SIZE + y) * SIZE + x0, ((v * frames + t) * SIZE + y) * SIZE + x0 + 10);
      }
    }
  }
  return { data, count, frames, size: SIZE };
}

/** The first `frames` frames of every video, as loadKth should return them. */
function firstFrames(videos: VideoSet, frames: number): Float32Array {
  const perFrame = videos.size * videos.size;
  const out = new Float32Array(videos.count * frames * perFrame);
  for (let v = 0; v < videos.count; v++) {
    const start = v * videos.frames * perFrame;
    out.set(videos.data.subarray(start, start + frames * perFrame), v * frames * perFrame);
  }
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > 1e-6) assert.fail(`pixel ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

/** Writes each video as a folder of RGB PNGs named 0.png, 1.png, ... (unpadded, so 10 sorts after 9). */
function writePngFolders(dir: string, videos: VideoSet): void {
  for (let v = 0; v < videos.count; v++) {
    const videoDir = path.join(dir, `video_${v}`);
    fs.mkdirSync(videoDir, { recursive: true });
    for (let t = 0; t < videos.frames; t++) {
      const png = new PNG({ width: SIZE, height: SIZE });
      for (let i = 0; i < SIZE * SIZE; i++) {
        const value = Math.round(videos.data[(v * videos.frames + t) * SIZE * SIZE + i] * 255);
        png.data.fill(value, 4 * i, 4 * i + 3);
        png.data[4 * i + 3] = 255;
      }
      fs.writeFileSync(path.join(videoDir, `${t}.png`), PNG.sync.write(png));
    }
  }
}

describe('loadKth', () => {
  let dir: string;
  const videos = squares(3);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kth-'));
    await writeRiverShard(path.join(dir, 'shard_0001.hdf5'), videos);
    fs.mkdirSync(path.join(dir, 'shards'));
    await writeRiverShard(path.join(dir, 'shards', 'shard_0001.hdf5'), squares(2));
    await writeRiverShard(path.join(dir, 'shards', 'shard_0002.hdf5'), squares(1));
    writePngFolders(path.join(dir, 'png'), videos);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a RIVER HDF5 shard back, first frames only', async () => {
    const loaded = await loadKth(path.join(dir, 'shard_0001.hdf5'), { frames: 8, size: SIZE });
    assert.deepEqual([loaded.count, loaded.frames, loaded.size], [3, 8, SIZE]);
    assertClose(loaded.data, firstFrames(videos, 8));
  });

  it('reads a folder of shards in name order', async () => {
    const loaded = await loadKth(path.join(dir, 'shards'), { frames: FRAMES, size: SIZE });
    assert.equal(loaded.count, 3);
    assertClose(loaded.data, new Float32Array([...squares(2).data, ...squares(1).data]));
  });

  it('reads per-video folders of PNG frames in numeric order', async () => {
    const loaded = await loadKth(path.join(dir, 'png'), { frames: FRAMES, size: SIZE });
    assert.deepEqual([loaded.count, loaded.frames, loaded.size], [3, FRAMES, SIZE]);
    assertClose(loaded.data, videos.data);
  });

  it('names a missing path', async () => {
    const missing = path.join(dir, 'nope.hdf5');
    await assert.rejects(loadKth(missing, { frames: 8, size: SIZE }), { message: `KTH data not found: ${missing}` });
  });

  it('names a truncated HDF5 file and says what is wrong with it', async () => {
    const truncated = path.join(dir, 'truncated.hdf5');
    const bytes = fs.readFileSync(path.join(dir, 'shard_0001.hdf5'));
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(loadKth(truncated, { frames: 8, size: SIZE }), (error: Error) => {
      assert.ok(error.message.startsWith(`cannot read KTH HDF5 file ${truncated}: `), error.message);
      assert.match(error.message, /truncated file/);
      return true;
    });
  });

  it('names a file that is not HDF5 at all', async () => {
    const text = path.join(dir, 'not-hdf5.h5');
    fs.writeFileSync(text, 'hello');
    await assert.rejects(loadKth(text, { frames: 8, size: SIZE }), { message: new RegExp(`^cannot read KTH HDF5 file ${text}: `) });
  });

  it('rejects videos shorter than the frames asked for, naming file and video', async () => {
    const shard = path.join(dir, 'shard_0001.hdf5');
    await assert.rejects(loadKth(shard, { frames: 20, size: SIZE }), {
      message: `${shard}: video 0 has 12 frames, fewer than the 20 requested`,
    });
    const pngVideo = path.join(dir, 'png', 'video_0');
    await assert.rejects(loadKth(path.join(dir, 'png'), { frames: 20, size: SIZE }), {
      message: `${pngVideo}: video has 12 PNG frames, fewer than the 20 requested`,
    });
  });

  it('rejects frames of the wrong size, naming where', async () => {
    const shard = path.join(dir, 'shard_0001.hdf5');
    await assert.rejects(loadKth(shard, { frames: 8, size: 32 }), {
      message: `${shard}: video 0 frame 0: frame shape [64, 64, 3], expected [32, 32, 3] or [32, 32]`,
    });
    await assert.rejects(loadKth(path.join(dir, 'png'), { frames: 8, size: 32 }), {
      message: `${path.join(dir, 'png', 'video_0', '0.png')}: frame is 64x64, expected 32x32`,
    });
  });

  it('names a corrupt PNG frame', async () => {
    const videoDir = path.join(dir, 'bad-png', 'video');
    fs.mkdirSync(videoDir, { recursive: true });
    fs.writeFileSync(path.join(videoDir, '0.png'), 'not a png');
    await assert.rejects(loadKth(path.join(dir, 'bad-png'), { frames: 1, size: SIZE }), {
      message: new RegExp(`^cannot read PNG frame ${path.join(videoDir, '0.png')}: `),
    });
  });
});
