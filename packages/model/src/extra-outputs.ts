/**
 * Adding graph outputs to a serialized model without decoding and re-encoding it: a graph fragment with the
 * outputs is appended (wire.ts says why that works); the existing outputs are read with the wire-format scanner,
 * which sees every occurrence of the graph field.
 */
import { ONNX_FLOAT } from './onnx-graph.js';
import { appendGraph, wireFields } from './wire.js';

const MODEL_GRAPH_FIELD = 7; // ModelProto.graph
const GRAPH_OUTPUT_FIELD = 12; // GraphProto.output
const VALUE_INFO_NAME_FIELD = 1; // ValueInfoProto.name

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
  return appendGraph(bytes, {
    output: added.map((name) => ({ name, type: { tensorType: { elemType: ONNX_FLOAT } } })),
  });
}
