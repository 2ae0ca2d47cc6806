/**
 * Deconvnet projections as pictures: a neuron's projection onto the model input (`deconv.parquet`) drawn as Zeiler
 * and Fergus draw theirs, grey where it is zero and colour (or light and dark) where it pushes the pixels, inside a
 * square window around its box, the box outlined. A small PNG per neuron (one pixel per input pixel, at most
 * {@link MAX_PROJECTION_SIDE} on a side), drawn in an SVG whose coordinates are the model input's.
 */
import type { DeconvMetadata, DeconvRow, Preprocessing } from '@neuronscope/core';
import sharp from 'sharp';
import { escapeHtml } from './html.js';
import { fieldOutline, windowAround } from './overlays.js';
import type { Rect } from './visual.js';

/** Longest side of a projection's PNG, in pixels: a larger window is shrunk to it. */
export const MAX_PROJECTION_SIDE = 96;

/** A projection ready to draw. */
export interface RenderedProjection {
  readonly row: DeconvRow;
  /** The window shown, in model-input pixels (whole pixels). */
  readonly window: Rect;
  /** The window's picture as a PNG data URI. */
  readonly dataUri: string;
}

/**
 * Per pixel of `window`, the projection in pixel units (times each channel's std), channel-major; and its peak |value|
 * over the whole projection (a window never makes a weak projection look strong).
 */
function pixelValues(row: DeconvRow, meta: DeconvMetadata, window: Rect, std: readonly number[]) {
  const values = new Float64Array(meta.channels * window.width * window.height);
  const s = row.support;
  let peak = 0;
  if (!s) return { values, peak };
  const inside = (y: number, x: number) =>
    y >= window.y && y < window.y + window.height && x >= window.x && x < window.x + window.width;
  let i = 0;
  for (let c = 0; c < meta.channels; c++) {
    const scale = std[c] ?? std[0] ?? 1;
    for (let y = s.top; y <= s.bottom; y++) {
      for (let x = s.left; x <= s.right; x++) {
        const v = row.projection[i++]! * scale;
        peak = Math.max(peak, Math.abs(v));
        if (inside(y, x)) values[(c * window.height + y - window.y) * window.width + x - window.x] = v;
      }
    }
  }
  return { values, peak };
}

/** RGB of the window: 128 + 127 · value / peak per channel, in display order (BGR tensors reversed, grey repeated). */
function windowRgb(values: Float64Array, peak: number, channels: number, pixels: number, bgr: boolean): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    for (let k = 0; k < 3; k++) {
      const c = channels === 1 ? 0 : bgr ? 2 - k : k;
      const v = peak > 0 ? values[c * pixels + i]! / peak : 0;
      rgb[i * 3 + k] = Math.round(128 + 127 * Math.max(-1, Math.min(1, v)));
    }
  }
  return rgb;
}

/** Whole-pixel window around the row's box (its support, when the box is missing), at least `minShare` of the input. */
function projectionWindow(row: DeconvRow, meta: DeconvMetadata, minShare: number): Rect {
  const b = row.box ?? row.support ?? { top: 0, left: 0, bottom: meta.inputHeight - 1, right: meta.inputWidth - 1 };
  const r = { x: b.left, y: b.top, width: b.right - b.left + 1, height: b.bottom - b.top + 1 };
  const w = windowAround(r, meta.inputWidth, meta.inputHeight, minShare);
  const x = Math.floor(w.x);
  const y = Math.floor(w.y);
  return {
    x,
    y,
    width: Math.min(meta.inputWidth, Math.ceil(w.x + w.width)) - x,
    height: Math.min(meta.inputHeight, Math.ceil(w.y + w.height)) - y,
  };
}

/** Renders one row's projection (see the module comment); `pre` gives the channels' std and order. */
export async function renderProjection(
  row: DeconvRow,
  meta: DeconvMetadata,
  pre: Pick<Preprocessing, 'std' | 'channelOrder'>,
  minShare = 0.2,
): Promise<RenderedProjection> {
  const window = projectionWindow(row, meta, minShare);
  const { values, peak } = pixelValues(row, meta, window, pre.std);
  const rgb = windowRgb(values, peak, meta.channels, window.width * window.height, pre.channelOrder === 'BGR');
  let image = sharp(rgb, { raw: { width: window.width, height: window.height, channels: 3 } });
  const side = Math.max(window.width, window.height);
  if (side > MAX_PROJECTION_SIDE) {
    image = image.resize({ width: MAX_PROJECTION_SIDE, height: MAX_PROJECTION_SIDE, fit: 'inside' });
  } else if (side * 2 <= MAX_PROJECTION_SIDE) {
    // Small windows are enlarged by whole pixels, so every renderer shows the input's pixels sharp, not blurred.
    const factor = Math.floor(MAX_PROJECTION_SIDE / side);
    image = image.resize({ width: window.width * factor, height: window.height * factor, kernel: 'nearest' });
  }
  const png = await image.png({ compressionLevel: 9 }).toBuffer();
  return { row, window, dataUri: `data:image/png;base64,${png.toString('base64')}` };
}

/** The projection in an SVG of model-input coordinates, its box outlined in `color`. */
export function projectionSvg(p: RenderedProjection, color: string, label: string): string {
  const w = p.window;
  const b = p.row.box;
  const outline = b
    ? fieldOutline({ x: b.left, y: b.top, width: b.right - b.left + 1, height: b.bottom - b.top + 1 }, w, color)
    : '';
  return (
    `<svg class="patch projection" viewBox="${w.x} ${w.y} ${w.width} ${w.height}" width="${w.width}" height="${w.height}" ` +
    `preserveAspectRatio="xMidYMid meet" role="img" aria-label="${escapeHtml(label)}">` +
    `<image href="${p.dataUri}" x="${w.x}" y="${w.y}" width="${w.width}" height="${w.height}" preserveAspectRatio="none"/>` +
    `${outline}</svg>`
  );
}
