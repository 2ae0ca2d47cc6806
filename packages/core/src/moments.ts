import type { OutputMode } from './config.js';

/**
 * Shifted running sums of one set of variables over the copies, mergeable across workers that use the
 * same shifts (as dissect's running statistics are): count, and per variable sum d, sum d^2, sum d*e
 * with d = a - shift and e = y - yShift.
 */
export interface Moments {
  count: number;
  readonly shift: Float32Array;
  readonly sumA: Float64Array;
  readonly sumAA: Float64Array;
  readonly sumAY: Float64Array;
}

/** Running sums of the output y over the copies, shifted by the clean copy's y. */
export interface OutputMoments {
  count: number;
  yShift: number;
  sumY: number;
  sumYY: number;
  /** Class whose output is y. */
  target: number;
  output: OutputMode;
}

/** Zeroed moments for `size` variables with the given shift. */
export function createMoments(shift: Float32Array): Moments {
  const n = shift.length;
  return { count: 0, shift, sumA: new Float64Array(n), sumAA: new Float64Array(n), sumAY: new Float64Array(n) };
}

/** Adds `other` into `into`; both must use the same shift. */
export function mergeMoments(into: Moments, other: Moments): void {
  if (into.shift.length !== other.shift.length) throw new Error('mergeMoments: sizes differ');
  for (let i = 0; i < into.shift.length; i++) {
    if (into.shift[i] !== other.shift[i]) throw new Error('mergeMoments: shifts differ');
  }
  into.count += other.count;
  for (let i = 0; i < into.sumA.length; i++) {
    into.sumA[i] = (into.sumA[i] as number) + (other.sumA[i] as number);
    into.sumAA[i] = (into.sumAA[i] as number) + (other.sumAA[i] as number);
    into.sumAY[i] = (into.sumAY[i] as number) + (other.sumAY[i] as number);
  }
}

/**
 * Accumulates a batch of observations: `values` holds `batch` rows of `shift.length` values each and
 * `yCentred[b]` is y - yShift of row b. One tight loop per batch; no per-neuron objects.
 */
export function accumulateMoments(
  m: Moments,
  values: Float32Array | Float64Array,
  yCentred: ArrayLike<number>,
  batch: number,
): void {
  const n = m.shift.length;
  if (values.length < batch * n) throw new Error('accumulateMoments: values too short');
  const { shift, sumA, sumAA, sumAY } = m;
  for (let b = 0; b < batch; b++) {
    const e = yCentred[b] as number;
    const base = b * n;
    for (let i = 0; i < n; i++) {
      const d = (values[base + i] as number) - (shift[i] as number);
      sumA[i] = (sumA[i] as number) + d;
      sumAA[i] = (sumAA[i] as number) + d * d;
      sumAY[i] = (sumAY[i] as number) + d * e;
    }
  }
  m.count += batch;
}
