import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { UserError } from '@neuronscope/core';

/** An IDX file of images (magic 2051): `count` images of `rows` x `cols` unsigned bytes, row-major. */
export interface IdxImages {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** The pixels of image `index` (a view into the file's bytes). */
  image(index: number): Uint8Array;
}

/** Reads an IDX file, gunzipping it when its name ends in `.gz`. */
async function readIdxBytes(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? `IDX file not found: ${path}` : `cannot read ${path}: ${code ?? (err as Error).message}`,
    );
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new UserError(`${path} is not a readable gzip file (${(err as Error).message})`);
    }
  }
  return bytes;
}

function header(bytes: Uint8Array, path: string, magic: number, dims: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * dims || view.getUint32(0) !== magic) {
    const found = bytes.length >= 4 ? view.getUint32(0) : 'none';
    throw new UserError(`${path} is not an IDX file with magic ${magic} (found ${found})`);
  }
  return Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
}

/** Parses an IDX image file (magic 2051: unsigned bytes, 3 dimensions), optionally gzipped. */
export async function readIdxImages(path: string): Promise<IdxImages> {
  const bytes = await readIdxBytes(path);
  const [count, rows, cols] = header(bytes, path, 2051, 3) as [number, number, number];
  const size = rows * cols;
  if (bytes.length < 16 + count * size) {
    throw new UserError(`${path} is truncated: ${count} images of ${rows}x${cols} need ${16 + count * size} bytes`);
  }
  return {
    count,
    rows,
    cols,
    image(index) {
      if (!Number.isInteger(index) || index < 0 || index >= count) {
        throw new UserError(`${path} has no image ${index} (it holds ${count})`);
      }
      return bytes.subarray(16 + index * size, 16 + (index + 1) * size);
    },
  };
}

/** Parses an IDX label file (magic 2049: one unsigned byte per item), optionally gzipped. */
export async function readIdxLabels(path: string): Promise<Uint8Array> {
  const bytes = await readIdxBytes(path);
  const [count] = header(bytes, path, 2049, 1) as [number];
  if (bytes.length < 8 + count) throw new UserError(`${path} is truncated: ${count} labels need ${8 + count} bytes`);
  return bytes.subarray(8, 8 + count);
}

/** The label file beside an image file, by the dataset's naming (`...-images-idx3-ubyte` -> `...-labels-idx1-ubyte`). */
export function idxLabelsPathFor(imagesPath: string): string | null {
  const labels = imagesPath.replace(/images-idx3-ubyte/, 'labels-idx1-ubyte');
  return labels === imagesPath ? null : labels;
}

/** Short name of an IDX image file, for image names: `t10k` for `t10k-images-idx3-ubyte.gz`. */
export function idxStem(imagesPath: string): string {
  const base = imagesPath.split(/[\\/]/).pop() ?? imagesPath;
  return base
    .replace(/\.gz$/, '')
    .replace(/[-.]images[-.]idx3[-.]ubyte$/, '')
    .replace(/[-.]idx3[-.]ubyte$/, '');
}
