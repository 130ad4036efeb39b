import * as fs from 'node:fs';
import { Command, Flags } from '@oclif/core';
import { loadRows, resultsArgs } from '../cli/records';
import { checkAgainstBaseline, makeBaseline, parseBaseline } from '../report/check';
import { writeFileAtomic } from '../results/store';

export default class Check extends Command {
  static summary = 'Compare results with a stored baseline; exit 1 listing what regressed.';
  static description =
    'Metrics and ms/iter of every baseline row are compared with per-metric tolerances stored in the ' +
    'baseline file. With --write-baseline the results become the new baseline instead.';
  static examples = [
    '<%= config.bin %> check results/checkerboard/20261129-141125 --baseline baselines/checkerboard-ci.json',
    '<%= config.bin %> check results/checkerboard/20261129-141125 --baseline baselines/checkerboard-ci.json --write-baseline',
  ];
  static strict = false;
  static args = resultsArgs;
  static flags = {
    baseline: Flags.string({ required: true, description: 'baseline JSON file' }),
    'write-baseline': Flags.boolean({ description: 'write the baseline from these results instead of checking' }),
    ignore: Flags.string({
      multiple: true,
      description: "a baseline value not to check (e.g. msPerIterMedian, for results of another backend, whose speed is not a regression)",
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Check);
    const paths = argv as string[];
    try {
      const { rows } = loadRows(paths);
      if (flags['write-baseline']) {
        const previous = fs.existsSync(flags.baseline) ? parseBaseline(flags.baseline, fs.readFileSync(flags.baseline, 'utf8')) : null;
        const baseline = makeBaseline(rows, paths.join(' '), previous?.tolerances);
        writeFileAtomic(flags.baseline, JSON.stringify(baseline, null, 2) + '\n');
        this.log(`baseline written: ${flags.baseline} (${baseline.rows.length} rows)`);
        return;
      }
      const baseline = parseBaseline(flags.baseline, fs.readFileSync(flags.baseline, 'utf8'));
      const unknown = (flags.ignore ?? []).filter((name) => !(name in baseline.tolerances));
      if (unknown.length) throw new Error(`--ignore ${unknown.join(', ')}: not checked by ${flags.baseline} (it checks ${Object.keys(baseline.tolerances).join(', ')})`);
      const result = checkAgainstBaseline(rows, baseline, flags.ignore);
      for (const line of result.lines) this.log(line);
      if (!result.passed) this.error('regression check failed', { exit: 1 });
      this.log('regression check passed');
    } catch (err) {
      if ((err as { oclif?: unknown }).oclif) throw err;
      this.error((err as Error).message, { exit: 2 });
    }
  }
}
