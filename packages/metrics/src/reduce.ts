/**
 * Reductions over the spatial units of each channel: `values` holds `channels * units` entries,
 * channel-major (the row order of the unit table within a layer); `out` holds one entry per channel.
 */

/** out[c] = mean over units u of values[c * units + u]. */
export function meanPerChannel(values: Float64Array, units: number, out: Float64Array): void {
  for (let c = 0, base = 0; c < out.length; c++, base += units) {
    let sum = 0;
    for (let u = 0; u < units; u++) sum += values[base + u]!;
    out[c] = sum / units;
  }
}

/** out[c] = mean over units of |values[c * units + u]|, NaN entries ignored; NaN if all are NaN. */
export function meanAbsPerChannelIgnoringNaN(values: Float64Array, units: number, out: Float64Array): void {
  for (let c = 0, base = 0; c < out.length; c++, base += units) {
    let sum = 0;
    let count = 0;
    for (let u = 0; u < units; u++) {
      const v = values[base + u]!;
      if (!Number.isNaN(v)) {
        sum += Math.abs(v);
        count++;
      }
    }
    out[c] = count === 0 ? Number.NaN : sum / count;
  }
}
