import { LrSchedule } from '../config/schema';

/** The learning rate of an iteration (1-based) of a run of `iterations` under a schedule (LR_SCHEDULES). */
export function learningRateAt(iteration: number, base: number, schedule: LrSchedule, iterations: number): number {
  if (schedule === 'constant') return base;
  if (schedule === 'reference') {
    // The reference code's schedule: 10 iterations of linear warm-up, then x0.999 every 10 iterations.
    return base * Math.min(1, iteration / 10) * 0.999 ** Math.floor(iteration / 10);
  }
  const warmup = Math.max(1, Math.round(iterations / 100));
  if (iteration <= warmup) return (base * iteration) / warmup;
  return 0.5 * base * (1 + Math.cos((Math.PI * (iteration - warmup)) / Math.max(1, iterations - warmup)));
}
