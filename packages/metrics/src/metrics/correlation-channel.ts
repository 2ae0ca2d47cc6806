import type { MetricDefinition } from '../metric.js';

export const correlationChannel: MetricDefinition = {
  name: 'channel correlation',
  column: 'correlation_channel',
  definition:
    "|r|, r = Pearson correlation over the copies between the channel's spatial-mean activation and y; " +
    'NaN when either has zero variance',
  compute(layer, out) {
    const r = layer.channel.r;
    for (let c = 0; c < out.length; c++) out[c] = Math.abs(r[c]!);
  },
};
