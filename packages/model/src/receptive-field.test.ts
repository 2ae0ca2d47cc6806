import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { defaultModelPath, mobilenetPath, squeezenetPath, tinyResNet } from '../test/fixtures.js';
import { withExtraOutputs } from './extra-outputs.js';
import { loadImage } from './image.js';
import { allTensorLayers, layerShapes, recordableLayers } from './layers.js';
import { type LoadedModel, loadModel } from './load.js';
import { graphView } from './onnx-graph.js';
import { PREPROCESSING_PRESETS } from './preprocess.js';
import { inputToImage, type PixelBox, type ReceptiveField, receptiveFields, unitBox } from './receptive-field.js';
import { createSession } from './session.js';

const { onnx } = onnxProto;
const AttrType = onnx.AttributeProto.AttributeType;

type Attr = number | string | number[];
interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Attr>;
}

function attribute(name: string, value: Attr): onnxProto.onnx.IAttributeProto {
  if (typeof value === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: AttrType.INT, i: value };
  return { name, type: AttrType.INTS, ints: value };
}

/** A model (opset 13) with a dynamic batch; weights all `weight` so that every path adds up with the same sign. */
function model(parts: {
  input: (string | number)[];
  nodes: Node[];
  weights: Record<string, number[]>;
  int64s?: Record<string, number[]>;
  output: string;
}): { bytes: Uint8Array; graph: ReturnType<typeof graphView>; inputName: string } {
  const dim = (d: string | number) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d });
  const proto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'rf',
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: parts.input.map(dim) } } } }],
      output: [{ name: parts.output, type: { tensorType: { elemType: 1 } } }],
      initializer: [
        ...Object.entries(parts.weights).map(([name, dims]) => ({
          name,
          dims,
          dataType: 1,
          floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => 0.5 + ((i * 7) % 5) / 10),
        })),
        ...Object.entries(parts.int64s ?? {}).map(([name, values]) => ({
          name,
          dims: [values.length],
          dataType: 7,
          int64Data: values,
        })),
      ],
      node: parts.nodes.map((n, i) => ({
        opType: n.op,
        name: `n${i}`,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  };
  const bytes = onnx.ModelProto.encode(proto).finish();
  return { bytes, graph: graphView(onnx.ModelProto.decode(bytes).graph!), inputName: 'x' };
}

/**
 * The empirical receptive field: for every input pixel p, the model input with a large positive change at p
 * (all channels), run with `tensors` as outputs; the units of each tensor that change (in any channel).
 * Returns, per tensor, a function from unit (y, x) to the set of pixels whose change changed it.
 */
async function empiricalFields(
  bytes: Uint8Array,
  inputDims: { channels: number; height: number; width: number; layout: 'NCHW' | 'NHWC' },
  tensors: readonly string[],
  pixels: readonly [number, number][],
  inputName = 'x',
  batch = 32,
): Promise<Map<string, { h: number; w: number; changed: Set<number>[] }>> {
  const { channels: c, height: H, width: W, layout } = inputDims;
  const session = await createSession(withExtraOutputs(bytes, tensors));
  const size = c * H * W;
  const base = Float32Array.from({ length: size }, (_, i) => 0.2 + ((i * 2654435761) % 997) / 1245);
  const offset = (ch: number, y: number, x: number) =>
    layout === 'NCHW' ? (ch * H + y) * W + x : (y * W + x) * c + ch;
  const dims = (b: number) => (layout === 'NCHW' ? [b, c, H, W] : [b, H, W, c]);
  const result = new Map<string, { h: number; w: number; changed: Set<number>[] }>();
  try {
    // Row 0 of every batch is the unchanged input.
    for (let start = 0; start < pixels.length; start += batch - 1) {
      const chunk = pixels.slice(start, start + batch - 1);
      const data = new Float32Array((chunk.length + 1) * size);
      data.set(base, 0);
      chunk.forEach(([py, px], k) => {
        const row = data.subarray((k + 1) * size, (k + 2) * size);
        row.set(base);
        for (let ch = 0; ch < c; ch++) row[offset(ch, py, px)]! += 1000;
      });
      const out = await session.run({ [inputName]: new ort.Tensor('float32', data, dims(chunk.length + 1)) }, [
        ...tensors,
      ]);
      for (const name of tensors) {
        const t = out[name]!;
        const [, C, h, w] = t.dims as number[];
        const values = t.data as Float32Array;
        const per = C! * h! * w!;
        let scale = 0;
        for (let i = 0; i < per; i++) scale = Math.max(scale, Math.abs(values[i]!));
        const entry = result.get(name) ?? { h: h!, w: w!, changed: [] };
        chunk.forEach((_, k) => {
          const changed = new Set<number>();
          for (let ch = 0; ch < C!; ch++) {
            for (let u = 0; u < h! * w!; u++) {
              const a = values[ch * h! * w! + u]!;
              const b = values[(k + 1) * per + ch * h! * w! + u]!;
              if (Math.abs(a - b) > 1e-5 * Math.max(scale, 1)) changed.add(u);
            }
          }
          entry.changed.push(changed);
        });
        result.set(name, entry);
      }
    }
  } finally {
    await session.release();
  }
  return result;
}

const contains = (box: PixelBox, y: number, x: number) =>
  y >= box.top && y <= box.bottom && x >= box.left && x <= box.right;

/** For every unit: the pixels whose change changed it, and its analytic box. */
function perUnit(
  field: ReceptiveField,
  entry: { h: number; w: number; changed: Set<number>[] },
  pixels: readonly [number, number][],
  H: number,
  W: number,
) {
  const units = Array.from({ length: entry.h * entry.w }, () => [] as [number, number][]);
  entry.changed.forEach((set, k) => {
    for (const u of set) units[u]!.push(pixels[k]!);
  });
  return units.map((hits, u) => ({
    y: Math.floor(u / entry.w),
    x: u % entry.w,
    hits,
    box: unitBox(field, Math.floor(u / entry.w), u % entry.w, H, W),
  }));
}

const allPixels = (H: number, W: number) =>
  Array.from({ length: H * W }, (_, i) => [Math.floor(i / W), i % W] as [number, number]);

/**
 * Against the empirical fields of `names` (square NCHW input of `size` and `channels`, changed at `pixels`): every
 * unit that a pixel changes has that pixel in its box, the boxes are not loose, and `linear` (a tensor linear in the
 * input, or null) changes exactly at the units whose box holds the pixel.
 */
async function expectFieldsHold(
  m: LoadedModel,
  channels: number,
  size: number,
  names: string[],
  pixels: [number, number][],
  linear: string | null,
) {
  const fields = receptiveFields(m, { height: size, width: size, layout: 'NCHW' });
  const empirical = await empiricalFields(
    m.bytes,
    { channels, height: size, width: size, layout: 'NCHW' },
    names,
    pixels,
    m.inputName,
  );
  for (const name of names) {
    const field = fields.get(name)!;
    const entry = empirical.get(name)!;
    let changes = 0;
    let widest = 0;
    for (const unit of perUnit(field, entry, pixels, size, size)) {
      for (const [y, x] of unit.hits) {
        changes++;
        expect(contains(unit.box, y, x), `${name} unit (${unit.y}, ${unit.x}) changed by (${y}, ${x})`).toBe(true);
      }
    }
    // The analytic field is not loose: some pixel changes a unit near the edge of the box.
    entry.changed.forEach((set, k) => {
      const [py] = pixels[k]!;
      for (const u of set) {
        const y = Math.floor(u / entry.w);
        const top = field.rows.start + y * field.rows.jump;
        widest = Math.max(widest, Math.abs(py - (top + (field.rows.size - 1) / 2)) * 2 + 1);
      }
    });
    expect(changes, name).toBeGreaterThan(0);
    expect(widest, name).toBeGreaterThan(0.5 * Math.min(field.rows.size, size));
    if (name === linear) {
      // Linear in the input: a pixel changes exactly the units whose box holds it.
      entry.changed.forEach((set, k) => {
        const [py, px] = pixels[k]!;
        const expected = new Set<number>();
        for (let u = 0; u < entry.h * entry.w; u++) {
          if (contains(unitBox(field, Math.floor(u / entry.w), u % entry.w, size, size), py, px)) expected.add(u);
        }
        expect([...set].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
      });
    }
  }
}

describe('receptive fields of the embedded default model', () => {
  it('hand-computed along the VGG blocks: a 3x3 conv (pad 1) adds 2 jumps, a 2x2 max-pool doubles the jump', async () => {
    const m = await loadModel(defaultModelPath);
    const fields = receptiveFields(m, { height: 28, width: 28, layout: 'NCHW' });
    const rows = recordableLayers(m).map((l) => fields.get(l.layer)!.rows);
    expect(rows).toEqual([
      { jump: 1, size: 3, start: -1, units: 28 }, // conv1_1
      { jump: 1, size: 5, start: -2, units: 28 }, // conv1_2: 3 + 2
      { jump: 2, size: 10, start: -4, units: 14 }, // pool1 (5 + 1, jump 2), conv2_1: 6 + 2·2
      { jump: 2, size: 14, start: -6, units: 14 }, // conv2_2: 10 + 2·2
      { jump: 4, size: 24, start: -10, units: 7 }, // pool2 (14 + 2, jump 4), conv3_1: 16 + 2·4
    ]);
    expect(recordableLayers(m).every((l) => fields.get(l.layer)!.global === false)).toBe(true);
  });

  it('every unit that any pixel changes has that pixel in its box; conv1_1 before its Relu exactly', async () => {
    const m = await loadModel(defaultModelPath);
    const names = ['/conv1_1/Conv_output_0', ...recordableLayers(m).map((l) => l.layer)];
    await expectFieldsHold(m, 1, 28, names, allPixels(28, 28), '/conv1_1/Conv_output_0');
  });
});

describe('receptive fields of small built models, against the empirical field', () => {
  it('a plain chain (asymmetric Pad, strided Conv, ceil-mode MaxPool, Concat of 1x1 and 3x3, SAME AveragePool, Add): exactly the box', async () => {
    const m = model({
      input: ['N', 1, 21, 20],
      weights: { w1: [2, 1, 3, 3], wa: [2, 2, 1, 1], wb: [2, 2, 3, 3], wr: [4, 4, 1, 1] },
      int64s: { pads: [0, 0, 1, 2, 0, 0, 2, 1] },
      nodes: [
        { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p1'] },
        { op: 'Conv', inputs: ['p1', 'w1'], outputs: ['c1'], attrs: { strides: [2, 2] } },
        {
          op: 'MaxPool',
          inputs: ['c1'],
          outputs: ['m1'],
          attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
        },
        { op: 'Conv', inputs: ['m1', 'wa'], outputs: ['a'] },
        { op: 'Conv', inputs: ['m1', 'wb'], outputs: ['b'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Concat', inputs: ['a', 'b'], outputs: ['cat'], attrs: { axis: 1 } },
        {
          op: 'AveragePool',
          inputs: ['cat'],
          outputs: ['ap'],
          attrs: { kernel_shape: [2, 2], auto_pad: 'SAME_UPPER' },
        },
        { op: 'Conv', inputs: ['ap', 'wr'], outputs: ['r'] },
        { op: 'Add', inputs: ['ap', 'r'], outputs: ['sum'] },
        { op: 'GlobalAveragePool', inputs: ['sum'], outputs: ['g'] },
        { op: 'Flatten', inputs: ['g'], outputs: ['y'] },
      ],
      output: 'y',
    });
    const [H, W] = [21, 20];
    const fields = receptiveFields(m, { height: H, width: W, layout: 'NCHW' });
    // By hand: Pad moves the start by (1, 2); conv 3/2: r 3, j 2; pool 3/2: r 7, j 4; the 3x3 branch widens
    // the Concat to r 15 (start - 4); SAME pooling 2x2 pads at the end only: r 19.
    expect(fields.get('c1')?.rows).toEqual({ jump: 2, size: 3, start: -1, units: 11 });
    expect(fields.get('c1')?.cols).toEqual({ jump: 2, size: 3, start: -2, units: 11 });
    expect(fields.get('m1')?.rows).toEqual({ jump: 4, size: 7, start: -1, units: 5 });
    expect(fields.get('cat')?.rows).toEqual({ jump: 4, size: 15, start: -5, units: 5 });
    expect(fields.get('sum')?.cols).toEqual({ jump: 4, size: 19, start: -6, units: 5 });
    expect(fields.get('g')?.global).toBe(true);
    expect(fields.has('y')).toBe(false);

    const tensors = ['c1', 'm1', 'a', 'b', 'cat', 'sum'];
    const pixels = allPixels(H, W);
    const empirical = await empiricalFields(
      m.bytes,
      { channels: 1, height: H, width: W, layout: 'NCHW' },
      tensors,
      pixels,
    );
    for (const name of tensors) {
      const field = fields.get(name)!;
      const entry = empirical.get(name)!;
      expect([entry.h, entry.w], name).toEqual([field.rows.units, field.cols.units]);
      for (const unit of perUnit(field, entry, pixels, H, W)) {
        const expected = pixels.filter(([y, x]) => contains(unit.box, y, x));
        // 'a' is the 1x1 branch: narrower than the Concat, exactly its own field.
        expect(unit.hits, `${name} unit (${unit.y}, ${unit.x})`).toEqual(expected);
      }
    }
  });

  it('an NHWC input transposed to NCHW, a dilated Conv and SAME_LOWER padding: the bounding box of the dependence', async () => {
    const m = model({
      input: ['N', 17, 15, 2],
      weights: { w1: [3, 2, 3, 3], w2: [2, 3, 2, 2] },
      nodes: [
        { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 3, 1, 2] } },
        { op: 'Conv', inputs: ['t', 'w1'], outputs: ['c1'], attrs: { dilations: [2, 2], pads: [2, 1, 0, 2] } },
        { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
        { op: 'Conv', inputs: ['r1', 'w2'], outputs: ['c2'], attrs: { strides: [2, 2], auto_pad: 'SAME_LOWER' } },
        { op: 'ReduceMean', inputs: ['c2'], outputs: ['y'], attrs: { axes: [1], keepdims: 1 } },
      ],
      output: 'y',
    });
    const [H, W] = [17, 15];
    const fields = receptiveFields(m, { height: H, width: W, layout: 'NHWC' });
    expect(fields.get('c1')?.rows).toEqual({ jump: 1, size: 5, start: -2, units: 15 });
    expect(fields.get('c1')?.cols).toEqual({ jump: 1, size: 5, start: -1, units: 14 });
    expect(fields.get('y')?.rows).toEqual(fields.get('c2')?.rows);
    const tensors = ['r1', 'c2', 'y'];
    const pixels = allPixels(H, W);
    const empirical = await empiricalFields(
      m.bytes,
      { channels: 2, height: H, width: W, layout: 'NHWC' },
      tensors,
      pixels,
    );
    for (const name of tensors) {
      const field = fields.get(name)!;
      let interior = 0;
      for (const unit of perUnit(field, empirical.get(name)!, pixels, H, W)) {
        for (const [y, x] of unit.hits) expect(contains(unit.box, y, x), `${name} (${unit.y}, ${unit.x})`).toBe(true);
        // A dilated kernel's taps skip pixels, so at a clipped border the box may reach past the first tap
        // inside the input; where the box lies inside the input, its edges are taps.
        const top = field.rows.start + unit.y * field.rows.jump;
        const left = field.cols.start + unit.x * field.cols.jump;
        if (top < 0 || left < 0 || top + field.rows.size > H || left + field.cols.size > W) continue;
        interior++;
        const ys = unit.hits.map(([y]) => y);
        const xs = unit.hits.map(([, x]) => x);
        const bounds = { top: Math.min(...ys), left: Math.min(...xs), bottom: Math.max(...ys), right: Math.max(...xs) };
        expect(bounds, `${name} unit (${unit.y}, ${unit.x})`).toEqual(unit.box);
      }
      expect(interior, name).toBeGreaterThan(3);
    }
  });
});

describe('receptive fields of every tensor of a ResNet-style model (layers --all: Add, MaxPool, Conv, Relu)', () => {
  it('has a field for each, with the shape of the tensor; every change stays inside the box, which is not loose', async () => {
    const bytes = tinyResNet('dynamo');
    const m = { bytes, graph: graphView(onnx.ModelProto.decode(bytes).graph!), inputName: 'input', path: 'resnet' };
    const [H, W] = [16, 16];
    const fields = receptiveFields(m, { height: H, width: W, layout: 'NCHW' });
    const all = await allTensorLayers(m, [1, 3, H, W]);
    expect(all).toHaveLength(14);
    for (const l of all) {
      const f = fields.get(l.layer);
      expect(f, l.layer).toBeDefined();
      expect([f!.rows.units, f!.cols.units], l.layer).toEqual([l.height, l.width]);
    }
    // By hand: conv1 3x3/2 pad 1: j 2, r 3, s -1; maxpool 2/2: j 4, r 5; each 3x3 conv adds 8 (2 * 4) and moves the
    // start by 4; the Add takes the widest of the residual path and the shortcut.
    expect(fields.get('maxpool')?.rows).toEqual({ jump: 4, size: 5, start: -1, units: 4 });
    expect(fields.get('add_0')?.rows).toEqual({ jump: 4, size: 21, start: -9, units: 4 });
    expect(fields.get('relu_0b')?.cols).toEqual(fields.get('add_0')?.cols);
    expect(fields.get('add_1')?.rows).toEqual({ jump: 4, size: 37, start: -17, units: 4 });
    expect(fields.get('avgpool')?.global).toBe(true);

    const names = all.filter((l) => l.height > 1).map((l) => l.layer);
    const pixels = allPixels(H, W);
    const empirical = await empiricalFields(
      bytes,
      { channels: 3, height: H, width: W, layout: 'NCHW' },
      names,
      pixels,
      'input',
    );
    for (const name of names) {
      const field = fields.get(name)!;
      let changes = 0;
      let tight = 0;
      for (const unit of perUnit(field, empirical.get(name)!, pixels, H, W)) {
        for (const [y, x] of unit.hits) {
          changes++;
          expect(contains(unit.box, y, x), `${name} unit (${unit.y}, ${unit.x}) changed by (${y}, ${x})`).toBe(true);
        }
        // The box is not loose: for some units the changed pixels reach all four sides of the (clipped) box.
        const ys = unit.hits.map(([y]) => y);
        const xs = unit.hits.map(([, x]) => x);
        const box = { top: Math.min(...ys), left: Math.min(...xs), bottom: Math.max(...ys), right: Math.max(...xs) };
        if (unit.hits.length > 0 && JSON.stringify(box) === JSON.stringify(unit.box)) tight++;
      }
      expect(changes, name).toBeGreaterThan(0);
      expect(tight, name).toBeGreaterThan(0);
    }
  });
});

/** A spread of probe pixels: corners, edges, centre and a grid. */
function probes(H: number, W: number, step: number): [number, number][] {
  const list: [number, number][] = [];
  for (let y = 0; y < H; y += step) for (let x = 0; x < W; x += step) list.push([y, x]);
  list.push([H - 1, W - 1], [0, W - 1], [H - 1, 0], [H >> 1, W >> 1]);
  return list;
}

describe('receptive fields of the shared models', requires('shared'), () => {
  it('squeezenet: hand-computed values along the Fire modules', async () => {
    const m = await loadModel(squeezenetPath);
    const fields = receptiveFields(m, { height: 224, width: 224, layout: 'NCHW' });
    const layers = recordableLayers(m);
    const rows = (i: number) => fields.get(layers[i]!.layer)!.rows;
    expect(rows(0)).toEqual({ jump: 2, size: 3, start: 0, units: 111 }); // conv1 3x3 / 2
    expect(rows(1)).toEqual({ jump: 4, size: 7, start: 0, units: 55 }); // maxpool 3 / 2 (ceil), squeeze 1x1
    expect(rows(3)).toEqual({ jump: 4, size: 15, start: -4, units: 55 }); // expand3x3, pad 1
    expect(rows(4)).toEqual({ jump: 4, size: 15, start: -4, units: 55 }); // the Concat takes the 3x3 path
    expect(rows(7)).toEqual({ jump: 8, size: 31, start: -8, units: 27 }); // maxpool: 23 + 2·4
    expect(rows(25)).toEqual({ jump: 16, size: 207, start: -88, units: 13 });
    const shapes = await layerShapes(m, layers, [1, 3, 224, 224]);
    for (const l of shapes) {
      const f = fields.get(l.layer)!;
      expect([f.rows.units, f.cols.units], l.layer).toEqual([l.height, l.width]);
    }
  });

  it('squeezenet: every unit that a pixel changes has that pixel in its box; conv1 before its Relu exactly', async () => {
    const m = await loadModel(squeezenetPath);
    const layers = recordableLayers(m);
    const conv1 = '/features/features.0/Conv_output_0';
    const names = [conv1, ...[0, 3, 6, 12, 18, 25].map((i) => layers[i]!.layer)];
    await expectFieldsHold(m, 3, 224, names, probes(224, 224, 37), conv1);
  });

  it('mobilenetv2: explicit Pad nodes, depthwise convolutions and residual Adds keep every change inside the box', async () => {
    const m = await loadModel(mobilenetPath);
    const fields = receptiveFields(m, { height: 224, width: 224, layout: 'NCHW' });
    const layers = recordableLayers(m);
    const names = [1, 9, 20, 40].map((i) => layers[i]!.layer);
    expect(fields.get(layers[1]!.layer)?.rows).toEqual({ jump: 2, size: 7, start: -2, units: 112 });
    const pixels = probes(224, 224, 45);
    const empirical = await empiricalFields(
      m.bytes,
      { channels: 3, height: 224, width: 224, layout: 'NCHW' },
      names,
      pixels,
      'input',
    );
    for (const name of names) {
      const field = fields.get(name)!;
      let changes = 0;
      for (const unit of perUnit(field, empirical.get(name)!, pixels, 224, 224)) {
        for (const [y, x] of unit.hits) {
          changes++;
          expect(contains(unit.box, y, x), `${name} unit (${unit.y}, ${unit.x}) changed by (${y}, ${x})`).toBe(true);
        }
      }
      expect(changes, name).toBeGreaterThan(0);
    }
    expect(fields.get(layers[52]!.layer)?.global).toBe(true);
  });

  it('mobilenetv2: every residual Add has a field of its shape; changes of two of them stay inside the box', async () => {
    const { loadModel } = await import('./load.js');
    const m = await loadModel(mobilenetPath);
    const fields = receptiveFields(m, { height: 224, width: 224, layout: 'NCHW' });
    const adds = (await allTensorLayers(m, [1, 3, 224, 224])).filter((l) => l.op === 'Add');
    expect(adds).toHaveLength(10);
    for (const l of adds) {
      const f = fields.get(l.layer)!;
      expect([f.rows.units, f.cols.units], l.layer).toEqual([l.height, l.width]);
      expect(f.global).toBe(false);
    }
    // An Add is as wide as its residual branch, wider than the shortcut (its input).
    const first = fields.get(adds[0]!.layer)!;
    const shortcut = fields.get(m.graph.nodes.find((n) => n.outputs[0] === adds[0]!.layer)!.inputs[1]!)!;
    expect(first.rows.size).toBeGreaterThan(shortcut.rows.size);
    const names = [adds[0]!.layer, adds[9]!.layer];
    const pixels = probes(224, 224, 45);
    const empirical = await empiricalFields(
      m.bytes,
      { channels: 3, height: 224, width: 224, layout: 'NCHW' },
      names,
      pixels,
      'input',
    );
    for (const name of names) {
      let changes = 0;
      for (const unit of perUnit(fields.get(name)!, empirical.get(name)!, pixels, 224, 224)) {
        for (const [y, x] of unit.hits) {
          changes++;
          expect(contains(unit.box, y, x), `${name} unit (${unit.y}, ${unit.x}) changed by (${y}, ${x})`).toBe(true);
        }
      }
      expect(changes, name).toBeGreaterThan(0);
    }
  });
});

describe('inputToImage', () => {
  /** Finds the bounding box of bright pixels in channel 0 of a normalised NCHW tensor. */
  function brightBox(data: Float32Array, H: number, W: number, threshold: number): PixelBox {
    let [top, left, bottom, right] = [H, W, -1, -1];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (data[y * W + x]! > threshold) {
          top = Math.min(top, y);
          bottom = Math.max(bottom, y);
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    return { top, left, bottom, right };
  }

  it.each([
    { width: 400, height: 300, square: { x: 250, y: 120, size: 40 }, preset: 'imagenet' as const },
    { width: 260, height: 520, square: { x: 30, y: 300, size: 60 }, preset: 'imagenet' as const },
    { width: 300, height: 180, square: { x: 200, y: 20, size: 50 }, preset: 'none' as const },
  ])('undoes $preset preprocessing of a $width x $height image: a square maps back onto itself', async (c) => {
    const pixels = Buffer.alloc(c.width * c.height * 3);
    for (let y = c.square.y; y < c.square.y + c.square.size; y++) {
      for (let x = c.square.x; x < c.square.x + c.square.size; x++)
        pixels.fill(255, (y * c.width + x) * 3, (y * c.width + x + 1) * 3);
    }
    const path = join(await mkdtemp(join(tmpdir(), 'ns-rf-')), 'square.png');
    await sharp(pixels, { raw: { width: c.width, height: c.height, channels: 3 } })
      .png()
      .toFile(path);
    const preset = PREPROCESSING_PRESETS[c.preset];
    const pre = {
      preset: c.preset,
      resizeShorter: preset.resizeAndCrop ? 256 : null,
      size: [224, 224] as [number, number],
      scale: 255,
      mean: [0],
      std: [1],
      layout: 'NCHW' as const,
      grayscale: false,
    };
    const { tensor } = await loadImage(path, pre);
    const box = brightBox(tensor.data, 224, 224, 0.5);
    const rect = inputToImage(box, pre, c.width, c.height);
    // Within a resampling tap of the square's edges.
    const tolerance = Math.max(c.width, c.height) / 224 + 1.5;
    expect(Math.abs(rect.x - c.square.x)).toBeLessThan(tolerance);
    expect(Math.abs(rect.y - c.square.y)).toBeLessThan(tolerance);
    expect(Math.abs(rect.x + rect.width - (c.square.x + c.square.size))).toBeLessThan(tolerance);
    expect(Math.abs(rect.y + rect.height - (c.square.y + c.square.size))).toBeLessThan(tolerance);
  });

  it('maps the whole input onto the centre crop of the original', () => {
    const pre = { resizeShorter: 256, size: [224, 224] as [number, number] };
    const rect = inputToImage({ top: 0, left: 0, bottom: 223, right: 223 }, pre, 512, 341);
    // 512x341 -> 384x256, crop (80, 16): 224/256 of the height, centred.
    expect(rect.x).toBeCloseTo((80 * 512) / 384, 9);
    expect(rect.y).toBeCloseTo((16 * 341) / 256, 9);
    expect(rect.width).toBeCloseTo((224 * 512) / 384, 9);
    expect(rect.height).toBeCloseTo((224 * 341) / 256, 9);
  });
});
