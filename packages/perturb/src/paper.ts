import type { InputTensor } from '@neuronscope/core';
import { z } from 'zod';
import { checkBuffers, type PerturbationFamily, parseParams } from './family.js';
import { copyNormals } from './noise.js';

const PaperParams = z.strictObject({
  /** Std of the per-element noise eps. */
  sigma: z.number().positive().default(0.1),
});
export type PaperParams = z.infer<typeof PaperParams>;

const PaperCopyParams = z.strictObject({
  sigma: z.number().positive(),
  /** The copy index i: copy i is x * (1 + i * eps). */
  scale: z.number().min(0),
});

/**
 * Lengerich, Konam et al. (2017), input resampling: copy i = x * (1 + i * eps), eps ~ N(0, sigma^2) i.i.d. per
 * element and fresh for every copy, i = 0..N-1. The noise grows with the copy index, so the copies span
 * everything from the clean image (copy 0, bit-for-bit) to heavily corrupted ones.
 */
export const paper: PerturbationFamily<PaperParams> = {
  name: 'paper',
  summary: 'the paper: copy i = x * (1 + i*eps), eps ~ N(0, sigma^2) per element; copy 0 is clean (sigma=0.1)',
  params: PaperParams,
  describeCopy: (p, copy) => ({ sigma: p.sigma, scale: copy }),
  apply(input: InputTensor, copyParams: Record<string, unknown>, copySeed: number, out: Float32Array): void {
    const { sigma, scale } = parseParams(PaperCopyParams, copyParams, "perturbation 'paper' copy");
    checkBuffers(input, out);
    const data = input.data;
    if (scale === 0) {
      out.set(data);
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
