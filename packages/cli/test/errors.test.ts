import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyConvModel } from '../../model/test/fixtures.js';
import { cli, DEFAULT_LABELS, DEFAULT_MODEL, sample } from './helpers.js';

/** A valid ONNX model whose only input is 2-D: a classifier neuronscope cannot use. */
function matMulModel(): Uint8Array {
  const tensorType = (dims: number[]) => ({
    tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ opType: 'MatMul', input: ['x', 'w'], output: ['y'] }],
      initializer: [{ name: 'w', dims: [4, 2], dataType: 1, floatData: [1, 2, 3, 4, 5, 6, 7, 8] }],
      input: [{ name: 'x', type: tensorType([1, 4]) }],
      output: [{ name: 'y', type: tensorType([1, 2]) }],
    },
  }).finish();
}

/** The contract on the embedded default model, and on tiny models written by the test: runs everywhere. */
describe('bad input: one-line error, non-zero exit, nothing written', () => {
  let tmp: string;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ns-errors-'));
    files.text = join(tmp, 'notes.png');
    await writeFile(files.text, 'this is not an image\n');
    files.truncated = join(tmp, 'truncated.jpg');
    const jpeg = await sharp(sample('3-dress.png')).resize(224, 224).jpeg({ quality: 90 }).toBuffer();
    await writeFile(files.truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    files.badOnnx = join(tmp, 'model.onnx');
    await writeFile(files.badOnnx, 'not a protobuf at all');
    files.matmul = join(tmp, 'matmul.onnx');
    await writeFile(files.matmul, matMulModel());
    files.rgb = join(tmp, 'rgb.onnx');
    await writeFile(files.rgb, tinyConvModel());
    files.image = join(tmp, 'coat.png');
    await copyFile(sample('4-coat.png'), files.image);
  });

  const base = () => [
    'explain',
    '--model',
    DEFAULT_MODEL,
    '--labels',
    DEFAULT_LABELS,
    '--image',
    files.image!,
    '--samples',
    '4',
    '--no-cache',
  ];
  const cases: [string, () => string[], RegExp][] = [
    [
      'missing model file',
      () => ['explain', '--model', join(tmp, 'nope.onnx'), '--image', files.image!],
      /not found: .*nope\.onnx/,
    ],
    [
      'missing image file',
      () => ['explain', '--model', DEFAULT_MODEL, '--image', join(tmp, 'nope.jpg')],
      /not found: .*nope\.jpg/,
    ],
    ['not an image', () => [...base(), '--image', files.text!], /not an image/i],
    ['truncated image', () => [...base(), '--image', files.truncated!], /truncated|corrupt|premature/i],
    ['invalid ONNX', () => ['explain', '--model', files.badOnnx!, '--image', files.image!], /not a valid ONNX/i],
    ['model without a 4-D float input', () => ['explain', '--model', files.matmul!, '--image', files.image!], /4-D/],
    // A 3-channel model fed one grey channel.
    [
      'channel-count mismatch',
      () => ['explain', '--model', files.rgb!, '--image', files.image!, '--grayscale'],
      /channel/i,
    ],
    ['unknown layer', () => [...base(), '--layers', 'no_such_layer'], /unknown layer 'no_such_layer'/],
    ['unknown target label', () => [...base(), '--target', 'flying saucer'], /--target: unknown class 'flying saucer'/],
    ['N < 3', () => [...base(), '--samples', '2'], /at least 3/],
    ['top-k larger than a layer', () => [...base(), '--layers', '0', '--top-k', '17'], /top-k 17 .*16 channels/],
  ];

  it.each(cases)('%s', (_name, args, message) => {
    const out = join(tmp, `out-${Math.random().toString(36).slice(2)}`);
    const r = cli([...args(), '--out', out]);
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^neuronscope: error: /);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out), 'no output directory for a failed run').toBe(false);
  });

  it('stage commands name the missing earlier stage', () => {
    const r = cli(['stats', '--out', join(tmp, 'empty')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/run\.json not found: run 'neuronscope perturb/);
  });

  it('--help works on every subcommand', () => {
    for (const sub of ['layers', 'perturb', 'extract', 'stats', 'report', 'explain']) {
      const r = cli([sub, '--help']);
      expect(r.status, sub).toBe(0);
      expect(r.stdout).toMatch(/Usage: neuronscope/);
    }
  });
});
