/** Agreement between two selections of neurons. */
export interface SelectionComparison {
  /** The paper's overlap |A ∩ B| / (|A| + |B|): 0.5 for equal non-empty sets, 0 when both are empty. */
  overlap: number;
  /** |A ∩ B| / |A ∪ B|: 1 for equal non-empty sets, 0 when both are empty. */
  jaccard: number;
}

/**
 * Compares two selections given as neuron ids (channels within a layer, or any other numbering);
 * each is read as a set, so repeated ids count once.
 */
export function compareSelections(a: readonly number[], b: readonly number[]): SelectionComparison {
  const setA = new Set(a);
  const setB = new Set(b);
  let both = 0;
  for (const id of setA) if (setB.has(id)) both++;
  const sizes = setA.size + setB.size;
  if (sizes === 0) return { overlap: 0, jaccard: 0 };
  return { overlap: both / sizes, jaccard: both / (sizes - both) };
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

/** Pearson correlation of two equally long arrays (two-pass); null if either is constant. */
function pearson(x: Float64Array, y: Float64Array): number | null {
  const n = x.length;
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
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.min(1, Math.max(-1, r));
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
