/**
 * `@neuronscope/sweep`: dataset-scale sweeps. Lists the images of a source (folder, glob, manifest, IDX), analyses
 * each with the engine's warm explainer (the pipeline of `explain`) into one part file per image, resumably, locally
 * or through BullMQ workers, then compacts the parts into dataset tables and answers dataset-level questions.
 */
export {
  type AggregateResult,
  Aggregator,
  type ClassNeuron,
  type ComparisonRow,
  MAX_PER_LAYER,
  MIN_SUPPORT,
} from './aggregate.js';
export {
  type Analyser,
  type AnalysisOptions,
  type AnalysisSettings,
  createAnalyser,
  type ImageAnalysis,
  type ModelSpec,
  SWEEP_FORMAT,
} from './analyse.js';
export { ATLAS_TOP, type AtlasOptions, computeAtlas, writeAtlas } from './atlas.js';
export {
  loadSweepConfig,
  rebasePaths,
  type SourceConfig,
  SourceConfigSchema,
  type SweepConfig,
  SweepConfigSchema,
} from './config.js';
export { type FinalizeOptions, type FinalizeResult, finalizeSweep } from './finalize.js';
export { idxStem, readIdxImages, readIdxLabels } from './idx.js';
export { IMAGES_IN_FLIGHT, type LocalSweepResult, processItem, runLocalSweep, type SweepLog } from './local.js';
export { type ImageRow, readPart } from './parts.js';
export {
  buildPlan,
  type Plan,
  type PlanItem,
  planHash,
  readManifest,
  readPlan,
  type SweepManifest,
  type SweepPaths,
  sweepPaths,
} from './plan.js';
export { encodePng } from './png.js';
export {
  addSchedule,
  DEFAULT_QUEUE_NAME,
  enqueueSweep,
  listSchedules,
  type QueueStatus,
  queueStatus,
  redactUrl,
  redisConnection,
  removeSchedule,
  sweepProgress,
  waitForJob,
} from './queue.js';
export { MAX_THUMBNAILS, writeSweepReport } from './report.js';
export { globToRegExp, listItems, type ResolvedSource, resolveSource, type SweepItem } from './source.js';
export { planSweep, type ResolvedSweep, resolveSweep, SWEEP_DEFAULTS } from './sweep.js';
export { startWorker, type WorkerOptions } from './worker.js';
