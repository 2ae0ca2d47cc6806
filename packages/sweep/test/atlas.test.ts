/**
 * The atlas of a sweep of the default model's ten sample images: its entries are exactly the neurons some image
 * selected, each entry's examples are its top images by peak activation (recomputed here from neurons.parquet, and
 * the peaks themselves from a session of our own), and each crop is the receptive field of the peak unit.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtlasIndexSchema, columnValues, readParquetFile, tensorDims } from '@neuronscope/core';
import {
  createSession,
  inputToImage,
  loadImage,
  loadModel,
  receptiveFields,
  unitBox,
  withExtraOutputs,
} from '@neuronscope/model';
import type { AtlasInput } from '@neuronscope/report';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultModel } from '../../../test/support/env.js';
import { computeAtlas, readManifest, sweepPaths } from '../src/index.js';
import { cli } from './fixtures.js';

describe('the atlas of a sweep of the default model’s samples', () => {
  let out: string;
  let atlas: AtlasInput;
  let neurons: Awaited<ReturnType<typeof readParquetFile>>;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'ns-atlas-'));
    const sweep = cli([
      'sweep',
      '--source',
      join(defaultModel.dir, 'images'),
      '-n',
      '8',
      '--top-k',
      '3',
      '-q',
      '--out',
      out,
    ]);
    expect(sweep.stderr).toBe('');
    expect(sweep.status).toBe(0);
    const r = cli(['atlas', '--out', out, '--top', '3', '--min-support', '1']);
    expect(r.status).toBe(0);
    // The command says what it wrote (on stderr, as every command's log) and nothing else.
    expect(r.stderr).toMatch(
      /^atlas: \d+ neurons from 10 images in .*atlas\.html\nreport: .*report\.html \(its neurons link to the atlas\)\n$/,
    );
    atlas = (await computeAtlas(sweepPaths(out), { top: 3, minSupport: 1 })).input;
    neurons = await readParquetFile(join(out, 'sweep', 'neurons.parquet'));
  });

  it('has an entry for exactly the neurons some image selected, in atlas.json too', async () => {
    const layerIndex = columnValues<number>(neurons, 'layer_index');
    const channel = columnValues<number>(neurons, 'channel');
    const selC = columnValues<boolean>(neurons, 'selected_correlation');
    const selP = columnValues<boolean>(neurons, 'selected_precision');
    const selected = new Set<string>();
    for (let i = 0; i < neurons.numRows; i++) if (selC[i] || selP[i]) selected.add(`${layerIndex[i]}:${channel[i]}`);
    const entries = atlas.layers.flatMap((l) => l.neurons.map((n) => `${l.layerIndex}:${n.channel}`));
    expect(new Set(entries)).toEqual(selected);
    expect(entries).toHaveLength(selected.size);
    const index = AtlasIndexSchema.parse(JSON.parse(await readFile(join(out, 'sweep', 'atlas.json'), 'utf8')));
    expect(new Set(index.neurons.map(([l, c]) => `${l}:${c}`))).toEqual(selected);
    expect(index.images).toBe(10);
    // Selection counts are the table's.
    for (const l of atlas.layers) {
      for (const n of l.neurons) {
        let c = 0;
        for (let i = 0; i < neurons.numRows; i++)
          if (layerIndex[i] === l.layerIndex && channel[i] === n.channel && selC[i]) c++;
        expect(n.selectedCorrelation, `${l.layerIndex}:${n.channel}`).toBe(c);
      }
    }
  });

  it('shows each neuron’s top images by peak activation, as the table and a session of our own give them', async () => {
    const image = columnValues<string>(neurons, 'image');
    const layerIndex = columnValues<number>(neurons, 'layer_index');
    const channel = columnValues<number>(neurons, 'channel');
    const peak = columnValues<number>(neurons, 'peak_value');
    const names = [...new Set(image)];
    for (const l of atlas.layers) {
      for (const n of l.neurons) {
        const values = names.map((name) => {
          for (let i = 0; i < neurons.numRows; i++) {
            if (image[i] === name && layerIndex[i] === l.layerIndex && channel[i] === n.channel) return peak[i]!;
          }
          return Number.NaN;
        });
        const expected = names
          .map((_name, k) => ({ k, v: values[k]! }))
          .filter((x) => x.v > 0)
          .sort((a, b) => b.v - a.v || a.k - b.k)
          .slice(0, 3);
        expect(
          n.examples.map((e) => e.image),
          `${l.layerIndex}:${n.channel}`,
        ).toEqual(expected.map((x) => x.k));
        expect(n.examples.map((e) => e.activation)).toEqual(expected.map((x) => Math.fround(x.v)));
      }
    }
    // The peaks themselves, for the first layer's entries, from the model run here on each image.
    const manifest = await readManifest(sweepPaths(out));
    const model = await loadModel(defaultModel.model);
    const first = manifest.settings.layers[0]!;
    const session = await createSession(withExtraOutputs(model.bytes, [first.layer]));
    const pre = manifest.settings.preprocessing;
    const fields = receptiveFields(model, { height: pre.size[0], width: pre.size[1], layout: pre.layout });
    const entries = atlas.layers.find((l) => l.layerIndex === first.layerIndex)!.neurons;
    for (const n of entries) {
      for (const e of n.examples) {
        const file = defaultModel.image(names[e.image]!);
        const input = (await loadImage(file, pre)).tensor;
        const out = await session.run({ [model.inputName]: new ort.Tensor('float32', input.data, tensorDims(input)) }, [
          first.layer,
        ]);
        const plane = (out[first.layer]!.data as Float32Array).subarray(
          n.channel * first.height * first.width,
          (n.channel + 1) * first.height * first.width,
        );
        let best = 0;
        for (let u = 1; u < plane.length; u++) if (plane[u]! > plane[best]!) best = u;
        expect(e.activation).toBeCloseTo(plane[best]!, 4);
        // The crop: the receptive field of that unit, on the 28x28 image.
        const box = unitBox(
          fields.get(first.layer)!,
          Math.floor(best / first.width),
          best % first.width,
          pre.size[0],
          pre.size[1],
        );
        expect(e.rect).toEqual(inputToImage(box, pre, 28, 28));
      }
    }
    await session.release();
  });

  it('writes a page that links its images and neurons, and a sweep report that links to it', async () => {
    const page = await readFile(join(out, 'sweep', 'atlas.html'), 'utf8');
    const entries = [...page.matchAll(/<article class="entry" id="(n-\d+-\d+)"/g)].map((m) => m[1]);
    expect(entries).toHaveLength(atlas.layers.reduce((k, l) => k + l.neurons.length, 0));
    // Every crop links to the image's entry, which exists; every picture is embedded once.
    for (const [, index] of page.matchAll(/<a href="#img-(\d+)"/g)) expect(page).toContain(`id="img-${index}"`);
    for (const im of atlas.images) expect(page.match(new RegExp(`<image id="pic-${im.index}"`, 'g'))).toHaveLength(1);
    expect(page).not.toMatch(/https?:\/\//);
    const report = await readFile(join(out, 'sweep', 'report.html'), 'utf8');
    expect(report).toMatch(/<a href="atlas\.html#n-\d+-\d+"/);
  });
});

describe('the pages of a sweep whose image files are gone', () => {
  it('leave the missing images out instead of failing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-atlas-gone-'));
    const images = join(dir, 'images');
    await mkdir(images);
    for (const name of defaultModel.images.slice(0, 3)) await copyFile(defaultModel.image(name), join(images, name));
    const out = join(dir, 'out');
    expect(cli(['sweep', '--source', images, '-n', '8', '-q', '--out', out]).status).toBe(0);
    await rm(join(images, defaultModel.images[0]!));
    const aggregate = cli(['aggregate', '--out', out, '-q']);
    expect(aggregate.stderr).toBe('');
    expect(aggregate.status).toBe(0);
    expect(cli(['atlas', '--out', out, '-q']).status).toBe(0);
    const report = await readFile(join(out, 'sweep', 'report.html'), 'utf8');
    expect(report.match(/<image id="pic-/g)).toHaveLength(2);
    const atlas = await readFile(join(out, 'sweep', 'atlas.html'), 'utf8');
    expect(atlas).not.toContain('id="pic-0"');
    expect(atlas).not.toContain('href="#img-0"');
  });
});
