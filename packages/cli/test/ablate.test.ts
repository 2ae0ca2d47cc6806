import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AblationSummary, columnValues, readParquetFile, type Summary, SummarySchema } from '@neuronscope/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, HAS_SHARED, IMAGENET_LABELS, image, SQUEEZENET } from './helpers.js';

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

const CLASSIFIER = 25; // SqueezeNet's conv10 + ReLU: one channel per class, then a global average pool.

describe.skipIf(!HAS_SHARED)('ablate on SqueezeNet 1.1', () => {
  let dir: string;
  let ablation: AblationSummary;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-ablate-'));
    const common = ['--model', SQUEEZENET, '--labels', IMAGENET_LABELS, '--preprocess', 'imagenet'];
    const r = cli([
      'explain',
      ...common,
      '--image',
      image('cat.png'),
      '--samples',
      '12',
      '--seed',
      '3',
      '--layers',
      `3,${CLASSIFIER}`,
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
    expect(ablation.layers.map((l) => l.layerIndex)).toEqual([3, CLASSIFIER]);
    expect(ablation.baselineMaxAbsLogitDiff).toBeLessThan(1e-6);
    const table = await readParquetFile(join(dir, 'ablation.parquet'));
    const sets = columnValues<string>(table, 'set');
    const withPrecision = ablation.layers.filter((l) => l.precision !== null).length;
    expect(table.numRows).toBe(2 * 11 + withPrecision);
    expect(sets.filter((s) => s === 'random')).toHaveLength(20);
    const channels = columnValues<{ toArray(): Int32Array }>(table, 'channels').map((c) => Array.from(c.toArray()));
    for (const c of channels) {
      expect(c).toHaveLength(5);
      expect(new Set(c).size).toBe(5);
    }
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<section id="ablation">');
    expect(html).toContain('ablation-table');
  });

  it('classifier layer: the drops match softmax of the clean logits with the ablated classes set to 0', async () => {
    const logits = await cleanLogits(dir);
    const t = ablation.target;
    const clean = probability(logits, t);
    expect(ablation.cleanProbability).toBeCloseTo(clean, 6);
    const table = await readParquetFile(join(dir, 'ablation.parquet'));
    const index = columnValues<number>(table, 'layer_index');
    const channels = columnValues<{ toArray(): Int32Array }>(table, 'channels');
    const prob = columnValues<number>(table, 'probability');
    const drop = columnValues<number>(table, 'drop');
    let checked = 0;
    for (let r = 0; r < table.numRows; r++) {
      if (index[r] !== CLASSIFIER) continue;
      const ablated = [...logits];
      for (const c of channels[r]!.toArray()) ablated[c] = 0;
      expect(prob[r]).toBeCloseTo(probability(ablated, t), 6);
      expect(drop[r]).toBeCloseTo(clean - probability(ablated, t), 6);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(11);
    // The correlation set of the classifier layer holds the target itself: switching it off removes the class.
    const layer = ablation.layers.find((l) => l.layerIndex === CLASSIFIER)!;
    expect(layer.correlation!.channels).toContain(t);
    expect(layer.correlation!.top1Changed).toBe(true);
    expect(layer.correlation!.percentile).toBe(1);
  });

  it('summarises the random sets as their drops say', async () => {
    const table = await readParquetFile(join(dir, 'ablation.parquet'));
    const index = columnValues<number>(table, 'layer_index');
    const sets = columnValues<string>(table, 'set');
    const drop = columnValues<number>(table, 'drop');
    for (const l of ablation.layers) {
      const drops = drop.filter((_, r) => index[r] === l.layerIndex && sets[r] === 'random');
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

  it('mean mode: ablated classifier channels take their mean activation over the copies', async () => {
    const a = cli([
      'ablate',
      '--out',
      dir,
      '--mode',
      'mean',
      '--random',
      '3',
      '--layers',
      String(CLASSIFIER),
      '--json',
    ]);
    expect(a.status).toBe(0);
    const result = JSON.parse(a.stdout) as AblationSummary;
    expect(result.mode).toBe('mean');
    expect(result.layers).toHaveLength(1);
    const neurons = await readParquetFile(join(dir, 'neurons.parquet'));
    const meanActivation = new Map<number, number>();
    const li = columnValues<number>(neurons, 'layer_index');
    const ch = columnValues<number>(neurons, 'channel');
    const ma = columnValues<number>(neurons, 'mean_activation');
    for (let r = 0; r < neurons.numRows; r++) if (li[r] === CLASSIFIER) meanActivation.set(ch[r]!, ma[r]!);
    const logits = await cleanLogits(dir);
    const set = result.layers[0]!.correlation!;
    const filled = [...logits];
    for (const c of set.channels) filled[c] = Math.fround(meanActivation.get(c)!);
    expect(set.probability).toBeCloseTo(probability(filled, result.target), 5);
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
    const drops = async () => columnValues<number>(await readParquetFile(join(dir, 'ablation.parquet')), 'drop');
    const a = await drops();
    await run('1');
    const b = await drops();
    expect(b).toHaveLength(a.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
  });

  it('explain --ablate runs the test before the report', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ns-explain-ablate-'));
    const r = cli([
      'explain',
      '--model',
      SQUEEZENET,
      '--labels',
      IMAGENET_LABELS,
      '--image',
      image('coffee.png'),
      '--samples',
      '8',
      '--layers',
      String(CLASSIFIER),
      '--ablate',
      '--ablate-random',
      '4',
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
    const b = cli(['ablate', '--out', dir, '--layers', '7']);
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/unknown layer '7'/);
    const c = cli(['explain', '--model', SQUEEZENET, '--image', image('cat.png'), '--ablate', 'half', '--out', empty]);
    expect(c.status).not.toBe(0);
    expect(c.stderr).toMatch(/--ablate half/);
  });
});

describe.skipIf(!HAS_SHARED)('randomize on SqueezeNet 1.1', () => {
  it('writes a valid model with the top K convs randomized', async () => {
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
