import { LossPoint } from '../results/record';
import { Curve, writeCurvesPng } from './curves-png';

export interface TrainingHistory {
  label: string;
  history: LossPoint[];
}

/**
 * The CFM loss and the divergence term over training, per run, on a log scale: for CFM runs the
 * divergence term is watched but not trained on, which shows how large it stays (the paper's Figure 1).
 */
export function writeTrainingCurves(file: string, runs: TrainingHistory[], title: string): void {
  const curves: Curve[] = runs.flatMap(({ label, history }) => [
    { label: `${label} L_CFM`, xs: history.map((h) => h.iteration), ys: history.map((h) => h.cfm) },
    { label: `${label} L_CDM`, xs: history.map((h) => h.iteration), ys: history.map((h) => h.cdm) },
  ]);
  writeCurvesPng(file, curves, { title: `${title}: training losses (log scale)`, logY: true });
}
