/**
 * `@neuronscope/model`: ONNX model loading and checks, recordable layers and their shapes, graph
 * outputs added for recording, onnxruntime sessions, image preprocessing, and deconvnet projections.
 */
export { type ChannelMask, type MaskedModel, type MaskTarget, withChannelMasks } from './ablation.js';
export { AblationRunner, type AblationVariant } from './ablation-runner.js';
export { channelMeanOutput, withChannelMeans } from './channel-means.js';
export { classChannelLayers } from './class-channels.js';
export {
  buildDeconvGraph,
  createDeconv,
  createDeconvOrSkip,
  DEFAULT_BOX_THRESHOLD,
  type Deconv,
  type DeconvGraph,
  type DeconvGraphOptions,
  type DeconvMode,
  type DeconvOptions,
  type DeconvStart,
  type LayerProjections,
  type NeuronProjection,
  type NeuronRef,
  pixelMagnitudes,
  projectionBox,
  type UnpoolMode,
} from './deconv/index.js';
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
export { imageFromBytes, type LoadedImage, loadImage } from './image.js';
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
export { checkClassifierOutput, guessLayout, type LoadedModel, loadModel, parseModel } from './load.js';
export { layerAliases } from './module-paths.js';
export type { AttributeValue, GraphNode, GraphView, ValueInfo } from './onnx-graph.js';
export { describeOutputKind, detectOutputKind, type ModelOutputKind } from './output-kind.js';
export {
  type ChannelOrder,
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
