import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@neuronscope/core';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultModel, requires } from '../../../test/support/env.js';
import { mobilenetPath, sharedDir, tinyClassifier } from '../test/fixtures.js';
import { alignLabels, findClass, loadLabels, modelClassCount, resolveClass } from './labels.js';
import { loadModel } from './load.js';

const { onnx } = onnxProto;

/** Expects `fn` to throw a one-line UserError whose message matches `pattern`. */
function expectUserError(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

describe('loadLabels', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-labels-'));
  });

  it('reads one label per line, ignoring the trailing empty line and CRs', async () => {
    const path = join(dir, 'labels.txt');
    await writeFile(path, 'cat\r\ndog, puppy\r\n\r\n');
    expect(await loadLabels(path)).toEqual(['cat', 'dog, puppy']);
    await writeFile(path, '\n\n');
    await expect(loadLabels(path)).rejects.toThrow(/labels file .*labels\.txt is empty/);
  });

  it('rejects a missing file', async () => {
    const missing = loadLabels('/nonexistent/labels.txt');
    await expect(missing).rejects.toThrow(UserError);
    await expect(missing).rejects.toThrow(/^labels file not found: \/nonexistent\/labels\.txt$/);
  });

  it('decodes UTF-16 LE and BE with a byte-order mark, and drops a UTF-8 one', async () => {
    const text = 'café, coffee\r\nnaïve bayes\r\n';
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const be = Buffer.from(le);
    be.swap16();
    const utf8 = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]);
    for (const [name, bytes] of [
      ['le.txt', le],
      ['be.txt', be],
      ['bom8.txt', utf8],
    ] as const) {
      await writeFile(join(dir, name), bytes);
      expect(await loadLabels(join(dir, name)), name).toEqual(['café, coffee', 'naïve bayes']);
    }
  });

  it('rejects UTF-16 without a byte-order mark, and bytes that are not UTF-8', async () => {
    await writeFile(join(dir, 'nobom.txt'), Buffer.from('cat\ndog\n', 'utf16le'));
    await expect(loadLabels(join(dir, 'nobom.txt'))).rejects.toThrow(
      /^labels file .*nobom\.txt has NUL bytes: UTF-16 without a byte-order mark\? Save it as UTF-8$/,
    );
    await writeFile(join(dir, 'latin1.txt'), Buffer.from('caf\xe9\n', 'latin1'));
    await expect(loadLabels(join(dir, 'latin1.txt'))).rejects.toThrow(
      /^labels file .*latin1\.txt is not UTF-8 text \(nor UTF-16 with a byte-order mark\)$/,
    );
  });

  it("reads the default model's ten Fashion-MNIST classes", async () => {
    const labels = await loadLabels(defaultModel.labels);
    expect(labels).toHaveLength(10);
    expect([labels[0], labels[9]]).toEqual(['T-shirt/top', 'Ankle boot']);
  });

  it('reads the shared ImageNet labels', requires('shared'), async () => {
    const labels = await loadLabels(`${sharedDir}models/imagenet_classes.txt`);
    expect(labels).toHaveLength(1000);
    expect(labels[0]).toMatch(/^tench/);
    const with1001 = await loadLabels(`${sharedDir}models/imagenet_classes_1001.txt`);
    expect(with1001).toHaveLength(1001);
    expect(with1001[0]).toBe('background');
  });
});

describe('labels against the number of outputs', () => {
  const where = { labelsPath: 'l.txt', modelPath: 'm.onnx' };

  it('keeps a file with one line per output; with background, prepends it', () => {
    expect(alignLabels(['a', 'b', 'c'], 3, where)).toEqual(['a', 'b', 'c']);
    expect(alignLabels(['a', 'b'], 3, { ...where, background: true })).toEqual(['background', 'a', 'b']);
  });

  it('rejects other counts, naming both and how to declare (or drop) a background class', () => {
    expectUserError(
      () => alignLabels(['a', 'b'], 3, where),
      /^labels file l\.txt has 2 lines but model m\.onnx has 3 outputs; if output 0 is a background class the file leaves out, pass --background \(labelsOffset 1: line i names output i \+ 1\)$/,
    );
    expectUserError(
      () => alignLabels(['a'], 3, where),
      /^labels file l\.txt has 1 line but model m\.onnx has 3 outputs; give one line per output, or pass --background/,
    );
    expectUserError(
      () => alignLabels(['background', 'a', 'b'], 3, { ...where, background: true }),
      /has 3 lines but model m\.onnx has 3 outputs: with --background \(output 0 = background\) it needs 2; drop --background, the file already names output 0 \('background'\)$/,
    );
  });

  it('counts outputs from the static output shape, else by one inference', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-labels-'));
    const fixed = join(dir, 'fixed.onnx');
    await writeFile(fixed, tinyClassifier());
    expect(await modelClassCount(await loadModel(fixed), [1, 3, 8, 8])).toBe(5);
    // The same model with a symbolic class dim: onnxruntime tells.
    const proto = onnx.ModelProto.decode(tinyClassifier());
    proto.graph!.output![0]!.type!.tensorType!.shape!.dim![1] = { dimParam: 'classes' };
    const symbolic = join(dir, 'symbolic.onnx');
    await writeFile(symbolic, onnx.ModelProto.encode(proto).finish());
    const model = await loadModel(symbolic);
    expect(model.outputDims).toEqual([null, null]);
    expect(await modelClassCount(model, [2, 3, 8, 8])).toBe(5);
  });

  it('mobilenetv2: 1001 outputs need the 1000-line file with --background', requires('shared'), async () => {
    const model = await loadModel(mobilenetPath);
    const count = await modelClassCount(model, [1, 3, 224, 224]);
    expect(count).toBe(1001);
    const path = `${sharedDir}models/imagenet_classes.txt`;
    const labels = await loadLabels(path);
    expectUserError(
      () => alignLabels(labels, count, { labelsPath: path, modelPath: model.path }),
      /has 1000 lines but model .*mobilenetv2_1\.0_224\.onnx has 1001 outputs; if output 0 is a background class the file leaves out, pass --background/,
    );
    const aligned = alignLabels(labels, count, { labelsPath: path, modelPath: model.path, background: true });
    expect(aligned).toEqual(await loadLabels(`${sharedDir}models/imagenet_classes_1001.txt`));
    expect(aligned[89]).toBe('macaw');
  });
});

describe('finding a class from user text', () => {
  const labels = [
    'tench, Tinca tinca',
    'hotdog, hot dog, red hot',
    'crane',
    'crane',
    'maillot',
    'maillot, tank suit',
    'macaw',
    'hot pot, hotpot',
  ];

  it('takes an index, a whole line, or any synonym, case-insensitive and whitespace-trimmed', () => {
    for (const text of ['hotdog', 'hot dog', 'red hot', ' Red  Hot ', 'HOTDOG', 'hotdog, hot dog, red hot', '1']) {
      expect(resolveClass(text, labels), text).toBe(1);
    }
    expect(resolveClass('tinca tinca', labels)).toBe(0);
    // A whole line beats a synonym of another line.
    expect(resolveClass('maillot', labels)).toBe(4);
    expect(resolveClass('tank suit', labels)).toBe(5);
    expect(resolveClass('7', null, { classCount: 10 })).toBe(7);
  });

  it('rejects an unknown name with the closest labels, an ambiguous one, and an index out of range', () => {
    expectUserError(
      () => resolveClass('hotdgo', labels, { what: '--target' }),
      /^--target: unknown class 'hotdgo' \(not in the labels file\); did you mean 'hotdog' \(1\)\?$/,
    );
    expectUserError(() => resolveClass('hot', labels), /; did you mean 'hotdog' \(1\) or 'hotpot' \(7\)\?$/);
    expectUserError(
      () => resolveClass('crane', labels),
      /^'crane' names several classes \(2 'crane', 3 'crane'\); give the index$/,
    );
    expectUserError(() => resolveClass('8', labels), /^class 8 is out of range: the model has 8 classes \(0 to 7\)$/);
    expectUserError(() => resolveClass('macaw', null), /^'macaw' is a label, but no labels file was given$/);
    expectUserError(() => resolveClass('zebra', labels), /^unknown class 'zebra' \(not in the labels file\)$/);
  });

  it('has a non-throwing variant that returns null with the message and suggestions', () => {
    expect(findClass('red hot', labels)).toEqual({ index: 1, message: null, suggestions: [] });
    const miss = findClass('macow', labels);
    expect(miss.index).toBeNull();
    expect(miss.suggestions).toEqual(["'macaw' (6)"]);
    expect(miss.message).toMatch(/did you mean 'macaw' \(6\)\?$/);
  });

  it('on the ImageNet labels: hotdog, hot dog and red hot are 934', requires('shared'), async () => {
    const imagenet = await loadLabels(`${sharedDir}models/imagenet_classes.txt`);
    for (const text of ['hotdog', 'hot dog', 'red hot']) expect(resolveClass(text, imagenet)).toBe(934);
    expect(resolveClass('macaw', imagenet)).toBe(88);
    expect(findClass('hot-dog', imagenet).suggestions[0]).toMatch(/^'hot ?dog' \(934\)$/);
  });
});
