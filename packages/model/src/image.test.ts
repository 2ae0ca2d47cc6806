import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argmax, type Preprocessing, sha256, tensorDims, tensorOffset, UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { has, requires } from '../../../test/support/env.js';
import { imagesDir, mobilenetPath, sharedDir, squeezenetPath, tinyConvModel } from '../test/fixtures.js';
import { cmykToRgb, imageFromBytes, loadImage } from './image.js';
import { loadLabels } from './labels.js';
import { loadModel } from './load.js';
import { resolvePreprocessing } from './preprocess.js';
import { createSession } from './session.js';

/** Expects `promise` to reject with a one-line UserError whose message matches `pattern`. */
async function expectUserError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

/** The README's top-1 table: image file -> [squeezenet label, mobilenetv2 label]. */
function readmeTop1(): Map<string, [string, string]> {
  const table = new Map<string, [string, string]>();
  for (const line of readFileSync(`${sharedDir}models/README.md`, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | image | squeezenet1_1 | mobilenetv2_1.0_224 |  ->  ['', image, squeeze, mobile, '']
    if (cells.length === 5 && /\.(png|jpg)$/.test(cells[1]!)) table.set(cells[1]!, [cells[2]!, cells[3]!]);
  }
  return table;
}

/** The first of a label's comma-separated synonyms ("hotdog, hot dog, red hot" -> "hotdog"). */
const shortLabel = (label: string | undefined) => label?.split(',')[0]?.trim();

const prep = (overrides: Partial<Preprocessing> = {}): Preprocessing => ({
  preset: 'none',
  resizeShorter: null,
  size: [4, 6],
  scale: 255,
  mean: [0],
  std: [1],
  layout: 'NCHW',
  grayscale: false,
  channelOrder: 'RGB',
  ...overrides,
});

describe('top-1 on the shared images', requires('shared'), () => {
  // The suite's body runs while tests are collected, skipped or not.
  const expected = has('shared') ? readmeTop1() : new Map<string, [string, string]>();
  const images = has('shared') ? readdirSync(imagesDir).filter((f) => /\.(png|jpe?g)$/i.test(f)) : [];

  it('the README table covers every image', () => {
    expect(expected.size).toBe(12);
    expect([...images].sort()).toEqual([...expected.keys()].sort());
  });

  for (const [name, path, preset, labelsFile, column] of [
    ['squeezenet1_1', squeezenetPath, 'imagenet', 'imagenet_classes.txt', 0],
    ['mobilenetv2_1.0_224', mobilenetPath, 'inception', 'imagenet_classes_1001.txt', 1],
  ] as const) {
    it(`${name} with ${preset} preprocessing predicts the README's top-1 for every image`, async () => {
      const model = await loadModel(path);
      const labels = await loadLabels(`${sharedDir}models/${labelsFile}`);
      const p = resolvePreprocessing({ preset }, model);
      const session = await createSession(model.bytes, { threads: 2 });
      const predicted: Record<string, string | undefined> = {};
      for (const file of images) {
        const { tensor } = await loadImage(join(imagesDir, file), p);
        const out = await session.run({
          [model.inputName]: new ort.Tensor('float32', tensor.data, tensorDims(tensor)),
        });
        predicted[file] = shortLabel(labels[argmax(out[model.outputName]!.data as Float32Array)]);
      }
      await session.release();
      expect(predicted).toEqual(Object.fromEntries(images.map((f) => [f, expected.get(f)?.[column]])));
    });
  }

  it('reproduces Pillow bit for bit (decode, antialiased bilinear resize, centre crop, luma)', async () => {
    // SHA-256 of the 8-bit pixels Pillow 9.4 gives for torchvision's Resize(256) + CenterCrop(224) on
    // Image.open(f).convert('RGB') (or .convert('L')), and for a straight resize((200, 150), BILINEAR).
    // rocket.jpg carries an ICC profile that Pillow ignores, and so must we.
    const golden: [string, Partial<Preprocessing>, string][] = [
      ['grace_hopper.jpg', {}, 'e73a39a2abb8a38c87450939155604e0b559124734dbe1ca6698b85aab315e8d'],
      ['rocket.jpg', {}, 'c6bce0f2d78495b97598dedf9c8080687faad9211dd6ca691b52b20cc5696c56'],
      ['chelsea.png', {}, 'd2380d7104e4d7d5ba262b5731ac6b0fa74c50f04e93471053462f00c462c25f'],
      ['parrot.jpg', { grayscale: true }, 'acb27417319232a8bce20b2e10ffc626f73ee0bfe968e96dc50782865766bb42'],
      [
        'cat.png',
        { resizeShorter: null, size: [150, 200] },
        '0cb88220837cd7a9dbf500a0adb43318bcd5494c959b8a130cc745aaa5e9afd9',
      ],
    ];
    for (const [file, overrides, hash] of golden) {
      const p = prep({ resizeShorter: 256, size: [224, 224], layout: 'NHWC', ...overrides });
      const { tensor } = await loadImage(join(imagesDir, file), p);
      const bytes = Uint8Array.from(tensor.data, (v) => Math.round(v * 255));
      expect(`${file} ${sha256(bytes)}`).toBe(`${file} ${hash}`);
    }
  });

  it('reports the original size and hash, and places values identically in NHWC and NCHW', async () => {
    const model = await loadModel(squeezenetPath);
    const nchw = resolvePreprocessing({}, model);
    const a = await loadImage(join(imagesDir, 'parrot.jpg'), nchw);
    const b = await loadImage(join(imagesDir, 'parrot.jpg'), { ...nchw, layout: 'NHWC' });
    expect([a.width, a.height]).toEqual([512, 929]);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(tensorDims(b.tensor)).toEqual([1, 224, 224, 3]);
    let mismatches = 0;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 224; y++) {
        for (let x = 0; x < 224; x++) {
          if (a.tensor.data[tensorOffset(a.tensor, c, y, x)] !== b.tensor.data[tensorOffset(b.tensor, c, y, x)]) {
            mismatches++;
          }
        }
      }
    }
    expect(mismatches).toBe(0);
    // Not symmetric by accident: the two buffers differ as flat arrays.
    expect(a.tensor.data).not.toEqual(b.tensor.data);
  });
});

describe('loadImage on synthetic images', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-image-'));
  });

  /** A 6x4 RGB(A) PNG whose pixel (x, y) is (10x, 20y, 100[, alpha]). */
  async function writePng(name: string, channels: 3 | 4 = 3): Promise<string> {
    const pixels = Buffer.alloc(6 * 4 * channels);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 6; x++) {
        const i = (y * 6 + x) * channels;
        pixels.set(channels === 3 ? [10 * x, 20 * y, 100] : [10 * x, 20 * y, 100, 50], i);
      }
    }
    const path = join(dir, name);
    await sharp(pixels, { raw: { width: 6, height: 4, channels } })
      .png()
      .toFile(path);
    return path;
  }

  it('normalizes (v / scale - mean) / std per channel, dropping alpha', async () => {
    for (const channels of [3, 4] as const) {
      const path = await writePng(`rgb${channels}.png`, channels);
      const { tensor, width, height } = await loadImage(path, prep({ mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] }));
      expect([width, height, tensor.channels, tensor.height, tensor.width]).toEqual([6, 4, 3, 4, 6]);
      const at = (c: number, y: number, x: number) => tensor.data[tensorOffset(tensor, c, y, x)]!;
      expect(at(0, 2, 5)).toBeCloseTo((50 / 255 - 0.1) / 0.5, 5);
      expect(at(1, 3, 1)).toBeCloseTo((60 / 255 - 0.2) / 0.25, 5);
      expect(at(2, 0, 0)).toBeCloseTo((100 / 255 - 0.3) / 2, 5);
    }
  });

  it('BGR (the caffe preset) swaps red and blue: tensor channel 0 is blue, with mean[0] subtracted from it', async () => {
    const path = await writePng('bgr.png');
    const caffe = { scale: 1, mean: [103.939, 116.779, 123.68], std: [1] };
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const rgb = (await loadImage(path, prep({ ...caffe, layout }))).tensor;
      const bgr = (await loadImage(path, prep({ ...caffe, layout, channelOrder: 'BGR' }))).tensor;
      const at = (t: typeof rgb, c: number, y: number, x: number) => t.data[tensorOffset(t, c, y, x)]!;
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 6; x++) {
          // Pixel (x, y) is R = 10x, G = 20y, B = 100.
          expect(at(bgr, 0, y, x)).toBeCloseTo(100 - 103.939, 4);
          expect(at(bgr, 1, y, x)).toBeCloseTo(20 * y - 116.779, 4);
          expect(at(bgr, 2, y, x)).toBeCloseTo(10 * x - 123.68, 4);
          expect(at(rgb, 0, y, x)).toBeCloseTo(10 * x - 103.939, 4);
          expect(at(rgb, 2, y, x)).toBeCloseTo(100 - 123.68, 4);
        }
      }
    }
    // A grey model input has nothing to swap.
    const grey = (channelOrder: 'RGB' | 'BGR') => loadImage(path, prep({ grayscale: true, channelOrder }));
    expect((await grey('BGR')).tensor.data).toEqual((await grey('RGB')).tensor.data);
  });

  it('converts to grayscale when asked', async () => {
    const { tensor } = await loadImage(await writePng('gray.png'), prep({ grayscale: true, layout: 'NHWC' }));
    expect([tensor.channels, tensor.data.length]).toEqual([1, 24]);
    // Pixel (0, 0) is (0, 0, 100): a dark blue, so a small grey value.
    expect(tensor.data[0]).toBeGreaterThan(0);
    expect(tensor.data[0]).toBeLessThan(0.2);
  });

  it('resizes the shorter side then centre-crops', async () => {
    // 60x40: left half black, right half white. Shorter side 40 -> 20 gives 30x20; crop 20x20 keeps x in [5, 25).
    const pixels = Buffer.alloc(60 * 40 * 3);
    for (let y = 0; y < 40; y++) for (let x = 30; x < 60; x++) pixels.fill(255, (y * 60 + x) * 3, (y * 60 + x) * 3 + 3);
    const path = join(dir, 'halves.png');
    await sharp(pixels, { raw: { width: 60, height: 40, channels: 3 } })
      .png()
      .toFile(path);
    const { tensor, width, height } = await loadImage(path, prep({ resizeShorter: 20, size: [20, 20] }));
    expect([width, height, tensor.height, tensor.width]).toEqual([60, 40, 20, 20]);
    const at = (x: number) => tensor.data[tensorOffset(tensor, 0, 10, x)]!;
    expect(at(0)).toBe(0);
    expect(at(19)).toBe(1);
    expect(at(8)).toBe(0);
    expect(at(11)).toBe(1);
  });

  it('rejects a missing file', async () => {
    await expectUserError(loadImage(join(dir, 'nope.png'), prep()), /image file not found: .*nope\.png/);
  });

  it('rejects random bytes named .png, and a text file, as not an image', async () => {
    const random = join(dir, 'random.png');
    await writeFile(random, randomBytes(4096));
    await expectUserError(loadImage(random, prep()), /random\.png is not an image/);
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'hello\n');
    await expectUserError(loadImage(text, prep()), /notes\.jpg is not an image/);
  });

  it('rejects grayscale preprocessing for a 3-channel model', async () => {
    const path = join(dir, 'rgb.onnx');
    await writeFile(path, tinyConvModel());
    const model = await loadModel(path);
    expect(() => resolvePreprocessing({ grayscale: true }, model)).toThrow(UserError);
    expect(() => resolvePreprocessing({ grayscale: true }, model)).toThrow(
      /takes 3 input channels \(NCHW\) but grayscale preprocessing gives 1/,
    );
  });

  it('rejects a truncated JPEG (its first half)', async () => {
    const noise = Buffer.from(Array.from({ length: 200 * 200 * 3 }, (_, i) => (i * 7919) % 251));
    const jpg = await sharp(noise, { raw: { width: 200, height: 200, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const path = join(dir, 'half.jpg');
    await writeFile(path, jpg.subarray(0, jpg.length >> 1));
    await expectUserError(loadImage(path, prep()), /half\.jpg is a truncated or corrupt image \(.*premature end/i);
  });

  it('rejects a truncated PNG', async () => {
    const big = Buffer.alloc(200 * 200 * 3);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    const png = await sharp(big, { raw: { width: 200, height: 200, channels: 3 } })
      .png()
      .toBuffer();
    const path = join(dir, 'cut.png');
    await writeFile(path, png.subarray(0, png.length >> 1));
    await expectUserError(loadImage(path, prep()), /cut\.png is a truncated or corrupt image/);
  });
});

describe('CMYK images', () => {
  it("convert as Pillow's cmyk2rgb: (255 - K) - C (255 - K) / 255 in integers, no colour management", () => {
    // (250, 201, 7, 186): 255 - K = 69; C: 250 * 69 + 128 = 17378, (17378 >> 8 + 17378) >> 8 = 68, R = 69 - 68 = 1;
    // M: 201 * 69 + 128 = 13997 -> 54, G = 15; Y: 7 * 69 + 128 = 611 -> 2, B = 67. White and black too.
    const cmyk = Uint8Array.of(250, 201, 7, 186, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 0);
    expect([...cmykToRgb(cmyk, 4)]).toEqual([1, 15, 67, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
  });

  it('decode a CMYK JPEG through that conversion, not an ICC transform', async () => {
    const rgb = Buffer.from(Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) % 256));
    const jpeg = await sharp(rgb, { raw: { width: 8, height: 8, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const stored = await sharp(jpeg).toColourspace('cmyk').raw().toBuffer();
    const prep = resolvePreprocessing(
      { preset: 'none', size: [8, 8] },
      { path: 'x', inputDims: [1, 3, 8, 8], layout: 'NCHW' },
    );
    const image = await imageFromBytes(jpeg, 'cmyk.jpg', prep);
    const expected = cmykToRgb(stored, 64);
    for (let i = 0; i < 64; i++) {
      for (let c = 0; c < 3; c++) expect(image.tensor.data[c * 64 + i]).toBeCloseTo(expected[3 * i + c]! / 255, 6);
    }
  });
});
