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
