/**
 * A worker's output buffer: one ArrayBuffer that onnxruntime writes a batch's outputs straight into (pre-allocated
 * outputs), reused for every batch, so a batch costs no allocation and no copy of the partial sums.
 */
import type { LayerInfo } from '@neuronscope/core';

/** Where each part of a batch lives inside a slot, in float32 elements. */
export interface SlotLayout {
  /** Largest batch a slot holds. */
  readonly maxBatch: number;
  readonly numClasses: number;
  /** Values of one input copy (channels x height x width). */
  readonly inputSize: number;
  /** Per layer: C*H*W and the offset of the layer in the flat per-unit arrays. */
  readonly units: readonly number[];
  readonly unitOffsets: readonly number[];
  /** Sum of C*H*W over the layers. */
  readonly totalUnits: number;
  /** Per layer: channels and the offset of the layer in a copy's row of channel means. */
  readonly channels: readonly number[];
  readonly channelOffsets: readonly number[];
  /** Sum of the channels over the layers. */
  readonly totalChannels: number;
  /** Offsets (float32 elements) of the parts of a slot. */
  readonly offsets: {
    /** [maxBatch, numClasses] logits. */
    readonly logits: number;
    /** [maxBatch] e = y - yShift as the graph used it. */
    readonly e: number;
    /** Per layer [maxBatch, C] spatial means of d (layer k at means + maxBatch * channelOffsets[k]). */
    readonly means: number;
    /** Per layer [2, U]: sum d, sum d*e (layer k at sums + 2 * unitOffsets[k]). */
    readonly sums: number;
    /** Per layer [U]: sum d^2 (layer k at squares + unitOffsets[k]). */
    readonly squares: number;
  };
  /** Float32 elements of a slot. */
  readonly length: number;
}

/** The layout of a slot for these layers. */
export function slotLayout(
  layers: readonly Pick<LayerInfo, 'channels' | 'height' | 'width'>[],
  maxBatch: number,
  numClasses: number,
  inputSize: number,
): SlotLayout {
  const units = layers.map((l) => l.channels * l.height * l.width);
  const unitOffsets: number[] = [];
  let totalUnits = 0;
  for (const u of units) {
    unitOffsets.push(totalUnits);
    totalUnits += u;
  }
  const channels = layers.map((l) => l.channels);
  const channelOffsets: number[] = [];
  let totalChannels = 0;
  for (const c of channels) {
    channelOffsets.push(totalChannels);
    totalChannels += c;
  }
  // Every part starts on a 16-element boundary.
  const align = (n: number) => Math.ceil(n / 16) * 16;
  let at = 0;
  const take = (n: number) => {
    const start = at;
    at = align(at + n);
    return start;
  };
  const offsets = {
    logits: take(maxBatch * numClasses),
    e: take(maxBatch),
    means: take(maxBatch * totalChannels),
    sums: take(2 * totalUnits),
    squares: take(totalUnits),
  };
  return {
    maxBatch,
    numClasses,
    inputSize,
    units,
    unitOffsets,
    totalUnits,
    channels,
    channelOffsets,
    totalChannels,
    offsets,
    length: at,
  };
}

/** Typed views of one slot for a batch of `batch` copies. */
export interface SlotViews {
  /** [batch, numClasses] */
  readonly logits: Float32Array;
  /** [batch] */
  readonly e: Float32Array;
  /** Per layer [batch, C]. */
  readonly means: Float32Array[];
  /** Per layer [2, U]. */
  readonly sums: Float32Array[];
  /** Per layer [U]. */
  readonly squares: Float32Array[];
}

/** Views of `buffer` (a slot of `layout`) for a batch of `batch` copies. */
export function slotViews(buffer: ArrayBufferLike, layout: SlotLayout, batch: number): SlotViews {
  const f32 = (offset: number, length: number) => new Float32Array(buffer, offset * 4, length);
  const o = layout.offsets;
  return {
    logits: f32(o.logits, batch * layout.numClasses),
    e: f32(o.e, batch),
    means: layout.channels.map((c, k) => f32(o.means + layout.maxBatch * layout.channelOffsets[k]!, batch * c)),
    sums: layout.units.map((u, k) => f32(o.sums + 2 * layout.unitOffsets[k]!, 2 * u)),
    squares: layout.units.map((u, k) => f32(o.squares + layout.unitOffsets[k]!, u)),
  };
}
