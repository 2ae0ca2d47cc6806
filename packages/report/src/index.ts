/**
 * `@neuronscope/report`: the self-contained `report.html` of one explanation. The page needs no network and
 * no script: CSS and images are inline, and a Content-Security-Policy forbids fetching anything else.
 */
import { readFile } from 'node:fs/promises';
import { type Summary, sha256, UserError } from '@neuronscope/core';
import { layerView, type ReportContext } from './context.js';
import { embedImages } from './images.js';
import { type NeuronsTable, neuronStatsByLayer } from './neurons.js';
import { renderPage } from './page.js';
import { sections } from './sections/index.js';

export type { LayerView, ReportContext, ReportSection } from './context.js';
export { escapeHtml } from './html.js';
export type { NeuronsTable } from './neurons.js';
export { sections } from './sections/index.js';

/** What a report is made of. */
export interface ReportInput {
  /** The run's `summary.json`, parsed (and validated with `SummarySchema`) by the caller. */
  summary: Summary;
  /** The input image file; its SHA-256 must equal `summary.run.image.sha256`. */
  imagePath: string;
  /**
   * The run's `neurons.parquet` table (`neuronsSchema`), optional: adds, per layer, statistics over all
   * channels (how many have a defined correlation, medians, constant channels) around the selected ones.
   */
  neurons?: NeuronsTable;
}

async function readImage(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`image not found: ${path}`);
    throw err;
  }
}

/**
 * Renders the report of one run as one self-contained HTML document and returns its text. Deterministic: the
 * same inputs give the same text (no date, no random ids), so it can be compared in tests and diffs.
 *
 * @throws {UserError} when the image is missing or is not the image the summary is about.
 */
export async function renderReport(input: ReportInput): Promise<string> {
  const { summary, imagePath, neurons } = input;
  const bytes = await readImage(imagePath);
  const digest = sha256(bytes);
  if (digest !== summary.run.image.sha256) {
    throw new UserError(
      `${imagePath} is not the image this summary explains (sha256 ${digest.slice(0, 12)}…, expected ${summary.run.image.sha256.slice(0, 12)}…)`,
    );
  }
  const stats = neurons ? neuronStatsByLayer(neurons) : null;
  const { image, modelInput } = await embedImages(bytes, summary.run.preprocessing);
  const ctx: ReportContext = {
    summary,
    image,
    modelInput,
    layers: summary.layers.map((l) => layerView(l, stats?.get(l.layerIndex) ?? null)),
  };
  return renderPage(ctx, sections);
}
