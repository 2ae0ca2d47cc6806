/**
 * The stats stage: from the extraction's per-channel metrics and outputs, the selections (top-k per layer and
 * overall, by correlation and by precision), their comparison, and `summary.json`.
 */
import { type CleanOutputs, STOPPING_METADATA_KEY } from '@neuronscope/activations';
import {
  classProbabilities,
  columnValues,
  type OutputKind,
  RUN_METADATA_KEY,
  type RunConfig,
  type StatsConfig,
  type StoppingSummary,
  type Summary,
  SummarySchema,
  type Table,
  tableMetadata,
} from '@neuronscope/core';
import { type ChannelMetrics, METRIC_DEFINITIONS, selectNeurons } from '@neuronscope/metrics';
import { describeOutputKind } from '@neuronscope/model';
import { VERSION } from './environment.js';

/** Tool name and version written into every summary. */
export const TOOL = `neuronscope ${VERSION}`;

/** Metadata key of `neurons.parquet` holding the stats settings it was selected with. */
export const STATS_METADATA_KEY = 'neuronscope.stats';

/** What the stats stage gives: `neurons.parquet` and `summary.json`. */
export interface Stats {
  readonly summary: Summary;
  readonly neurons: Table;
}

/** Top-5 of the clean image's class probabilities (softmax, or sigmoid per class), with label names. */
function predictions(clean: CleanOutputs, kind: OutputKind, labels: readonly string[] | null): Summary['predictions'] {
  return Array.from(classProbabilities(clean.logits, kind), (probability, index) => ({
    index,
    label: labels?.[index] ?? null,
    probability,
  }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, 5);
}

/** Mean, std, min and max of y over the copies, and its clean value. */
function outputOverCopies(y: Float64Array, clean: number): Summary['outputOverCopies'] {
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const variance = y.reduce((a, b) => a + (b - mean) ** 2, 0) / y.length;
  return {
    clean,
    mean,
    std: Math.sqrt(variance),
    min: y.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY),
    max: y.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
  };
}

/** Selects the neurons of one run and writes its summary (in memory). */
export function runStats(
  id: string,
  config: RunConfig,
  metrics: ChannelMetrics,
  outputs: Table,
  clean: CleanOutputs,
  stats: StatsConfig,
  labels: readonly string[] | null,
): Stats {
  const shapes = new Map(config.layers.map((l) => [l.layer, { height: l.height, width: l.width }]));
  const metadata = { [RUN_METADATA_KEY]: id, [STATS_METADATA_KEY]: JSON.stringify(stats) };
  const selection = selectNeurons(metrics, stats, shapes, metadata);
  const y = Float64Array.from(columnValues<number>(outputs, 'y'));
  const top1 = columnValues<number>(outputs, 'top1');
  const target = metrics.output.target;
  // --samples auto: the stopping rule's outcome and ties, kept with the outputs (so cache hits have them too).
  const stopping = tableMetadata<StoppingSummary>(outputs, STOPPING_METADATA_KEY);
  const summary = SummarySchema.parse({
    version: 1,
    tool: TOOL,
    run: config,
    stats,
    target: { index: target, label: labels?.[target] ?? null, source: config.target === null ? 'top1' : 'user' },
    predictions: predictions(clean, config.model.outputKind ?? 'logits', labels),
    outputOverCopies: outputOverCopies(y, metrics.output.yShift),
    samplesUsed: metrics.output.count,
    copiesKeepingTarget: Array.from(top1).filter((t) => t === target).length / top1.length,
    layers: selection.layers,
    total: selection.total,
    global: selection.global,
    definitions: METRIC_DEFINITIONS,
    outputNote: describeOutputKind(config.model.outputKind ?? 'logits', config.model.output),
    ...(stopping ? { stopping } : {}),
  } satisfies Summary);
  return { summary, neurons: selection.neurons };
}
