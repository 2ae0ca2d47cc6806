import { type LayerInfo, type OutputMode, outputValue } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { defaultModelPath, squeezenetPath, tinyConvModel } from '../test/fixtures.js';
import { withExtraOutputs } from './extra-outputs.js';
import { defaultOpset, withReductions } from './graph-reductions.js';
import { layerShapes, recordableLayers } from './layers.js';
import { loadModel } from './load.js';
import { createSession } from './session.js';

/** Deterministic, image-like values. */
function inputData(size: number, phase: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.0137 + phase) + 0.5 * Math.cos(i * 0.31));
}

interface Case {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  dims: number[];
  layers: LayerInfo[];
}

/**
 * Runs `batch` copies through the reduction graph and through a plain session with the layers as outputs, and
 * returns the worst errors of the graph's sums against float64 sums of the plain activations, relative to the sum
 * of the absolute terms (the scale float32 rounding works at).
 */
async function compare(c: Case, batch: number, output: OutputMode) {
  const reduced = withReductions(c.bytes, { layers: c.layers, outputName: c.outputName, output });
  const graph = await createSession(reduced.bytes);
  const plain = await createSession(
    withExtraOutputs(
      c.bytes,
      c.layers.map((l) => l.layer),
    ),
  );
  const per = c.dims.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(batch * per);
  for (let b = 0; b < batch; b++) data.set(inputData(per, b), b * per);
  const input = (n: number, values: Float32Array) => new ort.Tensor('float32', values, [n, ...c.dims.slice(1)]);

  // The clean copy: plain activations and logits, which fix the shifts and the target.
  const clean = await plain.run({ [c.inputName]: input(1, data.slice(0, per)) });
  const cleanLogits = clean[c.outputName]!.data as Float32Array;
  const target = cleanLogits.indexOf(Math.max(...cleanLogits));
  const yShift = outputValue(cleanLogits, target, output);
  const shifts = c.layers.map((l) => Float32Array.from(clean[l.layer]!.data as Float32Array));
  const feeds = (n: number, values: Float32Array, shift: Float32Array[], t: number, y0: number) => {
    const f: Record<string, ort.Tensor> = {
      [c.inputName]: input(n, values),
      [reduced.names.target]: new ort.Tensor('int64', BigInt64Array.of(BigInt(t)), [1]),
      [reduced.names.yShift]: new ort.Tensor('float64', Float64Array.of(y0), [1]),
    };
    c.layers.forEach((l, k) => {
      f[reduced.names.shifts[k]!] = new ort.Tensor('float32', shift[k]!, [l.channels, l.height, l.width]);
    });
    return f;
  };

  // Through the graph with zero shifts and a batch of one, sum d is the activation itself, bit for bit.
  const zeros = c.layers.map((l) => new Float32Array(l.channels * l.height * l.width));
  const cleanGraph = await graph.run(feeds(1, data.slice(0, per), zeros, 0, 0));
  c.layers.forEach((l, k) => {
    const units = l.channels * l.height * l.width;
    const sums = cleanGraph[reduced.names.sums[k]!]!.data as Float32Array;
    expect(Buffer.from(sums.buffer, sums.byteOffset, units * 4)).toEqual(Buffer.from(shifts[k]!.buffer));
  });

  const out = await graph.run(feeds(batch, data, shifts, target, yShift));
  const raw = await plain.run({ [c.inputName]: input(batch, data) });
  const logits = raw[c.outputName]!.data as Float32Array;
  const classes = logits.length / batch;
  const e = Array.from({ length: batch }, (_, b) =>
    outputValue(logits.subarray(b * classes, (b + 1) * classes), target, output),
  ).map((y) => y - yShift);
  const worst = { e: 0, sumD: 0, sumDD: 0, sumDE: 0, mean: 0 };
  const graphE = out[reduced.names.e]!.data as Float32Array;
  e.forEach((v, b) => {
    // float32 rounding of e, and the last bits of a float64 softmax computed another way (e = 0 for copy 0)
    worst.e = Math.max(worst.e, Math.abs(graphE[b]! - v) / Math.max(Math.abs(v), 1e-9));
  });
  c.layers.forEach((l, k) => {
    const units = l.channels * l.height * l.width;
    const hw = l.height * l.width;
    const acts = raw[l.layer]!.data as Float32Array;
    const sums = out[reduced.names.sums[k]!]!.data as Float32Array;
    const squares = out[reduced.names.squares[k]!]!.data as Float32Array;
    const means = out[reduced.names.means[k]!]!.data as Float32Array;
    expect(out[reduced.names.means[k]!]!.dims).toEqual([batch, l.channels, 1, 1]);
    for (let u = 0; u < units; u++) {
      let s = 0;
      let ss = 0;
      let se = 0;
      let abs = 0;
      let absE = 0;
      for (let b = 0; b < batch; b++) {
        const d = acts[b * units + u]! - shifts[k]![u]!;
        s += d;
        ss += d * d;
        se += d * e[b]!;
        abs += Math.abs(d);
        absE += Math.abs(d * e[b]!);
      }
      worst.sumD = Math.max(worst.sumD, Math.abs(sums[u]! - s) / Math.max(abs, 1e-30));
      worst.sumDD = Math.max(worst.sumDD, Math.abs(squares[u]! - ss) / Math.max(ss, 1e-30));
      worst.sumDE = Math.max(worst.sumDE, Math.abs(sums[units + u]! - se) / Math.max(absE, 1e-30));
    }
    for (let b = 0; b < batch; b++) {
      for (let ch = 0; ch < l.channels; ch++) {
        let m = 0;
        let abs = 0;
        for (let i = 0; i < hw; i++) {
          const d = acts[b * units + ch * hw + i]! - shifts[k]![ch * hw + i]!;
          m += d;
          abs += Math.abs(d);
        }
        worst.mean = Math.max(worst.mean, Math.abs(means[b * l.channels + ch]! - m / hw) / Math.max(abs / hw, 1e-30));
      }
    }
  });
  await graph.release();
  await plain.release();
  return worst;
}

describe('withReductions', () => {
  it('reads the default-domain opset from the bytes', async () => {
    expect(defaultOpset(tinyConvModel())).toBe(13);
    expect(defaultOpset((await loadModel(defaultModelPath)).bytes)).toBe(17); // exported by torch, opset 17
  });

  it('keeps the original bytes and appends a fragment', () => {
    const bytes = tinyConvModel();
    const layers = [{ layer: 'r1', channels: 4, height: 8, width: 8 }];
    const { bytes: out, names } = withReductions(bytes, { layers, outputName: 'scores', output: 'prob' });
    expect(Buffer.from(out.subarray(0, bytes.length)).equals(Buffer.from(bytes))).toBe(true);
    expect(names.shifts).toHaveLength(1);
  });

  for (const output of ['prob', 'logit', 'logprob'] as const) {
    it(`sums d, d^2, d*e and channel means like a float64 reference (tiny model, ${output})`, async () => {
      const layers: LayerInfo[] = [
        { layer: 'r1', layerIndex: 0, convNode: 'conv1', op: 'Relu', channels: 4, height: 8, width: 8 },
        { layer: 'c2', layerIndex: 1, convNode: 'conv2', op: 'Conv', channels: 2, height: 8, width: 8 },
      ];
      const worst = await compare(
        { bytes: tinyConvModel(), inputName: 'image', outputName: 'scores', dims: [1, 3, 8, 8], layers },
        5,
        output,
      );
      for (const [name, value] of Object.entries(worst)) expect(value, name).toBeLessThan(1e-6);
    });
  }

  it('matches float64 sums of the plain activations of the embedded default model over one batch', async () => {
    const model = await loadModel(defaultModelPath);
    const all = await layerShapes(model, recordableLayers(model), [1, 1, 28, 28]);
    const c = {
      bytes: model.bytes,
      inputName: model.inputName,
      outputName: model.outputName,
      dims: [1, 1, 28, 28],
      layers: [all[0]!, all[2]!, all[4]!],
    };
    const worst = await compare(c, 4, 'prob');
    for (const [name, value] of Object.entries(worst)) expect(value, name).toBeLessThan(1e-6);
  });

  describe('on SqueezeNet 1.1', requires('shared'), () => {
    let c: Case;
    beforeAll(async () => {
      const model = await loadModel(squeezenetPath);
      const all = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
      c = {
        bytes: model.bytes,
        inputName: model.inputName,
        outputName: model.outputName,
        dims: [1, 3, 224, 224],
        layers: [all[0]!, all[5]!, all[25]!],
      };
    });

    it('matches float64 sums of the plain activations within float32 rounding over one batch', async () => {
      const worst = await compare(c, 4, 'prob');
      for (const [name, value] of Object.entries(worst)) expect(value, name).toBeLessThan(1e-6);
    });
  });
});
