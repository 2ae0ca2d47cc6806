/**
 * The generated deconvnet against a plain JavaScript implementation of the same backward rules (loops, float64),
 * on small models built here. The reference reads the forward tensors (ReLU inputs, MaxPool inputs, the layer)
 * from an onnxruntime run of the original model with every tensor as an output, and applies the rules by hand,
 * op by op, in the order each test spells out.
 */
import { type InputTensor, mulberry32, tensorDims, UserError } from '@neuronscope/core';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { withExtraOutputs } from '../extra-outputs.js';
import { createSession } from '../session.js';
import type { DeconvMode, UnpoolMode } from './backward.js';
import { pixelMagnitudes, projectionBox } from './box.js';
import { buildDeconvGraph } from './graph.js';
import { createDeconv, type DeconvStart, type NeuronRef } from './project.js';

const { onnx } = onnxProto;
const AttrType = onnx.AttributeProto.AttributeType;

// ---------------------------------------------------------------------------------------------------------------
// Building small models

type Attr = number | number[] | string | { float: number };
interface NodeSpec {
  op: string;
  name: string;
  inputs: string[];
  attrs?: Record<string, Attr>;
}

function attribute(name: string, value: Attr): onnxProto.onnx.IAttributeProto {
  if (typeof value === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: AttrType.INT, i: value };
  if (Array.isArray(value)) return { name, type: AttrType.INTS, ints: value };
  return { name, type: AttrType.FLOAT, f: value.float };
}

/** Weights and other float constants: given values, or seeded uniform ones in [lo, hi). */
interface Weights {
  [name: string]: { dims: number[]; values?: number[]; range?: [number, number] };
}

interface TinyModel {
  bytes: Uint8Array;
  inputName: string;
  weights: Map<string, { dims: number[]; values: number[] }>;
  /** Every node's output names, for the reference's forward run. */
  tensors: string[];
}

/** A model (opset 13, dynamic batch) whose nodes each have one output named after the node. */
function tinyModel(
  input: number[],
  nodes: NodeSpec[],
  weights: Weights,
  ints: Record<string, number[]> = {},
): TinyModel {
  const random = mulberry32(17);
  const filled = new Map<string, { dims: number[]; values: number[] }>();
  for (const [name, w] of Object.entries(weights)) {
    const size = w.dims.reduce((a, b) => a * b, 1);
    const [lo, hi] = w.range ?? [-1, 1];
    filled.set(name, {
      dims: w.dims,
      values: w.values ?? Array.from({ length: size }, () => lo + (hi - lo) * random()),
    });
  }
  const last = nodes[nodes.length - 1]!.name;
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      input: [
        {
          name: 'x',
          type: {
            tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, ...input.map((d) => ({ dimValue: d }))] } },
          },
        },
      ],
      output: [{ name: last, type: { tensorType: { elemType: 1 } } }],
      initializer: [
        ...[...filled].map(([name, w]) => ({ name, dims: w.dims, dataType: 1, floatData: w.values })),
        ...Object.entries(ints).map(([name, values]) => ({
          name,
          dims: [values.length],
          dataType: 7,
          int64Data: values,
        })),
      ],
      node: nodes.map((n) => ({
        opType: n.op,
        name: n.name,
        input: n.inputs,
        output: [n.name],
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  }).finish();
  return { bytes, inputName: 'x', weights: filled, tensors: nodes.map((n) => n.name) };
}

// ---------------------------------------------------------------------------------------------------------------
// The reference: tensors of batch 1 as [c][y][x] in float64, and the backward rules as loops

interface T3 {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

const zeros = (c: number, h: number, w: number): T3 => ({ c, h, w, data: new Float64Array(c * h * w) });
const idx = (t: T3, c: number, y: number, x: number) => (c * t.h + y) * t.w + x;
const like = (t: T3) => zeros(t.c, t.h, t.w);

function add(a: T3, b: T3): T3 {
  const out = like(a);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i]! + b.data[i]!;
  return out;
}

/** A window op's geometry: kernel, strides, dilations, pads (top, left, bottom, right). */
interface Win {
  k: [number, number];
  s: [number, number];
  d: [number, number];
  p: [number, number, number, number];
}
const win = (k: number, s = 1, p = [0, 0, 0, 0], d = 1): Win => ({
  k: [k, k],
  s: [s, s],
  d: [d, d],
  p: p as [number, number, number, number],
});

/** The taps of window (oy, ox), row-major, as input positions (possibly outside the input). */
function taps(wn: Win, oy: number, ox: number): [number, number][] {
  const list: [number, number][] = [];
  for (let ky = 0; ky < wn.k[0]; ky++) {
    for (let kx = 0; kx < wn.k[1]; kx++) {
      list.push([oy * wn.s[0] - wn.p[0] + ky * wn.d[0], ox * wn.s[1] - wn.p[1] + kx * wn.d[1]]);
    }
  }
  return list;
}
const inside = (t: { h: number; w: number }, y: number, x: number) => y >= 0 && y < t.h && x >= 0 && x < t.w;

/** Transposed convolution with the forward weights [M, C/group, kh, kw] back onto an input of `into`'s shape. */
function convT(g: T3, weight: { dims: number[]; values: number[] }, into: T3, wn: Win, group = 1): T3 {
  const out = like(into);
  const [M, perGroupIn] = weight.dims as [number, number];
  for (let m = 0; m < M; m++) {
    const groupIndex = Math.floor(m / (M / group));
    for (let oy = 0; oy < g.h; oy++) {
      for (let ox = 0; ox < g.w; ox++) {
        const v = g.data[idx(g, m, oy, ox)]!;
        taps(wn, oy, ox).forEach(([y, x], t) => {
          if (!inside(out, y, x)) return;
          for (let cl = 0; cl < perGroupIn; cl++) {
            const w = weight.values[(m * perGroupIn + cl) * wn.k[0] * wn.k[1] + t]!;
            out.data[idx(out, groupIndex * perGroupIn + cl, y, x)]! += v * w;
          }
        });
      }
    }
  }
  return out;
}

/** ReLU of the signal; guided: also zero where the forward input is not positive. */
function reluBack(g: T3, forwardInput: T3, mode: DeconvMode): T3 {
  const out = like(g);
  g.data.forEach((v, i) => {
    out.data[i] = mode === 'guided' && !(forwardInput.data[i]! > 0) ? 0 : Math.max(0, v);
  });
  return out;
}

/** MaxPool undone: each value to every tap of its window ('nearest') or to its first argmax ('switches'). */
function unpoolBack(g: T3, forwardInput: T3, wn: Win, mode: UnpoolMode): T3 {
  const out = like(forwardInput);
  for (let c = 0; c < g.c; c++) {
    for (let oy = 0; oy < g.h; oy++) {
      for (let ox = 0; ox < g.w; ox++) {
        const v = g.data[idx(g, c, oy, ox)]!;
        const valid = taps(wn, oy, ox).filter(([y, x]) => inside(out, y, x));
        if (mode === 'nearest') {
          for (const [y, x] of valid) out.data[idx(out, c, y, x)]! += v;
          continue;
        }
        let best = valid[0]!;
        for (const [y, x] of valid) {
          if (forwardInput.data[idx(forwardInput, c, y, x)]! > forwardInput.data[idx(forwardInput, c, ...best)]!)
            best = [y, x];
        }
        out.data[idx(out, c, ...best)]! += v;
      }
    }
  }
  return out;
}

/** AveragePool undone: value / count to every tap in the input; count per onnxruntime's count_include_pad. */
function avgBack(g: T3, into: T3, wn: Win, countIncludePad: boolean): T3 {
  const out = like(into);
  const padded = { h: into.h + wn.p[0] + wn.p[2], w: into.w + wn.p[1] + wn.p[3] };
  for (let c = 0; c < g.c; c++) {
    for (let oy = 0; oy < g.h; oy++) {
      for (let ox = 0; ox < g.w; ox++) {
        const all = taps(wn, oy, ox);
        const valid = all.filter(([y, x]) => inside(out, y, x));
        const count = countIncludePad
          ? all.filter(([y, x]) => inside(padded, y + wn.p[0], x + wn.p[1])).length
          : valid.length;
        for (const [y, x] of valid) out.data[idx(out, c, y, x)]! += g.data[idx(g, c, oy, ox)]! / count;
      }
    }
  }
  return out;
}

/** Pad undone: the window of the padded signal where the input was (pads: channel, top, left begins). */
function crop(g: T3, into: T3, begin: [number, number, number]): T3 {
  const out = like(into);
  for (let c = 0; c < out.c; c++) {
    for (let y = 0; y < out.h; y++) {
      for (let x = 0; x < out.w; x++)
        out.data[idx(out, c, y, x)] = g.data[idx(g, c + begin[0], y + begin[1], x + begin[2])]!;
    }
  }
  return out;
}

function channels(g: T3, from: number, count: number): T3 {
  return { c: count, h: g.h, w: g.w, data: g.data.slice(from * g.h * g.w, (from + count) * g.h * g.w) };
}

function scaleChannels(g: T3, factors: number[]): T3 {
  const out = like(g);
  g.data.forEach((v, i) => {
    out.data[i] = v * factors[Math.floor(i / (g.h * g.w))]!;
  });
  return out;
}

function globalAverageBack(g: T3, into: T3): T3 {
  const out = like(into);
  out.data.forEach((_, i) => {
    out.data[i] = g.data[Math.floor(i / (into.h * into.w))]! / (into.h * into.w);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Running both sides

/** Forward tensors of batch 1 by name (every node output, and the input). */
async function forwardTensors(m: TinyModel, input: InputTensor): Promise<Map<string, T3>> {
  const session = await createSession(withExtraOutputs(m.bytes, m.tensors));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', input.data, tensorDims(input)) }, m.tensors);
    const result = new Map<string, T3>();
    for (const name of m.tensors) {
      const t = out[name]!;
      if (t.dims.length !== 4) continue;
      const [, c, h, w] = t.dims as number[];
      result.set(name, { c: c!, h: h!, w: w!, data: Float64Array.from(t.data as Float32Array) });
    }
    return result;
  } finally {
    await session.release();
  }
}

function randomInput(geometry: Omit<InputTensor, 'data'>, seed: number): InputTensor {
  const random = mulberry32(seed);
  const size = geometry.channels * geometry.height * geometry.width;
  return { ...geometry, data: Float32Array.from({ length: size }, () => 2 * random() - 1) };
}

/** The reference's seed: the channel's strongest unit at its value ('peak') or its whole map. */
function seedSignal(layer: T3, channel: number, start: DeconvStart, unit?: number): { g: T3; unit: number | null } {
  const g = like(layer);
  const size = layer.h * layer.w;
  const map = layer.data.subarray(channel * size, (channel + 1) * size);
  if (start === 'map') {
    g.data.set(map, channel * size);
    return { g, unit: null };
  }
  let strongest = 0;
  for (let u = 1; u < size; u++) if (map[u]! > map[strongest]!) strongest = u;
  const chosen = unit ?? strongest;
  g.data[channel * size + chosen] = map[chosen]!;
  return { g, unit: chosen };
}

type Reference = (g: T3, forward: Map<string, T3>, mode: DeconvMode, unpool: UnpoolMode) => Float64Array;

/** max |a − b| / max |b|, and max |b|. */
function relativeError(actual: Float32Array, expected: Float64Array): { error: number; scale: number } {
  let diff = 0;
  let scale = 0;
  expected.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(actual[i]! - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return { error: scale === 0 ? diff : diff / scale, scale };
}

interface Case {
  model: TinyModel;
  layer: string;
  geometry: Omit<InputTensor, 'data'>;
  reference: Reference;
}

/** Projects every channel of the layer in every mode and start, and compares with the reference. */
async function compareWithReference(c: Case, mode: DeconvMode, unpool: UnpoolMode): Promise<Float32Array[]> {
  const input = randomInput(c.geometry, 5);
  const forward = await forwardTensors(c.model, input);
  const layer = forward.get(c.layer)!;
  const deconv = await createDeconv(c.model.bytes, { layer: c.layer, mode, unpool, input: c.geometry, batchSize: 3 });
  const projections: Float32Array[] = [];
  try {
    for (const start of ['peak', 'map'] as const) {
      // Every channel, and one more row with a unit given (not necessarily the strongest).
      const neurons: NeuronRef[] = Array.from({ length: layer.c }, (_, channel) => ({ channel }));
      neurons.push({ channel: 1, unit: Math.min(2, layer.h * layer.w - 1) });
      const results = await deconv.project(input, neurons, start);
      expect(results).toHaveLength(neurons.length);
      let nonzero = 0;
      results.forEach((r, k) => {
        const neuron = neurons[k]!;
        const seed = seedSignal(layer, neuron.channel, start, start === 'peak' ? neuron.unit : undefined);
        expect(r.unit, `${start} channel ${neuron.channel}`).toBe(seed.unit);
        const expected = c.reference(seed.g, forward, mode, unpool);
        const { error, scale } = relativeError(r.projection, expected);
        expect(error, `${mode}/${unpool}/${start} channel ${neuron.channel}`).toBeLessThan(1e-5);
        if (scale > 0) nonzero++;
        projections.push(r.projection);
      });
      // The comparison means something: most projections are not zero.
      expect(nonzero, `${mode}/${unpool}/${start}`).toBeGreaterThan(neurons.length / 2);
    }
  } finally {
    await deconv.release();
  }
  return projections;
}

const modes: [DeconvMode, UnpoolMode][] = [
  ['deconvnet', 'nearest'],
  ['deconvnet', 'switches'],
  ['guided', 'nearest'],
  ['guided', 'switches'],
];

// ---------------------------------------------------------------------------------------------------------------
// The models

/**
 * A chain: asymmetric Pad, strided Conv with asymmetric pads, BatchNormalization, ReLU, overlapping ceil-mode
 * MaxPool with pads, dilated depthwise Conv, Clip (ReLU6), AveragePool with pads, grouped Conv with SAME_UPPER, ReLU.
 */
function chainCase(): Case {
  const model = tinyModel(
    [2, 15, 14],
    [
      { op: 'Pad', name: 'p1', inputs: ['x', 'pads'] },
      { op: 'Conv', name: 'c1', inputs: ['p1', 'w1', 'b1'], attrs: { strides: [2, 2], pads: [1, 0, 0, 1] } },
      {
        op: 'BatchNormalization',
        name: 'n1',
        inputs: ['c1', 'scale', 'shift', 'mean', 'var'],
        attrs: { epsilon: { float: 0.01 } },
      },
      { op: 'Relu', name: 'r1', inputs: ['n1'] },
      {
        op: 'MaxPool',
        name: 'm1',
        inputs: ['r1'],
        attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1, pads: [1, 0, 0, 1] },
      },
      { op: 'Conv', name: 'c2', inputs: ['m1', 'w2'], attrs: { group: 6, dilations: [2, 2], pads: [2, 1, 2, 3] } },
      { op: 'Clip', name: 'k2', inputs: ['c2', 'lo', 'hi'] },
      { op: 'AveragePool', name: 'a2', inputs: ['k2'], attrs: { kernel_shape: [2, 2], pads: [1, 1, 0, 0] } },
      { op: 'Conv', name: 'c3', inputs: ['a2', 'w3', 'b3'], attrs: { group: 2, auto_pad: 'SAME_UPPER' } },
      { op: 'Relu', name: 'r3', inputs: ['c3'] },
    ],
    {
      w1: { dims: [6, 2, 3, 3] },
      b1: { dims: [6], range: [0, 0.5] },
      scale: { dims: [6], range: [0.5, 2] },
      shift: { dims: [6] },
      mean: { dims: [6], range: [-0.2, 0.2] },
      var: { dims: [6], range: [0.5, 2] },
      w2: { dims: [6, 1, 3, 3] },
      lo: { dims: [], values: [0] },
      hi: { dims: [], values: [6] },
      w3: { dims: [4, 3, 2, 2] },
      b3: { dims: [4], range: [0, 0.5] },
    },
    { pads: [0, 0, 1, 2, 0, 0, 2, 1] },
  );
  const w = (name: string) => model.weights.get(name)!;
  const reference: Reference = (g0, f, mode, unpool) => {
    let g = reluBack(g0, f.get('c3')!, mode);
    // SAME_UPPER, stride 1, kernel 2: the one pad row and column at the end.
    g = convT(g, w('w3'), f.get('a2')!, win(2, 1, [0, 0, 1, 1]), 2);
    g = avgBack(g, f.get('k2')!, win(2, 1, [1, 1, 0, 0]), false);
    g = reluBack(g, f.get('c2')!, mode);
    g = convT(g, w('w2'), f.get('m1')!, win(3, 1, [2, 1, 2, 3], 2), 6);
    g = unpoolBack(g, f.get('r1')!, win(3, 2, [1, 0, 0, 1]), unpool);
    g = reluBack(g, f.get('n1')!, mode);
    const variance = w('var').values;
    g = scaleChannels(
      g,
      w('scale').values.map((s, c) => s / Math.sqrt(variance[c]! + 0.01)),
    );
    g = convT(g, w('w1'), f.get('p1')!, win(3, 2, [1, 0, 0, 1]));
    return crop(g, zeros(2, 15, 14), [0, 1, 2]).data;
  };
  return { model, layer: 'r3', geometry: { layout: 'NCHW', channels: 2, height: 15, width: 14 }, reference };
}

/**
 * Branches: Conv, ReLU, MaxPool; a Fire-like pair of 1x1 and 3x3 Convs with ReLUs, concatenated; a residual Add
 * around a 1x1 Conv; a ceil-mode AveragePool counting pads; Conv with SAME_LOWER and ReLU.
 */
function branchCase(): Case {
  const model = tinyModel(
    [3, 12, 12],
    [
      { op: 'Conv', name: 'ca', inputs: ['x', 'wa', 'ba'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 'ra', inputs: ['ca'] },
      { op: 'MaxPool', name: 'mp', inputs: ['ra'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op: 'Conv', name: 'e1', inputs: ['mp', 'we1', 'be1'] },
      { op: 'Relu', name: 're1', inputs: ['e1'] },
      { op: 'Conv', name: 'e3', inputs: ['mp', 'we3', 'be3'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 're3', inputs: ['e3'] },
      { op: 'Concat', name: 'cat', inputs: ['re1', 're3'], attrs: { axis: 1 } },
      { op: 'Conv', name: 'sq', inputs: ['cat', 'wsq'] },
      { op: 'Add', name: 'res', inputs: ['sq', 'cat'] },
      {
        op: 'AveragePool',
        name: 'ap',
        inputs: ['res'],
        attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 },
      },
      { op: 'Conv', name: 'co', inputs: ['ap', 'wo', 'bo'], attrs: { auto_pad: 'SAME_LOWER' } },
      { op: 'Relu', name: 'ro', inputs: ['co'] },
    ],
    {
      wa: { dims: [4, 3, 3, 3] },
      ba: { dims: [4], range: [0, 0.3] },
      we1: { dims: [3, 4, 1, 1] },
      be1: { dims: [3], range: [0, 0.3] },
      we3: { dims: [5, 4, 3, 3] },
      be3: { dims: [5], range: [0, 0.3] },
      wsq: { dims: [8, 8, 1, 1] },
      wo: { dims: [6, 8, 2, 2] },
      bo: { dims: [6], range: [0, 0.3] },
    },
  );
  const w = (name: string) => model.weights.get(name)!;
  const reference: Reference = (g0, f, mode, unpool) => {
    let g = reluBack(g0, f.get('co')!, mode);
    // SAME_LOWER, stride 1, kernel 2: the pad row and column at the beginning.
    g = convT(g, w('wo'), f.get('ap')!, win(2, 1, [1, 1, 0, 0]));
    const atResidual = avgBack(g, f.get('res')!, win(3, 2, [1, 1, 1, 1]), true);
    const atConcat = add(atResidual, convT(atResidual, w('wsq'), f.get('cat')!, win(1)));
    const fromOne = convT(reluBack(channels(atConcat, 0, 3), f.get('e1')!, mode), w('we1'), f.get('mp')!, win(1));
    const fromThree = convT(
      reluBack(channels(atConcat, 3, 5), f.get('e3')!, mode),
      w('we3'),
      f.get('mp')!,
      win(3, 1, [1, 1, 1, 1]),
    );
    g = unpoolBack(add(fromOne, fromThree), f.get('ra')!, win(2, 2), unpool);
    g = reluBack(g, f.get('ca')!, mode);
    return convT(g, w('wa'), zeros(3, 12, 12), win(3, 1, [1, 1, 1, 1])).data;
  };
  return { model, layer: 'ro', geometry: { layout: 'NCHW', channels: 3, height: 12, width: 12 }, reference };
}

/** An NHWC input transposed to NCHW, Conv, ReLU, GlobalAveragePool, 1x1 Conv, ReLU: a 1x1 layer. */
function globalCase(): Case {
  const model = tinyModel(
    [7, 6, 2],
    [
      { op: 'Transpose', name: 't', inputs: ['x'], attrs: { perm: [0, 3, 1, 2] } },
      { op: 'Conv', name: 'cc', inputs: ['t', 'wc', 'bc'] },
      { op: 'Relu', name: 'rc', inputs: ['cc'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['rc'] },
      { op: 'Conv', name: 'cg', inputs: ['gap', 'wg', 'bg'] },
      { op: 'Relu', name: 'rg', inputs: ['cg'] },
    ],
    {
      wc: { dims: [4, 2, 3, 3] },
      bc: { dims: [4], range: [0, 0.5] },
      wg: { dims: [3, 4, 1, 1], range: [0, 1] },
      bg: { dims: [3], range: [0, 0.5] },
    },
  );
  const w = (name: string) => model.weights.get(name)!;
  const reference: Reference = (g0, f, mode) => {
    let g = reluBack(g0, f.get('cg')!, mode);
    g = convT(g, w('wg'), f.get('gap')!, win(1));
    g = reluBack(globalAverageBack(g, f.get('rc')!), f.get('cc')!, mode);
    const nchw = convT(g, w('wc'), zeros(2, 7, 6), win(3));
    // Back to the input's NHWC layout.
    const out = new Float64Array(nchw.data.length);
    for (let c = 0; c < 2; c++)
      for (let y = 0; y < 7; y++) for (let x = 0; x < 6; x++) out[(y * 6 + x) * 2 + c] = nchw.data[idx(nchw, c, y, x)]!;
    return out;
  };
  return { model, layer: 'rg', geometry: { layout: 'NHWC', channels: 2, height: 7, width: 6 }, reference };
}

// ---------------------------------------------------------------------------------------------------------------

describe('deconvnet on small built models, against a plain JavaScript implementation of the rules', () => {
  for (const [name, build] of [
    [
      'chain (pad, strided/dilated/depthwise/grouped conv, batchnorm, relu, clip, ceil-mode maxpool, avgpool)',
      chainCase,
    ],
    ['branches (concat of 1x1 and 3x3, residual add, avgpool counting pads)', branchCase],
  ] as const) {
    for (const [mode, unpool] of modes) {
      it(`${name}: ${mode}, ${unpool} unpooling`, async () => {
        await compareWithReference(build(), mode, unpool);
      });
    }
  }

  it('an NHWC input, transpose and global average pooling: deconvnet and guided', async () => {
    for (const mode of ['deconvnet', 'guided'] as const) await compareWithReference(globalCase(), mode, 'nearest');
  });

  it('switches and nearest unpooling, deconvnet and guided, give different projections', async () => {
    const results = await Promise.all(modes.map(([mode, unpool]) => compareWithReference(branchCase(), mode, unpool)));
    for (let a = 0; a < results.length; a++) {
      for (let b = a + 1; b < results.length; b++) {
        const differ = results[a]!.some((p, k) => p.some((v, i) => Math.abs(v - results[b]![k]![i]!) > 1e-4));
        expect(differ, `${modes[a]} vs ${modes[b]}`).toBe(true);
      }
    }
  });
});

describe('deconvnet of a linear model is the adjoint of its forward map', () => {
  it('<A(x) − A(0), g> = <x, Aᵀg> with g the layer map, through pad, conv, batchnorm, avgpool, concat, add', async () => {
    const model = tinyModel(
      [2, 11, 10],
      [
        { op: 'Pad', name: 'p', inputs: ['x', 'pads'] },
        {
          op: 'Conv',
          name: 'c',
          inputs: ['p', 'w', 'b'],
          attrs: { strides: [2, 2], pads: [0, 1, 1, 0], dilations: [1, 2] },
        },
        { op: 'BatchNormalization', name: 'n', inputs: ['c', 'scale', 'shift', 'mean', 'var'] },
        {
          op: 'AveragePool',
          name: 'a',
          inputs: ['n'],
          attrs: { kernel_shape: [3, 2], strides: [2, 1], pads: [1, 0, 1, 1], ceil_mode: 1, count_include_pad: 1 },
        },
        { op: 'Conv', name: 'd', inputs: ['a', 'wd'], attrs: { group: 4 } },
        { op: 'Concat', name: 'cat', inputs: ['a', 'd'], attrs: { axis: 1 } },
        { op: 'Conv', name: 'e', inputs: ['cat', 'we'] },
        { op: 'Add', name: 'sum', inputs: ['e', 'cat'] },
      ],
      {
        w: { dims: [4, 2, 3, 3] },
        b: { dims: [4] },
        scale: { dims: [4], range: [0.5, 2] },
        shift: { dims: [4] },
        mean: { dims: [4] },
        var: { dims: [4], range: [0.5, 2] },
        wd: { dims: [4, 1, 1, 1] },
        we: { dims: [8, 8, 1, 1] },
      },
      { pads: [0, 0, 2, 0, 0, 0, 1, 3] },
    );
    const geometry = { layout: 'NCHW', channels: 2, height: 11, width: 10 } as const;
    const input = randomInput(geometry, 9);
    const atInput = await forwardTensors(model, input);
    const atZero = await forwardTensors(model, { ...geometry, data: new Float32Array(input.data.length) });
    const deconv = await createDeconv(model.bytes, { layer: 'sum', input: geometry });
    const layer = atInput.get('sum')!;
    const results = await deconv.project(
      input,
      Array.from({ length: layer.c }, (_, channel) => ({ channel })),
      'map',
    );
    await deconv.release();
    const size = layer.h * layer.w;
    results.forEach((r, channel) => {
      let lhs = 0;
      for (let u = channel * size; u < (channel + 1) * size; u++) {
        lhs += (layer.data[u]! - atZero.get('sum')!.data[u]!) * layer.data[u]!;
      }
      const rhs = r.projection.reduce((sum, v, i) => sum + v * input.data[i]!, 0);
      expect(Math.abs(lhs - rhs), `channel ${channel}: ${lhs} vs ${rhs}`).toBeLessThan(1e-5 * Math.abs(lhs) + 1e-6);
      expect(Math.abs(lhs)).toBeGreaterThan(1e-3);
    });
  });
});

describe('errors and boxes', () => {
  const sigmoidModel = () =>
    tinyModel(
      [1, 6, 6],
      [
        { op: 'Conv', name: 'c1', inputs: ['x', 'w1'] },
        { op: 'Sigmoid', name: 'squash', inputs: ['c1'] },
        { op: 'Conv', name: 'c2', inputs: ['squash', 'w2'] },
        { op: 'Relu', name: 'r2', inputs: ['c2'] },
      ],
      { w1: { dims: [2, 1, 3, 3] }, w2: { dims: [2, 2, 1, 1] } },
    );

  it('an op without a backward rule is a one-line UserError naming the op type and the node', async () => {
    const m = sigmoidModel();
    const build = () => buildDeconvGraph(m, { layer: 'r2', inputDims: [1, 1, 6, 6] });
    expect(build).toThrow(UserError);
    expect(build).toThrow(/op Sigmoid \(node 'squash'/);
    const err = await createDeconv(m.bytes, { layer: 'r2' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/Sigmoid.*'squash'/);
    expect((err as Error).message).not.toContain('\n');
    // Below the unsupported op, the layer projects fine.
    expect(buildDeconvGraph(m, { layer: 'c1', inputDims: [1, 1, 6, 6] }).layerDims).toEqual([1, 2, 4, 4]);
  });

  it('a Clip that is not a ReLU, a layer that does not exist, and a channel outside the layer are UserErrors', async () => {
    const clip = tinyModel(
      [1, 5, 5],
      [
        { op: 'Conv', name: 'c', inputs: ['x', 'w'] },
        { op: 'Clip', name: 'clip', inputs: ['c', 'lo', 'hi'] },
      ],
      { w: { dims: [2, 1, 3, 3] }, lo: { dims: [], values: [-1] }, hi: { dims: [], values: [1] } },
    );
    expect(() => buildDeconvGraph(clip, { layer: 'clip', inputDims: [1, 1, 5, 5] })).toThrow(
      /Clip node 'clip' is not a ReLU/,
    );
    expect(() => buildDeconvGraph(clip, { layer: 'nope', inputDims: [1, 1, 5, 5] })).toThrow(UserError);
    const deconv = await createDeconv(clip.bytes, { layer: 'c' });
    const input = randomInput({ layout: 'NCHW', channels: 1, height: 5, width: 5 }, 1);
    await expect(deconv.project(input, [{ channel: 2 }])).rejects.toThrow(UserError);
    await expect(deconv.project(input, [{ channel: 0, unit: 9 }])).rejects.toThrow(UserError);
    await deconv.release();
  });

  it('projectionBox: pixels at or above the threshold fraction of the strongest, summed over channels', () => {
    const geometry = { layout: 'NCHW', channels: 2, height: 4, width: 5 } as const;
    const p = new Float32Array(40);
    p[1 * 5 + 2] = 10; // channel 0, (1, 2)
    p[20 + 3 * 5 + 4] = -0.5; // channel 1, (3, 4)
    p[2 * 5 + 0] = 0.6; // channel 0, (2, 0)
    p[20 + 2 * 5 + 0] = 0.6; // channel 1, (2, 0): 1.2 in all
    expect(projectionBox(p, geometry, 0.1)).toEqual({ top: 1, left: 0, bottom: 2, right: 2 });
    expect(projectionBox(p, geometry, 0)).toEqual({ top: 1, left: 0, bottom: 3, right: 4 });
    expect(projectionBox(p, geometry, 0.5)).toEqual({ top: 1, left: 2, bottom: 1, right: 2 });
    expect(projectionBox(new Float32Array(40), geometry)).toBeNull();
    // The same projection in NHWC gives the same boxes.
    const nhwc = { ...geometry, layout: 'NHWC' } as const;
    const q = new Float32Array(40);
    for (let c = 0; c < 2; c++) for (let i = 0; i < 20; i++) q[i * 2 + c] = p[c * 20 + i]!;
    expect(projectionBox(q, nhwc, 0.1)).toEqual({ top: 1, left: 0, bottom: 2, right: 2 });
    expect(projectionBox(q, nhwc, 0)).toEqual({ top: 1, left: 0, bottom: 3, right: 4 });
  });

  it('pixelMagnitudes: |value| summed over channels in channel order, the same bits in NCHW and NHWC', () => {
    const geometry = { layout: 'NCHW', channels: 3, height: 6, width: 7 } as const;
    const nhwc = { ...geometry, layout: 'NHWC' } as const;
    const pixels = 6 * 7;
    const p = Float32Array.from({ length: 3 * pixels }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 7) - 3));
    const q = new Float32Array(p.length);
    for (let c = 0; c < 3; c++) for (let i = 0; i < pixels; i++) q[i * 3 + c] = p[c * pixels + i]!;
    const plain = Array.from({ length: pixels }, (_, i) => {
      let sum = 0;
      for (let c = 0; c < 3; c++) sum += Math.abs(p[c * pixels + i]!);
      return sum;
    });
    expect(Array.from(pixelMagnitudes(p, geometry))).toEqual(plain);
    expect(Array.from(pixelMagnitudes(q, nhwc))).toEqual(plain);
  });
});
