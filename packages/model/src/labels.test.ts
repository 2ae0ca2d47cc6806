import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { defaultModel, requires } from '../../../test/support/env.js';
import { sharedDir } from '../test/fixtures.js';
import { loadLabels } from './labels.js';

describe('loadLabels', () => {
  it('reads one label per line, ignoring the trailing empty line and CRs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-labels-'));
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
