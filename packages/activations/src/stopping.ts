/**
 * `--samples auto`: add batches of copies until the answer, the top-k sets of every layer, is stable.
 *
 * The rule, checked at a geometric schedule of copy counts (first at `minSamples`, then every `growth` times more,
 * always on a batch boundary, up to the maximum):
 *
 * 1. Settled: the top-k sets by correlation and by precision (eligible channels) of every layer overlap the sets of
 *    the previous check, |X_now ∩ X_before| / |X_before| averaged over layers and both criteria, by at least
 *    `agreement` (the answer hardly moved while the last ~20% of the copies were added);
 * 2. Half-sample agreement: the copies used so far are split into two halves (alternate batches), each half's
 *    top-k sets are computed on its own, and their overlap with the sets of all the copies, |X_half ∩ X| / |X|,
 *    averaged over both halves, both criteria and all layers, is at least `agreement` (0.9). The two halves are a
 *    balanced half-sample replication of the copies: for a mean, a half differs from the full sample by as much as
 *    an ordinary bootstrap resample does (variance sigma^2 / n), so this is a bootstrap agreement, computed from two
 *    complementary draws that cost one extra set of running sums.
 *
 * Extraction stops at the first check where both hold, or at the maximum. The copies are run in a stratified order
 * (see {@link stratifiedOrder}), so that every prefix spreads over the whole schedule of the perturbation family
 * (the `paper` family's noise grows with the copy index): the answer of an early stop estimates the answer of all
 * the copies, not of the least perturbed ones.
 *
 * The metrics are the stats stage's (same definitions: correlation = mean |Pearson r| over units, NaN units
 * ignored; precision = 1 / mean unit variance; eligibility = mean activation >= threshold; ties to the lower
 * channel), computed from the running float64 sums in one pass per sample.
 */
import { topKIndices, zeroVarianceBound } from '@neuronscope/core';
import type { UnitSums } from './merge.js';

/** Settings of the stopping rule. */
export interface StoppingRule {
  readonly topK: number;
  /** Channels whose mean activation is below this are not eligible for precision. */
  readonly eligibility: number;
  /** Required half-sample agreement (0..1). */
  readonly agreement: number;
  /** Copies before the first check. */
  readonly minSamples: number;
  /** Each check after the first comes after this many times more copies. */
  readonly growth: number;
  /** Consecutive checks at which the rule must hold before extraction stops. */
  readonly confirmations: number;
}

/** The defaults: top-5 as in the paper, eligibility 0.1, agreement 0.9, checks from 48 copies on, every +25%. */
export const DEFAULT_STOPPING: Omit<StoppingRule, 'topK' | 'eligibility'> = {
  agreement: 0.9,
  minSamples: 48,
  growth: 1.25,
  confirmations: 2,
};

/**
 * The copy indices 0..n-1 in the order `--samples auto` runs them: bit-reversed (van der Corput), so that copy 0
 * (the clean copy) comes first and every prefix is spread evenly over the whole range.
 */
export function stratifiedOrder(n: number): number[] {
  let bits = 0;
  while (1 << bits < n) bits++;
  const order: number[] = [];
  for (let i = 0; i < 1 << bits; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    if (r < n) order.push(r);
  }
  return order;
}

/** The copy counts at which the rule is checked: batch multiples, increasing, the last one `max`. */
export function checkSchedule(rule: Pick<StoppingRule, 'minSamples' | 'growth'>, batch: number, max: number): number[] {
  const up = (n: number) => Math.min(max, Math.ceil(n / batch) * batch);
  const counts: number[] = [];
  let n = up(Math.max(rule.minSamples, 4 * batch));
  while (n < max) {
    counts.push(n);
    n = Math.max(up(n * rule.growth), n + 2 * batch);
  }
  counts.push(max);
  return [...new Set(counts)].filter((c) => c <= max);
}

/** Shifted sums of a sample of copies over every unit of every layer (flat, layer after layer). */
export interface FlatSums extends UnitSums {
  /** Copies, and sums of e = y - yShift and e^2 over them. */
  count: number;
  sumY: number;
  sumYY: number;
}

export function createFlatSums(units: number): FlatSums {
  return {
    sumA: new Float64Array(units),
    sumAA: new Float64Array(units),
    sumAY: new Float64Array(units),
    count: 0,
    sumY: 0,
    sumYY: 0,
  };
}

/** The layers' geometry in the flat arrays. */
export interface FlatLayout {
  readonly channels: readonly number[];
  /** Units per channel (H*W). */
  readonly unitsPerChannel: readonly number[];
  readonly unitOffsets: readonly number[];
}

/** Top-k channel sets of one layer. */
export interface LayerSets {
  readonly correlation: number[];
  readonly precision: number[];
}

/** Output statistics of a sample: its count, mean of e and standard deviation of y (0 under the zero rule). */
interface SampleOutput {
  readonly n: number;
  readonly eY: number;
  readonly sdY: number;
}

function outputOf(count: number, sumY: number, sumYY: number): SampleOutput {
  const eY = sumY / count;
  let varY = sumYY / count - eY * eY;
  if (varY <= zeroVarianceBound(count, sumYY / count)) varY = 0;
  return { n: count, eY, sdY: Math.sqrt(varY) };
}

/**
 * Mean |r| (NaN when no unit varies), precision and mean activation of one channel, units `first` to
 * `first + per - 1` of the flat sums, for the sample `sums` minus `minus` (or `sums` alone when null).
 */
function scoreChannel(
  sums: UnitSums,
  minus: UnitSums | null,
  out: SampleOutput,
  shift: Float32Array,
  first: number,
  per: number,
): { correlation: number; precision: number; mean: number } {
  const { n, eY, sdY } = out;
  const { sumA, sumAA, sumAY } = sums;
  let rSum = 0;
  let rCount = 0;
  let vSum = 0;
  let meanSum = 0;
  for (let i = first; i < first + per; i++) {
    const a = minus ? sumA[i]! - minus.sumA[i]! : sumA[i]!;
    const aa = minus ? sumAA[i]! - minus.sumAA[i]! : sumAA[i]!;
    const m1 = a / n;
    const m2 = aa / n;
    let v = m2 - m1 * m1;
    if (v <= zeroVarianceBound(n, m2)) v = 0;
    vSum += v;
    meanSum += shift[i]! + m1;
    if (v > 0 && sdY > 0) {
      const ay = minus ? sumAY[i]! - minus.sumAY[i]! : sumAY[i]!;
      const r = (ay / n - m1 * eY) / (Math.sqrt(v) * sdY);
      rSum += Math.min(1, Math.abs(r));
      rCount++;
    }
  }
  return { correlation: rCount ? rSum / rCount : Number.NaN, precision: per / vSum, mean: meanSum / per };
}

/**
 * Per layer and sample: the top-k channels by correlation and by precision (eligible only), best first. A sample
 * is some sums minus others (or null), with its output statistics; the samples are scored channel by channel,
 * so each channel's sums are read from memory once for all of them.
 */
function topKSetsOf(
  samples: readonly (readonly [UnitSums, UnitSums | null, SampleOutput])[],
  shift: Float32Array,
  layout: FlatLayout,
  rule: Pick<StoppingRule, 'topK' | 'eligibility'>,
  scores: LayerScores[] | null = null,
): LayerSets[][] {
  const result: LayerSets[][] = samples.map(() => []);
  layout.channels.forEach((channels, k) => {
    const per = layout.unitsPerChannel[k]!;
    const correlation = samples.map(() => new Float64Array(channels));
    const precision = samples.map(() => new Float64Array(channels));
    const eligible = samples.map(() => new Uint8Array(channels));
    for (let c = 0; c < channels; c++) {
      const first = layout.unitOffsets[k]! + c * per;
      samples.forEach(([sums, minus, out], j) => {
        const score = scoreChannel(sums, minus, out, shift, first, per);
        correlation[j]![c] = score.correlation;
        precision[j]![c] = score.precision;
        eligible[j]![c] = score.mean >= rule.eligibility ? 1 : 0;
      });
    }
    samples.forEach((_, j) => {
      result[j]!.push({
        correlation: top(correlation[j]!, null, rule.topK),
        precision: top(precision[j]!, eligible[j]!, rule.topK),
      });
    });
    if (scores) {
      // Ineligible channels have no precision score.
      const ranked = precision.map((p, j) => p.map((v, c) => (eligible[j]![c] === 1 ? v : Number.NaN)));
      scores.push({ correlation: correlation, precision: ranked });
    }
  });
  return result;
}

/** Per layer: the top-k channels by correlation and by precision (eligible only), best first. */
export function topKSets(
  sums: FlatSums,
  /** Subtracted from `sums` first (the complement of a half: full minus the other half), or null. */
  minus: FlatSums | null,
  shift: Float32Array,
  layout: FlatLayout,
  rule: Pick<StoppingRule, 'topK' | 'eligibility'>,
): LayerSets[] {
  const out = outputOf(
    sums.count - (minus?.count ?? 0),
    sums.sumY - (minus?.sumY ?? 0),
    sums.sumYY - (minus?.sumYY ?? 0),
  );
  return topKSetsOf([[sums, minus, out]], shift, layout, rule)[0]!;
}

/**
 * {@link topKSets} of the full sample, of `half` and of its complement (full minus half), in one pass over the sums:
 * what a check of the rule needs, reading the big arrays once.
 */
export function topKSetsWithHalves(
  sums: FlatSums,
  half: FlatSums,
  shift: Float32Array,
  layout: FlatLayout,
  rule: Pick<StoppingRule, 'topK' | 'eligibility'>,
  scores: LayerScores[] | null = null,
): [LayerSets[], LayerSets[], LayerSets[]] {
  const [full, first, second] = topKSetsOf(
    [
      [sums, null, outputOf(sums.count, sums.sumY, sums.sumYY)],
      [half, null, outputOf(half.count, half.sumY, half.sumYY)],
      [sums, half, outputOf(sums.count - half.count, sums.sumY - half.sumY, sums.sumYY - half.sumYY)],
    ],
    shift,
    layout,
    rule,
    scores,
  );
  return [full!, first!, second!];
}

/** Indices of the `k` largest non-NaN values (where `included`), ties to the lower index: the selection's rule. */
function top(values: Float64Array, included: Uint8Array | null, k: number): number[] {
  return topKIndices(values, k, included);
}

/** Overlap of `sample` with `reference`, |sample ∩ reference| / |reference|; null when the reference is empty. */
function overlap(sample: readonly number[], reference: readonly number[]): number | null {
  if (reference.length === 0) return null;
  const set = new Set(sample);
  return reference.filter((c) => set.has(c)).length / reference.length;
}

const sameSet = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((c) => b.includes(c));

/** One check of the rule. */
export interface StoppingCheck {
  /** Copies used at this check. */
  readonly samples: number;
  /** Layers whose top-k sets (both criteria) are the same as at the previous check; 0 at the first. */
  readonly unchangedLayers: number;
  readonly layers: number;
  /** Mean overlap of the top-k sets with the previous check's (0 at the first check). */
  readonly settled: number;
  /** Half-sample agreement (mean over halves and layers; with ties, the lower criterion: see {@link checkWithTies}). */
  readonly agreement: number;
  /** The half-sample agreement of the top-k sets as they are, ties not counted. */
  readonly strictAgreement?: number;
  /** Mean fraction of the top-k that is sure (significantly above every non-member), over layers and criteria. */
  readonly sure?: number;
  /** Mean number of non-members tied with the top-k, over layers and criteria. */
  readonly tiedOutside?: number;
  /** Whether the rule holds at this check. */
  readonly holds?: boolean;
  /** Whether extraction stops here (the rule held at enough consecutive checks). */
  readonly stable: boolean;
}

/** Applies the rule at one check: `previous` are the sets of the previous check (null at the first). */
export function checkStability(
  full: readonly LayerSets[],
  halves: readonly [readonly LayerSets[], readonly LayerSets[]],
  previous: readonly LayerSets[] | null,
  samples: number,
  rule: Pick<StoppingRule, 'agreement'>,
): StoppingCheck {
  let unchanged = 0;
  let settledSum = 0;
  let settledCount = 0;
  let sum = 0;
  let count = 0;
  full.forEach((sets, k) => {
    const before = previous?.[k];
    if (before && sameSet(before.correlation, sets.correlation) && sameSet(before.precision, sets.precision)) {
      unchanged++;
    }
    for (const criterion of ['correlation', 'precision'] as const) {
      if (before) {
        const o = overlap(sets[criterion], before[criterion]);
        if (o !== null) {
          settledSum += o;
          settledCount++;
        }
      }
      for (const half of halves) {
        const o = overlap(half[k]![criterion], sets[criterion]);
        if (o !== null) {
          sum += o;
          count++;
        }
      }
    }
  });
  const agreement = count === 0 ? 1 : sum / count;
  const settled = previous === null ? 0 : settledCount === 0 ? 1 : settledSum / settledCount;
  const stable = previous !== null && settled >= rule.agreement && agreement >= rule.agreement;
  return { samples, unchangedLayers: unchanged, layers: full.length, settled, agreement, stable };
}

/**
 * One layer's channel scores for each criterion, in the full sample and in both halves ([full, first, second];
 * NaN where a channel cannot be ranked: no defined correlation, or not eligible for precision).
 */
export interface LayerScores {
  readonly correlation: readonly Float64Array[];
  readonly precision: readonly Float64Array[];
}

/** The top-k of one layer and criterion with its ties: who is surely in, and who is indistinguishable from the k-th. */
export interface TopKWithTies {
  /** The top-k, best first (as the stats stage selects them). */
  readonly top: number[];
  /** Members that are significantly better than every non-member. */
  readonly sure: number[];
  /**
   * Channels statistically tied with the boundary, best first: the members that are not sure and the
   * non-members that some member does not beat significantly. Empty when every member is sure.
   */
  readonly ties: number[];
  /** The top-k of each half. */
  readonly halves: [number[], number[]];
}

/** Two-sided 95% normal quantile: a difference within z standard errors is not significant. */
export const TIE_Z = 1.96;
/** Weight, in degrees of freedom, of the layer's pooled variance in each channel's variance (shrinkage). */
const POOLED_DF = 4;
/** Median of chi-square with 1 degree of freedom: median(x^2) / this estimates the variance of x. */
const CHI2_1_MEDIAN = 0.454936;

/**
 * The top-k of `scores` ([full, first half, second half], higher is better, NaN not ranked) with its ties.
 *
 * The standard error of a channel's full-sample score is estimated from its two half-sample scores: a half has
 * twice the full sample's variance and the halves are independent, so (first - second)^2 / 4 estimates the full
 * sample's variance with one degree of freedom. That is shrunk towards the layer's pooled value (the median over
 * its channels, a robust mean) with {@link POOLED_DF} degrees of freedom. Precision is compared on a log scale,
 * where its error is about proportional. A member is sure when it exceeds every non-member by more than
 * {@link TIE_Z} standard errors of the difference; the others, and the non-members some member does not exceed
 * that clearly, are the ties: their order relative to the k-th cannot be told apart with these copies.
 */
export function topKWithTies(scores: readonly Float64Array[], k: number, logScale: boolean): TopKWithTies {
  const [full, first, second] = scores.map((v) => (logScale ? v.map(Math.log) : v)) as [
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const top = topKIndices(full, k);
  const halves: [number[], number[]] = [topKIndices(first, k), topKIndices(second, k)];
  const n = full.length;
  // The halves' differences, less their common part (the median over channels): a shift of every channel's score
  // together does not change the ranks, and the halves shift a layer's scores together a lot (a few extreme copies
  // weigh on every channel's correlation in the half that has them).
  const diffs: number[] = [];
  for (let c = 0; c < n; c++) {
    const d = first[c]! - second[c]!;
    if (Number.isFinite(d)) diffs.push(d);
  }
  diffs.sort((a, b) => a - b);
  const common = diffs.length ? diffs[diffs.length >> 1]! : 0;
  const half2 = new Float64Array(n);
  const finite: number[] = [];
  for (let c = 0; c < n; c++) {
    const d = first[c]! - second[c]! - common;
    half2[c] = Number.isFinite(d) ? (d * d) / 4 : Number.NaN;
    if (Number.isFinite(half2[c]!)) finite.push(half2[c]!);
  }
  finite.sort((a, b) => a - b);
  const pooled = finite.length ? finite[finite.length >> 1]! / CHI2_1_MEDIAN : 0;
  const variance = (c: number) =>
    Number.isFinite(full[c]!) && Number.isFinite(half2[c]!) ? (half2[c]! + POOLED_DF * pooled) / (1 + POOLED_DF) : 0;
  const members = new Set(top);
  const tiedOutside = new Set<number>();
  const sure: number[] = [];
  for (const c of top) {
    let isSure = true;
    for (let j = 0; j < n; j++) {
      if (members.has(j) || Number.isNaN(full[j]!)) continue;
      const gap = full[c]! - full[j]!;
      // Infinite scores (a precision of zero variance) beat any finite one.
      if (gap === Number.POSITIVE_INFINITY) continue;
      if (!(gap > TIE_Z * Math.sqrt(variance(c) + variance(j)))) {
        isSure = false;
        tiedOutside.add(j);
      }
    }
    if (isSure) sure.push(c);
  }
  const ties =
    sure.length === top.length
      ? []
      : [...top.filter((c) => !sure.includes(c)), ...[...tiedOutside].sort((a, b) => full[b]! - full[a]! || a - b)];
  return { top, sure, ties, halves };
}

/** Per layer and criterion, the top-k with ties. */
export interface LayerTies {
  readonly correlation: TopKWithTies;
  readonly precision: TopKWithTies;
}

/** The top-k with ties of every layer and criterion from the check's scores. */
export function layerTies(scores: readonly LayerScores[], k: number): LayerTies[] {
  return scores.map((s) => ({
    correlation: topKWithTies(s.correlation, k, false),
    precision: topKWithTies(s.precision, k, true),
  }));
}

/**
 * Applies the rule at one check, counting ties (the rule `--samples auto` uses): of each layer's top-k by each
 * criterion, only the sure members (see {@link topKWithTies}) count; a half-sample or the previous check may
 * order the tied channels as it likes.
 *
 * - settled: the fraction of the sure members that are in the previous check's top-k;
 * - agreement: the fraction of the sure members that are in each half's top-k,
 *
 * each averaged over layers (and both halves) for each criterion on its own: a sure member left out costs 1/k.
 * The rule holds when both reach `agreement` for both criteria (correlation and precision must each be settled:
 * the ties of one must not carry the other), and extraction stops once it has held at `confirmations`
 * consecutive checks. The check reports the lower criterion's values.
 */
export function checkWithTies(
  ties: readonly LayerTies[],
  previous: readonly LayerTies[] | null,
  heldBefore: number,
  samples: number,
  rule: Pick<StoppingRule, 'agreement' | 'topK' | 'confirmations'>,
): StoppingCheck {
  let unchanged = 0;
  const criteria = ['correlation', 'precision'] as const;
  const sums = criteria.map(() => ({ settled: 0, agreement: 0, strict: 0, sure: 0, outside: 0, count: 0 }));
  ties.forEach((layer, k) => {
    const before = previous?.[k];
    if (
      before &&
      sameSet(before.correlation.top, layer.correlation.top) &&
      sameSet(before.precision.top, layer.precision.top)
    ) {
      unchanged++;
    }
    criteria.forEach((criterion, j) => {
      const t = layer[criterion];
      if (t.top.length === 0) return;
      const sum = sums[j]!;
      sum.count++;
      const size = t.top.length;
      const missing = (from: readonly number[]) => t.sure.filter((c) => !from.includes(c)).length / size;
      if (before) sum.settled += 1 - missing(before[criterion].top);
      for (const half of t.halves) {
        sum.agreement += (1 - missing(half)) / 2;
        sum.strict += overlap(half, t.top)! / 2;
      }
      sum.sure += t.sure.length / size;
      sum.outside += t.ties.filter((c) => !t.top.includes(c)).length;
    });
  });
  const used = sums.filter((x) => x.count > 0);
  const lowest = (get: (x: (typeof sums)[number]) => number) =>
    used.length === 0 ? 1 : Math.min(...used.map((x) => get(x) / x.count));
  const average = (get: (x: (typeof sums)[number]) => number) =>
    used.length === 0 ? 1 : used.reduce((a, x) => a + get(x) / x.count, 0) / used.length;
  const settled = previous === null ? 0 : lowest((x) => x.settled);
  const agreement = lowest((x) => x.agreement);
  const holds = previous !== null && settled >= rule.agreement && agreement >= rule.agreement;
  return {
    samples,
    unchangedLayers: unchanged,
    layers: ties.length,
    settled,
    agreement,
    strictAgreement: average((x) => x.strict),
    sure: average((x) => x.sure),
    tiedOutside: average((x) => x.outside),
    holds,
    stable: holds && heldBefore + 1 >= rule.confirmations,
  };
}
