import { UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { defaultModelPath, mobilenetPath, squeezenetPath, tinyConvModel } from '../test/fixtures.js';
import { graphOutputNames, withExtraOutputs } from './extra-outputs.js';
import { recordableLayers } from './layers.js';
import { loadModel } from './load.js';
import { createSession } from './session.js';

/** A deterministic, image-like input in [-2, 2]. */
function testInput(dims: number[]): ort.Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: size }, (_, i) => 2 * Math.sin(i * 0.0137)),
    dims,
  );
}

function maxAbsDiff(a: ort.Tensor | undefined, b: ort.Tensor | undefined): number {
  if (!a || !b) throw new Error('missing output');
  expect(a.dims).toEqual(b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs((x[i] as number) - (y[i] as number)));
  return max;
}

function maxAbs(t: ort.Tensor | undefined): number {
  if (!t) throw new Error('missing output');
  let max = 0;
  for (const v of t.data as Float32Array) max = Math.max(max, Math.abs(v));
  return max;
}

describe('withExtraOutputs on bytes', () => {
  it('appends outputs without touching the original bytes, skipping existing ones', () => {
    const bytes = tinyConvModel();
    expect(graphOutputNames(bytes)).toEqual(['scores']);
    const once = withExtraOutputs(bytes, ['r1', 'c2', 'r1', 'scores']);
    expect(Buffer.from(once.subarray(0, bytes.length)).equals(Buffer.from(bytes))).toBe(true);
    expect(graphOutputNames(once)).toEqual(['scores', 'r1', 'c2']);
    const twice = withExtraOutputs(once, ['c2', 'c1']);
    expect(graphOutputNames(twice)).toEqual(['scores', 'r1', 'c2', 'c1']);
    expect(withExtraOutputs(bytes, ['scores'])).toBe(bytes);
  });

  it('gives onnxruntime the added outputs (tiny model)', async () => {
    const session = await createSession(withExtraOutputs(tinyConvModel(), ['r1', 'c2']));
    expect(session.outputNames).toEqual(['scores', 'r1', 'c2']);
    const out = await session.run({ image: testInput([2, 3, 8, 8]) });
    expect(out.r1?.dims).toEqual([2, 4, 8, 8]);
    expect(out.c2?.dims).toEqual([2, 2, 8, 8]);
    await session.release();
  });
});

describe('createSession', () => {
  it('rejects bytes onnxruntime cannot load, as a UserError naming the model', async () => {
    const bad = createSession(new TextEncoder().encode('not a model'), { modelPath: 'bad.onnx' });
    await expect(bad).rejects.toThrow(UserError);
    await expect(bad).rejects.toThrow(/^onnxruntime cannot load model bad\.onnx: /);
  });
});

/**
 * The model at `path` (input `dims`): the recorded layers added as outputs come back, the logits do not change, and
 * the values are the same at every optimization level.
 */
function recordedOutputsTest(name: string, path: string, dims: number[]) {
  it(`${name}: added outputs come back, logits unchanged, same values at every optimization level`, async () => {
    const model = await loadModel(path);
    const layers = recordableLayers(model).map((l) => l.layer);
    // Also ask for a Conv output that a Relu/Clip follows: that blocks Conv+activation fusion, which must
    // not change any value either.
    const convOutputs = model.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.outputs[0]!);
    const names = [...layers, convOutputs[0]!];
    const input = { [model.inputName]: testInput(dims) };

    const plain = await createSession(model.bytes, { threads: 2 });
    const reference = await plain.run(input);
    await plain.release();

    const results: Record<string, ort.Tensor>[] = [];
    for (const optimization of ['all', 'disabled'] as const) {
      const session = await createSession(withExtraOutputs(model.bytes, names), { threads: 2, optimization });
      expect(session.outputNames).toEqual([model.outputName, ...names]);
      const out = await session.run(input);
      // Unchanged up to float32 reassociation, relative to the logits' scale.
      const scale = Math.max(1, maxAbs(reference[model.outputName]));
      expect(maxAbsDiff(out[model.outputName], reference[model.outputName])).toBeLessThan(1e-5 * scale);
      for (const n of names) expect(out[n]?.dims.length).toBe(4);
      results.push(out);
      await session.release();
    }
    // Kernels differ between levels (fused, NCHWc), so compare relative to each tensor's magnitude.
    for (const n of names) {
      const [all, disabled] = [results[0]![n], results[1]![n]];
      expect(maxAbsDiff(all, disabled)).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(disabled)));
    }
  });
}

describe('recorded outputs on the embedded default model', () => {
  recordedOutputsTest('fashion-vgg', defaultModelPath, [2, 1, 28, 28]);
});

describe('recorded outputs on the shared models', requires('shared'), () => {
  recordedOutputsTest('squeezenet', squeezenetPath, [2, 3, 224, 224]);
  recordedOutputsTest('mobilenetv2', mobilenetPath, [2, 3, 224, 224]);
});
