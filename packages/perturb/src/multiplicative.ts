import type { InputTensor } from '@neuronscope/core';
import { checkBuffers, type PerturbationFamily, parseParams } from './family.js';
import {
  CURRENT_NOISE_PARAMS,
  copyNormals,
  NoiseCopyParams,
  type NoiseParams,
  NoiseParamsSchema,
  renderBoxMuller,
} from './noise.js';

/**
 * Multiplicative Gaussian noise: x * (1 + eps), eps ~ N(0, sigma^2) i.i.d. per element, the same noise level
 * for every copy (unlike `paper`); copy 0 is clean by default. Elements near 0 in model-input space (for
 * mean/std-normalised inputs: near the dataset mean colour) barely change.
 */
export const multiplicative: PerturbationFamily<NoiseParams> = {
  name: 'multiplicative',
  summary: 'multiplicative noise: x * (1 + eps), eps ~ N(0, sigma^2) per element (sigma=0.1, includeClean=true)',
  params: NoiseParamsSchema,
  currentParams: CURRENT_NOISE_PARAMS,
  describeCopy: (p, copy) => ({
    sigma: p.sigma,
    clean: p.includeClean && copy === 0,
    ...(p.normals ? { normals: p.normals } : {}),
  }),
  apply(input: InputTensor, copyParams: Record<string, unknown>, copySeed: number, out: Float32Array): void {
    const { sigma, clean, normals } = parseParams(NoiseCopyParams, copyParams, "perturbation 'multiplicative' copy");
    checkBuffers(input, out);
    const data = input.data;
    if (clean) {
      out.set(data);
      return;
    }
    if (normals === 'box-muller') {
      renderBoxMuller(copySeed, input, out, sigma, 0);
      return;
    }
    // One standard normal per element, indexed like the tensor.
    const eps01 = copyNormals(copySeed, input);
    for (let o = 0; o < data.length; o++) {
      out[o] = data[o]! * (1 + sigma * eps01[o]!);
    }
  },
};
