import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLEAN_METADATA_KEY, EXTRACT_FILES, extract } from '@neuronscope/activations';
import {
  canonicalJson,
  type LayerInfo,
  type OutputMode,
  type PerturbationSpec,
  type Preprocessing,
  type RunConfig,
  RunConfigSchema,
  readParquetFile,
  type StatsConfig,
  sha256,
  sha256File,
  tableMetadata,
  UserError,
} from '@neuronscope/core';
import { computeMetrics, type Table } from '@neuronscope/metrics';
import { createSession, type LoadedModel, loadImage, type ModelOptions, withExtraOutputs } from '@neuronscope/model';
import { perturbationTable, readPerturbationTable, resolvePerturbation } from '@neuronscope/perturb';

/** The model side of an analysis, as `neuronscope explain` takes it (absolute paths). */
export type ModelSpec = ModelOptions;

/** What the spine's `prepareModel` gives: the model loaded, its labels, preprocessing and chosen layers. */
export interface PreparedModel {
  model: LoadedModel;
  labels: { path: string; values: string[] } | null;
  preprocessing: Preprocessing;
  layers: LayerInfo[];
}

/**
 * The pieces of the per-image pipeline that live in the CLI (the spine), injected so that this package does not
 * import it: model preparation (default model, presets, layer selection) and the content-addressed cache.
 */
export interface Spine {
  prepareModel(opts: ModelSpec): Promise<PreparedModel>;
  cacheKey(config: RunConfig): string;
  restoreFromCache(cacheDir: string, key: string, dir: string, withInputs: boolean): Promise<boolean>;
  storeInCache(cacheDir: string, key: string, dir: string): Promise<void>;
  defaultCacheDir(): string;
}

/** Everything that defines the analysis of each image of a sweep; JSON, stored in `sweep.json`. */
export interface AnalysisOptions {
  model: ModelSpec;
  perturbation: { family: string; samples: number; seed: number; params: Record<string, unknown> };
  /** `prediction` (the clean top-1), `label` (the image's label), or a class index or label. */
  target: string;
  output: OutputMode;
  batchSize?: number;
  stats: StatsConfig;
  cache: boolean;
  cacheDir?: string;
}

/** The resolved settings an analysis depends on: their hash is part of every image's key. */
export interface AnalysisSettings {
  model: RunConfig['model'];
  labels: RunConfig['labels'];
  preprocessing: Preprocessing;
  perturbation: PerturbationSpec;
  layers: LayerInfo[];
  target: { mode: 'prediction' | 'label' | 'class'; class: number | null };
  output: OutputMode;
  batchSize: number;
  stats: StatsConfig;
}

/** One image analysed: what goes into its row of `images.parquet` and its neuron rows. */
export interface ImageAnalysis {
  prediction: number;
  probability: number;
  target: number;
  targetProbability: number;
  copiesKeepingTarget: number;
  /** `neuronsSchema` rows (layer x channel) of the spine's stats stage. */
  neurons: Table;
  /** Clean-image spatial-mean activation per row of `neurons`. */
  cleanActivation: Float32Array;
  /** True when the extraction tables came from the cache. */
  fromCache: boolean;
}

/** Analyses images one after the other with one model session. */
export interface Analyser {
  readonly settings: AnalysisSettings;
  /** Hash of the settings (paths excluded). */
  readonly settingsKey: string;
  readonly labels: readonly string[] | null;
  /** Resolves a label as a source gives it (index or name) to a class index, or null when it names no class. */
  classOf(label: string | null): number | null;
  /** Runs the spine's perturb, extract (or the cache) and stats stages on one image file. */
  analyse(imagePath: string, label: number | null): Promise<ImageAnalysis>;
  close(): Promise<void>;
}

/** Bump when the meaning of parts changes: every image is then analysed again. */
export const SWEEP_FORMAT = 1;

function softmax(logits: readonly number[]): number[] {
  const max = logits.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
  const exps = logits.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function lookupClass(value: string, labels: readonly string[] | null): number | null {
  if (/^\d+$/.test(value)) {
    const index = Number(value);
    return labels && index >= labels.length ? null : index;
  }
  if (!labels) return null;
  const exact = labels.indexOf(value);
  if (exact >= 0) return exact;
  const folded = labels.findIndex((l) => l.toLowerCase() === value.toLowerCase());
  return folded >= 0 ? folded : null;
}

/** Removes scratch folders that killed sweeps left in the temporary directory (untouched for an hour). */
async function removeStaleScratch(): Promise<void> {
  const cutoff = Date.now() - 3600_000;
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith('neuronscope-sweep-'))) {
    const s = await stat(join(tmpdir(), name)).catch(() => null);
    if (s && s.mtimeMs < cutoff) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** Prepares the model once and returns an {@link Analyser}; the session is created on the first image. */
export async function createAnalyser(opts: AnalysisOptions, spine: Spine, threads?: number): Promise<Analyser> {
  const prepared = await spine.prepareModel(opts.model);
  await removeStaleScratch();
  const { model, preprocessing, layers } = prepared;
  const labels = prepared.labels?.values ?? null;
  const perturbation = resolvePerturbation(opts.perturbation);
  const batchSize = opts.batchSize ?? (model.dynamicBatch ? 8 : 1);
  if (!model.dynamicBatch && batchSize !== 1) {
    throw new UserError(`batch size ${batchSize}: this model takes a fixed batch of 1`);
  }
  for (const l of layers) {
    if (opts.stats.topK > l.channels) {
      throw new UserError(`--top-k ${opts.stats.topK} is larger than layer ${l.layer}'s ${l.channels} channels`);
    }
  }
  let target: AnalysisSettings['target'];
  if (opts.target === 'prediction') target = { mode: 'prediction', class: null };
  else if (opts.target === 'label') target = { mode: 'label', class: null };
  else {
    const index = lookupClass(opts.target, labels);
    if (index === null) throw new UserError(`unknown target class '${opts.target}'`);
    target = { mode: 'class', class: index };
  }
  const settings: AnalysisSettings = {
    model: { path: model.path, sha256: model.sha256, input: model.inputName, output: model.outputName },
    labels: prepared.labels ? { path: prepared.labels.path, sha256: await sha256File(prepared.labels.path) } : null,
    preprocessing,
    perturbation,
    layers,
    target,
    output: opts.output,
    batchSize,
    stats: opts.stats,
  };
  const settingsKey = sha256(
    canonicalJson({
      format: SWEEP_FORMAT,
      ...settings,
      model: settings.model.sha256,
      labels: settings.labels?.sha256 ?? null,
      layers: layers.map((l) => l.layer),
    }),
  );
  const cacheDir = opts.cacheDir ?? spine.defaultCacheDir();
  const shapes = new Map(layers.map((l) => [l.layer, { height: l.height, width: l.width }]));
  let session: Awaited<ReturnType<typeof createSession>> | null = null;
  let scratch: string | null = null;

  const analyse = async (imagePath: string, label: number | null): Promise<ImageAnalysis> => {
    const image = await loadImage(imagePath, preprocessing);
    const targetClass = target.mode === 'prediction' ? null : target.mode === 'class' ? target.class : label;
    if (target.mode === 'label' && targetClass === null) {
      throw new UserError('the target is the label, and this image has none');
    }
    const config: RunConfig = RunConfigSchema.parse({
      version: 1,
      model: settings.model,
      image: { path: imagePath, sha256: image.sha256, width: image.width, height: image.height },
      labels: settings.labels,
      preprocessing,
      perturbation,
      layers,
      target: targetClass,
      output: opts.output,
      batchSize,
    } satisfies RunConfig);
    const key = spine.cacheKey(config);
    scratch ??= await mkdtemp(join(tmpdir(), 'neuronscope-sweep-'));
    const dir = join(scratch, key);
    try {
      const fromCache = opts.cache && (await spine.restoreFromCache(cacheDir, key, dir, false));
      if (!fromCache) {
        session ??= await createSession(
          withExtraOutputs(
            model.bytes,
            layers.map((l) => l.layer),
          ),
          threads === undefined ? {} : { threads },
        );
        const copies = readPerturbationTable(perturbationTable(perturbation, image.tensor));
        await extract({
          session,
          inputName: model.inputName,
          outputName: model.outputName,
          input: image.tensor,
          copies,
          layers,
          target: targetClass,
          output: opts.output,
          batchSize,
          outDir: dir,
        });
        if (opts.cache) await spine.storeInCache(cacheDir, key, dir);
      }
      const [unitStats, channelStats, outputs] = await Promise.all([
        readParquetFile(join(dir, EXTRACT_FILES.unitStats)),
        readParquetFile(join(dir, EXTRACT_FILES.channelStats)),
        readParquetFile(join(dir, EXTRACT_FILES.outputs)),
      ]);
      const metrics = computeMetrics(unitStats, channelStats, opts.stats, shapes);
      const clean = tableMetadata<{ logits: number[]; top1: number; target: number }>(outputs, CLEAN_METADATA_KEY);
      if (!clean) throw new Error('outputs.parquet lacks the clean logits');
      const probabilities = softmax(clean.logits);
      const top1 = outputs.getChild('top1')!.toArray() as Int32Array;
      const t = metrics.output.target;
      return {
        prediction: clean.top1,
        probability: probabilities[clean.top1]!,
        target: t,
        targetProbability: probabilities[t]!,
        copiesKeepingTarget: top1.reduce((s, v) => s + (v === t ? 1 : 0), 0) / top1.length,
        neurons: metrics.neurons,
        cleanActivation: Float32Array.from(channelStats.getChild('shift')!.toArray() as Float32Array),
        fromCache,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  return {
    settings,
    settingsKey,
    labels,
    classOf: (label) => (label === null ? null : lookupClass(label, labels)),
    analyse,
    async close() {
      await session?.release();
      session = null;
      if (scratch) await rm(scratch, { recursive: true, force: true });
      scratch = null;
    },
  };
}
