import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  makeTable,
  ParquetStreamWriter,
  sweepImagesSchema,
  sweepNeuronsSchema,
  UserError,
  writeJsonAtomic,
  writeParquetFile,
} from '@neuronscope/core';
import { type AggregateResult, Aggregator } from './aggregate.js';
import { isDone } from './local.js';
import type { ImageRow } from './parts.js';
import { readPart, withoutMetadata } from './parts.js';
import { type Plan, readManifest, readPlan, type SweepManifest, type SweepPaths } from './plan.js';
import { writeSweepReport } from './report.js';

/** What `finalize` wrote and found. */
export interface FinalizeResult {
  rows: ImageRow[];
  aggregate: AggregateResult;
  files: string[];
}

/** Options of {@link finalizeSweep}. */
export interface FinalizeOptions {
  /**
   * Why an image has no part, when the queue knows (e.g. its job failed after all attempts); such images are
   * recorded as `failed`. Without a reason, a missing part is an error: the sweep is not complete.
   */
  missing?: (image: string) => string | undefined;
  /** Bootstrap resamples of the confidence intervals (default 2000). */
  resamples?: number;
}

/**
 * Compaction and aggregation: merges the parts of every image of the plan, in image order, into
 * `sweep/neurons.parquet` and `sweep/images.parquet` (streamed, written atomically; the bytes depend only on the
 * parts, so an interrupted and resumed sweep gives the same files), then writes the dataset-level tables,
 * `aggregate.json` and `report.html`.
 */
export async function finalizeSweep(paths: SweepPaths, opts: FinalizeOptions = {}): Promise<FinalizeResult> {
  const manifest: SweepManifest = await readManifest(paths);
  const plan: Plan = await readPlan(paths);
  const labels = manifest.settings.labels ? await readLabelsFile(manifest.settings.labels.path) : null;
  const aggregator = new Aggregator(labels, opts.resamples);
  const rows: ImageRow[] = [];
  const writer = await ParquetStreamWriter.open(paths.neurons, sweepNeuronsSchema);
  try {
    for (const item of plan.items) {
      const part = await readPart(paths, item.key);
      if (!part) {
        const reason = opts.missing?.(item.image);
        if (reason === undefined) {
          const present = await Promise.all(plan.items.map((i) => isDone(paths, i)));
          const left = present.filter((p) => !p).length;
          throw new UserError(
            `${left} of ${plan.items.length} images have no result yet (e.g. ${item.image}): run the sweep again, ` +
              'wait for the workers, or aggregate with --partial',
          );
        }
        const row: ImageRow = {
          image: item.image,
          source: item.source,
          label: item.labelIndex,
          label_name: item.labelName,
          prediction: null,
          prediction_name: null,
          probability: null,
          target: null,
          target_name: null,
          target_probability: null,
          copies_keeping_target: null,
          status: 'failed',
          error: reason,
          key: item.key,
        };
        rows.push(row);
        aggregator.add(row, null);
        continue;
      }
      rows.push(part.row);
      aggregator.add(part.row, part.neurons);
      writer.write(withoutMetadata(part.neurons));
    }
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const column = <K extends keyof ImageRow>(k: K) => rows.map((r) => r[k]);
  await writeParquetFile(
    paths.imagesTable,
    makeTable(
      sweepImagesSchema,
      Object.fromEntries(sweepImagesSchema.fields.map((f) => [f.name, column(f.name as keyof ImageRow)])) as never,
      rows.length,
    ),
  );
  const aggregate = aggregator.result();
  await writeParquetFile(paths.aggregate, aggregate.comparison);
  await writeParquetFile(paths.selection, aggregate.selection);
  await writeParquetFile(paths.selectivity, aggregate.selectivity);
  const json = {
    version: 1,
    settingsKey: manifest.settingsKey,
    model: manifest.settings.model,
    perturbation: manifest.settings.perturbation,
    stats: manifest.settings.stats,
    counts: aggregate.counts,
    accuracy: aggregate.counts.labelled ? aggregate.counts.correct / aggregate.counts.labelled : null,
    comparison: aggregate.rows,
    classes: aggregate.classes,
    topSelective: aggregate.topSelective,
    minSupport: aggregate.minSupport,
  };
  await writeJsonAtomic(
    paths.aggregateJson,
    JSON.parse(JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))),
  );
  await writeSweepReport(paths);
  await removeStaleTemporaries(paths);
  return {
    rows,
    aggregate,
    files: [
      paths.neurons,
      paths.imagesTable,
      paths.aggregate,
      paths.selection,
      paths.selectivity,
      paths.aggregateJson,
      paths.report,
    ],
  };
}

async function readLabelsFile(path: string): Promise<string[] | null> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r/g, '').replace(/\n$/, '').split('\n');
  } catch {
    return null;
  }
}

/** Removes temporary files of writes that killed processes left in the sweep folder and its parts (older than an hour). */
async function removeStaleTemporaries(paths: SweepPaths): Promise<void> {
  const cutoff = Date.now() - 3600_000;
  for (const dir of [paths.dir, paths.parts]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.includes('.tmp-')) continue;
      const path = join(dir, name);
      const s = await stat(path).catch(() => null);
      if (s && s.mtimeMs < cutoff) await rm(path, { recursive: true, force: true });
    }
  }
}
