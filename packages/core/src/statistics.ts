/**
 * The method's statistics, in one place: the output y from the logits, the zero-variance rule of shifted sums,
 * Pearson and Spearman correlation, ranks and top-k with their tie rule, set agreement and quantiles. The metrics,
 * the stopping rule, the stability chart, sweeps, ablation and the tools import them from here; none keeps its own.
 */
import type { OutputKind, OutputMode } from './config.js';

/** Softmax probabilities of a row of logits, in float64 (max-shifted, so large logits do not overflow). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
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
  if (kind !== 'sigmoid') return softmax(logits);
  return Float64Array.from({ length: logits.length }, (_, i) => sigmoid(logits[i]!));
}

/** Index of the largest value (first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/**
 * Safety factor of the zero-variance rule: a variance is zero when it is at most
 * `ZERO_VARIANCE_FACTOR * n * Number.EPSILON` times the mean square of the shifted observations.
 */
export const ZERO_VARIANCE_FACTOR = 4;

/**
 * The zero-variance rule. With d = a - shift, the population variance is computed as `m2 - m1^2` with
 * `m1 = sum d / n` and `m2 = sum d^2 / n`; the rounding error of that expression (recursive float64 sums of n terms,
 * then one cancelling subtraction) is below `ZERO_VARIANCE_FACTOR * n * EPSILON * m2`. A computed variance at or
 * below that bound cannot be told from zero, so it is set to exactly 0. Exactly constant observations give `m2 = 0`
 * and always count as zero; the rule is scale-free, so a tiny but real spread (1e-20 around 0, or 1 ulp around
 * 1e4) is kept. With the shift being one of the observations (the clean copy), a real variance is at least
 * `m2 / n`, far above the bound for any realistic n.
 */
export function zeroVarianceBound(n: number, m2: number): number {
  return ZERO_VARIANCE_FACTOR * n * Number.EPSILON * m2;
}

/** Population variance (ddof = 0) from shifted sums, the zero-variance rule applied (rounding negatives become 0). */
export function varianceFromSums(n: number, sum: number, sumSq: number): number {
  const m1 = sum / n;
  const m2 = sumSq / n;
  const v = m2 - m1 * m1;
  return v <= zeroVarianceBound(n, m2) ? 0 : v;
}

/** Pearson correlation of two equally long samples (two-pass, float64); null if either is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  const n = x.length;
  if (y.length !== n) throw new RangeError(`pearson: lengths differ (${n} and ${y.length})`);
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  return Math.min(1, Math.max(-1, sxy / Math.sqrt(sxx * syy)));
}

/**
 * Ranks 1..n of `values` in ascending order, tied values getting the average of the ranks they span
 * (as `scipy.stats.rankdata(method='average')`). Throws on NaN.
 */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) if (Number.isNaN(values[i])) throw new RangeError('averageRanks: NaN value');
  order.sort((i, j) => values[i]! - values[j]! || i - j);
  const ranks = new Float64Array(n);
  for (let start = 0; start < n; ) {
    const value = values[order[start]!]!;
    let end = start + 1;
    while (end < n && values[order[end]!] === value) end++;
    // Positions start..end-1 hold ranks start+1..end.
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    start = end;
  }
  return ranks;
}

/**
 * Spearman's rank correlation: the Pearson correlation of the average ranks of `x` and `y` (as
 * `scipy.stats.spearmanr`). Null when there are fewer than 3 pairs or either side is constant.
 * ±Infinity values rank like any others; NaN values throw (filter them first).
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  if (x.length !== y.length) throw new RangeError(`spearman: lengths differ (${x.length} and ${y.length})`);
  if (x.length < 3) return null;
  return pearson(averageRanks(x), averageRanks(y));
}

/** Orders indices by descending value, ties going to the lower index: the one tie rule of every ranking. */
const descending = (values: ArrayLike<number>) => (i: number, j: number) => {
  const a = values[i]!;
  const b = values[j]!;
  return a > b ? -1 : a < b ? 1 : i - j;
};

/**
 * 1-based ranks by descending value among the entries where `included[i]` is 1, ties going to the lower
 * index; 0 for entries that are not ranked. ±Infinity rank like any other value; NaN entries must be excluded.
 */
export function rankDescending(values: Float64Array, included: Uint8Array): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < values.length; i++) if (included[i] === 1) order.push(i);
  order.sort(descending(values));
  const ranks = new Int32Array(values.length);
  for (let k = 0; k < order.length; k++) ranks[order[k]!] = k + 1;
  return ranks;
}

/**
 * Indices in [from, to) of the `k` largest values, best first: NaN values and entries where `included` is 0 are
 * skipped, ties go to the lower index (the rule of {@link rankDescending}).
 */
export function topKIndices(
  values: ArrayLike<number>,
  k: number,
  included: ArrayLike<number> | null = null,
  from = 0,
  to = values.length,
): number[] {
  const order: number[] = [];
  for (let i = from; i < to; i++) {
    if (!Number.isNaN(values[i]!) && (included === null || included[i] === 1)) order.push(i);
  }
  return order.sort(descending(values)).slice(0, k);
}

/** Agreement between two selections of neurons. */
export interface SelectionComparison {
  /** The paper's overlap |A ∩ B| / (|A| + |B|): 0.5 for equal non-empty sets, 0 when both are empty. */
  overlap: number;
  /** |A ∩ B| / |A ∪ B|: 1 for equal non-empty sets, 0 when both are empty. */
  jaccard: number;
}

/**
 * Compares two selections given as neuron ids (channels within a layer, or any other numbering); each is read as
 * a set, so repeated ids count once.
 */
export function compareSelections(a: Iterable<number>, b: Iterable<number>): SelectionComparison {
  const setA = new Set(a);
  const setB = new Set(b);
  let both = 0;
  for (const id of setA) if (setB.has(id)) both++;
  const sizes = setA.size + setB.size;
  if (sizes === 0) return { overlap: 0, jaccard: 0 };
  return { overlap: both / sizes, jaccard: both / (sizes - both) };
}

/** |A ∩ B| / |A ∪ B|, or null when both sets are empty (no answer to compare). */
export function jaccardIndex(a: Iterable<number>, b: Iterable<number>): number | null {
  const setA = new Set(a);
  const setB = new Set(b);
  if (setA.size === 0 && setB.size === 0) return null;
  return compareSelections(setA, setB).jaccard;
}

/** Quantile with linear interpolation between order statistics (numpy's default) of ascending `sorted`. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
