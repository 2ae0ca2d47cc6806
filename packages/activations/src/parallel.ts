/**
 * Extraction on a pool of workers (piscina), each holding an onnxruntime session of the model with the in-graph
 * reductions of `@neuronscope/model`'s `withReductions`. Workers render their batch of copies from the perturbation
 * records, run it, and merge its partial sums (float32, over at most one batch) into float64 sums in shared
 * memory, in batch order whatever worker ran which batch (merge.ts), so the tables are the same bytes for any
 * number of workers (given the same threads per session). Only the per-copy outputs (logits, channel means) come
 * back to this thread, which streams the per-copy tables. Memory is fixed by the layers and the workers, never by N.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  argmax,
  createMoments,
  type LayerInfo,
  type Moments,
  type OutputMoments,
  outputValue,
  tensorDims,
  UserError,
} from '@neuronscope/core';
import { reductionFragment } from '@neuronscope/model';
import { renderCopy } from '@neuronscope/perturb';
import { Piscina } from 'piscina';
import type { ExtractInput, ExtractResult } from './extract.js';
import {
  createSharedSums,
  mergedBatches,
  type SharedSums,
  setMergeLimit,
  stopMerging,
  type UnitSums,
} from './merge.js';
import {
  type BatchResult,
  type BatchTask,
  type CleanResult,
  type JobSpec,
  USER_ERROR_MARK,
  type WorkerTask,
} from './protocol.js';
import { channelMeans } from './recorder.js';
import { type SlotLayout, slotLayout } from './slots.js';
import {
  checkSchedule,
  checkStability,
  DEFAULT_STOPPING,
  type FlatLayout,
  type FlatSums,
  type LayerSets,
  type StoppingCheck,
  type StoppingRule,
  stratifiedOrder,
  topKSetsWithHalves,
} from './stopping.js';
import { extractedFiles, type LayerMoments, StreamedTables, writeMomentsTables } from './tables.js';

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

/** Where the time went (milliseconds; render, inference, merge and wait are summed over the workers). */
export interface ExtractTimings {
  /** Writing the model, starting the workers, creating the sessions, the clean copy. */
  readonly setup: number;
  readonly render: number;
  readonly inference: number;
  /** Merging the per-unit partial sums into the shared float64 sums (workers). */
  readonly merge: number;
  /** Workers waiting for their batch's turn to merge. */
  readonly wait: number;
  /** The per-copy outputs, channel statistics and streamed tables, on this thread. */
  readonly tables: number;
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
  // Workers waiting for their turn to merge must not wait for batches that will never come (error, early stop).
  let stopOnExit: SharedSums | null = null;
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
    const run = (task: WorkerTask) => {
      const p = pool.run(task);
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
    // With a single worker (or to keep the copies), this thread renders the next batch while a worker runs one.
    const renderHere = workers === 1 || Boolean(job.dumpInputs);
    const layout = slotLayout(layers, job.batchSize, numClasses, size);
    const batches = Math.ceil(order.length / job.batchSize);
    const schedule = rule ? checkSchedule(rule, job.batchSize, order.length) : [];
    // The batches a check needs: merging waits there until the check is done.
    const batchesAt = (copies: number | undefined) =>
      copies === undefined ? batches : Math.ceil(copies / job.batchSize);
    // auto: the half sums hold the first half-sample (even batches); the second is the full sums minus it.
    const sums = createSharedSums(layout.totalUnits, rule !== null, batchesAt(schedule[0]));
    stopOnExit = sums;
    const moments = layerMoments(layers, layout, clean.activations, sums);
    const half: FlatSums | null = sums.half ? { ...sums.half, count: 0, sumY: 0, sumYY: 0 } : null;
    const outputMoments: OutputMoments = { count: 0, yShift, sumY: 0, sumYY: 0, target, output: job.output };
    const flatLayout: FlatLayout = {
      channels: layers.map((l) => l.channels),
      unitsPerChannel: layers.map((l) => l.height * l.width),
      unitOffsets: layout.unitOffsets,
    };
    const checks: StoppingCheck[] = [];
    // auto: the sums at the last check (full and half), allocated at the first.
    let snapshot: { full: UnitSums; half: UnitSums } | null = null;
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

    // Two batches per worker in flight: one running, one queued (its copies rendered here, if this thread renders).
    const inFlight = 2 * workers;
    const submitted = new Map<number, { inputs: Float32Array | null; result: Promise<BatchResult> }>();
    let next = 0;
    let rendering = 0;
    const submit = () => {
      const index = next++;
      const start = index * job.batchSize;
      const copies = order.slice(start, start + job.batchSize);
      let inputs: Float32Array | null = null;
      if (renderHere) {
        const t = performance.now();
        inputs = new Float32Array(copies.length * size);
        copies.forEach((copy, b) => {
          renderCopy(input, copy, inputs!.subarray(b * size, (b + 1) * size));
        });
        rendering += performance.now() - t;
      }
      const task: BatchTask = { kind: 'batch', job: spec, index, copies, inputs, target, yShift, shifts, layout, sums };
      submitted.set(index, { inputs, result: run(task) as Promise<BatchResult> });
    };

    let render = 0;
    let inference = 0;
    let merge = 0;
    let waiting = 0;
    let bookkeeping = 0;
    let checking = 0;
    let used = 0;
    const yCentred = new Float64Array(job.batchSize);
    const meanRows = layers.map((l) => new Float64Array(job.batchSize * l.channels));
    for (let index = 0; index < batches; index++) {
      while (next < batches && next - index < inFlight) submit();
      const pending = submitted.get(index)!;
      const result = await pending.result;
      submitted.delete(index);
      if (!result.merged) throw new Error(`batch ${index} was not merged`);
      const t0 = performance.now();
      const copies = order.slice(index * job.batchSize, (index + 1) * job.batchSize);
      const batch = copies.length;
      render += result.render;
      inference += result.inference;
      merge += result.merge;
      waiting += result.wait;
      if (pending.inputs && tables.npy) await tables.npy.write(pending.inputs);

      // Outputs: y in float64 from the logits, as every other stage computes it.
      const even = half !== null && index % 2 === 0;
      const y = new Float64Array(batch);
      const top1 = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        const row = result.logits.subarray(b * numClasses, (b + 1) * numClasses);
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
      if (even) half.count += batch;

      // Channel means: the clean channel mean plus the graph's mean of d, in float64.
      const means = layers.map((l, k) => {
        const c = l.channels;
        const m = moments.layers[k]!.channels;
        const clean64 = moments.cleanChannelMeans[k]!;
        const out = meanRows[k]!;
        const d = result.means.subarray(layout.maxBatch * layout.channelOffsets[k]!);
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
        logits: result.logits,
        y,
        top1,
        channelMeans: means,
      });
      for (const l of moments.layers) l.units.count += batch;
      used += batch;
      const t1 = performance.now();
      bookkeeping += t1 - t0;
      job.onProgress?.(used, order.length);

      if (rule && half && used === schedule[checks.length]) {
        // Every batch up to this one is merged (they merge in order) and none after it (the limit). The check
        // reads a copy of the sums, so the workers merge on while it runs instead of waiting for it.
        if (mergedBatches(sums) !== index + 1) throw new Error('merge order broken');
        snapshot ??= { full: sameSize(sums), half: sameSize(sums) };
        copyInto(snapshot.full, sums);
        copyInto(snapshot.half, sums.half!);
        setMergeLimit(sums, batchesAt(schedule[checks.length + 1]));
        const flatSums: FlatSums = {
          ...snapshot.full,
          count: outputMoments.count,
          sumY: outputMoments.sumY,
          sumYY: outputMoments.sumYY,
        };
        const flatHalf: FlatSums = { ...half, ...snapshot.half };
        const [full, first, second] = topKSetsWithHalves(flatSums, flatHalf, shifts, flatLayout, rule);
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
    // Batches still running after an early stop are not used: the sums go back to those of the stopping check.
    stopMerging(sums);
    await Promise.allSettled([...submitted.values()].map((s) => s.result));
    if (stable && snapshot) copyInto(sums, snapshot.full);
    await tables.close(job.dumpInputs ? used : undefined);
    tables = null;

    const t2 = performance.now();
    await writeMomentsTables(job.outDir, moments.layers, outputMoments);
    const finish = performance.now() - t2;

    const files = extractedFiles(job.dumpInputs);
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
        wait: waiting,
        tables: bookkeeping,
        checks: checking,
        finish,
        total: performance.now() - started,
      },
    };
  } catch (err) {
    await tables?.abort();
    throw err;
  } finally {
    if (stopOnExit) stopMerging(stopOnExit);
    await Promise.allSettled([...inflight]);
    await pool.destroy();
  }
}

/** Zeroed private arrays the size of `sums`. */
function sameSize(sums: UnitSums): UnitSums {
  const n = sums.sumA.length;
  return { sumA: new Float64Array(n), sumAA: new Float64Array(n), sumAY: new Float64Array(n) };
}

/** Copies `from` into `to`. */
function copyInto(to: UnitSums, from: UnitSums): void {
  to.sumA.set(from.sumA);
  to.sumAA.set(from.sumAA);
  to.sumAY.set(from.sumAY);
}

/**
 * The moments of every layer over one set of flat float64 arrays (a layer's moments are views into them), shifted
 * by the clean activation, and the clean channel means in float64.
 */
function layerMoments(layers: readonly LayerInfo[], layout: SlotLayout, clean: Float32Array, sums: UnitSums) {
  const shift = Float32Array.from(clean);
  const { sumA, sumAA, sumAY } = sums;
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
