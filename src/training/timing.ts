import { mean, median, quantile, sampleStandardDeviation } from 'simple-statistics';
import { TimingStats } from '../results/record';

/** Summary statistics of per-iteration wall times. */
export function timingStats(stepMs: number[], evalSeconds: number): TimingStats {
  const n = stepMs.length;
  return {
    msPerIterMedian: n ? median(stepMs) : 0,
    msPerIterMean: n ? mean(stepMs) : 0,
    msPerIterStd: n > 1 ? sampleStandardDeviation(stepMs) : 0,
    msPerIterP95: n ? quantile(stepMs, 0.95) : 0,
    iterations: n,
    trainSeconds: stepMs.reduce((a, b) => a + b, 0) / 1000,
    evalSeconds,
  };
}
