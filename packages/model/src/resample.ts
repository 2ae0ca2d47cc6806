/**
 * Pixel operations that reproduce Pillow bit for bit, because the models were trained on, and their
 * reference predictions measured with, torchvision's PIL pipeline. sharp's own 'linear' resize differs
 * by up to 2 levels on about 20% of the pixels, enough to flip close top-1 calls.
 */

/** 8-bit interleaved pixels (HWC). */
export interface Pixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

// Pillow's fixed-point precision for 8-bit resampling (Resample.c: 32 - 8 - 2).
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output position: the first input index and the fixed-point weights of the taps from there. */
interface Taps {
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly weights: Int32Array;
  readonly stride: number;
}

/**
 * Pillow's `precompute_coeffs` for the bilinear (triangle) filter, antialiased when shrinking, for the output
 * positions `from .. to - 1` of an `outSize` output (entry 0 is position `from`): a crop needs only its own.
 */
function bilinearTaps(inSize: number, outSize: number, from = 0, to = outSize): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1, widened by the shrink factor
  const stride = Math.ceil(support) * 2 + 1;
  const positions = to - from;
  const first = new Int32Array(positions);
  const count = new Int32Array(positions);
  const weights = new Int32Array(positions * stride);
  const k = new Float64Array(stride);
  for (let p = 0; p < positions; p++) {
    const center = (p + from + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const t = Math.abs((i + lo - center + 0.5) / filterScale);
      k[i] = t < 1 ? 1 - t : 0;
      sum += k[i] as number;
    }
    first[p] = lo;
    count[p] = n;
    for (let i = 0; i < n; i++) {
      const w = sum !== 0 ? (k[i] as number) / sum : (k[i] as number);
      weights[p * stride + i] = Math.trunc(w * (1 << PRECISION_BITS) + (w < 0 ? -0.5 : 0.5));
    }
  }
  return { first, count, weights, stride };
}

// Bilinear weights are never negative and sum to 1, so acc stays below 2^31 and `>>` is safe.
const clip8 = (acc: number) => Math.min(255, Math.max(0, acc >> PRECISION_BITS));

/** Pillow's `Image.resize(size, BILINEAR)`: a horizontal pass, then a vertical one, each rounded to 8 bits. */
export function resizeBilinear(src: Pixels, width: number, height: number): Pixels {
  return resizeBilinearRegion(src, width, height, { left: 0, top: 0, width, height });
}

/** The columns `left .. left + width - 1` of Pillow's horizontal pass to `outWidth`, for input rows `rows`. */
function horizontalPass(src: Pixels, outWidth: number, left: number, width: number, rows: [number, number]): Pixels {
  const c = src.channels;
  const taps = bilinearTaps(src.width, outWidth, left, left + width);
  const height = rows[1] - rows[0];
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const row = (y + rows[0]) * src.width;
    for (let x = 0; x < width; x++) {
      const lo = taps.first[x] as number;
      const n = taps.count[x] as number;
      const base = x * taps.stride;
      for (let ch = 0; ch < c; ch++) {
        let acc = HALF;
        for (let i = 0; i < n; i++)
          acc += (src.data[(row + lo + i) * c + ch] as number) * (taps.weights[base + i] as number);
        out[(y * width + x) * c + ch] = clip8(acc);
      }
    }
  }
  return { data: out, width, height, channels: c };
}

/** The rows `top .. top + height - 1` of Pillow's vertical pass to `outHeight`; `src` holds input rows from `firstRow`. */
function verticalPass(
  src: Pixels,
  outHeight: number,
  inHeight: number,
  top: number,
  height: number,
  firstRow: number,
): Pixels {
  const taps = bilinearTaps(inHeight, outHeight, top, top + height);
  const rowLength = src.width * src.channels;
  const out = new Uint8Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    const lo = (taps.first[y] as number) - firstRow;
    const n = taps.count[y] as number;
    const base = y * taps.stride;
    for (let j = 0; j < rowLength; j++) {
      let acc = HALF;
      for (let i = 0; i < n; i++)
        acc += (src.data[(lo + i) * rowLength + j] as number) * (taps.weights[base + i] as number);
      out[y * rowLength + j] = clip8(acc);
    }
  }
  return { data: out, width: src.width, height, channels: src.channels };
}

/**
 * The region `region` of Pillow's bilinear resize of `src` to `width` x `height`, bit for bit, computing only that
 * region (and the input rows it needs): a centre crop of a very elongated image costs the crop, not the resize.
 */
export function resizeBilinearRegion(
  src: Pixels,
  width: number,
  height: number,
  region: { left: number; top: number; width: number; height: number },
): Pixels {
  const resizeRows = height !== src.height;
  // The input rows the vertical pass reads (all of them when the height does not change).
  let rows: [number, number] = [region.top, region.top + region.height];
  if (resizeRows) {
    const taps = bilinearTaps(src.height, height, region.top, region.top + region.height);
    const last = region.height - 1;
    rows = [taps.first[0]!, taps.first[last]! + taps.count[last]!];
  }
  const wide =
    width !== src.width
      ? horizontalPass(src, width, region.left, region.width, rows)
      : crop(src, region.left, rows[0], region.width, rows[1] - rows[0]);
  return resizeRows ? verticalPass(wide, height, src.height, region.top, region.height, rows[0]) : wide;
}

/** The `width` x `height` region at (`left`, `top`); it must lie inside the image. */
export function crop(src: Pixels, left: number, top: number, width: number, height: number): Pixels {
  if (left < 0 || top < 0 || left + width > src.width || top + height > src.height) {
    throw new Error(`crop ${width}x${height}+${left}+${top} outside a ${src.width}x${src.height} image`);
  }
  const c = src.channels;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * src.width + left) * c;
    out.set(src.data.subarray(from, from + width * c), y * width * c);
  }
  return { data: out, width, height, channels: c };
}

/** Pillow's RGB -> L conversion (ITU-R 601-2 luma, 16-bit fixed point); grey RGB maps to itself. */
export function rgbToGray(src: Pixels): Pixels {
  if (src.channels !== 3) throw new Error(`rgbToGray needs 3 channels, got ${src.channels}`);
  const n = src.width * src.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = src.data[3 * i] as number;
    const g = src.data[3 * i + 1] as number;
    const b = src.data[3 * i + 2] as number;
    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
  return { data: out, width: src.width, height: src.height, channels: 1 };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's `Resize(shorter)` then `CenterCrop([height, width])` on PIL images: the shorter side
 * becomes `shorter`, the longer one `int(shorter * long / short)`, and the crop is centred with
 * Python rounding.
 */
export function resizeShorterAndCenterCrop(src: Pixels, shorter: number, height: number, width: number): Pixels {
  const landscape = src.width > src.height;
  const resizedW = landscape ? Math.floor((shorter * src.width) / src.height) : shorter;
  const resizedH = landscape ? shorter : Math.floor((shorter * src.height) / src.width);
  const left = roundHalfToEven((resizedW - width) / 2);
  const top = roundHalfToEven((resizedH - height) / 2);
  if (left < 0 || top < 0) throw new Error(`crop ${width}x${height} outside a ${resizedW}x${resizedH} image`);
  return resizeBilinearRegion(src, resizedW, resizedH, { left, top, width, height });
}
