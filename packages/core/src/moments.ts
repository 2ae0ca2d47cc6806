import type { OutputKind, OutputMode } from './config.js';

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

/**
 * The network output y for class `target` from one row of the class scores z (the logits), in float64. `kind` says
 * how the model turns z into its own output (see {@link OutputKind}): for `logits`, `softmax` and `log-softmax` the
 * scores are the logits of a softmax classifier, so `prob` = softmax(z)_t, `logprob` = log softmax(z)_t and
 * `logit` = z_t (pass the pre-softmax tensor: a Softmax output given here would be softmaxed a second time); for
 * `sigmoid` (multi-label) `prob` = sigmoid(z_t), `logprob` = log sigmoid(z_t) and `logit` = z_t.
 */
export function outputValue(
  logits: ArrayLike<number>,
  target: number,
  mode: OutputMode,
  kind: OutputKind = 'logits',
): number {
  const z = logits[target];
  if (z === undefined) throw new Error(`target ${target} out of range`);
  if (mode === 'logit') return z;
  if (kind === 'sigmoid') return mode === 'logprob' ? logSigmoid(z) : sigmoid(z);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  const logprob = z - max - Math.log(sum);
  return mode === 'logprob' ? logprob : Math.exp(logprob);
}

/** 1 / (1 + e^-z), without overflow for either sign. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log sigmoid(z) = min(z, 0) - log(1 + e^-|z|), accurate for large |z| of either sign. */
export function logSigmoid(z: number): number {
  return Math.min(z, 0) - Math.log1p(Math.exp(-Math.abs(z)));
}

/**
 * Every class's probability from one row of class scores z, in float64: softmax(z) for the softmax kinds
 * (`logits`, `softmax`, `log-softmax`; they sum to 1), sigmoid(z_c) per class for `sigmoid` (independent).
 */
export function classProbabilities(logits: ArrayLike<number>, kind: OutputKind = 'logits'): Float64Array {
  const out = new Float64Array(logits.length);
  if (kind === 'sigmoid') {
    for (let i = 0; i < logits.length; i++) out[i] = sigmoid(logits[i] as number);
    return out;
  }
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp((logits[i] as number) - max);
    sum += out[i] as number;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** Index of the largest value (first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}
