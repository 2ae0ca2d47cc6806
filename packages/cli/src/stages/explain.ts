import { type StatsConfig, type Summary, UserError } from '@neuronscope/core';
import type { Log } from '../log.js';
import { cacheKey, defaultCacheDir, restoreFromCache, storeInCache } from './cache.js';
import { type ExtractOptions, runExtractStage } from './extract.js';
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
  const run = await prepareRun(opts);
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
    await runExtractStage(opts.out, run.config, opts, log);
    const seconds = (performance.now() - started) / 1000;
    log.info(`extract: ${run.config.perturbation.samples} copies through the model in ${seconds.toFixed(1)} s`);
    if (useCache) await storeInCache(cacheDir, key, opts.out);
  }
  const summary = await runStatsStage(opts.out, run.config, opts.stats);
  const reportPath = await runReportStage(opts.out);
  return { summary, reportPath, fromCache, cacheKey: key };
}
