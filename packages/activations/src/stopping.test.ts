import { describe, expect, it } from 'vitest';
import { parallelism } from './pool.js';
import { checkSchedule, createFlatSums, stratifiedOrder, topKSets, topKSetsWithHalves } from './stopping.js';

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
