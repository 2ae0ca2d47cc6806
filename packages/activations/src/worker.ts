/**
 * A piscina worker of the extraction pool. Each worker holds, for the pool's model, one onnxruntime session of the
 * model with in-graph reductions (and, when heat maps are asked for, one session of the model with the spatial
 * means of the mapped layers), created on first use and kept for the pool's lifetime: every image of a sweep runs
 * on the same sessions. Per task it renders a batch of copies from their perturbation records, runs them into its
 * own output buffer, merges the batch's per-unit partial sums into the image's shared float64 sums when it is the
 * batch's turn (merge.ts), and hands back the small per-copy outputs (logits, channel means).
 */
import { outputValue, tensorDims, UserError } from '@neuronscope/core';
import { channelMeanOutput, withChannelMeans } from '@neuronscope/model';
import { type CopyRecord, maskFor, renderCopy } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import { runBlendTask } from './curves.js';
import { deconvTask } from './deconv-task.js';
import { poolMask, poolScratch } from './map-accumulator.js';
import { awaitTurn, finishTurn, mergeBatch } from './merge.js';
import {
  type BatchResult,
  type BatchTask,
  type BlendTask,
  type CleanResult,
  type CleanTask,
  type MapsResult,
  type MapsTask,
  type ModelSpec,
  type ReleaseTask,
  USER_ERROR_MARK,
  type WorkerTask,
} from './protocol.js';
import { type SlotLayout, slotViews } from './slots.js';

interface WorkerState {
  readonly model: ModelSpec;
  readonly session: ort.InferenceSession;
  /** Heat-map sessions, by the set of layers whose spatial means they fetch. */
  readonly mapSessions: Map<string, Promise<ort.InferenceSession>>;
  readonly zeros: Float32Array[];
  /** Rendered copies of a batch. */
  readonly batchInput: Float32Array;
  /** onnxruntime's outputs of a batch (allocated on the first batch, when the layout is known). */
  slot: ArrayBuffer | null;
  /** The shifts of the images seen last, privately (onnxruntime takes no shared memory), by image id. */
  readonly shifts: Map<string, Float32Array[]>;
}

/** Images whose shifts a worker keeps: the pool runs at most a few images at once. */
const KEPT_IMAGES = 4;

let state: Promise<WorkerState> | null = null;
let stateId: string | null = null;

async function openSession(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    intraOpNumThreads: threads,
  };
  try {
    // onnxruntime takes no shared memory: a private copy, dropped once the session holds the weights.
    const own = new Uint8Array(bytes.length);
    own.set(bytes);
    return await ort.InferenceSession.create(own, options);
  } catch (err) {
    const firstLine = ((err as Error).message ?? String(err)).split('\n')[0]!.trim();
    throw new UserError(`onnxruntime cannot load the model: ${firstLine}`);
  }
}

async function createState(model: ModelSpec): Promise<WorkerState> {
  const session = await openSession(model.reducing, model.threads);
  const { channels, height, width } = model.input;
  return {
    model,
    session,
    mapSessions: new Map(),
    zeros: model.layers.map((l) => new Float32Array(l.channels * l.height * l.width)),
    batchInput: new Float32Array(model.batchSize * channels * height * width),
    slot: null,
    shifts: new Map(),
  };
}

/** The worker's state for the pool's model, created on the first task (a new model replaces the old one). */
async function stateFor(model: ModelSpec): Promise<WorkerState> {
  if (state && stateId === model.id) return state;
  const previous = state;
  stateId = model.id;
  state = (async () => {
    const old = await previous?.catch(() => null);
    if (old) await releaseState(old);
    return createState(model);
  })();
  state.catch(() => {
    state = null;
    stateId = null;
  });
  return state;
}

async function releaseState(s: WorkerState): Promise<void> {
  await s.session.release();
  for (const p of s.mapSessions.values()) await (await p.catch(() => null))?.release();
}

/** The private copy of an image's shifts, one view per layer. */
function shiftsOf(s: WorkerState, task: BatchTask): Float32Array[] {
  let views = s.shifts.get(task.image.id);
  if (views) return views;
  const flat = new Float32Array(task.shifts); // copy out of shared memory, once per image and worker
  let at = 0;
  views = s.model.layers.map((l) => {
    const n = l.channels * l.height * l.width;
    const view = flat.subarray(at, at + n);
    at += n;
    return view;
  });
  s.shifts.set(task.image.id, views);
  if (s.shifts.size > KEPT_IMAGES) s.shifts.delete(s.shifts.keys().next().value!);
  return views;
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
  const { model } = s;
  const names = model.names;
  const views = slotViews(buffer, layout, batch);
  const feeds: Record<string, ort.Tensor> = {
    [model.inputName]: new ort.Tensor('float32', data, tensorDims(model.input, batch)),
    [names.target]: new ort.Tensor('int64', BigInt64Array.of(BigInt(target)), [1]),
    [names.yShift]: new ort.Tensor('float64', Float64Array.of(yShift), [1]),
  };
  const fetches: Record<string, ort.Tensor> = {
    [model.outputName]: new ort.Tensor('float32', views.logits, [batch, layout.numClasses]),
    [names.e]: new ort.Tensor('float32', views.e, [batch, 1]),
  };
  model.layers.forEach((l, k) => {
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
  const s = await stateFor(task.model);
  const { model } = s;
  const names = model.names;
  const units = model.layers.map((l) => l.channels * l.height * l.width);
  const sums = units.map((u) => new Float32Array(2 * u));
  const feeds: Record<string, ort.Tensor> = {
    [model.inputName]: new ort.Tensor('float32', Float32Array.from(task.image.data), tensorDims(model.input, 1)),
    [names.target]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [names.yShift]: new ort.Tensor('float64', Float64Array.of(0), [1]),
  };
  const fetches: Record<string, ort.Tensor | null> = { [model.outputName]: null };
  model.layers.forEach((l, k) => {
    feeds[names.shifts[k]!] = new ort.Tensor('float32', s.zeros[k]!, [l.channels, l.height, l.width]);
    fetches[names.sums[k]!] = new ort.Tensor('float32', sums[k]!, [2, units[k]!]);
  });
  const out = await s.session.run(feeds, fetches);
  const logits = out[model.outputName]?.data;
  if (!(logits instanceof Float32Array)) throw new Error(`the model did not return float32 '${model.outputName}'`);
  const activations = new Float32Array(units.reduce((a, b) => a + b, 0));
  let at = 0;
  sums.forEach((row, k) => {
    // With a zero shift and a batch of one, sum d over the batch is the activation itself.
    activations.set(row.subarray(0, units[k]!), at);
    at += units[k]!;
  });
  return { logits: Float32Array.from(logits), activations };
}

/** Renders the copies of a batch from their records into `out` (one input after the other). */
function render(model: ModelSpec, image: Float32Array, copies: readonly CopyRecord[], out: Float32Array): void {
  const size = image.length;
  copies.forEach((copy, b) => {
    renderCopy({ ...model.input, data: image }, copy, out.subarray(b * size, (b + 1) * size));
  });
}

async function batch(task: BatchTask): Promise<BatchResult> {
  const s = await stateFor(task.model);
  const shifts = shiftsOf(s, task);
  const layout = task.layout;
  s.slot ??= new ArrayBuffer(layout.length * 4);
  const count = task.copies.length;
  const views = slotViews(s.slot, layout, count);
  const t0 = performance.now();
  let data = task.inputs;
  if (data === null) {
    data = s.batchInput.subarray(0, count * task.image.data.length);
    render(s.model, task.image.data, task.copies, data);
  }
  const t1 = performance.now();
  await runBatch(s, layout, s.slot, data, count, shifts, task.target, task.yShift);
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

/** The heat-map session fetching the spatial means of `layers` (positions in the model's layers). */
function mapSession(s: WorkerState, layers: readonly number[]): Promise<ort.InferenceSession> {
  const key = layers.join(',');
  let session = s.mapSessions.get(key);
  if (!session) {
    const names = layers.map((k) => s.model.layers[k]!.layer);
    session = openSession(withChannelMeans(s.model.plain, names), s.model.threads);
    session.catch(() => s.mapSessions.delete(key));
    s.mapSessions.set(key, session);
  }
  return session;
}

async function maps(task: MapsTask): Promise<MapsResult> {
  const s = await stateFor(task.model);
  const { model, grid } = task;
  const layers = [...new Set(task.neurons.map((n) => n.layer))].sort((a, b) => a - b);
  const session = await mapSession(s, layers);
  const count = task.copies.length;
  const t0 = performance.now();
  const data = s.batchInput.subarray(0, count * task.image.data.length);
  render(model, task.image.data, task.copies, data);
  const cells = grid.mapHeight * grid.mapWidth;
  const pooled = new Float64Array(count * cells);
  const scratch = poolScratch(grid);
  task.copies.forEach((copy, b) => {
    const mask = maskFor(copy.params, copy.seed, grid.height, grid.width);
    poolMask(mask, grid, pooled.subarray(b * cells, (b + 1) * cells), scratch);
  });
  const t1 = performance.now();
  const fetches = [model.outputName, ...layers.map((k) => channelMeanOutput(model.layers[k]!.layer))];
  const feeds = { [model.inputName]: new ort.Tensor('float32', data, tensorDims(model.input, count)) };
  const out = await session.run(feeds, fetches);
  const logits = out[model.outputName]?.data as Float32Array | undefined;
  if (!logits) throw new Error(`the model did not return '${model.outputName}'`);
  const means = new Map(layers.map((k) => [k, out[channelMeanOutput(model.layers[k]!.layer)]!.data as Float32Array]));
  const rows = task.neurons.length + 1;
  const values = new Float64Array(count * rows);
  const numClasses = logits.length / count;
  for (let b = 0; b < count; b++) {
    task.neurons.forEach((n, i) => {
      values[b * rows + i] = means.get(n.layer)![b * model.layers[n.layer]!.channels + n.channel]!;
    });
    const row = logits.subarray(b * numClasses, (b + 1) * numClasses);
    values[b * rows + rows - 1] = outputValue(row, task.target, model.output, model.outputKind);
  }
  return { pooled, values, render: t1 - t0, inference: performance.now() - t1 };
}

/** Blended copies (curves.ts) on the heat-map session without extra outputs: the model with its logits. */
async function blend(task: BlendTask) {
  const s = await stateFor(task.model);
  return runBlendTask(await mapSession(s, []), s.model, task, s.batchInput, ort.Tensor);
}

/** How long a release task waits for the other workers' before it releases its own sessions anyway. */
const RELEASE_BARRIER_MS = 10_000;

/** Frees this worker's sessions once every worker holds a release task (see {@link ReleaseTask}). */
async function release(task: ReleaseTask): Promise<boolean> {
  Atomics.add(task.barrier, 0, 1);
  Atomics.notify(task.barrier, 0);
  const deadline = Date.now() + RELEASE_BARRIER_MS;
  for (let seen = Atomics.load(task.barrier, 0); seen < task.workers; seen = Atomics.load(task.barrier, 0)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    Atomics.wait(task.barrier, 0, seen, left);
  }
  const current = await state?.catch(() => null);
  state = null;
  stateId = null;
  if (current) await releaseState(current);
  return current !== null;
}

async function dispatch(task: WorkerTask): Promise<unknown> {
  switch (task.kind) {
    case 'open':
      await stateFor(task.model);
      return null;
    case 'clean':
      return clean(task);
    case 'batch':
      return batch(task);
    case 'maps':
      return maps(task);
    case 'blend':
      return blend(task);
    case 'deconv':
      return deconvTask(task);
    case 'release':
      return release(task);
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
