import type { MetricDefinition } from '../metric.js';
import { meanPerChannel } from '../reduce.js';

/** Precision made scale-free. */
export const snr: MetricDefinition = {
  name: 'signal-to-noise ratio',
  column: 'snr',
  definition:
    "mean_activation^2 / (mean over the channel's units of the unit's population variance); " +
    'Infinity when that variance is 0 and the mean is not, NaN when both are 0',
  compute(layer, out) {
    const units = layer.units;
    const mean = new Float64Array(out.length);
    meanPerChannel(layer.unit.mean, units, mean);
    meanPerChannel(layer.unit.variance, units, out);
    for (let c = 0; c < out.length; c++) out[c] = mean[c]! ** 2 / out[c]!;
  },
};
