export { type ExtractInput, type ExtractResult, extract } from './extract.js';
export { NpyWriter } from './npy.js';
export {
  defaultParallelism,
  type ExtractTimings,
  extractParallel,
  type ParallelExtractInput,
  type ParallelExtractResult,
  parallelism,
  type StoppingSettings,
} from './parallel.js';
export { channelMeans, LayerRecorder } from './recorder.js';
export {
  checkSchedule,
  DEFAULT_STOPPING,
  type StoppingCheck,
  type StoppingRule,
  stratifiedOrder,
} from './stopping.js';
export { CLEAN_METADATA_KEY, EXTRACT_FILES, writeMomentsTables } from './tables.js';
