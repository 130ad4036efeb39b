import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunRecord } from '../results/record';
import { runFiles } from '../results/run-dir';
import { parseRecordsFile, writeFileAtomic } from '../results/store';
import { removeIfEmpty } from './progress-files';

/**
 * Records of runs finished by worker processes (`--jobs`) and Slurm array tasks: each writes its run's
 * record to a file of its own, `parts/<run key>.jsonl`, by a temp file and a rename (atomic, also on
 * NFS, where concurrent appends from several hosts to one file are not), and whoever finishes the grid
 * merges the parts into records.jsonl.
 */
export function partFile(dir: string, key: string): string {
  return path.join(dir, 'parts', `${key}.jsonl`);
}

export function writeRecordPart(dir: string, key: string, record: RunRecord): void {
  writeFileAtomic(partFile(dir, key), JSON.stringify(record) + '\n');
}

/** A record with its line as written: merging rewrites lines as they are, so no field is ever lost. */
interface StoredRecord {
  line: string;
  record: RunRecord;
}

/** The records of whole lines of a records file, each with its line; a malformed line throws, naming file and line. */
function storedRecords(file: string, text: string): StoredRecord[] {
  const { records } = parseRecordsFile(file, text);
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return records.map((record, i) => ({ line: lines[i], record }));
}

/** The part files of a run directory, by name (a writer's temp files start with a dot and are skipped). */
function partFiles(dir: string): string[] {
  const parts = path.join(dir, 'parts');
  if (!fs.existsSync(parts)) return [];
  return fs
    .readdirSync(parts)
    .filter((name) => name.endsWith('.jsonl') && !name.startsWith('.'))
    .sort()
    .map((name) => path.join(parts, name));
}

/** Removes the parts folder if it is empty, once no worker of the grid can write to it any more. */
export function removeEmptyParts(dir: string): void {
  removeIfEmpty(path.join(dir, 'parts'));
}

/** Lock directories older than this are left by a killed process (a merge takes milliseconds). */
const STALE_LOCK_MS = 60_000;
const LOCK_TIMEOUT_MS = 120_000;
const LOCK_RETRY_MS = 25;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `fn` holding the run directory's records lock, a directory created with mkdir (atomic on
 * local file systems and NFS alike), so that two processes merging at once (a `run` parent and a
 * Slurm merge job, or two resumes) cannot drop each other's parts, and no reader sees records.jsonl
 * rewritten but the merged parts not yet removed.
 */
function withRecordsLock<T>(dir: string, fn: () => T): T {
  const lock = path.join(dir, '.records.lock');
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) fs.rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock}: held for over ${LOCK_TIMEOUT_MS / 1000} s; remove it if no fdm-bench process uses ${dir}`);
      else sleepSync(LOCK_RETRY_MS);
    }
  }
  try {
    // Who holds it, for a person who finds it left behind.
    fs.writeFileSync(path.join(lock, 'owner'), `${os.hostname()} ${process.pid}\n`);
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** records.jsonl up to its last whole line, and whether a final line cut short by a crash was left out. */
function readRecordsText(file: string): { complete: string; truncated: boolean } {
  if (!fs.existsSync(file)) return { complete: '', truncated: false };
  const text = fs.readFileSync(file, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return { complete, truncated: complete !== text };
}

function readAll(dir: string): { merged: StoredRecord[]; parts: Array<{ file: string; records: StoredRecord[] }>; truncated: boolean } {
  const file = runFiles(dir).records;
  const { complete, truncated } = readRecordsText(file);
  const parts = partFiles(dir).map((part) => ({ file: part, records: storedRecords(part, fs.readFileSync(part, 'utf8')) }));
  return { merged: storedRecords(file, complete), parts, truncated };
}

/** The records a run directory holds, in records.jsonl and in parts not merged yet; changes nothing. */
export function readRunRecords(dir: string): RunRecord[] {
  return withRecordsLock(dir, () => {
    const { merged, parts } = readAll(dir);
    return [...merged, ...parts.flatMap((p) => p.records)].map((s) => s.record);
  });
}

/**
 * Merges the parts into records.jsonl (temp file and rename) and removes them: one record per run of
 * the grid, in grid order (`indexOf` gives a record's grid index; a record of no run of this grid is
 * kept, after them); a run recorded twice keeps its first record. A final line cut short by a crash
 * is dropped and said through `log` (its run runs again). Returns the records as now stored.
 */
export function mergeRecordParts(dir: string, indexOf: (record: RunRecord) => number | undefined, log: (line: string) => void): RunRecord[] {
  return withRecordsLock(dir, () => {
    const file = runFiles(dir).records;
    const { merged, parts, truncated } = readAll(dir);
    if (truncated) log(`${file}: dropped an incomplete final line (written when the run was killed); that run runs again`);
    const byRun = new Map<number, StoredRecord>();
    const strangers: StoredRecord[] = [];
    for (const stored of [...merged, ...parts.flatMap((p) => p.records)]) {
      const index = indexOf(stored.record);
      if (index === undefined) strangers.push(stored);
      else if (!byRun.has(index)) byRun.set(index, stored);
    }
    const ordered = [...[...byRun].sort(([a], [b]) => a - b).map(([, stored]) => stored), ...strangers];
    const text = ordered.map((stored) => stored.line + '\n').join('');
    if (truncated || parts.length || text !== merged.map((s) => s.line + '\n').join('')) writeFileAtomic(file, text);
    // The folder stays: a worker may be about to write into it (removeEmptyParts, once none can).
    for (const part of parts) fs.rmSync(part.file, { force: true });
    return ordered.map((stored) => stored.record);
  });
}
