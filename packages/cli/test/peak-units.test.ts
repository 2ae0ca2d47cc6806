/** `peakUnits` (packages/cli/src/stages/visual.ts): where each selected neuron is most active on the clean image. */
import { tableFromArrays } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { peakUnits } from '../src/stages/visual.js';

/** A unit_stats-like table: one row per (layer index, channel, unit) with the clean activation as `shift`. */
function unitStats(rows: [layerIndex: number, channel: number, unit: number, shift: number][]) {
  return tableFromArrays({
    layer_index: Int32Array.from(rows, (r) => r[0]),
    channel: Int32Array.from(rows, (r) => r[1]),
    unit: Int32Array.from(rows, (r) => r[2]),
    shift: Float32Array.from(rows, (r) => r[3]),
  });
}

describe('peakUnits', () => {
  const table = unitStats([
    // layer 0, channel 0: the peak at unit 2
    [0, 0, 0, 0.5],
    [0, 0, 1, 0.25],
    [0, 0, 2, 1.5],
    [0, 0, 3, 1],
    // layer 0, channel 1: every unit negative, the least negative is unit 1
    [0, 1, 0, -3],
    [0, 1, 1, -0.5],
    [0, 1, 2, -2],
    [0, 1, 3, -1],
    // layer 2, channel 1, rows in reverse unit order: units 3 and 1 tie at the top; the lower unit wins
    [2, 1, 3, 2],
    [2, 1, 2, 0],
    [2, 1, 1, 2],
    [2, 1, 0, 1],
    // layer 2, channel 0: not asked for
    [2, 0, 0, 9],
  ]);

  it('gives the unit of highest activation of each wanted channel, and its activation', () => {
    const peaks = peakUnits(table, new Set(['0:0', '0:1', '2:1']));
    expect(Object.fromEntries(peaks)).toEqual({
      '0:0': { unit: 2, activation: 1.5 },
      '0:1': { unit: 1, activation: -0.5 },
      '2:1': { unit: 1, activation: 2 },
    });
  });

  it('leaves out channels that were not asked for, and wanted channels that have no rows', () => {
    const peaks = peakUnits(table, new Set(['2:1', '7:0', '0:5']));
    expect([...peaks.keys()]).toEqual(['2:1']);
    expect(peakUnits(table, new Set()).size).toBe(0);
  });

  it('tells apart channel numbers that a naive key would mix up (layer 1 channel 10 and layer 11 channel 0)', () => {
    const mixed = unitStats([
      [1, 10, 0, 1],
      [1, 10, 1, 4],
      [11, 0, 0, 7],
      [11, 0, 1, 3],
    ]);
    expect(Object.fromEntries(peakUnits(mixed, new Set(['1:10', '11:0'])))).toEqual({
      '1:10': { unit: 1, activation: 4 },
      '11:0': { unit: 0, activation: 7 },
    });
  });
});
