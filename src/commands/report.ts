import * as path from 'node:path';
import { Command, Flags } from '@oclif/core';
import { loadRows, resultsArgs } from '../cli/records';
import { buildHtmlReport, renderHtmlReport } from '../report/html';
import { runFiles } from '../results/run-dir';
import { findRecordFiles, writeFileAtomic } from '../results/store';
import { pairedComparisons, renderPairedMarkdown, renderPairedTerminal } from '../report/paired';
import { renderCsv, renderJson, renderMarkdown, renderTerminal } from '../report/render';
import { getTask } from '../tasks/registry';

const RENDERERS = { table: renderTerminal, markdown: renderMarkdown, csv: renderCsv } as const;
/** The paired CFM-vs-FDM tests go under the table; CSV holds the one table only. */
const PAIRED_RENDERERS: Partial<Record<string, typeof renderPairedTerminal>> = { table: renderPairedTerminal, markdown: renderPairedMarkdown };

export default class Report extends Command {
  static summary = 'Re-render stored results as a table, CSV, Markdown, JSON or a self-contained HTML report, aggregating runs and seeds.';
  static examples = [
    '<%= config.bin %> report results/checkerboard',
    '<%= config.bin %> report results/checkerboard/20261129-141125 results/checkerboard/20261129-150000 --format markdown',
    '<%= config.bin %> report results/checkerboard/20261129-141125 --format html',
  ];
  static strict = false;
  static args = resultsArgs;
  static flags = {
    format: Flags.string({ options: ['table', 'markdown', 'csv', 'json', 'html'], default: 'table' }),
    output: Flags.string({ description: 'where --format html writes the report (default: report.html in the run directory, when there is one)' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Report);
    let loaded: ReturnType<typeof loadRows>;
    try {
      loaded = loadRows(argv as string[]);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    const { records, rows } = loaded;
    if (flags.format === 'html') {
      this.writeHtml(argv as string[], records, flags.output);
      return;
    }
    if (flags.output) this.error('--output is for --format html; the other formats print to stdout', { exit: 2 });
    if (flags.format === 'json') {
      this.log(renderJson(rows));
      return;
    }
    const render = RENDERERS[flags.format as keyof typeof RENDERERS];
    for (const task of [...new Set(rows.map((r) => r.task))]) {
      const columns = getTask(task).columns;
      this.log(render(rows.filter((r) => r.task === task), columns));
      const paired = PAIRED_RENDERERS[flags.format]?.(pairedComparisons(records.filter((r) => r.task === task), columns), columns);
      if (paired) this.log(paired);
    }
  }

  /** One HTML file for all the run directories under the arguments. */
  private writeHtml(paths: string[], records: ReturnType<typeof loadRows>['records'], output: string | undefined): void {
    const dirs = [...new Set(paths.flatMap(findRecordFiles).map((file) => path.dirname(file)))];
    if (!output && dirs.length !== 1) this.error(`--output: these results span ${dirs.length} run directories; say where the one report goes`, { exit: 2 });
    const file = output ?? runFiles(dirs[0]).html;
    const runIds = [...new Set(dirs.map((dir) => path.basename(dir)))];
    const title = `fdm-bench ${[...new Set(records.map((r) => r.task))].join(', ')}: ${runIds.join(', ')}`;
    writeFileAtomic(file, renderHtmlReport(buildHtmlReport(title, records, (task) => getTask(task).columns, dirs)));
    this.log(file);
  }
}
