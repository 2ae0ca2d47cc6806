import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MapAccumulator, mapGrid, poolMask } from '@neuronscope/activations';
import { readMapsTable, readParquetFile } from '@neuronscope/core';
import { channelMeanOutput, createSession, withChannelMeans, withExtraOutputs } from '@neuronscope/model';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const { onnx } = onnxProto;

/** A deterministic stream of numbers in [0, 1). */
function stream(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((x, y) => x + y, 0) / n;
  const mb = b.reduce((x, y) => x + y, 0) / n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}

describe('MapAccumulator', () => {
  it('pools a mask into block means, the last blocks partial', () => {
    const grid = mapGrid(5, 7, 3); // blocks of 3: 2 x 3 cells
    expect(grid).toEqual({ height: 5, width: 7, block: 3, mapHeight: 2, mapWidth: 3 });
    const mask = Float32Array.from({ length: 35 }, (_, i) => i);
    const out = new Float64Array(6);
    poolMask(mask, grid, out);
    const block = (rows: number[], cols: number[]) => {
      const values = rows.flatMap((y) => cols.map((x) => y * 7 + x));
      return values.reduce((a, b) => a + b, 0) / values.length;
    };
    expect(Array.from(out)).toEqual([
      block([0, 1, 2], [0, 1, 2]),
      block([0, 1, 2], [3, 4, 5]),
      block([0, 1, 2], [6]),
      block([3, 4], [0, 1, 2]),
      block([3, 4], [3, 4, 5]),
      block([3, 4], [6]),
    ]);
  });

  it('gives the two-pass Pearson r of every cell with every variable, and the RISE weighted mean', () => {
    const grid = mapGrid(6, 8, 4); // blocks of 2: 3 x 4 cells
    const random = stream(3);
    const copies = 300;
    const acc = new MapAccumulator(3, grid);
    const pooled: number[][] = [];
    const values: number[][] = [];
    for (let k = 0; k < copies; k++) {
      const mask = Float32Array.from({ length: 48 }, () => (random() < 0.5 ? 1 : random()));
      const cells = new Float64Array(12);
      poolMask(mask, grid, cells);
      // A large offset, as activations have: the shifted sums must not lose it.
      const v = [1e4 + 3 * cells[0]! + random(), 50 - cells[5]! * 2 + 0.5 * random(), 7];
      acc.add(mask, v);
      pooled.push(Array.from(cells));
      values.push(v);
    }
    for (let r = 0; r < 2; r++) {
      const map = acc.pearson(r);
      for (let q = 0; q < 12; q++) {
        const expected = pearson(
          pooled.map((c) => c[q]!),
          values.map((v) => v[r]!),
        );
        expect(map[q]).toBeCloseTo(expected, 5);
      }
      const rise = acc.rise(r);
      for (let q = 0; q < 12; q++) {
        const num = pooled.reduce((s, c, k) => s + c[q]! * values[k]![r]!, 0);
        const den = pooled.reduce((s, c) => s + c[q]!, 0);
        expect(rise[q]! / (num / den)).toBeCloseTo(1, 6);
      }
    }
    expect(acc.pearson(0)[0]).toBeGreaterThan(0.8);
    expect(acc.pearson(1)[5]).toBeLessThan(-0.8);
    // A constant variable has no map.
    expect(Array.from(acc.pearson(2)).every(Number.isNaN)).toBe(true);
    expect(acc.valueStats(2)).toEqual({ mean: 7, std: 0 });
  });
});

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/**
 * input [N,3,16,16] -> 1x1 Conv copying channel 0 into 2 channels -> times a constant spatial mask (channel 0: the
 * top-left 8x8 quadrant, channel 1: the bottom-right one) -> 1x1 identity Conv -> Relu (recorded) -> GAP -> logits.
 * Channel c of the recorded layer is the mean of the input over its quadrant: its heat map must light up there.
 */
function quadrantModel(): Uint8Array {
  const region = new Float32Array(2 * 16 * 16);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      region[y * 16 + x] = y < 8 && x < 8 ? 1 : 0;
      region[256 + y * 16 + x] = y >= 8 && x >= 8 ? 1 : 0;
    }
  }
  const tensor = (name: string, dims: number[], values: ArrayLike<number>) => ({
    name,
    dims,
    dataType: FLOAT,
    floatData: Array.from(values),
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
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'quadrants',
      input: [vi('input', ['N', 3, 16, 16])],
      output: [vi('logits', ['N', 2])],
      initializer: [
        tensor('w1', [2, 3, 1, 1], [1, 0, 0, 1, 0, 0]),
        tensor('region', [1, 2, 16, 16], region),
        tensor('w2', [2, 2, 1, 1], [1, 0, 0, 1]),
      ],
      node: [
        { opType: 'Conv', name: 'copy', input: ['input', 'w1'], output: ['c1'] },
        { opType: 'Mul', name: 'quadrants', input: ['c1', 'region'], output: ['m'] },
        { opType: 'Conv', name: 'identity', input: ['m', 'w2'], output: ['c2'] },
        { opType: 'Relu', name: 'relu', input: ['c2'], output: ['r2'] },
        { opType: 'GlobalAveragePool', name: 'gap', input: ['r2'], output: ['g'] },
        { opType: 'Flatten', name: 'flatten', input: ['g'], output: ['logits'] },
      ],
    },
  }).finish();
}

describe('the maps stage', () => {
  let dir: string;
  let modelPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-maps-'));
    modelPath = join(dir, 'quadrants.onnx');
    await writeFile(modelPath, quadrantModel());
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#c8c8c8' } })
      .png()
      .toFile(join(dir, 'grey.png'));
  });

  it('computes the spatial means in the graph exactly as the mean of the fetched layer', async () => {
    const bytes = quadrantModel();
    const session = await createSession(
      withExtraOutputs(withChannelMeans(withChannelMeans(bytes, ['r2']), []), ['r2']),
    );
    const data = Float32Array.from({ length: 2 * 3 * 256 }, (_, i) => Math.sin(i));
    const out = await session.run({ input: new ort.Tensor('float32', data, [2, 3, 16, 16]) }, [
      'r2',
      channelMeanOutput('r2'),
    ]);
    const layer = out.r2!.data as Float32Array;
    const means = out[channelMeanOutput('r2')]!;
    expect(means.dims).toEqual([2, 2, 1, 1]);
    for (let row = 0; row < 4; row++) {
      const plane = layer.subarray(row * 256, (row + 1) * 256);
      expect((means.data as Float32Array)[row]).toBeCloseTo(plane.reduce((a, b) => a + b, 0) / 256, 5);
    }
    await session.release();
  });

  it('finds where each neuron depends on the image: its own quadrant', async () => {
    const out = join(dir, 'run');
    const r = cli([
      'explain',
      '--model',
      modelPath,
      '--image',
      join(dir, 'grey.png'),
      '--preprocess',
      'none',
      '--samples',
      '4',
      '--top-k',
      '2',
      '--masks',
      '1500',
      '--mask-grid',
      '4',
      '--map-size',
      '16',
      '--no-cache',
      '--quiet',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { rows, meta } = readMapsTable(await readParquetFile(join(out, 'maps.parquet')));
    expect(meta).toMatchObject({ masks: 1500, grid: 4, block: 1, mapHeight: 16, mapWidth: 16, inputHeight: 16 });
    // Two layers of two channels, all selected (each layer's in the order of its selection, which depends on the
    // noise of the 4 copies); plus the output's two maps.
    const key = (m: (typeof rows)[number]) => [m.layerIndex, m.channel, m.statistic] as const;
    expect(rows.slice(0, 4).map(key).sort()).toEqual([
      [0, 0, 'pearson'],
      [0, 1, 'pearson'],
      [1, 0, 'pearson'],
      [1, 1, 'pearson'],
    ]);
    expect(rows.slice(4).map(key)).toEqual([
      [-1, 0, 'pearson'],
      [-1, 0, 'rise'],
    ]);
    const mean = (map: Float32Array, y0: number, x0: number) => {
      let s = 0;
      for (let y = y0; y < y0 + 6; y++) for (let x = x0; x < x0 + 6; x++) s += map[y * 16 + x]!;
      return s / 36;
    };
    const mapOf = (layerIndex: number, channel: number) =>
      rows.find((m) => m.layerIndex === layerIndex && m.channel === channel)!.map;
    const [topLeft, bottomRight] = [mapOf(1, 0), mapOf(1, 1)];
    // Chance correlations with 1500 masks: about 0.03 per cell, the 36 cells of a region far from independent.
    expect(mean(topLeft, 0, 0)).toBeGreaterThan(0.25);
    expect(Math.abs(mean(topLeft, 10, 10))).toBeLessThan(0.1);
    expect(mean(bottomRight, 10, 10)).toBeGreaterThan(0.25);
    expect(Math.abs(mean(bottomRight, 0, 0))).toBeLessThan(0.1);
    // Layer 0 copies the whole image into both channels: no region stands out.
    expect(Math.abs(mean(mapOf(0, 0), 0, 0) - mean(mapOf(0, 0), 10, 10))).toBeLessThan(0.1);
    // The report shows them.
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('heat map of layer 1 channel 0');
    expect(html).toContain('From 1\u202f500 masked copies');
  });

  it('refuses too few masks and reuses cached maps', async () => {
    const out = join(dir, 'run');
    const few = cli(['maps', '--out', out, '--masks', '8']);
    expect(few.status).not.toBe(0);
    expect(few.stderr).toMatch(/--masks: must be 0 \(no heat maps\) or at least 16/);
    const cacheDir = await mkdtemp(join(tmpdir(), 'ns-maps-cache-'));
    const args = ['maps', '--out', out, '--masks', '64', '--mask-grid', '4', '--cache-dir', cacheDir];
    const first = cli(args);
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/maps: 64 masked copies, 6 maps in/);
    const bytes = await readFile(join(out, 'maps.parquet'));
    const second = cli(args);
    expect(second.stderr).toMatch(/maps: cache hit [0-9a-f]{12}: reused 6 maps, no inference run/);
    expect(Buffer.compare(bytes, await readFile(join(out, 'maps.parquet')))).toBe(0);
  });
});
