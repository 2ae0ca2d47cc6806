import { UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { defaultModelPath, squeezenetPath, tinyConvModel } from '../test/fixtures.js';
import { decodeModel } from './ablation.js';
import { loadModel } from './load.js';
import { initializerValues, normalGenerator, randomizeTopConvs } from './randomize.js';
import { createSession } from './session.js';

/** name -> float values of every initializer. */
function initializers(bytes: Uint8Array): Map<string, Float32Array> {
  return new Map((decodeModel(bytes).graph!.initializer ?? []).map((t) => [t.name ?? '', initializerValues(t)]));
}

function changed(a: Uint8Array, b: Uint8Array): string[] {
  const [x, y] = [initializers(a), initializers(b)];
  expect([...y.keys()]).toEqual([...x.keys()]);
  return [...x.keys()].filter((k) => !Buffer.from(x.get(k)!.buffer).equals(Buffer.from(y.get(k)!.buffer)));
}

/** The graph without initializer data: nodes, inputs, outputs. */
function structure(bytes: Uint8Array): string {
  const g = decodeModel(bytes).graph!;
  return JSON.stringify({ node: g.node, input: g.input, output: g.output });
}

describe('randomizeTopConvs on a tiny model', () => {
  const bytes = tinyConvModel();

  it('replaces exactly the chosen Conv initializers, deepest first, and keeps the graph', async () => {
    const top1 = randomizeTopConvs(bytes, { fromTop: 1, seed: 1 });
    expect(top1.convCount).toBe(2);
    expect(top1.randomized.map((r) => r.convNode)).toEqual(['conv2']);
    expect(changed(bytes, top1.bytes)).toEqual(['w2']);
    const top2 = randomizeTopConvs(bytes, { fromTop: 2, seed: 1 });
    expect(top2.randomized.map((r) => [r.convNode, r.convIndex])).toEqual([
      ['conv2', 1],
      ['conv1', 0],
    ]);
    expect(changed(bytes, top2.bytes).sort()).toEqual(['b1', 'w1', 'w2']);
    expect(structure(top2.bytes)).toBe(structure(bytes));

    // Still a valid model for onnxruntime, with a different output.
    const image = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 192 }, (_, i) => Math.sin(i)),
      [1, 3, 8, 8],
    );
    const outputs = [];
    for (const b of [bytes, top2.bytes]) {
      const session = await createSession(b);
      outputs.push(Array.from((await session.run({ image })).scores!.data as Float32Array));
      await session.release();
    }
    expect(outputs[1]).not.toEqual(outputs[0]);
  });

  it('is deterministic in the seed', () => {
    const a = randomizeTopConvs(bytes, { fromTop: 2, seed: 7 });
    const b = randomizeTopConvs(bytes, { fromTop: 2, seed: 7 });
    const c = randomizeTopConvs(bytes, { fromTop: 2, seed: 8 });
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expect(changed(a.bytes, c.bytes).sort()).toEqual(['b1', 'w1', 'w2']);
  });

  it('refuses more layers than the model has', () => {
    expect(() => randomizeTopConvs(bytes, { fromTop: 3, seed: 0 })).toThrow(UserError);
    expect(() => randomizeTopConvs(bytes, { fromTop: 0, seed: 0 })).toThrow(UserError);
  });

  it('draws standard normal values', () => {
    const next = normalGenerator(42);
    const xs = Array.from({ length: 20000 }, next);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});

/** Weights and biases of the top 2 convs of `path`, and only those, change; their spread stays the layer's. */
async function checkTopTwo(path: string, convs: number) {
  const model = await loadModel(path);
  const result = randomizeTopConvs(model.bytes, { fromTop: 2, seed: 3 });
  expect(result.convCount).toBe(convs);
  const names = result.randomized.flatMap((r) => r.initializers.map((i) => i.name));
  expect(names).toHaveLength(4);
  expect(changed(model.bytes, result.bytes).sort()).toEqual([...names].sort());
  const after = initializers(result.bytes);
  for (const r of result.randomized) {
    for (const i of r.initializers) {
      const v = after.get(i.name)!;
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      if (v.length > 1000) expect(Math.abs(std / i.std - 1)).toBeLessThan(0.1);
    }
  }
  const reloaded = await createSession(result.bytes);
  await reloaded.release();
  return result;
}

describe('randomizeTopConvs on the embedded default model', () => {
  it('changes the weights and biases of conv3_1 and conv2_2 only, keeping their scale', async () => {
    const result = await checkTopTwo(defaultModelPath, 5);
    expect(result.randomized.map((r) => r.initializers.map((i) => i.name))).toEqual([
      ['conv3_1.weight', 'conv3_1.bias'],
      ['conv2_2.weight', 'conv2_2.bias'],
    ]);
  });
});

describe('randomizeTopConvs on squeezenet', requires('shared'), () => {
  it('changes the weights and biases of the top 2 convs only, keeping their scale', async () => {
    await checkTopTwo(squeezenetPath, 26);
  });
});
