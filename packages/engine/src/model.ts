/** The model side of an analysis: the model loaded and checked, its labels, preprocessing and recorded layers. */
import { resolve } from 'node:path';
import { type LayerInfo, type Preprocessing, sha256File, UserError } from '@neuronscope/core';
import {
  alignLabels,
  allTensorLayers,
  checkClassifierOutput,
  describeOutputKind,
  findClass,
  type LoadedModel,
  layerAliases,
  loadLabels,
  loadModel,
  modelClassCount,
  resolveClass,
  resolveLayers,
  resolvePreprocessing,
  selectLayers,
} from '@neuronscope/model';
import { defaultModel } from './default-model.js';
import type { ModelOptions } from './defaults.js';

/** A model ready to be analysed. */
export interface ModelContext {
  readonly model: LoadedModel;
  /** The model's number of outputs (classes). */
  readonly classCount: number;
  /** One label per output (`background` first when the file leaves it out), or null without a labels file. */
  readonly labels: {
    readonly path: string;
    readonly sha256: string;
    /** Output 0 is a background class the file leaves out. */
    readonly background: boolean;
    readonly values: readonly string[];
  } | null;
  readonly preprocessing: Preprocessing;
  /** The layers one may record: the Conv outputs, or every 4-D tensor when the selection names other tensors. */
  readonly allLayers: readonly LayerInfo[];
  /** The layers the user selected, in depth order. */
  readonly layers: readonly LayerInfo[];
  /** The image to explain when none is given (the default model's sample), else null. */
  readonly defaultImage: string | null;
  /** What the model's output is and where y comes from, in words (e.g. "the model ends in Softmax: ..."). */
  readonly outputNote: string;
}

/** Input dims of one preprocessed image (batch 1). */
export function inputDims(p: Preprocessing): number[] {
  const [height, width] = p.size;
  const channels = p.grayscale ? 1 : 3;
  return p.layout === 'NCHW' ? [1, channels, height, width] : [1, height, width, channels];
}

/** The model and its preprocessing as the options give them (the default model's without a model). */
async function modelAndPreprocessing(opts: ModelOptions, base: string) {
  const fallback = opts.model ? null : await defaultModel();
  const model = await loadModel(resolve(base, opts.model ?? fallback!.model));
  const preset = opts.preprocess ?? fallback?.preprocess.preset ?? (model.channels === 1 ? 'none' : 'imagenet');
  const preprocessing = resolvePreprocessing(
    {
      preset,
      size: opts.size ?? fallback?.preprocess.size,
      mean: opts.mean,
      std: opts.std,
      layout: opts.layout,
      grayscale: opts.grayscale ?? fallback?.preprocess.grayscale,
      ...(opts.channelOrder ? { channelOrder: opts.channelOrder } : {}),
    },
    model,
  );
  return { fallback, model, preprocessing };
}

/**
 * Loads and checks the model side of the options (relative paths against `base`); writes nothing. Without a
 * model, the embedded default model with its labels, preprocessing and sample image.
 */
export async function prepareModel(opts: ModelOptions, base = process.cwd()): Promise<ModelContext> {
  const { fallback, model, preprocessing } = await modelAndPreprocessing(opts, base);
  checkClassifierOutput(model);
  if (!model.dynamicBatch && model.batch !== 1) {
    throw new UserError(
      `model ${model.path} takes a fixed batch of ${model.batch}; neuronscope needs a batch of 1 or a dynamic batch axis (export with a dynamic batch dimension)`,
    );
  }
  const dims = inputDims(preprocessing);
  const { candidates, layers } = await resolveLayers(model, opts.layers, dims, preprocessing.layout);
  const classCount = await modelClassCount(model, dims);
  const labelsPath = opts.labels ? resolve(base, opts.labels) : fallback?.labels;
  const labels = labelsPath
    ? {
        path: labelsPath,
        sha256: await sha256File(labelsPath),
        background: opts.background ?? false,
        values: await readLabels(labelsPath, model, classCount, opts.background ?? false),
      }
    : null;
  return {
    model,
    classCount,
    labels,
    preprocessing,
    allLayers: candidates,
    layers,
    defaultImage: fallback?.image ?? null,
    outputNote: describeOutputKind(model.outputKind, model.logitsName),
  };
}

/**
 * The layers `neuronscope layers` lists: those a `--layers` spec selects among the recordable layers (or among every
 * tensor when it names others), or with `all`, among every 4-D float tensor of the model (with op type and shape).
 */
export async function listLayers(
  opts: ModelOptions,
  all: boolean,
  base = process.cwd(),
): Promise<{ model: LoadedModel; layers: LayerInfo[] }> {
  const { model, preprocessing } = await modelAndPreprocessing(opts, base);
  const dims = inputDims(preprocessing);
  if (!all) return { model, layers: (await resolveLayers(model, opts.layers, dims, preprocessing.layout)).layers };
  const every = await allTensorLayers(model, dims, preprocessing.layout);
  return { model, layers: selectLayers(every, opts.layers, { modelPath: model.path, aliases: layerAliases(model) }) };
}

/** The labels of a model, aligned with its outputs (see `alignLabels`). */
export async function readLabels(
  path: string,
  model: LoadedModel,
  classCount: number,
  background: boolean,
): Promise<string[]> {
  return alignLabels(await loadLabels(path), classCount, { background, labelsPath: path, modelPath: model.path });
}

/**
 * The class a `--target` names: an index, or a label or any of its synonyms (case-insensitive), with "did you
 * mean" suggestions when it names none; null when absent (the clean image's top-1).
 */
export function resolveTarget(
  target: string | number | undefined,
  context: Pick<ModelContext, 'labels' | 'classCount'>,
): number | null {
  if (target === undefined) return null;
  return resolveClass(String(target), context.labels?.values ?? null, {
    classCount: context.classCount,
    what: '--target',
  });
}

/** The class a label names (index or synonym), or null when it names none (a sweep's labels; no error). */
export function classOf(label: string, context: Pick<ModelContext, 'labels' | 'classCount'>): number | null {
  return findClass(label, context.labels?.values ?? null, context.classCount).index;
}
