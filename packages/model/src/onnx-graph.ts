/**
 * A small, plain-data view of an ONNX graph: what layer discovery needs (nodes, their attributes,
 * initializer names and dims, graph inputs and outputs), without holding on to the decoded protobuf.
 */
import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS: under Node ESM only its default export (module.exports) is visible.
export const { onnx } = onnxProto;

/** ONNX `TensorProto.DataType.FLOAT`. */
export const ONNX_FLOAT = 1;

/** A protobuf int64 as protobufjs decodes it: a number, or a `Long` when the `long` package is present. */
type Int64 = number | { toNumber(): number };

/** The JS number of a decoded int64 (0 when absent). */
export function int64ToNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** A node attribute's value; tensors, graphs and other composite attributes are reduced to null. */
export type AttributeValue = number | string | number[] | string[] | null;

/** One node of the top-level graph. */
export interface GraphNode {
  /** Node name as in the file ('' when the file gives none). */
  readonly name: string;
  readonly opType: string;
  /** Operator domain ('' is the default ONNX domain). */
  readonly domain: string;
  /** Input tensor names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** A graph input or output: name, element type and dims (null = symbolic or unknown). */
export interface ValueInfo {
  readonly name: string;
  /** ONNX element type (1 = float32), or null when the value is not a tensor or the type is absent. */
  readonly elemType: number | null;
  /** Dims, or null when the rank itself is unknown. */
  readonly dims: readonly (number | null)[] | null;
}

/** The parts of an ONNX graph that layer discovery and input checks need. */
export interface GraphView {
  /** Nodes in file order (ONNX requires it to be topological, but see {@link topologicalOrder}). */
  readonly nodes: readonly GraphNode[];
  /** Initializer name -> dims. */
  readonly initializers: ReadonlyMap<string, readonly number[]>;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** Whether any initializer keeps its data in an external file. */
  readonly usesExternalData: boolean;
}

const textDecoder = new TextDecoder();
const AttributeType = onnxProto.onnx.AttributeProto.AttributeType;

function attributeValue(a: onnxProto.onnx.IAttributeProto): AttributeValue {
  // Old files may omit `type`; fall back to whichever field is set.
  switch (a.type) {
    case AttributeType.FLOAT:
      return a.f ?? 0;
    case AttributeType.INT:
      return int64ToNumber(a.i);
    case AttributeType.STRING:
      return textDecoder.decode(a.s ?? new Uint8Array());
    case AttributeType.FLOATS:
      return [...(a.floats ?? [])];
    case AttributeType.INTS:
      return (a.ints ?? []).map(int64ToNumber);
    case AttributeType.STRINGS:
      return (a.strings ?? []).map((s) => textDecoder.decode(s));
    case AttributeType.UNDEFINED:
    case null:
    case undefined:
      if (a.ints?.length) return a.ints.map(int64ToNumber);
      if (a.floats?.length) return [...a.floats];
      if (a.strings?.length) return a.strings.map((s) => textDecoder.decode(s));
      if (a.s?.length) return textDecoder.decode(a.s);
      if (a.i !== null && a.i !== undefined && int64ToNumber(a.i) !== 0) return int64ToNumber(a.i);
      if (a.f) return a.f;
      return null;
    default:
      return null;
  }
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto): ValueInfo {
  const tensorType = v.type?.tensorType;
  const dims = tensorType?.shape
    ? (tensorType.shape.dim ?? []).map((d) => {
        // A dim is fixed only when dim_value is set and positive; dim_param, or nothing, is symbolic.
        const n = int64ToNumber(d.dimValue);
        return d.dimParam || n <= 0 ? null : n;
      })
    : null;
  return { name: v.name ?? '', elemType: tensorType?.elemType ?? null, dims };
}

/** The plain-data view of a decoded model's graph. */
export function graphView(graph: onnxProto.onnx.IGraphProto): GraphView {
  const nodes = (graph.node ?? []).map(
    (n): GraphNode => ({
      name: n.name ?? '',
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attributes: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', attributeValue(a)])),
    }),
  );
  const initializers = new Map<string, number[]>();
  let usesExternalData = false;
  for (const t of graph.initializer ?? []) {
    initializers.set(t.name ?? '', (t.dims ?? []).map(int64ToNumber));
    if (t.dataLocation === onnxProto.onnx.TensorProto.DataLocation.EXTERNAL) usesExternalData = true;
  }
  return {
    nodes,
    initializers,
    inputs: (graph.input ?? []).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    usesExternalData,
  };
}

/**
 * Node indices in a topological order that keeps file order wherever the graph allows it (so an
 * already sorted graph, as ONNX requires, comes back unchanged). Inputs that no node produces (graph
 * inputs, initializers, omitted optionals) impose no order; a cycle, invalid in ONNX, is broken at the
 * node where it is met.
 */
export function topologicalOrder(graph: Pick<GraphView, 'nodes'>): number[] {
  const producer = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const out of node.outputs) if (out !== '') producer.set(out, i);
  });
  const state = new Uint8Array(graph.nodes.length); // 0 unvisited, 1 on the stack, 2 emitted
  const order: number[] = [];
  // Iterative depth-first search: a chain of thousands of nodes must not overflow the call stack.
  for (let root = 0; root < graph.nodes.length; root++) {
    if (state[root] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const inputs = graph.nodes[top.node]!.inputs;
      if (top.next < inputs.length) {
        const dep = producer.get(inputs[top.next++]!);
        if (dep !== undefined && state[dep] === 0) {
          state[dep] = 1;
          stack.push({ node: dep, next: 0 });
        }
        continue;
      }
      stack.pop();
      state[top.node] = 2;
      order.push(top.node);
    }
  }
  return order;
}
