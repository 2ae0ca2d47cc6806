/**
 * The deconvnet on real models and real images: a projection from one unit can only reach the input pixels that
 * unit sees, so every nonzero pixel of a strongest-unit projection lies in the unit's receptive field box, as
 * receptive-field.ts computes it from the graph.
 */
import type { Preprocessing } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../../test/support/env.js';
import { defaultModelDir, imagesDir, mobilenetPath, squeezenetPath } from '../../test/fixtures.js';
import { loadImage } from '../image.js';
import { recordableLayers } from '../layers.js';
import { type LoadedModel, loadModel } from '../load.js';
import { type PresetName, resolvePreprocessing } from '../preprocess.js';
import { type PixelBox, receptiveFields, unitBox } from '../receptive-field.js';
import type { DeconvMode, UnpoolMode } from './backward.js';
import { createDeconv } from './project.js';

interface ModelCase {
  path: string;
  image: string;
  preprocessing: (model: LoadedModel) => Preprocessing;
  /** Layer indices among the recordable layers: early, middle, deep. */
  layers: number[];
  modes: [DeconvMode, UnpoolMode][];
}

const contains = (box: PixelBox, y: number, x: number) =>
  y >= box.top && y <= box.bottom && x >= box.left && x <= box.right;

/** The nonzero pixels of an NCHW projection that lie outside `box`, and how many are nonzero. */
function pixelsOutside(projection: Float32Array, channels: number, size: number, box: PixelBox) {
  let nonzero = 0;
  const outside: [number, number][] = [];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let any = false;
      for (let c = 0; c < channels; c++) if (projection[(c * size + y) * size + x] !== 0) any = true;
      if (!any) continue;
      nonzero++;
      if (!contains(box, y, x)) outside.push([y, x]);
    }
  }
  return { nonzero, outside };
}

async function checkInsideReceptiveFields(c: ModelCase): Promise<void> {
  const model = await loadModel(c.path);
  const prep = c.preprocessing(model);
  const { tensor } = await loadImage(c.image, prep);
  const size = tensor.height;
  const fields = receptiveFields(model, { height: size, width: size, layout: 'NCHW' });
  const layers = recordableLayers(model);
  for (const index of c.layers) {
    const layer = layers[index]!.layer;
    for (const [mode, unpool] of c.modes) {
      const deconv = await createDeconv(model, { layer, mode, unpool, threads: 2 });
      const [, channels, , width] = deconv.layerDims as number[];
      const picked = [0, Math.floor(channels! / 3), Math.floor((2 * channels!) / 3) + 1];
      const results = await deconv.project(
        tensor,
        picked.map((channel) => ({ channel })),
        'peak',
      );
      await deconv.release();
      const field = fields.get(layer)!;
      let projected = 0;
      for (const r of results) {
        const what = `${layer} (${mode}, ${unpool}) channel ${r.channel} unit ${r.unit}`;
        const box = unitBox(field, Math.floor(r.unit! / width!), r.unit! % width!, size, size);
        const { nonzero, outside } = pixelsOutside(r.projection, tensor.channels, size, box);
        expect(outside.slice(0, 5), what).toEqual([]);
        if (r.activation > 0 && nonzero > 0) projected++;
        if (r.box)
          expect(contains(box, r.box.top, r.box.left) && contains(box, r.box.bottom, r.box.right), what).toBe(true);
      }
      // The check is not vacuous: most picked neurons fire on the image and project somewhere.
      expect(projected, `${layer} (${mode}, ${unpool})`).toBeGreaterThanOrEqual(2);
    }
  }
}

const preset =
  (name: PresetName, extra: { grayscale?: boolean } = {}) =>
  (model: LoadedModel) =>
    resolvePreprocessing({ preset: name, ...extra }, model);

describe('deconvnet projections stay inside the receptive field of their unit', () => {
  it('the embedded default model (Fashion-MNIST VGG): every conv layer, both unpoolings, deconvnet and guided', async () => {
    await checkInsideReceptiveFields({
      path: `${defaultModelDir}fashion-vgg.onnx`,
      image: `${defaultModelDir}images/9-ankle-boot.png`,
      preprocessing: preset('none', { grayscale: true }),
      layers: [0, 1, 2, 3, 4],
      modes: [
        ['deconvnet', 'nearest'],
        ['guided', 'switches'],
      ],
    });
  });
});

describe('deconvnet projections on the shared models', requires('shared'), () => {
  it('squeezenet 1.1 on a photo: early, middle and deep layers, both unpoolings, deconvnet and guided', async () => {
    await checkInsideReceptiveFields({
      path: squeezenetPath,
      image: `${imagesDir}cat.png`,
      preprocessing: preset('imagenet'),
      layers: [0, 3, 7, 12, 18, 25],
      modes: [
        ['deconvnet', 'nearest'],
        ['deconvnet', 'switches'],
        ['guided', 'switches'],
      ],
    });
  });

  it('mobilenetv2 on a photo (explicit Pads, depthwise Convs, Clip, residual Adds): early, middle and deep layers', async () => {
    await checkInsideReceptiveFields({
      path: mobilenetPath,
      image: `${imagesDir}parrot.jpg`,
      preprocessing: preset('inception'),
      layers: [1, 9, 20, 40, 51],
      modes: [
        ['deconvnet', 'nearest'],
        ['guided', 'nearest'],
      ],
    });
  });
});
