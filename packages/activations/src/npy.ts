import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { temporaryPathFor } from '@neuronscope/core';

/**
 * Streams a float32 C-order `.npy` file of a known shape, batch by batch, so the copies fed to the model can be
 * checked independently (numpy.load) without ever holding all of them. The file appears atomically at close().
 */
export class NpyWriter {
  private written = 0;
  private constructor(
    private readonly path: string,
    private readonly tmp: string,
    private readonly file: FileHandle,
    private readonly shape: readonly number[],
    private readonly expected: number,
  ) {}

  /** Opens `path` for an array of `shape` (float32, little-endian). */
  static async open(path: string, shape: readonly number[]): Promise<NpyWriter> {
    const tmp = temporaryPathFor(path);
    const file = await open(tmp, 'w');
    await file.write(npyHeader(shape));
    return new NpyWriter(
      path,
      tmp,
      file,
      shape,
      shape.reduce((a, b) => a * b, 1),
    );
  }

  /** Appends values in C order. */
  async write(values: Float32Array): Promise<void> {
    await this.file.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    this.written += values.length;
  }

  /**
   * Finishes the file; it must hold exactly the declared number of values, or, with `rows`, exactly `rows` entries
   * of the first dimension (fewer than declared: the header is rewritten in place, its length unchanged).
   */
  async close(rows?: number): Promise<void> {
    const perRow = this.shape.slice(1).reduce((a, b) => a * b, 1);
    const shape = rows === undefined ? this.shape : [rows, ...this.shape.slice(1)];
    const expected = rows === undefined ? this.expected : rows * perRow;
    if (rows !== undefined && rows !== this.shape[0]) {
      const header = npyHeader(shape, npyHeader(this.shape).length);
      await this.file.write(header, 0, header.length, 0);
    }
    await this.file.close();
    if (this.written !== expected) {
      await rm(this.tmp, { force: true });
      throw new Error(`npy: wrote ${this.written} values, expected ${expected}`);
    }
    await rename(this.tmp, this.path);
  }

  /** Drops the partial file. */
  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/**
 * The .npy header of a float32 C-order array of `shape`: magic, version 1.0, length, and the dict text padded with
 * spaces to a multiple of 64 bytes (or to `length` bytes in all, to rewrite a header in place), ending in \n.
 */
function npyHeader(shape: readonly number[], length?: number): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const text = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = length ?? Math.ceil((10 + text.length + 1) / 64) * 64;
  if (total < 10 + text.length + 1) throw new Error('npy: header does not fit');
  const header = `${text}${' '.repeat(total - 10 - text.length - 1)}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1')]);
}
