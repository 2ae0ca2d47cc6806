import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LayerInfo, UserError } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { defaultModelPath, mobilenetPath, squeezenetPath, tinyConvModel } from '../test/fixtures.js';
import { layerShapes, recordableLayers, selectLayers } from './layers.js';
import { loadModel } from './load.js';
import { type GraphNode, topologicalOrder } from './onnx-graph.js';

describe('recordable layers of the shared models', requires('shared'), () => {
  it('squeezenet: 26 Conv layers, each recorded at its Relu, in depth order', async () => {
    const model = await loadModel(squeezenetPath);
    const layers = recordableLayers(model);
    expect(layers).toHaveLength(26);
    expect(new Set(layers.map((l) => l.op))).toEqual(new Set(['Relu']));
    expect(layers.map((l) => l.layerIndex)).toEqual([...Array(26).keys()]);
    expect(layers[0]).toEqual({
      layer: '/features/features.1/Relu_output_0',
      layerIndex: 0,
      convNode: '/features/features.0/Conv',
      op: 'Relu',
    });
    expect(layers[25]?.convNode).toBe('/classifier/classifier.1/Conv');
  });

  it('squeezenet shapes: conv1 64x111x111, Fire modules, classifier 1000x13x13', async () => {
    const model = await loadModel(squeezenetPath);
    const shapes = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
    const dims = shapes.map((l) => [l.channels, l.height, l.width]);
    expect(dims[0]).toEqual([64, 111, 111]);
    expect(dims[1]).toEqual([16, 55, 55]); // fire2 squeeze
    expect(dims[2]).toEqual([64, 55, 55]); // fire2 expand1x1
    expect(dims[25]).toEqual([1000, 13, 13]);
    expect(shapes[0]?.layer).toBe('/features/features.1/Relu_output_0');
  });

  it('mobilenetv2: 53 Conv layers, 35 recorded at their Clip (ReLU6), the linear bottlenecks at the Conv', async () => {
    const model = await loadModel(mobilenetPath);
    const layers = recordableLayers(model);
    expect(layers).toHaveLength(53);
    expect(layers.filter((l) => l.op === 'Clip')).toHaveLength(35);
    expect(layers.filter((l) => l.op === 'Conv')).toHaveLength(18);
    expect(layers.slice(0, 3).map((l) => l.op)).toEqual(['Clip', 'Clip', 'Conv']);
    const shapes = await layerShapes(model, layers.slice(0, 3), [1, 3, 224, 224]);
    expect(shapes.map((l) => [l.channels, l.height, l.width])).toEqual([
      [32, 112, 112],
      [32, 112, 112],
      [16, 112, 112],
    ]);
  });
});

describe('recordable layers of the embedded default model', () => {
  it('five Conv layers, each recorded at its Relu; 2x2 max-pooling halves the size after each block', async () => {
    const model = await loadModel(defaultModelPath);
    const layers = recordableLayers(model);
    expect(layers.map((l) => [l.layer, l.convNode, l.op])).toEqual(
      ['1_1', '1_2', '2_1', '2_2', '3_1'].map((b) => [`/relu${b}/Relu_output_0`, `/conv${b}/Conv`, 'Relu']),
    );
    const shapes = await layerShapes(model, layers, [1, 1, 28, 28]);
    expect(shapes.map((l) => [l.layerIndex, l.channels, l.height, l.width])).toEqual([
      [0, 16, 28, 28],
      [1, 16, 28, 28],
      [2, 32, 14, 14],
      [3, 32, 14, 14],
      [4, 64, 7, 7],
    ]);
  });
});

describe('recordable layers of a tiny model', () => {
  it('records a Conv at its single Relu, and at the Conv when its output feeds two nodes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-layers-'));
    const path = join(dir, 'tiny.onnx');
    await writeFile(path, tinyConvModel());
    const model = await loadModel(path);
    const layers = recordableLayers(model);
    expect(layers).toEqual([
      { layer: 'r1', layerIndex: 0, convNode: 'conv1', op: 'Relu' },
      { layer: 'c2', layerIndex: 1, convNode: 'conv2', op: 'Conv' },
    ]);
    const shapes = await layerShapes(model, layers, [2, 3, 8, 8]);
    expect(shapes.map((l) => [l.channels, l.height, l.width])).toEqual([
      [4, 8, 8],
      [2, 8, 8],
    ]);
  });

  it('orders nodes topologically even when the file does not', () => {
    const node = (name: string, inputs: string[], outputs: string[]): GraphNode => ({
      name,
      opType: 'Conv',
      domain: '',
      inputs,
      outputs,
      attributes: {},
    });
    const nodes = [node('c', ['b'], ['c']), node('a', ['x'], ['a']), node('b', ['a'], ['b']), node('d', ['x'], ['d'])];
    expect(topologicalOrder({ nodes }).map((i) => nodes[i]!.name)).toEqual(['a', 'b', 'c', 'd']);
    const layers = recordableLayers({
      graph: { nodes, initializers: new Map(), inputs: [], outputs: [], usesExternalData: false },
    });
    expect(layers.map((l) => [l.layer, l.layerIndex])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['d', 3],
    ]);
  });
});

describe('selectLayers', () => {
  const layer = (name: string, layerIndex: number): LayerInfo => ({
    layer: name,
    layerIndex,
    convNode: `${name}/Conv`,
    op: 'Relu',
    channels: 8,
    height: 4,
    width: 4,
  });
  const all = [
    layer('/features.1/Relu', 0),
    layer('/fire2/squeeze/Relu', 1),
    layer('/fire2/expand/Relu', 2),
    layer('/fire3/squeeze/Relu', 3),
    layer('/classifier/Relu', 4),
  ];
  const names = (ls: LayerInfo[]) => ls.map((l) => l.layerIndex);

  it('selects all by default or with "all"', () => {
    expect(names(selectLayers(all, undefined))).toEqual([0, 1, 2, 3, 4]);
    expect(names(selectLayers(all, 'all'))).toEqual([0, 1, 2, 3, 4]);
  });

  it('selects by exact name, glob, index and range, in depth order without repeats', () => {
    expect(names(selectLayers(all, '/fire2/expand/Relu'))).toEqual([2]);
    expect(names(selectLayers(all, '*/squeeze/*'))).toEqual([1, 3]);
    expect(names(selectLayers(all, '/fire?/squeeze/Relu'))).toEqual([1, 3]);
    expect(names(selectLayers(all, '4, 0'))).toEqual([0, 4]);
    expect(names(selectLayers(all, '1-3'))).toEqual([1, 2, 3]);
    expect(names(selectLayers(all, '2:4,/classifier/Relu,0'))).toEqual([0, 2, 3, 4]);
    expect(names(selectLayers(all, '3-10'))).toEqual([3, 4]);
  });

  it('rejects an item that matches nothing, naming it', () => {
    for (const spec of ['/nope', '0,fire9*', '7', '8-9']) {
      expect(() => selectLayers(all, spec, 'm.onnx')).toThrow(UserError);
    }
    expect(() => selectLayers(all, '0,fire9*', 'm.onnx')).toThrow(
      /^unknown layer 'fire9\*' \(see neuronscope layers --model m\.onnx\)$/,
    );
    expect(() => selectLayers(all, ' , ')).toThrow(/empty layer selection/);
  });
});
