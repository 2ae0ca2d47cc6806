/**
 * Extraction on a pool of workers (piscina), each holding an onnxruntime session of the model with the in-graph
 * reductions of `@neuronscope/model`'s `withReductions`. Workers render their batch of copies from the perturbation
 * records and run it; only the batch's partial sums (float32, over at most one batch) come back, in a slot buffer
 * moved between the threads without copying. This thread merges them into float64 in batch order, whatever worker
 * ran which batch, so the tables are the same bytes for any number of workers (given the same threads per session),
 * and streams the per-copy tables. Memory is fixed by the layers and the number of slots, never by N.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  argmax,
  createMoments,
  type InputTensor,
  type LayerInfo,
  type Moments,
  type OutputMode,
  type OutputMoments,
  outputValue,
  tensorDims,
  UserError,
} from '@neuronscope/core';
import { reductionFragment } from '@neuronscope/model';
import { type CopyRecord, renderCopy } from '@neuronscope/perturb';
import { Piscina } from 'piscina';
import type { ExtractInput, ExtractResult } from './extract.js';
import { type BatchTask, type CleanResult, type JobSpec, USER_ERROR_MARK, type WorkerTask } from './protocol.js';
import { channelMeans } from './recorder.js';
import { type SlotLayout, slotLayout, slotViews } from './slots.js';
import {
  checkSchedule,
  checkStability,
  createFlatSums,
  DEFAULT_STOPPING,
  type FlatLayout,
  type FlatSums,
  type LayerSets,
  type StoppingCheck,
  type StoppingRule,
  stratifiedOrder,
  topKSetsWithHalves,
} from './stopping.js';
import { EXTRACT_FILES, type LayerMoments, StreamedTables, writeMomentsTables } from './tables.js';

/** `--samples auto`: the settings of the stopping rule (defaults in {@link DEFAULT_STOPPING}). */
export type StoppingSettings = Pick<StoppingRule, 'topK' | 'eligibility'> & Partial<StoppingRule>;

/** Everything pooled extraction needs. */
export interface ParallelExtractInput extends Omit<ExtractInput, 'session'> {
  /** The model's bytes as loaded (the reductions are added here; each worker opens its own session). */
  readonly model: Uint8Array;
  /** Worker threads, each with its own session (default {@link defaultParallelism}). */
  readonly workers?: number;
  /** Intra-op threads of each session (default {@link defaultParallelism}). */
  readonly threads?: number;
  /** Stop early when the answer is stable (`--samples auto`); otherwise every copy runs, in copy order. */
  readonly auto?: StoppingSettings;
  /** Called after every check of the stopping rule. */
  readonly onCheck?: (check: StoppingCheck) => void;
}

/** Where the time went (milliseconds; render and inference are summed over the workers). */
export interface ExtractTimings {
  /** Writing the model, starting the workers, creating the sessions, the clean copy. */
  readonly setup: number;
  readonly render: number;
  readonly inference: number;
  /** Merging partial sums and writing the streamed tables, on this thread. */
  readonly merge: number;
  /** Stopping-rule checks. */
  readonly checks: number;
  /** Writing the moments tables. */
  readonly finish: number;
  readonly total: number;
}

/** What pooled extraction did. */
export interface ParallelExtractResult extends ExtractResult {
  /** Copies that ran (all of them unless `auto` stopped early). */
  readonly samplesUsed: number;
  /** `auto` only: every check of the stopping rule, the last one deciding. */
  readonly checks: readonly StoppingCheck[];
  /** `auto` only: whether the rule was met (false: stopped at the maximum). */
  readonly stable: boolean | null;
  readonly workers: number;
  readonly threads: number;
  readonly timings: ExtractTimings;
}

/**
 * Default workers and threads per session for `cores` cores: one single-threaded session per core up to four
 * (onnxruntime's single-threaded kernels scale best, and rendering overlaps with the other workers' inference),
 * then four sessions sharing the cores.
 */
export function defaultParallelism(cores = availableParallelism()): { workers: number; threads: number } {
  const workers = Math.max(1, Math.min(cores, 4));
  return { workers, threads: Math.max(1, Math.floor(cores / workers)) };
}

/**
 * Workers and threads per session: as given; a missing one fills the cores (`cores / given`, at least 1); both
 * missing: {@link defaultParallelism}.
 */
export function parallelism(
  workers: number | undefined,
  threads: number | undefined,
  cores = availableParallelism(),
): { workers: number; threads: number } {
  if (workers === undefined && threads === undefined) return defaultParallelism(cores);
  if (workers === undefined) return { workers: Math.max(1, Math.floor(cores / threads!)), threads: threads! };
  return { workers, threads: threads ?? Math.max(1, Math.floor(cores / workers)) };
}

/** The worker script: always the built one (tests import this file from its TypeScript source). */
function workerFile(): string {
  const url = import.meta.url;
  return fileURLToPath(new URL(url.endsWith('.ts') ? '../dist/worker.js' : './worker.js', url));
}

/** A worker's error as the user should see it. */
function fromWorker(err: unknown): unknown {
  if (err instanceof Error && err.message.startsWith(USER_ERROR_MARK)) {
    return new UserError(err.message.slice(USER_ERROR_MARK.length));
  }
  return err;
}

/**
 * Runs the clean copy and then the copies through the network on a pool of workers, reducing every recorded layer
 * inside the graph; writes `outputs.parquet`, `activations.parquet`, `unit_stats.parquet`, `channel_stats.parquet`
 * (and `inputs.npy`), each atomically, exactly as {@link extract} does.
 */
export async function extractParallel(job: ParallelExtractInput): Promise<ParallelExtractResult> {
  const started = performance.now();
  const { input, layers } = job;
  const { workers, threads } = parallelism(job.workers, job.threads);
  if (!Number.isInteger(workers) || workers < 1) throw new UserError(`--workers must be at least 1 (got ${workers})`);
  if (!Number.isInteger(threads) || threads < 1) throw new UserError(`--threads must be at least 1 (got ${threads})`);
  const rule: StoppingRule | null = job.auto ? { ...DEFAULT_STOPPING, ...job.auto } : null;
  const order = rule ? stratifiedOrder(job.copies.length).map((i) => job.copies[i]!) : job.copies;
  const size = input.data.length;

  // The model with reductions, laid out once in shared memory for every worker.
  const { fragment, names } = reductionFragment(job.model, {
    layers,
    outputName: job.outputName,
    output: job.output,
  });
  const model = new Uint8Array(new SharedArrayBuffer(job.model.length + fragment.length));
  model.set(job.model, 0);
  model.set(fragment, job.model.length);
  const pool = new Piscina<WorkerTask, unknown>({
    filename: workerFile(),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 60_000,
    concurrentTasksPerWorker: 1,
  });
  let tables: StreamedTables | null = null;
  const inflight = new Set<Promise<unknown>>();
  try {
    const sharedInput = new Float32Array(new SharedArrayBuffer(size * 4));
    sharedInput.set(input.data);
    const spec: JobSpec = {
      id: randomBytes(8).toString('hex'),
      model,
      names,
      inputName: job.inputName,
      outputName: job.outputName,
      layers,
      input: {
        data: sharedInput,
        layout: input.layout,
        channels: input.channels,
        height: input.height,
        width: input.width,
      },
      threads,
      batchSize: job.batchSize,
    };

    // Every worker loads its session at once; one of them also runs the clean copy.
    const run = (task: WorkerTask, transferList?: ArrayBuffer[]) => {
      const p = pool.run(task, transferList ? { transferList } : {});
      inflight.add(p);
      p.then(
        () => inflight.delete(p),
        () => inflight.delete(p),
      );
      const result = p.catch((err) => {
        throw fromWorker(err);
      });
      // Batches still in flight when another one fails are never awaited: their failure is not news.
      result.catch(() => undefined);
      return result;
    };
    const opening = Array.from({ length: workers - 1 }, () => run({ kind: 'open', job: spec }));
    const clean = (await run({ kind: 'clean', job: spec })) as CleanResult;
    await Promise.all(opening);

    // The clean copy fixes the target, the output's shift and every unit's and channel's shift.
    const cleanLogits = clean.logits;
    const numClasses = cleanLogits.length;
    const target = job.target ?? argmax(cleanLogits);
    if (target >= numClasses) throw new Error(`target ${target} is not a class of this model (${numClasses} classes)`);
    const yShift = outputValue(cleanLogits, target, job.output);
    const shifts = new Float32Array(new SharedArrayBuffer(clean.activations.byteLength));
    shifts.set(clean.activations);
    // With a single worker, this thread renders the next batch while the worker runs the current one.
    const renderHere = workers === 1;
    const layout = slotLayout(layers, job.batchSize, numClasses, size, Boolean(job.dumpInputs) || renderHere);
    const moments = layerMoments(layers, layout, clean.activations);
    const flat = { sumA: moments.sumA, sumAA: moments.sumAA, sumAY: moments.sumAY };
    const outputMoments: OutputMoments = { count: 0, yShift, sumY: 0, sumYY: 0, target, output: job.output };
    const flatLayout: FlatLayout = {
      channels: layers.map((l) => l.channels),
      unitsPerChannel: layers.map((l) => l.height * l.width),
      unitOffsets: layout.unitOffsets,
    };
    // auto: the first half (even batches); the second is the full sums minus it.
    const half = rule ? createFlatSums(layout.totalUnits) : null;
    const schedule = rule ? checkSchedule(rule, job.batchSize, order.length) : [];
    const checks: StoppingCheck[] = [];
    let previousSets: LayerSets[] | null = null;
    let stable: boolean | null = rule ? false : null;

    tables = await StreamedTables.open(
      job.outDir,
      layers,
      cleanLogits,
      target,
      job.dumpInputs ? [order.length, ...tensorDims(input).slice(1)] : undefined,
    );
    const setup = performance.now() - started;

    const batches = Math.ceil(order.length / job.batchSize);
    // Three batches per worker in flight: one running, one queued, one waiting to be merged here.
    const slotCount = Math.min(batches, 3 * workers);
    const free: ArrayBuffer[] = [];
    const submitted = new Map<number, Promise<ArrayBuffer>>();
    let next = 0;
    const submit = () => {
      const index = next++;
      const start = index * job.batchSize;
      const copies = order.slice(start, start + job.batchSize);
      const slot = free.pop() ?? new ArrayBuffer(layout.length * 4);
      let renderMs = 0;
      if (renderHere) {
        const t = performance.now();
        const inputs = slotViews(slot, layout, copies.length).inputs;
        copies.forEach((copy, b) => {
          renderCopy(input, copy, inputs.subarray(b * size, (b + 1) * size));
        });
        renderMs = performance.now() - t;
      }
      const task: BatchTask = {
        kind: 'batch',
        job: spec,
        copies,
        rendered: renderHere,
        target,
        yShift,
        shifts,
        layout,
        slot,
      };
      rendering += renderMs;
      submitted.set(index, run(task, [slot]) as Promise<ArrayBuffer>);
    };

    let rendering = 0;
    let render = 0;
    let inference = 0;
    let merge = 0;
    let checking = 0;
    let used = 0;
    const yCentred = new Float64Array(job.batchSize);
    const meanRows = layers.map((l) => new Float64Array(job.batchSize * l.channels));
    for (let index = 0; index < batches; index++) {
      while (next < batches && next - index < slotCount) submit();
      const slot = await submitted.get(index)!;
      submitted.delete(index);
      const t0 = performance.now();
      const copies = order.slice(index * job.batchSize, (index + 1) * job.batchSize);
      const batch = copies.length;
      const views = slotViews(slot, layout, batch);
      render += views.header[0]!;
      inference += views.header[1]!;
      if (job.dumpInputs) await tables.npy?.write(views.inputs);

      // Outputs: y in float64 from the logits, as every other stage computes it.
      // auto: even batches make the first half-sample.
      const even = half !== null && index % 2 === 0;
      const y = new Float64Array(batch);
      const top1 = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        const row = views.logits.subarray(b * numClasses, (b + 1) * numClasses);
        y[b] = outputValue(row, target, job.output);
        top1[b] = argmax(row);
        const e = y[b]! - yShift;
        yCentred[b] = e;
        outputMoments.sumY += e;
        outputMoments.sumYY += e * e;
        if (even) {
          half.sumY += e;
          half.sumYY += e * e;
        }
      }
      outputMoments.count += batch;

      // Per-unit partial sums into float64, in batch order.
      layers.forEach((_, k) => {
        mergeLayer(flat, layout, views, k);
        if (even) mergeLayer(half, layout, views, k);
      });
      if (even) half.count += batch;

      // Channel means: the clean channel mean plus the graph's mean of d, in float64.
      const means = layers.map((l, k) => {
        const c = l.channels;
        const m = moments.layers[k]!.channels;
        const clean64 = moments.cleanChannelMeans[k]!;
        const out = meanRows[k]!;
        const d = views.means[k]!;
        for (let b = 0; b < batch; b++) {
          const e = yCentred[b]!;
          for (let ch = 0; ch < c; ch++) {
            const value = clean64[ch]! + d[b * c + ch]!;
            out[b * c + ch] = value;
            const dev = value - m.shift[ch]!;
            m.sumA[ch] = m.sumA[ch]! + dev;
            m.sumAA[ch] = m.sumAA[ch]! + dev * dev;
            m.sumAY[ch] = m.sumAY[ch]! + dev * e;
          }
        }
        m.count += batch;
        return out;
      });
      tables.writeBatch({
        copies: Int32Array.from(copies, (c) => c.copy),
        // The tables copy what they are given before the slot is reused.
        logits: views.logits,
        y,
        top1,
        channelMeans: means,
      });
      for (const l of moments.layers) l.units.count += batch;
      used += batch;
      free.push(slot);
      const t1 = performance.now();
      merge += t1 - t0;
      job.onProgress?.(used, order.length);

      if (rule && half && used === schedule[checks.length]) {
        const sums: FlatSums = {
          ...flat,
          count: outputMoments.count,
          sumY: outputMoments.sumY,
          sumYY: outputMoments.sumYY,
        };
        const [full, first, second] = topKSetsWithHalves(sums, half, shifts, flatLayout, rule);
        const check = checkStability(full, [first, second], previousSets, used, rule);
        checks.push(check);
        previousSets = full;
        job.onCheck?.(check);
        checking += performance.now() - t1;
        if (check.stable) {
          stable = true;
          break;
        }
      }
    }
    // Batches still running after an early stop are not used.
    await Promise.allSettled([...submitted.values()]);
    await tables.close(job.dumpInputs ? used : undefined);
    tables = null;

    const t2 = performance.now();
    await writeMomentsTables(job.outDir, moments.layers, outputMoments);
    const finish = performance.now() - t2;

    const files: string[] = [
      EXTRACT_FILES.outputs,
      EXTRACT_FILES.activations,
      EXTRACT_FILES.unitStats,
      EXTRACT_FILES.channelStats,
    ];
    if (job.dumpInputs) files.push(EXTRACT_FILES.inputs);
    return {
      target,
      cleanLogits,
      output: outputMoments,
      files,
      samplesUsed: used,
      checks,
      stable,
      workers,
      threads,
      timings: {
        setup,
        render: render + rendering,
        inference,
        merge,
        checks: checking,
        finish,
        total: performance.now() - started,
      },
    };
  } catch (err) {
    await tables?.abort();
    throw err;
  } finally {
    await Promise.allSettled([...inflight]);
    await pool.destroy();
  }
}

/** Adds layer k's partial sums of one batch (float32) into the float64 sums. */
function mergeLayer(
  into: { sumA: Float64Array; sumAA: Float64Array; sumAY: Float64Array },
  layout: SlotLayout,
  views: ReturnType<typeof slotViews>,
  k: number,
): void {
  const units = layout.units[k]!;
  const offset = layout.unitOffsets[k]!;
  const sums = views.sums[k]!;
  const squares = views.squares[k]!;
  const sumA = into.sumA.subarray(offset, offset + units);
  const sumAA = into.sumAA.subarray(offset, offset + units);
  const sumAY = into.sumAY.subarray(offset, offset + units);
  for (let i = 0; i < units; i++) sumA[i] = sumA[i]! + sums[i]!;
  for (let i = 0; i < units; i++) sumAY[i] = sumAY[i]! + sums[units + i]!;
  for (let i = 0; i < units; i++) sumAA[i] = sumAA[i]! + squares[i]!;
}

/**
 * The moments of every layer over one set of flat float64 arrays (a layer's moments are views into them), shifted
 * by the clean activation, and the clean channel means in float64.
 */
function layerMoments(layers: readonly LayerInfo[], layout: SlotLayout, clean: Float32Array) {
  const shift = Float32Array.from(clean);
  const sumA = new Float64Array(layout.totalUnits);
  const sumAA = new Float64Array(layout.totalUnits);
  const sumAY = new Float64Array(layout.totalUnits);
  const cleanChannelMeans: Float64Array[] = [];
  const result: LayerMoments[] = layers.map((layer, k) => {
    const offset = layout.unitOffsets[k]!;
    const end = offset + layout.units[k]!;
    const units: Moments = {
      count: 0,
      shift: shift.subarray(offset, end),
      sumA: sumA.subarray(offset, end),
      sumAA: sumAA.subarray(offset, end),
      sumAY: sumAY.subarray(offset, end),
    };
    const means = channelMeans(shift.subarray(offset, end), layer.channels, 1);
    cleanChannelMeans.push(means);
    return { layer, units, channels: createMoments(Float32Array.from(means)) };
  });
  return { layers: result, sumA, sumAA, sumAY, cleanChannelMeans };
}
