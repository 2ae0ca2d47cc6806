/**
 * The bounding box of a projection: where in the input a neuron's deconvnet projection is strong.
 */
import type { InputTensor } from '@neuronscope/core';
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
  const pixels = height * width;
  const magnitudes = new Float64Array(pixels);
  // Channel by channel, each pixel's sum still adds its channels in order 0..C-1 (the same bits either layout).
  if (geometry.layout === 'NCHW') {
    for (let c = 0; c < channels; c++) {
      const plane = c * pixels;
      for (let i = 0; i < pixels; i++) magnitudes[i] = magnitudes[i]! + Math.abs(projection[plane + i]!);
    }
    return magnitudes;
  }
  for (let i = 0; i < pixels; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += Math.abs(projection[i * channels + c]!);
    magnitudes[i] = sum;
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
  return magnitudeBox(pixelMagnitudes(projection, geometry), geometry, threshold);
}

/**
 * {@link projectionBox} from the projection's {@link pixelMagnitudes}: several thresholds of one projection need
 * its magnitudes only once.
 */
export function magnitudeBox(
  magnitudes: Float64Array,
  geometry: Pick<InputTensor, 'height' | 'width'>,
  threshold = DEFAULT_BOX_THRESHOLD,
): PixelBox | null {
  let largest = 0;
  for (let i = 0; i < magnitudes.length; i++) if (magnitudes[i]! > largest) largest = magnitudes[i]!;
  const cutoff = threshold * largest;
  // Plain loops: this runs for every projected neuron over every input pixel.
  const { height, width } = geometry;
  let top = Number.POSITIVE_INFINITY;
  let left = Number.POSITIVE_INFINITY;
  let bottom = -1;
  let right = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const m = magnitudes[row + x]!;
      if (m === 0 || m < cutoff) continue;
      if (y < top) top = y;
      bottom = y;
      if (x < left) left = x;
      if (x > right) right = x;
    }
  }
  return bottom < 0 ? null : { top, left, bottom, right };
}
