/**
 * The part of an ONNX graph a deconvnet projects through: every node on a path from the model input to the
 * recorded layer, and which of its inputs carry the signal. Nodes that only compute constants (shapes, pads)
 * are not on the path; any op on it that the deconvnet has no rule for is a one-line {@link UserError}.
 */
import { UserError } from '@neuronscope/core';
import { type GraphNode, type GraphView, topologicalOrder } from '../onnx-graph.js';

/** Ops with a backward rule, and which inputs may carry the signal: the first only, or every input. */
const SIGNAL_INPUTS: ReadonlyMap<string, 'first' | 'all'> = new Map<string, 'first' | 'all'>([
  ['Conv', 'first'],
  ['Relu', 'first'],
  ['Clip', 'first'],
  ['MaxPool', 'first'],
  ['AveragePool', 'first'],
  ['GlobalAveragePool', 'first'],
  ['BatchNormalization', 'first'],
  ['Pad', 'first'],
  ['Identity', 'first'],
  ['Dropout', 'first'],
  ['Transpose', 'first'],
  ['Concat', 'all'],
  ['Add', 'all'],
  ['Sum', 'all'],
]);

/** One node on the path. */
export interface PathNode {
  /** Index of the node in the graph's node list (and in the decoded protobuf's). */
  readonly index: number;
  readonly node: GraphNode;
  /** Positions of the inputs that depend on the model input (the signal flows back into these). */
  readonly signalInputs: readonly number[];
}

/** The nodes between the model input and a layer, in topological order. */
export interface DeconvPath {
  readonly inputName: string;
  readonly layer: string;
  readonly nodes: readonly PathNode[];
}

/** How a node is named in messages: its name, or its first output when unnamed. */
export const nodeLabel = (node: GraphNode): string => node.name || node.outputs[0] || '(unnamed)';

/** The tensors that depend on `inputName`, following the graph forward. */
function reachedFrom(graph: GraphView, order: readonly number[], inputName: string): Set<string> {
  const reached = new Set([inputName]);
  for (const i of order) {
    const node = graph.nodes[i]!;
    if (node.inputs.some((name) => reached.has(name))) for (const out of node.outputs) if (out) reached.add(out);
  }
  return reached;
}

/** The signal inputs of a node on the path; a {@link UserError} when the op has no backward rule. */
function signalInputs(
  node: GraphNode,
  reached: ReadonlySet<string>,
  needed: ReadonlySet<string>,
  layer: string,
): number[] {
  const rule = node.domain === '' || node.domain === 'ai.onnx' ? SIGNAL_INPUTS.get(node.opType) : undefined;
  const where = `${node.opType} node '${nodeLabel(node)}'`;
  if (rule === undefined) {
    const op = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    throw new UserError(
      `deconvnet: no backward rule for op ${op} (node '${nodeLabel(node)}', on the way to '${layer}')`,
    );
  }
  const positions = node.inputs.flatMap((name, k) => (reached.has(name) ? [k] : []));
  if (rule === 'first' && positions.some((k) => k !== 0)) {
    throw new UserError(`deconvnet: ${where} takes a parameter computed from the model input`);
  }
  // Only the first output (MaxPool's values, BatchNormalization's Y, Dropout's output) carries the signal.
  if (node.outputs.slice(1).some((out) => out !== '' && needed.has(out))) {
    throw new UserError(`deconvnet: ${where} has a second output on the way to '${layer}'`);
  }
  return positions;
}

/**
 * The nodes on every path from the model input `inputName` to the tensor `layer`, in topological order. A
 * {@link UserError} when no node produces `layer`, when it does not depend on the input, or when an op on the
 * path has no backward rule (the message names the op type and the node).
 */
export function deconvPath(graph: GraphView, inputName: string, layer: string): DeconvPath {
  const order = topologicalOrder(graph);
  if (!graph.nodes.some((node) => node.outputs.includes(layer))) {
    throw new UserError(`no node of the model produces tensor '${layer}'`);
  }
  const reached = reachedFrom(graph, order, inputName);
  if (!reached.has(layer)) throw new UserError(`layer '${layer}' does not depend on the model input '${inputName}'`);
  const needed = new Set([layer]);
  const nodes: PathNode[] = [];
  for (const index of [...order].reverse()) {
    const node = graph.nodes[index]!;
    if (!node.outputs.some((out) => needed.has(out))) continue;
    const positions = signalInputs(node, reached, needed, layer);
    for (const k of positions) needed.add(node.inputs[k]!);
    nodes.push({ index, node, signalInputs: positions });
  }
  return { inputName, layer, nodes: nodes.reverse() };
}
