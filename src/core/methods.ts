import { FdmSettings } from './task';

/**
 * The settings only FDM's loss reads: CFM runs are not repeated over them, carry neutral values
 * in their specs, are not named by them, and report rows and pairs of CFM ignore them. `probeDist`
 * is a configuration-wide setting rather than a grid axis, but it shapes only FDM as well.
 */
export const FDM_ONLY_SETTINGS: readonly string[] = ['lambda', 'divEstimator', 'probes', 'probeDist', 'cdmWeight', 'stopGrad', 'fdmVariant'];

/** What a CFM run's spec holds for the FDM settings, so that one CFM run serves every FDM setting. */
export const CFM_NEUTRAL_SETTINGS: FdmSettings = { lambda: 0, divEstimator: 'exact', probes: 0, cdmWeight: 'path', stopGrad: false, fdmVariant: 'paper' };
