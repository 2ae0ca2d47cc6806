/**
 * The bounding box of a projection: where in the input a neuron's deconvnet projection is strong.
 */
import { type InputTensor, tensorOffset } from '@neuronscope/core';
import type { PixelBox } from '../receptive-field.js';

/**
 * Default {@link projectionBox} threshold: a tenth of the strongest pixel. The box of every nonzero pixel is no
 * answer: with nearest unpooling (and, through the many switches of a deep unit, with switches too) some signal
 * reaches nearly every pixel of the unit's receptive field, so that box is the receptive field box (measured on
 * SqueezeNet 1.1); a tenth of the maximum keeps where the projection is strong.
 */
export const DEFAULT_BOX_THRESHOLD = 0.1;

/**
 * Per pixel, |projection| summed over the input channels (`projection` is in `geometry`'s layout), row-major
 * `height` x `width`.
 */
export function pixelMagnitudes(
  projection: Float32Array,
  geometry: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>,
): Float64Array {
  const { channels, height, width } = geometry;
  const magnitudes = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += Math.abs(projection[tensorOffset(geometry, c, y, x)]!);
      magnitudes[y * width + x] = sum;
    }
  }
  return magnitudes;
}

/**
 * The smallest box holding every pixel whose magnitude (|projection| summed over input channels) is nonzero and
 * at least `threshold` times the largest; `threshold` 0 takes every nonzero pixel. Null for an all-zero
 * projection.
 */
export function projectionBox(
  projection: Float32Array,
  geometry: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>,
  threshold = DEFAULT_BOX_THRESHOLD,
): PixelBox | null {
  const magnitudes = pixelMagnitudes(projection, geometry);
  const cutoff = threshold * magnitudes.reduce((a, b) => Math.max(a, b), 0);
  let [top, left, bottom, right] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, -1, -1];
  magnitudes.forEach((m, i) => {
    if (m === 0 || m < cutoff) return;
    const y = Math.floor(i / geometry.width);
    const x = i % geometry.width;
    top = Math.min(top, y);
    bottom = Math.max(bottom, y);
    left = Math.min(left, x);
    right = Math.max(right, x);
  });
  return bottom < 0 ? null : { top, left, bottom, right };
}
