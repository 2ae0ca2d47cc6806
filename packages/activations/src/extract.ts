import { join } from 'node:path';
import {
  activationsSchema,
  argmax,
  type InputTensor,
  type LayerInfo,
  MOMENTS_METADATA_KEY,
  makeTable,
  momentsSchema,
  type OutputMode,
  type OutputMoments,
  outputsSchema,
  outputValue,
  ParquetStreamWriter,
  tensorDims,
  unitsPerChannel,
  writeParquetFile,
} from '@neuronscope/core';
import { type CopyRecord, renderCopy } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import { NpyWriter } from './npy.js';
import { LayerRecorder } from './recorder.js';

/** Everything the extract stage needs; the session must already output the recorded layers. */
export interface ExtractInput {
  readonly session: ort.InferenceSession;
  readonly inputName: string;
  readonly outputName: string;
  /** The clean preprocessed image. */
  readonly input: InputTensor;
  /** The copies to run, in order (from the perturbation table). */
  readonly copies: readonly CopyRecord[];
  readonly layers: readonly LayerInfo[];
  /** Target class, or null for the clean image's top-1. */
  readonly target: number | null;
  readonly output: OutputMode;
  /** Copies per inference call (1 for a model with a fixed batch of 1). */
  readonly batchSize: number;
  readonly outDir: string;
  /** Also write `inputs.npy`: the exact float32 tensors fed to the model, in its layout. */
  readonly dumpInputs?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

/** What extraction found out, beside the files it wrote. */
export interface ExtractResult {
  readonly target: number;
  readonly cleanLogits: Float32Array;
  readonly output: OutputMoments;
  readonly files: readonly string[];
}

/** Metadata key of `outputs.parquet` holding the clean image's logits and top-1. */
export const CLEAN_METADATA_KEY = 'neuronscope.clean';

/** The files that {@link extract} writes into its output directory. */
export const EXTRACT_FILES = {
  outputs: 'outputs.parquet',
  activations: 'activations.parquet',
  unitStats: 'unit_stats.parquet',
  channelStats: 'channel_stats.parquet',
  inputs: 'inputs.npy',
} as const;

/**
 * Runs the clean image and then every copy through the network in batches, reducing each recorded layer on the
 * fly into shifted per-unit and per-channel moments (memory fixed by the layers, not by N). Writes
 * `outputs.parquet`, `activations.parquet`, `unit_stats.parquet`, `channel_stats.parquet` (and `inputs.npy`),
 * each atomically.
 */
export async function extract(job: ExtractInput): Promise<ExtractResult> {
  const { session, input, layers, copies } = job;
  const fetches = [job.outputName, ...layers.map((l) => l.layer)];
  const size = input.data.length;
  const run = async (data: Float32Array, batch: number) => {
    const feeds = { [job.inputName]: new ort.Tensor('float32', data, tensorDims(input, batch)) };
    const result = await session.run(feeds, fetches);
    const tensor = (name: string) => {
      const t = result[name];
      if (!t || !(t.data instanceof Float32Array)) throw new Error(`the model did not return float32 '${name}'`);
      return t.data;
    };
    return { logits: tensor(job.outputName), layer: tensor };
  };

  // The clean image fixes the target and the shifts that keep the float64 sums exact.
  const clean = await run(input.data, 1);
  const cleanLogits = Float32Array.from(clean.logits);
  const numClasses = cleanLogits.length;
  const target = job.target ?? argmax(cleanLogits);
  if (target >= numClasses) throw new Error(`target ${target} is not a class of this model (${numClasses} classes)`);
  const yShift = outputValue(cleanLogits, target, job.output);
  const recorders = layers.map((l) => new LayerRecorder(l, clean.layer(l.layer), job.batchSize));
  const outputMoments: OutputMoments = { count: 0, yShift, sumY: 0, sumYY: 0, target, output: job.output };

  const dir = job.outDir;
  const activationsWriter = await ParquetStreamWriter.open(join(dir, EXTRACT_FILES.activations), activationsSchema);
  const outputsWriter = await ParquetStreamWriter.open(join(dir, EXTRACT_FILES.outputs), outputsSchema(numClasses));
  const npy = job.dumpInputs
    ? await NpyWriter.open(join(dir, EXTRACT_FILES.inputs), [copies.length, ...tensorDims(input).slice(1)])
    : undefined;
  // The clean image's logits ride along in the outputs table's metadata (the clean image is not one of the copies).
  const outputsMetadata = {
    [CLEAN_METADATA_KEY]: JSON.stringify({ logits: Array.from(cleanLogits), top1: argmax(cleanLogits), target }),
  };
  const layerDictionary = layers.map((l) => l.layer);
  const channelsPerCopy = layers.reduce((s, l) => s + l.channels, 0);
  const batchData = new Float32Array(job.batchSize * size);
  const yCentred = new Float64Array(job.batchSize);

  try {
    for (let start = 0; start < copies.length; start += job.batchSize) {
      const batch = Math.min(job.batchSize, copies.length - start);
      for (let b = 0; b < batch; b++) {
        renderCopy(input, copies[start + b]!, batchData.subarray(b * size, (b + 1) * size));
      }
      const data = batchData.subarray(0, batch * size);
      await npy?.write(data);
      const result = await run(data, batch);

      const y = new Float64Array(batch);
      const top1 = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        const row = result.logits.subarray(b * numClasses, (b + 1) * numClasses);
        y[b] = outputValue(row, target, job.output);
        top1[b] = argmax(row);
        const e = (y[b] as number) - yShift;
        yCentred[b] = e;
        outputMoments.sumY += e;
        outputMoments.sumYY += e * e;
      }
      outputMoments.count += batch;
      const copyIndex = Int32Array.from({ length: batch }, (_, b) => copies[start + b]!.copy);
      outputsWriter.write(
        makeTable(
          outputsSchema(numClasses),
          { copy: copyIndex, logits: Float32Array.from(result.logits), y, top1 },
          batch,
          outputsMetadata,
        ),
      );

      // One row per (copy, layer, channel), copy-major so the table reads in the order it was produced.
      const rows = batch * channelsPerCopy;
      const columns = {
        copy: new Int32Array(rows),
        layerId: new Int32Array(rows),
        layerIndex: new Int32Array(rows),
        channel: new Int32Array(rows),
        mean: new Float32Array(rows),
      };
      let layerOffset = 0;
      recorders.forEach((recorder, id) => {
        recorder.observe(result.layer(recorder.layer.layer), yCentred, batch);
        const c = recorder.layer.channels;
        for (let b = 0; b < batch; b++) {
          const rowBase = b * channelsPerCopy + layerOffset;
          for (let ch = 0; ch < c; ch++) {
            const row = rowBase + ch;
            columns.copy[row] = copyIndex[b] as number;
            columns.layerId[row] = id;
            columns.layerIndex[row] = recorder.layer.layerIndex;
            columns.channel[row] = ch;
            columns.mean[row] = recorder.channelMeans[b * c + ch] as number;
          }
        }
        layerOffset += c;
      });
      activationsWriter.write(
        makeTable(
          activationsSchema,
          {
            copy: columns.copy,
            layer: { indices: columns.layerId, dictionary: layerDictionary },
            layer_index: columns.layerIndex,
            channel: columns.channel,
            mean: columns.mean,
          },
          rows,
        ),
      );
      job.onProgress?.(start + batch, copies.length);
    }
    await npy?.close();
    await activationsWriter.close();
    await outputsWriter.close();
  } catch (err) {
    await Promise.all([npy?.abort(), activationsWriter.abort(), outputsWriter.abort()]);
    throw err;
  }

  await writeMomentsTables(dir, recorders, outputMoments);

  const files: string[] = [
    EXTRACT_FILES.outputs,
    EXTRACT_FILES.activations,
    EXTRACT_FILES.unitStats,
    EXTRACT_FILES.channelStats,
  ];
  if (job.dumpInputs) files.push(EXTRACT_FILES.inputs);
  return { target, cleanLogits, output: outputMoments, files };
}

async function writeMomentsTables(dir: string, recorders: readonly LayerRecorder[], output: OutputMoments) {
  const metadata = { [MOMENTS_METADATA_KEY]: JSON.stringify(output) };
  for (const kind of ['unit', 'channel'] as const) {
    const rows = recorders.reduce((s, r) => s + (kind === 'unit' ? r.units : r.channels).shift.length, 0);
    const layerId = new Int32Array(rows);
    const layerIndex = new Int32Array(rows);
    const channel = new Int32Array(rows);
    const unit = new Int32Array(rows);
    const shift = new Float32Array(rows);
    const sumA = new Float64Array(rows);
    const sumAA = new Float64Array(rows);
    const sumAY = new Float64Array(rows);
    let offset = 0;
    recorders.forEach((r, id) => {
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
    });
    const dictionary = recorders.map((r) => r.layer.layer);
    const table = makeTable(
      momentsSchema(kind),
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
    );
    await writeParquetFile(join(dir, kind === 'unit' ? EXTRACT_FILES.unitStats : EXTRACT_FILES.channelStats), table);
  }
}
