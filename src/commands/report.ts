import { Args, Command, Flags } from '@oclif/core';
import { loadRows } from '../cli/records';
import { AggregateRow } from '../report/aggregate';
import { renderCsv, renderJson, renderMarkdown, renderTerminal } from '../report/render';
import { getTask } from '../tasks/registry';

const RENDERERS = { table: renderTerminal, markdown: renderMarkdown, csv: renderCsv } as const;

export default class Report extends Command {
  static summary = 'Re-render stored results as a table, CSV, Markdown or JSON, aggregating runs and seeds.';
  static examples = [
    '<%= config.bin %> report results/checkerboard',
    '<%= config.bin %> report results/checkerboard/20261129-141125 results/checkerboard/20261129-150000 --format markdown',
  ];
  static strict = false;
  static args = {
    results: Args.string({ required: true, description: 'run directories, records.jsonl files, or folders of runs' }),
  };
  static flags = {
    format: Flags.string({ options: ['table', 'markdown', 'csv', 'json'], default: 'table' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Report);
    let rows: AggregateRow[];
    try {
      rows = loadRows(argv as string[]).rows;
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    if (flags.format === 'json') {
      this.log(renderJson(rows));
      return;
    }
    const render = RENDERERS[flags.format as keyof typeof RENDERERS];
    for (const task of [...new Set(rows.map((r) => r.task))]) {
      this.log(render(rows.filter((r) => r.task === task), getTask(task).columns));
    }
  }
}
