/**
 * The reusable, tested parts of the reproduction tools: reading selections out of summaries, the per-depth
 * aggregation of ablation results with bootstrap confidence intervals, and the comparison of two runs (sanity
 * check). Pure functions; the scripts beside this file do the I/O.
 */
import {
  type AblationSummary,
  jaccardIndex,
  mulberry32,
  type Summary,
  quantile as sortedQuantile,
  spearman,
} from '@neuronscope/core';

/** One neuron selection (one model, one image) as the Fashion-MNIST experiment keeps it. */
export interface SelectionRun {
  epoch: number;
  image: string;
  label: number;
  target: number;
  /** The paper's overlap and the Jaccard index of the two sets over all layers. */
  overlap: number;
  jaccard: number;
  layers: { layer: string; byCorrelation: number[]; byPrecision: number[]; overlap: number; jaccard: number }[];
}

export function selectionRun(epoch: number, image: string, label: number, s: Summary): SelectionRun {
  return {
    epoch,
    image,
    label,
    target: s.target.index,
    overlap: s.total.overlap,
    jaccard: s.total.jaccard,
    layers: s.layers.map((l) => ({
      layer: l.layer,
      byCorrelation: l.byCorrelation.map((n) => n.channel),
      byPrecision: l.byPrecision.map((n) => n.channel),
      overlap: l.comparison.overlap,
      jaccard: l.comparison.jaccard,
    })),
  };
}

/** As `TIE_TOLERANCE` of the ablate stage: probability changes below 0.01 percentage points are no change. */
export const TIE_TOLERANCE = 1e-4;

export const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Quantile with linear interpolation (numpy's default) of unsorted values. */
export function quantile(values: readonly number[], q: number): number {
  return sortedQuantile(
    [...values].sort((a, b) => a - b),
    q,
  );
}

/**
 * Mean of `groups` flattened, with a 95% percentile-bootstrap interval that resamples whole groups (photos):
 * values from one photo are not independent.
 */
export function clusterBootstrap(
  groups: readonly (readonly number[])[],
  reps = 2000,
  seed = 1,
): { mean: number; low: number; high: number; n: number } {
  const flat = groups.flat();
  const point = mean(flat);
  const nonEmpty = groups.filter((g) => g.length > 0);
  if (nonEmpty.length < 2) return { mean: point, low: Number.NaN, high: Number.NaN, n: flat.length };
  const next = mulberry32(seed);
  const stats: number[] = [];
  for (let r = 0; r < reps; r++) {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < nonEmpty.length; i++) {
      const g = nonEmpty[Math.floor(next() * nonEmpty.length)]!;
      for (const v of g) sum += v;
      count += g.length;
    }
    stats.push(sum / count);
  }
  return { mean: point, low: quantile(stats, 0.025), high: quantile(stats, 0.975), n: flat.length };
}

/** Depth band of a layer: `classifier` for the last conv when it has one channel per class, else thirds. */
export function depthBand(layerIndex: number, lastIndex: number, isClassifier: boolean): string {
  if (isClassifier) return 'classifier';
  const r = lastIndex > 0 ? layerIndex / lastIndex : 0;
  return r < 1 / 3 ? 'early' : r < 2 / 3 ? 'middle' : 'late';
}

export const BANDS = ['early', 'middle', 'late', 'classifier', 'all but classifier'] as const;

/** One photo's ablation result, as the table needs it. */
export interface AblationRun {
  model: string;
  photo: string;
  ablation: AblationSummary;
  /** Index of the model's last conv layer, and whether it is the classifier (one channel per class). */
  lastIndex: number;
  classifierIndex: number | null;
}

export interface AblationRow {
  model: string;
  mode: string;
  band: string;
  photos: number;
  layers: number;
  correlationDrop: ReturnType<typeof clusterBootstrap>;
  precisionDrop: ReturnType<typeof clusterBootstrap>;
  randomDrop: ReturnType<typeof clusterBootstrap>;
  correlationPercentile: ReturnType<typeof clusterBootstrap>;
  precisionPercentile: ReturnType<typeof clusterBootstrap>;
  /** Fraction of (photo, layer) pairs whose set's drop is above the random 95th percentile. */
  correlationAboveP95: number;
  precisionAboveP95: number;
  /** Fraction of pairs where the correlation set's drop exceeds the precision set's. */
  correlationBeatsPrecision: number;
}

/** The per-model, per-mode, per-depth-band table of ablation results over photos. */
export function ablationTable(runs: readonly AblationRun[]): AblationRow[] {
  const rows: AblationRow[] = [];
  const keys = [...new Set(runs.map((r) => `${r.model}\u0000${r.ablation.mode}`))];
  for (const key of keys) {
    const [model, mode] = key.split('\u0000') as [string, string];
    const mine = runs.filter((r) => r.model === model && r.ablation.mode === mode);
    for (const band of BANDS) {
      const per = mine.map((r) =>
        r.ablation.layers.filter((l) => {
          const b = depthBand(l.layerIndex, r.lastIndex, l.layerIndex === r.classifierIndex);
          return band === 'all but classifier' ? b !== 'classifier' : b === band;
        }),
      );
      const pairs = per.flat();
      if (pairs.length === 0) continue;
      const groups = (f: (l: (typeof pairs)[number]) => number | null | undefined) =>
        per.map((ls) => ls.flatMap((l) => (typeof f(l) === 'number' ? [f(l) as number] : [])));
      const both = pairs.filter((l) => l.correlation && l.precision);
      rows.push({
        model,
        mode,
        band,
        photos: per.filter((ls) => ls.length > 0).length,
        layers: pairs.length,
        correlationDrop: clusterBootstrap(groups((l) => l.correlation?.drop)),
        precisionDrop: clusterBootstrap(groups((l) => l.precision?.drop)),
        randomDrop: clusterBootstrap(groups((l) => l.random.mean)),
        correlationPercentile: clusterBootstrap(groups((l) => l.correlation?.percentile)),
        precisionPercentile: clusterBootstrap(groups((l) => l.precision?.percentile)),
        correlationAboveP95: mean(
          pairs.map((l) => (l.correlation && l.correlation.drop > l.random.p95 + TIE_TOLERANCE ? 1 : 0)),
        ),
        precisionAboveP95: mean(
          pairs.map((l) => (l.precision && l.precision.drop > l.random.p95 + TIE_TOLERANCE ? 1 : 0)),
        ),
        correlationBeatsPrecision: mean(
          both.map((l) => (l.correlation!.drop > l.precision!.drop + TIE_TOLERANCE ? 1 : 0)),
        ),
      });
    }
  }
  return rows;
}

const ci = (c: { mean: number; low: number; high: number }, scale = 100, digits = 2) =>
  Number.isNaN(c.mean)
    ? '—'
    : `${(c.mean * scale).toFixed(digits)} [${(c.low * scale).toFixed(digits)}, ${(c.high * scale).toFixed(digits)}]`;
const pct = (x: number) => (Number.isNaN(x) ? '—' : `${Math.round(x * 100)}%`);

/** The table as Markdown: drops in percentage points of target probability, 95% cluster-bootstrap intervals. */
export function ablationMarkdown(rows: readonly AblationRow[]): string {
  const head =
    '| model | mode | depth | photos × layers | drop, correlation set (pp) | drop, precision set (pp) | drop, random set mean (pp) | percentile of corr. set | percentile of prec. set | corr. > random p95 | prec. > random p95 | corr. drop > prec. drop |\n' +
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const body = rows.map(
    (r) =>
      `| ${r.model} | ${r.mode} | ${r.band} | ${r.photos} × ${(r.layers / Math.max(1, r.photos)).toFixed(0)} | ${ci(r.correlationDrop)} | ${ci(r.precisionDrop)} | ${ci(r.randomDrop)} | ${ci(r.correlationPercentile, 100, 0)} | ${ci(r.precisionPercentile, 100, 0)} | ${pct(r.correlationAboveP95)} | ${pct(r.precisionAboveP95)} | ${pct(r.correlationBeatsPrecision)} |`,
  );
  return `${head}\n${body.join('\n')}\n`;
}

/** Per-layer metric values of one run, by channel (NaN where undefined). */
export interface NeuronMetrics {
  layer: string;
  layerIndex: number;
  correlation: Float64Array;
  precision: Float64Array;
  selectedCorrelation: Set<number>;
  selectedPrecision: Set<number>;
}

/** |A ∩ B| / |A ∪ B| (1 when both are empty: two empty selections agree). */
export function jaccard(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  return jaccardIndex(a, b) ?? 1;
}

/** The sanity-check comparison of one layer between the original and the randomized model. */
export interface LayerComparison {
  layer: string;
  layerIndex: number;
  /** Spearman's rho between the original's and the randomized model's metric over channels where both exist. */
  correlationSpearman: number | null;
  precisionSpearman: number | null;
  /** Jaccard index of the selected sets. */
  correlationJaccard: number;
  precisionJaccard: number;
}

export function compareLayers(original: readonly NeuronMetrics[], other: readonly NeuronMetrics[]): LayerComparison[] {
  const byLayer = new Map(other.map((m) => [m.layer, m]));
  return original.flatMap((a) => {
    const b = byLayer.get(a.layer);
    if (!b) return [];
    // Over channels where both values exist (NaN: undefined correlation).
    const rho = (x: Float64Array, y: Float64Array) => {
      const keep = Array.from(x.keys()).filter((i) => !Number.isNaN(x[i]!) && !Number.isNaN(y[i]!));
      return spearman(
        keep.map((i) => x[i]!),
        keep.map((i) => y[i]!),
      );
    };
    return [
      {
        layer: a.layer,
        layerIndex: a.layerIndex,
        correlationSpearman: rho(a.correlation, b.correlation),
        precisionSpearman: rho(a.precision, b.precision),
        correlationJaccard: jaccard(a.selectedCorrelation, b.selectedCorrelation),
        precisionJaccard: jaccard(a.selectedPrecision, b.selectedPrecision),
      },
    ];
  });
}
