import * as tf from '../backend/tf';
import { Rng } from '../random/rng';
import { ExperimentState } from '../core/state';
import { captureState, restoreState } from '../training/state';

/** The random streams a training step draws from, each forked by name from the run's seed. */
export type TrainingStreams = Record<'data' | 'noise' | 'time' | 'probes', Rng>;

/** What an experiment needs of its model: the trainable variables, a FLOP count, disposal. */
export interface TrainableModel {
  readonly variables: tf.Variable[];
  flopsPerSample(): number;
  dispose(): void;
}

/**
 * The part every model-backed experiment shares: its variables and named streams (what a
 * checkpoint holds), the FLOP count of a step and disposal. Initialisation and data streams depend
 * on the seed only, so CFM and FDM runs of one seed start from the same weights and see the same
 * batches: a paired comparison.
 */
export abstract class ModelExperiment<M extends TrainableModel> {
  protected readonly streams: TrainingStreams;

  protected constructor(
    protected readonly model: M,
    rng: Rng,
  ) {
    this.streams = { data: rng.fork('data'), noise: rng.fork('noise'), time: rng.fork('time'), probes: rng.fork('probes') };
  }

  get variables(): tf.Variable[] {
    return this.model.variables;
  }

  snapshot(): Promise<ExperimentState> {
    return captureState(this.variables, this.streams);
  }

  restore(state: ExperimentState): void {
    restoreState(this.variables, this.streams, state);
  }

  dispose(): void {
    this.model.dispose();
  }

  /** A step's FLOPs: forward plus one tangent pass per JVP, times 3 for the backward pass. */
  protected stepFlops(tangents: number, batchSize: number): number {
    return 3 * (1 + tangents) * this.model.flopsPerSample() * batchSize;
  }
}
