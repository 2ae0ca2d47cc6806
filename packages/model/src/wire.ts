/**
 * The protobuf wire format, as much of it as reading and extending serialized models without decoding them needs.
 *
 * Protobuf parsers merge repeated occurrences of a singular embedded message field and concatenate repeated
 * fields, so the bytes of `ModelProto { graph { ... } }` appended to a model add nodes, inputs, outputs and
 * initializers to its graph, losslessly and in time independent of the weights (onnxruntime accepts it).
 * protobufjs does NOT merge (a later `graph` replaces the earlier one): such bytes are read with
 * {@link wireFields}, which sees every occurrence.
 */
import type onnxProto from 'onnx-proto';
import { onnx } from './onnx-graph.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** One top-level field: a length-delimited field's payload, or a varint's value (null for the other). */
export interface WireField {
  readonly field: number;
  readonly payload: Uint8Array | null;
  readonly value: number | null;
  /** Where the whole field (key included) lies in the scanned bytes: `bytes.subarray(start, end)` re-emits it. */
  readonly start: number;
  readonly end: number;
}

/** The top-level fields of one protobuf message, in order. Throws on malformed bytes. */
export function* wireFields(bytes: Uint8Array): Generator<WireField> {
  let pos = 0;
  const varint = (): number => {
    // Lengths and keys fit in 53 bits; multiplication avoids 32-bit bitwise overflow.
    let result = 0;
    let factor = 1;
    for (;;) {
      if (pos >= bytes.length) throw new Error('protobuf: truncated varint');
      const b = bytes[pos++]!;
      result += (b & 0x7f) * factor;
      if (b < 0x80) return result;
      factor *= 128;
      if (factor > 2 ** 63) throw new Error('protobuf: varint too long');
    }
  };
  while (pos < bytes.length) {
    const start = pos;
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === WIRE_VARINT) {
      const value = varint();
      yield { field, payload: null, value, start, end: pos };
    } else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      pos += wireType === WIRE_FIXED64 ? 8 : 4;
      if (pos > bytes.length) throw new Error('protobuf: field runs past the end');
      yield { field, payload: null, value: null, start, end: pos };
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      const length = varint();
      if (pos + length > bytes.length) throw new Error('protobuf: field runs past the end');
      const payload = bytes.subarray(pos, pos + length);
      pos += length;
      yield { field, payload, value: null, start, end: pos };
    } else {
      throw new Error(`protobuf: unsupported wire type ${wireType}`);
    }
  }
  if (pos !== bytes.length) throw new Error('protobuf: field runs past the end');
}

/** The protobuf varint encoding of a non-negative integer below 2^53. */
export function encodeVarint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`protobuf: cannot encode ${value} as a varint`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** The parts of one length-delimited field `field` holding `payload`: key, length, payload (concatenate them). */
export function lengthDelimited(field: number, payload: Uint8Array): Uint8Array[] {
  return [encodeVarint(field * 8 + WIRE_LENGTH_DELIMITED), encodeVarint(payload.length), payload];
}

/** The parts joined into one new array. */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** `bytes` followed by `fragment`, in a new array. */
export function concatBytes(bytes: Uint8Array, fragment: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + fragment.length);
  out.set(bytes, 0);
  out.set(fragment, bytes.length);
  return out;
}

/** The bytes of `ModelProto { graph }`: appended to a model, they merge `graph` into the model's graph. */
export function graphFragment(graph: onnxProto.onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode({ graph }).finish();
}

/**
 * Model bytes whose graph also has `graph`'s nodes, inputs, outputs and initializers: the original bytes are
 * copied unchanged and the fragment appended (meant for onnxruntime; protobufjs would keep only the fragment).
 */
export function appendGraph(bytes: Uint8Array, graph: onnxProto.onnx.IGraphProto): Uint8Array {
  return concatBytes(bytes, graphFragment(graph));
}
