/**
 * Layers whose channels are the classes: a feature map that reaches the logits through ops that keep each channel
 * apart (element-wise activations, per-channel normalisation, spatial pooling, reshapes), so that channel c becomes
 * logit c. SqueezeNet's `conv10` is one: a 1x1 Conv with 1000 output channels, ReLU, GlobalAveragePool, Flatten.
 * Such a channel has a name (its class label), and the report shows it.
 */
import { ACTIVATION_OPS } from './activation-ops.js';
import type { GraphNode, GraphView } from './onnx-graph.js';

/** Ops that map channel c of their first input to channel c of their output, and nothing else to it. */
const CHANNEL_PRESERVING_OPS: ReadonlySet<string> = new Set([
  ...ACTIVATION_OPS,
  'Identity',
  'Dropout',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'AveragePool',
  'MaxPool',
  'BatchNormalization',
]);

/** Spatial reductions keep the channels when they reduce over the spatial axes only (2, 3 or -2, -1 of NCHW). */
function reducesSpatialAxes(node: GraphNode): boolean {
  if (node.opType !== 'ReduceMean' && node.opType !== 'ReduceMax') return false;
  const axes = node.attributes.axes;
  if (!Array.isArray(axes) || axes.length === 0) return false;
  return (axes as number[]).every((a) => a === 2 || a === 3 || a === -1 || a === -2);
}

/**
 * The tensors among `layers` whose channels are the classes: walking back from `logitsName` through
 * channel-preserving ops (see the module comment), the first layer reached, when it has `classCount` channels.
 * At most one layer qualifies (the walk follows a single chain); an empty set when none does.
 */
export function classChannelLayers(
  graph: Pick<GraphView, 'nodes'>,
  logitsName: string,
  layers: readonly { readonly layer: string; readonly channels: number }[],
  classCount: number,
): Set<string> {
  const producer = new Map<string, GraphNode>();
  for (const node of graph.nodes) for (const out of node.outputs) if (out !== '') producer.set(out, node);
  const channels = new Map(layers.map((l) => [l.layer, l.channels]));
  let tensor = logitsName;
  for (let hops = 0; hops <= graph.nodes.length; hops++) {
    if (channels.has(tensor)) return channels.get(tensor) === classCount ? new Set([tensor]) : new Set();
    const node = producer.get(tensor);
    if (!node || (node.domain !== '' && node.domain !== 'ai.onnx')) break;
    const input = node.inputs[0];
    if (!input || !(CHANNEL_PRESERVING_OPS.has(node.opType) || reducesSpatialAxes(node))) break;
    tensor = input;
  }
  return new Set();
}
