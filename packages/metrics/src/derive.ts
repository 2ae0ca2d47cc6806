import { type OutputMoments, varianceFromSums, zeroVarianceBound } from '@neuronscope/core';

/** Statistics of the output y over the copies, from its shifted sums. */
export interface OutputStatistics {
  readonly count: number;
  /** Mean of y. */
  readonly mean: number;
  /** Mean of e = y - yShift. */
  readonly meanCentred: number;
  /** Population variance of y (0 under the zero-variance rule). */
  readonly variance: number;
}

/** {@link OutputStatistics} of `output`. */
export function outputStatistics(output: OutputMoments): OutputStatistics {
  const n = output.count;
  const meanCentred = output.sumY / n;
  return {
    count: n,
    mean: output.yShift + meanCentred,
    meanCentred,
    variance: varianceFromSums(n, output.sumY, output.sumYY),
  };
}

/** Per-variable statistics over the copies derived from shifted moments, one entry per variable. */
export interface DerivedMoments {
  /** Mean activation: shift + sum_a / n. */
  readonly mean: Float64Array;
  /** Population variance (ddof = 0), the zero-variance rule applied. */
  readonly variance: Float64Array;
  /** Pearson r with y, in [-1, 1]; NaN when the variable's or y's variance is zero. */
  readonly r: Float64Array;
}

/** Columns of shifted sums, as stored in the moments tables. */
export interface MomentColumns {
  readonly shift: ArrayLike<number>;
  readonly sumA: ArrayLike<number>;
  readonly sumAA: ArrayLike<number>;
  readonly sumAY: ArrayLike<number>;
}

/** Derives mean, variance and Pearson r for every variable of `sums` in one loop over typed arrays, in float64. */
export function deriveMoments(sums: MomentColumns, y: OutputStatistics): DerivedMoments {
  const { shift, sumA, sumAA, sumAY } = sums;
  const size = shift.length;
  const n = y.count;
  const mean = new Float64Array(size);
  const variance = new Float64Array(size);
  const r = new Float64Array(size);
  const sdY = Math.sqrt(y.variance);
  const eY = y.meanCentred;
  for (let i = 0; i < size; i++) {
    const m1 = sumA[i]! / n;
    const m2 = sumAA[i]! / n;
    let v = m2 - m1 * m1;
    if (v <= zeroVarianceBound(n, m2)) v = 0;
    mean[i] = shift[i]! + m1;
    variance[i] = v;
    if (v > 0 && sdY > 0) {
      const rho = (sumAY[i]! / n - m1 * eY) / (Math.sqrt(v) * sdY);
      r[i] = Math.min(1, Math.max(-1, rho));
    } else {
      // Also NaN when v is NaN (non-finite activations).
      r[i] = Number.NaN;
    }
  }
  return { mean, variance, r };
}
