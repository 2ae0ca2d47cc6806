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
    private readonly expected: number,
  ) {}

  /** Opens `path` for an array of `shape` (float32, little-endian). */
  static async open(path: string, shape: readonly number[]): Promise<NpyWriter> {
    const tmp = temporaryPathFor(path);
    const file = await open(tmp, 'w');
    const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
    let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
    // The header (magic 6 + version 2 + length 2 + text) is padded with spaces to a multiple of 64, ending in \n.
    const total = Math.ceil((10 + header.length + 1) / 64) * 64;
    header = `${header}${' '.repeat(total - 10 - header.length - 1)}\n`;
    const prefix = Buffer.alloc(10);
    prefix.write('\x93NUMPY', 0, 'latin1');
    prefix[6] = 1;
    prefix[7] = 0;
    prefix.writeUInt16LE(header.length, 8);
    await file.write(Buffer.concat([prefix, Buffer.from(header, 'latin1')]));
    return new NpyWriter(
      path,
      tmp,
      file,
      shape.reduce((a, b) => a * b, 1),
    );
  }

  /** Appends values in C order. */
  async write(values: Float32Array): Promise<void> {
    await this.file.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    this.written += values.length;
  }

  /** Finishes the file; it must hold exactly the declared number of values. */
  async close(): Promise<void> {
    await this.file.close();
    if (this.written !== this.expected) {
      await rm(this.tmp, { force: true });
      throw new Error(`npy: wrote ${this.written} values, expected ${this.expected}`);
    }
    await rename(this.tmp, this.path);
  }

  /** Drops the partial file. */
  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}
