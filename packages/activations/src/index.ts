/**
 * `@neuronscope/activations`: the extract stage. A warm pool of workers (piscina) holding onnxruntime sessions of
 * one model runs every image's copies with the layers reduced inside the graph, merges the partial sums in batch
 * order into float64 moments, and runs masked copies for heat maps; the tables of the stage are built here.
 */
export { type BlendJob, type BlendOutcome, cellOfPixel, renderBlend } from './curves.js';
export type { HeatMapJob } from './heat-maps.js';
export type {
  CopyRows,
  Extraction,
  ExtractJob,
  ExtractTimings,
  StoppingSettings,
} from './image-extraction.js';
export { MapAccumulator, type MapGrid, mapGrid, poolMask } from './map-accumulator.js';
export { defaultParallelism, ExtractionPool, type PoolOptions, parallelism } from './pool.js';
export type { BlendCopy, MapNeuron } from './protocol.js';
export { channelMeans, LayerRecorder } from './recorder.js';
export {
  checkSchedule,
  DEFAULT_STOPPING,
  type LayerTies,
  type StoppingCheck,
  type StoppingRule,
  stratifiedOrder,
  TIE_Z,
  type TopKWithTies,
} from './stopping.js';
export {
  activationsTable,
  CLEAN_METADATA_KEY,
  type CleanOutputs,
  outputsTable,
  STOPPING_METADATA_KEY,
  stoppingSummary,
  unitStatsTable,
} from './tables.js';
