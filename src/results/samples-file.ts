import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { writeFileAtomic } from './store';

export const SAMPLE_FORMATS = ['csv', 'npy'] as const;
export type SampleFormat = (typeof SAMPLE_FORMATS)[number];

/**
 * NumPy .npy (format 1.0) bytes of a C-order little-endian float32 array: the magic string, the
 * version, the header length, then a Python-dict header padded with spaces and a newline so that
 * the data starts at a multiple of 64 bytes.
 */
export function npyFloat32(values: Float32Array, shape: number[]): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const preambleBytes = 10;
  const padding = (64 - ((preambleBytes + dict.length + 1) % 64)) % 64;
  const header = Buffer.from(`${dict}${' '.repeat(padding)}\n`, 'latin1');
  const preamble = Buffer.alloc(preambleBytes);
  preamble.write('\x93NUMPY', 0, 'latin1');
  preamble.writeUInt8(1, 6);
  preamble.writeUInt8(0, 7);
  preamble.writeUInt16LE(header.length, 8);
  return Buffer.concat([preamble, header, Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

/** CSV with a header x0, x1, ...: one row per sample. */
export function samplesCsv(points: Float32Array, dim: number): string {
  const rows: number[][] = [];
  for (let i = 0; i < points.length; i += dim) rows.push(Array.from(points.subarray(i, i + dim)));
  return stringifyCsv(rows, { header: true, columns: Array.from({ length: dim }, (_, j) => `x${j}`) });
}

/** Writes samples (flat rows of `dim` values) as CSV or as an [n, dim] float32 NPY array. */
export function writeSamplesFile(file: string, points: Float32Array, dim: number, format: SampleFormat): void {
  writeFileAtomic(file, format === 'csv' ? samplesCsv(points, dim) : npyFloat32(points, [points.length / dim, dim]));
}
