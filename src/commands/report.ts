import { Command, Flags } from '@oclif/core';
import { loadRows, resultsArgs } from '../cli/records';
import { pairedComparisons, renderPairedMarkdown, renderPairedTerminal } from '../report/paired';
import { renderCsv, renderJson, renderMarkdown, renderTerminal } from '../report/render';
import { getTask } from '../tasks/registry';

const RENDERERS = { table: renderTerminal, markdown: renderMarkdown, csv: renderCsv } as const;
/** The paired CFM-vs-FDM tests go under the table; CSV holds the one table only. */
const PAIRED_RENDERERS: Partial<Record<string, typeof renderPairedTerminal>> = { table: renderPairedTerminal, markdown: renderPairedMarkdown };

export default class Report extends Command {
  static summary = 'Re-render stored results as a table, CSV, Markdown or JSON, aggregating runs and seeds.';
  static examples = [
    '<%= config.bin %> report results/checkerboard',
    '<%= config.bin %> report results/checkerboard/20261129-141125 results/checkerboard/20261129-150000 --format markdown',
  ];
  static strict = false;
  static args = resultsArgs;
  static flags = {
    format: Flags.string({ options: ['table', 'markdown', 'csv', 'json'], default: 'table' }),
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
}
