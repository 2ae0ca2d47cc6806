import {
  argmax,
  type InputTensor,
  type LayerInfo,
  type OutputMode,
  type OutputMoments,
  outputValue,
  tensorDims,
} from '@neuronscope/core';
import { type CopyRecord, renderCopy } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import { LayerRecorder } from './recorder.js';
import { extractedFiles, StreamedTables, writeMomentsTables } from './tables.js';

export { CLEAN_METADATA_KEY, EXTRACT_FILES } from './tables.js';

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

  const tables = await StreamedTables.open(
    job.outDir,
    layers,
    cleanLogits,
    target,
    job.dumpInputs ? [copies.length, ...tensorDims(input).slice(1)] : undefined,
  );
  const batchData = new Float32Array(job.batchSize * size);
  const yCentred = new Float64Array(job.batchSize);

  try {
    for (let start = 0; start < copies.length; start += job.batchSize) {
      const batch = Math.min(job.batchSize, copies.length - start);
      for (let b = 0; b < batch; b++) {
        renderCopy(input, copies[start + b]!, batchData.subarray(b * size, (b + 1) * size));
      }
      const data = batchData.subarray(0, batch * size);
      await tables.npy?.write(data);
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
      const channelMeans = recorders.map((recorder) => {
        recorder.observe(result.layer(recorder.layer.layer), yCentred, batch);
        return recorder.channelMeans;
      });
      tables.writeBatch({
        copies: Int32Array.from({ length: batch }, (_, b) => copies[start + b]!.copy),
        logits: Float32Array.from(result.logits),
        y,
        top1,
        channelMeans,
      });
      job.onProgress?.(start + batch, copies.length);
    }
    await tables.close();
  } catch (err) {
    await tables.abort();
    throw err;
  }

  await writeMomentsTables(job.outDir, recorders, outputMoments);

  const files = extractedFiles(job.dumpInputs);
  return { target, cleanLogits, output: outputMoments, files };
}
