import { stat } from 'node:fs/promises';
import { canonicalJson, UserError } from '@neuronscope/core';
import { FlowProducer, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type Analyser, type AnalysisOptions, createAnalyser } from './analyse.js';
import { loadSweepConfig } from './config.js';
import { finalizeSweep } from './finalize.js';
import { errorMessage, forEachLimited, IMAGES_IN_FLIGHT, isDone, processItem, type SweepLog } from './local.js';
import { imageRow, readPart, writePart } from './parts.js';
import { type Plan, type PlanItem, planHash, readManifest, readPlan, type SweepPaths, sweepPaths } from './plan.js';
import { planSweep, resolveSweep } from './sweep.js';

/** Default BullMQ queue name of neuronscope's jobs. */
export const DEFAULT_QUEUE_NAME = 'neuronscope';

/** `images`: analyse a shard of a sweep; `aggregate`: the flow's parent, run when every shard is done. */
export interface ImagesJobData {
  out: string;
  settingsKey: string;
  items: PlanItem[];
}
export interface AggregateJobData {
  out: string;
  planHash: string;
}
/** A repeatable job of `neuronscope schedule`: sweep the configured source again (only new or changed images). */
export interface ScheduledSweepData {
  config: string;
}

/** A Redis connection for BullMQ from a `redis://[:password@]host:port[/db]` URL. */
export function redisConnection(url: string): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new UserError(`--queue ${url}: expected a redis://host:port URL`);
  // BullMQ's blocking commands need maxRetriesPerRequest null.
  const connection = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
  // Connection errors surface through the commands (and ping below); ioredis would print each retry otherwise.
  connection.on('error', () => undefined);
  return connection;
}

/** Fails fast with one line when Redis does not answer. */
async function ping(connection: Redis, url: string): Promise<void> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new UserError(`cannot reach Redis at ${url}`)), 5000).unref(),
  );
  try {
    await Promise.race([connection.ping(), timeout]);
  } catch (err) {
    connection.disconnect();
    throw err instanceof UserError ? err : new UserError(`cannot reach Redis at ${url}: ${(err as Error).message}`);
  }
}

/** Settings of the queue jobs a sweep enqueues. */
export interface EnqueueOptions {
  url: string;
  queueName?: string;
  shardSize: number;
  attempts: number;
  /** First retry delay, doubled on each retry (default 2000 ms). */
  backoffMs?: number;
}

/** Jobs kept after they end, for `status` and debugging. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 50_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600 };

/**
 * Enqueues a sweep as a BullMQ flow: one `images` job per shard of images that are not done yet, under one
 * `aggregate` parent that compacts and aggregates once every child has completed or finally failed. Returns at once.
 */
export async function enqueueSweep(
  paths: SweepPaths,
  plan: Plan,
  opts: EnqueueOptions,
  connection?: Redis,
): Promise<{ parentId: string; jobs: number; images: number }> {
  const queueName = opts.queueName ?? DEFAULT_QUEUE_NAME;
  const todo: PlanItem[] = [];
  for (const item of plan.items) if (!(await isDone(paths, item))) todo.push(item);
  const shards: PlanItem[][] = [];
  for (let i = 0; i < todo.length; i += opts.shardSize) shards.push(todo.slice(i, i + opts.shardSize));
  const conn = connection ?? redisConnection(opts.url);
  if (!connection) await ping(conn, opts.url);
  const flow = new FlowProducer({ connection: conn });
  const hash = planHash(plan);
  const run = `${hash.slice(0, 12)}-${Date.now().toString(36)}`;
  const out = paths.dir.replace(/[\\/]sweep$/, '');
  try {
    const jobOpts = {
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs ?? 2000 },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    };
    const tree = await flow.add({
      name: 'aggregate',
      queueName,
      data: { out, planHash: hash } satisfies AggregateJobData,
      opts: { ...jobOpts, jobId: `aggregate-${run}` },
      children: shards.map((items, k) => ({
        name: 'images',
        queueName,
        data: { out, settingsKey: plan.settingsKey, items } satisfies ImagesJobData,
        // A child that finally fails does not block the aggregation: its images are recorded as failed.
        opts: { ...jobOpts, jobId: `images-${run}-${k}`, ignoreDependencyOnFailure: true },
      })),
    });
    return { parentId: tree.job.id!, jobs: shards.length, images: todo.length };
  } finally {
    await flow.close();
    if (!connection) conn.disconnect();
  }
}

/** Waits until the job `id` completes (resolves) or fails (rejects), polling. */
export async function waitForJob(url: string, queueName: string, id: string, pollMs = 500): Promise<unknown> {
  const conn = redisConnection(url);
  const queue = new Queue(queueName, { connection: conn });
  try {
    for (;;) {
      const job = await queue.getJob(id);
      if (!job) throw new UserError(`job ${id} is not in queue ${queueName}`);
      const state = await job.getState();
      if (state === 'completed') return job.returnvalue;
      if (state === 'failed') throw new UserError(`job ${id} failed: ${job.failedReason}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  url: string;
  queueName?: string;
  /** Jobs processed at once by this process (default 1: one image at a time uses every core already). */
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

/**
 * Starts a BullMQ worker that processes `images` jobs (the same per-image code path as a local sweep), `aggregate`
 * jobs (compaction and dataset-level tables) and the repeatable `sweep` jobs of schedules. Resolves once connected.
 */
export async function startWorker(opts: WorkerOptions): Promise<{ worker: Worker; close(): Promise<void> }> {
  const queueName = opts.queueName ?? DEFAULT_QUEUE_NAME;
  const connection = redisConnection(opts.url);
  await ping(connection, opts.url);
  const analysers = new Map<string, Promise<Analyser>>();
  const analyserFor = async (options: AnalysisOptions) => {
    const id = canonicalJson(options);
    let a = analysers.get(id);
    if (!a) {
      // One model in memory at a time: close the others.
      for (const [other, p] of analysers) {
        analysers.delete(other);
        await (await p.catch(() => null))?.close();
      }
      a = createAnalyser(options, { workers: opts.workers, threads: opts.threads });
      a.catch(() => analysers.delete(id));
      analysers.set(id, a);
    }
    return a;
  };

  const images = async (job: Job<ImagesJobData>) => {
    const paths = sweepPaths(job.data.out);
    const manifest = await readManifest(paths);
    const analyser = await analyserFor(manifest.analysis);
    if (analyser.settingsKey !== job.data.settingsKey) {
      throw new UnrecoverableError(
        `the sweep in ${job.data.out} changed since this job was queued (model, labels or settings differ)`,
      );
    }
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    let done = 0;
    const todo: PlanItem[] = [];
    for (const item of job.data.items) if (!(await isDone(paths, item))) todo.push(item);
    await forEachLimited(todo, IMAGES_IN_FLIGHT, async (item) => {
      opts.log.info(`worker: ${job.id}: ${item.image}`);
      try {
        const { row } = await processItem(paths, item, analyser, false);
        if (row.status !== 'ok') opts.log.info(`worker: ${item.image}: ${row.error}`);
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
  };

  const aggregate = async (job: Job<AggregateJobData>) => {
    const paths = sweepPaths(job.data.out);
    const plan = await readPlan(paths);
    if (planHash(plan) !== job.data.planHash) return { skipped: 'a newer sweep replaced this plan' };
    // Images of children that failed for good (after their attempts, or stalled too often) without writing a part.
    const reasons = new Map<string, string>();
    const failures = await job.getIgnoredChildrenFailures();
    for (const [key, reason] of Object.entries(failures)) {
      const child = await Job.fromId<ImagesJobData>(worker, key.split(':').pop()!);
      for (const item of child?.data.items ?? []) reasons.set(item.image, `job failed: ${reason}`);
    }
    const result = await finalizeSweep(paths, {
      missing: (image) => reasons.get(image) ?? (Object.keys(failures).length ? 'job failed' : undefined),
    });
    opts.log.info(`worker: aggregated ${result.rows.length} images into ${paths.dir}`);
    return { images: result.rows.length, ok: result.aggregate.counts.ok };
  };

  const scheduled = async (job: Job<ScheduledSweepData>) => {
    const config = await loadSweepConfig(job.data.config);
    const sweep = await resolveSweep(config);
    const analyser = await analyserFor(sweep.analysis);
    const { paths, plan } = await planSweep(sweep, analyser);
    const queued = await enqueueSweep(
      paths,
      plan,
      { url: opts.url, queueName, shardSize: sweep.shardSize, attempts: sweep.attempts },
      connection,
    );
    opts.log.info(`worker: scheduled sweep ${job.data.config}: ${queued.images} new or changed images queued`);
    return queued;
  };

  const workerConnection = redisConnection(opts.url);
  const worker = new Worker(
    queueName,
    async (job: Job) => {
      try {
        if (job.name === 'images') return await images(job as Job<ImagesJobData>);
        if (job.name === 'aggregate') return await aggregate(job as Job<AggregateJobData>);
        if (job.name === 'sweep') return await scheduled(job as Job<ScheduledSweepData>);
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
      for (const a of analysers.values()) await (await a.catch(() => null))?.close();
      workerConnection.disconnect();
      connection.disconnect();
    },
  };
}

/** Progress of a queue, and of a sweep directory when given. */
export interface QueueStatus {
  queue: string;
  counts: Record<string, number>;
  active: { id: string; name: string; progress: unknown }[];
  schedulers: { id: string; pattern: string | null; next: number | null }[];
  sweep?: { total: number; done: number; ok: number; error: number; failed: number; compacted: boolean };
}

export async function queueStatus(url: string, queueName = DEFAULT_QUEUE_NAME, out?: string): Promise<QueueStatus> {
  const conn = redisConnection(url);
  await ping(conn, url);
  const queue = new Queue(queueName, { connection: conn });
  try {
    const counts = await queue.getJobCounts(
      'waiting',
      'active',
      'completed',
      'failed',
      'delayed',
      'waiting-children',
      'prioritized',
    );
    const active = (await queue.getActive(0, 50)).map((j) => ({ id: j.id!, name: j.name, progress: j.progress }));
    const schedulers = (await queue.getJobSchedulers()).map((s) => ({
      id: s.key,
      pattern: s.pattern ?? null,
      next: s.next ?? null,
    }));
    const status: QueueStatus = { queue: queueName, counts, active, schedulers };
    if (out) status.sweep = await sweepProgress(out);
    return status;
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

/** Progress of a sweep directory: images of the plan with a part, by status. */
export async function sweepProgress(out: string): Promise<NonNullable<QueueStatus['sweep']>> {
  const paths = sweepPaths(out);
  const plan = await readPlan(paths);
  const s = { total: plan.items.length, done: 0, ok: 0, error: 0, failed: 0, compacted: false };
  for (const item of plan.items) {
    const part = await readPart(paths, item.key).catch(() => null);
    if (!part) continue;
    s.done++;
    s[part.row.status]++;
  }
  const [tables, planFile] = await Promise.all([stat(paths.imagesTable).catch(() => null), stat(paths.plan)]);
  s.compacted = tables !== null && tables.mtimeMs >= planFile.mtimeMs && s.done === s.total;
  return s;
}

/** Registers (or updates) a repeatable sweep: BullMQ's job scheduler `id` runs the sweep on the cron pattern. */
export async function addSchedule(
  url: string,
  queueName: string,
  id: string,
  cron: string,
  config: string,
  tz?: string,
) {
  const conn = redisConnection(url);
  await ping(conn, url);
  const queue = new Queue(queueName, { connection: conn });
  try {
    await queue.upsertJobScheduler(id, tz ? { pattern: cron, tz } : { pattern: cron }, {
      name: 'sweep',
      data: { config } satisfies ScheduledSweepData,
      opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
    const scheduler = await queue.getJobScheduler(id);
    return { id, pattern: cron, next: scheduler?.next ?? null };
  } catch (err) {
    throw new UserError(`cannot schedule '${cron}': ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

export async function listSchedules(url: string, queueName: string) {
  const conn = redisConnection(url);
  await ping(conn, url);
  const queue = new Queue(queueName, { connection: conn });
  try {
    return (await queue.getJobSchedulers()).map((s) => ({
      id: s.key,
      pattern: s.pattern ?? null,
      next: s.next ?? null,
      config: (s.template?.data as ScheduledSweepData | undefined)?.config ?? null,
    }));
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

export async function removeSchedule(url: string, queueName: string, id: string): Promise<boolean> {
  const conn = redisConnection(url);
  await ping(conn, url);
  const queue = new Queue(queueName, { connection: conn });
  try {
    return await queue.removeJobScheduler(id);
  } finally {
    await queue.close();
    conn.disconnect();
  }
}
