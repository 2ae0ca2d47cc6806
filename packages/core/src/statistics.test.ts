import { describe, expect, it } from 'vitest';
import {
  averageRanks,
  compareSelections,
  jaccardIndex,
  pearson,
  quantile,
  rankDescending,
  softmax,
  spearman,
  topKIndices,
  varianceFromSums,
} from './statistics.js';

describe('compareSelections', () => {
  it('gives the paper overlap and the Jaccard index', () => {
    expect(compareSelections([1, 2, 3], [2, 3, 4])).toEqual({ overlap: 2 / 6, jaccard: 2 / 4 });
    expect(compareSelections([5, 7], [7, 5])).toEqual({ overlap: 0.5, jaccard: 1 });
    expect(compareSelections([1, 2], [3, 4])).toEqual({ overlap: 0, jaccard: 0 });
    expect(compareSelections([1], [])).toEqual({ overlap: 0, jaccard: 0 });
  });

  it('is 0 for two empty selections and reads its inputs as sets', () => {
    expect(compareSelections([], [])).toEqual({ overlap: 0, jaccard: 0 });
    expect(compareSelections([1, 1, 2], [2, 2])).toEqual({ overlap: 1 / 3, jaccard: 1 / 2 });
  });
});

describe('spearman', () => {
  it('matches known values', () => {
    expect(spearman([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 15);
    expect(spearman([1, 2, 3], [30, 20, 10])).toBe(-1);
    expect(spearman([10, 20, 30, 40, 50], [1, 4, 9, 16, 25])).toBe(1);
    // scipy.stats.spearmanr([1, 2, 2, 3], [1, 2, 3, 4]) = sqrt(0.9)
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(Math.sqrt(0.9), 15);
    // scipy.stats.spearmanr([3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]).statistic = 0.19885368120992467
    const x = [3, 1, 4, 1, 5, 9, 2, 6];
    const y = [2, 7, 1, 8, 2, 8, 1, 8];
    expect(spearman(x, y)).toBeCloseTo(pearsonOfRanks(x, y), 14);
    expect(spearman(x, y)).toBeCloseTo(0.19885368120992467, 14);
  });

  it('ranks infinities like other values', () => {
    expect(spearman([1, Number.POSITIVE_INFINITY, 3], [1, 3, 2])).toBe(1);
  });

  it('is null for fewer than 3 pairs or constant ranks, and rejects NaN and unequal lengths', () => {
    expect(spearman([1, 2], [2, 1])).toBeNull();
    expect(spearman([], [])).toBeNull();
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNull();
    expect(() => spearman([1, Number.NaN, 2], [1, 2, 3])).toThrow(RangeError);
    expect(() => spearman([1, 2, 3], [1, 2])).toThrow(RangeError);
  });

  it('averages the ranks of ties', () => {
    expect(Array.from(averageRanks([10, 20, 10, 5, 20, 20]))).toEqual([2.5, 5, 2.5, 1, 5, 5]);
  });
});

describe('rankDescending', () => {
  it('ranks included entries, largest first, ties to the lower index, infinity first', () => {
    const values = Float64Array.from([0.5, Number.POSITIVE_INFINITY, 0.5, 0.9, Number.POSITIVE_INFINITY, 2]);
    const included = Uint8Array.from([1, 1, 1, 1, 1, 0]);
    expect(Array.from(rankDescending(values, included))).toEqual([4, 1, 5, 3, 2, 0]);
  });
});

/** Independent: rank_i = 1 + #smaller + (#equal - 1) / 2, then two-pass Pearson. */
function pearsonOfRanks(x: number[], y: number[]): number {
  const rank = (v: number[]) =>
    v.map((a) => 1 + v.filter((b) => b < a).length + (v.filter((b) => b === a).length - 1) / 2);
  const rx = rank(x);
  const ry = rank(y);
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe('topKIndices', () => {
  it('takes the largest values best first, ties to the lower index, skipping NaN and excluded entries', () => {
    const values = Float64Array.of(0.5, Number.NaN, 0.9, 0.5, Number.POSITIVE_INFINITY, 0.1);
    expect(topKIndices(values, 3)).toEqual([4, 2, 0]);
    expect(topKIndices(values, 4)).toEqual([4, 2, 0, 3]);
    expect(topKIndices(values, 3, Uint8Array.of(1, 1, 0, 1, 0, 1))).toEqual([0, 3, 5]);
    expect(topKIndices(values, 2, null, 2, 4)).toEqual([2, 3]);
  });

  it('agrees with rankDescending on which entries rank 1..k', () => {
    const values = Float64Array.of(3, 1, 3, 2, 2, 5);
    const included = Uint8Array.of(1, 1, 1, 1, 1, 1);
    const ranks = rankDescending(values, included);
    const top = topKIndices(values, 4);
    expect(top.map((i) => ranks[i])).toEqual([1, 2, 3, 4]);
  });
});

describe('jaccardIndex, quantile, softmax, pearson, varianceFromSums', () => {
  it('jaccardIndex is null for two empty sets', () => {
    expect(jaccardIndex([], [])).toBeNull();
    expect(jaccardIndex([1, 2], [2, 3])).toBeCloseTo(1 / 3, 15);
  });

  it('quantile interpolates linearly as numpy', () => {
    // numpy.quantile([1, 2, 4, 8], 0.5) = 3; 0.25 -> 1.75
    expect(quantile([1, 2, 4, 8], 0.5)).toBe(3);
    expect(quantile([1, 2, 4, 8], 0.25)).toBe(1.75);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('softmax sums to one and does not overflow', () => {
    const p = softmax([1000, 1000, 999]);
    expect(p[0]).toBeCloseTo(1 / (2 + Math.exp(-1)), 15);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 15);
  });

  it('pearson is null for a constant sample and matches a hand computation', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNull();
    // x = 1,2,3; y = 2,4,7: r = 5 / sqrt(2 * 12.667)
    expect(pearson([1, 2, 3], [2, 4, 7])).toBeCloseTo(5 / Math.sqrt(2 * (38 / 3)), 12);
  });

  it('varianceFromSums sets a variance within rounding of zero to exactly 0', () => {
    expect(varianceFromSums(4, 4 * 1e8, 4 * 1e16)).toBe(0);
    expect(varianceFromSums(2, 0, 2)).toBe(1);
  });
});
