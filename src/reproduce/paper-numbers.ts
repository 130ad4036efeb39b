import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '../config/schema';
import { CONFIG_DIR } from '../cli/load-config';

/** The paper's number file (configs/paper-numbers.yaml): one entry per (experiment, metric), each with its source. */
export const PAPER_NUMBERS_FILE = path.join(CONFIG_DIR, 'paper-numbers.yaml');

export const FAMILIES = ['density', 'dynamics', 'dna', 'video', 'image', 'cost'] as const;
export type Family = (typeof FAMILIES)[number];

/** How a number is evaluated: the suite's exact protocol, or the reference code's (src/metrics/reference-likelihood.ts). */
export const PROTOCOLS = ['exact', 'reference'] as const;

const entrySchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/),
    family: z.enum(FAMILIES),
    experiment: z.string(),
    /** Where in the paper (section, table, figure) or which setting of the experiment. */
    where: z.string(),
    metric: z.string(),
    unit: z.string(),
    better: z.enum(['lower', 'higher']),
    /** Absent when the paper shows the experiment without a number (a figure). */
    paper: z.object({ cfm: z.number(), fdm: z.number() }).strict().optional(),
    /** A key of `sources`. */
    source: z.string(),
    /** The suite's counterpart: a task, the metric (a column key of the task), and the protocol. */
    suite: z.object({ task: z.string(), metric: z.string(), protocol: z.enum(PROTOCOLS) }).strict().optional(),
    /** The values are not comparable across hardware or models, their FDM/CFM ratio is (timings). */
    compareRatio: z.boolean().optional(),
    /** Why the suite cannot run it here. */
    notRunnable: z.string().optional(),
  })
  .strict()
  .refine((entry) => (entry.suite === undefined) !== (entry.notRunnable === undefined), {
    message: 'an entry has either `suite` (what the suite runs) or `notRunnable` (why not), not both',
  });

const fileSchema = z
  .object({
    paper: z.object({ title: z.string(), arxiv: z.string() }).strict(),
    sources: z.record(z.string(), z.string()),
    entries: z.array(entrySchema).nonempty(),
  })
  .strict()
  .superRefine((file, ctx) => {
    file.entries.forEach((entry, i) => {
      if (!(entry.source in file.sources)) ctx.addIssue({ code: 'custom', path: ['entries', i, 'source'], message: `unknown source '${entry.source}'` });
    });
    const ids = file.entries.map((entry) => entry.id);
    const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (repeated.length) ctx.addIssue({ code: 'custom', path: ['entries'], message: `repeated ids: ${repeated.join(', ')}` });
  });

export type PaperEntry = z.output<typeof entrySchema>;
export type PaperNumbers = z.output<typeof fileSchema>;

/** Reads and validates the paper's numbers; a mistake in the file names the field. */
export function loadPaperNumbers(file = PAPER_NUMBERS_FILE): PaperNumbers {
  const parsed = fileSchema.safeParse(parseYaml(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(describeIssues(parsed.error, file));
  return parsed.data;
}
