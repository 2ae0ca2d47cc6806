/**
 * `@neuronscope/engine`: the per-image pipeline as a library. Its front is a warm explainer
 * (`createExplainer({ model })` → `explainer.explain(image, options)` → `writeRun(result, dir)`), which every
 * command, the sweep, the queue worker and the tools call; it composes the stage packages (perturb, activations,
 * metrics, report), owns the defaults, the cache and run folders, and runs each stage over a run folder.
 */
export { type AblationResult, percentileRank, randomSets, TIE_TOLERANCE } from './ablate.js';
export { type CacheEntryInfo, ContentCache, defaultCacheDir } from './cache.js';
export { classChannelNames } from './class-names.js';
export {
  type LayerNeuron,
  type LayerProjections,
  NeuronProjector,
  type Projections,
  writeProjections,
} from './deconv.js';
export { DEFAULT_MODEL_DIR, type DefaultModel, defaultModel } from './default-model.js';
export {
  type AblateOptions,
  AblateOptionsSchema,
  type AnalysisOptions,
  AnalysisOptionsSchema,
  BoxesSchema,
  type BoxKind,
  DEFAULTS,
  type DeconvOptions,
  DeconvOptionsSchema,
  type ExplainerOptions,
  ExplainerOptionsSchema,
  type MapsOptions,
  MapsOptionsSchema,
  type ModelOptions,
  ModelOptionsSchema,
  parseOptions,
  type ResolvedAnalysisOptions,
} from './defaults.js';
export { type Environment, environment, ONNXRUNTIME_VERSION, VERSION, versionLine } from './environment.js';
export {
  createExplainer,
  type ExplainCall,
  Explainer,
  type ExplainerLog,
  type Explanation,
} from './explainer.js';
export {
  CURVE_STEPS,
  computeFaithfulness,
  curveArea,
  type FaithfulnessResult,
  RANDOM_MAPS,
  randomSmoothMap,
  rankCells,
} from './faithfulness.js';
export { EXTRACT_FILES, type ExtractFile, RUN_FILES, type RunFile, runFile } from './files.js';
export { type ImageInput, type LoadedInput, loadInput } from './image-source.js';
export { type HeatMaps, type SelectedNeuron, selectedNeurons, writeHeatMaps } from './maps.js';
export {
  classOf,
  inputDims,
  listLayers,
  type ModelContext,
  prepareModel,
  readLabels,
  resolveTarget,
} from './model.js';
export { gatherVisual, peakUnits, type ReportOptions, writeReport } from './report.js';
export { runId, TABLES_FORMAT } from './run-config.js';
export {
  type RunFolder,
  readExtracted,
  readNeurons,
  readRun,
  readRunConfig,
  readRunTable,
  readSummary,
  writeRun,
} from './run-folder.js';
export {
  ablateStage,
  deconvStage,
  type ExplainFolderOptions,
  type ExplainFolderResult,
  type ExtractStageOptions,
  explainToFolder,
  extractStage,
  type Log,
  mapsStage,
  perturbStage,
  type RuntimeOptions,
  silentLog,
  statsStage,
} from './stages.js';
export { runStats, STATS_METADATA_KEY, type Stats, TOOL } from './summary.js';
