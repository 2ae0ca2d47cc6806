import { ZERO_VARIANCE_FACTOR } from '@neuronscope/core';
import { METRICS } from './registry.js';

/**
 * Every definition the numbers depend on, spelled out so that they can be recomputed (summary.json embeds
 * this). Keys of per-neuron metrics are their `neurons.parquet` columns.
 */
export const METRIC_DEFINITIONS: Readonly<Record<string, string>> = Object.freeze({
  moments:
    "over the N copies, with d = a - shift (shift = the clean copy's activation) and e = y - yShift: " +
    'mean = shift + sum(d)/N; variance = sum(d^2)/N - (sum(d)/N)^2 (population, ddof = 0, as numpy.var); ' +
    'cov = sum(d*e)/N - (sum(d)/N)(sum(e)/N); all in float64',
  zero_variance:
    `a variance is zero when its computed value is at most ${ZERO_VARIANCE_FACTOR} * N * 2^-52 * sum(d^2)/N, ` +
    'the rounding error bound of its computation (so exactly constant activations always have zero variance)',
  pearson:
    'r = cov / sqrt(variance(a) * variance(y)), clipped to [-1, 1] (as numpy.corrcoef); ' +
    'undefined (NaN) when either variance is zero',
  ...Object.fromEntries(METRICS.map((m) => [m.column, m.definition])),
  eligible:
    'mean_activation >= the eligibility threshold (--eligibility); only eligible channels are ranked by precision',
  rank:
    'rank_correlation / rank_precision: 1 = largest, within the layer, among channels with a defined correlation / ' +
    'eligible channels (precision Infinity ranks first); ties go to the lower channel; selected = rank <= top-k',
  global_rank:
    'the same ranking over all neurons of all layers, ties going to the lower layer_index, then the lower channel',
  overlap:
    "the paper's |A ∩ B| / (|A| + |B|) of the selections by correlation (A) and precision (B): 0.5 when equal, 0 when both are empty",
  jaccard: '|A ∩ B| / |A ∪ B|; 0 when both are empty',
  spearman:
    'Spearman rank correlation (Pearson correlation of average ranks) between correlation and precision over the ' +
    'channels with a defined correlation and a finite precision that are eligible; null for fewer than 3 channels ' +
    "or constant ranks. total: the same pooled over all layers, and overlap/jaccard of the union of the layers' selections",
  summary_nulls:
    'in summary.json a correlation of null is undefined (NaN) and a precision or value of null is infinite ' +
    '(every unit of the channel has zero variance)',
});
