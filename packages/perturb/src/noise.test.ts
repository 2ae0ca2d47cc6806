import { createHash } from 'node:crypto';
import type { InputTensor, Layout } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { readPerturbationTable, renderCopy } from './index.js';
import { perturbationTable } from './table.js';

const CHANNELS = 4;
const SIZE = 160; // 4 x 160 x 160 = 102,400 elements

/** A deterministic image with values in [0.5, 1.5): far from 0, so out / x is well conditioned. */
function image(layout: Layout = 'NCHW'): InputTensor {
  const data = new Float32Array(CHANNELS * SIZE * SIZE);
  for (let i = 0; i < data.length; i++) data[i] = 0.5 + (Math.imul(i + 1, 0x9e3779b1) >>> 0) / 2 ** 32;
  return { data, layout, channels: CHANNELS, height: SIZE, width: SIZE };
}

function renderAll(family: string, params: Record<string, unknown>, input: InputTensor, seed = 5, samples = 6) {
  const records = readPerturbationTable(perturbationTable({ family, samples, seed, params }, input));
  return records.map((record) => {
    const out = new Float32Array(input.data.length);
    renderCopy(input, record, out);
    return { record, out };
  });
}

function meanStd(values: Float64Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function correlation(a: Float64Array, b: Float64Array): number {
  const { mean: ma, std: sa } = meanStd(a);
  const { mean: mb, std: sb } = meanStd(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - ma) * (b[i]! - mb);
  return s / a.length / (sa * sb);
}

describe('paper', () => {
  const input = image();
  const copies = renderAll('paper', {}, input);

  it('leaves copy 0 exactly the clean input', () => {
    expect(copies[0]!.record.params).toEqual({ sigma: 0.1, scale: 0 });
    expect(bytes(copies[0]!.out).equals(bytes(input.data))).toBe(true);
  });

  it('makes copy i = x * (1 + i * eps) with eps ~ N(0, 0.1^2)', () => {
    const eps: Float64Array[] = [];
    for (const i of [1, 2, 5]) {
      const { record, out } = copies[i]!;
      expect(record.params).toEqual({ sigma: 0.1, scale: i });
      const e = Float64Array.from(out, (v, k) => (v / input.data[k]! - 1) / i);
      const { mean, std } = meanStd(e);
      expect(Math.abs(mean)).toBeLessThan(0.002);
      expect(Math.abs(std / 0.1 - 1)).toBeLessThan(0.02);
      eps.push(e);
    }
    // A fresh eps for every copy.
    expect(Math.abs(correlation(eps[0]!, eps[1]!))).toBeLessThan(0.02);
  });

  it('uses the configured sigma', () => {
    const { out } = renderAll('paper', { sigma: 0.03 }, input)[3]!;
    const { std } = meanStd(Float64Array.from(out, (v, k) => (v / input.data[k]! - 1) / 3));
    expect(Math.abs(std / 0.03 - 1)).toBeLessThan(0.02);
  });

  it('without maxScale: records and copies byte-identical to the scheme before maxScale existed', () => {
    // Hash taken from the implementation before maxScale was added (same input, seed 5, 6 copies).
    const hash = createHash('sha256');
    for (const { record, out } of copies) {
      hash.update(JSON.stringify(record));
      hash.update(bytes(out));
    }
    expect(hash.digest('hex')).toBe('87f76efa3652e15f2ea6458e658a9776332836a6f1384926c67b4fb1a52980ef');
    // The last copy's scale grows with N.
    expect(renderAll('paper', {}, input, 5, 11)[10]!.record.params).toEqual({ sigma: 0.1, scale: 10 });
  });

  it('with maxScale: copy i has scale i * maxScale / (N - 1), the last copy the same whatever N', () => {
    for (const samples of [3, 6, 11]) {
      const scaled = renderAll('paper', { maxScale: 4 }, input, 5, samples);
      scaled.forEach(({ record }, i) => {
        expect(record.params).toEqual({ sigma: 0.1, scale: (i * 4) / (samples - 1) });
      });
      const last = scaled[samples - 1]!;
      expect(last.record.params).toEqual({ sigma: 0.1, scale: 4 });
      // out = x * (1 + 4 * eps): the recovered eps has std sigma.
      const { std } = meanStd(Float64Array.from(last.out, (v, k) => (v / input.data[k]! - 1) / 4));
      expect(Math.abs(std / 0.1 - 1)).toBeLessThan(0.02);
      expect(bytes(scaled[0]!.out).equals(bytes(input.data))).toBe(true);
    }
    // Copy 2 of 6 under maxScale 5 is scale 2, the same copy as the paper's copy 2 (same seed and eps).
    const same = renderAll('paper', { maxScale: 5 }, input, 5, 6)[2]!;
    expect(same.record).toEqual(copies[2]!.record);
    expect(bytes(same.out).equals(bytes(copies[2]!.out))).toBe(true);
  });

  it('rejects a non-positive maxScale', () => {
    expect(() => renderAll('paper', { maxScale: 0 }, input)).toThrow(/maxScale must be > 0/);
  });
});

describe.each([
  { family: 'gaussian', noise: (out: number, x: number) => out - x },
  { family: 'multiplicative', noise: (out: number, x: number) => out / x - 1 },
])('$family', ({ family, noise }) => {
  const input = image();

  it('makes copy 0 clean by default and adds N(0, sigma^2) noise to the others', () => {
    const copies = renderAll(family, {}, input);
    expect(copies[0]!.record.params).toEqual({ sigma: 0.1, clean: true });
    expect(bytes(copies[0]!.out).equals(bytes(input.data))).toBe(true);
    const eps: Float64Array[] = [];
    for (const i of [1, 4]) {
      const { record, out } = copies[i]!;
      expect(record.params).toEqual({ sigma: 0.1, clean: false });
      const e = Float64Array.from(out, (v, k) => noise(v, input.data[k]!));
      const { mean, std } = meanStd(e);
      expect(Math.abs(mean)).toBeLessThan(0.002);
      expect(Math.abs(std / 0.1 - 1)).toBeLessThan(0.02);
      eps.push(e);
    }
    expect(Math.abs(correlation(eps[0]!, eps[1]!))).toBeLessThan(0.02);
  });

  it('perturbs copy 0 too when includeClean is false, with the configured sigma', () => {
    const { record, out } = renderAll(family, { sigma: 0.25, includeClean: false }, input)[0]!;
    expect(record.params).toEqual({ sigma: 0.25, clean: false });
    const { std } = meanStd(Float64Array.from(out, (v, k) => noise(v, input.data[k]!)));
    expect(Math.abs(std / 0.25 - 1)).toBeLessThan(0.02);
  });
});

describe.each(['paper', 'gaussian', 'multiplicative'])('%s determinism and layout', (family) => {
  it('gives byte-identical copies for the same spec and different ones for another seed', () => {
    const input = image();
    const first = renderAll(family, {}, input, 11, 4);
    const again = renderAll(family, {}, input, 11, 4);
    const other = renderAll(family, {}, input, 12, 4);
    for (let i = 0; i < 4; i++) {
      expect(again[i]!.record).toEqual(first[i]!.record);
      expect(bytes(again[i]!.out).equals(bytes(first[i]!.out))).toBe(true);
    }
    expect(other[2]!.record.seed).not.toBe(first[2]!.record.seed);
    expect(bytes(other[2]!.out).equals(bytes(first[2]!.out))).toBe(false);
  });

  it('gives the same copy in NHWC as in NCHW, transposed', () => {
    const nchw = image('NCHW');
    const nhwc = image('NHWC');
    nhwc.data.set(toNHWC(nchw.data, CHANNELS, SIZE, SIZE));
    const a = renderAll(family, {}, nchw, 3, 3)[2]!.out;
    const b = renderAll(family, {}, nhwc, 3, 3)[2]!.out;
    expect(bytes(toNHWC(a, CHANNELS, SIZE, SIZE)).equals(bytes(b))).toBe(true);
  });
});

function toNHWC(nchw: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(nchw.length);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < height * width; p++) out[p * channels + c] = nchw[c * height * width + p]!;
  }
  return out;
}

describe('the box-muller generator (normals: box-muller)', () => {
  it('new runs get it; runs recorded without it keep polar', async () => {
    const { currentPerturbation, resolvePerturbation } = await import('./registry.js');
    for (const family of ['paper', 'gaussian', 'multiplicative']) {
      const spec = { family, samples: 5, seed: 1, params: {} };
      expect(currentPerturbation(spec).params.normals).toBe('box-muller');
      expect(resolvePerturbation(spec).params.normals).toBeUndefined();
      expect(currentPerturbation({ ...spec, params: { normals: 'polar' } }).params.normals).toBe('polar');
    }
    expect(currentPerturbation({ family: 'mask', samples: 5, seed: 1, params: {} }).params.normals).toBeUndefined();
  });

  it('renders paper copy i = x * (1 + i sigma z) with the kernel normals, and the same values in NHWC', async () => {
    const { boxMuller } = await import('./simd-normals.js');
    const input = image();
    const copies = renderAll('paper', { sigma: 0.1, normals: 'box-muller' }, input, 3, 4);
    expect(bytes(copies[0]!.out).equals(bytes(input.data))).toBe(true);
    const { record, out } = copies[3]!;
    const z = new Float32Array(input.data.length);
    boxMuller(record.seed, z);
    const f = Math.fround;
    for (let i = 0; i < 1000; i++) {
      expect(out[i]).toBe(f(input.data[i]! * f(1 + f(f(3 * 0.1) * z[i]!))));
    }
    const polar = renderAll('paper', { sigma: 0.1 }, input, 3, 4)[3]!.out;
    expect(bytes(polar).equals(bytes(out))).toBe(false);
    // NHWC: element (c, y, x) gets the value it gets in NCHW.
    const nchw = input.data;
    const nhwc = new Float32Array(nchw.length);
    for (let c = 0; c < CHANNELS; c++)
      for (let y = 0; y < SIZE; y++)
        for (let x = 0; x < SIZE; x++) nhwc[(y * SIZE + x) * CHANNELS + c] = nchw[(c * SIZE + y) * SIZE + x]!;
    const nhwcInput = { ...input, layout: 'NHWC' as const, data: nhwc };
    const outNhwc = renderAll('paper', { sigma: 0.1, normals: 'box-muller' }, nhwcInput, 3, 4)[3]!.out;
    for (let c = 0; c < CHANNELS; c += 3)
      for (let y = 0; y < SIZE; y += 7)
        for (let x = 0; x < SIZE; x += 5)
          expect(outNhwc[(y * SIZE + x) * CHANNELS + c]).toBe(out[(c * SIZE + y) * SIZE + x]);
  });

  it('gaussian and multiplicative copies: x + sigma z and x (1 + sigma z)', async () => {
    const { boxMuller } = await import('./simd-normals.js');
    const input = image();
    const z = new Float32Array(input.data.length);
    const f = Math.fround;
    const g = renderAll('gaussian', { sigma: 0.2, normals: 'box-muller' }, input, 9, 3)[2]!;
    boxMuller(g.record.seed, z);
    for (let i = 0; i < 500; i++) expect(g.out[i]).toBe(f(input.data[i]! + f(f(0.2) * z[i]!)));
    const m = renderAll('multiplicative', { sigma: 0.2, normals: 'box-muller' }, input, 9, 3)[2]!;
    boxMuller(m.record.seed, z);
    for (let i = 0; i < 500; i++) expect(m.out[i]).toBe(f(input.data[i]! * f(1 + f(f(0.2) * z[i]!))));
  });
});
