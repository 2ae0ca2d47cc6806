/**
 * Names for the channels of a layer whose channels are the classes (see `classChannelLayers`): the class labels, so
 * that the reports say “burrito” where they would say channel 965. Used by the per-image report and the sweep pages.
 */
import type { LayerInfo, Preprocessing } from '@neuronscope/core';
import { classChannelLayers, type LoadedModel, modelClassCount } from '@neuronscope/model';
import { inputDims, readLabels } from './model.js';

/**
 * The class labels of every layer of `layers` whose channels are the classes, by layer index; empty without labels
 * (or when the labels file cannot be read any more).
 */
export async function classChannelNames(
  model: LoadedModel,
  layers: readonly LayerInfo[],
  preprocessing: Preprocessing,
  labels: { readonly path: string; readonly background?: boolean } | null,
): Promise<Map<number, readonly string[]>> {
  const names = new Map<number, readonly string[]>();
  if (!labels) return names;
  const classCount = await modelClassCount(model, inputDims(preprocessing));
  const found = classChannelLayers(model.graph, model.logitsName, layers, classCount);
  if (found.size === 0) return names;
  const values = await readLabels(labels.path, model, classCount, labels.background ?? false).catch(() => null);
  if (!values) return names;
  for (const l of layers) if (found.has(l.layer)) names.set(l.layerIndex, values);
  return names;
}
