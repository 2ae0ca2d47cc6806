import { type LayerInfo, type Layout, UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { ACTIVATION_OPS } from './activation-ops.js';
import { graphOutputNames, withExtraOutputs } from './extra-outputs.js';
import type { LoadedModel } from './load.js';
import { layerAliases } from './module-paths.js';
import { topologicalOrder } from './onnx-graph.js';
import { nonNchwTensors } from './receptive-field.js';
import { createSession } from './session.js';
import { appendGraph } from './wire.js';

export { ACTIVATION_OPS } from './activation-ops.js';

/** A recordable layer before its shape is known. */
export type LayerRef = Omit<LayerInfo, 'channels' | 'height' | 'width'>;

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

/**
 * Every tensor a node computes from the model input that is a 4-D float32 NCHW feature map (batch dim as in
 * `inputDims`): Conv outputs before and after their activation, residual Add outputs, Concat, pooling outputs, any
 * named tensor. In topological order; `layerIndex` is the rank in this list, `convNode` the producing node's name
 * (or the tensor's when the node has none) and `op` its type. Found by one run on zeros of `inputDims` (in `layout`)
 * with every candidate tensor fetched (their types and shapes are what onnxruntime computes, not what the file
 * declares). 4-D tensors whose spatial axes are not 2 and 3 (NHWC stretches between Transposes) are left out.
 */
export async function allTensorLayers(
  model: Pick<LoadedModel, 'bytes' | 'graph' | 'inputName' | 'path'>,
  inputDims: readonly number[],
  layout: Layout = 'NCHW',
): Promise<LayerInfo[]> {
  const [height, width] = layout === 'NCHW' ? [inputDims[2], inputDims[3]] : [inputDims[1], inputDims[2]];
  const notNchw = nonNchwTensors(model, { height: height ?? 1, width: width ?? 1, layout });
  const candidates = inputDerivedOutputs(model).filter((c) => !notNchw.has(c.tensor));
  if (candidates.length === 0) return [];
  // Declared without a type: a typed output that does not match (an int64 Shape output) would fail the load.
  const existing = new Set(graphOutputNames(model.bytes));
  const extra = candidates.filter((c) => !existing.has(c.tensor)).map((c) => ({ name: c.tensor }));
  const bytes = extra.length > 0 ? appendGraph(model.bytes, { output: extra }) : model.bytes;
  const session = await createSession(bytes, { modelPath: model.path });
  try {
    const size = inputDims.reduce((a, b) => a * b, 1);
    const input = new ort.Tensor('float32', new Float32Array(size), [...inputDims]);
    const names = candidates.map((c) => c.tensor);
    const results = await session.run({ [model.inputName]: input }, names);
    const layers: LayerInfo[] = [];
    for (const c of candidates) {
      const t = results[c.tensor];
      if (t?.type !== 'float32' || t.dims.length !== 4 || t.dims[0] !== inputDims[0]) continue;
      const [, channels, height, width] = t.dims as [number, number, number, number];
      if (channels * height * width === 0) continue;
      layers.push({ layer: c.tensor, layerIndex: layers.length, convNode: c.node, op: c.op, channels, height, width });
    }
    return layers;
  } finally {
    await session.release();
  }
}

/** Outputs of nodes that depend on the model input, in topological order, with their node's name and op type. */
function inputDerivedOutputs(
  model: Pick<LoadedModel, 'graph' | 'inputName'>,
): { tensor: string; node: string; op: string }[] {
  const derived = new Set([model.inputName]);
  const out: { tensor: string; node: string; op: string }[] = [];
  for (const i of topologicalOrder(model.graph)) {
    const node = model.graph.nodes[i]!;
    if (!node.inputs.some((name) => derived.has(name))) continue;
    for (const tensor of node.outputs) {
      if (tensor === '' || derived.has(tensor)) continue;
      derived.add(tensor);
      out.push({ tensor, node: node.name || tensor, op: node.opType });
    }
  }
  return out;
}

/** A regular expression for a glob: `*` any run of characters (slashes included), `?` one character. Unanchored. */
function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(escaped.replace(/\*/g, '.*').replace(/\?/g, '.'), 's');
}

/** Other names of tensors and nodes (see {@link layerAliases}): node names and module paths. */
export type LayerAliases = ReadonlyMap<string, readonly string[]>;

/** Every name a layer answers to: its tensor, its (Conv) node, and their aliases. */
function namesOf(layer: LayerInfo, aliases: LayerAliases | undefined): string[] {
  return [layer.layer, layer.convNode, ...(aliases?.get(layer.layer) ?? []), ...(aliases?.get(layer.convNode) ?? [])];
}

/**
 * Layers one selection item names: an exact tensor or node name first, then a glob (matching any part of a tensor
 * name, node name or module path), then an index or index range, then a module path (`layer4.1` names every layer
 * inside that module, also when the model was wrapped: `model.layer4.1`).
 */
function matchItem(all: readonly LayerInfo[], item: string, aliases: LayerAliases | undefined): LayerInfo[] {
  const exact = all.filter((l) => l.layer === item || l.convNode === item);
  if (exact.length > 0) return exact;
  if (/[*?]/.test(item)) {
    const re = globToRegExp(item);
    return all.filter((l) => namesOf(l, aliases).some((name) => re.test(name)));
  }
  const index = /^\d+$/.test(item) ? Number(item) : null;
  if (index !== null) return all.filter((l) => l.layerIndex === index);
  const range = /^(\d+)\s*[-:]\s*(\d+)$/.exec(item);
  if (range) {
    const lo = Number(range[1]);
    const hi = Number(range[2]);
    return all.filter((l) => l.layerIndex >= Math.min(lo, hi) && l.layerIndex <= Math.max(lo, hi));
  }
  // A module path, also under a wrapper (`layer4.1` names `model.layer4.1` and `0.layer4.1` too).
  return all.filter((l) => namesOf(l, aliases).some((name) => name === item || name.endsWith(`.${item}`)));
}

/** Options of {@link selectLayers}. */
export interface SelectLayersOptions {
  /** Completes the hint of the unknown-layer error. */
  readonly modelPath?: string;
  /** Node names and module paths (from {@link layerAliases}); without them only tensor and node names match. */
  readonly aliases?: LayerAliases;
}

/** The non-empty items of a `--layers` spec; null for "every layer" (no spec, or `all`). */
function specItems(spec: string | undefined): string[] | null {
  if (spec === undefined || spec.trim() === 'all') return null;
  const items = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new UserError(`empty layer selection '${spec}'`);
  return items;
}

/**
 * The layers a `--layers` spec selects, in depth order without repeats. `undefined` or `all` selects every layer;
 * otherwise the spec is comma-separated items, each an exact tensor or node name, a glob (`*`, `?`; it matches any
 * part of a tensor name, node name or module path, so `features.12*` selects SqueezeNet's Fire module 12), a layer
 * index `N`, an inclusive index range `A-B` / `A:B`, or a PyTorch module path (`layer4.1`: every layer inside it,
 * also under a wrapper's prefix such as `model.layer4.1`).
 * An item matching nothing is a one-line {@link UserError}. `opts` may be the model path alone (older callers).
 */
export function selectLayers(
  all: readonly LayerInfo[],
  spec: string | undefined,
  opts: string | SelectLayersOptions = {},
): LayerInfo[] {
  const { modelPath, aliases } = typeof opts === 'string' ? { modelPath: opts, aliases: undefined } : opts;
  const items = specItems(spec);
  if (items === null) return [...all].sort((a, b) => a.layerIndex - b.layerIndex);
  const selected = new Set<LayerInfo>();
  for (const item of items) {
    const matches = matchItem(all, item, aliases);
    if (matches.length === 0) {
      throw new UserError(
        `unknown layer '${item}' (see neuronscope layers --model ${modelPath ?? '<model>'}, or layers --all for every tensor)`,
      );
    }
    for (const l of matches) selected.add(l);
  }
  return [...selected].sort((a, b) => a.layerIndex - b.layerIndex);
}

/** The layers to choose from, the ones chosen, and which list they came from. */
export interface ResolvedLayers {
  /** `conv`: the recordable layers (Conv outputs after their activation); `all`: every 4-D float tensor. */
  readonly mode: 'conv' | 'all';
  readonly candidates: LayerInfo[];
  readonly layers: LayerInfo[];
}

/**
 * The layers a `--layers` spec selects in `model`, with their shapes at `inputDims` (in `layout`). Items are matched against the
 * recordable layers ({@link recordableLayers}, the default); when some item matches none of them (it names an Add,
 * a Concat, a pooling output, a Conv output before its activation, ...), every item is matched against every 4-D
 * float tensor instead ({@link allTensorLayers}; indices then count those). An item that matches nothing there
 * either is a one-line {@link UserError}; so is a model without Conv layers when no spec names tensors.
 */
export async function resolveLayers(
  model: Pick<LoadedModel, 'bytes' | 'graph' | 'inputName' | 'path'>,
  spec: string | undefined,
  inputDims: readonly number[],
  layout: Layout = 'NCHW',
): Promise<ResolvedLayers> {
  const aliases = layerAliases(model);
  const opts = { modelPath: model.path, aliases };
  const recordable = await layerShapes(model, recordableLayers(model), inputDims);
  const items = specItems(spec);
  const allMatch = items?.every((item) => matchItem(recordable, item, aliases).length > 0) ?? true;
  if (allMatch) {
    if (recordable.length === 0) {
      throw new UserError(`${model.path} has no Conv layers to record; name tensors with --layers (see layers --all)`);
    }
    return { mode: 'conv', candidates: recordable, layers: selectLayers(recordable, spec, opts) };
  }
  const every = await allTensorLayers(model, inputDims, layout);
  return { mode: 'all', candidates: every, layers: selectLayers(every, spec, opts) };
}
