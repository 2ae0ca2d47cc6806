/**
 * The extract stage's tables from an extraction in memory: `outputs.parquet` (one row per copy),
 * `activations.parquet` (one row per copy, layer and channel) and, when asked, `unit_stats.parquet` (one row per
 * layer, channel and unit). `channel_stats.parquet` is the metrics package's (it holds the metric columns).
 */
import {
  activationsSchema,
  argmax,
  type LayerInfo,
  MOMENTS_METADATA_KEY,
  makeTable,
  momentsSchema,
  type OutputMoments,
  outputsSchema,
  type StoppingSummary,
  type Table,
} from '@neuronscope/core';
import type { LayerMomentsInput } from '@neuronscope/metrics';
import type { CopyRows, Extraction } from './image-extraction.js';
import { TIE_Z } from './stopping.js';

/** Metadata key of `outputs.parquet` holding the clean image's logits and top-1. */
export const CLEAN_METADATA_KEY = 'neuronscope.clean';

/** Key of `outputs.parquet`'s metadata holding, for `--samples auto`, the stopping summary (summary.json's `stopping`). */
export const STOPPING_METADATA_KEY = 'neuronscope.stopping';

/** summary.json's `stopping` of an extraction with `--samples auto` (null for a fixed N). */
export function stoppingSummary(
  extraction: Pick<Extraction, 'checks' | 'stable' | 'ties' | 'samplesUsed'>,
  layers: readonly { readonly layer: string }[],
): StoppingSummary | null {
  const last = extraction.checks.at(-1);
  if (!extraction.ties || !last || extraction.stable === null) return null;
  return {
    samples: extraction.samplesUsed,
    stable: extraction.stable,
    agreement: last.agreement,
    strictAgreement: last.strictAgreement ?? last.agreement,
    z: TIE_Z,
    layers: extraction.ties.map((t, k) => ({
      layer: layers[k]!.layer,
      correlation: { sure: t.correlation.sure, ties: t.correlation.ties },
      precision: { sure: t.precision.sure, ties: t.precision.ties },
    })),
  };
}

/** The clean image's logits, top-1 and the target, as `outputs.parquet`'s metadata holds them. */
export interface CleanOutputs {
  logits: number[];
  top1: number;
  target: number;
}

/** `outputs.parquet` of the rows, with the clean image's logits (and `metadata`) in its metadata. */
export function outputsTable(
  rows: CopyRows,
  cleanLogits: Float32Array,
  target: number,
  metadata: Record<string, string> = {},
): Table {
  const clean: CleanOutputs = { logits: Array.from(cleanLogits), top1: argmax(cleanLogits), target };
  return makeTable(
    outputsSchema(cleanLogits.length),
    { copy: rows.copies, logits: rows.logits, y: rows.y, top1: rows.top1 },
    rows.copies.length,
    { ...metadata, [CLEAN_METADATA_KEY]: JSON.stringify(clean) },
  );
}

/** `activations.parquet`: every copy's spatial-mean activation of every channel, copy-major (as they ran). */
export function activationsTable(
  rows: CopyRows,
  layers: readonly LayerInfo[],
  metadata: Record<string, string> = {},
): Table {
  const copies = rows.copies.length;
  const perCopy = layers.reduce((s, l) => s + l.channels, 0);
  const total = copies * perCopy;
  const copy = new Int32Array(total);
  const layerId = new Int32Array(total);
  const layerIndex = new Int32Array(total);
  const channel = new Int32Array(total);
  let offset = 0;
  layers.forEach((l, id) => {
    for (let b = 0; b < copies; b++) {
      const base = b * perCopy + offset;
      copy.fill(rows.copies[b]!, base, base + l.channels);
      layerId.fill(id, base, base + l.channels);
      layerIndex.fill(l.layerIndex, base, base + l.channels);
      for (let ch = 0; ch < l.channels; ch++) channel[base + ch] = ch;
    }
    offset += l.channels;
  });
  return makeTable(
    activationsSchema,
    {
      copy,
      layer: { indices: layerId, dictionary: layers.map((l) => l.layer) },
      layer_index: layerIndex,
      channel,
      mean: rows.channelMeans.slice(0, total),
    },
    total,
    metadata,
  );
}

/**
 * `unit_stats.parquet`: the per-unit shifted moments of every layer, with the output moments (and `metadata`) in
 * its metadata. Big (one row per unit: 2.6 M for SqueezeNet): kept only when asked.
 */
export function unitStatsTable(
  layers: readonly LayerMomentsInput[],
  output: OutputMoments,
  metadata: Record<string, string> = {},
): Table {
  const rows = layers.reduce((s, l) => s + l.unit.shift.length, 0);
  const layerId = new Int32Array(rows);
  const layerIndex = new Int32Array(rows);
  const channel = new Int32Array(rows);
  const unit = new Int32Array(rows);
  const shift = new Float32Array(rows);
  const sumA = new Float64Array(rows);
  const sumAA = new Float64Array(rows);
  const sumAY = new Float64Array(rows);
  let offset = 0;
  layers.forEach((l, id) => {
    const n = l.unit.shift.length;
    layerId.fill(id, offset, offset + n);
    layerIndex.fill(l.layerIndex, offset, offset + n);
    for (let i = 0; i < n; i++) {
      channel[offset + i] = Math.floor(i / l.units);
      unit[offset + i] = i % l.units;
    }
    shift.set(l.unit.shift, offset);
    sumA.set(l.unit.sumA, offset);
    sumAA.set(l.unit.sumAA, offset);
    sumAY.set(l.unit.sumAY, offset);
    offset += n;
  });
  return makeTable(
    momentsSchema('unit'),
    {
      layer: { indices: layerId, dictionary: layers.map((l) => l.layer) },
      layer_index: layerIndex,
      channel,
      unit,
      shift,
      sum_a: sumA,
      sum_aa: sumAA,
      sum_ay: sumAY,
    },
    rows,
    { ...metadata, [MOMENTS_METADATA_KEY]: JSON.stringify(output) },
  );
}
