/**
 * The test oracle of extraction: the plain serial pipeline, in process, with raw activations taken out of
 * onnxruntime and reduced in JavaScript (float64 per copy, no in-graph sums, no workers). Not used in production;
 * tests compare the pool's results with it.
 */
import {
  argmax,
  type InputTensor,
  type LayerInfo,
  type OutputKind,
  type OutputMode,
  type OutputMoments,
  outputValue,
  tensorDims,
} from '@neuronscope/core';
import type { LayerMomentsInput } from '@neuronscope/metrics';
import { createSession, withExtraOutputs } from '@neuronscope/model';
import { type CopyRecord, renderCopy } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import type { CopyRows } from '../src/image-extraction.js';
import { LayerRecorder } from '../src/recorder.js';

/** What the oracle needs: the model as loaded and one image's copies. */
export interface ReferenceInput {
  readonly model: Uint8Array;
  readonly inputName: string;
  readonly outputName: string;
  readonly input: InputTensor;
  readonly copies: readonly CopyRecord[];
  readonly layers: readonly LayerInfo[];
  readonly target: number | null;
  readonly output: OutputMode;
  readonly outputKind?: OutputKind;
  readonly batchSize: number;
}

/** The oracle's results, shaped as the pool's `Extraction`. */
export interface ReferenceExtraction {
  readonly target: number;
  readonly cleanLogits: Float32Array;
  readonly output: OutputMoments;
  readonly rows: CopyRows;
  readonly layers: LayerMomentsInput[];
  /** The copies exactly as fed to the model. */
  readonly inputs: Float32Array;
}

/** Runs the clean image and every copy through the model, serially, and reduces the raw activations in JS. */
export async function referenceExtract(job: ReferenceInput): Promise<ReferenceExtraction> {
  const session = await createSession(
    withExtraOutputs(job.model, [job.outputName, ...job.layers.map((l) => l.layer)]),
    { threads: 1 },
  );
  const { input, layers, copies } = job;
  const size = input.data.length;
  const run = async (data: Float32Array, batch: number) => {
    const result = await session.run({ [job.inputName]: new ort.Tensor('float32', data, tensorDims(input, batch)) });
    return (name: string) => Float32Array.from(result[name]!.data as Float32Array);
  };
  try {
    const clean = await run(input.data, 1);
    const cleanLogits = clean(job.outputName);
    const target = job.target ?? argmax(cleanLogits);
    const yShift = outputValue(cleanLogits, target, job.output, job.outputKind);
    const recorders = layers.map((l) => new LayerRecorder(l, clean(l.layer), job.batchSize));
    const output: OutputMoments = { count: 0, yShift, sumY: 0, sumYY: 0, target, output: job.output };
    const n = copies.length;
    const numClasses = cleanLogits.length;
    const totalChannels = layers.reduce((s, l) => s + l.channels, 0);
    const rows: CopyRows = {
      copies: new Int32Array(n),
      logits: new Float32Array(n * numClasses),
      y: new Float64Array(n),
      top1: new Int32Array(n),
      channelMeans: new Float32Array(n * totalChannels),
    };
    const inputs = new Float32Array(n * size);
    for (let start = 0; start < n; start += job.batchSize) {
      const batch = Math.min(job.batchSize, n - start);
      const data = inputs.subarray(start * size, (start + batch) * size);
      for (let b = 0; b < batch; b++) renderCopy(input, copies[start + b]!, data.subarray(b * size, (b + 1) * size));
      const result = await run(data, batch);
      const logits = result(job.outputName);
      const yCentred = new Float64Array(batch);
      for (let b = 0; b < batch; b++) {
        const row = logits.subarray(b * numClasses, (b + 1) * numClasses);
        const y = outputValue(row, target, job.output, job.outputKind);
        rows.copies[start + b] = copies[start + b]!.copy;
        rows.logits.set(row, (start + b) * numClasses);
        rows.y[start + b] = y;
        rows.top1[start + b] = argmax(row);
        yCentred[b] = y - yShift;
        output.sumY += y - yShift;
        output.sumYY += (y - yShift) ** 2;
      }
      output.count += batch;
      let offset = 0;
      recorders.forEach((recorder, k) => {
        recorder.observe(result(layers[k]!.layer), yCentred, batch);
        const c = layers[k]!.channels;
        for (let b = 0; b < batch; b++) {
          for (let ch = 0; ch < c; ch++) {
            rows.channelMeans[(start + b) * totalChannels + offset + ch] = recorder.channelMeans[b * c + ch]!;
          }
        }
        offset += c;
      });
    }
    const moments = recorders.map((r): LayerMomentsInput => {
      const l = r.layer;
      return {
        layer: l.layer,
        layerIndex: l.layerIndex,
        channels: l.channels,
        units: l.height * l.width,
        unit: r.units,
        channel: r.channels,
      };
    });
    return { target, cleanLogits, output, rows, layers: moments, inputs };
  } finally {
    await session.release();
  }
}
