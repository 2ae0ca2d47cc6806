import { describe, expect, it } from 'vitest';
import { copySeed, mix32, Xoshiro128ss } from './rng.js';

describe('rng', () => {
  it('matches the xoshiro128** reference implementation', () => {
    // From the C reference (and an independent Python port) with state {1, 2, 3, 4}.
    const rng = new Xoshiro128ss(1, 2, 3, 4);
    const outputs = Array.from({ length: 6 }, () => rng.nextUint32());
    expect(outputs).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('pins mix32, copySeed and the seeded stream (changing them breaks old runs)', () => {
    expect([mix32(0), mix32(1), mix32(0xdeadbeef)]).toEqual([0, 1753845952, 3861431939]);
    expect([copySeed(0, 0), copySeed(42, 7), copySeed(0xffffffff, 123456)]).toEqual([33350994, 1810574088, 354385564]);
    const rng = Xoshiro128ss.fromSeed(copySeed(42, 7));
    expect(Array.from({ length: 4 }, () => rng.nextUint32())).toEqual([2474738705, 1809811850, 2068102004, 3928102597]);
  });

  it('gives distinct uint32 seeds to copies and runs', () => {
    const seeds = Array.from({ length: 100_000 }, (_, copy) => copySeed(7, copy));
    expect(seeds.every((seed) => Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)).toBe(true);
    expect(new Set(seeds).size).toBe(100_000);
    expect(copySeed(7, 3)).toBe(copySeed(7, 3));
    expect(copySeed(8, 3)).not.toBe(copySeed(7, 3));
    expect(() => copySeed(-1, 0)).toThrow(RangeError);
    expect(() => copySeed(2 ** 32, 0)).toThrow(RangeError);
    expect(() => copySeed(1, 1.5)).toThrow(RangeError);
  });

  it('draws standard normals, both values of each pair, deterministically', () => {
    const n = 200_000;
    const a = Xoshiro128ss.fromSeed(123);
    const values = Float64Array.from({ length: n }, () => a.normal());
    const b = Xoshiro128ss.fromSeed(123);
    for (let i = 0; i < 1000; i++) expect(b.normal()).toBe(values[i]);

    // Even (first of pair) and odd (second) draws are each N(0, 1), and uncorrelated with each other.
    for (const parity of [0, 1]) {
      let sum = 0;
      let sumSq = 0;
      let sum4 = 0;
      for (let i = parity; i < n; i += 2) {
        const v = values[i]!;
        sum += v;
        sumSq += v * v;
        sum4 += v ** 4;
      }
      const count = n / 2;
      expect(Math.abs(sum / count)).toBeLessThan(0.015);
      expect(Math.abs(Math.sqrt(sumSq / count) - 1)).toBeLessThan(0.01);
      expect(Math.abs(sum4 / count - 3)).toBeLessThan(0.1); // Gaussian kurtosis
    }
    let pairProduct = 0;
    for (let i = 0; i < n; i += 2) pairProduct += values[i]! * values[i + 1]!;
    expect(Math.abs(pairProduct / (n / 2))).toBeLessThan(0.015);
  });

  it('draws uniform floats in [0, 1) and integers below n', () => {
    const rng = Xoshiro128ss.fromSeed(9);
    const counts = new Array<number>(5).fill(0);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = rng.nextFloat();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      counts[rng.below(5)]! += 1;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
    for (const count of counts) expect(Math.abs(count / 100_000 - 0.2)).toBeLessThan(0.01);
  });

  it('fills normals in bulk exactly as one draw at a time, across odd lengths and spares', () => {
    const one = Xoshiro128ss.fromSeed(77);
    const bulk = Xoshiro128ss.fromSeed(77);
    for (const n of [1, 2, 7, 0, 1000, 3, 1]) {
      const expected = Float64Array.from({ length: n }, () => one.normal());
      const got = new Float64Array(n);
      bulk.fillNormal(got);
      expect(got).toEqual(expected);
    }
    // Same state afterwards: the streams continue identically.
    expect(bulk.nextInt32()).toBe(one.nextInt32());
    expect(bulk.normal()).toBe(one.normal());
  });

  it('generates 150k normals in a few milliseconds', () => {
    const rng = Xoshiro128ss.fromSeed(1);
    let sink = 0;
    for (let i = 0; i < 300_000; i++) sink += rng.normal(); // warm up the JIT
    const start = performance.now();
    for (let i = 0; i < 150_528; i++) sink += rng.normal();
    const elapsed = performance.now() - start;
    expect(Number.isFinite(sink)).toBe(true);
    expect(elapsed).toBeLessThan(50); // typically 2-5 ms; generous for loaded CI machines
  });
});
