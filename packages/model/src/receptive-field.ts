/**
 * Receptive fields, computed analytically from the ONNX graph: for every 4-D feature map, which region of the
 * model input each of its spatial units sees. Per axis a field is (jump j, size r, start s): unit u sees input
 * pixels [s + u·j, s + u·j + r − 1] (clipped to the input). Walking the graph in topological order from the input:
 *
 * - Conv, ConvInteger, QLinearConv, MaxPool, AveragePool, LpPool with kernel k, stride t, dilation d and begin
 *   padding p (explicit, or from `auto_pad` SAME_UPPER / SAME_LOWER and the input size): k' = (k − 1)·d + 1,
 *   r ← r + (k' − 1)·j, s ← s − p·j, j ← j·t. `ceil_mode` changes only the number of units.
 * - Pad (pads from an initializer, a Constant node, or the pre-opset-11 attribute): s ← s − p·j on each spatial axis.
 * - Transpose moves the spatial axes (an NHWC input transposed to NCHW).
 * - Element-wise ops (activations, BatchNormalization, Add, Mul, Concat or Split along channels, ...) pass the
 *   field through; where several inputs with fields join, the result covers all of them (the widest path:
 *   smallest start, largest end).
 * - Global pooling and spatial reductions make every unit see the whole input; Flatten, Gemm, Reshape and any
 *   op not listed end the spatial chain (no field).
 *
 * Dilated kernels see a strided subset of their box; the box is what is reported. Padding values (constant,
 * reflect or edge) are treated alike: the box is geometry, clipped to the input.
 */
import type { Layout, Preprocessing } from '@neuronscope/core';
import type onnxProto from 'onnx-proto';
import { ACTIVATION_OPS } from './activation-ops.js';
import type { LoadedModel } from './load.js';
import { type GraphNode, int64ToNumber, onnx, topologicalOrder } from './onnx-graph.js';

/** A receptive field along one spatial axis, in model-input pixels. */
export interface AxisField {
  /** Input pixels between neighbouring units: the product of the strides along the path. */
  readonly jump: number;
  /** Input pixels one unit spans, before clipping to the input. */
  readonly size: number;
  /** Input coordinate of unit 0's first pixel; negative when padding reaches outside the input. */
  readonly start: number;
  /** Units along the axis (the feature map's height or width). */
  readonly units: number;
}

/** The receptive field of a feature map: rows and columns, and whether every unit sees the whole input. */
export interface ReceptiveField {
  readonly rows: AxisField;
  readonly cols: AxisField;
  /** True after a global pooling (or a spatial reduction) that is broadcast back: each unit sees everything. */
  readonly global: boolean;
}

/** An inclusive rectangle of model-input pixels. */
export interface PixelBox {
  readonly top: number;
  readonly left: number;
  readonly bottom: number;
  readonly right: number;
}

/** A rectangle in continuous image coordinates (pixel edges): x, y of the top-left corner, width, height. */
export interface ImageRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A field tracked through the graph: which tensor axes are the rows and columns, and the field itself. */
interface Tracked extends ReceptiveField {
  readonly rowAxis: number;
  readonly colAxis: number;
  readonly rank: number;
}

/** Ops that map each spatial position to the same position (or broadcast), possibly mixing channels. */
const POINTWISE_OPS: ReadonlySet<string> = new Set([
  ...ACTIVATION_OPS,
  'Identity',
  'Dropout',
  'Cast',
  'BatchNormalization',
  'LRN',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Abs',
  'Neg',
  'Exp',
  'Log',
  'Sqrt',
  'Reciprocal',
  'Erf',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Sin',
  'Cos',
  'ThresholdedRelu',
  'Shrink',
  'Where',
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
]);

/** Windowed ops: the input tensor is input 0; kernel from `kernel_shape` or the weight's dims. */
const WINDOW_OPS: ReadonlySet<string> = new Set([
  'Conv',
  'ConvInteger',
  'QLinearConv',
  'MaxPool',
  'AveragePool',
  'LpPool',
]);

const GLOBAL_POOL_OPS: ReadonlySet<string> = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCE_OPS: ReadonlySet<string> = new Set([
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceSum',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceProd',
  'ReduceSumSquare',
]);

/** Integer values of constant tensors: initializers and Constant node outputs (only small int tensors kept). */
export function constantInts(bytes: Uint8Array): Map<string, number[]> {
  const model = onnx.ModelProto.decode(bytes);
  const out = new Map<string, number[]>();
  const read = (t: onnxProto.onnx.ITensorProto): number[] | null => {
    const { INT64, INT32 } = onnx.TensorProto.DataType;
    if (t.dataType !== INT64 && t.dataType !== INT32) return null;
    if (t.int64Data?.length) return t.int64Data.map(int64ToNumber);
    if (t.int32Data?.length) return [...t.int32Data];
    const raw = t.rawData;
    if (!raw || raw.length > 8 * 64) return raw ? null : [];
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values: number[] = [];
    if (t.dataType === INT64) for (let i = 0; i < raw.length; i += 8) values.push(Number(view.getBigInt64(i, true)));
    else for (let i = 0; i < raw.length; i += 4) values.push(view.getInt32(i, true));
    return values;
  };
  for (const t of model.graph?.initializer ?? []) {
    const values = read(t);
    if (values) out.set(t.name ?? '', values);
  }
  for (const node of model.graph?.node ?? []) {
    if (node.opType !== 'Constant' || !node.output?.[0]) continue;
    const attr = (node.attribute ?? []).find((a) => a.name === 'value' || a.name === 'value_ints');
    if (attr?.t) {
      const values = read(attr.t);
      if (values) out.set(node.output[0], values);
    } else if (attr?.ints?.length) {
      out.set(node.output[0], attr.ints.map(int64ToNumber));
    }
  }
  return out;
}

const ints = (v: unknown): number[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? v : null);

/** Begin and end padding of a window op along one axis of `inputSize`, honouring `auto_pad`. */
export function windowPads(
  node: GraphNode,
  axis: 0 | 1,
  inputSize: number,
  kernel: number,
  stride: number,
): { begin: number; end: number } {
  const autoPad = typeof node.attributes.auto_pad === 'string' ? node.attributes.auto_pad : 'NOTSET';
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const out = Math.ceil(inputSize / stride);
    const total = Math.max(0, (out - 1) * stride + kernel - inputSize);
    const small = Math.floor(total / 2);
    return autoPad === 'SAME_UPPER' ? { begin: small, end: total - small } : { begin: total - small, end: small };
  }
  if (autoPad === 'VALID') return { begin: 0, end: 0 };
  const pads = ints(node.attributes.pads) ?? [0, 0, 0, 0];
  return { begin: pads[axis] ?? 0, end: pads[axis + 2] ?? 0 };
}

/** Output units of a window op along one axis (ONNX's formula, with `ceil_mode` for pooling). */
export function windowUnits(
  input: number,
  begin: number,
  end: number,
  kernel: number,
  stride: number,
  ceil: boolean,
): number {
  const span = input + begin + end - kernel;
  if (!ceil) return Math.floor(span / stride) + 1;
  const units = Math.ceil(span / stride) + 1;
  // The last window must start inside the input or its begin padding (PyTorch's and onnxruntime's rule).
  return (units - 1) * stride >= input + begin ? units - 1 : units;
}

function windowField(node: GraphNode, input: Tracked, weightDims: readonly number[] | undefined): Tracked | null {
  if (input.rank !== 4 || input.rowAxis !== 2 || input.colAxis !== 3) return null;
  const kernel = ints(node.attributes.kernel_shape) ?? (weightDims?.length === 4 ? weightDims.slice(2) : null);
  if (kernel?.length !== 2) return null;
  const strides = ints(node.attributes.strides) ?? [1, 1];
  const dilations = ints(node.attributes.dilations) ?? [1, 1];
  const ceil = node.attributes.ceil_mode === 1;
  const axis = (a: AxisField, i: 0 | 1): AxisField => {
    const k = ((kernel[i] as number) - 1) * (dilations[i] ?? 1) + 1;
    const t = strides[i] ?? 1;
    const { begin, end } = windowPads(node, i, a.units, k, t);
    const units = windowUnits(a.units, begin, end, k, t, ceil);
    // After a global pooling every unit already sees the whole input.
    if (input.global) return { ...a, units };
    return { jump: a.jump * t, size: a.size + (k - 1) * a.jump, start: a.start - begin * a.jump, units };
  };
  return { ...input, rows: axis(input.rows, 0), cols: axis(input.cols, 1) };
}

function padField(node: GraphNode, input: Tracked, constants: ReadonlyMap<string, number[]>): Tracked | null {
  const pads = ints(node.attributes.pads) ?? constants.get(node.inputs[1] ?? '') ?? null;
  if (!pads) return null;
  let axes = [...Array(input.rank).keys()];
  const axesInput = node.inputs[3];
  if (axesInput) {
    const given = constants.get(axesInput);
    if (!given) return null;
    axes = given.map((a) => (a < 0 ? a + input.rank : a));
  }
  if (pads.length !== 2 * axes.length) return null;
  const shift = (a: AxisField, tensorAxis: number): AxisField => {
    const i = axes.indexOf(tensorAxis);
    if (i < 0) return a;
    const begin = pads[i] as number;
    const end = pads[i + axes.length] as number;
    return { ...a, start: a.start - begin * a.jump, units: a.units + begin + end };
  };
  const rows = shift(input.rows, input.rowAxis);
  const cols = shift(input.cols, input.colAxis);
  if (input.global)
    return { ...input, rows: { ...input.rows, units: rows.units }, cols: { ...input.cols, units: cols.units } };
  return { ...input, rows, cols };
}

/** Every field of the inputs joined: equal geometry required, the union of boxes taken. */
function joinFields(fields: readonly Tracked[]): Tracked | null {
  const [first] = fields;
  if (!first) return null;
  const global = fields.find((f) => f.global);
  const spatial = fields.filter((f) => !f.global);
  if (spatial.length === 0) return global ?? null;
  const [base] = spatial as [Tracked, ...Tracked[]];
  for (const f of spatial) {
    if (f.rowAxis !== base.rowAxis || f.colAxis !== base.colAxis || f.rank !== base.rank) return null;
    for (const key of ['rows', 'cols'] as const) {
      if (f[key].jump !== base[key].jump || f[key].units !== base[key].units) return null;
    }
  }
  const widest = (key: 'rows' | 'cols'): AxisField => {
    const start = Math.min(...spatial.map((f) => f[key].start));
    const end = Math.max(...spatial.map((f) => f[key].start + f[key].size));
    return { ...base[key], start, size: end - start };
  };
  return { ...base, rows: widest('rows'), cols: widest('cols'), global: global !== undefined };
}

/** A field that covers the whole input at every unit, with `units` 1 per axis (after global pooling). */
function globalField(input: Tracked, inputSize: { height: number; width: number }, units = 1): Tracked {
  return {
    ...input,
    rows: { jump: inputSize.height, size: inputSize.height, start: 0, units },
    cols: { jump: inputSize.width, size: inputSize.width, start: 0, units },
    global: true,
  };
}

/** The axis index `a` (possibly negative) of a rank-`rank` tensor. */
const normaliseAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

/** The fields of every tensor the spatial chain from the model input reaches, with their spatial axes. */
function trackFields(
  model: Pick<LoadedModel, 'bytes' | 'graph' | 'inputName'>,
  input: { height: number; width: number; layout: Layout },
): Map<string, Tracked> {
  const { graph } = model;
  const constants = constantInts(model.bytes);
  const [rowAxis, colAxis] = input.layout === 'NCHW' ? [2, 3] : [1, 2];
  const tracked = new Map<string, Tracked>();
  tracked.set(model.inputName, {
    rows: { jump: 1, size: 1, start: 0, units: input.height },
    cols: { jump: 1, size: 1, start: 0, units: input.width },
    global: false,
    rowAxis,
    colAxis,
    rank: 4,
  });
  for (const i of topologicalOrder(graph)) {
    const node = graph.nodes[i]!;
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    const inputs = node.inputs.map((name) => tracked.get(name)).filter((f): f is Tracked => f !== undefined);
    if (inputs.length === 0) continue;
    const first = tracked.get(node.inputs[0] ?? '');
    const op = node.opType;
    let result: Tracked | null = null;
    if (WINDOW_OPS.has(op)) {
      result = first
        ? windowField(node, first, graph.initializers.get(node.inputs[op === 'QLinearConv' ? 3 : 1] ?? ''))
        : null;
    } else if (op === 'Pad') {
      result = first ? padField(node, first, constants) : null;
    } else if (op === 'Transpose') {
      const perm = ints(node.attributes.perm);
      if (first && perm && perm.length === first.rank) {
        result = { ...first, rowAxis: perm.indexOf(first.rowAxis), colAxis: perm.indexOf(first.colAxis) };
      }
    } else if (op === 'Concat' || op === 'Split') {
      const axis = typeof node.attributes.axis === 'number' ? node.attributes.axis : 0;
      const base = first ?? inputs[0]!;
      const a = normaliseAxis(axis, base.rank);
      if (a !== base.rowAxis && a !== base.colAxis) result = op === 'Split' ? base : joinFields(inputs);
    } else if (POINTWISE_OPS.has(op)) {
      result = joinFields(inputs);
    } else if (GLOBAL_POOL_OPS.has(op) && first) {
      result = globalField(first, input);
    } else if (REDUCE_OPS.has(op) && first) {
      const axes = ints(node.attributes.axes) ?? constants.get(node.inputs[1] ?? '') ?? null;
      const keep = node.attributes.keepdims !== 0;
      const reduced = axes?.map((a) => normaliseAxis(a, first.rank)) ?? null;
      if (!reduced || reduced.length === 0) {
        result = null;
      } else if (!reduced.includes(first.rowAxis) && !reduced.includes(first.colAxis)) {
        result = keep ? first : null;
      } else if (keep && reduced.includes(first.rowAxis) && reduced.includes(first.colAxis)) {
        result = globalField(first, input);
      }
    }
    if (!result) continue;
    for (const out of node.outputs) if (out !== '') tracked.set(out, result);
  }
  return tracked;
}

/**
 * The receptive field of every 4-D tensor that the spatial chain from the model input reaches, by tensor name
 * (the input itself included). `input` gives the model input's size and layout as preprocessing produces it.
 */
export function receptiveFields(
  model: Pick<LoadedModel, 'bytes' | 'graph' | 'inputName'>,
  input: { height: number; width: number; layout: Layout },
): Map<string, ReceptiveField> {
  const fields = new Map<string, ReceptiveField>();
  for (const [name, f] of trackFields(model, input)) fields.set(name, { rows: f.rows, cols: f.cols, global: f.global });
  return fields;
}

/**
 * The 4-D tensors whose rows and columns the walk from the input places elsewhere than axes 2 and 3: feature maps
 * that are not NCHW (an NHWC tensor between Transposes, as Keras exports with the torch backend produce), which
 * neuronscope cannot record as [C, H, W].
 */
export function nonNchwTensors(
  model: Pick<LoadedModel, 'bytes' | 'graph' | 'inputName'>,
  input: { height: number; width: number; layout: Layout },
): Set<string> {
  const out = new Set<string>();
  for (const [name, f] of trackFields(model, input)) {
    if (f.rank === 4 && (f.rowAxis !== 2 || f.colAxis !== 3)) out.add(name);
  }
  return out;
}

/** The inclusive input pixels unit `u` of an axis field sees, clipped to [0, length − 1]. */
export function axisRange(field: AxisField, u: number, length: number): [number, number] {
  const first = field.start + u * field.jump;
  return [Math.max(0, first), Math.min(length - 1, first + field.size - 1)];
}

/**
 * The input pixels unit (`y`, `x`) of a feature map with receptive field `field` sees, clipped to an input of
 * `height` x `width` pixels (the whole input for a global field).
 */
export function unitBox(field: ReceptiveField, y: number, x: number, height: number, width: number): PixelBox {
  if (field.global) return { top: 0, left: 0, bottom: height - 1, right: width - 1 };
  const [top, bottom] = axisRange(field.rows, y, height);
  const [left, right] = axisRange(field.cols, x, width);
  return { top, left, bottom, right };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Where the model input lies in the original image: the size the image is resized to and the crop offset in
 * that resized image, exactly as preprocessing does it (torchvision's `Resize(shorter)` + `CenterCrop`, or a
 * straight resize).
 */
export function preprocessingGeometry(
  pre: Pick<Preprocessing, 'resizeShorter' | 'size'>,
  originalWidth: number,
  originalHeight: number,
): { resizedWidth: number; resizedHeight: number; left: number; top: number } {
  const [height, width] = pre.size;
  if (pre.resizeShorter === null) return { resizedWidth: width, resizedHeight: height, left: 0, top: 0 };
  const s = pre.resizeShorter;
  const landscape = originalWidth > originalHeight;
  const resizedWidth = landscape ? Math.floor((s * originalWidth) / originalHeight) : s;
  const resizedHeight = landscape ? s : Math.floor((s * originalHeight) / originalWidth);
  return {
    resizedWidth,
    resizedHeight,
    left: roundHalfToEven((resizedWidth - width) / 2),
    top: roundHalfToEven((resizedHeight - height) / 2),
  };
}

/**
 * A box of model-input pixels as a rectangle of the original image (pixel edges, original pixels): the resize
 * and the centre crop of preprocessing undone. A pixel i of the input spans [i, i + 1) before the mapping.
 */
export function inputToImage(
  box: PixelBox,
  pre: Pick<Preprocessing, 'resizeShorter' | 'size'>,
  originalWidth: number,
  originalHeight: number,
): ImageRect {
  const g = preprocessingGeometry(pre, originalWidth, originalHeight);
  const sx = originalWidth / g.resizedWidth;
  const sy = originalHeight / g.resizedHeight;
  const x = (box.left + g.left) * sx;
  const y = (box.top + g.top) * sy;
  return { x, y, width: (box.right + 1 + g.left) * sx - x, height: (box.bottom + 1 + g.top) * sy - y };
}
