/** IDX files written by the tests: the byte layout, and a small Fashion-MNIST-like dataset. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { defaultModel } from '../../../test/support/env.js';

/** An IDX file's bytes: the magic number and the dimensions (32-bit big-endian), then the unsigned bytes. */
export function idx(magic: number, dims: number[], data: ArrayLike<number>): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  for (const [i, d] of dims.entries()) head.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([head, Buffer.from(Uint8Array.from(data))]);
}

/** The 28x28 grey pixels of `image` moved by `variant`: 0 as it is, 1 mirrored left-right, 2 shifted 2 px down-right. */
function variantOf(image: Uint8Array, variant: number): Uint8Array {
  const out = new Uint8Array(28 * 28);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const [sy, sx] = variant === 1 ? [y, 27 - x] : variant === 2 ? [y - 2, x - 2] : [y, x];
      out[y * 28 + x] = sy >= 0 && sx >= 0 ? image[sy * 28 + sx]! : 0;
    }
  }
  return out;
}

/** A small IDX dataset: the images file (its labels file beside it, as in Fashion-MNIST) and the labels. */
export interface MiniIdx {
  images: string;
  labels: number[];
}

/**
 * Writes `mini-images-idx3-ubyte.gz` and `mini-labels-idx1-ubyte.gz` into `dir`: 30 Fashion-MNIST-like 28x28 grey
 * images, the default model's ten samples as they are, mirrored and shifted, labelled with their class. Their names
 * in a sweep are `mini:00` .. `mini:29`.
 */
export async function writeMiniIdx(dir: string): Promise<MiniIdx> {
  const samples = await Promise.all(
    defaultModel.images.map(async (name) =>
      Uint8Array.from(await sharp(defaultModel.image(name)).greyscale().raw().toBuffer()),
    ),
  );
  const pixels: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 30; i++) {
    pixels.push(...variantOf(samples[i % 10]!, Math.floor(i / 10)));
    labels.push(i % 10);
  }
  const images = join(dir, 'mini-images-idx3-ubyte.gz');
  await writeFile(images, gzipSync(idx(2051, [30, 28, 28], pixels)));
  await writeFile(join(dir, 'mini-labels-idx1-ubyte.gz'), gzipSync(idx(2049, [30], labels)));
  return { images, labels };
}
