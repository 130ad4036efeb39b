import { StepReport } from '../training/trainer';

/** Where a run of the grid stands. */
export type RunState = 'pending' | 'running' | 'evaluating' | 'ok' | 'diverged' | 'interrupted';

export interface GridRun {
  /** e.g. 'fdm lambda=0.1 seed 0'. */
  name: string;
  iterations: number;
  state: RunState;
}

/**
 * What the runner reports while it works; the command line shows it as progress bars, plain lines
 * or nothing (src/cli/progress.ts).
 */
export interface Progress {
  /** The grid before anything trains (a resumed directory's finished runs come as 'ok' or 'diverged'). */
  start(title: string, runs: GridRun[]): void;
  /** A run changes state; `detail` says more, e.g. 'from iteration 40' or 'at iteration 17'. */
  state(index: number, state: RunState, detail?: string): void;
  /** After every training iteration of run `index`. */
  step(index: number, step: StepReport): void;
  /** A message between the progress output. */
  log(line: string): void;
  /** Ends the display, leaving the terminal as it was. */
  stop(): void;
}
