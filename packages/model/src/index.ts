/**
 * `@neuronscope/model`: ONNX model loading and checks, recordable layers and their shapes, graph
 * outputs added for recording, onnxruntime sessions, and image preprocessing.
 */
export { withExtraOutputs } from './extra-outputs.js';
export { type LoadedImage, loadImage } from './image.js';
export { loadLabels } from './labels.js';
export { ACTIVATION_OPS, type LayerRef, layerShapes, recordableLayers, selectLayers } from './layers.js';
export { guessLayout, type LoadedModel, loadModel } from './load.js';
export type { AttributeValue, GraphNode, GraphView, ValueInfo } from './onnx-graph.js';
export {
  PREPROCESSING_PRESETS,
  type PreprocessingOptions,
  type PreprocessingPreset,
  type PresetName,
  resolvePreprocessing,
} from './preprocess.js';
export { createSession, type SessionOptions } from './session.js';
