import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LayerInfo, UserError } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import {
  buildModel,
  defaultModelPath,
  floatInitializer,
  mobilenetPath,
  squeezenetPath,
  tinyConvModel,
  tinyResNet,
  valueInfo,
} from '../test/fixtures.js';
import { allTensorLayers, layerShapes, recordableLayers, resolveLayers, selectLayers } from './layers.js';
import { loadModel } from './load.js';
import { layerAliases, scopedNamePaths } from './module-paths.js';
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
      /^unknown layer 'fire9\*' \(see neuronscope layers --model m\.onnx, or layers --all for every tensor\)$/,
    );
    expect(() => selectLayers(all, ' , ')).toThrow(/empty layer selection/);
  });
});

describe('every tensor as a layer, and PyTorch module paths', () => {
  let dir: string;
  const load = async (style: 'dynamo' | 'torchscript') => {
    dir ??= await mkdtemp(join(tmpdir(), 'ns-layers-'));
    const path = join(dir, `resnet-${style}.onnx`);
    await writeFile(path, tinyResNet(style));
    return loadModel(path);
  };
  const dims = [1, 3, 16, 16];

  it('lists every 4-D float tensor a node computes, with its op and shape, in depth order', async () => {
    const model = await load('dynamo');
    const all = await allTensorLayers(model, dims);
    expect(all.map((l) => `${l.layerIndex} ${l.layer} ${l.op} ${l.channels}x${l.height}x${l.width}`)).toEqual([
      '0 conv1 Conv 4x8x8',
      '1 relu Relu 4x8x8',
      '2 maxpool MaxPool 4x4x4',
      '3 conv_0a Conv 4x4x4',
      '4 relu_0a Relu 4x4x4',
      '5 conv_0b Conv 4x4x4',
      '6 add_0 Add 4x4x4',
      '7 relu_0b Relu 4x4x4',
      '8 conv_1a Conv 4x4x4',
      '9 relu_1a Relu 4x4x4',
      '10 conv_1b Conv 4x4x4',
      '11 add_1 Add 4x4x4',
      '12 relu_1b Relu 4x4x4',
      '13 avgpool GlobalAveragePool 4x1x1',
    ]);
    expect(all[6]?.convNode).toBe('node_add_0');
    // The recordable layers are a subset, at their activation (conv_0b feeds the Add: recorded at the Conv).
    expect(recordableLayers(model).map((l) => l.layer)).toEqual(['relu', 'relu_0a', 'conv_0b', 'relu_1a', 'conv_1b']);
  });

  it('leaves out NHWC stretches between Transposes (as Keras exports with the torch backend have them)', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'ns-layers-')), 'nhwc.onnx');
    await writeFile(
      path,
      buildModel({
        inputs: [valueInfo('x', ['N', 8, 8, 3])],
        outputs: [valueInfo('y', ['N', 4])],
        initializers: [floatInitializer('w', [4, 3, 3, 3], (i) => ((i % 5) - 2) / 4)],
        nodes: [
          { op: 'Transpose', name: 'to_nchw', inputs: ['x'], outputs: ['t0'], ints: { perm: [0, 3, 1, 2] } },
          { op: 'Conv', name: 'conv', inputs: ['t0', 'w'], outputs: ['c'], ints: { pads: [1, 1, 1, 1] } },
          { op: 'Transpose', name: 'to_nhwc', inputs: ['c'], outputs: ['t1'], ints: { perm: [0, 2, 3, 1] } },
          { op: 'Relu', name: 'relu', inputs: ['t1'], outputs: ['r'] },
          { op: 'Transpose', name: 'back', inputs: ['r'], outputs: ['t2'], ints: { perm: [0, 3, 1, 2] } },
          { op: 'GlobalAveragePool', name: 'gap', inputs: ['t2'], outputs: ['g'] },
          { op: 'Flatten', name: 'flatten', inputs: ['g'], outputs: ['y'] },
        ],
      }),
    );
    const model = await loadModel(path);
    const all = await allTensorLayers(model, [1, 8, 8, 3], 'NHWC');
    expect(all.map((l) => `${l.layer} ${l.channels}x${l.height}x${l.width}`)).toEqual([
      't0 3x8x8',
      'c 4x8x8',
      't2 4x8x8',
      'g 4x1x1',
    ]);
  });

  it('reads module paths from dynamo metadata, TorchScript node names and weight names', async () => {
    expect(scopedNamePaths('/features/features.12/squeeze/Conv')).toEqual([
      'features',
      'features.12',
      'features.12.squeeze',
    ]);
    expect(scopedNamePaths('/layer4/layer4.1/conv1/Conv')).toEqual(['layer4', 'layer4.1', 'layer4.1.conv1']);
    expect(scopedNamePaths('node_conv2d')).toEqual([]);
    const dynamo = layerAliases(await load('dynamo'));
    expect(dynamo.get('relu_1b')).toEqual(['node_relu_1b', 'layer4', 'layer4.1', 'layer4.1.relu']);
    expect(dynamo.get('conv_1a')).toEqual(['node_conv_1a', 'layer4', 'layer4.1', 'layer4.1.conv1']);
    expect(dynamo.get('node_add_1')).toEqual(['node_add_1', 'layer4', 'layer4.1']);
    const torchscript = layerAliases(await load('torchscript'));
    expect(torchscript.get('/layer4/layer4.1/Add_output_0')).toEqual(['/layer4/layer4.1/Add', 'layer4', 'layer4.1']);
    expect(torchscript.get('/layer4/layer4.1/relu_1/Relu_output_0')).toContain('layer4.1.relu_1');
  });

  for (const style of ['dynamo', 'torchscript'] as const) {
    it(`--layers layer4.1 selects that block (${style} export); naming an Add switches to every tensor`, async () => {
      const model = await load(style);
      const short = (name: string) => (style === 'dynamo' ? name : name.replace(/_output_0$/, ''));
      const conv = await resolveLayers(model, 'layer4.1', dims);
      expect(conv.mode).toBe('conv');
      expect(conv.layers.map((l) => short(l.layer))).toEqual(
        style === 'dynamo' ? ['relu_1a', 'conv_1b'] : ['/layer4/layer4.1/relu/Relu', '/layer4/layer4.1/conv2/Conv'],
      );
      const addName = style === 'dynamo' ? 'add_1' : '/layer4/layer4.1/Add_output_0';
      const all = await resolveLayers(model, `layer4.1,${addName}`, dims);
      expect(all.mode).toBe('all');
      expect(all.candidates).toHaveLength(14);
      expect(all.layers.map((l) => l.op)).toEqual(['Conv', 'Relu', 'Conv', 'Add', 'Relu']);
      expect(all.layers.map((l) => l.layerIndex)).toEqual([8, 9, 10, 11, 12]);
      // Module paths under a wrapper's prefix, and globs over module paths.
      const aliases = layerAliases(model);
      expect(selectLayers(all.candidates, 'layer4.1.conv1', { aliases }).map((l) => l.layerIndex)).toEqual([8]);
      expect(selectLayers(all.candidates, 'layer4.*.conv2', { aliases }).map((l) => l.layerIndex)).toEqual([5, 10]);
      await expect(resolveLayers(model, 'layer4.2', dims)).rejects.toThrow(
        /^unknown layer 'layer4\.2' \(see neuronscope layers --model .*resnet-.*\.onnx, or layers --all for every tensor\)$/,
      );
    });
  }

  it('globs match any part of a tensor name; module paths match under a prefix, not by substring', () => {
    const layer = (name: string, layerIndex: number): LayerInfo => ({
      layer: name,
      layerIndex,
      convNode: `${name}/node`,
      op: 'Relu',
      channels: 1,
      height: 1,
      width: 1,
    });
    const all = [layer('a/layer4.1/x', 0), layer('a/layer4.10/x', 1), layer('b', 2)];
    const aliases = new Map([
      ['a/layer4.1/x', ['model.layer4.1']],
      ['a/layer4.10/x', ['model.layer4.10']],
    ]);
    expect(selectLayers(all, 'layer4.1*').map((l) => l.layerIndex)).toEqual([0, 1]);
    expect(selectLayers(all, 'layer4.1', { aliases }).map((l) => l.layerIndex)).toEqual([0]);
    expect(selectLayers(all, 'b/node').map((l) => l.layerIndex)).toEqual([2]);
    expect(() => selectLayers(all, 'layer4')).toThrow(UserError);
  });
});

describe('layer specs on the shared models', requires('shared'), () => {
  it('squeezenet: features.12* selects Fire module 12 (its three ReLUs; with every tensor, the Convs and Concat too)', async () => {
    const model = await loadModel(squeezenetPath);
    const dims = [1, 3, 224, 224];
    const conv = await resolveLayers(model, 'features.12*', dims);
    expect(conv.mode).toBe('conv');
    expect(conv.layers.map((l) => l.layer)).toEqual([
      '/features/features.12/squeeze_activation/Relu_output_0',
      '/features/features.12/expand1x1_activation/Relu_output_0',
      '/features/features.12/expand3x3_activation/Relu_output_0',
    ]);
    expect(conv.layers.map((l) => l.layerIndex)).toEqual([22, 23, 24]);
    // The module path alone selects the same layers.
    expect((await resolveLayers(model, 'features.12', dims)).layers).toEqual(conv.layers);
    const all = await resolveLayers(model, 'features.12*,/features/features.12/Concat_output_0', dims);
    expect(all.mode).toBe('all');
    expect(all.layers.map((l) => l.op)).toEqual(['Conv', 'Relu', 'Conv', 'Relu', 'Conv', 'Relu', 'Concat']);
    expect(all.layers.at(-1)).toMatchObject({ channels: 512, height: 13, width: 13 });
    // 65 nodes, all computing 4-D tensors but the last Flatten.
    expect(all.candidates).toHaveLength(64);
  });

  it('mobilenetv2: every tensor includes the 10 residual Adds, the Pads and the ReduceMean', async () => {
    const model = await loadModel(mobilenetPath);
    const all = await allTensorLayers(model, [1, 3, 224, 224]);
    const adds = all.filter((l) => l.op === 'Add');
    expect(adds).toHaveLength(10);
    expect(adds[0]).toMatchObject({ layer: '/Add_output_0', channels: 24, height: 56, width: 56 });
    expect(all.filter((l) => l.op === 'Pad')).toHaveLength(53);
    expect(all.find((l) => l.op === 'ReduceMean')).toMatchObject({ channels: 1280, height: 1, width: 1 });
  });
});
