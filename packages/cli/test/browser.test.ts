/**
 * End to end: a real report (the embedded default model on one of its samples, through the built CLI) opened in
 * headless Chromium, as a reader would: every section rendered, no console error, no request but the file itself
 * and data: URIs, nothing wider than a phone's screen; screenshots at 1280 and 390 px are saved to out/browser/.
 */
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Summary, tensorDims } from '@neuronscope/core';
import { gatherVisual, readRun } from '@neuronscope/engine';
import { createSession, loadImage, loadModel, withExtraOutputs } from '@neuronscope/model';
import * as ort from 'onnxruntime-node';
import { type Browser, chromium } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, requires } from '../../../test/support/env.js';
import { cli, DEFAULT_MODEL, sample } from './helpers.js';

const IMAGE = sample('9-ankle-boot.png');
const SCREENSHOTS = fileURLToPath(new URL('../../../out/browser/', import.meta.url));

/** Every section of the report, in page order. */
const SECTIONS = [
  'header',
  'findings',
  'predictions',
  'where',
  'charts',
  'settings',
  'comparison',
  'ablation',
  'layers',
  'definitions',
];

/** Neurons selected by either metric, counted once per layer. */
const selectedNeurons = (summary: Summary) =>
  summary.layers.reduce((n, l) => n + new Set([...l.byCorrelation, ...l.byPrecision].map((x) => x.channel)).size, 0);

describe('the report of the default model in Chromium', requires('chromium'), () => {
  let dir: string;
  let figures: string;
  let summary: Summary;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-browser-'));
    figures = join(dir, 'figures');
    const r = cli([
      'explain',
      '--image',
      IMAGE,
      '--samples',
      '16',
      '--seed',
      '1',
      '--masks',
      '160',
      '--figures',
      figures,
      '--no-cache',
      '--json',
      '--out',
      dir,
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    summary = JSON.parse(r.stdout) as Summary;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it.each([1280, 390])('renders every section at %i px, with no console error and no request', async (width) => {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(join(dir, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });

    for (const id of SECTIONS) {
      const box = await page.locator(`section#${id}`).boundingBox();
      expect(box, id).not.toBeNull();
      expect(box!.height, id).toBeGreaterThan(40);
    }
    for (const l of summary.layers) expect(await page.locator(`#layer-${l.layerIndex}`).isVisible()).toBe(true);
    // Pictures and charts are drawn, not empty boxes; the shared photo is used by the overlays.
    const sizes = await page.evaluate(() => {
      const rect = (s: string) => [...document.querySelectorAll(s)].map((e) => e.getBoundingClientRect().width);
      return {
        overlays: rect('svg.overlay'),
        charts: rect('svg.chart'),
        heat: rect('svg.heat'),
        titles: document.querySelectorAll('svg.chart title').length,
        photo: (document.getElementById('ns-photo') as SVGImageElement | null)?.href.baseVal.startsWith('data:image/'),
        scrollWidth: document.documentElement.scrollWidth,
      };
    });
    expect(sizes.photo).toBe(true);
    expect(sizes.overlays.length).toBeGreaterThanOrEqual(2 + summary.layers.length);
    expect(Math.min(...sizes.overlays)).toBeGreaterThan(150);
    expect(sizes.charts).toHaveLength(5);
    expect(Math.min(...sizes.charts)).toBeGreaterThan(300);
    // A heat map per selected neuron and for the model's output; a tooltip per channel in the scatter at least.
    expect(sizes.heat.length).toBeGreaterThanOrEqual(selectedNeurons(summary) + 1);
    expect(sizes.titles).toBeGreaterThanOrEqual(summary.layers.reduce((n, l) => n + l.channels, 0));
    // Nothing forces a phone to scroll sideways (wide tables scroll inside their own wrapper).
    expect(sizes.scrollWidth).toBeLessThanOrEqual(width);

    expect(errors).toEqual([]);
    expect(requests.filter((u) => u !== url && !u.startsWith('data:'))).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, `report-${width}.png`), fullPage: false });
    await page.locator('section#where').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOTS, `report-${width}-where.png`) });
    await page.close();
  });

  it('draws each box at the unit of highest activation on the clean image, inside the photo', async () => {
    const run = await readRun(dir);
    const visual = await gatherVisual(dir, run.id, run.summary, run.metrics, run.outputs);
    const boxes = visual.boxes ?? [];
    expect(boxes).toHaveLength(selectedNeurons(summary));
    // Independently: run the clean image and take the argmax of each selected channel.
    const model = await loadModel(DEFAULT_MODEL);
    const layers = [...new Set(boxes.map((b) => b.layer))];
    const session = await createSession(withExtraOutputs(model.bytes, layers));
    const input = (await loadImage(IMAGE, summary.run.preprocessing)).tensor;
    const out = await session.run({ input: new ort.Tensor('float32', input.data, tensorDims(input)) }, layers);
    await session.release();
    const { width: W, height: H } = summary.run.image;
    for (const b of boxes) {
      const t = out[b.layer]!;
      const [, , h, w] = t.dims as number[];
      const plane = (t.data as Float32Array).subarray(b.channel * h! * w!, (b.channel + 1) * h! * w!);
      let best = 0;
      for (let u = 1; u < plane.length; u++) if (plane[u]! > plane[best]!) best = u;
      expect([b.unit.y, b.unit.x], `${b.layer} channel ${b.channel}`).toEqual([Math.floor(best / w!), best % w!]);
      expect(b.activation).toBeCloseTo(plane[best]!, 4);
      const r = b.imageRect;
      expect(r.x).toBeGreaterThanOrEqual(0);
      expect(r.y).toBeGreaterThanOrEqual(0);
      expect(r.x + r.width).toBeLessThanOrEqual(W + 1e-9);
      expect(r.y + r.height).toBeLessThanOrEqual(H + 1e-9);
    }
  });

  it('writes the figures as SVG and PNG', async () => {
    const files = await readdir(figures);
    for (const name of ['scatter', 'overlap', 'counts', 'output', 'stability', 'boxes-correlation', 'rise']) {
      expect(files).toContain(`${name}.svg`);
      expect(files).toContain(`${name}.png`);
    }
    const png = await sharp(await readFile(join(figures, 'boxes-correlation.png'))).metadata();
    expect(png.width).toBeGreaterThan(1000);
    expect(files.filter((f) => f.endsWith('.svg')).length).toBe(files.filter((f) => f.endsWith('.png')).length);
  });
});
