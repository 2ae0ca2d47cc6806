import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnValues, readParquetFile, type Summary } from '@neuronscope/core';
import { createSession, loadModel, withExtraOutputs } from '@neuronscope/model';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it, type TestOptions } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { cli, DEFAULT_MODEL, IMAGENET_LABELS, image, readNpy, SQUEEZENET, sample } from './helpers.js';

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

/** A model and photo that explain is tested on. */
interface Subject {
  title: string;
  options: TestOptions;
  /** The model flags (none: the embedded default model). */
  model: string[];
  /** The model file, for the in-process recomputation. */
  modelPath: string;
  image: string;
  layers: string;
  layerIndices: number[];
  top1: string;
  inputShape: number[];
}

/** The contract, on the embedded default model (no flag names it): runs everywhere. */
const DEFAULT: Subject = {
  title: 'explain on the embedded default model',
  options: {},
  model: [],
  modelPath: DEFAULT_MODEL,
  image: sample('9-ankle-boot.png'),
  layers: '0,2,4',
  layerIndices: [0, 2, 4],
  top1: 'Ankle boot',
  inputShape: [24, 1, 28, 28],
};

/** The real-model layer on top: SqueezeNet 1.1 on a real photo (../shared). */
const SQUEEZENET_CAT: Subject = {
  title: 'explain on SqueezeNet 1.1 with a real photo',
  options: requires('shared'),
  model: ['--model', SQUEEZENET, '--labels', IMAGENET_LABELS, '--preprocess', 'imagenet'],
  modelPath: SQUEEZENET,
  image: image('cat.png'),
  layers: '0,5,25',
  layerIndices: [0, 5, 25],
  top1: 'Egyptian cat',
  inputShape: [24, 3, 224, 224],
};

const TABLES = [
  'neurons.parquet',
  'activations.parquet',
  'channel_stats.parquet',
  'outputs.parquet',
  'perturbations.parquet',
  'maps.parquet',
];

/** The run every test of a subject starts from: 24 copies, seed 1, three layers, 64 masks. */
const runArgs = (s: Subject, out: string) => [
  'explain',
  ...s.model,
  '--image',
  s.image,
  '--perturb',
  'paper',
  '--samples',
  '24',
  '--seed',
  '1',
  '--layers',
  s.layers,
  '--masks',
  '64',
  '--no-cache',
  '--out',
  out,
];

/** The paper's metrics of every layer, from the model's own outputs on inputs.npy, against neurons.parquet. */
async function checkAgainstTwoPass(s: Subject, dir: string, summary: Summary): Promise<void> {
  const inputs = readNpy(join(dir, 'inputs.npy'));
  expect(inputs.shape).toEqual(s.inputShape);
  const [n, ...dims] = s.inputShape as [number, ...number[]];
  const model = await loadModel(s.modelPath);
  const neurons = await readParquetFile(join(dir, 'neurons.parquet'));
  const layerNames = summary.layers.map((l) => l.layer);
  const session = await createSession(withExtraOutputs(model.bytes, layerNames));
  const per = dims.reduce((a, b) => a * b, 1);
  const acts = new Map<string, Float64Array[]>(layerNames.map((name) => [name, []]));
  const y = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const x = new ort.Tensor('float32', inputs.data.slice(k * per, (k + 1) * per), [1, ...dims]);
    const out = await session.run({ [model.inputName]: x });
    const logits = out[model.outputName]!.data as Float32Array;
    const max = Math.max(...logits);
    const sum = logits.reduce((acc, z) => acc + Math.exp(z - max), 0);
    y[k] = Math.exp(logits[summary.target.index]! - max) / sum;
    for (const name of layerNames) acts.get(name)!.push(Float64Array.from(out[name]!.data as Float32Array));
  }
  await session.release();
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
    // The same top-5 by correlation, and by precision among eligible channels, as the reference.
    const refTop = ref.correlation
      .map((v, c) => ({ v, c }))
      .filter((e) => !Number.isNaN(e.v))
      .sort((a, b) => b.v - a.v || a.c - b.c)
      .slice(0, 5)
      .map((e) => e.c);
    expect(l.byCorrelation.map((x) => x.channel)).toEqual(refTop);
    const refPrecTop = ref.precision
      .map((v, c) => ({ v, c, ok: ref.meanActivation[c]! >= 0.1 }))
      .filter((e) => e.ok)
      .sort((a, b) => b.v - a.v || a.c - b.c)
      .slice(0, 5)
      .map((e) => e.c);
    expect(l.byPrecision.map((x) => x.channel)).toEqual(refPrecTop);
  }
}

/** What every subject must do: predict, write every stage file, match the two-pass metrics, rerun identically. */
function explainContract(s: Subject, more: (run: () => { dir: string; summary: Summary }) => void = () => {}) {
  describe(s.title, s.options, () => {
    let dir: string;
    let summary: Summary;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ns-explain-'));
      const r = cli([...runArgs(s, dir), '--dump-inputs', '--json']);
      expect(r.stderr).not.toMatch(/error/);
      expect(r.status).toBe(0);
      summary = JSON.parse(r.stdout) as Summary;
    });

    it(`predicts '${s.top1}' and writes every stage file`, async () => {
      expect(summary.target.label).toBe(s.top1);
      expect(summary.predictions[0]?.label).toBe(s.top1);
      expect(summary.layers.map((l) => l.layerIndex)).toEqual(s.layerIndices);
      for (const f of [...TABLES, 'run.json', 'summary.json', 'report.html', 'inputs.npy']) {
        expect((await readFile(join(dir, f))).length, f).toBeGreaterThan(0);
      }
      // The per-unit moments (one row per unit) are kept only when asked (--keep-unit-stats).
      await expect(readFile(join(dir, 'unit_stats.parquet'))).rejects.toThrow(/ENOENT/);
      const activations = await readParquetFile(join(dir, 'activations.parquet'));
      const channels = summary.layers.reduce((sum, l) => sum + l.channels, 0);
      expect(activations.numRows).toBe(24 * channels);
      for (const l of summary.layers) {
        expect(l.byCorrelation).toHaveLength(5);
        expect(l.byPrecision.length).toBeLessThanOrEqual(5);
      }
    });

    it('matches a plain two-pass computation on inputs.npy within 1e-6 relative', async () => {
      await checkAgainstTwoPass(s, dir, summary);
    });

    it('is deterministic: the same seed gives byte-identical tables', async () => {
      const again = await mkdtemp(join(tmpdir(), 'ns-explain-'));
      const r = cli([...runArgs(s, again), '--quiet']);
      expect(r.status).toBe(0);
      for (const f of TABLES) {
        expect(Buffer.compare(await readFile(join(dir, f)), await readFile(join(again, f))), f).toBe(0);
      }
    });

    more(() => ({ dir, summary }));
  });
}

/** summary.json of a run folder. */
const summary0 = (dir: string) => JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;

explainContract(DEFAULT, (run) => {
  it('reuses cached activation tables and runs no inference the second time', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'ns-cache-'));
    const first = await mkdtemp(join(tmpdir(), 'ns-explain-'));
    const second = await mkdtemp(join(tmpdir(), 'ns-explain-'));
    const args = [
      'explain',
      '--image',
      sample('7-sneaker.png'),
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
    expect(a.stdout).toMatch(/Sneaker/);
    const b = cli([...args, '--out', second]);
    expect(b.status).toBe(0);
    expect(b.stderr).toMatch(/cache hit .*no inference/);
    expect(b.stderr).toMatch(/maps: cache hit .*no inference/);
    for (const f of ['neurons.parquet', 'channel_stats.parquet', 'summary.json']) {
      const x = await readFile(join(first, f));
      const y = await readFile(join(second, f));
      if (f === 'summary.json') expect(JSON.parse(x.toString()).layers).toEqual(JSON.parse(y.toString()).layers);
      else expect(Buffer.compare(x, y), f).toBe(0);
    }
    // A different seed is a different key.
    const c = cli([...args.map((v) => (v === '3' ? '4' : v)), '--out', second]);
    expect(c.status).toBe(0);
    expect(c.stderr).not.toMatch(/cache hit/);
  });

  it('runs the stages one by one with the same result as explain', async () => {
    const { dir } = run();
    const staged = await mkdtemp(join(tmpdir(), 'ns-stages-'));
    const common = ['--out', staged, '--quiet'];
    const perturb = ['perturb', '--image', DEFAULT.image, '--samples', '24', '--seed', '1', '--layers', DEFAULT.layers];
    expect(cli([...perturb, ...common]).status).toBe(0);
    expect(cli(['extract', ...common]).status).toBe(0);
    expect(cli(['stats', ...common]).status).toBe(0);
    expect(cli(['report', ...common]).status).toBe(0);
    expect(
      Buffer.compare(await readFile(join(dir, 'neurons.parquet')), await readFile(join(staged, 'neurons.parquet'))),
    ).toBe(0);
    // Asked for, the per-unit moments are kept, and give the same metrics.
    expect(cli(['extract', '--keep-unit-stats', ...common]).status).toBe(0);
    const units = await readParquetFile(join(staged, 'unit_stats.parquet'));
    const units0 = summary0(dir).layers.reduce((n, l) => n + l.channels * l.height * l.width, 0);
    expect(units.numRows).toBe(units0);
    // Stats alone can be rerun with another k.
    const k3 = cli(['stats', '--top-k', '3', '--json', '--out', staged]);
    expect(k3.status).toBe(0);
    expect((JSON.parse(k3.stdout) as Summary).layers[0]?.byCorrelation).toHaveLength(3);
  });
});

explainContract(SQUEEZENET_CAT);
