import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { VideoSet } from './moving-mnist';

/*
 * KTH human actions, as the RIVER / FDM video pipeline prepares it (64x64 frames; 10 context +
 * 30 predicted frames in the FDM KTH config). KTH cannot be downloaded here, so this reads the
 * copies a user may already have, in one of two layouts:
 *
 * (a) RIVER's HDF5 shards: what dataset/convert_to_h5.py writes through HDF5Maker(video=True)
 *     in Araachie/river dataset/h5.py (the FDM KTH code, LFM-FDM-KTH/dataset/, is the same).
 *     One file (a shard, e.g. shard_0001.hdf5) holds videos numbered 0, 1, ...:
 *       /len/<i>        scalar int64 dataset: number of frames of video i
 *       /<i>/<t>        uint8 dataset [H, W, 3] (PIL RGB, resized to image_size), frame t of
 *                       video i, LZF-compressed (h5py's filter 32000)
 *       /videos         an empty group HDF5Maker creates and never fills
 *     The reader, VideoDataset, takes video i's length from len/<i> and frames from <i>/<t>.
 *     A folder of such shards (RIVER's data_root/<split>) is read shard by shard, sorted by name.
 * (b) A folder of per-video subfolders of frame PNGs (the layout convert_to_h5.py reads from).
 *
 * Frames are converted to grayscale in [0, 1] (KTH is grayscale, stored as R = G = B, so the
 * luma weights change nothing there) and each video is cut to its first `frames` frames; RIVER
 * samples a random window instead, which a benchmark that must be reproducible does not want.
 */

export interface KthOptions {
  /** Frames kept per video (its first ones); shorter videos are an error. */
  frames: number;
  /** Expected frame side in pixels; frames are not resized, other sizes are an error. */
  size: number;
}

/** h5py's registered id for the LZF filter RIVER compresses frames with. */
const LZF_FILTER = 32000;

/** Loads KTH videos from a RIVER HDF5 shard, a folder of shards, or a folder of PNG folders. */
export async function loadKth(source: string, options: KthOptions): Promise<VideoSet> {
  assertOptions(options);
  const stat = statOrNull(source);
  if (stat === null) throw new Error(`KTH data not found: ${source}`);
  const videos = stat.isDirectory() ? await loadFolder(source, options) : await loadShard(source, options);
  if (videos.length === 0) throw new Error(`no KTH videos in ${source}`);
  return concatVideos(videos, options);
}

/**
 * Writes videos in RIVER's shard layout (see the top of this file), grayscale replicated to RGB
 * and LZF-compressed as HDF5Maker does, so data made here can be read by the reference pipeline
 * and the reader can be tested without the real dataset.
 */
export async function writeRiverShard(file: string, videos: VideoSet): Promise<void> {
  const h5wasm = await loadH5wasm();
  const out = openHdf5(h5wasm, file, 'w');
  try {
    const lengths = out.create_group('len');
    out.create_group('videos');
    for (let v = 0; v < videos.count; v++) {
      lengths.create_dataset({ name: String(v), data: BigInt64Array.from([BigInt(videos.frames)]), shape: [], dtype: '<q' });
      const group = out.create_group(String(v));
      for (let t = 0; t < videos.frames; t++) {
        const frame = grayToRgb(frameOf(videos, v, t));
        group.create_dataset({
          name: String(t),
          data: frame,
          shape: [videos.size, videos.size, 3],
          dtype: '<B',
          chunks: [videos.size, videos.size, 3],
          compression: LZF_FILTER,
          // h5py's LZF parameters: filter version 4, liblzf 1.5 (0x105), chunk size in bytes.
          compression_opts: [4, 0x105, frame.length],
        });
      }
    }
  } finally {
    out.close();
  }
}

function assertOptions(options: KthOptions): void {
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`KTH: ${name} must be a positive integer, got ${value}`);
  }
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

/** A folder of .h5/.hdf5 shards if it has any, else a folder of per-video PNG folders. */
async function loadFolder(dir: string, options: KthOptions): Promise<Float32Array[]> {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name));
  const shards = entries.filter((e) => e.isFile() && /\.(h5|hdf5)$/i.test(e.name));
  if (shards.length > 0) {
    const videos: Float32Array[] = [];
    for (const shard of shards) videos.push(...(await loadShard(path.join(dir, shard.name), options)));
    return videos;
  }
  const folders = entries.filter((e) => e.isDirectory());
  if (folders.length === 0) throw new Error(`${dir}: no .hdf5/.h5 shards and no per-video folders of PNG frames`);
  return folders.map((folder) => loadPngVideo(path.join(dir, folder.name), options));
}

/** Natural order, so frame_2.png comes before frame_10.png (zero-padded names sort the same). */
function byName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function loadPngVideo(dir: string, options: KthOptions): Float32Array {
  const files = fs.readdirSync(dir).filter((name) => /\.png$/i.test(name)).sort(byName);
  if (files.length < options.frames) {
    throw new Error(`${dir}: video has ${files.length} PNG frames, fewer than the ${options.frames} requested`);
  }
  const pixels = options.size * options.size;
  const video = new Float32Array(options.frames * pixels);
  files.slice(0, options.frames).forEach((name, t) => {
    video.set(readPngGray(path.join(dir, name), options.size), t * pixels);
  });
  return video;
}

function readPngGray(file: string, size: number): Float32Array {
  let png: PNG;
  try {
    png = PNG.sync.read(fs.readFileSync(file));
  } catch (error) {
    throw new Error(`cannot read PNG frame ${file}: ${(error as Error).message}`);
  }
  if (png.width !== size || png.height !== size) {
    throw new Error(`${file}: frame is ${png.width}x${png.height}, expected ${size}x${size}`);
  }
  const gray = new Float32Array(size * size);
  for (let i = 0; i < gray.length; i++) gray[i] = luma(png.data[4 * i], png.data[4 * i + 1], png.data[4 * i + 2]);
  return gray;
}

/** ITU-R 601 luma, as PIL's convert('L'), scaled from 0..255 to [0, 1]. */
function luma(r: number, g: number, b: number): number {
  return (0.299 * r + 0.587 * g + 0.114 * b) / 255;
}

type H5wasm = typeof import('h5wasm');
type H5File = InstanceType<H5wasm['File']>;

/**
 * tsc (module: commonjs) turns `import()` into `require()`, which cannot load the ESM-only h5wasm
 * on every Node 20; a Function body is left alone, and its import() resolves from this file.
 */
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

let h5wasmReady: Promise<H5wasm> | null = null;

/**
 * h5wasm, once per process, set up to read RIVER files: the h5wasm-plugins folder goes on the
 * filter search path (RIVER's frames are LZF-compressed, which core HDF5 cannot decode), and HDF5
 * errors throw. By default h5wasm only prints them to stderr and carries on, so a frame it could
 * not decode comes back as a buffer of garbage.
 */
function loadH5wasm(): Promise<H5wasm> {
  h5wasmReady ??= (async () => {
    const h5wasm = (await importEsm('h5wasm/node')) as H5wasm;
    const module = await h5wasm.ready;
    const plugins = path.join(path.dirname(require.resolve('h5wasm-plugins/package.json')), 'plugins');
    module.insert_plugin_search_path(plugins, 0);
    module.activate_throwing_error_handler();
    return h5wasm;
  })();
  return h5wasmReady;
}

/** Every video of one RIVER shard, each cut to `frames` grayscale frames. */
async function loadShard(file: string, options: KthOptions): Promise<Float32Array[]> {
  const h5wasm = await loadH5wasm();
  const shard = openHdf5(h5wasm, file, 'r');
  try {
    return videoKeys(h5wasm, shard, file).map((key) => readShardVideo(h5wasm, shard, file, key, options));
  } catch (error) {
    if (error instanceof KthFormatError) throw error;
    throw new Error(`cannot read KTH HDF5 file ${file}: ${hdf5Cause(error)}`);
  } finally {
    shard.close();
  }
}

function openHdf5(h5wasm: H5wasm, file: string, mode: 'r' | 'w'): H5File {
  try {
    return new h5wasm.File(file, mode);
  } catch (error) {
    const action = mode === 'r' ? 'read KTH HDF5 file' : 'write RIVER shard';
    throw new Error(`cannot ${action} ${file}: ${hdf5Cause(error)}`);
  }
}

/** A file that HDF5 reads fine but that does not hold what the loader asked for. */
class KthFormatError extends Error {}

/** Video numbers of a shard, from its `len` group, in numeric order. */
function videoKeys(h5wasm: H5wasm, shard: H5File, file: string): string[] {
  const lengths = shard.get('len');
  if (!(lengths instanceof h5wasm.Group)) {
    throw new KthFormatError(`${file}: no 'len' group, so not a RIVER video shard (expected len/<i> and <i>/<t>)`);
  }
  return lengths.keys().sort(byName);
}

function readShardVideo(h5wasm: H5wasm, shard: H5File, file: string, key: string, options: KthOptions): Float32Array {
  const length = shard.get(`len/${key}`);
  const frameCount = length instanceof h5wasm.Dataset ? Number(length.value) : NaN;
  if (!Number.isFinite(frameCount)) throw new KthFormatError(`${file}: len/${key} is not a frame count`);
  if (frameCount < options.frames) {
    throw new KthFormatError(`${file}: video ${key} has ${frameCount} frames, fewer than the ${options.frames} requested`);
  }
  const pixels = options.size * options.size;
  const video = new Float32Array(options.frames * pixels);
  for (let t = 0; t < options.frames; t++) {
    video.set(readShardFrame(h5wasm, shard, `${file}: video ${key} frame ${t}`, `${key}/${t}`, options.size), t * pixels);
  }
  return video;
}

/** One uint8 frame, [size, size, 3] RGB as RIVER writes it, or [size, size(, 1)] gray. */
function readShardFrame(h5wasm: H5wasm, shard: H5File, where: string, name: string, size: number): Float32Array {
  const dataset = shard.get(name);
  if (!(dataset instanceof h5wasm.Dataset)) throw new KthFormatError(`${where}: no dataset ${name}`);
  const shape = dataset.shape ?? [];
  const channels = shape.length === 2 ? 1 : shape[2];
  if (shape[0] !== size || shape[1] !== size || shape.length > 3 || (channels !== 1 && channels !== 3)) {
    throw new KthFormatError(`${where}: frame shape [${shape.join(', ')}], expected [${size}, ${size}, 3] or [${size}, ${size}]`);
  }
  const values = dataset.value;
  if (!(values instanceof Uint8Array)) throw new KthFormatError(`${where}: frames must be uint8, as RIVER writes them`);
  const gray = new Float32Array(size * size);
  for (let i = 0; i < gray.length; i++) {
    const p = i * channels;
    gray[i] = channels === 3 ? luma(values[p], values[p + 1], values[p + 2]) : values[p] / 255;
  }
  return gray;
}

/**
 * The innermost message of an h5wasm error: HDF5 reports a stack of "#NNN: ... in fn(): what"
 * lines, outermost first, and the last one says what actually went wrong (e.g. "truncated file:
 * eof = 20000, ... stored_eof = 92504").
 */
function hdf5Cause(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const causes = [...message.matchAll(/#\d+: .* in \S+\(\): (.*)/g)].map((match) => match[1]);
  return causes.length > 0 ? causes[causes.length - 1] : message;
}

function concatVideos(videos: Float32Array[], options: KthOptions): VideoSet {
  const perVideo = options.frames * options.size * options.size;
  const data = new Float32Array(videos.length * perVideo);
  videos.forEach((video, i) => data.set(video, i * perVideo));
  return { data, count: videos.length, frames: options.frames, size: options.size };
}

function frameOf(videos: VideoSet, video: number, t: number): Float32Array {
  const pixels = videos.size * videos.size;
  const start = (video * videos.frames + t) * pixels;
  return videos.data.subarray(start, start + pixels);
}

/** [0, 1] gray to 0..255 RGB triples, R = G = B as in KTH's own frames. */
function grayToRgb(gray: Float32Array): Uint8Array {
  const rgb = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) rgb.fill(Math.round(Math.min(1, Math.max(0, gray[i])) * 255), 3 * i, 3 * i + 3);
  return rgb;
}
