import { createHash } from 'node:crypto';
import { COLORS, renderSweepPage, SCRIPT, type SweepImage, type SweepPageInput, thumbnail } from '@neuronscope/report';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAYERS, neurons, row } from '../test/aggregate.js';
import { Aggregator, type ImageRow } from './index.js';

const EVIL = `<script>alert(1)</script>"'&`;
const EVIL_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;';

/** Two classes, four analysed images (see aggregate.test.ts) and a failed one, through the Aggregator. */
function aggregate(labels: string[], layerNames: string[], minSupport: number) {
  const layers = LAYERS.map((l, k) => ({ ...l, layer: layerNames[k]! }));
  const aggregator = new Aggregator(labels, 50, minSupport);
  const rows = [row('a', 0, 0), row('b', 0, 0), row('c', 1, 1), row('d', 1, 0)];
  const selections: [number[], number[], number[]][] = [
    [[0.9, 0.1, 0.5], [0], [1, 2]],
    [[0.8, 0.3, 0.5], [0, 2], [1]],
    [[0.2, 0.4, 0.5], [1], [0]],
    [[0.3, 0.2, 0.5], [0], []],
  ];
  rows.forEach((r, i) => {
    const [clean, corr, prec] = selections[i]!;
    aggregator.add(r, neurons(r.image, clean, corr, prec, layers));
  });
  const failed: ImageRow = { ...row(`x${EVIL}.png`, 0, 0, 'failed'), error: `failed: ${EVIL}` };
  aggregator.add(failed, null);
  return aggregator.result();
}

let pictures: SweepImage['picture'][];

/** The page input of the example: two thumbnails, the atlas when given. */
function input(
  opts: { labels?: string[]; layers?: string[]; minSupport?: number; atlas?: boolean } = {},
): SweepPageInput {
  const a = aggregate(opts.labels ?? ['cat', 'dog'], opts.layers ?? ['A', 'B'], opts.minSupport ?? 2);
  const image = (index: number, name: string, correct: boolean): SweepImage => ({
    index,
    name,
    label: 'cat',
    prediction: correct ? 'cat' : 'dog',
    probability: 0.9,
    correct,
    href: `images/${name}`,
    picture: pictures[index]!,
    target: 'cat',
    targetProbability: 0.9,
    copiesKeepingTarget: 1,
    selected: [{ layer: 'B', layerIndex: 3, correlation: [0], precision: [] }],
  });
  return {
    model: { name: `${EVIL}.onnx`, sha256: 'ab'.repeat(32) },
    settings: 'paper perturbation, N = 8',
    counts: a.counts,
    rows: a.rows,
    classes: a.classes,
    topSelective: a.topSelective,
    minSupport: a.minSupport,
    images: [image(0, `a${EVIL}.png`, true), image(1, 'd.png', false)],
    failed: [{ name: `x${EVIL}.png`, status: 'failed', error: `failed: ${EVIL}` }],
    atlas: opts.atlas ? { href: 'atlas.html', neurons: new Set(['0:0', '3:0']) } : null,
    channelNames: new Map(),
  };
}

describe('the sweep report', () => {
  beforeAll(async () => {
    const png = (v: number) =>
      sharp({ create: { width: 28, height: 28, channels: 3, background: { r: v, g: v, b: v } } })
        .png()
        .toBuffer();
    pictures = await Promise.all([thumbnail(await png(40), 128), thumbnail(await png(200), 128)]);
  });

  it('escapes every text that comes from the model, the labels, the layers, the images or an error', async () => {
    const html = await renderSweepPage(input({ labels: [`${EVIL}cat`, 'dog'], layers: [`${EVIL}A`, 'B'] }));
    expect(html.match(/<script/g)).toHaveLength(1); // the page's own
    expect(html).not.toMatch(/<[^>]*\sonerror=/);
    expect(html).not.toContain(EVIL);
    expect(html).toContain(`<code>${EVIL_ESCAPED}.onnx</code>`);
    expect(html).toContain(`<td>0 <code>${EVIL_ESCAPED}A</code></td>`);
    expect(html).toContain(`<td>${EVIL_ESCAPED}cat</td>`);
    expect(html).toContain(`<strong>a${EVIL_ESCAPED}.png</strong>`);
    expect(html).toContain(`failed: ${EVIL_ESCAPED}</td>`);
  });

  it('is one file that requests nothing, with the per-image report’s style, policy and script', async () => {
    const html = await renderSweepPage(input());
    expect(html).not.toMatch(/https?:\/\/|<link|@import|url\(/i);
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(script).toBe(SCRIPT);
    const digest = createHash('sha256').update(script).digest('base64');
    expect(html).toContain(`script-src 'sha256-${digest}'`);
    expect(html).toContain('th.corr{background:var(--corr)');
  });

  it('draws correlation and precision in the per-image report colours', async () => {
    const html = await renderSweepPage(input());
    const chart = /<figure class="chartfig" id="chart-forest">([\s\S]*?)<\/figure>/.exec(html)![1]!;
    // Each row's interval and mean, per metric, in its colour; the per-image report's Okabe-Ito pair.
    expect(COLORS.correlation).toBe('#0072B2');
    expect(COLORS.precision).toBe('#E69F00');
    expect(chart).toContain(`fill="${COLORS.correlation}"`);
    expect(chart).toContain(`fill="${COLORS.precision}"`);
    expect(chart).toMatch(/<title>L0 A, by correlation: 0\.\d{3} \[/);
    expect(chart).toMatch(/<title>all layers \(all\), by precision: 0\.\d{3} \[/);
    expect(html).toContain('<th class="num corr">by correlation</th>');
    expect(html).toContain('<th class="num prec">by precision</th>');
  });

  it('states the answer from the interval of the difference, and the counts', async () => {
    const html = await renderSweepPage(input());
    // Over all layers the per-image differences are -0.625, -0.5 and -0.75: the interval lies below 0.
    expect(html).toContain('precision-selected neurons are <b>less</b> class-selective');
    expect(html).toContain('Sweep: 5 images');
    expect(html).toContain('Analysed 4, errors 0, failed 1.');
    expect(html).toContain('Top-1 accuracy on the 4 labelled images: 75.0%.');
    expect(html).toContain('<h2>Images not analysed (1)</h2>');
  });

  it('ranks neurons per class only for classes with the minimum support, the others folded', async () => {
    const supported = await renderSweepPage(input({ minSupport: 2 }));
    const classes = /<section id="classes">([\s\S]*?)<\/section>/.exec(supported)![1]!;
    // cat: correlation selects 0:0 in both its images and in one of dog's; 3:0 in one of cat's, none of dog's.
    expect(classes).toContain(
      '<td>cat</td><td class="num">2</td><td class="wrap"><span title="layer 0 A, channel 0">0:0</span> <span class="muted">100.0% vs 50.0%</span>',
    );
    expect(classes).not.toContain('too few to rank');
    const strict = await renderSweepPage(input({ minSupport: 3 }));
    const folded = /<section id="classes">([\s\S]*?)<\/section>/.exec(strict)![1]!;
    expect(folded).toContain('No class has 3 images.');
    expect(folded).toContain('<summary>2 classes with fewer than 3 images (too few to rank)</summary>');
    expect(strict).toContain('No class has at least 3 images and 3 others: no selectivity is ranked.');
  });

  it('shows every image as a thumbnail linking to its results, and neurons linking to the atlas', async () => {
    const html = await renderSweepPage(input({ atlas: true }));
    expect(html).toContain('<a href="#img-0" title=');
    expect(html).toContain('<a href="#img-1" class="wrong"');
    expect(html).toContain('<div class="image-entry" id="img-1">');
    expect(html).toContain('<a href="images/d.png">open the file</a>');
    // The pictures once, referred to by every thumbnail.
    expect(html.match(/<image id="pic-0"/g)).toHaveLength(1);
    expect(html.match(/<use href="#pic-0"\/>/g)!.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain('<a href="atlas.html#n-3-0" title="layer 3 B, channel 0">3:0</a>');
    expect(html).toContain('The <a href="atlas.html">atlas</a>');
    const without = await renderSweepPage(input());
    expect(without).not.toContain('atlas.html#');
    expect(without).toContain('No atlas yet');
  });
});
