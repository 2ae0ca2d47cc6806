import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@neuronscope/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import {
  buildModel,
  defaultModelPath,
  floatInitializer,
  mobilenetPath,
  squeezenetPath,
  tinyConvModel,
  valueInfo,
} from '../test/fixtures.js';
import { guessLayout, loadModel } from './load.js';

/** Expects `promise` to reject with a UserError whose message matches `pattern`. */
async function expectUserError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

describe('loadModel on the shared models', requires('shared'), () => {
  it('reads squeezenet: input, dynamic batch, NCHW 3x224x224', async () => {
    const m = await loadModel(squeezenetPath);
    expect(m.inputName).toBe('input');
    expect(m.outputName).toBe('logits');
    expect([m.outputKind, m.logitsName]).toEqual(['logits', 'logits']);
    expect(m.externalFiles).toEqual([]);
    expect(m.inputDims).toEqual([null, 3, 224, 224]);
    expect(m.outputDims).toEqual([null, 1000]);
    expect(m.dynamicBatch).toBe(true);
    expect(m.batch).toBeNull();
    expect(m.layout).toBe('NCHW');
    expect([m.channels, m.height, m.width]).toEqual([3, 224, 224]);
    expect(m.sha256).toBe('c3f9c9665f1cfb1ea22807bd8df96858c980807c66401282532b36b1fbd6abcc');
    expect(m.graph.nodes.filter((n) => n.opType === 'Conv')).toHaveLength(26);
    const conv = m.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.attributes.kernel_shape).toEqual([3, 3]);
    expect(conv.attributes.strides).toEqual([2, 2]);
    expect(m.graph.initializers.get(conv.inputs[1]!)).toEqual([64, 3, 3, 3]);
  });

  it('reads mobilenetv2', async () => {
    const m = await loadModel(mobilenetPath);
    expect(m.inputName).toBe('input');
    expect(m.outputDims).toEqual([null, 1001]);
    expect(m.layout).toBe('NCHW');
    expect(m.dynamicBatch).toBe(true);
  });
});

describe('loadModel on the embedded default model', () => {
  it('reads fashion-vgg: input, dynamic batch, NCHW 1x28x28, five 3x3 convs, the hash of its model card', async () => {
    const m = await loadModel(defaultModelPath);
    expect([m.inputName, m.outputName]).toEqual(['input', 'logits']);
    expect(m.inputDims).toEqual([null, 1, 28, 28]);
    expect(m.outputDims).toEqual([null, 10]);
    expect(m.dynamicBatch).toBe(true);
    expect(m.batch).toBeNull();
    expect(m.layout).toBe('NCHW');
    expect([m.channels, m.height, m.width]).toEqual([1, 28, 28]);
    expect(m.sha256).toBe('59ce1835887e26b500c68fa716a0403d86aebcb06652dc1023abdf4ac8c72ef4');
    const convs = m.graph.nodes.filter((n) => n.opType === 'Conv');
    expect(convs).toHaveLength(5);
    expect(convs[0]!.attributes).toMatchObject({ kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
    expect(m.graph.initializers.get(convs[0]!.inputs[1]!)).toEqual([16, 1, 3, 3]);
  });
});

describe('loadModel on tiny models', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-model-'));
  });
  const write = async (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  };

  it('reads a single-Conv model with a fixed batch', async () => {
    const path = await write(
      'conv.onnx',
      buildModel({
        inputs: [valueInfo('x', [1, 1, 28, 28])],
        outputs: [valueInfo('y', [1, 2, 26, 26])],
        initializers: [floatInitializer('w', [2, 1, 3, 3])],
        nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'] }],
      }),
    );
    const m = await loadModel(path);
    expect(m.dynamicBatch).toBe(false);
    expect(m.batch).toBe(1);
    expect([m.layout, m.channels, m.height, m.width]).toEqual(['NCHW', 1, 28, 28]);
  });

  it('ignores graph inputs that are initializers', async () => {
    const path = await write(
      'init-input.onnx',
      buildModel({
        inputs: [valueInfo('x', ['N', 3, 8, 8]), valueInfo('w', [2, 3, 1, 1])],
        outputs: [valueInfo('y', ['N', 2, 8, 8])],
        initializers: [floatInitializer('w', [2, 3, 1, 1])],
        nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'] }],
      }),
    );
    expect((await loadModel(path)).inputName).toBe('x');
  });

  it('guesses layouts from dims', () => {
    expect(guessLayout([null, 3, 224, 224])).toBe('NCHW');
    expect(guessLayout([null, 224, 224, 3])).toBe('NHWC');
    expect(guessLayout([1, null, null, 1])).toBe('NHWC');
    expect(guessLayout([null, 8, 224, 224])).toBeNull();
    expect(guessLayout([null, null, null, null])).toBeNull();
  });

  it('rejects a missing file', async () => {
    await expectUserError(loadModel(join(dir, 'nope.onnx')), /model file not found: .*nope\.onnx/);
  });

  it('rejects a text file renamed .onnx', async () => {
    const path = await write('text.onnx', 'this is not a model\nreally not\n');
    await expectUserError(loadModel(path), /text\.onnx is not a valid ONNX model/);
  });

  it('rejects an empty file', async () => {
    const path = await write('empty.onnx', '');
    await expectUserError(loadModel(path), /empty\.onnx is not a valid ONNX model/);
  });

  it('rejects a model whose input is 2-D (MatMul)', async () => {
    const path = await write(
      'matmul.onnx',
      buildModel({
        inputs: [valueInfo('x', ['N', 4])],
        outputs: [valueInfo('y', ['N', 2])],
        initializers: [floatInitializer('w', [4, 2])],
        nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
      }),
    );
    await expectUserError(
      loadModel(path),
      /matmul\.onnx has input 'x' \(float32 \[\?, 4\]\); neuronscope needs exactly one 4-D float32 image input/,
    );
  });

  it('rejects a 4-D input that is not float32', async () => {
    const path = await write(
      'uint8.onnx',
      buildModel({
        inputs: [valueInfo('x', ['N', 3, 8, 8], 2)],
        outputs: [valueInfo('y', ['N', 3, 8, 8], 2)],
        nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      }),
    );
    await expectUserError(loadModel(path), /input 'x' \(uint8 \[\?, 3, 8, 8\]\)/);
  });

  it('rejects several 4-D float inputs, and an image input beside another input', async () => {
    const two = await write(
      'two.onnx',
      buildModel({
        inputs: [valueInfo('a', ['N', 3, 8, 8]), valueInfo('b', ['N', 3, 8, 8])],
        outputs: [valueInfo('y', ['N', 3, 8, 8])],
        nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      }),
    );
    await expectUserError(loadModel(two), /two\.onnx has several 4-D float32 inputs \('a', 'b'\)/);
    const mixed = await write(
      'mixed.onnx',
      buildModel({
        inputs: [valueInfo('a', ['N', 3, 8, 8]), valueInfo('s', [1])],
        outputs: [valueInfo('y', ['N', 3, 8, 8])],
        nodes: [{ op: 'Mul', inputs: ['a', 's'], outputs: ['y'] }],
      }),
    );
    await expectUserError(loadModel(mixed), /mixed\.onnx has inputs 'a' .*, 's' .*needs exactly one 4-D float32/);
  });

  it('rejects a model without inputs', async () => {
    const path = await write(
      'noinput.onnx',
      buildModel({
        inputs: [],
        outputs: [valueInfo('y', [1])],
        initializers: [floatInitializer('c', [1])],
        nodes: [{ op: 'Identity', inputs: ['c'], outputs: ['y'] }],
      }),
    );
    await expectUserError(loadModel(path), /noinput\.onnx has no input/);
  });

  it('reads the tiny conv fixture', async () => {
    const m = await loadModel(await write('tiny.onnx', tinyConvModel()));
    expect(m.inputName).toBe('image');
    expect(m.outputName).toBe('scores');
  });
});
