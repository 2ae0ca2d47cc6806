/** `percentileRank` (packages/engine/src/ablate.ts): where a selected set's drop falls among the random ones. */

import { percentileRank, TIE_TOLERANCE } from '@neuronscope/engine';
import { describe, expect, it } from 'vitest';

describe('percentileRank', () => {
  it('is the fraction of the sample below the value', () => {
    const sample = [0.4, 0.1, 0.3, 0.2];
    expect(percentileRank(sample, 0.25)).toBe(0.5); // 0.1 and 0.2 below: 2/4
    expect(percentileRank(sample, 0.05)).toBe(0);
    expect(percentileRank(sample, 0.9)).toBe(1);
  });

  it('counts ties half', () => {
    // 0.1 below, the two 0.3 tied, 0.5 above: (1 + 2/2) / 4.
    expect(percentileRank([0.1, 0.3, 0.5, 0.3], 0.3)).toBe(0.5);
    // All tied: one half.
    expect(percentileRank([0.2, 0.2, 0.2], 0.2)).toBe(0.5);
    // Tied with the largest: (2 + 1/2) / 3.
    expect(percentileRank([0.1, 0.2, 0.7], 0.7)).toBeCloseTo(2.5 / 3, 15);
  });

  it('takes values within the tolerance (0.01 percentage points by default) as ties', () => {
    expect(TIE_TOLERANCE).toBe(1e-4);
    // 0.29995 and 0.29999 are within 1e-4 of 0.3: (1 + 2/2) / 3; exactly compared, all three are below.
    expect(percentileRank([0.29995, 0.29999, 0.1], 0.3)).toBeCloseTo(2 / 3, 15);
    expect(percentileRank([0.29995, 0.29999, 0.1], 0.3, 0)).toBe(1);
    // Float32 noise: random ablations that all change the probability by -1e-6, a selected set by -1e-11.
    expect(percentileRank([-1e-6, -1e-6, -1e-6, -1e-6], -1e-11)).toBe(0.5);
  });

  it('is NaN for an empty sample', () => {
    expect(percentileRank([], 0.5)).toBeNaN();
  });
});
