import type { MetricDefinition } from '../metric.js';
import { meanPerChannel } from '../reduce.js';

export const meanActivation: MetricDefinition = {
  name: 'mean activation',
  column: 'mean_activation',
  definition: "mean over the channel's units of the unit's mean activation over the copies",
  compute(layer, out) {
    meanPerChannel(layer.unit.mean, layer.units, out);
  },
};
