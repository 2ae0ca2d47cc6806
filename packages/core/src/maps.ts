/**
 * The contract of `maps.parquet`: the resampling heat maps of one run. One row per selected neuron (Pearson r between each map
 * cell's mask value and the neuron's spatial-mean activation over the masked copies) and two rows for the
 * target output (its Pearson map and its RISE saliency). The map is a fixed-size list of float32, row-major,
 * `mapHeight` x `mapWidth` cells; each cell is a `block` x `block` square of model-input pixels.
 */
import { Dictionary, Field, FixedSizeList, Float32, Float64, Int32, Schema, type Table, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { UserError } from './errors.js';
import { columnValues, makeTable, tableMetadata } from './tables.js';

/** Which selection a row's neuron belongs to; `output` for the target output's rows. */
export type MapSet = 'correlation' | 'precision' | 'both' | 'output';
/** `pearson`: r(mask value, variable); `rise`: sum v·m / sum m (the output's RISE saliency). */
export type MapStatistic = 'pearson' | 'rise';

/** Key of the schema metadata entry holding {@link MapsMetadata}. */
export const MAPS_METADATA_KEY = 'neuronscope.maps';

export const MapsMetadataSchema = z.object({
  /** Masked copies M. */
  masks: z.number().int().positive(),
  seed: z.number().int().min(0),
  grid: z.number().int(),
  keepProb: z.number(),
  baseline: z.enum(['zero', 'mean', 'blur']),
  /** Model input size in pixels. */
  inputHeight: z.number().int().positive(),
  inputWidth: z.number().int().positive(),
  /** Input pixels per map cell side. */
  block: z.number().int().positive(),
  mapHeight: z.number().int().positive(),
  mapWidth: z.number().int().positive(),
  target: z.number().int(),
  output: z.enum(['prob', 'logit', 'logprob']),
  /** What a neuron's activation on a copy is (the channel's spatial mean). */
  activation: z.string(),
});
export type MapsMetadata = z.infer<typeof MapsMetadataSchema>;

export function mapsSchema(cells: number): Schema {
  return new Schema([
    new Field('layer', new Dictionary(new Utf8(), new Int32()), false),
    new Field('layer_index', new Int32(), false),
    new Field('channel', new Int32(), false),
    new Field('set', new Utf8(), false),
    new Field('statistic', new Utf8(), false),
    /** Mean and population std of the variable over the masked copies. */
    new Field('mean', new Float64(), false),
    new Field('std', new Float64(), false),
    new Field('map', new FixedSizeList(cells, new Field('item', new Float32(), true)), false),
  ]);
}

/** One map: a neuron's (layer, channel) or the output's (layer '', layer_index -1, channel = target class). */
export interface MapRow {
  layer: string;
  layerIndex: number;
  channel: number;
  set: MapSet;
  statistic: MapStatistic;
  mean: number;
  std: number;
  map: Float32Array;
}

/** The maps table of `rows` with its settings (and `metadata`, e.g. the run id) in the schema metadata. */
export function mapsTable(rows: readonly MapRow[], meta: MapsMetadata, metadata: Record<string, string> = {}): Table {
  const cells = meta.mapHeight * meta.mapWidth;
  const dictionary = [...new Set(rows.map((r) => r.layer))];
  const flat = new Float32Array(rows.length * cells);
  rows.forEach((r, i) => {
    if (r.map.length !== cells) throw new Error(`map of ${r.map.length} cells, expected ${cells}`);
    flat.set(r.map, i * cells);
  });
  return makeTable(
    mapsSchema(cells),
    {
      layer: { indices: Int32Array.from(rows, (r) => dictionary.indexOf(r.layer)), dictionary },
      layer_index: Int32Array.from(rows, (r) => r.layerIndex),
      channel: Int32Array.from(rows, (r) => r.channel),
      set: rows.map((r) => r.set),
      statistic: rows.map((r) => r.statistic),
      mean: Float64Array.from(rows, (r) => r.mean),
      std: Float64Array.from(rows, (r) => r.std),
      map: flat,
    },
    rows.length,
    { ...metadata, [MAPS_METADATA_KEY]: JSON.stringify(meta) },
  );
}

/** Reads a maps table back: its rows and settings. A table without valid settings is a UserError. */
export function readMapsTable(table: Table, path = 'maps.parquet'): { rows: MapRow[]; meta: MapsMetadata } {
  const parsed = MapsMetadataSchema.safeParse(tableMetadata(table, MAPS_METADATA_KEY));
  if (!parsed.success) throw new UserError(`${path} lacks its settings metadata: run 'neuronscope maps' again`);
  const meta = parsed.data;
  const cells = meta.mapHeight * meta.mapWidth;
  const layer = columnValues<string>(table, 'layer');
  const layerIndex = columnValues<number>(table, 'layer_index');
  const channel = columnValues<number>(table, 'channel');
  const set = columnValues<MapSet>(table, 'set');
  const statistic = columnValues<MapStatistic>(table, 'statistic');
  const mean = columnValues<number>(table, 'mean');
  const std = columnValues<number>(table, 'std');
  const maps = table.getChild('map');
  if (!maps) throw new UserError(`${path} has no map column`);
  const rows: MapRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const values = maps.get(i) as { toArray(): Float32Array } | null;
    const map = Float32Array.from(values?.toArray() ?? []);
    if (map.length !== cells) throw new UserError(`${path}: row ${i} has ${map.length} cells, expected ${cells}`);
    rows.push({
      layer: layer[i]!,
      layerIndex: layerIndex[i]!,
      channel: channel[i]!,
      set: set[i]!,
      statistic: statistic[i]!,
      mean: mean[i]!,
      std: std[i]!,
      map,
    });
  }
  return { rows, meta };
}
