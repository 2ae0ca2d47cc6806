import { stat } from 'node:fs/promises';
import { UserError } from '@neuronscope/core';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { isDone } from './local.js';
import { readPart } from './parts.js';
import { type Plan, type PlanItem, planHash, readPlan, type SweepPaths, sweepPaths } from './plan.js';

/** Default BullMQ queue name of neuronscope's jobs. */
export const DEFAULT_QUEUE_NAME = 'neuronscope';

const hash = z.string().regex(/^[0-9a-f]{64}$/, 'not a content hash');

/**
 * An `images` job: a shard of a sweep, named by the keys of its images in the sweep's plan (the worker takes every
 * path from the plan on disk, never from the job: anyone who can write to the Redis could otherwise make a worker
 * read any file, or write outside the sweep).
 */
export const ImagesJobSchema = z.strictObject({
  out: z.string().min(1),
  settingsKey: hash,
  keys: z.array(hash).min(1).max(100_000),
});
export type ImagesJobData = z.infer<typeof ImagesJobSchema>;

/** The flow's parent: compacts and aggregates the sweep once every shard is done. */
export const AggregateJobSchema = z.strictObject({ out: z.string().min(1), planHash: hash });
export type AggregateJobData = z.infer<typeof AggregateJobSchema>;

/** A repeatable job of `neuronscope schedule`: sweep the configured source again (only new or changed images). */
export const ScheduledSweepSchema = z.strictObject({ config: z.string().min(1) });
export type ScheduledSweepData = z.infer<typeof ScheduledSweepSchema>;

/** `redis://:secret@host` → `redis://:***@host`: what may be printed of a Redis URL. */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/, (_m, scheme: string, auth: string) => {
    const user = auth.includes(':') ? auth.slice(0, auth.indexOf(':')) : '';
    return `${scheme}${user}:***@`;
  });
}

/** Removes the secret of `url` from a message (errors of ioredis may quote it). */
export function redactIn(message: string, url: string): string {
  const secret = /^rediss?:\/\/[^:@/]*:([^@/]+)@/.exec(url)?.[1];
  return secret ? message.split(secret).join('***') : message;
}

/** A Redis connection for BullMQ from a `redis://[:password@]host:port[/db]` URL. */
export function redisConnection(url: string): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new UserError(`--queue ${redactUrl(url)}: expected a redis://host:port URL`);
  // BullMQ's blocking commands need maxRetriesPerRequest null.
  const connection = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
  // Connection errors surface through the commands (and ping below); ioredis would print each retry otherwise.
  connection.on('error', () => undefined);
  return connection;
}

/** Fails fast with one line when Redis does not answer. */
export async function ping(connection: Redis, url: string): Promise<void> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new UserError(`cannot reach Redis at ${redactUrl(url)}`)), 5000).unref(),
  );
  try {
    await Promise.race([connection.ping(), timeout]);
  } catch (err) {
    connection.disconnect();
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot reach Redis at ${redactUrl(url)}: ${redactIn((err as Error).message, url)}`);
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
  const conn = connection ?? redisConnection(opts.url);
  if (!connection) await ping(conn, opts.url);
  const out = paths.dir.replace(/[\\/]sweep$/, '');
  // Images already waiting in a job of this sweep (a rerun of `sweep --queue` enqueues only what is missing).
  const pending = await pendingKeys(conn, queueName, out);
  const todo: PlanItem[] = [];
  for (const item of plan.items) if (!pending.has(item.key) && !(await isDone(paths, item))) todo.push(item);
  const shards: PlanItem[][] = [];
  for (let i = 0; i < todo.length; i += opts.shardSize) shards.push(todo.slice(i, i + opts.shardSize));
  const flow = new FlowProducer({ connection: conn });
  const hash = planHash(plan);
  const run = `${hash.slice(0, 12)}-${Date.now().toString(36)}`;
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
        data: { out, settingsKey: plan.settingsKey, keys: items.map((i) => i.key) } satisfies ImagesJobData,
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

/** Job states in which a job will still run. */
const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized'] as const;

/** The keys of the images of sweep `out` that are in a job that will still run. */
export async function pendingKeys(connection: Redis, queueName: string, out: string): Promise<Set<string>> {
  const queue = new Queue(queueName, { connection });
  try {
    const keys = new Set<string>();
    for (const job of await queue.getJobs([...PENDING_STATES])) {
      const data = ImagesJobSchema.safeParse(job?.data);
      if (job?.name === 'images' && data.success && data.data.out === out) for (const k of data.data.keys) keys.add(k);
    }
    return keys;
  } finally {
    await queue.close();
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

/** Progress of a queue, and of a sweep directory when given. */
export interface QueueStatus {
  queue: string;
  counts: Record<string, number>;
  active: { id: string; name: string; progress: unknown }[];
  schedulers: { id: string; pattern: string | null; next: number | null }[];
  sweep?: {
    total: number;
    done: number;
    ok: number;
    error: number;
    failed: number;
    compacted: boolean;
    /** With a queue: images not done that no pending job will analyse (the queue lost them; none when absent). */
    lost?: number;
  };
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
    if (out) {
      const progress = await sweepProgress(out);
      const pending = await pendingKeys(conn, queueName, sweepPaths(out).dir.replace(/[\\/]sweep$/, ''));
      const plan = await readPlan(sweepPaths(out));
      let lost = 0;
      for (const item of plan.items) if (!pending.has(item.key) && !(await isDone(sweepPaths(out), item))) lost++;
      status.sweep = { ...progress, lost };
    }
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
