import { describe, expect, it } from 'vitest';
import { parallelism } from './pool.js';
import {
  checkSchedule,
  checkStability,
  checkWithTies,
  createFlatSums,
  type LayerSets,
  layerTies,
  stratifiedOrder,
  topKSets,
  topKSetsWithHalves,
  topKWithTies,
} from './stopping.js';

describe('stopping schedule and order', () => {
  it('runs copy 0 first and spreads every prefix over the whole range', () => {
    expect(stratifiedOrder(10)).toEqual([0, 8, 4, 2, 6, 1, 9, 5, 3, 7]);
    for (const n of [1, 3, 64, 100, 1000]) {
      const order = stratifiedOrder(n);
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    // The first quarter of 1000 copies covers every tenth of the range.
    const prefix = stratifiedOrder(1000).slice(0, 250);
    for (let decile = 0; decile < 10; decile++) {
      expect(prefix.filter((c) => Math.floor(c / 100) === decile).length).toBeGreaterThan(15);
    }
  });

  it('checks on batch boundaries, growing, up to the maximum', () => {
    expect(checkSchedule({ minSamples: 48, growth: 1.25 }, 8, 200)).toEqual([48, 64, 80, 104, 136, 176, 200]);
    expect(checkSchedule({ minSamples: 48, growth: 1.25 }, 8, 30)).toEqual([30]);
    for (const c of checkSchedule({ minSamples: 10, growth: 1.5 }, 4, 99).slice(0, -1)) expect(c % 4).toBe(0);
  });

  it('computes the full and half-sample sets in one pass as three separate passes do', () => {
    const layout = { channels: [6, 4], unitsPerChannel: [5, 9], unitOffsets: [0, 30] };
    const units = 30 + 36;
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const shift = Float32Array.from({ length: units }, () => rand());
    const full = createFlatSums(units);
    const half = createFlatSums(units);
    for (let copy = 0; copy < 40; copy++) {
      const e = rand() - 0.5;
      for (const sums of copy % 2 === 0 ? [full, half] : [full]) {
        sums.count++;
        sums.sumY += e;
        sums.sumYY += e * e;
      }
      for (let u = 0; u < units; u++) {
        const d = (rand() - 0.5) * (1 + (u % 7)) + e * (u % 3);
        for (const sums of copy % 2 === 0 ? [full, half] : [full]) {
          sums.sumA[u] += d;
          sums.sumAA[u] += d * d;
          sums.sumAY[u] += d * e;
        }
      }
    }
    const rule = { topK: 2, eligibility: 0.3 };
    const [a, b, c] = topKSetsWithHalves(full, half, shift, layout, rule);
    expect(a).toEqual(topKSets(full, null, shift, layout, rule));
    expect(b).toEqual(topKSets(half, null, shift, layout, rule));
    expect(c).toEqual(topKSets(full, half, shift, layout, rule));
  });

  it('fills the cores with the defaults', () => {
    expect(parallelism(undefined, undefined, 2)).toEqual({ workers: 2, threads: 1 });
    expect(parallelism(undefined, undefined, 16)).toEqual({ workers: 4, threads: 4 });
    expect(parallelism(1, undefined, 2)).toEqual({ workers: 1, threads: 2 });
    expect(parallelism(undefined, 2, 2)).toEqual({ workers: 1, threads: 2 });
    expect(parallelism(3, 3, 2)).toEqual({ workers: 3, threads: 3 });
  });
});

/**
 * Two layers; layer 1 has no eligible channel (empty precision sets, which count in no overlap).
 *
 * Settled (sets now against the previous check's, |now ∩ before| / |before|):
 *   layer 0 correlation {1,2,3} vs {1,2,7}: 2/3; precision {4,5} vs {4,5}: 1; layer 1 correlation {0,1} vs {0,1}: 1
 *   mean (2/3 + 1 + 1) / 3 = 8/9 = 0.888...
 * Half-sample agreement (each half against the full sets, |half ∩ full| / |full|):
 *   layer 0 correlation: A {1,2,3} 3/3, B {3,8,9} 1/3; precision: A {4,6} 1/2, B {4,5} 2/2
 *   layer 1 correlation: A {0,1} 2/2, B {1,5} 1/2
 *   mean (1 + 1/3 + 1/2 + 1 + 1 + 1/2) / 6 = (13/3) / 6 = 13/18 = 0.7222...
 * Unchanged layers: layer 1 only.
 */
const full: LayerSets[] = [
  { correlation: [1, 2, 3], precision: [4, 5] },
  { correlation: [0, 1], precision: [] },
];
const previous: LayerSets[] = [
  { correlation: [1, 2, 7], precision: [4, 5] },
  { correlation: [1, 0], precision: [] },
];
const halfA: LayerSets[] = [
  { correlation: [1, 2, 3], precision: [4, 6] },
  { correlation: [0, 1], precision: [] },
];
const halfB: LayerSets[] = [
  { correlation: [3, 8, 9], precision: [4, 5] },
  { correlation: [1, 5], precision: [] },
];

describe('checkStability (the --samples auto rule)', () => {
  it('computes the settled and half-sample overlaps of a hand-worked example', () => {
    const check = checkStability(full, [halfA, halfB], previous, 64, { agreement: 0.7 });
    expect(check.samples).toBe(64);
    expect(check.layers).toBe(2);
    expect(check.unchangedLayers).toBe(1);
    expect(check.settled).toBeCloseTo(8 / 9, 12);
    expect(check.agreement).toBeCloseTo(13 / 18, 12);
  });

  it('is stable exactly when both overlaps reach the agreement', () => {
    const stable = (agreement: number) => checkStability(full, [halfA, halfB], previous, 64, { agreement }).stable;
    expect(stable(0.7)).toBe(true); // 8/9 and 13/18 both >= 0.7
    expect(stable(0.75)).toBe(false); // the halves agree only 13/18 = 0.722
    expect(stable(0.95)).toBe(false); // neither holds
  });

  it('is never stable at the first check, which has nothing to have settled against', () => {
    const first = checkStability(full, [full, full], null, 48, { agreement: 0 });
    expect(first.settled).toBe(0);
    expect(first.agreement).toBe(1);
    expect(first.unchangedLayers).toBe(0);
    expect(first.stable).toBe(false);
  });

  it('counts settled as 1 when every previous set is empty (nothing could move)', () => {
    const empty: LayerSets[] = [{ correlation: [], precision: [] }];
    const check = checkStability(empty, [empty, empty], empty, 56, { agreement: 0.9 });
    expect(check.settled).toBe(1);
    expect(check.agreement).toBe(1);
    expect(check.stable).toBe(true);
  });
});

describe('topKWithTies and checkWithTies (the rule --samples auto uses)', () => {
  /** Scores [full, first half, second half] where each half is the full score plus its own noise. */
  const scoresOf = (full: number[], noise: number[]) => [
    Float64Array.from(full),
    Float64Array.from(full, (v, i) => v + noise[i]!),
    Float64Array.from(full, (v, i) => v - noise[i]!),
  ];

  it('calls members sure when they clear every non-member by 1.96 standard errors, the rest tied', () => {
    // Channels 0..2 far above; 3 and 4 (members) within noise of 5 and 6; 7 far below. Every half differs from the
    // other by 0.02 (so each channel's standard error is 0.01), except a common shift, which does not count.
    const full = [1, 0.9, 0.8, 0.5, 0.49, 0.485, 0.48, 0.1];
    const noise = full.map((_, i) => 0.01 * (i % 2 ? 1 : -1) + 0.3);
    const t = topKWithTies(scoresOf(full, noise), 5, false);
    expect(t.top).toEqual([0, 1, 2, 3, 4]);
    expect(t.sure).toEqual([0, 1, 2]);
    expect(t.ties).toEqual([3, 4, 5, 6]);
    // Without noise every difference is significant: no ties.
    const clear = topKWithTies(
      scoresOf(
        full,
        full.map(() => 0),
      ),
      5,
      false,
    );
    expect(clear.sure).toEqual([0, 1, 2, 3, 4]);
    expect(clear.ties).toEqual([]);
  });

  it('puts an infinite precision (no variance) above every finite one and ranks precision on a log scale', () => {
    const full = [Number.POSITIVE_INFINITY, 100, 10, 1, Number.NaN];
    const t = topKWithTies(scoresOf(full, [0, 1, 0.1, 0.01, 0]), 2, true);
    expect(t.top).toEqual([0, 1]);
    expect(t.sure).toContain(0);
  });

  it('agrees counting ties: a half that swaps tied channels does not disagree; stops after two holding checks', () => {
    const full = [1, 0.9, 0.8, 0.5, 0.49, 0.485, 0.48, 0.1];
    const scores = [Float64Array.from(full), Float64Array.from(full), Float64Array.from(full)];
    // Halves that put channel 5 above 4: a tie when the halves disagree enough, a disagreement when they agree.
    scores[1]![5] = 0.6;
    scores[2]![5] = 0.37;
    const ties = layerTies([{ correlation: scores, precision: scores }], 5);
    const c = ties[0]!.correlation;
    expect(c.halves[0]).toContain(5);
    const rule = { agreement: 0.9, topK: 5, confirmations: 2 };
    const first = checkWithTies(ties, null, 0, 48, rule);
    expect(first.holds).toBe(false);
    const second = checkWithTies(ties, ties, 0, 64, rule);
    // Only sure members left out of a half count: every half keeps channels 0..2.
    expect(second.agreement).toBe(1);
    expect(second.settled).toBe(1);
    expect(second.holds).toBe(true);
    expect(second.stable).toBe(false);
    expect(checkWithTies(ties, ties, 1, 80, rule).stable).toBe(true);
    expect(second.strictAgreement).toBeLessThan(1);
  });
});
