/**
 * The stats stage's selection: from every channel's metric columns, the ranks and top-k sets per layer and over all
 * layers by correlation and by precision (eligible channels only), their comparison, and `neurons.parquet`.
 */
import {
  compareSelections,
  ensure,
  type LayerSummary,
  type MetricColumn,
  makeTable,
  neuronsSchema,
  rankDescending,
  type StatsConfig,
  type Summary,
  spearman,
  type Table,
} from '@neuronscope/core';
import type { ChannelMetrics, LayerBlock } from './columns.js';

/** One selected neuron of a layer, as `summary.json` lists it. */
export type SelectedNeuron = LayerSummary['byCorrelation'][number];

/**
 * One layer's part of `summary.json`, without its shape: `units` (= height * width) is always known; `height`
 * and `width` are filled when the layer shapes are given.
 */
export type LayerMetrics = Omit<LayerSummary, 'height' | 'width'> & { units: number; height?: number; width?: number };

/** A full {@link LayerSummary} plus `units`, as returned per layer when the shapes are given. */
export type LayerSummaryWithUnits = LayerSummary & { units: number };

/** Top-k neurons over all layers by each metric (a precision `value` of null is infinite). */
export type GlobalSelections = Summary['global'];

/** What the selection gives: `neurons.parquet` and the metric parts of `summary.json`. */
export interface Selection<L extends LayerMetrics = LayerMetrics> {
  /** One row per layer and channel, with `neuronsSchema`, in the channel order of the metrics. */
  neurons: Table;
  /** Per layer, in depth order: selections by each metric and their comparison. */
  layers: L[];
  /** The comparison over all layers: union of the per-layer selections, Spearman pooled over all neurons. */
  total: Summary['total'];
  global: GlobalSelections;
}

/** Height and width of each layer, by layer name. */
export type LayerShapes = ReadonlyMap<string, { readonly height: number; readonly width: number }>;

/** `x` if finite, else null: JSON has no NaN or Infinity. */
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

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
function spearmanOver(x: Float64Array, y: Float64Array, both: Uint8Array, start: number, end: number) {
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

/** Who may be ranked by each metric: defined correlation; eligible with a defined precision; both finite. */
function rankable(correlation: Float64Array, precision: Float64Array, mean: Float64Array, eligibility: number) {
  const rows = correlation.length;
  const eligible = new Uint8Array(rows);
  const hasCorrelation = new Uint8Array(rows);
  const hasPrecision = new Uint8Array(rows);
  const both = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    eligible[i] = mean[i]! >= eligibility ? 1 : 0;
    hasCorrelation[i] = Number.isNaN(correlation[i]!) ? 0 : 1;
    hasPrecision[i] = eligible[i] === 1 && !Number.isNaN(precision[i]!) ? 1 : 0;
    both[i] = hasCorrelation[i] === 1 && eligible[i] === 1 && Number.isFinite(precision[i]!) ? 1 : 0;
  }
  return { eligible, hasCorrelation, hasPrecision, both };
}

/** The layer and channel of every row. */
function rowIndex(layers: readonly LayerBlock[], rows: number) {
  const layerOf = new Int32Array(rows);
  const channelOf = new Int32Array(rows);
  layers.forEach((l, k) => {
    layerOf.fill(k, l.row, l.row + l.channels);
    for (let c = 0; c < l.channels; c++) channelOf[l.row + c] = c;
  });
  return { layerOf, channelOf };
}

/** Everything the parts of a selection read: the metric columns, who is rankable, and the ranks. */
interface Ranked {
  readonly metrics: ChannelMetrics;
  readonly topK: number;
  readonly correlation: Float64Array;
  readonly precision: Float64Array;
  readonly meanActivation: Float64Array;
  readonly can: ReturnType<typeof rankable>;
  readonly rankCorrelation: Int32Array;
  readonly rankPrecision: Int32Array;
  readonly layerOf: Int32Array;
  readonly channelOf: Int32Array;
}

function rank(metrics: ChannelMetrics, config: StatsConfig): Ranked {
  const get = (name: MetricColumn) => metrics.columns.get(name) ?? fail(`metric column ${name} is not computed`);
  const correlation = get('correlation');
  const precision = get('precision');
  const meanActivation = get('mean_activation');
  const can = rankable(correlation, precision, meanActivation, config.eligibility);
  return {
    metrics,
    topK: config.topK,
    correlation,
    precision,
    meanActivation,
    can,
    rankCorrelation: ranksPerLayer(correlation, can.hasCorrelation, metrics.layers),
    rankPrecision: ranksPerLayer(precision, can.hasPrecision, metrics.layers),
    ...rowIndex(metrics.layers, correlation.length),
  };
}

/** One layer's selections and their comparison, as `summary.json` lists them. */
function layerSummary(r: Ranked, k: number, shapes: LayerShapes | undefined): LayerMetrics {
  const l = r.metrics.layers[k]!;
  const units = r.metrics.units[k]!;
  const end = l.row + l.channels;
  const byCorrelation = topRows(r.rankCorrelation, r.topK, l.row, end);
  const byPrecision = topRows(r.rankPrecision, r.topK, l.row, end);
  const shape = shapes?.get(l.layer);
  if (shapes) ensure(shape, `no shape is known for layer ${l.layer}`);
  if (shape) {
    ensure(
      shape.height * shape.width === units,
      `layer ${l.layer} is ${shape.height}x${shape.width} but its statistics have ${units} units per channel`,
    );
  }
  const selected = (row: number): SelectedNeuron => ({
    channel: r.channelOf[row]!,
    correlation: finiteOrNull(r.correlation[row]!),
    precision: finiteOrNull(r.precision[row]!),
    meanActivation: r.meanActivation[row]!,
  });
  return {
    layer: l.layer,
    layerIndex: l.layerIndex,
    channels: l.channels,
    units,
    ...(shape ? { height: shape.height, width: shape.width } : {}),
    eligible: r.can.eligible.subarray(l.row, end).reduce((s, e) => s + e, 0),
    byCorrelation: byCorrelation.map(selected),
    byPrecision: byPrecision.map(selected),
    comparison: {
      ...compareSelections(
        byCorrelation.map((i) => i - l.row),
        byPrecision.map((i) => i - l.row),
      ),
      ...spearmanOver(r.correlation, r.precision, r.can.both, l.row, end),
    },
  };
}

/** The comparison over all layers and the global top-k lists. */
function overall(r: Ranked): {
  total: Summary['total'];
  global: GlobalSelections;
  globalRanks: [Int32Array, Int32Array];
} {
  const rows = r.correlation.length;
  const allByCorrelation = topRows(r.rankCorrelation, r.topK);
  const allByPrecision = topRows(r.rankPrecision, r.topK);
  const total: Summary['total'] = {
    ...compareSelections(allByCorrelation, allByPrecision),
    ...spearmanOver(r.correlation, r.precision, r.can.both, 0, rows),
    selectedByCorrelation: allByCorrelation.length,
    selectedByPrecision: allByPrecision.length,
  };
  const globalCorrelation = rankDescending(r.correlation, r.can.hasCorrelation);
  const globalPrecision = rankDescending(r.precision, r.can.hasPrecision);
  const entry = (row: number) => {
    const l = r.metrics.layers[r.layerOf[row]!]!;
    return { layer: l.layer, layerIndex: l.layerIndex, channel: r.channelOf[row]! };
  };
  const global: GlobalSelections = {
    // Ranked correlations are never NaN, and |r| <= 1.
    byCorrelation: topRows(globalCorrelation, r.topK).map((row) => ({ ...entry(row), value: r.correlation[row]! })),
    byPrecision: topRows(globalPrecision, r.topK).map((row) => ({
      ...entry(row),
      value: finiteOrNull(r.precision[row]!),
    })),
  };
  return { total, global, globalRanks: [globalCorrelation, globalPrecision] };
}

/** `neurons.parquet`: every metric column, eligibility, the ranks and the selections. */
function neuronsTable(r: Ranked, globalRanks: [Int32Array, Int32Array], metadata?: Record<string, string>): Table {
  const { layers, columns } = r.metrics;
  const rows = r.correlation.length;
  return makeTable(
    neuronsSchema,
    {
      layer: { indices: r.layerOf, dictionary: layers.map((l) => l.layer) },
      layer_index: Int32Array.from(r.layerOf, (k) => layers[k]!.layerIndex),
      channel: r.channelOf,
      ...Object.fromEntries(columns),
      eligible: Array.from(r.can.eligible, (e) => e === 1),
      rank_correlation: nullableRank(r.rankCorrelation),
      rank_precision: nullableRank(r.rankPrecision),
      selected_correlation: Array.from(r.rankCorrelation, (x) => x >= 1 && x <= r.topK),
      selected_precision: Array.from(r.rankPrecision, (x) => x >= 1 && x <= r.topK),
      global_rank_correlation: nullableRank(globalRanks[0]),
      global_rank_precision: nullableRank(globalRanks[1]),
    },
    rows,
    metadata,
  );
}

/**
 * Ranks and selects the top-k neurons per layer and over all layers by correlation and by precision, and compares
 * the selections (definitions in `METRIC_DEFINITIONS`). `metadata` goes into the neurons table's schema.
 *
 * @throws UserError if `topK` exceeds a layer's channel count.
 */
export function selectNeurons(
  metrics: ChannelMetrics,
  config: StatsConfig,
  shapes: LayerShapes,
  metadata?: Record<string, string>,
): Selection<LayerSummaryWithUnits>;
export function selectNeurons(
  metrics: ChannelMetrics,
  config: StatsConfig,
  shapes?: LayerShapes,
  metadata?: Record<string, string>,
): Selection;
export function selectNeurons(
  metrics: ChannelMetrics,
  config: StatsConfig,
  shapes?: LayerShapes,
  metadata?: Record<string, string>,
): Selection {
  const { topK, eligibility } = config;
  ensure(Number.isInteger(topK) && topK >= 1, `--top-k must be a positive integer (got ${topK})`);
  ensure(!Number.isNaN(eligibility), 'the eligibility threshold must be a number');
  for (const l of metrics.layers) {
    ensure(topK <= l.channels, `--top-k ${topK} is larger than layer ${l.layer}'s ${l.channels} channels`);
  }
  const ranked = rank(metrics, config);
  const layers = metrics.layers.map((_, k) => layerSummary(ranked, k, shapes));
  const { total, global, globalRanks } = overall(ranked);
  return { neurons: neuronsTable(ranked, globalRanks, metadata), layers, total, global };
}

function fail(message: string): never {
  throw new Error(message);
}
