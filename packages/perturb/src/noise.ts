import type { InputTensor } from '@neuronscope/core';
import { z } from 'zod';
import { layoutStrides, type TensorShape } from './family.js';
import { Xoshiro128ss } from './rng.js';
import { boxMuller } from './simd-normals.js';

/**
 * The generators of a copy's standard normals: `polar`, the xoshiro128** stream with Marsaglia's polar method in
 * float64 (rng.ts; what runs recorded without the param used), and `box-muller`, four xoshiro128** lanes and
 * Box-Muller in float32 in a WebAssembly SIMD kernel (simd-normals.ts; about ten times faster, what new runs use).
 */
export const NormalsSchema = z.enum(['polar', 'box-muller']);
export type Normals = z.infer<typeof NormalsSchema>;

/** The params new runs of the noise families get: the current generator. */
export const CURRENT_NOISE_PARAMS = Object.freeze({ normals: 'box-muller' satisfies Normals });

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
  /** The generator; absent: `polar` (runs recorded before `box-muller` existed). */
  normals: NormalsSchema.optional(),
});
export type NoiseParams = z.infer<typeof NoiseParamsSchema>;

/** What the noise families record per copy. */
export const NoiseCopyParams = z.strictObject({
  sigma: z.number().positive(),
  /** True for the clean copy: out = x. */
  clean: z.boolean(),
  normals: NormalsSchema.optional(),
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

const f = Math.fround;
let scratch = new Float32Array(0);

/**
 * Renders `out = x * (1 + mul * z) + add * z` in float32 with z the copy's `box-muller` normals, normal number
 * (c * height + y) * width + x going to element (c, y, x) whatever the layout (the same values as for NCHW).
 */
export function renderBoxMuller(seed: number, input: InputTensor, out: Float32Array, mul: number, add: number): void {
  const { channels, height, width, data } = input;
  const { channel: cs, row: ys, column: xs } = layoutStrides(input);
  if (cs === height * width && ys === width && xs === 1) {
    boxMuller(seed, out, data, mul, add);
    return;
  }
  const count = channels * height * width;
  if (scratch.length < count) scratch = new Float32Array(count);
  const z = scratch.subarray(0, count);
  boxMuller(seed, z);
  const m = f(mul);
  const a = f(add);
  let j = 0;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      let o = c * cs + y * ys;
      for (let x = 0; x < width; x++, o += xs) {
        const zj = z[j++]!;
        out[o] = f(f(data[o]! * f(1 + f(m * zj))) + f(a * zj));
      }
    }
  }
}
