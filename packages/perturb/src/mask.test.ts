import { type InputTensor, type Layout, UserError } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { blurPlane } from './blur.js';
import { maskFor, readPerturbationTable, renderCopy } from './index.js';
import { baselineFor, mask } from './mask.js';
import { perturbationTable } from './table.js';

const H = 224;
const W = 224;

/** A 3-channel image with structure at every scale, values in [-2, 2]. */
function image(layout: Layout = 'NCHW', height = H, width = W): InputTensor {
  const channels = 3;
  const data = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const noise = (Math.imul(((c * height + y) * width + x) | 0, 0x9e3779b1) >>> 0) / 2 ** 32;
        const value = Math.sin((x + 3 * c) / 9) + Math.cos(y / 13) + (noise - 0.5);
        data[layout === 'NCHW' ? (c * height + y) * width + x : (y * width + x) * channels + c] = value;
      }
    }
  }
  return { data, layout, channels, height, width };
}

function records(params: Record<string, unknown>, samples = 8, seed = 1, input: InputTensor = image()) {
  return readPerturbationTable(perturbationTable({ family: 'mask', samples, seed, params }, input));
}

function render(input: InputTensor, record: ReturnType<typeof records>[number]): Float32Array {
  const out = new Float32Array(input.data.length);
  renderCopy(input, record, out);
  return out;
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('mask', () => {
  it('records RISE params: copy 0 clean, shifts inside one cell', () => {
    const rows = records({}, 400);
    expect(rows[0]!.params).toEqual({
      grid: 7,
      keepProb: 0.5,
      shiftY: 0,
      shiftX: 0,
      baseline: 'zero',
      clean: true,
    });
    const cell = Math.ceil(H / 7); // 32
    const shiftsY = rows.slice(1).map((r) => r.params.shiftY as number);
    const shiftsX = rows.slice(1).map((r) => r.params.shiftX as number);
    for (const shifts of [shiftsY, shiftsX]) {
      expect(shifts.every((s) => Number.isInteger(s) && s >= 0 && s < cell)).toBe(true);
      expect(Math.min(...shifts)).toBe(0);
      expect(Math.max(...shifts)).toBe(cell - 1);
    }
    expect(rows[1]!.params.clean).toBe(false);
  });

  it('makes smooth masks in [0, 1] whose mean over copies is keepProb', () => {
    for (const keepProb of [0.5, 0.3]) {
      const rows = records({ keepProb }, 301);
      let total = 0;
      let outside = 0;
      let fractional = 0;
      for (const row of rows.slice(1)) {
        const m = maskFor(row.params, row.seed, H, W);
        for (const v of m) {
          if (v < 0 || v > 1) outside++;
          if (v > 0 && v < 1) fractional++;
          total += v;
        }
      }
      expect(outside).toBe(0);
      expect(fractional).toBeGreaterThan(0);
      expect(Math.abs(total / (300 * H * W) - keepProb)).toBeLessThan(0.02);
    }
  });

  it('correlates neighbouring pixels and not distant ones', () => {
    const near: [number[], number[]] = [[], []];
    const far: [number[], number[]] = [[], []];
    for (const row of records({}, 101).slice(1)) {
      const m = maskFor(row.params, row.seed, H, W);
      for (let y = 0; y < H; y += 8) {
        for (let x = 0; x < W - 112; x += 8) {
          near[0].push(m[y * W + x]!);
          near[1].push(m[y * W + x + 1]!);
          far[0].push(m[y * W + x]!);
          far[1].push(m[y * W + x + 112]!);
        }
      }
    }
    expect(pearson(...near)).toBeGreaterThan(0.95);
    expect(Math.abs(pearson(...far))).toBeLessThan(0.1);
  });

  it('gives the mask apply() uses: with a zero baseline and x = 1, out is m in every channel', () => {
    const ones: InputTensor = {
      data: new Float32Array(3 * H * W).fill(1),
      layout: 'NCHW',
      channels: 3,
      height: H,
      width: W,
    };
    for (const row of records({}, 4, 9).slice(1)) {
      const out = render(ones, row);
      const m = maskFor(row.params, row.seed, H, W);
      for (let c = 0; c < 3; c++) expect(bytes(out.subarray(c * H * W, (c + 1) * H * W)).equals(bytes(m))).toBe(true);
    }
  });

  it('keeps the clean copy and every pixel when keepProb is 1', () => {
    const input = image();
    const [clean, masked] = records({}, 3);
    expect(maskFor(clean!.params, clean!.seed, H, W).every((v) => v === 1)).toBe(true);
    expect(bytes(render(input, clean!)).equals(bytes(input.data))).toBe(true);
    expect(bytes(render(input, masked!)).equals(bytes(input.data))).toBe(false);
    const all = records({ keepProb: 1 }, 3)[2]!;
    expect(bytes(render(input, all)).equals(bytes(input.data))).toBe(true);
    const noClean = records({ includeClean: false }, 3)[0]!;
    expect(noClean.params.clean).toBe(false);
    expect(bytes(render(input, noClean)).equals(bytes(input.data))).toBe(false);
  });

  it.each(['zero', 'mean', 'blur'] as const)('replaces masked-out pixels by the %s baseline', (baseline) => {
    const input = image();
    const row = records({ baseline }, 3, 4)[1]!;
    const m = maskFor(row.params, row.seed, H, W);
    const out = render(input, row);
    const base = baselineFor(input, baseline, (row.params.blurSigma as number | undefined) ?? 0);
    let masked = 0;
    let kept = 0;
    let mismatches = 0;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < H * W; p++) {
        const o = c * H * W + p;
        const expected = m[p] === 0 ? base[o]! : m[p] === 1 ? input.data[o]! : undefined;
        if (expected === undefined) continue;
        if (m[p] === 0) masked++;
        else kept++;
        if (out[o] !== expected) mismatches++;
      }
    }
    expect(masked).toBeGreaterThan(1000);
    expect(kept).toBeGreaterThan(1000);
    expect(mismatches).toBe(0);
    if (baseline === 'zero') expect(base.every((v) => v === 0)).toBe(true);
    if (baseline === 'blur') expect(row.params.blurSigma).toBe(14); // default min(H, W) / 16
  });

  it('uses the per-channel mean of the image as the mean baseline', () => {
    const input = image();
    const base = baselineFor(input, 'mean', 0);
    for (let c = 0; c < 3; c++) {
      const channel = input.data.subarray(c * H * W, (c + 1) * H * W);
      const mean = channel.reduce((s, v) => s + v, 0) / (H * W);
      const values = base.subarray(c * H * W, (c + 1) * H * W);
      expect(values.every((v) => v === values[0])).toBe(true);
      expect(values[0]).toBeCloseTo(mean, 5);
    }
  });

  it('blurs: smooth, mean-preserving, constant stays constant, equal to the 2-D Gaussian inside', () => {
    const input = image();
    const base = baselineFor(input, 'blur', 14);
    const variation = (a: Float32Array) => {
      let s = 0;
      for (let y = 0; y < H; y++) for (let x = 1; x < W; x++) s += Math.abs(a[y * W + x]! - a[y * W + x - 1]!);
      return s;
    };
    const channel0 = input.data.subarray(0, H * W);
    const blurred0 = base.subarray(0, H * W);
    expect(variation(blurred0)).toBeLessThan(0.05 * variation(channel0));
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean(blurred0) - mean(channel0))).toBeLessThan(0.05);

    const plane = Float64Array.from(channel0);
    const out = new Float64Array(H * W);
    blurPlane(
      Float64Array.from({ length: H * W }, () => 2.5),
      H,
      W,
      14,
      new Float64Array(H * W),
      out,
    );
    expect(out.every((v) => Math.abs(v - 2.5) < 1e-12)).toBe(true);

    blurPlane(plane, H, W, 3, new Float64Array(H * W), out);
    const [cy, cx] = [100, 120];
    let sum = 0;
    let weights = 0;
    for (let dy = -9; dy <= 9; dy++) {
      for (let dx = -9; dx <= 9; dx++) {
        const w = Math.exp(-(dy * dy + dx * dx) / 18);
        sum += w * plane[(cy + dy) * W + cx + dx]!;
        weights += w;
      }
    }
    expect(out[cy * W + cx]).toBeCloseTo(sum / weights, 10);
  });

  it('recomputes the cached baseline when the input changes in place', () => {
    const input = image();
    const before = baselineFor(input, 'blur', 5).slice();
    input.data[1000]! += 50;
    const after = baselineFor(input, 'blur', 5);
    const fresh = baselineFor({ ...input, data: input.data.slice() }, 'blur', 5);
    expect(bytes(after).equals(bytes(before))).toBe(false);
    expect(bytes(after).equals(bytes(fresh))).toBe(true);
  });

  it.each(['zero', 'mean', 'blur'] as const)('gives the same copy in NHWC as in NCHW, transposed (%s)', (baseline) => {
    // Non-square, so a swapped height and width would show.
    const nchw = image('NCHW', 96, 128);
    const nhwc = image('NHWC', 96, 128);
    const rowsA = records({ baseline, grid: 5 }, 4, 2, nchw);
    const rowsB = records({ baseline, grid: 5 }, 4, 2, nhwc);
    expect(rowsB).toEqual(rowsA);
    const a = render(nchw, rowsA[3]!);
    const b = render(nhwc, rowsB[3]!);
    const transposed = new Float32Array(a.length);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 96 * 128; p++) transposed[p * 3 + c] = a[c * 96 * 128 + p]!;
    expect(bytes(transposed).equals(bytes(b))).toBe(true);
  });

  it('is deterministic, and differs between seeds', () => {
    const input = image();
    const a = records({ baseline: 'mean' }, 4, 77);
    const b = records({ baseline: 'mean' }, 4, 77);
    const c = records({ baseline: 'mean' }, 4, 78);
    expect(b).toEqual(a);
    expect(bytes(render(input, b[2]!)).equals(bytes(render(input, a[2]!)))).toBe(true);
    expect(bytes(maskFor(c[2]!.params, c[2]!.seed, H, W)).equals(bytes(maskFor(a[2]!.params, a[2]!.seed, H, W)))).toBe(
      false,
    );
  });

  it('rejects copy params that are not a mask copy', () => {
    const row = records({}, 3)[1]!;
    expect(() => maskFor({ ...row.params, shiftY: 32 }, row.seed, H, W)).toThrow(
      "perturbation 'mask' copy: shiftY must be < 32 (got 32)",
    );
    expect(() => maskFor({ ...row.params, grid: 0 }, row.seed, H, W)).toThrow(UserError);
    expect(() => maskFor({ sigma: 0.1, clean: false }, row.seed, H, W)).toThrow(UserError);
    expect(() => maskFor({ ...row.params, baseline: 'blur' }, row.seed, H, W)).toThrow(/blurSigma/);
    const input = image();
    expect(() =>
      mask.apply(input, { ...row.params, keepProb: 2 }, row.seed, new Float32Array(input.data.length)),
    ).toThrow("perturbation 'mask' copy: keepProb must be <= 1 (got 2)");
  });
});

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
