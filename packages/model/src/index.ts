/**
 * `@neuronscope/model`: ONNX model loading and checks, recordable layers and their shapes, graph
 * outputs added for recording, onnxruntime sessions, and image preprocessing.
 */
export { type ChannelMask, type MaskedModel, type MaskTarget, withChannelMasks } from './ablation.js';
export { AblationRunner, type AblationVariant } from './ablation-runner.js';
export { type ModelBytes, readModelBytes } from './external-data.js';
export { withExtraOutputs } from './extra-outputs.js';
export {
  defaultOpset,
  type ReducingModel,
  type ReductionFragment,
  type ReductionNames,
  type ReductionSpec,
  reductionFragment,
  withReductions,
} from './graph-reductions.js';
export { type LoadedImage, loadImage } from './image.js';
export {
  type AlignLabelsOptions,
  alignLabels,
  type ClassLookup,
  decodeLabelsText,
  findClass,
  loadLabels,
  modelClassCount,
  resolveClass,
} from './labels.js';
export {
  ACTIVATION_OPS,
  allTensorLayers,
  type LayerAliases,
  type LayerRef,
  layerShapes,
  type ResolvedLayers,
  recordableLayers,
  resolveLayers,
  type SelectLayersOptions,
  selectLayers,
} from './layers.js';
export { guessLayout, type LoadedModel, loadModel } from './load.js';
export { layerAliases } from './module-paths.js';
export type { AttributeValue, GraphNode, GraphView, ValueInfo } from './onnx-graph.js';
export { describeOutputKind, detectOutputKind, type ModelOutputKind } from './output-kind.js';
export {
  type ChannelOrder,
  type ModelOptions,
  PREPROCESSING_PRESETS,
  type PreprocessingOptions,
  type PreprocessingPreset,
  type PresetName,
  resolvePreprocessing,
} from './preprocess.js';
export { type RandomizedConv, type RandomizedModel, randomizeTopConvs } from './randomize.js';
export {
  type AxisField,
  axisRange,
  type ImageRect,
  inputToImage,
  type PixelBox,
  preprocessingGeometry,
  type ReceptiveField,
  receptiveFields,
  unitBox,
} from './receptive-field.js';
export { createSession, type SessionOptions } from './session.js';
export { appendGraph } from './wire.js';
