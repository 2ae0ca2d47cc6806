import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATLAS_FORMAT, type AtlasIndex, type Summary } from '@neuronscope/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { atlasLink } from '../src/atlas-link.js';

/** The parts of a summary the link reads: the model's hash and the run's layers. */
const summary = {
  run: {
    model: { sha256: 'ab'.repeat(32) },
    layers: [
      { layer: 'conv1', layerIndex: 0 },
      { layer: 'conv2', layerIndex: 1 },
    ],
  },
} as unknown as Summary;

describe('links from a per-image report to an atlas', () => {
  let root: string;
  const index = (over: Partial<AtlasIndex> = {}): AtlasIndex => ({
    version: ATLAS_FORMAT,
    model: { path: '/m.onnx', sha256: 'ab'.repeat(32) },
    layers: [
      { layer: 'conv1', layerIndex: 0 },
      { layer: 'other', layerIndex: 1 },
    ],
    page: 'atlas.html',
    images: 12,
    neurons: [
      [0, 3],
      [1, 4],
    ],
    ...over,
  });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ns-atlas-link-'));
    await mkdir(join(root, 'my sweep', 'sweep'), { recursive: true });
    await mkdir(join(root, 'runs', 'one'), { recursive: true });
    await writeFile(join(root, 'my sweep', 'sweep', 'atlas.json'), JSON.stringify(index()));
  });

  it('finds atlas.json from the sweep folder, the page or the index, and links relative to the report', async () => {
    const report = join(root, 'runs', 'one');
    for (const given of ['my sweep', 'my sweep/sweep/atlas.html', 'my sweep/sweep/atlas.json']) {
      const r = await atlasLink(report, join(root, given), summary);
      expect('link' in r, given).toBe(true);
      if (!('link' in r)) continue;
      expect(r.link.href).toBe('../../my%20sweep/sweep/atlas.html');
      expect(r.link.images).toBe(12);
      // Layer 1 of the atlas is another tensor than the run's layer 1: its neurons are not linked.
      expect([...r.link.neurons]).toEqual(['0:3']);
    }
  });

  it('says why there is no link: no index, not an index, another model', async () => {
    expect(await atlasLink(root, join(root, 'nowhere'), summary)).toEqual({
      note: expect.stringMatching(/No atlas links: .*atlas\.json not found/),
    });
    await mkdir(join(root, 'bad'), { recursive: true });
    await writeFile(join(root, 'bad', 'atlas.json'), '{"version": 1}');
    expect(await atlasLink(root, join(root, 'bad'), summary)).toEqual({
      note: expect.stringMatching(/is not an atlas index/),
    });
    await mkdir(join(root, 'other'), { recursive: true });
    await writeFile(
      join(root, 'other', 'atlas.json'),
      JSON.stringify(index({ model: { path: '/m.onnx', sha256: 'cd'.repeat(32) } })),
    );
    expect(await atlasLink(root, join(root, 'other'), summary)).toEqual({
      note: expect.stringMatching(/of another model/),
    });
  });
});
