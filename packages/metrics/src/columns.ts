/**
 * The metric columns of every channel, reduced from the per-unit moments while they are in memory: what
 * `channel_stats.parquet` keeps, so the per-unit moments (millions of rows) need not be kept for later stages.
 */
import { type MetricColumn, type OutputMoments, UserError } from '@neuronscope/core';
import { deriveMoments, type MomentColumns, outputStatistics } from './derive.js';
import type { LayerContext } from './metric.js';
import { METRICS } from './registry.js';

/** One layer's moments: per unit (channel-major, `channels * units` entries) and per channel (spatial means). */
export interface LayerMomentsInput {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channels: number;
  /** Spatial units per channel (height x width). */
  readonly units: number;
  readonly unit: MomentColumns;
  readonly channel: MomentColumns;
}

/** One layer's rows in the per-channel arrays: rows `row .. row + channels - 1`, in depth order. */
export interface LayerBlock {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channels: number;
  readonly row: number;
}

/** Everything later stages need of every channel, one entry per channel of every layer (layer after layer). */
export interface ChannelMetrics {
  readonly layers: readonly LayerBlock[];
  /** Spatial units per channel, per layer. */
  readonly units: readonly number[];
  readonly columns: ReadonlyMap<MetricColumn, Float64Array>;
  /** The channel's spatial-mean moments (shift = the clean copy's spatial mean). */
  readonly channel: {
    readonly shift: Float32Array;
    readonly sumA: Float64Array;
    readonly sumAA: Float64Array;
    readonly sumAY: Float64Array;
  };
  /** Most active unit on the clean image and its activation. */
  readonly peakUnit: Int32Array;
  readonly peakValue: Float32Array;
  readonly output: OutputMoments;
}

/** Index of the largest clean activation of each channel (lowest unit on ties), and its value. */
function peaks(shift: ArrayLike<number>, channels: number, units: number, unit: Int32Array, value: Float32Array) {
  for (let c = 0; c < channels; c++) {
    let best = 0;
    const base = c * units;
    for (let u = 1; u < units; u++) if (shift[base + u]! > shift[base + best]!) best = u;
    unit[c] = best;
    value[c] = shift[base + best]!;
  }
}

/**
 * Computes every registered metric of every channel from the layers' moments (float64 throughout; definitions in
 * `METRIC_DEFINITIONS`), plus each channel's peak unit. Layers must come in increasing depth.
 */
export function metricColumns(layers: Iterable<LayerMomentsInput>, output: OutputMoments): ChannelMetrics {
  if (output.count < 2) throw new UserError(`${output.count} copies; at least 2 are needed`);
  const y = outputStatistics(output);
  const list = [...layers];
  const rows = list.reduce((s, l) => s + l.channels, 0);
  const columns = new Map<MetricColumn, Float64Array>(METRICS.map((m) => [m.column, new Float64Array(rows)]));
  const channel = {
    shift: new Float32Array(rows),
    sumA: new Float64Array(rows),
    sumAA: new Float64Array(rows),
    sumAY: new Float64Array(rows),
  };
  const peakUnit = new Int32Array(rows);
  const peakValue = new Float32Array(rows);
  const blocks: LayerBlock[] = [];
  let row = 0;
  for (const l of list) {
    if (l.unit.shift.length !== l.channels * l.units || l.channel.shift.length !== l.channels) {
      throw new Error(`metricColumns: layer ${l.layer}'s moments do not have ${l.channels} channels of ${l.units}`);
    }
    const context: LayerContext = {
      layer: l.layer,
      layerIndex: l.layerIndex,
      channels: l.channels,
      units: l.units,
      count: y.count,
      unit: deriveMoments(l.unit, y),
      channel: deriveMoments(l.channel, y),
    };
    for (const m of METRICS) m.compute(context, columns.get(m.column)!.subarray(row, row + l.channels));
    channel.shift.set(l.channel.shift, row);
    channel.sumA.set(l.channel.sumA, row);
    channel.sumAA.set(l.channel.sumAA, row);
    channel.sumAY.set(l.channel.sumAY, row);
    peaks(
      l.unit.shift,
      l.channels,
      l.units,
      peakUnit.subarray(row, row + l.channels),
      peakValue.subarray(row, row + l.channels),
    );
    blocks.push({ layer: l.layer, layerIndex: l.layerIndex, channels: l.channels, row });
    row += l.channels;
  }
  return {
    layers: blocks,
    units: list.map((l) => l.units),
    columns,
    channel,
    peakUnit,
    peakValue,
    output,
  };
}
