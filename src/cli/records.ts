import { Args } from '@oclif/core';
import { RunRecord } from '../results/record';
import { readRecords } from '../results/store';
import { aggregate, AggregateRow } from '../report/aggregate';

/** Reads records from result paths, reporting skipped lines on stderr; throws if none are found. */
export function loadRows(paths: string[]): { records: RunRecord[]; rows: AggregateRow[] } {
  const { records, warnings } = readRecords(paths);
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (records.length === 0) throw new Error(`no records found in ${paths.join(', ')}`);
  return { records, rows: aggregate(records) };
}

/** The positional arguments of commands that read stored results (strict = false takes several). */
export const resultsArgs = {
  results: Args.string({ required: true, description: 'run directories, records.jsonl files, or folders of runs' }),
};
