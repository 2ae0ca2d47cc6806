/**
 * A piscina worker of the extraction pool. Each worker holds one onnxruntime session of the model with in-graph
 * reductions (created on its first task of a job, kept for the job's later tasks) and, per task, renders a batch
 * of copies from the perturbation records, runs them into its own output buffer, merges the batch's per-unit
 * partial sums into the shared float64 sums when it is the batch's turn (merge.ts), and hands back the small
 * per-copy outputs (logits, channel means).
 */
import { tensorDims, UserError } from '@neuronscope/core';
import { type CopyRecord, renderCopy } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import { awaitTurn, finishTurn, mergeBatch } from './merge.js';
import {
  type BatchResult,
  type BatchTask,
  type CleanResult,
  type CleanTask,
  type JobSpec,
  USER_ERROR_MARK,
  type WorkerTask,
} from './protocol.js';
import { type SlotLayout, slotViews } from './slots.js';

interface WorkerState {
  readonly id: string;
  readonly session: ort.InferenceSession;
  readonly job: JobSpec;
  /** The clean input tensor (copied out of shared memory once). */
  readonly input: Float32Array;
  /** Per layer: the shift fed to the graph, or zeros before the shifts are known. */
  shifts: Float32Array[] | null;
  readonly zeros: Float32Array[];
  /** Rendered copies of a batch. */
  readonly batchInput: Float32Array;
  /** onnxruntime's outputs of a batch (allocated on the first batch, when the layout is known). */
  slot: ArrayBuffer | null;
}

let state: WorkerState | null = null;

async function stateFor(job: JobSpec): Promise<WorkerState> {
  if (state?.id === job.id) return state;
  if (state) await state.session.release();
  state = null;
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  if (job.threads !== undefined) options.intraOpNumThreads = job.threads;
  let session: ort.InferenceSession;
  try {
    // onnxruntime takes no shared memory: a private copy, dropped once the session holds the weights.
    const bytes = new Uint8Array(job.model.length);
    bytes.set(job.model);
    session = await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    const firstLine = ((err as Error).message ?? String(err)).split('\n')[0]!.trim();
    throw new UserError(`onnxruntime cannot load the model: ${firstLine}`);
  }
  const size = job.input.channels * job.input.height * job.input.width;
  state = {
    id: job.id,
    session,
    job,
    input: Float32Array.from(job.input.data),
    shifts: null,
    zeros: job.layers.map((l) => new Float32Array(l.channels * l.height * l.width)),
    batchInput: new Float32Array(job.batchSize * size),
    slot: null,
  };
  return state;
}

/** Runs `batch` copies held in `data` with the given shifts, writing every output into the slot's views. */
async function runBatch(
  s: WorkerState,
  layout: SlotLayout,
  buffer: ArrayBufferLike,
  data: Float32Array,
  batch: number,
  shifts: readonly Float32Array[],
  target: number,
  yShift: number,
): Promise<void> {
  const { job } = s;
  const names = job.names;
  const views = slotViews(buffer, layout, batch);
  const feeds: Record<string, ort.Tensor> = {
    [job.inputName]: new ort.Tensor('float32', data, tensorDims(job.input, batch)),
    [names.target]: new ort.Tensor('int64', BigInt64Array.of(BigInt(target)), [1]),
    [names.yShift]: new ort.Tensor('float64', Float64Array.of(yShift), [1]),
  };
  const fetches: Record<string, ort.Tensor> = {
    [job.outputName]: new ort.Tensor('float32', views.logits, [batch, layout.numClasses]),
    [names.e]: new ort.Tensor('float32', views.e, [batch, 1]),
  };
  job.layers.forEach((l, k) => {
    const units = layout.units[k]!;
    feeds[names.shifts[k]!] = new ort.Tensor('float32', shifts[k]!, [l.channels, l.height, l.width]);
    fetches[names.sums[k]!] = new ort.Tensor('float32', views.sums[k]!, [2, units]);
    fetches[names.squares[k]!] = new ort.Tensor('float32', views.squares[k]!, [units]);
    fetches[names.means[k]!] = new ort.Tensor('float32', views.means[k]!, [batch, l.channels, 1, 1]);
  });
  await s.session.run(feeds, fetches);
}

/** The clean copy through the graph with zero shifts: its logits and, exactly, its activation of every layer. */
async function clean(task: CleanTask): Promise<CleanResult> {
  const s = await stateFor(task.job);
  const { job } = s;
  const names = job.names;
  const units = job.layers.map((l) => l.channels * l.height * l.width);
  const sums = units.map((u) => new Float32Array(2 * u));
  const feeds: Record<string, ort.Tensor> = {
    [job.inputName]: new ort.Tensor('float32', s.input, tensorDims(job.input, 1)),
    [names.target]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [names.yShift]: new ort.Tensor('float64', Float64Array.of(0), [1]),
  };
  const fetches: Record<string, ort.Tensor | null> = { [job.outputName]: null };
  job.layers.forEach((l, k) => {
    feeds[names.shifts[k]!] = new ort.Tensor('float32', s.zeros[k]!, [l.channels, l.height, l.width]);
    fetches[names.sums[k]!] = new ort.Tensor('float32', sums[k]!, [2, units[k]!]);
  });
  const out = await s.session.run(feeds, fetches);
  const logits = out[job.outputName]?.data;
  if (!(logits instanceof Float32Array)) throw new Error(`the model did not return float32 '${job.outputName}'`);
  const activations = new Float32Array(units.reduce((a, b) => a + b, 0));
  let at = 0;
  sums.forEach((row, k) => {
    // With a zero shift and a batch of one, sum d over the batch is the activation itself.
    activations.set(row.subarray(0, units[k]!), at);
    at += units[k]!;
  });
  return { logits: Float32Array.from(logits), activations };
}

async function batch(task: BatchTask): Promise<BatchResult> {
  const s = await stateFor(task.job);
  if (s.shifts === null || s.shifts.length === 0) {
    const flat = new Float32Array(task.shifts); // copy out of shared memory, once per job and worker
    let at = 0;
    s.shifts = task.job.layers.map((l) => {
      const n = l.channels * l.height * l.width;
      const view = flat.subarray(at, at + n);
      at += n;
      return view;
    });
  }
  const layout = task.layout;
  s.slot ??= new ArrayBuffer(layout.length * 4);
  const count = task.copies.length;
  const size = s.input.length;
  const views = slotViews(s.slot, layout, count);
  const t0 = performance.now();
  let data = task.inputs;
  if (data === null) {
    data = s.batchInput.subarray(0, count * size);
    task.copies.forEach((copy: CopyRecord, b) => {
      renderCopy({ ...task.job.input, data: s.input }, copy, data!.subarray(b * size, (b + 1) * size));
    });
  }
  const t1 = performance.now();
  await runBatch(s, layout, s.slot, data, count, s.shifts, task.target, task.yShift);
  const t2 = performance.now();
  const { turn, waited } = awaitTurn(task.sums, task.index);
  const t3 = performance.now();
  if (turn) {
    mergeBatch(task.sums, layout, views);
    // auto: the even batches make the first half-sample.
    if (task.sums.half && task.index % 2 === 0) mergeBatch(task.sums.half, layout, views);
    finishTurn(task.sums, task.index);
  }
  const o = layout.offsets;
  return {
    logits: views.logits.slice(),
    means: new Float32Array(s.slot, o.means * 4, layout.maxBatch * layout.totalChannels).slice(),
    render: t1 - t0,
    inference: t2 - t1,
    wait: waited,
    merge: performance.now() - t3,
    merged: turn,
  };
}

async function dispatch(task: WorkerTask): Promise<unknown> {
  switch (task.kind) {
    case 'open':
      await stateFor(task.job);
      return null;
    case 'clean':
      return clean(task);
    case 'batch':
      return batch(task);
  }
}

/**
 * The worker's entry point: one task at a time. Errors cross the thread boundary as plain Errors, so a user error
 * (a copy whose recorded params are invalid, a model onnxruntime rejects) is marked in its message.
 */
export default async function work(task: WorkerTask): Promise<unknown> {
  try {
    return await dispatch(task);
  } catch (err) {
    if (err instanceof UserError) throw new Error(`${USER_ERROR_MARK}${err.message}`);
    throw err;
  }
}
