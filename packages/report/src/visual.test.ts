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
  const start = html.search(new RegExp(`<section id="${id}"[ >]`));
  if (start < 0) throw new Error(`no section ${id}`);
  const end = html.indexOf('</section>', start);
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

  it("draws the paper figure: each layer's first box per set on the photo, and every selected patch framed by depth", () => {
    const depth = section(html, 'depth');
    const overlays = [...depth.matchAll(/<svg class="overlay"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
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
    expect(depth).toContain('layer 0 <svg');
    // The mosaics: every selected neuron of each metric, in layer and rank order, linked to its card, framed in
    // its layer's depth colour (viridis ends: layer 0 #440154, layer 1 #fde725).
    const tiles = (cls: string) => {
      const row = depth.slice(depth.indexOf(`<div class="depth-row ${cls}">`));
      const mosaic = row.slice(row.indexOf('<div class="mosaic"'), row.indexOf('</div></div></div>'));
      return [...mosaic.matchAll(/<a class="tile" href="#(n-\d+-\d+)" style="border-color:(#[0-9a-f]{6})"/g)].map(
        (m) => [m[1], m[2]],
      );
    };
    expect(tiles('corr')).toEqual([
      ['n-0-1', '#440154'],
      ['n-0-4', '#440154'],
      ['n-1-3', '#fde725'],
      ['n-1-9', '#fde725'],
    ]);
    expect(tiles('prec')).toEqual([
      ['n-0-4', '#440154'],
      ['n-0-6', '#440154'],
      ['n-1-12', '#fde725'],
      ['n-1-0', '#fde725'],
    ]);
    // Channel 0 is silent on the clean image: a dot, no patch.
    expect(depth).toContain('(1 silent on the clean image: a dot)');
    // The photo is embedded once and referred to.
    expect(html.match(/id="ns-photo"/g)).toHaveLength(1);
  });

  it("shows the output's RISE map at a glance", () => {
    const overview = section(html, 'overview');
    expect(overview).toMatch(/<svg class="heat"[^>]*aria-label="RISE saliency of the output"/);
    expect(overview).toContain('Where the output depends on the image');
  });

  it('gives every selected neuron a card: the photo around its field, its heat map, and what it is in words', () => {
    const layer0 = html.slice(html.indexOf('id="layer-0"'), html.indexOf('id="layer-1"'));
    const cards = [
      ...layer0.matchAll(/<article class="card (corr|prec|both)" id="(n-0-\d+)" tabindex="-1">([\s\S]*?)<\/article>/g),
    ];
    expect(cards.map((c) => [c[1], c[2]])).toEqual([
      ['corr', 'n-0-1'],
      ['both', 'n-0-4'],
      ['prec', 'n-0-6'],
    ]);
    for (const [, , , body] of cards) {
      expect(body).toMatch(/<svg class="patch" viewBox="[\d. ]+"/);
      expect(body).toMatch(/<svg class="heat"[\s\S]*<image href="data:image\/png;base64,/);
      // 8x8 of the 64x48 input is 64 / 3072 = 2.1% of it.
      expect(body).toContain('Layer 0 (1st of 2 recorded, shallow): sees 8×8 px of the 64×48 input (2.1%)');
      expect(body).toMatch(/Heat map: max \|r\| 0\.6\d\./);
    }
    // Ranks from the neurons table (here it has none) fall back to the position in the selection.
    expect(cards[0]![3]).toContain('<strong>#1</strong> of 8 by correlation (0.600)');
    expect(cards[1]![3]).toContain('<strong>#1</strong> of 7 eligible by precision (9)');
    expect(cards[0]![3]).toContain('Ablation not run');
    // The patch shows the field with context around it: a window of at least a fifth of the photo (24 px of 120),
    // the 20-px field (8 model-input px x 2.5) outlined inside it.
    const patch = /<svg class="patch" viewBox="([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)"[\s\S]*?<\/svg>/.exec(
      cards[0]![3]!,
    )!;
    expect(Number(patch[3])).toBeCloseTo(24, 6);
    expect(patch[0]).toContain('<rect x="15.0" y="10.0" width="20.0" height="20.0"');
    const layer1 = html.slice(html.indexOf('id="layer-1"'));
    expect(layer1).toContain('silent on the clean image'); // channel 0: activation 0
    expect(layer1).toContain('constant over the masks: no map'); // channel 9: NaN map
  });

  it('lists every selected neuron once in a table the script filters and sorts, each row opening its card', () => {
    const table = section(html, 'neurons');
    const rows = [...table.matchAll(/<tr data-layer="(\d+)" data-sets="([a-z ]+)" data-href="(n-\d+-\d+)">/g)];
    expect(rows.map((r) => [r[1], r[2], r[3]])).toEqual([
      ['0', 'correlation', 'n-0-1'],
      ['0', 'correlation precision both', 'n-0-4'],
      ['0', 'precision', 'n-0-6'],
      ['1', 'correlation', 'n-1-3'],
      ['1', 'correlation', 'n-1-9'],
      ['1', 'precision', 'n-1-12'],
      ['1', 'precision', 'n-1-0'],
    ]);
    // Every row links to a card that exists.
    for (const r of rows) expect(html).toContain(`id="${r[3]}" tabindex="-1"`);
    // The controls are hidden until the script shows them; every column can be sorted.
    expect(table).toContain('<div class="controls" id="neuron-controls" hidden>');
    expect(table.match(/<th [^>]*><button type="button">/g)).toHaveLength(10);
  });

  it('renders the charts as inline SVG with hover titles: the comparison open, the others folded', () => {
    const comparison = section(html, 'comparison');
    for (const name of ['overlap', 'scatter']) {
      expect(comparison).toMatch(
        new RegExp(`<figure class="chartfig" id="chart-${name}"><svg [^>]*class="chart" role="img"`),
      );
    }
    const charts = section(html, 'charts');
    for (const name of ['counts', 'output', 'stability']) {
      expect(charts).toMatch(
        new RegExp(`<figure class="chartfig" id="chart-${name}"><svg [^>]*class="chart" role="img"`),
      );
    }
    // 24 channels; in each layer one without correlation and one with infinite precision are left out.
    const scatter = comparison.slice(comparison.indexOf('chart-scatter'));
    expect(scatter.match(/<title>layer \d, channel \d+:/g)).toHaveLength(20);
    expect(scatter).toContain('4 channels without a defined correlation or a finite precision are left out');
    expect(scatter).toContain(
      '<title>layer 0, channel 4: correlation 0.250, precision 5; by both (conv0/Relu)</title>',
    );
    expect(comparison).toContain('<title>layer 1 conv1/Relu: 2 precision only; Jaccard 0.000</title>');
    expect(html).not.toMatch(/https?:\/\/|url\(/i);
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
    expect(out.match(/<script/g)).toHaveLength(1); // the page's own
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
      'depth-correlation',
      'depth-precision',
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
      // Stand-alone: the photo inline, or once in the file's own defs for every tile to refer to.
      const ids = new Set([...f.svg.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
      for (const [, id] of f.svg.matchAll(/href="#([^"]+)"/g)) expect(ids.has(id), `${f.name} #${id}`).toBe(true);
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

describe('what the report says about neurons and maps', () => {
  let imagePath: string;
  let summary: Summary;

  /** Deletion and insertion curves on 4 steps: the RISE map's, and two random maps'. */
  function curves(): NonNullable<VisualInput['faithfulness']> {
    const fractions = [0, 0.25, 0.5, 0.75, 1];
    const curve = (map: 'rise' | 'random', draw: number, kind: 'deletion' | 'insertion', ps: number[]) =>
      ps.map((probability, step) => ({
        map,
        draw,
        curve: kind,
        step,
        fraction: fractions[step]!,
        probability,
        top1: 3,
      }));
    const points = [
      ...curve('rise', -1, 'deletion', [0.8, 0.2, 0.1, 0.05, 0.05]),
      ...curve('rise', -1, 'insertion', [0.05, 0.6, 0.75, 0.8, 0.8]),
      ...curve('random', 0, 'deletion', [0.8, 0.7, 0.5, 0.2, 0.05]),
      ...curve('random', 0, 'insertion', [0.05, 0.1, 0.3, 0.6, 0.8]),
      ...curve('random', 1, 'deletion', [0.8, 0.6, 0.4, 0.1, 0.05]),
      ...curve('random', 1, 'insertion', [0.05, 0.2, 0.4, 0.7, 0.8]),
    ];
    // The areas the engine stores, by trapezoids (recomputed in the test below from the points).
    const area = (ps: number[]) => ps.slice(1).reduce((a, p, i) => a + (0.25 * (p + ps[i]!)) / 2, 0);
    const areas = [
      { map: 'rise', draw: -1, curve: 'deletion', auc: area([0.8, 0.2, 0.1, 0.05, 0.05]) },
      { map: 'rise', draw: -1, curve: 'insertion', auc: area([0.05, 0.6, 0.75, 0.8, 0.8]) },
      { map: 'random', draw: 0, curve: 'deletion', auc: area([0.8, 0.7, 0.5, 0.2, 0.05]) },
      { map: 'random', draw: 0, curve: 'insertion', auc: area([0.05, 0.1, 0.3, 0.6, 0.8]) },
      { map: 'random', draw: 1, curve: 'deletion', auc: area([0.8, 0.6, 0.4, 0.1, 0.05]) },
      { map: 'random', draw: 1, curve: 'insertion', auc: area([0.05, 0.2, 0.4, 0.7, 0.8]) },
    ] as const;
    const meta = {
      steps: 4,
      randomMaps: 2,
      seed: 1,
      target: 3,
      deletionBaseline: 'zero in model-input space',
      insertionBaseline: 'a Gaussian blur of the image',
      cells: 192,
      areas: [...areas],
    };
    return { meta, points };
  }

  async function render(extra: Partial<VisualInput>, s = summary): Promise<string> {
    const visual = { ...makeVisual(s), ...extra };
    return renderHtml(await reportContext({ summary: s, imagePath, neurons: neuronsTable(s), visual }));
  }

  beforeAll(async () => {
    const png = await sharp({ create: { width: 160, height: 120, channels: 3, background: '#6a8' } })
      .png()
      .toBuffer();
    imagePath = join(await mkdtemp(join(tmpdir(), 'ns-words-')), 'green.png');
    await writeFile(imagePath, png);
    summary = makeSummary(sha256(png));
  });

  it('measures the heat map against random maps: areas under the curves and a verdict', async () => {
    const html = await render({ faithfulness: curves() });
    const f = section(html, 'faithfulness');
    // Deletion: 0.25 * (0.5 + 0.15 + 0.075 + 0.05) = 0.19375 (RISE) against 0.45625 and 0.38125.
    // Insertion: 0.25 * (0.325 + 0.675 + 0.775 + 0.8) = 0.64375 against 0.35625 and 0.43125.
    expect(f).toContain(
      '<dt>Deletion area</dt><dd><strong>0.194</strong> <span class="muted">(2 random maps: 0.381–0.456, mean 0.419)',
    );
    expect(f).toContain(
      '<dt>Insertion area</dt><dd><strong>0.644</strong> <span class="muted">(2 random maps: 0.356–0.431, mean 0.394)',
    );
    expect(f).toContain('better than every random map on both curves');
    expect(f).toMatch(/<figure class="chartfig" id="chart-faithfulness"><svg [^>]*class="chart"/);
    // A hover title on each of the RISE map's 10 points (e.g. deletion at 25%: p = 0.200), and on each line.
    expect(f.match(/<title>RISE map, (deletion|insertion):/g)).toHaveLength(10 + 2);
    expect(f).toContain('<title>RISE map, deletion: 25% of the cells deleted, p = 0.200</title>');
    expect(f.match(/<title>random map \d, (deletion|insertion):/g)).toHaveLength(4);
    expect(section(html, 'findings')).toContain(
      'The heat map of the output is better than every random map on both curves',
    );
    // A map that loses to a random one on deletion is only half good; with no curves the section says how to get them.
    const worse = curves();
    worse.meta.areas[0] = { ...worse.meta.areas[0]!, auc: 0.4 };
    expect(section(await render({ faithfulness: worse }), 'faithfulness')).toContain(
      'better than every random map on the insertion curve only',
    );
    expect(section(await render({}), 'faithfulness')).toContain(
      'No deletion and insertion curves: run &#39;neuronscope maps --out &lt;run&gt;&#39;',
    );
  });

  it('names the channels of a layer whose channels are the classes, everywhere a neuron is named', async () => {
    const names = Array.from({ length: 16 }, (_, c) => `class <${c}>`);
    const html = await render({ channelNames: new Map([[1, names]]) });
    const layer1 = html.slice(html.indexOf('<details class="layer" id="layer-1">'));
    expect(layer1).toContain('<h4>channel 3 <q>class &lt;3&gt;</q>');
    expect(layer1).toContain(
      '<span class="key corr"></span>class &lt;3&gt;, class &lt;9&gt; <span class="key prec"></span>class &lt;12&gt;, class &lt;0&gt;',
    );
    expect(layer1).toContain('<dt>Channels</dt><dd>the classes');
    expect(section(html, 'neurons')).toContain('<a href="#n-1-12">channel 12 <q>class &lt;12&gt;</q></a>');
    expect(section(html, 'findings')).toContain(
      'correlation picks <q>class &lt;3&gt;</q>, <q>class &lt;9&gt;</q> and precision',
    );
    // Layer 0 is not a class layer: plain channel numbers.
    expect(html).toContain('<h4>channel 1 <span class="tag corr">');
  });

  it('says whether switching a neuron off alone moves the output, from the ablation test', async () => {
    const withAblation = SummarySchema.parse({
      ...summary,
      ablation: {
        version: 1,
        mode: 'zero',
        randomSets: 10,
        seed: 0,
        pool: 'eligible',
        k: 2,
        target: 3,
        cleanProbability: 0.8,
        cleanTop1: 3,
        baselineMaxAbsLogitDiff: 0,
        variants: 1,
        layers: [
          {
            layer: 'conv1/Relu',
            layerIndex: 1,
            channels: 16,
            k: 2,
            pool: 'eligible',
            poolSize: 15,
            correlation: null,
            precision: null,
            random: { count: 10, mean: 0, std: 0, p5: 0, p50: 0, p95: 0, top1Changed: 0 },
            neurons: [
              { channel: 3, probability: 0.5, drop: 0.3, top1Changed: true },
              { channel: 9, probability: 0.78, drop: 0.02, top1Changed: false },
              { channel: 12, probability: 0.7995, drop: 0.0005, top1Changed: false },
            ],
          },
        ],
        totals: {
          layers: 1,
          correlationAboveP95: 0,
          precisionAboveP95: 0,
          meanPercentileCorrelation: null,
          meanPercentilePrecision: null,
        },
      },
    });
    const html = await render({}, withAblation);
    const card = (id: string) =>
      /<article[^>]*id="(?:[^"]*)"[^>]*>[\s\S]*?<\/article>/g.exec(html.slice(html.indexOf(`id="${id}"`) - 40))![0];
    expect(card('n-1-3')).toContain(
      'p(class 3) 80.0% → 50.0% (−30.0&nbsp;pp): it <strong>changes the top-1 class</strong>',
    );
    expect(card('n-1-9')).toContain('p(class 3) 80.0% → 78.0% (−2.0&nbsp;pp): it <strong>moves the output</strong>');
    expect(card('n-1-12')).toContain('80.0% → 80.0% (−0.05&nbsp;pp): it does not move the output');
    expect(card('n-0-1')).toContain('Not switched off alone in the ablation test (its layer was not tested)');
    // The table has the drop in percentage points, sortable.
    expect(section(html, 'neurons')).toContain('<td class="num" data-v="30">30.0</td>');
  });

  it("links a neuron's card to its dataset examples when an atlas has them", async () => {
    const atlas = { href: '../sweep/atlas.html', neurons: new Set(['1:3', '0:4']), images: 12 };
    const html = await render({ atlas });
    expect(html).toContain('<a href="../sweep/atlas.html#n-1-3">Dataset examples →</a>');
    expect(html).toContain('<a href="../sweep/atlas.html#n-0-4">Dataset examples →</a>');
    expect(html.match(/Dataset examples →/g)).toHaveLength(2);
    expect(html).toContain('(its top images among 12)');
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
