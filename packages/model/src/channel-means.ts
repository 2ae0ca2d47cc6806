/**
 * The spatial mean of every channel of some layers, computed inside the graph: a GlobalAveragePool node per
 * layer appended to the model, its [batch, C, 1, 1] output made a graph output. Fetching C values per layer
 * instead of C x H x W makes a masked copy about 1.7x faster on SqueezeNet (measured: 40 -> 68 copies/s with all
 * 26 layers, 2 threads). Appended as a protobuf fragment, as `withExtraOutputs` does: repeated fields of a
 * message concatenate, so the original bytes stay untouched.
 */
import { ONNX_FLOAT } from './onnx-graph.js';
import { appendGraph } from './wire.js';

/** Name of the graph output holding the spatial means of `layer`. */
export function channelMeanOutput(layer: string): string {
  return `${layer}::neuronscope.spatial_mean`;
}

/** Model bytes that also output, per layer, the spatial means of its channels ([batch, C, 1, 1]). */
export function withChannelMeans(bytes: Uint8Array, layers: readonly string[]): Uint8Array {
  const unique = [...new Set(layers)];
  if (unique.length === 0) return bytes;
  return appendGraph(bytes, {
    node: unique.map((layer, i) => ({
      opType: 'GlobalAveragePool',
      name: `neuronscope.spatial_mean.${i}`,
      input: [layer],
      output: [channelMeanOutput(layer)],
    })),
    output: unique.map((layer) => ({
      name: channelMeanOutput(layer),
      type: { tensorType: { elemType: ONNX_FLOAT } },
    })),
  });
}
