import {
  ensure,
  type LayerSummary,
  makeTable,
  neuronsSchema,
  type OutputMoments,
  type StatsConfig,
  type Summary,
} from '@neuronscope/core';
import { compareSelections, spearman } from './compare.js';
import { type DerivedMoments, deriveMoments, outputStatistics } from './derive.js';
import type { LayerContext, MetricColumn } from './metric.js';
import { rankDescending } from './rank.js';
import { type LayerBlock, readChannelTable, readOutputMoments, type Table, unitBlocks } from './read.js';
import { METRICS } from './registry.js';

/** One selected neuron of a layer, as `summary.json` lists it. */
export type SelectedNeuron = LayerSummary['byCorrelation'][number];

/**
 * One layer's part of `summary.json`, without its shape: `units` (= height * width) is always known; `height`
 * and `width` are filled when `computeMetrics` is given the layer shapes (see {@link LayerSummaryWithUnits}).
 */
export type LayerMetrics = Omit<LayerSummary, 'height' | 'width'> & { units: number; height?: number; width?: number };

/** A full {@link LayerSummary} plus `units`: what `computeMetrics` returns per layer when given the shapes. */
export type LayerSummaryWithUnits = LayerSummary & { units: number };

type SummaryGlobalNeuron = Summary['global']['byPrecision'][number];

/**
 * One entry of the global top-k list by precision. `value` is null for an infinite precision (every unit of
 * the channel has zero variance): JSON has no Infinity and zod's `z.number()` rejects it. (Core's
 * `SummarySchema` needs `value: z.number().nullable()` in `global.byPrecision` for this to be assignable.)
 */
export type GlobalNeuron = Omit<SummaryGlobalNeuron, 'value'> & { value: SummaryGlobalNeuron['value'] | null };

/** Top-k neurons over all layers by each metric. */
export interface GlobalSelections {
  /** Correlations of ranked neurons are always finite. */
  byCorrelation: Summary['global']['byCorrelation'];
  byPrecision: GlobalNeuron[];
}

/** What the `stats` stage writes: `neurons.parquet` and the metric parts of `summary.json`. */
export interface MetricsResult<L extends LayerMetrics = LayerMetrics> {
  /** One row per layer and channel, with `neuronsSchema`, in the channel table's row order. */
  neurons: Table;
  /** Per layer, in depth order: selections by each metric and their comparison. */
  layers: L[];
  /** The comparison over all layers: union of the per-layer selections, Spearman pooled over all neurons. */
  total: Summary['total'];
  global: GlobalSelections;
  /** The output moments the tables carry. */
  output: OutputMoments;
}

/** Height and width of each layer, by layer name. */
export type LayerShapes = ReadonlyMap<string, { readonly height: number; readonly width: number }>;

/** `x` if finite, else null: JSON has no NaN or Infinity. */
function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function subDerived(d: DerivedMoments, start: number, length: number): DerivedMoments {
  const end = start + length;
  return { mean: d.mean.subarray(start, end), variance: d.variance.subarray(start, end), r: d.r.subarray(start, end) };
}

/** Ranks each layer's rows separately; 0 = not ranked. */
function ranksPerLayer(values: Float64Array, included: Uint8Array, layers: readonly LayerBlock[]): Int32Array {
  const ranks = new Int32Array(values.length);
  for (const l of layers) {
    const end = l.row + l.channels;
    ranks.set(rankDescending(values.subarray(l.row, end), included.subarray(l.row, end)), l.row);
  }
  return ranks;
}

/** Rows in [start, end) whose rank is 1..topK, in rank order. */
function topRows(ranks: Int32Array, topK: number, start = 0, end = ranks.length): number[] {
  const rows: number[] = [];
  for (let i = start; i < end; i++) if (ranks[i]! >= 1 && ranks[i]! <= topK) rows.push(i);
  return rows.sort((a, b) => ranks[a]! - ranks[b]!);
}

/** Spearman between two columns over the rows in [start, end) where `both` is 1. */
function spearmanOver(
  x: Float64Array,
  y: Float64Array,
  both: Uint8Array,
  start: number,
  end: number,
): { spearman: number | null; spearmanCount: number } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = start; i < end; i++) {
    if (both[i] === 1) {
      xs.push(x[i]!);
      ys.push(y[i]!);
    }
  }
  return { spearman: spearman(xs, ys), spearmanCount: xs.length };
}

const nullableRank = (ranks: Int32Array): (number | null)[] => Array.from(ranks, (r) => (r === 0 ? null : r));

/**
 * Computes every metric of every neuron from the moments tables that `extract` writes, ranks and selects
 * the top-k neurons per layer and over all layers by correlation and by precision, and compares the
 * selections. All arithmetic is float64 over typed arrays; definitions are in `METRIC_DEFINITIONS`
 * (population variance, ddof = 0, so numpy's `np.var` / `np.corrcoef` reproduce the numbers).
 *
 * @param unitStats `momentsSchema('unit')`, rows ordered by layer_index, channel, unit.
 * @param channelStats `momentsSchema('channel')`, rows ordered by layer_index, channel.
 * @param layerShapes height and width of each layer, to fill `height` and `width` of the layer summaries
 *   (checked against the number of units).
 * @throws UserError if `topK` exceeds a layer's channel count, or the tables are malformed or disagree.
 */
export function computeMetrics(
  unitStats: Table,
  channelStats: Table,
  config: StatsConfig,
  layerShapes: LayerShapes,
): MetricsResult<LayerSummaryWithUnits>;
export function computeMetrics(
  unitStats: Table,
  channelStats: Table,
  config: StatsConfig,
  layerShapes?: LayerShapes,
): MetricsResult;
export function computeMetrics(
  unitStats: Table,
  channelStats: Table,
  config: StatsConfig,
  layerShapes?: LayerShapes,
): MetricsResult {
  const { topK, eligibility } = config;
  ensure(Number.isInteger(topK) && topK >= 1, `--top-k must be a positive integer (got ${topK})`);
  ensure(!Number.isNaN(eligibility), 'the eligibility threshold must be a number');
  const output = readOutputMoments(unitStats, channelStats);
  const y = outputStatistics(output);
  const { layers, sums: channelSums } = readChannelTable(channelStats);
  for (const l of layers) {
    ensure(topK <= l.channels, `--top-k ${topK} is larger than layer ${l.layer}'s ${l.channels} channels`);
  }
  const fieldNames = new Set(neuronsSchema.fields.map((f) => f.name));
  for (const m of METRICS) {
    if (!fieldNames.has(m.column)) throw new Error(`metric ${m.name}: neuronsSchema has no column ${m.column}`);
  }

  // Metrics, one layer at a time.
  const rows = channelStats.numRows;
  const columns = new Map<MetricColumn, Float64Array>(METRICS.map((m) => [m.column, new Float64Array(rows)]));
  const channelDerived = deriveMoments(channelSums, y);
  const units: number[] = [];
  for (const block of unitBlocks(unitStats, layers)) {
    const l = layers[units.length]!;
    if (layerShapes) {
      const shape = layerShapes.get(l.layer);
      ensure(shape, `no shape is known for layer ${l.layer}`);
      ensure(
        shape.height * shape.width === block.units,
        `layer ${l.layer} is ${shape.height}x${shape.width} but its statistics have ${block.units} units per channel`,
      );
    }
    const context: LayerContext = {
      layer: l.layer,
      layerIndex: l.layerIndex,
      channels: l.channels,
      units: block.units,
      count: y.count,
      unit: deriveMoments(block.sums, y),
      channel: subDerived(channelDerived, l.row, l.channels),
    };
    for (const m of METRICS) m.compute(context, columns.get(m.column)!.subarray(l.row, l.row + l.channels));
    units.push(block.units);
  }
  const get = (name: MetricColumn) => {
    const c = columns.get(name);
    if (!c) throw new Error(`metric column ${name} is not computed`);
    return c;
  };
  const correlation = get('correlation');
  const precision = get('precision');
  const meanActivation = get('mean_activation');

  // Eligibility and ranks.
  const eligible = new Uint8Array(rows);
  const hasCorrelation = new Uint8Array(rows);
  const hasPrecision = new Uint8Array(rows);
  const both = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    eligible[i] = meanActivation[i]! >= eligibility ? 1 : 0;
    hasCorrelation[i] = Number.isNaN(correlation[i]!) ? 0 : 1;
    hasPrecision[i] = eligible[i] === 1 && !Number.isNaN(precision[i]!) ? 1 : 0;
    both[i] = hasCorrelation[i] === 1 && eligible[i] === 1 && Number.isFinite(precision[i]!) ? 1 : 0;
  }
  const rankCorrelation = ranksPerLayer(correlation, hasCorrelation, layers);
  const rankPrecision = ranksPerLayer(precision, hasPrecision, layers);
  const globalRankCorrelation = rankDescending(correlation, hasCorrelation);
  const globalRankPrecision = rankDescending(precision, hasPrecision);
  const selectedCorrelation = Array.from(rankCorrelation, (r) => r >= 1 && r <= topK);
  const selectedPrecision = Array.from(rankPrecision, (r) => r >= 1 && r <= topK);

  // Per-layer summaries.
  const layerOf = new Int32Array(rows);
  const channelOf = new Int32Array(rows);
  layers.forEach((l, k) => {
    layerOf.fill(k, l.row, l.row + l.channels);
    for (let c = 0; c < l.channels; c++) channelOf[l.row + c] = c;
  });
  const selected = (row: number): SelectedNeuron => ({
    channel: channelOf[row]!,
    correlation: finiteOrNull(correlation[row]!),
    precision: finiteOrNull(precision[row]!),
    meanActivation: meanActivation[row]!,
  });
  const layerSummaries = layers.map((l, k): LayerMetrics => {
    const end = l.row + l.channels;
    const byCorrelation = topRows(rankCorrelation, topK, l.row, end);
    const byPrecision = topRows(rankPrecision, topK, l.row, end);
    const summary: LayerMetrics = {
      layer: l.layer,
      layerIndex: l.layerIndex,
      channels: l.channels,
      units: units[k]!,
      eligible: eligible.subarray(l.row, end).reduce((s, e) => s + e, 0),
      byCorrelation: byCorrelation.map(selected),
      byPrecision: byPrecision.map(selected),
      comparison: {
        ...compareSelections(
          byCorrelation.map((i) => i - l.row),
          byPrecision.map((i) => i - l.row),
        ),
        ...spearmanOver(correlation, precision, both, l.row, end),
      },
    };
    const shape = layerShapes?.get(l.layer);
    if (shape) {
      summary.height = shape.height;
      summary.width = shape.width;
    }
    return summary;
  });

  // Over all layers.
  const allByCorrelation = topRows(rankCorrelation, topK);
  const allByPrecision = topRows(rankPrecision, topK);
  const total: Summary['total'] = {
    ...compareSelections(allByCorrelation, allByPrecision),
    ...spearmanOver(correlation, precision, both, 0, rows),
    selectedByCorrelation: allByCorrelation.length,
    selectedByPrecision: allByPrecision.length,
  };
  const globalEntry = (row: number) => {
    const l = layers[layerOf[row]!]!;
    return { layer: l.layer, layerIndex: l.layerIndex, channel: channelOf[row]! };
  };
  const global: GlobalSelections = {
    // Ranked correlations are never NaN, and |r| <= 1.
    byCorrelation: topRows(globalRankCorrelation, topK).map((row) => ({
      ...globalEntry(row),
      value: correlation[row]!,
    })),
    byPrecision: topRows(globalRankPrecision, topK).map((row) => ({
      ...globalEntry(row),
      value: finiteOrNull(precision[row]!),
    })),
  };

  const neurons = makeTable(
    neuronsSchema,
    {
      layer: { indices: layerOf, dictionary: layers.map((l) => l.layer) },
      layer_index: Int32Array.from(layerOf, (k) => layers[k]!.layerIndex),
      channel: channelOf,
      ...Object.fromEntries(columns),
      eligible: Array.from(eligible, (e) => e === 1),
      rank_correlation: nullableRank(rankCorrelation),
      rank_precision: nullableRank(rankPrecision),
      selected_correlation: selectedCorrelation,
      selected_precision: selectedPrecision,
      global_rank_correlation: nullableRank(globalRankCorrelation),
      global_rank_precision: nullableRank(globalRankPrecision),
    },
    rows,
  );
  return { neurons, layers: layerSummaries, total, global, output };
}
