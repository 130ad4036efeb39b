import { RunConfig } from '../config/schema';
import { FlowLossOptions } from '../losses/flow-loss';
import { RunSpec } from '../core/task';

/** The loss options of a run: its method and the FDM settings (which CFM ignores). */
export function lossOptionsFor(spec: RunSpec, config: RunConfig): FlowLossOptions {
  return {
    method: spec.method,
    lambda: spec.lambda,
    divEstimator: spec.divEstimator,
    probes: spec.probes,
    probeDist: config.probeDist,
    cdmWeight: spec.cdmWeight,
    stopGrad: spec.stopGrad,
    fdmVariant: spec.fdmVariant,
  };
}
