import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LayerSummary,
  type MapRow,
  type MapsMetadata,
  makeTable,
  neuronsSchema,
  type Summary,
  SummarySchema,
  sha256,
} from '@neuronscope/core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderChart, scatterSpec, tidySvg } from './charts.js';
import {
  type NeuronBox,
  type NeuronsTable,
  renderFigures,
  renderHtml,
  reportContext,
  stabilityCheckpoints,
  stabilityCurve,
  type VisualInput,
} from './index.js';

const EVIL = `<script>alert(1)</script>"'&`;

/** The HTML of `<section id="id">`. */
function section(html: string, id: string): string {
  const start = html.indexOf(`<section id="${id}">`);
  if (start < 0) throw new Error(`no section ${id}`);
  const end = html.indexOf('\n</section>', start);
  return html.slice(start, end);
}

type Neuron = LayerSummary['byCorrelation'][number];
const n = (channel: number, correlation: number, precision: number, meanActivation = 0.5): Neuron => ({
  channel,
  correlation,
  precision,
  meanActivation,
});

/** Two layers of a 64 x 48 input: 8 channels at 32x24 and 16 at 8x6; top-2 by each metric. */
function makeSummary(imageSha: string, layerName = (i: number) => `conv${i}/Relu`): Summary {
  const layers = [
    {
      channels: 8,
      height: 32,
      width: 24,
      byCorrelation: [n(1, 0.6, 3), n(4, 0.5, 9)],
      byPrecision: [n(4, 0.5, 9), n(6, 0.1, 8)],
    },
    {
      channels: 16,
      height: 8,
      width: 6,
      byCorrelation: [n(3, 0.7, 1), n(9, 0.4, 2)],
      byPrecision: [n(12, 0.2, 5), n(0, 0.3, 4)],
    },
  ];
  return SummarySchema.parse({
    version: 1,
    tool: 'neuronscope test',
    run: {
      version: 1,
      model: { path: '/m/tiny.onnx', sha256: 'ab'.repeat(32), input: 'input', output: 'logits' },
      image: { path: '/i/gradient.png', sha256: imageSha, width: 160, height: 120 },
      labels: null,
      preprocessing: {
        preset: 'none',
        resizeShorter: null,
        size: [48, 64],
        scale: 255,
        mean: [0],
        std: [1],
        layout: 'NCHW',
        grayscale: false,
      },
      perturbation: { family: 'paper', samples: 16, seed: 1, params: { sigma: 0.1 } },
      layers: layers.map((l, i) => ({
        layer: layerName(i),
        layerIndex: i,
        convNode: `conv${i}`,
        op: 'Relu',
        channels: l.channels,
        height: l.height,
        width: l.width,
      })),
      target: null,
      output: 'prob',
      batchSize: 8,
    },
    stats: { topK: 2, eligibility: 0.1 },
    target: { index: 3, label: null, source: 'top1' },
    predictions: [{ index: 3, label: null, probability: 0.8 }],
    outputOverCopies: { clean: 0.8, mean: 0.6, std: 0.1, min: 0.2, max: 0.85 },
    copiesKeepingTarget: 0.75,
    layers: layers.map((l, i) => ({
      layer: layerName(i),
      layerIndex: i,
      channels: l.channels,
      height: l.height,
      width: l.width,
      units: l.height * l.width,
      eligible: l.channels - 1,
      byCorrelation: l.byCorrelation,
      byPrecision: l.byPrecision,
      comparison: { overlap: i === 0 ? 0.25 : 0, jaccard: i === 0 ? 1 / 3 : 0, spearman: 0.1, spearmanCount: 5 },
    })),
    total: {
      overlap: 0.125,
      jaccard: 1 / 7,
      spearman: 0.1,
      spearmanCount: 10,
      selectedByCorrelation: 4,
      selectedByPrecision: 4,
    },
    global: { byCorrelation: [], byPrecision: [] },
    definitions: {},
  });
}

function neuronsTable(summary: Summary): NeuronsTable {
  const rows = summary.layers.flatMap((l) =>
    Array.from({ length: l.channels }, (_, c) => ({
      layer: l.layerIndex,
      channel: c,
      byC: l.byCorrelation.some((x) => x.channel === c),
      byP: l.byPrecision.some((x) => x.channel === c),
      correlation: c === 5 ? Number.NaN : 0.05 * ((c % 9) + 1),
      precision: c === 7 ? Number.POSITIVE_INFINITY : 1 + c,
    })),
  );
  const nulls = rows.map(() => null);
  return makeTable(
    neuronsSchema,
    {
      layer: { indices: Int32Array.from(rows, (r) => r.layer), dictionary: summary.layers.map((l) => l.layer) },
      layer_index: Int32Array.from(rows, (r) => r.layer),
      channel: Int32Array.from(rows, (r) => r.channel),
      correlation: Float64Array.from(rows, (r) => r.correlation),
      correlation_channel: Float64Array.from(rows, (r) => r.correlation),
      precision: Float64Array.from(rows, (r) => r.precision),
      snr: Float64Array.from(rows, (r) => r.precision),
      mean_activation: Float64Array.from(rows, () => 0.5),
      eligible: rows.map(() => true),
      rank_correlation: nulls,
      rank_precision: nulls,
      selected_correlation: rows.map((r) => r.byC),
      selected_precision: rows.map((r) => r.byP),
      global_rank_correlation: nulls,
      global_rank_precision: nulls,
    },
    rows.length,
  );
}

/** Boxes, maps (a blob at a different place per neuron), outputs and a stability curve for the summary. */
function makeVisual(summary: Summary): VisualInput {
  const boxes: NeuronBox[] = [];
  const rows: MapRow[] = [];
  const meta: MapsMetadata = {
    masks: 400,
    seed: 1,
    grid: 4,
    keepProb: 0.5,
    baseline: 'zero',
    inputHeight: 48,
    inputWidth: 64,
    block: 4,
    mapHeight: 12,
    mapWidth: 16,
    target: 3,
    output: 'prob',
    activation: 'spatial mean',
  };
  let k = 0;
  for (const l of summary.layers) {
    const both = new Set(l.byPrecision.map((x) => x.channel));
    const channels = [...new Set([...l.byCorrelation, ...l.byPrecision].map((x) => x.channel))];
    for (const channel of channels) {
      const inC = l.byCorrelation.some((x) => x.channel === channel);
      const set = inC && both.has(channel) ? 'both' : inC ? 'correlation' : 'precision';
      const size = l.layerIndex === 0 ? 8 : 30;
      const top = 4 + 5 * k;
      const left = 6 + 3 * k;
      boxes.push({
        layer: l.layer,
        layerIndex: l.layerIndex,
        channel,
        set,
        unit: { y: k, x: k },
        activation: channel === 0 ? 0 : 1 + k,
        field: { size: [size, size], jump: [2, 2], global: false },
        inputBox: { top, left, bottom: top + size - 1, right: left + size - 1 },
        imageRect: { x: left * 2.5, y: top * 2.5, width: size * 2.5, height: size * 2.5 },
      });
      const map = new Float32Array(12 * 16).map((_, q) => {
        const dy = Math.floor(q / 16) - ((2 + 2 * k) % 12);
        const dx = (q % 16) - ((3 + 3 * k) % 16);
        return (k % 2 ? -0.6 : 0.6) * Math.exp(-(dy * dy + dx * dx) / 6);
      });
      if (channel === 9) map.fill(Number.NaN);
      rows.push({
        layer: l.layer,
        layerIndex: l.layerIndex,
        channel,
        set,
        statistic: 'pearson',
        mean: 1,
        std: 0.5,
        map,
      });
      k++;
    }
  }
  const blob = new Float32Array(12 * 16).map((_, q) =>
    Math.exp(-((Math.floor(q / 16) - 5) ** 2 + ((q % 16) - 8) ** 2) / 10),
  );
  rows.push({
    layer: '',
    layerIndex: -1,
    channel: 3,
    set: 'output',
    statistic: 'pearson',
    mean: 0.6,
    std: 0.1,
    map: blob,
  });
  rows.push({
    layer: '',
    layerIndex: -1,
    channel: 3,
    set: 'output',
    statistic: 'rise',
    mean: 0.6,
    std: 0.1,
    map: blob,
  });
  const y = Float64Array.from({ length: 16 }, (_, i) => 0.8 - 0.03 * i);
  const top1 = Int32Array.from({ length: 16 }, (_, i) => (i < 12 ? 3 : 1));
  return {
    boxes,
    inputRect: { x: 0, y: 0, width: 160, height: 120 },
    maps: { meta, rows },
    outputs: { y, top1 },
    stability: [
      { copies: 4, correlation: 0.25, precision: 0.5 },
      { copies: 8, correlation: 0.75, precision: 0.5 },
      { copies: 16, correlation: 1, precision: 1 },
    ],
  };
}

describe('the visual report', () => {
  let imagePath: string;
  let summary: Summary;
  let html: string;

  beforeAll(async () => {
    const pixels = Buffer.alloc(160 * 120 * 3);
    for (let i = 0; i < 160 * 120; i++) pixels.set([i % 160, (i / 160) % 256, 90], i * 3);
    const png = await sharp(pixels, { raw: { width: 160, height: 120, channels: 3 } })
      .png()
      .toBuffer();
    imagePath = join(await mkdtemp(join(tmpdir(), 'ns-visual-')), 'gradient.png');
    await writeFile(imagePath, png);
    summary = makeSummary(sha256(png));
    const ctx = await reportContext({
      summary,
      imagePath,
      neurons: neuronsTable(summary),
      visual: makeVisual(summary),
    });
    html = renderHtml(ctx);
  });

  it('draws the first-ranked box of each layer per set on the photo, the input frame, and the depth legend', () => {
    const where = section(html, 'where');
    const overlays = [...where.matchAll(/<svg class="overlay"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    expect(overlays).toHaveLength(2);
    // Correlation: channel 1 (layer 0), channel 3 (layer 1); precision: channel 4, and channel 12.
    expect(overlays[0]).toContain('layer 0 conv0/Relu, channel 1 (selected by correlation)');
    expect(overlays[0]).toContain('layer 1 conv1/Relu, channel 3 (selected by correlation)');
    expect(overlays[1]).toContain('layer 0 conv0/Relu, channel 4 (selected by both)');
    expect(overlays[1]).toContain('layer 1 conv1/Relu, channel 12 (selected by precision)');
    for (const o of overlays) {
      expect(o).toContain('<use href="#ns-photo"/>');
      expect(o).toContain('the model input (resize and centre crop)');
      expect(o.match(/<g><title>/g)).toHaveLength(2);
    }
    expect(where).toContain('layer 0 <svg');
    expect(where).toContain('Where the output depends on the image (RISE)');
    // The photo is embedded once and referred to.
    expect(html.match(/id="ns-photo"/g)).toHaveLength(1);
  });

  it('shows every selected neuron of a layer: boxes by set, a patch and a heat map per card', () => {
    const layer0 = html.slice(html.indexOf('id="layer-0"'), html.indexOf('id="layer-1"'));
    const cards = [...layer0.matchAll(/<figure class="card (corr|prec|both)">([\s\S]*?)<\/figure>/g)];
    expect(cards.map((c) => [c[1], /channel (\d+)/.exec(c[2]!)![1]])).toEqual([
      ['corr', '1'],
      ['both', '4'],
      ['prec', '6'],
    ]);
    for (const [, , body] of cards) {
      expect(body).toMatch(/<svg class="patch" viewBox="[\d. ]+"/);
      expect(body).toMatch(/<svg class="heat"[\s\S]*<image href="data:image\/png;base64,/);
      expect(body).toMatch(/field 8×8 px at \(\d, \d\) · max \|r\| 0\.6\d/);
    }
    const layer1 = html.slice(html.indexOf('id="layer-1"'));
    expect(layer1).toContain('silent on the clean image'); // channel 0: activation 0
    expect(layer1).toContain('constant over the masks: no map'); // channel 9: NaN map
  });

  it('renders the five charts as inline SVG with hover titles, no script', () => {
    const charts = section(html, 'charts');
    for (const name of ['scatter', 'overlap', 'counts', 'output', 'stability']) {
      expect(charts).toMatch(
        new RegExp(`<figure class="chartfig" id="chart-${name}"><svg [^>]*class="chart" role="img"`),
      );
    }
    // 24 channels; in each layer one without correlation and one with infinite precision are left out.
    const scatter = charts.slice(charts.indexOf('chart-scatter'), charts.indexOf('chart-overlap'));
    expect(scatter.match(/<title>layer \d, channel \d+:/g)).toHaveLength(20);
    expect(scatter).toContain('4 channels without a defined correlation or a finite precision are left out');
    expect(scatter).toContain(
      '<title>layer 0, channel 4: correlation 0.250, precision 5; by both (conv0/Relu)</title>',
    );
    expect(charts).toContain('<title>layer 1 conv1/Relu: 2 precision only; Jaccard 0.000</title>');
    expect(html).not.toMatch(/<script|https?:\/\/|url\(/i);
  });

  it('states findings drawn from boxes, maps and stability', () => {
    const findings = section(html, 'findings');
    expect(findings).toContain(
      'A selected neuron sees 8×8 pixels of the 64×48 model input in layer 0 and 30×30 in layer 1',
    );
    expect(findings).toMatch(
      /lie the most active units of 2 of 4 correlation-selected neurons \(50.0%\) and 0 of 3 precision-selected/,
    );
    expect(findings).toMatch(
      /heat maps of the correlation-selected neurons agree with the output's map by r = -?0\.\d{3}/,
    );
    expect(findings).toContain(
      'With only the first 8 of the 16 copies, the top-2 sets would keep a mean Jaccard of 0.750 (correlation) and 0.500 (precision)',
    );
  });

  it('escapes names from the model in boxes, maps and charts', async () => {
    const pixels = await sharp({ create: { width: 160, height: 120, channels: 3, background: '#777' } })
      .png()
      .toBuffer();
    const path = join(await mkdtemp(join(tmpdir(), 'ns-visual-')), 'grey.png');
    await writeFile(path, pixels);
    const evil = makeSummary(sha256(pixels), (i) => `${EVIL}${i}`);
    const visual = makeVisual(evil);
    const out = renderHtml(
      await reportContext({ summary: evil, imagePath: path, neurons: neuronsTable(evil), visual }),
    );
    expect(out).not.toContain('<script');
    expect(out).not.toContain(EVIL);
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('writes every figure as SVG and PNG', async () => {
    const ctx = await reportContext({
      summary,
      imagePath,
      neurons: neuronsTable(summary),
      visual: makeVisual(summary),
    });
    const figures = await renderFigures(ctx);
    const names = figures.map((f) => f.name);
    for (const name of [
      'scatter',
      'overlap',
      'counts',
      'output',
      'stability',
      'boxes-correlation',
      'boxes-precision',
      'rise',
      'output-map',
      'layer-00-boxes',
      'layer-00-maps',
      'layer-00-patches',
      'layer-01-maps',
    ]) {
      expect(names).toContain(name);
    }
    for (const f of figures) {
      expect(f.svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(
        true,
      );
      expect(f.svg).not.toContain('href="#'); // stand-alone: the photo inline
      const meta = await sharp(f.png).metadata();
      expect(meta.format, f.name).toBe('png');
      expect(meta.width, f.name).toBeGreaterThan(200);
    }
    // The boxes figure shows the photo: not a blank page.
    const boxes = figures.find((f) => f.name === 'boxes-correlation')!;
    const stats = await sharp(boxes.png).stats();
    expect(stats.channels[0]!.stdev).toBeGreaterThan(10);
  });

  it('is deterministic', async () => {
    const again = renderHtml(
      await reportContext({ summary, imagePath, neurons: neuronsTable(summary), visual: makeVisual(summary) }),
    );
    expect(again).toBe(html);
  });
});

describe('charts', () => {
  it('turn Vega mark descriptions into titles, round the geometry and drop the namespace', async () => {
    const svg = await renderChart(
      scatterSpec([
        { layer: 'a', layerIndex: 0, channel: 1, correlation: 0.123456, precision: 2, eligible: true, set: 'both' },
        { layer: 'a', layerIndex: 0, channel: 2, correlation: 0.5, precision: 20, eligible: false, set: 'none' },
      ]),
      'test chart',
    );
    expect(svg).toMatch(/^<svg [^>]*class="chart" role="img" aria-label="test chart">/);
    expect(svg).toContain('<title>layer 0, channel 1: correlation 0.123, precision 2; by both (a)</title>');
    expect(svg).toContain('<title>layer 0, channel 2: correlation 0.500, precision 20 (not eligible)</title>');
    for (const [, value] of svg.matchAll(/ (?:transform|d|x|y)="([^"]*)"/g)) expect(value).not.toMatch(/\d\.\d{3,}/);
    expect(svg).not.toContain('xmlns');
  });

  it('tidySvg keeps unlabelled marks and moves labels into titles', () => {
    const raw =
      '<svg xmlns="http://www.w3.org/2000/svg" class="marks" width="10" height="10"><path aria-label="a &amp; b" role="graphics-symbol" aria-roledescription="bar" d="M0.123456,1Z"/><path d="M1,1Z"/></svg>';
    expect(tidySvg(raw, 'x')).toBe(
      '<svg width="10" height="10" class="chart" role="img" aria-label="x"><path d="M0.12,1Z"><title>a &amp; b</title></path><path d="M1,1Z"/></svg>',
    );
  });
});

describe('stabilityCurve', () => {
  /** The proxies recomputed the plain way for one prefix. */
  function reference(values: number[][], y: number[], n: number, k: number, eligibility: number) {
    const channels = values[0]!.length;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ys = y.slice(0, n);
    const my = mean(ys);
    const corr: number[] = [];
    const prec: number[] = [];
    const ok: boolean[] = [];
    for (let c = 0; c < channels; c++) {
      const xs = values.slice(0, n).map((row) => row[c]!);
      const mx = mean(xs);
      const vx = mean(xs.map((x) => (x - mx) ** 2));
      const vy = mean(ys.map((v) => (v - my) ** 2));
      const cov = mean(xs.map((x, i) => (x - mx) * (ys[i]! - my)));
      corr.push(Math.abs(cov / Math.sqrt(vx * vy)));
      prec.push(1 / vx);
      ok.push(mx >= eligibility);
    }
    const top = (v: number[], allowed: boolean[]) =>
      new Set(
        v
          .map((x, c) => ({ x, c }))
          .filter((e) => allowed[e.c])
          .sort((a, b) => b.x - a.x || a.c - b.c)
          .slice(0, k)
          .map((e) => e.c),
      );
    return {
      corr: top(
        corr,
        corr.map(() => true),
      ),
      prec: top(prec, ok),
    };
  }

  it('matches the plain computation of the top-k of every prefix, rows in any order', () => {
    const copies = 40;
    const channels = 6;
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const y = Array.from({ length: copies }, () => random());
    const values = y.map((v) => Array.from({ length: channels }, (_, c) => c * 0.1 + (c % 3) * v + random() * (1 + c)));
    const rows = values.flatMap((row, copy) => row.map((mean, channel) => ({ copy, channel, mean })));
    rows.reverse();
    const curve = stabilityCurve({
      copy: rows.map((r) => r.copy),
      layerIndex: rows.map(() => 4),
      channel: rows.map((r) => r.channel),
      mean: rows.map((r) => r.mean),
      y,
      layers: [{ layerIndex: 4, channels }],
      topK: 2,
      eligibility: 0.15,
    });
    expect(curve.map((p) => p.copies)).toEqual(stabilityCheckpoints(copies));
    expect(stabilityCheckpoints(copies)).toEqual([5, 10, 20, 40]);
    const final = reference(values, y, copies, 2, 0.15);
    const jaccard = (a: Set<number>, b: Set<number>) => {
      const shared = [...a].filter((x) => b.has(x)).length;
      return shared / (a.size + b.size - shared);
    };
    for (const p of curve) {
      const r = reference(values, y, p.copies, 2, 0.15);
      expect(p.correlation).toBeCloseTo(jaccard(r.corr, final.corr), 12);
      expect(p.precision).toBeCloseTo(jaccard(r.prec, final.prec), 12);
    }
    expect(curve[curve.length - 1]).toEqual({ copies: 40, correlation: 1, precision: 1 });
  });
});
