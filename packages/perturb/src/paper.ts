import type { InputTensor } from '@neuronscope/core';
import { z } from 'zod';
import { checkBuffers, type PerturbationFamily, parseParams } from './family.js';
import { CURRENT_NOISE_PARAMS, copyNormals, MAX_SIGMA, NormalsSchema, renderBoxMuller } from './noise.js';

const PaperParams = z.strictObject({
  /** Std of the per-element noise eps. */
  sigma: z.number().positive().max(MAX_SIGMA).default(0.1),
  /**
   * The noise scale of the last copy. Absent: the paper's schedule, copy i has scale i, so the last has N - 1 and a
   * larger N adds ever noisier copies. Given: copy i has scale i * maxScale / (N - 1), so N only samples the same
   * range more densely. No default, so that runs without it keep the params they always had.
   */
  maxScale: z.number().positive().max(1e4).optional(),
  /** The generator of the normals (noise.ts); absent: `polar`, as runs recorded before `box-muller` existed. */
  normals: NormalsSchema.optional(),
});
export type PaperParams = z.infer<typeof PaperParams>;

const PaperCopyParams = z.strictObject({
  sigma: z.number().positive(),
  /** Copy i is x * (1 + scale * eps): the copy index i, or i * maxScale / (N - 1). */
  scale: z.number().min(0),
  normals: NormalsSchema.optional(),
});

/**
 * Lengerich, Konam et al. (2017), input resampling: copy i = x * (1 + i * eps), eps ~ N(0, sigma^2) i.i.d. per
 * element and fresh for every copy, i = 0..N-1. The noise grows with the copy index, so the copies span
 * everything from the clean image (copy 0, bit-for-bit) to heavily corrupted ones, and the noisiest copy's std is
 * (N - 1) * sigma: N is part of the question asked, not only of its precision. With `maxScale` the copy's scale is
 * i * maxScale / (N - 1) instead (the noisiest copy's std is maxScale * sigma whatever N), and N only sets how
 * densely that range is sampled.
 */
export const paper: PerturbationFamily<PaperParams> = {
  name: 'paper',
  summary:
    'the paper: copy i = x * (1 + i*eps), eps ~ N(0, sigma^2) per element; copy 0 is clean (sigma=0.1). ' +
    'The noise grows with i, so N changes the question; maxScale=s fixes the last copy at scale s (copy i: i*s/(N-1))',
  params: PaperParams,
  currentParams: CURRENT_NOISE_PARAMS,
  describeCopy: (p, copy, _seed, samples) => ({
    sigma: p.sigma,
    scale: p.maxScale === undefined ? copy : (copy * p.maxScale) / (samples - 1),
    ...(p.normals ? { normals: p.normals } : {}),
  }),
  apply(input: InputTensor, copyParams: Record<string, unknown>, copySeed: number, out: Float32Array): void {
    const { sigma, scale, normals } = parseParams(PaperCopyParams, copyParams, "perturbation 'paper' copy");
    checkBuffers(input, out);
    const data = input.data;
    if (scale === 0) {
      out.set(data);
      return;
    }
    if (normals === 'box-muller') {
      // x * (1 + (scale * sigma) * eps), in float32.
      renderBoxMuller(copySeed, input, out, scale * sigma, 0);
      return;
    }
    // One standard normal per element, indexed like the tensor.
    const eps01 = copyNormals(copySeed, input);
    for (let o = 0; o < data.length; o++) {
      const eps = sigma * eps01[o]!;
      out[o] = data[o]! * (1 + scale * eps);
    }
  },
};
