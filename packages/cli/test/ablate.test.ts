import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AblationSummary, columnValues, readParquetFile, type Summary, SummarySchema } from '@neuronscope/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { buildModel, floatInitializer, valueInfo } from '../../model/test/fixtures.js';
import { cli, DEFAULT_LABELS, DEFAULT_MODEL, IMAGENET_LABELS, image, SQUEEZENET, sample } from './helpers.js';

/** Softmax probability of class `t` in float64. */
function probability(logits: readonly number[], t: number): number {
  const max = Math.max(...logits);
  const sum = logits.reduce((s, z) => s + Math.exp(z - max), 0);
  return Math.exp(logits[t]! - max) / sum;
}

/** The clean image's logits, as extract stored them. */
async function cleanLogits(dir: string): Promise<number[]> {
  const outputs = await readParquetFile(join(dir, 'outputs.parquet'));
  return (JSON.parse(outputs.schema.metadata.get('neuronscope.clean')!) as { logits: number[] }).logits;
}

/** The ablation table's rows as plain values. */
async function ablationRows(dir: string) {
  const table = await readParquetFile(join(dir, 'ablation.parquet'));
  return {
    rows: table.numRows,
    index: columnValues<number>(table, 'layer_index'),
    set: columnValues<string>(table, 'set'),
    channels: columnValues<{ toArray(): Int32Array }>(table, 'channels').map((c) => Array.from(c.toArray())),
    probability: columnValues<number>(table, 'probability'),
    drop: columnValues<number>(table, 'drop'),
  };
}

/**
 * In a classifier layer (one channel per class, then a global average pool), zeroing channels zeroes their logits:
 * every drop is the softmax of the clean logits with the ablated classes set to 0. Returns the rows checked.
 */
async function checkClassifierDrops(dir: string, ablation: AblationSummary, classifier: number): Promise<number> {
  const logits = await cleanLogits(dir);
  const t = ablation.target;
  const clean = probability(logits, t);
  expect(ablation.cleanProbability).toBeCloseTo(clean, 6);
  const table = await ablationRows(dir);
  let checked = 0;
  for (let r = 0; r < table.rows; r++) {
    if (table.index[r] !== classifier) continue;
    const ablated = [...logits];
    for (const c of table.channels[r]!) ablated[c] = 0;
    expect(table.probability[r]).toBeCloseTo(probability(ablated, t), 6);
    expect(table.drop[r]).toBeCloseTo(clean - probability(ablated, t), 6);
    checked++;
  }
  return checked;
}

describe('ablate on the embedded default model', () => {
  let dir: string;
  let ablation: AblationSummary;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-ablate-'));
    const r = cli([
      'explain',
      '--image',
      sample('9-ankle-boot.png'),
      '--samples',
      '12',
      '--seed',
      '3',
      '--layers',
      '2,4',
      '--masks',
      '0',
      '--no-cache',
      '--quiet',
      '--out',
      dir,
    ]);
    expect(r.status).toBe(0);
    const a = cli(['ablate', '--out', dir, '--random', '10', '--batch-size', '7', '--json']);
    expect(a.stderr).not.toMatch(/error/);
    expect(a.status).toBe(0);
    ablation = JSON.parse(a.stdout) as AblationSummary;
  });

  it('writes ablation.parquet, the summary section and the report section', async () => {
    const summary = SummarySchema.parse(JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'))) as Summary;
    expect(summary.ablation).toEqual(ablation);
    expect(ablation.mode).toBe('zero');
    expect(ablation.layers.map((l) => l.layerIndex)).toEqual([2, 4]);
    expect(ablation.baselineMaxAbsLogitDiff).toBeLessThan(1e-5);
    const table = await ablationRows(dir);
    const withPrecision = ablation.layers.filter((l) => l.precision !== null).length;
    // Each selected channel is also switched off alone: one `neuron` row per channel selected by either metric.
    const selected = summary.layers
      .filter((l) => l.layerIndex === 2 || l.layerIndex === 4)
      .map((l) => new Set([...l.byCorrelation, ...l.byPrecision].map((n) => n.channel)));
    const alone = selected.reduce((n, s) => n + s.size, 0);
    expect(table.rows).toBe(2 * 11 + withPrecision + alone);
    expect(table.set.filter((s) => s === 'random')).toHaveLength(20);
    expect(table.set.filter((s) => s === 'neuron')).toHaveLength(alone);
    table.channels.forEach((c, r) => {
      expect(c).toHaveLength(table.set[r] === 'neuron' ? 1 : 5);
      expect(new Set(c).size).toBe(c.length);
    });
    ablation.layers.forEach((l, i) => {
      expect(new Set(l.neurons!.map((n) => n.channel))).toEqual(selected[i]);
      for (const n of l.neurons!) {
        const r = table.set.findIndex(
          (s, j) => s === 'neuron' && table.index[j] === l.layerIndex && table.channels[j]![0] === n.channel,
        );
        expect(n.drop).toBe(table.drop[r]);
      }
    });
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<section id="ablation" class="detail">');
    expect(html).toContain('ablation-table');
  });

  it('summarises the random sets as their drops say', async () => {
    const table = await ablationRows(dir);
    for (const l of ablation.layers) {
      const drops = table.drop.filter((_, r) => table.index[r] === l.layerIndex && table.set[r] === 'random');
      const mean = drops.reduce((a, b) => a + b, 0) / drops.length;
      expect(l.random.count).toBe(10);
      expect(l.random.mean).toBeCloseTo(mean, 12);
      expect(l.random.p5).toBeLessThanOrEqual(l.random.p50);
      expect(l.random.p50).toBeLessThanOrEqual(l.random.p95);
      const corr = l.correlation!;
      const below = drops.filter((d) => d < corr.drop - 1e-4).length;
      const ties = drops.filter((d) => Math.abs(d - corr.drop) <= 1e-4).length;
      expect(corr.percentile).toBeCloseTo((below + ties / 2) / 10, 12);
    }
  });

  it('gives the same bytes for the same settings, and the same drops whatever the batch size', async () => {
    const run = (batch: string) => {
      const r = cli(['ablate', '--out', dir, '--random', '10', '--batch-size', batch, '--quiet']);
      expect(r.status).toBe(0);
      return readFile(join(dir, 'ablation.parquet'));
    };
    const first = await run('7');
    const second = await run('7');
    expect(first.equals(second)).toBe(true);
    const a = (await ablationRows(dir)).drop;
    await run('1');
    const b = (await ablationRows(dir)).drop;
    expect(b).toHaveLength(a.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
  });

  it('explain --ablate runs the test before the report', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ns-explain-ablate-'));
    const r = cli([
      'explain',
      '--image',
      sample('7-sneaker.png'),
      '--samples',
      '8',
      '--layers',
      '4',
      '--ablate',
      '--ablate-random',
      '4',
      '--masks',
      '0',
      '--no-cache',
      '--json',
      '--out',
      out,
    ]);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as Summary;
    expect(summary.ablation?.randomSets).toBe(4);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('ablation-table');
  });

  it('fails with one line and no output for bad input', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'ns-ablate-empty-'));
    const a = cli(['ablate', '--out', empty]);
    expect(a.status).not.toBe(0);
    expect(a.stderr.trim().split('\n')).toHaveLength(1);
    expect(a.stderr).toMatch(/run\.json not found/);
    const b = cli(['ablate', '--out', dir, '--layers', '3']);
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/unknown layer '3'/);
    const c = cli(['explain', '--image', sample('0-tshirt-top.png'), '--ablate', 'half', '--out', empty]);
    expect(c.status).not.toBe(0);
    expect(c.stderr).toMatch(/--ablate half/);
  });
});

/**
 * input [N,1,28,28] -> conv1 (8 channels, 3x3, stride 2, pad 1) -> relu1 -> classifier (10 channels, 1x1) -> relu2
 * -> GlobalAveragePool -> Flatten -> logits [N,10]: like SqueezeNet's conv10, one channel per class, so that
 * ablating channel c sets logit c to 0 (zero mode) or to the channel's mean activation (mean mode).
 */
function classifierModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('input', ['N', 1, 28, 28])],
    outputs: [valueInfo('logits', ['N', 10])],
    initializers: [
      floatInitializer('w1', [8, 1, 3, 3], (i) => Math.sin(i * 1.7)),
      floatInitializer('b1', [8], (i) => 0.05 * (i % 3)),
      floatInitializer('w2', [10, 8, 1, 1], (i) => Math.cos(i * 0.9)),
      floatInitializer('b2', [10], (i) => 0.1 + 0.05 * i),
    ],
    nodes: [
      {
        op: 'Conv',
        name: 'conv1',
        inputs: ['input', 'w1', 'b1'],
        outputs: ['c1'],
        ints: { pads: [1, 1, 1, 1], strides: [2, 2] },
      },
      { op: 'Relu', name: 'relu1', inputs: ['c1'], outputs: ['r1'] },
      { op: 'Conv', name: 'classifier', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'] },
      { op: 'Relu', name: 'relu2', inputs: ['c2'], outputs: ['r2'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['r2'], outputs: ['pooled'] },
      { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['logits'] },
    ],
  });
}

describe('ablate on a classifier layer (a tiny model written by the test)', () => {
  const CLASSIFIER_LAYER = 1;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-ablate-tiny-'));
    const model = join(dir, 'classifier.onnx');
    await writeFile(model, classifierModel());
    const r = cli([
      ...['explain', '--model', model, '--labels', DEFAULT_LABELS, '--image', sample('3-dress.png')],
      ...['--samples', '12', '--seed', '3', '--masks', '0', '--no-cache', '--quiet', '--out', dir],
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('zero mode: the drops are the softmax of the clean logits with the ablated classes set to 0', async () => {
    const a = cli(['ablate', '--out', dir, '--random', '6', '--pool', 'all', '--json']);
    expect(a.status).toBe(0);
    const ablation = JSON.parse(a.stdout) as AblationSummary;
    expect(ablation.layers.map((l) => l.layerIndex)).toEqual([0, CLASSIFIER_LAYER]);
    // The correlation set, the precision set if any, the six random sets, and each selected channel alone.
    const layer = ablation.layers[CLASSIFIER_LAYER]!;
    const sets = (layer.precision ? 8 : 7) + layer.neurons!.length;
    expect(await checkClassifierDrops(dir, ablation, CLASSIFIER_LAYER)).toBe(sets);
  });

  it('mean mode: ablated classifier channels take their mean activation over the copies', async () => {
    const a = cli(['ablate', '--out', dir, '--mode', 'mean', '--random', '3', '--layers', '1', '--json']);
    expect(a.status).toBe(0);
    const result = JSON.parse(a.stdout) as AblationSummary;
    expect(result.mode).toBe('mean');
    expect(result.layers).toHaveLength(1);
    const neurons = await readParquetFile(join(dir, 'neurons.parquet'));
    const meanActivation = new Map<number, number>();
    const li = columnValues<number>(neurons, 'layer_index');
    const ch = columnValues<number>(neurons, 'channel');
    const ma = columnValues<number>(neurons, 'mean_activation');
    for (let r = 0; r < neurons.numRows; r++) if (li[r] === CLASSIFIER_LAYER) meanActivation.set(ch[r]!, ma[r]!);
    const logits = await cleanLogits(dir);
    const set = result.layers[0]!.correlation!;
    const filled = [...logits];
    for (const c of set.channels) filled[c] = Math.fround(meanActivation.get(c)!);
    expect(set.probability).toBeCloseTo(probability(filled, result.target), 5);
  });
});

const CLASSIFIER = 25; // SqueezeNet's conv10 + ReLU: one channel per class, then a global average pool.

describe('ablate on SqueezeNet 1.1', requires('shared'), () => {
  it('classifier layer: the drops as computed from the logits; the target channel outranks every random set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-ablate-'));
    const common = ['--model', SQUEEZENET, '--labels', IMAGENET_LABELS, '--preprocess', 'imagenet'];
    const r = cli([
      ...['explain', ...common, '--image', image('cat.png'), '--samples', '12', '--seed', '3'],
      ...['--layers', `3,${CLASSIFIER}`, '--masks', '0', '--no-cache', '--quiet', '--out', dir],
    ]);
    expect(r.status).toBe(0);
    const a = cli(['ablate', '--out', dir, '--random', '10', '--batch-size', '7', '--json']);
    expect(a.status).toBe(0);
    const ablation = JSON.parse(a.stdout) as AblationSummary;
    expect(await checkClassifierDrops(dir, ablation, CLASSIFIER)).toBeGreaterThanOrEqual(11);
    // The correlation set of the classifier layer holds the target itself: switching it off removes the class.
    const layer = ablation.layers.find((l) => l.layerIndex === CLASSIFIER)!;
    expect(layer.correlation!.channels).toContain(ablation.target);
    expect(layer.correlation!.top1Changed).toBe(true);
    expect(layer.correlation!.percentile).toBe(1);
  });
});

describe('randomize', () => {
  it('writes a valid default model with the top K convs randomized, and refuses more than it has', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'ns-randomize-')), 'rand.onnx');
    const r = cli(['randomize', '--model', DEFAULT_MODEL, '--from-top', '2', '--seed', '5', '--out', out, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { randomized: { convIndex: number }[]; convLayers: number };
    expect(report.convLayers).toBe(5);
    expect(report.randomized.map((x) => x.convIndex)).toEqual([4, 3]);
    const layers = cli(['layers', '--model', out, '--json']);
    expect(layers.status).toBe(0);
    expect(JSON.parse(layers.stdout)).toHaveLength(5);
    const bad = cli(['randomize', '--model', DEFAULT_MODEL, '--from-top', '6', '--out', out]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/5 Conv layers/);
  });

  it('on SqueezeNet 1.1: 26 Conv layers, the top two randomized', requires('shared'), async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'ns-randomize-')), 'rand.onnx');
    const r = cli(['randomize', '--model', SQUEEZENET, '--from-top', '2', '--seed', '5', '--out', out, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { randomized: { convIndex: number }[]; convLayers: number };
    expect(report.convLayers).toBe(26);
    expect(report.randomized.map((x) => x.convIndex)).toEqual([25, 24]);
    const layers = cli(['layers', '--model', out, '--json']);
    expect(layers.status).toBe(0);
    expect(JSON.parse(layers.stdout)).toHaveLength(26);
    const bad = cli(['randomize', '--model', SQUEEZENET, '--from-top', '27', '--out', out]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/26 Conv layers/);
  });
});
