import { z } from 'zod';
import { Xoshiro128ss } from './rng.js';

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

let scratch = new Float64Array(0);

/**
 * The first `count` standard normals of a copy's stream (what `count` calls of `Xoshiro128ss.fromSeed(seed)
 * .normal()` return), in a buffer reused by the next call: rendering a copy allocates nothing.
 */
export function copyNormals(seed: number, count: number): Float64Array {
  if (scratch.length < count) scratch = new Float64Array(count);
  const out = scratch.subarray(0, count);
  Xoshiro128ss.fromSeed(seed).fillNormal(out);
  return out;
}
