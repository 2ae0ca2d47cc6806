import { type Layout, type Preprocessing, PreprocessingSchema, UserError } from '@neuronscope/core';
import { inputGeometry, type LoadedModel } from './load.js';

/** Name of a preprocessing preset. */
export type PresetName = Preprocessing['preset'];

/** What a preset fixes; the size, layout and colour come from the model or the user. */
export interface PreprocessingPreset {
  /** Resize the shorter side to `size * 256 / 224` then centre-crop (true), or resize straight (false). */
  readonly resizeAndCrop: boolean;
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Order of the colour channels in the tensor; mean and std are given in this order. */
  readonly channelOrder: ChannelOrder;
}

/** Order of the colour channels in the input tensor. */
export type ChannelOrder = Preprocessing['channelOrder'];

/**
 * The presets. `imagenet`: torchvision's (resize 256, crop 224, ImageNet mean and std). `inception`:
 * the same geometry, values mapped to [-1, 1]. `caffe`: the same geometry, BGR channels with the ImageNet BGR mean
 * (103.939, 116.779, 123.68) subtracted from 0-255 values, no scaling (Keras `preprocess_input` mode 'caffe':
 * VGG16/19, ResNet50 of keras.applications, and Caffe-converted models). `none`: resize straight to the size,
 * values in [0, 1].
 */
export const PREPROCESSING_PRESETS: Readonly<Record<PresetName, PreprocessingPreset>> = {
  imagenet: {
    resizeAndCrop: true,
    scale: 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    channelOrder: 'RGB',
  },
  inception: { resizeAndCrop: true, scale: 255, mean: [0.5], std: [0.5], channelOrder: 'RGB' },
  caffe: { resizeAndCrop: true, scale: 1, mean: [103.939, 116.779, 123.68], std: [1], channelOrder: 'BGR' },
  none: { resizeAndCrop: false, scale: 255, mean: [0], std: [1], channelOrder: 'RGB' },
};

/** User choices for {@link resolvePreprocessing}; every field is optional. */
export interface PreprocessingOptions {
  /** Default 'imagenet'. */
  preset?: PresetName;
  /** Final size: [height, width], or one number for a square. Default: the model's fixed H/W, else 224. */
  size?: readonly [number, number] | number;
  /** Per-channel (or single) mean; replaces the preset's. */
  mean?: readonly number[];
  /** Per-channel (or single) std; replaces the preset's. */
  std?: readonly number[];
  /** Default: the model's guessed layout, else NCHW. */
  layout?: Layout;
  /** Default: true when the model's input has 1 channel. */
  grayscale?: boolean;
  /** Default: the preset's (BGR for `caffe`, else RGB). */
  channelOrder?: ChannelOrder;
}

/**
 * The full preprocessing for `model`: the preset's values, overridden by the user's, checked against
 * the model's input. A {@link UserError} when the colour mode gives a channel count the model does not
 * take, mean or std has neither 1 nor one-per-channel values, or an explicit size contradicts a fixed
 * model height or width.
 */
export function resolvePreprocessing(
  opts: PreprocessingOptions,
  model: Pick<LoadedModel, 'path' | 'inputDims' | 'layout'>,
): Preprocessing {
  const presetName = opts.preset ?? 'imagenet';
  const preset = PREPROCESSING_PRESETS[presetName];
  const layout = opts.layout ?? model.layout ?? 'NCHW';
  const fixed = inputGeometry(model.inputDims, layout);

  const grayscale = opts.grayscale ?? fixed.channels === 1;
  const channels = grayscale ? 1 : 3;
  if (fixed.channels !== null && fixed.channels !== channels) {
    throw new UserError(
      `model ${model.path} takes ${fixed.channels} input channel${fixed.channels === 1 ? '' : 's'} (${layout}) but ` +
        `${grayscale ? 'grayscale' : 'RGB'} preprocessing gives ${channels}`,
    );
  }

  const size: [number, number] =
    opts.size === undefined
      ? [fixed.height ?? 224, fixed.width ?? 224]
      : typeof opts.size === 'number'
        ? [opts.size, opts.size]
        : [opts.size[0], opts.size[1]];
  if (!size.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UserError(`size must be positive whole numbers, got ${size.join('x')}`);
  }
  if (
    opts.size !== undefined &&
    ((fixed.height !== null && fixed.height !== size[0]) || (fixed.width !== null && fixed.width !== size[1]))
  ) {
    throw new UserError(
      `size ${size[0]}x${size[1]} contradicts the fixed input size ${fixed.height ?? '?'}x${fixed.width ?? '?'} ` +
        `(height x width) of model ${model.path}`,
    );
  }

  // A preset's per-RGB-channel values become their average for a grayscale input; user values are taken as given.
  const presetValues = (values: readonly number[]) =>
    grayscale && values.length > 1 ? [values.reduce((a, b) => a + b, 0) / values.length] : [...values];
  const mean = opts.mean ? [...opts.mean] : presetValues(preset.mean);
  const std = opts.std ? [...opts.std] : presetValues(preset.std);
  for (const [name, values] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (values.length !== 1 && values.length !== channels) {
      throw new UserError(
        `${name} has ${values.length} values; give 1 or one per input channel (${channels}, ${grayscale ? 'grayscale' : 'RGB'})`,
      );
    }
  }

  // Keep the crop's proportion to the resize (224 of 256) at any size; the longer crop side decides
  // so that both crop sides fit in the resized image.
  const resizeShorter = preset.resizeAndCrop ? Math.round((Math.max(size[0], size[1]) * 256) / 224) : null;
  const parsed = PreprocessingSchema.safeParse({
    preset: presetName,
    resizeShorter,
    size,
    scale: preset.scale,
    mean,
    std,
    layout,
    grayscale,
    channelOrder: opts.channelOrder ?? preset.channelOrder,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(`invalid preprocessing: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`);
  }
  return parsed.data;
}
