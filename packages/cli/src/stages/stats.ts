import { readFile } from 'node:fs/promises';
import { CLEAN_METADATA_KEY } from '@neuronscope/activations';
import {
  columnValues,
  type RunConfig,
  readParquetFile,
  type StatsConfig,
  type Summary,
  SummarySchema,
  tableMetadata,
  UserError,
  writeJsonAtomic,
  writeParquetFile,
} from '@neuronscope/core';
import { computeMetrics, METRIC_DEFINITIONS } from '@neuronscope/metrics';
import { runFile } from './files.js';

/** Tool name and version written into every summary. */
export const TOOL = 'neuronscope 0.1.0';

/** Softmax probabilities of a row of logits, in float64. */
function softmax(logits: readonly number[]): number[] {
  const max = logits.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
  const exps = logits.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

async function readLabels(config: RunConfig): Promise<string[] | null> {
  if (!config.labels) return null;
  const text = await readFile(config.labels.path, 'utf8').catch(() => {
    throw new UserError(`labels file ${config.labels?.path} is gone`);
  });
  return text.replace(/\r/g, '').replace(/\n$/, '').split('\n');
}

/**
 * The `stats` stage: the metrics of every neuron from the moments tables, the selections and their comparison.
 * Writes `neurons.parquet` and `summary.json`; returns the summary.
 */
export async function runStatsStage(dir: string, config: RunConfig, stats: StatsConfig): Promise<Summary> {
  const [unitStats, channelStats, outputs] = await Promise.all([
    readParquetFile(runFile(dir, 'unitStats')),
    readParquetFile(runFile(dir, 'channelStats')),
    readParquetFile(runFile(dir, 'outputs')),
  ]);
  const shapes = new Map(config.layers.map((l) => [l.layer, { height: l.height, width: l.width }]));
  const metrics = computeMetrics(unitStats, channelStats, stats, shapes);
  const labels = await readLabels(config);

  const clean = tableMetadata<{ logits: number[]; top1: number; target: number }>(outputs, CLEAN_METADATA_KEY);
  if (!clean) throw new UserError(`${runFile(dir, 'outputs')} lacks the clean image's logits: run extract again`);
  const probabilities = softmax(clean.logits);
  const predictions = probabilities
    .map((probability, index) => ({ index, label: labels?.[index] ?? null, probability }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, 5);

  const y = Float64Array.from(columnValues<number>(outputs, 'y'));
  const top1 = columnValues<number>(outputs, 'top1');
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const variance = y.reduce((a, b) => a + (b - mean) ** 2, 0) / y.length;
  const target = metrics.output.target;

  const summary: Summary = {
    version: 1,
    tool: TOOL,
    run: config,
    stats,
    target: { index: target, label: labels?.[target] ?? null, source: config.target === null ? 'top1' : 'user' },
    predictions,
    outputOverCopies: {
      clean: metrics.output.yShift,
      mean,
      std: Math.sqrt(variance),
      min: y.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY),
      max: y.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    },
    samplesUsed: metrics.output.count,
    copiesKeepingTarget: Array.from(top1).filter((t) => t === target).length / top1.length,
    layers: metrics.layers,
    total: metrics.total,
    global: metrics.global,
    definitions: METRIC_DEFINITIONS,
  };
  const checked = SummarySchema.parse(summary);
  await writeParquetFile(runFile(dir, 'neurons'), metrics.neurons);
  await writeJsonAtomic(runFile(dir, 'summary'), checked);
  return checked;
}

/** Reads and validates `summary.json`. */
export async function readSummary(dir: string): Promise<Summary> {
  const path = runFile(dir, 'summary');
  const text = await readFile(path, 'utf8').catch(() => {
    throw new UserError(`${path} not found: run 'neuronscope stats --out ${dir}' first`);
  });
  const parsed = SummarySchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new UserError(`${path} is not a valid summary: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
