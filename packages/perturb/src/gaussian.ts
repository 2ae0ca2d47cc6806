import type { InputTensor } from '@neuronscope/core';
import { checkBuffers, layoutStrides, type PerturbationFamily, parseParams } from './family.js';
import { copyNormals, NoiseCopyParams, type NoiseParams, NoiseParamsSchema } from './noise.js';

/** Additive Gaussian noise: x + eps, eps ~ N(0, sigma^2) i.i.d. per element; copy 0 is clean by default. */
export const gaussian: PerturbationFamily<NoiseParams> = {
  name: 'gaussian',
  summary: 'additive noise: x + eps, eps ~ N(0, sigma^2) per element (sigma=0.1, includeClean=true)',
  params: NoiseParamsSchema,
  describeCopy: (p, copy) => ({ sigma: p.sigma, clean: p.includeClean && copy === 0 }),
  apply(input: InputTensor, copyParams: Record<string, unknown>, copySeed: number, out: Float32Array): void {
    const { sigma, clean } = parseParams(NoiseCopyParams, copyParams, "perturbation 'gaussian' copy");
    checkBuffers(input, out);
    const data = input.data;
    if (clean) {
      out.set(data);
      return;
    }
    // Standard normals in (c, y, x) order.
    const eps01 = copyNormals(copySeed, data.length);
    let j = 0;
    const { channel: cs, row: ys, column: xs } = layoutStrides(input);
    // (c, y, x) order whatever the layout: a copy does not depend on the layout.
    for (let c = 0; c < input.channels; c++) {
      for (let y = 0; y < input.height; y++) {
        let o = c * cs + y * ys;
        for (let x = 0; x < input.width; x++, o += xs) {
          out[o] = data[o]! + sigma * eps01[j++]!;
        }
      }
    }
  },
};
