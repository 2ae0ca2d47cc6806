/**
 * How stable the top-k selections are as the number of copies N grows, from the tables alone (no inference).
 * Copy i of a run does not depend on N (its noise comes from the seed and i only), so the first n copies are
 * exactly what a run with N = n would have drawn. For every prefix n the channel-level proxies of the two
 * metrics are recomputed from `activations.parquet` (each copy's spatial-mean activation per channel) and
 * `outputs.parquet` (y):
 *
 *   correlation proxy = |Pearson r(channel mean, y)| over the first n copies
 *   precision proxy   = 1 / population variance of the channel mean over the first n copies, among channels
 *                       whose mean activation is at least the eligibility threshold
 *
 * and the top-k channels per layer by each are compared with those from all N copies (Jaccard index), averaged
 * over the layers. The unit-level metrics of the selection need per-unit sums that are not kept per copy.
 */
import { jaccardIndex as jaccard, topKIndices } from '@neuronscope/core';
import type { StabilityPoint } from './visual.js';

/** The columns of `activations.parquet` and the output y indexed by copy. */
export interface StabilityInput {
  readonly copy: ArrayLike<number>;
  readonly layerIndex: ArrayLike<number>;
  readonly channel: ArrayLike<number>;
  readonly mean: ArrayLike<number>;
  /** y of copy i at index i. */
  readonly y: ArrayLike<number>;
  /** The layers and their channel counts. */
  readonly layers: readonly { readonly layerIndex: number; readonly channels: number }[];
  readonly topK: number;
  readonly eligibility: number;
}

/** Prefix sizes: N, N/2, N/4, ... down to 4 (at most 8 of them), ascending. */
export function stabilityCheckpoints(total: number): number[] {
  const points = new Set<number>();
  for (let n = total; n >= 4 && points.size < 8; n = Math.round(n / 2)) points.add(n);
  return [...points].sort((a, b) => a - b);
}

/** Indices of the k largest values in [from, to) (NaN skipped), ties to the lower index: the selection's rule. */
function topK(values: Float64Array, k: number, from: number, to: number, allowed?: Uint8Array): Set<number> {
  return new Set(topKIndices(values, k, allowed ?? null, from, to));
}

/** The stability curve; see the module comment. Rows may come in any order. */
export function stabilityCurve(input: StabilityInput): StabilityPoint[] {
  const offsets = new Map<number, number>();
  let total = 0;
  for (const l of input.layers) {
    offsets.set(l.layerIndex, total);
    total += l.channels;
  }
  const copies = input.y.length;
  if (copies < 4 || total === 0) return [];
  // Rows grouped by copy (a counting sort): the tables hold copies in order, but nothing requires it.
  const rowsOf = new Int32Array(copies + 1);
  for (let r = 0; r < input.copy.length; r++) {
    const copy = input.copy[r]!;
    if (copy >= 0 && copy < copies) rowsOf[copy + 1]!++;
  }
  for (let i = 0; i < copies; i++) rowsOf[i + 1]! += rowsOf[i]!;
  const order = new Int32Array(rowsOf[copies]!);
  const fill = rowsOf.slice(0, copies);
  for (let r = 0; r < input.copy.length; r++) {
    const copy = input.copy[r]!;
    if (copy >= 0 && copy < copies) order[fill[copy]!++] = r;
  }
  const slot = (r: number) => {
    const base = offsets.get(input.layerIndex[r]!);
    return base === undefined ? -1 : base + input.channel[r]!;
  };
  const checkpoints = stabilityCheckpoints(copies);
  const sumA = new Float64Array(total);
  const sumAA = new Float64Array(total);
  const sumAY = new Float64Array(total);
  let sumY = 0;
  let sumYY = 0;
  const y0 = input.y[0]!;
  const shift = new Float64Array(total).fill(Number.NaN);
  for (let k = rowsOf[0]!; k < rowsOf[1]!; k++) {
    const c = slot(order[k]!);
    if (c >= 0) shift[c] = input.mean[order[k]!]!;
  }
  const corr = new Float64Array(total);
  const prec = new Float64Array(total);
  const eligible = new Uint8Array(total);
  const sets: { correlation: Set<number>[]; precision: Set<number>[] }[] = [];
  let next = 0;
  for (let i = 0; i < copies; i++) {
    const e = input.y[i]! - y0;
    sumY += e;
    sumYY += e * e;
    for (let k = rowsOf[i]!; k < rowsOf[i + 1]!; k++) {
      const r = order[k]!;
      const c = slot(r);
      if (c < 0) continue;
      const d = input.mean[r]! - shift[c]!;
      sumA[c]! += d;
      sumAA[c]! += d * d;
      sumAY[c]! += d * e;
    }
    const n = i + 1;
    if (n !== checkpoints[next]) continue;
    next++;
    const my = sumY / n;
    const vy = sumYY / n - my * my;
    for (let c = 0; c < total; c++) {
      const ma = sumA[c]! / n;
      const va = Math.max(0, sumAA[c]! / n - ma * ma);
      const cov = sumAY[c]! / n - ma * my;
      corr[c] = va > 0 && vy > 0 ? Math.abs(cov / Math.sqrt(va * vy)) : Number.NaN;
      prec[c] = 1 / va;
      eligible[c] = shift[c]! + ma >= input.eligibility ? 1 : 0;
    }
    const entry = { correlation: [] as Set<number>[], precision: [] as Set<number>[] };
    for (const l of input.layers) {
      const from = offsets.get(l.layerIndex)!;
      entry.correlation.push(topK(corr, input.topK, from, from + l.channels));
      entry.precision.push(topK(prec, input.topK, from, from + l.channels, eligible));
    }
    sets.push(entry);
  }
  const final = sets[sets.length - 1]!;
  const mean = (xs: (number | null)[]) => {
    const defined = xs.filter((x): x is number => x !== null);
    return defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null;
  };
  return checkpoints.map((copiesUsed, i) => ({
    copies: copiesUsed,
    correlation: mean(sets[i]!.correlation.map((s, l) => jaccard(s, final.correlation[l]!))),
    precision: mean(sets[i]!.precision.map((s, l) => jaccard(s, final.precision[l]!))),
  }));
}
