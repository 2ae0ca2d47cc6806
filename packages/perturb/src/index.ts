/**
 * `@neuronscope/perturb`: deterministic perturbation families applied to the preprocessed model-input tensor.
 *
 * A run's copies are described by its perturbations table (one row per copy: family, seed, params); the pixels
 * are never stored but regenerated from a row with {@link renderCopy}, bit-identically.
 */
export type { PerturbationFamily, TensorShape } from './family.js';
export { baselineFor, defaultBlurSigma, type MaskBaseline, maskFor } from './mask.js';
export { CURRENT_NOISE_PARAMS, MAX_SIGMA, type Normals } from './noise.js';
export { currentPerturbation, MAX_SAMPLES, perturbations, resolvePerturbation } from './registry.js';
export { copySeed } from './rng.js';
export { boxMuller } from './simd-normals.js';
export { type CopyRecord, perturbationTable, readPerturbationTable, renderCopy, type Table } from './table.js';
