/**
 * The heat-map stage: M masked copies of the image (the `mask` family: RISE masks) through the explainer's pool,
 * on sessions that fetch only the spatial means of the selected neurons' layers. Per selected neuron, the Pearson
 * correlation between each map cell's mask value and the neuron's activation; for the target output its Pearson
 * map and RISE saliency. Cached by content like extractions.
 */
import { type MapGrid, mapGrid } from '@neuronscope/activations';
import {
  canonicalJson,
  type InputTensor,
  type MapRow,
  type MapSet,
  type MapsMetadata,
  mapsTable,
  parquetToTable,
  RUN_METADATA_KEY,
  type RunConfig,
  readFaithfulnessTable,
  readMapsTable,
  type Summary,
  sha256,
  type Table,
  tableToParquet,
  writeFileAtomic,
} from '@neuronscope/core';
import { perturbationTable, readPerturbationTable } from '@neuronscope/perturb';
import type { ResolvedMapsOptions } from './defaults.js';
import type { Explainer } from './explainer.js';
import { computeFaithfulness, type FaithfulnessResult } from './faithfulness.js';
import { runFile } from './files.js';

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
      const set = byPrecision.has(n.channel) ? 'both' : 'correlation';
      list.push({ layer: l.layer, layerIndex: l.layerIndex, channel: n.channel, set });
    }
    for (const n of l.byPrecision) {
      if (!byCorrelation.has(n.channel)) {
        list.push({ layer: l.layer, layerIndex: l.layerIndex, channel: n.channel, set: 'precision' });
      }
    }
  }
  return list;
}

/** The heat maps of one run. */
export interface HeatMaps {
  readonly rows: readonly MapRow[];
  readonly meta: MapsMetadata;
  /** `maps.parquet`, encoded. */
  readonly bytes: Uint8Array;
  /** Deletion and insertion curves of the output's RISE map against random maps (`faithfulness.parquet`). */
  readonly faithfulness: FaithfulnessResult | null;
  readonly fromCache: boolean;
  /** Wall-clock seconds of the masked copies (0 from the cache). */
  readonly seconds: number;
}

/** How a call wants its maps run. */
export interface MapsCall {
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  readonly log: (message: string) => void;
}

/** 3: the cache entry holds `faithfulness.parquet` beside the maps. */
const MAPS_FORMAT = 3;

/** The settings of the maps, as `maps.parquet` records them. */
function mapsMeta(config: RunConfig, summary: Summary, opts: ResolvedMapsOptions, grid: MapGrid): MapsMetadata {
  return {
    masks: opts.masks,
    seed: opts.seed ?? config.perturbation.seed,
    grid: opts.grid,
    keepProb: opts.keepProb,
    baseline: opts.baseline,
    inputHeight: grid.height,
    inputWidth: grid.width,
    block: grid.block,
    mapHeight: grid.mapHeight,
    mapWidth: grid.mapWidth,
    target: summary.target.index,
    output: config.output,
    activation: 'spatial mean of the channel (GlobalAveragePool of the recorded tensor)',
  };
}

/** The map rows from the accumulated masked copies: one per neuron, then the output's Pearson map and RISE. */
function mapRows(
  neurons: readonly SelectedNeuron[],
  target: number,
  acc: Awaited<ReturnType<Explainer['pool']['heatMaps']>>,
): MapRow[] {
  const rows: MapRow[] = neurons.map((n, i) => ({
    ...n,
    statistic: 'pearson',
    ...acc.valueStats(i),
    map: acc.pearson(i),
  }));
  const out = neurons.length;
  const output = { layer: '', layerIndex: -1, channel: target, set: 'output' as const };
  const stats = acc.valueStats(out);
  rows.push({ ...output, statistic: 'pearson', ...stats, map: acc.pearson(out) });
  rows.push({ ...output, statistic: 'rise', ...stats, map: acc.rise(out) });
  return rows;
}

/** Computes (or finds in the cache) the heat maps of a run's selected neurons; see the module comment. */
export async function computeHeatMaps(
  explainer: Explainer,
  run: { id: string; config: RunConfig; summary: Summary; input: InputTensor },
  opts: ResolvedMapsOptions,
  call: MapsCall,
): Promise<HeatMaps> {
  const { config, summary, input } = run;
  const neurons = selectedNeurons(summary);
  const [height, width] = config.preprocessing.size;
  const grid = mapGrid(height, width, opts.mapSize);
  const meta = mapsMeta(config, summary, opts, grid);
  const key = sha256(
    canonicalJson({ format: MAPS_FORMAT, run: run.id, neurons: neurons.map((n) => [n.layer, n.channel, n.set]), meta }),
  );
  const encode = (rows: readonly MapRow[]) => tableToParquet(mapsTable(rows, meta, { [RUN_METADATA_KEY]: run.id }));
  const cached = await explainer.cache?.get('maps', key, ['maps.parquet', 'faithfulness.parquet']);
  if (cached) {
    const bytes = cached.get('maps.parquet')!;
    const { rows } = readMapsTable(parquetToTable(bytes));
    const faithfulness = faithfulnessFromBytes(cached.get('faithfulness.parquet')!);
    call.log(`maps: cache hit ${key.slice(0, 12)}: reused ${rows.length} maps, no inference run`);
    return { rows, meta, bytes, faithfulness, fromCache: true, seconds: 0 };
  }
  const started = performance.now();
  const params = { grid: opts.grid, keepProb: opts.keepProb, baseline: opts.baseline, includeClean: false };
  const copies = readPerturbationTable(
    perturbationTable({ family: 'mask', samples: opts.masks, seed: meta.seed, params }, input),
  );
  const position = new Map(config.layers.map((l, k) => [l.layer, k]));
  const acc = await explainer.pool.heatMaps({
    input,
    copies,
    neurons: neurons.map((n) => ({ layer: position.get(n.layer)!, channel: n.channel })),
    target: summary.target.index,
    grid,
    ...(call.signal ? { signal: call.signal } : {}),
    ...(call.onProgress ? { onProgress: call.onProgress } : {}),
  });
  const rows = mapRows(neurons, summary.target.index, acc);
  const bytes = encode(rows);
  const rise = rows.find((r) => r.statistic === 'rise')!;
  const faithfulness = await computeFaithfulness(
    explainer,
    { id: run.id, input, target: summary.target.index },
    rise.map,
    meta,
    grid,
    call.signal ? { signal: call.signal } : {},
  );
  const seconds = (performance.now() - started) / 1000;
  call.log(
    `maps: ${opts.masks} masked copies, ${rows.length} maps in ${seconds.toFixed(1)} s, with the deletion and ` +
      `insertion curves (${faithfulness.points.length} copies)`,
  );
  await explainer.cache?.put(
    'maps',
    key,
    new Map([
      ['maps.parquet', bytes],
      ['faithfulness.parquet', faithfulness.bytes],
    ]),
  );
  return { rows, meta, bytes, faithfulness, fromCache: false, seconds };
}

/** The faithfulness curves read back from `faithfulness.parquet` bytes. */
function faithfulnessFromBytes(bytes: Uint8Array): FaithfulnessResult {
  const { points, meta } = readFaithfulnessTable(parquetToTable(bytes));
  return { points, meta, bytes };
}

/** Writes the maps stage's files into a run folder: `maps.parquet` and `faithfulness.parquet`. */
export async function writeHeatMaps(dir: string, maps: HeatMaps): Promise<void> {
  await writeFileAtomic(runFile(dir, 'maps'), maps.bytes);
  if (maps.faithfulness) await writeFileAtomic(runFile(dir, 'faithfulness'), maps.faithfulness.bytes);
}

/** The table of maps read back from `maps.parquet` bytes. */
export function mapsFromBytes(bytes: Uint8Array): Table {
  return parquetToTable(bytes);
}
