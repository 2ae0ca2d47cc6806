/**
 * Adding graph outputs to a serialized model without decoding and re-encoding it.
 *
 * Protobuf parsers merge repeated occurrences of a singular embedded message field, and concatenate
 * repeated fields. So the bytes of `ModelProto { graph { output: [...] } }` appended to a model add
 * outputs to its graph, losslessly and in time independent of the weights (onnxruntime accepts it).
 * protobufjs does NOT merge (a later `graph` replaces the earlier one), so the existing outputs are
 * read here with a small wire-format scanner that sees every occurrence.
 */
import { ONNX_FLOAT, onnx } from './onnx-graph.js';

const MODEL_GRAPH_FIELD = 7; // ModelProto.graph
const GRAPH_OUTPUT_FIELD = 12; // GraphProto.output
const VALUE_INFO_NAME_FIELD = 1; // ValueInfoProto.name

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** A length-delimited field's payload, or null for other wire types (which are skipped). */
interface WireField {
  field: number;
  payload: Uint8Array | null;
}

/** The top-level fields of one protobuf message, in order. Throws on malformed bytes. */
function* wireFields(bytes: Uint8Array): Generator<WireField> {
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
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === WIRE_VARINT) {
      varint();
      yield { field, payload: null };
    } else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      pos += wireType === WIRE_FIXED64 ? 8 : 4;
      yield { field, payload: null };
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      const length = varint();
      if (pos + length > bytes.length) throw new Error('protobuf: field runs past the end');
      const payload = bytes.subarray(pos, pos + length);
      pos += length;
      yield { field, payload };
    } else {
      throw new Error(`protobuf: unsupported wire type ${wireType}`);
    }
  }
  if (pos !== bytes.length) throw new Error('protobuf: field runs past the end');
}

const textDecoder = new TextDecoder();

/** Names of the graph outputs of serialized model bytes, across every occurrence of the graph field. */
export function graphOutputNames(modelBytes: Uint8Array): string[] {
  const names: string[] = [];
  for (const model of wireFields(modelBytes)) {
    if (model.field !== MODEL_GRAPH_FIELD || !model.payload) continue;
    for (const graph of wireFields(model.payload)) {
      if (graph.field !== GRAPH_OUTPUT_FIELD || !graph.payload) continue;
      for (const info of wireFields(graph.payload)) {
        if (info.field === VALUE_INFO_NAME_FIELD && info.payload) names.push(textDecoder.decode(info.payload));
      }
    }
  }
  return names;
}

/**
 * Model bytes whose graph also outputs the tensors `tensorNames` (declared float32 with unknown shape;
 * onnxruntime infers the shape). Names that already are graph outputs, and repeats, are skipped. The
 * original bytes are copied unchanged and a small graph fragment is appended: no re-encoding.
 *
 * The result is meant for onnxruntime (or any protobuf parser that merges messages); protobufjs's
 * `ModelProto.decode` would keep only the appended fragment.
 */
export function withExtraOutputs(bytes: Uint8Array, tensorNames: readonly string[]): Uint8Array {
  const existing = new Set(graphOutputNames(bytes));
  const added = [...new Set(tensorNames)].filter((name) => !existing.has(name));
  if (added.length === 0) return bytes;
  const fragment = onnx.ModelProto.encode({
    graph: { output: added.map((name) => ({ name, type: { tensorType: { elemType: ONNX_FLOAT } } })) },
  }).finish();
  const out = new Uint8Array(bytes.length + fragment.length);
  out.set(bytes, 0);
  out.set(fragment, bytes.length);
  return out;
}
