import { resolve } from 'node:path';
import {
  type InputTensor,
  type LayerInfo,
  type OutputMode,
  type RunConfig,
  RunConfigSchema,
  sha256File,
  UserError,
} from '@neuronscope/core';
import {
  type LoadedModel,
  layerShapes,
  loadImage,
  loadLabels,
  loadModel,
  type ModelOptions,
  recordableLayers,
  resolvePreprocessing,
  selectLayers,
} from '@neuronscope/model';
import { resolvePerturbation } from '@neuronscope/perturb';
import { defaultModel } from '../default-model.js';

export type { ModelOptions };

/** Everything that defines one explanation run. */
export interface RunOptions extends ModelOptions {
  /** Image file; the default model's sample image when absent (only with the default model). */
  image?: string;
  perturb: string;
  /** Copies N, or `auto`: run copies until the top-k sets are stable, at most `maxSamples`. */
  samples: number | 'auto';
  /** With `auto`: the most copies to run (default 1000). */
  maxSamples?: number;
  /** With `auto`: the top-k sets whose stability stops extraction (default k = 5, eligibility 0.1). */
  stopping?: { topK: number; eligibility: number };
  /** With `auto`: the agreement the sets must reach (default 0.9). */
  stopAgreement?: number;
  seed: number;
  /** Family parameters as given on the command line (`key=value`). */
  params: Record<string, unknown>;
  /** Class index or label; the clean image's top-1 when absent. */
  target?: string;
  output: OutputMode;
  batchSize?: number;
}

/** A model ready to be analysed: loaded, with its preprocessing, labels and recordable layers. */
export interface ModelContext {
  model: LoadedModel;
  labels: { path: string; values: string[] } | null;
  preprocessing: ReturnType<typeof resolvePreprocessing>;
  /** All recordable layers with their shapes. */
  allLayers: LayerInfo[];
  /** The layers the user selected. */
  layers: LayerInfo[];
  /** Image to use when none is given (the default model's sample). */
  defaultImage: string | null;
}

/** Loads and checks the model side of the options; writes nothing. */
export async function prepareModel(opts: ModelOptions): Promise<ModelContext> {
  const fallback = opts.model ? null : await defaultModel();
  const model = await loadModel(resolve(opts.model ?? fallback!.model));
  const labelsPath = opts.labels ?? fallback?.labels;
  const labels = labelsPath ? { path: resolve(labelsPath), values: await loadLabels(resolve(labelsPath)) } : null;
  const preset = opts.preprocess ?? fallback?.preprocess.preset ?? (model.channels === 1 ? 'none' : 'imagenet');
  const preprocessing = resolvePreprocessing(
    {
      preset,
      size: opts.size ?? fallback?.preprocess.size,
      mean: opts.mean,
      std: opts.std,
      layout: opts.layout,
      grayscale: opts.grayscale ?? fallback?.preprocess.grayscale,
    },
    model,
  );
  const [height, width] = preprocessing.size;
  const channels = preprocessing.grayscale ? 1 : 3;
  const dims = preprocessing.layout === 'NCHW' ? [1, channels, height, width] : [1, height, width, channels];
  const allLayers = await layerShapes(model, recordableLayers(model), dims);
  if (allLayers.length === 0) throw new UserError(`${model.path} has no Conv layers to record`);
  const layers = selectLayers(allLayers, opts.layers);
  return { model, labels, preprocessing, allLayers, layers, defaultImage: fallback?.image ?? null };
}

/** A run resolved and validated, ready to be written. */
export interface PreparedRun {
  config: RunConfig;
  context: ModelContext;
  input: InputTensor;
}

/** Resolves the options into a validated run configuration. Reads the inputs; writes nothing. */
export async function prepareRun(opts: RunOptions): Promise<PreparedRun> {
  const context = await prepareModel(opts);
  const imagePath = opts.image ?? context.defaultImage;
  if (!imagePath) throw new UserError('--image is required with --model');
  const image = await loadImage(resolve(imagePath), context.preprocessing);
  const auto = opts.samples === 'auto';
  const resolved = resolvePerturbation({
    family: opts.perturb,
    samples: opts.samples === 'auto' ? (opts.maxSamples ?? 1000) : opts.samples,
    seed: opts.seed,
    params: opts.params,
  });
  const stopping = {
    topK: opts.stopping?.topK ?? 5,
    eligibility: opts.stopping?.eligibility ?? 0.1,
    ...(opts.stopAgreement === undefined ? {} : { agreement: opts.stopAgreement }),
  };
  const perturbation = auto ? { ...resolved, auto: stopping } : resolved;
  const target = resolveTarget(opts.target, context.labels?.values ?? null);
  const batchSize = opts.batchSize ?? (context.model.dynamicBatch ? 8 : 1);
  if (!context.model.dynamicBatch && batchSize !== 1) {
    throw new UserError(`--batch-size ${batchSize}: this model takes a fixed batch of 1`);
  }
  const config = RunConfigSchema.parse({
    version: 1,
    model: {
      path: context.model.path,
      sha256: context.model.sha256,
      input: context.model.inputName,
      output: context.model.outputName,
    },
    image: { path: resolve(imagePath), sha256: image.sha256, width: image.width, height: image.height },
    labels: context.labels ? { path: context.labels.path, sha256: await sha256File(context.labels.path) } : null,
    preprocessing: context.preprocessing,
    perturbation,
    layers: context.layers,
    target,
    output: opts.output,
    batchSize,
  } satisfies RunConfig);
  return { config, context, input: image.tensor };
}

/** A class index, or a label looked up in the labels file. */
export function resolveTarget(target: string | undefined, labels: string[] | null): number | null {
  if (target === undefined) return null;
  if (/^\d+$/.test(target)) {
    const index = Number(target);
    if (labels && index >= labels.length) {
      throw new UserError(`--target ${index} is out of range: the labels file has ${labels.length} classes`);
    }
    return index;
  }
  if (!labels) throw new UserError(`--target '${target}' is a label, but no --labels file was given`);
  const index = labels.indexOf(target);
  if (index >= 0) return index;
  const folded = labels.findIndex((l) => l.toLowerCase() === target.toLowerCase());
  if (folded >= 0) return folded;
  throw new UserError(`unknown target label '${target}' (not in the labels file)`);
}
