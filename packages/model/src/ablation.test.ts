import { UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import {
  buildModel,
  defaultModelPath,
  floatInitializer,
  mobilenetPath,
  squeezenetPath,
  tinyClassifier,
  tinyConvModel,
  valueInfo,
} from '../test/fixtures.js';
import { decodeModel, withChannelMasks } from './ablation.js';
import { AblationRunner } from './ablation-runner.js';
import { withExtraOutputs } from './extra-outputs.js';
import { layerShapes, recordableLayers } from './layers.js';
import { loadModel } from './load.js';
import { createSession } from './session.js';

/** A deterministic, image-like input in [-2, 2]. */
function testInput(dims: number[], phase = 0): ort.Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: size }, (_, i) => 2 * Math.sin(i * 0.0137 + phase)),
    dims,
  );
}

const ones = (batch: number, channels: number) =>
  new ort.Tensor('float32', new Float32Array(batch * channels).fill(1), [batch, channels, 1, 1]);

function mask(batch: number, channels: number, off: Record<number, number[]>): ort.Tensor {
  const data = new Float32Array(batch * channels).fill(1);
  for (const [b, cs] of Object.entries(off)) for (const c of cs) data[Number(b) * channels + c] = 0;
  return new ort.Tensor('float32', data, [batch, channels, 1, 1]);
}

function data(t: ort.Tensor | undefined): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) throw new Error('missing float32 output');
  return t.data;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Values of channel `c` of sample `b` of an NCHW tensor. */
function channel(t: ort.Tensor | undefined, b: number, c: number): Float32Array {
  const [, channels, h, w] = t!.dims as number[];
  const plane = h! * w!;
  return data(t).slice((b * channels! + c) * plane, (b * channels! + c + 1) * plane);
}

describe('withChannelMasks on a tiny model', () => {
  const bytes = tinyConvModel();
  const image = testInput([2, 3, 8, 8]);

  it('adds one mask input per target and rewires the consumers; all-ones masks change nothing', async () => {
    const masked = withChannelMasks(bytes, [
      { tensor: 'r1', channels: 4 },
      { tensor: 'c2', channels: 2 },
    ]);
    expect(masked.masks.map((m) => m.maskInput)).toEqual(['ns_mask_0', 'ns_mask_1']);
    expect(masked.masks.every((m) => m.fillInput === null)).toBe(true);
    const graph = decodeModel(masked.bytes).graph!;
    // c2 fed a Relu and an Add: both now read the masked tensor; only the mask's Mul reads c2 itself.
    const readers = (name: string) =>
      (graph.node ?? []).filter((n) => (n.input ?? []).includes(name)).map((n) => n.name);
    expect(readers('c2')).toEqual(['ns_mask_mul_1']);
    expect(readers(masked.masks[1]!.maskedTensor)).toEqual(['relu2', 'add']);
    expect(readers('r1')).toEqual(['ns_mask_mul_0']);
    expect(readers(masked.masks[0]!.maskedTensor)).toEqual(['conv2']);

    const plain = await createSession(bytes);
    const edited = await createSession(masked.bytes);
    const reference = data((await plain.run({ image })).scores);
    const out = data((await edited.run({ image, ns_mask_0: ones(2, 4), ns_mask_1: ones(2, 2) })).scores);
    expect(maxAbsDiff(out, reference)).toBe(0);
    await Promise.all([plain.release(), edited.release()]);
  });

  it('an ablated channel is exactly zero downstream, per batch row, and equals removing its weights', async () => {
    const masked = withChannelMasks(bytes, [{ tensor: 'r1', channels: 4 }]);
    const session = await createSession(withExtraOutputs(masked.bytes, ['r1', masked.masks[0]!.maskedTensor]));
    const out = await session.run({ image, ns_mask_0: mask(2, 4, { 0: [2], 1: [0, 3] }) });
    const seen = out[masked.masks[0]!.maskedTensor];
    for (const [b, c] of [
      [0, 2],
      [1, 0],
      [1, 3],
    ] as const) {
      expect(channel(out.r1, b, c).some((v) => v !== 0)).toBe(true); // the unmasked tensor is untouched
      expect(channel(seen, b, c).every((v) => v === 0)).toBe(true);
    }
    expect(channel(seen, 0, 1)).toEqual(channel(out.r1, 0, 1));

    // Independent check: zeroing input channel 2 of conv2's weights gives the same scores for row 0.
    const w2 = (i: number) => (i % 3) - 1;
    const reference = buildModel({
      inputs: [valueInfo('image', ['N', 3, 8, 8])],
      outputs: [valueInfo('scores', ['N', 2])],
      initializers: [
        floatInitializer('w1', [4, 3, 3, 3], (i) => ((i % 7) - 3) / 10),
        floatInitializer('b1', [4]),
        floatInitializer('w2', [2, 4, 1, 1], (i) => (i % 4 === 2 ? 0 : w2(i))),
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
    const plain = await createSession(reference);
    const expected = data((await plain.run({ image })).scores).slice(0, 2);
    expect(maxAbsDiff(data(out.scores).slice(0, 2), expected)).toBeLessThan(1e-6);
    await Promise.all([plain.release(), session.release()]);
  });

  it('mean mode fills ablated channels with the fed value and leaves the others alone', async () => {
    const masked = withChannelMasks(bytes, [{ tensor: 'r1', channels: 4 }], { fill: true });
    expect(masked.masks[0]!.fillInput).toBe('ns_fill_0');
    const session = await createSession(withExtraOutputs(masked.bytes, ['r1', masked.masks[0]!.maskedTensor]));
    const fill = new ort.Tensor('float32', Float32Array.from([0.25, -1.5, 3, 0.125]), [1, 4, 1, 1]);
    const out = await session.run({ image, ns_mask_0: mask(2, 4, { 0: [1, 3] }), ns_fill_0: fill });
    const seen = out[masked.masks[0]!.maskedTensor];
    expect(channel(seen, 0, 1).every((v) => v === -1.5)).toBe(true);
    expect(channel(seen, 0, 3).every((v) => v === 0.125)).toBe(true);
    for (const [b, c] of [
      [0, 0],
      [0, 2],
      [1, 1],
      [1, 3],
    ] as const) {
      expect(channel(seen, b, c)).toEqual(channel(out.r1, b, c));
    }
    await session.release();
  });

  it('refuses unknown tensors, repeats, and bytes with appended outputs', () => {
    expect(() => withChannelMasks(bytes, [{ tensor: 'nope', channels: 4 }])).toThrow(UserError);
    expect(() =>
      withChannelMasks(bytes, [
        { tensor: 'r1', channels: 4 },
        { tensor: 'r1', channels: 4 },
      ]),
    ).toThrow(/masked twice/);
    expect(() => withChannelMasks(withExtraOutputs(bytes, ['r1']), [{ tensor: 'r1', channels: 4 }])).toThrow(
      /original model bytes/,
    );
  });
});

describe('AblationRunner on a tiny model', () => {
  it('gives each variant what a session with that single mask gives, whatever the batch size', async () => {
    const targets = [
      { tensor: 'r1', channels: 4 },
      { tensor: 'c2', channels: 2 },
    ];
    const runner = await AblationRunner.create(tinyConvModel(), targets, { inputName: 'image', outputName: 'scores' });
    const input = {
      data: data(testInput([1, 3, 8, 8], 0.3)),
      layout: 'NCHW' as const,
      channels: 3,
      height: 8,
      width: 8,
    };
    const variants = [
      { target: null, channels: [] },
      { target: 0, channels: [1, 2] },
      { target: 1, channels: [0] },
      { target: 0, channels: [3] },
      { target: 1, channels: [0, 1] },
    ];
    const batched = await runner.run(input, variants, 3);
    const single = await runner.run(input, variants, 1);
    const shared = await AblationRunner.create(tinyConvModel(), targets, {
      inputName: 'image',
      outputName: 'scores',
      sessions: 'shared',
    });
    const together = await shared.run(input, variants, 2);
    expect(runner.baselines.every((b) => b !== null && maxAbsDiff(b, batched[0]!) === 0)).toBe(true);

    const masked = withChannelMasks(tinyConvModel(), targets);
    const session = await createSession(masked.bytes);
    const image = new ort.Tensor('float32', input.data, [1, 3, 8, 8]);
    for (const [i, v] of variants.entries()) {
      const feeds = {
        image,
        ns_mask_0: mask(1, 4, v.target === 0 ? { 0: v.channels } : {}),
        ns_mask_1: mask(1, 2, v.target === 1 ? { 0: v.channels } : {}),
      };
      const expected = data((await session.run(feeds)).scores);
      expect(maxAbsDiff(batched[i]!, expected)).toBeLessThan(1e-6);
      expect(maxAbsDiff(single[i]!, expected)).toBeLessThan(1e-6);
      expect(maxAbsDiff(together[i]!, expected)).toBeLessThan(1e-6);
    }
    await session.release();
  });

  it('returns an inner tensor (the logits before a final Softmax) when asked for it', async () => {
    const bytes = tinyClassifier([{ op: 'Softmax', inputs: ['logits'], outputs: ['out'], int: { axis: 1 } }], 'out');
    const runner = await AblationRunner.create(bytes, [{ tensor: 'r', channels: 5 }], {
      inputName: 'image',
      outputName: 'logits',
    });
    const input = {
      data: data(testInput([1, 3, 8, 8], 0.7)),
      layout: 'NCHW' as const,
      channels: 3,
      height: 8,
      width: 8,
    };
    const [clean, ablated] = await runner.run(
      input,
      [
        { target: null, channels: [] },
        { target: 0, channels: [0, 1, 2, 3, 4] },
      ],
      2,
    );
    const plain = await createSession(withExtraOutputs(bytes, ['logits']));
    const expected = data((await plain.run({ image: new ort.Tensor('float32', input.data, [1, 3, 8, 8]) })).logits);
    await plain.release();
    expect(maxAbsDiff(clean!, expected)).toBeLessThan(1e-6);
    // Every channel of the ReLU ablated: the logits, its global average, are all 0.
    expect(Array.from(ablated!)).toEqual([0, 0, 0, 0, 0]);
    await runner.release();
  });

  it('rejects channels outside the layer', async () => {
    const runner = await AblationRunner.create(tinyConvModel(), [{ tensor: 'r1', channels: 4 }], {
      inputName: 'image',
      outputName: 'scores',
    });
    const input = { data: new Float32Array(3 * 64), layout: 'NCHW' as const, channels: 3, height: 8, width: 8 };
    await expect(runner.run(input, [{ target: 0, channels: [4] }], 2)).rejects.toThrow(UserError);
    await runner.release();
  });
});

describe('channel masks on the embedded default model', () => {
  it('an ablated channel is zero where the next conv reads it; all-ones leaves the logits unchanged to 1e-6', async () => {
    const model = await loadModel(defaultModelPath);
    const layers = await layerShapes(model, recordableLayers(model), [1, 1, 28, 28]);
    const masked = withChannelMasks(
      model.bytes,
      layers.map((l) => ({ tensor: l.layer, channels: l.channels })),
    );
    const target = layers.findIndex((l) => l.layer === '/relu2_1/Relu_output_0');
    const m = masked.masks[target]!;
    const input = testInput([2, 1, 28, 28]);
    const plain = await createSession(model.bytes, { threads: 2 });
    const reference = data((await plain.run({ [model.inputName]: input }))[model.outputName]);
    await plain.release();

    const session = await createSession(withExtraOutputs(masked.bytes, [m.maskedTensor, m.tensor]), { threads: 2 });
    const run = (off: number[]) => {
      const feeds: Record<string, ort.Tensor> = { [model.inputName]: input };
      for (const [i, mk] of masked.masks.entries()) {
        feeds[mk.maskInput] = i === target ? mask(2, mk.channels, { 1: off }) : ones(2, mk.channels);
      }
      return session.run(feeds);
    };
    // Ablate three channels that are active in row 1 (a dead channel would prove nothing).
    const probe = await run([]);
    const active = Array.from({ length: m.channels }, (_, c) => c).filter((c) =>
      channel(probe[m.tensor], 1, c).some((v) => v > 0),
    );
    const off = [active[0]!, active[3]!, active[6]!];
    const out = await run(off);
    await session.release();
    const logits = data(out[model.outputName]);
    const perRow = reference.length / 2;
    expect(maxAbsDiff(logits.slice(0, perRow), reference.slice(0, perRow))).toBeLessThan(1e-6);
    for (const c of off) expect(channel(out[m.maskedTensor], 1, c).every((v) => v === 0)).toBe(true);
    const kept = active.find((c) => !off.includes(c))!;
    expect(channel(out[m.maskedTensor], 1, kept)).toEqual(channel(out[m.tensor], 1, kept));
    expect(maxAbsDiff(logits.slice(perRow), reference.slice(perRow))).toBeGreaterThan(1e-3);
    const graph = decodeModel(masked.bytes).graph!;
    const consumers = (graph.node ?? []).filter((n) => (n.input ?? []).includes(m.maskedTensor));
    expect(consumers.map((n) => n.name)).toEqual(['/conv2_2/Conv']);
  });
});

describe('channel masks on the shared models', requires('shared'), () => {
  it('squeezenet: an ablated channel is zero in its consumers; all-ones leaves the logits unchanged to 1e-6', async () => {
    const model = await loadModel(squeezenetPath);
    const layers = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
    const masked = withChannelMasks(
      model.bytes,
      layers.map((l) => ({ tensor: l.layer, channels: l.channels })),
    );
    const squeeze = layers.findIndex((l) => l.layer.includes('features.6/squeeze_activation'));
    expect(squeeze).toBeGreaterThan(0);
    const m = masked.masks[squeeze]!;
    const input = testInput([2, 3, 224, 224]);
    const plain = await createSession(model.bytes, { threads: 2 });
    const reference = data((await plain.run({ [model.inputName]: input }))[model.outputName]);
    await plain.release();

    const session = await createSession(withExtraOutputs(masked.bytes, [m.maskedTensor, m.tensor]), { threads: 2 });
    const feeds: Record<string, ort.Tensor> = { [model.inputName]: input };
    for (const [i, mk] of masked.masks.entries()) {
      feeds[mk.maskInput] = i === squeeze ? mask(2, mk.channels, { 1: [0, 5, 7] }) : ones(2, mk.channels);
    }
    const out = await session.run(feeds);
    await session.release();
    const logits = data(out[model.outputName]);
    const perRow = reference.length / 2;
    // Row 0 has every mask ones: the logits of the original model, to 1e-6.
    expect(maxAbsDiff(logits.slice(0, perRow), reference.slice(0, perRow))).toBeLessThan(1e-6);
    // Row 1: channels 0, 5, 7 of the squeeze layer are exactly zero where the expand convs read them...
    for (const c of [0, 5, 7]) {
      expect(channel(out[m.tensor], 1, c).some((v) => v > 0)).toBe(true);
      expect(channel(out[m.maskedTensor], 1, c).every((v) => v === 0)).toBe(true);
    }
    // ...the other channels pass unchanged, and the prediction moves.
    expect(channel(out[m.maskedTensor], 1, 1)).toEqual(channel(out[m.tensor], 1, 1));
    expect(maxAbsDiff(logits.slice(perRow), reference.slice(perRow))).toBeGreaterThan(1e-3);
    const graph = decodeModel(masked.bytes).graph!;
    const consumers = (graph.node ?? []).filter((n) => (n.input ?? []).includes(m.maskedTensor));
    expect(consumers.map((n) => n.opType)).toEqual(['Conv', 'Conv']);
  });

  it('mobilenetv2 (14 MB) round-trips through protobufjs: same initializers, logits unchanged with all-ones masks', async () => {
    const model = await loadModel(mobilenetPath);
    const layers = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
    const masked = withChannelMasks(
      model.bytes,
      layers.map((l) => ({ tensor: l.layer, channels: l.channels })),
      { fill: true },
    );
    const before = decodeModel(model.bytes).graph!;
    const after = decodeModel(masked.bytes).graph!;
    const raw = (g: typeof before) => new Map((g.initializer ?? []).map((t) => [t.name, Buffer.from(t.rawData ?? [])]));
    const [a, b] = [raw(before), raw(after)];
    for (const [name, bytes] of a) expect(b.get(name)?.equals(bytes)).toBe(true);
    expect(after.node?.length).toBe((before.node?.length ?? 0) + 4 * layers.length);

    const input = testInput([1, 3, 224, 224]);
    const plain = await createSession(model.bytes, { threads: 2 });
    const reference = data((await plain.run({ [model.inputName]: input }))[model.outputName]);
    await plain.release();
    const session = await createSession(masked.bytes, { threads: 2 });
    const feeds: Record<string, ort.Tensor> = { [model.inputName]: input };
    for (const mk of masked.masks) {
      feeds[mk.maskInput] = ones(1, mk.channels);
      feeds[mk.fillInput!] = new ort.Tensor('float32', new Float32Array(mk.channels).fill(7), [1, mk.channels, 1, 1]);
    }
    const logits = data((await session.run(feeds))[model.outputName]);
    await session.release();
    // onnxruntime fuses the edited graph differently (a Mul now sits between a Conv and its residual Add), so
    // float32 sums are reassociated: equal to 1e-6 relative to the logits' scale.
    const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxAbsDiff(logits, reference)).toBeLessThanOrEqual(1e-6 * scale);
  });
});
