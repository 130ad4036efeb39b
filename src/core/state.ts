import { RngState } from '../random/rng';

/** A float32 tensor as JSON: its shape and its bytes (little-endian float32) in base64. */
export interface EncodedTensor {
  shape: number[];
  base64: string;
}

/** What training changes in an experiment: its variables, and its random streams by name. */
export interface ExperimentState {
  variables: EncodedTensor[];
  streams: Record<string, RngState>;
  /**
   * Numbers the experiment tracks over training besides its variables (a density task's
   * in-training reference likelihood: its best, last and count), non-finite ones as null;
   * absent when it tracks nothing.
   */
  tracked?: Record<string, number | null>;
}
