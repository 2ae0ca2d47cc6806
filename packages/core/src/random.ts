/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): a small seeded generator, uniform in [0, 1), for the random
 * choices that only need to be reproducible (bootstrap resamples, random channel sets), not of high quality.
 * Perturbation noise uses `@neuronscope/perturb`'s xoshiro128** streams instead.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
