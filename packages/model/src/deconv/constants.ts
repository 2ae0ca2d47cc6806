/**
 * Constant tensors of a decoded model, as the backward rules need them: weights to reuse as they are, float
 * parameters (batch-norm statistics, Clip bounds) and integer ones (Pad's pads), from initializers or Constant
 * nodes.
 */
import { UserError } from '@neuronscope/core';
import type onnxProto from 'onnx-proto';
import { int64ToNumber } from '../onnx-graph.js';
import { initializerValues } from '../randomize.js';
import { constantInts } from '../receptive-field.js';

/** Constant tensors by name. */
export interface ModelConstants {
  /** The tensor (an initializer, or a Constant node's value named after its output), if constant. */
  tensor(name: string): onnxProto.onnx.ITensorProto | undefined;
  /** Dims of a constant tensor, if constant. */
  dims(name: string): number[] | undefined;
  /** Float32 values of a constant; a {@link UserError} naming `what` when the tensor is not a float32 constant. */
  floats(name: string, what: string): Float32Array;
  /** Integer values of a small int32/int64 constant, if there is one. */
  ints(name: string): number[] | undefined;
}

/** The constants of `graph`; `bytes` are the serialized model it was decoded from. */
export function modelConstants(graph: onnxProto.onnx.IGraphProto, bytes: Uint8Array): ModelConstants {
  const tensors = new Map<string, onnxProto.onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) tensors.set(t.name ?? '', t);
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' ? (node.attribute ?? []).find((a) => a.name === 'value')?.t : undefined;
    const output = node.output?.[0];
    if (value && output) tensors.set(output, { ...value, name: output });
  }
  const ints = constantInts(bytes);
  return {
    tensor: (name) => tensors.get(name),
    dims: (name) => tensors.get(name)?.dims?.map(int64ToNumber),
    floats: (name, what) => {
      const t = tensors.get(name);
      if (!t) throw new UserError(`deconvnet: ${what} is not a constant of the model`);
      return initializerValues(t);
    },
    ints: (name) => ints.get(name),
  };
}
