/**
 * The analysis of each image of a sweep: one warm explainer of the engine (the same pipeline, pool, sessions and
 * cache as `explain`) kept for the whole sweep, images streamed through it several at a time.
 */
import {
  canonicalJson,
  classProbabilities,
  type LayerInfo,
  type OutputMode,
  type PerturbationSpec,
  type Preprocessing,
  type RunConfig,
  type StatsConfig,
  sha256,
  type Table,
  UserError,
} from '@neuronscope/core';
import {
  classOf,
  createExplainer,
  type Explainer,
  type ModelContext,
  type ModelOptions,
  resolveTarget,
} from '@neuronscope/engine';
import { resolvePerturbation } from '@neuronscope/perturb';

/** The model side of an analysis, as `neuronscope explain` takes it (absolute paths). */
export type ModelSpec = ModelOptions;

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
  /** `neuronsSchema` rows (layer x channel) of the stats stage. */
  neurons: Table;
  /** Per row of `neurons`: the channel's spatial-mean activation on the clean image. */
  cleanActivation: Float32Array;
  /** Per row of `neurons`: the most active unit on the clean image (y * W + x) and its activation. */
  peakUnit: Int32Array;
  peakValue: Float32Array;
  /** True when the extraction tables came from the cache. */
  fromCache: boolean;
}

/** Analyses the images of a sweep on one warm explainer. */
export interface Analyser {
  readonly settings: AnalysisSettings;
  /** Hash of the settings (paths excluded). */
  readonly settingsKey: string;
  readonly labels: readonly string[] | null;
  /** Resolves a label as a source gives it (index or name) to a class index, or null when it names no class. */
  classOf(label: string | null): number | null;
  /** Explains one image file with the label the source gives it (for `target: label`). */
  analyse(imagePath: string, label: number | null): Promise<ImageAnalysis>;
  close(): Promise<void>;
}

/** Bump when the meaning of parts changes: every image is then analysed again. */
export const SWEEP_FORMAT = 2;

/** The target setting of a sweep: the prediction, each image's label, or one class (with "did you mean"). */
function targetSetting(target: string, context: ModelContext): AnalysisSettings['target'] {
  if (target === 'prediction') return { mode: 'prediction', class: null };
  if (target === 'label') return { mode: 'label', class: null };
  return { mode: 'class', class: resolveTarget(target, context) };
}

/** The settings of the analysis as the explainer resolved them. */
function settingsOf(explainer: Explainer, opts: AnalysisOptions): AnalysisSettings {
  const { model, labels, preprocessing, layers } = explainer.context;
  for (const l of layers) {
    if (opts.stats.topK > l.channels) {
      throw new UserError(`--top-k ${opts.stats.topK} is larger than layer ${l.layer}'s ${l.channels} channels`);
    }
  }
  return {
    model: { path: model.path, sha256: model.sha256, input: model.inputName, output: model.outputName },
    labels: labels ? { path: labels.path, sha256: labels.sha256, background: labels.background } : null,
    preprocessing,
    perturbation: resolvePerturbation(opts.perturbation),
    layers: [...layers],
    target: targetSetting(opts.target, explainer.context),
    output: opts.output,
    batchSize: explainer.batchSize,
    stats: opts.stats,
  };
}

/** What a sweep keeps of one explanation. */
function imageAnalysis(e: Awaited<ReturnType<Explainer['explain']>>): ImageAnalysis {
  const probabilities = classProbabilities(e.clean.logits, e.config.model.outputKind ?? 'logits');
  const t = e.summary.target.index;
  return {
    prediction: e.clean.top1,
    probability: probabilities[e.clean.top1]!,
    target: t,
    targetProbability: probabilities[t]!,
    copiesKeepingTarget: e.summary.copiesKeepingTarget,
    neurons: e.neurons,
    cleanActivation: e.metrics.channel.shift,
    peakUnit: e.metrics.peakUnit,
    peakValue: e.metrics.peakValue,
    fromCache: e.fromCache,
  };
}

/**
 * Test hooks, read once: `NEURONSCOPE_SWEEP_DELAY_MS` makes every image take at least that long (so a test can
 * kill a worker in the middle of a job); `NEURONSCOPE_SWEEP_FAIL` (a regular expression) makes the analysis of
 * matching image files fail with an internal error, as a crash would.
 */
function testHooks(): { delay: number; fail: RegExp | null } {
  const delay = Number(process.env.NEURONSCOPE_SWEEP_DELAY_MS ?? 0);
  const fail = process.env.NEURONSCOPE_SWEEP_FAIL ? new RegExp(process.env.NEURONSCOPE_SWEEP_FAIL) : null;
  return { delay: Math.max(delay, 0), fail };
}

/** Creates the analyser of a sweep: one explainer (pool and sessions) for all its images. */
export async function createAnalyser(
  opts: AnalysisOptions,
  runtime: { workers?: number; threads?: number; log?: (message: string) => void } = {},
): Promise<Analyser> {
  const explainer = await createExplainer(
    {
      ...opts.model,
      output: opts.output,
      batchSize: opts.batchSize,
      workers: runtime.workers,
      threads: runtime.threads,
      cache: opts.cache,
      cacheDir: opts.cacheDir,
    },
    runtime.log,
  );
  try {
    const settings = settingsOf(explainer, opts);
    const settingsKey = sha256(
      canonicalJson({
        format: SWEEP_FORMAT,
        ...settings,
        model: settings.model.sha256,
        labels: settings.labels?.sha256 ?? null,
        layers: settings.layers.map((l) => l.layer),
      }),
    );
    const labels = explainer.context.labels?.values ?? null;
    const hooks = testHooks();
    const analyse = async (imagePath: string, label: number | null): Promise<ImageAnalysis> => {
      if (hooks.delay) await new Promise((r) => setTimeout(r, hooks.delay));
      if (hooks.fail?.test(imagePath)) throw new Error(`injected failure (NEURONSCOPE_SWEEP_FAIL) on ${imagePath}`);
      const { target } = settings;
      if (target.mode === 'label' && label === null)
        throw new UserError('the target is the label, and this image has none');
      const explanation = await explainer.explain(imagePath, {
        ...settings.perturbation,
        perturb: settings.perturbation.family,
        ...(target.mode === 'prediction' ? {} : { target: target.mode === 'class' ? target.class! : label! }),
        topK: opts.stats.topK,
        eligibility: opts.stats.eligibility,
        keepActivations: false,
      });
      return imageAnalysis(explanation);
    };
    return {
      settings,
      settingsKey,
      labels,
      classOf: (label) => (label === null ? null : classOf(label, explainer.context)),
      analyse,
      close: () => explainer.close(),
    };
  } catch (err) {
    await explainer.close();
    throw err;
  }
}
