/**
 * End to end: a real report (the embedded default model on one of its samples, through the built CLI) opened in
 * headless Chromium, as a reader would: every section rendered, no console error, no request but the file itself
 * and data: URIs, nothing wider than a phone's screen, the overview a few screens tall; the page's interactions
 * (filter and sort the neuron table, open a neuron's card by a click or the keyboard, open all layers); and the
 * sweep report and atlas of a sweep of the ten samples, linked from the report. Screenshots at 1280 and 390 px
 * are saved to out/browser/.
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
];
/** The closed detail sections: only their heading line shows until opened. */
const DETAILS = ['charts', 'ablation', 'settings', 'definitions'];
/** The overview and the closed sections fit in this many 900-px screens at 1280 px. */
const MAX_SCREENS = 8;

/** Neurons selected by either metric, counted once per layer. */
const selectedNeurons = (summary: Summary) =>
  summary.layers.reduce((n, l) => n + new Set([...l.byCorrelation, ...l.byPrecision].map((x) => x.channel)).size, 0);

describe('the report of the default model in Chromium', requires('chromium'), () => {
  let dir: string;
  let figures: string;
  let summary: Summary;
  let browser: Browser;
  let sweep: string;

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
      '--ablate',
      '--ablate-random',
      '10',
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
    // A sweep of the ten samples with the same settings, its atlas, and the report again, linked to the atlas.
    sweep = join(dir, 'sweep-out');
    const s = cli([
      'sweep',
      '--source',
      join(DEFAULT_MODEL, '..', 'images'),
      '-n',
      '16',
      '--seed',
      '1',
      '-q',
      '--out',
      sweep,
    ]);
    expect(s.status).toBe(0);
    expect(cli(['atlas', '--out', sweep, '-q']).status).toBe(0);
    expect(cli(['report', '--out', dir, '--atlas', sweep, '-q']).status).toBe(0);
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

  /** Opens a page, collecting its console errors and requests. */
  async function open(file: string, width: number) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: 'load' });
    const foreign = () =>
      requests.filter((u) => u !== url && !u.split('#')[0]!.startsWith(url.split('#')[0]!) && !u.startsWith('data:'));
    return { page, errors, foreign, url };
  }

  it.each([1280, 390])('renders every section at %i px, with no console error and no request', async (width) => {
    const { page, errors, foreign } = await open(join(dir, 'report.html'), width);
    for (const id of SECTIONS) {
      const box = await page.locator(`section#${id}`).boundingBox();
      expect(box, id).not.toBeNull();
      expect(box!.height, id).toBeGreaterThan(DETAILS.includes(id) ? 20 : 40);
    }
    for (const l of summary.layers)
      expect(await page.locator(`#layer-${l.layerIndex} > summary`).isVisible()).toBe(true);
    // Pictures and charts are drawn, not empty boxes; the shared photo is used by the overlays.
    const sizes = await page.evaluate(() => {
      // What shows: the content of a closed <details> keeps a layout box in Chromium, but is not visible.
      const rect = (s: string) =>
        [...document.querySelectorAll(s)]
          .filter((e) => e.checkVisibility())
          .map((e) => e.getBoundingClientRect().width);
      return {
        overlays: rect('svg.overlay'),
        charts: rect('svg.chart'),
        tiles: rect('a.tile'),
        photo: (document.getElementById('ns-photo') as SVGImageElement | null)?.href.baseVal.startsWith('data:image/'),
        scrollWidth: document.documentElement.scrollWidth,
        height: document.documentElement.scrollHeight,
      };
    });
    expect(sizes.photo).toBe(true);
    // The paper's figure: two boxes figures and a tile per selected neuron and metric, all drawn.
    expect(sizes.overlays.length).toBe(2);
    expect(Math.min(...sizes.overlays)).toBeGreaterThan(150);
    const perMetric = summary.layers.reduce((n, l) => n + l.byCorrelation.length + l.byPrecision.length, 0);
    expect(sizes.tiles).toHaveLength(perMetric);
    // Open: faithfulness, overlap and scatter; the other charts are in a closed section.
    expect(sizes.charts).toHaveLength(3);
    expect(Math.min(...sizes.charts)).toBeGreaterThan(280);
    expect(sizes.scrollWidth).toBeLessThanOrEqual(width);
    if (width === 1280) expect(sizes.height).toBeLessThanOrEqual(MAX_SCREENS * 900);
    expect(errors).toEqual([]);
    expect(foreign()).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, `report-${width}.png`), fullPage: false });
    // Everything opened, the page is long but still requests nothing and stays within the screen's width.
    await page.evaluate(() => {
      for (const d of document.querySelectorAll('details')) d.open = true;
    });
    const opened = await page.evaluate(() => ({
      heat: [...document.querySelectorAll('svg.heat')].filter((e) => e.checkVisibility()).length,
      titles: document.querySelectorAll('svg.chart title').length,
      scrollWidth: document.documentElement.scrollWidth,
    }));
    // A heat map per selected neuron and for the output at a glance; a tooltip per channel in the scatter at least.
    expect(opened.heat).toBeGreaterThanOrEqual(selectedNeurons(summary) + 1);
    expect(opened.titles).toBeGreaterThanOrEqual(summary.layers.reduce((n, l) => n + l.channels, 0));
    expect(opened.scrollWidth).toBeLessThanOrEqual(width);
    expect(foreign()).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('filters and sorts the neuron table, and a row opens its neuron’s card in its closed layer', async () => {
    const { page, errors, foreign } = await open(join(dir, 'report.html'), 1280);
    const rows = page.locator('#neuron-table tbody tr');
    const visible = () => page.locator('#neuron-table tbody tr:not([hidden])');
    expect(await page.locator('#neuron-controls').isVisible()).toBe(true);
    expect(await rows.count()).toBe(selectedNeurons(summary));
    // By layer, then by metric.
    const layer = summary.layers[2]!;
    await page.selectOption('#filter-layer', String(layer.layerIndex));
    const inLayer = new Set([...layer.byCorrelation, ...layer.byPrecision].map((n) => n.channel)).size;
    expect(await visible().count()).toBe(inLayer);
    await page.selectOption('#filter-set', 'precision');
    expect(await visible().count()).toBe(layer.byPrecision.length);
    expect(await page.locator('#filter-count').textContent()).toBe(
      `${layer.byPrecision.length} of ${await rows.count()} neurons`,
    );
    await page.selectOption('#filter-layer', '');
    await page.selectOption('#filter-set', '');
    // Sorting by correlation: ascending, then descending, as the cells' values say.
    const button = page.locator('#neuron-table th', { hasText: /^correlation$/ }).locator('button');
    const values = () =>
      page.$$eval('#neuron-table tbody tr', (trs) =>
        trs.map((tr) => Number((tr as HTMLTableRowElement).cells[4]!.dataset.v)),
      );
    await button.click();
    const up = await values();
    expect(up).toEqual([...up].sort((a, b) => a - b));
    await button.click();
    const down = await values();
    expect(down).toEqual([...down].sort((a, b) => b - a));
    // A click on a row (not its link) opens the card: hash, its layer's details, the card in view and focused.
    const row = page.locator('#neuron-table tbody tr').first();
    const target = await row.getAttribute('data-href');
    await row.locator('td').nth(3).click();
    await page.waitForFunction((id) => location.hash === `#${id}`, target);
    const card = page.locator(`#${target}`);
    expect(await card.isVisible()).toBe(true);
    expect(await card.evaluate((el) => el.closest('details')!.open)).toBe(true);
    expect(await card.evaluate((el) => document.activeElement === el)).toBe(true);
    const box = await card.boundingBox();
    expect(box!.y).toBeGreaterThanOrEqual(-1);
    expect(box!.y).toBeLessThan(900);
    await page.screenshot({ path: join(SCREENSHOTS, 'report-card.png') });
    expect(errors).toEqual([]);
    expect(foreign()).toEqual([]);
    await page.close();
  });

  it('is keyboard-accessible: a patch of the figure opens its card, the layers open and close at once', async () => {
    const { page, errors } = await open(join(dir, 'report.html'), 390);
    const tile = page.locator('a.tile').nth(3);
    const target = (await tile.getAttribute('href'))!.slice(1);
    await tile.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((id) => location.hash === `#${id}`, target);
    expect(await page.locator(`#${target}`).isVisible()).toBe(true);
    // Open all, close all: buttons shown by the script, reachable by Tab, pressed with Enter.
    const openAll = page.locator('button[data-open="1"]');
    expect(await openAll.isVisible()).toBe(true);
    await openAll.focus();
    await page.keyboard.press('Enter');
    expect(await page.$$eval('details.layer', (ds) => ds.every((d) => (d as HTMLDetailsElement).open))).toBe(true);
    await page.locator('button[data-open="0"]').focus();
    await page.keyboard.press('Enter');
    expect(await page.$$eval('details.layer', (ds) => ds.some((d) => (d as HTMLDetailsElement).open))).toBe(false);
    // A layer's summary line toggles with the keyboard as any <details>.
    await page.locator('#layer-0 > summary').focus();
    await page.keyboard.press('Enter');
    expect(await page.$eval('#layer-0', (d) => (d as HTMLDetailsElement).open)).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('links a neuron’s card to its atlas entry, which the atlas opens; the sweep report requests nothing either', async () => {
    const { page, errors, foreign } = await open(join(dir, 'report.html'), 1280);
    const link = page.locator('.atlas-link a').first();
    expect(await link.count()).toBe(1);
    const href = (await link.getAttribute('href'))!;
    expect(href).toMatch(/sweep\/atlas\.html#n-\d+-\d+$/);
    await page.close();
    for (const width of [1280, 390]) {
      const atlas = await open(join(dir, href.split('#')[0]!), width);
      const anchor = href.split('#')[1]!;
      await atlas.page.evaluate((id) => {
        location.hash = id;
      }, anchor);
      await atlas.page.waitForFunction((id) => location.hash === `#${id}`, anchor);
      const entry = atlas.page.locator(`#${anchor}`);
      expect(await entry.isVisible()).toBe(true);
      expect(await entry.locator('.strip svg.patch').count()).toBeGreaterThan(0);
      expect(await atlas.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await atlas.page.screenshot({ path: join(SCREENSHOTS, `atlas-${width}.png`) });
      expect(atlas.errors).toEqual([]);
      expect(atlas.foreign()).toEqual([]);
      await atlas.page.close();
      const report = await open(join(sweep, 'sweep', 'report.html'), width);
      expect(await report.page.locator('svg.chart').count()).toBe(1);
      expect(await report.page.locator('.thumbs a').count()).toBe(10);
      expect(await report.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await report.page.screenshot({ path: join(SCREENSHOTS, `sweep-${width}.png`) });
      expect(report.errors).toEqual([]);
      expect(report.foreign()).toEqual([]);
      await report.page.close();
    }
    expect(errors).toEqual([]);
    expect(foreign()).toEqual([]);
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
    for (const name of [
      'scatter',
      'overlap',
      'counts',
      'output',
      'stability',
      'faithfulness',
      'boxes-correlation',
      'depth-correlation',
      'rise',
    ]) {
      expect(files).toContain(`${name}.svg`);
      expect(files).toContain(`${name}.png`);
    }
    const png = await sharp(await readFile(join(figures, 'boxes-correlation.png'))).metadata();
    expect(png.width).toBeGreaterThan(1000);
    expect(files.filter((f) => f.endsWith('.svg')).length).toBe(files.filter((f) => f.endsWith('.png')).length);
  });
});
