/** Deconvnet projections (Zeiler & Fergus 2014) generated from the ONNX graph: see project.ts and graph.ts. */
export type { DeconvMode, UnpoolMode } from './backward.js';
export { DEFAULT_BOX_THRESHOLD, pixelMagnitudes, projectionBox } from './box.js';
export { buildDeconvGraph, type DeconvGraph, type DeconvGraphOptions } from './graph.js';
export {
  createDeconv,
  createDeconvOrSkip,
  type Deconv,
  type DeconvOptions,
  type DeconvStart,
  type LayerProjections,
  type NeuronProjection,
  type NeuronRef,
} from './project.js';
