/**
 * In-graph reductions: the statistics of the recorded layers computed by onnxruntime itself, next to the layers,
 * so that only small partial sums leave the runtime.
 *
 * For a batch of B copies and every recorded layer (activation a, [B, C, H, W]) the appended nodes compute, with
 * the layer's shift s (the clean copy's activation, [C, H, W]) and the output deviation e_b = y_b - yShift:
 *
 *     d            = a - s                                   Sub (broadcast over the batch)
 *     sums[0, u]   = sum_b d[b, u]                           MatMul [1; e] x d, as [2, B] x [B, U]
 *     sums[1, u]   = sum_b d[b, u] * e_b
 *     squares[u]   = sum_b d[b, u]^2                         Mul, then MatMul [1] x d^2, as [1, B] x [B, U]
 *     means[b, c]  = mean over H, W of d[b, c]               GlobalAveragePool
 *
 * and y itself inside the graph: the logits cast to float64, Softmax / LogSoftmax / identity (prob, logprob,
 * logit), the target class gathered, yShift subtracted, and e cast to float32 for the products. For a model whose
 * output is a Sigmoid (multi-label), the target's logit z is gathered first and y is sigmoid(z), log sigmoid(z) or z.
 * The logits are the pre-activation tensor (LoadedModel.logitsName), added as a graph output when they are not one. Every sum is over
 * at most one batch of shifted values in float32 (relative error ~1e-7); the caller merges the batches' partial
 * sums in float64. With B = 1, s = 0 (and any target) `sums[0]` is the copy's activation itself, exactly: the
 * clean run that fixes the shifts goes through the same graph.
 *
 * The nodes are appended to the serialized model without decoding or re-encoding it (wire.ts), so this costs
 * nothing for a model of any size.
 */
import type { LayerInfo, OutputKind, OutputMode } from '@neuronscope/core';
import type onnxProto from 'onnx-proto';
import { graphOutputNames } from './extra-outputs.js';
import { ONNX_FLOAT, onnx } from './onnx-graph.js';
import { concatBytes, graphFragment, wireFields } from './wire.js';

const ONNX_INT64 = 7;
const ONNX_DOUBLE = 11;

/** The names of the inputs the reduction graph needs and the outputs it adds. */
export interface ReductionNames {
  /** int64 [1]: the target class. */
  readonly target: string;
  /** float64 [1]: y of the clean copy. */
  readonly yShift: string;
  /** float32 [B, 1]: e = y - yShift of each copy, as used in the products. */
  readonly e: string;
  /** Per layer: the shift input, float32 [C, H, W]. */
  readonly shifts: readonly string[];
  /** Per layer: float32 [2, C*H*W], sum of d and sum of d*e over the batch. */
  readonly sums: readonly string[];
  /** Per layer: float32 [C*H*W], sum of d^2 over the batch. */
  readonly squares: readonly string[];
  /** Per layer: float32 [B, C, 1, 1], spatial mean of d per copy and channel. */
  readonly means: readonly string[];
}

/** What {@link withReductions} needs to know about the model. */
export interface ReductionSpec {
  /** The recorded layers with their shapes, in the order of the returned names. */
  readonly layers: readonly Pick<LayerInfo, 'layer' | 'channels' | 'height' | 'width'>[];
  /**
   * The tensor y is computed from: the model's logits (`LoadedModel.logitsName`, the input of a final Softmax,
   * LogSoftmax or Sigmoid). Added as a graph output when it is not one, so that sessions can fetch it.
   */
  readonly outputName: string;
  readonly output: OutputMode;
  /** What the model's own output is (`LoadedModel.outputKind`); `logits` when absent. Only `sigmoid` changes y. */
  readonly outputKind?: OutputKind;
}

/** The model with reductions, and the names of its added inputs and outputs. */
export interface ReducingModel {
  readonly bytes: Uint8Array;
  readonly names: ReductionNames;
}

/** The graph fragment that {@link withReductions} appends, and the names it adds. */
export interface ReductionFragment {
  readonly fragment: Uint8Array;
  readonly names: ReductionNames;
}

const MODEL_OPSET_IMPORT_FIELD = 8; // ModelProto.opset_import
const OPSET_DOMAIN_FIELD = 1; // OperatorSetIdProto.domain
const OPSET_VERSION_FIELD = 2; // OperatorSetIdProto.version

/**
 * Version of the default ONNX domain a serialized model imports (the highest, if it says more than once), read
 * from the top-level fields without decoding the graph. 1 when it imports none.
 */
export function defaultOpset(bytes: Uint8Array): number {
  const decoder = new TextDecoder();
  let opset = 0;
  for (const entry of wireFields(bytes)) {
    if (entry.field !== MODEL_OPSET_IMPORT_FIELD || !entry.payload) continue;
    let domain = '';
    let version = 0;
    for (const f of wireFields(entry.payload)) {
      if (f.field === OPSET_DOMAIN_FIELD && f.payload) domain = decoder.decode(f.payload);
      else if (f.field === OPSET_VERSION_FIELD && f.value !== null) version = f.value;
    }
    if (domain === '' || domain === 'ai.onnx') opset = Math.max(opset, version);
  }
  return opset || 1;
}

type Attribute = onnxProto.onnx.IAttributeProto;
const ints = (name: string, values: number[]): Attribute => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: values,
});
const int = (name: string, value: number): Attribute => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i: value,
});

/**
 * Model bytes whose graph also computes, for every layer of `spec`, the per-batch shifted sums described at the
 * top of this file. The original bytes are kept unchanged and a graph fragment is appended. Needs opset 9 or
 * newer (ConstantOfShape); every recordable model of this decade has it.
 */
export function withReductions(bytes: Uint8Array, spec: ReductionSpec): ReducingModel {
  const { fragment, names } = reductionFragment(bytes, spec);
  return { bytes: concatBytes(bytes, fragment), names };
}

/**
 * The fragment to append to `bytes` (the model as loaded) for {@link withReductions}: `bytes` followed by it is the
 * model with reductions, so a caller can lay the two out wherever it wants them (shared memory, per worker).
 */
export function reductionFragment(bytes: Uint8Array, spec: ReductionSpec): ReductionFragment {
  const opset = defaultOpset(bytes);
  if (opset < 9) throw new Error(`in-graph reductions need ONNX opset 9 or newer (the model has ${opset})`);
  const p = 'neuronscope/';
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const node = (opType: string, input: string[], output: string, attribute: Attribute[] = []) => {
    nodes.push({ opType, name: output, input, output: [output], attribute });
    return output;
  };
  const initializers: onnxProto.onnx.ITensorProto[] = [
    { name: `${p}shape/batch_rows`, dims: [2], dataType: ONNX_INT64, int64Data: [0, -1] },
    { name: `${p}shape/flat`, dims: [1], dataType: ONNX_INT64, int64Data: [-1] },
  ];
  const batchRows = `${p}shape/batch_rows`;
  const flat = `${p}shape/flat`;
  const names = {
    target: `${p}target`,
    yShift: `${p}y_shift`,
    e: `${p}e`,
    shifts: spec.layers.map((_, k) => `${p}shift/${k}`),
    sums: spec.layers.map((_, k) => `${p}sums/${k}`),
    squares: spec.layers.map((_, k) => `${p}squares/${k}`),
    means: spec.layers.map((_, k) => `${p}means/${k}`),
  };

  // y in float64 from the logits, then e = y - yShift, cast to float32 for the products.
  const logits = node('Reshape', [spec.outputName, batchRows], `${p}logits`);
  const logits64 = node('Cast', [logits], `${p}logits64`, [int('to', ONNX_DOUBLE)]);
  const y =
    spec.outputKind === 'sigmoid'
      ? sigmoidOutput(node, initializers, logits64, names.target, spec.output)
      : softmaxOutput(node, logits64, names.target, spec.output);
  const e64 = node('Sub', [y, names.yShift], `${p}e64`);
  node('Cast', [e64], names.e, [int('to', ONNX_FLOAT)]); // [B, 1]
  const eRow = node('Transpose', [names.e], `${p}e_row`, [ints('perm', [1, 0])]); // [1, B]
  const ones = node('ConstantOfShape', [node('Shape', [eRow], `${p}e_row_shape`)], `${p}ones`, [
    {
      name: 'value',
      type: onnx.AttributeProto.AttributeType.TENSOR,
      t: { dims: [1], dataType: ONNX_FLOAT, floatData: [1] },
    },
  ]);
  const weights = node('Concat', [ones, eRow], `${p}weights`, [int('axis', 0)]); // [2, B]

  spec.layers.forEach((layer, k) => {
    const d = node('Sub', [layer.layer, names.shifts[k]!], `${p}d/${k}`);
    const rows = node('Reshape', [d, batchRows], `${p}d_rows/${k}`); // [B, U]
    node('MatMul', [weights, rows], names.sums[k]!);
    // A [1, B] x [B, U] MatMul sums over the batch faster than ReduceSum does in onnxruntime.
    const dd = node('Mul', [rows, rows], `${p}dd/${k}`);
    node('Reshape', [node('MatMul', [ones, dd], `${p}dd_sum/${k}`), flat], names.squares[k]!);
    node('GlobalAveragePool', [d], names.means[k]!);
  });

  const tensorInfo = (name: string, elemType: number, dims?: number[]): onnxProto.onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, ...(dims ? { shape: { dim: dims.map((dimValue) => ({ dimValue })) } } : {}) } },
  });
  const inputs = [
    tensorInfo(names.target, ONNX_INT64, [1]),
    tensorInfo(names.yShift, ONNX_DOUBLE, [1]),
    ...spec.layers.map((l, k) => tensorInfo(names.shifts[k]!, ONNX_FLOAT, [l.channels, l.height, l.width])),
  ];
  const logitsOutput = graphOutputNames(bytes).includes(spec.outputName) ? [] : [spec.outputName];
  const outputs = [
    ...logitsOutput.map((name) => tensorInfo(name, ONNX_FLOAT)),
    tensorInfo(names.e, ONNX_FLOAT),
    ...spec.layers.flatMap((_, k) => [
      tensorInfo(names.sums[k]!, ONNX_FLOAT),
      tensorInfo(names.squares[k]!, ONNX_FLOAT),
      tensorInfo(names.means[k]!, ONNX_FLOAT),
    ]),
  ];
  const fragment = graphFragment({ node: nodes, initializer: initializers, input: inputs, output: outputs });
  return { fragment, names };
}

type AddNode = (opType: string, input: string[], output: string, attribute?: Attribute[]) => string;

/** y of a softmax classifier, [B, 1] float64: softmax, log-softmax or the logit itself of the target class. */
function softmaxOutput(node: AddNode, logits64: string, target: string, output: OutputMode): string {
  const p = 'neuronscope/';
  const scores =
    output === 'logit'
      ? logits64
      : node(output === 'prob' ? 'Softmax' : 'LogSoftmax', [logits64], `${p}scores`, [int('axis', 1)]);
  return node('Gather', [scores, target], `${p}y`, [int('axis', 1)]);
}

/**
 * y of a multi-label (sigmoid) classifier, [B, 1] float64, from the target's logit z alone: sigmoid(z),
 * log sigmoid(z) = min(z, 0) - log(1 + exp(-|z|)) (no overflow for either sign), or z.
 */
function sigmoidOutput(
  node: AddNode,
  initializers: onnxProto.onnx.ITensorProto[],
  logits64: string,
  target: string,
  output: OutputMode,
): string {
  const p = 'neuronscope/';
  const z = node('Gather', [logits64, target], `${p}z`, [int('axis', 1)]);
  if (output === 'logit') return node('Identity', [z], `${p}y`);
  if (output === 'prob') return node('Sigmoid', [z], `${p}y`);
  initializers.push(
    { name: `${p}const/zero`, dims: [], dataType: ONNX_DOUBLE, doubleData: [0] },
    { name: `${p}const/one`, dims: [], dataType: ONNX_DOUBLE, doubleData: [1] },
  );
  const negAbs = node('Neg', [node('Abs', [z], `${p}z_abs`)], `${p}z_neg_abs`);
  const softplus = node(
    'Log',
    [node('Add', [node('Exp', [negAbs], `${p}z_exp`), `${p}const/one`], `${p}z_1p`)],
    `${p}z_log1p`,
  );
  return node('Sub', [node('Min', [z, `${p}const/zero`], `${p}z_min0`), softplus], `${p}y`);
}
