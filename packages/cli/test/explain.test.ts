import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnValues, readParquetFile, type Summary } from '@neuronscope/core';
import { createSession, loadModel, withExtraOutputs } from '@neuronscope/model';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, HAS_SHARED, IMAGENET_LABELS, image, readNpy, SQUEEZENET } from './helpers.js';

/**
 * The paper's metrics computed the plain way, two passes over the raw activations, independently of the
 * moments machinery: per unit, mean, population variance and Pearson r with y.
 */
function twoPassMetrics(acts: Float64Array[], y: Float64Array, channels: number) {
  const n = y.length;
  const size = acts[0]!.length;
  const units = size / channels;
  const yMean = y.reduce((a, b) => a + b, 0) / n;
  let yVar = 0;
  for (const v of y) yVar += (v - yMean) ** 2;
  const correlation: number[] = [];
  const precision: number[] = [];
  const meanActivation: number[] = [];
  for (let c = 0; c < channels; c++) {
    let rSum = 0;
    let rCount = 0;
    let varSum = 0;
    let meanSum = 0;
    for (let u = 0; u < units; u++) {
      const i = c * units + u;
      let mean = 0;
      for (let k = 0; k < n; k++) mean += acts[k]![i]!;
      mean /= n;
      let v = 0;
      let cov = 0;
      for (let k = 0; k < n; k++) {
        const d = acts[k]![i]! - mean;
        v += d * d;
        cov += d * (y[k]! - yMean);
      }
      varSum += v / n;
      meanSum += mean;
      if (v > 0 && yVar > 0) {
        rSum += Math.abs(cov / Math.sqrt(v * yVar));
        rCount++;
      }
    }
    correlation.push(rCount ? rSum / rCount : Number.NaN);
    precision.push(1 / (varSum / units));
    meanActivation.push(meanSum / units);
  }
  return { correlation, precision, meanActivation };
}

const relativeError = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe.skipIf(!HAS_SHARED)('explain on SqueezeNet 1.1 with a real photo', () => {
  let dir: string;
  let summary: Summary;
  const layers = '0,5,25';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-explain-'));
    const r = cli([
      'explain',
      '--model',
      SQUEEZENET,
      '--labels',
      IMAGENET_LABELS,
      '--image',
      image('cat.png'),
      '--preprocess',
      'imagenet',
      '--perturb',
      'paper',
      '--samples',
      '24',
      '--seed',
      '1',
      '--layers',
      layers,
      '--masks',
      '64',
      '--dump-inputs',
      '--no-cache',
      '--json',
      '--out',
      dir,
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    summary = JSON.parse(r.stdout) as Summary;
  });

  it('predicts the README top-1 and writes every stage file', async () => {
    expect(summary.target.label).toBe('Egyptian cat');
    expect(summary.predictions[0]?.label).toBe('Egyptian cat');
    expect(summary.layers.map((l) => l.layerIndex)).toEqual([0, 5, 25]);
    for (const f of [
      'run.json',
      'perturbations.parquet',
      'outputs.parquet',
      'activations.parquet',
      'unit_stats.parquet',
      'channel_stats.parquet',
      'neurons.parquet',
      'summary.json',
      'maps.parquet',
      'report.html',
      'inputs.npy',
    ]) {
      expect((await readFile(join(dir, f))).length, f).toBeGreaterThan(0);
    }
    const activations = await readParquetFile(join(dir, 'activations.parquet'));
    const channels = summary.layers.reduce((s, l) => s + l.channels, 0);
    expect(activations.numRows).toBe(24 * channels);
    for (const l of summary.layers) {
      expect(l.byCorrelation).toHaveLength(5);
      expect(l.byPrecision.length).toBeLessThanOrEqual(5);
    }
  });

  it('matches a plain two-pass computation on inputs.npy within 1e-6 relative', async () => {
    const inputs = readNpy(join(dir, 'inputs.npy'));
    expect(inputs.shape).toEqual([24, 3, 224, 224]);
    const model = await loadModel(SQUEEZENET);
    const neurons = await readParquetFile(join(dir, 'neurons.parquet'));
    const layerNames = summary.layers.map((l) => l.layer);
    const session = await createSession(withExtraOutputs(model.bytes, layerNames));
    const per = 3 * 224 * 224;
    const acts = new Map<string, Float64Array[]>(layerNames.map((n) => [n, []]));
    const y = new Float64Array(24);
    for (let k = 0; k < 24; k++) {
      const x = new ort.Tensor('float32', inputs.data.slice(k * per, (k + 1) * per), [1, 3, 224, 224]);
      const out = await session.run({ input: x });
      const logits = out.logits!.data as Float32Array;
      const max = Math.max(...logits);
      const sum = logits.reduce((s, z) => s + Math.exp(z - max), 0);
      y[k] = Math.exp(logits[summary.target.index]! - max) / sum;
      for (const n of layerNames) acts.get(n)!.push(Float64Array.from(out[n]!.data as Float32Array));
    }
    const layerCol = columnValues<string>(neurons, 'layer');
    const corr = columnValues<number>(neurons, 'correlation');
    const prec = columnValues<number>(neurons, 'precision');
    for (const l of summary.layers) {
      const ref = twoPassMetrics(acts.get(l.layer)!, y, l.channels);
      const rows = layerCol.flatMap((name, i) => (name === l.layer ? [i] : []));
      expect(rows).toHaveLength(l.channels);
      rows.forEach((row, c) => {
        const r = ref.correlation[c]!;
        if (Number.isNaN(r)) expect(corr[row]).toBeNaN();
        else expect(relativeError(corr[row]!, r)).toBeLessThan(1e-6);
        expect(relativeError(prec[row]!, ref.precision[c]!)).toBeLessThan(1e-6);
      });
      // The same top-5 by correlation as the reference.
      const refTop = ref.correlation
        .map((v, c) => ({ v, c }))
        .filter((e) => !Number.isNaN(e.v))
        .sort((a, b) => b.v - a.v || a.c - b.c)
        .slice(0, 5)
        .map((e) => e.c);
      expect(l.byCorrelation.map((n) => n.channel)).toEqual(refTop);
      const refPrecTop = ref.precision
        .map((v, c) => ({ v, c, ok: ref.meanActivation[c]! >= 0.1 }))
        .filter((e) => e.ok)
        .sort((a, b) => b.v - a.v || a.c - b.c)
        .slice(0, 5)
        .map((e) => e.c);
      expect(l.byPrecision.map((n) => n.channel)).toEqual(refPrecTop);
    }
    await session.release();
  });

  it('is deterministic: the same seed gives byte-identical tables', async () => {
    const again = await mkdtemp(join(tmpdir(), 'ns-explain-'));
    const r = cli([
      'explain',
      '--model',
      SQUEEZENET,
      '--labels',
      IMAGENET_LABELS,
      '--image',
      image('cat.png'),
      '--samples',
      '24',
      '--seed',
      '1',
      '--layers',
      layers,
      '--masks',
      '64',
      '--no-cache',
      '--quiet',
      '--out',
      again,
    ]);
    expect(r.status).toBe(0);
    for (const f of [
      'neurons.parquet',
      'activations.parquet',
      'unit_stats.parquet',
      'outputs.parquet',
      'perturbations.parquet',
      'maps.parquet',
    ]) {
      expect(Buffer.compare(await readFile(join(dir, f)), await readFile(join(again, f))), f).toBe(0);
    }
  });

  it('reuses cached activation tables and runs no inference the second time', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    const first = await mkdtemp(join(tmpdir(), 'ns-explain-'));
    const second = await mkdtemp(join(tmpdir(), 'ns-explain-'));
    const args = [
      'explain',
      '--model',
      SQUEEZENET,
      '--image',
      image('coffee.png'),
      '--labels',
      IMAGENET_LABELS,
      '--samples',
      '8',
      '--seed',
      '3',
      '--layers',
      '0-2',
      '--masks',
      '64',
      '--cache-dir',
      cacheDir,
    ];
    const a = cli([...args, '--out', first]);
    expect(a.status).toBe(0);
    expect(a.stderr).not.toMatch(/cache hit/);
    expect(a.stdout).toMatch(/espresso/);
    const b = cli([...args, '--out', second]);
    expect(b.status).toBe(0);
    expect(b.stderr).toMatch(/cache hit .*no inference/);
    expect(b.stderr).toMatch(/maps: cache hit .*no inference/);
    for (const f of ['neurons.parquet', 'unit_stats.parquet', 'summary.json']) {
      const x = await readFile(join(first, f));
      const y = await readFile(join(second, f));
      if (f === 'summary.json') expect(JSON.parse(x.toString()).layers).toEqual(JSON.parse(y.toString()).layers);
      else expect(Buffer.compare(x, y), f).toBe(0);
    }
    // A different seed is a different key.
    const c = cli([...args.map((v) => (v === '3' ? '4' : v)), '--out', second]);
    expect(c.stderr).not.toMatch(/cache hit/);
  });

  it('runs the stages one by one with the same result as explain', async () => {
    const staged = await mkdtemp(join(tmpdir(), 'ns-stages-'));
    const common = ['--out', staged, '--quiet'];
    expect(
      cli([
        'perturb',
        '--model',
        SQUEEZENET,
        '--labels',
        IMAGENET_LABELS,
        '--image',
        image('cat.png'),
        '--samples',
        '24',
        '--seed',
        '1',
        '--layers',
        layers,
        ...common,
      ]).status,
    ).toBe(0);
    expect(cli(['extract', ...common]).status).toBe(0);
    expect(cli(['stats', ...common]).status).toBe(0);
    expect(cli(['report', ...common]).status).toBe(0);
    expect(
      Buffer.compare(await readFile(join(dir, 'neurons.parquet')), await readFile(join(staged, 'neurons.parquet'))),
    ).toBe(0);
    // Stats alone can be rerun with another k.
    const k3 = cli(['stats', '--top-k', '3', '--json', '--out', staged]);
    expect(k3.status).toBe(0);
    expect((JSON.parse(k3.stdout) as Summary).layers[0]?.byCorrelation).toHaveLength(3);
  });
});
