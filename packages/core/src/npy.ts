/** Float32 C-order `.npy` arrays (numpy's format, version 1.0), in memory: `inputs.npy` and tensor inputs. */
import { UserError } from './errors.js';

/** The .npy bytes of a float32 C-order array of `shape` (header padded to a multiple of 64 bytes, as numpy does). */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: ${data.length} values for shape ${shape.join('x')}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const text = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + text.length + 1) / 64) * 64;
  const header = `${text}${' '.repeat(total - 10 - text.length - 1)}\n`;
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Reads a float32 little-endian C-order .npy array; anything else is a one-line {@link UserError}. */
export function decodeNpy(bytes: Uint8Array, name = 'array'): { shape: number[]; data: Float32Array } {
  const magic = Buffer.from(bytes.subarray(0, 6)).toString('latin1');
  if (magic !== '\x93NUMPY' || bytes.length < 10) throw new UserError(`${name} is not a .npy file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = bytes[6] === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (bytes[6] === 1 ? 10 : 12) + headerLength;
  const header = Buffer.from(bytes.subarray(bytes[6] === 1 ? 10 : 12, start)).toString('latin1');
  if (!/'descr':\s*'<f4'/.test(header) || !/'fortran_order':\s*False/.test(header)) {
    throw new UserError(`${name} is not a float32 C-order array`);
  }
  const shape = (header.match(/'shape':\s*\(([^)]*)\)/)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - start !== count * 4) throw new UserError(`${name} is truncated or has extra bytes`);
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(start));
  return { shape, data };
}
