/**
 * `@neuronscope/metrics`: correlation, precision and friends of every neuron from the shifted moments (a registry:
 * one file and one line per metric), reduced to per-channel columns while the per-unit moments are in memory; the
 * top-k selection per layer and over all layers, and the comparison of the selections.
 */
export { channelStatsTable, readChannelStats } from './channel-table.js';
export { type ChannelMetrics, type LayerBlock, type LayerMomentsInput, metricColumns } from './columns.js';
export { computeMetrics, type MetricsResult } from './compute.js';
export { METRIC_DEFINITIONS } from './definitions.js';
export { type DerivedMoments, deriveMoments, type MomentColumns, outputStatistics } from './derive.js';
export type { LayerContext, MetricColumn, MetricDefinition } from './metric.js';
export type { Table } from './read.js';
export { METRICS } from './registry.js';
export {
  type GlobalSelections,
  type LayerMetrics,
  type LayerShapes,
  type LayerSummaryWithUnits,
  type SelectedNeuron,
  type Selection,
  selectNeurons,
} from './select.js';
