import { Rng } from '../random/rng';

/** 0..n-1 in a random order (Fisher-Yates). */
export function shuffled(n: number, rng: Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** n rows of a table [rows * dim] (any typed array): drawn with replacement, or else a random subset when it has that many. */
export function pickRows<T extends Float32Array | Uint8Array>(table: T, dim: number, n: number, rng: Rng, withReplacement: boolean): T {
  const rows = table.length / dim;
  const picks = !withReplacement && n <= rows ? shuffled(rows, rng).slice(0, n) : Array.from({ length: n }, () => rng.int(rows));
  return gatherRows(table, dim, picks);
}

/** The given rows of a table [rows * dim], in the given order. */
export function gatherRows<T extends Float32Array | Uint8Array>(table: T, dim: number, rows: number[]): T {
  const out = new (table.constructor as new (length: number) => T)(rows.length * dim);
  rows.forEach((r, i) => out.set(table.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/** A sampler of the rows of a table [rows * dim] (see pickRows). */
export function rowSampler(table: Float32Array, dim: number, withReplacement: boolean) {
  return (n: number, rng: Rng): Float32Array => pickRows(table, dim, n, rng, withReplacement);
}

