import { type InputTensor, UserError } from '@neuronscope/core';
import { z } from 'zod';
import { blurPlane } from './blur.js';
import { checkBuffers, layoutStrides, type PerturbationFamily, parseParams, type TensorShape } from './family.js';
import { Xoshiro128ss } from './rng.js';

/**
 * What masked-out pixels become, in model-input space: `zero` (for mean/std-normalised inputs that is the
 * dataset mean colour, not black), `mean` (the image's own per-channel mean), `blur` (a Gaussian blur of the
 * image, per channel).
 */
export type MaskBaseline = 'zero' | 'mean' | 'blur';

const MaskParams = z.strictObject({
  /** s: the random binary grid is s x s cells. */
  grid: z.number().int().min(2).default(7),
  /** p: probability that a cell is kept (mask 1). */
  keepProb: z.number().gt(0).lte(1).default(0.5),
  baseline: z.enum(['zero', 'mean', 'blur']).default('zero'),
  /** Std in pixels of the `blur` baseline; default {@link defaultBlurSigma}. Ignored by other baselines. */
  blurSigma: z.number().positive().optional(),
  /** Copy 0 is the clean input (mask 1 everywhere), so the clean image is always part of the sample. */
  includeClean: z.boolean().default(true),
});
export type MaskParams = z.infer<typeof MaskParams>;

const MaskCopyParams = z.strictObject({
  grid: z.number().int().min(2),
  keepProb: z.number().gt(0).lte(1),
  /** Crop offset into the upsampled mask, in [0, ceil(H/grid)). */
  shiftY: z.number().int().min(0),
  /** Crop offset into the upsampled mask, in [0, ceil(W/grid)). */
  shiftX: z.number().int().min(0),
  baseline: z.enum(['zero', 'mean', 'blur']),
  /** Present exactly when the baseline is `blur`. */
  blurSigma: z.number().positive().optional(),
  clean: z.boolean(),
});
type MaskCopyParams = z.infer<typeof MaskCopyParams>;

/** Blur std used when the config gives none: min(H, W) / 16 pixels, 14 for a 224 x 224 input. */
export function defaultBlurSigma(height: number, width: number): number {
  return Math.min(height, width) / 16;
}

/** RISE's cell size: the s x s grid is upsampled to (s + 1) cells of this size, so any crop shift stays inside. */
function cellSize(grid: number, height: number, width: number): { cellHeight: number; cellWidth: number } {
  return { cellHeight: Math.ceil(height / grid), cellWidth: Math.ceil(width / grid) };
}

/**
 * RISE (Petsiuk, Das & Saenko, 2018): a random s x s grid of cells kept with probability p, upsampled
 * bilinearly to (s+1)*ceil(H/s) x (s+1)*ceil(W/s) and cropped to H x W at a random shift, gives a smooth mask
 * m in [0, 1]; out = m * x + (1 - m) * baseline, with the same m for every channel. Copy 0 is clean by default.
 *
 * Each copy's stream: draw 0 is shiftY, draw 1 is shiftX (both recorded), draws 2.. are the grid cells in
 * row-major order.
 */
export const mask: PerturbationFamily<MaskParams> = {
  name: 'mask',
  summary: 'RISE masks: random grid x grid cells kept with keepProb, upsampled and shifted (grid=7, keepProb=0.5)',
  params: MaskParams,
  describeCopy(p, copy, copySeed, _samples, shape: TensorShape) {
    const clean = p.includeClean && copy === 0;
    const { cellHeight, cellWidth } = cellSize(p.grid, shape.height, shape.width);
    let shiftY = 0;
    let shiftX = 0;
    if (!clean) {
      const rng = Xoshiro128ss.fromSeed(copySeed);
      shiftY = rng.below(cellHeight);
      shiftX = rng.below(cellWidth);
    }
    const blur = p.baseline === 'blur' ? { blurSigma: p.blurSigma ?? defaultBlurSigma(shape.height, shape.width) } : {};
    return { grid: p.grid, keepProb: p.keepProb, shiftY, shiftX, baseline: p.baseline, ...blur, clean };
  },
  apply(input: InputTensor, copyParams: Record<string, unknown>, copySeed: number, out: Float32Array): void {
    checkBuffers(input, out);
    const p = parseMaskCopy(copyParams, input.height, input.width);
    if (p.clean) {
      out.set(input.data);
      return;
    }
    const { height, width, data } = input;
    const m = maskScratch(height * width);
    writeMask(p, copySeed, height, width, m);
    const base = baselineFor(input, p.baseline, p.blurSigma ?? 0);
    const { channel: cs, row: ys, column: xs } = layoutStrides(input);
    for (let c = 0; c < input.channels; c++) {
      for (let y = 0; y < height; y++) {
        let o = c * cs + y * ys;
        let pixel = y * width;
        for (let x = 0; x < width; x++, o += xs, pixel++) {
          const keep = m[pixel]!;
          out[o] = keep * data[o]! + (1 - keep) * base[o]!;
        }
      }
    }
  },
};

/**
 * The height x width mask m (row-major, values in [0, 1]) of a `mask` copy, from its recorded params and seed:
 * the weight of the original pixel in that copy (all ones for the clean copy). Throws a UserError if the
 * params are not a `mask` copy's.
 */
export function maskFor(
  copyParams: Record<string, unknown>,
  copySeed: number,
  height: number,
  width: number,
): Float32Array {
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) {
    throw new RangeError(`maskFor: bad size ${height}x${width}`);
  }
  const out = new Float32Array(height * width);
  writeMask(parseMaskCopy(copyParams, height, width), copySeed, height, width, out);
  return out;
}

function parseMaskCopy(copyParams: Record<string, unknown>, height: number, width: number): MaskCopyParams {
  const context = "perturbation 'mask' copy";
  const p = parseParams(MaskCopyParams, copyParams, context);
  const { cellHeight, cellWidth } = cellSize(p.grid, height, width);
  if (p.shiftY >= cellHeight) throw new UserError(`${context}: shiftY must be < ${cellHeight} (got ${p.shiftY})`);
  if (p.shiftX >= cellWidth) throw new UserError(`${context}: shiftX must be < ${cellWidth} (got ${p.shiftX})`);
  if ((p.baseline === 'blur') !== (p.blurSigma !== undefined)) {
    throw new UserError(`${context}: blurSigma must be given exactly when the baseline is blur`);
  }
  return p;
}

/** Reflects an index that is one step outside [0, n) back inside, as skimage's `mode='reflect'` does. */
function mirror(i: number, n: number): number {
  if (i < 0) return Math.min(-i, n - 1);
  if (i >= n) return Math.max(2 * n - 2 - i, 0);
  return i;
}

/**
 * Writes the mask into `out` (height * width). Bilinear upsampling with pixel centres at half-integers and
 * mirrored edges, as RISE's reference code (skimage `resize(order=1, mode='reflect')`); only the cropped
 * window is computed, rows after columns.
 */
function writeMask(p: MaskCopyParams, copySeed: number, height: number, width: number, out: Float32Array): void {
  if (p.clean) {
    out.fill(1);
    return;
  }
  const s = p.grid;
  const rng = Xoshiro128ss.fromSeed(copySeed);
  rng.nextInt32(); // draw 0: shiftY, recorded by describeCopy
  rng.nextInt32(); // draw 1: shiftX
  const cells = new Float64Array(s * s);
  for (let k = 0; k < s * s; k++) cells[k] = rng.nextFloat() < p.keepProb ? 1 : 0;

  const { cellHeight, cellWidth } = cellSize(s, height, width);
  const upHeight = (s + 1) * cellHeight;
  const upWidth = (s + 1) * cellWidth;
  // Each grid row interpolated along x at the window's columns.
  const alongX = new Float64Array(s * width);
  for (let x = 0; x < width; x++) {
    const source = ((x + p.shiftX + 0.5) * s) / upWidth - 0.5;
    const j = Math.floor(source);
    const t = source - j;
    const j0 = mirror(j, s);
    const j1 = mirror(j + 1, s);
    for (let i = 0; i < s; i++) {
      const a = cells[i * s + j0]!;
      alongX[i * width + x] = a + t * (cells[i * s + j1]! - a);
    }
  }
  for (let y = 0; y < height; y++) {
    const source = ((y + p.shiftY + 0.5) * s) / upHeight - 0.5;
    const i = Math.floor(source);
    const t = source - i;
    const row0 = mirror(i, s) * width;
    const row1 = mirror(i + 1, s) * width;
    for (let x = 0; x < width; x++) {
      const a = alongX[row0 + x]!;
      const v = a + t * (alongX[row1 + x]! - a);
      // Convex combinations of 0 and 1, clamped against rounding.
      out[y * width + x] = Math.min(Math.max(v, 0), 1);
    }
  }
}

let maskBuffer = new Float32Array(0);

/** A reused mask buffer: apply() runs synchronously, so one is enough. */
function maskScratch(size: number): Float32Array {
  if (maskBuffer.length !== size) maskBuffer = new Float32Array(size);
  return maskBuffer;
}

interface CachedBaseline {
  readonly kind: MaskBaseline;
  readonly blurSigma: number;
  readonly shape: TensorShape;
  /** Bit pattern of the input the baseline was computed from. */
  readonly source: Uint32Array;
  readonly values: Float32Array;
}

/** The last baseline computed: every copy of a run has the same input, and a blur costs tens of ms. */
let cachedBaseline: CachedBaseline | undefined;

/**
 * The baseline tensor for `input` (same layout), computed in (c, y, x) order so it does not depend on the
 * layout. Cached against the input's exact bits; the returned array must not be modified.
 */
export function baselineFor(input: InputTensor, kind: MaskBaseline, blurSigma: number): Float32Array {
  const { data, layout, channels, height, width } = input;
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const hit = cachedBaseline;
  if (
    hit &&
    hit.kind === kind &&
    hit.blurSigma === blurSigma &&
    hit.shape.layout === layout &&
    hit.shape.channels === channels &&
    hit.shape.height === height &&
    hit.shape.width === width &&
    sameBits(hit.source, bits)
  ) {
    return hit.values;
  }
  const values = new Float32Array(data.length);
  if (kind !== 'zero') {
    const { channel: cs, row: ys, column: xs } = layoutStrides(input);
    const plane = new Float64Array(height * width);
    const scratch = new Float64Array(height * width);
    const blurred = new Float64Array(height * width);
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let y = 0; y < height; y++) {
        let o = c * cs + y * ys;
        for (let x = 0; x < width; x++, o += xs) {
          const v = data[o]!;
          plane[y * width + x] = v;
          sum += v;
        }
      }
      if (kind === 'mean') blurred.fill(sum / (height * width));
      else blurPlane(plane, height, width, blurSigma, scratch, blurred);
      for (let y = 0; y < height; y++) {
        let o = c * cs + y * ys;
        for (let x = 0; x < width; x++, o += xs) values[o] = blurred[y * width + x]!;
      }
    }
  }
  cachedBaseline = { kind, blurSigma, shape: { layout, channels, height, width }, source: bits.slice(), values };
  return values;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
