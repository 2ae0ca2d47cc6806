/**
 * What a classifier's output is, read from the graph: the logits themselves, or an activation of them (Softmax,
 * LogSoftmax, Sigmoid) possibly followed by shape-only ops. y is always computed from the pre-activation tensor, so
 * a model that ends in Softmax is not softmaxed a second time (SqueezeNet with a Softmax appended gives the parrot
 * p = 0.99 for macaw instead of softmax(softmax) = 0.0027).
 */
import type { OutputKind } from '@neuronscope/core';
import type { GraphNode, GraphView } from './onnx-graph.js';

/** The model's output and the class scores y is computed from. */
export interface ModelOutputKind {
  readonly kind: OutputKind;
  /** The pre-activation tensor (the logits); the output itself when `kind` is `logits`. */
  readonly logitsName: string;
}

/** Ops between the activation and the graph output that change no value: the activation is still the output. */
const SHAPE_ONLY_OPS: ReadonlySet<string> = new Set([
  'Identity',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Dropout',
]);

const ACTIVATION_KINDS: Readonly<Record<string, OutputKind>> = {
  Softmax: 'softmax',
  LogSoftmax: 'log-softmax',
  Sigmoid: 'sigmoid',
};

/** Whether a Softmax / LogSoftmax normalises over the class axis: 1, or -1 (the last axis of [N, C]). */
function overClassAxis(node: GraphNode): boolean {
  const axis = node.attributes.axis;
  return axis === undefined || axis === null || axis === 1 || axis === -1;
}

/**
 * The kind of the graph output `outputName` (the first output by default): walks back from it through shape-only
 * ops (Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout) to the node that computes the values; a Softmax or
 * LogSoftmax over the class axis, or a Sigmoid, in the default domain gives that kind and its input as the logits.
 * Anything else is `logits`, the output itself.
 */
export function detectOutputKind(graph: Pick<GraphView, 'nodes' | 'outputs'>, outputName?: string): ModelOutputKind {
  const output = outputName ?? graph.outputs[0]?.name;
  if (output === undefined) throw new Error('the graph has no output');
  const producer = new Map<string, GraphNode>();
  for (const node of graph.nodes) for (const out of node.outputs) if (out !== '') producer.set(out, node);
  let tensor = output;
  for (let hops = 0; hops <= graph.nodes.length; hops++) {
    const node = producer.get(tensor);
    if (!node || (node.domain !== '' && node.domain !== 'ai.onnx')) break;
    const kind = ACTIVATION_KINDS[node.opType];
    const input = node.inputs[0];
    if (kind && input) {
      if (kind !== 'sigmoid' && !overClassAxis(node)) break;
      return { kind, logitsName: input };
    }
    if (!SHAPE_ONLY_OPS.has(node.opType) || !input) break;
    tensor = input;
  }
  return { kind: 'logits', logitsName: output };
}

/**
 * One line for the log and the summary saying what the model outputs and what y is computed from, e.g. "the model
 * ends in Softmax: y is computed from its input, the logits '/fc/Gemm_output_0'" (pass `LoadedModel.outputKind` and
 * `LoadedModel.logitsName`).
 */
export function describeOutputKind(kind: OutputKind, logitsName: string): string {
  const logits = `'${logitsName}'`;
  switch (kind) {
    case 'logits':
      return `the model outputs logits (${logits}, no final Softmax or Sigmoid): y is computed from them`;
    case 'softmax':
      return `the model ends in Softmax: y is computed from its input, the logits ${logits}`;
    case 'log-softmax':
      return `the model ends in LogSoftmax: y is computed from its input, the logits ${logits}`;
    case 'sigmoid':
      return (
        `the model ends in Sigmoid (multi-label): y is computed from its input ${logits}, ` +
        'prob = sigmoid(z_t), logprob = log sigmoid(z_t), logit = z_t'
      );
  }
}
