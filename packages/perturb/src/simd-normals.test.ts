import { describe, expect, it } from 'vitest';
import { compileNormals, embedding } from '../scripts/build-wasm.mjs';
import { NORMALS_WASM_BASE64 } from './normals-wasm.js';
import { Xoshiro128ss } from './rng.js';
import { boxMuller, boxMullerJs, laneStates } from './simd-normals.js';

describe('box-muller normals', () => {
  it('the embedded module is the compiled .wat', async () => {
    const bytes = await compileNormals();
    expect(Buffer.from(bytes).toString('base64')).toBe(NORMALS_WASM_BASE64);
    expect(embedding(bytes)).toContain(NORMALS_WASM_BASE64.slice(0, 100));
  });

  it('lane 0 starts as the polar stream of the same seed', () => {
    const lanes = laneStates(12345);
    const x = Xoshiro128ss.fromSeed(12345);
    const ref = new Xoshiro128ss(lanes[0]!, lanes[4]!, lanes[8]!, lanes[12]!);
    for (let i = 0; i < 10; i++) expect(ref.nextInt32()).toBe(x.nextInt32());
  });

  it('the kernel and its JavaScript twin give the same bits, normals and rendered copies', () => {
    for (const [seed, n] of [
      [0, 8],
      [1, 1000],
      [0xffffffff, 150528],
      [987654321, 13],
    ] as const) {
      const a = new Float32Array(n);
      const b = new Float32Array(n);
      boxMuller(seed, a);
      boxMullerJs(seed, b);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2);
      boxMuller(seed, a, x, 0.37, 0.11);
      boxMullerJs(seed, b, x, 0.37, 0.11);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    }
  });

  it('draws standard normals: moments, tails and independence of neighbours', () => {
    const n = 1 << 21;
    const z = new Float32Array(n);
    boxMuller(42, z);
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let lag = 0;
    let beyond2 = 0;
    for (let i = 0; i < n; i++) {
      const v = z[i]!;
      s1 += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      if (Math.abs(v) > 2) beyond2++;
      if (i > 0) lag += v * z[i - 1]!;
    }
    const se = 1 / Math.sqrt(n);
    expect(Math.abs(s1 / n)).toBeLessThan(5 * se);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(5 * Math.SQRT2 * se);
    expect(Math.abs(s3 / n)).toBeLessThan(5 * Math.sqrt(15) * se);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(5 * Math.sqrt(96) * se);
    expect(Math.abs(lag / n)).toBeLessThan(5 * se);
    // P(|z| > 2) = 0.0455003
    expect(Math.abs(beyond2 / n - 0.0455003)).toBeLessThan(5 * Math.sqrt((0.0455 * 0.9545) / n));
  });

  it('matches the normal distribution function (Kolmogorov-Smirnov) and copies are independent of each other', () => {
    const n = 200_000;
    const z = new Float32Array(n);
    boxMuller(7, z);
    const sorted = Float64Array.from(z).sort();
    const phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
    let d = 0;
    for (let i = 0; i < n; i++) {
      const c = phi(sorted[i]!);
      d = Math.max(d, Math.abs(c - i / n), Math.abs(c - (i + 1) / n));
    }
    expect(d).toBeLessThan(1.95 / Math.sqrt(n)); // 0.1% level
    const other = new Float32Array(n);
    boxMuller(8, other);
    let cross = 0;
    for (let i = 0; i < n; i++) cross += z[i]! * other[i]!;
    expect(Math.abs(cross / n)).toBeLessThan(5 / Math.sqrt(n));
  });
});

/** erf to ~1e-7 (Abramowitz and Stegun 7.1.26 is too coarse for a KS test of 2e5 draws): by its series. */
function erf(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x);
  let sum = x;
  let term = x;
  for (let k = 1; k < 200; k++) {
    term *= (-x * x) / k;
    sum += term / (2 * k + 1);
    if (Math.abs(term) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
