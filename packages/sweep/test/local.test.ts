import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnValues, readParquetFile } from '@neuronscope/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fashionMnist, requires } from '../../../test/support/env.js';
import { cli, FASHION_LABELS, spawnCli, until, writeTinyModel } from './fixtures.js';
import { type MiniIdx, writeMiniIdx } from './idx.js';

const TABLES = ['neurons', 'images', 'aggregate', 'selection', 'selectivity'];
const bytes = (out: string, table: string) => readFileSync(join(out, 'sweep', `${table}.parquet`));
const partsDone = async (out: string) =>
  (await readdir(join(out, 'sweep', 'parts')).catch(() => [] as string[])).filter((f) => f.endsWith('.parquet')).length;

describe('a local sweep over a small IDX file of 30 images', () => {
  let dir: string;
  let mini: MiniIdx;
  let model: string[];
  let common: string[];
  let reference: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-sweep-'));
    model = await writeTinyModel(dir);
    mini = await writeMiniIdx(dir);
    common = ['--source', mini.images, ...model, '-n', '8', '--top-k', '3', '-q'];
    reference = join(dir, 'reference');
    const r = cli(['sweep', ...common, '--out', reference, '--cache-dir', join(dir, 'cache-ref')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('writes every image exactly once, sorted, with metrics, selections and the clean activation', async () => {
    const images = await readParquetFile(join(reference, 'sweep', 'images.parquet'));
    const names = columnValues<string>(images, 'image');
    expect(names).toHaveLength(30);
    expect(new Set(names).size).toBe(30);
    expect([...names]).toEqual([...names].sort());
    expect(names[0]).toBe('mini:00');
    expect(columnValues<string>(images, 'status').every((s) => s === 'ok')).toBe(true);
    // The labels file beside the images.
    expect(Array.from(columnValues<number>(images, 'label'))).toEqual(mini.labels);
    expect(columnValues<string>(images, 'label_name')[9]).toBe(FASHION_LABELS[mini.labels[9]!]);
    const neurons = await readParquetFile(join(reference, 'sweep', 'neurons.parquet'));
    // conv1 (8) + conv2 (16) + conv3 (10) channels per image.
    expect(neurons.numRows).toBe(30 * 34);
    const image = columnValues<string>(neurons, 'image');
    const layerIndex = columnValues<number>(neurons, 'layer_index');
    const channel = columnValues<number>(neurons, 'channel');
    for (let i = 1; i < neurons.numRows; i++) {
      const order =
        image[i - 1]! < image[i]! ||
        (image[i - 1] === image[i] &&
          (layerIndex[i - 1]! < layerIndex[i]! ||
            (layerIndex[i - 1] === layerIndex[i] && channel[i - 1]! < channel[i]!)));
      expect(order).toBe(true);
    }
    const selected = columnValues<boolean>(neurons, 'selected_correlation').filter(Boolean).length;
    expect(selected).toBe(30 * 3 * 3);
    const aggregate = await readParquetFile(join(reference, 'sweep', 'aggregate.parquet'));
    expect(columnValues<string>(aggregate, 'layer').at(-1)).toBe('(all)');
    const report = await readFile(join(reference, 'sweep', 'report.html'), 'utf8');
    expect(report).toContain('Are precision-selected neurons more class-selective');
  });

  it('resumes after kill -9 at several points and ends with byte-identical tables', async () => {
    const out = join(dir, 'resumed');
    const args = ['sweep', ...common, '--out', out, '--cache-dir', join(dir, 'cache-resume')];
    // Slow each image down so that the kills land in the middle of the sweep.
    for (const atParts of [3, 11, 22]) {
      const run = spawnCli(args, { NEURONSCOPE_SWEEP_DELAY_MS: '60' });
      await until(async () => (await partsDone(out)) >= atParts, 60_000, `${atParts} parts`);
      run.child.kill('SIGKILL');
      await run.exited;
    }
    expect(await partsDone(out)).toBeLessThan(30);
    // Once more, killed while it compacts or aggregates (or just after).
    const late = spawnCli(args);
    await until(async () => (await partsDone(out)) >= 30, 60_000, 'all parts');
    late.child.kill('SIGKILL');
    await late.exited;
    const r = cli(args);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const t of TABLES) expect(bytes(out, t).equals(bytes(reference, t)), t).toBe(true);
  });

  it('reuses the cache and done images, and processes only new ones', async () => {
    const out = join(dir, 'grown');
    const first = cli(
      ['sweep', ...common, '--limit', '20', '--out', out, '--cache-dir', join(dir, 'cache-ref')].filter(
        (a) => a !== '-q',
      ),
    );
    expect(first.status).toBe(0);
    expect(first.stderr).toContain('analysed 20 images (20 from the cache');
    const second = cli(
      ['sweep', ...common, '--out', out, '--cache-dir', join(dir, 'cache-other')].filter((a) => a !== '-q'),
    );
    expect(second.status).toBe(0);
    expect(second.stderr).toContain('20 of 30 images already done, 10 to go');
    expect(second.stderr).toContain('analysed 10 images (0 from the cache');
    for (const t of TABLES) expect(bytes(out, t).equals(bytes(reference, t)), t).toBe(true);
  });

  it('records a bad image with its error and goes on', async () => {
    const folder = join(dir, 'folder');
    await mkdir(join(folder, 'sub'), { recursive: true });
    const pngs = join(reference, 'sweep', 'images', 'mini');
    await copyFile(join(pngs, '00.png'), join(folder, 'a.png'));
    await copyFile(join(pngs, '01.png'), join(folder, 'sub', 'b.png'));
    await writeFile(join(folder, 'broken.png'), 'not an image');
    const out = join(dir, 'bad');
    const r = cli(['sweep', '--source', folder, ...model, '-n', '8', '--top-k', '3', '--out', out, '--json']);
    // Finished, with an image it could not analyse: exit code 4 (not 0: a batch job must not take it for success).
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('1 of 3 images could not be analysed (1 errors, 0 failed)');
    const summary = JSON.parse(r.stdout);
    expect(summary.counts).toMatchObject({ images: 3, ok: 2, error: 1 });
    const images = await readParquetFile(join(out, 'sweep', 'images.parquet'));
    expect(columnValues<string>(images, 'image')).toEqual(['a.png', 'broken.png', 'sub/b.png']);
    expect(columnValues<string>(images, 'status')).toEqual(['ok', 'error', 'ok']);
    expect(columnValues<string>(images, 'error')[1]).toMatch(/broken\.png is not an image/);
  });

  it('reads a manifest and a YAML configuration, with flags overriding it', async () => {
    const pngs = join(reference, 'sweep', 'images', 'mini');
    await writeFile(
      join(dir, 'list.csv'),
      `path,label\n${join(pngs, '00.png')},Ankle boot\n${join(pngs, '02.png')},1\n`,
    );
    const [, modelPath, , labelsPath] = model;
    await writeFile(
      join(dir, 'sweep.yaml'),
      [
        'source: list.csv',
        `model: ${modelPath}`,
        `labels: ${labelsPath}`,
        'preprocess: { preset: none, grayscale: true, size: 28 }',
        'perturbation: { family: paper, samples: 5, seed: 3 }',
        'metrics: { topK: 2 }',
        'target: label',
        'out: out-yaml',
      ].join('\n'),
    );
    const r = cli(['sweep', join(dir, 'sweep.yaml'), '-n', '6', '--json']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.perturbation).toMatchObject({ family: 'paper', samples: 6, seed: 3 });
    expect(summary.stats.topK).toBe(2);
    const images = await readParquetFile(join(dir, 'out-yaml', 'sweep', 'images.parquet'));
    expect(Array.from(columnValues<number>(images, 'target'))).toEqual([9, 1]);
    const bad = cli(['sweep', '--source', join(dir, 'list.csv'), ...model, '--top-k', '99', '--out', join(dir, 'x')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/top-k 99 is larger than layer/);
    await writeFile(join(dir, 'broken.yaml'), 'source: list.csv\nsamples: 5\n');
    const invalid = cli(['sweep', join(dir, 'broken.yaml')]);
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(/invalid sweep configuration/);
  });
});

describe('a sweep of Fashion-MNIST with the embedded default model', requires('fashion-mnist'), () => {
  it('names the Fashion-MNIST classes and mostly predicts the labels', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ns-sweep-default-'));
    const r = cli([
      'sweep',
      '--source',
      fashionMnist.testImages,
      '--limit',
      '10',
      '-n',
      '5',
      '--out',
      out,
      '--no-cache',
      '--json',
    ]);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.counts).toMatchObject({ images: 10, ok: 10, labelled: 10 });
    expect(summary.accuracy).toBeGreaterThanOrEqual(0.7);
    const images = await readParquetFile(join(out, 'sweep', 'images.parquet'));
    expect(columnValues<string>(images, 'label_name')[0]).toBe('Ankle boot');
  });
});
