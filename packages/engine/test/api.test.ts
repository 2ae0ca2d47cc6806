import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableToParquet, UserError } from '@neuronscope/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExplainer, defaultModel, type Explainer, readRun, writeRun } from '../src/index.js';

const options = { samples: 12, seed: 3, keepActivations: false } as const;
const bytesOf = (t: Parameters<typeof tableToParquet>[0]) => Buffer.from(tableToParquet(t));

describe('the warm explainer on the embedded default model', () => {
  let explainer: Explainer;
  let image: string;
  const cacheDir = mkdtemp(join(tmpdir(), 'ns-api-cache-'));
  beforeAll(async () => {
    image = (await defaultModel()).image;
    explainer = await createExplainer({ cacheDir: await cacheDir });
  });
  afterAll(() => explainer.close());

  it('explains an image with the defaults and says what it found', async () => {
    const e = await explainer.explain(image, { ...options, seed: 11 });
    expect(e.summary.predictions[0]!.label).toBe('Ankle boot');
    expect(e.summary.target).toEqual({ index: 9, label: 'Ankle boot', source: 'top1' });
    expect(e.summary.samplesUsed).toBe(12);
    expect(e.summary.layers).toHaveLength(5);
    for (const l of e.summary.layers) expect(l.byCorrelation).toHaveLength(5);
    expect(e.neurons.numRows).toBe(e.summary.layers.reduce((s, l) => s + l.channels, 0));
    expect(e.fromCache).toBe(false);
    expect(e.config.image.path).toBe(image);
  });

  it('gives the same tables for a path, the file bytes, and the preprocessed tensor', async () => {
    const byPath = await explainer.explain(image, options);
    const byBytes = await explainer.explain(await readFile(image), options);
    const tensor = (await explainer.load(image)).tensor;
    const byTensor = await explainer.explain(tensor, options);
    expect(byBytes.id).toBe(byPath.id); // same bytes, same run: the cache answers
    expect(bytesOf(byBytes.neurons).equals(bytesOf(byPath.neurons))).toBe(true);
    expect(byTensor.config.image.kind).toBe('tensor');
    // A tensor is keyed by its values, so it is another run, with the same numbers.
    expect(byTensor.id).not.toBe(byPath.id);
    for (const column of ['correlation', 'precision', 'mean_activation']) {
      expect(Array.from(byTensor.neurons.getChild(column)!.toArray())).toEqual(
        Array.from(byPath.neurons.getChild(column)!.toArray()),
      );
    }
  });

  it('keeps its pool across calls: later images need no session start', async () => {
    const first = await explainer.explain(image, { ...options, seed: 21 });
    const second = await explainer.explain(image, { ...options, seed: 22 });
    expect(first.timings).not.toBeNull();
    expect(second.timings).not.toBeNull();
    expect(explainer.pool.workers).toBeGreaterThan(0);
  });

  it('refuses bad options with one line, before running anything', async () => {
    await expect(explainer.explain(image, { samples: 2 })).rejects.toThrow(UserError);
    await expect(explainer.explain(image, { target: 'not a class' })).rejects.toThrow(/--target: unknown class/);
    await expect(explainer.explain(image, { topK: 99 })).rejects.toThrow(/top-k 99 is larger/);
    await expect(explainer.explain(join(tmpdir(), 'no-such.png'))).rejects.toThrow(/image file not found/);
  });

  it('stops a call on its signal, and explains the next one', async () => {
    const controller = new AbortController();
    const run = explainer.explain(image, {
      samples: 400,
      seed: 31,
      signal: controller.signal,
      onProgress: (_stage, done) => {
        if (done >= 16) controller.abort(new Error('cancelled'));
      },
    });
    await expect(run).rejects.toThrow('cancelled');
    expect((await explainer.explain(image, { ...options, seed: 32 })).summary.samplesUsed).toBe(12);
  });

  it('writes a run folder that reads back the same, and saves an image given as bytes', async () => {
    const e = await explainer.explain(await readFile(image), { ...options, seed: 41 });
    const dir = await mkdtemp(join(tmpdir(), 'ns-api-run-'));
    const summary = await writeRun(e, dir);
    expect(summary.run.image.path).toBe(join(dir, 'image.png'));
    expect(Buffer.compare(await readFile(join(dir, 'image.png')), await readFile(image))).toBe(0);
    const back = await readRun(dir);
    expect(back.id).toBe(e.id);
    expect(back.summary).toEqual(summary);
    expect(bytesOf(back.neurons).equals(bytesOf(e.neurons))).toBe(true);
    expect(
      Buffer.compare(await readFile(join(dir, 'channel_stats.parquet')), Buffer.from(e.files.get('channelStats')!)),
    ).toBe(0);
  });
});
