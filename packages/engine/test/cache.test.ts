import { mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableToParquet } from '@neuronscope/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentCache, createExplainer, defaultModel, type Explainer } from '../src/index.js';

const options = { samples: 10, seed: 5 } as const;
const neuronsBytes = (e: { neurons: Parameters<typeof tableToParquet>[0] }) => Buffer.from(tableToParquet(e.neurons));

describe('the cache of extractions', () => {
  let explainer: Explainer;
  let image: string;
  let dir: string;
  const warnings: string[] = [];
  /** The folder of the only extraction entry. */
  const entry = async () => {
    const root = join(dir, 'v2', 'extract');
    const [key] = await readdir(root);
    return join(root, key!);
  };

  beforeAll(async () => {
    image = (await defaultModel()).image;
    dir = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    explainer = await createExplainer({ cacheDir: dir }, (m) => warnings.push(m));
  });
  afterAll(() => explainer.close());

  it('misses, stores with checksums, then hits without inference and gives the same bytes', async () => {
    const first = await explainer.explain(image, options);
    expect(first.fromCache).toBe(false);
    const manifest = JSON.parse(await readFile(join(await entry(), 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.files).sort()).toEqual([
      'activations.parquet',
      'channel_stats.parquet',
      'outputs.parquet',
    ]);
    const second = await explainer.explain(image, options);
    expect(second.fromCache).toBe(true);
    expect(second.timings).toBeNull();
    expect(neuronsBytes(second).equals(neuronsBytes(first))).toBe(true);
    expect(warnings.some((w) => w.includes('cache hit'))).toBe(true);
  });

  it('a partial entry (activations not kept) is a miss for a call that keeps them, then holds them', async () => {
    const other = { ...options, seed: 6 };
    expect((await explainer.explain(image, { ...other, keepActivations: false })).fromCache).toBe(false);
    expect((await explainer.explain(image, { ...other, keepActivations: false })).fromCache).toBe(true);
    expect((await explainer.explain(image, other)).fromCache).toBe(false);
    expect((await explainer.explain(image, other)).fromCache).toBe(true);
  });

  for (const [damage, harm] of [
    ['truncated', async (f: string) => truncate(f, Math.floor((await stat(f)).size / 2))],
    ['emptied', async (f: string) => writeFile(f, '')],
    [
      'with flipped bits',
      async (f: string) => {
        const bytes = await readFile(f);
        bytes[Math.floor(bytes.length / 2)]! ^= 0x5a;
        await writeFile(f, bytes);
      },
    ],
  ] as const) {
    it(`reports, removes and recomputes an entry whose table was ${damage}, never using it`, async () => {
      await rm(dir, { recursive: true, force: true });
      const good = await explainer.explain(image, options);
      await harm(join(await entry(), 'channel_stats.parquet'));
      warnings.length = 0;
      const again = await explainer.explain(image, options);
      expect(again.fromCache).toBe(false);
      expect(warnings.some((w) => /damaged .*channel_stats\.parquet.*computing it again/.test(w))).toBe(true);
      expect(neuronsBytes(again).equals(neuronsBytes(good))).toBe(true);
      expect((await explainer.explain(image, options)).fromCache).toBe(true);
    });
  }

  it('recomputes an entry whose manifest is not JSON', async () => {
    await rm(dir, { recursive: true, force: true });
    await explainer.explain(image, options);
    await writeFile(join(await entry(), 'manifest.json'), '{ not json');
    warnings.length = 0;
    expect((await explainer.explain(image, options)).fromCache).toBe(false);
    expect(warnings.some((w) => w.includes('manifest is unreadable'))).toBe(true);
  });

  it('warns, and still gives the result, when the cache cannot be written', async () => {
    const blocked = join(await mkdtemp(join(tmpdir(), 'ns-cache-blocked-')), 'cache');
    await writeFile(blocked, 'a file where the cache folder should be');
    const messages: string[] = [];
    const e2 = await createExplainer({ cacheDir: blocked }, (m) => messages.push(m));
    try {
      const e = await e2.explain(image, options);
      expect(e.summary.layers).toHaveLength(5);
      expect(messages.some((m) => /cannot store an entry .* the result is not cached/.test(m))).toBe(true);
    } finally {
      await e2.close();
    }
  });
});

describe('ContentCache', () => {
  const key = (n: number) => n.toString(16).padStart(64, '0');

  it('lists entries most recently used first and prunes the least recently used, and what is not an entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-cache-prune-'));
    const cache = new ContentCache(dir);
    for (const n of [1, 2, 3]) await cache.put('extract', key(n), new Map([['a.bin', new Uint8Array(1000)]]));
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(dir, 'v2', 'extract', key(1), 'manifest.json'), old, old);
    await utimes(
      join(dir, 'v2', 'extract', key(3), 'manifest.json'),
      new Date(Date.now() - 1800_000),
      new Date(Date.now() - 1800_000),
    );
    await writeFile(join(dir, 'stale-from-an-old-layout'), 'x');
    expect((await cache.list()).map((e) => e.key)).toEqual([key(2), key(3), key(1)]);
    // A hit makes an entry the most recently used.
    expect(await cache.get('extract', key(1), ['a.bin'])).not.toBeNull();
    expect((await cache.list())[0]!.key).toBe(key(1));
    const pruned = await cache.prune(2000);
    expect(pruned.removed).toBe(2); // the stale file and entry 3, the least recently used
    expect((await cache.list()).map((e) => e.key).sort()).toEqual([key(1), key(2)]);
    expect(await readdir(dir)).toEqual(['v2']);
  });

  it('a miss is null; an entry lacking a required file is a miss, not an error', async () => {
    const cache = new ContentCache(await mkdtemp(join(tmpdir(), 'ns-cache-miss-')));
    expect(await cache.get('extract', key(9), ['a.bin'])).toBeNull();
    await cache.put('extract', key(9), new Map([['a.bin', Uint8Array.of(1, 2, 3)]]));
    expect(await cache.get('extract', key(9), ['a.bin', 'b.bin'])).toBeNull();
    expect(Array.from((await cache.get('extract', key(9), ['a.bin']))!.get('a.bin')!)).toEqual([1, 2, 3]);
  });
});
