/**
 * The warm explainer, the front of the engine (in the spirit of transformers.js's `pipeline()`): created once for a
 * model, it holds the loaded model, its labels and layers, a pool of workers with their onnxruntime sessions and
 * the cache, and explains any number of images with them until `close()`. Every command, the sweep, the queue
 * worker and the tools run images through it.
 */
import { type CleanOutputs, ExtractionPool, type StoppingCheck } from '@neuronscope/activations';
import { type InputTensor, type RunConfig, type Summary, type Table, UserError } from '@neuronscope/core';
import type { ChannelMetrics } from '@neuronscope/metrics';
import { type AblationResult, runAblation } from './ablate.js';
import { ContentCache, defaultCacheDir } from './cache.js';
import { computeProjections, type DeconvCall, NeuronProjector, type Projections } from './deconv.js';
import {
  type AblateOptions,
  AblateOptionsSchema,
  type AnalysisOptions,
  AnalysisOptionsSchema,
  DEFAULTS,
  type DeconvOptions,
  DeconvOptionsSchema,
  type ExplainerOptions,
  ExplainerOptionsSchema,
  type MapsOptions,
  MapsOptionsSchema,
  parseOptions,
  type ResolvedAnalysisOptions,
  type ResolvedExplainerOptions,
} from './defaults.js';
import { type ExtractedRun, extractRun } from './extraction.js';
import type { ExtractFile } from './files.js';
import { type ImageInput, type LoadedInput, loadInput } from './image-source.js';
import { computeHeatMaps, type HeatMaps } from './maps.js';
import { type ModelContext, prepareModel } from './model.js';
import { batchSizeFor, runConfigFor, runId } from './run-config.js';
import { runStats } from './summary.js';

/** Per-call options of {@link Explainer.explain}: the analysis, plus what cannot be serialized. */
export interface ExplainCall extends AnalysisOptions {
  /** Stops the call: it then rejects with the signal's reason (the explainer stays usable). */
  signal?: AbortSignal;
  /** Progress of a stage: `extract` or `maps`, copies done of total. */
  onProgress?: (stage: 'extract' | 'maps', done: number, total: number) => void;
  /** Every check of `samples: 'auto'`'s stopping rule. */
  onCheck?: (check: StoppingCheck) => void;
}

/** One image explained, in memory; {@link writeRun} persists it as a run folder. */
export interface Explanation {
  /** The run id: a content key of the extraction (see `runId`). */
  readonly id: string;
  /** `run.json`. */
  readonly config: RunConfig;
  /** `summary.json`: predictions, target, per-layer selections by correlation and precision, comparisons. */
  readonly summary: Summary;
  /** `neurons.parquet`: every neuron's metrics, ranks and selections. */
  readonly neurons: Table;
  /** `outputs.parquet`: every copy's logits, y and top-1. */
  readonly outputs: Table;
  /** The clean image's logits, top-1 and the target (`outputs.parquet`'s metadata). */
  readonly clean: CleanOutputs;
  /** Every channel's metric columns, moments and peak unit (`channel_stats.parquet`). */
  readonly metrics: ChannelMetrics;
  /** The extract stage's tables, encoded: what the cache and a run folder hold. */
  readonly files: ReadonlyMap<ExtractFile, Uint8Array>;
  /** `activations.parquet`'s table when this call computed it; see {@link ExtractedRun.activations}. */
  readonly activations: Table | null;
  /** The image as given, preprocessed. */
  readonly input: LoadedInput;
  /** True when the extraction came from the cache (no inference ran). */
  readonly fromCache: boolean;
  /** `samples: 'auto'`: every check and whether the rule was met; null for a fixed N. */
  readonly stopping: ExtractedRun['stopping'];
  readonly timings: ExtractedRun['timings'];
}

/** Where an explainer says what it is doing (warnings included); silent by default. */
export type ExplainerLog = (message: string) => void;

/** A warm explainer of one model; see the module comment. */
export class Explainer {
  /** The pool of workers; created on the first image. */
  private poolInstance: ExtractionPool | null = null;
  readonly cache: ContentCache | null;
  readonly batchSize: number;

  /** Use {@link createExplainer}. */
  constructor(
    readonly context: ModelContext,
    readonly options: ResolvedExplainerOptions,
    readonly log: ExplainerLog,
  ) {
    this.batchSize = batchSizeFor(context, options.batchSize, DEFAULTS.batchSize);
    if (context.classCount < 2 && options.output !== 'logit' && context.model.outputKind !== 'sigmoid') {
      throw new UserError(
        `model ${context.model.path} has ${context.classCount} output class: its softmax probability is always 1, so y would be constant; use --output logit`,
      );
    }
    this.cache = options.cache ? new ContentCache(options.cacheDir ?? defaultCacheDir(), log) : null;
  }

  /** The input tensor's geometry, as this explainer's preprocessing makes it. */
  get inputGeometry(): Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'> {
    const [height, width] = this.context.preprocessing.size;
    const { layout, grayscale } = this.context.preprocessing;
    return { layout, channels: grayscale ? 1 : 3, height, width };
  }

  /** The explainer's pool, created (and its sessions opened) on first use. */
  get pool(): ExtractionPool {
    if (!this.poolInstance) {
      this.poolInstance = new ExtractionPool({
        model: this.context.model.bytes,
        inputName: this.context.model.inputName,
        outputName: this.context.model.logitsName,
        outputKind: this.context.model.outputKind,
        layers: this.context.layers,
        output: this.options.output,
        batchSize: this.batchSize,
        input: this.inputGeometry,
        ...(this.options.workers ? { workers: this.options.workers } : {}),
        ...(this.options.threads ? { threads: this.options.threads } : {}),
      });
    }
    return this.poolInstance;
  }

  /** Loads an image (a path, an image file's bytes, or a preprocessed tensor) as this model takes it. */
  load(image: ImageInput): Promise<LoadedInput> {
    return loadInput(image, this.context.preprocessing);
  }

  /** The run configuration of an image under this explainer and the analysis options (writes nothing). */
  configFor(input: LoadedInput, analysis: ResolvedAnalysisOptions): RunConfig {
    return runConfigFor(this.context, input, analysis, { output: this.options.output, batchSize: this.batchSize });
  }

  /**
   * Explains one image: its perturbed copies through the network (or the cache), every neuron's correlation and
   * precision, the top-k selections per layer and their comparison, in memory. Options default as {@link DEFAULTS}.
   */
  async explain(image: ImageInput, call: ExplainCall = {}): Promise<Explanation> {
    const { input, config, analysis } = await this.prepare(image, call);
    const { signal, onProgress, onCheck } = call;
    return this.explainConfig(config, input, analysis, { signal, onProgress, onCheck });
  }

  /**
   * Checks a call before anything runs: loads the image and resolves the options and the run configuration (target,
   * perturbation, top-k against every layer). Throws the one-line `UserError` of the first problem.
   */
  async prepare(
    image: ImageInput,
    call: AnalysisOptions = {},
  ): Promise<{ input: LoadedInput; config: RunConfig; analysis: ResolvedAnalysisOptions }> {
    const analysis = parseOptions(AnalysisOptionsSchema, call, 'explain options');
    const input = await this.load(image);
    return { input, config: this.configFor(input, analysis), analysis };
  }

  /** {@link explain} of a run configuration made earlier (the `extract` stage of a run folder). */
  async explainConfig(
    config: RunConfig,
    input: LoadedInput,
    analysis: ResolvedAnalysisOptions,
    call: Pick<ExplainCall, 'signal' | 'onProgress' | 'onCheck'> = {},
  ): Promise<Explanation> {
    const extracted = await extractRun(this.pool, this.cache, config, input.tensor, {
      keep: { activations: analysis.keepActivations, unitStats: analysis.keepUnitStats, inputs: analysis.dumpInputs },
      ...(call.signal ? { signal: call.signal } : {}),
      ...(call.onProgress
        ? { onProgress: (done: number, total: number) => call.onProgress!('extract', done, total) }
        : {}),
      ...(call.onCheck ? { onCheck: call.onCheck } : {}),
      log: this.log,
    });
    const stats = { topK: analysis.topK, eligibility: analysis.eligibility };
    const labels = this.context.labels?.values ?? null;
    const { summary, neurons } = runStats(
      extracted.id,
      config,
      extracted.metrics,
      extracted.outputs,
      extracted.clean,
      stats,
      labels,
    );
    return {
      id: extracted.id,
      config,
      summary,
      neurons,
      outputs: extracted.outputs,
      clean: extracted.clean,
      metrics: extracted.metrics,
      files: extracted.files,
      activations: extracted.activations,
      input,
      fromCache: extracted.fromCache,
      stopping: extracted.stopping,
      timings: extracted.timings,
    };
  }

  /** Heat maps of the explanation's selected neurons and of its output, from masked copies (see `maps.ts`). */
  heatMaps(
    run: Pick<Explanation, 'id' | 'config' | 'summary'> & { input: { tensor: InputTensor } },
    options: MapsOptions = {},
    call: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<HeatMaps> {
    const opts = parseOptions(MapsOptionsSchema, options, 'maps options');
    return computeHeatMaps(this, { ...run, input: run.input.tensor }, opts, { ...call, log: this.log });
  }

  /**
   * The deconvnet projection of every selected neuron of the explanation onto its input, from the neuron's most
   * active unit on the clean image, and its box (see `deconv.ts`); a layer with an operator the deconvnet cannot
   * invert is skipped with a warning and recorded in the result's metadata.
   */
  deconv(
    run: Pick<Explanation, 'id' | 'config' | 'summary' | 'metrics'> & { input: { tensor: InputTensor } },
    options: DeconvOptions = {},
  ): Promise<Projections> {
    const opts = parseOptions(DeconvOptionsSchema, options, 'deconv options');
    const input = run.input.tensor;
    const { mode, unpool, boxThreshold } = opts;
    const call: DeconvCall = {
      // Each layer on a worker of the pool (its deconvnet's sessions live for the task): layers side by side.
      project: (layer, neurons) => this.pool.deconv({ layer, neurons, input, mode, unpool, boxThreshold }),
      parallel: this.pool.workers,
      cache: this.cache,
      log: this.log,
    };
    return computeProjections({ ...run, input }, opts, call);
  }

  /**
   * Deconvnets of this model's layers for inputs as this explainer loads them, kept until the projector's
   * `release()`: projects any neurons of any images (the tools' batch use of what {@link deconv} does per run).
   */
  projector(options: DeconvOptions = {}): NeuronProjector {
    const opts = parseOptions(DeconvOptionsSchema, options, 'deconv options');
    return new NeuronProjector(this.context.model, this.inputGeometry, opts, this.options.threads);
  }

  /** The ablation test of the explanation's selections (see `ablate.ts`). */
  ablate(
    run: Pick<Explanation, 'config' | 'summary' | 'neurons' | 'clean'> & { input: { tensor: InputTensor } },
    options: AblateOptions = {},
    call: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<AblationResult> {
    const opts = parseOptions(AblateOptionsSchema, options, 'ablate options');
    return runAblation(this.context, run, opts, { threads: this.options.threads, log: this.log, ...call });
  }

  /** Ends the workers and frees the sessions. The explainer cannot be used afterwards. */
  async close(): Promise<void> {
    await this.poolInstance?.close();
    this.poolInstance = null;
  }
}

/**
 * Creates a warm explainer: loads and checks the model (the embedded default model when none is given), its
 * labels, preprocessing and layers; the workers and sessions start with the first image and live until `close()`.
 */
export async function createExplainer(
  options: ExplainerOptions = {},
  log: ExplainerLog = () => undefined,
): Promise<Explainer> {
  const resolved = parseOptions(ExplainerOptionsSchema, options, 'explainer options');
  return new Explainer(await prepareModel(resolved), resolved, log);
}

export { runId };
