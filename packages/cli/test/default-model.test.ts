import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argmax, type Summary, sha256File } from '@neuronscope/core';
import { createSession, loadImage, loadModel, resolvePreprocessing } from '@neuronscope/model';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const DEFAULT_MODEL = new URL('../../engine/default-model/', import.meta.url);

describe('the embedded default model (Fashion-MNIST VGG-style CNN)', () => {
  it('is what explain uses with no --model and no --image, and predicts its sample', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ns-default-'));
    const r = cli(['explain', '--samples', '8', '--masks', '0', '--no-cache', '--json', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as Summary;
    expect(summary.run.model.path).toMatch(/default-model\/fashion-vgg\.onnx$/);
    expect(summary.target.label).toBe('Ankle boot');
    expect(summary.layers.length).toBeGreaterThanOrEqual(4);
    expect((await readFile(join(out, 'report.html'), 'utf8')).length).toBeGreaterThan(1000);
  });

  it('classifies each of its ten sample images as the class in the file name', async () => {
    const labels = (await readFile(new URL('labels.txt', DEFAULT_MODEL), 'utf8')).trim().split('\n');
    const images = (await readdir(new URL('images/', DEFAULT_MODEL))).filter((f) => f.endsWith('.png')).sort();
    expect(images).toHaveLength(10);
    const card = await readFile(new URL('MODEL_CARD.md', DEFAULT_MODEL), 'utf8');
    const sha = card.match(/SHA-256\s*\|\s*`([0-9a-f]{64})`/)?.[1];
    expect(await sha256File(new URL('fashion-vgg.onnx', DEFAULT_MODEL).pathname)).toBe(sha);
    // In process, one session for all ten: the CLI path is covered above.
    const model = await loadModel(new URL('fashion-vgg.onnx', DEFAULT_MODEL).pathname);
    const prep = resolvePreprocessing({ preset: 'none', grayscale: true, size: [28, 28] }, model);
    const session = await createSession(model.bytes);
    for (const file of images) {
      const { tensor } = await loadImage(new URL(`images/${file}`, DEFAULT_MODEL).pathname, prep);
      const out = await session.run({ [model.inputName]: new ort.Tensor('float32', tensor.data, [1, 1, 28, 28]) });
      const top1 = argmax(out[model.outputName]!.data as Float32Array);
      expect(labels[top1], file).toBe(labels[Number(file[0])]);
    }
    await session.release();
  });
});
