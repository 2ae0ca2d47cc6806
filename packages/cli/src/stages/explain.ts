import type { ParallelExtractResult } from '@neuronscope/activations';
import {
  readParquetFile,
  type StatsConfig,
  type Summary,
  SummarySchema,
  UserError,
  writeJsonAtomic,
} from '@neuronscope/core';
import type { Log } from '../log.js';
import { type AblateOptions, runAblateStage } from './ablate.js';
import { cacheKey, defaultCacheDir, restoreFromCache, storeInCache } from './cache.js';
import { type ExtractOptions, runExtractStage } from './extract.js';
import { runFile } from './files.js';
import { type MapsOptions, runMapsStage } from './maps.js';
import { writePerturbStage } from './perturb.js';
import { prepareRun, type RunOptions } from './prepare.js';
import { runReportStage } from './report.js';
import { runStatsStage } from './stats.js';

/** Options of `explain`: the run, the stages' settings, where to write, and the cache. */
export interface ExplainOptions extends RunOptions, ExtractOptions {
  out: string;
  stats: StatsConfig;
  /** Reuse and fill the activation-table cache (default true). */
  cache?: boolean;
  cacheDir?: string;
  /** Also run the ablation test (`neuronscope ablate`) before the report. */
  ablate?: AblateOptions;
  /** The heat-map stage (`neuronscope maps`) after stats; skipped when absent or with 0 masks. */
  maps?: MapsOptions;
  /** Also write the report's figures (SVG and PNG) into this directory. */
  figures?: string;
}

/** What `explain` did. */
export interface ExplainResult {
  summary: Summary;
  reportPath: string;
  /** True when the tables came from the cache and no inference ran. */
  fromCache: boolean;
  cacheKey: string;
}

/**
 * Runs the four stages, perturb -> extract -> stats -> report, into `opts.out`. All inputs are checked before
 * anything is written. A cached extraction with the same content key is reused, and then no inference runs.
 */
export async function explain(opts: ExplainOptions, log: Log): Promise<ExplainResult> {
  const run = await prepareRun({ ...opts, stopping: opts.stopping ?? opts.stats });
  // Checked before anything is written, not first in the stats stage.
  for (const l of run.config.layers) {
    if (opts.stats.topK > l.channels) {
      throw new UserError(`--top-k ${opts.stats.topK} is larger than layer ${l.layer}'s ${l.channels} channels`);
    }
  }
  const key = cacheKey(run.config);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const useCache = opts.cache ?? true;
  await writePerturbStage(opts.out, run);

  const fromCache = useCache && (await restoreFromCache(cacheDir, key, opts.out, opts.dumpInputs ?? false));
  if (fromCache) {
    log.info(`cache hit ${key.slice(0, 12)}: reused the activation tables from ${cacheDir}, no inference run`);
  } else {
    const started = performance.now();
    const extracted = await runExtractStage(opts.out, run.config, opts, log);
    const seconds = (performance.now() - started) / 1000;
    log.info(
      `extract: ${extracted.samplesUsed} copies through the model in ${seconds.toFixed(1)} s${autoNote(extracted)}`,
    );
    if (useCache) await storeInCache(cacheDir, key, opts.out);
  }
  let summary = await recordSamplesUsed(opts.out, await runStatsStage(opts.out, run.config, opts.stats));
  if (opts.ablate) summary = await runAblateStage(opts.out, { ...opts.ablate, threads: opts.threads }, log);
  if (opts.maps && opts.maps.masks > 0) {
    await runMapsStage(opts.out, { ...opts.maps, threads: opts.threads, cache: useCache, cacheDir }, log);
  }
  const reportPath = await runReportStage(opts.out, { figures: opts.figures }, log);
  return { summary, reportPath, fromCache, cacheKey: key };
}

/** ` (--samples auto: ...)`, what the stopping rule decided; empty for a fixed N. */
function autoNote(r: ParallelExtractResult): string {
  const last = r.checks.at(-1);
  if (r.stable === null || !last) return '';
  return r.stable
    ? ` (--samples auto: stable after ${r.samplesUsed}, half-sample agreement ${last.agreement.toFixed(2)})`
    : ` (--samples auto: not stable at the maximum, agreement ${last.agreement.toFixed(2)})`;
}

/** Adds to summary.json how many copies ran (the rows of outputs.parquet): N, or where `--samples auto` stopped. */
async function recordSamplesUsed(dir: string, summary: Summary): Promise<Summary> {
  const outputs = await readParquetFile(runFile(dir, 'outputs'));
  const recorded = SummarySchema.parse({ ...summary, samplesUsed: outputs.numRows });
  await writeJsonAtomic(runFile(dir, 'summary'), recorded);
  return recorded;
}
