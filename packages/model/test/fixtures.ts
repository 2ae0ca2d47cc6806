/**
 * Test fixtures: where the shared real models and images live, and tiny ONNX models built in memory.
 * Kept out of src/ so that it is not part of the build.
 */
import onnxProto from 'onnx-proto';
import { defaultModel, shared } from '../../../test/support/env.js';

const { onnx } = onnxProto;

/** The shared real models and images (test/support/env.ts); tests that need them ask with `requires('shared')`. */
export const sharedDir = shared.dir;
export const squeezenetPath = shared.squeezenet;
export const mobilenetPath = shared.mobilenet;
export const imagesDir = shared.imagesDir;

/** The embedded default model (packages/cli/default-model): a real trained CNN that is always in the repository. */
export const defaultModelPath = defaultModel.model;

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
        attribute: Object.entries(n.ints ?? {}).map(([name, ints]) => ({
          name,
          type: onnx.AttributeProto.AttributeType.INTS,
          ints,
        })),
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
