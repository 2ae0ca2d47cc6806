/**
 * `@neuronscope/metrics`: correlation, precision and friends of every neuron from the shifted moments that
 * `extract` writes; top-k selection per layer and over all layers; comparison of the selections.
 */
export type { SelectionComparison } from './compare.js';
export { compareSelections, spearman } from './compare.js';
export type {
  GlobalNeuron,
  GlobalSelections,
  LayerMetrics,
  LayerShapes,
  LayerSummaryWithUnits,
  MetricsResult,
  SelectedNeuron,
} from './compute.js';
export { computeMetrics } from './compute.js';
export { METRIC_DEFINITIONS } from './definitions.js';
export type { DerivedMoments } from './derive.js';
export { ZERO_VARIANCE_FACTOR } from './derive.js';
export type { LayerContext, MetricColumn, MetricDefinition } from './metric.js';
export type { Table } from './read.js';
export { METRICS } from './registry.js';
