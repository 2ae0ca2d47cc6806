import type { Layout, OutputKind } from '@neuronscope/core';
import { sha256 as sha256Of, UserError } from '@neuronscope/core';
import { readModelBytes } from './external-data.js';
import { type GraphView, graphView, ONNX_FLOAT, onnx, type ValueInfo } from './onnx-graph.js';
import { detectOutputKind } from './output-kind.js';

/** An ONNX image classifier read from disk, with what neuronscope needs to know about its input. */
export interface LoadedModel {
  readonly path: string;
  /**
   * The model's bytes: the file's, unchanged, or, when it keeps its weights in external data files, the model with
   * them inlined (see external-data.ts). Plain protobuf: nothing appended.
   */
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes`, hex (so it covers the external data too). */
  readonly sha256: string;
  /** External data files read (real paths); empty for a self-contained model. */
  readonly externalFiles: readonly string[];
  /** Name of the single 4-D float32 input. */
  readonly inputName: string;
  /** Name of the first graph output (the model's own output: logits, or probabilities, see `outputKind`). */
  readonly outputName: string;
  /** What the first output is, read from the graph (see `detectOutputKind`). */
  readonly outputKind: OutputKind;
  /**
   * The class scores y is computed from: `outputName` for `logits`, else the input of the final Softmax, LogSoftmax
   * or Sigmoid. It may be an inner tensor: add it to the outputs of the bytes a session runs
   * (`withExtraOutputs(bytes, [logitsName])`; `withReductions` adds it itself).
   */
  readonly logitsName: string;
  /** Dims of the input; null = symbolic or unknown. */
  readonly inputDims: (number | null)[];
  /** Dims of the first output, or null when its rank is unknown. */
  readonly outputDims: (number | null)[] | null;
  /** True when the batch dim is symbolic; false when it is fixed (see {@link LoadedModel.batch}). */
  readonly dynamicBatch: boolean;
  /** The fixed batch size, or null when it is dynamic. */
  readonly batch: number | null;
  /** Guessed input layout; null when the dims do not tell. */
  readonly layout: Layout | null;
  /** Input channels, height and width under the guessed layout, where fixed. */
  readonly channels: number | null;
  readonly height: number | null;
  readonly width: number | null;
  readonly graph: GraphView;
}

/**
 * Guesses the layout of 4-D image input dims: NCHW when dims[1] is 1, 3 or 4 (grey, RGB, RGBA);
 * otherwise NHWC when dims[3] is 1, 3 or 4; otherwise null.
 */
export function guessLayout(dims: readonly (number | null)[]): Layout | null {
  const isChannelCount = (d: number | null | undefined) => d === 1 || d === 3 || d === 4;
  if (isChannelCount(dims[1])) return 'NCHW';
  if (isChannelCount(dims[3])) return 'NHWC';
  return null;
}

/** Channels, height and width of 4-D input dims read under `layout` (null where symbolic). */
export function inputGeometry(
  dims: readonly (number | null)[],
  layout: Layout,
): { channels: number | null; height: number | null; width: number | null } {
  const [c, h, w] = layout === 'NCHW' ? [1, 2, 3] : [3, 1, 2];
  return { channels: dims[c] ?? null, height: dims[h] ?? null, width: dims[w] ?? null };
}

const ELEMENT_TYPE_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

function describeValue(v: ValueInfo): string {
  const type = v.elemType === null ? 'non-tensor' : (ELEMENT_TYPE_NAMES[v.elemType] ?? `type-${v.elemType}`);
  const shape = v.dims === null ? 'of unknown rank' : `[${v.dims.map((d) => d ?? '?').join(', ')}]`;
  return `'${v.name}' (${type} ${shape})`;
}

const isImageInput = (v: ValueInfo) => v.elemType === ONNX_FLOAT && v.dims?.length === 4;

/**
 * Checks that the model's output can be class scores: float32, and [N, classes] or [N, classes, 1, 1] (a
 * 1x1 map, e.g. a conv head without Flatten). A 4-D map, an integer output or another rank is a one-line error
 * naming what was found, before anything runs.
 */
export function checkClassifierOutput(model: Pick<LoadedModel, 'graph' | 'path' | 'outputName'>): void {
  const output = model.graph.outputs.find((o) => o.name === model.outputName)!;
  const { path } = model;
  if (output.elemType !== null && output.elemType !== ONNX_FLOAT) {
    throw new UserError(
      `model ${path} outputs ${describeValue(output)}; neuronscope needs float32 class scores [N, classes]`,
    );
  }
  const dims = output.dims;
  if (dims === null) return; // rank unknown: checked on the clean copy
  const classScores = dims.length === 2 || (dims.length === 4 && dims[2] === 1 && dims[3] === 1);
  if (!classScores) {
    throw new UserError(
      `model ${path} outputs ${describeValue(output)}; neuronscope needs class scores [N, classes] (a detector or segmenter is not a classifier)`,
    );
  }
}

/** Picks the single 4-D float32 input among the graph inputs that are not initializers. */
function imageInput(graph: GraphView, path: string): ValueInfo {
  const inputs = graph.inputs.filter((v) => !graph.initializers.has(v.name));
  const images = inputs.filter(isImageInput);
  if (inputs.length === 0) throw new UserError(`model ${path} has no input`);
  if (images.length > 1) {
    const names = images.map((v) => `'${v.name}'`).join(', ');
    throw new UserError(`model ${path} has several 4-D float32 inputs (${names}); neuronscope needs exactly one`);
  }
  const [image] = images;
  if (image === undefined || inputs.length > 1) {
    const found = inputs.map(describeValue).join(', ');
    throw new UserError(
      `model ${path} has input${inputs.length > 1 ? 's' : ''} ${found}; neuronscope needs exactly one 4-D float32 image input`,
    );
  }
  return image;
}

/**
 * Reads and checks an ONNX model, inlining weights kept in external data files inside the model's folder, and reads
 * what its output is. Throws a {@link UserError} when the file is missing, is not an ONNX model, refers to external
 * data it may not read, has no output, or does not have exactly one input, a 4-D float32 one (graph inputs that are
 * initializers do not count).
 */
export async function loadModel(path: string): Promise<LoadedModel> {
  const { bytes, sha256, externalFiles } = await readModelBytes(path);
  return parseModel(bytes, path, { sha256, externalFiles });
}

/**
 * Checks model bytes already in memory as {@link loadModel} checks a file (same {@link UserError}s); `path` names
 * the model in messages and in the result. `source` is what reading it found (by default: self-contained bytes).
 */
export function parseModel(
  bytes: Uint8Array,
  path: string,
  source: Pick<LoadedModel, 'sha256' | 'externalFiles'> = { sha256: sha256Of(bytes), externalFiles: [] },
): LoadedModel {
  const { sha256, externalFiles } = source;
  let graph: GraphView;
  try {
    const decoded = onnx.ModelProto.decode(bytes);
    if (!decoded.graph || (decoded.graph.node ?? []).length === 0) throw new Error('no graph');
    graph = graphView(decoded.graph);
  } catch {
    throw new UserError(`${path} is not a valid ONNX model (cannot decode an ONNX graph from it)`);
  }
  const input = imageInput(graph, path);
  const output = graph.outputs[0];
  if (output === undefined) throw new UserError(`model ${path} has no output`);
  const inputDims = [...(input.dims ?? [])];
  const layout = guessLayout(inputDims);
  const batch = inputDims[0] ?? null;
  const { kind, logitsName } = detectOutputKind(graph, output.name);
  return {
    path,
    bytes,
    sha256,
    externalFiles,
    inputName: input.name,
    outputName: output.name,
    outputKind: kind,
    logitsName,
    inputDims,
    outputDims: output.dims ? [...output.dims] : null,
    dynamicBatch: batch === null,
    batch,
    layout,
    ...(layout ? inputGeometry(inputDims, layout) : { channels: null, height: null, width: null }),
    graph,
  };
}
