import type { MetricDefinition } from '../metric.js';
import { meanPerChannel } from '../reduce.js';

/** The paper's precision. */
export const precision: MetricDefinition = {
  name: 'precision',
  column: 'precision',
  definition:
    "1 / (mean over the channel's units of the unit's population variance over the copies); " +
    'Infinity when every unit has zero variance',
  compute(layer, out) {
    meanPerChannel(layer.unit.variance, layer.units, out);
    for (let c = 0; c < out.length; c++) out[c] = 1 / out[c]!;
  },
};
