/**
 * One engine: for the same image and settings, `explain`, a local `sweep` and the API give the same per-neuron
 * numbers, bit for bit (and the queued sweep, in packages/sweep/test/queue.test.ts, the same parts as a local one).
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetToTable, tableToParquet } from '@neuronscope/core';
import { createExplainer, DEFAULT_MODEL_DIR } from '@neuronscope/engine';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { cli, IMAGENET_LABELS, image, SQUEEZENET } from './helpers.js';

const COLUMNS = [
  'correlation',
  'correlation_channel',
  'precision',
  'snr',
  'mean_activation',
  'eligible',
  'rank_correlation',
  'rank_precision',
  'selected_correlation',
  'selected_precision',
];

/** Explain (CLI), sweep (CLI) and the API on one image; every per-neuron column must be the same bits. */
async function compare(modelArgs: string[], apiModel: Record<string, unknown>, photo: string) {
  const work = await mkdtemp(join(tmpdir(), 'ns-same-'));
  const cacheDir = join(work, 'cache');
  const settings = ['-n', '12', '--seed', '4'];
  const env = { NEURONSCOPE_CACHE_DIR: cacheDir };
  const explained = cli(
    ['explain', ...modelArgs, '--image', photo, ...settings, '--masks', '0', '-q', '--out', join(work, 'explain')],
    env,
  );
  expect(explained.stderr).toBe('');
  expect(explained.status).toBe(0);
  const folder = join(work, 'images');
  await mkdir(folder);
  await copyFile(photo, join(folder, photo.split('/').pop()!));
  // Its own cache: the sweep computes (a hit would prove nothing).
  const swept = cli(['sweep', ...modelArgs, '--source', folder, ...settings, '-q', '--out', join(work, 'sweep')], {
    NEURONSCOPE_CACHE_DIR: join(work, 'cache-sweep'),
  });
  expect(swept.stderr).toBe('');
  expect(swept.status).toBe(0);

  const explainer = await createExplainer({ ...apiModel, cache: false });
  const api = await explainer.explain(photo, { samples: 12, seed: 4 });
  await explainer.close();

  const fromExplain = parquetToTable(await readFile(join(work, 'explain', 'neurons.parquet')));
  expect(
    Buffer.compare(Buffer.from(tableToParquet(api.neurons)), await readFile(join(work, 'explain', 'neurons.parquet'))),
  ).toBe(0);
  const parts = await readdir(join(work, 'sweep', 'sweep', 'parts'));
  const part = parquetToTable(await readFile(join(work, 'sweep', 'sweep', 'parts', parts[0]!)));
  expect(part.numRows).toBe(fromExplain.numRows);
  for (const column of COLUMNS) {
    expect(Array.from(part.getChild(column)!.toArray()), column).toEqual(
      Array.from(fromExplain.getChild(column)!.toArray()),
    );
  }
  // The same extraction tables under the same key, whichever command stored them.
  const key = api.id;
  const stored = async (cache: string) => readFile(join(cache, 'v2', 'extract', key, 'channel_stats.parquet'));
  expect(Buffer.compare(await stored(cacheDir), await stored(join(work, 'cache-sweep')))).toBe(0);
}

describe('one engine: explain, sweep and the API agree bit for bit', () => {
  it('on the embedded default model', async () => {
    const boot = join(DEFAULT_MODEL_DIR, 'images', '9-ankle-boot.png');
    await compare([], {}, boot);
  });

  it('on SqueezeNet 1.1', requires('shared'), async () => {
    await compare(
      ['--model', SQUEEZENET, '--labels', IMAGENET_LABELS],
      { model: SQUEEZENET, labels: IMAGENET_LABELS },
      image('cat.png'),
    );
  });
});
