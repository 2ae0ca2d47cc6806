/**
 * The extraction pool: piscina workers, each holding onnxruntime sessions of one model (with the in-graph
 * reductions of `@neuronscope/model`'s `reductionFragment`), kept warm for the pool's lifetime. Every image of an
 * `explain`, a sweep or a queue worker runs through the same sessions; several images may be in flight at once
 * (a sweep renders the next image's copies while the current one runs).
 *
 * Per image, workers render their batch of copies from the perturbation records, run it, and merge its partial
 * sums (float32, over at most one batch) into the image's float64 sums in shared memory, in batch order whatever
 * worker ran which batch (merge.ts), so the sums are the same bits for any number of workers. Only the per-copy
 * outputs (logits, channel means) come back to the coordinating thread. Memory is fixed by the layers, the workers
 * and the images in flight, never by N beyond the small per-copy rows.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type InputTensor, type LayerInfo, type OutputKind, type OutputMode, UserError } from '@neuronscope/core';
import { type LayerProjections, reductionFragment, withExtraOutputs } from '@neuronscope/model';
import { Piscina } from 'piscina';
import { type BlendJob, type BlendOutcome, runBlend } from './curves.js';
import { type HeatMapJob, runHeatMaps } from './heat-maps.js';
import { type Extraction, type ExtractJob, ImageExtraction } from './image-extraction.js';
import type { MapAccumulator } from './map-accumulator.js';
import { createSharedSums, resetSharedSums, type SharedSums } from './merge.js';
import { type DeconvTask, type ModelSpec, USER_ERROR_MARK, type WorkerTask } from './protocol.js';

/** The model a pool runs, and how. */
export interface PoolOptions {
  /** The model's bytes as loaded. */
  readonly model: Uint8Array;
  readonly inputName: string;
  /** The logits: the tensor before the model's final Softmax/LogSoftmax/Sigmoid, if it has one. */
  readonly outputName: string;
  /** What the model's own output is (`LoadedModel.outputKind`); y depends on it for `sigmoid`. */
  readonly outputKind?: OutputKind;
  /** The recorded layers, in depth order. */
  readonly layers: readonly LayerInfo[];
  readonly output: OutputMode;
  /** Copies per inference call. */
  readonly batchSize: number;
  /** Geometry of the model input. */
  readonly input: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>;
  /** Worker threads, each with its own sessions (default {@link defaultParallelism}). */
  readonly workers?: number;
  /** Intra-op threads of each session (default: the cores shared out among the workers). */
  readonly threads?: number;
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

/** Bytes in shared memory (workers read them without a copy per task). */
function shared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/** A warm pool of extraction workers for one model; see the module comment. */
export class ExtractionPool {
  readonly workers: number;
  readonly threads: number;
  /** What every task carries of the model. */
  readonly spec: ModelSpec;
  private readonly piscina: Piscina<WorkerTask, unknown>;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Per-unit sums of finished extractions, zeroed and reused by the next (by whether they have half sums). */
  private readonly freeSums: SharedSums[] = [];
  private opened: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** How many workers freed their sessions at `close()` (all of them, unless one had died). */
  releasedWorkers = 0;

  constructor(opts: PoolOptions) {
    const { workers, threads } = parallelism(opts.workers, opts.threads);
    if (!Number.isInteger(workers) || workers < 1) throw new UserError(`--workers must be at least 1 (got ${workers})`);
    if (!Number.isInteger(threads) || threads < 1) throw new UserError(`--threads must be at least 1 (got ${threads})`);
    this.workers = workers;
    this.threads = threads;
    const { fragment, names } = reductionFragment(opts.model, {
      layers: opts.layers,
      outputName: opts.outputName,
      output: opts.output,
      outputKind: opts.outputKind ?? 'logits',
    });
    const reducing = new Uint8Array(new SharedArrayBuffer(opts.model.length + fragment.length));
    reducing.set(opts.model, 0);
    reducing.set(fragment, opts.model.length);
    this.spec = {
      id: randomBytes(8).toString('hex'),
      reducing,
      names,
      plain: shared(withExtraOutputs(opts.model, [opts.outputName])),
      source: reducing.subarray(0, opts.model.length),
      inputName: opts.inputName,
      outputName: opts.outputName,
      outputKind: opts.outputKind ?? 'logits',
      layers: opts.layers,
      output: opts.output,
      input: {
        layout: opts.input.layout,
        channels: opts.input.channels,
        height: opts.input.height,
        width: opts.input.width,
      },
      threads,
      batchSize: opts.batchSize,
    };
    this.piscina = new Piscina<WorkerTask, unknown>({
      filename: workerFile(),
      minThreads: workers,
      maxThreads: workers,
      // Workers live as long as the pool (setTimeout takes at most 2^31 - 1 ms).
      idleTimeout: 2 ** 31 - 1,
      concurrentTasksPerWorker: 1,
      // Tasks must start in the order they were submitted: a worker waits for the batch before its own to merge,
      // which must then be running already. Piscina's default moves a task it cannot place to the tail of its queue.
      stricterFIFO: true,
    });
  }

  /** Creates every worker's session (once; later calls return the same promise). */
  open(): Promise<void> {
    this.opened ??= Promise.all(
      Array.from({ length: this.workers }, () => this.run({ kind: 'open', model: this.spec })),
    ).then(() => undefined);
    return this.opened;
  }

  /** Runs a task on a worker; a user error thrown there comes back as a {@link UserError}. */
  run<T>(task: WorkerTask): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the extraction pool is closed'));
    const p = this.piscina.run(task);
    this.inflight.add(p);
    p.then(
      () => this.inflight.delete(p),
      () => this.inflight.delete(p),
    );
    const result = p.catch((err) => {
      throw fromWorker(err);
    }) as Promise<T>;
    // Tasks still in flight when another one fails are never awaited: their failure is not news.
    result.catch(() => undefined);
    return result;
  }

  /** Zeroed per-unit sums for one extraction (reused from a finished one when possible). */
  acquireSums(units: number, withHalf: boolean, limit: number): SharedSums {
    const i = this.freeSums.findIndex((s) => s.sumA.length === units && (s.half !== null) === withHalf);
    if (i < 0) return createSharedSums(units, withHalf, limit);
    const [sums] = this.freeSums.splice(i, 1);
    resetSharedSums(sums!, limit);
    return sums!;
  }

  /** Gives sums back for reuse (the caller no longer reads them). */
  releaseSums(sums: SharedSums): void {
    if (!this.closed && this.freeSums.length < 2) this.freeSums.push(sums);
  }

  /**
   * Runs one image's clean copy and copies through the network and returns its outputs and moments in memory
   * (see {@link Extraction}; call its `release` once read). Several extractions may run at once.
   */
  async extract(job: ExtractJob): Promise<Extraction> {
    await this.open();
    return new ImageExtraction(this, job).run();
  }

  /** Runs masked copies of one image and accumulates the heat maps of some neurons and of the output. */
  async heatMaps(job: HeatMapJob): Promise<MapAccumulator> {
    await this.open();
    return runHeatMaps(this, job);
  }

  /** Runs blended copies of one image (deletion and insertion curves) and returns each one's target probability. */
  async blend(job: BlendJob): Promise<BlendOutcome> {
    await this.open();
    return runBlend(this, job);
  }

  /**
   * Projects neurons of one layer onto `input` with a deconvnet on a worker (see {@link DeconvTask}); layers given
   * at once run on different workers.
   */
  async deconv(job: Omit<DeconvTask, 'kind' | 'model'>): Promise<LayerProjections> {
    await this.open();
    return this.run<LayerProjections>({ kind: 'deconv', model: this.spec, ...job });
  }

  /** Waits for the tasks in flight, frees every worker's sessions, and ends the workers. */
  close(): Promise<void> {
    this.closing ??= this.end();
    return this.closing;
  }

  private async end(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    if (this.opened) {
      const barrier = new Int32Array(new SharedArrayBuffer(4));
      const release = { kind: 'release', barrier, workers: this.workers } as const;
      const released = await Promise.allSettled(Array.from({ length: this.workers }, () => this.run<boolean>(release)));
      this.releasedWorkers = released.filter((r) => r.status === 'fulfilled' && r.value).length;
    }
    this.closed = true;
    this.freeSums.length = 0;
    await this.piscina.destroy();
  }
}
