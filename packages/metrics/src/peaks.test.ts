/** The peak unit of every channel (`channel_stats.parquet`'s `peak_unit`, `peak_value`): where the report's boxes go. */
import { describe, expect, it } from 'vitest';
import { type LayerMomentsInput, metricColumns } from './columns.js';

/** One layer's moments whose clean activation (the shift) is `shift`, channel-major; the sums do not matter here. */
function layer(layerIndex: number, channels: number, shift: number[]): LayerMomentsInput {
  const zeros = (n: number) => new Float64Array(n);
  return {
    layer: `l${layerIndex}`,
    layerIndex,
    channels,
    units: shift.length / channels,
    unit: {
      shift: Float32Array.from(shift),
      sumA: zeros(shift.length),
      sumAA: zeros(shift.length),
      sumAY: zeros(shift.length),
    },
    channel: {
      shift: new Float32Array(channels),
      sumA: zeros(channels),
      sumAA: zeros(channels),
      sumAY: zeros(channels),
    },
  };
}

describe('peak units', () => {
  it("are each channel's unit of highest clean activation, the lowest unit on ties, with its activation", () => {
    const output = { count: 4, yShift: 0, sumY: 1, sumYY: 2, target: 0, output: 'prob' as const };
    const metrics = metricColumns(
      [
        // channel 0: the peak at unit 2; channel 1: every unit negative, the least negative is unit 1
        layer(0, 2, [0.5, 0.25, 1.5, 1, -3, -0.5, -2, -1]),
        // channel 0: units 1 and 3 tie at the top, the lower unit wins; channel 1: the peak at unit 0
        layer(2, 2, [1, 2, 0, 2, 7, 3, 7, 1]),
      ],
      output,
    );
    expect(Array.from(metrics.peakUnit)).toEqual([2, 1, 1, 0]);
    expect(Array.from(metrics.peakValue)).toEqual([1.5, -0.5, 2, 7]);
    expect(metrics.layers.map((l) => [l.layerIndex, l.row])).toEqual([
      [0, 0],
      [2, 2],
    ]);
  });
});
