import { PreprocessingSchema, UserError } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import type { LoadedModel } from './load.js';
import { PREPROCESSING_PRESETS, resolvePreprocessing } from './preprocess.js';

type ModelInput = Pick<LoadedModel, 'path' | 'inputDims' | 'layout'>;
const rgbNCHW: ModelInput = { path: 'rgb.onnx', inputDims: [null, 3, 224, 224], layout: 'NCHW' };
const dynamic: ModelInput = { path: 'dyn.onnx', inputDims: [null, 3, null, null], layout: 'NCHW' };
const grayNHWC: ModelInput = { path: 'gray.onnx', inputDims: [1, 28, 28, 1], layout: 'NHWC' };
const unknown: ModelInput = { path: 'unknown.onnx', inputDims: [null, null, null, null], layout: null };

describe('resolvePreprocessing', () => {
  it('imagenet by default: resize 256, crop to the model size, ImageNet mean and std', () => {
    expect(resolvePreprocessing({}, rgbNCHW)).toEqual({
      preset: 'imagenet',
      resizeShorter: 256,
      size: [224, 224],
      scale: 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      layout: 'NCHW',
      grayscale: false,
      channelOrder: 'RGB',
    });
  });

  it('caffe: BGR, the ImageNet BGR mean on 0-255 values, no scaling, std 1; channel order overridable', () => {
    const caffe = resolvePreprocessing({ preset: 'caffe' }, rgbNCHW);
    expect(caffe).toEqual({
      preset: 'caffe',
      resizeShorter: 256,
      size: [224, 224],
      scale: 1,
      mean: [103.939, 116.779, 123.68],
      std: [1],
      layout: 'NCHW',
      grayscale: false,
      channelOrder: 'BGR',
    });
    expect(resolvePreprocessing({ preset: 'caffe', channelOrder: 'RGB' }, rgbNCHW).channelOrder).toBe('RGB');
    expect(resolvePreprocessing({ channelOrder: 'BGR' }, rgbNCHW).channelOrder).toBe('BGR');
  });

  it('reads run.json preprocessing written before channelOrder existed as RGB', () => {
    const { channelOrder, ...old } = resolvePreprocessing({}, rgbNCHW);
    expect(channelOrder).toBe('RGB');
    expect(PreprocessingSchema.parse(old).channelOrder).toBe('RGB');
  });

  it('inception and none presets', () => {
    const inception = resolvePreprocessing({ preset: 'inception' }, rgbNCHW);
    expect([inception.resizeShorter, inception.mean, inception.std]).toEqual([256, [0.5], [0.5]]);
    const none = resolvePreprocessing({ preset: 'none', size: [100, 120] }, dynamic);
    expect([none.resizeShorter, none.size, none.mean, none.std]).toEqual([null, [100, 120], [0], [1]]);
    expect(PREPROCESSING_PRESETS.none.scale).toBe(255);
  });

  it('scales the resize with the size, and defaults to 224 for symbolic dims', () => {
    expect(resolvePreprocessing({ size: 299 }, dynamic)).toMatchObject({ size: [299, 299], resizeShorter: 342 });
    expect(resolvePreprocessing({ size: [112, 224] }, dynamic)).toMatchObject({ resizeShorter: 256 });
    expect(resolvePreprocessing({}, dynamic).size).toEqual([224, 224]);
    expect(resolvePreprocessing({}, unknown)).toMatchObject({ size: [224, 224], layout: 'NCHW', grayscale: false });
  });

  it("follows the model's layout and channel count; preset values averaged for grayscale", () => {
    const p = resolvePreprocessing({ preset: 'none' }, grayNHWC);
    expect([p.layout, p.grayscale, p.size]).toEqual(['NHWC', true, [28, 28]]);
    const imagenetGray = resolvePreprocessing({}, grayNHWC);
    expect(imagenetGray.mean[0]).toBeCloseTo(0.449, 6);
    expect(imagenetGray.mean).toHaveLength(1);
    expect(resolvePreprocessing({ layout: 'NHWC', mean: [0.1], std: [2] }, unknown)).toMatchObject({
      layout: 'NHWC',
      mean: [0.1],
      std: [2],
    });
  });

  const rejects = (fn: () => unknown, pattern: RegExp) => {
    expect(fn).toThrow(UserError);
    expect(fn).toThrow(pattern);
  };

  it('rejects a grayscale image for a 3-channel model, and RGB for a 1-channel model', () => {
    rejects(
      () => resolvePreprocessing({ grayscale: true }, rgbNCHW),
      /model rgb\.onnx takes 3 input channels \(NCHW\) but grayscale preprocessing gives 1/,
    );
    rejects(
      () => resolvePreprocessing({ grayscale: false }, grayNHWC),
      /model gray\.onnx takes 1 input channel \(NHWC\) but RGB preprocessing gives 3/,
    );
    // Forcing NHWC on an NCHW model reads 224 channels from its dims.
    rejects(() => resolvePreprocessing({ layout: 'NHWC' }, rgbNCHW), /takes 224 input channels \(NHWC\)/);
  });

  it('rejects mean/std of the wrong length', () => {
    rejects(() => resolvePreprocessing({ mean: [0.1, 0.2] }, rgbNCHW), /mean has 2 values; give 1 or one per input/);
    rejects(() => resolvePreprocessing({ std: [1, 1, 1] }, grayNHWC), /std has 3 values; give 1 or one per input/);
  });

  it('rejects a size that contradicts a fixed model size, and invalid values', () => {
    rejects(
      () => resolvePreprocessing({ size: 256 }, rgbNCHW),
      /size 256x256 contradicts the fixed input size 224x224 \(height x width\) of model rgb\.onnx/,
    );
    rejects(() => resolvePreprocessing({ std: [0] }, rgbNCHW), /invalid preprocessing: std\.0: /);
    rejects(() => resolvePreprocessing({ size: 0 }, dynamic), /size must be positive whole numbers, got 0x0/);
  });
});
