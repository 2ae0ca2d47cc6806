export { CLEAN_METADATA_KEY, EXTRACT_FILES, type ExtractInput, type ExtractResult, extract } from './extract.js';
export { NpyWriter } from './npy.js';
export { channelMeans, LayerRecorder } from './recorder.js';
