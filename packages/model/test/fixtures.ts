/**
 * Test fixtures: where the shared real models and images live, and tiny ONNX models built in memory.
 * Kept out of src/ so that it is not part of the build.
 */
import onnxProto from 'onnx-proto';
import { defaultModel, shared } from '../../../test/support/env.js';
import { joinBytes, lengthDelimited, wireFields } from '../src/wire.js';

const { onnx } = onnxProto;

/** The shared real models and images (test/support/env.ts); tests that need them ask with `requires('shared')`. */
export const sharedDir = shared.dir;
export const squeezenetPath = shared.squeezenet;
export const mobilenetPath = shared.mobilenet;
export const imagesDir = shared.imagesDir;

/** The embedded default model (packages/engine/default-model): a real trained CNN that is always in the repository. */
export const defaultModelPath = defaultModel.model;
export const defaultModelDir = defaultModel.dir;

const FLOAT = 1;

type Dim = number | string;

/** A graph input or output declaration: float32 unless `elemType` says otherwise; string dims are symbolic. */
export function valueInfo(name: string, dims: Dim[], elemType = FLOAT): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** A float32 initializer filled with `fill(i)`. */
export function floatInitializer(name: string, dims: number[], fill: (i: number) => number = () => 0.1) {
  const size = dims.reduce((a, b) => a * b, 1);
  return { name, dims, dataType: FLOAT, floatData: Array.from({ length: size }, (_, i) => fill(i)) };
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  ints?: Record<string, number[]>;
  /** Single-int attributes (e.g. Softmax's axis). */
  int?: Record<string, number>;
}

/** Serialized ModelProto (IR 8, opset 13) of a graph built from the given parts. */
export function buildModel(parts: {
  inputs: onnxProto.onnx.IValueInfoProto[];
  outputs: onnxProto.onnx.IValueInfoProto[];
  nodes: NodeSpec[];
  initializers?: onnxProto.onnx.ITensorProto[];
}): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      input: parts.inputs,
      output: parts.outputs,
      initializer: parts.initializers ?? [],
      node: parts.nodes.map((n) => ({
        opType: n.op,
        name: n.name ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: [
          ...Object.entries(n.ints ?? {}).map(([name, ints]) => ({
            name,
            type: onnx.AttributeProto.AttributeType.INTS,
            ints,
          })),
          ...Object.entries(n.int ?? {}).map(([name, i]) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i })),
        ],
      })),
    },
  }).finish();
}

/**
 * input [N,3,8,8] -> conv1 (4 channels, 3x3, pad 1) -> relu1 -> conv2 (2 channels, 1x1), whose output feeds
 * both a Relu and an Add (so conv2 is recorded as Conv) -> GlobalAveragePool -> Flatten -> output [N,2].
 */
export function tinyConvModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('image', ['N', 3, 8, 8])],
    outputs: [valueInfo('scores', ['N', 2])],
    initializers: [
      floatInitializer('w1', [4, 3, 3, 3], (i) => ((i % 7) - 3) / 10),
      floatInitializer('b1', [4]),
      floatInitializer('w2', [2, 4, 1, 1], (i) => (i % 3) - 1),
    ],
    nodes: [
      { op: 'Conv', name: 'conv1', inputs: ['image', 'w1', 'b1'], outputs: ['c1'], ints: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 'relu1', inputs: ['c1'], outputs: ['r1'] },
      { op: 'Conv', name: 'conv2', inputs: ['r1', 'w2'], outputs: ['c2'] },
      { op: 'Relu', name: 'relu2', inputs: ['c2'], outputs: ['r2'] },
      { op: 'Add', name: 'add', inputs: ['c2', 'r2'], outputs: ['sum'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['sum'], outputs: ['pooled'] },
      { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['scores'] },
    ],
  });
}

/**
 * A tiny 5-class classifier: input [N,3,8,8] -> conv (5 channels, 3x3, pad 1) -> Relu -> GlobalAveragePool ->
 * Flatten -> 'logits' [N,5], then the `ending` nodes (e.g. a Softmax) producing the graph output `output`.
 */
export function tinyClassifier(ending: NodeSpec[] = [], output = 'logits'): Uint8Array {
  return buildModel({
    inputs: [valueInfo('image', ['N', 3, 8, 8])],
    outputs: [valueInfo(output, ['N', 5])],
    initializers: [
      floatInitializer('w', [5, 3, 3, 3], (i) => (((i * 37) % 11) - 4) / 6),
      floatInitializer('b', [5], (i) => i / 2 - 1),
    ],
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['image', 'w', 'b'], outputs: ['c'], ints: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 'relu', inputs: ['c'], outputs: ['r'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['r'], outputs: ['g'] },
      { op: 'Flatten', name: 'flatten', inputs: ['g'], outputs: ['logits'] },
      ...ending,
    ],
  });
}

/**
 * `bytes` with metadata_props added to nodes, by their first output (NodeProto field 9, which onnx-proto does not
 * know, so written on the wire format as the dynamo exporter writes it).
 */
export function withNodeMetadata(bytes: Uint8Array, byOutput: ReadonlyMap<string, Record<string, string>>): Uint8Array {
  const text = new TextEncoder();
  const decoder = new TextDecoder();
  const model: Uint8Array[] = [];
  for (const m of wireFields(bytes)) {
    if (m.field !== 7 || !m.payload) {
      model.push(bytes.subarray(m.start, m.end));
      continue;
    }
    const graph: Uint8Array[] = [];
    for (const g of wireFields(m.payload)) {
      const raw = m.payload.subarray(g.start, g.end);
      if (g.field !== 1 || !g.payload) {
        graph.push(raw);
        continue;
      }
      const output = [...wireFields(g.payload)].find((f) => f.field === 2 && f.payload);
      const props = output?.payload ? byOutput.get(decoder.decode(output.payload)) : undefined;
      if (!props) {
        graph.push(raw);
        continue;
      }
      const entries = Object.entries(props).flatMap(([k, v]) =>
        lengthDelimited(9, joinBytes([...lengthDelimited(1, text.encode(k)), ...lengthDelimited(2, text.encode(v))])),
      );
      graph.push(...lengthDelimited(1, joinBytes([g.payload, ...entries])));
    }
    model.push(...lengthDelimited(7, joinBytes(graph)));
  }
  return joinBytes(model);
}

/** One op of {@link tinyResNet}: its module path and a short id. */
interface ResNetStep {
  id: string;
  op: string;
  inputs: string[];
  /** Module path of the op (dotted), '' at the top. */
  module: string;
  /** Module whose `.weight` the op reads (Conv, Gemm). */
  weight?: string;
  weightDims?: number[];
  ints?: Record<string, number[]>;
}

/** The steps of a ResNet-style net: conv1 / relu / maxpool, layer4.0 and layer4.1 basic blocks, avgpool, fc. */
function resNetSteps(): ResNetStep[] {
  const block = (b: string, input: string, k: number): ResNetStep[] => [
    {
      id: `conv_${k}a`,
      op: 'Conv',
      inputs: [input],
      module: `${b}.conv1`,
      weight: `${b}.conv1`,
      weightDims: [4, 4, 3, 3],
      ints: { pads: [1, 1, 1, 1] },
    },
    { id: `relu_${k}a`, op: 'Relu', inputs: [`conv_${k}a`], module: `${b}.relu` },
    {
      id: `conv_${k}b`,
      op: 'Conv',
      inputs: [`relu_${k}a`],
      module: `${b}.conv2`,
      weight: `${b}.conv2`,
      weightDims: [4, 4, 3, 3],
      ints: { pads: [1, 1, 1, 1] },
    },
    { id: `add_${k}`, op: 'Add', inputs: [`conv_${k}b`, input], module: b },
    { id: `relu_${k}b`, op: 'Relu', inputs: [`add_${k}`], module: `${b}.relu` },
  ];
  return [
    {
      id: 'conv1',
      op: 'Conv',
      inputs: ['input'],
      module: 'conv1',
      weight: 'conv1',
      weightDims: [4, 3, 3, 3],
      ints: { strides: [2, 2], pads: [1, 1, 1, 1] },
    },
    { id: 'relu', op: 'Relu', inputs: ['conv1'], module: 'relu' },
    {
      id: 'maxpool',
      op: 'MaxPool',
      inputs: ['relu'],
      module: 'maxpool',
      ints: { kernel_shape: [2, 2], strides: [2, 2] },
    },
    ...block('layer4.0', 'maxpool', 0),
    ...block('layer4.1', 'relu_0b', 1),
    { id: 'avgpool', op: 'GlobalAveragePool', inputs: ['relu_1b'], module: 'avgpool' },
    { id: 'flatten', op: 'Flatten', inputs: ['avgpool'], module: '' },
    { id: 'logits', op: 'Gemm', inputs: ['flatten'], module: 'fc', weight: 'fc', weightDims: [5, 4], ints: {} },
  ];
}

/** The dotted ancestors of a module path: layer4.1.conv1 -> layer4, layer4.1, layer4.1.conv1. */
const ancestors = (module: string) =>
  module === '' ? [] : module.split('.').map((_, i, parts) => parts.slice(0, i + 1).join('.'));

/**
 * A tiny ResNet-style classifier (input [N,3,16,16], two basic blocks `layer4.0` and `layer4.1` with residual Adds,
 * 5 logits) named as a PyTorch exporter names it. `dynamo`: nodes `node_<id>`, tensors `<id>`, module paths only in
 * node metadata (`pkg.torch.onnx.name_scopes`, `namespace`) and weight names. `torchscript`: nodes
 * `/layer4/layer4.1/conv1/Conv`, tensors `<node>_output_0`. The logits tensor is `logits` in both.
 */
export function tinyResNet(style: 'dynamo' | 'torchscript'): Uint8Array {
  const steps = resNetSteps();
  const names = new Map<string, { node: string; tensor: string }>();
  const used = new Set<string>();
  for (const s of steps) {
    if (style === 'dynamo') {
      names.set(s.id, { node: `node_${s.id}`, tensor: s.id });
      continue;
    }
    // TorchScript scopes: a Sequential's child by its full path (layer4.1), any other module by its attribute name.
    const scope = ancestors(s.module).map((path) => {
      const last = path.split('.').pop()!;
      return /^\d+$/.test(last) ? path : last;
    });
    let node = `/${[...scope, s.op].join('/')}`;
    for (let k = 1; used.has(node); k++)
      node = `/${[...scope.slice(0, -1), `${scope[scope.length - 1] ?? ''}_${k}`, s.op].join('/')}`;
    used.add(node);
    names.set(s.id, { node, tensor: s.id === 'logits' ? 'logits' : `${node}_output_0` });
  }
  const tensor = (id: string) => (id === 'input' ? 'input' : names.get(id)!.tensor);
  const initializers = steps.flatMap((s) =>
    s.weight ? [floatInitializer(`${s.weight}.weight`, s.weightDims!, (i) => (((i * 29) % 13) - 5.5) / 12)] : [],
  );
  const bytes = buildModel({
    inputs: [valueInfo('input', ['N', 3, 16, 16])],
    outputs: [valueInfo('logits', ['N', 5])],
    initializers,
    nodes: steps.map((s) => ({
      op: s.op,
      name: names.get(s.id)!.node,
      inputs: [...s.inputs.map(tensor), ...(s.weight ? [`${s.weight}.weight`] : [])],
      outputs: [tensor(s.id)],
      ints: s.op === 'Gemm' ? {} : s.ints,
      ...(s.op === 'Gemm' ? { int: { transB: 1 } } : {}),
    })),
  });
  if (style === 'torchscript') return bytes;
  const metadata = new Map(
    steps.map((s) => {
      const scopes = ['', ...ancestors(s.module), s.id];
      return [
        s.id,
        {
          'pkg.torch.onnx.name_scopes': `[${scopes.map((x) => `'${x}'`).join(', ')}]`,
          namespace: [...scopes.slice(1).map((x) => `${x}: torch.nn.Module`)].join('/'),
        },
      ];
    }),
  );
  return withNodeMetadata(bytes, metadata);
}
