import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AblationLayer, AblationSummary } from '@neuronscope/core';
import { createDeconv, loadImage, loadModel, resolvePreprocessing } from '@neuronscope/model';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { buildModel, floatInitializer, valueInfo } from '../../../packages/model/test/fixtures.js';
import { type DeconvBoxRun, deconvBoxes } from './deconv-boxes.js';
import {
  ablationMarkdown,
  ablationTable,
  clusterBootstrap,
  compareLayers,
  depthBand,
  jaccard,
  type NeuronMetrics,
  quantile,
  type SelectionRun,
} from './lib.js';
import { selectCheckpoints } from './select.js';

function layer(index: number, corr: number, prec: number, randomMean: number, p95: number): AblationLayer {
  const set = (drop: number) => ({
    channels: [0, 1],
    probability: 0.5 - drop,
    drop,
    top1: 0,
    top1Changed: false,
    percentile: drop > p95 ? 1 : 0.5,
    zScore: null,
  });
  return {
    layer: `l${index}`,
    layerIndex: index,
    channels: 8,
    k: 2,
    pool: 'eligible',
    poolSize: 8,
    correlation: set(corr),
    precision: set(prec),
    random: { count: 10, mean: randomMean, std: 0.01, p5: randomMean - 0.02, p50: randomMean, p95, top1Changed: 0 },
  };
}

function summary(layers: AblationLayer[]): AblationSummary {
  return {
    version: 1,
    mode: 'zero',
    randomSets: 10,
    seed: 1,
    pool: 'eligible',
    k: 2,
    target: 0,
    cleanProbability: 0.5,
    cleanTop1: 0,
    baselineMaxAbsLogitDiff: 0,
    variants: 1 + layers.length * 12,
    layers,
    totals: {
      layers: layers.length,
      correlationAboveP95: 0,
      precisionAboveP95: 0,
      meanPercentileCorrelation: null,
      meanPercentilePrecision: null,
    },
  };
}

describe('statistics of the reproduction tools', () => {
  it('quantiles interpolate like numpy', () => {
    expect(quantile([3, 1, 2, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.05)).toBeCloseTo(1.2, 12);
  });

  it('the cluster bootstrap resamples whole groups and brackets the mean', () => {
    const groups = [[1, 1, 1], [2], [3, 3], [10]];
    const r = clusterBootstrap(groups, 500, 3);
    expect(r.mean).toBeCloseTo(3, 12);
    expect(r.low).toBeLessThan(r.mean);
    expect(r.high).toBeGreaterThan(r.mean);
    expect(r.low).toBeGreaterThanOrEqual(1);
    expect(r.high).toBeLessThanOrEqual(10);
    expect(clusterBootstrap(groups, 500, 3)).toEqual(r);
    expect(Number.isNaN(clusterBootstrap([[1, 2]]).low)).toBe(true);
  });

  it('depth bands: thirds, and the classifier apart', () => {
    expect([0, 3, 4, 6, 7, 9].map((i) => depthBand(i, 10, false))).toEqual([
      'early',
      'early',
      'middle',
      'middle',
      'late',
      'late',
    ]);
    expect(depthBand(10, 10, true)).toBe('classifier');
  });

  it('aggregates ablation runs per model, mode and depth', () => {
    const runs = ['a', 'b'].map((photo, p) => ({
      model: 'm',
      photo,
      lastIndex: 3,
      classifierIndex: 3,
      ablation: summary([
        layer(0, 0.1 + p * 0.1, 0.0, 0.02, 0.05),
        layer(2, 0.3, 0.01, 0.05, 0.2),
        layer(3, 0.5, 0.0, 0.0, 0.001),
      ]),
    }));
    const rows = ablationTable(runs);
    expect(rows.map((r) => r.band)).toEqual(['early', 'late', 'classifier', 'all but classifier']);
    const early = rows[0]!;
    expect(early.layers).toBe(2);
    expect(early.correlationDrop.mean).toBeCloseTo(0.15, 12);
    expect(early.correlationAboveP95).toBe(1);
    expect(early.precisionAboveP95).toBe(0);
    expect(early.correlationBeatsPrecision).toBe(1);
    expect(rows[3]!.layers).toBe(4);
    const md = ablationMarkdown(rows);
    expect(md.split('\n')).toHaveLength(2 + rows.length + 1);
    expect(md).toContain('| m | zero | early | 2 × 1 | 15.00 [');
  });

  it('compares two runs layer by layer', () => {
    const metrics = (corr: number[], prec: number[], sc: number[], sp: number[]): NeuronMetrics => ({
      layer: 'x',
      layerIndex: 4,
      correlation: Float64Array.from(corr),
      precision: Float64Array.from(prec),
      selectedCorrelation: new Set(sc),
      selectedPrecision: new Set(sp),
    });
    const a = metrics([0.1, 0.2, 0.3, Number.NaN, 0.5], [5, 4, 3, 2, 1], [4, 2], [0, 1]);
    const b = metrics([0.3, 0.2, 0.1, 0.9, 0.0], [5, 4, 3, 2, 1], [0, 1], [0, 1]);
    const [c] = compareLayers([a], [b]);
    expect(c!.correlationSpearman).toBeCloseTo(-1, 12); // channel 3 (NaN in a) left out
    expect(c!.precisionSpearman).toBe(1);
    expect(c!.correlationJaccard).toBe(0);
    expect(c!.precisionJaccard).toBe(1);
    expect(jaccard(new Set([1, 2]), new Set([2, 3]))).toBeCloseTo(1 / 3, 12);
  });
});

describe('fashion-select on a tiny model', () => {
  it('selects neurons on every checkpoint and image and writes selections.json, then their deconvnet boxes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-repro-'));
    await mkdir(join(dir, 'checkpoints'));
    await mkdir(join(dir, 'images'));
    // Two "checkpoints": input [N,1,8,8] -> conv 6 ch 3x3 -> relu -> conv 10 ch 1x1 -> relu -> GAP -> [N,10].
    for (const epoch of [0, 1]) {
      const bytes = buildModel({
        inputs: [valueInfo('input', ['batch', 1, 8, 8])],
        outputs: [valueInfo('logits', ['batch', 10])],
        initializers: [
          floatInitializer('w1', [6, 1, 3, 3], (i) => Math.sin(i * (1.3 + epoch)) / 2),
          floatInitializer('b1', [6], (i) => 0.05 * i),
          floatInitializer('w2', [10, 6, 1, 1], (i) => Math.cos(i * (0.7 + epoch))),
        ],
        nodes: [
          { op: 'Conv', name: 'conv1', inputs: ['input', 'w1', 'b1'], outputs: ['c1'], ints: { pads: [1, 1, 1, 1] } },
          { op: 'Relu', name: 'relu1', inputs: ['c1'], outputs: ['r1'] },
          { op: 'Conv', name: 'conv2', inputs: ['r1', 'w2'], outputs: ['c2'] },
          { op: 'Relu', name: 'relu2', inputs: ['c2'], outputs: ['r2'] },
          { op: 'GlobalAveragePool', name: 'gap', inputs: ['r2'], outputs: ['pooled'] },
          { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['logits'] },
        ],
      });
      await writeFile(join(dir, 'checkpoints', `epoch-${epoch}.onnx`), bytes);
    }
    const images = [];
    for (const [n, label] of [
      [0, 3],
      [1, 7],
    ]) {
      const pixels = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * (n + 3) * 37) % 256));
      const file = `images/${n}.png`;
      await sharp(pixels, { raw: { width: 8, height: 8, channels: 1 } })
        .png()
        .toFile(join(dir, file));
      images.push({ file, index: n, label });
    }
    await writeFile(join(dir, 'labels.txt'), `${Array.from({ length: 10 }, (_, i) => `class ${i}`).join('\n')}\n`);
    await writeFile(
      join(dir, 'train.json'),
      JSON.stringify({
        epochs: [0, 1].map((epoch) => ({ epoch, onnx: `checkpoints/epoch-${epoch}.onnx`, test_acc: 0.1 })),
        images,
      }),
    );
    const lines: string[] = [];
    const path = await selectCheckpoints(dir, {
      samples: 6,
      seed: 2,
      topK: 2,
      size: [8, 8],
      onEpoch: (l) => lines.push(l),
    });
    const out = JSON.parse(await readFile(path, 'utf8')) as { runs: SelectionRun[]; topK: number };
    expect(out.topK).toBe(2);
    expect(out.runs.map((r) => [r.epoch, r.image])).toEqual([
      [0, 'images/0.png'],
      [0, 'images/1.png'],
      [1, 'images/0.png'],
      [1, 'images/1.png'],
    ]);
    for (const r of out.runs) {
      expect(r.layers.map((l) => l.layer)).toEqual(['r1', 'r2']);
      for (const l of r.layers) {
        expect(l.byCorrelation.length).toBeLessThanOrEqual(2);
        expect(l.byPrecision.length).toBeLessThanOrEqual(2);
      }
      expect(r.overlap).toBeGreaterThanOrEqual(0);
      expect(r.overlap).toBeLessThanOrEqual(0.5);
    }
    expect(lines).toHaveLength(2);

    // The deconvnet boxes of every selected neuron, as a separate call of the model package's deconvnet gives them.
    const boxesPath = await deconvBoxes(dir, { size: [8, 8] });
    const boxes = JSON.parse(await readFile(boxesPath, 'utf8')) as { runs: DeconvBoxRun[]; boxThreshold: number };
    expect(boxes.boxThreshold).toBe(0.1);
    expect(boxes.runs.map((r) => [r.epoch, r.image])).toEqual(out.runs.map((r) => [r.epoch, r.image]));
    let drawn = 0;
    for (const [i, run] of boxes.runs.entries()) {
      const model = await loadModel(join(dir, 'checkpoints', `epoch-${run.epoch}.onnx`));
      const { tensor } = await loadImage(
        join(dir, run.image),
        resolvePreprocessing({ preset: 'none', grayscale: true, size: [8, 8] }, model),
      );
      for (const [k, l] of run.layers.entries()) {
        const selected = out.runs[i]!.layers[k]!;
        const channels = [...new Set([...selected.byCorrelation, ...selected.byPrecision])];
        expect(l.neurons.map((n) => n.channel).sort()).toEqual(channels.sort());
        const deconv = await createDeconv(model, { layer: l.layer });
        const theirs = await deconv.project(
          tensor,
          l.neurons.map((n) => ({ channel: n.channel })),
        );
        await deconv.release();
        l.neurons.forEach((n, j) => {
          const b = theirs[j]!.box;
          expect(n.unit).toBe(theirs[j]!.unit);
          expect(n.box).toEqual(b ? [b.top, b.left, b.bottom, b.right] : null);
          if (b) drawn++;
        });
      }
    }
    expect(drawn).toBeGreaterThan(0);
    const again: string[] = [];
    await deconvBoxes(dir, { size: [8, 8], onEpoch: (l) => again.push(l) });
    expect(again.every((l) => l.includes('(done before)'))).toBe(true);
  });
});
