/**
 * Cascading weight randomization for the model-parameter sanity check of Adebayo et al. (2018), "Sanity Checks
 * for Saliency Maps": the top K Conv layers (the K deepest in topological order, the classifier first) get new,
 * random weights and biases, drawn from a normal distribution with the mean and standard deviation of the
 * tensor they replace (so activation scales stay comparable) from a generator seeded by (seed, initializer
 * name). An explanation method that explains the model, not just the image, must change its answer.
 */
import { UserError } from '@neuronscope/core';
import type onnxProto from 'onnx-proto';
import { decodeModel } from './ablation.js';
import { graphView, int64ToNumber, ONNX_FLOAT, onnx, topologicalOrder } from './onnx-graph.js';

/** A Conv layer whose parameters were replaced. */
export interface RandomizedConv {
  /** Node name (or its output name when unnamed). */
  readonly convNode: string;
  /** Rank among the model's Conv nodes in topological order (as `layerIndex` of neuronscope's layers). */
  readonly convIndex: number;
  /** Initializers replaced: the weight, and the bias when the Conv has one. */
  readonly initializers: readonly { name: string; size: number; mean: number; std: number }[];
}

/** The result of {@link randomizeTopConvs}. */
export interface RandomizedModel {
  readonly bytes: Uint8Array;
  /** Deepest first. */
  readonly randomized: readonly RandomizedConv[];
  readonly convCount: number;
}

/** 32-bit FNV-1a of a string. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** splitmix32: a small, well-mixed 32-bit generator; uniform in (0, 1). */
function uniformGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return (z + 0.5) / 4294967296;
  };
}

/** Standard normal draws (Box-Muller) from a seed. */
export function normalGenerator(seed: number): () => number {
  const uniform = uniformGenerator(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/** The float32 values of an initializer (raw_data or float_data). */
export function initializerValues(t: onnxProto.onnx.ITensorProto): Float32Array {
  if (t.dataType !== ONNX_FLOAT) throw new UserError(`initializer '${t.name}' is not float32`);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new UserError(`initializer '${t.name}' keeps its data in an external file`);
  }
  const size = (t.dims ?? []).map(int64ToNumber).reduce((a, b) => a * b, 1);
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    if (raw.length !== size * 4)
      throw new UserError(`initializer '${t.name}' has ${raw.length} bytes for ${size} floats`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Float32Array.from({ length: size }, (_, i) => view.getFloat32(i * 4, true));
  }
  const values = Float32Array.from(t.floatData ?? []);
  if (values.length !== size) throw new UserError(`initializer '${t.name}' has ${values.length} values for ${size}`);
  return values;
}

/** Little-endian float32 bytes. */
function rawBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/**
 * Model bytes whose `fromTop` deepest Conv layers have random weights and biases (see the module comment); every
 * other initializer, node and attribute is kept. `fromTop` larger than the number of Conv layers, or a Conv
 * whose weight is not a float32 initializer, is a {@link UserError}.
 */
export function randomizeTopConvs(bytes: Uint8Array, opts: { fromTop: number; seed: number }): RandomizedModel {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const view = graphView(graph);
  const convs = topologicalOrder(view).filter((i) => view.nodes[i]!.opType === 'Conv' && view.nodes[i]!.domain === '');
  if (!Number.isInteger(opts.fromTop) || opts.fromTop < 1 || opts.fromTop > convs.length) {
    throw new UserError(`--from-top ${opts.fromTop}: the model has ${convs.length} Conv layers`);
  }
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const randomized: RandomizedConv[] = [];
  for (let rank = convs.length - 1; rank >= convs.length - opts.fromTop; rank--) {
    const node = view.nodes[convs[rank]!]!;
    const names = node.inputs.slice(1, 3).filter((s) => s !== '');
    const replaced: RandomizedConv['initializers'][number][] = [];
    for (const name of names) {
      const tensor = initializers.get(name);
      if (!tensor) {
        throw new UserError(`Conv '${node.name || node.outputs[0]}': parameter '${name}' is not an initializer`);
      }
      const values = initializerValues(tensor);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      // A constant tensor (e.g. zero biases) keeps its scale: draw around it with the weight-free std of 0.01.
      const scale = std > 0 ? std : Math.max(Math.abs(mean), 1) * 0.01;
      const normal = normalGenerator((opts.seed >>> 0) ^ fnv1a(name));
      const fresh = Float32Array.from(values, () => mean + scale * normal());
      tensor.rawData = rawBytes(fresh);
      tensor.floatData = [];
      replaced.push({ name, size: values.length, mean, std });
    }
    randomized.push({ convNode: node.name || node.outputs[0] || '', convIndex: rank, initializers: replaced });
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), randomized, convCount: convs.length };
}
