import { FinishedRun } from './catalog';
import { evaluateRunDir, evaluationFile, readEvaluationFile, ReferenceRunEvaluation } from './evaluations';
import { ProtocolEvaluator } from './reproduce';

/** A finished run's evaluations by the reference protocol, if it has them. */
export function referenceEvaluationOf(run: FinishedRun): ReferenceRunEvaluation | undefined {
  return readEvaluationFile(evaluationFile(run.runDir, 'reference'))?.runs.find((entry) => entry.key === run.key);
}

/**
 * The reference code's likelihood protocol (docs/math.md section 5) for `reproduce`: evaluates the
 * final model of every finished run of the tasks it is asked for `repeats` times (reusing stored
 * evaluations), and reads the value the paper reports: the likelihood exp(best mean log-density over
 * the N evaluations of training), estimated post hoc as exp(mean + sigma E[max of N]) with sigma from
 * the batches (more degrees of freedom than the repeats' spread).
 */
export function referenceProtocol(opts: { tasks: string[]; repeats: number; backend: string; log: (line: string) => void }): ProtocolEvaluator {
  return {
    async evaluate(runs) {
      for (const run of runs.filter((r) => r.record.status === 'ok' && opts.tasks.includes(r.record.task))) {
        await evaluateRunDir(run.runDir, { repeats: opts.repeats, runs: [run.key], backend: opts.backend, log: opts.log });
      }
    },
    summary(runs) {
      const evaluated = runs.flatMap((run) => {
        const evaluation = referenceEvaluationOf(run);
        return evaluation ? [{ run, evaluation }] : [];
      });
      if (!evaluated.length) return undefined;
      const nats = (value: number | null) => (value === null ? '—' : value.toFixed(3));
      return {
        title:
          'The reference protocol on the final models (NLL = minus the mean log-density, nats): its value, the spread σ of one ' +
          'evaluation (from its batches), N evaluations over training, and the expected best of N, final − σ E[max of N]; ' +
          'optimism = exact NLL − expected best.',
        headers: ['task', 'run', 'exact NLL', 'ref. NLL (final)', 'σ', 'N', 'E[max of N]', 'ref. NLL (expected best of N)', 'optimism', 'likelihood (expected best)'],
        body: evaluated.map(({ run, evaluation: e }) => [
          run.record.task,
          e.run,
          nats(e.exactNll),
          nats(-e.mean),
          e.sdFromBatches.toFixed(4),
          String(e.evaluationsOverTraining),
          e.expectedMaxZ.toFixed(3),
          nats(-e.expectedBestFromBatches),
          e.exactNll === null ? '—' : (e.exactNll + e.expectedBestFromBatches).toFixed(3),
          Math.exp(e.expectedBestFromBatches).toPrecision(4),
        ]),
      };
    },
    read(entry, run) {
      const evaluation = referenceEvaluationOf(run);
      if (!evaluation || entry.suite?.metric !== 'likelihood') return undefined;
      return Math.exp(evaluation.expectedBestFromBatches);
    },
  };
}
