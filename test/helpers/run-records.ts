import { RunRecord } from '../../src/results/record';

export interface RecordParts {
  method: RunRecord['method'];
  seed: number;
  nll: number | null;
  msPerIter: number;
  settings?: RunRecord['settings'];
  metrics?: RunRecord['metrics'];
  status?: RunRecord['status'];
}

/** A checkerboard record with plausible defaults; tests state only the fields they check. */
export function makeRecord(parts: RecordParts): RunRecord {
  const status = parts.status ?? 'ok';
  return {
    schema: 1,
    runId: `run-${parts.method}-${parts.seed}`,
    task: 'checkerboard',
    method: parts.method,
    seed: parts.seed,
    status,
    ...(status === 'diverged' ? { divergedAt: 17 } : {}),
    settings: { iterations: 100, batchSize: 256, seed: parts.seed, ...parts.settings },
    metrics: { nll: parts.nll, ...parts.metrics },
    timing: {
      msPerIterMedian: parts.msPerIter,
      msPerIterMean: parts.msPerIter,
      msPerIterStd: 0,
      msPerIterP95: parts.msPerIter,
      iterations: 100,
      trainSeconds: parts.msPerIter / 10,
      evalSeconds: 1,
    },
    backend: 'wasm (simd)',
  };
}

/**
 * CFM and FDM at lambda 0.1 and 1, three seeds each, plus one diverged FDM run whose absurd NLL must
 * not reach any mean. CFM records carry a lambda too, as real configs do, which must not split them.
 *   cfm:         nll 3.8/3.9/4.0 (mean 3.9, std 0.1),    ms 10/12/11 (median 11)
 *   fdm λ=0.1:   nll 3.70/3.72/3.74 (mean 3.72, std 0.02), ms 22/20/24 (median 22, ratio 2)
 *   fdm λ=1:     nll 3.75/3.80/3.85 (mean 3.80, std 0.05), ms 33/30/36 (median 33, ratio 3) + seed 4 diverged
 */
export function lambdaGridRecords(): RunRecord[] {
  const fdm = (lambda: number, seed: number, nll: number | null, msPerIter: number, status?: RunRecord['status']) =>
    makeRecord({ method: 'fdm', seed, nll, msPerIter, status, settings: { lambda, divEstimator: 'hutchinson' } });
  const cfm = (seed: number, nll: number, msPerIter: number) =>
    makeRecord({ method: 'cfm', seed, nll, msPerIter, settings: { lambda: 0.5 }, metrics: { energyDistance: 0.01 * seed } });
  return [
    cfm(1, 3.8, 10),
    cfm(2, 3.9, 12),
    cfm(3, 4.0, 11),
    fdm(0.1, 1, 3.7, 22),
    fdm(0.1, 2, 3.72, 20),
    fdm(0.1, 3, 3.74, 24),
    fdm(1, 1, 3.75, 33),
    fdm(1, 2, 3.8, 30),
    fdm(1, 3, 3.85, 36),
    fdm(1, 4, 99, 1, 'diverged'),
  ];
}
