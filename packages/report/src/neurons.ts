import { columnValues, numericColumn } from '@neuronscope/core';

/** An Arrow table of `neuronsSchema` (`neurons.parquet`), typed through core's readers. */
export type NeuronsTable = Parameters<typeof columnValues>[0];

/** What the full per-channel table adds to a layer's summary: the context of the selected values. */
export interface LayerNeuronStats {
  readonly channels: number;
  readonly eligible: number;
  /** Channels with a defined (not NaN) correlation. */
  readonly withCorrelation: number;
  readonly medianCorrelation: number | null;
  readonly maxCorrelation: number | null;
  /** Median precision over eligible channels. */
  readonly medianPrecision: number | null;
  /** Eligible channels that never change over the copies (zero variance, precision ∞). */
  readonly constantEligible: number;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = values.sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Per-layer statistics of a `neurons.parquet` table, keyed by `layer_index`. */
export function neuronStatsByLayer(neurons: NeuronsTable): Map<number, LayerNeuronStats> {
  const layer = numericColumn(neurons, 'layer_index');
  const correlation = numericColumn(neurons, 'correlation');
  const precision = numericColumn(neurons, 'precision');
  const eligible = columnValues<boolean>(neurons, 'eligible');
  const rows = new Map<number, number[]>();
  for (let i = 0; i < layer.length; i++) {
    const list = rows.get(layer[i]!);
    if (list) list.push(i);
    else rows.set(layer[i]!, [i]);
  }
  const stats = new Map<number, LayerNeuronStats>();
  for (const [index, list] of rows) {
    const corr = list.map((i) => correlation[i]!).filter((v) => !Number.isNaN(v));
    const prec = list.filter((i) => eligible[i]).map((i) => precision[i]!);
    stats.set(index, {
      channels: list.length,
      eligible: prec.length,
      withCorrelation: corr.length,
      medianCorrelation: median(corr),
      maxCorrelation: corr.length ? Math.max(...corr) : null,
      medianPrecision: median(prec.filter((v) => !Number.isNaN(v))),
      constantEligible: prec.filter((v) => v === Number.POSITIVE_INFINITY).length,
    });
  }
  return stats;
}

/** What the report says about one channel beyond the summary's selections. */
export interface NeuronFacts {
  /** 1-based rank by correlation in its layer; null when its correlation is undefined. */
  readonly rankCorrelation: number | null;
  /** 1-based rank by precision among the layer's eligible channels; null when not eligible. */
  readonly rankPrecision: number | null;
  readonly correlation: number;
  readonly precision: number;
  readonly meanActivation: number;
  readonly eligible: boolean;
}

/** The facts of every channel of a `neurons.parquet` table, by `layerIndex:channel`. */
export function neuronFacts(neurons: NeuronsTable): Map<string, NeuronFacts> {
  const layer = numericColumn(neurons, 'layer_index');
  const channel = numericColumn(neurons, 'channel');
  const correlation = numericColumn(neurons, 'correlation');
  const precision = numericColumn(neurons, 'precision');
  const mean = numericColumn(neurons, 'mean_activation');
  const eligible = columnValues<boolean>(neurons, 'eligible');
  // Spread, not toArray(): a typed array would turn the nulls of these nullable columns into zeros.
  const nullable = (name: string) => [...(neurons.getChild(name) ?? [])] as (number | null)[];
  const rankC = nullable('rank_correlation');
  const rankP = nullable('rank_precision');
  const facts = new Map<string, NeuronFacts>();
  for (let i = 0; i < layer.length; i++) {
    facts.set(`${layer[i]}:${channel[i]}`, {
      rankCorrelation: rankC[i] ?? null,
      rankPrecision: rankP[i] ?? null,
      correlation: correlation[i]!,
      precision: precision[i]!,
      meanActivation: mean[i]!,
      eligible: Boolean(eligible[i]),
    });
  }
  return facts;
}
