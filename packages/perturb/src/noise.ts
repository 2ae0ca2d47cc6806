import { z } from 'zod';

/** Settings shared by the i.i.d. noise families `gaussian` and `multiplicative`. */
export const NoiseParamsSchema = z.strictObject({
  /** Std of the per-element noise eps. */
  sigma: z.number().positive().default(0.1),
  /** Copy 0 is the clean input, so the clean image is always part of the sample (as in the paper). */
  includeClean: z.boolean().default(true),
});
export type NoiseParams = z.infer<typeof NoiseParamsSchema>;

/** What the noise families record per copy. */
export const NoiseCopyParams = z.strictObject({
  sigma: z.number().positive(),
  /** True for the clean copy: out = x. */
  clean: z.boolean(),
});
