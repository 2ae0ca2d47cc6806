import { resolve } from 'node:path';
import type { Analyser, AnalysisOptions } from './analyse.js';
import type { SweepConfig } from './config.js';
import { writeSweepFiles } from './local.js';
import { buildPlan, type Plan, type SweepManifest, type SweepPaths, sweepPaths } from './plan.js';
import { type ResolvedSource, resolveSource } from './source.js';

/** A sweep configuration with every default filled in. */
export interface ResolvedSweep {
  out: string;
  source: ResolvedSource;
  analysis: AnalysisOptions;
  shardSize: number;
  attempts: number;
}

/** Defaults of a sweep, as documented in docs/sweeps.md. */
export const SWEEP_DEFAULTS = {
  out: 'out/sweep',
  family: 'paper',
  samples: 50,
  seed: 0,
  target: 'prediction',
  output: 'prob',
  topK: 5,
  eligibility: 0.1,
  shardSize: 1,
  attempts: 3,
} as const;

/** Fills in the defaults of a configuration whose paths are absolute (or relative to `base`). */
export async function resolveSweep(config: SweepConfig, base = process.cwd()): Promise<ResolvedSweep> {
  const p = config.preprocess ?? {};
  const size = p.size === undefined ? undefined : typeof p.size === 'number' ? [p.size, p.size] : p.size;
  const abs = (path: string | undefined) => (path === undefined ? undefined : resolve(base, path));
  const model = Object.fromEntries(
    Object.entries({
      model: abs(config.model),
      labels: abs(config.labels),
      preprocess: p.preset,
      size,
      mean: p.mean,
      std: p.std,
      layout: p.layout,
      grayscale: p.grayscale,
      channelOrder: p.channelOrder,
      background: config.background,
      layers: Array.isArray(config.layers) ? config.layers.join(',') : config.layers,
    }).filter(([, v]) => v !== undefined),
  ) as AnalysisOptions['model'];
  const analysis: AnalysisOptions = {
    model,
    perturbation: {
      family: config.perturbation?.family ?? SWEEP_DEFAULTS.family,
      samples: config.perturbation?.samples ?? SWEEP_DEFAULTS.samples,
      seed: config.perturbation?.seed ?? SWEEP_DEFAULTS.seed,
      params: config.perturbation?.params ?? {},
    },
    target: String(config.target ?? SWEEP_DEFAULTS.target),
    output: config.output ?? SWEEP_DEFAULTS.output,
    stats: {
      topK: config.metrics?.topK ?? SWEEP_DEFAULTS.topK,
      eligibility: config.metrics?.eligibility ?? SWEEP_DEFAULTS.eligibility,
    },
    cache: config.cache ?? true,
  };
  if (config.batchSize !== undefined) analysis.batchSize = config.batchSize;
  if (config.cacheDir !== undefined) analysis.cacheDir = resolve(base, config.cacheDir);
  return {
    out: resolve(base, config.out ?? SWEEP_DEFAULTS.out),
    source: await resolveSource(config.source, base),
    analysis,
    shardSize: config.shardSize ?? SWEEP_DEFAULTS.shardSize,
    attempts: config.attempts ?? SWEEP_DEFAULTS.attempts,
  };
}

/** Lists and keys the images, and writes `sweep.json` and `plan.json` into `<out>/sweep/`. */
export async function planSweep(
  sweep: ResolvedSweep,
  analyser: Analyser,
): Promise<{ paths: SweepPaths; manifest: SweepManifest; plan: Plan }> {
  const paths = sweepPaths(sweep.out);
  const plan = await buildPlan(sweep.source, analyser);
  const manifest: SweepManifest = {
    version: 1,
    analysis: sweep.analysis,
    source: sweep.source,
    settingsKey: analyser.settingsKey,
    settings: analyser.settings,
  };
  await writeSweepFiles(paths, manifest, plan);
  return { paths, manifest, plan };
}
