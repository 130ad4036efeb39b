import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { RunRecord } from './record';

export const RECORDS_FILE = 'records.jsonl';

const timingSchema = z.object({
  msPerIterMedian: z.number(),
  msPerIterMean: z.number(),
  msPerIterStd: z.number(),
  msPerIterP95: z.number(),
  iterations: z.number(),
  trainSeconds: z.number(),
  evalSeconds: z.number(),
});

/** Mirrors RunRecord; the annotation makes tsc flag any drift between the two. */
const runRecordSchema: z.ZodType<RunRecord> = z.object({
  schema: z.literal(1),
  runId: z.string(),
  task: z.string(),
  method: z.enum(['cfm', 'fdm']),
  seed: z.number(),
  status: z.enum(['ok', 'diverged']),
  divergedAt: z.number().optional(),
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  metrics: z.record(z.string(), z.number().nullable()),
  timing: timingSchema,
  backend: z.string(),
  history: z.array(z.object({ iteration: z.number(), total: z.number(), cfm: z.number(), cdm: z.number() })).optional(),
});

export interface ReadResult {
  records: RunRecord[];
  /** Recoverable oddities (a truncated final line, a directory without records), for the caller to print. */
  warnings: string[];
}

/**
 * Reads records from run directories, records.jsonl files, or directories holding run directories
 * (searched recursively). Throws on any malformed line except a truncated final one.
 */
export function readRecords(paths: string[]): ReadResult {
  const result: ReadResult = { records: [], warnings: [] };
  for (const input of paths) {
    const files = findRecordFiles(input);
    if (files.length === 0) result.warnings.push(`${input}: no ${RECORDS_FILE} found`);
    for (const file of files) {
      const { records, warnings } = parseRecordsFile(file, fs.readFileSync(file, 'utf8'));
      result.records.push(...records);
      result.warnings.push(...warnings);
    }
  }
  return result;
}

/** The records files under result paths (run directories, records files, or folders of runs). */
export function findRecordFiles(input: string): string[] {
  if (!fs.existsSync(input)) throw new Error(`${input}: no such file or directory`);
  if (!fs.statSync(input).isDirectory()) return [input];
  const own = path.join(input, RECORDS_FILE);
  if (fs.existsSync(own)) return [own];
  return fs
    .readdirSync(input, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .flatMap((name) => findRecordFiles(path.join(input, name)));
}

/** Parses one records.jsonl text; `file` only names the source in messages. */
export function parseRecordsFile(file: string, text: string): ReadResult {
  const result: ReadResult = { records: [], warnings: [] };
  const lines = text.split('\n');
  // Writers append whole lines, so only an unterminated final line can be a write cut short.
  const unterminatedIndex = text.endsWith('\n') ? -1 : lines.length - 1;
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `${file}:${index + 1}`;
    const json = tryParseJson(line);
    if (json === undefined && index === unterminatedIndex) {
      result.warnings.push(`${where}: skipped truncated final line (no newline, not valid JSON)`);
      return;
    }
    if (json === undefined) throw new Error(`${where}: malformed JSON`);
    result.records.push(validateRecord(json, where));
  });
  return result;
}

function tryParseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function validateRecord(json: unknown, where: string): RunRecord {
  const parsed = runRecordSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(record)'}: ${issue.message}`);
  throw new Error(`${where}: invalid record: ${problems.join('; ')}`);
}

/** Appends the record as one line in a single write, so concurrent readers never see half a record. */
export function appendRecord(file: string, record: RunRecord): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, JSON.stringify(record) + '\n');
}

/** Writes via a temp file in the same directory and a rename, so readers see the old or the new file, never a mix. */
export function writeFileAtomic(file: string, content: string | Buffer): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(temp, content);
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}
