/** The model side of an analysis: the model loaded and checked, its labels, preprocessing and recorded layers. */
import { resolve } from 'node:path';
import { type LayerInfo, type Preprocessing, sha256File, UserError } from '@neuronscope/core';
import {
  type LoadedModel,
  layerShapes,
  loadLabels,
  loadModel,
  recordableLayers,
  resolvePreprocessing,
  selectLayers,
} from '@neuronscope/model';
import { defaultModel } from './default-model.js';
import type { ModelOptions } from './defaults.js';

/** A model ready to be analysed. */
export interface ModelContext {
  readonly model: LoadedModel;
  readonly labels: { readonly path: string; readonly sha256: string; readonly values: readonly string[] } | null;
  readonly preprocessing: Preprocessing;
  /** All recordable layers with their shapes. */
  readonly allLayers: readonly LayerInfo[];
  /** The layers the user selected, in depth order. */
  readonly layers: readonly LayerInfo[];
  /** The image to explain when none is given (the default model's sample), else null. */
  readonly defaultImage: string | null;
}

/**
 * Loads and checks the model side of the options (relative paths against `base`); writes nothing. Without a
 * model, the embedded default model with its labels, preprocessing and sample image.
 */
export async function prepareModel(opts: ModelOptions, base = process.cwd()): Promise<ModelContext> {
  const fallback = opts.model ? null : await defaultModel();
  const model = await loadModel(resolve(base, opts.model ?? fallback!.model));
  const labelsPath = opts.labels ? resolve(base, opts.labels) : fallback?.labels;
  const labels = labelsPath
    ? { path: labelsPath, sha256: await sha256File(labelsPath).catch(() => ''), values: await loadLabels(labelsPath) }
    : null;
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
  const layers = selectLayers(allLayers, opts.layers, model.path);
  return { model, labels, preprocessing, allLayers, layers, defaultImage: fallback?.image ?? null };
}

/** A class index, or a label looked up in the labels (exact, then case-insensitive); null when absent. */
export function resolveTarget(target: string | number | undefined, labels: readonly string[] | null): number | null {
  if (target === undefined) return null;
  const text = String(target).trim();
  if (/^\d+$/.test(text)) {
    const index = Number(text);
    if (labels && index >= labels.length) {
      throw new UserError(`--target ${index} is out of range: the labels file has ${labels.length} classes`);
    }
    return index;
  }
  if (!labels) throw new UserError(`--target '${text}' is a label, but no --labels file was given`);
  const index = labels.indexOf(text);
  if (index >= 0) return index;
  const folded = labels.findIndex((l) => l.toLowerCase() === text.toLowerCase());
  if (folded >= 0) return folded;
  throw new UserError(`unknown target label '${text}' (not in the labels file)`);
}
