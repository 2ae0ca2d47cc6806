/** Small deterministic statistics for the dataset-level answers: AUROC by ranks, bootstrap intervals. */
import { mulberry32 } from '@neuronscope/core';

/** Ranks 1..n of `values` (ties get their average rank). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number) || a - b,
  );
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && values[order[j]!] === values[order[i]!]) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]!] = rank;
    i = j;
  }
  return ranks;
}

/**
 * AUROC of `values` for the rows of each group against all other rows, from their ranks: the probability that a
 * row of the group scores above a row outside it (ties count half). NaN for a group without positives or negatives.
 */
export function aurocByGroup(values: ArrayLike<number>, group: Int32Array, groups: number): Float64Array {
  const ranks = averageRanks(values);
  const sums = new Float64Array(groups);
  const counts = new Float64Array(groups);
  for (let i = 0; i < group.length; i++) {
    const g = group[i]!;
    if (g < 0) continue;
    sums[g]! += ranks[i]!;
    counts[g]! += 1;
  }
  const n = group.length;
  const out = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const p = counts[g]!;
    const q = n - p;
    out[g] = p === 0 || q === 0 ? Number.NaN : (sums[g]! - (p * (p + 1)) / 2) / (p * q);
  }
  return out;
}

/** Mean of the values; NaN when empty. */
export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] as number;
  return values.length ? s / values.length : Number.NaN;
}

/** The mean and its 95% percentile-bootstrap interval (resampling the values), deterministic for a seed. */
export function bootstrapMean(
  values: ArrayLike<number>,
  resamples = 2000,
  seed = 1,
): { mean: number; low: number; high: number } {
  const n = values.length;
  const m = mean(values);
  if (n === 0) return { mean: Number.NaN, low: Number.NaN, high: Number.NaN };
  const random = mulberry32(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(random() * n)] as number;
    means[b] = s / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))]!;
  return { mean: m, low: at(0.025), high: at(0.975) };
}
