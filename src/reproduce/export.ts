import * as fs from 'node:fs';
import * as path from 'node:path';
import { FinishedRun } from './catalog';

/**
 * The small files of a run directory that a reader of a reproduction needs: settings, environment,
 * records, tables, figures and evaluations. Models and checkpoints (megabytes each) stay behind.
 */
const SMALL_FILES = /^(config\.yaml|environment\.json|records\.(jsonl|csv)|table\.md|status\.json|[\w-]+\.png|[\w-]+\.vl\.json)$/;
const SMALL_FOLDERS = ['evaluations'];

function copySmallFiles(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isFile() && SMALL_FILES.test(entry.name)) fs.copyFileSync(source, path.join(to, entry.name));
    if (entry.isDirectory() && SMALL_FOLDERS.includes(entry.name)) fs.cpSync(source, path.join(to, entry.name), { recursive: true });
  }
}

/**
 * Copies a reproduction's tables (its Markdown and JSON files), its per-task summaries
 * (<scale>/<task>/) and the small files of every run directory that holds one of its runs
 * (runs/<task>/<run-id>/) into `dir`, for committing.
 * Returns the run directories copied.
 */
export function exportReproduction(dir: string, files: { tables: string[]; experiments: string }, runs: FinishedRun[]): string[] {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of files.tables) fs.copyFileSync(file, path.join(dir, path.basename(file)));
  for (const task of fs.existsSync(files.experiments) ? fs.readdirSync(files.experiments) : []) {
    copySmallFiles(path.join(files.experiments, task), path.join(dir, path.basename(files.experiments), task));
  }
  const runDirs = [...new Set(runs.map((run) => run.runDir))].sort();
  for (const runDir of runDirs) {
    copySmallFiles(runDir, path.join(dir, 'runs', path.basename(path.dirname(runDir)), path.basename(runDir)));
  }
  return runDirs;
}
