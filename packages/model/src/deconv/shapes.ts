/**
 * Forward shapes along a deconvnet path (batch 1), computed from the input's dims with ONNX's formulas, and the
 * per-axis geometry of windowed ops (Conv, pooling) that both the shapes and the backward rules use.
 */
import { UserError } from '@neuronscope/core';
import type { GraphNode } from '../onnx-graph.js';
import { windowPads, windowUnits } from '../receptive-field.js';
import type { ModelConstants } from './constants.js';
import { type DeconvPath, nodeLabel } from './path.js';

/** A window op along one spatial axis. */
export interface WindowAxis {
  /** Kernel taps. */
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  /** Padding before and after the input, `auto_pad` resolved. */
  readonly begin: number;
  readonly end: number;
  /** Input and output length. */
  readonly input: number;
  readonly units: number;
}

const intList = (value: unknown): number[] | null =>
  Array.isArray(value) && value.every((v) => typeof v === 'number') ? value : null;

/** Kernel taps of a windowed op: `kernel_shape`, else the weight's trailing dims. */
function kernelShape(node: GraphNode, constants: ModelConstants): number[] {
  const kernel = intList(node.attributes.kernel_shape) ?? constants.dims(node.inputs[1] ?? '')?.slice(2) ?? null;
  if (kernel?.length !== 2) {
    throw new UserError(`deconvnet: ${node.opType} node '${nodeLabel(node)}' is not a 2-D window op`);
  }
  return kernel;
}

/** The two spatial axes of a Conv, MaxPool or AveragePool whose input has dims `inputDims` (NCHW). */
export function windowAxes(node: GraphNode, inputDims: readonly number[], constants: ModelConstants): WindowAxis[] {
  if (inputDims.length !== 4) {
    throw new UserError(`deconvnet: ${node.opType} node '${nodeLabel(node)}' does not take a 4-D tensor`);
  }
  const kernel = kernelShape(node, constants);
  const strides = intList(node.attributes.strides) ?? [1, 1];
  const dilations = intList(node.attributes.dilations) ?? [1, 1];
  const ceil = node.attributes.ceil_mode === 1;
  return ([0, 1] as const).map((axis) => {
    const taps = kernel[axis]!;
    const stride = strides[axis] ?? 1;
    const dilation = dilations[axis] ?? 1;
    const extent = (taps - 1) * dilation + 1;
    const input = inputDims[axis + 2]!;
    const { begin, end } = windowPads(node, axis, input, extent, stride);
    const units = windowUnits(input, begin, end, extent, stride, ceil);
    return { kernel: taps, stride, dilation, begin, end, input, units };
  });
}

/** Pads of a Pad node as [begins..., ends...] over every axis of a rank-`rank` input. */
export function padAmounts(node: GraphNode, rank: number, constants: ModelConstants): number[] {
  const given = intList(node.attributes.pads) ?? constants.ints(node.inputs[1] ?? '');
  const axesInput = node.inputs[3];
  const axes = axesInput ? constants.ints(axesInput) : [...Array(rank).keys()];
  if (!given || !axes || given.length !== 2 * axes.length) {
    throw new UserError(`deconvnet: Pad node '${nodeLabel(node)}' has pads that are not constant`);
  }
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a, i) => {
    const axis = a < 0 ? a + rank : a;
    pads[axis] = given[i]!;
    pads[axis + rank] = given[i + axes.length]!;
  });
  return pads;
}

/** Output dims of one node on the path from the dims of its inputs (undefined for constants). */
function outputDims(node: GraphNode, dims: readonly (readonly number[] | undefined)[], c: ModelConstants): number[] {
  // The first input for single-signal ops; for Concat, Add and Sum any input whose dims are known will do.
  const first = dims.find((d) => d !== undefined)!;
  switch (node.opType) {
    case 'Conv': {
      const weight = c.dims(node.inputs[1] ?? '');
      if (!weight) throw new UserError(`deconvnet: Conv node '${nodeLabel(node)}' has weights that are not constant`);
      return [first[0]!, weight[0]!, ...windowAxes(node, first, c).map((a) => a.units)];
    }
    case 'MaxPool':
    case 'AveragePool':
      return [first[0]!, first[1]!, ...windowAxes(node, first, c).map((a) => a.units)];
    case 'GlobalAveragePool':
      return [...first.slice(0, 2), ...first.slice(2).map(() => 1)];
    case 'Pad': {
      const pads = padAmounts(node, first.length, c);
      return first.map((d, axis) => d + pads[axis]! + pads[axis + first.length]!);
    }
    case 'Transpose': {
      const perm = intList(node.attributes.perm) ?? first.map((_, axis) => first.length - 1 - axis);
      return perm.map((axis) => first[axis]!);
    }
    case 'Concat': {
      const axis = Number(node.attributes.axis ?? 0);
      const a = axis < 0 ? axis + first.length : axis;
      const sizes = dims.map((d) => d?.[a]);
      if (sizes.some((s) => s === undefined)) {
        throw new UserError(`deconvnet: Concat node '${nodeLabel(node)}' joins a tensor of unknown shape`);
      }
      return first.map((d, k) => (k === a ? sizes.reduce((sum: number, s) => sum + s!, 0) : d));
    }
    case 'Add':
    case 'Sum': {
      // Numpy broadcasting over every input whose dims are known: the output takes the largest dim per axis.
      const rank = Math.max(...dims.map((d) => d?.length ?? 0));
      const aligned = dims.flatMap((d) => (d ? [[...new Array<number>(rank - d.length).fill(1), ...d]] : []));
      return [...Array(rank).keys()].map((k) => Math.max(...aligned.map((d) => d[k]!)));
    }
    default:
      return [...first];
  }
}

/**
 * The dims (batch 1) of the input and of every tensor the path's nodes produce, from the model input's dims.
 * The shapes of signal inputs are known by construction; constants' dims come from `constants`.
 */
export function pathShapes(
  path: DeconvPath,
  inputDims: readonly number[],
  constants: ModelConstants,
): Map<string, number[]> {
  const shapes = new Map<string, number[]>([[path.inputName, [...inputDims]]]);
  for (const { node, signalInputs } of path.nodes) {
    const dims = node.inputs.map((name, k) => (signalInputs.includes(k) ? shapes.get(name) : constants.dims(name)));
    const out = outputDims(node, dims, constants);
    shapes.set(node.outputs[0]!, out);
  }
  return shapes;
}
