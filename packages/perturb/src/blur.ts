/**
 * Separable Gaussian blur of one height x width plane (row-major), in float64. The kernel is truncated at
 * 3 sigma; near the borders the taps that fall outside are dropped and the rest renormalised, so a constant
 * plane stays constant and no padding value leaks in. `scratch` and `out` are height * width long;
 * `out` may not alias `plane`.
 */
export function blurPlane(
  plane: Float64Array,
  height: number,
  width: number,
  sigma: number,
  scratch: Float64Array,
  out: Float64Array,
): void {
  const radius = Math.min(Math.ceil(3 * sigma), Math.max(height, width) - 1);
  const kernel = new Float64Array(radius + 1);
  for (let k = 0; k <= radius; k++) kernel[k] = Math.exp((-k * k) / (2 * sigma * sigma));
  const normX = tapNormalisers(kernel, width);
  const normY = tapNormalisers(kernel, height);

  // Along rows: plane -> scratch.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const lo = Math.max(-radius, -x);
      const hi = Math.min(radius, width - 1 - x);
      let sum = 0;
      for (let k = lo; k <= hi; k++) sum += kernel[k < 0 ? -k : k]! * plane[row + x + k]!;
      scratch[row + x] = sum * normX[x]!;
    }
  }
  // Along columns: scratch -> out, a whole row at a time so the inner loop reads memory in order.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    out.fill(0, row, row + width);
    const lo = Math.max(-radius, -y);
    const hi = Math.min(radius, height - 1 - y);
    for (let k = lo; k <= hi; k++) {
      const w = kernel[k < 0 ? -k : k]!;
      const source = (y + k) * width;
      for (let x = 0; x < width; x++) out[row + x]! += w * scratch[source + x]!;
    }
    const norm = normY[y]!;
    for (let x = 0; x < width; x++) out[row + x]! *= norm;
  }
}

/** For each position along an axis of `length`, 1 / (sum of the kernel taps that stay inside the axis). */
function tapNormalisers(kernel: Float64Array, length: number): Float64Array {
  const radius = kernel.length - 1;
  const norms = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    let total = 0;
    for (let k = Math.max(-radius, -i); k <= Math.min(radius, length - 1 - i); k++) total += kernel[k < 0 ? -k : k]!;
    norms[i] = 1 / total;
  }
  return norms;
}
