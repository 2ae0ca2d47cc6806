#!/usr/bin/env node
/**
 * The README's screenshots, from real runs, with Debian's Chromium (playwright-core) and sharp:
 *
 *   node tools/screenshots/take.mjs <report.html> <sweep dir of the sweep report> <sweep dir of the atlas> <out dir>
 *
 * writes report-overview.png and report-phone.png (the top of the per-image report at 1280 and 390 px),
 * report-card.png (the cards of the report's deepest layer, opened as a click on its neuron would),
 * sweep-report.png and atlas.png (the first entry of the middle layer), each a palette PNG under 300 KB.
 * The pages are opened from file:// and must request nothing else (the script fails if they do).
 */
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const sharp = require('sharp');
const LIMIT = 300 * 1024;

const [report, sweep, atlasSweep, out] = process.argv.slice(2).map((p) => p && resolve(p));
if (!report || !sweep || !atlasSweep || !out) {
  console.error('usage: take.mjs <report.html> <sweep dir> <sweep dir of the atlas> <out dir>');
  process.exit(2);
}

/** A palette PNG of the screenshot, scaled down until it is under the limit. */
async function save(buffer, name) {
  const meta = await sharp(buffer).metadata();
  for (let scale = 1; scale > 0.3; scale -= 0.1) {
    const png = await sharp(buffer)
      .resize(Math.round(meta.width * scale))
      .png({ palette: true, quality: 80, effort: 10, compressionLevel: 9 })
      .toBuffer();
    if (png.length <= LIMIT) {
      await writeFile(join(out, name), png);
      console.log(`${name}: ${Math.round(meta.width * scale)} px wide, ${(png.length / 1024).toFixed(0)} KB`);
      return;
    }
  }
  throw new Error(`${name} stays above ${LIMIT} bytes`);
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
async function page(file, width, height = 900) {
  const p = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
  const url = pathToFileURL(file).href;
  const requests = [];
  p.on('request', (r) => requests.push(r.url()));
  await p.goto(url, { waitUntil: 'load' });
  p.checkRequests = () => {
    const foreign = requests.filter((u) => !u.startsWith(url.split('#')[0]) && !u.startsWith('data:'));
    if (foreign.length) throw new Error(`${file} requested ${foreign.join(', ')}`);
  };
  return p;
}

try {
  const wide = await page(report, 1280, 1000);
  await save(await wide.screenshot(), 'report-overview.png');
  const last = await wide.$$eval('details.layer', (ds) => ds.at(-1).id);
  const card = await wide.$eval(`#${last} article.card`, (a) => a.id);
  await wide.evaluate((id) => {
    location.hash = id;
  }, card);
  await wide.waitForTimeout(300);
  await save(await wide.screenshot(), 'report-card.png');
  wide.checkRequests();
  const phone = await page(report, 390, 844);
  await save(await phone.screenshot(), 'report-phone.png');
  phone.checkRequests();
  const sweepPage = await page(join(sweep, 'sweep', 'report.html'), 1280, 1000);
  await save(await sweepPage.screenshot(), 'sweep-report.png');
  sweepPage.checkRequests();
  const atlas = await page(join(atlasSweep, 'sweep', 'atlas.html'), 1280, 1000);
  const entry = await atlas.$$eval(
    'details.layer',
    (ds) => ds[Math.floor(ds.length / 2)].querySelector('article.entry').id,
  );
  await atlas.evaluate((id) => {
    location.hash = id;
  }, entry);
  await atlas.waitForTimeout(300);
  await save(await atlas.screenshot(), 'atlas.png');
  atlas.checkRequests();
} finally {
  await browser.close();
}
