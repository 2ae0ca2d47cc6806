import { readFile } from 'node:fs/promises';
import { type InputTensor, type Preprocessing, sha256, UserError } from '@neuronscope/core';
import sharp from 'sharp';
import { type Pixels, resizeBilinear, resizeShorterAndCenterCrop, rgbToGray } from './resample.js';

/** An image file as the model's input tensor, with the file's own size and hash. */
export interface LoadedImage {
  readonly tensor: InputTensor;
  /** Size of the image as stored (after EXIF orientation), before any resizing. */
  readonly width: number;
  readonly height: number;
  /** SHA-256 of the file, hex. */
  readonly sha256: string;
}

/** A one-line UserError for a sharp failure on `path`. */
function imageError(path: string, err: unknown): UserError {
  const message = ((err as Error).message ?? String(err)).split('\n')[0]!.trim();
  if (/unsupported image format|buffer is empty/i.test(message)) {
    return new UserError(`${path} is not an image (unsupported format or not image data)`);
  }
  if (/pixel limit/i.test(message)) {
    return new UserError(`${path} is too large to decode: more than ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  }
  return new UserError(`${path} is a truncated or corrupt image (${message})`);
}

/**
 * Decoded pixels larger than this are refused before decoding (the header tells): 100 megapixels, 4x a 5000 x 5000
 * photo. A small file can claim a huge image (a "pixel bomb"); sharp checks the header against the limit.
 */
export const MAX_IMAGE_PIXELS = 100_000_000;

const decoder = (bytes: Uint8Array) =>
  // failOn 'error' rejects truncated and corrupt pixel data but tolerates benign decoder warnings
  // (e.g. extraneous bytes in a JPEG) that Pillow accepts too.
  sharp(bytes, { failOn: 'error', autoOrient: true, limitInputPixels: MAX_IMAGE_PIXELS });

/** (a * b + 128) / 255 rounded, in integers: Pillow's `MULDIV255`. */
const mulDiv255 = (a: number, b: number) => {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
};

/**
 * Pillow's CMYK to RGB conversion (`cmyk2rgb` in its Convert.c): no colour management, R = (255 - K) - C (255 - K) /
 * 255 in integers. libvips would apply an ICC transform instead, up to 36/255 away from what a torchvision-trained
 * model saw.
 */
export function cmykToRgb(cmyk: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const nk = 255 - cmyk[4 * i + 3]!;
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.max(0, nk - mulDiv255(cmyk[4 * i + c]!, nk));
  }
  return out;
}

/** Decodes `bytes` to 8-bit RGB pixels as displayed (EXIF-oriented), alpha dropped, colours as stored. */
async function decodeRgb(bytes: Uint8Array): Promise<Pixels> {
  if ((await decoder(bytes).metadata()).space === 'cmyk') {
    // The CMYK values as stored (libvips undoes Adobe's inversion, as Pillow does), converted as Pillow does.
    const { data, info } = await decoder(bytes)
      .toColourspace('cmyk')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`decoded CMYK to ${info.channels} channels, expected 4`);
    return { data: cmykToRgb(data, info.width * info.height), width: info.width, height: info.height, channels: 3 };
  }
  // keepIccProfile: an embedded ICC profile is not applied, as Pillow (and so every torchvision-trained model)
  // never applies it.
  const { data, info } = await decoder(bytes)
    .removeAlpha()
    .toColourspace('srgb')
    .keepIccProfile()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return { data, width: info.width, height: info.height, channels: 3 };
}

/**
 * Reads an image and turns it into the model's input tensor as `prep` says, reproducing torchvision's
 * PIL pipeline bit for bit: decode (EXIF-oriented, alpha dropped, 8-bit RGB, or Pillow's luma for
 * grayscale), bilinear antialiased resize of the shorter side to `prep.resizeShorter` and centre crop
 * (or a straight resize to `prep.size`), then `(v / scale - mean) / std` in `prep.layout`, with the colour
 * channels in `prep.channelOrder` (BGR: tensor channel 0 is blue; mean[0] and std[0] apply to it).
 * A missing file, bytes that are not an image, and a truncated or corrupt image are {@link UserError}s.
 */
export async function loadImage(path: string, prep: Preprocessing): Promise<LoadedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`image file not found: ${path}`);
    throw new UserError(`cannot read image ${path}: ${code ?? (err as Error).message}`);
  }
  return imageFromBytes(bytes, path, prep);
}

/**
 * {@link loadImage} of an image already in memory (`name` says which in errors): the same decoding and
 * preprocessing, so the same bytes give the same tensor whether they come from a file or a buffer.
 */
export async function imageFromBytes(bytes: Uint8Array, name: string, prep: Preprocessing): Promise<LoadedImage> {
  const path = name;
  const [height, width] = prep.size;
  const channels = prep.grayscale ? 1 : 3;
  for (const [name, values] of [
    ['mean', prep.mean],
    ['std', prep.std],
  ] as const) {
    if (values.length !== 1 && values.length !== channels) {
      throw new UserError(`preprocessing ${name} has ${values.length} values for ${channels} channels`);
    }
  }
  if (prep.resizeShorter !== null && prep.resizeShorter < Math.max(height, width)) {
    throw new UserError(`resizeShorter ${prep.resizeShorter} is smaller than the crop ${height}x${width}`);
  }
  let decoded: Pixels;
  try {
    decoded = await decodeRgb(bytes);
  } catch (err) {
    throw imageError(path, err);
  }
  const colour = prep.grayscale ? rgbToGray(decoded) : decoded;
  const pixels =
    prep.resizeShorter !== null
      ? resizeShorterAndCenterCrop(colour, prep.resizeShorter, height, width)
      : resizeBilinear(colour, width, height);
  return {
    tensor: pixelsToTensor(pixels, prep),
    width: decoded.width,
    height: decoded.height,
    sha256: sha256(bytes),
  };
}

/**
 * Normalizes interleaved 8-bit pixels into a float tensor in `prep.layout`. Computed as torchvision does,
 * in float32 (`v / scale`, minus mean, divided by std), through a 256-entry table per channel. Tensor channel c
 * takes pixel channel c, or 2 - c for BGR (absent channelOrder: RGB).
 */
function pixelsToTensor(
  pixels: Pixels,
  prep: Pick<Preprocessing, 'scale' | 'mean' | 'std' | 'layout'> & Partial<Pick<Preprocessing, 'channelOrder'>>,
): InputTensor {
  const { channels, height, width } = pixels;
  const plane = height * width;
  const data = new Float32Array(channels * plane);
  const f = Math.fround;
  const table = new Float32Array(256);
  const bgr = prep.channelOrder === 'BGR' && channels === 3;
  for (let c = 0; c < channels; c++) {
    const mean = f((prep.mean.length === 1 ? prep.mean[0] : prep.mean[c]) as number);
    const std = f((prep.std.length === 1 ? prep.std[0] : prep.std[c]) as number);
    const source = bgr ? 2 - c : c;
    for (let v = 0; v < 256; v++) table[v] = f(f(v / prep.scale) - mean) / std;
    if (prep.layout === 'NCHW') {
      const base = c * plane;
      for (let i = 0; i < plane; i++) data[base + i] = table[pixels.data[i * channels + source] as number] as number;
    } else {
      for (let i = 0; i < plane; i++) {
        data[i * channels + c] = table[pixels.data[i * channels + source] as number] as number;
      }
    }
  }
  return { data, layout: prep.layout, channels, height, width };
}
