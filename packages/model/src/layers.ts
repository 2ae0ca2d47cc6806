import { type LayerInfo, UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { withExtraOutputs } from './extra-outputs.js';
import type { LoadedModel } from './load.js';
import { topologicalOrder } from './onnx-graph.js';
import { createSession } from './session.js';

/** A recordable layer before its shape is known. */
export type LayerRef = Omit<LayerInfo, 'channels' | 'height' | 'width'>;

/** Element-wise activations that, directly after a Conv, give the tensor the network actually uses. */
export const ACTIVATION_OPS: ReadonlySet<string> = new Set([
  'Relu',
  'Clip',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'PRelu',
  'Softplus',
  'Mish',
  'Gelu',
]);

/**
 * Every Conv node's output as the network uses it, in depth order. When the Conv output feeds exactly
 * one node, that node is an element-wise activation taking it as its first input, and the Conv output
 * is not itself a graph output, the activation's output is recorded (op = the activation's type);
 * otherwise the Conv output (op = 'Conv'). `layerIndex` is the Conv's rank in a topological order.
 */
export function recordableLayers(model: Pick<LoadedModel, 'graph'>): LayerRef[] {
  const { graph } = model;
  const consumers = new Map<string, number[]>();
  graph.nodes.forEach((node, i) => {
    for (const input of new Set(node.inputs)) {
      if (input === '') continue;
      const list = consumers.get(input);
      if (list) list.push(i);
      else consumers.set(input, [i]);
    }
  });
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const layers: LayerRef[] = [];
  for (const i of topologicalOrder(graph)) {
    const conv = graph.nodes[i]!;
    if (conv.opType !== 'Conv' || conv.domain !== '') continue;
    const convOutput = conv.outputs[0];
    if (!convOutput) continue;
    const convNode = conv.name || convOutput;
    const users = consumers.get(convOutput) ?? [];
    const next = users.length === 1 ? graph.nodes[users[0]!] : undefined;
    const activation =
      next &&
      next.domain === '' &&
      ACTIVATION_OPS.has(next.opType) &&
      next.inputs[0] === convOutput &&
      next.outputs[0] &&
      !graphOutputs.has(convOutput)
        ? next
        : undefined;
    layers.push(
      activation
        ? { layer: activation.outputs[0]!, layerIndex: layers.length, convNode, op: activation.opType }
        : { layer: convOutput, layerIndex: layers.length, convNode, op: 'Conv' },
    );
  }
  return layers;
}

/**
 * Channels, height and width of each layer, found by running the model once on zeros of `inputDims`
 * with the layers' tensors added as graph outputs. A layer whose tensor is not 4-D with batch 1 is a
 * {@link UserError} (neuronscope records image feature maps only).
 */
export async function layerShapes(
  model: Pick<LoadedModel, 'bytes' | 'inputName' | 'path'>,
  layers: readonly LayerRef[],
  inputDims: readonly number[],
): Promise<LayerInfo[]> {
  if (layers.length === 0) return [];
  const names = layers.map((l) => l.layer);
  const session = await createSession(withExtraOutputs(model.bytes, names), { modelPath: model.path });
  try {
    const size = inputDims.reduce((a, b) => a * b, 1);
    const input = new ort.Tensor('float32', new Float32Array(size), [...inputDims]);
    const results = await session.run({ [model.inputName]: input }, names);
    return layers.map((l) => {
      const dims = results[l.layer]?.dims;
      if (dims?.length !== 4 || dims[0] !== inputDims[0]) {
        throw new UserError(
          `layer '${l.layer}' of ${model.path} has shape [${dims?.join(', ') ?? '?'}], not a 4-D NCHW feature map`,
        );
      }
      const [, channels, height, width] = dims as [number, number, number, number];
      return { ...l, channels, height, width };
    });
  } finally {
    await session.release();
  }
}

/** A regular expression for a glob: `*` any run of characters (slashes included), `?` one character. */
function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
}

/** Layers one selection item names: exact tensor name first, then glob, then index or index range. */
function matchItem(all: readonly LayerInfo[], item: string): LayerInfo[] {
  const exact = all.filter((l) => l.layer === item);
  if (exact.length > 0) return exact;
  if (/[*?]/.test(item)) {
    const re = globToRegExp(item);
    return all.filter((l) => re.test(l.layer));
  }
  const index = /^\d+$/.test(item) ? Number(item) : null;
  if (index !== null) return all.filter((l) => l.layerIndex === index);
  const range = /^(\d+)\s*[-:]\s*(\d+)$/.exec(item);
  if (range) {
    const lo = Number(range[1]);
    const hi = Number(range[2]);
    return all.filter((l) => l.layerIndex >= Math.min(lo, hi) && l.layerIndex <= Math.max(lo, hi));
  }
  return [];
}

/**
 * The layers a `--layers` spec selects, in depth order without repeats. `undefined` or `all` selects
 * every layer; otherwise the spec is comma-separated items, each an exact tensor name, a glob (`*`, `?`),
 * a layer index `N`, or an inclusive index range `A-B` / `A:B`. An item matching nothing is a
 * {@link UserError}; `modelPath` only completes its hint.
 */
export function selectLayers(all: readonly LayerInfo[], spec: string | undefined, modelPath?: string): LayerInfo[] {
  if (spec === undefined || spec.trim() === 'all') return [...all].sort((a, b) => a.layerIndex - b.layerIndex);
  const items = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new UserError(`empty layer selection '${spec}'`);
  const selected = new Set<LayerInfo>();
  for (const item of items) {
    const matches = matchItem(all, item);
    if (matches.length === 0) {
      throw new UserError(`unknown layer '${item}' (see neuronscope layers --model ${modelPath ?? '<model>'})`);
    }
    for (const l of matches) selected.add(l);
  }
  return [...selected].sort((a, b) => a.layerIndex - b.layerIndex);
}
