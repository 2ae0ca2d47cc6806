import type { MetricDefinition } from './metric.js';
import { correlation } from './metrics/correlation.js';
import { correlationChannel } from './metrics/correlation-channel.js';
import { meanActivation } from './metrics/mean-activation.js';
import { precision } from './metrics/precision.js';
import { snr } from './metrics/snr.js';

/** Every per-neuron metric, in computation order. A new metric is one file in metrics/ and one line here. */
export const METRICS: readonly MetricDefinition[] = [meanActivation, correlation, correlationChannel, precision, snr];
