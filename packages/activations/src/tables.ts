/**
 * The tables of the extract stage, written as the batches come: `outputs.parquet` and `activations.parquet` are
 * streamed (memory does not grow with N), the moments tables are written once at the end.
 */
import { join } from 'node:path';
import {
  activationsSchema,
  argmax,
  type LayerInfo,
  MOMENTS_METADATA_KEY,
  type Moments,
  makeTable,
  momentsSchema,
  type OutputMoments,
  outputsSchema,
  ParquetStreamWriter,
  unitsPerChannel,
} from '@neuronscope/core';
import { NpyWriter } from './npy.js';

/** Metadata key of `outputs.parquet` holding the clean image's logits and top-1. */
export const CLEAN_METADATA_KEY = 'neuronscope.clean';

/** The files that extraction writes into its output directory. */
export const EXTRACT_FILES = {
  outputs: 'outputs.parquet',
  activations: 'activations.parquet',
  unitStats: 'unit_stats.parquet',
  channelStats: 'channel_stats.parquet',
  inputs: 'inputs.npy',
} as const;

/** The files an extraction wrote, in the order it reports them (`inputs.npy` only when the inputs were dumped). */
export function extractedFiles(dumpInputs: boolean | undefined): string[] {
  const { outputs, activations, unitStats, channelStats, inputs } = EXTRACT_FILES;
  return dumpInputs
    ? [outputs, activations, unitStats, channelStats, inputs]
    : [outputs, activations, unitStats, channelStats];
}

/** One batch of copies, as the streamed tables record it. */
export interface BatchRows {
  /** Copy index of each row of the batch. */
  readonly copies: Int32Array;
  /** [batch, numClasses] */
  readonly logits: Float32Array;
  readonly y: Float64Array;
  readonly top1: Int32Array;
  /** Per layer: [batch, channels] spatial-mean activations. */
  readonly channelMeans: readonly ArrayLike<number>[];
}

/** The streamed tables (and `inputs.npy`) of one extraction. */
export class StreamedTables {
  private constructor(
    private readonly layers: readonly LayerInfo[],
    private readonly numClasses: number,
    private readonly outputs: ParquetStreamWriter,
    private readonly activations: ParquetStreamWriter,
    private readonly metadata: Record<string, string>,
    readonly npy: NpyWriter | undefined,
  ) {}

  /**
   * Opens the writers in `dir`. `inputsShape` (the full [N, ...] shape) also opens `inputs.npy`. The clean
   * image's logits, top-1 and the target ride along in the outputs table's metadata.
   */
  static async open(
    dir: string,
    layers: readonly LayerInfo[],
    cleanLogits: Float32Array,
    target: number,
    inputsShape?: readonly number[],
  ): Promise<StreamedTables> {
    const numClasses = cleanLogits.length;
    // Written for speed (no dictionaries or statistics): rows come by the thousand per copy.
    const activations = await ParquetStreamWriter.open(join(dir, EXTRACT_FILES.activations), activationsSchema, {
      fast: true,
      fastColumns: ['mean'],
    });
    const outputs = await ParquetStreamWriter.open(join(dir, EXTRACT_FILES.outputs), outputsSchema(numClasses), {
      fast: true,
    });
    const npy = inputsShape ? await NpyWriter.open(join(dir, EXTRACT_FILES.inputs), inputsShape) : undefined;
    const metadata = {
      [CLEAN_METADATA_KEY]: JSON.stringify({ logits: Array.from(cleanLogits), top1: argmax(cleanLogits), target }),
    };
    return new StreamedTables(layers, numClasses, outputs, activations, metadata, npy);
  }

  /** Appends one batch: one outputs row per copy, one activations row per copy, layer and channel. */
  writeBatch(rows: BatchRows): void {
    const batch = rows.copies.length;
    this.outputs.write(
      makeTable(
        outputsSchema(this.numClasses),
        { copy: rows.copies, logits: rows.logits, y: rows.y, top1: rows.top1 },
        batch,
        this.metadata,
      ),
    );
    // Copy-major, so the table reads in the order it was produced.
    const perCopy = this.layers.reduce((s, l) => s + l.channels, 0);
    const total = batch * perCopy;
    const copy = new Int32Array(total);
    const layerId = new Int32Array(total);
    const layerIndex = new Int32Array(total);
    const channel = new Int32Array(total);
    const mean = new Float32Array(total);
    let layerOffset = 0;
    this.layers.forEach((l, id) => {
      const c = l.channels;
      const means = rows.channelMeans[id]!;
      for (let b = 0; b < batch; b++) {
        const base = b * perCopy + layerOffset;
        const copyIndex = rows.copies[b]!;
        for (let ch = 0; ch < c; ch++) {
          copy[base + ch] = copyIndex;
          layerId[base + ch] = id;
          layerIndex[base + ch] = l.layerIndex;
          channel[base + ch] = ch;
          mean[base + ch] = means[b * c + ch]!;
        }
      }
      layerOffset += c;
    });
    this.activations.write(
      makeTable(
        activationsSchema,
        {
          copy,
          layer: { indices: layerId, dictionary: this.layers.map((l) => l.layer) },
          layer_index: layerIndex,
          channel,
          mean,
        },
        total,
      ),
    );
  }

  /** Finishes every file; `copies` (when fewer than declared) shortens `inputs.npy` to the copies written. */
  async close(copies?: number): Promise<void> {
    await this.npy?.close(copies);
    await this.activations.close();
    await this.outputs.close();
  }

  /** Drops every file being written. */
  async abort(): Promise<void> {
    await Promise.all([this.npy?.abort(), this.activations.abort(), this.outputs.abort()]);
  }
}

/** A layer's moments over its units and over its channels' spatial means. */
export interface LayerMoments {
  readonly layer: LayerInfo;
  readonly units: Moments;
  readonly channels: Moments;
}

/**
 * Writes `unit_stats.parquet` and `channel_stats.parquet` (one row per layer, channel and unit; per layer and
 * channel) with the output moments in their metadata. The unit table is streamed a layer at a time, so writing it
 * holds one layer's rows, not the whole table.
 */
export async function writeMomentsTables(
  dir: string,
  layers: readonly LayerMoments[],
  output: OutputMoments,
): Promise<void> {
  const metadata = { [MOMENTS_METADATA_KEY]: JSON.stringify(output) };
  const dictionary = layers.map((r) => r.layer.layer);
  for (const kind of ['unit', 'channel'] as const) {
    const schema = momentsSchema(kind);
    const path = join(dir, kind === 'unit' ? EXTRACT_FILES.unitStats : EXTRACT_FILES.channelStats);
    const writer = await ParquetStreamWriter.open(path, schema, {
      fast: true,
      fastColumns: ['shift', 'sum_a', 'sum_aa', 'sum_ay'],
    });
    try {
      // Channel statistics are small: one batch. Unit statistics: one batch per layer.
      const groups = kind === 'unit' ? layers.map((l, id) => [{ l, id }]) : [layers.map((l, id) => ({ l, id }))];
      for (const group of groups) {
        const rows = group.reduce((s, { l }) => s + (kind === 'unit' ? l.units : l.channels).shift.length, 0);
        const layerId = new Int32Array(rows);
        const layerIndex = new Int32Array(rows);
        const channel = new Int32Array(rows);
        const unit = new Int32Array(rows);
        const shift = new Float32Array(rows);
        const sumA = new Float64Array(rows);
        const sumAA = new Float64Array(rows);
        const sumAY = new Float64Array(rows);
        let offset = 0;
        for (const { l: r, id } of group) {
          const m = kind === 'unit' ? r.units : r.channels;
          const per = kind === 'unit' ? unitsPerChannel(r.layer) : 1;
          const n = m.shift.length;
          layerId.fill(id, offset, offset + n);
          layerIndex.fill(r.layer.layerIndex, offset, offset + n);
          for (let i = 0; i < n; i++) {
            channel[offset + i] = Math.floor(i / per);
            unit[offset + i] = i % per;
          }
          shift.set(m.shift, offset);
          sumA.set(m.sumA, offset);
          sumAA.set(m.sumAA, offset);
          sumAY.set(m.sumAY, offset);
          offset += n;
        }
        writer.write(
          makeTable(
            schema,
            {
              layer: { indices: layerId, dictionary },
              layer_index: layerIndex,
              channel,
              ...(kind === 'unit' ? { unit } : {}),
              shift,
              sum_a: sumA,
              sum_aa: sumAA,
              sum_ay: sumAY,
            },
            rows,
            metadata,
          ),
        );
        // Let the stream encode this batch before the next one is built.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }
}
