/**
 * What `explain` takes as an image: a file path, the bytes of an image file, or a tensor already preprocessed for
 * the model. Each becomes the model's input tensor and a content hash (the file's or buffer's bytes, or the
 * tensor's float32 bytes), which is what the cache and the run id are keyed on.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { decodeNpy, type InputTensor, type Preprocessing, sha256, tensorDims, UserError } from '@neuronscope/core';
import { imageFromBytes, loadImage } from '@neuronscope/model';

/** A path to an image file (or a `.npy` tensor), an image file's bytes, or a preprocessed tensor. */
export type ImageInput = string | Uint8Array | InputTensor;

/** An image ready to be explained. */
export interface LoadedInput {
  readonly tensor: InputTensor;
  /** SHA-256 of the source: the file or buffer bytes, or the tensor's float32 bytes. */
  readonly sha256: string;
  /** Size of the source image before preprocessing (the tensor's for a tensor). */
  readonly width: number;
  readonly height: number;
  /** Absolute path of the file, or null for a buffer or a tensor given in memory. */
  readonly path: string | null;
  /** The source bytes when they came in memory (an image file's, or the tensor as .npy), to be saved with the run. */
  readonly bytes: Uint8Array | null;
  /** Whether the source is an image or a preprocessed tensor (a `.npy` file or an in-memory tensor). */
  readonly kind: 'image' | 'tensor';
}

const isTensor = (x: ImageInput): x is InputTensor =>
  typeof x === 'object' && !ArrayBuffer.isView(x) && 'data' in x && 'layout' in x;

/** The tensor checked against the preprocessing the model takes. */
function checkTensor(t: InputTensor, prep: Preprocessing, name: string): InputTensor {
  const [height, width] = prep.size;
  const channels = prep.grayscale ? 1 : 3;
  if (t.layout !== prep.layout || t.channels !== channels || t.height !== height || t.width !== width) {
    throw new UserError(
      `${name}: a tensor of ${tensorDims(t).join('x')} (${t.layout}); this model takes ` +
        `${tensorDims({ layout: prep.layout, channels, height, width }).join('x')} (${prep.layout})`,
    );
  }
  if (t.data.length !== channels * height * width)
    throw new UserError(`${name}: the tensor has ${t.data.length} values`);
  return t;
}

/** A `.npy` file or buffer as the model's input tensor ([1, C, H, W] or [1, H, W, C] as the preprocessing says). */
function tensorFromNpy(bytes: Uint8Array, name: string, prep: Preprocessing): InputTensor {
  const { shape, data } = decodeNpy(bytes, name);
  const dims = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (dims.length !== 3)
    throw new UserError(`${name}: expected a [1, C, H, W] or [1, H, W, C] array, got ${shape.join('x')}`);
  const [channels, height, width] = prep.layout === 'NCHW' ? dims : [dims[2]!, dims[0]!, dims[1]!];
  return checkTensor({ data, layout: prep.layout, channels: channels!, height: height!, width: width! }, prep, name);
}

/** The bytes of a tensor as a `.npy` file: how a tensor given in memory is saved with its run. */
function tensorBytes(t: InputTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Loads and preprocesses an image input (a relative path against `base`). */
export async function loadInput(input: ImageInput, prep: Preprocessing, base = process.cwd()): Promise<LoadedInput> {
  if (typeof input === 'string') {
    const path = resolve(base, input);
    if (extname(path).toLowerCase() === '.npy') {
      const bytes = await readFile(path).catch(() => {
        throw new UserError(`tensor file not found: ${path}`);
      });
      const tensor = tensorFromNpy(bytes, path, prep);
      return {
        tensor,
        sha256: sha256(tensorBytes(tensor)),
        width: tensor.width,
        height: tensor.height,
        path,
        bytes: null,
        kind: 'tensor',
      };
    }
    const image = await loadImage(path, prep);
    return { ...image, path, bytes: null, kind: 'image' };
  }
  if (isTensor(input)) {
    const tensor = checkTensor(input, prep, 'the input tensor');
    return {
      tensor,
      sha256: sha256(tensorBytes(tensor)),
      width: tensor.width,
      height: tensor.height,
      path: null,
      bytes: null,
      kind: 'tensor',
    };
  }
  const image = await imageFromBytes(input, 'the image buffer', prep);
  return { ...image, path: null, bytes: input, kind: 'image' };
}
