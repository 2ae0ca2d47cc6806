/**
 * The deconvnet as an ONNX model, generated from the forward graph: from a signal at a recorded layer (batch B,
 * one row per neuron) back to the model input, walking the path's nodes in reverse topological order and applying
 * each op's backward rule (backward.ts). Where several paths meet at a tensor, their signals are summed.
 *
 * Guided mode and switch unpooling need the forward pass: the backward model then also takes forward tensors
 * (ReLU inputs, batch 1) and MaxPool argmax indices as inputs. The indices come from copies of the MaxPools,
 * with their Indices output, in a fragment appended to the forward model (wire.ts): no re-encoding of it.
 */
import { UserError } from '@neuronscope/core';
import type onnxProto from 'onnx-proto';
import { decodeModel } from '../ablation.js';
import { defaultOpset } from '../graph-reductions.js';
import type { LoadedModel } from '../load.js';
import { graphView, ONNX_FLOAT, onnx } from '../onnx-graph.js';
import { type BackwardContext, backward, type DeconvMode, type UnpoolMode } from './backward.js';
import { modelConstants } from './constants.js';
import { GraphEmitter, ONNX_INT64, tensorInfo } from './emitter.js';
import { deconvPath, type PathNode } from './path.js';
import { pathShapes } from './shapes.js';

/** Opset of the generated backward model (ScatterElements with reduction needs 16). */
const BACKWARD_OPSET = 17;
/** MaxPool has an Indices output from opset 8 on. */
const MAXPOOL_INDICES_OPSET = 8;

/** Options of {@link buildDeconvGraph}. */
export interface DeconvGraphOptions {
  /** The recorded layer: a 4-D tensor of the model. */
  readonly layer: string;
  /** Default 'deconvnet'. */
  readonly mode?: DeconvMode;
  /** Default 'nearest'. */
  readonly unpool?: UnpoolMode;
  /** Dims of the model input with batch 1, in the model's layout. */
  readonly inputDims: readonly number[];
}

/** A generated backward model and how to feed it. */
export interface DeconvGraph {
  /** The backward model (ONNX, opset 17). */
  readonly bytes: Uint8Array;
  /** Input: float32 [B, C, H, W], the signal at the layer, one row per projection. */
  readonly signal: string;
  /** Output: float32, the model input's dims with batch B. */
  readonly projection: string;
  /** Forward dims of the layer (batch 1). */
  readonly layerDims: readonly number[];
  /** Forward float32 tensors (batch 1) the backward model takes as inputs under their own names. */
  readonly forwardTensors: readonly string[];
  /** Int64 MaxPool indices the backward model takes as inputs; the forward fragment outputs them. */
  readonly switchTensors: readonly string[];
  /** Nodes and outputs to append to the forward model so that it outputs `switchTensors`; null when none. */
  readonly forwardFragment: onnxProto.onnx.IGraphProto | null;
}

/** Adds the signals of `names` (one name: itself). */
function sumSignals(emit: GraphEmitter, names: readonly string[]): string {
  return names.length === 1 ? names[0]! : emit.node('Sum', names, 'sum');
}

/** The backward graph's switch inputs, and the MaxPool copies (with Indices) that compute them in the forward pass. */
function switchSources(emit: GraphEmitter, graph: onnxProto.onnx.IGraphProto, shapes: ReadonlyMap<string, number[]>) {
  const pools: onnxProto.onnx.INodeProto[] = [];
  const tensors: string[] = [];
  const input = (pool: PathNode): string => {
    const indices = emit.fresh('switches');
    const original = graph.node?.[pool.index];
    pools.push({
      opType: 'MaxPool',
      name: emit.fresh('switches/max_pool'),
      input: [pool.node.inputs[0]!],
      output: [emit.fresh('switches/values'), indices],
      // Row-major indices whatever the original says (the backward graph reads them so).
      attribute: (original?.attribute ?? []).filter((a) => a.name !== 'storage_order'),
    });
    tensors.push(indices);
    return emit.input(indices, ONNX_INT64, shapes.get(pool.node.outputs[0]!)!);
  };
  return { pools, tensors, input };
}

/**
 * Generates the backward model of a deconvnet (or guided backpropagation) from `model`'s input to `options.layer`
 * for inputs of `options.inputDims` (see the module comment). Pure: no session is created. A {@link UserError}
 * (one line) when an op on the path has no backward rule, naming the op type and the node, or when the layer is
 * not a 4-D tensor depending on the input.
 */
export function buildDeconvGraph(
  model: Pick<LoadedModel, 'bytes' | 'inputName'>,
  options: DeconvGraphOptions,
): DeconvGraph {
  const decoded = decodeModel(model.bytes);
  const graph = decoded.graph!;
  const constants = modelConstants(graph, model.bytes);
  const path = deconvPath(graphView(graph), model.inputName, options.layer);
  const shapes = pathShapes(path, options.inputDims, constants);
  const layerDims = shapes.get(options.layer)!;
  if (layerDims.length !== 4) throw new UserError(`deconvnet: layer '${options.layer}' is not a 4-D feature map`);
  const unpool = options.unpool ?? 'nearest';
  if (unpool === 'switches' && path.nodes.some((n) => n.node.opType === 'MaxPool')) {
    const opset = defaultOpset(model.bytes);
    if (opset < MAXPOOL_INDICES_OPSET) {
      throw new UserError(
        `deconvnet: switch unpooling needs MaxPool indices, from opset 8 on (the model has ${opset})`,
      );
    }
  }
  const emit = new GraphEmitter();
  const signal = emit.input(emit.fresh('signal'), ONNX_FLOAT, ['batch', ...layerDims.slice(1)]);
  const forwardTensors: string[] = [];
  const switches = switchSources(emit, graph, shapes);
  const ctx: BackwardContext = {
    emit,
    shapes,
    constants,
    mode: options.mode ?? 'deconvnet',
    unpool,
    forwardInput: (tensor) => {
      if (!forwardTensors.includes(tensor)) forwardTensors.push(tensor);
      return emit.input(tensor, ONNX_FLOAT, shapes.get(tensor)!);
    },
    switchesInput: switches.input,
  };
  const signals = new Map<string, string[]>([[options.layer, [signal]]]);
  for (const pathNode of [...path.nodes].reverse()) {
    const arriving = signals.get(pathNode.node.outputs[0]!);
    if (!arriving) continue;
    const results = backward(ctx, pathNode, sumSignals(emit, arriving));
    pathNode.signalInputs.forEach((k, i) => {
      const name = pathNode.node.inputs[k]!;
      signals.set(name, [...(signals.get(name) ?? []), results[i]!]);
    });
  }
  const projection = emit.node('Identity', [sumSignals(emit, signals.get(model.inputName)!)], 'projection');
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'neuronscope deconvnet',
    opsetImport: [{ domain: '', version: BACKWARD_OPSET }],
    graph: {
      name: 'deconvnet',
      node: emit.nodes,
      initializer: emit.initializers,
      input: emit.inputs,
      output: [tensorInfo(projection, ONNX_FLOAT, ['batch', ...options.inputDims.slice(1)])],
    },
  }).finish();
  const forwardFragment =
    switches.pools.length === 0
      ? null
      : { node: switches.pools, output: switches.tensors.map((name) => tensorInfo(name, ONNX_INT64)) };
  return { bytes, signal, projection, layerDims, forwardTensors, switchTensors: switches.tensors, forwardFragment };
}
