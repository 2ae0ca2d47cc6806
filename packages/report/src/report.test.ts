import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LayerSummary,
  makeTable,
  neuronsSchema,
  type Summary,
  SummarySchema,
  sha256,
  UserError,
} from '@neuronscope/core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { requires, shared } from '../../../test/support/env.js';
import { CONTENT_SECURITY_POLICY, renderReport, SCRIPT, scriptHash, sections } from './index.js';
import type { NeuronsTable } from './neurons.js';

/** A real photo of ../shared (test/support/env.ts). */
const SHARED_CAT = shared.image('cat.png');

const EVIL = `<script>alert(1)</script>"'&`;
const EVIL_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;';
/** A file name cannot hold the slash of `</script>`: break out of an attribute instead. */
const EVIL_NAME = `x" onerror="alert(1)'&<b>.png`;
const EVIL_NAME_ESCAPED = 'x&quot; onerror=&quot;alert(1)&#39;&amp;&lt;b&gt;.png';

type Neuron = LayerSummary['byCorrelation'][number];
const n = (channel: number, correlation: number | null, precision: number | null, meanActivation: number): Neuron => ({
  channel,
  correlation,
  precision,
  meanActivation,
});

/** The paper's overlap and Jaccard of two selections, as the stats stage computes them. */
function compare(a: readonly Neuron[], b: readonly Neuron[]) {
  const inB = new Set(b.map((x) => x.channel));
  const shared = a.filter((x) => inB.has(x.channel)).length;
  const total = a.length + b.length;
  return { overlap: total ? shared / total : 0, jaccard: total - shared ? shared / (total - shared) : 0 };
}

interface LayerSpec {
  layer: string;
  convNode: string;
  channels: number;
  height: number;
  width: number;
  eligible: number;
  byCorrelation: Neuron[];
  byPrecision: Neuron[];
  spearman: number | null;
  spearmanCount: number;
}

/** Three SqueezeNet 1.1 layers, top-5 per metric: shared channels, an ineligible pick, a layer without eligible channels. */
const LAYERS: LayerSpec[] = [
  {
    layer: '/features/features.1/Relu_output_0',
    convNode: '/features/features.0/Conv',
    channels: 64,
    height: 111,
    width: 111,
    eligible: 41,
    byCorrelation: [
      n(12, 0.412, 35.2, 0.83),
      n(7, 0.388, 12.1, 0.41),
      n(33, 0.351, 2.02, 1.92),
      n(5, 0.347, null, 0.03),
      n(60, 0.322, 18.9, 0.22),
    ],
    byPrecision: [
      n(41, 0.101, 152.3, 0.12),
      n(12, 0.412, 35.2, 0.83),
      n(60, 0.322, 18.9, 0.22),
      n(19, 0.054, 17.5, 0.31),
      n(7, 0.388, 12.1, 0.41),
    ],
    spearman: 0.214,
    spearmanCount: 41,
  },
  {
    layer: '/features/features.3/squeeze_activation/Relu_output_0',
    convNode: '/features/features.3/squeeze/Conv',
    channels: 16,
    height: 55,
    width: 55,
    eligible: 0,
    byCorrelation: [
      n(3, 0.276, 8.1, 0.07),
      n(9, 0.25, 4.4, 0.05),
      n(0, 0.198, 3.3, 0.02),
      n(14, 0.187, 5.9, 0.09),
      n(6, 0.151, 2.2, 0.01),
    ],
    byPrecision: [],
    spearman: null,
    spearmanCount: 0,
  },
  {
    layer: '/features/features.12/expand3x3_activation/Relu_output_0',
    convNode: '/features/features.12/expand3x3/Conv',
    channels: 256,
    height: 13,
    width: 13,
    eligible: 198,
    byCorrelation: [
      n(201, 0.633, 0.0184, 6.71),
      n(17, 0.598, 0.0402, 4.2),
      n(88, 0.571, 0.011, 9.35),
      n(240, 0.542, 0.0305, 5.05),
      n(3, 0.538, 0.0691, 2.99),
    ],
    byPrecision: [
      n(130, 0.021, 2.4e7, 0.14),
      n(99, 0.044, 880.5, 0.19),
      n(17, 0.598, 0.0402, 4.2),
      n(52, 0.112, 0.0399, 0.35),
      n(3, 0.538, 0.0691, 2.99),
    ],
    spearman: -0.087,
    spearmanCount: 198,
  },
];

/** A realistic summary of SqueezeNet 1.1 on a cat photo, validated against the contract. */
function makeSummary(imageSha: string): Summary {
  const layers = LAYERS.map((l, layerIndex) => ({
    layer: l.layer,
    layerIndex,
    channels: l.channels,
    height: l.height,
    width: l.width,
    units: l.height * l.width,
    eligible: l.eligible,
    byCorrelation: l.byCorrelation,
    byPrecision: l.byPrecision,
    comparison: { ...compare(l.byCorrelation, l.byPrecision), spearman: l.spearman, spearmanCount: l.spearmanCount },
  }));
  const allC = layers.flatMap((l) => l.byCorrelation.map((x) => ({ ...x, channel: x.channel + l.layerIndex * 1000 })));
  const allP = layers.flatMap((l) => l.byPrecision.map((x) => ({ ...x, channel: x.channel + l.layerIndex * 1000 })));
  const global = (key: 'correlation' | 'precision', list: Neuron[]) =>
    layers
      .flatMap((l) => list.filter((x) => Math.floor(x.channel / 1000) === l.layerIndex).map((x) => ({ l, x })))
      .map(({ l, x }) => ({ layer: l.layer, layerIndex: l.layerIndex, channel: x.channel % 1000, value: x[key] ?? 0 }))
      .sort((a, b) => b.value - a.value)
      .slice(0, 5);
  return SummarySchema.parse({
    version: 1,
    tool: 'neuronscope 0.1.0',
    run: {
      version: 1,
      model: {
        path: '../shared/models/squeezenet1_1.onnx',
        sha256: 'c3f9c9665f1cfb1ea22807bd8df96858c980807c66401282532b36b1fbd6abcc',
        input: 'input',
        output: 'logits',
      },
      image: { path: '../shared/images/cat.png', sha256: imageSha, width: 512, height: 341 },
      labels: {
        path: '../shared/models/imagenet_classes.txt',
        sha256: '4d0a0e0b2e0a93b5bd8c7d2a5b2a5c8e4f1c3a7e0f9b8d6c5a4b3c2d1e0f9a8b',
      },
      preprocessing: {
        preset: 'imagenet',
        resizeShorter: 256,
        size: [224, 224],
        scale: 255,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        layout: 'NCHW',
        grayscale: false,
      },
      perturbation: { family: 'gaussian-noise', samples: 512, seed: 42, params: { sigma: 0.1, space: 'pixel' } },
      layers: LAYERS.map((l, layerIndex) => ({
        layer: l.layer,
        layerIndex,
        convNode: l.convNode,
        op: 'Relu',
        channels: l.channels,
        height: l.height,
        width: l.width,
      })),
      target: null,
      output: 'prob',
      batchSize: 32,
    },
    stats: { topK: 5, eligibility: 0.1 },
    target: { index: 285, label: 'Egyptian cat', source: 'top1' },
    predictions: [
      { index: 285, label: 'Egyptian cat', probability: 0.6213 },
      { index: 281, label: 'tabby, tabby cat', probability: 0.1974 },
      { index: 282, label: 'tiger cat', probability: 0.1502 },
      { index: 287, label: 'lynx, catamount', probability: 0.0127 },
      { index: 283, label: 'Persian cat', probability: 0.00004 },
    ],
    outputOverCopies: { clean: 0.6213, mean: 0.5874, std: 0.0721, min: 0.3012, max: 0.7795 },
    copiesKeepingTarget: 0.912,
    layers,
    total: {
      ...compare(allC, allP),
      spearman: 0.031,
      spearmanCount: 239,
      selectedByCorrelation: allC.length,
      selectedByPrecision: allP.length,
    },
    global: { byCorrelation: global('correlation', allC), byPrecision: global('precision', allP) },
    definitions: {
      correlation: 'mean over the channel units of |Pearson r| between the unit activation and y over the copies',
      precision: '1 / mean over the channel units of the population variance over the copies',
      overlap: '|A ∩ B| / (|A| + |B|)',
    },
  });
}

/**
 * A `neurons.parquet`-shaped table agreeing with the summary: the selected channels carry their summary
 * values, the others lower scores; the last unselected channel of each layer has no correlation (NaN), and
 * `constant` eligible channels have zero variance (precision ∞).
 */
function makeNeurons(summary: Summary, constant = 1): NeuronsTable {
  const cols = {
    layer: [] as number[],
    channel: [] as number[],
    correlation: [] as number[],
    precision: [] as number[],
    mean: [] as number[],
    eligible: [] as boolean[],
    selC: [] as boolean[],
    selP: [] as boolean[],
  };
  const threshold = summary.stats.eligibility;
  for (const l of summary.layers) {
    const picked = new Map([...l.byCorrelation, ...l.byPrecision].map((x) => [x.channel, x]));
    let eligibleLeft = l.eligible - [...picked.values()].filter((x) => x.meanActivation >= threshold).length;
    let constantLeft = l.eligible > 0 ? constant : 0;
    for (let c = 0; c < l.channels; c++) {
      const x = picked.get(c);
      const eligible = x ? x.meanActivation >= threshold : eligibleLeft-- > 0;
      const inf = !x && eligible && constantLeft-- > 0;
      cols.layer.push(l.layerIndex);
      cols.channel.push(c);
      cols.correlation.push(x ? (x.correlation ?? Number.NaN) : c === l.channels - 1 ? Number.NaN : 0.01 * (c % 10));
      cols.precision.push(x ? (x.precision ?? Number.NaN) : inf ? Number.POSITIVE_INFINITY : 1 + (c % 7));
      cols.mean.push(x ? x.meanActivation : eligible ? 0.5 : 0.01);
      cols.eligible.push(eligible);
      cols.selC.push(l.byCorrelation.some((y) => y.channel === c));
      cols.selP.push(l.byPrecision.some((y) => y.channel === c));
    }
  }
  const rows = cols.channel.length;
  const nulls = Array.from({ length: rows }, () => null);
  return makeTable(
    neuronsSchema,
    {
      layer: { indices: Int32Array.from(cols.layer), dictionary: summary.layers.map((l) => l.layer) },
      layer_index: Int32Array.from(cols.layer),
      channel: Int32Array.from(cols.channel),
      correlation: Float64Array.from(cols.correlation),
      correlation_channel: Float64Array.from(cols.correlation),
      precision: Float64Array.from(cols.precision),
      snr: Float64Array.from(cols.precision),
      mean_activation: Float64Array.from(cols.mean),
      eligible: cols.eligible,
      rank_correlation: nulls,
      rank_precision: nulls,
      selected_correlation: cols.selC,
      selected_precision: cols.selP,
      global_rank_correlation: nulls,
      global_rank_precision: nulls,
    },
    rows,
  );
}

/** The HTML of element `<tag ... id="id">` up to its closing tag (no same-tag nesting inside). */
function byId(html: string, tag: string, id: string): string {
  const m = new RegExp(`<${tag}[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</${tag}>`).exec(html);
  if (!m?.[1]) throw new Error(`no <${tag} id="${id}">`);
  return m[1];
}

/** The contents of the `<div class="selection ...">` table of `metric` ('corr' or 'prec') inside `html`. */
function selection(html: string, metric: 'corr' | 'prec'): string {
  const m = new RegExp(`<div class="selection ${metric}">([\\s\\S]*?)</table>`).exec(html);
  if (!m?.[1]) throw new Error(`no ${metric} selection table`);
  return m[1];
}

/** The embedded images, decoded: MIME type, format and pixel size. */
async function embeddedImages(html: string) {
  const uris = [...html.matchAll(/<img src="data:(image\/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)"/g)];
  return Promise.all(
    uris.map(async ([, mime, data]) => {
      const meta = await sharp(Buffer.from(data!, 'base64')).metadata();
      return { mime, format: meta.format, width: meta.width, height: meta.height };
    }),
  );
}

/** Checks that every non-void element is closed in order: the page is well formed. */
function expectBalanced(html: string): void {
  const voids = new Set(['meta', 'img', 'br', 'hr', 'link', 'input']);
  const stack: string[] = [];
  for (const [, close, name, selfClosing] of html
    .replace(/<!doctype html>/i, '')
    .matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const tag = name!.toLowerCase();
    // SVG elements may close themselves (`<rect .../>`).
    if (voids.has(tag) || selfClosing) continue;
    if (!close) stack.push(tag);
    else expect(stack.pop(), `closing </${tag}>`).toBe(tag);
  }
  expect(stack).toEqual([]);
}

describe('renderReport', () => {
  let imagePath: string;
  let summary: Summary;
  let html: string;

  beforeAll(async () => {
    // A 640x480 gradient: larger than the embedded maximum, so the downscale is exercised.
    const width = 640;
    const height = 480;
    const pixels = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) pixels.set([x % 256, y % 256, (x + y) % 256], (y * width + x) * 3);
    const png = await sharp(pixels, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    imagePath = join(await mkdtemp(join(tmpdir(), 'ns-report-')), 'gradient.png');
    await writeFile(imagePath, png);
    summary = makeSummary(sha256(png));
    html = await renderReport({ summary, imagePath });
  });

  it('renders every section, in the registry order, with a contents link: the overview open, the details closed', () => {
    expect(sections.map((s) => s.id)).toEqual([
      'overview',
      'depth',
      'findings',
      'faithfulness',
      'comparison',
      'neurons',
      'layers',
      'charts',
      'ablation',
      'settings',
      'definitions',
    ]);
    const positions = sections.map((s) =>
      html.indexOf(s.collapsed ? `<section id="${s.id}" class="detail"><details><summary>` : `<section id="${s.id}">`),
    );
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const s of sections) expect(html).toContain(`<a href="#${s.id}">`);
    expect(sections.filter((s) => s.collapsed).map((s) => s.id)).toEqual([
      'charts',
      'ablation',
      'settings',
      'definitions',
    ]);
    // Every layer is a closed <details>: its summary line first, the cards inside.
    for (const l of summary.layers)
      expect(html).toContain(`<details class="layer" id="layer-${l.layerIndex}"><summary>`);
    expect(html).not.toMatch(/<details[^>]* open/);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expectBalanced(html);
  });

  it('embeds the input image (at most 384 px) and the 224x224 model-input crop as data: URIs', async () => {
    const images = await embeddedImages(html);
    expect(images).toEqual([
      { mime: 'image/jpeg', format: 'jpeg', width: 384, height: 288 },
      { mime: 'image/jpeg', format: 'jpeg', width: 224, height: 224 },
    ]);
    expect(html.match(/<img /g)).toHaveLength(2);
  });

  it('keeps transparency as PNG, and draws a straight resize in greyscale', async () => {
    const rgba = await sharp({
      create: { width: 300, height: 100, channels: 4, background: { r: 200, g: 40, b: 40, alpha: 0.5 } },
    })
      .png()
      .toBuffer();
    const path = join(await mkdtemp(join(tmpdir(), 'ns-report-')), 'translucent.png');
    await writeFile(path, rgba);
    const s = structuredClone(summary);
    s.run.image.sha256 = sha256(rgba);
    s.run.preprocessing = { ...s.run.preprocessing, resizeShorter: null, size: [128, 160], grayscale: true };
    const out = await renderReport({ summary: s, imagePath: path });
    expect(await embeddedImages(out)).toEqual([
      { mime: 'image/png', format: 'png', width: 300, height: 100 },
      { mime: 'image/png', format: 'png', width: 160, height: 128 },
    ]);
    // sharp keeps sRGB output: greyscale shows as three identical colour channels.
    const crop = [...out.matchAll(/base64,([A-Za-z0-9+/=]+)"/g)][1]![1]!;
    const [r, g, b] = (await sharp(Buffer.from(crop, 'base64')).stats()).channels;
    expect(r!.mean).toBeCloseTo(g!.mean, 6);
    expect(r!.mean).toBeCloseTo(b!.mean, 6);
    expect(byId(out, 'section', 'overview')).toContain('What the network sees: resized to 160×128');
    expect(byId(out, 'section', 'settings')).toContain('resize to 160×128');
    expect(byId(out, 'section', 'settings')).toContain('NCHW, greyscale');
  });

  it('needs no network and runs no script but its own, allowed by its hash', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/(src|href)="\/\//i);
    expect(html).not.toMatch(/<link|@import|url\(/i);
    expect(html).toMatch(/src="data:image\//);
    // One inline script, the page's own; the policy allows exactly its SHA-256 (computed here independently).
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    expect(scripts).toEqual([SCRIPT]);
    expect(html.match(/<script/g)).toHaveLength(1);
    const digest = createHash('sha256').update(scripts[0]!).digest('base64');
    expect(scriptHash()).toBe(`'sha256-${digest}'`);
    expect(CONTENT_SECURITY_POLICY).toBe(
      `default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-${digest}'`,
    );
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">`);
    // The script fetches nothing and does not write HTML.
    expect(SCRIPT).not.toMatch(/fetch|XMLHttpRequest|import\(|innerHTML|eval|new Function|src\s*=|window\.open/);
  });

  it('is deterministic', async () => {
    expect(await renderReport({ summary, imagePath })).toBe(html);
    const neurons = makeNeurons(summary);
    expect(await renderReport({ summary, imagePath, neurons })).toBe(
      await renderReport({ summary, imagePath, neurons }),
    );
  });

  it('shows at a glance the target and its probability; the files with sha256 prefixes in the settings', () => {
    const overview = byId(html, 'section', 'overview');
    expect(overview).toContain('Explaining “Egyptian cat” (class 285), probability <strong>62.1%</strong>');
    // 91.2% of 512 copies keep the target.
    expect(overview).toContain('with 467 of 512 perturbed copies keeping it as the top-1');
    const settings = byId(html, 'section', 'settings');
    expect(settings).toContain('<code>squeezenet1_1.onnx</code> <span class="muted">sha256 c3f9c9665f1c…</span>');
    expect(settings).toContain('<code>cat.png</code>');
    expect(html).toContain('<title>Egyptian cat · cat.png · neuronscope</title>');
  });

  it('lists the top-5 predictions with bars, the target marked', () => {
    const table = /<table class="predictions">([\s\S]*?)<\/table>/.exec(byId(html, 'section', 'overview'))![1]!;
    expect(table.match(/<tr[ >]/g)).toHaveLength(5);
    expect(table).toContain(
      '<tr class="target"><td class="num">1</td><td>Egyptian cat <span class="tag">target</span> <span class="muted">285</span>',
    );
    expect(table).toContain(
      '<td class="num">62.1%</td><td class="bar-cell"><div class="bar"><span style="width:62.1%">',
    );
    expect(table).toContain('<td class="num">&lt;0.1%</td>');
  });

  it('shows the perturbation settings', () => {
    const settings = byId(html, 'section', 'settings');
    for (const text of [
      '<code>gaussian-noise</code>',
      '512 (copy 0 included)',
      '<dt>Seed</dt><dd>42</dd>',
      '<dt>sigma</dt><dd><code>0.1</code></dd>',
      '<dt>space</dt><dd><code>&quot;pixel&quot;</code></dd>',
      'resize shorter side to 256, centre crop 224×224',
      'subtract [0.485, 0.456, 0.406], divide by [0.229, 0.224, 0.225]; NCHW',
      '<code>prob</code>: softmax probability',
      '<summary>3</summary>',
      'top 5 channels per layer',
    ]) {
      expect(settings).toContain(text);
    }
  });

  it("says where N is shown what the paper family's schedule does with N, and lists the ties when auto stopped", async () => {
    const run = {
      ...summary.run,
      perturbation: { family: 'paper', samples: 51, seed: 0, params: { sigma: 0.1, normals: 'box-muller' } },
    };
    const stopping = {
      samples: 150,
      stable: true,
      agreement: 0.95,
      strictAgreement: 0.8,
      z: 1.96,
      layers: [
        {
          layer: 'conv1',
          correlation: { sure: [1, 2, 3, 4], ties: [5, 9] },
          precision: { sure: [1, 2, 3, 4, 5], ties: [] },
        },
      ],
    };
    const settings = byId(
      await renderReport({ summary: { ...summary, run, stopping }, imagePath }),
      'section',
      'settings',
    );
    expect(settings).toContain(
      "the noisiest copy's noise has std (N − 1)·σ = 5: in the paper's schedule a larger N adds",
    );
    expect(settings).toContain('stopped after 150 copies; half-sample agreement 0.95 counting ties (0.80 without)');
    expect(settings).toContain('<td>conv1</td><td>5, 9</td><td>—</td>');
    const fixed = { ...run, perturbation: { ...run.perturbation, params: { sigma: 0.1, maxScale: 3 } } };
    expect(
      byId(await renderReport({ summary: { ...summary, run: fixed }, imagePath }), 'section', 'settings'),
    ).toContain("the noisiest copy's noise has std maxScale·σ = 0.3 whatever N");
    expect(byId(html, 'section', 'settings')).not.toContain('noisiest copy');
  });

  it('states the findings in sentences computed from the numbers', () => {
    const findings = byId(html, 'section', 'findings');
    expect(findings).toContain("The network's top-1 class is “Egyptian cat” (class 285), with probability 62.1%.");
    expect(findings).toContain('91.2% keep the target as their top-1 class');
    expect(findings).toContain('0.5874 ± 0.0721 over the copies (from 0.3012 to 0.7795)');
    // 3 shared in layer 0, none in layer 1, 2 in layer 2: 5 of 15 + 10.
    expect(findings).toContain(
      'correlation selects 15 neurons and precision 10; 5 are selected by both: overlap 0.200',
    );
    expect(findings).toMatch(
      /agree most in <a href="#layer-0">.*\(Jaccard 0\.429\) and least in <a href="#layer-2">.*\(Jaccard 0\.250\)/,
    );
    expect(findings).toContain(
      'averages 0.064 across 2 layers (from -0.087 to 0.214): the two rankings are essentially unrelated',
    );
    expect(findings).toContain('239 of 336 channels (71.1%)');
    expect(findings).toMatch(/In 1 layer \(<a href="#layer-1">.*\) none is, so precision selects nothing there/);
    expect(findings).not.toContain('Caution');
  });

  it('warns when most copies lose the target', async () => {
    const weak = { ...summary, copiesKeepingTarget: 0.35 };
    expect(byId(await renderReport({ summary: weak, imagePath }), 'section', 'findings')).toContain(
      '<strong>Caution:</strong> fewer than half of the copies keep the target class',
    );
  });

  it('compares the selections in total and per layer', () => {
    const comparison = byId(html, 'section', 'comparison');
    expect(comparison).toContain(
      '<span class="key corr"></span>15 by correlation, <span class="key prec"></span>10 by precision, <span class="key both"></span>5 by both',
    );
    expect(comparison).toContain('Spearman\'s ρ 0.031 <span class="muted">(n = 239)</span>');
    expect(comparison).toContain('<td class="num">64×111×111</td><td class="num">41</td>');
    expect(comparison).toContain('<td class="num">— <span class="muted">(n = 0)</span></td>');
  });

  it('lists every selected channel in its layer, in rank order, shared channels highlighted', () => {
    for (const l of summary.layers) {
      const section = byId(html, 'details', `layer-${l.layerIndex}`);
      const shared = l.byCorrelation.filter((x) => l.byPrecision.some((y) => y.channel === x.channel)).length;
      for (const [metric, list] of [
        ['corr', l.byCorrelation],
        ['prec', l.byPrecision],
      ] as const) {
        const table = selection(section, metric);
        list.forEach((x, i) => {
          expect(table).toMatch(
            new RegExp(`<tr( class="both")?><td class="num">${i + 1}</td><td class="num">${x.channel}[ <]`),
          );
        });
        expect(table.match(/<tr class="both">/g) ?? []).toHaveLength(shared);
        expect(table.match(/<tbody><tr/g)).toHaveLength(1);
      }
      expect(section).toContain(`${l.channels} channels × ${l.height}×${l.width} units`);
    }
    expect(byId(html, 'details', 'layer-1')).toContain('no channel selected');
  });

  it('formats the values: 3-decimal correlations, precision of any size, dashes for null, daggers for ineligible', async () => {
    const layer0 = byId(html, 'details', 'layer-0');
    // Channel 5: correlation 0.347, precision null, mean activation 0.03 (< 0.1: ineligible).
    expect(layer0).toContain(
      '<td class="num">5</td><td class="num">0.347</td><td class="num inel" title="mean activation below 0.1: not eligible for precision">—&nbsp;†</td><td class="num">0.03</td>',
    );
    expect(layer0).toContain('<td class="num">0.412</td><td class="num">35.2</td><td class="num">0.83</td>');
    const layer2 = byId(html, 'details', 'layer-2');
    expect(layer2).toContain('<td class="num">0.021</td><td class="num">2.40e7</td>');
    expect(layer2).toContain('<td class="num">0.0184</td>');

    // summary.json cannot hold Infinity, but a summary built in memory by the stats stage can.
    const infinite = structuredClone(summary);
    infinite.layers[2]!.byPrecision[0]!.precision = Number.POSITIVE_INFINITY;
    const html2 = await renderReport({ summary: infinite, imagePath });
    expect(selection(byId(html2, 'details', 'layer-2'), 'prec')).toContain(
      '<td class="num">130</td><td class="num">0.021</td><td class="num">∞</td>',
    );
  });

  it('adds per-layer statistics from the neurons table', async () => {
    const withNeurons = await renderReport({ summary, imagePath, neurons: makeNeurons(summary) });
    const layer0 = byId(withNeurons, 'details', 'layer-0');
    expect(layer0).toContain('defined for 63 of 64');
    expect(layer0).toContain('1 constant over the copies (precision ∞)');
    expect(layer0).not.toContain('Warning');
    expect(byId(withNeurons, 'details', 'layer-1')).toContain('0 constant over the copies');
    expect(html).not.toContain('All channels, correlation');

    // A neurons table that does not match the summary is pointed out.
    const other = structuredClone(summary);
    other.layers[0]!.eligible = 40;
    const mismatch = await renderReport({ summary: other, imagePath, neurons: makeNeurons(summary) });
    expect(byId(mismatch, 'details', 'layer-0')).toContain(
      'the neurons table has 41 eligible channels, the summary 40: are they from the same run?',
    );
  });

  it('escapes every text that comes from the model or the user', async () => {
    const evil = structuredClone(summary);
    evil.tool = EVIL;
    evil.target.label = EVIL;
    for (const p of evil.predictions) p.label = EVIL;
    evil.run.model.path = `/m/${EVIL_NAME}`;
    evil.run.image.path = `/i/${EVIL_NAME}`;
    evil.run.labels = { path: `/l/${EVIL_NAME}`, sha256: EVIL };
    evil.run.perturbation.family = EVIL;
    evil.run.perturbation.params = { [EVIL]: EVIL };
    evil.run.layers = evil.run.layers.map((l) => ({ ...l, layer: EVIL, op: EVIL }));
    evil.layers = evil.layers.map((l) => ({ ...l, layer: EVIL }));
    evil.definitions = { [EVIL]: EVIL };
    const out = await renderReport({ summary: evil, imagePath });
    expect(out.match(/<script/g)).toHaveLength(1); // the page's own
    expect(out).not.toContain(EVIL);
    expect(out).not.toContain(EVIL_NAME);
    expect(out).not.toContain('<b>');
    expect(out).not.toMatch(/"'/);
    expect(out).toContain(`<title>${EVIL_ESCAPED} · ${EVIL_NAME_ESCAPED} · neuronscope</title>`);
    expect(out).toContain(`<td>${EVIL_ESCAPED} <span class="tag">target</span> <span class="muted">285</span></td>`);
    expect(out).toContain(`alt="input image ${EVIL_NAME_ESCAPED}"`);
    expect(out).toContain(`<code>${EVIL_NAME_ESCAPED}</code> <span class="muted">sha256 c3f9c9665f1c…</span>`);
    expect(out.split(EVIL_ESCAPED).length).toBeGreaterThan(20);
    expectBalanced(out);
  });

  it('refuses an image that is not the one the summary explains, or is missing', async () => {
    const other = join(await mkdtemp(join(tmpdir(), 'ns-report-')), 'other.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .png()
      .toFile(other);
    await expect(renderReport({ summary, imagePath: other })).rejects.toThrow(UserError);
    await expect(renderReport({ summary, imagePath: other })).rejects.toThrow(/is not the image this summary explains/);
    await expect(renderReport({ summary, imagePath: `${other}.missing` })).rejects.toThrow(/image not found/);
  });

  it('renders a real photo (../shared/images/cat.png)', requires('shared'), async () => {
    const { readFile } = await import('node:fs/promises');
    const real = makeSummary(sha256(await readFile(SHARED_CAT)));
    const out = await renderReport({ summary: real, imagePath: SHARED_CAT, neurons: makeNeurons(real) });
    const images = await embeddedImages(out);
    expect(images).toEqual([
      { mime: 'image/jpeg', format: 'jpeg', width: 384, height: 256 },
      { mime: 'image/jpeg', format: 'jpeg', width: 224, height: 224 },
    ]);
    // Small enough to mail: the JPEGs (thumbnail, crop, and the photo the boxes are drawn on), the charts, the text.
    expect(out.length).toBeLessThan(400_000);
    expect(out).not.toMatch(/https?:\/\//);
  });
});
