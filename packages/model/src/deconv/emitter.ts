/**
 * A small writer of ONNX graph parts: nodes with unique output names, constants and inputs, collected as protobuf
 * objects for a model or a fragment.
 */
import type onnxProto from 'onnx-proto';
import { ONNX_FLOAT, onnx } from '../onnx-graph.js';

/** ONNX `TensorProto.DataType.INT64`. */
export const ONNX_INT64 = 7;

/** Prefix of every name the deconvnet adds. */
const PREFIX = 'neuronscope/deconv/';

/** An attribute value: an int, a list of ints, or a string. */
export type AttributeInit = number | readonly number[] | string;

function attribute(name: string, value: AttributeInit): onnxProto.onnx.IAttributeProto {
  const { INT, INTS, STRING } = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: INT, i: value };
  return { name, type: INTS, ints: [...value] };
}

/** A tensor declaration for a graph input or output; string dims are symbolic. */
export function tensorInfo(
  name: string,
  elemType: number,
  dims?: readonly (number | string)[],
): onnxProto.onnx.IValueInfoProto {
  const shape = dims && { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) };
  return { name, type: { tensorType: { elemType, ...(shape ? { shape } : {}) } } };
}

/** Collects the nodes, initializers and inputs of a graph under construction. */
export class GraphEmitter {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();

  /** A new name under the deconvnet prefix, unique in this graph. */
  fresh(base: string): string {
    let name = `${PREFIX}${base}`;
    for (let k = 1; this.used.has(name); k++) name = `${PREFIX}${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Adds a node with outputs named after `base` and returns their names. */
  nodeOutputs(
    opType: string,
    inputs: readonly string[],
    base: string,
    outputs: number,
    attributes: Readonly<Record<string, AttributeInit>> = {},
  ): string[] {
    const names = Array.from({ length: outputs }, (_, k) => this.fresh(k === 0 ? base : `${base}/out${k}`));
    this.nodes.push({
      opType,
      name: names[0]!,
      input: [...inputs],
      output: names,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return names;
  }

  /** Adds a single-output node and returns its output name. */
  node(
    opType: string,
    inputs: readonly string[],
    base: string,
    attributes: Readonly<Record<string, AttributeInit>> = {},
  ): string {
    return this.nodeOutputs(opType, inputs, base, 1, attributes)[0]!;
  }

  /** A float32 constant of `dims` holding `values`. */
  floats(base: string, dims: readonly number[], values: ArrayLike<number>): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [...dims], dataType: ONNX_FLOAT, floatData: Array.from(values) });
    return name;
  }

  /** A 1-D int64 constant. */
  int64s(base: string, values: readonly number[]): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [values.length], dataType: ONNX_INT64, int64Data: [...values] });
    return name;
  }

  /** Keeps an existing tensor (a model weight) under its own name. */
  keep(tensor: onnxProto.onnx.ITensorProto): string {
    const name = tensor.name ?? '';
    if (!this.used.has(name)) {
      this.used.add(name);
      this.initializers.push(tensor);
    }
    return name;
  }

  /** Declares a graph input once, under the name given (e.g. a forward tensor fed to the backward graph). */
  input(name: string, elemType: number, dims: readonly (number | string)[]): string {
    if (!this.inputs.some((info) => info.name === name)) {
      this.used.add(name);
      this.inputs.push(tensorInfo(name, elemType, dims));
    }
    return name;
  }
}
