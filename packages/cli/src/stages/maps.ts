import { constants } from 'node:fs';
import { access, copyFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalJson,
  type MapRow,
  type MapSet,
  type MapsMetadata,
  mapsTable,
  outputValue,
  readMapsTable,
  readParquetFile,
  type Summary,
  sha256,
  temporaryPathFor,
  tensorDims,
  UserError,
  writeParquetFile,
} from '@neuronscope/core';
import { createSession, loadImage, loadModel } from '@neuronscope/model';
import { type MaskBaseline, maskFor, perturbationTable, readPerturbationTable, renderCopy } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import type { Log } from '../log.js';
import { MapAccumulator, mapGrid } from '../maps/accumulator.js';
import { channelMeanOutput, withChannelMeans } from '../maps/channel-means.js';
import { defaultCacheDir } from './cache.js';
import { readRunConfig } from './perturb.js';
import { readSummary } from './stats.js';

/** The heat maps file of a run directory. */
export const MAPS_FILE = 'maps.parquet';

/**
 * Default number of masked copies M: the smallest that gives every map a split-half agreement of at least 0.9
 * on average on SqueezeNet 1.1 (measured in docs/report.md).
 */
export const DEFAULT_MASKS = 1000;
/** Default longest side of a map, in cells: 56 for a 224 x 224 input (4 x 4 pixel blocks). */
export const DEFAULT_MAP_SIZE = 56;

/** Settings of the `maps` stage. */
export interface MapsOptions {
  /** Masked copies M (at least 16). */
  masks: number;
  /** RISE grid cells per side (default 7). */
  grid?: number;
  /** Probability that a grid cell is kept (default 0.5). */
  keepProb?: number;
  /** What masked-out pixels become (default `zero`: the dataset mean colour for normalised inputs). */
  baseline?: MaskBaseline;
  /** Seed of the masks (default: the run's seed). */
  seed?: number;
  /** Longest side of a map in cells (default {@link DEFAULT_MAP_SIZE}). */
  mapSize?: number;
  threads?: number;
  /** Reuse and fill the maps cache (default true). */
  cache?: boolean;
  cacheDir?: string;
}

/** What the `maps` stage did. */
export interface MapsResult {
  path: string;
  meta: MapsMetadata;
  /** Number of maps written (selected neurons, plus two for the output). */
  maps: number;
  fromCache: boolean;
  /** Wall-clock seconds of the masked copies (0 from the cache). */
  seconds: number;
}

/** A selected neuron whose map is computed: its layer, channel and the selection(s) it belongs to. */
export interface SelectedNeuron {
  layer: string;
  layerIndex: number;
  channel: number;
  set: Exclude<MapSet, 'output'>;
}

/** Every neuron selected by either metric, layer by layer: correlation's order first, then precision-only ones. */
export function selectedNeurons(summary: Summary): SelectedNeuron[] {
  const list: SelectedNeuron[] = [];
  for (const l of summary.layers) {
    const byPrecision = new Set(l.byPrecision.map((n) => n.channel));
    const byCorrelation = new Set(l.byCorrelation.map((n) => n.channel));
    for (const n of l.byCorrelation) {
      list.push({
        layer: l.layer,
        layerIndex: l.layerIndex,
        channel: n.channel,
        set: byPrecision.has(n.channel) ? 'both' : 'correlation',
      });
    }
    for (const n of l.byPrecision) {
      if (!byCorrelation.has(n.channel)) {
        list.push({ layer: l.layer, layerIndex: l.layerIndex, channel: n.channel, set: 'precision' });
      }
    }
  }
  return list;
}

const MASKS_CACHE_FORMAT = 1;

const exists = (path: string) =>
  access(path, constants.R_OK).then(
    () => true,
    () => false,
  );

/**
 * The `maps` stage: M masked copies of the image (the `mask` family: RISE masks) through the network with only
 * the selected neurons' layers fetched, as spatial means computed in the graph; per selected neuron the Pearson
 * correlation between each map cell's mask value and the neuron's activation, and for the target output its
 * Pearson map and RISE saliency. Writes `maps.parquet`. Needs `run.json` and `summary.json` (run `stats` first).
 */
export async function runMapsStage(dir: string, opts: MapsOptions, log: Log): Promise<MapsResult> {
  if (!Number.isInteger(opts.masks) || opts.masks < 16) throw new UserError('--masks must be a whole number ≥ 16');
  const config = await readRunConfig(dir);
  const summary = await readSummary(dir);
  const neurons = selectedNeurons(summary);
  const [height, width] = config.preprocessing.size;
  const grid = mapGrid(height, width, opts.mapSize ?? DEFAULT_MAP_SIZE);
  const params = {
    grid: opts.grid ?? 7,
    keepProb: opts.keepProb ?? 0.5,
    baseline: opts.baseline ?? 'zero',
    includeClean: false,
  };
  const seed = opts.seed ?? config.perturbation.seed;
  const meta: MapsMetadata = {
    masks: opts.masks,
    seed,
    grid: params.grid,
    keepProb: params.keepProb,
    baseline: params.baseline,
    inputHeight: height,
    inputWidth: width,
    block: grid.block,
    mapHeight: grid.mapHeight,
    mapWidth: grid.mapWidth,
    target: summary.target.index,
    output: config.output,
    activation: 'spatial mean of the channel (GlobalAveragePool of the recorded tensor)',
  };
  const path = join(dir, MAPS_FILE);
  const key = sha256(
    canonicalJson({
      format: MASKS_CACHE_FORMAT,
      model: config.model.sha256,
      image: config.image.sha256,
      preprocessing: config.preprocessing,
      neurons: neurons.map((n) => [n.layer, n.channel, n.set]),
      meta,
    }),
  );
  const useCache = opts.cache ?? true;
  const cached = join(opts.cacheDir ?? defaultCacheDir(), 'maps', `${key}.parquet`);
  if (useCache && (await exists(cached))) {
    const tmp = temporaryPathFor(path);
    await mkdir(dir, { recursive: true });
    await copyFile(cached, tmp);
    await rename(tmp, path);
    log.info(`maps: cache hit ${key.slice(0, 12)}: reused ${neurons.length + 2} maps, no inference run`);
    return { path, meta, maps: neurons.length + 2, fromCache: true, seconds: 0 };
  }

  const started = performance.now();
  const model = await loadModel(config.model.path);
  if (model.sha256 !== config.model.sha256) {
    throw new UserError(`${config.model.path} changed since 'perturb' wrote run.json; run perturb again`);
  }
  const image = await loadImage(config.image.path, config.preprocessing);
  if (image.sha256 !== config.image.sha256) {
    throw new UserError(`${config.image.path} changed since 'perturb' wrote run.json; run perturb again`);
  }
  const input = image.tensor;
  const copies = readPerturbationTable(perturbationTable({ family: 'mask', samples: opts.masks, seed, params }, input));
  const layers = [...new Set(neurons.map((n) => n.layer))];
  const channels = new Map(config.layers.map((l) => [l.layer, l.channels]));
  const session = await createSession(withChannelMeans(model.bytes, layers), {
    threads: opts.threads,
    modelPath: config.model.path,
  });
  const fetches = [config.model.output, ...layers.map(channelMeanOutput)];
  const accumulator = new MapAccumulator(neurons.length + 1, grid);
  const size = input.data.length;
  const batchSize = config.batchSize;
  const batchData = new Float32Array(batchSize * size);
  const values = new Float64Array(neurons.length + 1);
  const masks: Float32Array[] = [];
  const bar = log.progress('maps', copies.length);
  try {
    for (let start = 0; start < copies.length; start += batchSize) {
      const batch = Math.min(batchSize, copies.length - start);
      masks.length = 0;
      for (let b = 0; b < batch; b++) {
        const copy = copies[start + b]!;
        renderCopy(input, copy, batchData.subarray(b * size, (b + 1) * size));
        masks.push(maskFor(copy.params, copy.seed, height, width));
      }
      const feeds = {
        [config.model.input]: new ort.Tensor('float32', batchData.subarray(0, batch * size), tensorDims(input, batch)),
      };
      const result = await session.run(feeds, fetches);
      const logits = result[config.model.output]?.data as Float32Array | undefined;
      if (!logits) throw new Error(`the model did not return '${config.model.output}'`);
      const numClasses = logits.length / batch;
      const means = new Map(layers.map((l) => [l, result[channelMeanOutput(l)]?.data as Float32Array]));
      for (let b = 0; b < batch; b++) {
        neurons.forEach((n, i) => {
          const c = channels.get(n.layer)!;
          values[i] = means.get(n.layer)![b * c + n.channel]!;
        });
        values[neurons.length] = outputValue(
          logits.subarray(b * numClasses, (b + 1) * numClasses),
          summary.target.index,
          config.output,
        );
        accumulator.add(masks[b]!, values);
      }
      bar.update(start + batch);
    }
  } finally {
    bar.stop();
    await session.release();
  }

  const rows: MapRow[] = neurons.map((n, i) => ({
    ...n,
    statistic: 'pearson',
    ...accumulator.valueStats(i),
    map: accumulator.pearson(i),
  }));
  const out = neurons.length;
  const output = { layer: '', layerIndex: -1, channel: summary.target.index, set: 'output' as const };
  const stats = accumulator.valueStats(out);
  rows.push({ ...output, statistic: 'pearson', ...stats, map: accumulator.pearson(out) });
  rows.push({ ...output, statistic: 'rise', ...stats, map: accumulator.rise(out) });
  await writeParquetFile(path, mapsTable(rows, meta));
  const seconds = (performance.now() - started) / 1000;
  log.info(`maps: ${opts.masks} masked copies, ${rows.length} maps in ${seconds.toFixed(1)} s`);
  if (useCache) {
    await mkdir(join(cached, '..'), { recursive: true });
    const tmp = temporaryPathFor(cached);
    await copyFile(path, tmp);
    await rename(tmp, cached);
  }
  return { path, meta, maps: rows.length, fromCache: false, seconds };
}

/** Reads a run's `maps.parquet`, or null when the run has none. */
export async function readMaps(dir: string) {
  const path = join(dir, MAPS_FILE);
  if (!(await exists(path))) return null;
  return readMapsTable(await readParquetFile(path), path);
}
