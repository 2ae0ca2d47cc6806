/**
 * ONNX external data: `torch.onnx.export` (dynamo, the default since PyTorch 2.9) writes the weights to a side file,
 * `model.onnx.data`, and the graph's initializers only name it (`location`, `offset`, `length`).
 *
 * neuronscope inlines them: the external bytes become each initializer's `raw_data`, in one self-contained model
 * byte array. Everything downstream works on model bytes (sessions in worker threads from shared memory, graph
 * fragments appended at the wire level, the channel masks of the ablation and the randomization test re-encoded
 * with protobufjs, the extract stage's hash check), and onnxruntime given a buffer has no folder to resolve relative
 * locations against; passing the files to onnxruntime instead would need every one of those paths to carry them.
 * The price is the 2 GB protobuf limit, far above any CNN classifier. Inlining is done on the wire format, copying
 * every other field unchanged, so fields that onnx-proto does not know (e.g. node metadata) survive.
 *
 * Only files inside the model's folder are read: absolute locations, `..` and symlinks that resolve outside the
 * folder (compared by real path) are refused.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { sha256, UserError } from '@neuronscope/core';
import { joinBytes, lengthDelimited, type WireField, wireFields } from './wire.js';

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1;
/** protobuf's limit on one serialized message, which onnxruntime enforces. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Bytes per element of the fixed-size ONNX element types (by TensorProto.DataType). */
// biome-ignore format: a table reads better on one line
const ELEMENT_BYTES: Readonly<Record<number, number>> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

/** A model's bytes as neuronscope runs it. */
export interface ModelBytes {
  /** The file's bytes, or, when it keeps weights in external data files, the model with them inlined. */
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes`, hex: of the file itself, or of the model with its external data inlined. */
  readonly sha256: string;
  /** The external data files read (absolute real paths), in first-use order; empty for a self-contained model. */
  readonly externalFiles: readonly string[];
}

/** One initializer stored outside the model file. */
interface ExternalTensor {
  readonly name: string;
  readonly location: string;
  readonly offset: number;
  /** null: to the end of the file. */
  readonly length: number | null;
  /** Expected byte length from dims and element type; null when the type has no fixed size. */
  readonly expected: number | null;
}

const decoder = new TextDecoder();

/** Reads a model file. Missing or unreadable files are {@link UserError}s; external data is inlined (see above). */
export async function readModelBytes(path: string): Promise<ModelBytes> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`model file not found: ${path}`);
    throw new UserError(`cannot read model ${path}: ${code ?? (err as Error).message}`);
  }
  let externals: Map<number, ExternalTensor>;
  try {
    externals = externalTensors(bytes);
  } catch {
    throw new UserError(`${path} is not a valid ONNX model (cannot decode an ONNX graph from it)`);
  }
  if (externals.size === 0) return { bytes, sha256: sha256(bytes), externalFiles: [] };
  const files = new Map<string, { real: string; data: Uint8Array }>();
  const data = new Map<number, Uint8Array>();
  for (const [at, tensor] of externals) {
    let file = files.get(tensor.location);
    if (!file) {
      file = await readExternalFile(path, tensor.location);
      files.set(tensor.location, file);
    }
    data.set(at, tensorBytes(path, tensor, file.data));
  }
  const inlined = inlineTensors(bytes, data);
  if (inlined.length > PROTOBUF_LIMIT) {
    throw new UserError(
      `model ${path} with its external data inlined is ${inlined.length} bytes, over protobuf's 2 GB message limit`,
    );
  }
  return { bytes: inlined, sha256: sha256(inlined), externalFiles: [...files.values()].map((f) => f.real) };
}

/**
 * The graph initializers whose data lives in external files, keyed by where their serialized TensorProto starts in
 * `bytes` (its payload's byte offset). Throws on malformed bytes.
 */
function externalTensors(bytes: Uint8Array): Map<number, ExternalTensor> {
  const out = new Map<number, ExternalTensor>();
  for (const model of wireFields(bytes)) {
    if (model.field !== MODEL_GRAPH || !model.payload) continue;
    for (const graph of wireFields(model.payload)) {
      if (graph.field !== GRAPH_INITIALIZER || !graph.payload) continue;
      const tensor = readExternalTensor(graph.payload);
      if (tensor) out.set(graph.payload.byteOffset, tensor);
    }
  }
  return out;
}

/** The external-data description of one serialized TensorProto, or null when its data is in the file. */
function readExternalTensor(payload: Uint8Array): ExternalTensor | null {
  let external = false;
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  const entries = new Map<string, string>();
  for (const f of wireFields(payload)) {
    if (f.field === TENSOR_DATA_LOCATION && f.value === DATA_LOCATION_EXTERNAL) external = true;
    else if (f.field === TENSOR_NAME && f.payload) name = decoder.decode(f.payload);
    else if (f.field === TENSOR_DATA_TYPE && f.value !== null) dataType = f.value;
    else if (f.field === TENSOR_DIMS) dims.push(...readInt64s(f));
    else if (f.field === TENSOR_EXTERNAL_DATA && f.payload) {
      let key = '';
      let value = '';
      for (const e of wireFields(f.payload)) {
        if (e.field === 1 && e.payload) key = decoder.decode(e.payload);
        else if (e.field === 2 && e.payload) value = decoder.decode(e.payload);
      }
      entries.set(key, value);
    }
  }
  if (!external) return null;
  const count = (key: string): number | null => {
    const text = entries.get(key);
    if (text === undefined) return null;
    if (!/^\d+$/.test(text.trim()))
      throw new UserError(`initializer '${name}': external data ${key} '${text}' is not a whole number`);
    return Number(text);
  };
  const size = ELEMENT_BYTES[dataType];
  return {
    name,
    location: entries.get('location') ?? '',
    offset: count('offset') ?? 0,
    length: count('length'),
    expected: size === undefined ? null : dims.reduce((a, b) => a * b, size),
  };
}

/** The int64 values of a dims field: one unpacked varint, or a packed run of them. */
function readInt64s(f: WireField): number[] {
  if (f.value !== null) return [f.value];
  if (!f.payload) return [];
  // A packed run of varints is the same bytes as a message of varint fields with key 0 stripped: decode by hand.
  const values: number[] = [];
  let value = 0;
  let factor = 1;
  for (const b of f.payload) {
    value += (b & 0x7f) * factor;
    factor *= 128;
    if (b < 0x80) {
      values.push(value);
      value = 0;
      factor = 1;
    }
  }
  return values;
}

/**
 * Reads the external data file `location` of model `modelPath`, refusing anything outside the model's folder:
 * absolute locations, `..` components, and paths (symlinks included) whose real path leaves the folder.
 */
async function readExternalFile(modelPath: string, location: string): Promise<{ real: string; data: Uint8Array }> {
  const dir = dirname(resolve(modelPath));
  const refuse = (why: string) =>
    new UserError(`model ${modelPath}: external data location '${location}' ${why}; only files inside ${dir} are read`);
  if (location === '') throw refuse('is empty');
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.startsWith('\\')) {
    throw refuse('is an absolute path');
  }
  if (location.split(/[\\/]/).includes('..')) throw refuse("goes up with '..'");
  let real: string;
  try {
    real = await realpath(resolve(dir, location));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new UserError(`external data file '${location}' of model ${modelPath} not found in ${dir}`);
    throw new UserError(
      `cannot read external data '${location}' of model ${modelPath}: ${code ?? (err as Error).message}`,
    );
  }
  const inside = relative(await realpath(dir), real);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw refuse(`resolves to ${real}, outside the folder`);
  }
  if (!(await stat(real)).isFile()) throw refuse('is not a file');
  return { real, data: await readFile(real) };
}

/** The bytes of one external tensor within its file, checked against the file's size and the tensor's dims. */
function tensorBytes(modelPath: string, tensor: ExternalTensor, file: Uint8Array): Uint8Array {
  const length = tensor.length ?? file.length - tensor.offset;
  const where = `initializer '${tensor.name}' of model ${modelPath}`;
  if (tensor.offset + length > file.length || length < 0) {
    throw new UserError(
      `${where}: external data (offset ${tensor.offset}, length ${length}) runs past the end of '${tensor.location}' (${file.length} bytes)`,
    );
  }
  if (tensor.expected !== null && tensor.expected !== length) {
    throw new UserError(`${where}: external data has ${length} bytes, its dims and type need ${tensor.expected}`);
  }
  return file.subarray(tensor.offset, tensor.offset + length);
}

/**
 * `bytes` with each initializer listed in `data` (by payload offset, as {@link externalTensors} keys them) rewritten
 * to hold its data as raw_data, without its external fields. Every other field is copied unchanged.
 */
function inlineTensors(bytes: Uint8Array, data: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const modelParts: Uint8Array[] = [];
  for (const model of wireFields(bytes)) {
    if (model.field !== MODEL_GRAPH || !model.payload) {
      modelParts.push(bytes.subarray(model.start, model.end));
      continue;
    }
    const graphParts: Uint8Array[] = [];
    for (const graph of wireFields(model.payload)) {
      const raw = graph.field === GRAPH_INITIALIZER && graph.payload ? data.get(graph.payload.byteOffset) : undefined;
      if (!raw || !graph.payload) {
        graphParts.push(model.payload.subarray(graph.start, graph.end));
        continue;
      }
      const tensorParts: Uint8Array[] = [];
      for (const f of wireFields(graph.payload)) {
        if (f.field === TENSOR_EXTERNAL_DATA || f.field === TENSOR_DATA_LOCATION || f.field === TENSOR_RAW_DATA)
          continue;
        tensorParts.push(graph.payload.subarray(f.start, f.end));
      }
      tensorParts.push(...lengthDelimited(TENSOR_RAW_DATA, raw));
      graphParts.push(...lengthDelimited(GRAPH_INITIALIZER, joinBytes(tensorParts)));
    }
    modelParts.push(...lengthDelimited(MODEL_GRAPH, joinBytes(graphParts)));
  }
  return joinBytes(modelParts);
}
