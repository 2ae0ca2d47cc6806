/** The files of a run folder, stage by stage (see the README's table of output files). */
import { join } from 'node:path';

export const RUN_FILES = {
  /** perturb: which model, image and settings. */
  run: 'run.json',
  /** perturb: one row per copy (family, seed, params); the pixels are regenerated from it. */
  perturbations: 'perturbations.parquet',
  /** extract: one row per copy: logits, y, top-1. */
  outputs: 'outputs.parquet',
  /** extract (kept by default): one row per copy, layer and channel: the spatial-mean activation. */
  activations: 'activations.parquet',
  /** extract: one row per layer and channel: moments, metric columns, peak unit. */
  channelStats: 'channel_stats.parquet',
  /** extract, when asked: one row per layer, channel and unit: the per-unit moments. */
  unitStats: 'unit_stats.parquet',
  /** extract, when asked: the exact float32 copies fed to the model. */
  inputs: 'inputs.npy',
  /** stats: metrics, ranks and selections of every neuron. */
  neurons: 'neurons.parquet',
  summary: 'summary.json',
  maps: 'maps.parquet',
  /** maps: deletion and insertion curves of the output's RISE map and of random maps. */
  faithfulness: 'faithfulness.parquet',
  ablation: 'ablation.parquet',
  /** deconv: the selected neurons' deconvnet projections onto the input and their boxes. */
  deconv: 'deconv.parquet',
  report: 'report.html',
} as const;

export type RunFile = keyof typeof RUN_FILES;

/** Absolute path of a run file. */
export function runFile(dir: string, name: RunFile): string {
  return join(dir, RUN_FILES[name]);
}

/** The extract stage's tables, as the cache and a run folder hold them. */
export const EXTRACT_FILES = [
  'outputs',
  'activations',
  'channelStats',
  'unitStats',
  'inputs',
] as const satisfies readonly RunFile[];
export type ExtractFile = (typeof EXTRACT_FILES)[number];
