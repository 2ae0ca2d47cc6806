import type { OutputMoments, StatsConfig } from '@neuronscope/core';
import { type LayerMomentsInput, metricColumns } from './columns.js';
import { readChannelTable, readOutputMoments, type Table, unitBlocks } from './read.js';
import {
  type LayerMetrics,
  type LayerShapes,
  type LayerSummaryWithUnits,
  type Selection,
  selectNeurons,
} from './select.js';

/** The selection of {@link computeMetrics} and the output moments the tables carry. */
export type MetricsResult<L extends LayerMetrics = LayerMetrics> = Selection<L> & { output: OutputMoments };

/** The layers' moments as the moments tables hold them, one layer at a time. */
function* layerMoments(unitStats: Table, channelStats: Table): Generator<LayerMomentsInput> {
  const { layers, sums } = readChannelTable(channelStats);
  let k = 0;
  for (const block of unitBlocks(unitStats, layers)) {
    const l = layers[k++]!;
    const slice = <T extends ArrayLike<number>>(a: T) => Array.prototype.slice.call(a, l.row, l.row + l.channels);
    yield {
      layer: l.layer,
      layerIndex: l.layerIndex,
      channels: l.channels,
      units: block.units,
      unit: block.sums,
      channel: { shift: slice(sums.shift), sumA: slice(sums.sumA), sumAA: slice(sums.sumAA), sumAY: slice(sums.sumAY) },
    };
  }
}

/**
 * Every metric of every neuron from the per-unit and per-channel moments tables (`momentsSchema`), then the
 * selection: the same computation as extraction's in-memory reduction followed by `selectNeurons`, for moments
 * that were kept (`--keep-unit-stats`) or built by a test.
 *
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
  const output = readOutputMoments(unitStats, channelStats);
  const metrics = metricColumns(layerMoments(unitStats, channelStats), output);
  return { ...selectNeurons(metrics, config, layerShapes), output };
}
