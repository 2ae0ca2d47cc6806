/**
 * `@neuronscope/report`: the self-contained `report.html` of one explanation. The page needs no network: CSS,
 * images and its one small script are inline, and a Content-Security-Policy forbids fetching anything else and
 * running any other script.
 */
import { readFile } from 'node:fs/promises';
import { type Summary, sha256, UserError } from '@neuronscope/core';
import { layerView, type ReportContext } from './context.js';
import { embedImages } from './images.js';
import { type NeuronsTable, neuronFacts, neuronStatsByLayer } from './neurons.js';
import type { OverlayImages } from './overlays.js';
import { renderPage } from './page.js';
import { sections } from './sections/index.js';
import type { VisualInput } from './visual.js';
import { buildVisualContext } from './visual-context.js';

export type { LayerView, ReportContext, ReportSection } from './context.js';
export { type Figure, renderFigures } from './figures.js';
export { escapeHtml } from './html.js';
export type { NeuronsTable } from './neurons.js';
export { CONTENT_SECURITY_POLICY } from './page.js';
export { SCRIPT, scriptHash } from './script.js';
export { sections } from './sections/index.js';
export { type StabilityInput, stabilityCheckpoints, stabilityCurve } from './stability.js';
export {
  type AtlasLink,
  BOX_KINDS,
  type BoxKind,
  type InputBox,
  type NeuronBox,
  type NeuronSet,
  neuronAnchor,
  type Rect,
  type StabilityPoint,
  type VisualInput,
} from './visual.js';

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
  /** Boxes, heat maps, the output over the copies and the stability of the selections (each optional). */
  visual?: VisualInput;
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
  return renderHtml(await reportContext(input));
}

/** The report's HTML from a context built by {@link reportContext} (which {@link renderFigures} can share). */
export function renderHtml(ctx: ReportContext): string {
  return renderPage(ctx, sections);
}

/** Everything the sections and figures read, built once (reads the image; no other I/O). */
export async function reportContext(input: ReportInput): Promise<ReportContext> {
  const { summary, imagePath, neurons } = input;
  const bytes = await readImage(imagePath);
  const digest = sha256(bytes);
  if (digest !== summary.run.image.sha256) {
    throw new UserError(
      `${imagePath} is not the image this summary explains (sha256 ${digest.slice(0, 12)}…, expected ${summary.run.image.sha256.slice(0, 12)}…)`,
    );
  }
  const stats = neurons ? neuronStatsByLayer(neurons) : null;
  const { image, modelInput, photo, inputGrey } = await embedImages(bytes, summary.run.preprocessing);
  const [inputHeight, inputWidth] = summary.run.preprocessing.size;
  const images: OverlayImages = {
    photo,
    photoWidth: summary.run.image.width,
    photoHeight: summary.run.image.height,
    input: modelInput,
    inputGrey,
    inputWidth,
    inputHeight,
  };
  return {
    summary,
    image,
    modelInput,
    layers: summary.layers.map((l) => layerView(l, stats?.get(l.layerIndex) ?? null)),
    visual: await buildVisualContext(summary, neurons, input.visual ?? {}, images),
    facts: neurons ? neuronFacts(neurons) : null,
  };
}
export { COLORS, renderChart } from './charts.js';
export {
  type AtlasExample,
  type AtlasInput,
  type AtlasLayer,
  type AtlasNeuron,
  renderAtlas,
} from './dataset/atlas.js';
export { type DatasetImage, imageFacts, pictureDefs } from './dataset/page.js';
export {
  forestSpec,
  renderSweepPage,
  type SweepClass,
  type SweepComparisonRow,
  type SweepImage,
  type SweepPageInput,
  type SweepSelective,
} from './dataset/sweep.js';
export { type Thumbnail, thumbnail } from './images.js';
