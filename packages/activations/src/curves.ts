/**
 * Blended copies through the extraction pool, for deletion and insertion curves (Petsiuk et al. 2018): a copy shows,
 * in the map cells ranked first by some ranking, one source image (e.g. a baseline: the cells are deleted) and in
 * the others another (e.g. the image itself). The sources and rankings are sent once in shared memory; each copy is
 * only (ranking, how many leading cells, which source first, which after), rendered by the worker that runs it. The
 * worker returns the target's softmax probability and the top-1 of every copy, in copy order.
 */
import { classProbabilities, type InputTensor, type OutputKind, tensorDims } from '@neuronscope/core';
import type * as ort from 'onnxruntime-node';
import type { MapGrid } from './map-accumulator.js';
import type { ExtractionPool } from './pool.js';
import type { BlendCopy, BlendResult, BlendTask, ModelSpec } from './protocol.js';

/** One curve job: the sources, the rankings and the copies to run. */
export interface BlendJob {
  /** Geometry of the model input (the sources are in its layout). */
  readonly shape: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>;
  /** Whole input tensors the copies take their cells from (e.g. the image, a blurred image, zeros). */
  readonly sources: readonly Float32Array[];
  /** Per ranking, the rank of every map cell (0 = first), row-major over the grid. */
  readonly rankings: readonly Int32Array[];
  readonly grid: MapGrid;
  readonly copies: readonly BlendCopy[];
  /** The class whose probability is recorded. */
  readonly target: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Every copy's target probability and top-1 class, in copy order. */
export interface BlendOutcome {
  readonly probability: Float64Array;
  readonly top1: Int32Array;
}

/** The map cell of every input pixel (row-major), for a grid of square blocks. */
export function cellOfPixel(grid: MapGrid): Int32Array {
  const { height, width, block, mapWidth } = grid;
  const out = new Int32Array(height * width);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / block) * mapWidth;
    for (let x = 0; x < width; x++) out[y * width + x] = row + Math.floor(x / block);
  }
  return out;
}

/**
 * Renders one blended copy into `out`: at every pixel whose cell ranks below `copy.count`, the values of source
 * `copy.first`; elsewhere those of `copy.rest`. All channels of a pixel come from the same source.
 */
export function renderBlend(
  shape: BlendJob['shape'],
  sources: readonly Float32Array[],
  ranks: Int32Array,
  cells: Int32Array,
  copy: BlendCopy,
  out: Float32Array,
): void {
  const first = sources[copy.first]!;
  const rest = sources[copy.rest]!;
  const { channels, height, width } = shape;
  const pixels = height * width;
  // NCHW: a channel is a plane of pixels; NHWC: a pixel is a run of channels.
  const [channelStride, pixelStride] = shape.layout === 'NCHW' ? [pixels, 1] : [1, channels];
  for (let p = 0; p < pixels; p++) {
    const from = ranks[cells[p]!]! < copy.count ? first : rest;
    for (let c = 0; c < channels; c++) {
      const o = c * channelStride + p * pixelStride;
      out[o] = from[o]!;
    }
  }
}

/** The worker's side of a blend task: renders the batch and runs it on `session` (the model with its logits). */
export async function runBlendTask(
  session: ort.InferenceSession,
  model: ModelSpec,
  task: BlendTask,
  batchInput: Float32Array,
  Tensor: typeof ort.Tensor,
): Promise<BlendResult> {
  const size = model.input.channels * model.input.height * model.input.width;
  const count = task.copies.length;
  const data = batchInput.subarray(0, count * size);
  const cells = cellOfPixel(task.grid);
  task.copies.forEach((copy, b) => {
    const ranks = task.rankings[copy.ranking]!;
    renderBlend(model.input, task.sources, ranks, cells, copy, data.subarray(b * size, (b + 1) * size));
  });
  const feeds = { [model.inputName]: new Tensor('float32', data, tensorDims(model.input, count)) };
  const out = await session.run(feeds, [model.outputName]);
  const logits = out[model.outputName]?.data as Float32Array | undefined;
  if (!logits) throw new Error(`the model did not return '${model.outputName}'`);
  return scores(logits, count, task.target, model.outputKind);
}

/** The target's probability and the top-1 of each of `count` rows of logits. */
function scores(logits: Float32Array, count: number, target: number, kind: OutputKind): BlendResult {
  const classes = logits.length / count;
  const probability = new Float64Array(count);
  const top1 = new Int32Array(count);
  for (let b = 0; b < count; b++) {
    const row = logits.subarray(b * classes, (b + 1) * classes);
    probability[b] = classProbabilities(row, kind)[target]!;
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k]! > row[best]!) best = k;
    top1[b] = best;
  }
  return { probability, top1 };
}

function sharedCopy<T extends Float32Array | Int32Array>(a: T): T {
  const out = new (a.constructor as { new (buffer: SharedArrayBuffer): T })(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

/** Runs a blend job on the pool in batches, several in flight; results in copy order. */
export async function runBlend(pool: ExtractionPool, job: BlendJob): Promise<BlendOutcome> {
  const sources = job.sources.map(sharedCopy);
  const rankings = job.rankings.map(sharedCopy);
  const batchSize = pool.spec.batchSize;
  const batches = Math.ceil(job.copies.length / batchSize);
  const probability = new Float64Array(job.copies.length);
  const top1 = new Int32Array(job.copies.length);
  const submitted = new Map<number, Promise<BlendResult>>();
  let next = 0;
  const submit = () => {
    const index = next++;
    const copies = job.copies.slice(index * batchSize, (index + 1) * batchSize);
    const task: BlendTask = {
      kind: 'blend',
      model: pool.spec,
      sources,
      rankings,
      grid: job.grid,
      copies,
      target: job.target,
    };
    submitted.set(index, pool.run<BlendResult>(task));
  };
  try {
    for (let index = 0; index < batches; index++) {
      while (next < batches && next - index < 2 * pool.workers) submit();
      const result = await submitted.get(index)!;
      submitted.delete(index);
      job.signal?.throwIfAborted();
      probability.set(result.probability, index * batchSize);
      top1.set(result.top1, index * batchSize);
      job.onProgress?.(Math.min(job.copies.length, (index + 1) * batchSize), job.copies.length);
    }
  } finally {
    await Promise.allSettled(submitted.values());
  }
  return { probability, top1 };
}
