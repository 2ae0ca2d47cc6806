import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argmax, type OutputKind, type OutputMode, outputValue } from '@neuronscope/core';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { imagesDir, type NodeSpec, sharedDir, squeezenetPath, tinyClassifier } from '../test/fixtures.js';
import { withExtraOutputs } from './extra-outputs.js';
import { withReductions } from './graph-reductions.js';
import { loadImage } from './image.js';
import { loadLabels } from './labels.js';
import { type LoadedModel, loadModel } from './load.js';
import { describeOutputKind, detectOutputKind } from './output-kind.js';
import { resolvePreprocessing } from './preprocess.js';
import { createSession } from './session.js';

const { onnx } = onnxProto;

/** Deterministic, image-like input values for `batch` copies of [3, 8, 8]. */
function inputs(batch: number): Float32Array {
  return Float32Array.from({ length: batch * 192 }, (_, i) => Math.sin(i * 0.37) + 0.5 * Math.cos(i * 0.011 + 1));
}

/** The graph output and the logits tensor of `model` for `data`, from a plain session. */
async function plainRun(model: LoadedModel, data: Float32Array, dims: number[]) {
  const session = await createSession(withExtraOutputs(model.bytes, [model.logitsName]));
  try {
    const out = await session.run({ [model.inputName]: new ort.Tensor('float32', data, dims) });
    return {
      output: out[model.outputName]!.data as Float32Array,
      logits: out[model.logitsName]!.data as Float32Array,
    };
  } finally {
    await session.release();
  }
}

/** y of every copy as the in-graph reduction computes it (e with yShift 0), and the logits it outputs. */
async function inGraphY(model: LoadedModel, data: Float32Array, dims: number[], output: OutputMode, target: number) {
  const reduced = withReductions(model.bytes, {
    layers: [],
    outputName: model.logitsName,
    output,
    outputKind: model.outputKind,
  });
  const session = await createSession(reduced.bytes);
  try {
    const out = await session.run({
      [model.inputName]: new ort.Tensor('float32', data, dims),
      [reduced.names.target]: new ort.Tensor('int64', BigInt64Array.of(BigInt(target)), [1]),
      [reduced.names.yShift]: new ort.Tensor('float64', Float64Array.of(0), [1]),
    });
    return { y: out[reduced.names.e]!.data as Float32Array, logits: out[model.logitsName]?.data as Float32Array };
  } finally {
    await session.release();
  }
}

// Plain, independent definitions.
const softmaxRow = (z: ArrayLike<number>) => {
  const e = Array.from(z, (v) => Math.exp(v));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

interface Ending {
  name: string;
  nodes: NodeSpec[];
  kind: OutputKind;
  /** The graph output from the logits row, per class. */
  apply: (z: number[]) => number[];
}

const endings: Ending[] = [
  { name: 'none', nodes: [], kind: 'logits', apply: (z) => z },
  {
    name: 'Softmax',
    nodes: [{ op: 'Softmax', inputs: ['logits'], outputs: ['out'], int: { axis: 1 } }],
    kind: 'softmax',
    apply: softmaxRow,
  },
  {
    name: 'LogSoftmax then Identity',
    nodes: [
      { op: 'LogSoftmax', inputs: ['logits'], outputs: ['ls'], int: { axis: -1 } },
      { op: 'Identity', inputs: ['ls'], outputs: ['out'] },
    ],
    kind: 'log-softmax',
    apply: (z) => softmaxRow(z).map(Math.log),
  },
  {
    name: 'Sigmoid then Flatten',
    nodes: [
      { op: 'Sigmoid', inputs: ['logits'], outputs: ['s'] },
      { op: 'Flatten', inputs: ['s'], outputs: ['out'] },
    ],
    kind: 'sigmoid',
    apply: (z) => z.map(sigmoid),
  },
];

describe('output kinds of tiny classifiers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-kind-'));
  });
  const load = async (name: string, bytes: Uint8Array) => {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.onnx`);
    await writeFile(path, bytes);
    return loadModel(path);
  };

  for (const ending of endings) {
    it(`${ending.name}: detected as ${ending.kind}; y from the logits matches a plain computation`, async () => {
      const model = await load(ending.name, tinyClassifier(ending.nodes, ending.nodes.length ? 'out' : 'logits'));
      expect(model.outputKind).toBe(ending.kind);
      expect(model.logitsName).toBe('logits');
      const batch = 3;
      const dims = [batch, 3, 8, 8];
      const data = inputs(batch);
      const { output, logits } = await plainRun(model, data, dims);
      // logitsName is what the model's output is computed from.
      for (let b = 0; b < batch; b++) {
        const z = Array.from(logits.subarray(b * 5, b * 5 + 5));
        const expected = ending.apply(z);
        expected.forEach((v, c) => {
          expect(output[b * 5 + c]).toBeCloseTo(v, 5);
        });
      }
      for (const mode of ['prob', 'logprob', 'logit'] as const) {
        for (const target of [0, 3]) {
          const graph = await inGraphY(model, data, dims, mode, target);
          expect(Array.from(graph.logits)).toEqual(Array.from(logits));
          for (let b = 0; b < batch; b++) {
            const z = Array.from(logits.subarray(b * 5, b * 5 + 5));
            const zt = z[target]!;
            const prob = ending.kind === 'sigmoid' ? sigmoid(zt) : softmaxRow(z)[target]!;
            const y = mode === 'logit' ? zt : mode === 'prob' ? prob : Math.log(prob);
            expect(outputValue(z, target, mode, model.outputKind)).toBeCloseTo(y, 12);
            expect(Math.abs(graph.y[b]! - y), `${mode} copy ${b}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(y)));
          }
        }
      }
    });
  }

  it('a Softmax over another axis, or ops between Softmax and the output that change values, mean logits', () => {
    const graph = (nodes: NodeSpec[]) => ({
      nodes: nodes.map((n) => ({
        name: '',
        opType: n.op,
        domain: '',
        inputs: n.inputs,
        outputs: n.outputs,
        attributes: n.int ?? {},
      })),
      outputs: [{ name: 'out', elemType: 1, dims: null }],
    });
    expect(detectOutputKind(graph([{ op: 'Softmax', inputs: ['z'], outputs: ['out'], int: { axis: 0 } }]))).toEqual({
      kind: 'logits',
      logitsName: 'out',
    });
    const scaled = graph([
      { op: 'Softmax', inputs: ['z'], outputs: ['p'] },
      { op: 'Mul', inputs: ['p', 'k'], outputs: ['out'] },
    ]);
    expect(detectOutputKind(scaled).kind).toBe('logits');
    const reshaped = graph([
      { op: 'Softmax', inputs: ['z'], outputs: ['p'] },
      { op: 'Reshape', inputs: ['p', 'shape'], outputs: ['q'] },
      { op: 'Squeeze', inputs: ['q'], outputs: ['out'] },
    ]);
    expect(detectOutputKind(reshaped)).toEqual({ kind: 'softmax', logitsName: 'z' });
  });

  it('says in one line what y is computed from', () => {
    expect(describeOutputKind('softmax', 'fc')).toBe(
      "the model ends in Softmax: y is computed from its input, the logits 'fc'",
    );
    for (const kind of ['logits', 'log-softmax', 'sigmoid'] as const) {
      const line = describeOutputKind(kind, 'z');
      expect(line).toContain("'z'");
      expect(line).not.toContain('\n');
    }
  });
});

describe('SqueezeNet with a Softmax appended', requires('shared'), () => {
  it('the parrot is a macaw at p ~ 0.99 from the pre-softmax logits, not softmax(softmax) = 0.0027', async () => {
    const original = await loadModel(squeezenetPath);
    const proto = onnx.ModelProto.decode(original.bytes);
    const graph = proto.graph!;
    graph.node!.push({
      opType: 'Softmax',
      name: 'appended_softmax',
      input: ['logits'],
      output: ['probs'],
      attribute: [],
    });
    graph.output = [{ name: 'probs', type: graph.output![0]!.type }];
    const path = join(await mkdtemp(join(tmpdir(), 'ns-kind-')), 'squeezenet-softmax.onnx');
    await writeFile(path, onnx.ModelProto.encode(proto).finish());

    const model = await loadModel(path);
    expect([model.outputKind, model.logitsName, model.outputName]).toEqual(['softmax', 'logits', 'probs']);
    const labels = await loadLabels(`${sharedDir}models/imagenet_classes.txt`);
    const image = await loadImage(`${imagesDir}parrot.jpg`, resolvePreprocessing({}, model));
    const dims = [1, 3, 224, 224];
    const { output, logits } = await plainRun(model, image.tensor.data, dims);
    const target = argmax(logits);
    expect(labels[target]).toBe('macaw');
    const p = outputValue(logits, target, 'prob', model.outputKind);
    expect(p).toBeGreaterThan(0.98);
    expect(p).toBeCloseTo(output[target]!, 5);
    // What treating the probabilities as logits gave: a second softmax flattens them to ~1/1000.
    const twice = outputValue(output, target, 'prob');
    expect(twice).toBeGreaterThan(0.0025);
    expect(twice).toBeLessThan(0.003);
    const graphY = await inGraphY(model, image.tensor.data, dims, 'prob', target);
    expect(graphY.y[0]).toBeCloseTo(p, 6);
  });
});
