import { z } from 'zod';
import { ConfigSection, RunConfig } from '../../config/schema';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

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
    /**
     * Samples drawn conditioned on the event C > 0 by guidance (Finzi et al.'s event_scores); their
     * histogram of C is compared with the held-out trajectories that have the event. 0 skips it.
     */
    conditionedSamples: nonNegativeInt.default(200),
    /** Held-out trajectories continued from their first `observedSteps` states; 0 skips it. */
    continuations: nonNegativeInt.default(100),
    observedSteps: positiveInt.default(3),
    /** Reconstruction-guidance strength of the continuations (Finzi et al.'s inpainting alpha). */
    continuationStrength: z.number().positive().default(10),
    /** Held-out trajectories whose NLL is also computed with the exact divergence, beside Hutchinson's; 0 skips it. */
    exactNllTrajectories: nonNegativeInt.default(4),
  })
  .strict();

export type DynamicsSettings = z.output<typeof dynamicsSchema>;

export const DYNAMICS_SECTION: ConfigSection = { key: 'dynamics', schema: dynamicsSchema };

export function dynamicsOf(config: RunConfig): DynamicsSettings {
  return config.dynamics as DynamicsSettings;
}
