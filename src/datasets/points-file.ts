import * as fs from 'node:fs';

/** Rows of points read from a file: `rows` x `dim` values, row after row, in float64. */
export interface PointsTable {
  rows: number;
  dim: number;
  values: Float64Array;
}

/** A file that is not a table of points, named with what is wrong. */
export class PointsFileError extends Error {}

/** The numbers of a CSV file: one point per line, comma- or whitespace-separated; a first line that is not numbers is a header. */
function readCsv(file: string, text: string): PointsTable {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  const cells = lines.map((line) => line.split(/[,;\s]+/));
  if (cells.length && cells[0].some((cell) => Number.isNaN(Number(cell)))) cells.shift();
  if (cells.length === 0) throw new PointsFileError(`${file}: no rows of numbers`);
  const dim = cells[0].length;
  const values = new Float64Array(cells.length * dim);
  cells.forEach((row, r) => {
    if (row.length !== dim) throw new PointsFileError(`${file}: row ${r + 1} has ${row.length} values, the first has ${dim}`);
    row.forEach((cell, c) => {
      const value = Number(cell);
      if (!Number.isFinite(value)) throw new PointsFileError(`${file}: row ${r + 1}, column ${c + 1}: '${cell}' is not a finite number`);
      values[r * dim + c] = value;
    });
  });
  return { rows: cells.length, dim, values };
}

const NPY_MAGIC = '\x93NUMPY';
const NPY_TYPES: Record<string, { bytes: number; read: (view: DataView, offset: number) => number }> = {
  '<f4': { bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  '<f8': { bytes: 8, read: (v, o) => v.getFloat64(o, true) },
  '<i4': { bytes: 4, read: (v, o) => v.getInt32(o, true) },
  '<i8': { bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
};

/** A 2D array of a NumPy .npy file (format 1.0-3.0, little-endian float or int, C order). */
function readNpy(file: string, bytes: Buffer): PointsTable {
  if (bytes.subarray(0, 6).toString('latin1') !== NPY_MAGIC) throw new PointsFileError(`${file}: not a .npy file (no NumPy magic string)`);
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const type = descr ? NPY_TYPES[descr] : undefined;
  if (!type) throw new PointsFileError(`${file}: dtype '${descr}' is not one of ${Object.keys(NPY_TYPES).join(', ')}`);
  if (fortran) throw new PointsFileError(`${file}: Fortran-ordered arrays are not read; save with np.ascontiguousarray`);
  if (!shape || shape.length !== 2) throw new PointsFileError(`${file}: shape (${shape?.join(', ')}) is not 2-D (rows, dimension)`);
  const [rows, dim] = shape;
  const offset = start + headerLength;
  if (bytes.length < offset + rows * dim * type.bytes) throw new PointsFileError(`${file}: shorter than its shape (${rows}, ${dim}) says`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, rows * dim * type.bytes);
  const values = Float64Array.from({ length: rows * dim }, (_, i) => type.read(view, i * type.bytes));
  if (!values.every(Number.isFinite)) throw new PointsFileError(`${file}: holds values that are not finite`);
  return { rows, dim, values };
}

/** Reads a .csv or .npy file of points, one per row. */
export function readPointsFile(file: string): PointsTable {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new PointsFileError(`${file}: no such file`);
  const bytes = fs.readFileSync(file);
  return file.endsWith('.npy') ? readNpy(file, bytes) : readCsv(file, bytes.toString('utf8'));
}
