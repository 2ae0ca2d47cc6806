import type { MetricColumn } from '@neuronscope/core';
import type { DerivedMoments } from './derive.js';

export type { MetricColumn };

/** Everything a metric sees of one layer. */
export interface LayerContext {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channels: number;
  /** Spatial units per channel. */
  readonly units: number;
  /** Number of copies N. */
  readonly count: number;
  /** Per unit: `channels * units` entries, channel-major (entry c * units + u). */
  readonly unit: DerivedMoments;
  /** Per channel, of the channel's spatial-mean activation: `channels` entries. */
  readonly channel: DerivedMoments;
}

/**
 * A per-neuron metric: one file exporting one of these, plus one line in `METRICS` (registry.ts).
 * `compute` must loop over the typed arrays of the context (no per-unit objects).
 */
export interface MetricDefinition {
  /** Display name. */
  readonly name: string;
  /** Column of `neurons.parquet` it fills; also its key in `METRIC_DEFINITIONS`. */
  readonly column: MetricColumn;
  /** Human-readable formula, embedded in `summary.json`. */
  readonly definition: string;
  /** Writes the metric of every channel of `layer` into `out` (`layer.channels` entries). */
  compute(layer: LayerContext, out: Float64Array): void;
}
