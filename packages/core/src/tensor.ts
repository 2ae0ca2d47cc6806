/** Memory layout of a 4-D image tensor with batch 1. */
export type Layout = 'NCHW' | 'NHWC';

/**
 * One preprocessed image, exactly as the model takes it (batch dimension 1).
 * `data` has `channels * height * width` elements in `layout` order.
 */
export interface InputTensor {
  readonly data: Float32Array;
  readonly layout: Layout;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** The ONNX dims of `t` with batch size `batch`. */
export function tensorDims(t: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>, batch = 1): number[] {
  return t.layout === 'NCHW' ? [batch, t.channels, t.height, t.width] : [batch, t.height, t.width, t.channels];
}

/** Offset of element (c, y, x) in a tensor of this layout. */
export function tensorOffset(
  t: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>,
  c: number,
  y: number,
  x: number,
): number {
  return t.layout === 'NCHW' ? (c * t.height + y) * t.width + x : (y * t.width + x) * t.channels + c;
}
