import { accumulateMoments, createMoments, type LayerInfo, type Moments, unitsPerChannel } from '@neuronscope/core';

/**
 * Reduces one recorded layer on the fly: per-unit and per-channel (spatial-mean) shifted moments over the copies,
 * plus each copy's channel means for the activation table. Memory is fixed by the layer's size, never by N.
 */
export class LayerRecorder {
  readonly units: Moments;
  readonly channels: Moments;
  /** Channel means of the last observed batch, [batch x channels]. */
  readonly channelMeans: Float64Array<ArrayBuffer>;

  /**
   * @param layer the layer's shape.
   * @param clean the layer's activation on the clean image ([channels x height x width]): the shift.
   * @param maxBatch largest batch that {@link observe} will see.
   */
  constructor(
    readonly layer: LayerInfo,
    clean: Float32Array,
    maxBatch: number,
  ) {
    const size = layer.channels * unitsPerChannel(layer);
    if (clean.length !== size) {
      throw new Error(`layer ${layer.layer}: expected ${size} values per copy, got ${clean.length}`);
    }
    this.units = createMoments(Float32Array.from(clean));
    this.channels = createMoments(Float32Array.from(channelMeans(clean, layer.channels, 1)));
    this.channelMeans = new Float64Array(maxBatch * layer.channels);
  }

  /** Adds a batch: `values` is the layer's output [batch x C x H x W]; `yCentred[b]` = y_b - y_clean. */
  observe(values: Float32Array, yCentred: Float64Array, batch: number): void {
    accumulateMoments(this.units, values, yCentred, batch);
    const means = channelMeans(values, this.layer.channels, batch, this.channelMeans);
    accumulateMoments(this.channels, means, yCentred, batch);
  }
}

/** Spatial means of a [batch x channels x units] array, in float64. */
export function channelMeans(
  values: Float32Array,
  channels: number,
  batch: number,
  out: Float64Array<ArrayBuffer> = new Float64Array(batch * channels),
): Float64Array<ArrayBuffer> {
  const units = values.length / (batch * channels);
  for (let row = 0; row < batch * channels; row++) {
    let sum = 0;
    const base = row * units;
    for (let u = 0; u < units; u++) sum += values[base + u] as number;
    out[row] = sum / units;
  }
  return out;
}
