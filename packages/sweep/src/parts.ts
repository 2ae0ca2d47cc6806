import { readFile } from 'node:fs/promises';
import {
  makeTable,
  parquetToTable,
  SWEEP_IMAGE_METADATA_KEY,
  sweepNeuronsSchema,
  type Table,
  tableMetadata,
  writeParquetFile,
} from '@neuronscope/core';
import type { AnalysisSettings, ImageAnalysis } from './analyse.js';
import type { PlanItem, SweepPaths } from './plan.js';

/** One row of `sweep/images.parquet`. */
export interface ImageRow {
  image: string;
  source: string;
  label: number | null;
  label_name: string | null;
  prediction: number | null;
  prediction_name: string | null;
  probability: number | null;
  target: number | null;
  target_name: string | null;
  target_probability: number | null;
  copies_keeping_target: number | null;
  status: 'ok' | 'error' | 'failed';
  error: string | null;
  key: string;
}

/** The outcome of one image: analysed, or an error (`error`: the image is bad; `failed`: the job kept failing). */
export type Outcome = { analysis: ImageAnalysis } | { status: 'error' | 'failed'; error: string };

/** The images row of an outcome. */
export function imageRow(item: PlanItem, outcome: Outcome, labels: readonly string[] | null): ImageRow {
  const name = (c: number | null) => (c === null ? null : (labels?.[c] ?? null));
  const base = {
    image: item.image,
    source: item.source,
    label: item.labelIndex,
    label_name: item.labelName,
    key: item.key,
  };
  if ('analysis' in outcome) {
    const a = outcome.analysis;
    return {
      ...base,
      prediction: a.prediction,
      prediction_name: name(a.prediction),
      probability: a.probability,
      target: a.target,
      target_name: name(a.target),
      target_probability: a.targetProbability,
      copies_keeping_target: a.copiesKeepingTarget,
      status: 'ok',
      error: null,
    };
  }
  return {
    ...base,
    prediction: null,
    prediction_name: null,
    probability: null,
    target: null,
    target_name: null,
    target_probability: null,
    copies_keeping_target: null,
    status: outcome.status,
    error: outcome.error,
  };
}

/** Values of a column as a plain array (nulls kept). */
function values<T>(t: Table, name: string): T[] {
  const v = t.getChild(name);
  if (!v) throw new Error(`table has no column ${name}`);
  return [...v] as T[];
}

/** The part table of one image: its neuron rows (none for an error) with its images row in the metadata. */
export function partTable(row: ImageRow, outcome: Outcome, settings: AnalysisSettings): Table {
  const metadata = { [SWEEP_IMAGE_METADATA_KEY]: JSON.stringify(row) };
  if (!('analysis' in outcome)) {
    const empty = () => new Int32Array(0);
    return makeTable(
      sweepNeuronsSchema,
      {
        image: { indices: empty(), dictionary: [row.image] },
        layer: { indices: empty(), dictionary: settings.layers.map((l) => l.layer) },
        layer_index: empty(),
        channel: empty(),
        correlation: new Float64Array(0),
        correlation_channel: new Float64Array(0),
        precision: new Float64Array(0),
        snr: new Float64Array(0),
        mean_activation: new Float64Array(0),
        clean_activation: new Float32Array(0),
        peak_unit: new Int32Array(0),
        peak_value: new Float32Array(0),
        eligible: [],
        rank_correlation: [],
        rank_precision: [],
        selected_correlation: [],
        selected_precision: [],
      },
      0,
      metadata,
    );
  }
  const n = outcome.analysis.neurons;
  const rows = n.numRows;
  const layerIndex = Int32Array.from(values<number>(n, 'layer_index'));
  const position = new Map(settings.layers.map((l, i) => [l.layerIndex, i]));
  const f64 = (name: string) => Float64Array.from(values<number>(n, name));
  return makeTable(
    sweepNeuronsSchema,
    {
      image: { indices: new Int32Array(rows), dictionary: [row.image] },
      layer: {
        indices: Int32Array.from(layerIndex, (li) => position.get(li)!),
        dictionary: settings.layers.map((l) => l.layer),
      },
      layer_index: layerIndex,
      channel: Int32Array.from(values<number>(n, 'channel')),
      correlation: f64('correlation'),
      correlation_channel: f64('correlation_channel'),
      precision: f64('precision'),
      snr: f64('snr'),
      mean_activation: f64('mean_activation'),
      clean_activation: outcome.analysis.cleanActivation,
      peak_unit: outcome.analysis.peakUnit,
      peak_value: outcome.analysis.peakValue,
      eligible: values<boolean>(n, 'eligible'),
      rank_correlation: values<number | null>(n, 'rank_correlation'),
      rank_precision: values<number | null>(n, 'rank_precision'),
      selected_correlation: values<boolean>(n, 'selected_correlation'),
      selected_precision: values<boolean>(n, 'selected_precision'),
    },
    rows,
    metadata,
  );
}

/** Writes the part of one image atomically: its existence marks the image as done. */
export async function writePart(paths: SweepPaths, row: ImageRow, outcome: Outcome, settings: AnalysisSettings) {
  await writeParquetFile(paths.part(row.key), partTable(row, outcome, settings));
}

/** A part as read back: the images row and the neuron rows. */
export interface Part {
  row: ImageRow;
  neurons: Table;
}

/** Reads a part; null when it does not exist (the image is not done). */
export async function readPart(paths: SweepPaths, key: string): Promise<Part | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(paths.part(key));
  } catch {
    return null;
  }
  const neurons = parquetToTable(bytes);
  const row = tableMetadata<ImageRow>(neurons, SWEEP_IMAGE_METADATA_KEY);
  if (!row) throw new Error(`${paths.part(key)} lacks its image row`);
  return { row, neurons };
}

/** The neuron rows of a part without its metadata: every batch of the compacted file has the plain schema. */
export function withoutMetadata(neurons: Table): Table {
  const rows = neurons.numRows;
  const dictionary = (name: string) => {
    const dict: string[] = [];
    const position = new Map<string, number>();
    const indices = Int32Array.from(values<string>(neurons, name), (v) => {
      let i = position.get(v);
      if (i === undefined) {
        i = dict.length;
        dict.push(v);
        position.set(v, i);
      }
      return i;
    });
    return { indices, dictionary: dict };
  };
  const typed = <T extends Int32Array | Float32Array | Float64Array>(name: string, make: (v: number[]) => T) =>
    make(values<number>(neurons, name));
  return makeTable(
    sweepNeuronsSchema,
    {
      image: dictionary('image'),
      layer: dictionary('layer'),
      layer_index: typed('layer_index', (v) => Int32Array.from(v)),
      channel: typed('channel', (v) => Int32Array.from(v)),
      correlation: typed('correlation', (v) => Float64Array.from(v)),
      correlation_channel: typed('correlation_channel', (v) => Float64Array.from(v)),
      precision: typed('precision', (v) => Float64Array.from(v)),
      snr: typed('snr', (v) => Float64Array.from(v)),
      mean_activation: typed('mean_activation', (v) => Float64Array.from(v)),
      clean_activation: typed('clean_activation', (v) => Float32Array.from(v)),
      peak_unit: typed('peak_unit', (v) => Int32Array.from(v)),
      peak_value: typed('peak_value', (v) => Float32Array.from(v)),
      eligible: values<boolean>(neurons, 'eligible'),
      rank_correlation: values<number | null>(neurons, 'rank_correlation'),
      rank_precision: values<number | null>(neurons, 'rank_precision'),
      selected_correlation: values<boolean>(neurons, 'selected_correlation'),
      selected_precision: values<boolean>(neurons, 'selected_precision'),
    },
    rows,
  );
}
