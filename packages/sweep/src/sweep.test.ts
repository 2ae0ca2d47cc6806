import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { idx } from '../test/idx.js';
import { loadSweepConfig } from './config.js';
import { idxStem, readIdxImages, readIdxLabels } from './idx.js';
import { encodePng } from './png.js';
import { globToRegExp, listItems, resolveSource } from './source.js';
import { aurocByGroup, averageRanks, bootstrapMean } from './stats.js';

describe('IDX files', () => {
  it('reads images and labels, gzipped or not, and names them by index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-idx-'));
    const pixels = Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 10);
    await writeFile(join(dir, 'toy-images-idx3-ubyte.gz'), gzipSync(idx(2051, [3, 2, 2], pixels)));
    await writeFile(join(dir, 'toy-labels-idx1-ubyte.gz'), gzipSync(idx(2049, [3], [7, 1, 4])));
    const images = await readIdxImages(join(dir, 'toy-images-idx3-ubyte.gz'));
    expect([images.count, images.rows, images.cols]).toEqual([3, 2, 2]);
    expect(Array.from(images.image(1))).toEqual([40, 50, 60, 70]);
    expect(Array.from(await readIdxLabels(join(dir, 'toy-labels-idx1-ubyte.gz')))).toEqual([7, 1, 4]);
    expect(idxStem('/x/t10k-images-idx3-ubyte.gz')).toBe('t10k');
    const items = await listItems(await resolveSource(join(dir, 'toy-images-idx3-ubyte.gz')));
    expect(items.map((i) => [i.image, i.label])).toEqual([
      ['toy:0', '7'],
      ['toy:1', '1'],
      ['toy:2', '4'],
    ]);
    await writeFile(join(dir, 'bad-images-idx3-ubyte'), idx(2049, [3], [1, 2, 3]));
    await expect(readIdxImages(join(dir, 'bad-images-idx3-ubyte'))).rejects.toThrow(/not an IDX file with magic 2051/);
    await writeFile(join(dir, 'short-images-idx3-ubyte'), idx(2051, [3, 2, 2], [1, 2]));
    await expect(readIdxImages(join(dir, 'short-images-idx3-ubyte'))).rejects.toThrow(/truncated/);
  });

  it('writes lossless, deterministic PNGs', () => {
    const pixels = Uint8Array.from({ length: 28 * 28 }, (_, i) => i % 256);
    const a = encodePng(pixels, 28, 28, 1);
    expect(a.subarray(1, 4).toString()).toBe('PNG');
    expect(encodePng(pixels, 28, 28, 1).equals(a)).toBe(true);
  });
});

describe('sources', () => {
  it('matches globs', () => {
    expect(globToRegExp('**/*.jpg').test('a/b/c.jpg')).toBe(true);
    expect(globToRegExp('**/*.jpg').test('c.jpg')).toBe(true);
    expect(globToRegExp('*.jpg').test('a/c.jpg')).toBe(false);
    expect(globToRegExp('img-?.{png,jpg}').test('img-1.png')).toBe(true);
    expect(globToRegExp('img-[0-4].png').test('img-7.png')).toBe(false);
  });

  it('lists folders, globs and manifests sorted by name, with labels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-src-'));
    for (const f of ['b.png', 'a.jpg', 'notes.txt', '.hidden.png']) await writeFile(join(dir, f), 'x');
    expect((await listItems(await resolveSource(dir))).map((i) => i.image)).toEqual(['a.jpg', 'b.png']);
    expect((await listItems(await resolveSource(join(dir, '*.png')))).map((i) => i.image)).toEqual(['b.png']);
    await writeFile(join(dir, 'm.csv'), 'path,label\n"b.png",cat\na.jpg,\n');
    const csv = await listItems(await resolveSource(join(dir, 'm.csv')));
    expect(csv.map((i) => [i.image, i.label, i.path])).toEqual([
      ['a.jpg', null, join(dir, 'a.jpg')],
      ['b.png', 'cat', join(dir, 'b.png')],
    ]);
    await writeFile(join(dir, 'm.jsonl'), '{"path":"a.jpg","label":3}\n{"path":"a.jpg"}\n');
    await expect(listItems(await resolveSource(join(dir, 'm.jsonl')))).rejects.toThrow(/listed twice/);
    await expect(resolveSource(join(dir, 'weird.bin'))).rejects.toThrow(/cannot tell what kind of source/);
    const sliced = await listItems({ ...(await resolveSource(dir)), offset: 1, limit: 5 });
    expect(sliced.map((i) => i.image)).toEqual(['b.png']);
  });

  it('validates configuration files and resolves their paths against them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-cfg-'));
    await writeFile(join(dir, 'a.yaml'), 'source: { folder: imgs, limit: 3 }\nmodel: m.onnx\nmetrics: { topK: 2 }\n');
    const config = await loadSweepConfig(join(dir, 'a.yaml'));
    expect(config.source).toEqual({ folder: join(dir, 'imgs'), limit: 3 });
    expect(config.model).toBe(join(dir, 'm.onnx'));
    await writeFile(join(dir, 'b.json'), JSON.stringify({ source: { folder: 'a', glob: '*.png' } }));
    await expect(loadSweepConfig(join(dir, 'b.json'))).rejects.toThrow(/exactly one of folder, glob, manifest, idx/);
    await writeFile(join(dir, 'c.json'), JSON.stringify({ source: 'x', topk: 3 }));
    await expect(loadSweepConfig(join(dir, 'c.json'))).rejects.toThrow(/invalid sweep configuration/);
  });
});

describe('statistics', () => {
  it('ranks with ties and computes AUROC per group', () => {
    expect(Array.from(averageRanks([3, 1, 3, 2]))).toEqual([3.5, 1, 3.5, 2]);
    // Group 0 = {0.9, 0.8} all above group 1 = {0.1, 0.2}: AUROC 1 and 0. One tie across groups: half.
    const auroc = aurocByGroup([0.9, 0.1, 0.8, 0.2], Int32Array.from([0, 1, 0, 1]), 3);
    expect(Array.from(auroc.subarray(0, 2))).toEqual([1, 0]);
    expect(Number.isNaN(auroc[2]!)).toBe(true);
    expect(aurocByGroup([1, 1], Int32Array.from([0, 1]), 2)[0]).toBe(0.5);
  });

  it('gives deterministic bootstrap intervals around the mean', () => {
    const values = Array.from({ length: 200 }, (_, i) => Math.sin(i) * 0.1 + 0.6);
    const a = bootstrapMean(values, 1000, 7);
    expect(a).toEqual(bootstrapMean(values, 1000, 7));
    expect(a.low).toBeLessThan(a.mean);
    expect(a.high).toBeGreaterThan(a.mean);
    expect(a.high - a.low).toBeLessThan(0.05);
  });
});
