/**
 * The queue worker (`neuronscope worker`): processes `images` jobs (the same per-image path as a local sweep, on one
 * warm explainer kept for the process's lifetime), `aggregate` jobs (compaction and dataset-level tables) and the
 * repeatable `sweep` jobs of schedules.
 */
import { canonicalJson, UserError } from '@neuronscope/core';
import { Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { type Analyser, type AnalysisOptions, createAnalyser } from './analyse.js';
import { loadSweepConfig } from './config.js';
import { finalizeSweep } from './finalize.js';
import { errorMessage, forEachLimited, IMAGES_IN_FLIGHT, isDone, processItem, type SweepLog } from './local.js';
import { imageRow, writePart } from './parts.js';
import { type PlanItem, planHash, readManifest, readPlan, type SweepPaths, sweepPaths } from './plan.js';
import {
  AggregateJobSchema,
  DEFAULT_QUEUE_NAME,
  enqueueSweep,
  ImagesJobSchema,
  ping,
  redisConnection,
  ScheduledSweepSchema,
} from './queue.js';
import { planSweep, resolveSweep } from './sweep.js';

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  url: string;
  queueName?: string;
  /** Jobs processed at once by this process (default 1: one job's images already keep every core busy). */
  concurrency?: number;
  /** How long a job's lock lives without renewal; a killed worker's job is taken back after it (default 30 s). */
  lockDuration?: number;
  /** How often stalled jobs are looked for (default 30 s). */
  stalledInterval?: number;
  /** How often a job may stall before it fails (default 1). */
  maxStalledCount?: number;
  /** Pool workers of the explainer (one per process, kept for its lifetime) and their threads. */
  workers?: number;
  threads?: number;
  log: SweepLog;
}

/** The analyser of the sweep a job belongs to: one model in memory at a time, its explainer kept warm. */
class Analysers {
  private readonly byOptions = new Map<string, Promise<Analyser>>();

  constructor(private readonly runtime: { workers?: number; threads?: number }) {}

  async for(options: AnalysisOptions): Promise<Analyser> {
    const id = canonicalJson(options);
    let a = this.byOptions.get(id);
    if (!a) {
      await this.close();
      a = createAnalyser(options, this.runtime);
      a.catch(() => this.byOptions.delete(id));
      this.byOptions.set(id, a);
    }
    return a;
  }

  async close(): Promise<void> {
    const all = [...this.byOptions.values()];
    this.byOptions.clear();
    for (const p of all) await (await p.catch(() => null))?.close();
  }
}

/** A job's data checked against its schema; a job that does not fit is failed for good, its data not echoed. */
function jobData<T>(job: Job, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(job.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UnrecoverableError(
      `job ${job.id} (${job.name}) is malformed: ${issue?.path.join('.') || 'data'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/**
 * The images a job names, taken from the sweep's plan on disk (paths, labels, keys): a key that is not in the plan
 * fails the job for good.
 */
async function planItems(paths: SweepPaths, keys: readonly string[], jobId: string | undefined): Promise<PlanItem[]> {
  const plan = await readPlan(paths);
  const byKey = new Map(plan.items.map((i) => [i.key, i]));
  return keys.map((key) => {
    const item = byKey.get(key);
    if (!item)
      throw new UnrecoverableError(`job ${jobId} names an image (${key.slice(0, 12)}) that is not in the sweep's plan`);
    return item;
  });
}

/** An `images` job: its images not done yet, a few at a time; the last attempt records failures as parts. */
async function imagesJob(job: Job, analysers: Analysers, log: SweepLog) {
  const data = jobData(job, ImagesJobSchema);
  const paths = sweepPaths(data.out);
  const manifest = await readManifest(paths);
  const analyser = await analysers.for(manifest.analysis);
  if (analyser.settingsKey !== data.settingsKey) {
    throw new UnrecoverableError(
      `the sweep in ${data.out} changed since this job was queued (model, labels or settings differ)`,
    );
  }
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  let done = 0;
  const todo: PlanItem[] = [];
  for (const item of await planItems(paths, data.keys, job.id)) if (!(await isDone(paths, item))) todo.push(item);
  await forEachLimited(todo, IMAGES_IN_FLIGHT, async (item) => {
    log.info(`worker: ${job.id}: ${item.image}`);
    try {
      const { row } = await processItem(paths, item, analyser, false);
      if (row.status !== 'ok') log.info(`worker: ${item.image}: ${row.error}`);
    } catch (err) {
      // The last attempt records the image as failed, so the aggregation has its reason.
      if (last) {
        const outcome = { status: 'failed' as const, error: errorMessage(err) };
        await writePart(paths, imageRow(item, outcome, analyser.labels), outcome, analyser.settings);
      }
      throw err;
    }
    done++;
    await job.updateProgress(done);
  });
  return { images: done };
}

/** An `aggregate` job (the flow's parent): compacts the parts, with the reasons of children that failed for good. */
async function aggregateJob(job: Job, worker: Worker, log: SweepLog) {
  const data = jobData(job, AggregateJobSchema);
  const paths = sweepPaths(data.out);
  const plan = await readPlan(paths);
  if (planHash(plan) !== data.planHash) return { skipped: 'a newer sweep replaced this plan' };
  // Images of children that failed for good (after their attempts, or stalled too often) without writing a part.
  const imageOf = new Map(plan.items.map((i) => [i.key, i.image]));
  const reasons = new Map<string, string>();
  const failures = await job.getIgnoredChildrenFailures();
  for (const [key, reason] of Object.entries(failures)) {
    const child = ImagesJobSchema.safeParse((await Job.fromId(worker, key.split(':').pop()!))?.data);
    for (const k of child.success ? child.data.keys : []) {
      const image = imageOf.get(k);
      if (image) reasons.set(image, `job failed: ${reason}`);
    }
  }
  const result = await finalizeSweep(paths, {
    missing: (image) => reasons.get(image) ?? (Object.keys(failures).length ? 'job failed' : undefined),
  });
  log.info(`worker: aggregated ${result.rows.length} images into ${paths.dir}`);
  return { images: result.rows.length, ok: result.aggregate.counts.ok };
}

/** A scheduled `sweep` job: plans the configured sweep again and enqueues its new or changed images. */
async function scheduledJob(
  job: Job,
  analysers: Analysers,
  queue: { url: string; queueName: string; connection: Redis },
  log: SweepLog,
) {
  const data = jobData(job, ScheduledSweepSchema);
  const config = await loadSweepConfig(data.config);
  const sweep = await resolveSweep(config);
  const analyser = await analysers.for(sweep.analysis);
  const { paths, plan } = await planSweep(sweep, analyser);
  const queued = await enqueueSweep(
    paths,
    plan,
    { url: queue.url, queueName: queue.queueName, shardSize: sweep.shardSize, attempts: sweep.attempts },
    queue.connection,
  );
  log.info(`worker: scheduled sweep ${data.config}: ${queued.images} new or changed images queued`);
  return queued;
}

/**
 * Starts a BullMQ worker that processes `images`, `aggregate` and scheduled `sweep` jobs (see the module comment).
 * Resolves once connected.
 */
export async function startWorker(opts: WorkerOptions): Promise<{ worker: Worker; close(): Promise<void> }> {
  const queueName = opts.queueName ?? DEFAULT_QUEUE_NAME;
  const connection = redisConnection(opts.url);
  await ping(connection, opts.url);
  const analysers = new Analysers({ workers: opts.workers, threads: opts.threads });
  const workerConnection = redisConnection(opts.url);
  const worker: Worker = new Worker(
    queueName,
    async (job: Job) => {
      try {
        if (job.name === 'images') return await imagesJob(job, analysers, opts.log);
        if (job.name === 'aggregate') return await aggregateJob(job, worker, opts.log);
        if (job.name === 'sweep') {
          const queue = { url: opts.url, queueName, connection };
          return await scheduledJob(job, analysers, queue, opts.log);
        }
        throw new UnrecoverableError(`unknown job ${job.name}`);
      } catch (err) {
        // A user error (a bad configuration, a missing model) will not go away on retry.
        if (err instanceof UserError) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
    {
      connection: workerConnection,
      concurrency: opts.concurrency ?? 1,
      lockDuration: opts.lockDuration ?? 30_000,
      stalledInterval: opts.stalledInterval ?? 30_000,
      maxStalledCount: opts.maxStalledCount ?? 1,
    },
  );
  worker.on('failed', (job, err) => opts.log.info(`worker: job ${job?.id} failed: ${err.message.split('\n')[0]}`));
  worker.on('error', (err) => opts.log.info(`worker: ${err.message.split('\n')[0]}`));
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      await worker.close();
      await analysers.close();
      workerConnection.disconnect();
      connection.disconnect();
    },
  };
}
