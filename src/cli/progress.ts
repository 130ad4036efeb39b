import { Format, MultiBar, Options, Params, SingleBar } from 'cli-progress';
import { GridRun, Progress, RunState } from '../runner/progress';
import { StepReport } from '../training/trainer';

/** --quiet: nothing at all. */
export const silentProgress: Progress = { start() {}, state() {}, step() {}, log() {}, stop() {} };

function lossTerms({ losses }: StepReport): string {
  return `loss ${losses.total.toFixed(4)}  cfm ${losses.cfm.toFixed(4)}  cdm ${losses.cdm.toFixed(4)}`;
}

/** For logs and pipes (CI): a line when a run changes state and one per logged iteration, no escape codes. */
function plainProgress(write: (line: string) => void): Progress {
  let title = '';
  let runs: GridRun[] = [];
  const heading = (index: number) => `[${index + 1}/${runs.length}] ${title}: ${runs[index].name}`;
  return {
    start(gridTitle, gridRuns) {
      title = gridTitle;
      runs = gridRuns;
      runs.forEach((run, index) => run.state !== 'pending' && write(`${heading(index)}: ${run.state} (already in the run directory)`));
    },
    state(index, state, detail) {
      if (state === 'running') write(detail ? `${heading(index)} (${detail})` : heading(index));
      else write(`  ${runs[index].name}: ${state}${detail ? ` ${detail}` : ''}`);
    },
    step(index, step) {
      const run = runs[index];
      if (step.logged) write(`  ${run.name} it ${step.iteration}/${run.iterations}  ${lossTerms(step)}  ${step.msPerIter.toFixed(1)} ms/it`);
    },
    log: write,
    stop() {},
  };
}

interface BarPayload {
  name: string;
  state: RunState;
  detail: string;
  step: StepReport | null;
}

/** The longest state name, 'interrupted', so that the run names line up. */
const STATE_WIDTH = 11;

/** One grid line: the run's state and name, and while it trains its bar, losses, ms/iter and ETA. */
function formatRun(nameWidth: number) {
  return (options: Options, params: Params, payload: BarPayload): string => {
    const head = `${payload.state.padEnd(STATE_WIDTH)}  ${payload.name.padEnd(nameWidth)}`;
    if (payload.state !== 'running' || !payload.step) return `${head}  ${payload.detail}`.trimEnd();
    const { step } = payload;
    const eta = Format.TimeFormat(params.eta, options, 1);
    return `${head}  ${Format.BarFormat(params.progress, options)} ${params.value}/${params.total}  ${lossTerms(step)}  ${step.msPerIter.toFixed(1)} ms/it  ETA ${eta}`;
  };
}

/** For a terminal: the grid as a list of runs with their state, a progress bar on the one training. */
function barProgress(stream: NodeJS.WriteStream): Progress {
  let multibar: MultiBar | null = null;
  let bars: SingleBar[] = [];
  return {
    start(title, runs) {
      const nameWidth = Math.max(...runs.map((r) => r.name.length));
      stream.write(`${title}: ${runs.length} run(s)\n`);
      const grid = new MultiBar({ stream, format: formatRun(nameWidth), barsize: 24, hideCursor: true, barCompleteChar: '█', barIncompleteChar: '░' });
      bars = runs.map((run) => grid.create(run.iterations, 0, { name: run.name, state: run.state, detail: '', step: null } satisfies BarPayload));
      multibar = grid;
    },
    state(index, state, detail) {
      bars[index].update({ state, detail: detail ?? '' });
    },
    step(index, step) {
      bars[index].update(step.iteration, { step });
    },
    log(line) {
      // While the bars are drawn, lines must go above them through the multibar.
      if (multibar?.isActive) multibar.log(`${line}\n`);
      else stream.write(`${line}\n`);
    },
    stop() {
      if (!multibar?.isActive) return;
      multibar.update(); // draws the final state and flushes queued log lines, which stop() alone drops
      multibar.stop();
    },
  };
}

/** Bars on a terminal (unless `plain`), plain lines elsewhere (CI, pipes, files), nothing with --quiet. */
export function createProgress(opts: { quiet: boolean; stream: NodeJS.WriteStream; plain?: boolean }): Progress {
  if (opts.quiet) return silentProgress;
  if (opts.stream.isTTY && !opts.plain) return barProgress(opts.stream);
  return plainProgress((line) => opts.stream.write(`${line}\n`));
}
