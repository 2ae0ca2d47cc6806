/** Builders of the Aggregator's input for the unit tests: an images row and the neuron rows of one image. */
import { makeTable, sweepNeuronsSchema, type Table } from '@neuronscope/core';
import type { ImageRow } from '../src/index.js';

/** The neuron layout of every image: layers and their channel counts, rows in this order. */
export interface Layout {
  layer: string;
  layerIndex: number;
  channels: number;
}

/** Two layers: A (channels 0 and 1, rows r0 and r1) and B (channel 0, row r2). */
export const LAYERS: Layout[] = [
  { layer: 'A', layerIndex: 0, channels: 2 },
  { layer: 'B', layerIndex: 3, channels: 1 },
];

/** The images row of an image whose target is its label. */
export function row(image: string, label: number, prediction: number, status: ImageRow['status'] = 'ok'): ImageRow {
  const ok = status === 'ok';
  return {
    image,
    source: `/data/${image}.png`,
    label,
    label_name: null,
    prediction: ok ? prediction : null,
    prediction_name: null,
    probability: ok ? 0.9 : null,
    target: ok ? label : null,
    target_name: null,
    target_probability: ok ? 0.9 : null,
    copies_keeping_target: ok ? 1 : null,
    status,
    error: ok ? null : 'broken',
    key: image,
  };
}

/** The neuron rows of one image: clean activation per row, and the rows each metric selected. */
export function neurons(
  image: string,
  clean: number[],
  correlation: number[],
  precision: number[],
  layers: Layout[] = LAYERS,
): Table {
  const layerOf = layers.flatMap((l, k) => Array.from({ length: l.channels }, () => k));
  const channel = layers.flatMap((l) => Array.from({ length: l.channels }, (_, c) => c));
  const n = layerOf.length;
  const zeros = () => new Float64Array(n);
  return makeTable(
    sweepNeuronsSchema,
    {
      image: { indices: new Int32Array(n), dictionary: [image] },
      layer: { indices: Int32Array.from(layerOf), dictionary: layers.map((l) => l.layer) },
      layer_index: Int32Array.from(layerOf, (k) => layers[k]!.layerIndex),
      channel: Int32Array.from(channel),
      correlation: zeros(),
      correlation_channel: zeros(),
      precision: zeros(),
      snr: zeros(),
      mean_activation: zeros(),
      clean_activation: Float32Array.from(clean),
      peak_unit: new Int32Array(n),
      peak_value: Float32Array.from(clean),
      eligible: Array.from({ length: n }, () => true),
      rank_correlation: Array.from({ length: n }, () => null),
      rank_precision: Array.from({ length: n }, () => null),
      selected_correlation: Array.from({ length: n }, (_, r) => correlation.includes(r)),
      selected_precision: Array.from({ length: n }, (_, r) => precision.includes(r)),
    },
    n,
  );
}
