import { access } from 'node:fs/promises';
import { osErrorLine, UserError, writeJsonAtomic } from '@neuronscope/core';
import type { Analyser } from './analyse.js';
import { type ImageRow, imageRow, type Outcome, readPart, writePart } from './parts.js';
import { imageFileFor, type Plan, type PlanItem, type SweepManifest, type SweepPaths, writePlan } from './plan.js';

/** Where a sweep says what it is doing. */
export interface SweepLog {
  info(message: string): void;
}

/** One line for an error, as the images table records it. */
export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n')[0]!.trim();
  return err instanceof UserError ? line : (osErrorLine(err) ?? `internal error: ${line}`);
}

/** Whether the image of `item` is done: its part exists (and, with `retryFailed`, is not an error). */
export async function isDone(paths: SweepPaths, item: PlanItem, retryFailed = false): Promise<boolean> {
  const present = await access(paths.part(item.key)).then(
    () => true,
    () => false,
  );
  if (!present || !retryFailed) return present;
  const part = await readPart(paths, item.key);
  return part?.row.status === 'ok';
}

/**
 * Analyses one image and writes its part. A {@link UserError} (a bad image, a missing file) is recorded as the
 * image's `error`; any other failure is recorded too with `recordAll`, and rethrown otherwise (a queue worker
 * lets the queue retry it).
 */
export async function processItem(
  paths: SweepPaths,
  item: PlanItem,
  analyser: Analyser,
  recordAll: boolean,
): Promise<{ row: ImageRow; fromCache: boolean }> {
  let outcome: Outcome;
  try {
    const file = await imageFileFor(paths, item);
    outcome = { analysis: await analyser.analyse(file, item.labelIndex) };
  } catch (err) {
    if (!(err instanceof UserError) && !recordAll) throw err;
    outcome = { status: 'error', error: errorMessage(err) };
  }
  const row = imageRow(item, outcome, analyser.labels);
  await writePart(paths, row, outcome, analyser.settings);
  return { row, fromCache: 'analysis' in outcome && outcome.analysis.fromCache };
}

/** Writes `sweep.json` and `plan.json`: what every later step (local, worker, aggregation) reads. */
export async function writeSweepFiles(paths: SweepPaths, manifest: SweepManifest, plan: Plan): Promise<void> {
  await writeJsonAtomic(paths.manifest, manifest);
  await writePlan(paths, plan);
}

/** Counts of a local pass. */
export interface LocalSweepResult {
  total: number;
  skipped: number;
  analysed: number;
  fromCache: number;
  errors: number;
  seconds: number;
}

/**
 * Images in flight at once: while one image's copies run on the pool, the next one is decoded, its clean copy runs
 * and its first batches are queued, so the workers never wait for the per-image work of this thread.
 */
export const IMAGES_IN_FLIGHT = 2;

/** Runs `work` on every item, at most `limit` at a time; results in any order. Stops at the first failure. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const lanes = Array.from({ length: Math.min(limit, items.length) }, lane);
  const results = await Promise.allSettled(lanes);
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
}

/**
 * Runs every image of the plan that is not done yet, {@link IMAGES_IN_FLIGHT} at a time, one part per image. Killed
 * at any moment, a rerun continues where it stopped: a part is written atomically, so it is either whole or absent.
 */
export async function runLocalSweep(
  paths: SweepPaths,
  plan: Plan,
  analyser: Analyser,
  log: SweepLog,
  opts: { retryFailed?: boolean } = {},
): Promise<LocalSweepResult> {
  const started = performance.now();
  const result: LocalSweepResult = {
    total: plan.items.length,
    skipped: 0,
    analysed: 0,
    fromCache: 0,
    errors: 0,
    seconds: 0,
  };
  const todo: PlanItem[] = [];
  for (const item of plan.items) {
    if (await isDone(paths, item, opts.retryFailed)) result.skipped++;
    else todo.push(item);
  }
  if (result.skipped) log.info(`sweep: ${result.skipped} of ${result.total} images already done, ${todo.length} to go`);
  let lastReport = performance.now();
  await forEachLimited(todo, IMAGES_IN_FLIGHT, async (item) => {
    const { row, fromCache } = await processItem(paths, item, analyser, true);
    result.analysed++;
    if (fromCache) result.fromCache++;
    if (row.status !== 'ok') {
      result.errors++;
      log.info(`sweep: ${item.image}: ${row.error}`);
    }
    const now = performance.now();
    if (now - lastReport > 10_000 || result.analysed === todo.length) {
      lastReport = now;
      const rate = (60_000 * result.analysed) / (now - started);
      log.info(`sweep: ${result.skipped + result.analysed}/${result.total} images, ${rate.toFixed(1)} images/min`);
    }
  });
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
