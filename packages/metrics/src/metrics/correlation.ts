import type { MetricDefinition } from '../metric.js';
import { meanAbsPerChannelIgnoringNaN } from '../reduce.js';

/** The paper's correlation. */
export const correlation: MetricDefinition = {
  name: 'correlation',
  column: 'correlation',
  definition:
    "mean over the channel's units of |r|, r = Pearson correlation over the copies between the unit's activation " +
    'and y; units with r undefined (zero variance) are ignored; NaN if r is undefined for every unit',
  compute(layer, out) {
    meanAbsPerChannelIgnoringNaN(layer.unit.r, layer.units, out);
  },
};
