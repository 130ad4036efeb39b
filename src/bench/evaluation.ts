import { Bench } from 'tinybench';
import { RunConfig } from '../config/schema';
import { Task } from '../core/task';
import { Rng } from '../random/rng';
import { gridJobs } from '../runner/jobs';
import { benchedExperiment, latencyOf } from './bench';

export interface EvaluationBenchOptions {
  /** Points per timed call (one call samples, or integrates the log-density of, this many points). */
  points: number;
  /** Timed calls per phase, after one untimed. */
  repeats: number;
}

export interface EvaluationBenchRow {
  phase: 'sampling' | 'log-density';
  points: number;
  /** Median seconds of one call. */
  secondsMedian: number;
  pointsPerSecond: number;
  /** The evaluation's solver, e.g. 'rk4, 100 steps' or 'dopri5, rtol 1e-5, atol 1e-5'. */
  solver: string;
  batchSize: number;
}

function solverLabel(config: RunConfig): string {
  const ev = config.eval;
  return ev.solver === 'dopri5' ? `dopri5, rtol ${ev.rtol}, atol ${ev.atol}` : `${ev.solver}, ${ev.steps} steps`;
}

/**
 * Throughput of the evaluation's flows, in points per second: sampling (the ODE from noise to data)
 * and, where the task has a likelihood, the log-density (the ODE back, with the divergence), both
 * with the configuration's solver and batch size. The model is the untrained field of the first run
 * (its cost does not depend on the method; an adaptive solver's does depend on the weights, so fixed
 * steps are what compares across implementations).
 */
export async function benchEvaluation(task: Task, config: RunConfig, opts: EvaluationBenchOptions, log: (line: string) => void): Promise<EvaluationBenchRow[]> {
  const [{ spec }] = gridJobs({ ...config, seeds: [config.seeds[0]] }, task);
  const experiment = await benchedExperiment(task, config, spec, log);
  const rng = new Rng(`${task.name}/bench-evaluation/points`);
  const rows: EvaluationBenchRow[] = [];
  try {
    let points = await experiment.sample(opts.points, rng.fork('warm-up'));
    const phases: [EvaluationBenchRow['phase'], () => Promise<unknown>][] = [['sampling', async () => (points = await experiment.sample(opts.points, rng.fork('noise')))]];
    const logDensity = experiment.logDensity?.bind(experiment);
    if (logDensity) phases.push(['log-density', () => logDensity(points, rng.fork('probes'))]);
    for (const [phase, call] of phases) {
      log(`timing ${task.name} ${phase}: ${opts.points} points, 1 warm-up + ${opts.repeats} timed calls`);
      const bench = new Bench({ iterations: opts.repeats, warmupIterations: 1, time: 0, warmupTime: 0 });
      bench.add(phase, call);
      await bench.run();
      const seconds = latencyOf(bench, phase).p50 / 1000;
      rows.push({ phase, points: opts.points, secondsMedian: seconds, pointsPerSecond: opts.points / seconds, solver: solverLabel(config), batchSize: config.eval.batchSize });
    }
  } finally {
    experiment.dispose();
  }
  return rows;
}
