/**
 * The activation-table cache (packages/cli/src/stages/cache.ts): its key, a hit and a miss. Entries that are
 * truncated or tampered with belong to the cache's rewrite and are not tested here.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunConfig } from '@neuronscope/core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { prepareRun } from '../src/index.js';
import { cacheKey, defaultCacheDir, restoreFromCache, storeInCache } from '../src/stages/cache.js';

const TABLES = ['outputs.parquet', 'activations.parquet', 'unit_stats.parquet', 'channel_stats.parquet'];

/** A run directory holding the extraction tables (and inputs.npy if asked), each file's bytes naming it. */
async function extraction(tag: string, withInputs: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ns-run-'));
  const names = withInputs ? [...TABLES, 'inputs.npy'] : TABLES;
  for (const name of names) await writeFile(join(dir, name), `${tag}:${name}`);
  await writeFile(join(dir, 'run.json'), '{}');
  return dir;
}

describe('cacheKey', () => {
  let config: RunConfig;

  beforeAll(async () => {
    // A real configuration: the embedded default model on its own sample.
    ({ config } = await prepareRun({ perturb: 'paper', samples: 8, seed: 1, params: {}, output: 'prob' }));
  });

  it('is the same for the same bytes and settings wherever the files are', () => {
    const moved: RunConfig = {
      ...config,
      model: { ...config.model, path: '/elsewhere/model.onnx' },
      image: { ...config.image, path: '/elsewhere/image.png' },
    };
    expect(cacheKey(moved)).toBe(cacheKey(config));
    expect(cacheKey(structuredClone(config))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with the model or image bytes and with every setting that changes the tables', () => {
    const variants: RunConfig[] = [
      { ...config, model: { ...config.model, sha256: '0'.repeat(64) } },
      { ...config, image: { ...config.image, sha256: '0'.repeat(64) } },
      { ...config, perturbation: { ...config.perturbation, seed: 2 } },
      { ...config, perturbation: { ...config.perturbation, samples: 9 } },
      { ...config, preprocessing: { ...config.preprocessing, scale: 1 } },
      { ...config, layers: config.layers.slice(1) },
      { ...config, target: 3 },
      { ...config, output: 'logit' },
      { ...config, batchSize: 4 },
    ];
    const keys = new Set([config, ...variants].map(cacheKey));
    expect(keys.size).toBe(variants.length + 1);
  });
});

describe('the cache entries', () => {
  it('hit: restores what was stored, byte for byte, with inputs.npy only when asked', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    await storeInCache(cache, 'k1', await extraction('first', true));
    const plain = join(await mkdtemp(join(tmpdir(), 'ns-out-')), 'run');
    expect(await restoreFromCache(cache, 'k1', plain, false)).toBe(true);
    expect((await readdir(plain)).sort()).toEqual([...TABLES].sort());
    for (const name of TABLES) expect(await readFile(join(plain, name), 'utf8')).toBe(`first:${name}`);
    const withInputs = join(await mkdtemp(join(tmpdir(), 'ns-out-')), 'run');
    expect(await restoreFromCache(cache, 'k1', withInputs, true)).toBe(true);
    expect(await readFile(join(withInputs, 'inputs.npy'), 'utf8')).toBe('first:inputs.npy');
  });

  it('miss: an unknown key, or an entry without inputs.npy when it is asked for, copies nothing', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    await storeInCache(cache, 'tables-only', await extraction('x', false));
    const out = join(await mkdtemp(join(tmpdir(), 'ns-out-')), 'run');
    expect(await restoreFromCache(cache, 'unknown', out, false)).toBe(false);
    expect(await restoreFromCache(cache, 'tables-only', out, true)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('stores only the extraction tables, and a second store under the same key replaces the first whole', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    await storeInCache(cache, 'k', await extraction('old', true));
    await storeInCache(cache, 'k', await extraction('new', false));
    expect(await readdir(cache)).toEqual(['k']);
    expect((await readdir(join(cache, 'k'))).sort()).toEqual([...TABLES].sort());
    const out = await mkdtemp(join(tmpdir(), 'ns-out-'));
    expect(await restoreFromCache(cache, 'k', out, false)).toBe(true);
    expect(await readFile(join(out, 'unit_stats.parquet'), 'utf8')).toBe('new:unit_stats.parquet');
  });

  it('restores into an existing run directory, leaving its other files alone', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    await storeInCache(cache, 'k', await extraction('cached', false));
    const out = await mkdtemp(join(tmpdir(), 'ns-out-'));
    await writeFile(join(out, 'run.json'), 'mine');
    expect(await restoreFromCache(cache, 'k', out, false)).toBe(true);
    expect(await readFile(join(out, 'run.json'), 'utf8')).toBe('mine');
    expect(await readFile(join(out, 'outputs.parquet'), 'utf8')).toBe('cached:outputs.parquet');
  });
});

describe('defaultCacheDir', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is $NEURONSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/neuronscope, else ~/.cache/neuronscope', () => {
    vi.stubEnv('NEURONSCOPE_CACHE_DIR', '/tmp/ns-own');
    vi.stubEnv('XDG_CACHE_HOME', '/tmp/xdg');
    expect(defaultCacheDir()).toBe('/tmp/ns-own');
    vi.stubEnv('NEURONSCOPE_CACHE_DIR', '');
    expect(defaultCacheDir()).toBe('/tmp/xdg/neuronscope');
    vi.stubEnv('XDG_CACHE_HOME', undefined);
    expect(defaultCacheDir()).toBe(join(homedir(), '.cache', 'neuronscope'));
  });
});
