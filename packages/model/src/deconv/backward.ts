/**
 * The backward rules of the deconvnet (Zeiler & Fergus 2014), one per forward op: each turns the signal arriving
 * at a node's output (batch B, one row per projected neuron) into the signals for its inputs, as ONNX nodes.
 *
 * - Conv: ConvTranspose with the forward weights (no bias), same groups, strides, dilations and pads.
 * - Relu, Clip with lower bound 0 (ReLU6): ReLU of the signal; in guided mode also times (forward input > 0).
 * - MaxPool: 'nearest' spreads each value to every position of its window (a depthwise ConvTranspose with a
 *   ones kernel); 'switches' adds it at the window's argmax from the forward pass (ScatterElements, add).
 * - AveragePool: value / (positions averaged) to every position of the window; GlobalAveragePool alike.
 * - BatchNormalization: times scale / sqrt(var + eps) per channel (its affine map's linear part).
 * - Pad: crop (negative pads); Concat: split; Add, Sum: the signal to every input; Identity, Dropout: as is;
 *   Transpose: the inverse permutation.
 */
import { UserError } from '@neuronscope/core';
import { type GraphNode, ONNX_FLOAT } from '../onnx-graph.js';
import type { ModelConstants } from './constants.js';
import type { AttributeInit, GraphEmitter } from './emitter.js';
import { nodeLabel, type PathNode } from './path.js';
import { padAmounts, type WindowAxis, windowAxes } from './shapes.js';

/** Backward rule for ReLUs: the deconvnet's, or guided backpropagation's (also masked by the forward pass). */
export type DeconvMode = 'deconvnet' | 'guided';
/** How MaxPool is undone: spread over the window, or put at the forward pass's argmax. */
export type UnpoolMode = 'nearest' | 'switches';

/** What the rules share while one backward graph is built. */
export interface BackwardContext {
  readonly emit: GraphEmitter;
  /** Forward dims (batch 1) of every tensor on the path. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly constants: ModelConstants;
  readonly mode: DeconvMode;
  readonly unpool: UnpoolMode;
  /** The backward graph's input holding a forward float tensor (batch 1), declared on first use. */
  forwardInput(tensor: string): string;
  /** The backward graph's input holding a MaxPool's flat argmax indices from the forward pass. */
  switchesInput(pool: PathNode): string;
}

const fail = (node: GraphNode, why: string) =>
  new UserError(`deconvnet: ${node.opType} node '${nodeLabel(node)}' ${why}`);

function shapeOf(ctx: BackwardContext, tensor: string): readonly number[] {
  const dims = ctx.shapes.get(tensor);
  if (!dims) throw new Error(`deconvnet: no shape for tensor '${tensor}'`);
  return dims;
}

/**
 * ConvTranspose attributes undoing a window op: its full output spans stride·(units − 1) + extent positions from
 * the first padded one; the begin padding is cropped, and at the end either the excess is cropped or the
 * positions no window reached are added as zeros (output_padding), so the output has the forward input's size.
 */
function transposeGeometry(axes: readonly WindowAxis[]): Record<string, AttributeInit> {
  const excess = axes.map((a) => a.stride * (a.units - 1) + (a.kernel - 1) * a.dilation + 1 - a.begin - a.input);
  return {
    kernel_shape: axes.map((a) => a.kernel),
    strides: axes.map((a) => a.stride),
    dilations: axes.map((a) => a.dilation),
    pads: [...axes.map((a) => a.begin), ...excess.map((e) => Math.max(0, e))],
    output_padding: excess.map((e) => Math.max(0, -e)),
  };
}

function convBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  const weight = ctx.constants.tensor(node.inputs[1] ?? '');
  if (!weight) throw fail(node, 'has weights that are not constant');
  if (weight.dataType !== ONNX_FLOAT) throw fail(node, 'has weights that are not float32');
  const axes = windowAxes(node, shapeOf(ctx, node.inputs[0]!), ctx.constants);
  return ctx.emit.node('ConvTranspose', [signal, ctx.emit.keep(weight)], 'conv_transpose', {
    ...transposeGeometry(axes),
    group: Number(node.attributes.group ?? 1),
  });
}

/** Each unit's value added to every position of its window: a depthwise ConvTranspose with a ones kernel. */
function spreadOverWindows(ctx: BackwardContext, signal: string, channels: number, axes: readonly WindowAxis[]) {
  const [kh, kw] = axes.map((a) => a.kernel) as [number, number];
  const ones = ctx.emit.floats('ones', [channels, 1, kh, kw], new Float32Array(channels * kh * kw).fill(1));
  return ctx.emit.node('ConvTranspose', [signal, ones], 'unpool', { ...transposeGeometry(axes), group: channels });
}

/** Number of a window's taps inside [lo, hi), per unit along one axis. */
function tapCounts(a: WindowAxis, lo: number, hi: number): number[] {
  return Array.from({ length: a.units }, (_, u) => {
    let count = 0;
    for (let j = 0; j < a.kernel; j++) {
      const position = u * a.stride - a.begin + j * a.dilation;
      if (position >= lo && position < hi) count++;
    }
    return count;
  });
}

function averagePoolBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  const dims = shapeOf(ctx, node.inputs[0]!);
  const axes = windowAxes(node, dims, ctx.constants);
  // onnxruntime's divisor: the taps inside the input, or with count_include_pad inside the padded input.
  const includePad = node.attributes.count_include_pad === 1;
  const [rows, cols] = axes.map((a) =>
    includePad ? tapCounts(a, -a.begin, a.input + a.end) : tapCounts(a, 0, a.input),
  ) as [number[], number[]];
  const inverse = rows.flatMap((r) => cols.map((c) => 1 / (r * c)));
  const weights = ctx.emit.floats('average_weights', [1, 1, rows.length, cols.length], inverse);
  const weighted = ctx.emit.node('Mul', [signal, weights], 'averaged');
  return spreadOverWindows(ctx, weighted, dims[1]!, axes);
}

/** The signal added at the forward argmax of each window: ScatterElements (add) over each channel's positions. */
function unpoolAtSwitches(ctx: BackwardContext, pool: PathNode, signal: string): string {
  const { emit } = ctx;
  const [, channels, height, width] = shapeOf(ctx, pool.node.inputs[0]!) as [number, number, number, number];
  const [, , rows, cols] = shapeOf(ctx, pool.node.outputs[0]!) as [number, number, number, number];
  // The forward pass has batch 1, so its flat indices are c·H·W + y·W + x: the position is the index mod H·W.
  const positions = emit.node('Mod', [ctx.switchesInput(pool), emit.int64s('map_size', [height * width])], 'argmax');
  const unitRows = emit.node('Reshape', [positions, emit.int64s('argmax_shape', [1, channels, rows * cols])], 'argmax');
  const values = emit.node('Reshape', [signal, emit.int64s('rows_shape', [-1, channels, rows * cols])], 'pooled');
  const indices = emit.node('Expand', [unitRows, emit.node('Shape', [values], 'pooled_shape')], 'argmax_rows');
  const batch = emit.node(
    'Slice',
    [emit.node('Shape', [signal], 'shape'), emit.int64s('batch_start', [0]), emit.int64s('batch_end', [1])],
    'batch',
  );
  const zerosShape = emit.node('Concat', [batch, emit.int64s('map_shape', [channels, height * width])], 'zeros_shape', {
    axis: 0,
  });
  const zeros = emit.node('ConstantOfShape', [zerosShape], 'zeros');
  const scattered = emit.node('ScatterElements', [zeros, indices, values], 'unpooled', { axis: 2, reduction: 'add' });
  return emit.node('Reshape', [scattered, emit.int64s('map_dims', [-1, channels, height, width])], 'unpooled');
}

function maxPoolBackward(ctx: BackwardContext, pool: PathNode, signal: string): string {
  if (ctx.unpool === 'switches') return unpoolAtSwitches(ctx, pool, signal);
  const dims = shapeOf(ctx, pool.node.inputs[0]!);
  return spreadOverWindows(ctx, signal, dims[1]!, windowAxes(pool.node, dims, ctx.constants));
}

/** The lower bound of a Clip: its `min` input (opset 11+) or attribute, -Infinity when absent. */
function clipMinimum(ctx: BackwardContext, node: GraphNode): number {
  const input = node.inputs[1];
  if (input) return ctx.constants.floats(input, `the min of Clip node '${nodeLabel(node)}'`)[0] ?? 0;
  return typeof node.attributes.min === 'number' ? node.attributes.min : Number.NEGATIVE_INFINITY;
}

function reluBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  if (node.opType === 'Clip' && clipMinimum(ctx, node) !== 0)
    throw fail(node, 'is not a ReLU (its lower bound is not 0)');
  const rectified = ctx.emit.node('Relu', [signal], 'relu');
  if (ctx.mode === 'deconvnet') return rectified;
  const forward = ctx.forwardInput(node.inputs[0]!);
  const positive = ctx.emit.node('Greater', [forward, ctx.emit.floats('zero', [], [0])], 'forward_positive');
  const mask = ctx.emit.node('Cast', [positive], 'forward_mask', { to: ONNX_FLOAT });
  return ctx.emit.node('Mul', [rectified, mask], 'guided');
}

function batchNormBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  const what = (k: number) => `input ${k} of BatchNormalization node '${nodeLabel(node)}'`;
  const scale = ctx.constants.floats(node.inputs[1] ?? '', what(1));
  const variance = ctx.constants.floats(node.inputs[4] ?? '', what(4));
  const epsilon = typeof node.attributes.epsilon === 'number' ? node.attributes.epsilon : 1e-5;
  const factors = scale.map((s, c) => s / Math.sqrt(variance[c]! + epsilon));
  const rank = shapeOf(ctx, node.inputs[0]!).length;
  const dims = [1, factors.length, ...new Array<number>(rank - 2).fill(1)];
  return ctx.emit.node('Mul', [signal, ctx.emit.floats('batchnorm_scale', dims, factors)], 'batchnorm');
}

function padBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  const mode = node.attributes.mode ?? 'constant';
  if (mode !== 'constant') throw fail(node, `pads in mode '${String(mode)}'; only constant padding is undone`);
  const rank = shapeOf(ctx, node.inputs[0]!).length;
  const pads = padAmounts(node, rank, ctx.constants);
  if (pads[0] !== 0 || pads[rank] !== 0) throw fail(node, 'pads the batch axis');
  return ctx.emit.node(
    'Pad',
    [
      signal,
      ctx.emit.int64s(
        'crop',
        pads.map((p) => -p),
      ),
    ],
    'crop',
  );
}

function concatBackward(ctx: BackwardContext, pathNode: PathNode, signal: string): string[] {
  const { node } = pathNode;
  const out = shapeOf(ctx, node.outputs[0]!);
  const given = Number(node.attributes.axis ?? 0);
  const axis = given < 0 ? given + out.length : given;
  if (axis === 0) throw fail(node, 'concatenates along the batch axis');
  const sizes = node.inputs.map((name) => (ctx.shapes.get(name) ?? ctx.constants.dims(name))?.[axis]);
  if (sizes.some((s) => s === undefined)) throw fail(node, 'joins a tensor of unknown shape');
  const parts = ctx.emit.nodeOutputs(
    'Split',
    [signal, ctx.emit.int64s('split', sizes as number[])],
    'split',
    sizes.length,
    {
      axis,
    },
  );
  return pathNode.signalInputs.map((k) => parts[k]!);
}

function addBackward(ctx: BackwardContext, pathNode: PathNode, signal: string): string[] {
  const out = shapeOf(ctx, pathNode.node.outputs[0]!);
  return pathNode.signalInputs.map((k) => {
    const dims = shapeOf(ctx, pathNode.node.inputs[k]!);
    if (dims.join() !== out.join()) throw fail(pathNode.node, 'broadcasts a signal input');
    return signal;
  });
}

function transposeBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  const rank = shapeOf(ctx, node.inputs[0]!).length;
  const given = node.attributes.perm;
  const perm = Array.isArray(given) ? (given as number[]) : [...Array(rank).keys()].reverse();
  const inverse = new Array<number>(rank);
  perm.forEach((axis, k) => {
    inverse[axis] = k;
  });
  return ctx.emit.node('Transpose', [signal], 'transpose', { perm: inverse });
}

function globalAverageBackward(ctx: BackwardContext, node: GraphNode, signal: string): string {
  const spatial = shapeOf(ctx, node.inputs[0]!).slice(2);
  const size = spatial.reduce((a, b) => a * b, 1);
  const spread = ctx.emit.floats('global_average', [1, 1, ...spatial], new Float32Array(size).fill(1 / size));
  return ctx.emit.node('Mul', [signal, spread], 'global_average');
}

/** The signals for the node's signal inputs (in the order of `signalInputs`), from the signal at its output. */
export function backward(ctx: BackwardContext, pathNode: PathNode, signal: string): string[] {
  const { node } = pathNode;
  switch (node.opType) {
    case 'Conv':
      return [convBackward(ctx, node, signal)];
    case 'Relu':
    case 'Clip':
      return [reluBackward(ctx, node, signal)];
    case 'MaxPool':
      return [maxPoolBackward(ctx, pathNode, signal)];
    case 'AveragePool':
      return [averagePoolBackward(ctx, node, signal)];
    case 'GlobalAveragePool':
      return [globalAverageBackward(ctx, node, signal)];
    case 'BatchNormalization':
      return [batchNormBackward(ctx, node, signal)];
    case 'Pad':
      return [padBackward(ctx, node, signal)];
    case 'Transpose':
      return [transposeBackward(ctx, node, signal)];
    case 'Concat':
      return concatBackward(ctx, pathNode, signal);
    case 'Add':
    case 'Sum':
      return addBackward(ctx, pathNode, signal);
    default:
      // Identity and Dropout (path.ts admits no other op).
      return [signal];
  }
}
