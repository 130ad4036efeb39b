import { z } from 'zod';
import { ConfigSection, RunConfig } from '../../config/schema';

const positiveInt = z.number().int().positive();

/** Settings of the dynamical-systems tasks, `dynamics:` in presets and config files. */
const dynamicsSchema = z
  .object({
    /** Trajectories generated for training (the authors use 32,000 for their event runs). */
    trainTrajectories: positiveInt.default(4000),
    /**
     * Held-out trajectories: the NLL's points and the data side of the event histograms; a second
     * set of the same size measures the histograms' sampling floor (data against data).
     */
    testTrajectories: positiveInt.default(1000),
  })
  .strict();

export type DynamicsSettings = z.output<typeof dynamicsSchema>;

export const DYNAMICS_SECTION: ConfigSection = { key: 'dynamics', schema: dynamicsSchema };

export function dynamicsOf(config: RunConfig): DynamicsSettings {
  return config.dynamics as DynamicsSettings;
}
