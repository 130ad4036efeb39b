import { Method } from '../losses/flow-loss';
import { FdmSettings, RunSpec } from './task';

/** What the runner, the reports and the FLOP counts need to know of a training method. */
export interface MethodDefinition {
  /** The settings only this method's loss reads (CFM runs are not repeated over FDM's). */
  settings: readonly string[];
  /** The values its specs hold for the settings it does not read, so one run serves them all. */
  neutral?: FdmSettings;
  /** What names one of its runs beside the method, e.g. ['lambda=0.1']. */
  name(spec: RunSpec): string[];
  /** Jacobian-vector products per sample that one evaluation of its loss needs, in dimension dim. */
  tangents(settings: FdmSettings, dim: number): number;
}

/**
 * The settings only FDM's loss reads: report rows and pairs of CFM ignore them, and runs are not
 * named by them. `probeDist` is a configuration-wide setting rather than a grid axis, but it shapes
 * only FDM as well.
 */
const FDM_SETTINGS = ['lambda', 'divEstimator', 'probes', 'probeDist', 'cdmWeight', 'stopGrad', 'fdmVariant'] as const;

export const METHOD_DEFINITIONS: Record<Method, MethodDefinition> = {
  cfm: {
    settings: [],
    neutral: { lambda: 0, divEstimator: 'exact', probes: 0, cdmWeight: 'path', stopGrad: false, fdmVariant: 'paper' },
    name: () => [],
    tangents: () => 0,
  },
  fdm: {
    settings: FDM_SETTINGS,
    name: (spec) => [`lambda=${spec.lambda}`],
    // The exact divergence, and the reference variant's full Jacobian, take one JVP per dimension.
    tangents: (settings, dim) => (settings.divEstimator === 'exact' || settings.fdmVariant === 'reference' ? dim : settings.probes),
  },
};

export const FDM_ONLY_SETTINGS: readonly string[] = FDM_SETTINGS;

/** Jacobian-vector products per sample of a run's loss (for FLOP counts). */
export function tangentsPerSample(spec: FdmSettings & { method: Method }, dim: number): number {
  return METHOD_DEFINITIONS[spec.method].tangents(spec, dim);
}
