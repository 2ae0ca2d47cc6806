import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { defaultModelPath, squeezenetPath, tinyClassifier } from '../test/fixtures.js';
import { decodeModel } from './ablation.js';
import { classChannelLayers } from './class-channels.js';
import { layerShapes, recordableLayers } from './layers.js';
import { loadModel } from './load.js';
import { graphView } from './onnx-graph.js';

const graphOf = (bytes: Uint8Array) => graphView(decodeModel(bytes).graph!);

describe('classChannelLayers', () => {
  it('finds a conv whose channels reach the logits through Relu, GlobalAveragePool and Flatten', () => {
    const graph = graphOf(tinyClassifier());
    // 'r' (the Relu after the 5-channel conv) feeds the logits channel for channel.
    expect([...classChannelLayers(graph, 'logits', [{ layer: 'r', channels: 5 }], 5)]).toEqual(['r']);
    // The conv output before the Relu is reached only through 'r', which is not a layer here: the walk goes on.
    expect([...classChannelLayers(graph, 'logits', [{ layer: 'c', channels: 5 }], 5)]).toEqual(['c']);
  });

  it('stops at the first layer reached, and requires as many channels as classes', () => {
    const graph = graphOf(tinyClassifier());
    const both = [
      { layer: 'c', channels: 5 },
      { layer: 'r', channels: 5 },
    ];
    expect([...classChannelLayers(graph, 'logits', both, 5)]).toEqual(['r']);
    expect(classChannelLayers(graph, 'logits', [{ layer: 'r', channels: 5 }], 6).size).toBe(0);
  });

  it('stops at an op that mixes channels (a Gemm after the pooling)', async () => {
    const model = await loadModel(defaultModelPath);
    const layers = recordableLayers(model).map((l) => ({ layer: l.layer, channels: 10 }));
    // The default model ends in a fully connected layer: no conv's channels are its classes, whatever their count.
    expect(classChannelLayers(model.graph, model.logitsName, layers, 10).size).toBe(0);
  });

  it(
    "finds SqueezeNet 1.1's conv10 (1000 channels, ReLU, GlobalAveragePool, Flatten)",
    requires('shared'),
    async () => {
      const model = await loadModel(squeezenetPath);
      const layers = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
      expect([...classChannelLayers(model.graph, model.logitsName, layers, 1000)]).toEqual([
        '/classifier/classifier.2/Relu_output_0',
      ]);
    },
  );
});
