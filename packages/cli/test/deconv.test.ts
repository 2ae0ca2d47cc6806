/**
 * The deconv stage end to end: `deconv.parquet` against separate calls of the model package's deconvnet and an
 * independent forward pass, byte-identical reruns, the run-id check, the report's cards and `--boxes deconv`, the
 * figures, and a model with an operator the deconvnet cannot invert (warned and skipped, never fatal to explain).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DeconvRow,
  expandProjection,
  readDeconvTable,
  readParquetFile,
  type Summary,
  tensorDims,
} from '@neuronscope/core';
import { createDeconv, createSession, loadImage, loadModel, projectionBox, withExtraOutputs } from '@neuronscope/model';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, DEFAULT_MODEL, sample } from './helpers.js';

const { onnx } = onnxProto;
const IMAGE = sample('9-ankle-boot.png');

const read = async (dir: string) => readDeconvTable(await readParquetFile(join(dir, 'deconv.parquet')));
const summaryOf = async (dir: string) => JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Summary;
const explain = (out: string, ...extra: string[]) =>
  cli(['explain', '--image', IMAGE, '-n', '12', '--masks', '0', '--out', out, ...extra]);

/** The strongest unit of every channel of `layers` on the clean image (first on ties), by an independent run. */
async function cleanPeaks(summary: Summary, layers: readonly string[]) {
  const model = await loadModel(DEFAULT_MODEL);
  const session = await createSession(withExtraOutputs(model.bytes, [...layers]));
  const input = (await loadImage(IMAGE, summary.run.preprocessing)).tensor;
  const out = await session.run({ input: new ort.Tensor('float32', input.data, tensorDims(input)) }, [...layers]);
  await session.release();
  return (layer: string, channel: number) => {
    const t = out[layer]!;
    const [, , h, w] = t.dims as number[];
    const plane = (t.data as Float32Array).subarray(channel * h! * w!, (channel + 1) * h! * w!);
    let best = 0;
    for (let u = 1; u < plane.length; u++) if (plane[u]! > plane[best]!) best = u;
    return { unit: best, activation: plane[best]! };
  };
}

describe('deconv.parquet', () => {
  let dir: string;
  let run: string;
  let summary: Summary;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-deconv-'));
    run = join(dir, 'run');
    const r = explain(run, '--no-cache', '--figures', join(dir, 'figures'));
    expect(r.stderr).toMatch(/deconv: \d+ projections in/);
    expect(r.status).toBe(0);
    summary = await summaryOf(run);
  });

  it("holds every selected neuron's projection from its most active unit, as a separate deconvnet call computes it", async () => {
    const { rows, meta } = await read(run);
    expect(meta).toMatchObject({ mode: 'deconvnet', unpool: 'nearest', boxThreshold: 0.1, skipped: [] });
    expect(meta).toMatchObject({ inputHeight: 28, inputWidth: 28, channels: 1 });
    const selected = summary.layers.flatMap((l) => {
      const a = l.byCorrelation.map((n) => n.channel);
      const b = l.byPrecision.map((n) => n.channel);
      return [...a, ...b.filter((c) => !a.includes(c))].map((c) => {
        const set = a.includes(c) && b.includes(c) ? 'both' : a.includes(c) ? 'correlation' : 'precision';
        return [l.layerIndex, c, set];
      });
    });
    expect(rows.map((r) => [r.layerIndex, r.channel, r.set])).toEqual(selected);
    const peak = await cleanPeaks(summary, [...new Set(rows.map((r) => r.layer))]);
    const model = await loadModel(DEFAULT_MODEL);
    const input = (await loadImage(IMAGE, summary.run.preprocessing)).tensor;
    let nonzero = 0;
    for (const layer of new Set(rows.map((r) => r.layer))) {
      const deconv = await createDeconv(model, { layer, threads: 1 });
      const mine = rows.filter((r) => r.layer === layer);
      // Default start: the deconvnet's own strongest unit, independently of the stage's peak units.
      const theirs = await deconv.project(
        input,
        mine.map((r) => ({ channel: r.channel })),
      );
      await deconv.release();
      mine.forEach((r, i) => {
        const what = `${layer} channel ${r.channel}`;
        const expected = peak(layer, r.channel);
        expect(r.unit, what).toBe(expected.unit);
        expect(r.activation, what).toBeCloseTo(expected.activation, 5);
        expect(r.unit, what).toBe(theirs[i]!.unit);
        const full = expandProjection(r, meta);
        expect(Array.from(full), what).toEqual(Array.from(theirs[i]!.projection));
        expect(r.box, what).toEqual(projectionBox(full, input, 0.1));
        expect(r.support, what).toEqual(projectionBox(full, input, 0));
        if (r.box) nonzero++;
      });
    }
    expect(nonzero).toBeGreaterThan(rows.length / 2);
  });

  it('is byte-identical when computed again, and is cached by content', async () => {
    const bytes = await readFile(join(run, 'deconv.parquet'));
    const cacheDir = await mkdtemp(join(tmpdir(), 'ns-deconv-cache-'));
    const first = cli(['deconv', '--out', run, '--cache-dir', cacheDir]);
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/deconv: \d+ projections in/);
    expect(Buffer.compare(bytes, await readFile(join(run, 'deconv.parquet')))).toBe(0);
    const second = cli(['deconv', '--out', run, '--cache-dir', cacheDir]);
    expect(second.stderr).toMatch(/deconv: cache hit [0-9a-f]{12}: reused \d+ projections/);
    expect(Buffer.compare(bytes, await readFile(join(run, 'deconv.parquet')))).toBe(0);
    // Other settings, other projections: a larger threshold gives boxes inside the default ones.
    const other = join(dir, 'threshold');
    expect(explain(other, '--box-threshold', '0.5').status).toBe(0);
    const [a, b] = [(await read(run)).rows, (await read(other)).rows];
    expect((await read(other)).meta.boxThreshold).toBe(0.5);
    a.forEach((r, i) => {
      const s = b[i]!.box;
      if (r.box && s) expect(s.top >= r.box.top && s.bottom <= r.box.bottom).toBe(true);
    });
  });

  it('shows each projection on its neuron card, as a PNG of the projection itself', async () => {
    const html = await readFile(join(run, 'report.html'), 'utf8');
    const { rows } = await read(run);
    for (const r of rows) {
      const label = `deconvnet projection of layer ${r.layerIndex} channel ${r.channel}`;
      if (r.box) expect(html).toContain(`aria-label="${label}"`);
      else expect(html).not.toContain(`aria-label="${label}"`);
    }
    expect(html).toContain('Deconvnet projection: at least 10% of its peak within');
    // The first projection's picture: 128 + 127 · value / peak, pixel by pixel (std 1, one grey channel).
    const r = rows.find((x) => x.box) as DeconvRow;
    const svg = html.split(`aria-label="deconvnet projection of layer ${r.layerIndex} channel ${r.channel}"`)[1]!;
    const [, x, y, w, h] = svg
      .match(/<image href="[^"]+" x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"/)!
      .map(Number);
    const uri = svg.match(/<image href="data:image\/png;base64,([^"]+)"/)![1]!;
    const { data, info } = await sharp(Buffer.from(uri, 'base64')).raw().toBuffer({ resolveWithObject: true });
    const factor = info.width / w!;
    expect(Number.isInteger(factor) && info.height / h! === factor).toBe(true);
    const full = expandProjection(r, { channels: 1, inputHeight: 28, inputWidth: 28 });
    const peak = Math.max(...Array.from(full, Math.abs));
    for (let yy = 0; yy < h!; yy++) {
      for (let xx = 0; xx < w!; xx++) {
        const pixel = data[(yy * factor * info.width + xx * factor) * info.channels]!;
        expect(pixel).toBe(Math.round(128 + (127 * full[(y! + yy) * 28 + x! + xx]!) / peak));
      }
    }
  });

  it('--boxes deconv draws the deconvnet boxes in the overview instead of the receptive fields', async () => {
    const depth = (html: string) => html.slice(html.indexOf('id="depth"'), html.indexOf('id="findings"'));
    const fields = depth(await readFile(join(run, 'report.html'), 'utf8'));
    const r = cli(['report', '--out', run, '--boxes', 'deconv']);
    expect(r.status).toBe(0);
    const boxes = depth(await readFile(join(run, 'report.html'), 'utf8'));
    expect(fields).toContain('photo around the receptive field of layer');
    expect(fields).not.toContain('photo around the deconvnet box of layer');
    expect(boxes).toContain('photo around the deconvnet box of layer');
    expect(boxes).not.toContain('photo around the receptive field of layer');
    // Each tile outlines its neuron's deconvnet box (the photo is the 28 x 28 input: one pixel per pixel).
    const { rows } = await read(run);
    const first = summary.layers[0]!.byCorrelation[0]!.channel;
    const row = rows.find((x) => x.layerIndex === summary.layers[0]!.layerIndex && x.channel === first)!;
    const tile = boxes.split(`photo around the deconvnet box of layer ${row.layerIndex} channel ${row.channel}"`)[1]!;
    const b = row.box!;
    expect(tile.slice(0, 600)).toContain(
      `<rect x="${b.left.toFixed(1)}" y="${b.top.toFixed(1)}" width="${(b.right - b.left + 1).toFixed(1)}" height="${(b.bottom - b.top + 1).toFixed(1)}"`,
    );
    expect(cli(['report', '--out', run]).status).toBe(0);
  });

  it('exports the projections with the figures', async () => {
    const files = await readdir(join(dir, 'figures'));
    const layers = [...new Set((await read(run)).rows.filter((r) => r.box).map((r) => r.layerIndex))];
    expect(layers.length).toBeGreaterThan(0);
    for (const l of layers) {
      const stem = `layer-${String(l).padStart(2, '0')}-deconv`;
      expect(files).toContain(`${stem}.svg`);
      expect(files).toContain(`${stem}.png`);
      const svg = await readFile(join(dir, 'figures', `${stem}.svg`), 'utf8');
      expect(svg).toContain('deconvnet projections');
      expect((await sharp(join(dir, 'figures', `${stem}.png`)).metadata()).width).toBeGreaterThan(300);
    }
  });

  it('refuses a deconv.parquet of another run, and --boxes deconv without one, before writing', async () => {
    const other = join(dir, 'other');
    expect(explain(other, '--seed', '1', '--no-deconv').status).toBe(0);
    expect(existsSync(join(other, 'deconv.parquet'))).toBe(false);
    const before = await readFile(join(other, 'report.html'));
    const missing = cli(['report', '--out', other, '--boxes', 'deconv']);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/--boxes deconv: .*deconv\.parquet not found: run 'neuronscope deconv/);
    await copyFile(join(run, 'deconv.parquet'), join(other, 'deconv.parquet'));
    const foreign = cli(['report', '--out', other]);
    expect(foreign.status).toBe(2);
    expect(foreign.stderr.trim().split('\n')).toHaveLength(1);
    expect(foreign.stderr).toMatch(/deconv\.parquet belongs to another run .*neuronscope deconv --out/);
    expect(Buffer.compare(before, await readFile(join(other, 'report.html')))).toBe(0);
    // Asking explain for deconvnet boxes without the deconv stage is bad usage, found before any output.
    const nowhere = join(dir, 'nowhere');
    const bad = explain(nowhere, '--no-deconv', '--boxes', 'deconv');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--boxes deconv needs the deconv stage/);
    expect(existsSync(nowhere)).toBe(false);
  });
});

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/**
 * input [N,1,8,8] -> Conv (2 channels) -> Relu (layer 0) -> `between` -> Conv (3 channels) -> Relu (layer 1) ->
 * GlobalAveragePool -> Flatten: three logits. With `first`, `between` sits before the first Conv instead.
 */
function modelWith(op: string, first: boolean): Uint8Array {
  const weights = (n: number) => Array.from({ length: n }, (_, i) => Math.sin(i + 1));
  const tensor = (name: string, dims: number[], values: number[]) => ({
    name,
    dims,
    dataType: FLOAT,
    floatData: values,
  });
  const vi = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
  const pads = { name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 1, 1, 1] };
  const odd = { opType: op, name: 'odd', input: [first ? 'input' : 'r1'], output: ['o'] };
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'odd-op',
      input: [vi('input', ['N', 1, 8, 8])],
      output: [vi('logits', ['N', 3])],
      initializer: [tensor('w1', [2, 1, 3, 3], weights(18)), tensor('w2', [3, 2, 3, 3], weights(54))],
      node: [
        ...(first ? [odd] : []),
        { opType: 'Conv', name: 'c1', input: [first ? 'o' : 'input', 'w1'], output: ['c1'], attribute: [pads] },
        { opType: 'Relu', name: 'r1', input: ['c1'], output: ['r1'] },
        ...(first ? [] : [odd]),
        { opType: 'Conv', name: 'c2', input: [first ? 'r1' : 'o', 'w2'], output: ['c2'], attribute: [pads] },
        { opType: 'Relu', name: 'r2', input: ['c2'], output: ['r2'] },
        { opType: 'GlobalAveragePool', name: 'gap', input: ['r2'], output: ['g'] },
        { opType: 'Flatten', name: 'flatten', input: ['g'], output: ['logits'] },
      ],
    },
  }).finish();
}

describe('an operator the deconvnet cannot invert', () => {
  let dir: string;
  const explainModel = (model: string, out: string) =>
    cli(
      ['explain', '--model', model, '--image', IMAGE, '--preprocess', 'none', '--grayscale', '--size', '8'].concat([
        '-n',
        '8',
        '--top-k',
        '2',
        '--masks',
        '0',
        '--no-cache',
        '--out',
        out,
      ]),
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-deconv-op-'));
    await writeFile(join(dir, 'later.onnx'), modelWith('Sin', false));
    await writeFile(join(dir, 'first.onnx'), modelWith('Sin', true));
  });

  it('costs the layers behind it their projections, with a warning; explain and the report go on', async () => {
    const out = join(dir, 'later');
    const r = explainModel(join(dir, 'later.onnx'), out);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /deconv: warning: layer 1 \(r2\) has no projections: deconvnet: no backward rule for op Sin/,
    );
    const { rows, meta } = await read(out);
    expect(new Set(rows.map((x) => x.layerIndex))).toEqual(new Set([0]));
    expect(rows).toHaveLength(2);
    expect(meta.skipped).toEqual([
      { layer: 'r2', layerIndex: 1, reason: expect.stringContaining('no backward rule for op Sin') },
    ]);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('No deconvnet projection: deconvnet: no backward rule for op Sin');
    expect(html).toContain('aria-label="deconvnet projection of layer 0 channel');
  });

  it('makes the deconv stage a one-line error when no layer can be projected, writing nothing', async () => {
    const out = join(dir, 'first');
    const r = explainModel(join(dir, 'first.onnx'), out);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/deconv: warning: layer 0 \(r1\) has no projections/);
    expect((await read(out)).rows).toHaveLength(0);
    const before = await readFile(join(out, 'deconv.parquet'));
    const stage = cli(['deconv', '--out', out, '--no-cache']);
    expect(stage.status).toBe(2);
    expect(stage.stderr.trim().split('\n').at(-1)).toMatch(
      /no layer can be projected by the deconvnet: deconvnet: no backward rule for op Sin/,
    );
    expect(Buffer.compare(before, await readFile(join(out, 'deconv.parquet')))).toBe(0);
  });
});
