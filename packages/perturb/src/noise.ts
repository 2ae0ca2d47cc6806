import { z } from 'zod';
import { layoutStrides, type TensorShape } from './family.js';
import { Xoshiro128ss } from './rng.js';

/** Settings shared by the i.i.d. noise families `gaussian` and `multiplicative`. */
/**
 * The largest noise std a family takes: far beyond any useful perturbation (the copies are pure noise well before),
 * and low enough that no copy overflows float32 (with the paper's schedule, at the largest N).
 */
export const MAX_SIGMA = 100;

export const NoiseParamsSchema = z.strictObject({
  /** Std of the per-element noise eps. */
  sigma: z.number().positive().max(MAX_SIGMA).default(0.1),
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

let drawn = new Float64Array(0);
let placed = new Float64Array(0);

/**
 * A copy's standard normals for every element of a tensor of `shape`, indexed like the tensor: element (c, y, x)
 * gets normal number (c * height + y) * width + x of the stream `Xoshiro128ss.fromSeed(seed)`, whatever the
 * layout, so a copy does not depend on the layout. The buffer is reused by the next call: rendering a copy
 * allocates nothing.
 */
export function copyNormals(seed: number, shape: TensorShape): Float64Array {
  const { channels, height, width } = shape;
  const count = channels * height * width;
  if (drawn.length < count) drawn = new Float64Array(count);
  const stream = drawn.subarray(0, count);
  Xoshiro128ss.fromSeed(seed).fillNormal(stream);
  const { channel: cs, row: ys, column: xs } = layoutStrides(shape);
  if (cs === height * width && ys === width && xs === 1) return stream; // NCHW: stream order is tensor order
  if (placed.length < count) placed = new Float64Array(count);
  const out = placed.subarray(0, count);
  let j = 0;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      let o = c * cs + y * ys;
      for (let x = 0; x < width; x++, o += xs) out[o] = stream[j++]!;
    }
  }
  return out;
}
