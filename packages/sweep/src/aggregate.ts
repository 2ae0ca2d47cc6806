import {
  makeTable,
  sweepComparisonSchema,
  sweepSelectionSchema,
  sweepSelectivitySchema,
  type Table,
} from '@neuronscope/core';
import type { ImageRow } from './parts.js';
import { aurocByGroup, bootstrapMean, mean } from './stats.js';

/** One layer of the neuron layout shared by every part: its rows are `start .. start + channels - 1`. */
interface LayerRange {
  layer: string;
  layerIndex: number;
  start: number;
  channels: number;
}

/** One row of the comparison table (per layer, and over all layers). */
export interface ComparisonRow {
  layer: string;
  layerIndex: number;
  images: number;
  correlation: { mean: number; low: number; high: number };
  precision: { mean: number; low: number; high: number };
  baseline: number;
  difference: { mean: number; low: number; high: number };
  precisionHigher: number;
}

/** The dataset-level answers. */
export interface AggregateResult {
  selection: Table;
  selectivity: Table;
  comparison: Table;
  rows: ComparisonRow[];
  counts: { images: number; ok: number; error: number; failed: number; labelled: number; correct: number };
  /**
   * Per class: images analysed with it as target, and the neurons each metric selects for this class more than for
   * the others: ranked by the selection rate among the class's images minus the rate among the other images, so
   * that a neuron every image selects (a first-layer channel, say) does not fill the list.
   */
  classes: {
    class: number;
    name: string | null;
    images: number;
    /** Whether the class has at least the minimum support of images (its rates mean something). */
    supported: boolean;
    topCorrelation: ClassNeuron[];
    topPrecision: ClassNeuron[];
  }[];
  /**
   * The most class-selective neurons (highest AUROC for some class), among classes with at least the minimum
   * support of positive and negative images, at most {@link MAX_PER_LAYER} per layer.
   */
  topSelective: {
    layer: string;
    layerIndex: number;
    channel: number;
    class: number;
    name: string | null;
    auroc: number;
    positives: number;
  }[];
  /** The minimum support used for the lists. */
  minSupport: number;
}

/** A neuron in a class's list: how often it is selected for the class's images and for the others'. */
export interface ClassNeuron {
  layer: string;
  layerIndex: number;
  channel: number;
  /** Selection rate among the images of the class. */
  rate: number;
  /** Selection rate among the other analysed images (0 when there are none). */
  others: number;
}

/** Images a class needs (as positives, and negatives) before its rates and AUROCs enter the top lists. */
export const MIN_SUPPORT = 5;
/** Neurons of one layer at most in the list of the most class-selective ones. */
export const MAX_PER_LAYER = 3;

interface ImageData {
  target: number;
  /** The class whose images are the positives of the selectivity: the label when known, else the prediction. */
  kind: number;
  clean: Float32Array;
  correlation: Int32Array;
  precision: Int32Array;
}

const nan = (x: number) => (Number.isFinite(x) ? x : null);

/** Accumulates the parts of a sweep, image by image, into the dataset-level tables. */
export class Aggregator {
  private layout: LayerRange[] | null = null;
  private rows = 0;
  private readonly images: ImageData[] = [];
  private readonly counts = { images: 0, ok: 0, error: 0, failed: 0, labelled: 0, correct: 0 };

  constructor(
    private readonly labels: readonly string[] | null,
    private readonly resamples = 2000,
    private readonly minSupport = MIN_SUPPORT,
  ) {}

  add(row: ImageRow, neurons: Table | null): void {
    this.counts.images++;
    this.counts[row.status]++;
    if (row.status !== 'ok' || !neurons) return;
    if (row.label !== null) {
      this.counts.labelled++;
      if (row.label === row.prediction) this.counts.correct++;
    }
    const layerIndex = neurons.getChild('layer_index')!.toArray() as Int32Array;
    if (!this.layout) {
      const layer = neurons.getChild('layer')!;
      const layout: LayerRange[] = [];
      for (let i = 0; i < neurons.numRows; i++) {
        const last = layout.at(-1);
        if (last && last.layerIndex === layerIndex[i]) last.channels++;
        else layout.push({ layer: String(layer.get(i)), layerIndex: layerIndex[i]!, start: i, channels: 1 });
      }
      this.layout = layout;
      this.rows = neurons.numRows;
    } else if (neurons.numRows !== this.rows) {
      throw new Error(`image ${row.image} has ${neurons.numRows} neuron rows, earlier images ${this.rows}`);
    }
    const selected = (name: string) => {
      const v = neurons.getChild(name)!;
      const out: number[] = [];
      for (let i = 0; i < neurons.numRows; i++) if (v.get(i)) out.push(i);
      return Int32Array.from(out);
    };
    this.images.push({
      target: row.target!,
      kind: row.label ?? row.prediction!,
      clean: Float32Array.from(neurons.getChild('clean_activation')!.toArray() as Float32Array),
      correlation: selected('selected_correlation'),
      precision: selected('selected_precision'),
    });
  }

  result(): AggregateResult {
    const ctx = this.context();
    const frequency = selectionFrequency(ctx, this.minSupport);
    const selectivity = classSelectivity(ctx, this.minSupport);
    const rows = [
      ...ctx.layout.map((l) => comparisonRow(ctx, selectivity, l.layer, l.layerIndex, [l], this.resamples)),
      comparisonRow(ctx, selectivity, '(all)', -1, ctx.layout, this.resamples),
    ];
    return {
      selection: frequency.table,
      selectivity: selectivity.table,
      comparison: comparisonTable(rows),
      rows,
      counts: { ...this.counts },
      classes: frequency.classes,
      topSelective: selectivity.top,
      minSupport: this.minSupport,
    };
  }

  /** What every part of the result reads: the layout, the images, the classes and each row's layer and channel. */
  private context(): AggregationContext {
    const layout = this.layout ?? [];
    const R = this.rows;
    let numClasses = this.labels?.length ?? 0;
    for (const i of this.images) numClasses = Math.max(numClasses, i.target + 1, i.kind + 1);
    const layerOfRow = new Int32Array(R);
    const channelOfRow = new Int32Array(R);
    layout.forEach((l, k) => {
      for (let c = 0; c < l.channels; c++) {
        layerOfRow[l.start + c] = k;
        channelOfRow[l.start + c] = c;
      }
    });
    return {
      layout,
      rows: R,
      images: this.images,
      numClasses,
      layerOfRow,
      channelOfRow,
      dictionary: layout.map((l) => l.layer),
      name: (c: number) => this.labels?.[c] ?? null,
    };
  }
}

/** See {@link Aggregator.context}. */
interface AggregationContext {
  readonly layout: readonly LayerRange[];
  /** Neuron rows per image. */
  readonly rows: number;
  readonly images: readonly ImageData[];
  readonly numClasses: number;
  readonly layerOfRow: Int32Array;
  readonly channelOfRow: Int32Array;
  readonly dictionary: readonly string[];
  readonly name: (c: number) => string | null;
}

/** How often each metric selects each neuron, per target class: `selection.parquet` and the per-class top lists. */
function selectionFrequency(
  ctx: AggregationContext,
  minSupport: number,
): { table: Table; classes: AggregateResult['classes'] } {
  const { layout, rows: R, images, layerOfRow, channelOfRow, name } = ctx;
  const targets = [...new Set(images.map((i) => i.target))].sort((a, b) => a - b);
  const selRows = targets.length * R;
  const sel = {
    class: new Int32Array(selRows),
    layer: new Int32Array(selRows),
    layerIndex: new Int32Array(selRows),
    channel: new Int32Array(selRows),
    images: new Int32Array(selRows),
    corr: new Int32Array(selRows),
    prec: new Int32Array(selRows),
    rateCorr: new Float64Array(selRows),
    ratePrec: new Float64Array(selRows),
  };
  const classes: AggregateResult['classes'] = [];
  // Selections over all images, to rate each class's against the others'.
  const allCorr = new Int32Array(R);
  const allPrec = new Int32Array(R);
  for (const i of images) {
    for (const r of i.correlation) allCorr[r]!++;
    for (const r of i.precision) allPrec[r]!++;
  }
  targets.forEach((t, k) => {
    const base = k * R;
    const of = images.filter((i) => i.target === t);
    for (const i of of) {
      for (const r of i.correlation) sel.corr[base + r]!++;
      for (const r of i.precision) sel.prec[base + r]!++;
    }
    for (let r = 0; r < R; r++) {
      sel.class[base + r] = t;
      sel.layer[base + r] = layerOfRow[r]!;
      sel.layerIndex[base + r] = layout[layerOfRow[r]!]!.layerIndex;
      sel.channel[base + r] = channelOfRow[r]!;
      sel.images[base + r] = of.length;
      sel.rateCorr[base + r] = sel.corr[base + r]! / of.length;
      sel.ratePrec[base + r] = sel.prec[base + r]! / of.length;
    }
    const rest = images.length - of.length;
    const top = (counts: Int32Array, all: Int32Array): ClassNeuron[] =>
      Array.from({ length: R }, (_, r) => ({
        r,
        rate: counts[base + r]! / of.length,
        others: rest ? (all[r]! - counts[base + r]!) / rest : 0,
      }))
        .filter((x) => x.rate > 0 && x.rate > x.others)
        .sort((a, b) => b.rate - b.others - (a.rate - a.others) || b.rate - a.rate || a.r - b.r)
        .slice(0, 5)
        .map(({ r, rate, others }) => ({
          layer: layout[layerOfRow[r]!]!.layer,
          layerIndex: layout[layerOfRow[r]!]!.layerIndex,
          channel: channelOfRow[r]!,
          rate,
          others,
        }));
    classes.push({
      class: t,
      name: name(t),
      images: of.length,
      supported: of.length >= minSupport,
      topCorrelation: top(sel.corr, allCorr),
      topPrecision: top(sel.prec, allPrec),
    });
  });
  const table = makeTable(
    sweepSelectionSchema,
    {
      class: sel.class,
      class_name: Array.from(sel.class, name),
      layer: { indices: sel.layer, dictionary: ctx.dictionary },
      layer_index: sel.layerIndex,
      channel: sel.channel,
      images: sel.images,
      selected_correlation: sel.corr,
      selected_precision: sel.prec,
      rate_correlation: sel.rateCorr,
      rate_precision: sel.ratePrec,
    },
    selRows,
  );
  return { table, classes };
}

/** Per neuron and class: the AUROC of its clean activation, images of the class against the rest. */
interface Selectivity {
  /** [row * numClasses + class], NaN for classes without positives or negatives. */
  readonly auroc: Float64Array;
  /** Classes with both positive and negative images. */
  readonly present: readonly number[];
  readonly table: Table;
  readonly top: AggregateResult['topSelective'];
}

/** Class selectivity of every neuron: `selectivity.parquet` and the most selective neurons. */
function classSelectivity(ctx: AggregationContext, minSupport: number): Selectivity {
  const { images, numClasses, rows: R, layout, layerOfRow, channelOfRow, name } = ctx;
  const kinds = Int32Array.from(images, (i) => i.kind);
  const positives = new Int32Array(numClasses);
  for (const k of kinds) positives[k]!++;
  const present = Array.from({ length: numClasses }, (_, c) => c).filter(
    (c) => positives[c]! > 0 && positives[c]! < images.length,
  );
  const auroc = new Float64Array(R * numClasses).fill(Number.NaN);
  const column = new Float32Array(images.length);
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < images.length; i++) column[i] = images[i]!.clean[r]!;
    auroc.set(aurocByGroup(column, kinds, numClasses), r * numClasses);
  }
  const n = R * present.length;
  const s = {
    layer: new Int32Array(n),
    layerIndex: new Int32Array(n),
    channel: new Int32Array(n),
    class: new Int32Array(n),
    positives: new Int32Array(n),
    negatives: new Int32Array(n),
    auroc: new Float64Array(n),
  };
  let row = 0;
  const best: AggregateResult['topSelective'] = [];
  for (let r = 0; r < R; r++) {
    for (const c of present) {
      s.layer[row] = layerOfRow[r]!;
      s.layerIndex[row] = layout[layerOfRow[r]!]!.layerIndex;
      s.channel[row] = channelOfRow[r]!;
      s.class[row] = c;
      s.positives[row] = positives[c]!;
      s.negatives[row] = images.length - positives[c]!;
      s.auroc[row] = auroc[r * numClasses + c]!;
      if (positives[c]! >= minSupport && images.length - positives[c]! >= minSupport) {
        best.push({
          layer: layout[layerOfRow[r]!]!.layer,
          layerIndex: layout[layerOfRow[r]!]!.layerIndex,
          channel: channelOfRow[r]!,
          class: c,
          name: name(c),
          auroc: s.auroc[row]!,
          positives: positives[c]!,
        });
      }
      row++;
    }
  }
  const table = makeTable(
    sweepSelectivitySchema,
    {
      layer: { indices: s.layer, dictionary: ctx.dictionary },
      layer_index: s.layerIndex,
      channel: s.channel,
      class: s.class,
      class_name: Array.from(s.class, name),
      positives: s.positives,
      negatives: s.negatives,
      auroc: s.auroc,
    },
    n,
  );
  return { auroc, present, table, top: mostSelective(best) };
}

/** The 20 highest AUROCs, at most {@link MAX_PER_LAYER} per layer (each neuron once, for its best class). */
function mostSelective(candidates: AggregateResult['topSelective']): AggregateResult['topSelective'] {
  const sorted = candidates
    .filter((c) => Number.isFinite(c.auroc))
    .sort((a, b) => b.auroc - a.auroc || a.layerIndex - b.layerIndex || a.channel - b.channel);
  const perLayer = new Map<number, number>();
  const seen = new Set<string>();
  const out: AggregateResult['topSelective'] = [];
  for (const c of sorted) {
    const key = `${c.layerIndex}:${c.channel}`;
    const used = perLayer.get(c.layerIndex) ?? 0;
    if (seen.has(key) || used >= MAX_PER_LAYER) continue;
    seen.add(key);
    perLayer.set(c.layerIndex, used + 1);
    out.push(c);
    if (out.length === 20) break;
  }
  return out;
}

/**
 * The paper's question for some layers: are precision-selected neurons more class-selective than correlation-
 * selected ones? Per image, the mean AUROC (for the image's target class) of the neurons each metric selected; then
 * the mean over images with a 95% bootstrap interval, and the paired difference.
 */
function comparisonRow(
  ctx: AggregationContext,
  selectivity: Selectivity,
  label: string,
  layerIndex: number,
  ranges: readonly LayerRange[],
  resamples: number,
): ComparisonRow {
  const { numClasses } = ctx;
  const corr: number[] = [];
  const prec: number[] = [];
  const base: number[] = [];
  const diff: number[] = [];
  let higher = 0;
  const inRanges = (r: number) => ranges.some((l) => r >= l.start && r < l.start + l.channels);
  for (const i of ctx.images) {
    const at = (r: number) => selectivity.auroc[r * numClasses + i.target]!;
    if (i.target >= numClasses || !selectivity.present.includes(i.target)) continue;
    const a = Array.from(i.correlation).filter(inRanges).map(at);
    const b = Array.from(i.precision).filter(inRanges).map(at);
    const all: number[] = [];
    for (const l of ranges) for (let r = l.start; r < l.start + l.channels; r++) all.push(at(r));
    base.push(mean(all));
    if (a.length) corr.push(mean(a));
    if (b.length) prec.push(mean(b));
    if (a.length && b.length) {
      diff.push(mean(b) - mean(a));
      if (mean(b) > mean(a)) higher++;
    }
  }
  return {
    layer: label,
    layerIndex,
    images: diff.length,
    correlation: bootstrapMean(corr, resamples, 1),
    precision: bootstrapMean(prec, resamples, 2),
    baseline: mean(base),
    difference: bootstrapMean(diff, resamples, 3),
    precisionHigher: diff.length ? higher / diff.length : Number.NaN,
  };
}

/** `aggregate.parquet` from the comparison rows. */
function comparisonTable(rows: readonly ComparisonRow[]): Table {
  return makeTable(
    sweepComparisonSchema,
    {
      layer: rows.map((r) => r.layer),
      layer_index: Int32Array.from(rows, (r) => r.layerIndex),
      images: Int32Array.from(rows, (r) => r.images),
      correlation_mean: rows.map((r) => nan(r.correlation.mean)),
      correlation_low: rows.map((r) => nan(r.correlation.low)),
      correlation_high: rows.map((r) => nan(r.correlation.high)),
      precision_mean: rows.map((r) => nan(r.precision.mean)),
      precision_low: rows.map((r) => nan(r.precision.low)),
      precision_high: rows.map((r) => nan(r.precision.high)),
      baseline_mean: rows.map((r) => nan(r.baseline)),
      difference_mean: rows.map((r) => nan(r.difference.mean)),
      difference_low: rows.map((r) => nan(r.difference.low)),
      difference_high: rows.map((r) => nan(r.difference.high)),
      precision_higher: rows.map((r) => nan(r.precisionHigher)),
    },
    rows.length,
  );
}
