/** `channel_stats.parquet` to and from {@link ChannelMetrics}. */
import {
  channelStatsSchema,
  METRIC_COLUMNS,
  type MetricColumn,
  MOMENTS_METADATA_KEY,
  makeTable,
  type Table,
  UserError,
} from '@neuronscope/core';
import type { ChannelMetrics } from './columns.js';
import { readChannelTable, readOutputMomentsOf } from './read.js';

/** The metrics as a `channel_stats.parquet` table; the output moments (and `metadata`) go into its metadata. */
export function channelStatsTable(metrics: ChannelMetrics, metadata: Record<string, string> = {}): Table {
  const rows = metrics.peakUnit.length;
  const layerOf = new Int32Array(rows);
  const layerIndex = new Int32Array(rows);
  const channel = new Int32Array(rows);
  metrics.layers.forEach((l, k) => {
    layerOf.fill(k, l.row, l.row + l.channels);
    layerIndex.fill(l.layerIndex, l.row, l.row + l.channels);
    for (let c = 0; c < l.channels; c++) channel[l.row + c] = c;
  });
  const { shift, sumA, sumAA, sumAY } = metrics.channel;
  return makeTable(
    channelStatsSchema,
    {
      layer: { indices: layerOf, dictionary: metrics.layers.map((l) => l.layer) },
      layer_index: layerIndex,
      channel,
      shift,
      sum_a: sumA,
      sum_aa: sumAA,
      sum_ay: sumAY,
      ...Object.fromEntries(METRIC_COLUMNS.map((name) => [name, metrics.columns.get(name)!])),
      peak_unit: metrics.peakUnit,
      peak_value: metrics.peakValue,
    },
    rows,
    { ...metadata, [MOMENTS_METADATA_KEY]: JSON.stringify(metrics.output) },
  );
}

/** A float64/float32/int32 column as a fresh typed array of its type. */
function typed<T extends Float64Array | Float32Array | Int32Array>(
  t: Table,
  name: string,
  make: (v: ArrayLike<number>) => T,
) {
  const column = t.getChild(name);
  if (!column) throw new UserError(`channel statistics: the table has no column ${name}`);
  if (column.nullCount > 0) throw new UserError(`channel statistics: column ${name} holds nulls`);
  return make(column.toArray() as ArrayLike<number>);
}

/**
 * Reads `channel_stats.parquet` back into {@link ChannelMetrics}. `units` gives each layer's units per channel
 * (from run.json); rows must be grouped by layer in increasing layer_index, channels 0..C-1 in order.
 */
export function readChannelStats(t: Table, units: ReadonlyMap<string, number>): ChannelMetrics {
  const { layers } = readChannelTable(t);
  const columns = new Map<MetricColumn, Float64Array>(
    METRIC_COLUMNS.map((name) => [name, typed(t, name, (v) => Float64Array.from(v))]),
  );
  return {
    layers,
    units: layers.map((l) => {
      const u = units.get(l.layer);
      if (u === undefined) throw new UserError(`channel statistics: layer ${l.layer} is not a layer of this run`);
      return u;
    }),
    columns,
    channel: {
      shift: typed(t, 'shift', (v) => Float32Array.from(v)),
      sumA: typed(t, 'sum_a', (v) => Float64Array.from(v)),
      sumAA: typed(t, 'sum_aa', (v) => Float64Array.from(v)),
      sumAY: typed(t, 'sum_ay', (v) => Float64Array.from(v)),
    },
    peakUnit: typed(t, 'peak_unit', (v) => Int32Array.from(v)),
    peakValue: typed(t, 'peak_value', (v) => Float32Array.from(v)),
    output: readOutputMomentsOf(t, 'channel statistics'),
  };
}
